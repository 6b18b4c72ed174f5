//! Step Functions: executions named by the order id start once; task tokens
//! resume a waiting execution once.

use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use saga_aws::SfnWorkflow;
use saga_core::OrderId;
use saga_core::approval::TaskToken;
use saga_core::ports::{Started, TaskGone, Workflow, WorkflowError};
use serde_json::json;

use crate::orders::t0;
use crate::support::{Moto, Queue, unique};

pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/order-saga";

/// A state machine with one Pass state.
pub async fn pass_machine(moto: &Moto) -> String {
    let definition = json!({
        "StartAt": "Done",
        "States": {"Done": {"Type": "Pass", "End": true}}
    });
    create_machine(moto, &definition).await
}

pub async fn create_machine(moto: &Moto, definition: &serde_json::Value) -> String {
    aws_sdk_sfn::Client::new(&moto.sdk)
        .create_state_machine()
        .name(unique("saga"))
        .definition(definition.to_string())
        .role_arn(ROLE_ARN)
        .send()
        .await
        .expect("CreateStateMachine")
        .state_machine_arn
}

/// A state machine that waits for a task token, which it sends to `queue`
/// (what `request-approval` receives in AWS): `{"orderId", "taskToken"}`.
pub async fn token_machine(moto: &Moto, queue: &Queue, timeout_seconds: u32) -> String {
    let definition = json!({
        "StartAt": "RequestApproval",
        "States": {
            "RequestApproval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {
                    "QueueUrl": queue.url,
                    "MessageBody": {"orderId.$": "$.orderId", "taskToken.$": "$$.Task.Token"}
                },
                "TimeoutSeconds": timeout_seconds,
                "End": true
            }
        }
    });
    create_machine(moto, &definition).await
}

/// Wait until the execution leaves RUNNING; its status and output.
pub async fn finished(moto: &Moto, execution_arn: &str) -> (ExecutionStatus, Option<String>) {
    finished_on(&aws_sdk_sfn::Client::new(&moto.sdk), execution_arn).await
}

/// [`finished`] through any Step Functions client (moto's or saga-local's).
pub async fn finished_on(
    client: &aws_sdk_sfn::Client,
    execution_arn: &str,
) -> (ExecutionStatus, Option<String>) {
    for _ in 0..100 {
        let d = client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .expect("DescribeExecution");
        if d.status != ExecutionStatus::Running {
            return (d.status, d.output);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("execution {execution_arn} still running after 10 s");
}

pub use saga_aws::sfn::execution_arn;

/// The task token the execution sent to `queue`, and the order id with it.
pub async fn token_from(queue: &Queue) -> (String, TaskToken) {
    let (order_id, raw) = raw_token_from(queue).await;
    (order_id, TaskToken::new(raw).unwrap())
}

/// Like [`token_from`], with the token as the raw string (to search for it
/// where it must not appear).
pub async fn raw_token_from(queue: &Queue) -> (String, String) {
    let bodies = queue.receive(1, Duration::from_secs(10)).await;
    let body: serde_json::Value =
        serde_json::from_str(bodies.first().expect("a token message")).unwrap();
    (
        body["orderId"].as_str().unwrap().to_owned(),
        body["taskToken"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn an_execution_named_by_the_order_id_starts_once() {
    let moto = Moto::connect().await;
    let arn = pass_machine(&moto).await;
    let workflow = SfnWorkflow::from_client(moto.sfn(), &arn);
    let id = OrderId::generate(t0());
    let input = json!({"orderId": id});

    let first = workflow.start_execution(&id, &input).await.unwrap();
    finished(&moto, &execution_arn(&arn, id.as_str())).await;
    let second = workflow.start_execution(&id, &input).await.unwrap();
    let other_input = workflow
        .start_execution(&id, &json!({"orderId": "x"}))
        .await
        .unwrap();

    assert_eq!(first, Started::New);
    assert_eq!(second, Started::AlreadyExists);
    assert_eq!(other_input, Started::AlreadyExists);
    let executions = aws_sdk_sfn::Client::new(&moto.sdk)
        .list_executions()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap()
        .executions;
    assert_eq!(executions.len(), 1);
    assert_eq!(executions[0].name, id.as_str());
    // Exactly the three starts went through the adapter (nothing vacuous).
    let calls: Vec<(String, Option<String>)> = moto
        .calls()
        .into_iter()
        .map(|c| (c.action, c.resource))
        .collect();
    assert_eq!(
        calls,
        vec![("states:StartExecution".to_owned(), Some(arn.clone())); 3]
    );
}

#[tokio::test]
async fn a_task_token_resumes_its_execution_once() {
    let moto = Moto::connect().await;
    let queue = moto.queue("tokens").await;
    let arn = token_machine(&moto, &queue, 300).await;
    let workflow = SfnWorkflow::from_client(moto.sfn(), &arn);
    let id = OrderId::generate(t0());
    workflow
        .start_execution(&id, &json!({"orderId": id}))
        .await
        .unwrap();
    let (order_id, token) = token_from(&queue).await;
    assert_eq!(order_id, id.as_str());
    let output = json!({"approved": true, "decidedAt": "2026-01-01T00:00:00.000Z"});

    workflow.send_task_success(&token, &output).await.unwrap();
    let (status, out) = finished(&moto, &execution_arn(&arn, id.as_str())).await;
    let again = workflow
        .send_task_success(&token, &output)
        .await
        .unwrap_err();

    assert_eq!(status, ExecutionStatus::Succeeded);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out.unwrap()).unwrap(),
        output
    );
    assert!(
        matches!(
            again,
            WorkflowError::TaskGone(TaskGone::InvalidToken | TaskGone::DoesNotExist)
        ),
        "{again:?}"
    );
}

#[tokio::test]
async fn an_unknown_token_is_gone() {
    let moto = Moto::connect().await;
    let arn = pass_machine(&moto).await;
    let workflow = SfnWorkflow::from_client(moto.sfn(), &arn);

    let err = workflow
        .send_task_success(&TaskToken::new("not-a-real-token").unwrap(), &json!({}))
        .await
        .unwrap_err();

    assert!(
        matches!(err, WorkflowError::TaskGone(TaskGone::InvalidToken)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_token_whose_task_timed_out_is_gone() {
    let moto = Moto::connect().await;
    let queue = moto.queue("tokens").await;
    let arn = token_machine(&moto, &queue, 1).await;
    let workflow = SfnWorkflow::from_client(moto.sfn(), &arn);
    let id = OrderId::generate(t0());
    workflow
        .start_execution(&id, &json!({"orderId": id}))
        .await
        .unwrap();
    let (_, token) = token_from(&queue).await;

    let (status, _) = finished(&moto, &execution_arn(&arn, id.as_str())).await;
    let err = workflow
        .send_task_success(&token, &json!({}))
        .await
        .unwrap_err();

    assert_eq!(
        status,
        ExecutionStatus::Failed,
        "States.Timeout, not caught"
    );
    // AWS answers TaskTimedOut; moto forgets the task and answers InvalidToken.
    assert!(matches!(err, WorkflowError::TaskGone(_)), "{err:?}");
}

#[tokio::test]
async fn an_execution_exists_once_started_whether_running_or_ended() {
    let moto = Moto::connect().await;
    let queue = moto.queue("tokens").await;
    let waiting = token_machine(&moto, &queue, 60).await;
    let ended = pass_machine(&moto).await;
    let (running_id, ended_id, never) = (
        OrderId::generate(t0()),
        OrderId::generate(t0()),
        OrderId::generate(t0()),
    );
    let workflow = SfnWorkflow::from_client(moto.sfn(), &waiting);
    workflow
        .start_execution(&running_id, &json!({"orderId": running_id}))
        .await
        .unwrap();
    let other = SfnWorkflow::from_client(moto.sfn(), &ended);
    other
        .start_execution(&ended_id, &json!({"orderId": ended_id}))
        .await
        .unwrap();
    finished(&moto, &execution_arn(&ended, ended_id.as_str())).await;

    assert!(workflow.execution_exists(&running_id).await.unwrap());
    assert!(other.execution_exists(&ended_id).await.unwrap());
    assert!(!workflow.execution_exists(&never).await.unwrap());
    // Asked of the execution's own ARN (what IAM grants: state_machine_executions).
    let described: Vec<Option<String>> = moto
        .calls()
        .into_iter()
        .filter(|c| c.action == "states:DescribeExecution")
        .map(|c| c.resource)
        .collect();
    assert_eq!(
        described,
        vec![
            Some(execution_arn(&waiting, running_id.as_str())),
            Some(execution_arn(&ended, ended_id.as_str())),
            Some(execution_arn(&waiting, never.as_str())),
        ]
    );
}
