//! The order saga's executions as the API shows them: read from the
//! `executions` table that [`DurableWorkflow`] writes (rows named by order
//! id, `machine = ''`; so they survive a restart), started through the same [`Workflow`] port as `POST /orders`
//! starts them, stopped through the saga's engine.

use std::sync::Arc;

use asl::StateMachine;
use saga_core::OrderId;
use saga_core::ports::{Started, Workflow};
use saga_sqlite::SqliteStore;
use serde_json::Value;

use super::executions::{ExecutionView, row_view};
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

impl Saga {
    pub fn name(&self) -> &str {
        self.machine.name()
    }

    /// The execution named `name`, from its head row alone (its history
    /// is paged by GetExecutionHistory).
    pub async fn read(
        &self,
        store: &SqliteStore,
        arns: &super::arn::Arns,
        name: &str,
    ) -> Result<Option<ExecutionView>, ApiError> {
        let Some((row, meta)) = store.execution_with_meta(name).await? else {
            return Ok(None);
        };
        if !meta.machine.is_empty() {
            return Ok(None);
        }
        let arn = arns.execution(self.name(), name);
        let machine = arns.state_machine(self.name());
        Ok(Some(row_view(arn, machine, name.to_owned(), row, &meta)))
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
