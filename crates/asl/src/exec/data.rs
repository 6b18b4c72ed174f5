//! Data flow inside a state: the context object, payload templates and the
//! `InputPath` / `ResultPath` / `OutputPath` / `…Path` fields.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::jsonata::StatesData;
use super::{Extra, Here, Run, iso};
use crate::error::{ErrorName, Failure};
use crate::model::{Assign, IoPath, Payload, ResultPath, Seconds};
use crate::path::ReferencePath;
use crate::ql::Sections;
use crate::template::{Env, LazyContext, Template, truncate};

impl Run {
    pub(super) fn context(&self, here: &Here<'_>, extra: &Extra<'_>, with_input: bool) -> Value {
        let sections = Sections {
            execution_input: with_input,
            ..Sections::ALL
        };
        self.context_sections(here, extra, sections)
    }

    /// The context object with only `sections` (what a JSONata field reads
    /// of `$states.context`; an unread section would be cut away anyway).
    pub(super) fn context_sections(
        &self,
        here: &Here<'_>,
        extra: &Extra<'_>,
        sections: Sections,
    ) -> Value {
        let mut ctx = Map::new();
        if sections.execution {
            let input = match sections.execution_input {
                true => self.info.input.clone(),
                false => Value::Null,
            };
            ctx.insert(
                "Execution".into(),
                json!({
                    "Id": self.info.id,
                    "Input": input,
                    "Name": self.info.name,
                    "RoleArn": self.info.role_arn,
                    "StartTime": iso(self.info.start_time),
                    "RedriveCount": 0,
                }),
            );
        }
        if sections.state {
            ctx.insert(
                "State".into(),
                json!({
                    "EnteredTime": iso(here.entered),
                    "Name": here.state.name,
                    "RetryCount": extra.retry_count,
                }),
            );
        }
        if sections.state_machine {
            ctx.insert(
                "StateMachine".into(),
                json!({
                    "Id": self.info.state_machine_id,
                    "Name": self.info.state_machine_name,
                }),
            );
        }
        if let (true, Some(t)) = (sections.task, extra.token) {
            ctx.insert("Task".into(), json!({ "Token": t }));
        }
        if let (true, Some((i, v))) = (sections.map, extra.map_item) {
            ctx.insert("Map".into(), json!({ "Item": { "Index": i, "Value": v } }));
        }
        Value::Object(ctx)
    }

    /// Evaluate a template with the context object built on demand.
    pub(super) fn eval_template(
        &self,
        t: &Template,
        input: &Value,
        here: &Here<'_>,
        extra: &Extra<'_>,
    ) -> Result<Value, Failure> {
        if let Template::Literal(v) = t {
            return Ok(v.clone());
        }
        self.with_env(input, here, extra, |env| t.eval(env))
    }

    /// Run `f` with an [`Env`] over `input` whose context object is built
    /// only if a `$$` path reads it. All path lookups go through an `Env`,
    /// which picks the root (input or context object) by the path.
    pub(super) fn with_env<R>(
        &self,
        input: &Value,
        here: &Here<'_>,
        extra: &Extra<'_>,
        f: impl FnOnce(&Env<'_>) -> R,
    ) -> R {
        let build = |full: bool| self.context(here, extra, full);
        let ctx = LazyContext::new(&build);
        f(&Env::new(input, &ctx).with_vars(here.vars))
    }

    /// `Parameters`, `Arguments` or `ItemSelector` over `input`; `field`
    /// names a JSONata field in errors.
    pub(super) fn payload(
        &self,
        p: &Payload,
        input: &Value,
        here: &Here<'_>,
        extra: &Extra<'_>,
        field: &str,
    ) -> Result<Value, Failure> {
        match p {
            Payload::Path(t) => self.eval_template(t, input, here, extra),
            Payload::Jsonata(jx) => self.jsonata(here, jx, field, StatesData::default(), extra),
        }
    }

    /// `InputPath` (or any path field applied to a borrowed value): the
    /// value itself is borrowed, not copied, when the path is absent.
    pub(super) fn select<'v>(
        &self,
        p: &IoPath,
        v: &'v Value,
        here: &Here<'_>,
        field: &str,
    ) -> Result<Cow<'v, Value>, Failure> {
        match p {
            IoPath::Identity => Ok(Cow::Borrowed(v)),
            IoPath::Null => Ok(Cow::Owned(Value::Object(Map::new()))),
            IoPath::Path(path) => self
                .with_env(v, here, &Extra::default(), |env| env.resolve(path))
                .map(Cow::Owned)
                .ok_or_else(|| {
                    Failure::runtime(format!(
                        "An error occurred while executing the state '{}' (entered at the event id #{}). Invalid path '{}' for {field}: No results for path in '{}'",
                        here.state.name,
                        here.entered_id,
                        path.as_str(),
                        truncate(&v.to_string(), 256)
                    ))
                }),
        }
    }

    /// The state's `InputPath` applied to its input.
    pub(super) fn effective_input<'v>(
        &self,
        here: &'v Here<'_>,
    ) -> Result<Cow<'v, Value>, Failure> {
        self.select(&here.state.input_path, here.input, here, "InputPath")
    }

    /// `OutputPath`: applied to a value the state owns, which is moved
    /// through when the path is absent.
    pub(super) fn select_owned(
        &self,
        p: &IoPath,
        v: Value,
        here: &Here<'_>,
    ) -> Result<Value, Failure> {
        match p {
            IoPath::Identity => Ok(v),
            _ => self.select(p, &v, here, "OutputPath").map(Cow::into_owned),
        }
    }

    pub(super) fn apply_result_path(
        &self,
        rp: &ResultPath,
        raw: &Value,
        result: Value,
        here: &Here<'_>,
    ) -> Result<Value, Failure> {
        match rp {
            ResultPath::Replace => Ok(result),
            ResultPath::Discard => Ok(raw.clone()),
            ResultPath::Path(p) => {
                let mut out = raw.clone();
                p.set(&mut out, result).map_err(|e| {
                    Failure::new(
                        ErrorName::ResultPathMatchFailure,
                        format!(
                            "An error occurred while executing the state '{}'. Unable to apply ResultPath '{}' to input '{}': {e}",
                            here.state.name,
                            p.as_str(),
                            truncate(&raw.to_string(), 256)
                        ),
                    )
                })?;
                Ok(out)
            }
        }
    }
}

impl Run {
    /// Evaluate an `Assign` field and keep the values for when the state
    /// exits: a JSONPath one against `dollar` (what the state defines as
    /// `$` for Assign), a JSONata one with `$states` from `data`.
    pub(super) fn assign(
        &self,
        here: &Here<'_>,
        assign: Option<&Assign>,
        dollar: &Value,
        data: StatesData<'_>,
        extra: &Extra<'_>,
    ) -> Result<(), Failure> {
        let v = match assign {
            None => return Ok(()),
            Some(Assign::Path(t)) => self.eval_template(t, dollar, here, extra)?,
            Some(Assign::Jsonata(jx)) => self.jsonata(here, jx, "Assign", data, extra)?,
        };
        match v {
            Value::Object(values) => {
                here.assign(values);
                Ok(())
            }
            other => Err(Failure::runtime(format!(
                "Assign must produce an object of variables, found {other}"
            ))),
        }
    }
}

/// A `…Seconds` / `…SecondsPath` value (also `MaxConcurrency[Path]`);
/// `what` names the path field for error messages.
pub(super) fn resolve_seconds(s: &Seconds, env: &Env<'_>, what: &str) -> Result<u64, Failure> {
    match s {
        Seconds::Fixed(n) => Ok(*n),
        // Evaluated before the paths (`Run::jsonata_seconds`).
        Seconds::Jsonata(_) => Err(Failure::runtime(format!("{what}: not a path"))),
        Seconds::Path(p) => {
            let v = lookup(p, env, what)?;
            v.as_u64().ok_or_else(|| {
                Failure::runtime(format!(
                    "The {what} '{}' must point to a non-negative integer, found {v}",
                    p.as_str()
                ))
            })
        }
    }
}

/// The node a reference path points to, from the state input (`$…`) or the
/// context object (`$$…`); `field` names the field for the error message.
pub(super) fn lookup<'e>(
    p: &ReferencePath,
    env: &'e Env<'_>,
    field: &str,
) -> Result<&'e Value, Failure> {
    env.get(p.path()).ok_or_else(|| {
        let doc = if p.is_context() {
            "context object"
        } else {
            "input"
        };
        Failure::runtime(format!(
            "Invalid path '{}': The {field} could not be found in the {doc}",
            p.as_str()
        ))
    })
}
