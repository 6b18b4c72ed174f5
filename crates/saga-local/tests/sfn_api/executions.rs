//! StartExecution, DescribeExecution, ListExecutions, GetExecutionHistory,
//! StopExecution; the saga's executions under its fixed ARN.

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use saga_local::sfn::SAGA_ARN;
use serde_json::{Value, json};

use crate::support::{Local, code, types};

/// Pass → Choice → (Big | Small), as in the contract tests against moto.
fn choice() -> Value {
    json!({"StartAt": "Start", "States": {
        "Start": {"Type": "Pass", "Result": 7, "ResultPath": "$.n", "Next": "Pick"},
        "Pick": {"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericGreaterThan": 5, "Next": "Big"}], "Default": "Small"},
        "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": true},
        "Small": {"Type": "Succeed"}}})
}

fn waiting() -> Value {
    json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": true}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_runs_to_the_end_with_the_history_aws_writes() {
    let local = Local::start().await;
    let sm = local.create("choice", &choice()).await;

    let arn = local.start_execution(&sm, "e-1", &json!({"a": 1})).await;
    assert_eq!(
        arn,
        "arn:aws:states:us-east-1:000000000000:execution:choice:e-1"
    );
    let d = local.finished(&arn).await;

    assert_eq!(d.status, ExecutionStatus::Succeeded);
    assert_eq!(d.state_machine_arn, sm);
    assert_eq!(d.name.as_deref(), Some("e-1"));
    assert_eq!(
        d.input
            .as_deref()
            .map(|i| serde_json::from_str::<Value>(i).unwrap()),
        Some(json!({"a": 1}))
    );
    let output: Value = serde_json::from_str(d.output.as_deref().unwrap()).unwrap();
    assert_eq!(output, json!({"a": 1, "n": 7, "size": "big"}));
    assert!(d.stop_date.is_some());

    let events = local.history(&arn).await;
    assert_eq!(
        types(&events),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "ChoiceStateEntered",
            "ChoiceStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.id, i as i64 + 1);
        assert_eq!(e.previous_event_id, i as i64);
    }
    let started = events[0].execution_started_event_details.as_ref().unwrap();
    assert_eq!(started.input.as_deref(), Some(r#"{"a":1}"#));
    assert_eq!(
        events[1].state_entered_event_details.as_ref().unwrap().name,
        "Start"
    );
    local.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_forwards_and_backwards_with_or_without_data() {
    let local = Local::start().await;
    let sm = local.create("choice", &choice()).await;
    let arn = local.start_execution(&sm, "paged", &json!({})).await;
    local.finished(&arn).await;
    let all = local.history(&arn).await;

    for reverse in [false, true] {
        let mut ids = Vec::new();
        let mut token = None;
        loop {
            let page = local
                .client
                .get_execution_history()
                .execution_arn(&arn)
                .max_results(3)
                .reverse_order(reverse)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            assert!(page.events.len() <= 3);
            ids.extend(page.events.iter().map(|e| e.id));
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        let mut expected: Vec<i64> = all.iter().map(|e| e.id).collect();
        if reverse {
            expected.reverse();
        }
        assert_eq!(ids, expected, "reverse = {reverse}");
    }

    let bare = local
        .client
        .get_execution_history()
        .execution_arn(&arn)
        .include_execution_data(false)
        .send()
        .await
        .unwrap();
    let started = bare.events[0]
        .execution_started_event_details
        .as_ref()
        .unwrap();
    assert_eq!(started.input, None, "no execution data");
    assert_eq!(
        bare.events[1]
            .state_entered_event_details
            .as_ref()
            .unwrap()
            .name,
        "Start"
    );
    let e = local
        .client
        .get_execution_history()
        .execution_arn(&arn)
        .next_token("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidToken");
    local.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_is_one_execution_and_a_stopped_one_is_aborted() {
    let local = Local::start().await;
    let sm = local.create("waits", &waiting()).await;
    let c = &local.client;

    let arn = local.start_execution(&sm, "once", &json!({"k": 1})).await;
    // Same name and input while it runs: the same execution.
    assert_eq!(
        local.start_execution(&sm, "once", &json!({"k": 1})).await,
        arn
    );
    let e = c
        .start_execution()
        .state_machine_arn(&sm)
        .name("once")
        .input(r#"{"k": 2}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ExecutionAlreadyExists");

    let running = c
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(running.status, ExecutionStatus::Running);
    c.stop_execution()
        .execution_arn(&arn)
        .error("Why")
        .cause("because")
        .send()
        .await
        .unwrap();
    let d = c
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(d.status, ExecutionStatus::Aborted);
    let events = local.history(&arn).await;
    let last = events.last().unwrap();
    assert_eq!(last.r#type, HistoryEventType::ExecutionAborted);
    let details = last.execution_aborted_event_details.as_ref().unwrap();
    assert_eq!(
        (details.error.as_deref(), details.cause.as_deref()),
        (Some("Why"), Some("because"))
    );
    // Closed: the name is taken whatever the input.
    let e = c
        .start_execution()
        .state_machine_arn(&sm)
        .name("once")
        .input(r#"{"k": 1}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ExecutionAlreadyExists");
    local.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_are_listed_newest_first_by_status_in_pages() {
    let local = Local::start().await;
    let waits = local.create("waits", &waiting()).await;
    let c = &local.client;
    for i in 0..5 {
        let arn = local
            .start_execution(&waits, &format!("w-{i}"), &json!({}))
            .await;
        if i % 2 == 0 {
            c.stop_execution().execution_arn(&arn).send().await.unwrap();
        }
        // Distinct start times, so "newest first" is one order.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }

    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .list_executions()
            .state_machine_arn(&waits)
            .max_results(2)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        assert!(page.executions.len() <= 2);
        names.extend(page.executions.into_iter().map(|e| e.name));
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(names, ["w-4", "w-3", "w-2", "w-1", "w-0"]);
    let running = c
        .list_executions()
        .state_machine_arn(&waits)
        .status_filter(ExecutionStatus::Running)
        .send()
        .await
        .unwrap();
    let names: Vec<_> = running.executions.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["w-3", "w-1"]);
    let e = c
        .list_executions()
        .state_machine_arn("arn:aws:states:us-east-1:000000000000:stateMachine:nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "StateMachineDoesNotExist");
    local.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_executions_bad_input_and_bad_names_are_errors() {
    let local = Local::start().await;
    let sm = local.create("choice", &choice()).await;
    let c = &local.client;
    let missing = "arn:aws:states:us-east-1:000000000000:execution:choice:missing";

    let e = c
        .describe_execution()
        .execution_arn(missing)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ExecutionDoesNotExist");
    let e = c
        .get_execution_history()
        .execution_arn(missing)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ExecutionDoesNotExist");
    let e = c
        .stop_execution()
        .execution_arn(missing)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ExecutionDoesNotExist");
    let e = c
        .describe_execution()
        .execution_arn(&sm)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidArn");
    let e = c
        .start_execution()
        .state_machine_arn(&sm)
        .input("{oops")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidExecutionInput");
    let e = c
        .start_execution()
        .state_machine_arn(&sm)
        .name("a/b")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidName");
    let e = c
        .start_execution()
        .state_machine_arn("arn:aws:states:us-east-1:000000000000:stateMachine:nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "StateMachineDoesNotExist");
    // Without a name: a UUID, as AWS gives.
    let arn = c
        .start_execution()
        .state_machine_arn(&sm)
        .send()
        .await
        .unwrap()
        .execution_arn;
    let name = arn.rsplit(':').next().unwrap();
    assert_eq!(name.len(), 36, "{name}");
    assert_eq!(
        local.finished(&arn).await.status,
        ExecutionStatus::Succeeded
    );
    local.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sagas_executions_are_watched_through_the_api() {
    let local = Local::start().await;
    let http = saga_tests::local::Api::new(local.server.url(), local.server.outbox());
    let order = http.post_order(&[("SKU-1", 1)], "tok_visa", "10115").await;
    http.await_status(&order, "COMPLETED").await;

    let listed = local
        .client
        .list_executions()
        .state_machine_arn(SAGA_ARN)
        .send()
        .await
        .unwrap();
    let arn = format!("arn:aws:states:us-east-1:000000000000:execution:order-saga:{order}");
    assert_eq!(listed.executions.len(), 1);
    assert_eq!(listed.executions[0].execution_arn, arn);
    let d = local.finished(&arn).await;
    assert_eq!(d.status, ExecutionStatus::Succeeded);
    let input: Value = serde_json::from_str(d.input.as_deref().unwrap()).unwrap();
    assert_eq!(input["orderId"], order.as_str());
    let events = local.history(&arn).await;
    let t = types(&events);
    assert_eq!(
        &t[..4],
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted"
        ],
        "{t:?}"
    );
    assert!(
        t.contains(&"TaskScheduled".to_owned()) && t.contains(&"TaskSucceeded".to_owned()),
        "{t:?}"
    );
    let scheduled = events
        .iter()
        .find_map(|e| e.task_scheduled_event_details.as_ref())
        .unwrap();
    assert_eq!(
        (
            scheduled.resource_type.as_str(),
            scheduled.resource.as_str()
        ),
        ("lambda", "invoke")
    );
    assert_eq!(t.last().map(String::as_str), Some("ExecutionSucceeded"));
    local.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_express_machine_runs_synchronously_and_a_standard_one_does_not() {
    let local = Local::start().await;
    let c = &local.client;
    let express = c
        .create_state_machine()
        .name("fast")
        .definition(choice().to_string())
        .role_arn(crate::support::ROLE)
        .r#type(aws_sdk_sfn::types::StateMachineType::Express)
        .send()
        .await
        .unwrap()
        .state_machine_arn;

    let r = c
        .start_sync_execution()
        .state_machine_arn(&express)
        .name("s-1")
        .input("{}")
        .send()
        .await
        .unwrap();

    assert_eq!(r.status, aws_sdk_sfn::types::SyncExecutionStatus::Succeeded);
    assert!(
        r.execution_arn
            .starts_with("arn:aws:states:us-east-1:000000000000:express:fast:s-1:"),
        "{}",
        r.execution_arn
    );
    let out: Value = serde_json::from_str(r.output.as_deref().unwrap()).unwrap();
    assert_eq!(out, json!({"n": 7, "size": "big"}));
    let standard = local.create("slow", &choice()).await;
    let e = c
        .start_sync_execution()
        .state_machine_arn(&standard)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "StateMachineTypeNotSupported");
    local.server.shutdown().await.unwrap();
}
