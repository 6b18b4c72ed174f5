//! Payload templates (`Parameters`, `ResultSelector`, `ItemSelector`),
//! compiled once: fields whose name ends in `.$` hold a path or an
//! intrinsic call, evaluated against the input and the context object.

use std::borrow::Cow;
use std::cell::OnceCell;

use serde_json::{Map, Value};

use crate::error::{Failure, Problem, pointer_token};
use crate::intrinsic::Intrinsic;
use crate::path::{Path, Root};
use crate::vars::Vars;

/// The context object, built only if something reads it. Two variants are
/// cached: with and without `$$.Execution.Input` (which can be large and is
/// rarely read), so a Map over many items does not copy the execution input
/// once per item.
pub(crate) struct LazyContext<'a> {
    full: OnceCell<Value>,
    light: OnceCell<Value>,
    build: Option<&'a dyn Fn(bool) -> Value>,
}

impl<'a> LazyContext<'a> {
    /// `build(with_execution_input)` makes the context object.
    pub(crate) fn new(build: &'a dyn Fn(bool) -> Value) -> Self {
        LazyContext {
            full: OnceCell::new(),
            light: OnceCell::new(),
            build: Some(build),
        }
    }

    #[cfg(test)]
    pub(crate) fn fixed(v: Value) -> LazyContext<'static> {
        let full = OnceCell::new();
        let _ = full.set(v);
        LazyContext {
            full,
            light: OnceCell::new(),
            build: None,
        }
    }

    /// The whole context object.
    pub(crate) fn get(&self) -> &Value {
        self.full.get_or_init(|| match self.build {
            Some(b) => b(true),
            None => Value::Null,
        })
    }

    /// A context object good enough for evaluating `path`.
    pub(crate) fn for_path(&self, path: &Path) -> &Value {
        if path.may_read_execution_input() || self.build.is_none() {
            return self.get();
        }
        if let Some(full) = self.full.get() {
            return full;
        }
        self.light.get_or_init(|| match self.build {
            Some(b) => b(false),
            None => Value::Null,
        })
    }
}

/// What paths are evaluated against.
pub(crate) struct Env<'a> {
    pub(crate) input: &'a Value,
    pub(crate) context: &'a LazyContext<'a>,
    /// The workflow variables in scope (none outside an execution).
    pub(crate) vars: Option<&'a Vars>,
}

impl<'a> Env<'a> {
    pub(crate) fn new(input: &'a Value, context: &'a LazyContext<'a>) -> Self {
        Env {
            input,
            context,
            vars: None,
        }
    }

    /// The same environment with workflow variables.
    pub(crate) fn with_vars(self, vars: &'a Vars) -> Self {
        Env {
            vars: Some(vars),
            ..self
        }
    }

    /// The document `path` is evaluated against: the input for `$…`, the
    /// context object for `$$…`, a variable's value for `$name…` (None
    /// when it is not assigned). Every path evaluation picks its root here.
    pub(crate) fn root(&self, path: &Path) -> Option<&Value> {
        match path.root() {
            Root::Context => Some(self.context.for_path(path)),
            Root::Input => Some(self.input),
            Root::Variable => self.vars?.get(path.variable()?),
        }
    }

    /// Select `path` from the input (`$…`), the context (`$$…`) or a
    /// variable (`$name…`).
    pub(crate) fn resolve(&self, path: &Path) -> Option<Value> {
        path.select(self.root(path)?)
    }

    /// Like [`Env::resolve`], borrowing the node when the path is definite.
    pub(crate) fn resolve_ref(&self, path: &Path) -> Option<Cow<'_, Value>> {
        if path.is_definite() {
            self.get(path).map(Cow::Borrowed)
        } else {
            self.resolve(path).map(Cow::Owned)
        }
    }

    /// The node a definite path (e.g. a reference path) points to, from the
    /// input or the context object; `None` when there is none.
    pub(crate) fn get(&self, path: &Path) -> Option<&Value> {
        path.get(self.root(path)?)
    }
}

/// A dynamic value: a path or an intrinsic call (the value of a `.$` field).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `$.x` / `$$.x`.
    Path(Path),
    /// `States.Fn(…)`.
    Intrinsic(Intrinsic),
}

impl Expr {
    /// Parse the value of a `.$` field.
    pub fn parse(s: &str) -> Result<Expr, String> {
        let t = s.trim_start();
        if t.starts_with("States.") {
            Intrinsic::parse(s).map(Expr::Intrinsic)
        } else if t.starts_with('$') {
            Path::parse(s).map(Expr::Path)
        } else {
            Err("the value must be a path starting with '$' or an intrinsic function call".into())
        }
    }

    pub(crate) fn mentions(&self, path: &str) -> bool {
        match self {
            Expr::Path(p) => p.as_str() == path,
            Expr::Intrinsic(i) => i.mentions(path),
        }
    }

    /// Evaluate; `field` names the field for the error message.
    pub(crate) fn eval(&self, env: &Env<'_>, field: &str) -> Result<Value, Failure> {
        match self {
            Expr::Path(p) => env.resolve(p).ok_or_else(|| {
                let (what, doc) = match p.root() {
                    Root::Context => ("context object", env.context.get()),
                    Root::Input => ("input", env.input),
                    Root::Variable => return unassigned(p, field),
                };
                Failure::runtime(format!(
                    "The JSONPath '{}' specified for the field '{field}' could not be found in the {what} '{}'",
                    p.as_str(),
                    truncate(&doc.to_string(), 256)
                ))
            }),
            Expr::Intrinsic(i) => i.eval(env),
        }
    }

    /// Source text.
    pub fn as_str(&self) -> String {
        match self {
            Expr::Path(p) => p.as_str().to_owned(),
            Expr::Intrinsic(i) => i.to_string(),
        }
    }
}

/// A `$name…` path that selects nothing: the variable is not assigned (or
/// has no such field).
pub(crate) fn unassigned(p: &Path, field: &str) -> Failure {
    Failure::runtime(format!(
        "The JSONPath '{}' specified for the field '{field}' could not be found: the variable '{}' is not assigned or has no such field",
        p.as_str(),
        p.variable().unwrap_or_default()
    ))
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// A compiled payload template.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// Static JSON.
    Literal(Value),
    /// An object with at least one dynamic field somewhere below.
    Object(Vec<(String, Node)>),
    /// An array with at least one dynamic element somewhere below.
    Array(Vec<Template>),
}

/// A field of a dynamic object.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A nested template.
    Template(Template),
    /// A `.$` field (the key stored without `.$`).
    Expr(Expr, String),
}

impl Template {
    /// Compile `v`, recording problems under `pointer`.
    pub(crate) fn compile(v: &Value, pointer: &str, problems: &mut Vec<Problem>) -> Template {
        match v {
            Value::Object(map) => {
                let mut fields = Vec::with_capacity(map.len());
                let mut dynamic = false;
                for (k, x) in map {
                    let ptr = format!("{pointer}/{}", pointer_token(k));
                    if let Some(name) = k.strip_suffix(".$") {
                        dynamic = true;
                        if map.contains_key(name) {
                            problems.push(Problem::new(
                                ptr.clone(),
                                format!("both '{name}' and '{k}' are present"),
                            ));
                        }
                        match x.as_str() {
                            Some(s) => match Expr::parse(s) {
                                Ok(e) => fields.push((name.to_owned(), Node::Expr(e, k.clone()))),
                                Err(e) => problems.push(Problem::new(
                                    ptr,
                                    format!("invalid path or intrinsic function {s:?}: {e}"),
                                )),
                            },
                            None => problems.push(Problem::new(
                                ptr,
                                "the value of a field ending in '.$' must be a string (a path or an intrinsic function)",
                            )),
                        }
                    } else {
                        let t = Template::compile(x, &ptr, problems);
                        dynamic |= !matches!(t, Template::Literal(_));
                        fields.push((k.clone(), Node::Template(t)));
                    }
                }
                if !dynamic {
                    return Template::Literal(v.clone());
                }
                Template::Object(fields)
            }
            Value::Array(items) => {
                let compiled: Vec<Template> = items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| Template::compile(x, &format!("{pointer}/{i}"), problems))
                    .collect();
                if compiled.iter().all(|t| matches!(t, Template::Literal(_))) {
                    Template::Literal(v.clone())
                } else {
                    Template::Array(compiled)
                }
            }
            other => Template::Literal(other.clone()),
        }
    }

    /// Whether some field is exactly the path `path` (e.g. `$$.Task.Token`).
    pub(crate) fn mentions(&self, path: &str) -> bool {
        match self {
            Template::Literal(_) => false,
            Template::Array(a) => a.iter().any(|t| t.mentions(path)),
            Template::Object(f) => f.iter().any(|(_, n)| match n {
                Node::Template(t) => t.mentions(path),
                Node::Expr(e, _) => e.mentions(path),
            }),
        }
    }

    /// Evaluate against an environment.
    pub(crate) fn eval(&self, env: &Env<'_>) -> Result<Value, Failure> {
        match self {
            Template::Literal(v) => Ok(v.clone()),
            Template::Array(items) => items
                .iter()
                .map(|t| t.eval(env))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Template::Object(fields) => {
                let mut out = Map::new();
                for (k, n) in fields {
                    let v = match n {
                        Node::Template(t) => t.eval(env)?,
                        Node::Expr(e, key) => e.eval(env, key)?,
                    };
                    out.insert(k.clone(), v);
                }
                Ok(Value::Object(out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compiles_and_evaluates_nested_fields() {
        let mut problems = Vec::new();
        let t = Template::compile(
            &json!({"a": 1, "b.$": "$.x", "c": {"d.$": "$$.Execution.Name"}, "e": [{"f.$": "States.Array(1)"}]}),
            "/Parameters",
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let ctx = LazyContext::fixed(json!({"Execution": {"Name": "exec"}}));
        let input = json!({"x": true});
        let out = t.eval(&Env::new(&input, &ctx));
        assert_eq!(
            out,
            Ok(json!({"a": 1, "b": true, "c": {"d": "exec"}, "e": [{"f": [1]}]}))
        );
    }

    #[test]
    fn missing_path_is_a_runtime_error() {
        let mut problems = Vec::new();
        let t = Template::compile(&json!({"b.$": "$.missing"}), "", &mut problems);
        let ctx = LazyContext::fixed(json!({}));
        let input = json!({});
        let err = t.eval(&Env::new(&input, &ctx)).err();
        assert_eq!(err.map(|e| e.error), Some(crate::ErrorName::Runtime));
    }

    #[test]
    fn bad_fields_are_problems_with_pointers() {
        let mut problems = Vec::new();
        Template::compile(
            &json!({"a.$": "nope", "b.$": 3, "c": 1, "c.$": "$"}),
            "/P",
            &mut problems,
        );
        let ptrs: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert!(ptrs.contains(&"/P/a.$"));
        assert!(ptrs.contains(&"/P/b.$"));
        assert!(ptrs.contains(&"/P/c.$"));
    }
}
