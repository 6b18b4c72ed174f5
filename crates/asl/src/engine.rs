//! The engine: starts, resumes and stops executions; routes task-token
//! callbacks.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::exec::Run;
use crate::host::TaskHost;
use crate::model::StateMachine;
use crate::random;
use crate::snapshot::{
    ExecutionInfo, ExecutionOutcome, ExecutionSnapshot, ExecutionStatus, Observer, Persistence,
};
use crate::tokens::{Callback, CallbackError, Tokens};

/// Region, account and role used in ARNs and the context object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Region in ARNs (default `us-east-1`).
    pub region: String,
    /// Account id in ARNs (default `000000000000`).
    pub account_id: String,
    /// Role ARN reported in `$$.Execution.RoleArn`.
    pub role_arn: String,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            role_arn: "arn:aws:iam::000000000000:role/saga-local".into(),
        }
    }
}

/// Errors when starting an execution.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// Names are 1–80 characters without whitespace, brackets, wildcards or
    /// special characters.
    #[error("InvalidName: {0}")]
    InvalidName(String),
    /// An execution with this name is already running on this engine.
    #[error("ExecutionAlreadyExists: an execution named {0:?} is running")]
    ExecutionAlreadyExists(String),
    /// The snapshot cannot be resumed with this state machine.
    #[error("cannot resume: {0}")]
    InvalidSnapshot(String),
    /// The system random source failed.
    #[error("{0}")]
    Random(String),
}

/// Options for a new execution.
#[derive(Debug, Clone, Default)]
pub struct StartExecution {
    /// Execution name (a UUID when absent).
    pub name: Option<String>,
    /// Execution input.
    pub input: Value,
    /// Where to save snapshots.
    pub persistence: Option<Arc<dyn Persistence>>,
}

impl StartExecution {
    /// An execution with this name and input.
    pub fn new(name: impl Into<String>, input: Value) -> Self {
        StartExecution {
            name: Some(name.into()),
            input,
            persistence: None,
        }
    }

    /// Save snapshots through `p`.
    #[must_use]
    pub fn with_persistence(mut self, p: Arc<dyn Persistence>) -> Self {
        self.persistence = Some(p);
        self
    }
}

pub(crate) struct Shared {
    pub(crate) host: Arc<dyn TaskHost>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: EngineConfig,
    pub(crate) observer: Option<Arc<dyn Observer>>,
    pub(crate) tokens: Arc<Tokens>,
    running: Mutex<HashMap<String, Arc<StopSignal>>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("host", &self.host)
            .field("clock", &self.clock)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Set by `stop_execution`.
#[derive(Debug, Default)]
pub(crate) struct StopSignal {
    pub(crate) notify: Notify,
    pub(crate) reason: Mutex<Option<(Option<String>, Option<String>)>>,
}

impl StopSignal {
    pub(crate) fn reason(&self) -> (Option<String>, Option<String>) {
        lock(&self.reason).clone().unwrap_or((None, None))
    }

    /// Whether a stop was asked for (the execution may not have seen it yet).
    pub(crate) fn is_stopped(&self) -> bool {
        lock(&self.reason).is_some()
    }
}

/// Removes an execution from the running set when dropped.
pub(crate) struct RunningGuard {
    shared: Arc<Shared>,
    id: String,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        lock(&self.shared.running).remove(&self.id);
    }
}

/// Runs executions of validated state machines.
///
/// Cheap to clone; clones share executions and tokens. `start` / `resume`
/// spawn onto the current tokio runtime; `run` / `run_resumed` return the
/// execution as a future instead.
#[derive(Debug, Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

/// Builds an [`Engine`] with options.
#[derive(Debug)]
pub struct EngineBuilder {
    host: Arc<dyn TaskHost>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    observer: Option<Arc<dyn Observer>>,
}

impl EngineBuilder {
    /// ARN pieces.
    #[must_use]
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Watch every execution of this engine.
    #[must_use]
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The engine.
    pub fn build(self) -> Engine {
        Engine {
            shared: Arc::new(Shared {
                host: self.host,
                clock: self.clock,
                config: self.config,
                observer: self.observer,
                tokens: Arc::default(),
                running: Mutex::new(HashMap::new()),
            }),
        }
    }
}

/// Characters AWS does not allow in execution names.
const FORBIDDEN_NAME_CHARS: &str = "<>{}[]?*\"#%\\^|~`$&,;:/";

fn check_name(name: &str) -> Result<(), StartError> {
    let n = name.chars().count();
    if n == 0 || n > 80 {
        return Err(StartError::InvalidName(format!(
            "{name:?} must be 1 to 80 characters long"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || FORBIDDEN_NAME_CHARS.contains(*c))
    {
        return Err(StartError::InvalidName(format!(
            "{name:?} contains the character {c:?}"
        )));
    }
    Ok(())
}

/// A running execution.
#[derive(Debug)]
pub struct ExecutionHandle {
    execution_id: String,
    name: String,
    join: tokio::task::JoinHandle<ExecutionOutcome>,
    stop: Arc<StopSignal>,
    info: ExecutionInfo,
}

impl ExecutionHandle {
    /// Execution ARN.
    pub fn execution_id(&self) -> &str {
        &self.execution_id
    }

    /// Execution name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Ask the execution to stop (status `ABORTED`).
    pub fn stop(&self, error: Option<String>, cause: Option<String>) {
        *lock(&self.stop.reason) = Some((error, cause));
        self.stop.notify.notify_one();
    }

    /// Wait for the end.
    pub async fn outcome(self) -> ExecutionOutcome {
        match self.join.await {
            Ok(o) => o,
            Err(e) => ExecutionOutcome {
                execution: self.info,
                status: ExecutionStatus::Aborted,
                output: None,
                error: Some("States.Runtime".into()),
                cause: Some(format!("the execution task ended abnormally: {e}")),
                stop_time: chrono::Utc::now(),
                history: Vec::new(),
            },
        }
    }
}

impl Engine {
    /// An engine with default configuration and no observer.
    pub fn new(host: Arc<dyn TaskHost>, clock: Arc<dyn Clock>) -> Engine {
        Engine::builder(host, clock).build()
    }

    /// An engine with options.
    pub fn builder(host: Arc<dyn TaskHost>, clock: Arc<dyn Clock>) -> EngineBuilder {
        EngineBuilder {
            host,
            clock,
            config: EngineConfig::default(),
            observer: None,
        }
    }

    /// The engine's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.config
    }

    /// Host, clock and configuration, for a TestState run (`exec::test_state`).
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn prepare(
        &self,
        machine: &StateMachine,
        start: StartExecution,
    ) -> Result<(Arc<Run>, RunningGuard), StartError> {
        let name = match start.name {
            Some(n) => n,
            None => random::uuid_v4().map_err(|e| StartError::Random(e.to_string()))?,
        };
        check_name(&name)?;
        let cfg = &self.shared.config;
        let sm_name = machine.name();
        let info = ExecutionInfo {
            id: format!(
                "arn:aws:states:{}:{}:execution:{sm_name}:{name}",
                cfg.region, cfg.account_id
            ),
            name,
            input: start.input,
            start_time: self.shared.clock.now(),
            state_machine_name: sm_name.to_owned(),
            state_machine_id: format!(
                "arn:aws:states:{}:{}:stateMachine:{sm_name}",
                cfg.region, cfg.account_id
            ),
            role_arn: cfg.role_arn.clone(),
        };
        let guard = self.register(&info.id, &info.name)?;
        let stop = self.stop_signal(&info.id);
        let run = Run::new(
            self.shared.clone(),
            machine.clone(),
            info,
            start.persistence,
            None,
            stop,
        );
        Ok((Arc::new(run), guard))
    }

    fn register(&self, id: &str, name: &str) -> Result<RunningGuard, StartError> {
        let mut running = lock(&self.shared.running);
        if running.contains_key(id) {
            return Err(StartError::ExecutionAlreadyExists(name.to_owned()));
        }
        running.insert(id.to_owned(), Arc::new(StopSignal::default()));
        Ok(RunningGuard {
            shared: self.shared.clone(),
            id: id.to_owned(),
        })
    }

    fn stop_signal(&self, id: &str) -> Arc<StopSignal> {
        lock(&self.shared.running)
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    /// Start an execution on the current tokio runtime.
    pub fn start(
        &self,
        machine: &StateMachine,
        start: StartExecution,
    ) -> Result<ExecutionHandle, StartError> {
        let (run, guard) = self.prepare(machine, start)?;
        Ok(self.spawn(run, guard))
    }

    fn spawn(&self, run: Arc<Run>, guard: RunningGuard) -> ExecutionHandle {
        let info = run.info().clone();
        let stop = self.stop_signal(&info.id);
        let join = tokio::spawn(async move {
            let _guard = guard;
            run.execute().await
        });
        ExecutionHandle {
            execution_id: info.id.clone(),
            name: info.name.clone(),
            join,
            stop,
            info,
        }
    }

    /// The execution as a future (nothing is spawned; poll it to run it).
    pub fn run(
        &self,
        machine: &StateMachine,
        start: StartExecution,
    ) -> Result<impl Future<Output = ExecutionOutcome> + Send + 'static, StartError> {
        let (run, guard) = self.prepare(machine, start)?;
        Ok(async move {
            let _guard = guard;
            run.execute().await
        })
    }

    fn prepare_resume(
        &self,
        machine: &StateMachine,
        snapshot: ExecutionSnapshot,
        persistence: Option<Arc<dyn Persistence>>,
    ) -> Result<(Arc<Run>, RunningGuard), StartError> {
        if snapshot.status != ExecutionStatus::Running {
            return Err(StartError::InvalidSnapshot(format!(
                "the execution already ended ({})",
                snapshot.status
            )));
        }
        if let Some(p) = &snapshot.position
            && !machine.inner.root.by_name.contains_key(&p.state_name)
        {
            return Err(StartError::InvalidSnapshot(format!(
                "the state machine has no top-level state named {:?}",
                p.state_name
            )));
        }
        let guard = self.register(&snapshot.execution.id, &snapshot.execution.name)?;
        let info = snapshot.execution.clone();
        let stop = self.stop_signal(&info.id);
        let run = Run::new(
            self.shared.clone(),
            machine.clone(),
            info,
            persistence,
            Some(snapshot),
            stop,
        );
        Ok((Arc::new(run), guard))
    }

    /// Resume a snapshot on the current tokio runtime. A parked task parks
    /// again with the same token and deadlines; a state that was cut off
    /// runs again; Parallel and Map states run again from their input.
    pub fn resume(
        &self,
        machine: &StateMachine,
        snapshot: ExecutionSnapshot,
        persistence: Option<Arc<dyn Persistence>>,
    ) -> Result<ExecutionHandle, StartError> {
        let (run, guard) = self.prepare_resume(machine, snapshot, persistence)?;
        Ok(self.spawn(run, guard))
    }

    /// [`Engine::resume`] as a future (nothing is spawned).
    pub fn run_resumed(
        &self,
        machine: &StateMachine,
        snapshot: ExecutionSnapshot,
        persistence: Option<Arc<dyn Persistence>>,
    ) -> Result<impl Future<Output = ExecutionOutcome> + Send + 'static, StartError> {
        let (run, guard) = self.prepare_resume(machine, snapshot, persistence)?;
        Ok(async move {
            let _guard = guard;
            run.execute().await
        })
    }

    /// Stop a running execution (status `ABORTED`); false if not running.
    pub fn stop_execution(
        &self,
        execution_id: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> bool {
        let signal = lock(&self.shared.running).get(execution_id).cloned();
        match signal {
            Some(s) => {
                *lock(&s.reason) = Some((error, cause));
                s.notify.notify_one();
                true
            }
            None => false,
        }
    }

    /// Ids of the executions running on this engine.
    pub fn running_executions(&self) -> Vec<String> {
        lock(&self.shared.running).keys().cloned().collect()
    }

    /// Complete the parked task holding `token` with `output`.
    pub fn send_task_success(&self, token: &str, output: Value) -> Result<(), CallbackError> {
        self.shared
            .tokens
            .callback(token, Callback::Success(output))
    }

    /// Fail the parked task holding `token`.
    pub fn send_task_failure(
        &self,
        token: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<(), CallbackError> {
        self.shared
            .tokens
            .callback(token, Callback::Failure { error, cause })
    }

    /// Reset the heartbeat timer of the parked task holding `token`.
    pub fn send_task_heartbeat(&self, token: &str) -> Result<(), CallbackError> {
        self.shared.tokens.callback(token, Callback::Heartbeat)
    }
}
