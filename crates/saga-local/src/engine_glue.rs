//! The embedded engine behind the domain's ports: the [`Workflow`] port
//! (StartExecution, SendTaskSuccess) over an [`asl::Engine`], and the domain
//! clock over the engine's clock, so handlers and the state machine share one
//! (possibly virtual) time.

use std::sync::Arc;

use asl::{CallbackError, Engine, StartError, StartExecution, StateMachine};
use async_trait::async_trait;
use saga_core::approval::TaskToken;
use saga_core::ports::{Started, StoreError, TaskGone, Workflow, WorkflowError};
use saga_core::{OrderId, Timestamp};
use serde_json::Value;

/// The domain's [`saga_core::Clock`] reading the engine's [`asl::Clock`].
#[derive(Debug, Clone)]
pub struct DomainClock(pub Arc<dyn asl::Clock>);

impl saga_core::Clock for DomainClock {
    fn now(&self) -> Timestamp {
        Timestamp::from(self.0.now())
    }
}

/// The domain's "the waiting task is gone" for an engine callback error.
pub fn task_gone(e: CallbackError) -> WorkflowError {
    WorkflowError::TaskGone(match e {
        CallbackError::InvalidToken => TaskGone::InvalidToken,
        CallbackError::TaskDoesNotExist => TaskGone::DoesNotExist,
        CallbackError::TaskTimedOut => TaskGone::TimedOut,
    })
}

/// The order saga on the embedded engine, without persistence (tests and
/// virtual runs; `serve` uses [`crate::serve::workflow::DurableWorkflow`]).
/// The engine refuses a name only while an execution of that name is
/// running; unlike Step Functions it forgets names once they end, so a host
/// that needs "one execution per name, ever" checks its own store first.
#[derive(Clone)]
pub struct EngineWorkflow {
    engine: Engine,
    machine: StateMachine,
}

debug_naming!(EngineWorkflow);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct EngineError(String);

impl EngineWorkflow {
    pub fn new(engine: Engine, machine: StateMachine) -> Self {
        Self { engine, machine }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn machine(&self) -> &StateMachine {
        &self.machine
    }
}

#[async_trait]
impl Workflow for EngineWorkflow {
    async fn start_execution(
        &self,
        name: &OrderId,
        input: &Value,
    ) -> Result<Started, WorkflowError> {
        let start = StartExecution::new(name.as_str(), input.clone());
        match self.engine.start(&self.machine, start) {
            Ok(_handle) => Ok(Started::New),
            Err(StartError::ExecutionAlreadyExists(_)) => Ok(Started::AlreadyExists),
            Err(e) => Err(WorkflowError::Store(StoreError::permanent(
                "workflow.start_execution",
                EngineError(e.to_string()),
            ))),
        }
    }

    async fn send_task_success(
        &self,
        token: &TaskToken,
        output: &Value,
    ) -> Result<(), WorkflowError> {
        self.engine
            .send_task_success(token.expose_secret(), output.clone())
            .map_err(task_gone)
    }

    /// This engine keeps no history: only running executions are known.
    async fn execution_exists(&self, name: &OrderId) -> Result<bool, WorkflowError> {
        Ok(self
            .engine
            .running_executions()
            .iter()
            .any(|n| n == name.as_str()))
    }
}
