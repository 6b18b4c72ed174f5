//! Parse and validate a definition into a [`StateMachine`], collecting
//! every problem with a JSON pointer. This module has the top level and the
//! field parsers; `states` builds graphs and each state type, `handlers`
//! the `Retry` and `Catch` fields.

mod handlers;
mod jsonata;
mod language;
mod states;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{Problem, pointer_token};
use crate::model::{
    Assign, FailField, IoPath, Machine, QueryLanguage, ResultPath, Seconds, StateMachine,
    Transition,
};
use crate::path::{Path, ReferencePath};
use crate::template::{Expr, Template};
use crate::vars::check_name;

/// Longest state name AWS accepts.
const MAX_NAME_LEN: usize = 80;
/// Largest `TimeoutSeconds` / `HeartbeatSeconds` / interval AWS accepts.
const MAX_SECONDS: u64 = 99_999_999;
/// `MaxDelaySeconds` must be below this.
const MAX_DELAY_LIMIT: u64 = 31_622_401;
/// Nesting of Parallel/Map graphs (keeps recursion bounded).
const MAX_GRAPH_DEPTH: usize = 32;

/// Fields of a state, in groups several state types share.
const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];
const FLOW: &[&str] = &["Next", "End"];
const IO: &[&str] = &["InputPath", "OutputPath"];
const RESULT: &[&str] = &["ResultPath", "Parameters"];
/// The states that can set variables.
const ASSIGN: &[&str] = &["Assign"];
/// JSONata states: the state's output (all but Fail) and a Task's or
/// Parallel's input.
const OUTPUT: &[&str] = &["Output"];
const ARGUMENTS: &[&str] = &["Arguments"];
/// Task, Parallel and Map: what shapes their result and handles their errors.
const HANDLING: &[&str] = &["ResultSelector", "Retry", "Catch"];

/// The fields a state of type `ty` may have (besides [`COMMON`]), or None
/// for an unknown type.
fn allowed_fields(ty: &str) -> Option<&'static [&'static [&'static str]]> {
    Some(match ty {
        "Pass" => &[FLOW, IO, RESULT, ASSIGN, OUTPUT, &["Result"]],
        "Task" => &[
            FLOW,
            IO,
            RESULT,
            HANDLING,
            ASSIGN,
            OUTPUT,
            ARGUMENTS,
            &[
                "Resource",
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
                "Credentials",
            ],
        ],
        "Choice" => &[IO, ASSIGN, OUTPUT, &["Choices", "Default"]],
        "Wait" => &[
            FLOW,
            IO,
            ASSIGN,
            OUTPUT,
            &["Seconds", "Timestamp", "SecondsPath", "TimestampPath"],
        ],
        "Succeed" => &[IO, OUTPUT],
        "Fail" => &[&["Error", "Cause", "ErrorPath", "CausePath"]],
        "Parallel" => &[
            FLOW,
            IO,
            RESULT,
            HANDLING,
            ASSIGN,
            OUTPUT,
            ARGUMENTS,
            &["Branches"],
        ],
        "Map" => &[
            FLOW,
            IO,
            RESULT,
            HANDLING,
            ASSIGN,
            OUTPUT,
            &[
                "Items",
                "ItemSelector",
                "ItemsPath",
                "Iterator",
                "ItemProcessor",
                "MaxConcurrency",
                "MaxConcurrencyPath",
            ],
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
        language: QueryLanguage::JsonPath,
        state_ql: QueryLanguage::JsonPath,
    };
    let Some(obj) = v.as_object() else {
        return Err(vec![Problem::new(
            "",
            "the definition must be a JSON object",
        )]);
    };
    if let Some(ql) = obj.get("QueryLanguage") {
        b.language = b.machine_language(ql, "/QueryLanguage");
    }
    let mut timeout_seconds = None;
    for (k, val) in obj {
        let ptr = format!("/{}", pointer_token(k));
        match k.as_str() {
            "StartAt" | "States" | "Comment" | "QueryLanguage" => {}
            "Version" => {
                if val.as_str() != Some("1.0") {
                    b.problem(ptr, "Version must be \"1.0\"");
                }
            }
            "TimeoutSeconds" => timeout_seconds = b.positive_int(val, &ptr),
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

/// Which of two mutually exclusive fields an object has.
enum OneOf<'v> {
    Neither,
    Key(&'v Value),
    Alt(&'v Value),
    Both,
}

struct Builder {
    problems: Vec<Problem>,
    /// Every state name in the machine (names are unique machine-wide).
    names: HashMap<String, String>,
    /// The machine's `QueryLanguage`: the default of every state.
    language: QueryLanguage,
    /// The language of the state being built (nested states set and
    /// restore it).
    state_ql: QueryLanguage,
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
                Ok(p) if p.is_variable() => {
                    self.problem(
                        ptr,
                        "ResultPath cannot write into a variable: use Assign to set variables",
                    );
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

    /// An `Assign` field: an object whose keys (without a trailing `.$`)
    /// are variable names; `.$` values are paths or intrinsics evaluated
    /// against what the state defines as `$` for Assign.
    fn assign(&mut self, v: Option<&Value>, ptr: &str) -> Option<Assign> {
        let v = v?;
        let Some(obj) = v.as_object() else {
            self.problem(
                ptr,
                "Assign must be a JSON object of variable names and values",
            );
            return None;
        };
        if self.state_ql == QueryLanguage::Jsonata {
            return self.jsonata_assign(obj, v, ptr);
        }
        for k in obj.keys() {
            let name = k.strip_suffix(".$").unwrap_or(k);
            if let Err(e) = check_name(name) {
                self.problem(format!("{ptr}/{}", pointer_token(k)), e);
            }
        }
        Some(Assign::Path(Template::compile(v, ptr, &mut self.problems)))
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

    /// Which of two mutually exclusive fields `obj` has; both is a
    /// problem (reported at `alt`).
    fn one_of<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        key: &str,
        alt: &str,
        ptr: &str,
    ) -> OneOf<'v> {
        match (obj.get(key), obj.get(alt)) {
            (Some(_), Some(_)) => {
                self.problem(
                    format!("{ptr}/{alt}"),
                    format!("{key} and {alt} are mutually exclusive"),
                );
                OneOf::Both
            }
            (Some(v), None) => OneOf::Key(v),
            (None, Some(v)) => OneOf::Alt(v),
            (None, None) => OneOf::Neither,
        }
    }

    fn seconds(&mut self, obj: &Map<String, Value>, key: &str, ptr: &str) -> Option<Seconds> {
        if let Some(s) = self.jsonata_seconds(obj.get(key), &format!("{ptr}/{key}")) {
            return Some(s);
        }
        let path_key = format!("{key}Path");
        match self.one_of(obj, key, &path_key, ptr) {
            OneOf::Key(v) => self
                .positive_int(v, &format!("{ptr}/{key}"))
                .map(Seconds::Fixed),
            OneOf::Alt(v) => self
                .reference_path(v, &format!("{ptr}/{path_key}"))
                .map(Seconds::Path),
            OneOf::Both | OneOf::Neither => None,
        }
    }

    fn fail_field(&mut self, obj: &Map<String, Value>, key: &str, ptr: &str) -> FailField {
        if let Some(f) = self.jsonata_fail_field(obj.get(key), &format!("{ptr}/{key}")) {
            return f;
        }
        let path_key = format!("{key}Path");
        match self.one_of(obj, key, &path_key, ptr) {
            OneOf::Key(v) => match self.string(v, &format!("{ptr}/{key}")) {
                Some(s) => FailField::Literal(s.to_owned()),
                None => FailField::Absent,
            },
            OneOf::Alt(v) => {
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
            OneOf::Both | OneOf::Neither => FailField::Absent,
        }
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
}
