//! The states without retriers: Pass, Choice, Wait, Succeed and Fail.

use std::borrow::Cow;

use chrono::{TimeDelta, Utc};
use serde_json::Value;

use super::data::{lookup, resolve_seconds};
use super::flow::{Stages, keep, step};
use super::jsonata::StatesData;
use super::{Extra, Here, Run, Step};
use crate::choice::parse_timestamp;
use crate::error::{ErrorName, Failure};
use crate::model::{Assign, ChoiceRule, Cond, FailField, Kind, Transition, WaitFor};

impl Run {
    /// A Pass state (keeping the values between its stages in `stages`, if
    /// given).
    pub(super) fn pass(
        &self,
        here: &Here<'_>,
        mut stages: Option<&mut Stages>,
    ) -> Result<Step, Failure> {
        let Kind::Pass {
            parameters,
            result,
            result_path,
            assign,
            transition,
        } = &here.state.kind
        else {
            return Err(Failure::runtime("not a Pass state"));
        };
        let transition = *transition;
        let effective = self.effective_input(here)?;
        keep(&mut stages, |s| &mut s.after_input_path, &effective);
        let value = match (result, parameters) {
            (Some(r), _) => Cow::Owned(r.clone()),
            (None, Some(t)) => {
                Cow::Owned(self.eval_template(t, &effective, here, &Extra::default())?)
            }
            (None, None) => effective,
        };
        keep(&mut stages, |s| &mut s.result, &value);
        // `$` in a Pass state's Assign is its result (before ResultPath).
        let none = StatesData::default();
        self.assign(here, assign.as_ref(), &value, none, &Extra::default())?;
        if here.state.output.is_some() {
            // A JSONata Pass: its Output replaces the result, which is not
            // copied for nothing.
            let out = self.jsonata_output(here, Value::Null, none, &Extra::default())?;
            return Ok(step(transition, out));
        }
        let out = self.apply_result_path(result_path, here.input, value.into_owned(), here)?;
        keep(&mut stages, |s| &mut s.after_result_path, &out);
        let out = self.select_owned(&here.state.output_path, out, here)?;
        let out = self.jsonata_output(here, out, none, &Extra::default())?;
        Ok(step(transition, out))
    }

    pub(super) fn choice(
        &self,
        here: &Here<'_>,
        choices: &[ChoiceRule],
        default: Option<usize>,
        assign: Option<&Assign>,
    ) -> Result<Step, Failure> {
        let effective = self.effective_input(here)?;
        let chosen = self.choose(here, &effective, choices)?;
        // `$` in a Choice state's Assign is its effective input. The
        // matched rule's Assign applies; the state-level one goes with the
        // Default (AWS's workflow-variables example: a rule that matches
        // does not evaluate it).
        let assign = match chosen {
            Some(c) => c.assign.as_ref(),
            None => assign,
        };
        let none = StatesData::default();
        self.assign(here, assign, &effective, none, &Extra::default())?;
        let Some(next) = chosen.map(|c| c.next).or(default) else {
            return Err(Failure::new(
                ErrorName::NoChoiceMatched,
                format!(
                    "No Choice Rule matched in state '{}' and it has no Default",
                    here.state.name
                ),
            ));
        };
        let out = self.select_owned(&here.state.output_path, effective.into_owned(), here)?;
        let out = match chosen.and_then(|c| c.output.as_ref()) {
            Some(jx) => self.jsonata(here, jx, "Output", none, &Extra::default())?,
            None => self.jsonata_output(here, out, none, &Extra::default())?,
        };
        Ok(Step::Next(next, out))
    }

    /// The first Choice rule that holds.
    fn choose<'c>(
        &self,
        here: &Here<'_>,
        effective: &Value,
        choices: &'c [ChoiceRule],
    ) -> Result<Option<&'c ChoiceRule>, Failure> {
        for (i, c) in choices.iter().enumerate() {
            let holds = match &c.rule {
                Cond::Path(rule) => {
                    self.with_env(effective, here, &Extra::default(), |env| rule.eval(env))?
                }
                Cond::Jsonata(jx) => {
                    let field = format!("Choices[{i}]/Condition");
                    let v =
                        self.jsonata(here, jx, &field, StatesData::default(), &Extra::default())?;
                    match v {
                        Value::Bool(b) => b,
                        other => {
                            return Err(self.query_error(
                                here,
                                &field,
                                format!("The Condition of choice rule {i} must evaluate to a boolean, found {other}"),
                            ));
                        }
                    }
                }
            };
            if holds {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    pub(super) async fn wait(
        &self,
        here: &Here<'_>,
        wait: &WaitFor,
        assign: Option<&Assign>,
        transition: Transition,
    ) -> Result<Step, Failure> {
        let effective = self.effective_input(here)?;
        // `$` in a Wait state's Assign is its effective input.
        let none = StatesData::default();
        self.assign(here, assign, &effective, none, &Extra::default())?;
        let extra = Extra::default();
        let secs = match wait {
            WaitFor::Seconds(s) => self.jsonata_seconds(here, Some(s), "Seconds", &extra)?,
            _ => None,
        };
        let stamp = match wait {
            WaitFor::TimestampJsonata(jx) => {
                let v = self.jsonata(here, jx, "Timestamp", none, &extra)?;
                let t = v.as_str().and_then(parse_timestamp);
                Some(t.map(|t| t.with_timezone(&Utc)).ok_or_else(|| {
                    self.query_error(
                        here,
                        "Timestamp",
                        format!("The Timestamp must be an RFC 3339 timestamp, found {v}"),
                    )
                })?)
            }
            _ => None,
        };
        let add = |secs: u64| {
            i64::try_from(secs)
                .ok()
                .and_then(|s| here.entered.checked_add_signed(TimeDelta::seconds(s)))
                .ok_or_else(|| Failure::runtime(format!("the wait of {secs} seconds is too long")))
        };
        let until = self.with_env(&effective, here, &Extra::default(), |env| match wait {
            _ if secs.is_some() => add(secs.unwrap_or_default()),
            WaitFor::TimestampJsonata(_) => stamp.ok_or_else(|| Failure::runtime("no timestamp")),
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
        let out = self.jsonata_output(here, out, none, &extra)?;
        Ok(step(transition, out))
    }

    pub(super) fn succeed(&self, here: &Here<'_>) -> Result<Step, Failure> {
        let effective = self.effective_input(here)?;
        let out = self.select_owned(&here.state.output_path, effective.into_owned(), here)?;
        self.jsonata_output(here, out, StatesData::default(), &Extra::default())
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
            FailField::Jsonata(jx) => {
                let field = what.trim_end_matches("Path");
                let v = self.jsonata(here, jx, field, StatesData::default(), &Extra::default())?;
                match v {
                    Value::String(s) => Ok(Some(s)),
                    other => Err(self.query_error(
                        here,
                        field,
                        format!("The value of {field} must be a string, found {other}"),
                    )),
                }
            }
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
