//! One adapter per candidate crate: JSON in, JSON (or an error code) out.
//! Every adapter converts to and from `serde_json::Value`, so the figures
//! include the conversion the ASL engine would pay too.

use serde_json::{Map, Value};

pub const ALL: &[&str] = &["jsonata-rs", "jsonata-core", "jlens-core"];

/// What one evaluation gave.
#[derive(Debug)]
pub enum Outcome {
    /// `None` = undefined.
    Value(Option<Value>),
    /// A compile or evaluation error, with its JSONata code when the crate
    /// exposes one.
    Error(Option<String>, String),
}

/// Parses and evaluates once (the conformance run).
pub fn run(candidate: &str, case: &crate::cases::Case) -> Outcome {
    let (expr, input, bindings, limits) = (&case.expr, case.input.as_ref(), &case.bindings, case.limits);
    match candidate {
        "jsonata-rs" => rs::run(expr, input, bindings, limits),
        "jsonata-core" => core::run(expr, input, bindings, limits),
        "jlens-core" => jlens::run(expr, input, bindings, limits),
        other => Outcome::Error(None, format!("unknown candidate {other}")),
    }
}

/// A prepared expression: parsed once if the crate's API allows it, then
/// evaluated many times (the speed run).
pub type Prepared = Box<dyn FnMut(&Map<String, Value>) -> Outcome>;

/// As [`prepare`], with the bindings converted once up front (the engine can
/// build them once per state entry and reuse them for each of the state's
/// expressions); `None` where the crate's API does not allow it.
pub fn prepare_bound(candidate: &str, expr: &str, bindings: &Map<String, Value>) -> Option<Box<dyn FnMut() -> Outcome>> {
    match candidate {
        "jsonata-core" => Some(core::prepare_bound(expr, bindings)),
        "jlens-core" => Some(jlens::prepare_bound(expr, bindings)),
        _ => None,
    }
}

pub fn prepare(candidate: &str, expr: &str) -> Prepared {
    match candidate {
        "jsonata-rs" => rs::prepare(expr),
        "jsonata-core" => core::prepare(expr),
        "jlens-core" => jlens::prepare(expr),
        other => panic!("unknown candidate {other}"),
    }
}

mod rs {
    use super::Outcome;
    use bumpalo::Bump;
    use jsonata_rs::JsonAta;
    use serde_json::{Map, Value};
    use std::collections::HashMap;

    pub fn run(expr: &str, input: Option<&Value>, bindings: &Map<String, Value>, limits: Option<(u64, usize)>) -> Outcome {
        // A new arena per evaluation: `JsonAta<'a>` borrows its arena and
        // never frees what an evaluation allocates, and the evaluator that
        // could run a kept AST is private, so parse-once-evaluate-many has
        // unbounded memory with this crate.
        let arena = Bump::new();
        let j = match JsonAta::new(expr, &arena) {
            Ok(j) => j,
            Err(e) => return Outcome::Error(Some(e.code().to_string()), e.to_string()),
        };
        let b: HashMap<&str, &Value> = bindings.iter().map(|(k, v)| (k.as_str(), v)).collect();
        // The crate takes its input as JSON text.
        let text = input.map(|v| v.to_string());
        let got = match limits {
            None => j.evaluate(text.as_deref(), Some(&b)),
            // No boxed case has bindings (this entry point takes none).
            Some((ms, depth)) => j.evaluate_timeboxed(text.as_deref(), Some(depth), Some(ms as usize)),
        };
        match got {
            Ok(v) if v.is_undefined() => Outcome::Value(None),
            Ok(v) if v.is_function() => Outcome::Error(None, "function result".into()),
            Ok(v) => match serde_json::from_str(&v.serialize(false)) {
                Ok(json) => Outcome::Value(Some(json)),
                Err(e) => Outcome::Error(None, format!("result not JSON: {e}")),
            },
            Err(e) => Outcome::Error(Some(e.code().to_string()), e.to_string()),
        }
    }

    pub fn prepare(expr: &str) -> super::Prepared {
        let expr = expr.to_string();
        Box::new(move |bindings| run(&expr, None, bindings, None))
    }
}

mod core {
    use super::Outcome;
    use jsonata_core::evaluator::{Context, Evaluator, EvaluatorError, EvaluatorOptions};
    use jsonata_core::parser;
    use jsonata_core::value::JValue;
    use serde_json::{Map, Value};

    fn error(e: &EvaluatorError) -> Outcome {
        let msg = e.to_string();
        Outcome::Error(e.code().map(str::to_string).or_else(|| super::find_code(&msg)), msg)
    }

    fn to_json(v: &JValue) -> Outcome {
        if v.is_undefined() {
            return Outcome::Value(None);
        }
        if v.is_function() {
            return Outcome::Error(None, "function result".into());
        }
        match serde_json::to_value(v) {
            Ok(json) => Outcome::Value(Some(json)),
            Err(e) => Outcome::Error(None, format!("result not JSON: {e}")),
        }
    }

    fn eval(ast: &jsonata_core::ast::AstNode, input: Option<&Value>, bindings: &Map<String, Value>, limits: Option<(u64, usize)>) -> Outcome {
        // Bindings need the tree-walking evaluator (the crate's bytecode VM
        // has no bindings), with a fresh context per evaluation.
        let mut ctx = Context::new();
        for (k, v) in bindings {
            ctx.bind(k.clone(), JValue::from(v.clone()));
        }
        let data = input.map_or(JValue::Undefined, |v| JValue::from(v.clone()));
        let options = EvaluatorOptions {
            timeout_ms: limits.map(|l| l.0),
            max_stack_depth: limits.map(|l| l.1),
            ..EvaluatorOptions::default()
        };
        let mut ev = Evaluator::with_options(ctx, options);
        match ev.evaluate(ast, &data) {
            Ok(v) => to_json(&v),
            Err(e) => error(&e),
        }
    }

    pub fn run(expr: &str, input: Option<&Value>, bindings: &Map<String, Value>, limits: Option<(u64, usize)>) -> Outcome {
        match parser::parse(expr) {
            Ok(ast) => eval(&ast, input, bindings, limits),
            Err(e) => {
                let msg = e.to_string();
                Outcome::Error(super::find_code(&msg), msg)
            }
        }
    }

    pub fn prepare(expr: &str) -> super::Prepared {
        let ast = parser::parse(expr).expect("bench expression parses");
        Box::new(move |bindings| eval(&ast, None, bindings, None))
    }

    pub fn prepare_bound(expr: &str, bindings: &Map<String, Value>) -> Box<dyn FnMut() -> Outcome> {
        let ast = parser::parse(expr).expect("bench expression parses");
        // JValue clones are reference-count bumps.
        let values: Vec<(String, JValue)> = bindings.iter().map(|(k, v)| (k.clone(), JValue::from(v.clone()))).collect();
        Box::new(move || {
            let mut ctx = Context::new();
            for (k, v) in &values {
                ctx.bind(k.clone(), v.clone());
            }
            match Evaluator::with_context(ctx).evaluate(&ast, &JValue::Undefined) {
                Ok(v) => to_json(&v),
                Err(e) => error(&e),
            }
        })
    }
}

mod jlens {
    use super::Outcome;
    use jlens_core::{Bindings, Expression, Options};
    use serde_json::{Map, Value};

    fn eval(e: &Expression, input: Option<&Value>, bindings: &Map<String, Value>, limits: Option<(u64, usize)>) -> Outcome {
        let b: Bindings = bindings.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut options = Options::new();
        if let Some((ms, depth)) = limits {
            options = options.timeout(std::time::Duration::from_millis(ms)).max_depth(depth);
        }
        match e.evaluate_with(input, &b, &options) {
            Ok(v) => Outcome::Value(v),
            Err(e) => Outcome::Error(Some(e.code().to_string()), e.message()),
        }
    }

    pub fn run(expr: &str, input: Option<&Value>, bindings: &Map<String, Value>, limits: Option<(u64, usize)>) -> Outcome {
        match Expression::compile(expr) {
            Ok(e) => eval(&e, input, bindings, limits),
            Err(e) => Outcome::Error(Some(e.code().to_string()), e.message()),
        }
    }

    pub fn prepare(expr: &str) -> super::Prepared {
        let e = Expression::compile(expr).expect("bench expression parses");
        Box::new(move |bindings| eval(&e, None, bindings, None))
    }

    pub fn prepare_bound(expr: &str, bindings: &Map<String, Value>) -> Box<dyn FnMut() -> Outcome> {
        let e = Expression::compile(expr).expect("bench expression parses");
        let b: Bindings = bindings.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Box::new(move || match e.evaluate(None, &b) {
            Ok(v) => Outcome::Value(v),
            Err(e) => Outcome::Error(Some(e.code().to_string()), e.message()),
        })
    }
}

/// The first `X9999`-shaped JSONata error code in a message.
pub fn find_code(msg: &str) -> Option<String> {
    let b = msg.as_bytes();
    (0..b.len().saturating_sub(4)).find_map(|i| {
        let ok = matches!(b[i], b'S' | b'T' | b'D' | b'U')
            && b[i + 1..i + 5].iter().all(u8::is_ascii_digit)
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
            && b.get(i + 5).is_none_or(|c| !c.is_ascii_alphanumeric());
        ok.then(|| msg[i..i + 5].to_string())
    })
}

// What the ASL engine needs of a parsed expression: held in a definition
// shared by every task of the runtime.
#[allow(dead_code)]
fn thread_safety() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<jlens_core::Expression>();
    send_sync::<jsonata_core::ast::AstNode>();
}
