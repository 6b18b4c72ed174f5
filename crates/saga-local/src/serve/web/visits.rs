//! What an execution's history (the events `GetExecutionHistory` returns)
//! says about each state: whether it was visited, how it came out, its
//! input, output, errors and retries. The graph colours states by it; the
//! details panel shows it.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

/// How a state's (latest) visit came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Left normally on the first attempt.
    Succeeded,
    /// Left normally after at least one retry.
    Retried,
    /// Failed, and a Catch sent the execution on.
    Caught,
    /// Failed the execution (or is a Fail state).
    Failed,
    /// Waiting for a callback (`.waitForTaskToken`) or a Wait state.
    Waiting,
    /// Running now.
    Running,
    /// Stopped (StopExecution) while in it.
    Aborted,
}

impl Outcome {
    /// The CSS class.
    pub fn class(self) -> &'static str {
        match self {
            Self::Succeeded => "ok",
            Self::Retried => "retried",
            Self::Caught => "caught",
            Self::Failed | Self::Aborted => "failed",
            Self::Waiting => "waiting",
            Self::Running => "running",
        }
    }

    /// The icon and word shown with the colour (colour alone is no signal).
    pub fn label(self) -> &'static str {
        match self {
            Self::Succeeded => "✓ succeeded",
            Self::Retried => "↻ retried, succeeded",
            Self::Caught => "⚠ failed, caught",
            Self::Failed => "✗ failed",
            Self::Waiting => "◷ waiting",
            Self::Running => "▶ running",
            Self::Aborted => "■ stopped",
        }
    }
}

/// One failed attempt of a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub event: String,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// What the history says about one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub outcome: Outcome,
    /// How many times it was entered (a redrive enters it again).
    pub entries: u32,
    /// Task attempts of the latest entry (scheduled events); retries are
    /// one less.
    pub attempts: u32,
    /// The latest entry's input, output and the parameters of its task
    /// (JSON text, task tokens not yet redacted).
    pub input: Option<String>,
    pub output: Option<String>,
    pub parameters: Option<String>,
    /// Failures of every attempt of every entry, oldest first.
    pub failures: Vec<Attempt>,
}

impl Visit {
    pub fn retries(&self) -> u32 {
        self.attempts.saturating_sub(1)
    }
}

/// The visited states, the current one and the transitions taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    pub states: HashMap<String, Visit>,
    /// The state entered last (highlighted).
    pub current: Option<String>,
    /// `(from, to)` pairs of states entered one after the other.
    pub taken: HashSet<(String, String)>,
    /// How many times the execution was redriven.
    pub redrives: u32,
}

fn details<'a>(e: &'a Value, suffix: &str) -> Option<&'a serde_json::Map<String, Value>> {
    e.as_object()?
        .iter()
        .find(|(k, _)| k.ends_with(suffix))
        .and_then(|(_, v)| v.as_object())
}

fn text(d: Option<&serde_json::Map<String, Value>>, key: &str) -> Option<String> {
    d?.get(key)?.as_str().map(str::to_owned)
}

fn kind(e: &Value) -> &str {
    e.get("type").and_then(Value::as_str).unwrap_or_default()
}

fn is_failure(t: &str) -> bool {
    matches!(
        t,
        "TaskFailed"
            | "TaskTimedOut"
            | "LambdaFunctionFailed"
            | "LambdaFunctionTimedOut"
            | "EvaluationFailed"
            | "ParallelStateFailed"
            | "MapStateFailed"
    )
}

struct Walk {
    marks: Marks,
    /// The state each event belongs to, by event id (through `previousEventId`).
    state_of: HashMap<i64, String>,
    open: HashSet<String>,
    waiting: HashSet<String>,
    /// States whose latest attempt failed: exited after that, a Catch took
    /// the failure (AWS writes `…StateExited` for a caught failure).
    failed: HashSet<String>,
    last: Option<String>,
}

impl Walk {
    fn visit(&mut self, name: &str) -> Option<&mut Visit> {
        self.marks.states.get_mut(name)
    }

    fn entered(&mut self, name: &str, input: Option<String>, from: Option<String>) {
        // A state still open when the next one starts from it was caught.
        if let Some(prev) = from.filter(|p| p != name && self.open.contains(p)) {
            self.open.remove(&prev);
            if let Some(v) = self.visit(&prev) {
                v.outcome = Outcome::Caught;
            }
        }
        if let Some(prev) = &self.last {
            self.marks.taken.insert((prev.clone(), name.to_owned()));
        }
        let v = self
            .marks
            .states
            .entry(name.to_owned())
            .or_insert_with(|| Visit {
                outcome: Outcome::Running,
                entries: 0,
                attempts: 0,
                input: None,
                output: None,
                parameters: None,
                failures: Vec::new(),
            });
        v.entries += 1;
        v.attempts = 0;
        v.outcome = Outcome::Running;
        v.input = input;
        v.output = None;
        self.open.insert(name.to_owned());
        self.waiting.remove(name);
        self.failed.remove(name);
        self.last = Some(name.to_owned());
        self.marks.current = Some(name.to_owned());
    }

    fn exited(&mut self, name: &str, output: Option<String>) {
        self.open.remove(name);
        self.waiting.remove(name);
        let caught = self.failed.remove(name);
        if let Some(v) = self.visit(name) {
            v.output = output;
            v.outcome = if caught {
                Outcome::Caught
            } else if v.attempts > 1 {
                Outcome::Retried
            } else {
                Outcome::Succeeded
            };
        }
    }

    fn event(&mut self, e: &Value) {
        let t = kind(e);
        let id = e.get("id").and_then(Value::as_i64).unwrap_or_default();
        let prev = e.get("previousEventId").and_then(Value::as_i64);
        let from = prev.and_then(|p| self.state_of.get(&p).cloned());
        if t.ends_with("StateEntered") {
            let d = details(e, "stateEnteredEventDetails");
            let name = text(d, "name").unwrap_or_default();
            self.entered(&name, text(d, "input"), from);
            self.state_of.insert(id, name.clone());
            if t == "FailStateEntered" {
                self.open.remove(&name);
                if let Some(v) = self.visit(&name) {
                    v.outcome = Outcome::Failed;
                }
            }
            if t == "WaitStateEntered" {
                self.waiting.insert(name);
            }
            return;
        }
        let Some(name) = from.or_else(|| self.last.clone()) else {
            self.execution_event(t, e);
            return;
        };
        self.state_of.insert(id, name.clone());
        self.state_event(t, e, &name);
    }

    fn state_event(&mut self, t: &str, e: &Value, name: &str) {
        if t.ends_with("StateExited") {
            let out = text(details(e, "stateExitedEventDetails"), "output");
            self.exited(name, out);
        } else if t == "TaskScheduled" || t == "LambdaFunctionScheduled" {
            let params = text(details(e, "ScheduledEventDetails"), "parameters")
                .or_else(|| text(details(e, "ScheduledEventDetails"), "input"));
            self.failed.remove(name);
            if let Some(v) = self.visit(name) {
                v.attempts += 1;
                v.parameters = params;
            }
        } else if t == "TaskSubmitted" {
            self.waiting.insert(name.to_owned());
        } else if is_failure(t) {
            let d = details(e, "EventDetails");
            let attempt = Attempt {
                event: t.to_owned(),
                error: text(d, "error"),
                cause: text(d, "cause"),
            };
            self.waiting.remove(name);
            self.failed.insert(name.to_owned());
            if let Some(v) = self.visit(name) {
                v.failures.push(attempt);
            }
        } else if t.starts_with("Execution") {
            self.execution_event(t, e);
        }
    }

    fn execution_event(&mut self, t: &str, _e: &Value) {
        let ending = match t {
            "ExecutionFailed" | "ExecutionTimedOut" => Outcome::Failed,
            "ExecutionAborted" => Outcome::Aborted,
            "ExecutionRedriven" => {
                self.marks.redrives += 1;
                return;
            }
            _ => return,
        };
        let open: Vec<String> = self.open.drain().collect();
        for name in open {
            if let Some(v) = self.visit(&name) {
                v.outcome = ending;
            }
        }
    }

    fn finish(mut self) -> Marks {
        for name in &self.open {
            if let Some(v) = self.marks.states.get_mut(name) {
                v.outcome = if self.waiting.contains(name) {
                    Outcome::Waiting
                } else {
                    Outcome::Running
                };
            }
        }
        self.marks
    }
}

/// The marks of a history, oldest event first.
pub fn marks(events: &[Value]) -> Marks {
    let mut walk = Walk {
        marks: Marks::default(),
        state_of: HashMap::new(),
        open: HashSet::new(),
        waiting: HashSet::new(),
        failed: HashSet::new(),
        last: None,
    };
    for e in events {
        walk.event(e);
    }
    walk.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entered(id: i64, prev: i64, t: &str, name: &str) -> Value {
        json!({"id": id, "previousEventId": prev, "type": t,
               "stateEnteredEventDetails": {"name": name, "input": "{}"}})
    }

    fn exited(id: i64, prev: i64, t: &str, name: &str) -> Value {
        json!({"id": id, "previousEventId": prev, "type": t,
               "stateExitedEventDetails": {"name": name, "output": "{\"ok\":1}"}})
    }

    fn ev(id: i64, prev: i64, t: &str) -> Value {
        json!({"id": id, "previousEventId": prev, "type": t})
    }

    fn failed(id: i64, prev: i64, error: &str) -> Value {
        json!({"id": id, "previousEventId": prev, "type": "TaskFailed",
               "taskFailedEventDetails": {"error": error, "cause": "because"}})
    }

    #[test]
    fn a_retried_task_a_caught_one_and_the_fail_state_are_told_apart() {
        let events = vec![
            json!({"id": 1, "previousEventId": 0, "type": "ExecutionStarted"}),
            entered(2, 1, "TaskStateEntered", "Pay"),
            ev(3, 2, "TaskScheduled"),
            failed(4, 3, "Transient"),
            ev(5, 4, "TaskScheduled"),
            ev(6, 5, "TaskSucceeded"),
            exited(7, 6, "TaskStateExited", "Pay"),
            entered(8, 7, "TaskStateEntered", "Ship"),
            ev(9, 8, "TaskScheduled"),
            failed(10, 9, "ShippingFailed"),
            entered(11, 10, "FailStateEntered", "Failed"),
            json!({"id": 12, "previousEventId": 11, "type": "ExecutionFailed"}),
        ];
        let m = marks(&events);
        assert_eq!(m.states["Pay"].outcome, Outcome::Retried);
        assert_eq!(m.states["Pay"].retries(), 1);
        assert_eq!(m.states["Ship"].outcome, Outcome::Caught);
        assert_eq!(
            m.states["Ship"].failures[0].error.as_deref(),
            Some("ShippingFailed")
        );
        assert_eq!(m.states["Failed"].outcome, Outcome::Failed);
        assert_eq!(m.current.as_deref(), Some("Failed"));
        assert!(m.taken.contains(&("Pay".into(), "Ship".into())));
        assert!(m.taken.contains(&("Ship".into(), "Failed".into())));
    }

    #[test]
    fn a_caught_failure_that_exits_its_state_is_caught() {
        // AWS writes …StateExited after a caught failure (the catcher's output).
        let events = vec![
            json!({"id": 1, "previousEventId": 0, "type": "ExecutionStarted"}),
            entered(2, 1, "TaskStateEntered", "Ship"),
            ev(3, 2, "TaskScheduled"),
            failed(4, 3, "ShippingFailed"),
            exited(5, 4, "TaskStateExited", "Ship"),
            entered(6, 5, "TaskStateEntered", "Compensate"),
            ev(7, 6, "TaskScheduled"),
            ev(8, 7, "TaskSucceeded"),
            exited(9, 8, "TaskStateExited", "Compensate"),
        ];
        let m = marks(&events);
        assert_eq!(m.states["Ship"].outcome, Outcome::Caught);
        assert_eq!(m.states["Compensate"].outcome, Outcome::Succeeded);
        assert!(m.taken.contains(&("Ship".into(), "Compensate".into())));
    }

    #[test]
    fn an_open_callback_task_is_waiting_and_a_stopped_one_is_stopped() {
        let mut events = vec![
            entered(2, 1, "TaskStateEntered", "RequestApproval"),
            ev(3, 2, "TaskScheduled"),
            ev(4, 3, "TaskStarted"),
            ev(5, 4, "TaskSubmitted"),
        ];
        assert_eq!(
            marks(&events).states["RequestApproval"].outcome,
            Outcome::Waiting
        );
        events.push(ev(6, 5, "ExecutionAborted"));
        assert_eq!(
            marks(&events).states["RequestApproval"].outcome,
            Outcome::Aborted
        );
    }
}
