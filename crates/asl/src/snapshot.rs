//! What a host persists (snapshots) and observes (events, transitions).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::history::HistoryEvent;

/// Identity and input of an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionInfo {
    /// Execution ARN.
    pub id: String,
    /// Execution name.
    pub name: String,
    /// Execution input.
    pub input: Value,
    /// Start time.
    pub start_time: DateTime<Utc>,
    /// State machine name.
    pub state_machine_name: String,
    /// State machine ARN.
    pub state_machine_id: String,
    /// Role ARN reported in `$$.Execution.RoleArn`.
    pub role_arn: String,
}

/// Execution status, as AWS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// Still running (only seen in snapshots).
    Running,
    /// Ended in a Succeed state or an `End` state.
    Succeeded,
    /// Ended in a Fail state or an unhandled error.
    Failed,
    /// The execution-level `TimeoutSeconds` elapsed.
    TimedOut,
    /// Stopped by the host.
    Aborted,
}

impl ExecutionStatus {
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a top-level state stands when a snapshot is taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Phase {
    /// The state was entered; its work (if any) has not been confirmed.
    /// Resuming runs the state again from its input.
    Entered,
    /// Waiting between two attempts; resuming waits until `resume_at`.
    #[serde(rename_all = "camelCase")]
    RetryWait {
        /// When the next attempt starts.
        resume_at: DateTime<Utc>,
    },
    /// A `.waitForTaskToken` task holds a token. Resuming re-parks with the
    /// same token and the same deadlines (calling the host again first if
    /// `invoked` is false: the call may have been cut off).
    #[serde(rename_all = "camelCase")]
    Parked {
        /// The task token.
        token: String,
        /// Absolute `TimeoutSeconds` deadline.
        timeout_at: Option<DateTime<Utc>>,
        /// Absolute `HeartbeatSeconds` deadline (moved by heartbeats).
        heartbeat_at: Option<DateTime<Utc>>,
        /// `HeartbeatSeconds` in force.
        heartbeat_seconds: Option<u64>,
        /// Whether the host call returned (the task was submitted).
        invoked: bool,
    },
}

/// The current top-level state of a running execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    /// State name.
    pub state_name: String,
    /// The state's raw input.
    pub input: Value,
    /// When the state was entered.
    pub entered_time: DateTime<Utc>,
    /// Id of the `…StateEntered` event.
    pub entered_event_id: u64,
    /// Attempts used per retrier (same order as `Retry`).
    pub retry_counts: Vec<u32>,
    /// Retries so far (`$$.State.RetryCount`).
    pub retry_count: u32,
    /// Progress inside the state.
    pub phase: Phase,
    /// The workflow variables of the top-level scope when the state was
    /// entered (absent in snapshots written before variables existed).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub variables: Map<String, Value>,
}

/// Everything needed to resume an execution; independent of the definition
/// except for state names. Serialize it with serde (JSON is fine).
///
/// Parallel and Map states are resumed by running the whole state again
/// from its input.
///
/// Without its history (`history` empty) it is the *head* of a
/// [`Checkpoint`]: the small part a host overwrites in place, while the
/// events are appended. A host that stores the two apart puts them back
/// together ([`ExecutionSnapshot::with_history`]) to resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionSnapshot {
    /// Format version (currently 1).
    pub version: u32,
    /// Execution identity and input.
    pub execution: ExecutionInfo,
    /// `RUNNING` until the execution ends.
    pub status: ExecutionStatus,
    /// Current state while running.
    pub position: Option<Position>,
    /// History so far (empty in a [`Checkpoint`]'s head; absent in JSON
    /// means empty).
    #[serde(default)]
    pub history: Vec<HistoryEvent>,
    /// Id of the next history event.
    pub next_event_id: u64,
    /// Output, once succeeded.
    pub output: Option<Value>,
    /// Error, once failed / timed out / aborted.
    pub error: Option<String>,
    /// Cause, once failed / timed out / aborted.
    pub cause: Option<String>,
    /// When it ended.
    pub stop_time: Option<DateTime<Utc>>,
    /// Once it ended other than `SUCCEEDED`: the top-level state it was in
    /// (entered, not exited), as it was entered — its input and the
    /// variables at its entry. Where a redrive continues
    /// ([`ExecutionSnapshot::redriven`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<Position>,
    /// When it was last redriven: the execution-level `TimeoutSeconds`
    /// counts from here (AWS resets it on a redrive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redriven_at: Option<DateTime<Utc>>,
}

impl ExecutionSnapshot {
    /// This head with `history` as its history (what a host that stores
    /// the two apart resumes from).
    #[must_use]
    pub fn with_history(mut self, history: Vec<HistoryEvent>) -> Self {
        self.history = history;
        self
    }
}

/// What one save hands the host: the history events appended since the
/// previous successful save of this run (or since the snapshot it resumed
/// from), and the execution as it stands after them, without its history.
///
/// The cost of a save is the size of what changed, not of the whole
/// history: store the events append-only and overwrite the head.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The execution without its history (`head.history` is empty):
    /// status, position (with its phase), the next event id and, once it
    /// ended, output or error.
    pub head: ExecutionSnapshot,
    /// The new events, oldest first. Their ids are contiguous and end at
    /// `head.next_event_id - 1`; none was in an earlier successful save. A
    /// failed save's events come again in the next one.
    pub events: Vec<HistoryEvent>,
}

impl Checkpoint {
    /// The whole snapshot after this save: `previous` (the whole snapshot
    /// after the save before, `None` for the first) with this checkpoint's
    /// events appended and its head taken over. For hosts that keep one
    /// value per execution.
    #[must_use]
    pub fn applied_to(&self, previous: Option<ExecutionSnapshot>) -> ExecutionSnapshot {
        let mut history = previous.map(|p| p.history).unwrap_or_default();
        history.extend(self.events.iter().cloned());
        self.head.clone().with_history(history)
    }
}

/// The persistence hook failed; the execution fails with `States.Runtime`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("persisting the execution failed: {0}")]
pub struct PersistenceError(pub String);

/// A host-provided store for executions. `save` is awaited at every
/// top-level transition into a state that has effects or waits (`Task`,
/// `Wait`, `Parallel`, `Map`), when a task parks on a token (and on every
/// heartbeat), before a retry wait, and once more when the execution ends;
/// always *before* the state's side effects run. Entering a state that only
/// computes (`Pass`, `Choice`, `Succeed`, `Fail`) is saved with the next
/// save: after a restart it runs again from the save before, to the same
/// result.
///
/// Resuming needs the head of the last successful save and every event
/// saved so far ([`ExecutionSnapshot::with_history`]).
#[async_trait]
pub trait Persistence: Send + Sync + fmt::Debug {
    /// Store the checkpoint: append its events, replace the head. Both or
    /// neither (one transaction): a resumed execution continues from a head
    /// and the history up to it.
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), PersistenceError>;
}

/// How a state ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// The state completed; `next` is the following state (None at the end).
    Succeeded {
        /// The next state.
        next: Option<String>,
    },
    /// The state failed and a `Catch` sent the execution to `next`.
    Caught {
        /// Error name.
        error: String,
        /// The catcher's target.
        next: String,
    },
    /// The state failed (the error propagates).
    Failed {
        /// Error name.
        error: String,
        /// Cause.
        cause: Option<String>,
    },
}

/// One state transition, for console lines and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateTransition {
    /// State name.
    pub state_name: String,
    /// State type (`Task`, `Choice`, …).
    pub state_type: &'static str,
    /// Outcome.
    pub outcome: TransitionOutcome,
    /// Time spent in the state (clock time).
    pub elapsed: Duration,
    /// True inside a Parallel branch or Map iteration.
    pub nested: bool,
}

/// Host callbacks for watching executions. Calls are synchronous and must
/// be quick (print a line, bump a counter).
pub trait Observer: Send + Sync + fmt::Debug {
    /// Every history event, as it is appended.
    fn on_event(&self, _execution: &ExecutionInfo, _event: &HistoryEvent) {}
    /// Every state exit (success, caught failure or failure).
    fn on_transition(&self, _execution: &ExecutionInfo, _transition: &StateTransition) {}
}

/// The end of an execution.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionOutcome {
    /// Identity and input.
    pub execution: ExecutionInfo,
    /// Final status.
    pub status: ExecutionStatus,
    /// Output when `SUCCEEDED`.
    pub output: Option<Value>,
    /// Error name otherwise.
    pub error: Option<String>,
    /// Cause otherwise.
    pub cause: Option<String>,
    /// When it ended.
    pub stop_time: DateTime<Utc>,
    /// The full history.
    pub history: Vec<HistoryEvent>,
}

impl ExecutionOutcome {
    /// `{"status", "output", "error", "cause"}`, the shape `saga-local exec`
    /// prints.
    pub fn summary(&self) -> Value {
        json!({
            "status": self.status.as_str(),
            "output": self.output,
            "error": self.error,
            "cause": self.cause,
        })
    }

    /// [`ExecutionOutcome::summary`] as one line of JSON with the keys in
    /// the order `status`, `output`, `error`, `cause`.
    pub fn summary_line(&self) -> String {
        let text = |v: &Option<String>| {
            v.as_ref().map_or_else(
                || "null".to_owned(),
                |s| Value::String(s.clone()).to_string(),
            )
        };
        format!(
            "{{\"status\":\"{}\",\"output\":{},\"error\":{},\"cause\":{}}}",
            self.status.as_str(),
            self.output
                .as_ref()
                .map_or_else(|| "null".to_owned(), Value::to_string),
            text(&self.error),
            text(&self.cause)
        )
    }
}
