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

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::flow::{ResumeAt, Work, retry_delay, step};
use super::jsonata::StatesData;
use super::{Extra, Here, Lane, Run, Step, lock, settle_assign};
use crate::clock::{Clock, Sleep};
use crate::engine::{Engine, StopSignal};
use crate::error::{ErrorName, Failure, Problem, pointer_token};
use crate::history::EventDetails;
use crate::host::{IntegrationPattern, Resource, TaskFailure, TaskHost, TaskOutput, TaskRequest};
use crate::model::{Graph, Handling, Kind, State, StateMachine};
use crate::random;
use crate::snapshot::ExecutionInfo;
use crate::vars::Vars;

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

/// The definition TestState runs: one state, or a whole machine and the
/// name of one of its states (at any depth).
#[derive(Debug, Clone)]
pub struct TestDefinition {
    machine: StateMachine,
    state: String,
}

impl TestDefinition {
    /// Parse `definition`: a single state (`{"Type": …}`) when `state_name`
    /// is None, else a whole state machine holding that state. Each
    /// problem's pointer is into `definition` as written.
    pub fn parse(definition: &str, state_name: Option<&str>) -> Result<Self, TestStateError> {
        let invalid = |m: String| TestStateError::InvalidDefinition(vec![Problem::new("", m)]);
        let v: Value = serde_json::from_str(definition)
            .map_err(|e| invalid(format!("the definition is not valid JSON: {e}")))?;
        if let Some(name) = state_name {
            let machine =
                StateMachine::from_value(&v).map_err(TestStateError::InvalidDefinition)?;
            if find(&machine.inner.root, name).is_none() {
                return Err(TestStateError::NoSuchState(name.to_owned()));
            }
            return Ok(TestDefinition {
                machine,
                state: name.to_owned(),
            });
        }
        let Some(obj) = v.as_object().filter(|o| o.contains_key("Type")) else {
            let hint = if v.get("States").is_some() {
                " (a whole state machine needs the name of the state to test)"
            } else {
                ""
            };
            return Err(invalid(format!(
                "the definition must be one state, a JSON object with a \"Type\"{hint}"
            )));
        };
        let machine = StateMachine::from_value(&wrap(obj)).map_err(|problems| {
            let prefix = format!("/States/{}", pointer_token(TEST_STATE_NAME));
            let local = problems.into_iter().map(|p| Problem {
                pointer: p
                    .pointer
                    .strip_prefix(&prefix)
                    .unwrap_or(&p.pointer)
                    .to_owned(),
                message: p.message,
            });
            TestStateError::InvalidDefinition(local.collect())
        })?;
        Ok(TestDefinition {
            machine,
            state: TEST_STATE_NAME.to_owned(),
        })
    }

    /// The name of the state under test.
    pub fn state_name(&self) -> &str {
        &self.state
    }
}

/// A machine around one state: the states it can go to are `Succeed`
/// placeholders, so its `Next`, `Default` and `Catch` targets validate.
fn wrap(state: &Map<String, Value>) -> Value {
    let mut states = Map::new();
    let name = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let in_list = |key: &str| -> Vec<String> {
        let list = state.get(key).and_then(Value::as_array);
        list.into_iter()
            .flatten()
            .filter_map(|r| name(r.get("Next")))
            .collect()
    };
    let targets = [name(state.get("Next")), name(state.get("Default"))]
        .into_iter()
        .flatten()
        .chain(in_list("Choices"))
        .chain(in_list("Catch"));
    for t in targets.filter(|t| t != TEST_STATE_NAME) {
        states.insert(t, serde_json::json!({"Type": "Succeed"}));
    }
    states.insert(TEST_STATE_NAME.to_owned(), Value::Object(state.clone()));
    serde_json::json!({"StartAt": TEST_STATE_NAME, "States": states})
}

/// The graph holding the state `name` and its index there, at any depth.
fn find<'g>(graph: &'g Graph, name: &str) -> Option<(&'g Graph, usize)> {
    if let Some(&i) = graph.by_name.get(name) {
        return Some((graph, i));
    }
    graph.states.iter().find_map(|s| match &s.kind {
        Kind::Parallel(p) => p.branches.iter().find_map(|b| find(b, name)),
        Kind::Map(m) => find(&m.processor, name),
        _ => None,
    })
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

/// Whether the state is written in JSONata: its own `QueryLanguage`, else
/// the machine's.
fn is_jsonata(machine: &StateMachine, name: &str) -> bool {
    fn state_json<'v>(states: &'v Value, name: &str) -> Option<&'v Value> {
        let states = states.as_object()?;
        if let Some(s) = states.get(name) {
            return Some(s);
        }
        states.values().find_map(|s| {
            let nested = s.get("Branches").and_then(Value::as_array);
            let graphs = nested.into_iter().flatten().chain(
                ["ItemProcessor", "Iterator"]
                    .into_iter()
                    .filter_map(|k| s.get(k)),
            );
            graphs
                .filter_map(|g| g.get("States"))
                .find_map(|g| state_json(g, name))
        })
    }
    let def = machine.definition();
    let top = def.get("QueryLanguage").and_then(Value::as_str);
    let own = def
        .get("States")
        .and_then(|s| state_json(s, name))
        .and_then(|s| s.get("QueryLanguage"))
        .and_then(Value::as_str);
    own.or(top) == Some("JSONata")
}

/// How the state's one attempt ended.
enum Attempted {
    Done(Result<Step, Failure>),
    /// A retrier would retry the failure.
    Retriable(Failure, TestErrorDetails),
    /// A catcher took the failure (the step: where it goes, unless the
    /// catcher's own `Assign` or `Output` failed).
    Caught(Result<Step, Failure>, Failure),
}

impl Run {
    /// Run `state` of `graph` once and collect its stages.
    async fn test(
        &self,
        graph: &Graph,
        state: &State,
        mut req: TestStateInput,
        jsonata: bool,
    ) -> TestStateOutcome {
        let mut vars = Vars::from_local(std::mem::take(&mut req.variables));
        let mut lane = Lane {
            prev: 0,
            top: false,
        };
        let mut ins = Inspection {
            input: Some(req.input.clone()),
            ..Inspection::default()
        };
        let mut here = Here::new(state, &req.input, &vars);
        here.entered = self.now();
        here.entered_id = self.state_entered(&mut lane, state, &req.input);
        let entered = req
            .context
            .as_ref()
            .and_then(|c| c.get("State")?.get("EnteredTime"));
        if let Some(t) = entered
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        {
            here.entered = t.with_timezone(&Utc);
        }
        if !jsonata && !matches!(state.kind, Kind::Fail { .. }) {
            ins.after_input_path = self.effective_input(&here).ok().map(|v| v.into_owned());
        }
        let attempted = match &state.kind {
            Kind::Pass { .. } if !jsonata => Attempted::Done(self.test_pass(&here, &mut ins)),
            Kind::Task(t) => {
                let work = Work::Task(t);
                let count = req.retrier_retry_count;
                self.test_work(&here, work, &mut lane, count, &mut ins, jsonata)
                    .await
            }
            Kind::Parallel(p) => {
                let work = Work::Parallel(p);
                self.test_mocked(&here, work, &req, &mut ins, jsonata)
            }
            Kind::Map(m) => {
                let work = Work::Map(m);
                self.test_mocked(&here, work, &req, &mut ins, jsonata)
            }
            _ => Attempted::Done(self.run_state(&here, &mut lane, ResumeAt::fresh()).await),
        };
        let (step, caught) = match attempted {
            Attempted::Retriable(f, details) => {
                ins.error_details = Some(details);
                let out = TestStateOutcome::new(TestStatus::Retriable, ins);
                return out.failed(&f);
            }
            Attempted::Done(step) => (step, None),
            Attempted::Caught(step, f) => (step, Some(f)),
        };
        let (step, assigned) = settle_assign(&here, step);
        drop(here);
        if let Some(a) = assigned {
            vars.apply(a);
        }
        if !vars.all().is_empty() {
            ins.variables = Some(vars.all().clone());
        }
        let mut o = outcome(graph, step, ins);
        if let (TestStatus::CaughtError, Some(f)) = (o.status, caught) {
            o = o.failed(&f);
        }
        o
    }

    /// A JSONPath Pass state, stage by stage (as `Run::pass`).
    fn test_pass(&self, here: &Here<'_>, ins: &mut Inspection) -> Result<Step, Failure> {
        let Kind::Pass {
            parameters,
            result,
            result_path,
            assign,
            transition,
        } = &here.state.kind
        else {
            return Err(Failure::runtime("not a Pass state"));
        };
        let effective = self.effective_input(here)?;
        // As `Run::pass`: a `Result` wins, and `Parameters` is not evaluated.
        let parameters = match (result, parameters) {
            (None, Some(t)) => self.eval_template(t, &effective, here, &Extra::default())?,
            _ => effective.into_owned(),
        };
        ins.after_parameters = Some(parameters.clone());
        let value = result.clone().unwrap_or(parameters);
        ins.result = Some(value.clone());
        ins.after_result_selector = Some(value.clone());
        self.assign(
            here,
            assign.as_ref(),
            &value,
            StatesData::default(),
            &Extra::default(),
        )?;
        let out = self.apply_result_path(result_path, here.input, value, here)?;
        ins.after_result_path = Some(out.clone());
        let out = self.select_owned(&here.state.output_path, out, here)?;
        Ok(step(*transition, out))
    }

    /// One attempt of a Task state, then its result stages or its
    /// `Retry`/`Catch` decision.
    async fn test_work(
        &self,
        here: &Here<'_>,
        work: Work<'_>,
        lane: &mut Lane,
        retry_count: u32,
        ins: &mut Inspection,
        jsonata: bool,
    ) -> Attempted {
        let Work::Task(t) = work else {
            return Attempted::Done(Err(Failure::runtime("not a Task state")));
        };
        let counts = [];
        let attempt = self
            .task_attempt(here, t, lane, retry_count, &counts, None)
            .await;
        let scheduled = self.scheduled_parameters();
        if jsonata {
            ins.after_arguments = scheduled;
        } else {
            ins.after_parameters = scheduled;
        }
        self.settle_attempt(here, &t.handling, attempt, retry_count, ins, jsonata)
    }

    /// A Map or Parallel state with its mock as the result of its work.
    fn test_mocked(
        &self,
        here: &Here<'_>,
        work: Work<'_>,
        req: &TestStateInput,
        ins: &mut Inspection,
        jsonata: bool,
    ) -> Attempted {
        let count = req.retrier_retry_count;
        let (handling, inputs) = match work {
            Work::Parallel(p) => {
                let effective = self.effective_input(here);
                let extra = Extra::retry(count);
                let payload = match (&p.parameters, effective) {
                    (_, Err(f)) => Err(f),
                    (Some(t), Ok(e)) => self.payload(t, &e, here, &extra, "Arguments"),
                    (None, Ok(e)) => Ok(e.into_owned()),
                };
                (&p.handling, payload.map(|v| (v, None)))
            }
            Work::Map(m) => {
                let inputs = self.map_inputs(here, m, count);
                let items = inputs.map(|(items, limit)| (Value::Array(items), Some(limit)));
                (&m.handling, items)
            }
            Work::Task(t) => (
                &t.handling,
                Err(Failure::runtime("not a Map or Parallel state")),
            ),
        };
        let attempt = match (inputs, &req.mock) {
            (Err(f), _) => Err(f),
            (Ok((v, limit)), mock) => {
                match (&work, limit) {
                    (Work::Map(_), Some(limit)) => {
                        ins.after_item_selector = Some(v);
                        ins.max_concurrency = Some(u64::try_from(limit).unwrap_or(0));
                    }
                    _ if jsonata => ins.after_arguments = Some(v),
                    _ => ins.after_parameters = Some(v),
                }
                match mock {
                    Some(TestMock::Result(r)) => Ok(r.clone()),
                    Some(TestMock::Error { error, cause }) => Err(Failure {
                        error: ErrorName::new(error.clone()),
                        cause: cause.clone(),
                    }),
                    None => Err(Failure::runtime("no mock")),
                }
            }
        };
        self.settle_attempt(here, handling, attempt, count, ins, jsonata)
    }

    /// The parameters the Task call was scheduled with, as its history
    /// event recorded them.
    fn scheduled_parameters(&self) -> Option<Value> {
        let log = lock(&self.log);
        log.events.iter().find_map(|e| {
            let text = match &e.details {
                EventDetails::TaskScheduled(d) => &d.parameters,
                EventDetails::LambdaFunctionScheduled(d) => &d.input,
                _ => return None,
            };
            serde_json::from_str(text).ok()
        })
    }

    /// The result stages of a successful attempt; for a failed one, the
    /// retrier that would retry it, else the catcher that takes it.
    fn settle_attempt(
        &self,
        here: &Here<'_>,
        h: &Handling,
        attempt: Result<Value, Failure>,
        retry_count: u32,
        ins: &mut Inspection,
        jsonata: bool,
    ) -> Attempted {
        let failure = match attempt {
            Ok(result) => {
                ins.result = Some(result.clone());
                match self.test_finish(here, h, result, retry_count, ins, jsonata) {
                    // As `with_retries`: a failed JSONata Output or Assign is
                    // caught, not retried.
                    Err(f) if f.error == ErrorName::QueryEvaluationError => {
                        return self.test_catch(here, h, f, ins);
                    }
                    done => return Attempted::Done(done),
                }
            }
            Err(f) => f,
        };
        let mut counts = vec![retry_count; h.retry.len()];
        if let Some(delay) = retry_delay(&h.retry, &mut counts, &failure) {
            let index = h
                .retry
                .iter()
                .position(|r| matches(&r.errors, &failure.error));
            let details = TestErrorDetails {
                retry_index: index,
                retry_backoff_interval_seconds: Some(delay.as_secs()),
                catch_index: None,
            };
            return Attempted::Retriable(failure, details);
        }
        self.test_catch(here, h, failure, ins)
    }

    /// `Catch`, noting which catcher took the failure.
    fn test_catch(
        &self,
        here: &Here<'_>,
        h: &Handling,
        f: Failure,
        ins: &mut Inspection,
    ) -> Attempted {
        let Some(index) = h.catch.iter().position(|c| matches(&c.errors, &f.error)) else {
            return Attempted::Done(Err(f));
        };
        ins.error_details = Some(TestErrorDetails {
            catch_index: Some(index),
            ..TestErrorDetails::default()
        });
        Attempted::Caught(self.catch(here, &h.catch, f.clone()), f)
    }

    /// ResultSelector → Assign → ResultPath (or Output) → OutputPath, stage
    /// by stage (as `Run::finish`).
    fn test_finish(
        &self,
        here: &Here<'_>,
        h: &Handling,
        result: Value,
        retry_count: u32,
        ins: &mut Inspection,
        jsonata: bool,
    ) -> Result<Step, Failure> {
        let extra = Extra::retry(retry_count);
        let result = match &h.result_selector {
            Some(s) => self.eval_template(s, &result, here, &extra)?,
            None => result,
        };
        let data = StatesData::result(&result);
        self.assign(here, h.assign.as_ref(), &result, data, &extra)?;
        if !jsonata {
            ins.after_result_selector = Some(result.clone());
        }
        let out = match here.state.output {
            Some(_) => self.jsonata_output(here, Value::Null, data, &extra)?,
            None => self.apply_result_path(&h.result_path, here.input, result, here)?,
        };
        if !jsonata {
            ins.after_result_path = Some(out.clone());
        }
        let out = self.select_owned(&here.state.output_path, out, here)?;
        Ok(step(h.transition, out))
    }
}

/// Whether a retrier's or catcher's `ErrorEquals` takes `error`.
fn matches(patterns: &[ErrorName], error: &ErrorName) -> bool {
    !error.is_uncatchable() && patterns.iter().any(|p| error.is_matched_by(p))
}

/// The outcome of a state that did not end in a retry.
fn outcome(graph: &Graph, step: Result<Step, Failure>, ins: Inspection) -> TestStateOutcome {
    let (status, output, next, error) = match step {
        Ok(Step::Next(n, out)) => (TestStatus::Succeeded, out, Some(n), None),
        Ok(Step::End(out)) => (TestStatus::Succeeded, out, None, None),
        Ok(Step::Caught(n, out, _)) => (TestStatus::CaughtError, out, Some(n), None),
        Err(f) => return TestStateOutcome::new(TestStatus::Failed, ins).failed(&f),
    };
    let mut o = TestStateOutcome::new(status, ins);
    o.output = Some(output);
    o.next_state = next.map(|n| graph.name_of(n));
    o.error = error;
    o
}

#[cfg(test)]
#[path = "test_state_tests.rs"]
mod tests;
