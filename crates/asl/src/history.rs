//! Execution history events, named and shaped like AWS's
//! `GetExecutionHistory` (input and output are JSON text, as in AWS).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! event_types {
    ($($v:ident),* $(,)?) => {
        /// The `type` of a history event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType { $(#[allow(missing_docs)] $v),* }

        impl EventType {
            /// The AWS name, e.g. `TaskStateEntered`.
            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$v => stringify!($v)),* }
            }
        }

        impl FromStr for EventType {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $(stringify!($v) => Ok(EventType::$v),)*
                    other => Err(format!("unknown history event type {other:?}")),
                }
            }
        }
    };
}

event_types!(
    ExecutionStarted,
    ExecutionSucceeded,
    ExecutionFailed,
    ExecutionTimedOut,
    ExecutionAborted,
    PassStateEntered,
    PassStateExited,
    TaskStateEntered,
    TaskStateExited,
    TaskStateAborted,
    TaskScheduled,
    TaskStarted,
    TaskSubmitted,
    TaskSucceeded,
    TaskFailed,
    TaskTimedOut,
    LambdaFunctionScheduled,
    LambdaFunctionStarted,
    LambdaFunctionSucceeded,
    LambdaFunctionFailed,
    LambdaFunctionTimedOut,
    ChoiceStateEntered,
    ChoiceStateExited,
    WaitStateEntered,
    WaitStateExited,
    WaitStateAborted,
    SucceedStateEntered,
    SucceedStateExited,
    FailStateEntered,
    ParallelStateEntered,
    ParallelStateStarted,
    ParallelStateSucceeded,
    ParallelStateFailed,
    ParallelStateAborted,
    ParallelStateExited,
    MapStateEntered,
    MapStateStarted,
    MapIterationStarted,
    MapIterationSucceeded,
    MapIterationFailed,
    MapIterationAborted,
    MapStateSucceeded,
    MapStateFailed,
    MapStateAborted,
    MapStateExited,
    EvaluationFailed,
    ExecutionRedriven,
);

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `inputDetails` / `outputDetails`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PayloadDetails {
    /// Always false: this engine does not truncate.
    pub truncated: bool,
}

/// `executionStartedEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionStartedDetails {
    /// Execution input (JSON text).
    pub input: String,
    /// Truncation flag.
    pub input_details: PayloadDetails,
    /// Role ARN (a local stand-in).
    pub role_arn: String,
}

/// `stateEnteredEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateEnteredDetails {
    /// State name.
    pub name: String,
    /// State input (JSON text).
    pub input: String,
    /// Truncation flag.
    pub input_details: PayloadDetails,
}

/// `stateExitedEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateExitedDetails {
    /// State name.
    pub name: String,
    /// State output (JSON text).
    pub output: String,
    /// Truncation flag.
    pub output_details: PayloadDetails,
    /// The variables the state's `Assign` set, each as JSON text (only
    /// for states with `Assign`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_variables: Option<BTreeMap<String, String>>,
    /// Truncation flag of `assignedVariables` (with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_variables_details: Option<PayloadDetails>,
}

/// Details holding an output (execution succeeded, Lambda succeeded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputDetails {
    /// Output (JSON text).
    pub output: String,
    /// Truncation flag.
    pub output_details: PayloadDetails,
}

/// Details holding an error and a cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetails {
    /// Error name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// `taskScheduledEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskScheduledDetails {
    /// e.g. `lambda`.
    pub resource_type: String,
    /// e.g. `invoke`.
    pub resource: String,
    /// Region.
    pub region: String,
    /// Resolved parameters (JSON text).
    pub parameters: String,
    /// `TimeoutSeconds` in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_seconds: Option<u64>,
    /// `HeartbeatSeconds` in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_in_seconds: Option<u64>,
}

/// `taskStartedEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStartedDetails {
    /// e.g. `lambda`.
    pub resource_type: String,
    /// e.g. `invoke`.
    pub resource: String,
}

/// `taskSubmittedEventDetails` / `taskSucceededEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskOutputDetails {
    /// e.g. `lambda`.
    pub resource_type: String,
    /// e.g. `invoke`.
    pub resource: String,
    /// Output (JSON text).
    pub output: String,
    /// Truncation flag.
    pub output_details: PayloadDetails,
}

/// `taskFailedEventDetails` / `taskTimedOutEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskErrorDetails {
    /// e.g. `lambda`.
    pub resource_type: String,
    /// e.g. `invoke`.
    pub resource: String,
    /// Error name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// `lambdaFunctionScheduledEventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LambdaScheduledDetails {
    /// Function ARN.
    pub resource: String,
    /// Input (JSON text).
    pub input: String,
    /// Truncation flag.
    pub input_details: PayloadDetails,
    /// `TimeoutSeconds` in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_seconds: Option<u64>,
}

/// `evaluationFailedEventDetails`: a JSONata expression failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationFailedDetails {
    /// Error name (`States.QueryEvaluationError`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The field of the state whose expression failed (`Output`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The state's name.
    pub state: String,
}

/// `executionRedrivenEventDetails`: the execution was redriven
/// (`RedriveExecution`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRedrivenDetails {
    /// How often the execution has been redriven, this redrive included.
    pub redrive_count: u32,
}

/// `mapStateStartedEventDetails`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapStartedDetails {
    /// Number of items.
    pub length: u64,
}

/// `mapIteration…EventDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapIterationDetails {
    /// The Map state's name.
    pub name: String,
    /// Item index.
    pub index: u64,
}

/// The typed payload of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDetails {
    /// No details.
    None,
    /// `executionStartedEventDetails`.
    ExecutionStarted(ExecutionStartedDetails),
    /// `executionSucceededEventDetails`.
    ExecutionSucceeded(OutputDetails),
    /// `executionFailedEventDetails`.
    ExecutionFailed(ErrorDetails),
    /// `executionTimedOutEventDetails`.
    ExecutionTimedOut(ErrorDetails),
    /// `executionAbortedEventDetails`.
    ExecutionAborted(ErrorDetails),
    /// `stateEnteredEventDetails`.
    StateEntered(StateEnteredDetails),
    /// `stateExitedEventDetails`.
    StateExited(StateExitedDetails),
    /// `taskScheduledEventDetails`.
    TaskScheduled(TaskScheduledDetails),
    /// `taskStartedEventDetails`.
    TaskStarted(TaskStartedDetails),
    /// `taskSubmittedEventDetails`.
    TaskSubmitted(TaskOutputDetails),
    /// `taskSucceededEventDetails`.
    TaskSucceeded(TaskOutputDetails),
    /// `taskFailedEventDetails`.
    TaskFailed(TaskErrorDetails),
    /// `taskTimedOutEventDetails`.
    TaskTimedOut(TaskErrorDetails),
    /// `lambdaFunctionScheduledEventDetails`.
    LambdaFunctionScheduled(LambdaScheduledDetails),
    /// `lambdaFunctionSucceededEventDetails`.
    LambdaFunctionSucceeded(OutputDetails),
    /// `lambdaFunctionFailedEventDetails`.
    LambdaFunctionFailed(ErrorDetails),
    /// `lambdaFunctionTimedOutEventDetails`.
    LambdaFunctionTimedOut(ErrorDetails),
    /// `mapStateStartedEventDetails`.
    MapStateStarted(MapStartedDetails),
    /// `mapIterationStartedEventDetails`.
    MapIterationStarted(MapIterationDetails),
    /// `mapIterationSucceededEventDetails`.
    MapIterationSucceeded(MapIterationDetails),
    /// `mapIterationFailedEventDetails`.
    MapIterationFailed(MapIterationDetails),
    /// `mapIterationAbortedEventDetails`.
    MapIterationAborted(MapIterationDetails),
    /// `evaluationFailedEventDetails`.
    EvaluationFailed(EvaluationFailedDetails),
    /// `executionRedrivenEventDetails`.
    ExecutionRedriven(ExecutionRedrivenDetails),
}

/// One history event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEvent {
    /// When it happened (clock time).
    pub timestamp: DateTime<Utc>,
    /// Event type.
    pub event_type: EventType,
    /// 1-based id, increasing.
    pub id: u64,
    /// The previous event in the same thread of execution (0 for the first).
    pub previous_event_id: u64,
    /// Typed payload.
    pub details: EventDetails,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    timestamp: DateTime<Utc>,
    #[serde(rename = "type")]
    event_type: EventType,
    id: u64,
    previous_event_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    execution_started_event_details: Option<ExecutionStartedDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    execution_succeeded_event_details: Option<OutputDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    execution_failed_event_details: Option<ErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    execution_timed_out_event_details: Option<ErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    execution_aborted_event_details: Option<ErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state_entered_event_details: Option<StateEnteredDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state_exited_event_details: Option<StateExitedDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    task_scheduled_event_details: Option<TaskScheduledDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    task_started_event_details: Option<TaskStartedDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    task_submitted_event_details: Option<TaskOutputDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    task_succeeded_event_details: Option<TaskOutputDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    task_failed_event_details: Option<TaskErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    task_timed_out_event_details: Option<TaskErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lambda_function_scheduled_event_details: Option<LambdaScheduledDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lambda_function_succeeded_event_details: Option<OutputDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lambda_function_failed_event_details: Option<ErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lambda_function_timed_out_event_details: Option<ErrorDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    map_state_started_event_details: Option<MapStartedDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    map_iteration_started_event_details: Option<MapIterationDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    map_iteration_succeeded_event_details: Option<MapIterationDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    map_iteration_failed_event_details: Option<MapIterationDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    map_iteration_aborted_event_details: Option<MapIterationDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    evaluation_failed_event_details: Option<EvaluationFailedDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    execution_redriven_event_details: Option<ExecutionRedrivenDetails>,
}

impl Wire {
    fn empty(e: &HistoryEvent) -> Wire {
        Wire {
            timestamp: e.timestamp,
            event_type: e.event_type,
            id: e.id,
            previous_event_id: e.previous_event_id,
            execution_started_event_details: None,
            execution_succeeded_event_details: None,
            execution_failed_event_details: None,
            execution_timed_out_event_details: None,
            execution_aborted_event_details: None,
            state_entered_event_details: None,
            state_exited_event_details: None,
            task_scheduled_event_details: None,
            task_started_event_details: None,
            task_submitted_event_details: None,
            task_succeeded_event_details: None,
            task_failed_event_details: None,
            task_timed_out_event_details: None,
            lambda_function_scheduled_event_details: None,
            lambda_function_succeeded_event_details: None,
            lambda_function_failed_event_details: None,
            lambda_function_timed_out_event_details: None,
            map_state_started_event_details: None,
            map_iteration_started_event_details: None,
            map_iteration_succeeded_event_details: None,
            map_iteration_failed_event_details: None,
            map_iteration_aborted_event_details: None,
            evaluation_failed_event_details: None,
            execution_redriven_event_details: None,
        }
    }
}

impl Serialize for HistoryEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut w = Wire::empty(self);
        match self.details.clone() {
            EventDetails::None => {}
            EventDetails::ExecutionStarted(d) => w.execution_started_event_details = Some(d),
            EventDetails::ExecutionSucceeded(d) => w.execution_succeeded_event_details = Some(d),
            EventDetails::ExecutionFailed(d) => w.execution_failed_event_details = Some(d),
            EventDetails::ExecutionTimedOut(d) => w.execution_timed_out_event_details = Some(d),
            EventDetails::ExecutionAborted(d) => w.execution_aborted_event_details = Some(d),
            EventDetails::StateEntered(d) => w.state_entered_event_details = Some(d),
            EventDetails::StateExited(d) => w.state_exited_event_details = Some(d),
            EventDetails::TaskScheduled(d) => w.task_scheduled_event_details = Some(d),
            EventDetails::TaskStarted(d) => w.task_started_event_details = Some(d),
            EventDetails::TaskSubmitted(d) => w.task_submitted_event_details = Some(d),
            EventDetails::TaskSucceeded(d) => w.task_succeeded_event_details = Some(d),
            EventDetails::TaskFailed(d) => w.task_failed_event_details = Some(d),
            EventDetails::TaskTimedOut(d) => w.task_timed_out_event_details = Some(d),
            EventDetails::LambdaFunctionScheduled(d) => {
                w.lambda_function_scheduled_event_details = Some(d);
            }
            EventDetails::LambdaFunctionSucceeded(d) => {
                w.lambda_function_succeeded_event_details = Some(d);
            }
            EventDetails::LambdaFunctionFailed(d) => {
                w.lambda_function_failed_event_details = Some(d)
            }
            EventDetails::LambdaFunctionTimedOut(d) => {
                w.lambda_function_timed_out_event_details = Some(d);
            }
            EventDetails::MapStateStarted(d) => w.map_state_started_event_details = Some(d),
            EventDetails::MapIterationStarted(d) => w.map_iteration_started_event_details = Some(d),
            EventDetails::MapIterationSucceeded(d) => {
                w.map_iteration_succeeded_event_details = Some(d);
            }
            EventDetails::MapIterationFailed(d) => w.map_iteration_failed_event_details = Some(d),
            EventDetails::MapIterationAborted(d) => w.map_iteration_aborted_event_details = Some(d),
            EventDetails::EvaluationFailed(d) => w.evaluation_failed_event_details = Some(d),
            EventDetails::ExecutionRedriven(d) => w.execution_redriven_event_details = Some(d),
        }
        w.serialize(s)
    }
}

impl<'de> Deserialize<'de> for HistoryEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        let details = if let Some(x) = w.execution_started_event_details {
            EventDetails::ExecutionStarted(x)
        } else if let Some(x) = w.execution_succeeded_event_details {
            EventDetails::ExecutionSucceeded(x)
        } else if let Some(x) = w.execution_failed_event_details {
            EventDetails::ExecutionFailed(x)
        } else if let Some(x) = w.execution_timed_out_event_details {
            EventDetails::ExecutionTimedOut(x)
        } else if let Some(x) = w.execution_aborted_event_details {
            EventDetails::ExecutionAborted(x)
        } else if let Some(x) = w.state_entered_event_details {
            EventDetails::StateEntered(x)
        } else if let Some(x) = w.state_exited_event_details {
            EventDetails::StateExited(x)
        } else if let Some(x) = w.task_scheduled_event_details {
            EventDetails::TaskScheduled(x)
        } else if let Some(x) = w.task_started_event_details {
            EventDetails::TaskStarted(x)
        } else if let Some(x) = w.task_submitted_event_details {
            EventDetails::TaskSubmitted(x)
        } else if let Some(x) = w.task_succeeded_event_details {
            EventDetails::TaskSucceeded(x)
        } else if let Some(x) = w.task_failed_event_details {
            EventDetails::TaskFailed(x)
        } else if let Some(x) = w.task_timed_out_event_details {
            EventDetails::TaskTimedOut(x)
        } else if let Some(x) = w.lambda_function_scheduled_event_details {
            EventDetails::LambdaFunctionScheduled(x)
        } else if let Some(x) = w.lambda_function_succeeded_event_details {
            EventDetails::LambdaFunctionSucceeded(x)
        } else if let Some(x) = w.lambda_function_failed_event_details {
            EventDetails::LambdaFunctionFailed(x)
        } else if let Some(x) = w.lambda_function_timed_out_event_details {
            EventDetails::LambdaFunctionTimedOut(x)
        } else if let Some(x) = w.map_state_started_event_details {
            EventDetails::MapStateStarted(x)
        } else if let Some(x) = w.map_iteration_started_event_details {
            EventDetails::MapIterationStarted(x)
        } else if let Some(x) = w.map_iteration_succeeded_event_details {
            EventDetails::MapIterationSucceeded(x)
        } else if let Some(x) = w.map_iteration_failed_event_details {
            EventDetails::MapIterationFailed(x)
        } else if let Some(x) = w.map_iteration_aborted_event_details {
            EventDetails::MapIterationAborted(x)
        } else if let Some(x) = w.evaluation_failed_event_details {
            EventDetails::EvaluationFailed(x)
        } else if let Some(x) = w.execution_redriven_event_details {
            EventDetails::ExecutionRedriven(x)
        } else {
            EventDetails::None
        };
        Ok(HistoryEvent {
            timestamp: w.timestamp,
            event_type: w.event_type,
            id: w.id,
            previous_event_id: w.previous_event_id,
            details,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_with_aws_field_names() {
        let e = HistoryEvent {
            timestamp: DateTime::<Utc>::UNIX_EPOCH,
            event_type: EventType::TaskStateEntered,
            id: 2,
            previous_event_id: 1,
            details: EventDetails::StateEntered(StateEnteredDetails {
                name: "Pay".into(),
                input: "{}".into(),
                input_details: PayloadDetails::default(),
            }),
        };
        let v = serde_json::to_value(&e).unwrap_or_default();
        assert_eq!(v["type"], "TaskStateEntered");
        assert_eq!(v["previousEventId"], 1);
        assert_eq!(v["stateEnteredEventDetails"]["name"], "Pay");
        let back: Option<HistoryEvent> = serde_json::from_value(v).ok();
        assert_eq!(back, Some(e));
    }
}
