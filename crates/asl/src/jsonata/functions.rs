//! The functions Step Functions adds to JSONata, and the one it takes away.
//!
//! AWS documents `$partition`, `$range`, `$hash`, `$random` (with an optional
//! seed, where JSONata's own takes none), `$uuid` and `$parse` ("Step
//! Functions JSONata functions"), and disables `$eval`. Behaviour the docs do
//! not spell out follows what emulators measured against AWS: a non-integer
//! argument is truncated towards zero; a chunk size below 1, an empty array,
//! a `$range` without a step or whose step points away from its end, and a
//! `$hash` without an algorithm give *undefined* (which fails the field that
//! holds the expression); a one-element `$range` is the bare number; the hash
//! algorithm names are case-sensitive. `$eval` is bound to a value that is
//! not a function, so calling it fails with JSONata's own `T1006` (attempted
//! to invoke a non-function).

use std::sync::OnceLock;

use jlens_core::{Bindings, Error, HostFunction};
use serde_json::Value;

use crate::intrinsic::hash_algorithm;
use crate::random;

type Args<'a> = &'a [Option<Value>];
type Out = jlens_core::Result<Option<Value>>;
type Implementation = fn(Args<'_>) -> Out;

/// Name, JSONata signature, implementation.
pub(super) const FUNCTIONS: &[(&str, &str, Implementation)] = &[
    ("partition", "<an:a>", partition),
    ("range", "<nnn?:x>", range),
    ("hash", "<ss?:s>", hash),
    ("random", "<n?:n>", random),
    ("uuid", "<:s>", uuid),
    ("parse", "<s:x>", parse),
];

/// The AWS functions, bound once; each evaluation clones this (reference
/// counts) and adds its variables.
pub(super) fn base() -> &'static Bindings {
    static BASE: OnceLock<Bindings> = OnceLock::new();
    BASE.get_or_init(|| {
        let eval_removed = Bindings::new().var("eval", Value::Null);
        FUNCTIONS.iter().fold(eval_removed, |b, &(name, sig, imp)| {
            // The signatures are constants; a test checks that each parses.
            match HostFunction::with_signature(sig, move |args, _| imp(args)) {
                Ok(h) => b.function(name, h.without_input()),
                Err(_) => b,
            }
        })
    })
}

/// An error a function raises: `D3137` is the code of JSONata's `$error`,
/// the one a user-raised failure carries.
fn fail(message: impl Into<String>) -> Error {
    Error::new("D3137").with("message", message.into())
}

fn arg(args: Args<'_>, i: usize) -> Option<&Value> {
    args.get(i).and_then(Option::as_ref)
}

/// A number argument truncated towards zero, as an `i64` (saturating).
fn int(args: Args<'_>, i: usize) -> Option<i64> {
    arg(args, i)
        .and_then(Value::as_f64)
        .map(|n| n.trunc() as i64)
}

fn partition(args: Args<'_>) -> Out {
    let (Some(Value::Array(items)), Some(size)) = (arg(args, 0), int(args, 1)) else {
        return Ok(None);
    };
    let Ok(size) = usize::try_from(size) else {
        return Ok(None);
    };
    if size == 0 || items.is_empty() {
        return Ok(None);
    }
    let chunks = items
        .chunks(size)
        .map(|c| Value::Array(c.to_vec()))
        .collect();
    Ok(Some(Value::Array(chunks)))
}

/// AWS refuses a `$range` of more elements than this ("Expression
/// evaluation memory limit exceeded"), before building it.
const RANGE_LIMIT: i128 = 360_145;

fn range(args: Args<'_>) -> Out {
    let (Some(start), Some(end), Some(step)) = (int(args, 0), int(args, 1), int(args, 2)) else {
        return Ok(None);
    };
    let (start, end, step) = (i128::from(start), i128::from(end), i128::from(step));
    if step == 0 || (step > 0 && start > end) || (step < 0 && start < end) {
        return Ok(None);
    }
    let count = (end - start) / step + 1;
    if count > RANGE_LIMIT {
        return Err(fail("Expression evaluation memory limit exceeded"));
    }
    if count == 1 {
        return Ok(Some(Value::from(start as i64)));
    }
    let values = (0..count).map(|k| Value::from((start + k * step) as i64));
    Ok(Some(Value::Array(values.collect())))
}

fn hash(args: Args<'_>) -> Out {
    let (Some(Value::String(data)), Some(Value::String(name))) = (arg(args, 0), arg(args, 1))
    else {
        return Ok(None);
    };
    match hash_algorithm(name) {
        Some(alg) => Ok(Some(Value::String(alg.hex(data.as_bytes())))),
        None => Err(fail(format!(
            "The hash algorithm '{name}' is not supported: use MD5, SHA-1, SHA-256, SHA-384 or SHA-512."
        ))),
    }
}

fn random(args: Args<'_>) -> Out {
    let bits = match int(args, 0) {
        // Reproducible: the same seed gives the same number.
        Some(seed) => random::seeded(seed.cast_unsigned()),
        None => random::u64().map_err(|e| fail(e.to_string()))?,
    };
    Ok(Some(Value::from((bits >> 11) as f64 / (1u64 << 53) as f64)))
}

fn uuid(_: Args<'_>) -> Out {
    random::uuid_v4()
        .map(|u| Some(Value::String(u)))
        .map_err(|e| fail(e.to_string()))
}

fn parse(args: Args<'_>) -> Out {
    let Some(Value::String(text)) = arg(args, 0) else {
        return Ok(None);
    };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| fail(format!("The string is not valid JSON: {e}")))
}
