//! The contract between the handlers and the state machine: every error name
//! the ASL retries or catches is one some handler raises (or the state machine
//! raises itself), and every error a task's handler can raise is handled by
//! that task (a `Catch` naming it, or `States.ALL`), and every `Catch` hands
//! what it caught to `Compensate`.
//!
//! The saga is a JSONata state machine: a task's function is its
//! `Arguments.FunctionName`, and what went wrong travels in the `failure`
//! variable (`Assign`), not at a `ResultPath`.

use std::collections::{BTreeMap, BTreeSet};

use saga_core::ErrorName;
use saga_core::error_names::LAMBDA_SERVICE_ERRORS;
use serde_json::Value;

fn saga() -> Value {
    let path = saga_tests::workspace_root().join("statemachines/order-saga.asl.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The error names each function the state machine invokes can report,
/// keyed by its ASL placeholder (`${<name>_function_arn}`).
fn handlers() -> BTreeMap<String, &'static [ErrorName]> {
    crate::FUNCTIONS
        .iter()
        .filter_map(|f| {
            let names = f.error_names?;
            Some((
                format!("${{{}_function_arn}}", f.name.replace('-', "_")),
                names,
            ))
        })
        .collect()
}

fn names_in(rules: Option<&Value>) -> Vec<String> {
    rules
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|r| r["ErrorEquals"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

/// The `FunctionName` a task invokes (a `${…_function_arn}` placeholder).
fn function_of(state: &Value) -> Option<String> {
    state["Arguments"]["FunctionName"]
        .as_str()
        .map(str::to_owned)
}

/// Every `Assign` of a state: its own, its Choice rules' and its catchers',
/// each with where it sits.
fn assigns(name: &str, state: &Value) -> Vec<(String, Value)> {
    let mut out = vec![(name.to_owned(), state["Assign"].clone())];
    for list in ["Choices", "Catch"] {
        let rules = state[list].as_array().cloned().unwrap_or_default();
        for (i, rule) in rules.into_iter().enumerate() {
            out.push((format!("{name}.{list}[{i}]"), rule["Assign"].clone()));
        }
    }
    out.retain(|(_, a)| !a.is_null());
    out
}

/// The error names the state machine raises itself: the literal
/// `failure.Error` values it assigns (a rejection, a timed-out approval).
fn raised_by_the_state_machine(sm: &Value) -> Vec<(String, String)> {
    states(sm)
        .iter()
        .flat_map(|(name, state)| assigns(name, state))
        .filter_map(|(at, a)| {
            let error = a["failure"]["Error"].as_str()?.to_owned();
            Some((at, error))
        })
        .collect()
}

fn states(sm: &Value) -> Vec<(String, Value)> {
    sm["States"]
        .as_object()
        .expect("States is an object")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn every_function_error_name_is_a_declared_stable_name() {
    let all = crate::FUNCTIONS.iter().filter_map(|f| f.error_names);
    for name in all.flatten() {
        assert!(
            ErrorName::ALL.contains(name),
            "{name} is not declared in saga_core::ErrorName::ALL"
        );
    }
}

#[test]
fn the_asl_names_no_error_that_nothing_raises() {
    let sm = saga();
    let handlers = handlers();
    for (name, state) in states(&sm) {
        // A Retry or Catch can only see what its own task raises: the function's
        // ERROR_NAMES, the Lambda service's errors, or States.* errors.
        let function = function_of(&state);
        let can_raise: BTreeSet<String> = function
            .as_deref()
            .and_then(|f| handlers.get(f))
            .map(|names| names.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        for error in names_in(state.get("Retry"))
            .into_iter()
            .chain(names_in(state.get("Catch")))
        {
            let known = error.starts_with("States.")
                || LAMBDA_SERVICE_ERRORS.contains(&error.as_str())
                || can_raise.contains(&error);
            assert!(
                known,
                "state {name} handles {error}, which its task {function:?} never raises"
            );
        }
        // Fail states end with a stable name, or with the one compensation
        // recorded (an expression, checked below).
        if let Some(e) = state["Error"].as_str().filter(|e| !e.starts_with("{%")) {
            assert!(
                e.parse::<ErrorName>().is_ok(),
                "Fail state {name} ends with {e}, not a stable name"
            );
        }
    }
    // Errors the state machine raises itself: assigned as `failure` and
    // handed to Compensate (ApprovalRejected / ApprovalTimedOut).
    let raised = raised_by_the_state_machine(&sm);
    for (at, e) in &raised {
        assert!(
            e.parse()
                .is_ok_and(|e| ErrorName::RAISED_BY_STATE_MACHINE.contains(&e)),
            "{at} raises {e}, which is not declared in RAISED_BY_STATE_MACHINE"
        );
    }
    for name in ErrorName::RAISED_BY_STATE_MACHINE {
        assert!(
            raised.iter().any(|(_, e)| e == name.as_str()),
            "{name} is declared in RAISED_BY_STATE_MACHINE but the state machine never raises it"
        );
    }
}

/// The Task where an execution whose compensation keeps failing stops.
const UNCAUGHT_ON_PURPOSE: &str = "CompensationNeedsAttention";

#[test]
fn every_error_a_task_can_raise_is_handled_by_that_task() {
    let sm = saga();
    let handlers = handlers();
    let mut tasks_seen = BTreeSet::new();
    for (name, state) in states(&sm) {
        let Some(function) = function_of(&state) else {
            continue;
        };
        let function = function.as_str();
        let raises = handlers
            .get(function)
            .unwrap_or_else(|| panic!("state {name} invokes unknown {function}"));
        tasks_seen.insert(function.to_owned());
        let caught = names_in(state.get("Catch"));
        // The one Task that catches nothing on purpose: a NEEDS_ATTENTION
        // execution fails there so a redrive reruns compensation (checked in
        // payment_unavailable_is_retried_and_failures_end_in_the_stable_name).
        let uncaught_on_purpose = name == UNCAUGHT_ON_PURPOSE;
        assert_eq!(
            caught.is_empty(),
            uncaught_on_purpose,
            "state {name}: only {UNCAUGHT_ON_PURPOSE} leaves its failures uncaught"
        );
        let catches_all = caught
            .iter()
            .any(|c| c == "States.ALL" || c == "States.TaskFailed");
        for error in *raises {
            assert!(
                uncaught_on_purpose || catches_all || caught.iter().any(|c| error == c.as_str()),
                "state {name}: {error} raised by {function} is not caught"
            );
        }
        // Every Lambda task retries the Lambda service errors and Transient.
        let retried = names_in(state.get("Retry"));
        for error in LAMBDA_SERVICE_ERRORS
            .iter()
            .copied()
            .chain([ErrorName::Transient.as_str()])
        {
            assert!(
                retried.iter().any(|r| r == error),
                "state {name} does not retry {error}"
            );
        }
    }
    assert_eq!(
        tasks_seen.len(),
        handlers.len(),
        "every step function is invoked by the saga"
    );
}

#[test]
fn payment_unavailable_is_retried_and_failures_end_in_the_stable_name() {
    let sm = saga();
    let pay = &sm["States"]["ProcessPayment"];
    assert!(names_in(pay.get("Retry")).contains(&ErrorName::PaymentUnavailable.to_string()));
    assert!(
        !names_in(pay.get("Retry")).contains(&ErrorName::PaymentDeclined.to_string()),
        "declines are final"
    );
    // The name compensate recorded on the order, as it answered it.
    assert_eq!(
        sm["States"]["Compensate"]["Assign"]["compensation"],
        "{% $states.result.Payload %}"
    );
    for fail in ["OrderFailed", "OrderRejected"] {
        assert_eq!(
            sm["States"][fail]["Error"], "{% $compensation.error %}",
            "{fail} reports the recorded stable name"
        );
        assert_eq!(sm["States"][fail]["Cause"], "{% $compensation.cause %}");
    }
    // A compensation that keeps failing stops the execution in a Task (so a
    // redrive reruns compensation), failing with compensate's own
    // CompensationFailed: retried by Compensate, not by the last attempt.
    let last = &sm["States"][UNCAUGHT_ON_PURPOSE];
    assert_eq!(last["Type"], "Task");
    assert!(
        last.get("Catch").is_none(),
        "a caught failure would end in a Fail state"
    );
    assert_eq!(last["Arguments"], sm["States"]["Compensate"]["Arguments"]);
    assert!(
        names_in(sm["States"]["Compensate"].get("Retry"))
            .contains(&ErrorName::CompensationFailed.to_string())
    );
    assert!(!names_in(last.get("Retry")).contains(&ErrorName::CompensationFailed.to_string()));
}

#[test]
fn every_catch_hands_what_it_caught_to_compensate() {
    let sm = saga();
    assert_eq!(sm["QueryLanguage"], "JSONata");
    let compensate = &sm["States"]["Compensate"];
    assert_eq!(
        compensate["Arguments"]["Payload"]["error"], "{% $failure %}",
        "Compensate hands compensate the failure every path assigned"
    );
    for (name, state) in states(&sm) {
        let Some(function) = function_of(&state) else {
            continue;
        };
        if name == "Compensate" || name == UNCAUGHT_ON_PURPOSE {
            continue;
        }
        let catchers = state["Catch"].as_array().cloned().unwrap_or_default();
        assert!(
            !catchers.is_empty(),
            "task {name} ({function}) catches nothing"
        );
        for (i, catcher) in catchers.iter().enumerate() {
            // Every failure of a step after (or during) a side effect is
            // compensated, with the error it failed with, or with the one
            // the state machine names for it (a timed-out approval).
            assert_eq!(catcher["Next"], "Compensate", "{name}.Catch[{i}]");
            let failure = &catcher["Assign"]["failure"];
            let caught = failure == "{% $states.errorOutput %}";
            let named = failure["Error"]
                .as_str()
                .and_then(|e| e.parse::<ErrorName>().ok())
                .is_some_and(|e| ErrorName::RAISED_BY_STATE_MACHINE.contains(&e))
                && failure["Cause"].is_string();
            assert!(
                caught || named,
                "{name}.Catch[{i}] assigns failure = {failure}, not what it caught"
            );
        }
    }
    // A rejection goes the same way, with its own name.
    let rejected = sm["States"]["ApprovalDecision"]["Choices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["Next"] == "Compensate")
        .map(|r| r["Assign"]["failure"]["Error"].clone())
        .collect::<Vec<_>>();
    assert_eq!(rejected, vec![Value::from("ApprovalRejected")]);
}

#[test]
fn the_saga_has_no_jsonpath_data_flow_left() {
    // A JSONata state takes Arguments/Output/Assign; the JSONPath fields
    // would be refused by AWS (and by asl-validator and the engine).
    const JSONPATH_ONLY: &[&str] = &[
        "Parameters",
        "ResultSelector",
        "ResultPath",
        "InputPath",
        "OutputPath",
        "TimeoutSecondsPath",
        "HeartbeatSecondsPath",
        "ErrorPath",
        "CausePath",
    ];
    let sm = saga();
    for (name, state) in states(&sm) {
        for field in JSONPATH_ONLY {
            assert!(state.get(*field).is_none(), "state {name} has {field}");
        }
        assert!(
            state.get("QueryLanguage").is_none(),
            "state {name} overrides the machine's QueryLanguage"
        );
    }
}
