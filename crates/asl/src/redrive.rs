//! Redriving an execution that ended other than `SUCCEEDED`, as AWS's
//! `RedriveExecution` does: it continues from the state it stopped in (the
//! top-level state entered and not exited), with that state's input and
//! the variables as they were at its entry, its Retry counters from zero.
//! The history keeps every event and continues with `ExecutionRedriven`
//! and the state's `…StateEntered`.
//!
//! Parallel and Map states run again whole (every branch / iteration), as
//! any resumed Parallel or Map does: AWS reruns only the failed ones.

use chrono::{DateTime, Utc};

use crate::history::{
    EventDetails, EventType, ExecutionRedrivenDetails, HistoryEvent, PayloadDetails,
    StateEnteredDetails,
};
use crate::snapshot::{ExecutionSnapshot, ExecutionStatus, Phase};

/// Why an execution cannot be redriven.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotRedrivable {
    /// It is still running.
    #[error("Execution is RUNNING and cannot be redriven")]
    Running,
    /// It succeeded.
    #[error("Execution is SUCCEEDED and cannot be redriven")]
    Succeeded,
    /// It ended without recording the state it stopped in (written by an
    /// older saga-local, or it failed before entering its first state).
    #[error(
        "the execution ended without recording the state it stopped in, so there is nothing to continue from"
    )]
    NoStoppingPoint,
}

impl ExecutionSnapshot {
    /// The execution redriven at `now`, its `redrive_count`-th redrive:
    /// `RUNNING` again at the state it stopped in, with the two events the
    /// redrive writes (`ExecutionRedriven`, then the state's
    /// `…StateEntered`) appended to its history and also returned (the
    /// host stores them with the new head before resuming the execution).
    pub fn redriven(
        mut self,
        now: DateTime<Utc>,
        redrive_count: u32,
    ) -> Result<(ExecutionSnapshot, Vec<HistoryEvent>), NotRedrivable> {
        match self.status {
            ExecutionStatus::Running => return Err(NotRedrivable::Running),
            ExecutionStatus::Succeeded => return Err(NotRedrivable::Succeeded),
            _ => {}
        }
        let mut position = self
            .stopped_at
            .take()
            .ok_or(NotRedrivable::NoStoppingPoint)?;
        // The state's own entry event says what type of state it is.
        let entered_type = self
            .history
            .iter()
            .find(|e| e.id == position.entered_event_id)
            .map(|e| e.event_type)
            .filter(|t| t.as_str().ends_with("StateEntered"))
            .ok_or(NotRedrivable::NoStoppingPoint)?;
        let last = self.history.last().map_or(0, |e| e.id);
        let redriven = HistoryEvent {
            timestamp: now,
            event_type: EventType::ExecutionRedriven,
            id: last + 1,
            previous_event_id: last,
            details: EventDetails::ExecutionRedriven(ExecutionRedrivenDetails { redrive_count }),
        };
        let entered = HistoryEvent {
            timestamp: now,
            event_type: entered_type,
            id: last + 2,
            previous_event_id: last + 1,
            details: EventDetails::StateEntered(StateEnteredDetails {
                name: position.state_name.clone(),
                input: position.input.to_string(),
                input_details: PayloadDetails::default(),
            }),
        };
        position.entered_time = now;
        position.entered_event_id = entered.id;
        position.retry_counts.clear();
        position.retry_count = 0;
        position.phase = Phase::Entered;
        let events = vec![redriven, entered];
        self.history.extend(events.iter().cloned());
        self.next_event_id = last + 3;
        self.status = ExecutionStatus::Running;
        self.position = Some(position);
        self.output = None;
        self.error = None;
        self.cause = None;
        self.stop_time = None;
        self.redriven_at = Some(now);
        Ok((self, events))
    }
}
