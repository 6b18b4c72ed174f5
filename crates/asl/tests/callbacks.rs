//! `.waitForTaskToken`, heartbeats, timeouts in virtual time, and resuming
//! from snapshots.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use asl::{
    CallbackError, Checkpoint, Clock, Engine, ExecutionSnapshot, ExecutionStatus, HistoryEvent,
    ManualClock, Observer, Persistence, PersistenceError, Phase, StartError, StartExecution,
    StateMachine, StateTransition, TaskFailure, TaskHost, TaskOutput, TaskRequest,
    TransitionOutcome, async_trait,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const APPROVAL: &str = r#"{
  "StartAt": "RequestApproval",
  "States": {
    "RequestApproval": {
      "Type": "Task",
      "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
      "Parameters": {"FunctionName": "request-approval", "Payload": {"orderId.$": "$.orderId", "taskToken.$": "$$.Task.Token"}},
      "TimeoutSeconds": 3600,
      "HeartbeatSeconds": 60,
      "ResultPath": "$.approval",
      "Next": "Done"
    },
    "Done": {"Type": "Succeed"}
  }
}"#;

/// Sends every request to the test; `hang` makes calls never return.
#[derive(Debug)]
struct ChannelHost {
    tx: mpsc::UnboundedSender<TaskRequest>,
    hang: bool,
}

#[async_trait]
impl TaskHost for ChannelHost {
    async fn invoke(&self, req: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        let _ = self.tx.send(req);
        if self.hang {
            std::future::pending::<()>().await;
        }
        Ok(TaskOutput::Output(json!({"approvalId": "a-1"})))
    }
}

fn host(hang: bool) -> (Arc<ChannelHost>, mpsc::UnboundedReceiver<TaskRequest>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Arc::new(ChannelHost { tx, hang }), rx)
}

#[derive(Debug, Default)]
struct Store {
    saved: Mutex<Vec<ExecutionSnapshot>>,
}

/// Keeps the whole snapshot after every save (each checkpoint applied to
/// the one before), so a test can resume from any of them.
#[async_trait]
impl Persistence for Store {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), PersistenceError> {
        let mut saved = self.saved.lock().unwrap();
        let whole = checkpoint.applied_to(saved.last().cloned());
        saved.push(whole);
        Ok(())
    }
}

impl Store {
    fn last(&self) -> ExecutionSnapshot {
        self.saved.lock().unwrap().last().cloned().unwrap()
    }
}

async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

fn machine() -> StateMachine {
    StateMachine::parse(APPROVAL)
        .unwrap()
        .with_name("order-saga")
}

fn token_of(req: &TaskRequest) -> String {
    let t = req.task_token.clone().unwrap();
    assert_eq!(
        req.parameters["Payload"]["taskToken"],
        json!(t),
        "token is passed in Parameters"
    );
    t
}

#[tokio::test]
async fn success_callback_completes_the_task_and_closes_the_token() {
    let clock = ManualClock::default();
    let (h, mut calls) = host(false);
    let engine = Engine::new(h, Arc::new(clock.clone()));
    let handle = engine
        .start(
            &machine(),
            StartExecution::new("o-1", json!({"orderId": "o-1"})),
        )
        .unwrap();
    let req = calls.recv().await.unwrap();
    let token = token_of(&req);
    assert_eq!(token.len(), 43, "256 random bits, URL-safe base64");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(req.function_name().as_deref(), Some("request-approval"));
    settle().await;

    engine
        .send_task_success(&token, json!({"approved": true}))
        .unwrap();
    let out = handle.outcome().await;

    assert_eq!(out.status, ExecutionStatus::Succeeded);
    assert_eq!(
        out.output,
        Some(json!({"orderId": "o-1", "approval": {"approved": true}}))
    );
    assert_eq!(
        engine.send_task_success(&token, json!({})),
        Err(CallbackError::TaskTimedOut),
        "a closed token cannot be used again"
    );
    let types: Vec<&str> = out.history.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSubmitted",
            "TaskSucceeded",
            "TaskStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
}

#[tokio::test]
async fn failure_callback_fails_the_task_with_the_given_error() {
    let clock = ManualClock::default();
    let (h, mut calls) = host(false);
    let engine = Engine::new(h, Arc::new(clock.clone()));
    let handle = engine
        .start(
            &machine(),
            StartExecution::new("o-2", json!({"orderId": "o-2"})),
        )
        .unwrap();
    let token = token_of(&calls.recv().await.unwrap());
    settle().await;

    engine
        .send_task_failure(&token, Some("ApprovalRejected".into()), Some("no".into()))
        .unwrap();
    let out = handle.outcome().await;

    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!(out.error.as_deref(), Some("ApprovalRejected"));
    assert_eq!(out.cause.as_deref(), Some("no"));
}

#[tokio::test]
async fn heartbeats_push_the_heartbeat_deadline_in_virtual_time() {
    let clock = ManualClock::default();
    let start = clock.now();
    let (h, mut calls) = host(false);
    let engine = Engine::new(h, Arc::new(clock.clone()));
    let handle = engine
        .start(
            &machine(),
            StartExecution::new("o-3", json!({"orderId": "o-3"})),
        )
        .unwrap();
    let token = token_of(&calls.recv().await.unwrap());
    settle().await;

    clock.advance(Duration::from_secs(50));
    settle().await;
    engine.send_task_heartbeat(&token).unwrap();
    settle().await;
    clock.advance(Duration::from_secs(50));
    settle().await;
    assert_eq!(
        engine.running_executions().len(),
        1,
        "100 s after start but only 50 s after the heartbeat: still waiting"
    );
    clock.advance(Duration::from_secs(10));
    let out = handle.outcome().await;

    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!(out.error.as_deref(), Some("States.HeartbeatTimeout"));
    assert_eq!(out.stop_time - start, chrono::TimeDelta::seconds(110));
}

#[tokio::test]
async fn timeout_fails_the_task_and_late_callbacks_get_task_timed_out() {
    let clock = ManualClock::default();
    let start = clock.now();
    let (h, mut calls) = host(false);
    let engine = Engine::new(h, Arc::new(clock.clone()));
    let def = APPROVAL.replace("\"HeartbeatSeconds\": 60,", "");
    let m = StateMachine::parse(&def).unwrap();
    let handle = engine
        .start(&m, StartExecution::new("o-4", json!({"orderId": "o-4"})))
        .unwrap();
    let token = token_of(&calls.recv().await.unwrap());
    settle().await;

    clock.advance(Duration::from_secs(3600));
    let out = handle.outcome().await;

    assert_eq!(out.error.as_deref(), Some("States.Timeout"));
    assert_eq!(out.stop_time - start, chrono::TimeDelta::seconds(3600));
    assert_eq!(
        engine.send_task_success(&token, json!({})),
        Err(CallbackError::TaskTimedOut)
    );
}

#[tokio::test]
async fn unknown_and_malformed_tokens_are_rejected() {
    let (h, _calls) = host(false);
    let engine = Engine::new(h, Arc::new(ManualClock::default()));

    assert_eq!(
        engine.send_task_success("not a token", json!({})),
        Err(CallbackError::InvalidToken)
    );
    assert_eq!(
        engine.send_task_heartbeat(""),
        Err(CallbackError::InvalidToken)
    );
    let well_formed = "A".repeat(43);
    assert_eq!(
        engine.send_task_failure(&well_formed, None, None),
        Err(CallbackError::TaskDoesNotExist)
    );
}

#[tokio::test]
async fn resume_reparks_with_the_same_token_and_the_original_deadline() {
    let clock = ManualClock::default();
    let start = clock.now();
    let store = Arc::new(Store::default());
    let (h, mut calls) = host(false);
    let engine = Engine::new(h, Arc::new(clock.clone()));
    let def = APPROVAL.replace("\"HeartbeatSeconds\": 60,", "");
    let m = StateMachine::parse(&def).unwrap();
    let run = engine
        .run(
            &m,
            StartExecution::new("o-5", json!({"orderId": "o-5"})).with_persistence(store.clone()),
        )
        .unwrap();
    let task = tokio::spawn(run);
    let token = token_of(&calls.recv().await.unwrap());
    settle().await;
    clock.advance(Duration::from_secs(1000));
    settle().await;
    let snap = store.last();
    match &snap.position.as_ref().unwrap().phase {
        Phase::Parked {
            token: t,
            timeout_at,
            invoked,
            ..
        } => {
            assert_eq!(t, &token);
            assert_eq!(*timeout_at, Some(start + chrono::TimeDelta::seconds(3600)));
            assert!(*invoked);
        }
        other => panic!("expected a parked snapshot, got {other:?}"),
    }

    // SIGKILL: the process (and its engine) is gone.
    task.abort();
    drop(engine);
    let snap: ExecutionSnapshot =
        serde_json::from_str(&serde_json::to_string(&snap).unwrap()).unwrap();
    let (h2, mut calls2) = host(false);
    let engine2 = Engine::new(h2, Arc::new(clock.clone()));
    let handle = engine2.resume(&m, snap, Some(store.clone())).unwrap();
    settle().await;

    assert!(
        calls2.try_recv().is_err(),
        "a submitted task is not invoked again"
    );
    clock.advance(Duration::from_secs(2599));
    settle().await;
    assert_eq!(engine2.running_executions().len(), 1);
    clock.advance(Duration::from_secs(1));
    let out = handle.outcome().await;
    assert_eq!(out.error.as_deref(), Some("States.Timeout"));
    assert_eq!(out.stop_time - start, chrono::TimeDelta::seconds(3600));
    assert_eq!(store.last().status, ExecutionStatus::Failed);
}

#[tokio::test]
async fn resumed_token_accepts_the_callback() {
    let clock = ManualClock::default();
    let store = Arc::new(Store::default());
    let (h, mut calls) = host(false);
    let engine = Engine::new(h, Arc::new(clock.clone()));
    let m = machine();
    let task = tokio::spawn(
        engine
            .run(
                &m,
                StartExecution::new("o-6", json!({"orderId": "o-6"}))
                    .with_persistence(store.clone()),
            )
            .unwrap(),
    );
    let token = token_of(&calls.recv().await.unwrap());
    settle().await;
    task.abort();
    drop(engine);

    let (h2, _calls2) = host(false);
    let engine2 = Engine::new(h2, Arc::new(clock.clone()));
    let handle = engine2.resume(&m, store.last(), None).unwrap();
    settle().await;
    engine2
        .send_task_success(&token, json!({"approved": false}))
        .unwrap();
    let out = handle.outcome().await;

    assert_eq!(out.status, ExecutionStatus::Succeeded);
    assert_eq!(out.output.unwrap()["approval"], json!({"approved": false}));
    let entered = out
        .history
        .iter()
        .filter(|e| e.event_type.as_str() == "TaskStateEntered")
        .count();
    assert_eq!(entered, 1, "the resumed state is not entered twice");
}

#[tokio::test]
async fn a_call_cut_off_mid_flight_runs_again_on_resume_with_the_same_token() {
    let clock = ManualClock::default();
    let store = Arc::new(Store::default());
    let (h, mut calls) = host(true);
    let engine = Engine::new(h, Arc::new(clock.clone()));
    let m = machine();
    let task = tokio::spawn(
        engine
            .run(
                &m,
                StartExecution::new("o-7", json!({"orderId": "o-7"}))
                    .with_persistence(store.clone()),
            )
            .unwrap(),
    );
    let first = token_of(&calls.recv().await.unwrap());
    settle().await;
    assert!(
        matches!(
            store.last().position.unwrap().phase,
            Phase::Parked { invoked: false, .. }
        ),
        "the snapshot is saved before the host call"
    );
    task.abort();
    drop(engine);

    let (h2, mut calls2) = host(false);
    let engine2 = Engine::new(h2, Arc::new(clock.clone()));
    let handle = engine2.resume(&m, store.last(), None).unwrap();
    let again = calls2.recv().await.unwrap();
    assert_eq!(token_of(&again), first, "same token on the re-run");
    settle().await;
    engine2.send_task_success(&first, json!({"ok": 1})).unwrap();
    assert_eq!(handle.outcome().await.status, ExecutionStatus::Succeeded);
}

const PLAIN_TASK: &str = r#"{
  "StartAt": "Prepare",
  "States": {
    "Prepare": {"Type": "Pass", "Result": 1, "ResultPath": "$.prepared", "Next": "Pay"},
    "Pay": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:pay", "End": true}
  }
}"#;

#[tokio::test]
async fn a_plain_task_cut_off_mid_flight_runs_again_on_resume() {
    let clock = ManualClock::default();
    let store = Arc::new(Store::default());
    let (h, mut calls) = host(true);
    let engine = Engine::new(h, Arc::new(clock.clone()));
    let m = StateMachine::parse(PLAIN_TASK).unwrap();
    let task = tokio::spawn(
        engine
            .run(
                &m,
                StartExecution::new("o-8", json!({"orderId": "o-8"}))
                    .with_persistence(store.clone()),
            )
            .unwrap(),
    );
    let first = calls.recv().await.unwrap();
    settle().await;
    let snap = store.last();
    let pos = snap.position.clone().unwrap();
    assert_eq!(pos.state_name, "Pay");
    assert_eq!(pos.phase, Phase::Entered);
    task.abort();
    drop(engine);

    let (h2, mut calls2) = host(false);
    let engine2 = Engine::new(h2, Arc::new(clock.clone()));
    let out = engine2.resume(&m, snap, None).unwrap().outcome().await;
    let again = calls2.recv().await.unwrap();

    assert_eq!(again.parameters, first.parameters);
    assert_eq!(out.status, ExecutionStatus::Succeeded);
    assert_eq!(out.output, Some(json!({"approvalId": "a-1"})));
}

#[tokio::test]
async fn resume_rejects_unknown_states_and_finished_snapshots() {
    let clock = ManualClock::default();
    let store = Arc::new(Store::default());
    let (h, _calls) = host(false);
    let engine = Engine::new(h, Arc::new(clock.clone()));
    let m = StateMachine::parse(PLAIN_TASK).unwrap();
    let out = engine
        .start(
            &m,
            StartExecution::new("o-9", json!({})).with_persistence(store.clone()),
        )
        .unwrap()
        .outcome()
        .await;
    assert_eq!(out.status, ExecutionStatus::Succeeded);
    assert_eq!(
        engine.resume(&m, store.last(), None).err(),
        Some(StartError::InvalidSnapshot(format!(
            "the execution already ended ({})",
            ExecutionStatus::Succeeded
        )))
    );

    // The first save: Pay entered (entering the Pass state is saved with it).
    let mut running = store.saved.lock().unwrap()[0].clone();
    running.position.as_mut().unwrap().state_name = "Gone".into();
    assert_eq!(
        engine.resume(&m, running, None).err(),
        Some(StartError::InvalidSnapshot(
            "the state machine has no top-level state named \"Gone\"".into()
        ))
    );
}

#[tokio::test]
async fn stop_execution_aborts() {
    let clock = ManualClock::default();
    let (h, mut calls) = host(false);
    let engine = Engine::new(h, Arc::new(clock.clone()));
    let handle = engine
        .start(
            &machine(),
            StartExecution::new("o-10", json!({"orderId": "o-10"})),
        )
        .unwrap();
    let token = token_of(&calls.recv().await.unwrap());
    settle().await;

    assert!(engine.stop_execution(handle.execution_id(), Some("Cancelled".into()), None));
    let out = handle.outcome().await;

    assert_eq!(out.status, ExecutionStatus::Aborted);
    assert_eq!(out.error.as_deref(), Some("Cancelled"));
    assert_eq!(
        out.history.last().map(|e| e.event_type.as_str()),
        Some("ExecutionAborted")
    );
    assert_eq!(
        engine.send_task_success(&token, json!({})),
        Err(CallbackError::TaskTimedOut)
    );
}

#[tokio::test]
async fn duplicate_running_names_are_rejected() {
    let (h, _calls) = host(false);
    let engine = Engine::new(h, Arc::new(ManualClock::default()));
    let _first = engine
        .start(
            &machine(),
            StartExecution::new("same", json!({"orderId": "x"})),
        )
        .unwrap();
    assert_eq!(
        engine
            .start(
                &machine(),
                StartExecution::new("same", json!({"orderId": "x"}))
            )
            .err(),
        Some(StartError::ExecutionAlreadyExists("same".into()))
    );
    assert_eq!(
        engine
            .start(&machine(), StartExecution::new("bad name", json!({})))
            .err(),
        Some(StartError::InvalidName(
            "\"bad name\" contains the character ' '".into()
        ))
    );
}

#[derive(Debug, Default)]
struct Lines {
    lines: Mutex<Vec<String>>,
    events: Mutex<Vec<String>>,
}

impl Observer for Lines {
    fn on_event(&self, _e: &asl::ExecutionInfo, event: &HistoryEvent) {
        self.events
            .lock()
            .unwrap()
            .push(event.event_type.as_str().to_owned());
    }

    fn on_transition(&self, e: &asl::ExecutionInfo, t: &StateTransition) {
        let outcome = match &t.outcome {
            TransitionOutcome::Succeeded { next } => format!("ok -> {next:?}"),
            TransitionOutcome::Caught { error, next } => format!("caught {error} -> {next}"),
            TransitionOutcome::Failed { error, .. } => format!("failed {error}"),
        };
        self.lines.lock().unwrap().push(format!(
            "{} {} {} {}ms",
            e.name,
            t.state_name,
            outcome,
            t.elapsed.as_millis()
        ));
    }
}

#[derive(Debug)]
struct FailingHost;

#[async_trait]
impl TaskHost for FailingHost {
    async fn invoke(&self, _req: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        Err(TaskFailure::lambda_error("PaymentDeclined", "card refused"))
    }
}

#[tokio::test]
async fn observer_sees_one_line_per_transition_and_every_event() {
    let clock = ManualClock::default();
    let lines = Arc::new(Lines::default());
    let engine = Engine::builder(Arc::new(FailingHost), Arc::new(clock.clone()))
        .observer(lines.clone())
        .build();
    let def = r#"{"StartAt": "Wait", "States": {
        "Wait": {"Type": "Wait", "Seconds": 2, "Next": "Pay"},
        "Pay": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "pay", "Payload.$": "$"},
                "Catch": [{"ErrorEquals": ["PaymentDeclined"], "Next": "Refund"}], "End": true},
        "Refund": {"Type": "Fail", "Error": "Declined"}}}"#;
    let m = StateMachine::parse(def).unwrap();
    let fut = engine
        .run(&m, StartExecution::new("obs", json!({})))
        .unwrap();
    let out = clock.run(fut).await;

    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!(
        *lines.lines.lock().unwrap(),
        [
            "obs Wait ok -> Some(\"Pay\") 2000ms",
            "obs Pay caught PaymentDeclined -> Refund 0ms",
            "obs Refund failed Declined 0ms"
        ]
    );
    assert_eq!(lines.events.lock().unwrap().len(), out.history.len());
    let failed = out
        .history
        .iter()
        .find(|e| e.event_type.as_str() == "TaskFailed")
        .unwrap();
    let v: Value = serde_json::to_value(failed).unwrap();
    let cause: Value =
        serde_json::from_str(v["taskFailedEventDetails"]["cause"].as_str().unwrap()).unwrap();
    assert_eq!(
        cause,
        json!({"errorMessage": "card refused", "errorType": "PaymentDeclined", "trace": []})
    );
}

#[tokio::test]
async fn snapshot_round_trips_through_json() {
    let clock = ManualClock::default();
    let store = Arc::new(Store::default());
    let (h, mut calls) = host(false);
    let engine = Engine::new(h, Arc::new(clock.clone()));
    let _handle = engine
        .start(
            &machine(),
            StartExecution::new("o-11", json!({"orderId": "o-11"})).with_persistence(store.clone()),
        )
        .unwrap();
    let _ = calls.recv().await.unwrap();
    settle().await;

    let snap = store.last();
    let text = serde_json::to_string(&snap).unwrap();
    let back: ExecutionSnapshot = serde_json::from_str(&text).unwrap();

    assert_eq!(back, snap);
    assert!(text.contains("\"TaskSubmitted\""));
    assert!(text.contains("\"parked\""));
}

/// Fails the first `fail` calls, then succeeds; counts calls.
#[derive(Debug)]
struct Flaky {
    fail: usize,
    calls: Mutex<usize>,
}

#[async_trait]
impl TaskHost for Flaky {
    async fn invoke(&self, req: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        let n = {
            let mut c = self.calls.lock().unwrap();
            *c += 1;
            *c
        };
        if n <= self.fail {
            Err(TaskFailure::new("Transient", "busy"))
        } else {
            Ok(TaskOutput::Output(json!({"attempt": req.attempt})))
        }
    }
}

#[tokio::test]
async fn resume_during_a_retry_wait_keeps_the_counters_and_the_wake_up_time() {
    let clock = ManualClock::default();
    let start = clock.now();
    let store = Arc::new(Store::default());
    let def = r#"{"StartAt": "Pay", "States": {"Pay": {"Type": "Task",
        "Resource": "arn:aws:lambda:us-east-1:000000000000:function:pay",
        "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 100, "MaxAttempts": 2, "BackoffRate": 1}],
        "End": true}}}"#;
    let m = StateMachine::parse(def).unwrap();
    let first = Arc::new(Flaky {
        fail: 10,
        calls: Mutex::new(0),
    });
    let engine = Engine::new(first.clone(), Arc::new(clock.clone()));
    let task = tokio::spawn(
        engine
            .run(
                &m,
                StartExecution::new("r-1", json!({})).with_persistence(store.clone()),
            )
            .unwrap(),
    );
    settle().await;
    let snap = store.last();
    let pos = snap.position.clone().unwrap();
    assert_eq!(
        pos.phase,
        Phase::RetryWait {
            resume_at: start + chrono::TimeDelta::seconds(100)
        }
    );
    assert_eq!((pos.retry_counts.clone(), pos.retry_count), (vec![1], 1));
    clock.advance(Duration::from_secs(40));
    settle().await;
    task.abort();
    drop(engine);

    let second = Arc::new(Flaky {
        fail: 0,
        calls: Mutex::new(0),
    });
    let engine2 = Engine::new(second.clone(), Arc::new(clock.clone()));
    let handle = engine2.resume(&m, snap, None).unwrap();
    settle().await;
    assert_eq!(
        *second.calls.lock().unwrap(),
        0,
        "still waiting for the original wake-up time"
    );
    clock.advance(Duration::from_secs(60));
    let out = handle.outcome().await;

    assert_eq!(out.status, ExecutionStatus::Succeeded);
    assert_eq!(
        out.output,
        Some(json!({"attempt": 1})),
        "the attempt number continues"
    );
    assert_eq!(out.stop_time - start, chrono::TimeDelta::seconds(100));
    assert_eq!(*first.calls.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_parallel_state_is_resumed_by_running_it_again() {
    let clock = ManualClock::default();
    let store = Arc::new(Store::default());
    let def = r#"{"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:a", "End": true}}},
        {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": "b", "End": true}}}]}}}"#;
    let m = StateMachine::parse(def).unwrap();
    let (h, mut calls) = host(true);
    let engine = Engine::new(h, Arc::new(clock.clone()));
    let task = tokio::spawn(
        engine
            .run(
                &m,
                StartExecution::new("p-1", json!({"x": 1})).with_persistence(store.clone()),
            )
            .unwrap(),
    );
    let _ = calls.recv().await.unwrap();
    settle().await;
    let snap = store.last();
    assert_eq!(snap.position.as_ref().unwrap().state_name, "Both");
    task.abort();
    drop(engine);

    let (h2, mut calls2) = host(false);
    let engine2 = Engine::new(h2, Arc::new(clock.clone()));
    let out = engine2.resume(&m, snap, None).unwrap().outcome().await;

    assert_eq!(calls2.recv().await.unwrap().state_name, "A");
    assert_eq!(out.status, ExecutionStatus::Succeeded);
    assert_eq!(out.output, Some(json!([{"approvalId": "a-1"}, "b"])));
}
