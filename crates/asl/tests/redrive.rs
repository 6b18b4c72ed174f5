//! Redriving an ended execution (`ExecutionSnapshot::redriven`): it
//! continues at the state it stopped in, with that state's input and the
//! variables of its entry, its Retry counters from zero, the history kept
//! and continued with `ExecutionRedriven`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use asl::{
    Checkpoint, Engine, EventType, ExecutionSnapshot, ExecutionStatus, NotRedrivable, Persistence,
    PersistenceError, RealClock, StartExecution, StateMachine, TaskFailure, TaskHost, TaskOutput,
    TaskRequest, async_trait,
};
use serde_json::{Value, json};

/// Fails `flaky` until `fixed`; records every payload.
#[derive(Debug, Default)]
struct Flaky {
    fixed: std::sync::atomic::AtomicBool,
    calls: AtomicU32,
    payloads: Mutex<Vec<Value>>,
}

#[async_trait]
impl TaskHost for Flaky {
    async fn invoke(&self, request: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.payloads
            .lock()
            .unwrap()
            .push(request.parameters.clone());
        if self.fixed.load(Ordering::SeqCst) {
            Ok(TaskOutput::Output(json!({"done": true})))
        } else {
            Err(TaskFailure::new("Boom", "not yet"))
        }
    }
}

#[derive(Debug, Default)]
struct Store(Mutex<Option<ExecutionSnapshot>>);

#[async_trait]
impl Persistence for Store {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), PersistenceError> {
        let mut s = self.0.lock().unwrap();
        *s = Some(checkpoint.applied_to(s.take()));
        Ok(())
    }
}

const MACHINE: &str = r#"{
  "QueryLanguage": "JSONata",
  "StartAt": "Prepare",
  "States": {
    "Prepare": {"Type": "Pass", "Assign": {"who": "{% $states.input.who %}"}, "Output": {"n": 1}, "Next": "Call"},
    "Call": {
      "Type": "Task",
      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:flaky",
      "Arguments": {"who": "{% $who %}", "n": "{% $states.input.n %}"},
      "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 1, "MaxAttempts": 1}],
      "End": true
    }
  }
}"#;

#[tokio::test]
async fn a_failed_task_is_redriven_with_its_input_variables_and_fresh_retries() {
    let host = Arc::new(Flaky::default());
    let engine = Engine::new(host.clone(), Arc::new(RealClock));
    let machine = StateMachine::parse(MACHINE).unwrap();
    let store = Arc::new(Store::default());
    let start = StartExecution::new("r", json!({"who": "ada"})).with_persistence(store.clone());
    let outcome = engine.start(&machine, start).unwrap().outcome().await;
    assert_eq!(outcome.status, ExecutionStatus::Failed);
    assert_eq!(host.calls.load(Ordering::SeqCst), 2);
    let failed = store.0.lock().unwrap().clone().unwrap();
    let before = failed.history.len() as u64;

    let now = chrono::Utc::now();
    let (snapshot, events) = failed.redriven(now, 1).unwrap();
    assert_eq!(snapshot.status, ExecutionStatus::Running);
    assert_eq!(
        events.iter().map(|e| e.event_type).collect::<Vec<_>>(),
        [EventType::ExecutionRedriven, EventType::TaskStateEntered]
    );
    assert_eq!(
        (events[0].id, events[0].previous_event_id),
        (before + 1, before)
    );
    // The host stores the redrive (its events and head) before resuming.
    *store.0.lock().unwrap() = Some(snapshot.clone());
    host.fixed.store(true, Ordering::SeqCst);
    let outcome = engine
        .resume(&machine, snapshot, Some(store.clone()))
        .unwrap()
        .outcome()
        .await;

    assert_eq!(
        outcome.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        outcome.error
    );
    assert_eq!(outcome.output, Some(json!({"done": true})));
    let payloads = host.payloads.lock().unwrap().clone();
    assert_eq!(payloads.len(), 3);
    assert_eq!(payloads[2], payloads[0], "the same input and variables");
    assert_eq!(payloads[0], json!({"who": "ada", "n": 1}));
    let saved = store.0.lock().unwrap().clone().unwrap();
    let ids: Vec<u64> = saved.history.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "ids continue"
    );
    let pass_entries = saved
        .history
        .iter()
        .filter(|e| e.event_type == EventType::PassStateEntered)
        .count();
    assert_eq!(pass_entries, 1, "Prepare is not rerun");
}

#[tokio::test]
async fn a_succeeded_execution_is_not_redriven() {
    let engine = Engine::new(Arc::new(Flaky::default()), Arc::new(RealClock));
    let machine =
        StateMachine::parse(r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#)
            .unwrap();
    let store = Arc::new(Store::default());
    let start = StartExecution::new("s", json!({})).with_persistence(store.clone());
    engine.start(&machine, start).unwrap().outcome().await;
    let done = store.0.lock().unwrap().clone().unwrap();

    assert_eq!(done.stopped_at, None);
    assert_eq!(
        done.redriven(chrono::Utc::now(), 1).unwrap_err(),
        NotRedrivable::Succeeded
    );
}

#[tokio::test]
async fn an_execution_failing_in_a_choice_stops_at_that_choice() {
    // Entering the Choice is not saved on its own (it only computes): the
    // end's save still says where the execution stopped, with the input
    // and the variables of its entry.
    let engine = Engine::new(Arc::new(Flaky::default()), Arc::new(RealClock));
    let machine = StateMachine::parse(
        r#"{"QueryLanguage": "JSONata", "StartAt": "Set", "States": {
        "Set": {"Type": "Pass", "Assign": {"k": "{% $states.input.k %}"}, "Output": {"x": 2}, "Next": "Pick"},
        "Pick": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.x = 1 %}", "Next": "Done"}]},
        "Done": {"Type": "Succeed"}}}"#,
    )
    .unwrap();
    let store = Arc::new(Store::default());
    let start = StartExecution::new("c", json!({"k": "v"})).with_persistence(store.clone());
    let outcome = engine.start(&machine, start).unwrap().outcome().await;
    assert_eq!(outcome.status, ExecutionStatus::Failed);
    assert_eq!(outcome.error.as_deref(), Some("States.NoChoiceMatched"));

    let failed = store.0.lock().unwrap().clone().unwrap();
    assert_eq!(failed.history, outcome.history, "every event saved");
    let at = failed.stopped_at.clone().unwrap();
    assert_eq!(at.state_name, "Pick");
    assert_eq!(at.input, json!({"x": 2}));
    assert_eq!(at.variables.get("k"), Some(&json!("v")));
    let (snapshot, events) = failed.redriven(chrono::Utc::now(), 1).unwrap();
    assert_eq!(
        events.iter().map(|e| e.event_type).collect::<Vec<_>>(),
        [EventType::ExecutionRedriven, EventType::ChoiceStateEntered]
    );
    assert_eq!(snapshot.status, ExecutionStatus::Running);
}
