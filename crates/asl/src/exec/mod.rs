//! Running states: data flow, retries, catches, tokens, branches.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use serde_json::{Map, Value, json};

use crate::choice::parse_timestamp;
use crate::engine::{Callback, Shared, StopSignal};
use crate::error::{ErrorName, Failure};
use crate::history::{
    ErrorDetails, EventDetails, EventType, ExecutionStartedDetails, HistoryEvent,
    LambdaScheduledDetails, MapIterationDetails, MapStartedDetails, OutputDetails, PayloadDetails,
    StateEnteredDetails, StateExitedDetails, TaskErrorDetails, TaskOutputDetails,
    TaskScheduledDetails, TaskStartedDetails,
};
use crate::host::{Resource, TaskOutput, TaskRequest, lambda_invoke_envelope};
use crate::model::{
    Catcher, FailField, Graph, Handling, IoPath, Jitter, Kind, MapState, ParallelState, ResultPath,
    Retrier, Seconds, State, StateMachine, TaskState, Transition, WaitFor,
};
use crate::path::ReferencePath;
use crate::random;
use crate::snapshot::{
    ExecutionInfo, ExecutionOutcome, ExecutionSnapshot, ExecutionStatus, Persistence, Phase,
    Position, StateTransition, TransitionOutcome,
};
use crate::template::{Env, LazyContext, Template, truncate};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn text(v: &Value) -> String {
    v.to_string()
}

struct Log {
    events: Vec<HistoryEvent>,
    next_id: u64,
}

/// One execution in progress.
pub(crate) struct Run {
    shared: Arc<Shared>,
    machine: StateMachine,
    info: ExecutionInfo,
    log: Mutex<Log>,
    persistence: Option<Arc<dyn Persistence>>,
    resume: Mutex<Option<ExecutionSnapshot>>,
}

/// A thread of execution: the top level, a branch or an iteration.
#[derive(Debug, Clone, Copy)]
struct Lane {
    prev: u64,
    top: bool,
}

/// Where a state is, for the context object and snapshots.
struct Here<'a> {
    state: &'a State,
    input: &'a Value,
    entered: DateTime<Utc>,
    entered_id: u64,
}

enum Step {
    Next(usize, Value),
    End(Value),
    /// A catcher matched: go to the state with this output; the error name.
    Caught(usize, Value, String),
}

/// Extra context object content for one evaluation.
#[derive(Default)]
struct Extra<'a> {
    retry_count: u32,
    token: Option<&'a str>,
    map_item: Option<(usize, &'a Value)>,
}

impl Run {
    pub(crate) fn new(
        shared: Arc<Shared>,
        machine: StateMachine,
        info: ExecutionInfo,
        persistence: Option<Arc<dyn Persistence>>,
        resume: Option<ExecutionSnapshot>,
    ) -> Run {
        let (events, next_id) = match &resume {
            Some(s) => (s.history.clone(), s.next_event_id.max(1)),
            None => (Vec::new(), 1),
        };
        Run {
            shared,
            machine,
            info,
            log: Mutex::new(Log { events, next_id }),
            persistence,
            resume: Mutex::new(resume),
        }
    }

    pub(crate) fn info(&self) -> &ExecutionInfo {
        &self.info
    }

    fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    fn emit(&self, lane: &mut Lane, event_type: EventType, details: EventDetails) -> u64 {
        let timestamp = self.now();
        let (id, copy) = {
            let mut log = lock(&self.log);
            let id = log.next_id;
            log.next_id += 1;
            let e = HistoryEvent {
                timestamp,
                event_type,
                id,
                previous_event_id: lane.prev,
                details,
            };
            let copy = self.shared.observer.as_ref().map(|_| e.clone());
            log.events.push(e);
            (id, copy)
        };
        lane.prev = id;
        if let (Some(o), Some(e)) = (&self.shared.observer, copy) {
            o.on_event(&self.info, &e);
        }
        id
    }

    fn observe(&self, lane: &Lane, here: &Here<'_>, outcome: TransitionOutcome) {
        if let Some(o) = &self.shared.observer {
            let elapsed = (self.now() - here.entered)
                .to_std()
                .unwrap_or(Duration::ZERO);
            o.on_transition(
                &self.info,
                &StateTransition {
                    state_name: here.state.name.clone(),
                    state_type: here.state.kind.type_name(),
                    outcome,
                    elapsed,
                    nested: !lane.top,
                },
            );
        }
    }

    fn snapshot(&self, position: Option<Position>) -> ExecutionSnapshot {
        let log = lock(&self.log);
        ExecutionSnapshot {
            version: 1,
            execution: self.info.clone(),
            status: ExecutionStatus::Running,
            position,
            history: log.events.clone(),
            next_event_id: log.next_id,
            output: None,
            error: None,
            cause: None,
            stop_time: None,
        }
    }

    async fn persist(
        &self,
        lane: &Lane,
        position: impl FnOnce() -> Position,
    ) -> Result<(), Failure> {
        let Some(p) = &self.persistence else {
            return Ok(());
        };
        if !lane.top {
            return Ok(());
        }
        let snap = self.snapshot(Some(position()));
        p.save(&snap)
            .await
            .map_err(|e| Failure::runtime(e.to_string()))
    }

    fn context(&self, here: &Here<'_>, extra: &Extra<'_>, with_input: bool) -> Value {
        let mut ctx = json!({
            "Execution": {
                "Id": self.info.id,
                "Input": if with_input { self.info.input.clone() } else { Value::Null },
                "Name": self.info.name,
                "RoleArn": self.info.role_arn,
                "StartTime": iso(self.info.start_time),
                "RedriveCount": 0,
            },
            "State": {
                "EnteredTime": iso(here.entered),
                "Name": here.state.name,
                "RetryCount": extra.retry_count,
            },
            "StateMachine": {
                "Id": self.info.state_machine_id,
                "Name": self.info.state_machine_name,
            },
        });
        if let Some(obj) = ctx.as_object_mut() {
            if let Some(t) = extra.token {
                obj.insert("Task".into(), json!({ "Token": t }));
            }
            if let Some((i, v)) = extra.map_item {
                obj.insert("Map".into(), json!({ "Item": { "Index": i, "Value": v } }));
            }
        }
        ctx
    }

    /// Evaluate a template with the context object built on demand.
    fn eval_template(
        &self,
        t: &Template,
        input: &Value,
        here: &Here<'_>,
        extra: &Extra<'_>,
    ) -> Result<Value, Failure> {
        if let Template::Literal(v) = t {
            return Ok(v.clone());
        }
        let build = |full: bool| self.context(here, extra, full);
        let ctx = LazyContext::new(&build);
        t.eval(&Env::new(input, &ctx))
    }

    /// Run `f` with an [`Env`] over `input` whose context object is built
    /// only if a `$$` path reads it. All path lookups go through an `Env`,
    /// which picks the root (input or context object) by the path.
    fn with_env<R>(
        &self,
        input: &Value,
        here: &Here<'_>,
        extra: &Extra<'_>,
        f: impl FnOnce(&Env<'_>) -> R,
    ) -> R {
        let build = |full: bool| self.context(here, extra, full);
        let ctx = LazyContext::new(&build);
        f(&Env::new(input, &ctx))
    }

    /// `InputPath` (or any path field applied to a borrowed value): the
    /// value itself is borrowed, not copied, when the path is absent.
    fn select<'v>(
        &self,
        p: &IoPath,
        v: &'v Value,
        here: &Here<'_>,
        field: &str,
    ) -> Result<Cow<'v, Value>, Failure> {
        match p {
            IoPath::Identity => Ok(Cow::Borrowed(v)),
            IoPath::Null => Ok(Cow::Owned(Value::Object(Map::new()))),
            IoPath::Path(path) => self
                .with_env(v, here, &Extra::default(), |env| env.resolve(path))
                .map(Cow::Owned)
                .ok_or_else(|| {
                    Failure::runtime(format!(
                        "An error occurred while executing the state '{}' (entered at the event id #{}). Invalid path '{}' for {field}: No results for path in '{}'",
                        here.state.name,
                        here.entered_id,
                        path.as_str(),
                        truncate(&v.to_string(), 256)
                    ))
                }),
        }
    }

    /// `OutputPath`: applied to a value the state owns, which is moved
    /// through when the path is absent.
    fn select_owned(&self, p: &IoPath, v: Value, here: &Here<'_>) -> Result<Value, Failure> {
        match p {
            IoPath::Identity => Ok(v),
            _ => self.select(p, &v, here, "OutputPath").map(Cow::into_owned),
        }
    }

    fn apply_result_path(
        &self,
        rp: &ResultPath,
        raw: &Value,
        result: Value,
        here: &Here<'_>,
    ) -> Result<Value, Failure> {
        match rp {
            ResultPath::Replace => Ok(result),
            ResultPath::Discard => Ok(raw.clone()),
            ResultPath::Path(p) => {
                let mut out = raw.clone();
                p.set(&mut out, result).map_err(|e| {
                    Failure::new(
                        ErrorName::ResultPathMatchFailure,
                        format!(
                            "An error occurred while executing the state '{}'. Unable to apply ResultPath '{}' to input '{}': {e}",
                            here.state.name,
                            p.as_str(),
                            truncate(&raw.to_string(), 256)
                        ),
                    )
                })?;
                Ok(out)
            }
        }
    }

    /// A `…Seconds` / `…SecondsPath` value (also `MaxConcurrency[Path]`);
    /// `what` names the path field for error messages.
    fn resolve_seconds(s: &Seconds, env: &Env<'_>, what: &str) -> Result<u64, Failure> {
        match s {
            Seconds::Fixed(n) => Ok(*n),
            Seconds::Path(p) => {
                let v = lookup(p, env, what)?;
                v.as_u64().ok_or_else(|| {
                    Failure::runtime(format!(
                        "The {what} '{}' must point to a non-negative integer, found {v}",
                        p.as_str()
                    ))
                })
            }
        }
    }

    /// Run the whole execution to its end.
    pub(crate) async fn execute(self: Arc<Self>, stop: Arc<StopSignal>) -> ExecutionOutcome {
        let resume = lock(&self.resume).take();
        let mut lane = Lane { prev: 0, top: true };
        let root = &self.machine.inner.root;
        let (start_idx, input, position) = match resume {
            Some(snap) => {
                lane.prev = snap.history.last().map_or(0, |e| e.id);
                match snap.position {
                    Some(p) => {
                        let idx = root
                            .by_name
                            .get(&p.state_name)
                            .copied()
                            .unwrap_or(root.start);
                        (idx, p.input.clone(), Some(p))
                    }
                    None => (root.start, self.info.input.clone(), None),
                }
            }
            None => {
                self.emit(
                    &mut lane,
                    EventType::ExecutionStarted,
                    EventDetails::ExecutionStarted(ExecutionStartedDetails {
                        input: text(&self.info.input),
                        input_details: PayloadDetails::default(),
                        role_arn: self.info.role_arn.clone(),
                    }),
                );
                (root.start, self.info.input.clone(), None)
            }
        };
        let deadline = self
            .machine
            .timeout_seconds()
            .and_then(|s| i64::try_from(s).ok())
            .and_then(|s| {
                self.info
                    .start_time
                    .checked_add_signed(TimeDelta::seconds(s))
            });
        let timeout = async {
            match deadline {
                Some(d) => self.shared.clock.sleep_until(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        enum End {
            Done(Result<Value, Failure>),
            TimedOut,
            Stopped,
        }
        let body = self.run_graph(root, start_idx, input, lane, position);
        let end = tokio::select! {
            biased;
            _ = stop.notify.notified() => End::Stopped,
            _ = timeout => End::TimedOut,
            r = body => End::Done(r),
        };
        let mut lane = Lane {
            prev: lock(&self.log).events.last().map_or(0, |e| e.id),
            top: true,
        };
        let (status, output, error, cause) = match end {
            End::Done(Ok(out)) => {
                self.emit(
                    &mut lane,
                    EventType::ExecutionSucceeded,
                    EventDetails::ExecutionSucceeded(OutputDetails {
                        output: text(&out),
                        output_details: PayloadDetails::default(),
                    }),
                );
                (ExecutionStatus::Succeeded, Some(out), None, None)
            }
            End::Done(Err(f)) => {
                let error = Some(f.error.as_str().to_owned()).filter(|e| !e.is_empty());
                self.emit(
                    &mut lane,
                    EventType::ExecutionFailed,
                    EventDetails::ExecutionFailed(ErrorDetails {
                        error: error.clone(),
                        cause: f.cause.clone(),
                    }),
                );
                (ExecutionStatus::Failed, None, error, f.cause)
            }
            End::TimedOut => {
                let error = Some("States.Timeout".to_owned());
                let cause = Some(format!(
                    "The execution exceeded its TimeoutSeconds of {}",
                    self.machine.timeout_seconds().unwrap_or_default()
                ));
                self.emit(
                    &mut lane,
                    EventType::ExecutionTimedOut,
                    EventDetails::ExecutionTimedOut(ErrorDetails {
                        error: error.clone(),
                        cause: cause.clone(),
                    }),
                );
                (ExecutionStatus::TimedOut, None, error, cause)
            }
            End::Stopped => {
                let (error, cause) = stop.reason();
                self.emit(
                    &mut lane,
                    EventType::ExecutionAborted,
                    EventDetails::ExecutionAborted(ErrorDetails {
                        error: error.clone(),
                        cause: cause.clone(),
                    }),
                );
                (ExecutionStatus::Aborted, None, error, cause)
            }
        };
        let stop_time = self.now();
        let history = lock(&self.log).events.clone();
        if let Some(p) = &self.persistence {
            let mut snap = self.snapshot(None);
            snap.status = status;
            snap.output = output.clone();
            snap.error = error.clone();
            snap.cause = cause.clone();
            snap.stop_time = Some(stop_time);
            // The outcome is returned either way; a failed final save leaves
            // the last RUNNING snapshot, which resumes into the same end.
            let _ = p.save(&snap).await;
        }
        ExecutionOutcome {
            execution: self.info.clone(),
            status,
            output,
            error,
            cause,
            stop_time,
            history,
        }
    }

    fn run_graph<'a>(
        &'a self,
        graph: &'a Graph,
        start: usize,
        input: Value,
        lane: Lane,
        resume: Option<Position>,
    ) -> BoxFuture<'a, Result<Value, Failure>> {
        Box::pin(async move {
            let mut lane = lane;
            let mut idx = start;
            let mut input = input;
            let mut resume = resume;
            loop {
                let Some(state) = graph.state(idx) else {
                    return Err(Failure::runtime(format!("no state at index {idx}")));
                };
                let (entered, entered_id, retry_counts, retry_count, phase) = match resume.take() {
                    Some(p) => (
                        p.entered_time,
                        p.entered_event_id,
                        p.retry_counts,
                        p.retry_count,
                        p.phase,
                    ),
                    None => {
                        let entered = self.now();
                        let ty = entered_event(&state.kind);
                        let id = self.emit(
                            &mut lane,
                            ty,
                            EventDetails::StateEntered(StateEnteredDetails {
                                name: state.name.clone(),
                                input: text(&input),
                                input_details: PayloadDetails::default(),
                            }),
                        );
                        let name = &state.name;
                        self.persist(&lane, || Position {
                            state_name: name.clone(),
                            input: input.clone(),
                            entered_time: entered,
                            entered_event_id: id,
                            retry_counts: Vec::new(),
                            retry_count: 0,
                            phase: Phase::Entered,
                        })
                        .await?;
                        (entered, id, Vec::new(), 0, Phase::Entered)
                    }
                };
                let here = Here {
                    state,
                    input: &input,
                    entered,
                    entered_id,
                };
                let resumed = ResumeAt {
                    retry_counts,
                    retry_count,
                    phase,
                };
                let step = match &state.kind {
                    Kind::Pass {
                        parameters,
                        result,
                        result_path,
                        transition,
                    } => self.pass(
                        &here,
                        parameters.as_ref(),
                        result.as_ref(),
                        result_path,
                        *transition,
                    ),
                    Kind::Choice { choices, default } => self.choice(&here, choices, *default),
                    Kind::Wait { wait, transition } => self.wait(&here, wait, *transition).await,
                    Kind::Succeed => self
                        .select(&state.input_path, &input, &here, "InputPath")
                        .and_then(|v| {
                            self.select_owned(&state.output_path, v.into_owned(), &here)
                                .map(Step::End)
                        }),
                    Kind::Fail { error, cause } => Err(self.fail(&here, error, cause)),
                    Kind::Task(t) => {
                        self.with_retries(&here, Work::Task(t), &mut lane, resumed)
                            .await
                    }
                    Kind::Parallel(p) => {
                        self.with_retries(&here, Work::Parallel(p), &mut lane, resumed)
                            .await
                    }
                    Kind::Map(m) => {
                        self.with_retries(&here, Work::Map(m), &mut lane, resumed)
                            .await
                    }
                };
                match step {
                    Ok(Step::Caught(n, out, error)) => {
                        self.observe(
                            &lane,
                            &here,
                            TransitionOutcome::Caught {
                                error,
                                next: graph.name_of(n),
                            },
                        );
                        idx = n;
                        input = out;
                    }
                    Ok(step) => {
                        let (out, next) = match &step {
                            Step::Next(n, out) | Step::Caught(n, out, _) => (out, Some(*n)),
                            Step::End(out) => (out, None),
                        };
                        if let Some(ty) = exited_event(&state.kind) {
                            self.emit(
                                &mut lane,
                                ty,
                                EventDetails::StateExited(StateExitedDetails {
                                    name: state.name.clone(),
                                    output: text(out),
                                    output_details: PayloadDetails::default(),
                                }),
                            );
                        }
                        self.observe(
                            &lane,
                            &here,
                            TransitionOutcome::Succeeded {
                                next: next.map(|n| graph.name_of(n)),
                            },
                        );
                        match step {
                            Step::Next(n, out) | Step::Caught(n, out, _) => {
                                idx = n;
                                input = out;
                            }
                            Step::End(out) => return Ok(out),
                        }
                    }
                    Err(f) => {
                        self.observe(
                            &lane,
                            &here,
                            TransitionOutcome::Failed {
                                error: f.error.as_str().to_owned(),
                                cause: f.cause.clone(),
                            },
                        );
                        return Err(f);
                    }
                }
            }
        })
    }

    fn pass(
        &self,
        here: &Here<'_>,
        parameters: Option<&Template>,
        result: Option<&Value>,
        result_path: &ResultPath,
        transition: Transition,
    ) -> Result<Step, Failure> {
        let effective = self.select(&here.state.input_path, here.input, here, "InputPath")?;
        let value = match (result, parameters) {
            (Some(r), _) => r.clone(),
            (None, Some(t)) => self.eval_template(t, &effective, here, &Extra::default())?,
            (None, None) => effective.into_owned(),
        };
        let out = self.apply_result_path(result_path, here.input, value, here)?;
        let out = self.select_owned(&here.state.output_path, out, here)?;
        Ok(step(transition, out))
    }

    fn choice(
        &self,
        here: &Here<'_>,
        choices: &[(crate::choice::Rule, usize)],
        default: Option<usize>,
    ) -> Result<Step, Failure> {
        let effective = self.select(&here.state.input_path, here.input, here, "InputPath")?;
        let next = {
            let build = |full: bool| self.context(here, &Extra::default(), full);
            let ctx = LazyContext::new(&build);
            let env = Env::new(&effective, &ctx);
            let mut chosen = None;
            for (rule, next) in choices {
                if rule.eval(&env)? {
                    chosen = Some(*next);
                    break;
                }
            }
            chosen.or(default)
        };
        let Some(next) = next else {
            return Err(Failure::new(
                ErrorName::NoChoiceMatched,
                format!(
                    "No Choice Rule matched in state '{}' and it has no Default",
                    here.state.name
                ),
            ));
        };
        let out = self.select_owned(&here.state.output_path, effective.into_owned(), here)?;
        Ok(Step::Next(next, out))
    }

    async fn wait(
        &self,
        here: &Here<'_>,
        wait: &WaitFor,
        transition: Transition,
    ) -> Result<Step, Failure> {
        let effective = self.select(&here.state.input_path, here.input, here, "InputPath")?;
        let add = |secs: u64| {
            i64::try_from(secs)
                .ok()
                .and_then(|s| here.entered.checked_add_signed(TimeDelta::seconds(s)))
                .ok_or_else(|| Failure::runtime(format!("the wait of {secs} seconds is too long")))
        };
        let until = self.with_env(&effective, here, &Extra::default(), |env| match wait {
            WaitFor::Seconds(s) => add(Run::resolve_seconds(s, env, "SecondsPath")?),
            WaitFor::Timestamp(t) => Ok(t.with_timezone(&Utc)),
            WaitFor::TimestampPath(p) => {
                let v = lookup(p, env, "TimestampPath")?;
                v.as_str()
                    .and_then(parse_timestamp)
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(|| {
                        Failure::runtime(format!(
                            "The TimestampPath '{}' must point to an RFC 3339 timestamp, found {v}",
                            p.as_str()
                        ))
                    })
            }
        })?;
        self.shared.clock.sleep_until(until).await;
        let out = self.select_owned(&here.state.output_path, effective.into_owned(), here)?;
        Ok(step(transition, out))
    }

    fn fail(&self, here: &Here<'_>, error: &FailField, cause: &FailField) -> Failure {
        let eval = |f: &FailField, what: &str| -> Result<Option<String>, Failure> {
            match f {
                FailField::Absent => Ok(None),
                FailField::Literal(s) => Ok(Some(s.clone())),
                FailField::Expr(e) => {
                    let build = |full: bool| self.context(here, &Extra::default(), full);
                    let ctx = LazyContext::new(&build);
                    let v = e.eval(&Env::new(here.input, &ctx), what)?;
                    match v {
                        Value::String(s) => Ok(Some(s)),
                        other => Err(Failure::runtime(format!(
                            "The value of {what} must be a string, found {other}"
                        ))),
                    }
                }
            }
        };
        let error = match eval(error, "ErrorPath") {
            Ok(e) => e,
            Err(f) => return f,
        };
        let cause = match eval(cause, "CausePath") {
            Ok(c) => c,
            Err(f) => return f,
        };
        Failure {
            error: ErrorName::new(error.unwrap_or_default()),
            cause,
        }
    }

    fn catch(
        &self,
        here: &Here<'_>,
        catchers: &[Catcher],
        failure: Failure,
    ) -> Result<Step, Failure> {
        if failure.error.is_uncatchable() {
            return Err(failure);
        }
        let Some(c) = catchers
            .iter()
            .find(|c| c.errors.iter().any(|p| failure.error.is_matched_by(p)))
        else {
            return Err(failure);
        };
        let mut obj = Map::new();
        obj.insert(
            "Error".into(),
            Value::String(failure.error.as_str().to_owned()),
        );
        if let Some(cause) = &failure.cause {
            obj.insert("Cause".into(), Value::String(cause.clone()));
        }
        let out = self.apply_result_path(&c.result_path, here.input, Value::Object(obj), here)?;
        Ok(Step::Caught(c.next, out, failure.error.as_str().to_owned()))
    }

    /// The delay before the next attempt, or None when the error is not
    /// retried (no matching retrier, or its attempts are used up).
    fn retry_delay(
        &self,
        retriers: &[Retrier],
        counts: &mut Vec<u32>,
        failure: &Failure,
    ) -> Option<Duration> {
        if failure.error.is_uncatchable() {
            return None;
        }
        counts.resize(retriers.len(), 0);
        let i = retriers
            .iter()
            .position(|r| r.errors.iter().any(|p| failure.error.is_matched_by(p)))?;
        let r = retriers.get(i)?;
        let used = counts.get_mut(i)?;
        if u64::from(*used) >= r.max_attempts {
            return None;
        }
        let exp = i32::try_from(*used).unwrap_or(i32::MAX);
        *used += 1;
        let mut secs = r.interval_seconds as f64 * r.backoff_rate.powi(exp);
        if let Some(max) = r.max_delay_seconds {
            secs = secs.min(max as f64);
        }
        if !secs.is_finite() {
            secs = 31_622_400.0;
        }
        secs = secs.min(31_622_400.0);
        if r.jitter == Jitter::Full {
            secs *= random::unit().unwrap_or(1.0);
        }
        Some(Duration::from_millis((secs * 1000.0).round() as u64))
    }

    async fn retry_wait(
        &self,
        here: &Here<'_>,
        lane: &Lane,
        delay: Duration,
        counts: &[u32],
        retry_count: u32,
    ) -> Result<(), Failure> {
        let at = self.now() + TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX);
        self.persist(lane, || Position {
            state_name: here.state.name.clone(),
            input: here.input.clone(),
            entered_time: here.entered,
            entered_event_id: here.entered_id,
            retry_counts: counts.to_vec(),
            retry_count,
            phase: Phase::RetryWait { resume_at: at },
        })
        .await?;
        self.shared.clock.sleep_until(at).await;
        Ok(())
    }

    /// Attempts of a Task, Parallel or Map state with its retriers, then
    /// ResultSelector/ResultPath/OutputPath on success or its catchers on
    /// failure. A resumed state continues where its snapshot was taken: a
    /// retry wait sleeps until its saved deadline, a parked task re-registers
    /// its token.
    async fn with_retries(
        &self,
        here: &Here<'_>,
        work: Work<'_>,
        lane: &mut Lane,
        resumed: ResumeAt,
    ) -> Result<Step, Failure> {
        let h = work.handling();
        let mut counts = resumed.retry_counts;
        let mut retry_count = resumed.retry_count;
        let mut phase = resumed.phase;
        let result = loop {
            if let Phase::RetryWait { resume_at } = phase {
                self.shared.clock.sleep_until(resume_at).await;
                phase = Phase::Entered;
            }
            let parked = match std::mem::replace(&mut phase, Phase::Entered) {
                p @ Phase::Parked { .. } => Some(p),
                _ => None,
            };
            let attempt = match work {
                Work::Task(t) => {
                    self.task_attempt(here, t, lane, retry_count, &counts, parked)
                        .await
                }
                Work::Parallel(p) => self.parallel_attempt(here, p, lane, retry_count).await,
                Work::Map(m) => self.map_attempt(here, m, lane, retry_count).await,
            };
            match attempt {
                Ok(v) => break Ok(v),
                Err(f) => match self.retry_delay(&h.retry, &mut counts, &f) {
                    Some(delay) => {
                        retry_count += 1;
                        self.retry_wait(here, lane, delay, &counts, retry_count)
                            .await?;
                    }
                    None => break Err(f),
                },
            }
        };
        match result {
            Ok(v) => self.finish(here, h, v, retry_count),
            Err(f) => self.catch(here, &h.catch, f),
        }
    }

    /// ResultSelector → ResultPath → OutputPath.
    fn finish(
        &self,
        here: &Here<'_>,
        h: &Handling,
        result: Value,
        retry_count: u32,
    ) -> Result<Step, Failure> {
        let result = match &h.result_selector {
            Some(s) => self.eval_template(
                s,
                &result,
                here,
                &Extra {
                    retry_count,
                    ..Extra::default()
                },
            )?,
            None => result,
        };
        let out = self.apply_result_path(&h.result_path, here.input, result, here)?;
        let out = self.select_owned(&here.state.output_path, out, here)?;
        Ok(step(h.transition, out))
    }

    #[allow(clippy::too_many_lines)]
    async fn task_attempt(
        &self,
        here: &Here<'_>,
        t: &TaskState,
        lane: &mut Lane,
        retry_count: u32,
        counts: &[u32],
        parked: Option<Phase>,
    ) -> Result<Value, Failure> {
        let effective = self.select(&here.state.input_path, here.input, here, "InputPath")?;
        let (resource_type, resource_name) = t.resource.history_names();
        let is_fn = matches!(t.resource, Resource::LambdaFunction { .. });
        let waits = t.resource.waits_for_task_token();
        let (token, resumed_deadlines, invoked) = match &parked {
            Some(Phase::Parked {
                token,
                timeout_at,
                heartbeat_at,
                invoked,
                ..
            }) => (
                Some(token.clone()),
                Some((*timeout_at, *heartbeat_at)),
                *invoked,
            ),
            _ => {
                let token = if waits {
                    Some(random::task_token().map_err(|e| Failure::runtime(e.to_string()))?)
                } else {
                    None
                };
                (token, None, false)
            }
        };
        let extra = Extra {
            retry_count,
            token: token.as_deref(),
            map_item: None,
        };
        let (timeout, heartbeat) = self.with_env(&effective, here, &extra, |env| {
            let timeout = t
                .timeout
                .as_ref()
                .map(|s| Run::resolve_seconds(s, env, "TimeoutSecondsPath"))
                .transpose()?;
            let heartbeat = t
                .heartbeat
                .as_ref()
                .map(|s| Run::resolve_seconds(s, env, "HeartbeatSecondsPath"))
                .transpose()?;
            Ok::<_, Failure>((timeout, heartbeat))
        })?;
        // The effective input is only copied when it is the payload itself.
        let parameters = match &t.parameters {
            Some(p) => self.eval_template(p, &effective, here, &extra)?,
            None => effective.into_owned(),
        };
        let fail_event = |me: &Self, lane: &mut Lane, ty: EventType, f: &Failure| {
            let (error, cause) = (Some(f.error.as_str().to_owned()), f.cause.clone());
            let details = if is_fn {
                match ty {
                    EventType::TaskTimedOut => {
                        EventDetails::LambdaFunctionTimedOut(ErrorDetails { error, cause })
                    }
                    _ => EventDetails::LambdaFunctionFailed(ErrorDetails { error, cause }),
                }
            } else {
                let d = TaskErrorDetails {
                    resource_type: resource_type.clone(),
                    resource: resource_name.clone(),
                    error,
                    cause,
                };
                match ty {
                    EventType::TaskTimedOut => EventDetails::TaskTimedOut(d),
                    _ => EventDetails::TaskFailed(d),
                }
            };
            let ty = match (is_fn, ty) {
                (true, EventType::TaskTimedOut) => EventType::LambdaFunctionTimedOut,
                (true, _) => EventType::LambdaFunctionFailed,
                (false, ty) => ty,
            };
            me.emit(lane, ty, details);
        };
        let succeed_event = |me: &Self, lane: &mut Lane, out: &Value| {
            if is_fn {
                me.emit(
                    lane,
                    EventType::LambdaFunctionSucceeded,
                    EventDetails::LambdaFunctionSucceeded(OutputDetails {
                        output: text(out),
                        output_details: PayloadDetails::default(),
                    }),
                );
            } else {
                me.emit(
                    lane,
                    EventType::TaskSucceeded,
                    EventDetails::TaskSucceeded(TaskOutputDetails {
                        resource_type: resource_type.clone(),
                        resource: resource_name.clone(),
                        output: text(out),
                        output_details: PayloadDetails::default(),
                    }),
                );
            }
        };
        let now = self.now();
        let after = |secs: Option<u64>| {
            secs.and_then(|s| i64::try_from(s).ok())
                .and_then(|s| now.checked_add_signed(TimeDelta::seconds(s)))
        };
        let (timeout_at, mut heartbeat_at) = match resumed_deadlines {
            Some(d) => d,
            None => (after(timeout), if waits { after(heartbeat) } else { None }),
        };
        if parked.is_none() {
            if is_fn {
                self.emit(
                    lane,
                    EventType::LambdaFunctionScheduled,
                    EventDetails::LambdaFunctionScheduled(LambdaScheduledDetails {
                        resource: t.resource_arn.clone(),
                        input: text(&parameters),
                        input_details: PayloadDetails::default(),
                        timeout_in_seconds: timeout,
                    }),
                );
                self.emit(lane, EventType::LambdaFunctionStarted, EventDetails::None);
            } else {
                self.emit(
                    lane,
                    EventType::TaskScheduled,
                    EventDetails::TaskScheduled(TaskScheduledDetails {
                        resource_type: resource_type.clone(),
                        resource: resource_name.clone(),
                        region: self.shared.config.region.clone(),
                        parameters: text(&parameters),
                        timeout_in_seconds: timeout,
                        heartbeat_in_seconds: heartbeat,
                    }),
                );
                self.emit(
                    lane,
                    EventType::TaskStarted,
                    EventDetails::TaskStarted(TaskStartedDetails {
                        resource_type: resource_type.clone(),
                        resource: resource_name.clone(),
                    }),
                );
            }
        }
        let sleep_opt = |d: Option<DateTime<Utc>>| {
            let clock = self.shared.clock.clone();
            async move {
                match d {
                    Some(d) => clock.sleep_until(d).await,
                    None => std::future::pending::<()>().await,
                }
            }
        };
        let timed_out = |me: &Self, lane: &mut Lane, error: ErrorName| {
            let f = Failure {
                cause: Some(match error {
                    ErrorName::HeartbeatTimeout => format!(
                        "The task '{}' sent no heartbeat within HeartbeatSeconds",
                        here.state.name
                    ),
                    _ => format!(
                        "The task '{}' did not complete within TimeoutSeconds",
                        here.state.name
                    ),
                }),
                error,
            };
            fail_event(me, lane, EventType::TaskTimedOut, &f);
            f
        };
        let parked_position = |token: &str, hb: Option<DateTime<Utc>>, invoked: bool| Position {
            state_name: here.state.name.clone(),
            input: here.input.clone(),
            entered_time: here.entered,
            entered_event_id: here.entered_id,
            retry_counts: counts.to_vec(),
            retry_count,
            phase: Phase::Parked {
                token: token.to_owned(),
                timeout_at,
                heartbeat_at: hb,
                heartbeat_seconds: heartbeat,
                invoked,
            },
        };
        let registration = match &token {
            Some(tok) => {
                let (guard, rx) = self.shared.register_token(tok);
                if !invoked {
                    self.persist(lane, || parked_position(tok, heartbeat_at, false))
                        .await?;
                }
                Some((guard, rx, tok.clone()))
            }
            None => None,
        };
        if !invoked {
            let request = TaskRequest {
                resource: t.resource.clone(),
                resource_arn: t.resource_arn.clone(),
                parameters,
                task_token: token.clone(),
                execution_name: self.info.name.clone(),
                execution_id: self.info.id.clone(),
                state_name: here.state.name.clone(),
                attempt: retry_count,
            };
            let call = self.shared.host.invoke(request);
            let outcome = tokio::select! {
                biased;
                r = call => Some(r),
                _ = sleep_opt(timeout_at) => None,
            };
            let output = match outcome {
                None => return Err(timed_out(self, lane, ErrorName::Timeout)),
                Some(Err(tf)) => {
                    let f = Failure {
                        error: ErrorName::new(tf.error),
                        cause: tf.cause,
                    };
                    fail_event(self, lane, EventType::TaskFailed, &f);
                    return Err(f);
                }
                Some(Ok(TaskOutput::Final(v))) => {
                    succeed_event(self, lane, &v);
                    return Ok(v);
                }
                Some(Ok(TaskOutput::Output(v))) => match &t.resource {
                    Resource::LambdaInvoke { .. } => lambda_invoke_envelope(v),
                    _ => v,
                },
            };
            if registration.is_none() {
                succeed_event(self, lane, &output);
                return Ok(output);
            }
            self.emit(
                lane,
                EventType::TaskSubmitted,
                EventDetails::TaskSubmitted(TaskOutputDetails {
                    resource_type: resource_type.clone(),
                    resource: resource_name.clone(),
                    output: text(&output),
                    output_details: PayloadDetails::default(),
                }),
            );
        }
        let Some((_guard, mut rx, tok)) = registration else {
            return Err(Failure::runtime("internal error: no task token"));
        };
        self.persist(lane, || parked_position(&tok, heartbeat_at, true))
            .await?;
        loop {
            enum Woke {
                Callback(Option<Callback>),
                Timeout,
                Heartbeat,
            }
            let woke = tokio::select! {
                biased;
                cb = rx.recv() => Woke::Callback(cb),
                _ = sleep_opt(timeout_at) => Woke::Timeout,
                _ = sleep_opt(heartbeat_at) => Woke::Heartbeat,
            };
            match woke {
                Woke::Callback(Some(Callback::Success(v))) => {
                    succeed_event(self, lane, &v);
                    return Ok(v);
                }
                Woke::Callback(Some(Callback::Failure { error, cause })) => {
                    let f = Failure {
                        error: ErrorName::new(error.unwrap_or_default()),
                        cause,
                    };
                    fail_event(self, lane, EventType::TaskFailed, &f);
                    return Err(f);
                }
                Woke::Callback(Some(Callback::Heartbeat)) => {
                    heartbeat_at = heartbeat
                        .and_then(|s| i64::try_from(s).ok())
                        .and_then(|s| self.now().checked_add_signed(TimeDelta::seconds(s)));
                    self.persist(lane, || parked_position(&tok, heartbeat_at, true))
                        .await?;
                }
                Woke::Callback(None) => {
                    return Err(Failure::runtime("the task token was closed"));
                }
                Woke::Timeout => return Err(timed_out(self, lane, ErrorName::Timeout)),
                Woke::Heartbeat => return Err(timed_out(self, lane, ErrorName::HeartbeatTimeout)),
            }
        }
    }

    async fn parallel_attempt(
        &self,
        here: &Here<'_>,
        p: &ParallelState,
        lane: &mut Lane,
        retry_count: u32,
    ) -> Result<Value, Failure> {
        let effective = self.select(&here.state.input_path, here.input, here, "InputPath")?;
        let input = match &p.parameters {
            Some(t) => self.eval_template(
                t,
                &effective,
                here,
                &Extra {
                    retry_count,
                    ..Extra::default()
                },
            )?,
            None => effective.into_owned(),
        };
        let started = self.emit(lane, EventType::ParallelStateStarted, EventDetails::None);
        let mut running: FuturesUnordered<_> = p
            .branches
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let input = input.clone();
                async move {
                    let lane = Lane {
                        prev: started,
                        top: false,
                    };
                    (i, self.run_graph(g, g.start, input, lane, None).await)
                }
            })
            .collect();
        let mut results: Vec<Value> = vec![Value::Null; p.branches.len()];
        while let Some((i, r)) = running.next().await {
            match r {
                Ok(v) => {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = v;
                    }
                }
                Err(f) => {
                    drop(running);
                    self.emit(lane, EventType::ParallelStateFailed, EventDetails::None);
                    return Err(f);
                }
            }
        }
        self.emit(lane, EventType::ParallelStateSucceeded, EventDetails::None);
        Ok(Value::Array(results))
    }

    async fn map_attempt(
        &self,
        here: &Here<'_>,
        m: &MapState,
        lane: &mut Lane,
        retry_count: u32,
    ) -> Result<Value, Failure> {
        let effective = self.select(&here.state.input_path, here.input, here, "InputPath")?;
        // One context for ItemsPath / MaxConcurrencyPath; the items are
        // borrowed from the input (or the context) and copied once each.
        let (inputs, limit) = self.with_env(&effective, here, &Extra::default(), |env| {
            let items = match &m.items_path {
                Some(p) => lookup(p, env, "ItemsPath")?,
                None => &effective,
            };
            let Value::Array(items) = items else {
                return Err(Failure::runtime(format!(
                    "The ItemsPath of the Map state '{}' must point to a JSON array, found {}",
                    here.state.name,
                    crate::path::type_name(items)
                )));
            };
            let limit = match Run::resolve_seconds(&m.max_concurrency, env, "MaxConcurrencyPath")? {
                0 => usize::MAX,
                n => usize::try_from(n).unwrap_or(usize::MAX),
            };
            let mut inputs = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                inputs.push(match &m.item_selector {
                    Some(t) => self.eval_template(
                        t,
                        &effective,
                        here,
                        &Extra {
                            retry_count,
                            token: None,
                            map_item: Some((i, item)),
                        },
                    )?,
                    None => item.clone(),
                });
            }
            Ok((inputs, limit))
        })?;
        let started = self.emit(
            lane,
            EventType::MapStateStarted,
            EventDetails::MapStateStarted(MapStartedDetails {
                length: inputs.len() as u64,
            }),
        );
        let name = here.state.name.clone();
        let iteration = |i: usize, input: Value| {
            let name = name.clone();
            async move {
                let mut it_lane = Lane {
                    prev: started,
                    top: false,
                };
                let details = MapIterationDetails {
                    name: name.clone(),
                    index: i as u64,
                };
                self.emit(
                    &mut it_lane,
                    EventType::MapIterationStarted,
                    EventDetails::MapIterationStarted(details.clone()),
                );
                let r = self
                    .run_graph(&m.processor, m.processor.start, input, it_lane, None)
                    .await;
                let (ty, d) = match &r {
                    Ok(_) => (
                        EventType::MapIterationSucceeded,
                        EventDetails::MapIterationSucceeded(details),
                    ),
                    Err(_) => (
                        EventType::MapIterationFailed,
                        EventDetails::MapIterationFailed(details),
                    ),
                };
                self.emit(&mut it_lane, ty, d);
                (i, r)
            }
        };
        let mut results: Vec<Value> = vec![Value::Null; inputs.len()];
        let mut pending = inputs.into_iter().enumerate();
        let mut running = FuturesUnordered::new();
        for (i, input) in pending.by_ref().take(limit) {
            running.push(iteration(i, input));
        }
        while let Some((i, r)) = running.next().await {
            match r {
                Ok(v) => {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = v;
                    }
                    if let Some((j, input)) = pending.next() {
                        running.push(iteration(j, input));
                    }
                }
                Err(f) => {
                    drop(running);
                    self.emit(lane, EventType::MapStateFailed, EventDetails::None);
                    return Err(f);
                }
            }
        }
        self.emit(lane, EventType::MapStateSucceeded, EventDetails::None);
        Ok(Value::Array(results))
    }
}

/// The node a reference path points to, from the state input (`$…`) or the
/// context object (`$$…`); `field` names the field for the error message.
fn lookup<'e>(p: &ReferencePath, env: &'e Env<'_>, field: &str) -> Result<&'e Value, Failure> {
    env.get(p.path()).ok_or_else(|| {
        let doc = if p.is_context() {
            "context object"
        } else {
            "input"
        };
        Failure::runtime(format!(
            "Invalid path '{}': The {field} could not be found in the {doc}",
            p.as_str()
        ))
    })
}

/// The work of a state that has retriers and catchers.
#[derive(Clone, Copy)]
enum Work<'a> {
    Task(&'a TaskState),
    Parallel(&'a ParallelState),
    Map(&'a MapState),
}

impl<'a> Work<'a> {
    fn handling(self) -> &'a Handling {
        match self {
            Work::Task(t) => &t.handling,
            Work::Parallel(p) => &p.handling,
            Work::Map(m) => &m.handling,
        }
    }
}

struct ResumeAt {
    retry_counts: Vec<u32>,
    retry_count: u32,
    phase: Phase,
}

fn step(t: Transition, out: Value) -> Step {
    // (Caught is produced only by `catch`.)
    match t {
        Transition::Next(n) => Step::Next(n, out),
        Transition::End => Step::End(out),
    }
}

fn entered_event(k: &Kind) -> EventType {
    match k {
        Kind::Pass { .. } => EventType::PassStateEntered,
        Kind::Task(_) => EventType::TaskStateEntered,
        Kind::Choice { .. } => EventType::ChoiceStateEntered,
        Kind::Wait { .. } => EventType::WaitStateEntered,
        Kind::Succeed => EventType::SucceedStateEntered,
        Kind::Fail { .. } => EventType::FailStateEntered,
        Kind::Parallel(_) => EventType::ParallelStateEntered,
        Kind::Map(_) => EventType::MapStateEntered,
    }
}

fn exited_event(k: &Kind) -> Option<EventType> {
    Some(match k {
        Kind::Pass { .. } => EventType::PassStateExited,
        Kind::Task(_) => EventType::TaskStateExited,
        Kind::Choice { .. } => EventType::ChoiceStateExited,
        Kind::Wait { .. } => EventType::WaitStateExited,
        Kind::Succeed => EventType::SucceedStateExited,
        Kind::Fail { .. } => return None,
        Kind::Parallel(_) => EventType::ParallelStateExited,
        Kind::Map(_) => EventType::MapStateExited,
    })
}
