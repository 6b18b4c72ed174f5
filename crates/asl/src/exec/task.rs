//! One Task attempt: resolve its inputs and deadlines, call the host under
//! `TimeoutSeconds`, and for `.waitForTaskToken` tasks park the token until
//! a callback, a heartbeat timeout or the task timeout.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use super::data::resolve_seconds;
use super::events::TaskEvents;
use super::{Extra, Here, Lane, Run};
use crate::clock::Clock;
use crate::error::{ErrorName, Failure};
use crate::host::{Resource, TaskOutput, TaskRequest, lambda_invoke_envelope};
use crate::model::TaskState;
use crate::random;
use crate::snapshot::{Phase, Position};
use crate::tokens::Callback;

/// One attempt's events, token and deadlines: new ones, or the ones a
/// `Parked` snapshot saved (then the events up to `TaskSubmitted` are in the
/// history already).
struct Attempt {
    events: TaskEvents,
    retry_count: u32,
    token: Option<String>,
    timeout_at: Option<DateTime<Utc>>,
    heartbeat_at: Option<DateTime<Utc>>,
    /// Whether the host call returned before the snapshot was taken.
    invoked: bool,
    /// Whether this attempt continues a parked one.
    resumed: bool,
}

/// What the host call came to, before anything is written to the history.
enum Called {
    /// Cut off at the task deadline.
    TimedOut,
    /// The host's failure.
    Failed(Failure),
    Done(Invoked),
}

/// What the host call gave.
enum Invoked {
    /// `TaskOutput::Final`: the state result as is, never parked.
    Final(Value),
    /// The service output (a `lambda:invoke` result in its envelope).
    Output(Value),
}

/// Everything a parked task needs to write its `Parked` position again.
struct Parking<'h, 'a> {
    here: &'h Here<'a>,
    attempt: &'h Attempt,
    counts: &'h [u32],
    token: &'h str,
    heartbeat_seconds: Option<u64>,
}

impl Parking<'_, '_> {
    fn position(&self, heartbeat_at: Option<DateTime<Utc>>, invoked: bool) -> Position {
        self.here.position(
            self.counts,
            self.attempt.retry_count,
            Phase::Parked {
                token: self.token.to_owned(),
                timeout_at: self.attempt.timeout_at,
                heartbeat_at,
                heartbeat_seconds: self.heartbeat_seconds,
                invoked,
            },
        )
    }
}

/// `now + secs`, or None when there is no limit (or it does not fit).
fn after(now: DateTime<Utc>, secs: Option<u64>) -> Option<DateTime<Utc>> {
    secs.and_then(|s| i64::try_from(s).ok())
        .and_then(|s| now.checked_add_signed(TimeDelta::seconds(s)))
}

/// Sleep until `deadline`, or forever when there is none.
async fn sleep_until(clock: &dyn Clock, deadline: Option<DateTime<Utc>>) {
    match deadline {
        Some(d) => clock.sleep_until(d).await,
        None => std::future::pending::<()>().await,
    }
}

impl Run {
    /// One attempt of a Task state: its result, or a failure already in the
    /// history. A `parked` phase (from a snapshot) continues that attempt
    /// with its token and deadlines instead of starting a new one.
    pub(super) async fn task_attempt(
        &self,
        here: &Here<'_>,
        t: &TaskState,
        lane: &mut Lane,
        retry_count: u32,
        counts: &[u32],
        parked: Option<Phase>,
    ) -> Result<Value, Failure> {
        let effective = self.effective_input(here)?;
        let token = match &parked {
            Some(Phase::Parked { token, .. }) => Some(token.clone()),
            _ if t.resource.waits_for_task_token() => {
                Some(random::task_token().map_err(|e| Failure::runtime(e.to_string()))?)
            }
            _ => None,
        };
        let extra = Extra {
            retry_count,
            token: token.as_deref(),
            map_item: None,
        };
        let (timeout, heartbeat) = self.task_limits(t, &effective, here, &extra)?;
        // The effective input is only copied when it is the payload itself.
        let parameters = match &t.parameters {
            Some(p) => self.payload(p, &effective, here, &extra, "Arguments")?,
            None => effective.into_owned(),
        };
        let a = self.attempt(t, token, parked, retry_count, timeout, heartbeat);
        if !a.resumed {
            a.events
                .scheduled(self, lane, t, &parameters, timeout, heartbeat);
        }
        let Some(token) = &a.token else {
            let (Invoked::Final(v) | Invoked::Output(v)) =
                self.invoke(here, t, lane, &a, parameters).await?;
            a.events.succeeded(self, lane, &v);
            return Ok(v);
        };
        let parking = Parking {
            here,
            attempt: &a,
            counts,
            token,
            heartbeat_seconds: heartbeat,
        };
        // Registered before the call, so a callback that comes while the
        // host is still running finds the token.
        let (_guard, mut rx) = self.shared.tokens.register(token, &self.stop);
        if !a.invoked {
            self.persist(lane, || parking.position(a.heartbeat_at, false))
                .await?;
            let called = self.call(here, t, &a, parameters).await;
            if !matches!(called, Called::Done(Invoked::Output(_)))
                && let Some(end) = self.settle(lane, &a.events, token, &mut rx)
            {
                // A callback accepted during the call ended the task first.
                return end;
            }
            match self.record(here, lane, &a.events, called)? {
                Invoked::Final(v) => {
                    a.events.succeeded(self, lane, &v);
                    return Ok(v);
                }
                Invoked::Output(v) => a.events.submitted(self, lane, &v),
            }
        }
        self.park(lane, &parking, rx).await
    }

    /// `TimeoutSeconds[Path]` and `HeartbeatSeconds[Path]`.
    fn task_limits(
        &self,
        t: &TaskState,
        effective: &Value,
        here: &Here<'_>,
        extra: &Extra<'_>,
    ) -> Result<(Option<u64>, Option<u64>), Failure> {
        let timeout_x = self.jsonata_seconds(here, t.timeout.as_ref(), "TimeoutSeconds", extra)?;
        let heartbeat_x =
            self.jsonata_seconds(here, t.heartbeat.as_ref(), "HeartbeatSeconds", extra)?;
        if timeout_x.is_some() || heartbeat_x.is_some() {
            let fixed = |s: &Option<crate::model::Seconds>| match s {
                Some(crate::model::Seconds::Fixed(n)) => Some(*n),
                _ => None,
            };
            return Ok((
                timeout_x.or(fixed(&t.timeout)),
                heartbeat_x.or(fixed(&t.heartbeat)),
            ));
        }
        self.with_env(effective, here, extra, |env| {
            let timeout = t
                .timeout
                .as_ref()
                .map(|s| resolve_seconds(s, env, "TimeoutSecondsPath"))
                .transpose()?;
            let heartbeat = t
                .heartbeat
                .as_ref()
                .map(|s| resolve_seconds(s, env, "HeartbeatSecondsPath"))
                .transpose()?;
            Ok((timeout, heartbeat))
        })
    }

    /// The attempt's deadlines: saved ones when it was parked, else counted
    /// from now (a heartbeat deadline only for tasks that wait for a token).
    fn attempt(
        &self,
        t: &TaskState,
        token: Option<String>,
        parked: Option<Phase>,
        retry_count: u32,
        timeout: Option<u64>,
        heartbeat: Option<u64>,
    ) -> Attempt {
        let events = TaskEvents::new(&t.resource);
        match parked {
            Some(Phase::Parked {
                timeout_at,
                heartbeat_at,
                invoked,
                ..
            }) => Attempt {
                events,
                retry_count,
                token,
                timeout_at,
                heartbeat_at,
                invoked,
                resumed: true,
            },
            _ => {
                let now = self.now();
                let waits = t.resource.waits_for_task_token();
                Attempt {
                    events,
                    retry_count,
                    token,
                    timeout_at: after(now, timeout),
                    heartbeat_at: if waits { after(now, heartbeat) } else { None },
                    invoked: false,
                    resumed: false,
                }
            }
        }
    }

    /// Call the host, cut off at the task deadline. A failure or a timeout
    /// is written to the history here.
    async fn invoke(
        &self,
        here: &Here<'_>,
        t: &TaskState,
        lane: &mut Lane,
        a: &Attempt,
        parameters: Value,
    ) -> Result<Invoked, Failure> {
        let called = self.call(here, t, a, parameters).await;
        self.record(here, lane, &a.events, called)
    }

    /// Write a failed or cut-off call to the history.
    fn record(
        &self,
        here: &Here<'_>,
        lane: &mut Lane,
        events: &TaskEvents,
        called: Called,
    ) -> Result<Invoked, Failure> {
        match called {
            Called::TimedOut => Err(self.timed_out(here, lane, events, ErrorName::Timeout)),
            Called::Failed(f) => {
                events.failed(self, lane, &f);
                Err(f)
            }
            Called::Done(invoked) => Ok(invoked),
        }
    }

    /// Call the host, cut off at the task deadline.
    async fn call(&self, here: &Here<'_>, t: &TaskState, a: &Attempt, parameters: Value) -> Called {
        let request = TaskRequest {
            resource: t.resource.clone(),
            resource_arn: t.resource_arn.clone(),
            parameters,
            task_token: a.token.clone(),
            execution_name: self.info.name.clone(),
            execution_id: self.info.id.clone(),
            state_name: here.state.name.clone(),
            attempt: a.retry_count,
        };
        let call = self.shared.host.invoke(request);
        let outcome = tokio::select! {
            biased;
            r = call => Some(r),
            () = sleep_until(&*self.shared.clock, a.timeout_at) => None,
        };
        match outcome {
            None => Called::TimedOut,
            Some(Err(tf)) => Called::Failed(Failure {
                error: ErrorName::new(tf.error),
                cause: tf.cause,
            }),
            Some(Ok(TaskOutput::Final(v))) => Called::Done(Invoked::Final(v)),
            Some(Ok(TaskOutput::Output(v))) => Called::Done(Invoked::Output(match &t.resource {
                Resource::LambdaInvoke { .. } => lambda_invoke_envelope(v),
                _ => v,
            })),
        }
    }

    /// The task is about to end without a callback: a success or failure
    /// callback accepted before that ends it instead (written to the history
    /// here); None once the token is closed, which later callbacks are told.
    fn settle(
        &self,
        lane: &mut Lane,
        events: &TaskEvents,
        token: &str,
        rx: &mut UnboundedReceiver<Callback>,
    ) -> Option<Result<Value, Failure>> {
        loop {
            // A heartbeat cannot keep a task that is ending anyway.
            let cb = self.shared.tokens.settle(token, rx)?;
            if let Some(end) = self.end_by(lane, events, cb) {
                return Some(end);
            }
        }
    }

    /// How a success or failure callback ends the task, written to the
    /// history; None for a heartbeat.
    fn end_by(
        &self,
        lane: &mut Lane,
        events: &TaskEvents,
        cb: Callback,
    ) -> Option<Result<Value, Failure>> {
        match cb {
            Callback::Success(v) => {
                events.succeeded(self, lane, &v);
                Some(Ok(v))
            }
            Callback::Failure { error, cause } => {
                let f = Failure {
                    error: ErrorName::new(error.unwrap_or_default()),
                    cause,
                };
                events.failed(self, lane, &f);
                Some(Err(f))
            }
            Callback::Heartbeat => None,
        }
    }

    /// Wait with the token parked until a callback decides, a heartbeat
    /// moves the heartbeat deadline, or a deadline passes.
    async fn park(
        &self,
        lane: &mut Lane,
        parking: &Parking<'_, '_>,
        mut rx: UnboundedReceiver<Callback>,
    ) -> Result<Value, Failure> {
        let events = &parking.attempt.events;
        let timeout_at = parking.attempt.timeout_at;
        let mut heartbeat_at = parking.attempt.heartbeat_at;
        self.persist(lane, || parking.position(heartbeat_at, true))
            .await?;
        let clock = &*self.shared.clock;
        loop {
            let woke = tokio::select! {
                biased;
                cb = rx.recv() => Ok(cb),
                () = sleep_until(clock, timeout_at) => Err(ErrorName::Timeout),
                () = sleep_until(clock, heartbeat_at) => Err(ErrorName::HeartbeatTimeout),
            };
            let callback = match woke {
                Ok(cb) => cb,
                // A deadline passed, but a callback (a heartbeat too) accepted
                // by then still wins; else the token closes as it times out.
                Err(error) => match self.shared.tokens.settle(parking.token, &mut rx) {
                    Some(cb) => Some(cb),
                    None => return Err(self.timed_out(parking.here, lane, events, error)),
                },
            };
            let Some(callback) = callback else {
                return Err(Failure::runtime("the task token was closed"));
            };
            if let Some(end) = self.end_by(lane, events, callback) {
                return end;
            }
            heartbeat_at = after(self.now(), parking.heartbeat_seconds);
            self.persist(lane, || parking.position(heartbeat_at, true))
                .await?;
        }
    }

    /// A `States.Timeout` or `States.HeartbeatTimeout` failure, written to
    /// the history.
    fn timed_out(
        &self,
        here: &Here<'_>,
        lane: &mut Lane,
        events: &TaskEvents,
        error: ErrorName,
    ) -> Failure {
        let cause = match error {
            ErrorName::HeartbeatTimeout => format!(
                "The task '{}' sent no heartbeat within HeartbeatSeconds",
                here.state.name
            ),
            _ => format!(
                "The task '{}' did not complete within TimeoutSeconds",
                here.state.name
            ),
        };
        let f = Failure {
            error,
            cause: Some(cause),
        };
        events.timed_out(self, lane, &f);
        f
    }
}
