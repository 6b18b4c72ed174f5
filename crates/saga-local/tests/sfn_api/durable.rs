//! The executions of API-created machines are durable: after a restart on
//! the same data directory they are still described, listed and their
//! history paged, and a running one continues where it was.

use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::json;

use crate::support::{Local, types};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_survive_a_restart_and_a_running_one_continues() {
    let local = Local::start().await;
    let pass = local
        .create("pass", &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": 1}, "End": true}}}))
        .await;
    let wait = local
        .create(
            "wait",
            &json!({"StartAt": "W", "States": {
                "W": {"Type": "Wait", "Seconds": 2, "Next": "Done"},
                "Done": {"Type": "Pass", "End": true}}}),
        )
        .await;
    let done = local.start_execution(&pass, "p-1", &json!({"a": 1})).await;
    assert_eq!(
        local.finished(&done).await.status,
        ExecutionStatus::Succeeded
    );
    let running = local.start_execution(&wait, "w-1", &json!({"b": 2})).await;
    let history_before = local.history(&done).await;

    let local = local.restart().await;

    let d = local
        .client
        .describe_execution()
        .execution_arn(&done)
        .send()
        .await
        .unwrap();
    assert_eq!(d.status, ExecutionStatus::Succeeded);
    assert_eq!(d.output.as_deref(), Some(r#"{"ok":1}"#));
    assert_eq!(local.history(&done).await, history_before);
    let listed = local
        .client
        .list_executions()
        .state_machine_arn(&pass)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.executions.len(), 1);
    assert_eq!(listed.executions[0].execution_arn, done);
    let other = local
        .client
        .list_executions()
        .state_machine_arn(&wait)
        .send()
        .await
        .unwrap();
    assert_eq!(other.executions.len(), 1, "each machine lists its own");

    let d = local.finished(&running).await;
    assert_eq!(d.status, ExecutionStatus::Succeeded, "{d:?}");
    assert_eq!(d.output.as_deref(), Some(r#"{"b":2}"#));
    let t = types(&local.history(&running).await);
    assert_eq!(
        t,
        [
            "ExecutionStarted",
            "WaitStateEntered",
            "WaitStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ],
        "started once, waited once"
    );
    local.server.shutdown().await.unwrap();
}
