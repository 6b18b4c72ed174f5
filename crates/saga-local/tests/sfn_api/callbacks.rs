//! Lambda tasks through `--lambda-endpoint` (both resource forms, their
//! history events), `.waitForTaskToken` with SendTaskSuccess /
//! SendTaskFailure / SendTaskHeartbeat, and their errors.

use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::{Value, json};

use crate::support::{Local, code, types};

const FN_ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:";

fn wait_machine(heartbeat: Option<u64>) -> Value {
    let mut task = json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "wait", "Payload": {"token.$": "$$.Task.Token", "orderId.$": "$.orderId"}},
        "TimeoutSeconds": 60,
        "End": true
    });
    if let Some(h) = heartbeat {
        task["HeartbeatSeconds"] = json!(h);
    }
    json!({"StartAt": "Approve", "States": {"Approve": task}})
}

/// Wait until the fake Lambda received its `n`th call to `wait`; its token.
async fn token(local: &Local, n: usize) -> String {
    let lambda = local.lambda.as_ref().unwrap();
    for _ in 0..500 {
        if let Some(p) = lambda.payloads("wait").get(n) {
            return p["token"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no call {n} to the wait function");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_tasks_go_to_the_endpoint_with_the_events_of_each_resource_form() {
    let local = Local::with(true, None).await;
    let machine = json!({"StartAt": "Legacy", "States": {
        "Legacy": {"Type": "Task", "Resource": format!("{FN_ARN}ok"), "Next": "Invoke"},
        "Invoke": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                   "Parameters": {"FunctionName": "ok", "Payload.$": "$"},
                   "OutputPath": "$.Payload", "Next": "Boom"},
        "Boom": {"Type": "Task", "Resource": format!("{FN_ARN}boom"),
                 "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.boom", "Next": "Missing"}], "End": true},
        "Missing": {"Type": "Task", "Resource": format!("{FN_ARN}missing"),
                    "Catch": [{"ErrorEquals": ["Lambda.ResourceNotFoundException"], "ResultPath": "$.missing", "Next": "Done"}], "End": true},
        "Done": {"Type": "Succeed"}}});
    let sm = local.create("lambdas", &machine).await;

    let arn = local.start_execution(&sm, "l-1", &json!({"x": 1})).await;
    let d = local.finished(&arn).await;

    assert_eq!(d.status, ExecutionStatus::Succeeded, "{d:?}");
    let out: Value = serde_json::from_str(d.output.as_deref().unwrap()).unwrap();
    assert_eq!(
        (out["x"].clone(), out["seen"].clone()),
        (json!(1), json!(true))
    );
    assert_eq!(out["boom"]["Error"], "Boom");
    let cause: Value = serde_json::from_str(out["boom"]["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause["errorMessage"], "it blew up");
    assert_eq!(out["missing"]["Error"], "Lambda.ResourceNotFoundException");
    assert!(
        out["missing"]["Cause"].as_str().unwrap().starts_with(
            "Function not found: arn:aws:lambda:us-east-1:000000000000:function:missing"
        )
    );

    let events = local.history(&arn).await;
    let t = types(&events);
    let legacy = [
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
    ];
    let invoke = [
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
    ];
    assert_eq!(&t[1..6], legacy, "{t:?}");
    assert_eq!(&t[6..11], invoke, "{t:?}");
    assert!(t.contains(&"LambdaFunctionFailed".to_owned()), "{t:?}");
    let scheduled = events[2]
        .lambda_function_scheduled_event_details
        .as_ref()
        .unwrap();
    assert_eq!(scheduled.resource, format!("{FN_ARN}ok"));
    let task = events[7].task_scheduled_event_details.as_ref().unwrap();
    assert_eq!(
        (
            task.resource_type.as_str(),
            task.resource.as_str(),
            task.region.as_str()
        ),
        ("lambda", "invoke", "us-east-1")
    );
    local.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_token_resumes_the_execution_once() {
    let local = Local::with(true, None).await;
    let sm = local.create("approve", &wait_machine(None)).await;
    let c = &local.client;

    let arn = local
        .start_execution(&sm, "t-1", &json!({"orderId": "o-1"}))
        .await;
    let token = token(&local, 0).await;
    // Not in DescribeExecution nor ListExecutions.
    let d = c
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .unwrap();
    assert!(!format!("{d:?}").contains(&token));
    let l = c
        .list_executions()
        .state_machine_arn(&sm)
        .send()
        .await
        .unwrap();
    assert!(!format!("{l:?}").contains(&token));

    c.send_task_heartbeat()
        .task_token(&token)
        .send()
        .await
        .unwrap();
    c.send_task_success()
        .task_token(&token)
        .output(r#"{"approved": true}"#)
        .send()
        .await
        .unwrap();
    let d = local.finished(&arn).await;
    assert_eq!(d.status, ExecutionStatus::Succeeded);
    assert_eq!(d.output.as_deref(), Some(r#"{"approved":true}"#));
    let t = types(&local.history(&arn).await);
    assert_eq!(
        t,
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSubmitted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );

    let e = c
        .send_task_success()
        .task_token(&token)
        .output("{}")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "TaskTimedOut");
    let e = c
        .send_task_success()
        .task_token("not-a-token")
        .output("{}")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidToken");
    let e = c
        .send_task_success()
        .task_token(&token)
        .output("{oops")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidOutput");
    local.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_callback_fails_the_task_and_a_missed_heartbeat_times_it_out() {
    let local = Local::with(true, None).await;
    let c = &local.client;
    let sm = local.create("approve", &wait_machine(None)).await;
    let arn = local
        .start_execution(&sm, "f-1", &json!({"orderId": "o-1"}))
        .await;
    let t = token(&local, 0).await;
    c.send_task_failure()
        .task_token(&t)
        .error("Rejected")
        .cause("no")
        .send()
        .await
        .unwrap();
    let d = local.finished(&arn).await;
    assert_eq!(d.status, ExecutionStatus::Failed);
    assert_eq!(
        (d.error.as_deref(), d.cause.as_deref()),
        (Some("Rejected"), Some("no"))
    );
    assert!(types(&local.history(&arn).await).contains(&"TaskFailed".to_owned()));

    let sm = local.create("beats", &wait_machine(Some(1))).await;
    let arn = local
        .start_execution(&sm, "h-1", &json!({"orderId": "o-2"}))
        .await;
    let t = token(&local, 1).await;
    let d = local.finished(&arn).await;
    assert_eq!(d.status, ExecutionStatus::Failed);
    assert_eq!(d.error.as_deref(), Some("States.HeartbeatTimeout"));
    assert!(types(&local.history(&arn).await).contains(&"TaskTimedOut".to_owned()));
    let e = c
        .send_task_heartbeat()
        .task_token(&t)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "TaskTimedOut");
    local.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_endpoint_a_lambda_task_fails_as_for_a_missing_function() {
    let local = Local::start().await;
    let machine = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": format!("{FN_ARN}pay"), "End": true}}});
    let sm = local.create("nolambda", &machine).await;
    let arn = local.start_execution(&sm, "n-1", &json!({})).await;
    let d = local.finished(&arn).await;
    assert_eq!(d.status, ExecutionStatus::Failed);
    assert_eq!(d.error.as_deref(), Some("Lambda.ResourceNotFoundException"));
    local.server.shutdown().await.unwrap();
}
