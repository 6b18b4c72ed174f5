//! The contract between the handlers and the state machine: every error name
//! the ASL retries or catches is one some handler raises (or the state machine
//! raises itself), and every error a task's handler can raise is handled by
//! that task (a `Catch` naming it, or `States.ALL`).

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
        let function = state["Parameters"]["FunctionName"]
            .as_str()
            .map(str::to_owned);
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
        // Errors the state machine raises itself: Fail states end with a stable
        // name; Pass states hand ApprovalRejected / ApprovalTimedOut to Compensate.
        if let Some(e) = state["Error"].as_str() {
            assert!(
                e.parse::<ErrorName>().is_ok(),
                "Fail state {name} ends with {e}, not a stable name"
            );
        }
        if let Some(e) = state["Parameters"]["Error"].as_str() {
            assert!(
                e.parse()
                    .is_ok_and(|e| ErrorName::RAISED_BY_STATE_MACHINE.contains(&e)),
                "state {name} raises {e}, which is not declared in RAISED_BY_STATE_MACHINE"
            );
        }
    }
}

#[test]
fn every_error_a_task_can_raise_is_handled_by_that_task() {
    let sm = saga();
    let handlers = handlers();
    let mut tasks_seen = BTreeSet::new();
    for (name, state) in states(&sm) {
        let Some(function) = state["Parameters"]["FunctionName"].as_str() else {
            continue;
        };
        let raises = handlers
            .get(function)
            .unwrap_or_else(|| panic!("state {name} invokes unknown {function}"));
        tasks_seen.insert(function.to_owned());
        let caught = names_in(state.get("Catch"));
        let catches_all = caught
            .iter()
            .any(|c| c == "States.ALL" || c == "States.TaskFailed");
        for error in *raises {
            assert!(
                catches_all || caught.iter().any(|c| error == c.as_str()),
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
    for fail in ["OrderFailed", "OrderRejected"] {
        assert_eq!(
            sm["States"][fail]["ErrorPath"], "$.compensation.error",
            "{fail} reports the recorded stable name"
        );
    }
    assert_eq!(
        sm["States"]["CompensationFailed"]["Error"],
        ErrorName::CompensationFailed.as_str()
    );
}
