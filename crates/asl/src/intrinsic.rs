//! The 18 `States.*` intrinsic functions, parsed once into a call tree.

use std::fmt;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::Failure;
use crate::path::{Path, type_name};
use crate::random;
use crate::template::Env;

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
        let mut p = Parser {
            chars: src.chars().collect(),
            pos: 0,
        };
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

    fn check(&self) -> Result<(), String> {
        let (min, max) = self.func.arity();
        let n = self.args.len();
        let name = self.func.name();
        if n < min || n > max {
            let expected = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(format!(
                "States.{name} takes {expected} argument(s), got {n}"
            ));
        }
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
                    return Err(format!(
                        "unsupported hash algorithm {a:?}: use MD5, SHA-1, SHA-256, SHA-384 or SHA-512"
                    ));
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

    fn apply(&self, vals: Vec<Value>) -> Result<Value, String> {
        use Function::*;
        let arg = |i: usize| {
            vals.get(i)
                .ok_or_else(|| format!("missing argument {}", i + 1))
        };
        let string = |i: usize| -> Result<&str, String> {
            let v = arg(i)?;
            v.as_str()
                .ok_or_else(|| format!("argument {} must be a string, got {}", i + 1, type_name(v)))
        };
        let array = |i: usize| -> Result<&Vec<Value>, String> {
            let v = arg(i)?;
            v.as_array()
                .ok_or_else(|| format!("argument {} must be an array, got {}", i + 1, type_name(v)))
        };
        let int = |i: usize| -> Result<i64, String> {
            let v = arg(i)?;
            v.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 9.0e15)
                .map(|f| f.round() as i64)
                .ok_or_else(|| format!("argument {} must be a number, got {}", i + 1, type_name(v)))
        };
        match self.func {
            Format => {
                let template: Vec<Piece> = match self.args.first() {
                    Some(Arg::Str { pieces, .. }) => pieces.clone(),
                    _ => runtime_pieces(string(0)?),
                };
                let holes = template.iter().filter(|p| **p == Piece::Hole).count();
                if holes != vals.len().saturating_sub(1) {
                    return Err(format!(
                        "the template has {holes} placeholder(s) but {} argument(s) follow",
                        vals.len().saturating_sub(1)
                    ));
                }
                let mut out = String::new();
                let mut rest = vals.iter().skip(1);
                for p in &template {
                    match p {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Hole => {
                            if let Some(v) = rest.next() {
                                match v {
                                    Value::String(s) => out.push_str(s),
                                    other => out.push_str(&other.to_string()),
                                }
                            }
                        }
                    }
                }
                Ok(Value::String(out))
            }
            StringToJson => {
                let s = string(0)?;
                serde_json::from_str(s).map_err(|e| format!("the string is not valid JSON: {e}"))
            }
            JsonToString => serde_json::to_string(arg(0)?)
                .map(Value::String)
                .map_err(|e| e.to_string()),
            Array => Ok(Value::Array(vals)),
            ArrayPartition => {
                let a = array(0)?;
                let size = int(1)?;
                let size = usize::try_from(size)
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or("the chunk size must be a positive integer")?;
                Ok(Value::Array(
                    a.chunks(size).map(|c| Value::Array(c.to_vec())).collect(),
                ))
            }
            ArrayContains => {
                let a = array(0)?;
                let needle = arg(1)?;
                Ok(Value::Bool(a.iter().any(|x| json_equal(x, needle))))
            }
            ArrayRange => {
                let (start, end, step) = (int(0)?, int(1)?, int(2)?);
                if step == 0 {
                    return Err("the step must not be 0".into());
                }
                let mut out = Vec::new();
                let mut x = start;
                while (step > 0 && x <= end) || (step < 0 && x >= end) {
                    if out.len() >= MAX_RANGE {
                        return Err(format!("the range has more than {MAX_RANGE} items"));
                    }
                    out.push(Value::from(x));
                    x = match x.checked_add(step) {
                        Some(n) => n,
                        None => break,
                    };
                }
                Ok(Value::Array(out))
            }
            ArrayGetItem => {
                let a = array(0)?;
                let i = int(1)?;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| a.get(i))
                    .cloned()
                    .ok_or_else(|| {
                        format!(
                            "index {i} is out of bounds for an array of length {}",
                            a.len()
                        )
                    })
            }
            ArrayLength => Ok(Value::from(array(0)?.len())),
            ArrayUnique => {
                let mut out: Vec<Value> = Vec::new();
                for x in array(0)? {
                    if !out.iter().any(|y| json_equal(x, y)) {
                        out.push(x.clone());
                    }
                }
                Ok(Value::Array(out))
            }
            Base64Encode => {
                let s = string(0)?;
                if s.chars().count() > MAX_STRING_INPUT {
                    return Err(format!("the input exceeds {MAX_STRING_INPUT} characters"));
                }
                Ok(Value::String(
                    base64::engine::general_purpose::STANDARD.encode(s.as_bytes()),
                ))
            }
            Base64Decode => {
                let s = string(0)?;
                if s.chars().count() > MAX_STRING_INPUT {
                    return Err(format!("the input exceeds {MAX_STRING_INPUT} characters"));
                }
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s.as_bytes())
                    .map_err(|e| format!("invalid Base64 input: {e}"))?;
                String::from_utf8(bytes)
                    .map(Value::String)
                    .map_err(|_| "the decoded data is not valid UTF-8".to_owned())
            }
            Hash => {
                let data = match arg(0)? {
                    Value::String(s) => s.clone(),
                    Value::Null => return Err("argument 1 must not be null".into()),
                    other => other.to_string(),
                };
                if data.chars().count() > MAX_STRING_INPUT {
                    return Err(format!("the input exceeds {MAX_STRING_INPUT} characters"));
                }
                let alg = string(1)?;
                let algo = hash_algorithm(alg).ok_or_else(|| {
                    format!("unsupported hash algorithm {alg:?}: use MD5, SHA-1, SHA-256, SHA-384 or SHA-512")
                })?;
                Ok(Value::String(algo.hex(data.as_bytes())))
            }
            JsonMerge => {
                let a = arg(0)?.as_object().ok_or("argument 1 must be an object")?;
                let b = arg(1)?.as_object().ok_or("argument 2 must be an object")?;
                if arg(2)? != &Value::Bool(false) {
                    return Err("argument 3 must be false: only shallow merge is supported".into());
                }
                let mut out: Map<String, Value> = a.clone();
                for (k, v) in b {
                    out.insert(k.clone(), v.clone());
                }
                Ok(Value::Object(out))
            }
            MathRandom => {
                let (start, end) = (int(0)?, int(1)?);
                if start >= end {
                    return Err("the start must be less than the end".into());
                }
                let span = u64::try_from(i128::from(end) - i128::from(start))
                    .map_err(|_| "the range is too large".to_owned())?;
                let r = match vals.get(2) {
                    Some(_) => random::seeded(int(2)?.cast_unsigned()),
                    None => random::u64().map_err(|e| e.to_string())?,
                };
                let off =
                    i64::try_from(r % span).map_err(|_| "the range is too large".to_owned())?;
                Ok(Value::from(start + off))
            }
            MathAdd => {
                let (a, b) = (int(0)?, int(1)?);
                let range = i64::from(i32::MIN)..=i64::from(i32::MAX);
                if !range.contains(&a) || !range.contains(&b) {
                    return Err("arguments must be between -2147483648 and 2147483647".into());
                }
                Ok(Value::from(a + b))
            }
            StringSplit => {
                let s = string(0)?;
                let delims: Vec<char> = string(1)?.chars().collect();
                let parts: Vec<Value> = if delims.is_empty() {
                    if s.is_empty() {
                        Vec::new()
                    } else {
                        vec![Value::String(s.to_owned())]
                    }
                } else {
                    s.split(|c| delims.contains(&c))
                        .filter(|p| !p.is_empty())
                        .map(|p| Value::String(p.to_owned()))
                        .collect()
                };
                Ok(Value::Array(parts))
            }
            Uuid => random::uuid_v4()
                .map(Value::String)
                .map_err(|e| e.to_string()),
        }
    }
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

#[derive(Debug, Clone, Copy)]
enum HashAlgorithm {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

fn hash_algorithm(name: &str) -> Option<HashAlgorithm> {
    Some(match name {
        "MD5" => HashAlgorithm::Md5,
        "SHA-1" => HashAlgorithm::Sha1,
        "SHA-256" => HashAlgorithm::Sha256,
        "SHA-384" => HashAlgorithm::Sha384,
        "SHA-512" => HashAlgorithm::Sha512,
        _ => return None,
    })
}

impl HashAlgorithm {
    fn hex(self, data: &[u8]) -> String {
        use sha2::Digest;
        let bytes: Vec<u8> = match self {
            HashAlgorithm::Md5 => md5::Md5::digest(data).to_vec(),
            HashAlgorithm::Sha1 => sha1::Sha1::digest(data).to_vec(),
            HashAlgorithm::Sha256 => sha2::Sha256::digest(data).to_vec(),
            HashAlgorithm::Sha384 => sha2::Sha384::digest(data).to_vec(),
            HashAlgorithm::Sha512 => sha2::Sha512::digest(data).to_vec(),
        };
        random::hex(&bytes)
    }
}

/// Template pieces of a `Format` template that came from data (no escapes).
fn runtime_pieces(s: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '{' && it.peek() == Some(&'}') {
            it.next();
            if !text.is_empty() {
                out.push(Piece::Text(std::mem::take(&mut text)));
            }
            out.push(Piece::Hole);
        } else {
            text.push(c);
        }
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    out
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn done(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(k, c)| self.chars.get(self.pos + k) == Some(&c))
    }

    fn text(&self, start: usize) -> String {
        self.chars
            .get(start..self.pos)
            .map(|c| c.iter().collect())
            .unwrap_or_default()
    }

    fn call(&mut self, depth: usize) -> Result<Intrinsic, String> {
        if depth > MAX_NESTING {
            return Err(format!(
                "intrinsic functions can be nested at most {MAX_NESTING} deep"
            ));
        }
        if !self.starts_with("States.") {
            return Err("an intrinsic function call must start with 'States.'".into());
        }
        self.pos += "States.".len();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.pos += 1;
        }
        let name = self.text(start);
        let func = FUNCTIONS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| format!("unknown intrinsic function 'States.{name}'"))?;
        self.skip_ws();
        if !self.eat('(') {
            return Err(format!("expected '(' after States.{name}"));
        }
        let mut args = Vec::new();
        self.skip_ws();
        if !self.eat(')') {
            loop {
                args.push(self.arg(depth)?);
                self.skip_ws();
                if self.eat(',') {
                    continue;
                }
                if self.eat(')') {
                    break;
                }
                return Err(match self.peek() {
                    Some(c) => format!(
                        "expected ',' or ')' at position {} but found '{c}'",
                        self.pos
                    ),
                    None => format!("missing ')' to close States.{name}("),
                });
            }
        }
        let call = Intrinsic {
            func,
            args,
            src: String::new(),
        };
        call.check()?;
        Ok(call)
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, String> {
        self.skip_ws();
        match self.peek() {
            Some('\'') => self.string(),
            Some('$') => {
                let start = self.pos;
                let mut depth_br = 0usize;
                let mut quote: Option<char> = None;
                while let Some(c) = self.peek() {
                    if let Some(q) = quote {
                        if c == '\\' {
                            self.pos += 1;
                        } else if c == q {
                            quote = None;
                        }
                    } else {
                        match c {
                            '\'' | '"' if depth_br > 0 => quote = Some(c),
                            '[' | '(' => depth_br += 1,
                            ']' | ')' if depth_br > 0 => depth_br -= 1,
                            ',' | ')' if depth_br == 0 => break,
                            _ => {}
                        }
                    }
                    self.pos += 1;
                }
                let text = self.text(start);
                let text = text.trim_end();
                Path::parse(text)
                    .map(Arg::Path)
                    .map_err(|e| format!("invalid path '{text}': {e}"))
            }
            Some('S') => Ok(Arg::Call(Box::new(self.call(depth + 1)?))),
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let start = self.pos;
                self.pos += 1;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
                {
                    self.pos += 1;
                }
                let s = self.text(start);
                serde_json::from_str::<serde_json::Number>(&s)
                    .map(|n| Arg::Literal(Value::Number(n)))
                    .map_err(|_| format!("invalid number '{s}'"))
            }
            _ => {
                for (w, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.starts_with(w) {
                        self.pos += w.len();
                        return Ok(Arg::Literal(v));
                    }
                }
                Err(match self.peek() {
                    Some(c) => format!(
                        "unexpected '{c}' at position {}: expected an argument",
                        self.pos
                    ),
                    None => "unexpected end: expected an argument".into(),
                })
            }
        }
    }

    /// A single-quoted string with `\'`, `\{`, `\}`, `\\` escapes.
    fn string(&mut self) -> Result<Arg, String> {
        self.pos += 1; // opening quote
        let mut value = String::new();
        let mut pieces = Vec::new();
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated string literal".into()),
                Some('\'') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ ('\'' | '{' | '}' | '\\')) => {
                            self.pos += 1;
                            value.push(c);
                            text.push(c);
                        }
                        Some(c) => {
                            return Err(format!(
                                "invalid escape '\\{c}' in a string literal: only \\', \\{{, \\}} and \\\\ are allowed"
                            ));
                        }
                        None => return Err("unterminated escape in a string literal".into()),
                    }
                }
                Some('{') if self.chars.get(self.pos + 1) == Some(&'}') => {
                    self.pos += 2;
                    value.push_str("{}");
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Hole);
                }
                Some(c) => {
                    self.pos += 1;
                    value.push(c);
                    text.push(c);
                }
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Arg::Str { value, pieces })
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
