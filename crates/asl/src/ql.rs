//! A JSONata field of a state as the engine keeps it: the parsed template
//! and which parts of `$states` its expressions read, so an evaluation
//! builds only those (the context object, and the execution input inside
//! it, are built only when an expression can read them).

use serde_json::Value;

use crate::error::{Problem, pointer_token};
use crate::jsonata::{Expression, Template};

/// A parsed JSONata field (`Arguments`, `Output`, `Assign`, `Condition`,
/// `Items`, `ItemSelector`, `Seconds`, …).
#[derive(Debug, Clone)]
pub(crate) struct Jx {
    pub(crate) template: Template,
    pub(crate) reads: Reads,
}

/// The parts of `$states` the expressions of a [`Jx`] may read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reads {
    pub(crate) input: bool,
    pub(crate) result: bool,
    pub(crate) error_output: bool,
    pub(crate) context: bool,
    /// `$states.context.Execution.Input` (large, rarely read).
    pub(crate) execution_input: bool,
}

impl Jx {
    /// Parse `v` (at `ptr` in the definition), recording its problems.
    pub(crate) fn compile(v: &Value, ptr: &str, problems: &mut Vec<Problem>) -> Option<Jx> {
        match Template::parse(v) {
            Ok(template) => {
                let mut reads = Reads::default();
                sources(&template, &mut |s| reads.add(s));
                Some(Jx { template, reads })
            }
            Err(ps) => {
                for (p, m) in ps {
                    problems.push(Problem::new(format!("{ptr}{p}"), m));
                }
                None
            }
        }
    }

    /// The value when the field holds no expression.
    pub(crate) fn literal(&self) -> Option<&Value> {
        match &self.template {
            Template::Literal(v) => Some(v),
            _ => None,
        }
    }

    /// Whether some expression's text contains `needle`.
    pub(crate) fn mentions(&self, needle: &str) -> bool {
        let mut found = false;
        sources(&self.template, &mut |s| found |= s.contains(needle));
        found
    }

    /// The field's text for outlines (the expression, or the JSON).
    pub(crate) fn describe(&self) -> String {
        match &self.template {
            Template::Literal(v) => v.to_string(),
            Template::Expression(e) => format!("{{% {} %}}", e.source()),
            _ => "{…}".to_owned(),
        }
    }
}

impl Reads {
    fn add(&mut self, src: &str) {
        if !src.contains("$states") {
            return;
        }
        // `$states` passed on whole reads everything.
        let whole = src.replace("$states.", "").contains("$states");
        self.input |= whole || src.contains("input");
        self.result |= whole || src.contains("result");
        self.error_output |= whole || src.contains("errorOutput");
        self.context |= whole || src.contains("context");
        self.execution_input |= whole || src.contains("Execution");
    }
}

fn sources(t: &Template, f: &mut impl FnMut(&str)) {
    match t {
        Template::Literal(_) => {}
        Template::Expression(e) => f(expression_source(e)),
        Template::Object(fields) => fields.iter().for_each(|(_, x)| sources(x, f)),
        Template::Array(items) => items.iter().for_each(|x| sources(x, f)),
    }
}

fn expression_source(e: &Expression) -> &str {
    e.source()
}

/// The pointer of `key` inside `ptr`.
pub(crate) fn child(ptr: &str, key: &str) -> String {
    format!("{ptr}/{}", pointer_token(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_are_what_the_expressions_name() {
        let mut problems = Vec::new();
        let jx = Jx::compile(
            &json!({"a": "{% $states.input.x %}", "b": "{% $states.context.State.Name %}"}),
            "/Output",
            &mut problems,
        );
        let reads = jx.map(|j| j.reads).unwrap_or_default();
        assert!(problems.is_empty(), "{problems:?}");
        assert!(reads.input && reads.context && !reads.result && !reads.execution_input);
    }

    #[test]
    fn problems_point_inside_the_field() {
        let mut problems = Vec::new();
        let jx = Jx::compile(
            &json!({"a": ["{% 1 + %}"]}),
            "/States/A/Output",
            &mut problems,
        );
        assert!(jx.is_none());
        assert_eq!(
            problems.first().map(|p| p.pointer.as_str()),
            Some("/States/A/Output/a/0")
        );
    }
}
