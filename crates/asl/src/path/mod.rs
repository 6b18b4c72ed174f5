//! JSONPath ("Paths") and Reference Paths, parsed once at load time.
//!
//! Supported syntax (the subset of Jayway JsonPath that Step Functions
//! documents): `$` / `$$` roots, `.name`, `['name']`, `["name"]`, `[n]`
//! (negative counts from the end), `[*]` / `.*`, `..name` / `..*` (deep scan),
//! `[start:end:step]` slices, `[a,b]` unions of indices or names, and filters
//! `[?(@.x op literal)]` with `==`, `!=`, `<`, `<=`, `>`, `>=`, existence
//! (`[?(@.x)]`), `&&` and `||`.
//!
//! A *definite* path (only names and indices) selects one node or nothing; an
//! indefinite one selects a list, returned as a JSON array.

mod parse;

use std::fmt;

use serde_json::{Map, Value};

use crate::scan::Scanner;

/// Which document a path is evaluated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `$`: the state's input (or the value a field is applied to).
    Input,
    /// `$$`: the context object.
    Context,
    /// `$name`: a workflow variable (the name is [`Path::variable`]).
    Variable,
}

#[derive(Debug, Clone, PartialEq)]
enum Selector {
    Name(String),
    Index(i64),
    Wildcard,
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Union(Vec<Key>),
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq)]
enum Key {
    Name(String),
    Index(i64),
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Child(Selector),
    Descendant(Selector),
}

/// `||` of `&&` of conditions.
#[derive(Debug, Clone, PartialEq)]
struct Filter {
    any: Vec<Vec<Condition>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Exists(Vec<Key>),
    Compare(Vec<Key>, CmpOp, Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    src: String,
    root: Root,
    /// The variable name when the root is [`Root::Variable`].
    variable: Option<String>,
    segments: Vec<Segment>,
}

/// A path that can only identify a single node: names and non-negative
/// indices. Used by `ResultPath`, `ItemsPath`, `…SecondsPath` and friends.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferencePath(Path);

/// Deepest bracket / filter nesting the parser accepts.
const MAX_PATH_LEN: usize = 4096;

impl Path {
    /// Parse a path; the error says what is wrong.
    pub fn parse(src: &str) -> Result<Path, String> {
        if src.len() > MAX_PATH_LEN {
            return Err(format!("path longer than {MAX_PATH_LEN} characters"));
        }
        let mut p = Scanner::new(src);
        let (root, variable) = p.root()?;
        let mut segments = Vec::new();
        while !p.done() {
            segments.push(p.segment()?);
        }
        Ok(Path {
            src: src.to_owned(),
            root,
            variable,
            segments,
        })
    }

    /// The source text.
    pub fn as_str(&self) -> &str {
        &self.src
    }

    /// `$` or `$$`.
    pub fn root(&self) -> Root {
        self.root
    }

    /// The workflow variable a `$name…` path reads.
    pub fn variable(&self) -> Option<&str> {
        self.variable.as_deref()
    }

    /// True when the path refers to the context object (`$$…`).
    pub fn is_context(&self) -> bool {
        self.root == Root::Context
    }

    /// For `$$…` paths: whether evaluation may read `$$.Execution.Input`
    /// (so the context object must include the execution input).
    pub(crate) fn may_read_execution_input(&self) -> bool {
        let name = |i: usize| match self.segments.get(i) {
            Some(Segment::Child(Selector::Name(n))) => Some(n.as_str()),
            _ => None,
        };
        match (name(0), name(1)) {
            (Some("Execution"), Some(second)) => second == "Input",
            (Some("Execution"), None) => true,
            (Some(_), _) => false,
            (None, _) => true,
        }
    }

    /// True when the path selects at most one node.
    pub fn is_definite(&self) -> bool {
        self.segments.iter().all(|s| {
            matches!(
                s,
                Segment::Child(Selector::Name(_)) | Segment::Child(Selector::Index(_))
            )
        })
    }

    /// Evaluate against `root` (the caller picks input or context by
    /// [`Path::root`]). A definite path returns the node or `None`; an
    /// indefinite one returns an array of every match (possibly empty).
    pub fn select(&self, root: &Value) -> Option<Value> {
        if self.is_definite() {
            return self.get(root).cloned();
        }
        let mut current: Vec<&Value> = vec![root];
        for seg in &self.segments {
            let mut next = Vec::new();
            for v in current {
                match seg {
                    Segment::Child(sel) => apply_selector(sel, v, &mut next),
                    Segment::Descendant(sel) => descend(sel, v, &mut next),
                }
            }
            current = next;
        }
        Some(Value::Array(current.into_iter().cloned().collect()))
    }

    /// Borrowing lookup for definite paths (`None` for indefinite paths or
    /// when the node does not exist). Like [`Path::select`], `root` is used
    /// as given whatever [`Path::root`] says.
    pub fn get<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        let mut cur = root;
        for seg in &self.segments {
            cur = match seg {
                Segment::Child(Selector::Name(n)) => cur.as_object()?.get(n)?,
                Segment::Child(Selector::Index(i)) => {
                    let arr = cur.as_array()?;
                    arr.get(resolve_index(*i, arr.len())?)?
                }
                _ => return None,
            };
        }
        Some(cur)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.src)
    }
}

impl ReferencePath {
    /// Parse a reference path (`$`, `$.a.b`, `$['a'][0]`, also `$$…`).
    pub fn parse(src: &str) -> Result<ReferencePath, String> {
        let p = Path::parse(src)?;
        for seg in &p.segments {
            match seg {
                Segment::Child(Selector::Name(_)) => {}
                Segment::Child(Selector::Index(i)) if *i >= 0 => {}
                _ => {
                    return Err(
                        "a reference path may only contain field names and non-negative array indices"
                            .into(),
                    );
                }
            }
        }
        Ok(ReferencePath(p))
    }

    /// The underlying path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The source text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// True for `$$…`.
    pub fn is_context(&self) -> bool {
        self.0.is_context()
    }

    /// True for `$name…` (a workflow variable).
    pub fn is_variable(&self) -> bool {
        self.0.root() == Root::Variable
    }

    /// The node at this path inside `root`, if any. `root` is used as
    /// given: for a `$$…` path the caller passes the context object (the
    /// engine picks the root in one place for every path field).
    pub fn get<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        self.0.get(root)
    }

    /// Write `value` at this path inside `target` (ResultPath semantics):
    /// missing object fields are created; an existing non-object on the way,
    /// or an array index out of range, is an error.
    pub fn set(&self, target: &mut Value, value: Value) -> Result<(), String> {
        let segs = &self.0.segments;
        let Some((last, init)) = segs.split_last() else {
            *target = value;
            return Ok(());
        };
        let mut cur = target;
        for seg in init {
            cur = match seg {
                Segment::Child(Selector::Name(n)) => match cur {
                    Value::Object(map) => map
                        .entry(n.clone())
                        .or_insert_with(|| Value::Object(Map::new())),
                    other => {
                        return Err(format!(
                            "cannot set field '{n}' in a {} value",
                            type_name(other)
                        ));
                    }
                },
                Segment::Child(Selector::Index(i)) => {
                    let len = cur.as_array().map_or(0, Vec::len);
                    match (cur, usize::try_from(*i)) {
                        (Value::Array(arr), Ok(idx)) if idx < len => match arr.get_mut(idx) {
                            Some(v) => v,
                            None => return Err(format!("index {i} is out of range")),
                        },
                        _ => return Err(format!("index {i} is out of range or not an array")),
                    }
                }
                _ => return Err("not a reference path".into()),
            };
        }
        match last {
            Segment::Child(Selector::Name(n)) => match cur {
                Value::Object(map) => {
                    map.insert(n.clone(), value);
                    Ok(())
                }
                other => Err(format!(
                    "cannot set field '{n}' in a {} value",
                    type_name(other)
                )),
            },
            Segment::Child(Selector::Index(i)) => {
                let slot = usize::try_from(*i)
                    .ok()
                    .and_then(|idx| cur.as_array_mut().and_then(|a| a.get_mut(idx)));
                match slot {
                    Some(s) => {
                        *s = value;
                        Ok(())
                    }
                    None => Err(format!("index {i} is out of range or not an array")),
                }
            }
            _ => Err("not a reference path".into()),
        }
    }
}

impl fmt::Display for ReferencePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

pub(crate) use parse::{is_name_char, is_name_start};

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn resolve_index(i: i64, len: usize) -> Option<usize> {
    if i >= 0 {
        usize::try_from(i).ok()
    } else {
        let back = usize::try_from(i.checked_neg()?).ok()?;
        len.checked_sub(back)
    }
}

fn apply_selector<'a>(sel: &Selector, v: &'a Value, out: &mut Vec<&'a Value>) {
    match sel {
        Selector::Name(n) => {
            if let Some(x) = v.as_object().and_then(|m| m.get(n)) {
                out.push(x);
            }
        }
        Selector::Index(i) => {
            if let Some(arr) = v.as_array()
                && let Some(x) = resolve_index(*i, arr.len()).and_then(|k| arr.get(k))
            {
                out.push(x);
            }
        }
        Selector::Wildcard => match v {
            Value::Array(a) => out.extend(a.iter()),
            Value::Object(m) => out.extend(m.values()),
            _ => {}
        },
        Selector::Slice(start, end, step) => {
            if let Some(arr) = v.as_array() {
                slice(arr, *start, *end, *step, out);
            }
        }
        Selector::Union(keys) => {
            for k in keys {
                match k {
                    Key::Name(n) => apply_selector(&Selector::Name(n.clone()), v, out),
                    Key::Index(i) => apply_selector(&Selector::Index(*i), v, out),
                }
            }
        }
        Selector::Filter(f) => match v {
            Value::Array(a) => out.extend(a.iter().filter(|x| f.matches(x))),
            Value::Object(m) => out.extend(m.values().filter(|x| f.matches(x))),
            _ => {}
        },
    }
}

fn descend<'a>(sel: &Selector, v: &'a Value, out: &mut Vec<&'a Value>) {
    apply_selector(sel, v, out);
    match v {
        Value::Array(a) => a.iter().for_each(|x| descend(sel, x, out)),
        Value::Object(m) => m.values().for_each(|x| descend(sel, x, out)),
        _ => {}
    }
}

fn slice<'a>(
    arr: &'a [Value],
    start: Option<i64>,
    end: Option<i64>,
    step: Option<i64>,
    out: &mut Vec<&'a Value>,
) {
    let len = i64::try_from(arr.len()).unwrap_or(i64::MAX);
    let step = step.unwrap_or(1);
    if step == 0 {
        return;
    }
    let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
    if step > 0 {
        let mut i = start.map_or(0, norm);
        let e = end.map_or(len, norm);
        while i < e {
            if let Some(x) = usize::try_from(i).ok().and_then(|k| arr.get(k)) {
                out.push(x);
            }
            i = i.saturating_add(step);
        }
    } else {
        let mut i = start.map_or(len - 1, |x| if x < 0 { len + x } else { x.min(len - 1) });
        let e = end.map_or(-1, |x| if x < 0 { (len + x).max(-1) } else { x });
        while i > e {
            if let Some(x) = usize::try_from(i).ok().and_then(|k| arr.get(k)) {
                out.push(x);
            }
            i = i.saturating_add(step);
        }
    }
}

impl Filter {
    fn matches(&self, v: &Value) -> bool {
        self.any.iter().any(|all| all.iter().all(|c| c.matches(v)))
    }
}

fn lookup<'a>(v: &'a Value, keys: &[Key]) -> Option<&'a Value> {
    let mut cur = v;
    for k in keys {
        cur = match k {
            Key::Name(n) => cur.as_object()?.get(n)?,
            Key::Index(i) => {
                let a = cur.as_array()?;
                a.get(resolve_index(*i, a.len())?)?
            }
        };
    }
    Some(cur)
}

impl Condition {
    fn matches(&self, v: &Value) -> bool {
        match self {
            Condition::Exists(keys) => lookup(v, keys).is_some(),
            Condition::Compare(keys, op, lit) => {
                let Some(x) = lookup(v, keys) else {
                    return false;
                };
                let ord = match (x, lit) {
                    (Value::Number(a), Value::Number(b)) => a
                        .as_f64()
                        .zip(b.as_f64())
                        .and_then(|(a, b)| a.partial_cmp(&b)),
                    (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                    (a, b) => {
                        return match op {
                            CmpOp::Eq => a == b,
                            CmpOp::Ne => a != b,
                            _ => false,
                        };
                    }
                };
                let Some(ord) = ord else { return false };
                match op {
                    CmpOp::Eq => ord.is_eq(),
                    CmpOp::Ne => ord.is_ne(),
                    CmpOp::Lt => ord.is_lt(),
                    CmpOp::Le => ord.is_le(),
                    CmpOp::Gt => ord.is_gt(),
                    CmpOp::Ge => ord.is_ge(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(p: &str, v: &Value) -> Option<Value> {
        Path::parse(p).ok()?.select(v)
    }

    #[test]
    fn definite_paths_select_one_node() {
        let v = json!({"a": {"b": [1, 2, {"c": "x"}]}, "d e": 5});
        assert_eq!(sel("$", &v), Some(v.clone()));
        assert_eq!(sel("$.a.b[2].c", &v), Some(json!("x")));
        assert_eq!(sel("$['d e']", &v), Some(json!(5)));
        assert_eq!(sel("$.a.b[-1].c", &v), Some(json!("x")));
        assert_eq!(sel("$.nope", &v), None);
    }

    #[test]
    fn indefinite_paths_return_arrays() {
        let v = json!({"items": [{"id": 1, "p": 5}, {"id": 2, "p": 15}, {"id": 3}]});
        assert_eq!(sel("$.items[*].id", &v), Some(json!([1, 2, 3])));
        assert_eq!(sel("$.items[?(@.p > 10)].id", &v), Some(json!([2])));
        assert_eq!(sel("$.items[?(@.p)].id", &v), Some(json!([1, 2])));
        assert_eq!(sel("$..id", &v), Some(json!([1, 2, 3])));
        assert_eq!(sel("$.items[0:2].id", &v), Some(json!([1, 2])));
        assert_eq!(sel("$.items[0,2].id", &v), Some(json!([1, 3])));
        assert_eq!(sel("$.missing[*]", &v), Some(json!([])));
    }

    #[test]
    fn reference_path_rejects_wildcards_and_sets_values() {
        assert!(ReferencePath::parse("$.a[*]").is_err());
        assert!(ReferencePath::parse("$..a").is_err());
        let rp = ReferencePath::parse("$.a.b").ok();
        let mut v = json!({"x": 1});
        let r = rp.map(|rp| rp.set(&mut v, json!(2)));
        assert_eq!(r, Some(Ok(())));
        assert_eq!(v, json!({"x": 1, "a": {"b": 2}}));
    }

    #[test]
    fn set_into_a_string_fails() {
        let rp = ReferencePath::parse("$.a.b").ok();
        let mut v = json!({"a": "s"});
        assert!(
            rp.map(|rp| rp.set(&mut v, json!(2)).is_err())
                .unwrap_or(false)
        );
    }

    #[test]
    fn malformed_paths_are_errors() {
        for p in [
            "",
            "a",
            "$.",
            "$[",
            "$['a'",
            "$.a[?(@.b ==)]",
            "$[1:2:0]",
            "$..",
            "$.a b",
        ] {
            assert!(Path::parse(p).is_err(), "{p} should not parse");
        }
    }
}
