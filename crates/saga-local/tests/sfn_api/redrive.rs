//! RedriveExecution through the SDK: an API-created machine whose Lambda
//! fails is redriven (again failing, then fixed and succeeding), on the
//! state that failed only, with its input and variables as they were, its
//! Retry counters from zero; what cannot be redriven says why; a
//! `clientToken` repeats its answer; a redrive survives a restart; the
//! order saga's NEEDS_ATTENTION execution is redriven as AWS would.

use aws_sdk_sfn::types::{ExecutionRedriveStatus, ExecutionStatus, HistoryEvent};
use saga_local::sfn::SAGA_ARN;
use serde_json::{Value, json};

use crate::support::{Local, code, types};

const FLAKY: &str = "arn:aws:lambda:us-east-1:000000000000:function:flaky";

/// Prepare (a Pass that assigns a variable), then Call (the flaky Lambda,
/// retried once), in JSONata.
fn prepare_then_call() -> Value {
    json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Prepare",
        "States": {
            "Prepare": {
                "Type": "Pass",
                "Assign": {"greeting": "{% 'hello ' & $states.input.who %}"},
                "Output": {"n": 1},
                "Next": "Call"
            },
            "Call": {
                "Type": "Task",
                "Resource": FLAKY,
                "Arguments": {"greeting": "{% $greeting %}", "n": "{% $states.input.n %}"},
                "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                "End": true
            }
        }
    })
}

fn of_type<'a>(events: &'a [HistoryEvent], t: &str) -> Vec<&'a HistoryEvent> {
    events.iter().filter(|e| e.r#type.as_str() == t).collect()
}

async fn redrive(local: &Local, arn: &str, token: &str) -> aws_sdk_sfn::primitives::DateTime {
    local
        .client
        .redrive_execution()
        .execution_arn(arn)
        .client_token(token)
        .send()
        .await
        .unwrap()
        .redrive_date
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_task_is_redriven_alone_until_it_succeeds_across_a_restart() {
    let local = Local::with(true, None).await;
    let sm = local.create("flaky", &prepare_then_call()).await;
    let arn = local
        .start_execution(&sm, "r-1", &json!({"who": "ada"}))
        .await;
    let failed = local.finished(&arn).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("Boom"));
    assert_eq!(failed.redrive_count, Some(0));
    assert_eq!(
        failed.redrive_status,
        Some(ExecutionRedriveStatus::Redrivable)
    );
    let lambda = local.lambda.clone().unwrap();
    let first = lambda.payloads("flaky");
    assert_eq!(first.len(), 2, "the first attempt and one retry");
    let before = local.history(&arn).await;

    // Still broken: the redrive reruns Call alone, retried once again.
    let date = redrive(&local, &arn, "token-1").await;
    let d = local.finished(&arn).await;
    assert_eq!(d.status, ExecutionStatus::Failed);
    assert_eq!(d.redrive_count, Some(1));
    assert_eq!(d.redrive_date, Some(date));
    let calls = lambda.payloads("flaky");
    assert_eq!(calls.len(), 4, "Retry counters start from zero: {calls:?}");
    assert_eq!(calls[2], first[0], "the same input and variables as before");
    assert_eq!(first[0], json!({"greeting": "hello ada", "n": 1}));

    // The same clientToken answers the same and redrives nothing.
    assert_eq!(redrive(&local, &arn, "token-1").await, date);
    let events = local.history(&arn).await;
    assert_eq!(events[..before.len()], before[..], "the history is kept");
    let redriven = of_type(&events, "ExecutionRedriven");
    assert_eq!(redriven.len(), 1, "{:?}", types(&events));
    let r = redriven[0];
    assert_eq!(r.id, before.len() as i64 + 1, "ids continue");
    assert_eq!(r.previous_event_id, before.len() as i64);
    assert_eq!(
        r.execution_redriven_event_details
            .as_ref()
            .map(|d| d.redrive_count),
        Some(Some(1))
    );
    assert_eq!(
        types(&events[before.len()..before.len() + 2]),
        ["ExecutionRedriven", "TaskStateEntered"]
    );
    assert_eq!(
        of_type(&events, "PassStateEntered").len(),
        1,
        "Prepare ran once"
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.id, i as i64 + 1);
    }

    // Fixed, after a restart: the next redrive succeeds.
    let local = local.restart().await;
    let listed = local
        .client
        .list_executions()
        .state_machine_arn(&sm)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.executions[0].redrive_count, Some(1));
    assert!(listed.executions[0].redrive_date.is_some());
    lambda.fix();
    redrive(&local, &arn, "token-2").await;
    let d = local.finished(&arn).await;
    assert_eq!(d.status, ExecutionStatus::Succeeded, "{d:?}");
    assert_eq!(d.redrive_count, Some(2));
    let output: Value = serde_json::from_str(d.output.as_deref().unwrap()).unwrap();
    assert_eq!(
        output,
        json!({"greeting": "hello ada", "n": 1, "seen": true})
    );
    assert_eq!(
        d.redrive_status,
        Some(ExecutionRedriveStatus::NotRedrivable)
    );
    assert_eq!(
        d.redrive_status_reason.as_deref(),
        Some("Execution is SUCCEEDED and cannot be redriven")
    );
    local.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_succeeded_and_unknown_executions_are_not_redriven() {
    let local = Local::start().await;
    let pass = local
        .create(
            "pass",
            &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
        )
        .await;
    let wait = local
        .create(
            "wait",
            &json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": true}}}),
        )
        .await;
    let done = local.start_execution(&pass, "p-1", &json!({})).await;
    assert_eq!(
        local.finished(&done).await.status,
        ExecutionStatus::Succeeded
    );
    let running = local.start_execution(&wait, "w-1", &json!({})).await;

    for (arn, why) in [
        (&done, "Execution is SUCCEEDED and cannot be redriven"),
        (&running, "Execution is RUNNING and cannot be redriven"),
    ] {
        let e = local
            .client
            .redrive_execution()
            .execution_arn(arn)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&e), "ExecutionNotRedrivable", "{arn}");
        assert!(format!("{e:?}").contains(why), "{e:?}");
    }
    let d = local
        .client
        .describe_execution()
        .execution_arn(&running)
        .send()
        .await
        .unwrap();
    assert_eq!(d.status, ExecutionStatus::Running, "nothing changed");
    assert_eq!(d.redrive_count, Some(0));
    assert_eq!(local.history(&done).await.len(), 4, "nothing appended");

    let missing = format!("{}x", done);
    let e = local
        .client
        .redrive_execution()
        .execution_arn(&missing)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ExecutionDoesNotExist");
    let e = local
        .client
        .redrive_execution()
        .execution_arn("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidArn");
    local.server.shutdown().await.unwrap();
}

/// The order saga as `statemachines/order-saga.asl.json` has it, its Retry
/// delays capped at 1 s (the compensation's retries would take a minute).
fn quick_saga() -> Value {
    fn cap(v: &mut Value) {
        match v {
            Value::Object(o) => {
                for (k, x) in o.iter_mut() {
                    if k == "IntervalSeconds" || k == "MaxDelaySeconds" {
                        *x = json!(1);
                    } else {
                        cap(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(cap),
            _ => {}
        }
    }
    let mut v: Value = serde_json::from_str(saga_local::serve::ORDER_SAGA_ASL).unwrap();
    cap(&mut v);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sagas_needs_attention_execution_is_redriven_from_its_fail_state() {
    let local = Local::with_saga(false, None, Some(&quick_saga())).await;
    let http = saga_tests::local::Api::new(local.server.url(), local.server.outbox());
    let order = http
        .post_order(&[("SKU-3", 2)], "tok_refund_fails", "00000")
        .await;
    http.await_status(&order, "NEEDS_ATTENTION").await;
    let arn = format!("arn:aws:states:us-east-1:000000000000:execution:order-saga:{order}");
    let failed = local.finished(&arn).await;
    assert_eq!(failed.error.as_deref(), Some("CompensationFailed"));
    let before = local.history(&arn).await;
    let compensations = |events: &[HistoryEvent]| {
        events
            .iter()
            .filter(|e| {
                e.state_entered_event_details
                    .as_ref()
                    .is_some_and(|d| d.name == "Compensate")
            })
            .count()
    };
    assert_eq!(compensations(&before), 1);

    redrive(&local, &arn, "console-1").await;
    let d = local.finished(&arn).await;

    // AWS continues from the state the execution stopped in: the Fail state.
    assert_eq!(d.status, ExecutionStatus::Failed);
    assert_eq!(d.error.as_deref(), Some("CompensationFailed"));
    assert_eq!(d.redrive_count, Some(1));
    let events = local.history(&arn).await;
    assert_eq!(
        types(&events[before.len()..]),
        ["ExecutionRedriven", "FailStateEntered", "ExecutionFailed"]
    );
    assert_eq!(
        events[before.len() + 1]
            .state_entered_event_details
            .as_ref()
            .map(|d| d.name.as_str()),
        Some("CompensationFailed")
    );
    assert_eq!(compensations(&events), 1, "Compensate is not rerun");
    http.await_status(&order, "NEEDS_ATTENTION").await;
    let listed = local
        .client
        .list_executions()
        .state_machine_arn(SAGA_ARN)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.executions[0].redrive_count, Some(1));
    local.server.shutdown().await.unwrap();
}
