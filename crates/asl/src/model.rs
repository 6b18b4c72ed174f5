//! The validated, compiled form of a definition.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::choice::Rule;
use crate::error::{ErrorName, Problem};
use crate::host::Resource;
use crate::path::{Path, ReferencePath};
use crate::ql::Jx;
use crate::template::{Expr, Template};

/// A validated state machine: the only thing the engine executes.
///
/// Construct it with [`StateMachine::parse`] (or
/// [`StateMachine::from_value`]); every problem in the definition is
/// reported at once, each with a JSON pointer. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct StateMachine {
    pub(crate) inner: Arc<Machine>,
}

#[derive(Debug)]
pub(crate) struct Machine {
    pub(crate) name: String,
    pub(crate) timeout_seconds: Option<u64>,
    pub(crate) root: Graph,
    pub(crate) definition: Value,
    pub(crate) state_count: usize,
}

impl StateMachine {
    /// Parse and validate a definition given as JSON text.
    pub fn parse(json: &str) -> Result<StateMachine, Vec<Problem>> {
        let v: Value = serde_json::from_str(json).map_err(|e| {
            vec![Problem::new(
                "",
                format!("the definition is not valid JSON: {e}"),
            )]
        })?;
        StateMachine::from_value(&v)
    }

    /// Parse and validate a definition given as a JSON value.
    pub fn from_value(v: &Value) -> Result<StateMachine, Vec<Problem>> {
        crate::definition::build(v)
    }

    /// The same machine under another name (used in `$$.StateMachine.Name`
    /// and execution ARNs; defaults to `StateMachine`).
    #[must_use]
    pub fn with_name(&self, name: &str) -> StateMachine {
        StateMachine {
            inner: Arc::new(Machine {
                name: name.to_owned(),
                timeout_seconds: self.inner.timeout_seconds,
                root: self.inner.root.clone(),
                definition: self.inner.definition.clone(),
                state_count: self.inner.state_count,
            }),
        }
    }

    /// The state machine name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The definition as parsed.
    pub fn definition(&self) -> &Value {
        &self.inner.definition
    }

    /// Execution-level `TimeoutSeconds`, if set.
    pub fn timeout_seconds(&self) -> Option<u64> {
        self.inner.timeout_seconds
    }

    /// Number of states, nested ones included.
    pub fn state_count(&self) -> usize {
        self.inner.state_count
    }

    /// A read-only outline of the states and their transitions (for
    /// diagrams and tooling).
    pub fn outline(&self) -> Outline {
        self.inner.root.outline()
    }
}

/// One graph of states: the machine itself, a Parallel branch or a Map
/// item processor.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    pub(crate) start: usize,
    pub(crate) states: Vec<State>,
    pub(crate) by_name: HashMap<String, usize>,
}

impl Graph {
    pub(crate) fn state(&self, i: usize) -> Option<&State> {
        self.states.get(i)
    }
}

/// The query language of a state (`QueryLanguage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryLanguage {
    JsonPath,
    Jsonata,
}

#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(crate) name: String,
    /// A JSONata state's `Output` (absent: the default output).
    pub(crate) output: Option<Jx>,
    pub(crate) input_path: IoPath,
    pub(crate) output_path: IoPath,
    pub(crate) kind: Kind,
}

/// `InputPath` / `OutputPath`.
#[derive(Debug, Clone)]
pub(crate) enum IoPath {
    /// Absent: `$`.
    Identity,
    /// `null`: `{}`.
    Null,
    Path(Path),
}

/// `ResultPath`.
#[derive(Debug, Clone)]
pub(crate) enum ResultPath {
    /// Absent or `$`: the result replaces the input.
    Replace,
    /// `null`: the result is discarded, the input passes through.
    Discard,
    Path(ReferencePath),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Transition {
    Next(usize),
    End,
}

/// A number given literally or by a reference path (`TimeoutSeconds[Path]`,
/// `HeartbeatSeconds[Path]`, `MaxConcurrency[Path]`, Wait `Seconds[Path]`).
#[derive(Debug, Clone)]
pub(crate) enum Seconds {
    Fixed(u64),
    Path(ReferencePath),
    /// A JSONata expression.
    Jsonata(Jx),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Jitter {
    Full,
    None,
}

#[derive(Debug, Clone)]
pub(crate) struct Retrier {
    pub(crate) errors: Vec<ErrorName>,
    pub(crate) interval_seconds: u64,
    pub(crate) max_attempts: u64,
    pub(crate) backoff_rate: f64,
    pub(crate) max_delay_seconds: Option<u64>,
    pub(crate) jitter: Jitter,
}

#[derive(Debug, Clone)]
pub(crate) struct Catcher {
    pub(crate) errors: Vec<ErrorName>,
    pub(crate) result_path: ResultPath,
    pub(crate) assign: Option<Assign>,
    /// A JSONata catcher's `Output` (absent: the error output).
    pub(crate) output: Option<Jx>,
    pub(crate) next: usize,
}

/// An `Assign` field: the variables a state sets and how their values are
/// computed. In a JSONPath state it is a payload template whose top-level
/// keys (without `.$`) are the variable names.
#[derive(Debug, Clone)]
pub(crate) enum Assign {
    Path(Template),
    /// A JSONata state's: an object whose values may be expressions.
    Jsonata(Jx),
}

/// A `Parameters` (JSONPath) or `Arguments` / `ItemSelector` (JSONata)
/// payload.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    Path(Template),
    Jsonata(Jx),
}

/// The test of a Choice rule.
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    Path(Rule),
    /// A JSONata `Condition`.
    Jsonata(Jx),
}

impl std::fmt::Display for Cond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cond::Path(r) => r.fmt(f),
            Cond::Jsonata(j) => f.write_str(&j.describe()),
        }
    }
}

/// One rule of a Choice state: its test, target and `Assign`.
#[derive(Debug, Clone)]
pub(crate) struct ChoiceRule {
    pub(crate) rule: Cond,
    pub(crate) next: usize,
    pub(crate) assign: Option<Assign>,
    /// A JSONata rule's `Output` (over the state's when the rule matches).
    pub(crate) output: Option<Jx>,
}

#[derive(Debug, Clone)]
pub(crate) enum WaitFor {
    /// `Seconds` or `SecondsPath`.
    Seconds(Seconds),
    Timestamp(DateTime<FixedOffset>),
    TimestampPath(ReferencePath),
    /// A JSONata `Timestamp` expression.
    TimestampJsonata(Jx),
}

#[derive(Debug, Clone)]
pub(crate) enum FailField {
    Absent,
    Literal(String),
    Expr(Expr),
    /// A JSONata expression.
    Jsonata(Jx),
}

/// What Task, Parallel and Map states do with the result of their work, or
/// with its failure: `ResultSelector`, `ResultPath`, `Retry`, `Catch` and
/// the transition.
#[derive(Debug, Clone)]
pub(crate) struct Handling {
    pub(crate) result_selector: Option<Template>,
    pub(crate) assign: Option<Assign>,
    pub(crate) result_path: ResultPath,
    pub(crate) retry: Vec<Retrier>,
    pub(crate) catch: Vec<Catcher>,
    pub(crate) transition: Transition,
}

#[derive(Debug, Clone)]
pub(crate) struct TaskState {
    pub(crate) resource: Resource,
    pub(crate) resource_arn: String,
    pub(crate) parameters: Option<Payload>,
    pub(crate) timeout: Option<Seconds>,
    pub(crate) heartbeat: Option<Seconds>,
    pub(crate) handling: Handling,
}

#[derive(Debug, Clone)]
pub(crate) struct ParallelState {
    pub(crate) branches: Vec<Graph>,
    pub(crate) parameters: Option<Payload>,
    pub(crate) handling: Handling,
}

#[derive(Debug, Clone)]
pub(crate) struct MapState {
    pub(crate) items_path: Option<ReferencePath>,
    /// A JSONata Map's `Items`.
    pub(crate) items: Option<Jx>,
    pub(crate) item_selector: Option<Payload>,
    pub(crate) processor: Graph,
    pub(crate) max_concurrency: Seconds,
    pub(crate) handling: Handling,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Pass {
        parameters: Option<Template>,
        result: Option<Value>,
        result_path: ResultPath,
        assign: Option<Assign>,
        transition: Transition,
    },
    Task(Box<TaskState>),
    Choice {
        choices: Vec<ChoiceRule>,
        default: Option<usize>,
        /// The state-level `Assign`: applies when the state takes `Default`.
        assign: Option<Assign>,
    },
    Wait {
        wait: WaitFor,
        assign: Option<Assign>,
        transition: Transition,
    },
    Succeed,
    Fail {
        error: FailField,
        cause: FailField,
    },
    Parallel(Box<ParallelState>),
    Map(Box<MapState>),
}

impl Kind {
    /// Indices of the states this one can go to (Next, Choice, Default, Catch).
    pub(crate) fn targets(&self) -> Vec<usize> {
        let next = |t: &Transition| match t {
            Transition::Next(n) => vec![*n],
            Transition::End => Vec::new(),
        };
        let with_catch = |t: &Transition, c: &[Catcher]| {
            let mut v = next(t);
            v.extend(c.iter().map(|c| c.next));
            v
        };
        match self {
            Kind::Pass { transition, .. } | Kind::Wait { transition, .. } => next(transition),
            Kind::Task(t) => with_catch(&t.handling.transition, &t.handling.catch),
            Kind::Parallel(p) => with_catch(&p.handling.transition, &p.handling.catch),
            Kind::Map(m) => with_catch(&m.handling.transition, &m.handling.catch),
            Kind::Choice {
                choices, default, ..
            } => {
                let mut v: Vec<usize> = choices.iter().map(|c| c.next).collect();
                v.extend(default.iter().copied());
                v
            }
            Kind::Succeed | Kind::Fail { .. } => Vec::new(),
        }
    }

    /// True for the states that only compute (`Pass`, `Choice`, `Succeed`,
    /// `Fail`): no task, no wait, no branches. Entering one is saved with
    /// the next save ([`crate::Persistence`]): run again after a restart,
    /// it does the same.
    pub(crate) fn only_computes(&self) -> bool {
        matches!(
            self,
            Kind::Pass { .. } | Kind::Choice { .. } | Kind::Succeed | Kind::Fail { .. }
        )
    }

    /// True when the execution (or branch) can end in this state: `Succeed`,
    /// `Fail` and `End: true`.
    pub(crate) fn is_terminal(&self) -> bool {
        match self {
            Kind::Succeed | Kind::Fail { .. } => true,
            Kind::Pass { transition, .. } | Kind::Wait { transition, .. } => {
                matches!(transition, Transition::End)
            }
            Kind::Task(t) => matches!(t.handling.transition, Transition::End),
            Kind::Parallel(p) => matches!(p.handling.transition, Transition::End),
            Kind::Map(m) => matches!(m.handling.transition, Transition::End),
            Kind::Choice { .. } => false,
        }
    }

    /// The `Type` as written.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Kind::Pass { .. } => "Pass",
            Kind::Task(_) => "Task",
            Kind::Choice { .. } => "Choice",
            Kind::Wait { .. } => "Wait",
            Kind::Succeed => "Succeed",
            Kind::Fail { .. } => "Fail",
            Kind::Parallel(_) => "Parallel",
            Kind::Map(_) => "Map",
        }
    }
}

/// A read-only view of a graph of states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outline {
    /// Name of the first state.
    pub start_at: String,
    /// States in definition order.
    pub states: Vec<StateOutline>,
}

/// One state in an [`Outline`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateOutline {
    /// State name.
    pub name: String,
    /// `Pass`, `Task`, `Choice`, `Wait`, `Succeed`, `Fail`, `Parallel`, `Map`.
    pub state_type: &'static str,
    /// True for `End: true`, `Succeed` and `Fail`.
    pub terminal: bool,
    /// Outgoing transitions.
    pub edges: Vec<Edge>,
    /// Parallel branches, or the Map item processor (one entry).
    pub branches: Vec<Outline>,
    /// The Task resource ARN.
    pub resource: Option<String>,
}

/// What kind of transition an [`Edge`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// `Next`.
    Next,
    /// A Choice rule.
    Choice,
    /// A Choice `Default`.
    Default,
    /// A `Catch`.
    Catch,
}

/// A transition to another state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// Target state name.
    pub target: String,
    /// Kind of transition.
    pub kind: EdgeKind,
    /// A short description: the rule for Choice edges, the error names for
    /// Catch edges.
    pub label: Option<String>,
}

impl Graph {
    pub(crate) fn name_of(&self, i: usize) -> String {
        self.states
            .get(i)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    fn outline(&self) -> Outline {
        let states = self
            .outline_order()
            .iter()
            .filter_map(|i| self.states.get(*i))
            .map(|s| self.state_outline(s))
            .collect();
        Outline {
            start_at: self.name_of(self.start),
            states,
        }
    }

    /// Breadth-first from StartAt, so outlines read in execution order;
    /// unreachable states (if any) last.
    fn outline_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = Vec::with_capacity(self.states.len());
        let mut queue = std::collections::VecDeque::from([self.start]);
        while let Some(i) = queue.pop_front() {
            if order.contains(&i) || i >= self.states.len() {
                continue;
            }
            order.push(i);
            if let Some(s) = self.states.get(i) {
                queue.extend(s.kind.targets());
            }
        }
        let rest: Vec<usize> = (0..self.states.len())
            .filter(|i| !order.contains(i))
            .collect();
        order.extend(rest);
        order
    }

    fn state_outline(&self, s: &State) -> StateOutline {
        let mut edges = Vec::new();
        let mut branches = Vec::new();
        let mut resource = None;
        match &s.kind {
            Kind::Pass { transition, .. } | Kind::Wait { transition, .. } => {
                self.next_edge(transition, &mut edges);
            }
            Kind::Task(t) => {
                resource = Some(t.resource_arn.clone());
                self.handling_edges(&t.handling, &mut edges);
            }
            Kind::Parallel(p) => {
                branches = p.branches.iter().map(Graph::outline).collect();
                self.handling_edges(&p.handling, &mut edges);
            }
            Kind::Map(m) => {
                branches = vec![m.processor.outline()];
                self.handling_edges(&m.handling, &mut edges);
            }
            Kind::Choice {
                choices, default, ..
            } => {
                for c in choices {
                    edges.push(Edge {
                        target: self.name_of(c.next),
                        kind: EdgeKind::Choice,
                        label: Some(c.rule.to_string()),
                    });
                }
                if let Some(d) = default {
                    edges.push(Edge {
                        target: self.name_of(*d),
                        kind: EdgeKind::Default,
                        label: Some("default".into()),
                    });
                }
            }
            Kind::Succeed | Kind::Fail { .. } => {}
        }
        StateOutline {
            name: s.name.clone(),
            state_type: s.kind.type_name(),
            terminal: s.kind.is_terminal(),
            edges,
            branches,
            resource,
        }
    }

    fn next_edge(&self, t: &Transition, edges: &mut Vec<Edge>) {
        if let Transition::Next(i) = t {
            edges.push(Edge {
                target: self.name_of(*i),
                kind: EdgeKind::Next,
                label: None,
            });
        }
    }

    /// The `Next` edge, then one edge per catcher.
    fn handling_edges(&self, h: &Handling, edges: &mut Vec<Edge>) {
        self.next_edge(&h.transition, edges);
        for k in &h.catch {
            let names: Vec<&str> = k.errors.iter().map(ErrorName::as_str).collect();
            edges.push(Edge {
                target: self.name_of(k.next),
                kind: EdgeKind::Catch,
                label: Some(names.join(", ")),
            });
        }
    }
}
