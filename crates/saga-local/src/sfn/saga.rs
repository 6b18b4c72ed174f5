//! The order saga's executions as the API shows them: read from the
//! `executions` table that [`DurableWorkflow`] writes (so they survive a
//! restart), started through the same [`Workflow`] port as `POST /orders`
//! starts them, stopped through the saga's engine.

use std::sync::Arc;

use asl::{ExecutionSnapshot, ExecutionStatus, HistoryEvent, StateMachine};
use saga_core::OrderId;
use saga_core::ports::{Started, Workflow};
use saga_sqlite::{ExecutionRow, SqliteStore};
use serde_json::Value;

use super::executions::ExecutionView;
use super::protocol::ApiError;
use crate::serve::workflow::DurableWorkflow;

/// The saga as the API serves it.
#[derive(Clone)]
pub struct Saga {
    pub workflow: Arc<DurableWorkflow>,
    pub machine: StateMachine,
    /// When this server started (the saga's `creationDate`).
    pub started_ms: i64,
}

debug_naming!(Saga);

/// What the `state` column holds, read for the API.
struct Parsed {
    input: Value,
    snapshot: Option<ExecutionSnapshot>,
    error: Option<String>,
    cause: Option<String>,
}

fn parse_state(state: &str) -> Parsed {
    let value: Value = serde_json::from_str(state).unwrap_or(Value::Null);
    let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
    if value.get("notStarted").and_then(Value::as_bool) == Some(true) {
        return Parsed {
            input: value.get("input").cloned().unwrap_or(Value::Null),
            snapshot: None,
            error: None,
            cause: None,
        };
    }
    let (error, cause) = (text("error"), text("cause"));
    match serde_json::from_value::<ExecutionSnapshot>(value) {
        Ok(s) => Parsed {
            input: s.execution.input.clone(),
            error: s.error.clone(),
            cause: s.cause.clone(),
            snapshot: Some(s),
        },
        // A start the engine refused, or a panic recorded without a snapshot.
        Err(_) => Parsed {
            input: Value::Null,
            snapshot: None,
            error,
            cause,
        },
    }
}

fn status_of(s: &str) -> ExecutionStatus {
    match s {
        "SUCCEEDED" => ExecutionStatus::Succeeded,
        "FAILED" => ExecutionStatus::Failed,
        "TIMED_OUT" => ExecutionStatus::TimedOut,
        "ABORTED" => ExecutionStatus::Aborted,
        _ => ExecutionStatus::Running,
    }
}

impl Saga {
    pub fn name(&self) -> &str {
        self.machine.name()
    }

    /// A row of the list, without reading its state.
    pub fn list_view(
        &self,
        arns: &super::arn::Arns,
        (name, status, created, updated): (String, String, i64, i64),
    ) -> ExecutionView {
        let status = status_of(&status);
        ExecutionView {
            arn: arns.execution(self.name(), &name),
            machine_arn: arns.state_machine(self.name()),
            name,
            stop_ms: (status != ExecutionStatus::Running).then_some(updated),
            status,
            start_ms: created,
            input: Value::Null,
            output: None,
            error: None,
            cause: None,
        }
    }

    /// The execution named `name`, from its head row alone (its history
    /// is read only by [`Saga::history`]).
    pub async fn read(
        &self,
        store: &SqliteStore,
        arns: &super::arn::Arns,
        name: &str,
    ) -> Result<Option<ExecutionView>, ApiError> {
        let Some(row) = store.execution(name).await? else {
            return Ok(None);
        };
        let ExecutionRow {
            name,
            status,
            state,
            created_at_ms,
            updated_at_ms,
        } = row;
        let parsed = parse_state(&state);
        let mut view = self.list_view(arns, (name, status, created_at_ms, updated_at_ms));
        view.input = parsed.input;
        view.error = parsed.error;
        view.cause = parsed.cause;
        if let Some(s) = parsed.snapshot {
            view.start_ms = s.execution.start_time.timestamp_millis();
            if let Some(stop) = s.stop_time {
                view.stop_ms = Some(stop.timestamp_millis());
            }
            view.output = s.output;
        }
        Ok(Some(view))
    }

    /// The history of the execution named `name`: its append-only events,
    /// oldest first (none for an execution the engine never started).
    pub async fn history(
        &self,
        store: &SqliteStore,
        name: &str,
    ) -> Result<Vec<HistoryEvent>, ApiError> {
        let rows = store.all_events(name).await?;
        Ok(crate::serve::persistence::parse_events(&rows)?)
    }

    /// StartExecution of the saga: the name must be an order id (the
    /// execution name `POST /orders` gives it).
    pub async fn start(&self, name: &str, input: &Value) -> Result<Started, ApiError> {
        let order_id = OrderId::parse(name).map_err(|e| {
            ApiError::new(
                "InvalidName",
                format!("Invalid Name: '{name}': the order saga's executions are named by their order id ({e})"),
            )
        })?;
        self.workflow
            .start_execution(&order_id, input)
            .await
            .map_err(|e| {
                ApiError::internal(format!(
                    "the saga could not start: {}",
                    saga_core::ports::error_chain(&e)
                ))
            })
    }
}
