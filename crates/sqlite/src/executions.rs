//! The engine's executions: a status and an opaque state per execution name.

use rusqlite::params;
use saga_core::ports::StoreError;

use crate::{SqliteStore, classify, execute, query_opt};

/// An execution as the engine persists it: its status and an opaque state
/// (the engine's serialized snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRow {
    pub name: String,
    pub status: String,
    pub state: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl SqliteStore {
    /// Insert an execution unless one with this name exists; `true` when inserted.
    pub async fn insert_execution(&self, row: ExecutionRow) -> Result<bool, StoreError> {
        self.run("executions.insert", move |c| {
            let n = execute(
                c,
                "executions.insert",
                "INSERT OR IGNORE INTO executions (name, status, state, created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![row.name, row.status, row.state, row.created_at_ms, row.updated_at_ms],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// Store the execution's current status and state.
    pub async fn save_execution(
        &self,
        name: &str,
        status: &str,
        state: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let (name, status, state) = (name.to_owned(), status.to_owned(), state.to_owned());
        self.run("executions.save", move |c| {
            execute(
                c,
                "executions.save",
                "INSERT INTO executions (name, status, state, created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (name) DO UPDATE SET status = excluded.status, state = excluded.state, updated_at_ms = excluded.updated_at_ms",
                params![name, status, state, at_ms],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn execution(&self, name: &str) -> Result<Option<ExecutionRow>, StoreError> {
        let name = name.to_owned();
        self.run("executions.get", move |c| {
            query_opt(
                c,
                "executions.get",
                "SELECT name, status, state, created_at_ms, updated_at_ms FROM executions WHERE name = ?1",
                params![name],
                execution_row,
            )
        })
        .await
    }

    /// Executions with this status, oldest first (e.g. `RUNNING` ones to resume).
    pub async fn executions_with_status(
        &self,
        status: &str,
    ) -> Result<Vec<ExecutionRow>, StoreError> {
        let status = status.to_owned();
        self.run("executions.by_status", move |c| {
            let mut stmt = c
                .prepare(
                    "SELECT name, status, state, created_at_ms, updated_at_ms FROM executions WHERE status = ?1 ORDER BY created_at_ms, name",
                )
                .map_err(|e| classify("executions.by_status", e))?;
            let rows = stmt.query_map(params![status], execution_row).map_err(|e| classify("executions.by_status", e))?;
            rows.map(|r| r.map_err(|e| classify("executions.by_status", e))).collect()
        })
        .await
    }
}
fn execution_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ExecutionRow> {
    Ok(ExecutionRow {
        name: r.get(0)?,
        status: r.get(1)?,
        state: r.get(2)?,
        created_at_ms: r.get(3)?,
        updated_at_ms: r.get(4)?,
    })
}
