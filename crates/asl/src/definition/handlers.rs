//! `Retry` and `Catch`, and the rest of what a Task, Parallel or Map state
//! does with its result.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{Builder, MAX_DELAY_LIMIT, MAX_SECONDS};
use crate::error::{ErrorName, pointer_token};
use crate::model::{Catcher, Handling, Jitter, Retrier};

impl Builder {
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
        const FIELDS: &[&str] = &[
            "ErrorEquals",
            "Next",
            "ResultPath",
            "Output",
            "Assign",
            "Comment",
        ];
        self.error_handlers(v, ptr, "Catch", "catcher", FIELDS, |b, p, obj, errors| {
            let result_path = b.result_path(obj.get("ResultPath"), &format!("{p}/ResultPath"));
            let assign = b.assign(obj.get("Assign"), &format!("{p}/Assign"));
            let ql = b.state_ql;
            b.catcher_language(obj, p, ql);
            let output = b.catcher_output(obj, p);
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
                assign,
                output,
                next: next.unwrap_or(0),
            }
        })
    }

    /// `ResultSelector`, `ResultPath`, `Retry`, `Catch` and `Next`/`End` of a
    /// Task, Parallel or Map state.
    pub(super) fn handling(
        &mut self,
        obj: &Map<String, Value>,
        ptr: &str,
        names: &HashMap<String, usize>,
    ) -> Handling {
        Handling {
            result_selector: self
                .template(obj.get("ResultSelector"), &format!("{ptr}/ResultSelector")),
            assign: self.assign(obj.get("Assign"), &format!("{ptr}/Assign")),
            result_path: self.result_path(obj.get("ResultPath"), &format!("{ptr}/ResultPath")),
            retry: self.retriers(obj.get("Retry"), ptr),
            catch: self.catchers(obj.get("Catch"), ptr, names),
            transition: self.transition(obj, ptr, names),
        }
    }
}
