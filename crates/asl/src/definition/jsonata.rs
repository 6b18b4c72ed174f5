//! The fields of JSONata states: expressions (`{% … %}`) parsed once here,
//! next to the JSONPath forms of the same fields.

use serde_json::{Map, Value};

use super::Builder;
use crate::choice::parse_rule;
use crate::jsonata::Template as JTemplate;
use crate::model::{Assign, Cond, FailField, Payload, QueryLanguage, Seconds, WaitFor};
use crate::ql::Jx;
use crate::vars::check_name;

impl Builder {
    fn jsonata(&self) -> bool {
        self.state_ql == QueryLanguage::Jsonata
    }

    /// A JSONata field (any JSON; `{% … %}` strings at any depth are
    /// expressions).
    pub(super) fn jx(&mut self, v: Option<&Value>, ptr: &str) -> Option<Jx> {
        Jx::compile(v?, ptr, &mut self.problems)
    }

    /// A string that is a JSONata expression, in a JSONata state.
    fn jx_expression(&mut self, v: Option<&Value>, ptr: &str) -> Option<Jx> {
        let s = v?.as_str()?;
        if !self.jsonata() || !JTemplate::is_expression(s) {
            return None;
        }
        self.jx(v, ptr)
    }

    /// `Parameters` (JSONPath: a payload template) or `Arguments`
    /// (JSONata).
    pub(super) fn payload(
        &mut self,
        obj: &Map<String, Value>,
        path_key: &str,
        jsonata_key: &str,
        ptr: &str,
    ) -> Option<Payload> {
        if self.jsonata() {
            let v = obj.get(jsonata_key);
            return self
                .jx(v, &format!("{ptr}/{jsonata_key}"))
                .map(Payload::Jsonata);
        }
        self.template(obj.get(path_key), &format!("{ptr}/{path_key}"))
            .map(Payload::Path)
    }

    /// A top-level Choice rule: a JSONPath rule, or a JSONata `Condition`;
    /// and its `Next`.
    pub(super) fn choice_rule(&mut self, r: &Value, p: &str) -> (Option<Cond>, Option<String>) {
        if !self.jsonata() {
            let (rule, next) = parse_rule(r, p, true, &mut self.problems);
            return (rule.map(Cond::Path), next);
        }
        let Some(obj) = r.as_object() else {
            self.problem(p, "a choice rule must be an object");
            return (None, None);
        };
        let next = match obj.get("Next") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.problem(format!("{p}/Next"), "Next must be a string");
                None
            }
            None => {
                self.problem(p, "a choice rule must have Next");
                None
            }
        };
        let cond = match obj.get("Condition") {
            Some(v @ (Value::Bool(_) | Value::String(_))) => {
                self.jx(Some(v), &format!("{p}/Condition"))
            }
            Some(_) => {
                self.problem(
                    format!("{p}/Condition"),
                    "Condition must be a JSONata expression ({% … %}) or a boolean",
                );
                None
            }
            // Reported by the language check.
            None => None,
        };
        (cond.map(Cond::Jsonata), next)
    }

    /// A JSONata `Seconds` or `Timestamp` given as an expression (None
    /// for a literal, parsed as in JSONPath states).
    pub(super) fn jsonata_wait(
        &mut self,
        key: &str,
        v: &Value,
        ptr: &str,
    ) -> Option<Option<WaitFor>> {
        let jx = self.jx_expression(Some(v), ptr);
        if jx.is_none() && !(self.jsonata() && v.as_str().is_some_and(JTemplate::is_expression)) {
            return None;
        }
        Some(jx.map(|j| match key {
            "Seconds" => WaitFor::Seconds(Seconds::Jsonata(j)),
            _ => WaitFor::TimestampJsonata(j),
        }))
    }

    /// A JSONata `TimeoutSeconds`, `HeartbeatSeconds` or `MaxConcurrency`
    /// given as an expression.
    pub(super) fn jsonata_seconds(&mut self, v: Option<&Value>, ptr: &str) -> Option<Seconds> {
        self.jx_expression(v, ptr).map(Seconds::Jsonata)
    }

    /// A JSONata Fail state's `Error` or `Cause` given as an expression.
    pub(super) fn jsonata_fail_field(&mut self, v: Option<&Value>, ptr: &str) -> Option<FailField> {
        self.jx_expression(v, ptr).map(FailField::Jsonata)
    }

    /// A JSONata `Assign`: its keys are the variable names.
    pub(super) fn jsonata_assign(
        &mut self,
        obj: &Map<String, Value>,
        v: &Value,
        ptr: &str,
    ) -> Option<Assign> {
        for k in obj.keys() {
            if let Err(e) = check_name(k) {
                self.problem(crate::ql::child(ptr, k), e);
            }
        }
        self.jx(Some(v), ptr).map(Assign::Jsonata)
    }

    /// A JSONata catcher's `Output`.
    pub(super) fn catcher_output(&mut self, obj: &Map<String, Value>, p: &str) -> Option<Jx> {
        if !self.jsonata() {
            return None;
        }
        self.jx(obj.get("Output"), &format!("{p}/Output"))
    }

    /// A JSONata Map's `Items`.
    pub(super) fn map_items(&mut self, obj: &Map<String, Value>, ptr: &str) -> Option<Jx> {
        if !self.jsonata() {
            return None;
        }
        self.jx(obj.get("Items"), &format!("{ptr}/Items"))
    }
}
