//! JSONata, as Step Functions runs it in `"QueryLanguage": "JSONata"` states.
//!
//! The language itself is the `jlens-core` crate (chosen by measurement:
//! crates/asl/README.md, "JSONata"). This module adds what Step Functions
//! changes around it:
//!
//! - **No context item.** An expression is evaluated with `$` undefined; the
//!   state's data is the variable `$states` (`input`, `result`,
//!   `errorOutput`, `context`) and each workflow variable is `$name`. A
//!   top-level field name, `$` or `$$` is refused when the expression is
//!   parsed ([`check`]).
//! - **The form.** A string is an expression when it starts with `{%` and
//!   ends with `%}`, with nothing outside them (a leading or trailing space
//!   makes it a literal); anything else is a literal ([`Template`]).
//! - **Results are JSON.** *Undefined* is an error, named after the field
//!   (`The JSONata expression '…' specified for the field 'Output/v' returned
//!   nothing (undefined).`), as is a function. Integral numbers come out as
//!   JSON integers (`3`, not `3.0`). Inside an object or array a function or
//!   a non-finite number is written as `JSON.stringify` writes it (left out,
//!   or `null`); JSONata's arithmetic refuses to make a non-finite number
//!   (`D1001`), so only a few functions can produce one.
//! - **AWS's functions** ([`functions`]): `$partition`, `$range`, `$hash`,
//!   `$random(seed?)`, `$uuid`, `$parse`; `$eval` removed.
//!
//! An expression is parsed once into the crate's syntax tree (immutable,
//! `Send + Sync`); an evaluation binds only the variables the expression
//! names, each cut to the fields it reads (the crate's own analysis), so an
//! expression reading `$states.input.id` copies one string, not the input.
//! The commonest shapes (a path on `$states` or a variable, a literal, a
//! comparison, `and`/`or`, an object constructor, `$merge` of those) are
//! recognised when the expression is parsed and evaluated natively, with
//! jlens-core's results, and no bindings at all ([`fast`]); whatever that
//! evaluation cannot be sure of goes to the crate.
//!
//! The crate grows its stack on demand, so deep recursion fails with
//! an error rather than overflowing a tokio worker's stack; a panic inside it
//! (none is known: the jsonata-js suite and the property tests run without
//! one) is caught at this boundary and becomes an evaluation error.

mod check;
mod fast;
#[cfg(test)]
mod fast_props;
mod functions;
#[cfg(test)]
mod props;
mod template;
#[cfg(test)]
mod tests;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use jlens_core::{Bindings, Options};
use serde_json::{Map, Value};

// Until the engine uses it (see the `mod jsonata` in lib.rs).
#[cfg_attr(not(test), allow(unused_imports))]
pub(crate) use template::Template;

/// What one evaluation sees.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    /// `$states`: `input`, and `result`, `errorOutput`, `context` where the
    /// field has them.
    pub(crate) states: States<'a>,
    /// The workflow variables visible to the state, each bound as `$name`.
    pub(crate) variables: &'a Map<String, Value>,
}

/// The `$states` object, whole or as its fields borrowed from where they
/// live (the engine's form: the state input, the task result, … are cut
/// straight into the binding, never copied into an object first).
#[derive(Debug, Clone, Copy)]
pub(crate) enum States<'a> {
    Object(&'a Value),
    Fields(&'a [(&'static str, &'a Value)]),
}

impl<'a> From<&'a Value> for States<'a> {
    fn from(v: &'a Value) -> Self {
        States::Object(v)
    }
}

impl States<'_> {
    /// The binding of `$states` cut by `read` (`None`: whole).
    fn bind(&self, read: Option<&jlens_core::reads::Read>) -> Value {
        let fields = match self {
            States::Object(v) => return read.map_or_else(|| (*v).clone(), |r| r.cut(v)),
            States::Fields(fields) => fields,
        };
        let wanted = read.and_then(jlens_core::reads::Read::fields);
        let mut m = Map::with_capacity(fields.len());
        for (name, v) in fields.iter() {
            match wanted {
                None => {
                    m.insert((*name).to_owned(), (*v).clone());
                }
                Some(w) => {
                    if let Some(r) = w.get(*name) {
                        m.insert((*name).to_owned(), r.cut(v));
                    }
                }
            }
        }
        Value::Object(m)
    }
}

/// How an expression failed, at load time ([`JsonataError::Syntax`],
/// [`JsonataError::Unsupported`]) or at run time (the rest, each a
/// `States.QueryEvaluationError`). `Display` is the message AWS writes:
/// the load-time ones as `ValidateStateMachineDefinition` words them, the
/// run-time ones as the cause of the error, without the `An error occurred
/// while executing the state …` prefix the engine adds.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum JsonataError {
    /// The expression does not parse (or is not JSONata 2.0.6).
    #[error("INVALID_JSONATA_EXPRESSION: {message}")]
    Syntax {
        /// The expression (the text between `{%` and `%}`, trimmed).
        expression: String,
        /// The JSONata error code, e.g. `S0202`.
        code: String,
        /// The parser's message, with its code and position.
        message: String,
    },
    /// The expression reads the context Step Functions does not provide.
    #[error("UNSUPPORTED_JSONATA_EXPRESSION: {message}")]
    Unsupported {
        /// The expression.
        expression: String,
        /// E.g. `Reference to '$$' is not supported.`
        message: String,
    },
    /// The evaluation raised an error.
    #[error(
        "The JSONata expression '{expression}' specified for the field '{field}' threw an error during evaluation. {message}"
    )]
    Evaluation {
        /// The expression.
        expression: String,
        /// The field, relative to the state (`Arguments/Input/id`); empty
        /// until [`JsonataError::in_field`] names it.
        field: String,
        /// The JSONata error code (`T2001`, `D3137` for `$error` and AWS's
        /// functions), empty for a panic caught at the boundary.
        code: String,
        /// `CODE: message`.
        message: String,
    },
    /// The expression evaluated to *undefined*.
    #[error(
        "The JSONata expression '{expression}' specified for the field '{field}' returned nothing (undefined)."
    )]
    Undefined {
        /// The expression.
        expression: String,
        /// The field, as for [`JsonataError::Evaluation`].
        field: String,
    },
    /// The expression evaluated to something JSON cannot hold (a function).
    #[error(
        "The JSONata expression '{expression}' specified for the field '{field}' returned an unsupported result type."
    )]
    NotJson {
        /// The expression.
        expression: String,
        /// The field, as for [`JsonataError::Evaluation`].
        field: String,
    },
}

impl JsonataError {
    /// Puts `name` in front of the field the error names: a [`Template`]
    /// names the path inside itself (`/Input/id`, `[0]`); the engine adds
    /// the field of the state (`Arguments`) or the whole location of a bare
    /// expression (`Choices[1]/Condition`).
    pub(crate) fn in_field(mut self, name: &str) -> Self {
        match &mut self {
            JsonataError::Evaluation { field, .. }
            | JsonataError::Undefined { field, .. }
            | JsonataError::NotJson { field, .. } => field.insert_str(0, name),
            JsonataError::Syntax { .. } | JsonataError::Unsupported { .. } => {}
        }
        self
    }

    /// Whether this is a definition error (found by [`Expression::parse`]).
    pub(crate) fn is_load_time(&self) -> bool {
        matches!(
            self,
            JsonataError::Syntax { .. } | JsonataError::Unsupported { .. }
        )
    }
}

/// A JSONata expression, parsed once.
#[derive(Clone)]
pub(crate) struct Expression {
    /// The expression as written, trimmed (what error messages quote).
    source: Arc<str>,
    compiled: jlens_core::Expression,
    /// The variables it names, without `$`: the only ones an evaluation binds.
    names: Arc<[String]>,
    /// What it reads of each of them, to bind only that (a cut copy instead
    /// of a clone of the whole `$states`); `None` to bind them whole.
    reads: Option<Arc<jlens_core::reads::Reads>>,
    /// The native evaluation of its shape, when it has one of the
    /// commonest ([`fast`]).
    fast: Option<Arc<fast::Fast>>,
    /// `$type((source))`, compiled the first time the expression gives no
    /// JSON value, to tell *undefined* from a function.
    probe: Arc<OnceLock<Option<jlens_core::Expression>>>,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expression({:?})", &*self.source)
    }
}

impl PartialEq for Expression {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// One expression may run this long (the limit emulators measured on AWS;
/// a recursion without a base case is a tail call, which only the clock
/// ends).
const TIME_LIMIT: Duration = Duration::from_secs(5);

/// AWS bounds the memory one value of an expression may take at 6,990,256
/// bytes, a number counting 8 and a character 1 (measured by emulators: it
/// accepts `[1..873782]` and a string of 2^22 characters, and refuses one
/// element more, and 2^23). The crate bounds items and bytes separately.
const MAX_ITEMS: usize = 873_782;
const MAX_STRING_BYTES: usize = 6_990_256;

impl Expression {
    /// Parses `src`, the text between `{%` and `%}`, and checks it as AWS
    /// does when a state machine is created.
    pub(crate) fn parse(src: &str) -> Result<Expression, JsonataError> {
        let source = src.trim();
        let compiled = catch_unwind(|| jlens_core::Expression::compile(source))
            .unwrap_or_else(|_| Err(jlens_core::Error::new("S0500").with("message", "panic")));
        let compiled = compiled.map_err(|e| JsonataError::Syntax {
            expression: source.to_owned(),
            code: e.code().to_owned(),
            message: e.to_string(),
        })?;
        let (refusal, names) = check::check(&compiled.ast().root);
        match refusal {
            Some(check::Refusal::Unsupported(message)) => Err(JsonataError::Unsupported {
                expression: source.to_owned(),
                message,
            }),
            Some(check::Refusal::Syntax(message)) => Err(JsonataError::Syntax {
                expression: source.to_owned(),
                code: "S0201".into(),
                message,
            }),
            None => Ok(Expression {
                source: source.into(),
                reads: cut_by(&compiled, &names),
                fast: fast::Fast::compile(&compiled.ast().root).map(Arc::new),
                compiled,
                names: names.into(),
                probe: Arc::default(),
            }),
        }
    }

    /// The same expression binding whole values (to test the cut), always
    /// evaluated by the crate.
    #[cfg(test)]
    pub(crate) fn uncut(mut self) -> Self {
        self.reads = None;
        self.slow()
    }

    /// The same expression without its native evaluation (to test that).
    #[cfg(test)]
    pub(crate) fn slow(mut self) -> Self {
        self.fast = None;
        self
    }

    /// Whether the expression has a native evaluation.
    #[cfg(test)]
    pub(crate) fn is_fast(&self) -> bool {
        self.fast.is_some()
    }

    /// What the native evaluation answers (`None`: no shape, or unsure).
    #[cfg(test)]
    pub(crate) fn fast_answer(&self, scope: &Scope<'_>) -> Option<Option<Value>> {
        self.fast.as_ref()?.evaluate(scope).ok()
    }

    /// The expression as written (trimmed).
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// What the expression reads of `$states` (the crate's analysis of the
    /// syntax tree): `None` when it does not read it, `Whole` when it binds
    /// it whole.
    pub(crate) fn states_read(&self) -> Option<jlens_core::reads::Read> {
        if !self.names.iter().any(|n| n == "states") {
            return None;
        }
        match &self.reads {
            None => Some(jlens_core::reads::Read::Whole),
            Some(reads) => reads.binding("states").cloned(),
        }
    }

    /// Evaluates to a JSON value; *undefined* is an error.
    pub(crate) fn evaluate(&self, scope: &Scope<'_>) -> Result<Value, JsonataError> {
        if let Some(fast) = &self.fast {
            match fast.evaluate(scope) {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {
                    return Err(JsonataError::Undefined {
                        expression: self.source.to_string(),
                        field: String::new(),
                    });
                }
                // Left to the crate.
                Err(fast::Unsure) => {}
            }
        }
        self.evaluate_bound(&self.bindings(scope))
    }

    /// Evaluates, with *undefined* as `None` (for a caller that gives it a
    /// meaning of its own).
    pub(crate) fn evaluate_optional(
        &self,
        scope: &Scope<'_>,
    ) -> Result<Option<Value>, JsonataError> {
        match self.evaluate(scope) {
            Ok(v) => Ok(Some(v)),
            Err(JsonataError::Undefined { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Evaluates with bindings already built (a [`Template`] builds them
    /// once for all its expressions).
    fn evaluate_bound(&self, bindings: &Bindings) -> Result<Value, JsonataError> {
        let options = Options::new()
            .timeout(TIME_LIMIT)
            .max_array_length(MAX_ITEMS)
            .max_string_length(MAX_STRING_BYTES);
        let run = catch_unwind(AssertUnwindSafe(|| {
            self.compiled.evaluate_with(None, bindings, &options)
        }));
        match run {
            Ok(Ok(Some(v))) => Ok(v),
            Ok(Ok(None)) => Err(self.no_value(bindings, &options)),
            Ok(Err(e)) => Err(JsonataError::Evaluation {
                expression: self.source.to_string(),
                field: String::new(),
                code: e.code().to_owned(),
                message: format!("{}: {}", e.code(), e.message()),
            }),
            Err(_) => Err(JsonataError::Evaluation {
                expression: self.source.to_string(),
                field: String::new(),
                code: String::new(),
                message: "The JSONata library failed (a panic).".into(),
            }),
        }
    }

    /// *Undefined*, or a function (which JSON cannot hold): asks `$type`.
    fn no_value(&self, bindings: &Bindings, options: &Options) -> JsonataError {
        let probe = self.probe.get_or_init(|| {
            jlens_core::Expression::compile(&format!("$type(({}))", self.source)).ok()
        });
        let kind = probe.as_ref().and_then(|p| {
            catch_unwind(AssertUnwindSafe(|| {
                p.evaluate_with(None, bindings, options)
            }))
            .ok()
            .and_then(Result::ok)
            .flatten()
        });
        let (expression, field) = (self.source.to_string(), String::new());
        match kind {
            Some(Value::String(t)) if t == "function" => {
                JsonataError::NotJson { expression, field }
            }
            _ => JsonataError::Undefined { expression, field },
        }
    }
}

/// What `compiled` reads of its bindings, when an evaluation may bind only
/// that. The crate's analysis is an upper bound (evaluated on bindings cut
/// by it, an expression gives the same result or error code), except where
/// a binding shadows a built-in: AWS's `$random` does (it takes a seed),
/// and `$eval` reads everything; those expressions bind whole values.
fn cut_by(
    compiled: &jlens_core::Expression,
    names: &[String],
) -> Option<Arc<jlens_core::reads::Reads>> {
    if names.iter().any(|n| n == "random" || n == "eval") {
        return None;
    }
    let reads = compiled.reads_with(functions::base());
    (!reads.every_binding()).then(|| Arc::new(reads))
}

impl Expression {
    /// The bindings for one evaluation: AWS's functions, then `$states` and
    /// the workflow variables it names, each cut to what it reads (the crate
    /// owns its bindings, so each is a copy).
    fn bindings(&self, scope: &Scope<'_>) -> Bindings {
        let mut b = functions::base().clone();
        for name in self.names.iter() {
            let value = match name.as_str() {
                "states" => {
                    let read = match &self.reads {
                        None => None,
                        Some(reads) => match reads.binding(name) {
                            Some(read) => Some(read),
                            None => continue,
                        },
                    };
                    b = b.var(name.as_str(), scope.states.bind(read));
                    continue;
                }
                _ => match scope.variables.get(name) {
                    Some(v) => v,
                    None => continue,
                },
            };
            let value = match &self.reads {
                None => value.clone(),
                Some(reads) => match reads.binding(name) {
                    Some(read) => read.cut(value),
                    // Named but never read (a parameter or local of that name).
                    None => continue,
                },
            };
            b = b.var(name.as_str(), value);
        }
        b
    }
}
