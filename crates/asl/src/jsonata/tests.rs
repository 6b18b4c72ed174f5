//! The rules of the module, one test each, and the AWS functions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Map, Value, json};

use super::{Expression, JsonataError, Scope, Template};

fn states() -> Value {
    json!({"input": {"a": 1, "s": "x", "items": [1, 2, 3], "nul": null, "empty": []},
           "context": {"Execution": {"Name": "e1"}}})
}

fn vars() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("customer".into(), json!({"name": "María"}));
    m.insert("n".into(), json!(4));
    m
}

/// Evaluates `src` (between `{%` and `%}`) with [`states`] and [`vars`].
fn eval(src: &str) -> Result<Value, JsonataError> {
    let (s, v) = (states(), vars());
    Expression::parse(src)?.evaluate(&Scope {
        states: &s,
        variables: &v,
    })
}

fn ok(src: &str) -> Value {
    eval(src).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn states_and_variables_are_bound() {
    assert_eq!(ok("$states.input.a"), json!(1));
    assert_eq!(ok("$states.context.Execution.Name"), json!("e1"));
    assert_eq!(ok("$customer.name & '!'"), json!("María!"));
    assert_eq!(ok("$n * 2"), json!(8));
}

#[test]
fn integers_stay_integers() {
    let v = ok("1 + 2");
    assert_eq!(v, json!(3));
    assert!(v.is_i64() || v.is_u64(), "{v:?}");
    assert_eq!(
        serde_json::to_string(&ok("$states.input.a * 3")).unwrap(),
        "3"
    );
    assert_eq!(ok("7 / 2"), json!(3.5));
}

fn template(v: Value) -> Result<Value, JsonataError> {
    let (s, vs) = (states(), vars());
    Template::parse(&v)
        .unwrap_or_else(|p| panic!("{p:?}"))
        .evaluate(&Scope {
            states: &s,
            variables: &vs,
        })
}

#[test]
fn templates_evaluate_expressions_at_any_depth_and_keep_literals() {
    let got = template(json!({
        "static": "Hello",
        "title": "{% $states.input.s %}",
        "name": "{% $customer.name %}",
        "not-evaluated": "$customerName",
        "deep": [1, {"x": "{% $n + 1 %}"}, "{%not closed"],
        "spaced": " {% 1 %}"
    }))
    .unwrap();
    assert_eq!(
        got,
        json!({"static": "Hello", "title": "x", "name": "María", "not-evaluated": "$customerName",
               "deep": [1, {"x": 5}, "{%not closed"], "spaced": " {% 1 %}"})
    );
    assert_eq!(
        template(json!("{% $states.input.items %}")).unwrap(),
        json!([1, 2, 3])
    );
}

#[test]
fn undefined_fails_the_field_it_is_in() {
    let e = template(json!({"Input": {"id": "{% $states.input.missing %}"}}))
        .unwrap_err()
        .in_field("Arguments");
    assert_eq!(
        e.to_string(),
        "The JSONata expression '$states.input.missing' specified for the field \
         'Arguments/Input/id' returned nothing (undefined)."
    );
    let e = template(json!(["{% 1 %}", "{% $nothing %}"]))
        .unwrap_err()
        .in_field("Output");
    assert!(e.to_string().contains("'Output[1]'"), "{e}");
}

#[test]
fn load_time_refusals_name_their_pointer() {
    let problems =
        Template::parse(&json!({"a": ["{% 1 + %}"], "b": "{% $$ %}", "c/d": "{% name %}"}))
            .unwrap_err();
    let pointers: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(pointers, ["/a/0", "/b", "/c~1d"]);
    assert!(
        problems[0].1.starts_with("INVALID_JSONATA_EXPRESSION: "),
        "{problems:?}"
    );
    assert_eq!(
        problems[1].1,
        "UNSUPPORTED_JSONATA_EXPRESSION: Reference to '$$' is not supported."
    );
    assert_eq!(
        problems[2].1,
        "UNSUPPORTED_JSONATA_EXPRESSION: Reference to 'name' at the top level is not supported."
    );
}

#[test]
fn expressions_report_their_source_and_kind_of_error() {
    let e = Expression::parse("  $states.input.a  ").unwrap();
    assert_eq!(e.source(), "$states.input.a");
    let (s, v) = (states(), vars());
    let scope = Scope {
        states: &s,
        variables: &v,
    };
    assert_eq!(e.evaluate_optional(&scope).unwrap(), Some(json!(1)));
    let missing = Expression::parse("$states.input.zzz").unwrap();
    assert_eq!(missing.evaluate_optional(&scope).unwrap(), None);
    assert!(Expression::parse("(").unwrap_err().is_load_time());
    assert!(!eval("$error('boom')").unwrap_err().is_load_time());
}
