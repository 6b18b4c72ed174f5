//! What [`Persistence::save`] is handed: the events since the last
//! successful save (each exactly once, contiguous) and the small head.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use asl::{
    Checkpoint, Engine, EventType, ExecutionStatus, ManualClock, Persistence, PersistenceError,
    Phase, StartExecution, StateMachine, TaskFailure, TaskHost, TaskOutput, TaskRequest,
    async_trait,
};
use serde_json::json;

#[derive(Debug)]
struct Echo;

#[async_trait]
impl TaskHost for Echo {
    async fn invoke(&self, req: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        Ok(TaskOutput::Output(req.parameters))
    }
}

/// Records every checkpoint; refuses the saves whose number (1-based) is
/// in `refuse`.
#[derive(Debug, Default)]
struct Recorder {
    checkpoints: Mutex<Vec<Checkpoint>>,
    refuse: Vec<usize>,
    attempts: Mutex<usize>,
}

#[async_trait]
impl Persistence for Recorder {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), PersistenceError> {
        let n = {
            let mut a = self.attempts.lock().unwrap();
            *a += 1;
            *a
        };
        if self.refuse.contains(&n) {
            return Err(PersistenceError("refused".into()));
        }
        self.checkpoints.lock().unwrap().push(checkpoint.clone());
        Ok(())
    }
}

const CHAIN: &str = r#"{"StartAt": "A", "States": {
    "A": {"Type": "Pass", "Next": "B"},
    "B": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:echo", "Next": "C"},
    "C": {"Type": "Choice", "Choices": [{"Variable": "$.go", "BooleanEquals": true, "Next": "D"}], "Default": "D"},
    "D": {"Type": "Parallel", "Branches": [
        {"StartAt": "P1", "States": {"P1": {"Type": "Pass", "End": true}}},
        {"StartAt": "P2", "States": {"P2": {"Type": "Pass", "End": true}}}], "Next": "E"},
    "E": {"Type": "Succeed"}}}"#;

#[tokio::test]
async fn the_checkpoints_carry_each_event_once_and_together_are_the_history() {
    let store = Arc::new(Recorder::default());
    let engine = Engine::new(Arc::new(Echo), Arc::new(ManualClock::default()));
    let m = StateMachine::parse(CHAIN).unwrap();
    let start = StartExecution::new("c-1", json!({"go": true})).with_persistence(store.clone());

    let out = engine.run(&m, start).unwrap().await;

    assert_eq!(out.status, ExecutionStatus::Succeeded);
    let checkpoints = store.checkpoints.lock().unwrap().clone();
    // B (Task) and D (Parallel) entered, and the end: entering A (Pass),
    // C (Choice) and E (Succeed) goes with the next save.
    assert_eq!(
        checkpoints.len(),
        3,
        "one per top-level state with effects, and the end"
    );
    let mut next = 1;
    for c in &checkpoints {
        assert!(c.head.history.is_empty(), "the head carries no history");
        for e in &c.events {
            assert_eq!(e.id, next, "contiguous, never twice");
            next += 1;
        }
        assert_eq!(c.head.next_event_id, next);
    }
    let appended: Vec<_> = checkpoints.iter().flat_map(|c| c.events.clone()).collect();
    assert_eq!(appended, out.history);
    let last = checkpoints.last().unwrap();
    assert_eq!(last.head.status, ExecutionStatus::Succeeded);
    assert_eq!(last.head.position, None);
    let first: Vec<_> = checkpoints[0].events.iter().map(|e| e.event_type).collect();
    assert_eq!(
        first,
        [
            EventType::ExecutionStarted,
            EventType::PassStateEntered,
            EventType::PassStateExited,
            EventType::TaskStateEntered
        ],
        "entering the Pass state is saved with the Task's entry"
    );
    assert_eq!(
        checkpoints[0]
            .head
            .position
            .as_ref()
            .map(|p| (p.state_name.as_str(), &p.phase)),
        Some(("B", &Phase::Entered))
    );
    let whole = checkpoints
        .iter()
        .fold(None, |whole, c| Some(c.applied_to(whole)))
        .unwrap();
    assert_eq!(whole.history, out.history);
    assert_eq!(whole.status, ExecutionStatus::Succeeded);
}

#[tokio::test]
async fn the_events_of_a_refused_save_come_again_in_the_next() {
    // The first save (entering B) is refused: the execution fails there,
    // and its last save holds every event not saved before.
    let store = Arc::new(Recorder {
        refuse: vec![1],
        ..Recorder::default()
    });
    let engine = Engine::new(Arc::new(Echo), Arc::new(ManualClock::default()));
    let m = StateMachine::parse(CHAIN).unwrap();
    let start = StartExecution::new("c-2", json!({})).with_persistence(store.clone());

    let out = engine.run(&m, start).unwrap().await;

    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!(out.error.as_deref(), Some("States.Runtime"));
    let checkpoints = store.checkpoints.lock().unwrap().clone();
    assert_eq!(checkpoints.len(), 1, "the end's");
    let appended: Vec<_> = checkpoints.iter().flat_map(|c| c.events.clone()).collect();
    assert_eq!(appended, out.history, "nothing lost, nothing twice");
}

#[tokio::test]
async fn a_resumed_execution_sends_only_the_events_after_its_snapshot() {
    let store = Arc::new(Recorder::default());
    let engine = Engine::new(Arc::new(Echo), Arc::new(ManualClock::default()));
    let m = StateMachine::parse(CHAIN).unwrap();
    let first = StartExecution::new("c-3", json!({"go": true})).with_persistence(store.clone());
    let done = engine.run(&m, first).unwrap().await;
    // The snapshot of the first save (B entered), as a host would rebuild it.
    let saved = store.checkpoints.lock().unwrap()[..1].to_vec();
    let snapshot = saved
        .iter()
        .fold(None, |whole, c| Some(c.applied_to(whole)))
        .unwrap();
    let resumed_store = Arc::new(Recorder::default());

    let out = engine
        .run_resumed(&m, snapshot.clone(), Some(resumed_store.clone()))
        .unwrap()
        .await;

    assert_eq!(
        out.status,
        ExecutionStatus::Succeeded,
        "{:?} {:?}",
        out.error,
        out.cause
    );
    let after: Vec<_> = resumed_store
        .checkpoints
        .lock()
        .unwrap()
        .iter()
        .flat_map(|c| c.events.clone())
        .collect();
    assert_eq!(after.first().map(|e| e.id), Some(snapshot.next_event_id));
    let mut history = snapshot.history.clone();
    history.extend(after);
    assert_eq!(history, out.history);
    assert_eq!(out.history.len(), done.history.len());
}
