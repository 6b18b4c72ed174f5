//! Running states. The run loop is here: [`Run::execute`] runs the top
//! graph under the machine's timeout and stop signal, [`Run::run_graph`]
//! enters, runs and leaves one state after another. Each concern has its own
//! module:
//!
//! - `data`: the context object and the `…Path` / template data flow;
//! - `events`: the history events a state emits, and the observer;
//! - `states`: Pass, Choice, Wait, Succeed and Fail;
//! - `flow`: `Retry` and `Catch` around Task, Parallel and Map;
//! - `task`: one Task attempt (invoke, timeouts, task-token parking);
//! - `branches`: Parallel branches and Map iterations;
//! - `test_state`: one state run once with its stages reported (TestState).

mod branches;
mod data;
mod events;
mod flow;
mod jsonata;
mod states;
mod task;
pub(crate) mod test_state;

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use crate::engine::{Shared, StopSignal};
use crate::error::Failure;
use crate::history::{
    EventDetails, EventType, ExecutionStartedDetails, HistoryEvent, OutputDetails, PayloadDetails,
};
use crate::model::{Graph, Kind, State, StateMachine};
use crate::snapshot::{
    Checkpoint, ExecutionInfo, ExecutionOutcome, ExecutionSnapshot, ExecutionStatus, Persistence,
    Phase, Position, TransitionOutcome,
};
use crate::vars::{Assigned, Vars};
use flow::{ResumeAt, Work};

/// Check what the state assigned against the scope rules and limits; a
/// violation fails the state instead.
fn settle_assign(
    here: &Here<'_>,
    step: Result<Step, Failure>,
) -> (Result<Step, Failure>, Option<Assigned>) {
    let values = lock(&here.assigned).take();
    match (step, values) {
        (Ok(step), Some(values)) => match here.vars.check(values) {
            Ok(a) => (Ok(step), Some(a)),
            Err(f) => (Err(f), None),
        },
        (step, _) => (step, None),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn text(v: &Value) -> String {
    // `to_string` of a `Value` cannot fail (its keys are strings); it writes
    // straight into a buffer, where `Display` goes through the formatter and
    // checks every piece for UTF-8 again.
    serde_json::to_string(v).unwrap_or_default()
}

struct Log {
    events: Vec<HistoryEvent>,
    next_id: u64,
    /// How many of `events` a successful save holds (the rest go into the
    /// next checkpoint).
    saved: usize,
    /// The events of a save handed to the host and not answered yet. A
    /// stop or timeout drops the execution mid-save: the host may have
    /// stored them (see the final save in [`Run::execute`]).
    in_flight: usize,
}

/// A checkpoint being saved, whose position becomes the execution's last
/// one (`Run::last_position`) once the save is over, or cut off: moved
/// there, not copied (a position holds the state's input and every
/// variable).
struct LastPosition<'a> {
    slot: &'a Mutex<Option<Position>>,
    checkpoint: Checkpoint,
}

impl Drop for LastPosition<'_> {
    fn drop(&mut self) {
        *lock(self.slot) = self.checkpoint.head.position.take();
    }
}

/// One execution in progress.
pub(crate) struct Run {
    shared: Arc<Shared>,
    machine: StateMachine,
    info: ExecutionInfo,
    log: Mutex<Log>,
    persistence: Option<Arc<dyn Persistence>>,
    resume: Mutex<Option<ExecutionSnapshot>>,
    /// The top-level position of the last save: where the execution
    /// stands if it ends now (a redrive continues there).
    last_position: Mutex<Option<Position>>,
    /// When the execution was last redriven (its timeout counts from there).
    redriven_at: Option<DateTime<Utc>>,
    /// Also what a parked token checks: a stop wins over later callbacks.
    stop: Arc<StopSignal>,
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
    /// The variables as they were when the state was entered: every
    /// expression of the state reads these.
    vars: &'a Vars,
    /// What the state's `Assign` fields computed, applied when it exits.
    assigned: Mutex<Option<Map<String, Value>>>,
    /// The field whose JSONata evaluation failed, until its
    /// `EvaluationFailed` event is written.
    eval_failed: Mutex<Option<String>>,
}

impl<'a> Here<'a> {
    fn new(state: &'a State, input: &'a Value, vars: &'a Vars) -> Here<'a> {
        Here {
            state,
            input,
            entered: DateTime::<Utc>::UNIX_EPOCH,
            entered_id: 0,
            vars,
            assigned: Mutex::new(None),
            eval_failed: Mutex::new(None),
        }
    }

    /// The snapshot position of this state in `phase`.
    fn position(&self, retry_counts: &[u32], retry_count: u32, phase: Phase) -> Position {
        Position {
            state_name: self.state.name.clone(),
            input: self.input.clone(),
            entered_time: self.entered,
            entered_event_id: self.entered_id,
            retry_counts: retry_counts.to_vec(),
            retry_count,
            phase,
            variables: self.vars.local(),
        }
    }

    /// Record values an `Assign` computed (a Choice rule's after the
    /// state's own, so the rule wins for a name both set).
    fn assign(&self, values: Map<String, Value>) {
        let mut slot = lock(&self.assigned);
        match slot.as_mut() {
            Some(m) => m.extend(values),
            None => *slot = Some(values),
        }
    }
}

/// How an execution's top graph ended.
enum End {
    Done(Result<Value, Failure>),
    TimedOut,
    Stopped,
}

/// The status, output, error and cause an execution ends with.
type Closing = (
    ExecutionStatus,
    Option<Value>,
    Option<String>,
    Option<String>,
);

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

impl Extra<'_> {
    /// Only `$$.State.RetryCount` differs from the default.
    fn retry(retry_count: u32) -> Self {
        Extra {
            retry_count,
            ..Extra::default()
        }
    }
}

impl Run {
    pub(crate) fn new(
        shared: Arc<Shared>,
        machine: StateMachine,
        info: ExecutionInfo,
        persistence: Option<Arc<dyn Persistence>>,
        resume: Option<ExecutionSnapshot>,
        stop: Arc<StopSignal>,
    ) -> Run {
        let (events, next_id) = match &resume {
            Some(s) => (s.history.clone(), s.next_event_id.max(1)),
            None => (Vec::new(), 1),
        };
        // A resumed history is the host's already.
        let saved = events.len();
        let redriven_at = resume.as_ref().and_then(|s| s.redriven_at);
        Run {
            shared,
            machine,
            info,
            log: Mutex::new(Log {
                events,
                next_id,
                saved,
                in_flight: 0,
            }),
            persistence,
            resume: Mutex::new(resume),
            last_position: Mutex::new(None),
            redriven_at,
            stop,
        }
    }

    pub(crate) fn info(&self) -> &ExecutionInfo {
        &self.info
    }

    fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    /// The events not saved yet and the head after them (a running one).
    fn checkpoint(&self, position: Option<Position>) -> Checkpoint {
        let log = lock(&self.log);
        Checkpoint {
            head: ExecutionSnapshot {
                version: 1,
                execution: self.info.clone(),
                status: ExecutionStatus::Running,
                position,
                history: Vec::new(),
                next_event_id: log.next_id,
                output: None,
                error: None,
                cause: None,
                stop_time: None,
                stopped_at: None,
                redriven_at: self.redriven_at,
            },
            events: log.events[log.saved..].to_vec(),
        }
    }

    /// Hand `checkpoint` to the host; once it is stored, its events are
    /// not sent again.
    async fn save(&self, p: &dyn Persistence, checkpoint: &Checkpoint) -> Result<(), Failure> {
        lock(&self.log).in_flight = checkpoint.events.len();
        let saved = p.save(checkpoint).await;
        let mut log = lock(&self.log);
        log.in_flight = 0;
        saved.map_err(|e| Failure::runtime(e.to_string()))?;
        // Only the top lane saves, one save at a time: the events of this
        // checkpoint are the next unsaved ones.
        log.saved = (log.saved + checkpoint.events.len()).min(log.events.len());
        Ok(())
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
        let saving = LastPosition {
            slot: &self.last_position,
            checkpoint: self.checkpoint(Some(position())),
        };
        self.save(p.as_ref(), &saving.checkpoint).await
    }

    /// Where the top lane stands now, kept without a save: the next save
    /// (or the end) carries its events. An execution that ends here still
    /// ends at this position (a redrive continues from it).
    fn remember(&self, lane: &Lane, position: impl FnOnce() -> Position) {
        if self.persistence.is_some() && lane.top {
            *lock(&self.last_position) = Some(position());
        }
    }

    /// Run the whole execution to its end.
    pub(crate) async fn execute(self: Arc<Self>) -> ExecutionOutcome {
        let stop = &self.stop;
        let mut lane = Lane { prev: 0, top: true };
        let (start_idx, input, position) = self.begin(&mut lane);
        let vars = position
            .as_ref()
            .map(|p| Vars::from_local(p.variables.clone()))
            .unwrap_or_default();
        let deadline = self
            .machine
            .timeout_seconds()
            .and_then(|s| i64::try_from(s).ok())
            .and_then(|s| {
                self.redriven_at
                    .unwrap_or(self.info.start_time)
                    .checked_add_signed(TimeDelta::seconds(s))
            });
        let timeout = async {
            match deadline {
                Some(d) => self.shared.clock.sleep_until(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        let root = &self.machine.inner.root;
        let body = self.run_graph(root, start_idx, input, lane, position, vars);
        let end = tokio::select! {
            biased;
            _ = stop.notify.notified() => End::Stopped,
            _ = timeout => End::TimedOut,
            r = body => End::Done(r),
        };
        let (status, output, error, cause) = self.close(end, stop);
        let stop_time = self.now();
        if let Some(p) = &self.persistence {
            let mut last = self.checkpoint(None);
            last.head.status = status;
            last.head.output = output.clone();
            last.head.error = error.clone();
            last.head.cause = cause.clone();
            last.head.stop_time = Some(stop_time);
            if status != ExecutionStatus::Succeeded {
                last.head.stopped_at = lock(&self.last_position).take();
            }
            // A save cut off by the stop or the timeout may have been
            // stored: then its events must not come again.
            let cut_off = lock(&self.log).in_flight;
            // The outcome is returned either way; a failed final save leaves
            // the last RUNNING snapshot, which resumes into the same end.
            if self.save(p.as_ref(), &last).await.is_err() && cut_off > 0 {
                last.events.drain(..cut_off.min(last.events.len()));
                let _ = self.save(p.as_ref(), &last).await;
            }
        }
        let history = std::mem::take(&mut lock(&self.log).events);
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

    /// Where the top graph starts: at its `StartAt` after
    /// `ExecutionStarted`, or where a resumed snapshot left off.
    fn begin(&self, lane: &mut Lane) -> (usize, Value, Option<Position>) {
        let root = &self.machine.inner.root;
        let Some(snap) = lock(&self.resume).take() else {
            self.emit(
                lane,
                EventType::ExecutionStarted,
                EventDetails::ExecutionStarted(ExecutionStartedDetails {
                    input: text(&self.info.input),
                    input_details: PayloadDetails::default(),
                    role_arn: self.info.role_arn.clone(),
                }),
            );
            return (root.start, self.info.input.clone(), None);
        };
        lane.prev = snap.history.last().map_or(0, |e| e.id);
        match snap.position {
            Some(p) => {
                *lock(&self.last_position) = Some(p.clone());
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

    /// The event that ends the execution, and what it ends with.
    fn close(&self, end: End, stop: &StopSignal) -> Closing {
        let mut lane = Lane {
            prev: lock(&self.log).events.last().map_or(0, |e| e.id),
            top: true,
        };
        let (status, event_type, error, cause) = match end {
            End::Done(Ok(out)) => {
                self.emit(
                    &mut lane,
                    EventType::ExecutionSucceeded,
                    EventDetails::ExecutionSucceeded(OutputDetails {
                        output: text(&out),
                        output_details: PayloadDetails::default(),
                    }),
                );
                return (ExecutionStatus::Succeeded, Some(out), None, None);
            }
            End::Done(Err(f)) => {
                let error = Some(f.error.as_str().to_owned()).filter(|e| !e.is_empty());
                let status = ExecutionStatus::Failed;
                (status, EventType::ExecutionFailed, error, f.cause)
            }
            End::TimedOut => {
                let cause = format!(
                    "The execution exceeded its TimeoutSeconds of {}",
                    self.machine.timeout_seconds().unwrap_or_default()
                );
                let error = Some("States.Timeout".to_owned());
                let status = ExecutionStatus::TimedOut;
                (status, EventType::ExecutionTimedOut, error, Some(cause))
            }
            End::Stopped => {
                let (error, cause) = stop.reason();
                (
                    ExecutionStatus::Aborted,
                    EventType::ExecutionAborted,
                    error,
                    cause,
                )
            }
        };
        self.execution_error(&mut lane, event_type, error.clone(), cause.clone());
        (status, None, error, cause)
    }

    fn run_graph<'a>(
        &'a self,
        graph: &'a Graph,
        start: usize,
        input: Value,
        lane: Lane,
        resume: Option<Position>,
        vars: Vars,
    ) -> BoxFuture<'a, Result<Value, Failure>> {
        Box::pin(async move {
            let mut lane = lane;
            let mut idx = start;
            let mut input = input;
            let mut resume = resume;
            let mut vars = vars;
            loop {
                let Some(state) = graph.state(idx) else {
                    return Err(Failure::runtime(format!("no state at index {idx}")));
                };
                let mut here = Here::new(state, &input, &vars);
                let resumed = match resume.take() {
                    Some(p) => {
                        here.entered = p.entered_time;
                        here.entered_id = p.entered_event_id;
                        ResumeAt {
                            retry_counts: p.retry_counts,
                            retry_count: p.retry_count,
                            phase: p.phase,
                        }
                    }
                    None => {
                        (here.entered, here.entered_id) = self.enter(&here, &mut lane).await?;
                        ResumeAt::fresh()
                    }
                };
                let step = self.run_state(&here, &mut lane, resumed).await;
                if let Err(f) = &step {
                    self.evaluation_failed(&here, &mut lane, f);
                }
                let (step, assigned) = settle_assign(&here, step);
                let left = self.leave(graph, &here, &mut lane, step, assigned.as_ref())?;
                drop(here);
                if let Some(a) = assigned {
                    vars.apply(a);
                }
                match left {
                    (Some(n), out) => {
                        idx = n;
                        input = out;
                    }
                    (None, out) => return Ok(out),
                }
            }
        })
    }

    /// `…StateEntered`, then a snapshot in the `Entered` phase; the time
    /// and event id of the entry.
    async fn enter(
        &self,
        here: &Here<'_>,
        lane: &mut Lane,
    ) -> Result<(DateTime<Utc>, u64), Failure> {
        let entered = self.now();
        let entered_id = self.state_entered(lane, here.state, here.input);
        let position = || {
            let mut p = here.position(&[], 0, Phase::Entered);
            p.entered_time = entered;
            p.entered_event_id = entered_id;
            p
        };
        // A state that only computes has nothing to protect: a restart
        // before the next save runs it again from the last one, with the
        // same input and variables, to the same result.
        if here.state.kind.only_computes() {
            self.remember(lane, position);
        } else {
            self.persist(lane, position).await?;
        }
        Ok((entered, entered_id))
    }

    /// The work of one state, by its type.
    async fn run_state(
        &self,
        here: &Here<'_>,
        lane: &mut Lane,
        resumed: ResumeAt,
    ) -> Result<Step, Failure> {
        match &here.state.kind {
            Kind::Pass { .. } => self.pass(here, None),
            Kind::Choice {
                choices,
                default,
                assign,
            } => self.choice(here, choices, *default, assign.as_ref()),
            Kind::Wait {
                wait,
                assign,
                transition,
            } => self.wait(here, wait, assign.as_ref(), *transition).await,
            Kind::Succeed => self.succeed(here),
            Kind::Fail { error, cause } => Err(self.fail(here, error, cause)),
            Kind::Task(t) => self.with_retries(here, Work::Task(t), lane, resumed).await,
            Kind::Parallel(p) => {
                self.with_retries(here, Work::Parallel(p), lane, resumed)
                    .await
            }
            Kind::Map(m) => self.with_retries(here, Work::Map(m), lane, resumed).await,
        }
    }

    /// Report how a state ended (`…StateExited`, also after a failure a
    /// catcher took, as AWS writes it: the catcher's output and
    /// `assignedVariables`, between the failure event and the next state's
    /// `…StateEntered`) and say where to go: the next state and its input,
    /// or the graph's output (`None`).
    fn leave(
        &self,
        graph: &Graph,
        here: &Here<'_>,
        lane: &mut Lane,
        step: Result<Step, Failure>,
        assigned: Option<&Assigned>,
    ) -> Result<(Option<usize>, Value), Failure> {
        let (next, out) = match step {
            Ok(Step::Next(n, out)) => (Some(n), out),
            Ok(Step::End(out)) => (None, out),
            Ok(Step::Caught(n, out, error)) => {
                self.state_exited(lane, here.state, &out, assigned);
                let next = graph.name_of(n);
                self.observe(lane, here, TransitionOutcome::Caught { error, next });
                return Ok((Some(n), out));
            }
            Err(f) => {
                let outcome = TransitionOutcome::Failed {
                    error: f.error.as_str().to_owned(),
                    cause: f.cause.clone(),
                };
                self.observe(lane, here, outcome);
                return Err(f);
            }
        };
        self.state_exited(lane, here.state, &out, assigned);
        let next_name = next.map(|n| graph.name_of(n));
        self.observe(lane, here, TransitionOutcome::Succeeded { next: next_name });
        Ok((next, out))
    }
}
