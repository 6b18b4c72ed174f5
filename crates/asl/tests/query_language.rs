//! `QueryLanguage` at load time: the machine's and the per-state override,
//! and the fields each language allows, as problems with JSON pointers.
//! AWS: "Transforming data with JSONata in Step Functions" and the
//! per-state pages (which fields are "JSONPath only" / "JSONata only").

#![allow(clippy::unwrap_used, clippy::expect_used)]

use asl::StateMachine;
use serde_json::{Value, json};

/// The pointers of every problem of `def` (empty when it is valid).
fn pointers(def: Value) -> Vec<(String, String)> {
    match StateMachine::from_value(&def) {
        Ok(_) => Vec::new(),
        Err(ps) => ps.into_iter().map(|p| (p.pointer, p.message)).collect(),
    }
}

fn has(ps: &[(String, String)], pointer: &str) -> bool {
    ps.iter().any(|(p, _)| p == pointer)
}

fn one(state: Value) -> Value {
    json!({"StartAt": "A", "States": {"A": state, "B": {"Type": "Succeed"}}})
}

#[test]
fn jsonpath_fields_are_rejected_in_jsonata_states() {
    for (field, state) in [
        (
            "InputPath",
            json!({"Type": "Pass", "InputPath": "$.a", "End": true}),
        ),
        (
            "Parameters",
            json!({"Type": "Pass", "Parameters": {}, "End": true}),
        ),
        ("Result", json!({"Type": "Pass", "Result": 1, "End": true})),
        (
            "ResultPath",
            json!({"Type": "Pass", "ResultPath": "$.a", "End": true}),
        ),
        (
            "OutputPath",
            json!({"Type": "Pass", "OutputPath": "$.a", "End": true}),
        ),
        (
            "ItemsPath",
            json!({"Type": "Map", "ItemsPath": "$.a", "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}, "End": true}),
        ),
        (
            "SecondsPath",
            json!({"Type": "Wait", "SecondsPath": "$.a", "End": true}),
        ),
        ("ErrorPath", json!({"Type": "Fail", "ErrorPath": "$.a"})),
    ] {
        let mut s = state;
        s["QueryLanguage"] = json!("JSONata");
        let ps = pointers(one(s));
        assert!(has(&ps, &format!("/States/A/{field}")), "{field}: {ps:?}");
    }
}

#[test]
fn jsonata_fields_are_rejected_in_jsonpath_states() {
    for (field, state) in [
        ("Output", json!({"Type": "Pass", "Output": {}, "End": true})),
        (
            "Arguments",
            json!({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:f", "Arguments": {}, "End": true}),
        ),
        (
            "Items",
            json!({"Type": "Map", "Items": [1], "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}, "End": true}),
        ),
    ] {
        let ps = pointers(one(state));
        assert!(has(&ps, &format!("/States/A/{field}")), "{field}: {ps:?}");
        let msg = ps
            .iter()
            .find(|(p, _)| p.ends_with(field))
            .map(|(_, m)| m.clone());
        assert!(msg.unwrap_or_default().contains("JSONata"));
    }
}

#[test]
fn choice_rules_and_catchers_follow_their_state_language() {
    let jsonata_rule = one(json!({"Type": "Choice", "QueryLanguage": "JSONata",
        "Choices": [{"Variable": "$.a", "NumericEquals": 1, "Next": "B"}]}));
    assert!(has(&pointers(jsonata_rule), "/States/A/Choices/0/Variable"));
    let no_condition = one(json!({"Type": "Choice", "QueryLanguage": "JSONata",
        "Choices": [{"Next": "B"}]}));
    assert!(has(&pointers(no_condition), "/States/A/Choices/0"));
    let jsonpath_rule = one(json!({"Type": "Choice",
        "Choices": [{"Condition": "{% true %}", "Next": "B"}]}));
    assert!(has(
        &pointers(jsonpath_rule),
        "/States/A/Choices/0/Condition"
    ));
    let catcher = one(json!({"Type": "Task", "QueryLanguage": "JSONata",
        "Resource": "arn:aws:lambda:us-east-1:000000000000:function:f", "End": true,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.e", "Next": "B"}]}));
    assert!(has(&pointers(catcher), "/States/A/Catch/0/ResultPath"));
}

#[test]
fn a_jsonata_machine_cannot_have_jsonpath_states_at_any_depth() {
    let top = json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": true}}});
    let ps = pointers(top);
    let msg = ps
        .iter()
        .find(|(p, _)| p == "/States/A")
        .map(|(_, m)| m.clone());
    assert!(msg.unwrap_or_default().contains("QueryLanguage"), "{ps:?}");
    let nested = json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Map", "Items": [1], "End": true, "ItemProcessor": {"StartAt": "I", "States": {
            "I": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": true}}}}}});
    assert!(has(&pointers(nested), "/States/A/ItemProcessor/States/I"));
}

#[test]
fn item_processors_and_branches_cannot_declare_a_language() {
    let def = one(
        json!({"Type": "Map", "End": true, "ItemProcessor": {"QueryLanguage": "JSONPath",
        "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}),
    );
    assert!(has(&pointers(def), "/States/A/ItemProcessor/QueryLanguage"));
    let def = one(
        json!({"Type": "Parallel", "End": true, "Branches": [{"QueryLanguage": "JSONPath",
        "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}]}),
    );
    assert!(has(&pointers(def), "/States/A/Branches/0/QueryLanguage"));
}

#[test]
fn unknown_query_languages_are_problems() {
    let top =
        json!({"QueryLanguage": "XPath", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}});
    assert!(has(&pointers(top), "/QueryLanguage"));
    let state = one(json!({"Type": "Succeed", "QueryLanguage": "jsonata"}));
    assert!(has(&pointers(state), "/States/A/QueryLanguage"));
}

#[test]
fn a_bare_dollar_at_the_top_of_an_expression_is_a_problem() {
    let def = one(
        json!({"Type": "Pass", "QueryLanguage": "JSONata", "End": true,
        "Output": {"a": "{% $.x %}", "b": ["{% $$ %}"], "ok": "{% $states.input.x %}", "lit": "$.x"}}),
    );
    let ps = pointers(def);
    assert!(has(&ps, "/States/A/Output/a"), "{ps:?}");
    assert!(has(&ps, "/States/A/Output/b/0"), "{ps:?}");
    assert!(!has(&ps, "/States/A/Output/ok"), "{ps:?}");
    assert!(!has(&ps, "/States/A/Output/lit"), "{ps:?}");
}

#[test]
fn jsonpath_states_with_assign_and_an_explicit_language_are_valid() {
    let def = json!({"QueryLanguage": "JSONPath", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "QueryLanguage": "JSONPath", "Assign": {"x": 1}, "End": true}}});
    assert_eq!(pointers(def), Vec::<(String, String)>::new());
}
