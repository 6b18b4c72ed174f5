//! Durable executions: the [`Workflow`] port over the engine, with every
//! execution kept in the `executions` table of the SQLite database.
//!
//! - `StartExecution` inserts the row first (name = order id; an existing
//!   row means the execution exists: [`Started::AlreadyExists`], as Step
//!   Functions answers for a name it has seen), then starts the engine with a
//!   [`Persistence`] that saves every snapshot into that row, and the final
//!   status and history when the execution ends.
//! - At start-up [`DurableWorkflow::resume_all`] continues every `RUNNING`
//!   row: from its last snapshot (a parked approval parks again with the same
//!   token and deadline; a state cut off mid-flight runs again), or from its
//!   stored input when the first snapshot was never written.
//! - `SendTaskSuccess` goes to the engine (which knows the executions of this
//!   process only — hence resuming before the HTTP server accepts requests).
//!
//! The `state` column holds the engine's [`ExecutionSnapshot`] as JSON, or
//! `{"notStarted": true, "input": …}` until the first snapshot is saved.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asl::{
    Engine, ExecutionSnapshot, Persistence, PersistenceError, Phase, StartExecution, StateMachine,
};
use async_trait::async_trait;
use saga_core::OrderId;
use saga_core::approval::TaskToken;
use saga_core::ports::{Started, StoreError, Workflow, WorkflowError};
use saga_sqlite::{ExecutionRow, SqliteStore};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::engine_glue::EngineWorkflow;

/// Status of executions that have not ended.
pub const RUNNING: &str = "RUNNING";

/// Open until the server shuts down; then every save is refused, so running
/// executions stop before their next side effect and keep their last saved
/// state for the next start.
#[derive(Debug, Default)]
pub struct Gate {
    closed: AtomicBool,
}

impl Gate {
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

/// Saves one execution's snapshots into its row.
struct RowPersistence {
    store: SqliteStore,
    name: String,
    gate: Arc<Gate>,
    /// Fired after the first successful save (a resumed parked task has
    /// re-registered its token by then).
    first_save: Mutex<Option<oneshot::Sender<()>>>,
}

impl std::fmt::Debug for RowPersistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowPersistence")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Persistence for RowPersistence {
    async fn save(&self, snapshot: &ExecutionSnapshot) -> Result<(), PersistenceError> {
        if self.gate.is_closed() {
            return Err(PersistenceError(
                "saga-local is shutting down; the execution resumes at the next start".into(),
            ));
        }
        let state = serde_json::to_string(snapshot)
            .map_err(|e| PersistenceError(format!("cannot serialize the snapshot: {e}")))?;
        let at = snapshot
            .stop_time
            .or_else(|| snapshot.history.last().map(|e| e.timestamp))
            .unwrap_or(snapshot.execution.start_time)
            .timestamp_millis();
        self.store
            .save_execution(&self.name, snapshot.status.as_str(), &state, at)
            .await
            .map_err(|e| PersistenceError(saga_core::ports::error_chain(&e)))?;
        if let Some(tx) = self
            .first_save
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = tx.send(());
        }
        Ok(())
    }
}

/// What a `state` column holds.
enum Stored {
    NotStarted(Value),
    Snapshot(Box<ExecutionSnapshot>),
}

fn stored(state: &str) -> Result<Stored, serde_json::Error> {
    let value: Value = serde_json::from_str(state)?;
    if value.get("notStarted").and_then(Value::as_bool) == Some(true) {
        return Ok(Stored::NotStarted(
            value.get("input").cloned().unwrap_or(Value::Null),
        ));
    }
    serde_json::from_value(value).map(|s| Stored::Snapshot(Box::new(s)))
}

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
    inner: EngineWorkflow,
}

impl std::fmt::Debug for DurableWorkflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableWorkflow").finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the engine refused to start execution {name}: {message}")]
struct StartFailed {
    name: String,
    message: String,
}

impl DurableWorkflow {
    pub fn new(store: SqliteStore, engine: Engine, machine: StateMachine, gate: Arc<Gate>) -> Self {
        let factory = {
            let (store, gate) = (store.clone(), gate.clone());
            Arc::new(move |name: &str| -> Arc<dyn Persistence> {
                Arc::new(RowPersistence {
                    store: store.clone(),
                    name: name.to_owned(),
                    gate: gate.clone(),
                    first_save: Mutex::new(None),
                })
            })
        };
        let inner = EngineWorkflow::new(engine.clone(), machine.clone()).with_persistence(factory);
        Self {
            store,
            engine,
            machine,
            gate,
            inner,
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn persistence(&self, name: &str) -> (Arc<dyn Persistence>, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let p = RowPersistence {
            store: self.store.clone(),
            name: name.to_owned(),
            gate: self.gate.clone(),
            first_save: Mutex::new(Some(tx)),
        };
        (Arc::new(p), rx)
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
                    .start(
                        &self.machine,
                        StartExecution::new(name.clone(), input).with_persistence(persistence),
                    )
                    .map(|_| report.restarted.push(name.clone())),
                Ok(Stored::Snapshot(snapshot)) => {
                    let is_parked = snapshot
                        .position
                        .as_ref()
                        .is_some_and(|p| matches!(p.phase, Phase::Parked { .. }));
                    self.engine
                        .resume(&self.machine, *snapshot, Some(persistence))
                        .map(|_| {
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
        match self.inner.start_execution(name, input).await {
            Ok(started) => Ok(started),
            Err(e) => {
                // Not startable (never happens for valid order ids): record it
                // so the next start does not try again.
                let state = json!({"error": saga_core::ports::error_chain(&e)}).to_string();
                self.store
                    .save_execution(name.as_str(), "FAILED", &state, now)
                    .await?;
                Err(WorkflowError::Store(StoreError::permanent(
                    "workflow.start_execution",
                    StartFailed {
                        name: name.to_string(),
                        message: saga_core::ports::error_chain(&e),
                    },
                )))
            }
        }
    }

    async fn send_task_success(
        &self,
        token: &TaskToken,
        output: &Value,
    ) -> Result<(), WorkflowError> {
        self.inner.send_task_success(token, output).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
