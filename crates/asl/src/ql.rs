//! A JSONata field of a state as the engine keeps it: the parsed template
//! and which parts of `$states` its expressions read, so an evaluation
//! builds only those (the context object, and the execution input inside
//! it, are built only when an expression can read them).

use serde_json::Value;

use crate::error::{Problem, pointer_token};
use jlens_core::reads::Read;

use crate::jsonata::{Expression, Template};

/// A parsed JSONata field (`Arguments`, `Output`, `Assign`, `Condition`,
/// `Items`, `ItemSelector`, `Seconds`, …).
#[derive(Debug, Clone)]
pub(crate) struct Jx {
    pub(crate) template: Template,
    pub(crate) reads: Reads,
}

/// The parts of `$states` the expressions of a [`Jx`] may read, decided
/// when the definition is parsed, from the expressions' syntax trees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reads {
    pub(crate) input: bool,
    pub(crate) result: bool,
    pub(crate) error_output: bool,
    pub(crate) context: bool,
    /// Which sections of `$states.context` (when `context`).
    pub(crate) sections: Sections,
}

/// The sections of the context object an evaluation builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sections {
    pub(crate) execution: bool,
    /// `Execution.Input` (large, rarely read).
    pub(crate) execution_input: bool,
    pub(crate) state: bool,
    pub(crate) state_machine: bool,
    pub(crate) task: bool,
    pub(crate) map: bool,
}

impl Sections {
    /// Every section (a `$$` path, or an expression that reads the whole
    /// context).
    pub(crate) const ALL: Sections = Sections {
        execution: true,
        execution_input: true,
        state: true,
        state_machine: true,
        task: true,
        map: true,
    };

    const NONE: Sections = Sections {
        execution: false,
        execution_input: false,
        state: false,
        state_machine: false,
        task: false,
        map: false,
    };
}

impl Default for Sections {
    fn default() -> Self {
        Sections::NONE
    }
}

impl Jx {
    /// Parse `v` (at `ptr` in the definition), recording its problems.
    pub(crate) fn compile(v: &Value, ptr: &str, problems: &mut Vec<Problem>) -> Option<Jx> {
        match Template::parse(v) {
            Ok(template) => {
                let mut reads = Reads::default();
                expressions(&template, &mut |e| {
                    if let Some(read) = e.states_read() {
                        reads.add(&read);
                    }
                });
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
    fn add(&mut self, read: &Read) {
        let Some(fields) = read.fields() else {
            self.input = true;
            self.result = true;
            self.error_output = true;
            self.context = true;
            self.sections = Sections::ALL;
            return;
        };
        self.input |= fields.contains_key("input");
        self.result |= fields.contains_key("result");
        self.error_output |= fields.contains_key("errorOutput");
        if let Some(ctx) = fields.get("context") {
            self.context = true;
            self.sections.add(ctx);
        }
    }
}

impl Sections {
    fn add(&mut self, read: &Read) {
        let Some(fields) = read.fields() else {
            *self = Sections::ALL;
            return;
        };
        if let Some(execution) = fields.get("Execution") {
            self.execution = true;
            self.execution_input |= execution.fields().is_none_or(|f| f.contains_key("Input"));
        }
        self.state |= fields.contains_key("State");
        self.state_machine |= fields.contains_key("StateMachine");
        self.task |= fields.contains_key("Task");
        self.map |= fields.contains_key("Map");
    }
}

fn sources(t: &Template, f: &mut impl FnMut(&str)) {
    expressions(t, &mut |e| f(e.source()));
}

fn expressions(t: &Template, f: &mut impl FnMut(&Expression)) {
    match t {
        Template::Literal(_) => {}
        Template::Expression(e) => f(e),
        Template::Object(fields) => fields.iter().for_each(|(_, x)| expressions(x, f)),
        Template::Array(items) => items.iter().for_each(|x| expressions(x, f)),
    }
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
        assert!(reads.input && reads.context && !reads.result);
        let s = reads.sections;
        assert!(s.state && !s.execution && !s.execution_input && !s.map && !s.task);
    }

    #[test]
    fn reads_come_from_the_syntax_tree_not_the_text() {
        let mut problems = Vec::new();
        let jx = Jx::compile(
            // `input` and `Execution` only as strings and a local variable.
            &json!("{% ($input := 'Execution'; $states.context.Map.Item.Index & $input) %}"),
            "/Output",
            &mut problems,
        );
        let reads = jx.map(|j| j.reads).unwrap_or_default();
        assert!(problems.is_empty(), "{problems:?}");
        assert!(!reads.input && reads.context);
        assert!(reads.sections.map && !reads.sections.execution);
        let whole = Jx::compile(&json!("{% $keys($states) %}"), "/Output", &mut problems);
        let reads = whole.map(|j| j.reads).unwrap_or_default();
        assert!(reads.input && reads.result && reads.sections == Sections::ALL);
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
