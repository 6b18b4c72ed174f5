//! A JSON value whose strings may be JSONata expressions: the form of
//! `Arguments`, `Output`, `Assign`, `ItemSelector` and the other fields a
//! JSONata state evaluates.

use serde_json::{Map, Value};

use super::{Expression, JsonataError, Scope, bindings};

/// A JSON value in which any string of the form `{% … %}`, at any depth, is
/// an expression; every other string is a literal. Parsed once.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Template {
    /// A value with no expression anywhere in it, returned as is.
    Literal(Value),
    /// A string that is an expression.
    Expression(Expression),
    /// An object with an expression somewhere among its values.
    Object(Vec<(String, Template)>),
    /// An array with an expression somewhere among its items.
    Array(Vec<Template>),
}

/// A problem [`Template::parse`] found: a JSON pointer relative to the
/// template's root (`/a/0`, `""` for the root) and a message.
type Problem = (String, String);

impl Template {
    /// Whether `s` is an expression: `{%` first and `%}` last, nothing
    /// outside them (AWS: "The string must start with `{%` (no leading
    /// spaces) and end with `%}` (no trailing spaces)").
    pub(crate) fn is_expression(s: &str) -> bool {
        s.len() >= 4 && s.starts_with("{%") && s.ends_with("%}")
    }

    /// Parses every expression in `v`; all problems come back at once.
    pub(crate) fn parse(v: &Value) -> Result<Template, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut pointer = String::new();
        let t = parse_at(v, &mut pointer, &mut problems);
        if problems.is_empty() {
            Ok(t)
        } else {
            Err(problems)
        }
    }

    /// Whether any expression is in it.
    pub(crate) fn has_expression(&self) -> bool {
        !matches!(self, Template::Literal(_))
    }

    /// Evaluates every expression; the first error wins, naming the path
    /// inside the template as AWS names fields (`/key`, `[index]`).
    pub(crate) fn evaluate(&self, scope: &Scope<'_>) -> Result<Value, JsonataError> {
        if let Template::Literal(v) = self {
            return Ok(v.clone());
        }
        let mut names = Vec::new();
        self.names(&mut names);
        names.sort();
        names.dedup();
        let b = bindings(scope, names.into_iter());
        let mut field = String::new();
        self.evaluate_at(&b, &mut field)
    }

    fn names<'a>(&'a self, out: &mut Vec<&'a String>) {
        match self {
            Template::Literal(_) => {}
            Template::Expression(e) => out.extend(e.names.iter()),
            Template::Object(fields) => fields.iter().for_each(|(_, t)| t.names(out)),
            Template::Array(items) => items.iter().for_each(|t| t.names(out)),
        }
    }

    fn evaluate_at(
        &self,
        b: &jlens_core::Bindings,
        field: &mut String,
    ) -> Result<Value, JsonataError> {
        match self {
            Template::Literal(v) => Ok(v.clone()),
            Template::Expression(e) => e.evaluate_bound(b).map_err(|err| err.in_field(field)),
            Template::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (k, t) in fields {
                    let len = field.len();
                    field.push('/');
                    field.push_str(k);
                    let v = t.evaluate_at(b, field);
                    field.truncate(len);
                    out.insert(k.clone(), v?);
                }
                Ok(Value::Object(out))
            }
            Template::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, t) in items.iter().enumerate() {
                    let len = field.len();
                    field.push_str(&format!("[{i}]"));
                    let v = t.evaluate_at(b, field);
                    field.truncate(len);
                    out.push(v?);
                }
                Ok(Value::Array(out))
            }
        }
    }
}

fn parse_at(v: &Value, pointer: &mut String, problems: &mut Vec<Problem>) -> Template {
    match v {
        Value::String(s) if Template::is_expression(s) => {
            let inner = s.get(2..s.len() - 2).unwrap_or_default();
            match Expression::parse(inner) {
                Ok(e) => Template::Expression(e),
                Err(e) => {
                    problems.push((pointer.clone(), e.to_string()));
                    Template::Literal(Value::Null)
                }
            }
        }
        Value::Object(map) => {
            let fields: Vec<(String, Template)> = map
                .iter()
                .map(|(k, v)| {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    let t = parse_at(v, pointer, problems);
                    pointer.truncate(len);
                    (k.clone(), t)
                })
                .collect();
            if fields.iter().any(|(_, t)| t.has_expression()) {
                Template::Object(fields)
            } else {
                Template::Literal(v.clone())
            }
        }
        Value::Array(items) => {
            let ts: Vec<Template> = items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let len = pointer.len();
                    pointer.push_str(&format!("/{i}"));
                    let t = parse_at(v, pointer, problems);
                    pointer.truncate(len);
                    t
                })
                .collect();
            if ts.iter().any(Template::has_expression) {
                Template::Array(ts)
            } else {
                Template::Literal(v.clone())
            }
        }
        other => Template::Literal(other.clone()),
    }
}
