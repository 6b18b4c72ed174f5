//! JSONata states end to end: Pass, Task, Choice, Map, Parallel, Wait,
//! Succeed and Fail with Arguments/Output/Assign and expressions in the
//! other fields; `States.QueryEvaluationError` with `EvaluationFailed`.
//! AWS: "Transforming data with JSONata in Step Functions".

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use asl::{EventDetails, EventType, ExecutionOutcome, ExecutionStatus, StateMachine};
use serde_json::{Value, json};

mod support;

use support::{Echo, FN};

async fn run_with(host: Arc<Echo>, def: Value, input: Value) -> ExecutionOutcome {
    support::run_with(host, "j", def, input).await
}

async fn run(def: Value, input: Value) -> ExecutionOutcome {
    run_with(Arc::new(Echo::default()), def, input).await
}

#[tokio::test]
async fn pass_output_and_assign_see_the_input_and_the_entry_values() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"n": "{% $states.input.n %}"}, "Next": "B"},
        "B": {"Type": "Pass", "Assign": {"n": "{% $n + 1 %}"},
              "Output": {"old": "{% $n %}", "name": "{% $states.context.State.Name %}", "lit": "$n"}, "Next": "C"},
        "C": {"Type": "Succeed", "Output": "{% $merge([$states.input, {'now': $n}]) %}"}
    }});
    let out = run(def, json!({"n": 1})).await;
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{:?}", out.cause);
    assert_eq!(
        out.output,
        Some(json!({"old": 1, "name": "B", "lit": "$n", "now": 2}))
    );
}

#[tokio::test]
async fn task_arguments_output_and_timeouts_are_expressions() {
    let host = Arc::new(Echo::default());
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": format!("{FN}:pay"),
              "Arguments": {"id": "{% $states.input.id %}", "n": "{% $count($states.input.items) %}"},
              "TimeoutSeconds": "{% 10 * 2 %}",
              "Assign": {"paid": "{% $states.result.echo.id %}"},
              "Output": {"got": "{% $states.result.echo %}", "in": "{% $states.input.id %}"},
              "End": true}
    }});
    let out = run_with(host.clone(), def, json!({"id": "o-1", "items": [1, 2]})).await;
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{:?}", out.cause);
    assert_eq!(
        out.output,
        Some(json!({"got": {"id": "o-1", "n": 2}, "in": "o-1"}))
    );
    let scheduled = out.history.iter().find_map(|e| match &e.details {
        EventDetails::LambdaFunctionScheduled(d) => d.timeout_in_seconds,
        _ => None,
    });
    assert_eq!(scheduled, Some(20));
}

#[tokio::test]
async fn choice_conditions_rule_assign_and_default() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "C", "States": {
        "C": {"Type": "Choice", "Assign": {"path": "default"}, "Choices": [
            {"Condition": "{% $states.input.n > 10 %}", "Assign": {"path": "big"}, "Next": "Out"}
        ], "Default": "Out"},
        "Out": {"Type": "Pass", "Output": "{% $path %}", "End": true}
    }});
    assert_eq!(
        run(def.clone(), json!({"n": 11})).await.output,
        Some(json!("big"))
    );
    assert_eq!(
        run(def, json!({"n": 1})).await.output,
        Some(json!("default"))
    );
}

#[tokio::test]
async fn map_items_item_selector_and_parallel_arguments() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Assign": {"k": 10}, "Next": "M"},
        "M": {"Type": "Map", "Items": "{% $states.input.xs %}", "MaxConcurrency": "{% 1 %}",
              "ItemSelector": {"v": "{% $states.context.Map.Item.Value * $k %}", "i": "{% $states.context.Map.Item.Index %}"},
              "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "Output": "{% $states.input.v + $states.input.i %}", "End": true}}},
              "Output": {"m": "{% $states.result %}"}, "Next": "P"},
        "P": {"Type": "Parallel", "Arguments": {"m": "{% $states.input.m %}"}, "Branches": [
            {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "Output": "{% $sum($states.input.m) %}", "End": true}}},
            {"StartAt": "B2", "States": {"B2": {"Type": "Pass", "Output": "{% $k %}", "End": true}}}
        ], "End": true}
    }});
    let out = run(def, json!({"xs": [1, 2, 3]})).await;
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{:?}", out.cause);
    assert_eq!(out.output, Some(json!([63, 10])));
}

#[tokio::test]
async fn wait_seconds_and_timestamp_expressions_and_fail_fields() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": "{% $states.input.s %}", "Next": "W2"},
        "W2": {"Type": "Wait", "Timestamp": "{% '2024-01-01T00:01:00Z' %}", "Next": "F"},
        "F": {"Type": "Fail", "Error": "{% 'E.' & $states.input.kind %}", "Cause": "{% 'waited ' & $string($states.input.s) %}"}
    }});
    let out = run(def, json!({"s": 30, "kind": "Late"})).await;
    assert_eq!(out.error.as_deref(), Some("E.Late"));
    assert_eq!(out.cause.as_deref(), Some("waited 30"));
    let secs = (out.stop_time - out.execution.start_time).num_seconds();
    assert_eq!(secs, 60);
}

#[tokio::test]
async fn catchers_see_the_error_output_and_set_output_and_variables() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": format!("{FN}:fail"), "End": true,
              "Catch": [{"ErrorEquals": ["Boom"], "Assign": {"why": "{% $states.errorOutput.Cause %}"},
                         "Output": {"e": "{% $states.errorOutput.Error %}"}, "Next": "H"}]},
        "H": {"Type": "Pass", "Output": {"e": "{% $states.input.e %}", "why": "{% $why %}"}, "End": true}
    }});
    let out = run(def, json!({})).await;
    assert_eq!(out.output, Some(json!({"e": "Boom", "why": "it broke"})));
}

#[tokio::test]
async fn a_failing_expression_is_a_query_evaluation_error_with_an_event() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Output": {"x": "{% $states.input.missing %}"}, "End": true}
    }});
    let out = run(def, json!({})).await;
    assert_eq!(out.error.as_deref(), Some("States.QueryEvaluationError"));
    let ev = out
        .history
        .iter()
        .find(|e| e.event_type == EventType::EvaluationFailed)
        .expect("an EvaluationFailed event");
    let EventDetails::EvaluationFailed(d) = &ev.details else {
        panic!("{ev:?}")
    };
    assert_eq!(d.state, "A");
    assert_eq!(d.location.as_deref(), Some("Output/x"));
    assert_eq!(d.error.as_deref(), Some("States.QueryEvaluationError"));
    let wire = serde_json::to_value(ev).unwrap();
    assert_eq!(wire["evaluationFailedEventDetails"]["state"], "A");
}

#[tokio::test]
async fn query_evaluation_errors_are_retried_and_caught() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": format!("{FN}:pay"),
              "Arguments": {"x": "{% $states.input.missing %}"}, "End": true,
              "Retry": [{"ErrorEquals": ["States.QueryEvaluationError"], "MaxAttempts": 1, "IntervalSeconds": 1}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}]},
        "H": {"Type": "Pass", "Output": "{% $states.input.Error %}", "End": true}
    }});
    let out = run(def, json!({})).await;
    assert_eq!(out.output, Some(json!("States.QueryEvaluationError")));
    let evals = out
        .history
        .iter()
        .filter(|e| e.event_type == EventType::EvaluationFailed)
        .count();
    assert_eq!(evals, 2, "one per attempt");
}

#[tokio::test]
async fn a_jsonpath_machine_mixes_in_jsonata_states_sharing_variables() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"x.$": "$.v"}, "Next": "B"},
        "B": {"Type": "Pass", "QueryLanguage": "JSONata", "Assign": {"y": "{% $x * 2 %}"}, "Next": "C"},
        "C": {"Type": "Pass", "Parameters": {"x.$": "$x", "y.$": "$y"}, "End": true}
    }});
    let out = run(def, json!({"v": 4})).await;
    assert_eq!(out.output, Some(json!({"x": 4, "y": 8})));
}

#[test]
fn malformed_expressions_are_load_time_problems_with_pointers() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Output": {"a": ["{% 1 + %}"]}, "Assign": {"x": "{% $ %}"}, "End": true}
    }});
    let ps: Vec<String> = StateMachine::from_value(&def)
        .err()
        .unwrap_or_default()
        .iter()
        .map(|p| p.pointer.clone())
        .collect();
    assert!(ps.contains(&"/States/A/Output/a/0".to_owned()), "{ps:?}");
    assert!(ps.contains(&"/States/A/Assign/x".to_owned()), "{ps:?}");
}
