//! The states without retriers: Pass, Choice, Wait, Succeed and Fail.

use chrono::{TimeDelta, Utc};
use serde_json::Value;

use super::data::{lookup, resolve_seconds};
use super::flow::step;
use super::{Extra, Here, Run, Step};
use crate::choice::{Rule, parse_timestamp};
use crate::error::{ErrorName, Failure};
use crate::model::{FailField, ResultPath, Transition, WaitFor};
use crate::template::Template;

impl Run {
    pub(super) fn pass(
        &self,
        here: &Here<'_>,
        parameters: Option<&Template>,
        result: Option<&Value>,
        result_path: &ResultPath,
        transition: Transition,
    ) -> Result<Step, Failure> {
        let effective = self.effective_input(here)?;
        let value = match (result, parameters) {
            (Some(r), _) => r.clone(),
            (None, Some(t)) => self.eval_template(t, &effective, here, &Extra::default())?,
            (None, None) => effective.into_owned(),
        };
        let out = self.apply_result_path(result_path, here.input, value, here)?;
        let out = self.select_owned(&here.state.output_path, out, here)?;
        Ok(step(transition, out))
    }

    pub(super) fn choice(
        &self,
        here: &Here<'_>,
        choices: &[(Rule, usize)],
        default: Option<usize>,
    ) -> Result<Step, Failure> {
        let effective = self.effective_input(here)?;
        let chosen = self.with_env(&effective, here, &Extra::default(), |env| {
            for (rule, next) in choices {
                if rule.eval(env)? {
                    return Ok(Some(*next));
                }
            }
            Ok::<_, Failure>(None)
        })?;
        let Some(next) = chosen.or(default) else {
            return Err(Failure::new(
                ErrorName::NoChoiceMatched,
                format!(
                    "No Choice Rule matched in state '{}' and it has no Default",
                    here.state.name
                ),
            ));
        };
        let out = self.select_owned(&here.state.output_path, effective.into_owned(), here)?;
        Ok(Step::Next(next, out))
    }

    pub(super) async fn wait(
        &self,
        here: &Here<'_>,
        wait: &WaitFor,
        transition: Transition,
    ) -> Result<Step, Failure> {
        let effective = self.effective_input(here)?;
        let add = |secs: u64| {
            i64::try_from(secs)
                .ok()
                .and_then(|s| here.entered.checked_add_signed(TimeDelta::seconds(s)))
                .ok_or_else(|| Failure::runtime(format!("the wait of {secs} seconds is too long")))
        };
        let until = self.with_env(&effective, here, &Extra::default(), |env| match wait {
            WaitFor::Seconds(s) => add(resolve_seconds(s, env, "SecondsPath")?),
            WaitFor::Timestamp(t) => Ok(t.with_timezone(&Utc)),
            WaitFor::TimestampPath(p) => {
                let v = lookup(p, env, "TimestampPath")?;
                v.as_str()
                    .and_then(parse_timestamp)
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(|| {
                        Failure::runtime(format!(
                            "The TimestampPath '{}' must point to an RFC 3339 timestamp, found {v}",
                            p.as_str()
                        ))
                    })
            }
        })?;
        self.shared.clock.sleep_until(until).await;
        let out = self.select_owned(&here.state.output_path, effective.into_owned(), here)?;
        Ok(step(transition, out))
    }

    pub(super) fn succeed(&self, here: &Here<'_>) -> Result<Step, Failure> {
        let effective = self.effective_input(here)?;
        self.select_owned(&here.state.output_path, effective.into_owned(), here)
            .map(Step::End)
    }

    pub(super) fn fail(&self, here: &Here<'_>, error: &FailField, cause: &FailField) -> Failure {
        let error = match self.fail_field(here, error, "ErrorPath") {
            Ok(e) => e,
            Err(f) => return f,
        };
        let cause = match self.fail_field(here, cause, "CausePath") {
            Ok(c) => c,
            Err(f) => return f,
        };
        Failure {
            error: ErrorName::new(error.unwrap_or_default()),
            cause,
        }
    }

    /// A Fail state's `Error`/`ErrorPath` or `Cause`/`CausePath`.
    fn fail_field(
        &self,
        here: &Here<'_>,
        f: &FailField,
        what: &str,
    ) -> Result<Option<String>, Failure> {
        match f {
            FailField::Absent => Ok(None),
            FailField::Literal(s) => Ok(Some(s.clone())),
            FailField::Expr(e) => {
                let v =
                    self.with_env(here.input, here, &Extra::default(), |env| e.eval(env, what))?;
                match v {
                    Value::String(s) => Ok(Some(s)),
                    other => Err(Failure::runtime(format!(
                        "The value of {what} must be a string, found {other}"
                    ))),
                }
            }
        }
    }
}
