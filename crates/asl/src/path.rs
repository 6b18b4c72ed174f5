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

use std::fmt;

use serde_json::{Map, Value};

/// Which document a path is evaluated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `$`: the state's input (or the value a field is applied to).
    Input,
    /// `$$`: the context object.
    Context,
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
        let mut p = Parser {
            chars: src.chars().collect(),
            pos: 0,
        };
        let root = p.root()?;
        let mut segments = Vec::new();
        while !p.done() {
            segments.push(p.segment()?);
        }
        Ok(Path {
            src: src.to_owned(),
            root,
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

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn text(&self, start: usize) -> String {
        self.chars
            .get(start..self.pos)
            .map(|c| c.iter().collect())
            .unwrap_or_default()
    }

    fn done(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, off: usize) -> Option<char> {
        self.chars.get(self.pos + off).copied()
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

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(match self.peek() {
                Some(got) => format!("expected '{c}' at position {} but found '{got}'", self.pos),
                None => format!("expected '{c}' at position {} but the path ended", self.pos),
            })
        }
    }

    fn root(&mut self) -> Result<Root, String> {
        if !self.eat('$') {
            return Err("a path must start with '$'".into());
        }
        if self.eat('$') {
            Ok(Root::Context)
        } else {
            Ok(Root::Input)
        }
    }

    fn segment(&mut self) -> Result<Segment, String> {
        match self.peek() {
            Some('.') => {
                self.pos += 1;
                if self.eat('.') {
                    if self.peek() == Some('[') {
                        self.pos += 1;
                        return Ok(Segment::Descendant(self.bracket()?));
                    }
                    return Ok(Segment::Descendant(self.dot_member()?));
                }
                Ok(Segment::Child(self.dot_member()?))
            }
            Some('[') => {
                self.pos += 1;
                Ok(Segment::Child(self.bracket()?))
            }
            Some(c) => Err(format!(
                "unexpected '{c}' at position {}: expected '.' or '['",
                self.pos
            )),
            None => Err("unexpected end of path".into()),
        }
    }

    fn dot_member(&mut self) -> Result<Selector, String> {
        if self.eat('*') {
            return Ok(Selector::Wildcard);
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == '.' || c == '[' {
                break;
            }
            if c.is_whitespace() || c == ']' || c == '\'' || c == '"' {
                return Err(format!(
                    "character '{c}' at position {} is not allowed in a field name; use ['…']",
                    self.pos
                ));
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(format!("empty field name at position {start}"));
        }
        Ok(Selector::Name(self.text(start)))
    }

    fn quoted(&mut self) -> Result<String, String> {
        let q = match self.peek() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(format!("expected a quoted name at position {}", self.pos)),
        };
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated quoted name".into()),
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) => {
                            s.push(c);
                            self.pos += 1;
                        }
                        None => return Err("unterminated escape in quoted name".into()),
                    }
                }
                Some(c) if c == q => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn int(&mut self) -> Result<i64, String> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let s: String = self.text(start);
        s.parse::<i64>()
            .map_err(|_| format!("expected an integer at position {start}"))
    }

    fn key(&mut self) -> Result<Key, String> {
        self.skip_ws();
        let k = match self.peek() {
            Some('\'' | '"') => Key::Name(self.quoted()?),
            _ => Key::Index(self.int()?),
        };
        self.skip_ws();
        Ok(k)
    }

    /// After '['.
    fn bracket(&mut self) -> Result<Selector, String> {
        self.skip_ws();
        let sel = match self.peek() {
            Some('*') => {
                self.pos += 1;
                Selector::Wildcard
            }
            Some('?') => {
                self.pos += 1;
                self.skip_ws();
                self.expect('(')?;
                let f = self.filter()?;
                self.skip_ws();
                self.expect(')')?;
                Selector::Filter(f)
            }
            Some(':') => self.slice_rest(None)?,
            _ => {
                let first = self.key()?;
                match (self.peek(), first) {
                    (Some(':'), Key::Index(i)) => self.slice_rest(Some(i))?,
                    (Some(','), first) => {
                        let mut keys = vec![first];
                        while self.eat(',') {
                            keys.push(self.key()?);
                        }
                        Selector::Union(keys)
                    }
                    (_, Key::Name(n)) => Selector::Name(n),
                    (_, Key::Index(i)) => Selector::Index(i),
                }
            }
        };
        self.skip_ws();
        self.expect(']')?;
        Ok(sel)
    }

    /// At ':' after an optional start.
    fn slice_rest(&mut self, start: Option<i64>) -> Result<Selector, String> {
        self.expect(':')?;
        self.skip_ws();
        let end = if matches!(self.peek(), Some(c) if c == '-' || c.is_ascii_digit()) {
            Some(self.int()?)
        } else {
            None
        };
        self.skip_ws();
        let step = if self.eat(':') {
            self.skip_ws();
            if matches!(self.peek(), Some(c) if c == '-' || c.is_ascii_digit()) {
                Some(self.int()?)
            } else {
                None
            }
        } else {
            None
        };
        if step == Some(0) {
            return Err("slice step cannot be 0".into());
        }
        Ok(Selector::Slice(start, end, step))
    }

    fn filter(&mut self) -> Result<Filter, String> {
        let mut any = Vec::new();
        let mut all = Vec::new();
        loop {
            self.skip_ws();
            all.push(self.condition()?);
            self.skip_ws();
            if self.peek() == Some('&') && self.peek_at(1) == Some('&') {
                self.pos += 2;
                continue;
            }
            if self.peek() == Some('|') && self.peek_at(1) == Some('|') {
                self.pos += 2;
                any.push(std::mem::take(&mut all));
                continue;
            }
            break;
        }
        any.push(all);
        Ok(Filter { any })
    }

    fn condition(&mut self) -> Result<Condition, String> {
        self.expect('@')?;
        let mut keys = Vec::new();
        loop {
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    match self.dot_member_in_filter()? {
                        Some(n) => keys.push(Key::Name(n)),
                        None => return Err("wildcards are not supported in filters".into()),
                    }
                }
                Some('[') => {
                    self.pos += 1;
                    keys.push(self.key()?);
                    self.expect(']')?;
                }
                _ => break,
            }
        }
        self.skip_ws();
        let op = match (self.peek(), self.peek_at(1)) {
            (Some('='), Some('=')) => Some((CmpOp::Eq, 2)),
            (Some('!'), Some('=')) => Some((CmpOp::Ne, 2)),
            (Some('<'), Some('=')) => Some((CmpOp::Le, 2)),
            (Some('>'), Some('=')) => Some((CmpOp::Ge, 2)),
            (Some('<'), _) => Some((CmpOp::Lt, 1)),
            (Some('>'), _) => Some((CmpOp::Gt, 1)),
            _ => None,
        };
        let Some((op, len)) = op else {
            return Ok(Condition::Exists(keys));
        };
        self.pos += len;
        self.skip_ws();
        let lit = self.literal()?;
        Ok(Condition::Compare(keys, op, lit))
    }

    fn dot_member_in_filter(&mut self) -> Result<Option<String>, String> {
        if self.eat('*') {
            return Ok(None);
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '$')
        {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(format!("empty field name at position {start}"));
        }
        Ok(Some(self.text(start)))
    }

    fn literal(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some('\'' | '"') => Ok(Value::String(self.quoted()?)),
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let start = self.pos;
                self.pos += 1;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
                {
                    self.pos += 1;
                }
                let s: String = self.text(start);
                serde_json::from_str::<serde_json::Number>(&s)
                    .map(Value::Number)
                    .map_err(|_| format!("invalid number '{s}' in filter"))
            }
            _ => {
                for (word, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    let w: Vec<char> = word.chars().collect();
                    if self.chars.get(self.pos..self.pos + w.len()) == Some(&w[..]) {
                        self.pos += w.len();
                        return Ok(v);
                    }
                }
                Err(format!("expected a literal at position {}", self.pos))
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
