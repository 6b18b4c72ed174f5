//! The stages of one test run: the state's work once, then its result
//! stages, or what its `Retry` and `Catch` make of a failure.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::super::flow::{ResumeAt, Stages, Work, retry_delay};
use super::super::{Here, Lane, Run, Step, lock, settle_assign};
use super::{Inspection, TestErrorDetails, TestMock, TestStateInput, TestStateOutcome, TestStatus};
use crate::error::{ErrorName, Failure};
use crate::exec::Extra;
use crate::history::EventDetails;
use crate::model::{Graph, Handling, Kind, State, TaskState};
use crate::vars::Vars;

/// How the state's one attempt ended.
enum Attempted {
    Done(Result<Step, Failure>),
    /// A retrier would retry the failure.
    Retriable(Failure, TestErrorDetails),
    /// A catcher took the failure (the step: where it goes, unless the
    /// catcher's own `Assign` or `Output` failed).
    Caught(Result<Step, Failure>, Failure),
}

impl Run {
    /// Run `state` of `graph` once and collect its stages.
    pub(super) async fn test(
        &self,
        graph: &Graph,
        state: &State,
        mut req: TestStateInput,
        jsonata: bool,
    ) -> TestStateOutcome {
        let mut vars = Vars::from_local(std::mem::take(&mut req.variables));
        let mut lane = Lane {
            prev: 0,
            top: false,
        };
        let mut ins = Inspection {
            input: Some(req.input.clone()),
            ..Inspection::default()
        };
        let mut here = Here::new(state, &req.input, &vars);
        here.entered = self.now();
        here.entered_id = self.state_entered(&mut lane, state, &req.input);
        let entered = req
            .context
            .as_ref()
            .and_then(|c| c.get("State")?.get("EnteredTime"));
        if let Some(t) = entered
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        {
            here.entered = t.with_timezone(&Utc);
        }
        if !jsonata && !matches!(state.kind, Kind::Fail { .. }) {
            ins.after_input_path = self.effective_input(&here).ok().map(|v| v.into_owned());
        }
        let attempted = self
            .test_attempt(&here, &mut lane, &req, &mut ins, jsonata)
            .await;
        let (step, caught) = match attempted {
            Attempted::Retriable(f, details) => {
                ins.error_details = Some(details);
                let out = TestStateOutcome::new(TestStatus::Retriable, ins);
                return out.failed(&f);
            }
            Attempted::Done(step) => (step, None),
            Attempted::Caught(step, f) => (step, Some(f)),
        };
        let (step, assigned) = settle_assign(&here, step);
        drop(here);
        if let Some(a) = assigned {
            vars.apply(a);
        }
        if !vars.all().is_empty() {
            ins.variables = Some(vars.all().clone());
        }
        let mut o = outcome(graph, step, ins);
        if let (TestStatus::CaughtError, Some(f)) = (o.status, caught) {
            o = o.failed(&f);
        }
        o
    }

    /// The state's work, once.
    async fn test_attempt(
        &self,
        here: &Here<'_>,
        lane: &mut Lane,
        req: &TestStateInput,
        ins: &mut Inspection,
        jsonata: bool,
    ) -> Attempted {
        let count = req.retrier_retry_count;
        match &here.state.kind {
            Kind::Pass {
                result, parameters, ..
            } => {
                let mut stages = Stages::default();
                let step = self.pass(here, Some(&mut stages));
                if !jsonata {
                    // `Parameters` is evaluated only without a `Result`.
                    let evaluated = result.is_none() && parameters.is_some();
                    ins.after_parameters = if evaluated {
                        stages.result.clone()
                    } else {
                        stages.after_input_path
                    };
                    ins.after_result_selector.clone_from(&stages.result);
                    ins.result = stages.result;
                    ins.after_result_path = stages.after_result_path;
                }
                Attempted::Done(step)
            }
            Kind::Task(t) => self.test_task(here, t, lane, count, ins, jsonata).await,
            Kind::Parallel(p) => self.test_mocked(here, Work::Parallel(p), req, ins, jsonata),
            Kind::Map(m) => self.test_mocked(here, Work::Map(m), req, ins, jsonata),
            _ => Attempted::Done(self.run_state(here, lane, ResumeAt::fresh()).await),
        }
    }

    /// One attempt of a Task state, then its result stages or its
    /// `Retry`/`Catch` decision.
    async fn test_task(
        &self,
        here: &Here<'_>,
        t: &TaskState,
        lane: &mut Lane,
        retry_count: u32,
        ins: &mut Inspection,
        jsonata: bool,
    ) -> Attempted {
        let counts = [];
        let attempt = self
            .task_attempt(here, t, lane, retry_count, &counts, None)
            .await;
        let scheduled = self.scheduled_parameters();
        if jsonata {
            ins.after_arguments = scheduled;
        } else {
            ins.after_parameters = scheduled;
        }
        self.settle_attempt(here, &t.handling, attempt, retry_count, ins, jsonata)
    }

    /// A Map or Parallel state with its mock as the result of its work.
    fn test_mocked(
        &self,
        here: &Here<'_>,
        work: Work<'_>,
        req: &TestStateInput,
        ins: &mut Inspection,
        jsonata: bool,
    ) -> Attempted {
        let count = req.retrier_retry_count;
        let (handling, inputs) = match work {
            Work::Parallel(p) => {
                let effective = self.effective_input(here);
                let extra = Extra::retry(count);
                let payload = match (&p.parameters, effective) {
                    (_, Err(f)) => Err(f),
                    (Some(t), Ok(e)) => self.payload(t, &e, here, &extra, "Arguments"),
                    (None, Ok(e)) => Ok(e.into_owned()),
                };
                (&p.handling, payload.map(|v| (v, None)))
            }
            Work::Map(m) => {
                let inputs = self.map_inputs(here, m, count);
                let items = inputs.map(|(items, limit)| (Value::Array(items), Some(limit)));
                (&m.handling, items)
            }
            Work::Task(t) => (
                &t.handling,
                Err(Failure::runtime("not a Map or Parallel state")),
            ),
        };
        let attempt = match (inputs, &req.mock) {
            (Err(f), _) => Err(f),
            (Ok((v, limit)), mock) => {
                match (&work, limit) {
                    (Work::Map(_), Some(limit)) => {
                        ins.after_item_selector = Some(v);
                        ins.max_concurrency = Some(u64::try_from(limit).unwrap_or(0));
                    }
                    _ if jsonata => ins.after_arguments = Some(v),
                    _ => ins.after_parameters = Some(v),
                }
                match mock {
                    Some(TestMock::Result(r)) => Ok(r.clone()),
                    Some(TestMock::Error { error, cause }) => Err(Failure {
                        error: ErrorName::new(error.clone()),
                        cause: cause.clone(),
                    }),
                    None => Err(Failure::runtime("no mock")),
                }
            }
        };
        self.settle_attempt(here, handling, attempt, count, ins, jsonata)
    }

    /// The parameters the Task call was scheduled with, as its history
    /// event recorded them.
    fn scheduled_parameters(&self) -> Option<Value> {
        let log = lock(&self.log);
        log.events.iter().find_map(|e| {
            let text = match &e.details {
                EventDetails::TaskScheduled(d) => &d.parameters,
                EventDetails::LambdaFunctionScheduled(d) => &d.input,
                _ => return None,
            };
            serde_json::from_str(text).ok()
        })
    }

    /// The result stages of a successful attempt; for a failed one, the
    /// retrier that would retry it, else the catcher that takes it.
    fn settle_attempt(
        &self,
        here: &Here<'_>,
        h: &Handling,
        attempt: Result<Value, Failure>,
        retry_count: u32,
        ins: &mut Inspection,
        jsonata: bool,
    ) -> Attempted {
        let failure = match attempt {
            Ok(result) => {
                ins.result = Some(result.clone());
                let mut stages = Stages::default();
                let finished = self.finish(here, h, result, retry_count, Some(&mut stages));
                if !jsonata {
                    ins.after_result_selector = stages.after_result_selector;
                    ins.after_result_path = stages.after_result_path;
                }
                match finished {
                    // As `with_retries`: a failed JSONata Output or Assign is
                    // caught, not retried.
                    Err(f) if f.error == ErrorName::QueryEvaluationError => {
                        return self.test_catch(here, h, f, ins);
                    }
                    done => return Attempted::Done(done),
                }
            }
            Err(f) => f,
        };
        let mut counts = vec![retry_count; h.retry.len()];
        if let Some(delay) = retry_delay(&h.retry, &mut counts, &failure) {
            let index = h
                .retry
                .iter()
                .position(|r| matches(&r.errors, &failure.error));
            let details = TestErrorDetails {
                retry_index: index,
                retry_backoff_interval_seconds: Some(delay.as_secs()),
                catch_index: None,
            };
            return Attempted::Retriable(failure, details);
        }
        self.test_catch(here, h, failure, ins)
    }

    /// `Catch`, noting which catcher took the failure.
    fn test_catch(
        &self,
        here: &Here<'_>,
        h: &Handling,
        f: Failure,
        ins: &mut Inspection,
    ) -> Attempted {
        let Some(index) = h.catch.iter().position(|c| matches(&c.errors, &f.error)) else {
            return Attempted::Done(Err(f));
        };
        ins.error_details = Some(TestErrorDetails {
            catch_index: Some(index),
            ..TestErrorDetails::default()
        });
        Attempted::Caught(self.catch(here, &h.catch, f.clone()), f)
    }
}

/// Whether a retrier's or catcher's `ErrorEquals` takes `error`.
fn matches(patterns: &[ErrorName], error: &ErrorName) -> bool {
    !error.is_uncatchable() && patterns.iter().any(|p| error.is_matched_by(p))
}

/// The outcome of a state that did not end in a retry.
fn outcome(graph: &Graph, step: Result<Step, Failure>, ins: Inspection) -> TestStateOutcome {
    let (status, output, next, error) = match step {
        Ok(Step::Next(n, out)) => (TestStatus::Succeeded, out, Some(n), None),
        Ok(Step::End(out)) => (TestStatus::Succeeded, out, None, None),
        Ok(Step::Caught(n, out, _)) => (TestStatus::CaughtError, out, Some(n), None),
        Err(f) => return TestStateOutcome::new(TestStatus::Failed, ins).failed(&f),
    };
    let mut o = TestStateOutcome::new(status, ins);
    o.output = Some(output);
    o.next_state = next.map(|n| graph.name_of(n));
    o.error = error;
    o
}
