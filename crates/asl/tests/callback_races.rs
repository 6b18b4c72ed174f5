//! A callback and a task deadline (or a stop) at the same instant: exactly
//! one wins, and the loser is told. An accepted callback is never dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use asl::{
    CallbackError, Engine, ExecutionInfo, ExecutionOutcome, ExecutionStatus, HistoryEvent,
    ManualClock, Observer, StartExecution, StateMachine, TaskFailure, TaskHost, TaskOutput,
    TaskRequest, async_trait,
};
use serde_json::json;

/// What the host call does once it has the token.
#[derive(Debug, Default)]
enum Then {
    /// Answers at once: the task parks.
    #[default]
    Answer,
    /// Never returns.
    Hang,
    /// Fails when `go` is notified (the e-mail went out, then the call failed).
    FailWhenTold,
}

/// Records the task token of the call, then does `then`.
#[derive(Debug, Default)]
struct Parker {
    token: Mutex<Option<String>>,
    then: Then,
    go: tokio::sync::Notify,
}

#[async_trait]
impl TaskHost for Parker {
    async fn invoke(&self, req: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        *self.token.lock().unwrap() = req.task_token.clone();
        match self.then {
            Then::Answer => Ok(TaskOutput::Output(json!({"approvalId": "a-1"}))),
            Then::Hang => std::future::pending().await,
            Then::FailWhenTold => {
                self.go.notified().await;
                Err(TaskFailure::lambda_error("NotifierDown", "mail sent, then"))
            }
        }
    }
}

/// Which deadline races which callback.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Race {
    /// `TimeoutSeconds` against `SendTaskSuccess`.
    Timeout,
    /// `HeartbeatSeconds` against `SendTaskHeartbeat`.
    Heartbeat,
}

impl Race {
    fn machine(self) -> StateMachine {
        let limits = match self {
            Race::Timeout => r#""TimeoutSeconds": 10"#,
            Race::Heartbeat => r#""TimeoutSeconds": 3600, "HeartbeatSeconds": 10"#,
        };
        let def = format!(
            r#"{{"StartAt": "Wait", "States": {{"Wait": {{
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {{"FunctionName": "request-approval", "Payload": {{"t.$": "$$.Task.Token"}}}},
                {limits}, "ResultPath": "$.approval", "End": true}}}}}}"#
        );
        StateMachine::parse(&def).unwrap().with_name("race")
    }

    fn callback(self, engine: &Engine, token: &str) -> Result<(), CallbackError> {
        match self {
            Race::Timeout => engine.send_task_success(token, json!("approved")),
            Race::Heartbeat => engine.send_task_heartbeat(token),
        }
    }

    fn timeout_error(self) -> &'static str {
        match self {
            Race::Timeout => "States.Timeout",
            Race::Heartbeat => "States.HeartbeatTimeout",
        }
    }
}

/// Sends the callback from inside the engine's `TaskTimedOut` event: the
/// instant the timeout has been chosen, before the task is over.
#[derive(Debug)]
struct CallbackOnTimeout {
    race: Race,
    engine: OnceLock<Engine>,
    token: OnceLock<String>,
    answer: Mutex<Option<Result<(), CallbackError>>>,
}

impl Observer for CallbackOnTimeout {
    fn on_event(&self, _execution: &ExecutionInfo, event: &HistoryEvent) {
        if event.event_type.as_str() != "TaskTimedOut" {
            return;
        }
        if let (Some(engine), Some(token)) = (self.engine.get(), self.token.get()) {
            let answer = self.race.callback(engine, token);
            *self.answer.lock().unwrap() = Some(answer);
        }
    }
}

/// When the callback comes, once the deadline has passed on the clock.
#[derive(Debug, Clone, Copy)]
enum When {
    /// After this many yields: 0 is before the parked task sees the time.
    Yields(usize),
    /// Inside the timeout's own `TaskTimedOut` event.
    InTheTimeoutEvent,
}

async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// One race: the callback's answer and how the execution ended.
async fn race(race: Race, when: When) -> (Result<(), CallbackError>, ExecutionOutcome) {
    let clock = ManualClock::default();
    let host = Arc::new(Parker::default());
    let observer = Arc::new(CallbackOnTimeout {
        race,
        engine: OnceLock::new(),
        token: OnceLock::new(),
        answer: Mutex::new(None),
    });
    let engine = Engine::builder(host.clone(), Arc::new(clock.clone()))
        .observer(observer.clone())
        .build();
    let handle = engine
        .start(&race.machine(), StartExecution::new("race", json!({})))
        .unwrap();
    settle().await;
    let token = host.token.lock().unwrap().clone().unwrap();
    if matches!(when, When::InTheTimeoutEvent) {
        observer.engine.set(engine.clone()).unwrap();
        observer.token.set(token.clone()).unwrap();
    }
    // The deadline: its timer is woken, the parked task not polled yet.
    clock.advance(Duration::from_secs(10));
    let answer = match when {
        When::Yields(n) => {
            for _ in 0..n {
                tokio::task::yield_now().await;
            }
            Some(race.callback(&engine, &token))
        }
        When::InTheTimeoutEvent => None,
    };
    if race == Race::Heartbeat && answer == Some(Ok(())) {
        // The heartbeat won: the task waits on; finish it.
        settle().await;
        engine.send_task_success(&token, json!("approved")).unwrap();
    }
    let out = handle.outcome().await;
    let answer = answer.or_else(|| observer.answer.lock().unwrap().take());
    (answer.expect("the callback was sent"), out)
}

/// Exactly one side won, and the other was told.
fn consistent(race: Race, answer: &Result<(), CallbackError>, out: &ExecutionOutcome) -> bool {
    match answer {
        Ok(()) => {
            out.status == ExecutionStatus::Succeeded
                && out.output == Some(json!({"approval": "approved"}))
        }
        Err(CallbackError::TaskTimedOut) => {
            out.status == ExecutionStatus::Failed
                && out.error.as_deref() == Some(race.timeout_error())
        }
        Err(_) => false,
    }
}

async fn race_many(race: Race) {
    let (mut won, mut lost, mut broken) = (0, 0, Vec::new());
    for i in 0..1_000 {
        let when = match i % 5 {
            4 => When::InTheTimeoutEvent,
            n => When::Yields(n),
        };
        let (answer, out) = self::race(race, when).await;
        if !consistent(race, &answer, &out) {
            broken.push(format!(
                "{when:?}: {answer:?} but {} {:?}",
                out.status, out.error
            ));
        } else if answer.is_ok() {
            won += 1;
        } else {
            lost += 1;
        }
    }
    assert!(
        broken.is_empty(),
        "{} of 1000 races broke, e.g. {:?}",
        broken.len(),
        &broken[..broken.len().min(3)]
    );
    assert!(
        won > 0 && lost > 0,
        "both sides win sometimes: {won} / {lost}"
    );
}

#[tokio::test]
async fn a_success_at_the_timeout_instant_wins_or_is_told_it_timed_out() {
    race_many(Race::Timeout).await;
}

#[tokio::test]
async fn a_heartbeat_at_the_heartbeat_deadline_wins_or_is_told_it_timed_out() {
    race_many(Race::Heartbeat).await;
}

/// An execution whose host call has the token (and then does `then`).
struct Calling {
    engine: Engine,
    clock: ManualClock,
    handle: asl::ExecutionHandle,
    token: String,
    host: Arc<Parker>,
}

async fn calling(then: Then) -> Calling {
    let clock = ManualClock::default();
    let host = Arc::new(Parker {
        then,
        ..Parker::default()
    });
    let engine = Engine::new(host.clone(), Arc::new(clock.clone()));
    let handle = engine
        .start(
            &Race::Timeout.machine(),
            StartExecution::new("race", json!({})),
        )
        .unwrap();
    // Until the call has the token and the task waits on its deadline.
    while clock.pending_timers() == 0 || host.token.lock().unwrap().is_none() {
        tokio::task::yield_now().await;
    }
    let token = host.token.lock().unwrap().clone().unwrap();
    Calling {
        engine,
        clock,
        handle,
        token,
        host,
    }
}

#[tokio::test]
async fn a_success_accepted_during_the_host_call_is_not_lost_to_the_timeout() {
    let Calling {
        engine,
        clock,
        handle,
        token,
        ..
    } = calling(Then::Hang).await;
    // The token is live while the host is still running (a fast approver).
    assert_eq!(engine.send_task_success(&token, json!("approved")), Ok(()));
    clock.advance(Duration::from_secs(10));
    let out = handle.outcome().await;
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{:?}", out.error);
    assert_eq!(out.output, Some(json!({"approval": "approved"})));
}

#[tokio::test]
async fn a_callback_after_stop_execution_returned_is_told_the_task_is_over() {
    let Calling {
        engine,
        handle,
        token,
        ..
    } = calling(Then::Hang).await;
    assert!(engine.stop_execution(handle.execution_id(), None, None));
    // Before the execution has even seen the stop: the stop already won.
    assert_eq!(
        engine.send_task_success(&token, json!("approved")),
        Err(CallbackError::TaskTimedOut)
    );
    assert_eq!(handle.outcome().await.status, ExecutionStatus::Aborted);
}

#[tokio::test]
async fn a_success_accepted_during_the_host_call_is_not_lost_when_the_call_fails() {
    let Calling {
        engine,
        handle,
        token,
        host,
        ..
    } = calling(Then::FailWhenTold).await;
    assert_eq!(engine.send_task_success(&token, json!("approved")), Ok(()));
    host.go.notify_one();
    let out = handle.outcome().await;
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{:?}", out.error);
    assert_eq!(out.output, Some(json!({"approval": "approved"})));
}

/// The execution on a worker thread, the callback from the test's thread,
/// a few microseconds apart around the deadline: real concurrency, as in
/// `saga-local serve`. Whatever the interleaving, the answer and the outcome
/// agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_from_another_thread_at_the_deadline_agree_with_the_outcome() {
    let mut broken = Vec::new();
    for i in 0..500_u32 {
        let Calling {
            engine,
            clock,
            handle,
            token,
            ..
        } = calling(Then::Answer).await;
        clock.advance(Duration::from_secs(10));
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_micros(u64::from(i % 50)) {
            std::hint::spin_loop();
        }
        let answer = Race::Timeout.callback(&engine, &token);
        let out = handle.outcome().await;
        if !consistent(Race::Timeout, &answer, &out) {
            broken.push(format!("{answer:?} but {} {:?}", out.status, out.error));
        }
    }
    assert!(
        broken.is_empty(),
        "{} of 500 races broke: {:?}",
        broken.len(),
        &broken[..broken.len().min(3)]
    );
}
