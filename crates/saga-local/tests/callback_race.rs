//! saga-local's [`Workflow`] adapter over the engine, with the decision
//! arriving at the instant the approval task times out: the adapter answers
//! `TaskGone::TimedOut` (which approval-callback turns into `410` and an
//! expired approval) and the execution takes the timeout path; a decision
//! before that wins. Never "delivered" and then timed out.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use asl::{
    Engine, ExecutionInfo, ExecutionStatus, HistoryEvent, ManualClock, Observer, StartExecution,
    StateMachine, TaskFailure, TaskHost, TaskOutput, TaskRequest,
};
use saga_core::approval::TaskToken;
use saga_core::ports::{TaskGone, Workflow, WorkflowError};
use saga_local::engine_glue::EngineWorkflow;
use serde_json::json;

const WAIT: &str = r#"{"StartAt": "RequestApproval", "States": {"RequestApproval": {
    "Type": "Task",
    "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
    "Parameters": {"FunctionName": "request-approval", "Payload": {"t.$": "$$.Task.Token"}},
    "TimeoutSeconds": 10, "ResultPath": "$.approval", "End": true}}}"#;

/// Records the token; the approval e-mail is "out" at once.
#[derive(Debug, Default)]
struct Mailer(Mutex<Option<String>>);

#[async_trait::async_trait]
impl TaskHost for Mailer {
    async fn invoke(&self, req: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        *self.0.lock().unwrap() = req.task_token;
        Ok(TaskOutput::Output(json!({})))
    }
}

/// Delivers the decision through the adapter from inside the engine's
/// `TaskTimedOut` event: the timeout has been chosen, the task not ended.
#[derive(Debug, Default)]
struct DecideOnTimeout {
    workflow: OnceLock<EngineWorkflow>,
    token: OnceLock<TaskToken>,
    answer: Mutex<Option<Result<(), WorkflowError>>>,
}

impl Observer for DecideOnTimeout {
    fn on_event(&self, _execution: &ExecutionInfo, event: &HistoryEvent) {
        if event.event_type.as_str() != "TaskTimedOut" {
            return;
        }
        let (Some(workflow), Some(token)) = (self.workflow.get(), self.token.get()) else {
            return;
        };
        let decision = json!({"approved": true});
        let answer = now_or_never(workflow.send_task_success(token, &decision));
        *self.answer.lock().unwrap() = Some(answer);
    }
}

/// The adapter over the in-memory engine never waits: poll it once.
fn now_or_never<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the engine adapter waited"),
    }
}

#[tokio::test]
async fn a_decision_at_the_approval_timeout_is_delivered_or_task_gone_never_both() {
    for before_the_timeout in [true, false] {
        let clock = ManualClock::default();
        let host = Arc::new(Mailer::default());
        let observer = Arc::new(DecideOnTimeout::default());
        let engine = Engine::builder(host.clone(), Arc::new(clock.clone()))
            .observer(observer.clone())
            .build();
        let machine = StateMachine::parse(WAIT).unwrap().with_name("order-saga");
        let workflow = EngineWorkflow::new(engine.clone(), machine.clone());
        let handle = engine
            .start(&machine, StartExecution::new("o-1", json!({})))
            .unwrap();
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        let token = TaskToken::new(host.0.lock().unwrap().clone().unwrap()).unwrap();
        clock.advance(Duration::from_secs(10));
        let answer = if before_the_timeout {
            // The deadline is due, but the parked task has not acted on it.
            let decision = json!({"approved": true});
            Some(workflow.send_task_success(&token, &decision).await)
        } else {
            observer.workflow.set(workflow).unwrap();
            observer.token.set(token).unwrap();
            None
        };
        let out = handle.outcome().await;
        let answer = answer
            .or_else(|| observer.answer.lock().unwrap().take())
            .expect("the decision was sent");
        if before_the_timeout {
            assert!(answer.is_ok(), "{answer:?}");
            assert_eq!(out.status, ExecutionStatus::Succeeded, "{:?}", out.error);
        } else {
            assert!(
                matches!(answer, Err(WorkflowError::TaskGone(TaskGone::TimedOut))),
                "the approver is told the request expired, not that it was delivered: {answer:?}"
            );
            assert_eq!(out.error.as_deref(), Some("States.Timeout"));
        }
    }
}
