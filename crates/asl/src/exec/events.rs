//! The history events a state emits, and the observer calls that go with
//! them. Every event goes through [`Run::emit`], which numbers it and links
//! it to the previous event of its lane.

use std::time::Duration;

use serde_json::Value;

use super::{Here, Lane, Run, lock, text};
use crate::error::Failure;
use crate::history::{
    ErrorDetails, EventDetails, EventType, HistoryEvent, LambdaScheduledDetails, OutputDetails,
    PayloadDetails, StateEnteredDetails, StateExitedDetails, TaskErrorDetails, TaskOutputDetails,
    TaskScheduledDetails, TaskStartedDetails,
};
use crate::host::Resource;
use crate::model::{Kind, State, TaskState};
use crate::snapshot::{StateTransition, TransitionOutcome};
use crate::vars::Assigned;

impl Run {
    pub(super) fn emit(
        &self,
        lane: &mut Lane,
        event_type: EventType,
        details: EventDetails,
    ) -> u64 {
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

    pub(super) fn observe(&self, lane: &Lane, here: &Here<'_>, outcome: TransitionOutcome) {
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

    /// `…StateEntered`; returns its event id.
    pub(super) fn state_entered(&self, lane: &mut Lane, state: &State, input: &Value) -> u64 {
        self.emit(
            lane,
            entered_event(&state.kind),
            EventDetails::StateEntered(StateEnteredDetails {
                name: state.name.clone(),
                input: text(input),
                input_details: PayloadDetails::default(),
            }),
        )
    }

    /// `…StateExited` (a Fail state has none), with the variables the
    /// state assigned.
    pub(super) fn state_exited(
        &self,
        lane: &mut Lane,
        state: &State,
        output: &Value,
        assigned: Option<&Assigned>,
    ) {
        if let Some(ty) = exited_event(&state.kind) {
            self.emit(
                lane,
                ty,
                EventDetails::StateExited(StateExitedDetails {
                    name: state.name.clone(),
                    output: text(output),
                    output_details: PayloadDetails::default(),
                    assigned_variables: assigned.map(|a| a.texts().clone()),
                    assigned_variables_details: assigned.map(|_| PayloadDetails::default()),
                }),
            );
        }
    }

    /// `ExecutionFailed`, `ExecutionTimedOut` or `ExecutionAborted`.
    pub(super) fn execution_error(
        &self,
        lane: &mut Lane,
        event_type: EventType,
        error: Option<String>,
        cause: Option<String>,
    ) {
        let details = ErrorDetails { error, cause };
        let details = match event_type {
            EventType::ExecutionFailed => EventDetails::ExecutionFailed(details),
            EventType::ExecutionTimedOut => EventDetails::ExecutionTimedOut(details),
            _ => EventDetails::ExecutionAborted(details),
        };
        self.emit(lane, event_type, details);
    }
}

/// The events of one Task attempt: a `arn:aws:lambda:…:function:…`
/// resource writes `LambdaFunction…` events, every other resource `Task…`
/// events naming its resource type and resource.
pub(super) struct TaskEvents {
    is_fn: bool,
    resource_type: String,
    resource: String,
}

impl TaskEvents {
    pub(super) fn new(resource: &Resource) -> TaskEvents {
        let (resource_type, resource_name) = resource.history_names();
        TaskEvents {
            is_fn: matches!(resource, Resource::LambdaFunction { .. }),
            resource_type,
            resource: resource_name,
        }
    }

    /// `…Scheduled` then `…Started`.
    pub(super) fn scheduled(
        &self,
        run: &Run,
        lane: &mut Lane,
        t: &TaskState,
        parameters: &Value,
        timeout: Option<u64>,
        heartbeat: Option<u64>,
    ) {
        if self.is_fn {
            run.emit(
                lane,
                EventType::LambdaFunctionScheduled,
                EventDetails::LambdaFunctionScheduled(LambdaScheduledDetails {
                    resource: t.resource_arn.clone(),
                    input: text(parameters),
                    input_details: PayloadDetails::default(),
                    timeout_in_seconds: timeout,
                }),
            );
            run.emit(lane, EventType::LambdaFunctionStarted, EventDetails::None);
        } else {
            run.emit(
                lane,
                EventType::TaskScheduled,
                EventDetails::TaskScheduled(TaskScheduledDetails {
                    resource_type: self.resource_type.clone(),
                    resource: self.resource.clone(),
                    region: run.shared.config.region.clone(),
                    parameters: text(parameters),
                    timeout_in_seconds: timeout,
                    heartbeat_in_seconds: heartbeat,
                }),
            );
            run.emit(
                lane,
                EventType::TaskStarted,
                EventDetails::TaskStarted(TaskStartedDetails {
                    resource_type: self.resource_type.clone(),
                    resource: self.resource.clone(),
                }),
            );
        }
    }

    pub(super) fn succeeded(&self, run: &Run, lane: &mut Lane, out: &Value) {
        if self.is_fn {
            run.emit(
                lane,
                EventType::LambdaFunctionSucceeded,
                EventDetails::LambdaFunctionSucceeded(OutputDetails {
                    output: text(out),
                    output_details: PayloadDetails::default(),
                }),
            );
        } else {
            run.emit(
                lane,
                EventType::TaskSucceeded,
                EventDetails::TaskSucceeded(self.output(out)),
            );
        }
    }

    /// `TaskSubmitted`: the host call of a `.waitForTaskToken` task returned.
    pub(super) fn submitted(&self, run: &Run, lane: &mut Lane, out: &Value) {
        run.emit(
            lane,
            EventType::TaskSubmitted,
            EventDetails::TaskSubmitted(self.output(out)),
        );
    }

    fn output(&self, out: &Value) -> TaskOutputDetails {
        TaskOutputDetails {
            resource_type: self.resource_type.clone(),
            resource: self.resource.clone(),
            output: text(out),
            output_details: PayloadDetails::default(),
        }
    }

    /// `TaskFailed` / `LambdaFunctionFailed`.
    pub(super) fn failed(&self, run: &Run, lane: &mut Lane, f: &Failure) {
        self.error_event(run, lane, f, false);
    }

    /// `TaskTimedOut` / `LambdaFunctionTimedOut`.
    pub(super) fn timed_out(&self, run: &Run, lane: &mut Lane, f: &Failure) {
        self.error_event(run, lane, f, true);
    }

    fn error_event(&self, run: &Run, lane: &mut Lane, f: &Failure, timed_out: bool) {
        let (error, cause) = (Some(f.error.as_str().to_owned()), f.cause.clone());
        let (event_type, details) = match (self.is_fn, timed_out) {
            (true, false) => (
                EventType::LambdaFunctionFailed,
                EventDetails::LambdaFunctionFailed(ErrorDetails { error, cause }),
            ),
            (true, true) => (
                EventType::LambdaFunctionTimedOut,
                EventDetails::LambdaFunctionTimedOut(ErrorDetails { error, cause }),
            ),
            (false, false) => (
                EventType::TaskFailed,
                EventDetails::TaskFailed(self.error(error, cause)),
            ),
            (false, true) => (
                EventType::TaskTimedOut,
                EventDetails::TaskTimedOut(self.error(error, cause)),
            ),
        };
        run.emit(lane, event_type, details);
    }

    fn error(&self, error: Option<String>, cause: Option<String>) -> TaskErrorDetails {
        TaskErrorDetails {
            resource_type: self.resource_type.clone(),
            resource: self.resource.clone(),
            error,
            cause,
        }
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
