//! Parse and validate a definition into a [`StateMachine`], collecting
//! every problem with a JSON pointer.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::choice::{parse_rule, parse_timestamp};
use crate::error::{ErrorName, Problem, pointer_token};
use crate::host::Resource;
use crate::model::{
    Catcher, FailField, Graph, Handling, IoPath, Jitter, Kind, Machine, MapState, ParallelState,
    ResultPath, Retrier, Seconds, State, StateMachine, TaskState, Transition, WaitFor,
};
use crate::path::{Path, ReferencePath};
use crate::template::{Expr, Template};

/// Longest state name AWS accepts.
const MAX_NAME_LEN: usize = 80;
/// Largest `TimeoutSeconds` / `HeartbeatSeconds` / interval AWS accepts.
const MAX_SECONDS: u64 = 99_999_999;
/// `MaxDelaySeconds` must be below this.
const MAX_DELAY_LIMIT: u64 = 31_622_401;
/// Nesting of Parallel/Map graphs (keeps recursion bounded).
const MAX_GRAPH_DEPTH: usize = 32;

const COMMON: &[&str] = &["Type", "Comment"];

fn allowed_fields(ty: &str) -> Option<&'static [&'static str]> {
    Some(match ty {
        "Pass" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "Result",
        ],
        "Task" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Resource",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Retry",
            "Catch",
            "Credentials",
        ],
        "Choice" => &["InputPath", "OutputPath", "Choices", "Default"],
        "Wait" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Seconds",
            "Timestamp",
            "SecondsPath",
            "TimestampPath",
        ],
        "Succeed" => &["InputPath", "OutputPath"],
        "Fail" => &["Error", "Cause", "ErrorPath", "CausePath"],
        "Parallel" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Branches",
            "Retry",
            "Catch",
        ],
        "Map" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ItemSelector",
            "ResultSelector",
            "ItemsPath",
            "Iterator",
            "ItemProcessor",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "Retry",
            "Catch",
        ],
        _ => return None,
    })
}

/// Distributed Map fields this engine does not run.
const UNSUPPORTED_MAP_FIELDS: &[&str] = &[
    "ItemReader",
    "ItemBatcher",
    "ResultWriter",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
    "Label",
];

pub(crate) fn build(v: &Value) -> Result<StateMachine, Vec<Problem>> {
    let mut b = Builder {
        problems: Vec::new(),
        names: HashMap::new(),
    };
    let Some(obj) = v.as_object() else {
        return Err(vec![Problem::new(
            "",
            "the definition must be a JSON object",
        )]);
    };
    let mut timeout_seconds = None;
    for (k, val) in obj {
        let ptr = format!("/{}", pointer_token(k));
        match k.as_str() {
            "StartAt" | "States" | "Comment" => {}
            "Version" => {
                if val.as_str() != Some("1.0") {
                    b.problem(ptr, "Version must be \"1.0\"");
                }
            }
            "TimeoutSeconds" => timeout_seconds = b.positive_int(val, &ptr),
            "QueryLanguage" => {
                if val.as_str() != Some("JSONPath") {
                    b.problem(ptr, "only the JSONPath query language is supported");
                }
            }
            other => b.problem(ptr, format!("unknown top-level field '{other}'")),
        }
    }
    let root = b.graph(obj, "", 0);
    if !b.problems.is_empty() {
        return Err(b.problems);
    }
    let Some(root) = root else {
        return Err(vec![Problem::new("", "the definition could not be built")]);
    };
    let state_count = b.names.len();
    Ok(StateMachine {
        inner: Arc::new(Machine {
            name: "StateMachine".to_owned(),
            timeout_seconds,
            root,
            definition: v.clone(),
            state_count,
        }),
    })
}

struct Builder {
    problems: Vec<Problem>,
    /// Every state name in the machine (names are unique machine-wide).
    names: HashMap<String, String>,
}

impl Builder {
    fn problem(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(pointer, message));
    }

    fn uint(&mut self, v: &Value, ptr: &str, min: u64, max: u64) -> Option<u64> {
        match v.as_u64().or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= max as f64)
                .map(|f| f as u64)
        }) {
            Some(n) if n >= min && n <= max => Some(n),
            _ => {
                let what = if min == 0 {
                    "a non-negative integer"
                } else {
                    "a positive integer"
                };
                self.problem(ptr, format!("must be {what} (at most {max})"));
                None
            }
        }
    }

    fn positive_int(&mut self, v: &Value, ptr: &str) -> Option<u64> {
        self.uint(v, ptr, 1, MAX_SECONDS)
    }

    fn string<'v>(&mut self, v: &'v Value, ptr: &str) -> Option<&'v str> {
        let s = v.as_str();
        if s.is_none() {
            self.problem(ptr, "must be a string");
        }
        s
    }

    fn reference_path(&mut self, v: &Value, ptr: &str) -> Option<ReferencePath> {
        let s = self.string(v, ptr)?;
        match ReferencePath::parse(s) {
            Ok(p) => Some(p),
            Err(e) => {
                self.problem(ptr, format!("invalid reference path {s:?}: {e}"));
                None
            }
        }
    }

    fn io_path(&mut self, obj: &Map<String, Value>, key: &str, ptr: &str) -> IoPath {
        match obj.get(key) {
            None => IoPath::Identity,
            Some(Value::Null) => IoPath::Null,
            Some(Value::String(s)) => match Path::parse(s) {
                Ok(p) => IoPath::Path(p),
                Err(e) => {
                    self.problem(format!("{ptr}/{key}"), format!("invalid path {s:?}: {e}"));
                    IoPath::Identity
                }
            },
            Some(_) => {
                self.problem(format!("{ptr}/{key}"), "must be a path string or null");
                IoPath::Identity
            }
        }
    }

    fn result_path(&mut self, v: Option<&Value>, ptr: &str) -> ResultPath {
        match v {
            None => ResultPath::Replace,
            Some(Value::Null) => ResultPath::Discard,
            Some(Value::String(s)) => match ReferencePath::parse(s) {
                Ok(p) if p.is_context() => {
                    self.problem(ptr, "ResultPath cannot write into the context object ($$)");
                    ResultPath::Replace
                }
                Ok(p) if p.as_str() == "$" => ResultPath::Replace,
                Ok(p) => ResultPath::Path(p),
                Err(e) => {
                    self.problem(ptr, format!("invalid reference path {s:?}: {e}"));
                    ResultPath::Replace
                }
            },
            Some(_) => {
                self.problem(ptr, "must be a reference path string or null");
                ResultPath::Replace
            }
        }
    }

    fn template(&mut self, v: Option<&Value>, ptr: &str) -> Option<Template> {
        let v = v?;
        if !v.is_object() {
            self.problem(ptr, "must be a JSON object (a payload template)");
            return None;
        }
        Some(Template::compile(v, ptr, &mut self.problems))
    }

    fn error_list(&mut self, v: Option<&Value>, ptr: &str) -> Vec<ErrorName> {
        let ptr = format!("{ptr}/ErrorEquals");
        let Some(arr) = v.and_then(Value::as_array).filter(|a| !a.is_empty()) else {
            self.problem(ptr, "ErrorEquals must be a non-empty array of error names");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, e) in arr.iter().enumerate() {
            let p = format!("{ptr}/{i}");
            let Some(s) = self.string(e, &p) else {
                continue;
            };
            match s.parse::<ErrorName>() {
                Ok(n) => out.push(n),
                Err(err) => self.problem(p, err.to_string()),
            }
        }
        if out.contains(&ErrorName::All) && arr.len() > 1 {
            self.problem(ptr, "States.ALL must appear alone in ErrorEquals");
        }
        out
    }

    /// The part `Retry` and `Catch` share: `key` is an array of `what`
    /// objects with only `allowed` fields and an `ErrorEquals` in which
    /// `States.ALL` may appear only in the last entry. `each` builds one
    /// entry from its pointer, object and error names.
    fn error_handlers<T>(
        &mut self,
        v: Option<&Value>,
        ptr: &str,
        key: &str,
        what: &str,
        allowed: &[&str],
        mut each: impl FnMut(&mut Self, &str, &Map<String, Value>, Vec<ErrorName>) -> T,
    ) -> Vec<T> {
        let Some(v) = v else { return Vec::new() };
        let ptr = format!("{ptr}/{key}");
        let Some(arr) = v.as_array() else {
            self.problem(ptr, format!("{key} must be an array of {what}s"));
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, r) in arr.iter().enumerate() {
            let p = format!("{ptr}/{i}");
            let Some(obj) = r.as_object() else {
                self.problem(p, format!("a {what} must be an object"));
                continue;
            };
            for k in obj.keys() {
                if !allowed.contains(&k.as_str()) {
                    self.problem(
                        format!("{p}/{}", pointer_token(k)),
                        format!("unknown {what} field '{k}'"),
                    );
                }
            }
            let errors = self.error_list(obj.get("ErrorEquals"), &p);
            if errors.contains(&ErrorName::All) && i + 1 != arr.len() {
                self.problem(
                    format!("{p}/ErrorEquals"),
                    format!("a {what} with States.ALL must be the last {what}"),
                );
            }
            out.push(each(self, &p, obj, errors));
        }
        out
    }

    fn retriers(&mut self, v: Option<&Value>, ptr: &str) -> Vec<Retrier> {
        const FIELDS: &[&str] = &[
            "ErrorEquals",
            "IntervalSeconds",
            "MaxAttempts",
            "BackoffRate",
            "MaxDelaySeconds",
            "JitterStrategy",
            "Comment",
        ];
        self.error_handlers(v, ptr, "Retry", "retrier", FIELDS, |b, p, obj, errors| {
            let interval_seconds = match obj.get("IntervalSeconds") {
                Some(x) => b
                    .positive_int(x, &format!("{p}/IntervalSeconds"))
                    .unwrap_or(1),
                None => 1,
            };
            let max_attempts = match obj.get("MaxAttempts") {
                Some(x) => b
                    .uint(x, &format!("{p}/MaxAttempts"), 0, MAX_SECONDS)
                    .unwrap_or(3),
                None => 3,
            };
            let backoff_rate = match obj.get("BackoffRate") {
                Some(x) => match x.as_f64() {
                    Some(f) if f >= 1.0 && f.is_finite() => f,
                    _ => {
                        b.problem(
                            format!("{p}/BackoffRate"),
                            "BackoffRate must be a number >= 1.0",
                        );
                        2.0
                    }
                },
                None => 2.0,
            };
            let max_delay_seconds = obj
                .get("MaxDelaySeconds")
                .and_then(|x| b.uint(x, &format!("{p}/MaxDelaySeconds"), 1, MAX_DELAY_LIMIT - 1));
            let jitter = match obj.get("JitterStrategy") {
                None => Jitter::None,
                Some(x) => match x.as_str() {
                    Some("FULL") => Jitter::Full,
                    Some("NONE") => Jitter::None,
                    _ => {
                        b.problem(
                            format!("{p}/JitterStrategy"),
                            "JitterStrategy must be \"FULL\" or \"NONE\"",
                        );
                        Jitter::None
                    }
                },
            };
            Retrier {
                errors,
                interval_seconds,
                max_attempts,
                backoff_rate,
                max_delay_seconds,
                jitter,
            }
        })
    }

    fn catchers(
        &mut self,
        v: Option<&Value>,
        ptr: &str,
        names: &HashMap<String, usize>,
    ) -> Vec<Catcher> {
        const FIELDS: &[&str] = &["ErrorEquals", "Next", "ResultPath", "Comment"];
        self.error_handlers(v, ptr, "Catch", "catcher", FIELDS, |b, p, obj, errors| {
            let result_path = b.result_path(obj.get("ResultPath"), &format!("{p}/ResultPath"));
            let next = match obj.get("Next") {
                Some(n) => b.target(n, &format!("{p}/Next"), names),
                None => {
                    b.problem(p, "a catcher must have Next");
                    None
                }
            };
            Catcher {
                errors,
                result_path,
                next: next.unwrap_or(0),
            }
        })
    }

    /// `ResultSelector`, `ResultPath`, `Retry`, `Catch` and `Next`/`End` of a
    /// Task, Parallel or Map state.
    fn handling(
        &mut self,
        obj: &Map<String, Value>,
        ptr: &str,
        names: &HashMap<String, usize>,
    ) -> Handling {
        Handling {
            result_selector: self
                .template(obj.get("ResultSelector"), &format!("{ptr}/ResultSelector")),
            result_path: self.result_path(obj.get("ResultPath"), &format!("{ptr}/ResultPath")),
            retry: self.retriers(obj.get("Retry"), ptr),
            catch: self.catchers(obj.get("Catch"), ptr, names),
            transition: self.transition(obj, ptr, names),
        }
    }

    fn target(&mut self, v: &Value, ptr: &str, names: &HashMap<String, usize>) -> Option<usize> {
        let s = self.string(v, ptr)?;
        match names.get(s) {
            Some(i) => Some(*i),
            None => {
                self.problem(ptr, format!("there is no state named '{s}' here"));
                None
            }
        }
    }

    fn transition(
        &mut self,
        obj: &Map<String, Value>,
        ptr: &str,
        names: &HashMap<String, usize>,
    ) -> Transition {
        let end = match obj.get("End") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.problem(format!("{ptr}/End"), "End must be true or false");
                false
            }
        };
        match (obj.get("Next"), end) {
            (Some(_), true) => {
                self.problem(
                    format!("{ptr}/End"),
                    "a state cannot have both Next and End",
                );
                Transition::End
            }
            (Some(n), false) => self
                .target(n, &format!("{ptr}/Next"), names)
                .map_or(Transition::End, Transition::Next),
            (None, true) => Transition::End,
            (None, false) => {
                self.problem(ptr, "the state must have Next or \"End\": true");
                Transition::End
            }
        }
    }

    fn seconds(&mut self, obj: &Map<String, Value>, key: &str, ptr: &str) -> Option<Seconds> {
        let path_key = format!("{key}Path");
        match (obj.get(key), obj.get(&path_key)) {
            (Some(_), Some(_)) => {
                self.problem(
                    format!("{ptr}/{path_key}"),
                    format!("{key} and {path_key} are mutually exclusive"),
                );
                None
            }
            (Some(v), None) => self
                .positive_int(v, &format!("{ptr}/{key}"))
                .map(Seconds::Fixed),
            (None, Some(v)) => self
                .reference_path(v, &format!("{ptr}/{path_key}"))
                .map(Seconds::Path),
            (None, None) => None,
        }
    }

    fn fail_field(&mut self, obj: &Map<String, Value>, key: &str, ptr: &str) -> FailField {
        let path_key = format!("{key}Path");
        match (obj.get(key), obj.get(&path_key)) {
            (Some(_), Some(_)) => {
                self.problem(
                    format!("{ptr}/{path_key}"),
                    format!("{key} and {path_key} are mutually exclusive"),
                );
                FailField::Absent
            }
            (Some(v), None) => match self.string(v, &format!("{ptr}/{key}")) {
                Some(s) => FailField::Literal(s.to_owned()),
                None => FailField::Absent,
            },
            (None, Some(v)) => {
                let p = format!("{ptr}/{path_key}");
                let Some(s) = self.string(v, &p) else {
                    return FailField::Absent;
                };
                let parsed = if s.trim_start().starts_with("States.") {
                    Expr::parse(s)
                } else {
                    ReferencePath::parse(s).map(|r| Expr::Path(r.path().clone()))
                };
                match parsed {
                    Ok(e) => FailField::Expr(e),
                    Err(e) => {
                        self.problem(
                            p,
                            format!("invalid reference path or intrinsic function {s:?}: {e}"),
                        );
                        FailField::Absent
                    }
                }
            }
            (None, None) => FailField::Absent,
        }
    }

    /// A graph: the machine itself, a branch, or an item processor.
    fn graph(&mut self, obj: &Map<String, Value>, ptr: &str, depth: usize) -> Option<Graph> {
        if depth > MAX_GRAPH_DEPTH {
            self.problem(ptr, "Parallel/Map states are nested too deeply");
            return None;
        }
        let start_at = match obj.get("StartAt") {
            Some(v) => self.string(v, &format!("{ptr}/StartAt")),
            None => {
                self.problem(ptr, "StartAt is required");
                None
            }
        };
        let states_ptr = format!("{ptr}/States");
        let states_obj = match obj.get("States") {
            Some(Value::Object(m)) if !m.is_empty() => m,
            Some(_) => {
                self.problem(states_ptr, "States must be a non-empty object");
                return None;
            }
            None => {
                self.problem(ptr, "States is required");
                return None;
            }
        };
        let mut names: HashMap<String, usize> = HashMap::new();
        for (i, name) in states_obj.keys().enumerate() {
            let sp = format!("{states_ptr}/{}", pointer_token(name));
            if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
                self.problem(
                    sp.clone(),
                    format!("state names must be 1 to {MAX_NAME_LEN} characters long"),
                );
            }
            if let Some(other) = self.names.get(name) {
                self.problem(
                    sp.clone(),
                    format!("state name '{name}' is already used at {other}"),
                );
            } else {
                self.names.insert(name.clone(), sp);
            }
            names.insert(name.clone(), i);
        }
        let start = match start_at {
            Some(s) => match names.get(s) {
                Some(i) => Some(*i),
                None => {
                    self.problem(
                        format!("{ptr}/StartAt"),
                        format!("StartAt names '{s}', which is not a state here"),
                    );
                    None
                }
            },
            None => None,
        };
        let mut states = Vec::with_capacity(states_obj.len());
        for (name, v) in states_obj {
            let sp = format!("{states_ptr}/{}", pointer_token(name));
            if let Some(s) = self.state(name, v, &sp, &names, depth) {
                states.push(s);
            }
        }
        if states.len() != states_obj.len() {
            return None;
        }
        let graph = Graph {
            start: start?,
            states,
            by_name: names,
        };
        self.check_graph(&graph, &states_ptr);
        Some(graph)
    }

    fn check_graph(&mut self, g: &Graph, states_ptr: &str) {
        if !g.states.iter().any(|s| s.kind.is_terminal()) {
            self.problem(
                states_ptr,
                "no terminal state: at least one state must be a Succeed or Fail state or have \"End\": true",
            );
        }
        let mut seen = vec![false; g.states.len()];
        let mut queue = VecDeque::from([g.start]);
        while let Some(i) = queue.pop_front() {
            match seen.get_mut(i) {
                Some(s) if !*s => *s = true,
                _ => continue,
            }
            if let Some(state) = g.state(i) {
                queue.extend(state.kind.targets());
            }
        }
        for (i, s) in g.states.iter().enumerate() {
            if !seen.get(i).copied().unwrap_or(true) {
                self.problem(
                    format!("{states_ptr}/{}", pointer_token(&s.name)),
                    format!("state '{}' is not reachable from StartAt", s.name),
                );
            }
        }
    }

    fn state(
        &mut self,
        name: &str,
        v: &Value,
        ptr: &str,
        names: &HashMap<String, usize>,
        depth: usize,
    ) -> Option<State> {
        let Some(obj) = v.as_object() else {
            self.problem(ptr, "a state must be an object");
            return None;
        };
        let ty = match obj.get("Type") {
            Some(Value::String(t)) => t.as_str(),
            Some(_) => {
                self.problem(format!("{ptr}/Type"), "Type must be a string");
                return None;
            }
            None => {
                self.problem(ptr, "Type is required");
                return None;
            }
        };
        let Some(allowed) = allowed_fields(ty) else {
            self.problem(
                format!("{ptr}/Type"),
                format!("unknown state type '{ty}' (expected Pass, Task, Choice, Wait, Succeed, Fail, Parallel or Map)"),
            );
            return None;
        };
        for k in obj.keys() {
            if COMMON.contains(&k.as_str()) || allowed.contains(&k.as_str()) {
                continue;
            }
            let kp = format!("{ptr}/{}", pointer_token(k));
            if ty == "Map" && UNSUPPORTED_MAP_FIELDS.contains(&k.as_str()) {
                self.problem(
                    kp,
                    format!(
                        "'{k}' (Distributed Map) is not supported: only inline Map states run here"
                    ),
                );
            } else {
                self.problem(kp, format!("unknown field '{k}' for a {ty} state"));
            }
        }
        if let Some(c) = obj.get("Comment") {
            self.string(c, &format!("{ptr}/Comment"));
        }
        let input_path = self.io_path(obj, "InputPath", ptr);
        let output_path = self.io_path(obj, "OutputPath", ptr);
        let kind = match ty {
            "Pass" => Kind::Pass {
                parameters: self.template(obj.get("Parameters"), &format!("{ptr}/Parameters")),
                result: obj.get("Result").cloned(),
                result_path: self.result_path(obj.get("ResultPath"), &format!("{ptr}/ResultPath")),
                transition: self.transition(obj, ptr, names),
            },
            "Task" => Kind::Task(Box::new(self.task(obj, ptr, names)?)),
            "Choice" => self.choice(obj, ptr, names),
            "Wait" => {
                let keys = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"];
                let present: Vec<&str> = keys
                    .iter()
                    .copied()
                    .filter(|k| obj.contains_key(*k))
                    .collect();
                let wait = match present.as_slice() {
                    [k] => {
                        let kp = format!("{ptr}/{k}");
                        let val = obj.get(*k).unwrap_or(&Value::Null);
                        match *k {
                            "Seconds" => self
                                .uint(val, &kp, 0, MAX_SECONDS)
                                .map(|n| WaitFor::Seconds(Seconds::Fixed(n))),
                            "Timestamp" => match val.as_str().and_then(parse_timestamp) {
                                Some(t) => Some(WaitFor::Timestamp(t)),
                                None => {
                                    self.problem(kp, "Timestamp must be an RFC 3339 timestamp such as 2016-03-14T01:59:00Z");
                                    None
                                }
                            },
                            "SecondsPath" => self
                                .reference_path(val, &kp)
                                .map(|p| WaitFor::Seconds(Seconds::Path(p))),
                            _ => self.reference_path(val, &kp).map(WaitFor::TimestampPath),
                        }
                    }
                    [] => {
                        self.problem(ptr, "a Wait state needs one of Seconds, Timestamp, SecondsPath or TimestampPath");
                        None
                    }
                    _ => {
                        self.problem(
                            ptr,
                            format!("a Wait state takes exactly one of {}", present.join(", ")),
                        );
                        None
                    }
                };
                let transition = self.transition(obj, ptr, names);
                Kind::Wait {
                    wait: wait?,
                    transition,
                }
            }
            "Succeed" => Kind::Succeed,
            "Fail" => Kind::Fail {
                error: self.fail_field(obj, "Error", ptr),
                cause: self.fail_field(obj, "Cause", ptr),
            },
            "Parallel" => {
                let bp = format!("{ptr}/Branches");
                let mut branches = Vec::new();
                match obj.get("Branches").and_then(Value::as_array) {
                    Some(arr) if !arr.is_empty() => {
                        for (i, b) in arr.iter().enumerate() {
                            let p = format!("{bp}/{i}");
                            match b.as_object() {
                                Some(bo) => {
                                    self.only_keys(bo, &p, &["StartAt", "States", "Comment"]);
                                    if let Some(g) = self.graph(bo, &p, depth + 1) {
                                        branches.push(g);
                                    }
                                }
                                None => self.problem(
                                    p,
                                    "a branch must be an object with StartAt and States",
                                ),
                            }
                        }
                    }
                    _ => self.problem(bp, "Branches must be a non-empty array"),
                }
                Kind::Parallel(Box::new(ParallelState {
                    branches,
                    parameters: self.template(obj.get("Parameters"), &format!("{ptr}/Parameters")),
                    handling: self.handling(obj, ptr, names),
                }))
            }
            "Map" => Kind::Map(Box::new(self.map(obj, ptr, names, depth)?)),
            _ => return None,
        };
        Some(State {
            name: name.to_owned(),
            input_path,
            output_path,
            kind,
        })
    }

    fn only_keys(&mut self, obj: &Map<String, Value>, ptr: &str, allowed: &[&str]) {
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) {
                self.problem(
                    format!("{ptr}/{}", pointer_token(k)),
                    format!("unknown field '{k}'"),
                );
            }
        }
    }

    fn task(
        &mut self,
        obj: &Map<String, Value>,
        ptr: &str,
        names: &HashMap<String, usize>,
    ) -> Option<TaskState> {
        let rp = format!("{ptr}/Resource");
        let (resource, resource_arn) = match obj.get("Resource") {
            Some(Value::String(s)) => match Resource::parse(s) {
                Ok(r) => (Some(r), s.clone()),
                Err(e) => {
                    self.problem(rp, e);
                    (None, s.clone())
                }
            },
            Some(_) => {
                self.problem(rp, "Resource must be a string");
                (None, String::new())
            }
            None => {
                self.problem(ptr, "a Task state needs a Resource");
                (None, String::new())
            }
        };
        let parameters = self.template(obj.get("Parameters"), &format!("{ptr}/Parameters"));
        if let Some(r) = &resource {
            let token_needed = r.waits_for_task_token() && !matches!(r, Resource::Activity { .. });
            if token_needed
                && !parameters
                    .as_ref()
                    .is_some_and(|p| p.mentions("$$.Task.Token"))
            {
                self.problem(
                    format!("{ptr}/Parameters"),
                    "a .waitForTaskToken task must pass the task token: add a field like \"TaskToken.$\": \"$$.Task.Token\" to Parameters",
                );
            }
            if matches!(r, Resource::LambdaInvoke { .. }) {
                let has_fn = obj
                    .get("Parameters")
                    .and_then(Value::as_object)
                    .is_some_and(|p| {
                        p.contains_key("FunctionName") || p.contains_key("FunctionName.$")
                    });
                if !has_fn {
                    self.problem(
                        format!("{ptr}/Parameters"),
                        "lambda:invoke needs a FunctionName parameter",
                    );
                }
            }
        }
        let timeout = self.seconds(obj, "TimeoutSeconds", ptr);
        let heartbeat = self.seconds(obj, "HeartbeatSeconds", ptr);
        if let (Some(Seconds::Fixed(t)), Some(Seconds::Fixed(h))) = (&timeout, &heartbeat)
            && h >= t
        {
            self.problem(
                format!("{ptr}/HeartbeatSeconds"),
                "HeartbeatSeconds must be smaller than TimeoutSeconds",
            );
        }
        let handling = self.handling(obj, ptr, names);
        Some(TaskState {
            resource: resource?,
            resource_arn,
            parameters,
            timeout,
            heartbeat,
            handling,
        })
    }

    fn choice(
        &mut self,
        obj: &Map<String, Value>,
        ptr: &str,
        names: &HashMap<String, usize>,
    ) -> Kind {
        let cp = format!("{ptr}/Choices");
        let mut choices = Vec::new();
        match obj.get("Choices").and_then(Value::as_array) {
            Some(arr) if !arr.is_empty() => {
                for (i, r) in arr.iter().enumerate() {
                    let p = format!("{cp}/{i}");
                    let (rule, next) = parse_rule(r, &p, true, &mut self.problems);
                    let next = next
                        .and_then(|n| self.target(&Value::String(n), &format!("{p}/Next"), names));
                    if let (Some(rule), Some(next)) = (rule, next) {
                        choices.push((rule, next));
                    }
                }
            }
            _ => self.problem(cp, "Choices must be a non-empty array of choice rules"),
        }
        let default = obj
            .get("Default")
            .and_then(|d| self.target(d, &format!("{ptr}/Default"), names));
        Kind::Choice { choices, default }
    }

    fn map(
        &mut self,
        obj: &Map<String, Value>,
        ptr: &str,
        names: &HashMap<String, usize>,
        depth: usize,
    ) -> Option<MapState> {
        let processor = match (obj.get("ItemProcessor"), obj.get("Iterator")) {
            (Some(_), Some(_)) => {
                self.problem(
                    format!("{ptr}/Iterator"),
                    "ItemProcessor and Iterator are mutually exclusive",
                );
                None
            }
            (Some(v), None) | (None, Some(v)) => {
                let key = if obj.contains_key("ItemProcessor") {
                    "ItemProcessor"
                } else {
                    "Iterator"
                };
                let p = format!("{ptr}/{key}");
                match v.as_object() {
                    Some(po) => {
                        self.only_keys(
                            po,
                            &p,
                            &["StartAt", "States", "Comment", "ProcessorConfig"],
                        );
                        if let Some(cfg) = po.get("ProcessorConfig") {
                            let cp = format!("{p}/ProcessorConfig");
                            match cfg.as_object() {
                                Some(c) => {
                                    self.only_keys(c, &cp, &["Mode", "ExecutionType"]);
                                    match c.get("Mode").map(Value::as_str) {
                                        None | Some(Some("INLINE")) => {}
                                        Some(Some("DISTRIBUTED")) => self.problem(
                                            format!("{cp}/Mode"),
                                            "Distributed Map is not supported: use \"Mode\": \"INLINE\"",
                                        ),
                                        Some(_) => self.problem(format!("{cp}/Mode"), "Mode must be INLINE or DISTRIBUTED"),
                                    }
                                }
                                None => self.problem(cp, "ProcessorConfig must be an object"),
                            }
                        }
                        self.graph(po, &p, depth + 1)
                    }
                    None => {
                        self.problem(
                            p,
                            format!("{key} must be an object with StartAt and States"),
                        );
                        None
                    }
                }
            }
            (None, None) => {
                self.problem(
                    ptr,
                    "a Map state needs an ItemProcessor (or the older Iterator)",
                );
                None
            }
        };
        let item_selector = match (obj.get("ItemSelector"), obj.get("Parameters")) {
            (Some(_), Some(_)) => {
                self.problem(
                    format!("{ptr}/Parameters"),
                    "ItemSelector and Parameters are mutually exclusive",
                );
                None
            }
            (Some(v), None) => self.template(Some(v), &format!("{ptr}/ItemSelector")),
            (None, Some(v)) => self.template(Some(v), &format!("{ptr}/Parameters")),
            (None, None) => None,
        };
        let items_path = obj
            .get("ItemsPath")
            .and_then(|v| self.reference_path(v, &format!("{ptr}/ItemsPath")));
        let max_concurrency = match (obj.get("MaxConcurrency"), obj.get("MaxConcurrencyPath")) {
            (Some(_), Some(_)) => {
                self.problem(
                    format!("{ptr}/MaxConcurrencyPath"),
                    "MaxConcurrency and MaxConcurrencyPath are mutually exclusive",
                );
                Seconds::Fixed(0)
            }
            (Some(v), None) => Seconds::Fixed(
                self.uint(v, &format!("{ptr}/MaxConcurrency"), 0, MAX_SECONDS)
                    .unwrap_or(0),
            ),
            (None, Some(v)) => self
                .reference_path(v, &format!("{ptr}/MaxConcurrencyPath"))
                .map_or(Seconds::Fixed(0), Seconds::Path),
            (None, None) => Seconds::Fixed(0),
        };
        let handling = self.handling(obj, ptr, names);
        Some(MapState {
            items_path,
            item_selector,
            processor: processor?,
            max_concurrency,
            handling,
        })
    }
}
