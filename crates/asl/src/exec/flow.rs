//! `Retry` and `Catch`: the attempts of a Task, Parallel or Map state, the
//! waits between them, and where a failure goes when they are used up.

use std::time::Duration;

use chrono::TimeDelta;
use serde_json::{Map, Value};

use super::jsonata::StatesData;
use super::{Extra, Here, Lane, Run, Step, lock};
use crate::error::{ErrorName, Failure};
use crate::model::{
    Catcher, Handling, Jitter, MapState, ParallelState, Retrier, TaskState, Transition,
};
use crate::random;
use crate::snapshot::Phase;

/// The longest retry delay AWS allows (366 days).
const MAX_RETRY_DELAY_SECONDS: f64 = 31_622_400.0;

/// The work of a state that has retriers and catchers.
#[derive(Clone, Copy)]
pub(super) enum Work<'a> {
    Task(&'a TaskState),
    Parallel(&'a ParallelState),
    Map(&'a MapState),
}

impl<'a> Work<'a> {
    fn handling(self) -> &'a Handling {
        match self {
            Work::Task(t) => &t.handling,
            Work::Parallel(p) => &p.handling,
            Work::Map(m) => &m.handling,
        }
    }
}

/// Where a state's attempts stand: fresh on entry, or as a snapshot left them.
pub(super) struct ResumeAt {
    pub(super) retry_counts: Vec<u32>,
    pub(super) retry_count: u32,
    pub(super) phase: Phase,
}

impl ResumeAt {
    pub(super) fn fresh() -> ResumeAt {
        ResumeAt {
            retry_counts: Vec::new(),
            retry_count: 0,
            phase: Phase::Entered,
        }
    }
}

/// The values between a state's stages, kept for TestState
/// (`exec::test_state`) when asked for; None for a stage not reached.
#[derive(Debug, Default)]
pub(super) struct Stages {
    pub(super) after_input_path: Option<Value>,
    pub(super) result: Option<Value>,
    pub(super) after_result_selector: Option<Value>,
    pub(super) after_result_path: Option<Value>,
}

/// Keep a copy of `v` in the slot `slot` picks, when stages are kept.
pub(super) fn keep(
    stages: &mut Option<&mut Stages>,
    slot: impl FnOnce(&mut Stages) -> &mut Option<Value>,
    v: &Value,
) {
    if let Some(s) = stages {
        *slot(s) = Some(v.clone());
    }
}

/// The step a state's `Next`/`End` takes with its output. (`Caught` is
/// produced only by [`Run::catch`].)
pub(super) fn step(t: Transition, out: Value) -> Step {
    match t {
        Transition::Next(n) => Step::Next(n, out),
        Transition::End => Step::End(out),
    }
}

impl Run {
    /// Attempts of a Task, Parallel or Map state with its retriers, then
    /// ResultSelector/ResultPath/OutputPath on success or its catchers on
    /// failure. A resumed state continues where its snapshot was taken: a
    /// retry wait sleeps until its saved deadline, a parked task re-registers
    /// its token.
    pub(super) async fn with_retries(
        &self,
        here: &Here<'_>,
        work: Work<'_>,
        lane: &mut Lane,
        resumed: ResumeAt,
    ) -> Result<Step, Failure> {
        let h = work.handling();
        let mut counts = resumed.retry_counts;
        let mut retry_count = resumed.retry_count;
        let mut phase = resumed.phase;
        let result = loop {
            if let Phase::RetryWait { resume_at } = phase {
                self.shared.clock.sleep_until(resume_at).await;
                phase = Phase::Entered;
            }
            let parked = match std::mem::replace(&mut phase, Phase::Entered) {
                p @ Phase::Parked { .. } => Some(p),
                _ => None,
            };
            let attempt = match work {
                Work::Task(t) => {
                    self.task_attempt(here, t, lane, retry_count, &counts, parked)
                        .await
                }
                Work::Parallel(p) => self.parallel_attempt(here, p, lane, retry_count).await,
                Work::Map(m) => self.map_attempt(here, m, lane, retry_count).await,
            };
            if let Err(f) = &attempt {
                self.evaluation_failed(here, lane, f);
            }
            match attempt {
                Ok(v) => break Ok(v),
                Err(f) => match retry_delay(&h.retry, &mut counts, &f) {
                    Some(delay) => {
                        retry_count += 1;
                        self.retry_wait(here, lane, delay, &counts, retry_count)
                            .await?;
                    }
                    None => break Err(f),
                },
            }
        };
        let finished = match result {
            Ok(v) => self.finish(here, h, v, retry_count, None),
            Err(f) => return self.catch(here, &h.catch, f),
        };
        match finished {
            // A failed Output or Assign of a JSONata state is caught too
            // (JSONPath ResultSelector/ResultPath failures are not).
            Err(f) if f.error == ErrorName::QueryEvaluationError => {
                self.evaluation_failed(here, lane, &f);
                self.catch(here, &h.catch, f)
            }
            other => other,
        }
    }

    async fn retry_wait(
        &self,
        here: &Here<'_>,
        lane: &Lane,
        delay: Duration,
        counts: &[u32],
        retry_count: u32,
    ) -> Result<(), Failure> {
        let at = self.now() + TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX);
        self.persist(lane, || {
            here.position(counts, retry_count, Phase::RetryWait { resume_at: at })
        })
        .await?;
        self.shared.clock.sleep_until(at).await;
        Ok(())
    }

    /// ResultSelector → ResultPath → OutputPath (keeping the values
    /// between them in `stages`, if given).
    pub(super) fn finish(
        &self,
        here: &Here<'_>,
        h: &Handling,
        result: Value,
        retry_count: u32,
        mut stages: Option<&mut Stages>,
    ) -> Result<Step, Failure> {
        let extra = Extra::retry(retry_count);
        let result = match &h.result_selector {
            Some(s) => self.eval_template(s, &result, here, &extra)?,
            None => result,
        };
        keep(&mut stages, |s| &mut s.after_result_selector, &result);
        // `$` in Assign is the result after ResultSelector.
        let data = StatesData::result(&result);
        self.assign(here, h.assign.as_ref(), &result, data, &extra)?;
        let out = match here.state.output {
            Some(_) => self.jsonata_output(here, Value::Null, data, &extra)?,
            None => self.apply_result_path(&h.result_path, here.input, result, here)?,
        };
        keep(&mut stages, |s| &mut s.after_result_path, &out);
        let out = self.select_owned(&here.state.output_path, out, here)?;
        Ok(step(h.transition, out))
    }

    /// The first catcher that matches the failure, or the failure itself.
    pub(super) fn catch(
        &self,
        here: &Here<'_>,
        catchers: &[Catcher],
        failure: Failure,
    ) -> Result<Step, Failure> {
        // The state's own Assign (evaluated before a failing Output) is not
        // applied when it fails; only the catcher's is.
        lock(&here.assigned).take();
        if failure.error.is_uncatchable() {
            return Err(failure);
        }
        let Some(c) = catchers
            .iter()
            .find(|c| c.errors.iter().any(|p| failure.error.is_matched_by(p)))
        else {
            return Err(failure);
        };
        let mut obj = Map::new();
        obj.insert(
            "Error".into(),
            Value::String(failure.error.as_str().to_owned()),
        );
        if let Some(cause) = &failure.cause {
            obj.insert("Cause".into(), Value::String(cause.clone()));
        }
        let error_output = Value::Object(obj);
        // `$` in a catcher's Assign is the error output.
        let data = StatesData::error(&error_output);
        self.assign(
            here,
            c.assign.as_ref(),
            &error_output,
            data,
            &Extra::default(),
        )?;
        let out = match &c.output {
            Some(jx) => self.jsonata(here, jx, "Output", data, &Extra::default())?,
            None => self.apply_result_path(&c.result_path, here.input, error_output, here)?,
        };
        Ok(Step::Caught(c.next, out, failure.error.as_str().to_owned()))
    }
}

/// The delay before the next attempt, or None when the error is not
/// retried (no matching retrier, or its attempts are used up).
pub(super) fn retry_delay(
    retriers: &[Retrier],
    counts: &mut Vec<u32>,
    failure: &Failure,
) -> Option<Duration> {
    if failure.error.is_uncatchable() {
        return None;
    }
    counts.resize(retriers.len(), 0);
    let i = retriers
        .iter()
        .position(|r| r.errors.iter().any(|p| failure.error.is_matched_by(p)))?;
    let r = retriers.get(i)?;
    let used = counts.get_mut(i)?;
    if u64::from(*used) >= r.max_attempts {
        return None;
    }
    let exp = i32::try_from(*used).unwrap_or(i32::MAX);
    *used += 1;
    let mut secs = r.interval_seconds as f64 * r.backoff_rate.powi(exp);
    if let Some(max) = r.max_delay_seconds {
        secs = secs.min(max as f64);
    }
    if !secs.is_finite() {
        secs = MAX_RETRY_DELAY_SECONDS;
    }
    secs = secs.min(MAX_RETRY_DELAY_SECONDS);
    if r.jitter == Jitter::Full {
        secs *= random::unit().unwrap_or(1.0);
    }
    Some(Duration::from_millis((secs * 1000.0).round() as u64))
}
