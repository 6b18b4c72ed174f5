//! Data-driven conformance suite: every `tests/conformance/*.json` file holds
//! an array of cases; one loop runs them all and names each failing case.
//!
//! Case format (see `tests/conformance/README.md`):
//! `{name, definition, input?, mocks?, expect: {status?, output?, error?,
//! cause?, cause_contains?, events?, events_include?, calls?, elapsed_seconds?,
//! checks?, problems?, assigned_variables?, evaluation_failed?}, source?,
//! reference?}`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asl::{
    Clock, Engine, ManualClock, StartExecution, StateMachine, TaskFailure, TaskHost, TaskOutput,
    TaskRequest, async_trait,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    comment: Option<String>,
    /// The AWS documentation page the case was written from.
    #[serde(default)]
    source: Option<String>,
    /// Inputs of the reference computation (`reference/check.mjs`); not read here.
    #[serde(default)]
    reference: Option<Value>,
    /// Values the reference computed that the case depends on but the engine
    /// does not report (e.g. a Choice condition's value); not read here.
    #[serde(default)]
    computed: Option<Value>,
    definition: Value,
    #[serde(default)]
    input: Value,
    #[serde(default)]
    mocks: HashMap<String, Vec<Mock>>,
    expect: Expect,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mock {
    /// The service output (lambda:invoke gets the envelope around it).
    #[serde(default, rename = "return")]
    ret: Option<Value>,
    /// The exact state result.
    #[serde(default)]
    raw: Option<Value>,
    #[serde(default)]
    throw: Option<Throw>,
    /// Return the parameters as the result.
    #[serde(default)]
    echo: bool,
    /// Virtual seconds before answering.
    #[serde(default)]
    delay_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Throw {
    error: String,
    #[serde(default)]
    cause: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    status: Option<String>,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    cause: Option<Value>,
    #[serde(default)]
    cause_contains: Option<String>,
    /// The exact sequence of event types.
    #[serde(default)]
    events: Option<Vec<String>>,
    /// Event types that must appear (in this order, not necessarily adjacent).
    #[serde(default)]
    events_include: Option<Vec<String>>,
    /// Host calls, in order (each listed field must match).
    #[serde(default)]
    calls: Option<Vec<Value>>,
    #[serde(default)]
    elapsed_seconds: Option<f64>,
    #[serde(default)]
    checks: Vec<Check>,
    /// For invalid definitions: every listed pointer must be reported.
    #[serde(default)]
    problems: Option<Vec<ProblemExpect>>,
    /// `assignedVariables` of `…StateExited` events: the k-th entry naming a
    /// state matches that state's k-th exit.
    #[serde(default)]
    assigned_variables: Option<Vec<AssignedExpect>>,
    /// Fields of the `evaluationFailedEventDetails` of the (first)
    /// `EvaluationFailed` event.
    #[serde(default)]
    evaluation_failed: Option<EvaluationFailedExpect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignedExpect {
    state: String,
    /// Exactly the variables assigned (values as JSON, not JSON text).
    variables: serde_json::Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvaluationFailedExpect {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    cause_contains: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    path: String,
    is: String,
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProblemExpect {
    pointer: String,
    #[serde(default)]
    message_contains: Option<String>,
}

#[derive(Debug)]
struct ScriptedHost {
    mocks: HashMap<String, Vec<Mock>>,
    clock: ManualClock,
    counts: Mutex<HashMap<String, usize>>,
    calls: Mutex<Vec<Value>>,
}

#[async_trait]
impl TaskHost for ScriptedHost {
    async fn invoke(&self, req: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        let n = {
            let mut c = self.counts.lock().unwrap();
            let e = c.entry(req.state_name.clone()).or_insert(0);
            *e += 1;
            *e - 1
        };
        self.calls.lock().unwrap().push(serde_json::json!({
            "state": req.state_name,
            "parameters": req.parameters,
            "attempt": req.attempt,
            "has_token": req.task_token.is_some(),
            "function": req.function_name(),
        }));
        let Some(list) = self.mocks.get(&req.state_name) else {
            return Err(TaskFailure::host_error(format!(
                "no mock for state {}",
                req.state_name
            )));
        };
        let Some(m) = list.get(n).or(list.last()).cloned() else {
            return Err(TaskFailure::host_error("empty mock list"));
        };
        if m.delay_seconds > 0 {
            let until = self.clock.now() + chrono::TimeDelta::seconds(m.delay_seconds as i64);
            self.clock.sleep_until(until).await;
        }
        if let Some(t) = m.throw {
            return Err(TaskFailure {
                error: t.error,
                cause: t.cause,
            });
        }
        if m.echo {
            return Ok(TaskOutput::Output(req.parameters));
        }
        if let Some(v) = m.raw {
            return Ok(TaskOutput::Final(v));
        }
        Ok(TaskOutput::Output(m.ret.unwrap_or(Value::Null)))
    }
}

fn subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|x| subset(v, x))),
        _ => expected == actual,
    }
}

fn check_value(c: &Check, output: &Value) -> Result<(), String> {
    let path = asl::Path::parse(&c.path).map_err(|e| format!("bad check path: {e}"))?;
    let v = path
        .select(output)
        .ok_or_else(|| format!("check: {} not found in output", c.path))?;
    let ok = match c.is.as_str() {
        "uuid" => v.as_str().is_some_and(|s| {
            s.len() == 36
                && s.chars().enumerate().all(|(i, ch)| {
                    if [8, 13, 18, 23].contains(&i) {
                        ch == '-'
                    } else {
                        ch.is_ascii_hexdigit()
                    }
                })
                && s.get(14..15) == Some("4")
        }),
        "string" => v.is_string(),
        "integer" => v.as_i64().is_some_and(|n| {
            c.min.is_none_or(|m| n as f64 >= m) && c.max.is_none_or(|m| (n as f64) < m)
        }),
        "number" => v
            .as_f64()
            .is_some_and(|n| c.min.is_none_or(|m| n >= m) && c.max.is_none_or(|m| n < m)),
        "token" => v.as_str().is_some_and(|s| {
            s.len() >= 22
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }),
        other => return Err(format!("unknown check kind {other}")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("check {} is {} failed: value {v}", c.path, c.is))
    }
}

/// The checks that read the history: event types, `assignedVariables`,
/// `EvaluationFailed`.
fn check_history(e: &Expect, history: &[asl::HistoryEvent]) -> Result<(), String> {
    let types: Vec<&str> = history.iter().map(|ev| ev.event_type.as_str()).collect();
    if let Some(ev) = &e.events
        && &types != ev
    {
        return Err(format!("events: expected {ev:?}\n got {types:?}"));
    }
    if let Some(ev) = &e.events_include {
        let mut it = types.iter();
        for want in ev {
            if !it.any(|t| t == want) {
                return Err(format!(
                    "events should include {ev:?} in order; got {types:?}"
                ));
            }
        }
    }
    if let Some(want) = &e.assigned_variables {
        check_assigned(want, history)?;
    }
    if let Some(want) = &e.evaluation_failed {
        check_evaluation_failed(want, history)?;
    }
    Ok(())
}

/// AWS stores each assigned value as JSON text; the case lists the values.
fn check_assigned(want: &[AssignedExpect], history: &[asl::HistoryEvent]) -> Result<(), String> {
    let exits: Vec<Value> = history
        .iter()
        .filter(|ev| ev.event_type.as_str().ends_with("StateExited"))
        .map(|ev| serde_json::to_value(ev).unwrap())
        .collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for w in want {
        let k = seen.entry(w.state.as_str()).or_insert(0);
        *k += 1;
        let Some(ev) = exits
            .iter()
            .filter(|ev| ev["stateExitedEventDetails"]["name"] == w.state.as_str())
            .nth(*k - 1)
        else {
            return Err(format!(
                "assigned_variables: no exit #{k} of state {}",
                w.state
            ));
        };
        let details = &ev["stateExitedEventDetails"];
        let mut actual = serde_json::Map::new();
        if let Some(vars) = details["assignedVariables"].as_object() {
            for (name, text) in vars {
                let v = match text {
                    Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| text.clone()),
                    other => other.clone(),
                };
                actual.insert(name.clone(), v);
            }
        }
        if actual != w.variables {
            return Err(format!(
                "assigned_variables of {} (exit #{k}): expected {}, got {} in {details}",
                w.state,
                Value::Object(w.variables.clone()),
                Value::Object(actual)
            ));
        }
    }
    Ok(())
}

fn check_evaluation_failed(
    want: &EvaluationFailedExpect,
    history: &[asl::HistoryEvent],
) -> Result<(), String> {
    let Some(ev) = history
        .iter()
        .find(|ev| ev.event_type.as_str() == "EvaluationFailed")
    else {
        return Err("no EvaluationFailed event".into());
    };
    let ev = serde_json::to_value(ev).unwrap();
    let d = &ev["evaluationFailedEventDetails"];
    let field = |k: &str| d[k].as_str().unwrap_or("").to_string();
    let fields = [
        ("state", &want.state),
        ("location", &want.location),
        ("error", &want.error),
    ];
    for (k, w) in fields {
        if let Some(w) = w
            && field(k) != *w
        {
            return Err(format!("EvaluationFailed {k}: expected {w:?} in {d}"));
        }
    }
    if let Some(c) = &want.cause_contains
        && !field("cause").contains(c.as_str())
    {
        return Err(format!("EvaluationFailed cause should contain {c:?}: {d}"));
    }
    Ok(())
}

/// An invalid definition: every expected pointer must be among the problems.
fn check_problems(expected: &[ProblemExpect], problems: &[asl::Problem]) -> Result<(), String> {
    for e in expected {
        let found = problems.iter().any(|p| {
            p.pointer == e.pointer
                && e.message_contains
                    .as_ref()
                    .is_none_or(|m| p.message.contains(m.as_str()))
        });
        if !found {
            return Err(format!(
                "expected a problem at {} (containing {:?}); got {:?}",
                e.pointer, e.message_contains, problems
            ));
        }
    }
    Ok(())
}

/// Status, output, error and cause of the finished execution.
fn check_outcome(e: &Expect, outcome: &asl::ExecutionOutcome) -> Result<(), String> {
    let summary = format!(
        "status={} output={:?} error={:?} cause={:?}",
        outcome.status, outcome.output, outcome.error, outcome.cause
    );
    if let Some(s) = &e.status
        && outcome.status.as_str() != s
    {
        return Err(format!("status: expected {s}, {summary}"));
    }
    if let Some(o) = &e.output
        && outcome.output.as_ref() != Some(o)
    {
        return Err(format!("output: expected {o}, {summary}"));
    }
    if let Some(err) = &e.error {
        let actual = outcome.error.clone().map_or(Value::Null, Value::String);
        if &actual != err {
            return Err(format!("error: expected {err}, {summary}"));
        }
    }
    if let Some(c) = &e.cause {
        let actual = outcome.cause.clone().map_or(Value::Null, Value::String);
        if &actual != c {
            return Err(format!("cause: expected {c}, {summary}"));
        }
    }
    if let Some(c) = &e.cause_contains
        && !outcome.cause.as_deref().unwrap_or("").contains(c.as_str())
    {
        return Err(format!("cause should contain {c:?}, {summary}"));
    }
    Ok(())
}

async fn run_case(case: &Case) -> Result<(), String> {
    let parsed = StateMachine::from_value(&case.definition);
    if let Some(expected) = &case.expect.problems {
        return match parsed {
            Ok(_) => Err("expected the definition to be rejected, but it parsed".into()),
            Err(problems) => check_problems(expected, &problems),
        };
    }
    let machine = parsed.map_err(|p| format!("definition rejected: {p:?}"))?;
    let clock = ManualClock::default();
    let host = Arc::new(ScriptedHost {
        mocks: case.mocks.clone(),
        clock: clock.clone(),
        counts: Mutex::new(HashMap::new()),
        calls: Mutex::new(Vec::new()),
    });
    let engine = Engine::new(host.clone(), Arc::new(clock.clone()));
    let fut = engine
        .run(
            &machine,
            StartExecution::new("conformance", case.input.clone()),
        )
        .map_err(|e| e.to_string())?;
    let outcome = tokio::time::timeout(Duration::from_secs(20), clock.run(fut))
        .await
        .map_err(|_| "the execution did not finish (deadlock?)".to_string())?;
    let e = &case.expect;
    check_outcome(e, &outcome)?;
    check_history(e, &outcome.history)?;
    if let Some(calls) = &e.calls {
        let actual = host.calls.lock().unwrap().clone();
        if actual.len() != calls.len() || !calls.iter().zip(&actual).all(|(c, a)| subset(c, a)) {
            return Err(format!(
                "calls: expected {}\n got {}",
                Value::Array(calls.clone()),
                Value::Array(actual)
            ));
        }
    }
    if let Some(secs) = e.elapsed_seconds {
        let start = outcome.execution.start_time;
        let elapsed = (outcome.stop_time - start).num_milliseconds() as f64 / 1000.0;
        if (elapsed - secs).abs() > 0.001 {
            return Err(format!(
                "elapsed: expected {secs}s, got {elapsed}s; status={} output={:?}",
                outcome.status, outcome.output
            ));
        }
    }
    let out = outcome.output.clone().unwrap_or(Value::Null);
    for c in &e.checks {
        check_value(c, &out)?;
    }
    // Event ids increase by one and point backwards.
    for (i, ev) in outcome.history.iter().enumerate() {
        if ev.id != i as u64 + 1 || ev.previous_event_id >= ev.id {
            return Err(format!("bad event ids at {i}: {ev:?}"));
        }
    }
    Ok(())
}

#[tokio::test]
async fn conformance_suite() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let filter = std::env::var("CONFORMANCE_FILTER").ok();
    let mut failures = Vec::new();
    let mut names = std::collections::HashSet::new();
    let mut count = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let cases: Vec<Case> = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: cannot read cases: {e}", f.display()));
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("?");
        let from_docs = stem.starts_with("jsonata_") || stem.starts_with("variables_");
        for case in &cases {
            let _ = (&case.comment, &case.reference, &case.computed);
            let label = format!("{stem}::{}", case.name);
            assert!(names.insert(label.clone()), "duplicate case name {label}");
            // The JSONata/Variables cases each cite the page they were written from.
            assert!(
                !from_docs
                    || case
                        .source
                        .as_deref()
                        .is_some_and(|s| s.starts_with("https://docs.aws.amazon.com/")),
                "{label}: no source (the AWS documentation page)"
            );
            if filter.as_deref().is_some_and(|flt| !label.contains(flt)) {
                continue;
            }
            count += 1;
            if let Err(msg) = run_case(case).await {
                failures.push(format!("FAILED {label}: {msg}"));
            }
        }
    }
    println!("conformance: {count} cases run, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {count} conformance cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count >= 1, "no conformance cases found");
}
