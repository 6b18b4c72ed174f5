//! Durable executions: the [`Workflow`] port over the engine, with every
//! execution kept in the `executions` table of the SQLite database.
//!
//! - `StartExecution` inserts the row first (name = order id; an existing
//!   row means the execution exists: [`Started::AlreadyExists`], as Step
//!   Functions answers for a name it has seen), then starts the engine with a
//!   [`Persistence`] that appends every checkpoint's events and overwrites
//!   the row's head, in one transaction, up to the final status.
//! - At start-up [`DurableWorkflow::resume_all`] continues every `RUNNING`
//!   row: from its last snapshot (a parked approval parks again with the same
//!   token and deadline; a state cut off mid-flight runs again), or from its
//!   stored input when the first snapshot was never written.
//! - `SendTaskSuccess` goes to the engine (which knows the executions of this
//!   process only — hence resuming before the HTTP server accepts requests)
//!   and returns once the execution has saved a snapshot past the wait, so a
//!   decision reported as delivered survives a crash. When that save does not
//!   come (shutdown, database trouble) it answers a transient error instead:
//!   `approval-callback` then leaves the decision "recorded, not delivered"
//!   and the next POST of it delivers it to the resumed execution.
//!
//! - An execution that panics (a bug of the engine, or of saga-local's
//!   persistence or console: a step handler's panic is already a task
//!   failure, see [`crate::steps`]) is recorded `FAILED` with `States.Runtime`
//!   and the panic's message, instead of staying `RUNNING` forever (and
//!   panicking again at every start); the server keeps running.
//!
//! How an execution is stored (its head row and its events, append-only):
//! [`super::persistence`].

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use asl::{
    Engine, ExecutionOutcome, ExecutionSnapshot, ExecutionStatus, HistoryEvent, Persistence, Phase,
    StartError, StartExecution, StateMachine,
};
use async_trait::async_trait;
use futures_util::FutureExt;
use saga_core::OrderId;
use saga_core::approval::TaskToken;
use saga_core::ports::{Started, StoreError, Workflow, WorkflowError};
use saga_sqlite::{ExecutionRow, SqliteStore};
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};

use super::persistence::{
    Parked, RowPersistence, Saved, Stored, lock, parse_events, stored, whole_snapshot,
};
use crate::engine_glue::task_gone;

/// Status of executions that have not ended.
pub const RUNNING: &str = "RUNNING";

/// Open until the server shuts down; then every save is refused, so running
/// executions stop before their next side effect and keep their last saved
/// state for the next start.
#[derive(Debug)]
pub struct Gate {
    closed: watch::Sender<bool>,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            closed: watch::channel(false).0,
        }
    }
}

impl Gate {
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }
}

/// How long `SendTaskSuccess` waits for the execution to save its next
/// snapshot before answering a transient error.
pub(crate) const DELIVERY_WAIT: Duration = Duration::from_secs(10);

/// What [`DurableWorkflow::resume_all`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeReport {
    /// Continued from their last snapshot.
    pub resumed: Vec<String>,
    /// Started from their stored input (no snapshot had been saved).
    pub restarted: Vec<String>,
    /// Waiting for an approval again.
    pub parked: Vec<String>,
    /// Could not be resumed (logged; left `RUNNING`).
    pub failed: Vec<String>,
}

/// The order saga's [`Workflow`], durable in SQLite.
#[derive(Clone)]
pub struct DurableWorkflow {
    store: SqliteStore,
    engine: Engine,
    machine: StateMachine,
    gate: Arc<Gate>,
    parked: Parked,
}

debug_naming!(DurableWorkflow);

#[derive(Debug, thiserror::Error)]
#[error("the engine refused to start execution {name}: {message}")]
struct StartFailed {
    name: String,
    message: String,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "the decision reached the execution but was not saved ({0}); it is delivered again by the next POST"
)]
struct NotSaved(&'static str);

#[derive(Debug, thiserror::Error)]
#[error("saga-local is shutting down; the execution resumes at the next start")]
struct ShuttingDown;

impl DurableWorkflow {
    pub fn new(store: SqliteStore, engine: Engine, machine: StateMachine, gate: Arc<Gate>) -> Self {
        Self {
            store,
            engine,
            machine,
            gate,
            parked: Parked::default(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The gate that closes at shutdown (the Step Functions API's
    /// executions stop saving with the saga's).
    pub(crate) fn gate(&self) -> Arc<Gate> {
        self.gate.clone()
    }

    fn persistence(&self, name: &str) -> (Arc<dyn Persistence>, oneshot::Receiver<()>) {
        let (p, rx) = RowPersistence::new(
            self.store.deferring(),
            name,
            self.gate.clone(),
            self.parked.clone(),
        );
        (Arc::new(p), rx)
    }

    /// Continue a redriven execution (its `RUNNING` head and its new
    /// events are stored already) on the saga's engine.
    pub(crate) fn continue_redriven(&self, snapshot: ExecutionSnapshot) -> Result<(), StartError> {
        let name = snapshot.execution.name.clone();
        let (persistence, _) = self.persistence(&name);
        let run = self
            .engine
            .run_resumed(&self.machine, snapshot, Some(persistence))?;
        self.spawn(&name, run);
        Ok(())
    }

    /// A page of an execution's history (see [`SqliteStore::events`]):
    /// at most `limit` events from `from_event_id` on (included), by
    /// increasing id, or decreasing with `reverse`.
    pub async fn history(
        &self,
        execution: &str,
        from_event_id: Option<u64>,
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        let rows = self
            .store
            .events(execution, from_event_id, limit, reverse)
            .await?;
        parse_events(&rows)
    }

    /// Continue every `RUNNING` execution of the database. Returns once every
    /// execution that was waiting for an approval waits again (its token is
    /// registered with the engine), or after `parked_wait` at most.
    pub async fn resume_all(&self, parked_wait: Duration) -> Result<ResumeReport, StoreError> {
        let mut report = ResumeReport::default();
        let mut parked = Vec::new();
        for row in self.store.executions_with_status(RUNNING).await? {
            let name = row.name.clone();
            let (persistence, first_save) = self.persistence(&name);
            let started = match stored(&row.state) {
                Ok(Stored::NotStarted(input)) => self
                    .engine
                    .run(
                        &self.machine,
                        StartExecution::new(name.clone(), input).with_persistence(persistence),
                    )
                    .map(|run| {
                        self.spawn(&name, run);
                        report.restarted.push(name.clone());
                    }),
                Ok(Stored::Head(head)) => {
                    let snapshot = match whole_snapshot(&self.store, &name, *head).await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::error!(execution = %name, error = %saga_core::ports::error_chain(&e), "unreadable execution history; not resumed");
                            report.failed.push(name);
                            continue;
                        }
                    };
                    let is_parked = snapshot
                        .position
                        .as_ref()
                        .is_some_and(|p| matches!(p.phase, Phase::Parked { .. }));
                    self.engine
                        .run_resumed(&self.machine, snapshot, Some(persistence))
                        .map(|run| {
                            self.spawn(&name, run);
                            if is_parked {
                                report.parked.push(name.clone());
                                parked.push(first_save);
                            }
                            report.resumed.push(name.clone());
                        })
                }
                Err(e) => {
                    tracing::error!(execution = %name, error = %e, "unreadable execution state; not resumed");
                    report.failed.push(name);
                    continue;
                }
            };
            if let Err(e) = started {
                tracing::error!(execution = %name, error = %e, "execution could not be resumed");
                report.failed.push(name);
            }
        }
        let all = futures_wait(parked);
        if tokio::time::timeout(parked_wait, all).await.is_err() {
            tracing::warn!(
                "some resumed executions did not re-register their approval wait within {parked_wait:?}"
            );
        }
        Ok(report)
    }
}

impl DurableWorkflow {
    /// Run the execution on the current runtime. If it panics, its row is
    /// recorded `FAILED` ([`record_panic`]): left `RUNNING`, it would never
    /// end, and would be resumed into the same panic at every start.
    fn spawn(&self, name: &str, run: impl Future<Output = ExecutionOutcome> + Send + 'static) {
        let store = self.store.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            // Unwind safety: the panicked execution is dropped whole; only
            // its row is written, from what the database holds.
            let Err(panic) = AssertUnwindSafe(run).catch_unwind().await else {
                return;
            };
            let message = crate::steps::panic_message(&*panic).unwrap_or("(no message)");
            tracing::error!(execution = %name, panic = message, "the execution panicked; recorded as FAILED");
            if let Err(e) = record_panic(&store, &name, message).await {
                tracing::error!(execution = %name, error = %saga_core::ports::error_chain(&e), "cannot record the panicked execution; it stays RUNNING");
            }
        });
    }
}

/// Mark the row of a panicked execution `FAILED` with `States.Runtime`: its
/// last head, ended (the events stay), or the error alone when none was
/// saved.
async fn record_panic(store: &SqliteStore, name: &str, message: &str) -> Result<(), StoreError> {
    let error = "States.Runtime";
    let cause = format!("saga-local: the execution panicked: {message}");
    let now = chrono::Utc::now();
    // Its last saves may be deferred: read them once committed.
    store.flush().await?;
    let snapshot = store
        .execution(name)
        .await?
        .and_then(|row| match stored(&row.state) {
            Ok(Stored::Head(s)) => Some(s),
            _ => None,
        });
    let bare = json!({"error": error, "cause": cause}).to_string();
    let state = match snapshot {
        Some(mut s) => {
            s.status = ExecutionStatus::Failed;
            s.position = None;
            s.error = Some(error.to_owned());
            s.cause = Some(cause);
            s.stop_time = Some(now);
            serde_json::to_string(&s).unwrap_or(bare)
        }
        None => bare,
    };
    store
        .save_execution(
            name,
            ExecutionStatus::Failed.as_str(),
            &state,
            now.timestamp_millis(),
        )
        .await
}

async fn futures_wait(receivers: Vec<oneshot::Receiver<()>>) {
    for rx in receivers {
        let _ = rx.await;
    }
}

#[async_trait]
impl Workflow for DurableWorkflow {
    async fn start_execution(
        &self,
        name: &OrderId,
        input: &Value,
    ) -> Result<Started, WorkflowError> {
        let now = chrono::Utc::now().timestamp_millis();
        let row = ExecutionRow {
            name: name.to_string(),
            status: RUNNING.to_owned(),
            state: json!({"notStarted": true, "input": input}).to_string(),
            created_at_ms: now,
            updated_at_ms: now,
        };
        if !self.store.insert_execution(row).await? {
            return Ok(Started::AlreadyExists);
        }
        // The row is new, so the name is this execution's alone.
        let (persistence, _) = self.persistence(name.as_str());
        let start = StartExecution::new(name.as_str(), input.clone()).with_persistence(persistence);
        match self.engine.run(&self.machine, start) {
            Ok(run) => {
                self.spawn(name.as_str(), run);
                Ok(Started::New)
            }
            Err(StartError::ExecutionAlreadyExists(_)) => Ok(Started::AlreadyExists),
            Err(e) => {
                // Not startable (never happens for valid order ids): record it
                // so the next start does not try again.
                let state = json!({"error": e.to_string()}).to_string();
                self.store
                    .save_execution(name.as_str(), "FAILED", &state, now)
                    .await?;
                Err(WorkflowError::Store(StoreError::permanent(
                    "workflow.start_execution",
                    StartFailed {
                        name: name.to_string(),
                        message: e.to_string(),
                    },
                )))
            }
        }
    }

    /// Deliver the decision, then wait until the execution has saved a
    /// snapshot that no longer waits on `token`: only then is the decision
    /// safe from a crash. Without that save (shutting down, database
    /// trouble, [`DELIVERY_WAIT`] passed) the answer is a transient error,
    /// so the caller does not report the decision as delivered.
    async fn send_task_success(
        &self,
        token: &TaskToken,
        output: &Value,
    ) -> Result<(), WorkflowError> {
        if self.gate.is_closed() {
            return Err(StoreError::transient("workflow.send_task_success", ShuttingDown).into());
        }
        let token = token.expose_secret();
        let saves = lock(&self.parked).get(token).cloned();
        let before = saves.as_ref().map(|s| s.borrow().count);
        self.engine
            .send_task_success(token, output.clone())
            .map_err(task_gone)?;
        let (Some(mut saves), Some(before)) = (saves, before) else {
            // Parked but its wait not saved yet: nothing older to lose.
            tracing::debug!("a task token without a saved wait was resumed");
            return Ok(());
        };
        let mut closed = self.gate.subscribe();
        let saved = async {
            let past_the_wait =
                |s: &Saved| s.count > before && s.parked_on.as_deref() != Some(token);
            loop {
                if past_the_wait(&saves.borrow_and_update()) {
                    return Ok(());
                }
                if *closed.borrow_and_update() {
                    return Err("saga-local is shutting down");
                }
                tokio::select! {
                    changed = saves.changed() => if changed.is_err() {
                        // The execution is over: its last save decides.
                        return if past_the_wait(&saves.borrow()) {
                            Ok(())
                        } else {
                            Err("the execution stopped before saving")
                        };
                    },
                    changed = closed.changed() => if changed.is_err() {
                        return Err("saga-local is shutting down");
                    },
                }
            }
        };
        match tokio::time::timeout(DELIVERY_WAIT, saved).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => {
                Err(StoreError::transient("workflow.send_task_success", NotSaved(why)).into())
            }
            Err(_) => Err(StoreError::transient(
                "workflow.send_task_success",
                NotSaved("no save within 10 s"),
            )
            .into()),
        }
    }

    /// Its row is written before the engine starts it, and kept after it ends.
    async fn execution_exists(&self, name: &OrderId) -> Result<bool, WorkflowError> {
        Ok(self.store.execution(name.as_str()).await?.is_some())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

    use asl::{RealClock, TaskFailure, TaskHost, TaskOutput, TaskRequest};

    use super::*;

    /// A host that panics outside any handler (as a bug of the engine or of
    /// saga-local's glue would), on the invocation of `boom`.
    #[derive(Debug)]
    struct PanickingHost;

    #[async_trait]
    impl TaskHost for PanickingHost {
        async fn invoke(&self, request: TaskRequest) -> Result<TaskOutput, TaskFailure> {
            if request.function_name().as_deref() == Some("boom") {
                panic!("injected engine bug");
            }
            Ok(TaskOutput::Output(json!({})))
        }
    }

    const MACHINE: &str = r#"{"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:fine", "Next": "B"},
        "B": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:boom", "End": true}}}"#;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_execution_is_recorded_failed_not_left_running() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("saga.db")).unwrap();
        let engine = Engine::new(Arc::new(PanickingHost), Arc::new(RealClock));
        let machine = StateMachine::parse(MACHINE).unwrap();
        let workflow = DurableWorkflow::new(store.clone(), engine, machine, Arc::default());
        let id = OrderId::parse("01KD0000000000000000000000").unwrap();

        let started = workflow.start_execution(&id, &json!({})).await.unwrap();

        assert_eq!(started, Started::New);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let row = loop {
            let row = store.execution(id.as_str()).await.unwrap().unwrap();
            if row.status != RUNNING {
                break row;
            }
            assert!(std::time::Instant::now() < deadline, "still RUNNING");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(row.status, "FAILED");
        let state: Value = serde_json::from_str(&row.state).unwrap();
        assert_eq!(state["status"], "FAILED", "{state:#}");
        assert_eq!(state["error"], "States.Runtime");
        assert_eq!(
            state["cause"],
            "saga-local: the execution panicked: injected engine bug"
        );
        assert!(
            !store.all_events(id.as_str()).await.unwrap().is_empty(),
            "the history saved so far is kept"
        );
    }

    #[test]
    fn a_not_started_row_holds_the_input_and_a_snapshot_row_the_snapshot() {
        let not_started = json!({"notStarted": true, "input": {"orderId": "o-1"}}).to_string();
        assert!(
            matches!(stored(&not_started), Ok(Stored::NotStarted(v)) if v == json!({"orderId": "o-1"}))
        );
        assert!(
            stored("{\"version\": 1}").is_err(),
            "an incomplete snapshot is refused"
        );
    }
}
