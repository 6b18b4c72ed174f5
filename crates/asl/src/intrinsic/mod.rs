//! The 18 `States.*` intrinsic functions, parsed once into a call tree.

mod functions;
mod parse;

use std::fmt;

use serde_json::Value;

use crate::error::Failure;
use crate::path::{Path, type_name};
use crate::scan::Scanner;
use crate::template::Env;
// `hash_algorithm` is shared with JSONata's `$hash`, which takes the same names.
pub(crate) use functions::hash_algorithm;
use functions::unsupported_hash;

/// Maximum nesting of intrinsic calls inside one field (AWS allows 10).
pub const MAX_NESTING: usize = 10;
/// Maximum input length for `Base64Encode` / `Base64Decode` / `Hash`.
const MAX_STRING_INPUT: usize = 10_000;
/// Maximum length of an `ArrayRange` result.
const MAX_RANGE: usize = 1000;

/// An intrinsic function name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `States.Format`
    Format,
    /// `States.StringToJson`
    StringToJson,
    /// `States.JsonToString`
    JsonToString,
    /// `States.Array`
    Array,
    /// `States.ArrayPartition`
    ArrayPartition,
    /// `States.ArrayContains`
    ArrayContains,
    /// `States.ArrayRange`
    ArrayRange,
    /// `States.ArrayGetItem`
    ArrayGetItem,
    /// `States.ArrayLength`
    ArrayLength,
    /// `States.ArrayUnique`
    ArrayUnique,
    /// `States.Base64Encode`
    Base64Encode,
    /// `States.Base64Decode`
    Base64Decode,
    /// `States.Hash`
    Hash,
    /// `States.JsonMerge`
    JsonMerge,
    /// `States.MathRandom`
    MathRandom,
    /// `States.MathAdd`
    MathAdd,
    /// `States.StringSplit`
    StringSplit,
    /// `States.UUID`
    Uuid,
}

const FUNCTIONS: &[(&str, Function)] = &[
    ("Format", Function::Format),
    ("StringToJson", Function::StringToJson),
    ("JsonToString", Function::JsonToString),
    ("Array", Function::Array),
    ("ArrayPartition", Function::ArrayPartition),
    ("ArrayContains", Function::ArrayContains),
    ("ArrayRange", Function::ArrayRange),
    ("ArrayGetItem", Function::ArrayGetItem),
    ("ArrayLength", Function::ArrayLength),
    ("ArrayUnique", Function::ArrayUnique),
    ("Base64Encode", Function::Base64Encode),
    ("Base64Decode", Function::Base64Decode),
    ("Hash", Function::Hash),
    ("JsonMerge", Function::JsonMerge),
    ("MathRandom", Function::MathRandom),
    ("MathAdd", Function::MathAdd),
    ("StringSplit", Function::StringSplit),
    ("UUID", Function::Uuid),
];

impl Function {
    /// `States.<Name>`.
    pub fn name(self) -> &'static str {
        FUNCTIONS
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }

    /// Allowed argument counts (min, max).
    fn arity(self) -> (usize, usize) {
        use Function::*;
        match self {
            Format => (1, usize::MAX),
            Array => (0, usize::MAX),
            StringToJson | JsonToString | ArrayLength | ArrayUnique | Base64Encode
            | Base64Decode => (1, 1),
            ArrayPartition | ArrayContains | ArrayGetItem | Hash | MathAdd | StringSplit => (2, 2),
            ArrayRange | JsonMerge => (3, 3),
            MathRandom => (2, 3),
            Uuid => (0, 0),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Hole,
}

/// One argument of an intrinsic call.
#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// A string literal; `pieces` keeps unescaped `{}` holes for `Format`.
    Str { value: String, pieces: Vec<Piece> },
    /// A number, boolean or null literal.
    Literal(Value),
    /// A path into the input or the context object.
    Path(Path),
    /// A nested call.
    Call(Box<Intrinsic>),
}

/// A parsed intrinsic function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Intrinsic {
    func: Function,
    args: Vec<Arg>,
    src: String,
}

impl fmt::Display for Intrinsic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.src)
    }
}

impl Intrinsic {
    /// Parse `States.Fn(arg, …)`.
    pub fn parse(src: &str) -> Result<Intrinsic, String> {
        let mut p = Scanner::new(src);
        p.skip_ws();
        let call = p.call(1)?;
        p.skip_ws();
        if !p.done() {
            return Err(format!(
                "unexpected text after the intrinsic call at position {}",
                p.pos
            ));
        }
        Ok(Intrinsic {
            src: src.to_owned(),
            ..call
        })
    }

    /// The function called at the top.
    pub fn function(&self) -> Function {
        self.func
    }

    /// True when some argument (at any depth) references `$$.Task.Token`.
    pub(crate) fn mentions(&self, path: &str) -> bool {
        self.args.iter().any(|a| match a {
            Arg::Path(p) => p.as_str() == path,
            Arg::Call(c) => c.mentions(path),
            _ => false,
        })
    }

    /// What can be checked at load time: the argument count, and the
    /// types of literal arguments.
    fn check(&self) -> Result<(), String> {
        self.check_arity()?;
        self.check_literals()
    }

    fn check_arity(&self) -> Result<(), String> {
        let (min, max) = self.func.arity();
        let n = self.args.len();
        if n < min || n > max {
            let expected = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(format!(
                "States.{} takes {expected} argument(s), got {n}",
                self.func.name()
            ));
        }
        Ok(())
    }

    fn check_literals(&self) -> Result<(), String> {
        let n = self.args.len();
        let name = self.func.name();
        use Function::*;
        let lit = |i: usize| match self.args.get(i) {
            Some(Arg::Str { value, .. }) => Some(Value::String(value.clone())),
            Some(Arg::Literal(v)) => Some(v.clone()),
            _ => None,
        };
        let want = |i: usize, ok: fn(&Value) -> bool, what: &str| -> Result<(), String> {
            match lit(i) {
                Some(v) if !ok(&v) => Err(format!(
                    "argument {} of States.{name} must be {what}, got {}",
                    i + 1,
                    type_name(&v)
                )),
                _ => Ok(()),
            }
        };
        let is_str = |v: &Value| v.is_string();
        let is_num = |v: &Value| v.is_number();
        let not_scalar = |_: &Value| false;
        match self.func {
            Format => {
                want(0, is_str, "a string")?;
                if let Some(Arg::Str { pieces, .. }) = self.args.first() {
                    let holes = pieces.iter().filter(|p| **p == Piece::Hole).count();
                    if holes != n - 1 {
                        return Err(format!(
                            "States.Format template has {holes} placeholder(s) but {} argument(s) follow",
                            n - 1
                        ));
                    }
                }
            }
            StringToJson | Base64Encode | Base64Decode => want(0, is_str, "a string")?,
            ArrayPartition | ArrayGetItem => {
                want(0, not_scalar, "an array")?;
                want(1, is_num, "a number")?;
            }
            ArrayContains | ArrayLength | ArrayUnique => want(0, not_scalar, "an array")?,
            ArrayRange => {
                for i in 0..3 {
                    want(i, is_num, "a number")?;
                }
            }
            Hash => {
                want(1, is_str, "a string")?;
                if let Some(Value::String(a)) = lit(1)
                    && hash_algorithm(&a).is_none()
                {
                    return Err(unsupported_hash(&a));
                }
            }
            JsonMerge => {
                want(0, not_scalar, "an object")?;
                want(1, not_scalar, "an object")?;
                if let Some(v) = lit(2)
                    && v != Value::Bool(false)
                {
                    return Err(
                        "the third argument of States.JsonMerge must be false (only shallow merge is supported)"
                            .into(),
                    );
                }
            }
            MathRandom | MathAdd => {
                for i in 0..n {
                    want(i, is_num, "a number")?;
                }
            }
            StringSplit => {
                want(0, is_str, "a string")?;
                want(1, is_str, "a string")?;
            }
            JsonToString | Array | Uuid => {}
        }
        Ok(())
    }

    /// Evaluate; failures are `States.Runtime` errors as in AWS.
    pub(crate) fn eval(&self, env: &Env<'_>) -> Result<Value, Failure> {
        let mut vals = Vec::with_capacity(self.args.len());
        for a in &self.args {
            vals.push(match a {
                Arg::Str { value, .. } => Value::String(value.clone()),
                Arg::Literal(v) => v.clone(),
                Arg::Path(p) => env.resolve(p).ok_or_else(|| {
                    Failure::runtime(format!(
                        "The JSONPath '{}' specified in the intrinsic function '{}' could not be found",
                        p.as_str(),
                        self.src_or_name()
                    ))
                })?,
                Arg::Call(c) => c.eval(env)?,
            });
        }
        self.apply(vals)
            .map_err(|m| Failure::runtime(format!("States.{}: {m}", self.func.name())))
    }

    fn src_or_name(&self) -> String {
        if self.src.is_empty() {
            format!("States.{}", self.func.name())
        } else {
            self.src.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::LazyContext;
    use serde_json::json;

    fn run(src: &str, input: Value) -> Result<Value, String> {
        let f = Intrinsic::parse(src)?;
        let ctx = LazyContext::fixed(json!({"Execution": {"Name": "n"}}));
        let env = Env::new(&input, &ctx);
        f.eval(&env).map_err(|e| e.cause.unwrap_or_default())
    }

    #[test]
    fn format_with_escapes_and_paths() {
        assert_eq!(
            run(
                "States.Format('Hello, {} \\{x\\} \\'q\\'', $.name)",
                json!({"name": "Arnav"})
            ),
            Ok(json!("Hello, Arnav {x} 'q'"))
        );
        assert_eq!(
            run("States.Format($.t, $.n)", json!({"t": "n={}", "n": 3})),
            Ok(json!("n=3"))
        );
    }

    #[test]
    fn nested_calls_and_context() {
        assert_eq!(
            run(
                "States.ArrayGetItem(States.StringSplit($.s, '/'), 1)",
                json!({"s": "a/b/c"})
            ),
            Ok(json!("b"))
        );
        assert_eq!(
            run("States.Array($$.Execution.Name)", json!({})),
            Ok(json!(["n"]))
        );
    }

    #[test]
    fn parse_errors_are_reported() {
        for bad in [
            "States.Nope()",
            "States.Format('{}')",
            "States.ArrayLength(1, 2)",
            "States.Array($.a",
            "States.Format('a\\n')",
            "States.JsonMerge($.a, $.b, true)",
            "States.Hash('x', 'SHA-3')",
            "States.Array() x",
        ] {
            assert!(Intrinsic::parse(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn hashes_match_known_vectors() {
        assert_eq!(
            run("States.Hash('abc', 'SHA-256')", json!({})),
            Ok(json!(
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            ))
        );
        assert_eq!(
            run("States.Hash('abc', 'MD5')", json!({})),
            Ok(json!("900150983cd24fb0d6963f7d28e17f72"))
        );
    }

    #[test]
    fn seeded_random_is_deterministic_and_in_range() {
        let a = run("States.MathRandom(1, 10, 42)", json!({}));
        let b = run("States.MathRandom(1, 10, 42)", json!({}));
        assert_eq!(a, b);
        let n = a.ok().and_then(|v| v.as_i64()).unwrap_or(0);
        assert!((1..10).contains(&n));
    }
}
