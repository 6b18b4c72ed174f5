//! The jsonata-js test suite (test/test-suite): groups/*/case*.json, each a
//! case or an array of cases, datasets/*.json.

use serde_json::{Map, Value};
use std::path::Path;

#[derive(Debug, Clone)]
pub struct Case {
    pub group: String,
    pub name: String,
    pub expr: String,
    /// `None` = undefined input.
    pub input: Option<Value>,
    pub bindings: Map<String, Value>,
    pub expect: Expect,
    /// The case's `timelimit` (ms) and `depth`: jsonata-js's runner boxes
    /// these cases; a crate with the matching options gets them too.
    pub limits: Option<(u64, usize)>,
}

#[derive(Debug, Clone)]
pub enum Expect {
    Result(Value),
    Undefined,
    /// An error; `None` when the case names no code.
    Code(Option<String>),
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sorted_dir(path: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    v.sort();
    v
}

/// Every case, in a stable order (group, file, index in the file).
pub fn load(suite: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    for group in sorted_dir(&suite.join("groups")) {
        if !group.is_dir() {
            continue;
        }
        let gname = group.file_name().expect("name").to_string_lossy().to_string();
        for file in sorted_dir(&group) {
            if file.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let fname = file.file_stem().expect("stem").to_string_lossy().to_string();
            // A file serde_json refuses (a lone UTF-16 surrogate, which no
            // Rust string can hold) is left out and counted.
            let text = std::fs::read_to_string(&file).expect("read case");
            let specs = match serde_json::from_str(&text) {
                Ok(Value::Array(a)) => a,
                Ok(one) => vec![one],
                Err(_) => {
                    eprintln!("skipped (not representable): {}", file.display());
                    continue;
                }
            };
            let many = specs.len() > 1;
            for (i, spec) in specs.into_iter().enumerate() {
                let name = if many { format!("{fname}[{i}]") } else { fname.clone() };
                out.push(case(suite, &group, gname.clone(), name, &spec));
            }
        }
    }
    out
}

fn case(suite: &Path, group: &Path, gname: String, name: String, spec: &Value) -> Case {
    let expr = match spec.get("expr-file").and_then(Value::as_str) {
        Some(f) => std::fs::read_to_string(group.join(f)).expect("expr-file"),
        None => spec["expr"].as_str().expect("expr").to_string(),
    };
    let input = match (spec.get("data"), spec.get("dataset")) {
        (Some(d), _) => Some(d.clone()),
        (None, Some(Value::String(ds))) => Some(read(&suite.join("datasets").join(format!("{ds}.json")))),
        _ => None,
    };
    let bindings = spec.get("bindings").and_then(Value::as_object).cloned().unwrap_or_default();
    let expect = if let Some(r) = spec.get("result") {
        Expect::Result(r.clone())
    } else if spec.get("undefinedResult").is_some() {
        Expect::Undefined
    } else if let Some(c) = spec.get("code").and_then(Value::as_str) {
        Expect::Code(Some(c.to_string()))
    } else if let Some(e) = spec.get("error") {
        Expect::Code(e.get("code").and_then(Value::as_str).map(str::to_string))
    } else {
        Expect::Undefined
    };
    let limits = match (spec.get("timelimit").and_then(Value::as_u64), spec.get("depth").and_then(Value::as_u64)) {
        (Some(t), Some(d)) => Some((t, d as usize)),
        _ => None,
    };
    Case { group: gname, name, expr, input, bindings, expect, limits }
}

/// JSON equality as the jsonata-js runner's deep-equal has it: numbers
/// compare as numbers (1 == 1.0), object keys in any order.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}
