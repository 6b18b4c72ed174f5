//! How [`super::workflow::DurableWorkflow`] keeps an execution in SQLite:
//! the engine's [`Checkpoint`]s (the events since the last save and the
//! small head) go into `execution_events` (one row per event) and the
//! `executions` row, in one transaction; resuming puts the head and the
//! stored events back together.
//!
//! The `state` column of the row holds the head (the engine's
//! [`ExecutionSnapshot`] without its history) as JSON, or
//! `{"notStarted": true, "input": …}` until the first save.
//!
//! Given a [`SqliteStore::deferring`] store, the saves between two steps of
//! a running execution are deferred (committed with the next committing
//! write, see saga-sqlite's writer): nobody outside has seen them. A save
//! that ends the execution, parks it on a task token or follows such a
//! wait is committed before the engine goes on: an HTTP client, a
//! `SendTaskSuccess` or a redelivery acts on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use asl::{
    Checkpoint, ExecutionSnapshot, ExecutionStatus, HistoryEvent, Persistence, PersistenceError,
    Phase, async_trait,
};
use saga_core::ports::StoreError;
use saga_sqlite::{EventRow, SqliteStore};
use serde_json::Value;
use tokio::sync::{oneshot, watch};

use super::workflow::Gate;

/// The last successful save of one execution.
#[derive(Debug, Clone, Default)]
pub(crate) struct Saved {
    /// Successful saves so far (by this process).
    pub(crate) count: u64,
    /// The task token the saved head waits on, if any.
    pub(crate) parked_on: Option<String>,
}

/// Task token → the saves of the execution parked on it.
pub(crate) type Parked = Arc<Mutex<HashMap<String, watch::Receiver<Saved>>>>;

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn parked_token(head: &ExecutionSnapshot) -> Option<String> {
    match &head.position.as_ref()?.phase {
        Phase::Parked { token, .. } => Some(token.clone()),
        _ => None,
    }
}

/// Saves one execution's checkpoints into its row and its events.
pub(crate) struct RowPersistence {
    /// The saves between two steps (deferred when the store given is).
    store: SqliteStore,
    /// The saves that are committed before the engine goes on.
    committing: SqliteStore,
    name: String,
    gate: Arc<Gate>,
    /// Fired after the first successful save (a resumed parked task has
    /// re-registered its token by then).
    first_save: Mutex<Option<oneshot::Sender<()>>>,
    /// Announces every successful save (`SendTaskSuccess` waits on it).
    saves: watch::Sender<Saved>,
    parked: Parked,
}

debug_naming!(RowPersistence, name);

impl RowPersistence {
    pub(crate) fn new(
        store: SqliteStore,
        name: &str,
        gate: Arc<Gate>,
        parked: Parked,
    ) -> (Self, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let p = Self {
            committing: store.committing(),
            store,
            name: name.to_owned(),
            gate,
            first_save: Mutex::new(Some(tx)),
            saves: watch::channel(Saved::default()).0,
            parked,
        };
        (p, rx)
    }

    /// Tell `SendTaskSuccess` (waiting on the token) about a save.
    fn announce(&self, head: &ExecutionSnapshot) {
        let now_parked = parked_token(head);
        let was_parked = self.saves.borrow().parked_on.clone();
        self.saves.send_modify(|s| {
            s.count += 1;
            s.parked_on = now_parked.clone();
        });
        if was_parked != now_parked {
            let mut parked = lock(&self.parked);
            if let Some(old) = was_parked {
                parked.remove(&old);
            }
            if let Some(new) = now_parked {
                parked.insert(new, self.saves.subscribe());
            }
        }
        if let Some(tx) = lock(&self.first_save).take() {
            let _ = tx.send(());
        }
    }
}

fn serialize<T: serde::Serialize>(what: &str, value: &T) -> Result<String, PersistenceError> {
    serde_json::to_string(value)
        .map_err(|e| PersistenceError(format!("cannot serialize the {what}: {e}")))
}

#[async_trait]
impl Persistence for RowPersistence {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), PersistenceError> {
        if self.gate.is_closed() {
            return Err(PersistenceError(
                "saga-local is shutting down; the execution resumes at the next start".into(),
            ));
        }
        let head = &checkpoint.head;
        let state = serialize("execution", head)?;
        let events = checkpoint
            .events
            .iter()
            .map(|e| {
                Ok(EventRow {
                    id: e.id,
                    doc: serialize("history event", e)?,
                })
            })
            .collect::<Result<Vec<_>, PersistenceError>>()?;
        let at = head
            .stop_time
            .or_else(|| checkpoint.events.last().map(|e| e.timestamp))
            .unwrap_or(head.execution.start_time)
            .timestamp_millis();
        // Running on, neither waiting nor back from a wait: a save between
        // two steps.
        let between_steps = head.status == ExecutionStatus::Running
            && parked_token(head).is_none()
            && self.saves.borrow().parked_on.is_none();
        let store = if between_steps {
            &self.store
        } else {
            &self.committing
        };
        store
            .append_execution(&self.name, head.status.as_str(), state, events, at)
            .await
            .map_err(|e| PersistenceError(saga_core::ports::error_chain(&e)))?;
        self.announce(head);
        Ok(())
    }
}

/// What a `state` column holds.
pub(crate) enum Stored {
    NotStarted(Value),
    /// The head of the last save (no history).
    Head(Box<ExecutionSnapshot>),
}

pub(crate) fn stored(state: &str) -> Result<Stored, serde_json::Error> {
    let value: Value = serde_json::from_str(state)?;
    if value.get("notStarted").and_then(Value::as_bool) == Some(true) {
        return Ok(Stored::NotStarted(
            value.get("input").cloned().unwrap_or(Value::Null),
        ));
    }
    serde_json::from_value(value).map(|s| Stored::Head(Box::new(s)))
}

/// The history event documents as events.
pub(crate) fn parse_events(rows: &[EventRow]) -> Result<Vec<HistoryEvent>, StoreError> {
    rows.iter()
        .map(|r| {
            serde_json::from_str(&r.doc).map_err(|e| StoreError::corrupt("executions.events", e))
        })
        .collect()
}

/// The head with its stored history: what the engine resumes from.
pub(crate) async fn whole_snapshot(
    store: &SqliteStore,
    name: &str,
    head: ExecutionSnapshot,
) -> Result<ExecutionSnapshot, StoreError> {
    let rows = store.all_events(name).await?;
    let history = parse_events(&rows)?;
    check_history(&history, head.next_event_id)
        .map_err(|why| StoreError::corrupt("executions.events", why))?;
    Ok(head.with_history(history))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct BrokenHistory(String);

/// The ids of a saved history run 1, 2, … up to the event before
/// `next_event_id`, each event after its `previousEventId`.
pub(crate) fn check_history(
    history: &[HistoryEvent],
    next_event_id: u64,
) -> Result<(), BrokenHistory> {
    for (i, e) in history.iter().enumerate() {
        let want = i as u64 + 1;
        if e.id != want || e.previous_event_id >= e.id {
            return Err(BrokenHistory(format!(
                "event {} (previous {}) where event {want} belongs",
                e.id, e.previous_event_id
            )));
        }
    }
    let last = history.len() as u64;
    if last + 1 != next_event_id {
        return Err(BrokenHistory(format!(
            "{last} events stored, the head expects {}",
            next_event_id.saturating_sub(1)
        )));
    }
    Ok(())
}
