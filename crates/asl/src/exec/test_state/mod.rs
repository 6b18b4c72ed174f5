//! TestState: one state run once, outside any execution, reporting the value
//! after each of its processing stages (AWS's `TestState` API).
//!
//! The stages are the engine's own (`InputPath`, `Parameters`/`Arguments`,
//! the Task attempt, `ResultSelector`, `ResultPath`, `OutputPath`/`Output`,
//! `Assign`, `Retry`, `Catch`); this module only runs them in order for one
//! state and keeps what each produced. As in AWS:
//!
//! - one attempt is made: a failure a `Retry` matches (and has attempts
//!   left after `retrier_retry_count`) ends as [`TestStatus::Retriable`]
//!   with the backoff it would wait; else a matching `Catch` gives
//!   [`TestStatus::CaughtError`] with the catcher's output and `Next`;
//! - a mock replaces the Task call (or the whole work of a Map or Parallel
//!   state); Map and Parallel states, activities and `.sync` /
//!   `.waitForTaskToken` tasks can only be tested with one;
//! - a Wait state computes its deadline but does not wait.

mod definition;
mod stages;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::Run;
use crate::clock::{Clock, Sleep};
use crate::engine::{Engine, StopSignal};
use crate::error::{Failure, Problem};
use crate::host::{IntegrationPattern, Resource, TaskFailure, TaskHost, TaskOutput, TaskRequest};
use crate::model::{Kind, State, StateMachine};
use crate::random;
use crate::snapshot::ExecutionInfo;
pub use definition::TestDefinition;
use definition::{find, is_jsonata};

/// The name a single tested state runs under (`$$.State.Name`).
pub const TEST_STATE_NAME: &str = "TestState";

/// What went wrong before the state ran; nothing was run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TestStateError {
    /// The definition is not a valid state (or state machine).
    #[error("Invalid State Machine Definition: {}", join(.0))]
    InvalidDefinition(Vec<Problem>),
    /// `state_name` names no state of the machine.
    #[error("the state machine definition has no state named {0:?}")]
    NoSuchState(String),
    /// A mock was given for a state that calls nothing.
    #[error("a mock can only be given for a Task, Map or Parallel state, not for a {0} state")]
    MockNotAllowed(&'static str),
    /// The state can only be tested with a mock.
    #[error("{0} can only be tested with a mock")]
    NeedsMock(String),
    /// A given variable has a name a state could not assign.
    #[error("variables: {1}")]
    InvalidVariable(String, String),
}

fn join(problems: &[Problem]) -> String {
    let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

/// A mocked result or error: what the Task call (or a Map or Parallel
/// state's work) returns instead of running.
#[derive(Debug, Clone, PartialEq)]
pub enum TestMock {
    /// The raw result of the state, used as is.
    Result(Value),
    /// The state's work fails with this error and cause.
    Error {
        /// The error name.
        error: String,
        /// The cause.
        cause: Option<String>,
    },
}

/// What to test the state with.
#[derive(Debug, Clone, Default)]
pub struct TestStateInput {
    /// The state input.
    pub input: Value,
    /// The workflow variables in scope before the state runs.
    pub variables: Map<String, Value>,
    /// A mocked result or error.
    pub mock: Option<TestMock>,
    /// How many times the matching retrier has retried already (also
    /// `$$.State.RetryCount`).
    pub retrier_retry_count: u32,
    /// A context object: its `Execution`, `StateMachine` and
    /// `State.EnteredTime` replace the ones made up for the test.
    pub context: Option<Value>,
    /// `$$.Execution.RoleArn`.
    pub role_arn: Option<String>,
}

/// How the state ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestStatus {
    /// The state succeeded.
    Succeeded,
    /// The state failed, and neither a retrier nor a catcher took it.
    Failed,
    /// The state failed and a retrier would try it again.
    Retriable,
    /// The state failed and a catcher took the error.
    CaughtError,
}

impl TestStatus {
    /// The name AWS gives it: `SUCCEEDED`, `FAILED`, `RETRIABLE`,
    /// `CAUGHT_ERROR`.
    pub fn as_str(self) -> &'static str {
        match self {
            TestStatus::Succeeded => "SUCCEEDED",
            TestStatus::Failed => "FAILED",
            TestStatus::Retriable => "RETRIABLE",
            TestStatus::CaughtError => "CAUGHT_ERROR",
        }
    }
}

/// Which retrier or catcher took a failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestErrorDetails {
    /// The index of the catcher in `Catch`.
    pub catch_index: Option<usize>,
    /// The index of the retrier in `Retry`.
    pub retry_index: Option<usize>,
    /// The wait before the retry, in whole seconds.
    pub retry_backoff_interval_seconds: Option<u64>,
}

/// The value after each stage the state went through (None: the state has
/// no such stage, or did not get there).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inspection {
    /// The raw state input.
    pub input: Option<Value>,
    /// After `InputPath` (JSONPath).
    pub after_input_path: Option<Value>,
    /// After `Parameters` (JSONPath).
    pub after_parameters: Option<Value>,
    /// After `Arguments` (JSONata).
    pub after_arguments: Option<Value>,
    /// The raw result.
    pub result: Option<Value>,
    /// After `ResultSelector` (JSONPath).
    pub after_result_selector: Option<Value>,
    /// After `ResultPath` (JSONPath).
    pub after_result_path: Option<Value>,
    /// A Map state's items after `ItemsPath`/`Items` and `ItemSelector`.
    pub after_item_selector: Option<Value>,
    /// A Map state's `MaxConcurrency` (0: no limit).
    pub max_concurrency: Option<u64>,
    /// The variables after the state (the given ones and what it assigned).
    pub variables: Option<Map<String, Value>>,
    /// Which retrier or catcher took the failure.
    pub error_details: Option<TestErrorDetails>,
}

/// The outcome of a test.
#[derive(Debug, Clone, PartialEq)]
pub struct TestStateOutcome {
    /// How the state ended.
    pub status: TestStatus,
    /// The state output (also a caught error's output).
    pub output: Option<Value>,
    /// The error, unless the state succeeded.
    pub error: Option<String>,
    /// The cause.
    pub cause: Option<String>,
    /// The state to go to next (None at the end, on failure or retry).
    pub next_state: Option<String>,
    /// The stages.
    pub inspection: Inspection,
}

impl TestStateOutcome {
    fn new(status: TestStatus, inspection: Inspection) -> Self {
        TestStateOutcome {
            status,
            output: None,
            error: None,
            cause: None,
            next_state: None,
            inspection,
        }
    }

    fn failed(mut self, f: &Failure) -> Self {
        self.error = Some(f.error.as_str().to_owned());
        self.cause.clone_from(&f.cause);
        self
    }
}

/// Answers every Task call with the mock.
#[derive(Debug)]
struct MockHost(TestMock);

#[async_trait::async_trait]
impl TaskHost for MockHost {
    async fn invoke(&self, _: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        match &self.0 {
            TestMock::Result(v) => Ok(TaskOutput::Final(v.clone())),
            TestMock::Error { error, cause } => Err(TaskFailure {
                error: error.clone(),
                cause: cause.clone(),
            }),
        }
    }
}

/// Real time that never sleeps: a tested Wait state does not wait.
#[derive(Debug)]
struct NoWait(Arc<dyn Clock>);

impl Clock for NoWait {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }

    fn sleep_until(&self, _: DateTime<Utc>) -> Sleep {
        Box::pin(std::future::ready(()))
    }
}

/// Whether the state may, or must, be tested with a mock.
fn check_mock(state: &State, mocked: bool) -> Result<(), TestStateError> {
    let needs = match &state.kind {
        Kind::Task(t) => match &t.resource {
            Resource::Activity { .. } => Some("an Activity task"),
            Resource::Service {
                pattern: IntegrationPattern::Sync,
                ..
            } => Some("a .sync task"),
            r if r.waits_for_task_token() => Some("a .waitForTaskToken task"),
            _ => None,
        },
        Kind::Map(_) => Some("a Map state"),
        Kind::Parallel(_) => Some("a Parallel state"),
        k if mocked => return Err(TestStateError::MockNotAllowed(k.type_name())),
        _ => None,
    };
    match needs {
        Some(what) if !mocked => Err(TestStateError::NeedsMock(format!(
            "{what} ('{}')",
            state.name
        ))),
        _ => Ok(()),
    }
}

impl Engine {
    /// Run one state of `def` once with `req` and report every stage. The
    /// engine's task host runs an unmocked Task; the engine's observer is
    /// not told (this is no execution).
    pub async fn test_state(
        &self,
        def: &TestDefinition,
        req: TestStateInput,
    ) -> Result<TestStateOutcome, TestStateError> {
        let root = &def.machine.inner.root;
        let (graph, idx) =
            find(root, &def.state).ok_or_else(|| TestStateError::NoSuchState(def.state.clone()))?;
        let state = graph
            .state(idx)
            .ok_or_else(|| TestStateError::NoSuchState(def.state.clone()))?;
        check_mock(state, req.mock.is_some())?;
        for name in req.variables.keys() {
            crate::vars::check_name(name)
                .map_err(|why| TestStateError::InvalidVariable(name.clone(), why))?;
        }
        let shared = self.shared();
        let host: Arc<dyn TaskHost> = match &req.mock {
            Some(m) => Arc::new(MockHost(m.clone())),
            None => shared.host.clone(),
        };
        let clock: Arc<dyn Clock> = match state.kind {
            Kind::Wait { .. } => Arc::new(NoWait(shared.clock.clone())),
            _ => shared.clock.clone(),
        };
        // A fresh engine: no observer, no running executions to collide with.
        let engine = Engine::builder(host, clock)
            .config(shared.config.clone())
            .build();
        let info = self.test_info(&def.machine, &req);
        let run = Run::new(
            engine.shared().clone(),
            def.machine.clone(),
            info,
            None,
            None,
            Arc::new(StopSignal::default()),
        );
        let jsonata = is_jsonata(&def.machine, &def.state);
        Ok(run.test(graph, state, req, jsonata).await)
    }

    /// The made-up execution the state runs in, or the given context's.
    fn test_info(&self, machine: &StateMachine, req: &TestStateInput) -> ExecutionInfo {
        let cfg = self.config();
        let sm = machine.name();
        let ctx = |a: &str, b: &str| {
            let v = req.context.as_ref().and_then(|c| c.get(a)?.get(b));
            v.and_then(Value::as_str).map(str::to_owned)
        };
        // A name no execution has, so no host mistakes the test for one.
        let name = ctx("Execution", "Name")
            .unwrap_or_else(|| format!("test-state-{}", random::uuid_v4().unwrap_or_default()));
        let start_time = ctx("Execution", "StartTime")
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map_or_else(|| self.clock().now(), |t| t.with_timezone(&Utc));
        let input = req
            .context
            .as_ref()
            .and_then(|c| c.get("Execution")?.get("Input"));
        ExecutionInfo {
            id: ctx("Execution", "Id").unwrap_or_else(|| {
                format!(
                    "arn:aws:states:{}:{}:execution:{sm}:{name}",
                    cfg.region, cfg.account_id
                )
            }),
            name,
            input: input.cloned().unwrap_or_else(|| req.input.clone()),
            start_time,
            state_machine_name: ctx("StateMachine", "Name").unwrap_or_else(|| sm.to_owned()),
            state_machine_id: ctx("StateMachine", "Id").unwrap_or_else(|| {
                format!(
                    "arn:aws:states:{}:{}:stateMachine:{sm}",
                    cfg.region, cfg.account_id
                )
            }),
            role_arn: req.role_arn.clone().unwrap_or_else(|| cfg.role_arn.clone()),
        }
    }
}

#[cfg(test)]
mod tests;
