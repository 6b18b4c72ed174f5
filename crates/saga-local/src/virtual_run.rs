//! Run an execution to its end in virtual time.

use std::sync::Arc;

use asl::{
    Engine, ExecutionOutcome, ManualClock, StartError, StartExecution, StateMachine, TaskHost,
};
use chrono::{DurationRound, TimeDelta, Utc};
use serde_json::Value;

/// Run `machine` with `host` on a [`ManualClock`] starting now: waits,
/// retry intervals and timeouts take no real time.
pub async fn run_virtual(
    machine: &StateMachine,
    host: Arc<dyn TaskHost>,
    name: &str,
    input: Value,
) -> Result<ExecutionOutcome, StartError> {
    let now = Utc::now();
    let start = now
        .duration_trunc(TimeDelta::milliseconds(1))
        .unwrap_or(now);
    let clock = ManualClock::new(start);
    let engine = Engine::new(host, Arc::new(clock.clone()));
    let fut = engine.run(machine, StartExecution::new(name, input))?;
    Ok(clock.run(fut).await)
}
