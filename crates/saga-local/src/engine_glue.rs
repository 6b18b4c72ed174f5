//! The embedded engine behind the domain's ports: the [`Workflow`] port
//! (StartExecution, SendTaskSuccess) over an [`asl::Engine`], and the domain
//! clock over the engine's clock, so handlers and the state machine share one
//! (possibly virtual) time.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use asl::{CallbackError, Engine, Persistence, StartError, StartExecution, StateMachine};
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

/// Gives each new execution its persistence (e.g. a SQLite row).
pub type PersistenceFactory = Arc<dyn Fn(&str) -> Arc<dyn Persistence> + Send + Sync>;

/// The order saga on the embedded engine. Like Step Functions, a name starts
/// at most one execution, also after that execution ended (the engine alone
/// only refuses names that are running); a durable host checks its own store
/// before calling [`Workflow::start_execution`].
#[derive(Clone)]
pub struct EngineWorkflow {
    engine: Engine,
    machine: StateMachine,
    persistence: Option<PersistenceFactory>,
    started: Arc<Mutex<HashSet<String>>>,
}

impl std::fmt::Debug for EngineWorkflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineWorkflow").finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct EngineError(String);

impl EngineWorkflow {
    pub fn new(engine: Engine, machine: StateMachine) -> Self {
        Self {
            engine,
            machine,
            persistence: None,
            started: Arc::default(),
        }
    }

    /// Persist every execution this workflow starts.
    pub fn with_persistence(mut self, factory: PersistenceFactory) -> Self {
        self.persistence = Some(factory);
        self
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
        let first = self
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string());
        if !first {
            return Ok(Started::AlreadyExists);
        }
        let mut start = StartExecution::new(name.as_str(), input.clone());
        if let Some(factory) = &self.persistence {
            start = start.with_persistence(factory(name.as_str()));
        }
        match self.engine.start(&self.machine, start) {
            Ok(_handle) => Ok(Started::New),
            Err(StartError::ExecutionAlreadyExists(_)) => Ok(Started::AlreadyExists),
            Err(e) => {
                self.started
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(name.as_str());
                Err(WorkflowError::Store(StoreError::permanent(
                    "workflow.start_execution",
                    EngineError(e.to_string()),
                )))
            }
        }
    }

    async fn send_task_success(
        &self,
        token: &TaskToken,
        output: &Value,
    ) -> Result<(), WorkflowError> {
        self.engine
            .send_task_success(token.expose_secret(), output.clone())
            .map_err(|e| {
                WorkflowError::TaskGone(match e {
                    CallbackError::InvalidToken => TaskGone::InvalidToken,
                    CallbackError::TaskDoesNotExist => TaskGone::DoesNotExist,
                    CallbackError::TaskTimedOut => TaskGone::TimedOut,
                })
            })
    }
}
