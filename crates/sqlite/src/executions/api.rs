//! What the Step Functions API adds to an execution's row (layout 2): the
//! state machine of an API-created execution, its MockConfigFile test case,
//! its redrives; `ListExecutions` pages; a redrive as one transaction.

use rusqlite::params;
use saga_core::ports::StoreError;

use super::{EventRow, ExecutionRow, execution_row, save_head, to_sql_id};
use crate::{SqliteStore, classify, execute, query_opt};

/// The API's columns of an execution row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecutionMeta {
    /// The state machine ARN of an API-created execution; `""` for the
    /// order saga's.
    pub machine: String,
    /// The MockConfigFile test case it runs (`arn#TestCase`).
    pub test_case: Option<String>,
    /// Its redrives (a JSON document of saga-local's; absent: never).
    pub redrive: Option<String>,
}

/// A row of `ListExecutions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionSummary {
    pub name: String,
    pub status: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub redrive: Option<String>,
}

fn meta_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<ExecutionMeta> {
    Ok(ExecutionMeta {
        machine: r.get(at)?,
        test_case: r.get(at + 1)?,
        redrive: r.get(at + 2)?,
    })
}

impl SqliteStore {
    /// Insert an execution of the state machine `meta.machine` (`""`: the
    /// order saga) unless one with this name exists; `true` when inserted.
    pub async fn insert_machine_execution(
        &self,
        row: ExecutionRow,
        meta: ExecutionMeta,
    ) -> Result<bool, StoreError> {
        const OP: &str = "executions.insert_machine";
        self.write(OP, move |c| {
            let n = execute(
                c,
                OP,
                "INSERT OR IGNORE INTO executions (name, status, state, created_at_ms, updated_at_ms, machine, test_case, redrive) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![row.name, row.status, row.state, row.created_at_ms, row.updated_at_ms, meta.machine, meta.test_case, meta.redrive],
            )?;
            Ok((n == 1, true))
        })
        .await
    }

    /// The execution's row with the API's columns.
    pub async fn execution_with_meta(
        &self,
        name: &str,
    ) -> Result<Option<(ExecutionRow, ExecutionMeta)>, StoreError> {
        self.read(|c| {
            query_opt(
                c,
                "executions.get_meta",
                "SELECT name, status, state, created_at_ms, updated_at_ms, machine, test_case, redrive FROM executions WHERE name = ?1",
                params![name],
                |r| Ok((execution_row(r)?, meta_row(r, 5)?)),
            )
        })
    }

    /// The executions of API-created state machines with this status,
    /// oldest first (`RUNNING` ones to resume at start-up).
    pub async fn machine_executions_with_status(
        &self,
        status: &str,
    ) -> Result<Vec<(ExecutionRow, ExecutionMeta)>, StoreError> {
        const OP: &str = "executions.machine_by_status";
        let status = status.to_owned();
        self.run(OP, move |c| {
            let mut stmt = c
                .prepare(
                    "SELECT name, status, state, created_at_ms, updated_at_ms, machine, test_case, redrive FROM executions WHERE status = ?1 AND machine <> '' ORDER BY created_at_ms, name",
                )
                .map_err(|e| classify(OP, e))?;
            let rows = stmt
                .query_map(params![status], |r| Ok((execution_row(r)?, meta_row(r, 5)?)))
                .map_err(|e| classify(OP, e))?;
            rows.map(|r| r.map_err(|e| classify(OP, e))).collect()
        })
        .await
    }

    /// The executions of one state machine (`""`: the order saga) by start
    /// time, newest first, as `ListExecutions` pages them: at most `limit`
    /// rows after the row `(created_at_ms, name)` of the previous page,
    /// optionally of one status, optionally only the redriven ones (`true`)
    /// or the others (`false`).
    pub async fn execution_page(
        &self,
        machine: &str,
        (status, redriven): (Option<&str>, Option<bool>),
        after: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<ExecutionSummary>, StoreError> {
        const OP: &str = "executions.page";
        let (machine, status) = (machine.to_owned(), status.map(str::to_owned));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(OP, move |c| {
            let (after_ms, after_name) = after.unwrap_or((i64::MAX, String::new()));
            let mut stmt = c
                .prepare_cached(
                    "SELECT name, status, created_at_ms, updated_at_ms, redrive FROM executions
                     WHERE machine = ?5 AND (?1 IS NULL OR status = ?1)
                       AND (?6 IS NULL OR (redrive IS NOT NULL) = ?6)
                       AND (created_at_ms < ?2 OR (created_at_ms = ?2 AND name < ?3))
                     ORDER BY created_at_ms DESC, name DESC LIMIT ?4",
                )
                .map_err(|e| classify(OP, e))?;
            let rows = stmt
                .query_map(
                    params![status, after_ms, after_name, limit, machine, redriven],
                    |r| {
                        Ok(ExecutionSummary {
                            name: r.get(0)?,
                            status: r.get(1)?,
                            created_at_ms: r.get(2)?,
                            updated_at_ms: r.get(3)?,
                            redrive: r.get(4)?,
                        })
                    },
                )
                .map_err(|e| classify(OP, e))?;
            rows.map(|r| r.map_err(|e| classify(OP, e))).collect()
        })
        .await
    }

    /// In one transaction, if the execution's status is still `from_status`:
    /// append `events`, store the head (`RUNNING` again, `state`) and the
    /// `redrive` document. `false` (nothing changed) when the status moved
    /// on meanwhile (a concurrent redrive won).
    pub async fn redrive_execution(
        &self,
        name: &str,
        from_status: &str,
        state: String,
        events: Vec<EventRow>,
        redrive: String,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        const OP: &str = "executions.redrive";
        let (name, from_status) = (name.to_owned(), from_status.to_owned());
        self.write(OP, move |c| {
            let n = execute(
                c,
                OP,
                "UPDATE executions SET redrive = ?3 WHERE name = ?1 AND status = ?2",
                params![name, from_status, redrive],
            )?;
            if n == 0 {
                return Ok((false, false));
            }
            for e in &events {
                execute(
                    c,
                    OP,
                    "INSERT INTO execution_events (execution, event_id, doc) VALUES (?1, ?2, ?3)",
                    params![name, to_sql_id(e.id), e.doc],
                )?;
            }
            save_head(c, OP, &name, "RUNNING", &state, at_ms)?;
            Ok((true, true))
        })
        .await
    }

    /// Store the `redrive` document alone (a `clientToken` remembered).
    pub async fn save_redrive(&self, name: &str, redrive: String) -> Result<(), StoreError> {
        const OP: &str = "executions.save_redrive";
        let name = name.to_owned();
        self.write(OP, move |c| {
            execute(
                c,
                OP,
                "UPDATE executions SET redrive = ?2 WHERE name = ?1",
                params![name, redrive],
            )?;
            Ok(((), true))
        })
        .await
    }
}
