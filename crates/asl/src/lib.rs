//! An Amazon States Language engine: **parse → validate → execute**.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use asl::*;
//! # async fn demo(host: Arc<dyn TaskHost>) -> Result<(), Box<dyn std::error::Error>> {
//! // 1. Parse and validate: every problem comes back at once, each with a
//! //    JSON pointer. Only a valid definition becomes a `StateMachine`.
//! let machine = match StateMachine::parse(r#"{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}"#) {
//!     Ok(m) => m.with_name("order-saga"),
//!     Err(problems) => {
//!         for p in &problems { eprintln!("{p}"); }
//!         return Ok(());
//!     }
//! };
//! // 2. Execute with a host (runs Task states) and a clock.
//! let engine = Engine::new(host, Arc::new(RealClock));
//! let handle = engine.start(&machine, StartExecution::new("order-1", serde_json::json!({})))?;
//! let outcome = handle.outcome().await;
//! println!("{} {:?}", outcome.status, outcome.output);
//! # Ok(()) }
//! ```
//!
//! The pieces a host provides:
//!
//! - [`TaskHost`]: runs one Task attempt ([`TaskRequest`] → [`TaskOutput`] or
//!   [`TaskFailure`]).
//! - [`Clock`]: [`RealClock`] for servers, [`ManualClock`] for tests and
//!   virtual-time runs ([`ManualClock::run`] auto-advances).
//! - [`Persistence`] (optional, per execution): receives a [`Checkpoint`]
//!   (the events since the last save and the small current position)
//!   before every top-level state with effects or waits (`Task`, `Wait`,
//!   `Parallel`, `Map`) does its work, and at the end; entering a state
//!   that only computes goes with the next save; [`Engine::resume`]
//!   continues from the last position and the history saved up to it.
//! - [`Observer`] (optional, per engine): every [`HistoryEvent`] and every
//!   [`StateTransition`].
//!
//! Callbacks for `.waitForTaskToken` tasks go through
//! [`Engine::send_task_success`], [`Engine::send_task_failure`] and
//! [`Engine::send_task_heartbeat`]. A callback the engine accepted is never
//! dropped: accepting it and ending the task otherwise (a deadline, the host
//! call, a stop) is one choice, and the loser of a race is told
//! [`CallbackError::TaskTimedOut`].
//!
//! See the crate README for supported features and deviations from AWS.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod choice;
mod clock;
mod definition;
mod engine;
mod error;
mod exec;
mod history;
mod host;
mod intrinsic;
// A few helpers of the JSONata module are used only by its own tests.
#[cfg_attr(not(test), allow(dead_code))]
mod jsonata;
mod model;
mod path;
mod ql;
mod random;
mod redrive;
mod scan;
mod snapshot;
mod template;
mod tokens;
mod vars;

pub use clock::{Clock, ManualClock, RealClock, Sleep};
pub use engine::{
    Engine, EngineBuilder, EngineConfig, ExecutionHandle, StartError, StartExecution,
};
pub use error::{ErrorName, Problem, UnknownErrorName};
pub use exec::test_state::{
    Inspection, TEST_STATE_NAME, TestDefinition, TestErrorDetails, TestMock, TestStateError,
    TestStateInput, TestStateOutcome, TestStatus,
};
pub use history::{
    ErrorDetails, EvaluationFailedDetails, EventDetails, EventType, ExecutionRedrivenDetails,
    ExecutionStartedDetails, HistoryEvent, LambdaScheduledDetails, MapIterationDetails,
    MapStartedDetails, OutputDetails, PayloadDetails, StateEnteredDetails, StateExitedDetails,
    TaskErrorDetails, TaskOutputDetails, TaskScheduledDetails, TaskStartedDetails,
};
pub use host::{
    IntegrationPattern, Resource, TaskFailure, TaskHost, TaskOutput, TaskRequest, function_name_of,
    lambda_invoke_envelope,
};
pub use intrinsic::{Function, Intrinsic};
pub use model::{Edge, EdgeKind, Outline, StateMachine, StateOutline};
pub use path::{Path, ReferencePath, Root};
pub use redrive::NotRedrivable;
pub use snapshot::{
    Checkpoint, ExecutionInfo, ExecutionOutcome, ExecutionSnapshot, ExecutionStatus, Observer,
    Persistence, PersistenceError, Phase, Position, StateTransition, TransitionOutcome,
};
pub use template::Expr;
pub use tokens::CallbackError;

/// Re-exported so hosts can implement [`TaskHost`] and [`Persistence`].
pub use async_trait::async_trait;
