//! The Step Functions API's state machines (`saga-local serve --sfn-port`):
//! one row per state machine created through `CreateStateMachine`, so they
//! survive a restart. The order saga itself is built in and never stored.

use rusqlite::params;
use saga_core::ports::StoreError;

use crate::{SqliteStore, classify, execute, query_opt};

/// Created by [`SqliteStore::open`] with the rest of the schema.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sfn_state_machines (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    definition TEXT NOT NULL,
    role_arn TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    revision INTEGER NOT NULL
);
";

/// A state machine as `DescribeStateMachine` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateMachineRow {
    pub arn: String,
    pub name: String,
    /// `STANDARD` or `EXPRESS`.
    pub machine_type: String,
    /// The ASL text as given.
    pub definition: String,
    pub role_arn: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// 1 at creation, +1 per update (the API's `revisionId`).
    pub revision: i64,
}

const COLUMNS: &str =
    "arn, name, type, definition, role_arn, created_at_ms, updated_at_ms, revision";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StateMachineRow> {
    Ok(StateMachineRow {
        arn: r.get(0)?,
        name: r.get(1)?,
        machine_type: r.get(2)?,
        definition: r.get(3)?,
        role_arn: r.get(4)?,
        created_at_ms: r.get(5)?,
        updated_at_ms: r.get(6)?,
        revision: r.get(7)?,
    })
}

impl SqliteStore {
    /// Insert a state machine unless one with its ARN or name exists; `true`
    /// when inserted.
    pub async fn insert_state_machine(&self, m: StateMachineRow) -> Result<bool, StoreError> {
        const OP: &str = "state_machines.insert";
        self.write(OP, move |c| {
            let n = execute(
                c,
                OP,
                "INSERT OR IGNORE INTO sfn_state_machines (arn, name, type, definition, role_arn, created_at_ms, updated_at_ms, revision) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![m.arn, m.name, m.machine_type, m.definition, m.role_arn, m.created_at_ms, m.updated_at_ms, m.revision],
            )?;
            Ok((n == 1, true))
        })
        .await
    }

    /// Replace the definition and role of a state machine; `false` when
    /// there is none with this ARN.
    pub async fn update_state_machine(
        &self,
        arn: &str,
        definition: &str,
        role_arn: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        const OP: &str = "state_machines.update";
        let (arn, definition, role_arn) =
            (arn.to_owned(), definition.to_owned(), role_arn.to_owned());
        self.write(OP, move |c| {
            let n = execute(
                c,
                OP,
                "UPDATE sfn_state_machines SET definition = ?2, role_arn = ?3, updated_at_ms = ?4, revision = revision + 1 WHERE arn = ?1",
                params![arn, definition, role_arn, at_ms],
            )?;
            Ok((n == 1, true))
        })
        .await
    }

    /// Delete a state machine; `false` when there was none.
    pub async fn delete_state_machine(&self, arn: &str) -> Result<bool, StoreError> {
        const OP: &str = "state_machines.delete";
        let arn = arn.to_owned();
        self.write(OP, move |c| {
            let n = execute(
                c,
                OP,
                "DELETE FROM sfn_state_machines WHERE arn = ?1",
                params![arn],
            )?;
            Ok((n == 1, true))
        })
        .await
    }

    pub async fn state_machine(&self, arn: &str) -> Result<Option<StateMachineRow>, StoreError> {
        const OP: &str = "state_machines.get";
        let arn = arn.to_owned();
        self.run(OP, move |c| {
            query_opt(
                c,
                OP,
                &format!("SELECT {COLUMNS} FROM sfn_state_machines WHERE arn = ?1"),
                params![arn],
                row,
            )
        })
        .await
    }

    /// Every stored state machine, by name.
    pub async fn state_machines(&self) -> Result<Vec<StateMachineRow>, StoreError> {
        const OP: &str = "state_machines.list";
        self.run(OP, move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM sfn_state_machines ORDER BY name"
                ))
                .map_err(|e| classify(OP, e))?;
            let rows = stmt.query_map([], row).map_err(|e| classify(OP, e))?;
            rows.map(|r| r.map_err(|e| classify(OP, e))).collect()
        })
        .await
    }
}
