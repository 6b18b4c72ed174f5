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
use crate::engine::Callback;
use crate::error::{ErrorName, Failure};
use crate::host::{Resource, TaskOutput, TaskRequest, lambda_invoke_envelope};
use crate::model::TaskState;
use crate::random;
use crate::snapshot::{Phase, Position};

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
            Some(p) => self.eval_template(p, &effective, here, &extra)?,
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
        let (_guard, rx) = self.shared.register_token(token);
        if !a.invoked {
            self.persist(lane, || parking.position(a.heartbeat_at, false))
                .await?;
            match self.invoke(here, t, lane, &a, parameters).await? {
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
            None => Err(self.timed_out(here, lane, &a.events, ErrorName::Timeout)),
            Some(Err(tf)) => {
                let f = Failure {
                    error: ErrorName::new(tf.error),
                    cause: tf.cause,
                };
                a.events.failed(self, lane, &f);
                Err(f)
            }
            Some(Ok(TaskOutput::Final(v))) => Ok(Invoked::Final(v)),
            Some(Ok(TaskOutput::Output(v))) => Ok(Invoked::Output(match &t.resource {
                Resource::LambdaInvoke { .. } => lambda_invoke_envelope(v),
                _ => v,
            })),
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
            let callback = tokio::select! {
                biased;
                cb = rx.recv() => cb,
                () = sleep_until(clock, timeout_at) => {
                    return Err(self.timed_out(parking.here, lane, events, ErrorName::Timeout));
                }
                () = sleep_until(clock, heartbeat_at) => {
                    return Err(self.timed_out(parking.here, lane, events, ErrorName::HeartbeatTimeout));
                }
            };
            match callback {
                Some(Callback::Success(v)) => {
                    events.succeeded(self, lane, &v);
                    return Ok(v);
                }
                Some(Callback::Failure { error, cause }) => {
                    let f = Failure {
                        error: ErrorName::new(error.unwrap_or_default()),
                        cause,
                    };
                    events.failed(self, lane, &f);
                    return Err(f);
                }
                Some(Callback::Heartbeat) => {
                    heartbeat_at = after(self.now(), parking.heartbeat_seconds);
                    self.persist(lane, || parking.position(heartbeat_at, true))
                        .await?;
                }
                None => return Err(Failure::runtime("the task token was closed")),
            }
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
