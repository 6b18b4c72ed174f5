//! JSONata fields at run time: `$states` (`input`, `result`,
//! `errorOutput`, `context`) and the variables in scope bound for one
//! evaluation; a failure is `States.QueryEvaluationError`, and the state
//! writes an `EvaluationFailed` event before it fails.

use serde_json::Value;

use super::{Extra, Here, Lane, Run, lock};
use crate::error::{ErrorName, Failure};
use crate::history::{EvaluationFailedDetails, EventDetails, EventType};
use crate::jsonata::{JsonataError, Scope, States};
use crate::model::Seconds;
use crate::ql::Jx;

/// Where an evaluation failed, as AWS names it: the field and the path
/// inside it (`Output/result`).
fn location(e: &JsonataError, field: &str) -> String {
    match e {
        JsonataError::Evaluation { field: f, .. }
        | JsonataError::Undefined { field: f, .. }
        | JsonataError::NotJson { field: f, .. } => f.trim_end_matches('/').replace("//", "/"),
        JsonataError::Syntax { .. } | JsonataError::Unsupported { .. } => field.to_owned(),
    }
}

/// What `$states` holds besides `input` and `context` for one field.
#[derive(Default, Clone, Copy)]
pub(super) struct StatesData<'v> {
    pub(super) result: Option<&'v Value>,
    pub(super) error_output: Option<&'v Value>,
}

impl<'v> StatesData<'v> {
    pub(super) fn result(v: &'v Value) -> Self {
        StatesData {
            result: Some(v),
            error_output: None,
        }
    }

    pub(super) fn error(v: &'v Value) -> Self {
        StatesData {
            result: None,
            error_output: Some(v),
        }
    }
}

impl Run {
    /// Evaluate the JSONata field `field` (its name in error messages and
    /// in the `EvaluationFailed` event: `Output`, `Arguments`, …). `$states`
    /// holds only what the field's expressions read, borrowed from where it
    /// lives; the context object is built only when they read it.
    pub(super) fn jsonata(
        &self,
        here: &Here<'_>,
        jx: &Jx,
        field: &str,
        data: StatesData<'_>,
        extra: &Extra<'_>,
    ) -> Result<Value, Failure> {
        if let Some(v) = jx.literal() {
            return Ok(v.clone());
        }
        let r = jx.reads;
        let context = r
            .context
            .then(|| self.context_sections(here, extra, r.sections));
        let parts = [
            ("input", r.input.then_some(here.input)),
            ("result", data.result.filter(|_| r.result)),
            ("errorOutput", data.error_output.filter(|_| r.error_output)),
            ("context", context.as_ref()),
        ];
        // At most four: kept on the stack.
        let mut fields: [(&'static str, &Value); 4] = [("", &Value::Null); 4];
        let mut n = 0;
        for (slot, (name, v)) in fields
            .iter_mut()
            .zip(parts.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))))
        {
            *slot = (name, v);
            n += 1;
        }
        let scope = Scope {
            states: States::Fields(fields.get(..n).unwrap_or_default()),
            variables: here.vars.all(),
        };
        jx.template.evaluate(&scope).map_err(|e| {
            let e = e.in_field(field);
            *lock(&here.eval_failed) = Some(location(&e, field));
            Failure::new(
                ErrorName::QueryEvaluationError,
                format!(
                    "An error occurred while executing the state '{}' (entered at the event id #{}). {e}",
                    here.state.name, here.entered_id
                ),
            )
        })
    }

    /// A JSONata `Seconds`, `TimeoutSeconds`, `HeartbeatSeconds` or
    /// `MaxConcurrency` (None for the JSONPath forms).
    pub(super) fn jsonata_seconds(
        &self,
        here: &Here<'_>,
        s: Option<&Seconds>,
        field: &str,
        extra: &Extra<'_>,
    ) -> Result<Option<u64>, Failure> {
        let Some(Seconds::Jsonata(jx)) = s else {
            return Ok(None);
        };
        let v = self.jsonata(here, jx, field, StatesData::default(), extra)?;
        match v.as_u64() {
            Some(n) => Ok(Some(n)),
            None => Err(self.query_error(
                here,
                field,
                format!(
                    "The value of the field '{field}' must be a non-negative integer, found {v}"
                ),
            )),
        }
    }

    /// A `States.QueryEvaluationError` for a value of the wrong type.
    pub(super) fn query_error(&self, here: &Here<'_>, field: &str, what: String) -> Failure {
        *lock(&here.eval_failed) = Some(field.to_owned());
        Failure::new(
            ErrorName::QueryEvaluationError,
            format!(
                "An error occurred while executing the state '{}' (entered at the event id #{}). {what}",
                here.state.name, here.entered_id
            ),
        )
    }

    /// `EvaluationFailed`, when an evaluation of this state failed since
    /// the last one was written.
    pub(super) fn evaluation_failed(&self, here: &Here<'_>, lane: &mut Lane, f: &Failure) {
        let Some(location) = lock(&here.eval_failed).take() else {
            return;
        };
        self.emit(
            lane,
            EventType::EvaluationFailed,
            EventDetails::EvaluationFailed(EvaluationFailedDetails {
                error: Some(f.error.as_str().to_owned()),
                cause: f.cause.clone(),
                location: Some(location),
                state: here.state.name.clone(),
            }),
        );
    }

    /// A JSONata state's `Output` over its default output `out`.
    pub(super) fn jsonata_output(
        &self,
        here: &Here<'_>,
        out: Value,
        data: StatesData<'_>,
        extra: &Extra<'_>,
    ) -> Result<Value, Failure> {
        match &here.state.output {
            Some(jx) => self.jsonata(here, jx, "Output", data, extra),
            None => Ok(out),
        }
    }
}
