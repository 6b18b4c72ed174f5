//! Workflow variables in JSONPath states: `Assign` on every state type that
//! has it (and in Choice rules and catchers), `$name` references, scopes,
//! state-entry values, limits, history and snapshots. AWS: "Passing data
//! between states with variables" (workflow-variables).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use asl::{
    Checkpoint, Engine, EventDetails, ExecutionOutcome, ExecutionSnapshot, ExecutionStatus,
    ManualClock, Persistence, PersistenceError, StartExecution, StateMachine, async_trait,
};
use serde_json::{Value, json};

mod support;

use support::{Echo, FN};

async fn run_with(host: Arc<Echo>, def: Value, input: Value) -> ExecutionOutcome {
    support::run_with(host, "v", def, input).await
}

async fn run(def: Value, input: Value) -> ExecutionOutcome {
    run_with(Arc::new(Echo::default()), def, input).await
}

fn problems(def: Value) -> Vec<String> {
    match StateMachine::from_value(&def) {
        Ok(_) => Vec::new(),
        Err(ps) => ps.iter().map(|p| p.to_string()).collect(),
    }
}

/// `assignedVariables` of the `…StateExited` event of `state`.
fn assigned(out: &ExecutionOutcome, state: &str) -> Option<Value> {
    out.history.iter().find_map(|e| match &e.details {
        EventDetails::StateExited(d) if d.name == state => {
            let vars = d.assigned_variables.as_ref()?;
            let parsed: serde_json::Map<String, Value> = vars
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::from_str(v).unwrap()))
                .collect();
            Some(Value::Object(parsed))
        }
        _ => None,
    })
}

#[tokio::test]
async fn pass_assigns_literals_and_paths_and_later_states_read_them() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"n": 42, "who.$": "$.user.name", "tags.$": "States.Array($.user.id, 'x')"}, "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"n.$": "$n", "first.$": "$who", "t.$": "$tags[1]", "f.$": "States.Format('{}-{}', $who, $n)"}, "End": true}
    }});
    let out = run(def, json!({"user": {"name": "ann", "id": 7}})).await;
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{:?}", out.cause);
    assert_eq!(
        out.output,
        Some(json!({"n": 42, "first": "ann", "t": "x", "f": "ann-42"}))
    );
    assert_eq!(
        assigned(&out, "A"),
        Some(json!({"n": 42, "who": "ann", "tags": [7, "x"]}))
    );
    assert_eq!(
        assigned(&out, "B"),
        None,
        "a state without Assign lists none"
    );
}

#[tokio::test]
async fn dollar_in_assign_is_the_result_per_state_type() {
    // Pass: Result/Parameters output; Task: after ResultSelector; Choice and
    // Wait: the effective input (after InputPath).
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Result": {"r": 1}, "ResultPath": "$.p", "Assign": {"pass.$": "$"}, "Next": "T"},
        "T": {"Type": "Task", "Resource": format!("{FN}:t"), "Parameters": {"x": 1},
              "ResultSelector": {"sel.$": "$.echo.x"}, "ResultPath": "$.t",
              "Assign": {"task.$": "$"}, "Next": "C"},
        "C": {"Type": "Choice", "InputPath": "$.t",
              "Choices": [{"Variable": "$.sel", "NumericEquals": 1, "Assign": {"choice.$": "$"}, "Next": "W"}]},
        "W": {"Type": "Wait", "Seconds": 1, "InputPath": "$.sel", "Assign": {"wait.$": "$"}, "Next": "End"},
        "End": {"Type": "Pass", "Parameters": {"p.$": "$pass", "t.$": "$task", "c.$": "$choice", "w.$": "$wait"}, "End": true}
    }});
    let out = run(def, json!({})).await;
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{:?}", out.cause);
    assert_eq!(
        out.output,
        Some(json!({"p": {"r": 1}, "t": {"sel": 1}, "c": {"sel": 1}, "w": 1}))
    );
}

#[tokio::test]
async fn every_expression_of_a_state_sees_the_values_from_state_entry() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"x": 1}, "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"before.$": "$x"},
              "Assign": {"x": 2, "old.$": "$x"}, "Next": "C"},
        "C": {"Type": "Pass", "Parameters": {"x.$": "$x", "old.$": "$old"}, "End": true}
    }});
    let out = run(def, json!({})).await;
    assert_eq!(out.output, Some(json!({"x": 2, "old": 1})));
    assert_eq!(assigned(&out, "B"), Some(json!({"x": 2, "old": 1})));
}

#[tokio::test]
async fn choice_rule_assign_applies_with_its_rule_and_state_assign_with_default() {
    // The state-level Assign reads `$.n`, which the first input lacks: it
    // is not evaluated when a rule matches.
    let def = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Assign": {"path": "default", "n.$": "$.n"},
              "Choices": [{"Variable": "$.n", "IsPresent": false, "Assign": {"path": "none"}, "Next": "Out"},
                          {"Variable": "$.n", "NumericGreaterThan": 10, "Assign": {"path": "big"}, "Next": "Out"}],
              "Default": "Out"},
        "Out": {"Type": "Pass", "Parameters": {"path.$": "$path"}, "End": true}
    }});
    let none = run(def.clone(), json!({})).await;
    assert_eq!(
        none.output,
        Some(json!({"path": "none"})),
        "{:?}",
        none.cause
    );
    assert_eq!(assigned(&none, "C"), Some(json!({"path": "none"})));
    let big = run(def.clone(), json!({"n": 11})).await;
    assert_eq!(big.output, Some(json!({"path": "big"})));
    let small = run(def, json!({"n": 1})).await;
    assert_eq!(small.output, Some(json!({"path": "default"})));
    assert_eq!(
        assigned(&small, "C"),
        Some(json!({"path": "default", "n": 1}))
    );
}

#[tokio::test]
async fn choice_variable_and_operands_can_be_variables() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"limit": 5, "order": {"total": 9}}, "Next": "C"},
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$order.total", "NumericGreaterThanPath": "$limit", "Next": "Big"}
        ], "Default": "Small"},
        "Big": {"Type": "Succeed"},
        "Small": {"Type": "Fail", "Error": "Small"}
    }});
    let out = run(def, json!({})).await;
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{:?}", out.cause);
}

#[tokio::test]
async fn a_catcher_assigns_from_the_error_output() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": format!("{FN}:fail"), "Assign": {"never": 1},
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": null,
                         "Assign": {"err.$": "$.Error", "cause.$": "$.Cause"}, "Next": "Out"}],
              "End": true},
        "Out": {"Type": "Pass", "Parameters": {"err.$": "$err", "cause.$": "$cause", "in.$": "$"}, "End": true}
    }});
    let out = run(def, json!({"k": 1})).await;
    assert_eq!(
        out.output,
        Some(json!({"err": "Boom", "cause": "it broke", "in": {"k": 1}}))
    );
}

#[tokio::test]
async fn a_failed_state_assigns_nothing() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": format!("{FN}:fail"), "Assign": {"x": 1},
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Out"}], "End": true},
        "Out": {"Type": "Pass", "Parameters": {"x.$": "$x"}, "End": true}
    }});
    let out = run(def, json!({})).await;
    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!(out.error.as_deref(), Some("States.Runtime"));
}

#[tokio::test]
async fn branches_and_iterations_read_outer_variables_and_their_own_stay_inside() {
    let inner = |name: &str| {
        json!({"StartAt": name, "States": {
            name: {"Type": "Pass", "Parameters": {"base.$": "$base", "item.$": "$"},
                   "Assign": {"mine.$": "$"}, "Next": format!("{name}2")},
            format!("{name}2"): {"Type": "Pass", "Parameters": {"mine.$": "$mine"}, "End": true}
        }})
    };
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"base": 10}, "Next": "M"},
        "M": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": inner("I"), "ResultPath": "$.m", "Next": "P"},
        "P": {"Type": "Parallel", "Branches": [inner("B1"), inner("B2")], "ResultPath": "$.p", "Next": "Check"},
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$mine", "IsPresent": true, "Next": "Leaked"}], "Default": "Ok"},
        "Leaked": {"Type": "Fail", "Error": "Leaked"},
        "Ok": {"Type": "Pass", "OutputPath": "$.m", "End": true}
    }});
    let out = run(def, json!({"items": [1, 2]})).await;
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{:?}", out.cause);
    assert_eq!(
        out.output,
        Some(json!([{"mine": {"base": 10, "item": 1}}, {"mine": {"base": 10, "item": 2}}]))
    );
}

#[tokio::test]
async fn an_iteration_cannot_assign_an_outer_variable() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"base": 10}, "Next": "M"},
        "M": {"Type": "Map", "ItemProcessor": {"StartAt": "I", "States": {
            "I": {"Type": "Pass", "Assign": {"base": 1}, "End": true}}}, "End": true}
    }});
    let out = run(def, json!([1])).await;
    assert_eq!(out.status, ExecutionStatus::Failed);
    assert!(out.cause.unwrap_or_default().contains("outer scope"));
}

#[tokio::test]
async fn an_unassigned_variable_is_a_runtime_error() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Parameters": {"x.$": "$nope"}, "End": true}
    }});
    let out = run(def, json!({})).await;
    assert_eq!(out.error.as_deref(), Some("States.Runtime"));
    assert!(out.cause.unwrap_or_default().contains("'nope'"));
}

#[tokio::test]
async fn variables_reach_task_parameters_and_items_paths() {
    let host = Arc::new(Echo::default());
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"ids": [1, 2], "who": "ann"}, "Next": "M"},
        "M": {"Type": "Map", "ItemsPath": "$ids", "ItemSelector": {"id.$": "$$.Map.Item.Value", "who.$": "$who"},
              "ItemProcessor": {"StartAt": "T", "States": {
                  "T": {"Type": "Task", "Resource": format!("{FN}:t"), "End": true}}},
              "End": true}
    }});
    let out = run_with(host.clone(), def, json!({})).await;
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{:?}", out.cause);
    let mut seen: Vec<Value> = host
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.parameters.clone())
        .collect();
    seen.sort_by_key(|v| v["id"].as_i64());
    assert_eq!(
        seen,
        vec![
            json!({"id": 1, "who": "ann"}),
            json!({"id": 2, "who": "ann"})
        ]
    );
}

#[tokio::test]
async fn a_variable_over_256_kib_is_data_limit_exceeded() {
    let big = "x".repeat(256 * 1024);
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"big.$": "$.s"}, "End": true}
    }});
    let out = run(def, json!({ "s": big })).await;
    assert_eq!(out.error.as_deref(), Some("States.DataLimitExceeded"));
}

#[tokio::test]
async fn an_execution_stores_at_most_10_mib_of_variables() {
    // 45 variables of ~250 KiB each: the 41st passes the 10 MiB total.
    let chunk = "x".repeat(250 * 1024);
    let mut states = serde_json::Map::new();
    for i in 0..45 {
        let next = if i == 44 {
            json!({"End": true})
        } else {
            json!({"Next": format!("S{}", i + 1)})
        };
        let mut s = json!({"Type": "Pass", "Assign": {format!("v{i}.$"): "$.s"}});
        s.as_object_mut()
            .unwrap()
            .extend(next.as_object().unwrap().clone());
        states.insert(format!("S{i}"), s);
    }
    let def = json!({"StartAt": "S0", "States": states});
    let out = run(def, json!({ "s": chunk })).await;
    assert_eq!(out.error.as_deref(), Some("States.DataLimitExceeded"));
    assert!(out.cause.unwrap_or_default().contains("10485760"));
}

#[test]
fn assign_problems_have_pointers() {
    let ps = problems(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"9bad": 1, "states": 2, "ok.$": "nope"}, "ResultPath": "$x", "Next": "S"},
        "S": {"Type": "Succeed", "Assign": {"x": 1}},
        "F": {"Type": "Fail", "Assign": {"x": 1}}
    }}));
    let has = |s: &str| ps.iter().any(|p| p.starts_with(s));
    assert!(has("/States/A/Assign/9bad:"), "{ps:?}");
    assert!(has("/States/A/Assign/states:"), "{ps:?}");
    assert!(has("/States/A/Assign/ok.$:"), "{ps:?}");
    assert!(has("/States/A/ResultPath:"), "{ps:?}");
    assert!(has("/States/S/Assign:"), "{ps:?}");
    assert!(has("/States/F/Assign:"), "{ps:?}");
}

#[derive(Debug, Default)]
struct Store {
    saved: Mutex<Vec<ExecutionSnapshot>>,
}

#[async_trait]
impl Persistence for Store {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), PersistenceError> {
        let mut saved = self.saved.lock().unwrap();
        let whole = checkpoint.applied_to(saved.last().cloned());
        saved.push(whole);
        Ok(())
    }
}

#[tokio::test]
async fn variables_survive_a_resume_from_a_snapshot() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"x": {"deep": [1]}}, "Next": "W"},
        "W": {"Type": "Wait", "Seconds": 60, "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"x.$": "$x"}, "End": true}
    }});
    let m = StateMachine::from_value(&def).unwrap();
    let clock = ManualClock::default();
    let store = Arc::new(Store::default());
    let engine = Engine::new(Arc::new(Echo::default()), Arc::new(clock.clone()));
    let handle = engine
        .start(
            &m,
            StartExecution::new("r", json!({})).with_persistence(store.clone()),
        )
        .unwrap();
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    let snap = store.saved.lock().unwrap().last().cloned().unwrap();
    handle.stop(None, None);
    let pos = snap.position.clone().unwrap();
    assert_eq!(pos.state_name, "W");
    // Through JSON, as a durable store keeps it.
    let text = serde_json::to_string(&snap).unwrap();
    let back: ExecutionSnapshot = serde_json::from_str(&text).unwrap();
    assert_eq!(back.position.unwrap().variables["x"], json!({"deep": [1]}));

    let engine2 = Engine::new(Arc::new(Echo::default()), Arc::new(clock.clone()));
    let resumed = engine2.run_resumed(&m, snap, None).unwrap();
    let out = clock.run(resumed).await;
    assert_eq!(out.output, Some(json!({"x": {"deep": [1]}})));
}

#[test]
fn old_snapshots_without_variables_still_load() {
    let pos = json!({"stateName": "A", "input": {}, "enteredTime": "2024-01-01T00:00:00Z",
        "enteredEventId": 2, "retryCounts": [], "retryCount": 0, "phase": {"kind": "entered"}});
    let p: asl::Position = serde_json::from_value(pos).unwrap();
    assert!(p.variables.is_empty());
    let back = serde_json::to_value(&p).unwrap();
    assert!(back.get("variables").is_none());
}
