//! The engine's executions: per execution name a head row (status and an
//! opaque state, the engine's snapshot without its history) and its history
//! events, append-only, one row each (the documents are opaque too).

use rusqlite::{Connection, params};
use saga_core::ports::StoreError;

use crate::{SqliteStore, classify, execute, query_opt};

/// An execution as the engine persists it: its status and an opaque state
/// (the engine's serialized snapshot, without the history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRow {
    pub name: String,
    pub status: String,
    pub state: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// One history event of an execution: its id (1, 2, … in order) and its
/// JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: u64,
    pub doc: String,
}

/// The head of a save that keeps the status (every save of a running
/// execution but its last): `status` is left out of the `SET`, so SQLite
/// leaves `executions_by_status` alone (one B-tree page less per commit).
const SAVE_SAME_STATUS: &str =
    "UPDATE executions SET state = ?3, updated_at_ms = ?4 WHERE name = ?1 AND status = ?2";

const SAVE_HEAD: &str = "INSERT INTO executions (name, status, state, created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?4)
     ON CONFLICT (name) DO UPDATE SET status = excluded.status, state = excluded.state, updated_at_ms = excluded.updated_at_ms";

pub(crate) fn save_head(
    c: &Connection,
    op: &'static str,
    name: &str,
    status: &str,
    state: &str,
    at_ms: i64,
) -> Result<(), StoreError> {
    if execute(c, op, SAVE_SAME_STATUS, params![name, status, state, at_ms])? == 0 {
        execute(c, op, SAVE_HEAD, params![name, status, state, at_ms])?;
    }
    Ok(())
}

/// Event ids are SQLite integers (i64); larger ids never occur.
pub(crate) fn to_sql_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

impl SqliteStore {
    /// Insert an execution of the order saga unless one with this name
    /// exists; `true` when inserted.
    pub async fn insert_execution(&self, row: ExecutionRow) -> Result<bool, StoreError> {
        self.insert_machine_execution(row, ExecutionMeta::default())
            .await
    }

    /// Store the execution's current status and state (its events stay).
    pub async fn save_execution(
        &self,
        name: &str,
        status: &str,
        state: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let (name, status, state) = (name.to_owned(), status.to_owned(), state.to_owned());
        self.write("executions.save", move |c| {
            save_head(c, "executions.save", &name, &status, &state, at_ms)?;
            Ok(((), true))
        })
        .await
    }

    /// In one transaction: append `events` to the execution's history and
    /// store its status and state. An event id already stored refuses the
    /// whole save (each event is written once).
    pub async fn append_execution(
        &self,
        name: &str,
        status: &str,
        state: String,
        events: Vec<EventRow>,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        const OP: &str = "executions.append";
        let (name, status) = (name.to_owned(), status.to_owned());
        self.write(OP, move |c| {
            for e in &events {
                execute(
                    c,
                    OP,
                    "INSERT INTO execution_events (execution, event_id, doc) VALUES (?1, ?2, ?3)",
                    params![name, to_sql_id(e.id), e.doc],
                )?;
            }
            save_head(c, OP, &name, &status, &state, at_ms)?;
            Ok(((), true))
        })
        .await
    }

    pub async fn execution(&self, name: &str) -> Result<Option<ExecutionRow>, StoreError> {
        self.read(|c| {
            query_opt(
                c,
                "executions.get",
                "SELECT name, status, state, created_at_ms, updated_at_ms FROM executions WHERE name = ?1",
                params![name],
                execution_row,
            )
        })
    }

    /// A page of the execution's history: at most `limit` events starting
    /// at `from_event_id` (included; `None`: the first, or with `reverse`
    /// the last), by increasing id, or decreasing with `reverse`. The next
    /// page starts after the last event returned (its id + 1, or − 1 in
    /// reverse); a page shorter than `limit` is the last. Unknown
    /// executions have no events.
    pub async fn events(
        &self,
        execution: &str,
        from_event_id: Option<u64>,
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<EventRow>, StoreError> {
        const OP: &str = "executions.events";
        let execution = execution.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(OP, move |c| {
            let (sql, from) = if reverse {
                (
                    "SELECT event_id, doc FROM execution_events WHERE execution = ?1 AND event_id <= ?2 ORDER BY event_id DESC LIMIT ?3",
                    from_event_id.map_or(i64::MAX, to_sql_id),
                )
            } else {
                (
                    "SELECT event_id, doc FROM execution_events WHERE execution = ?1 AND event_id >= ?2 ORDER BY event_id LIMIT ?3",
                    from_event_id.map_or(0, to_sql_id),
                )
            };
            let mut stmt = c.prepare_cached(sql).map_err(|e| classify(OP, e))?;
            let rows = stmt
                .query_map(params![execution, from, limit], |r| {
                    let id: i64 = r.get(0)?;
                    Ok(EventRow {
                        id: u64::try_from(id).unwrap_or_default(),
                        doc: r.get(1)?,
                    })
                })
                .map_err(|e| classify(OP, e))?;
            rows.map(|r| r.map_err(|e| classify(OP, e))).collect()
        })
        .await
    }

    /// The whole history of the execution, oldest first.
    pub async fn all_events(&self, execution: &str) -> Result<Vec<EventRow>, StoreError> {
        self.events(execution, None, usize::MAX, false).await
    }

    /// The order saga's executions with this status, oldest first (e.g.
    /// `RUNNING` ones to resume); those of the API's machines:
    /// [`SqliteStore::machine_executions_with_status`].
    pub async fn executions_with_status(
        &self,
        status: &str,
    ) -> Result<Vec<ExecutionRow>, StoreError> {
        let status = status.to_owned();
        self.run("executions.by_status", move |c| {
            let mut stmt = c
                .prepare(
                    "SELECT name, status, state, created_at_ms, updated_at_ms FROM executions WHERE status = ?1 AND machine = '' ORDER BY created_at_ms, name",
                )
                .map_err(|e| classify("executions.by_status", e))?;
            let rows = stmt.query_map(params![status], execution_row).map_err(|e| classify("executions.by_status", e))?;
            rows.map(|r| r.map_err(|e| classify("executions.by_status", e))).collect()
        })
        .await
    }
}

pub(crate) fn execution_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ExecutionRow> {
    Ok(ExecutionRow {
        name: r.get(0)?,
        status: r.get(1)?,
        state: r.get(2)?,
        created_at_ms: r.get(3)?,
        updated_at_ms: r.get(4)?,
    })
}

mod api;

pub use api::{ExecutionMeta, ExecutionSummary};

#[cfg(test)]
mod tests;
