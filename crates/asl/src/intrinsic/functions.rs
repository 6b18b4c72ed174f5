//! What each intrinsic function computes from its evaluated arguments.
//! Errors are plain messages; [`Intrinsic::eval`] prefixes the function name
//! and raises them as `States.Runtime`.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::{Arg, Function, Intrinsic, MAX_RANGE, MAX_STRING_INPUT, Piece};
use crate::path::type_name;
use crate::random;

/// The evaluated arguments of one call, read by position and type.
struct Args<'a>(&'a [Value]);

impl<'a> Args<'a> {
    fn arg(&self, i: usize) -> Result<&'a Value, String> {
        self.0
            .get(i)
            .ok_or_else(|| format!("missing argument {}", i + 1))
    }

    fn string(&self, i: usize) -> Result<&'a str, String> {
        let v = self.arg(i)?;
        v.as_str()
            .ok_or_else(|| format!("argument {} must be a string, got {}", i + 1, type_name(v)))
    }

    fn array(&self, i: usize) -> Result<&'a Vec<Value>, String> {
        let v = self.arg(i)?;
        v.as_array()
            .ok_or_else(|| format!("argument {} must be an array, got {}", i + 1, type_name(v)))
    }

    fn int(&self, i: usize) -> Result<i64, String> {
        let v = self.arg(i)?;
        v.as_f64()
            .filter(|f| f.is_finite() && f.abs() < 9.0e15)
            .map(|f| f.round() as i64)
            .ok_or_else(|| format!("argument {} must be a number, got {}", i + 1, type_name(v)))
    }

    /// A string argument no longer than [`MAX_STRING_INPUT`] characters.
    fn short_string(&self, i: usize) -> Result<&'a str, String> {
        let s = self.string(i)?;
        check_length(s)?;
        Ok(s)
    }
}

fn check_length(s: &str) -> Result<(), String> {
    if s.chars().count() > MAX_STRING_INPUT {
        return Err(format!("the input exceeds {MAX_STRING_INPUT} characters"));
    }
    Ok(())
}

impl Intrinsic {
    pub(super) fn apply(&self, vals: Vec<Value>) -> Result<Value, String> {
        use Function::*;
        let a = Args(&vals);
        match self.func {
            Format => self.format(&a),
            StringToJson => serde_json::from_str(a.string(0)?)
                .map_err(|e| format!("the string is not valid JSON: {e}")),
            JsonToString => serde_json::to_string(a.arg(0)?)
                .map(Value::String)
                .map_err(|e| e.to_string()),
            Array => Ok(Value::Array(vals)),
            ArrayPartition => array_partition(&a),
            ArrayContains => {
                let (arr, needle) = (a.array(0)?, a.arg(1)?);
                Ok(Value::Bool(arr.iter().any(|x| json_equal(x, needle))))
            }
            ArrayRange => array_range(&a),
            ArrayGetItem => array_get_item(&a),
            ArrayLength => Ok(Value::from(a.array(0)?.len())),
            ArrayUnique => {
                let mut out: Vec<Value> = Vec::new();
                for x in a.array(0)? {
                    if !out.iter().any(|y| json_equal(x, y)) {
                        out.push(x.clone());
                    }
                }
                Ok(Value::Array(out))
            }
            Base64Encode => Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(a.short_string(0)?.as_bytes()),
            )),
            Base64Decode => base64_decode(a.short_string(0)?),
            Hash => hash(&a),
            JsonMerge => json_merge(&a),
            MathRandom => math_random(&a),
            MathAdd => math_add(&a),
            StringSplit => string_split(a.string(0)?, a.string(1)?),
            Uuid => random::uuid_v4()
                .map(Value::String)
                .map_err(|e| e.to_string()),
        }
    }

    /// `States.Format`: the template's `{}` holes filled in order.
    fn format(&self, a: &Args<'_>) -> Result<Value, String> {
        let template: Vec<Piece> = match self.args.first() {
            Some(Arg::Str { pieces, .. }) => pieces.clone(),
            _ => runtime_pieces(a.string(0)?),
        };
        let holes = template.iter().filter(|p| **p == Piece::Hole).count();
        let given = a.0.len().saturating_sub(1);
        if holes != given {
            return Err(format!(
                "the template has {holes} placeholder(s) but {given} argument(s) follow"
            ));
        }
        let mut out = String::new();
        let mut rest = a.0.iter().skip(1);
        for p in &template {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Hole => match rest.next() {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(other) => out.push_str(&other.to_string()),
                    None => {}
                },
            }
        }
        Ok(Value::String(out))
    }
}

fn array_partition(a: &Args<'_>) -> Result<Value, String> {
    let arr = a.array(0)?;
    let size = a.int(1)?;
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s > 0)
        .ok_or("the chunk size must be a positive integer")?;
    Ok(Value::Array(
        arr.chunks(size).map(|c| Value::Array(c.to_vec())).collect(),
    ))
}

fn array_range(a: &Args<'_>) -> Result<Value, String> {
    let (start, end, step) = (a.int(0)?, a.int(1)?, a.int(2)?);
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

fn array_get_item(a: &Args<'_>) -> Result<Value, String> {
    let arr = a.array(0)?;
    let i = a.int(1)?;
    usize::try_from(i)
        .ok()
        .and_then(|i| arr.get(i))
        .cloned()
        .ok_or_else(|| {
            format!(
                "index {i} is out of bounds for an array of length {}",
                arr.len()
            )
        })
}

fn base64_decode(s: &str) -> Result<Value, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|e| format!("invalid Base64 input: {e}"))?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| "the decoded data is not valid UTF-8".to_owned())
}

fn hash(a: &Args<'_>) -> Result<Value, String> {
    let data = match a.arg(0)? {
        Value::String(s) => s.clone(),
        Value::Null => return Err("argument 1 must not be null".into()),
        other => other.to_string(),
    };
    check_length(&data)?;
    let alg = a.string(1)?;
    let algo = hash_algorithm(alg).ok_or_else(|| unsupported_hash(alg))?;
    Ok(Value::String(algo.hex(data.as_bytes())))
}

/// The message for a hash algorithm `States.Hash` does not know.
pub(super) fn unsupported_hash(alg: &str) -> String {
    format!("unsupported hash algorithm {alg:?}: use MD5, SHA-1, SHA-256, SHA-384 or SHA-512")
}

fn json_merge(a: &Args<'_>) -> Result<Value, String> {
    let left = a
        .arg(0)?
        .as_object()
        .ok_or("argument 1 must be an object")?;
    let right = a
        .arg(1)?
        .as_object()
        .ok_or("argument 2 must be an object")?;
    if a.arg(2)? != &Value::Bool(false) {
        return Err("argument 3 must be false: only shallow merge is supported".into());
    }
    let mut out: Map<String, Value> = left.clone();
    for (k, v) in right {
        out.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(out))
}

fn math_random(a: &Args<'_>) -> Result<Value, String> {
    let (start, end) = (a.int(0)?, a.int(1)?);
    if start >= end {
        return Err("the start must be less than the end".into());
    }
    let span = u64::try_from(i128::from(end) - i128::from(start))
        .map_err(|_| "the range is too large".to_owned())?;
    let r = match a.0.get(2) {
        Some(_) => random::seeded(a.int(2)?.cast_unsigned()),
        None => random::u64().map_err(|e| e.to_string())?,
    };
    let off = i64::try_from(r % span).map_err(|_| "the range is too large".to_owned())?;
    Ok(Value::from(start + off))
}

fn math_add(a: &Args<'_>) -> Result<Value, String> {
    let (x, y) = (a.int(0)?, a.int(1)?);
    let range = i64::from(i32::MIN)..=i64::from(i32::MAX);
    if !range.contains(&x) || !range.contains(&y) {
        return Err("arguments must be between -2147483648 and 2147483647".into());
    }
    Ok(Value::from(x + y))
}

fn string_split(s: &str, delimiters: &str) -> Result<Value, String> {
    let delims: Vec<char> = delimiters.chars().collect();
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

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn json_equal(a: &Value, b: &Value) -> bool {
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
pub(crate) enum HashAlgorithm {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

pub(crate) fn hash_algorithm(name: &str) -> Option<HashAlgorithm> {
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
    pub(crate) fn hex(self, data: &[u8]) -> String {
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
