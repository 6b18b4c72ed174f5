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
        states: (&s).into(),
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
            states: (&s).into(),
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
        states: (&s).into(),
        variables: &v,
    };
    assert_eq!(e.evaluate_optional(&scope).unwrap(), Some(json!(1)));
    let missing = Expression::parse("$states.input.zzz").unwrap();
    assert_eq!(missing.evaluate_optional(&scope).unwrap(), None);
    assert!(Expression::parse("(").unwrap_err().is_load_time());
    assert!(!eval("$error('boom')").unwrap_err().is_load_time());
}

#[test]
fn every_aws_function_signature_parses() {
    for (name, sig, _) in super::functions::FUNCTIONS {
        assert!(
            jlens_core::HostFunction::with_signature(sig, |_, _| Ok(None)).is_ok(),
            "{name}"
        );
    }
}

fn undefined(src: &str) {
    match eval(src) {
        Err(JsonataError::Undefined { .. }) => {}
        other => panic!("{src}: {other:?}"),
    }
}

#[test]
fn partition_chunks_with_the_remainder_last() {
    assert_eq!(
        ok("$partition([1,2,3,4,5,6,7,8,9], 3)"),
        json!([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    );
    assert_eq!(
        ok("$partition([1,2,3,4,5], 2)"),
        json!([[1, 2], [3, 4], [5]])
    );
    assert_eq!(
        ok("$partition($states.input.items, 2.9)"),
        json!([[1, 2], [3]])
    );
    undefined("$partition([1,2], 0)");
    undefined("$partition([], 2)");
    assert!(
        matches!(eval("$partition([1], 'a')"), Err(JsonataError::Evaluation { code, .. }) if code == "T0410")
    );
}

#[test]
fn range_is_inclusive_and_truncates_towards_zero() {
    assert_eq!(ok("$range(0, 10, 2)"), json!([0, 2, 4, 6, 8, 10]));
    assert_eq!(ok("$range(1, 8, 2)"), json!([1, 3, 5, 7]));
    assert_eq!(ok("$range(9, 1, -2)"), json!([9, 7, 5, 3, 1]));
    assert_eq!(ok("$range(-1.7, 2, 1)"), json!([-1, 0, 1, 2]));
    assert_eq!(ok("$range(3, 3, 1)"), json!(3));
    undefined("$range(0, 4)");
    undefined("$range(0, 4, 0)");
    undefined("$range(3, 1, 1)");
    assert!(
        eval("$range(0, 1000000, 1)")
            .unwrap_err()
            .to_string()
            .contains("memory limit")
    );
    assert!(
        matches!(eval("$range('0', 4, 1)"), Err(JsonataError::Evaluation { code, .. }) if code == "T0410")
    );
}

#[test]
fn hash_takes_aws_algorithm_names() {
    assert_eq!(
        ok("$hash('abc', 'MD5')"),
        json!("900150983cd24fb0d6963f7d28e17f72")
    );
    assert_eq!(
        ok("$hash('abc', 'SHA-1')"),
        json!("a9993e364706816aba3e25717850c26c9cd0d89d")
    );
    assert_eq!(
        ok("$hash('abc', 'SHA-256')"),
        json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(ok("$length($hash('abc', 'SHA-384'))"), json!(96));
    assert_eq!(ok("$length($hash('abc', 'SHA-512'))"), json!(128));
    undefined("$hash('abc')");
    let e = eval("$hash('abc', 'sha-256')").unwrap_err();
    assert!(e.to_string().contains("'sha-256' is not supported"), "{e}");
}

#[test]
fn random_is_in_the_unit_interval_and_seeded_is_reproducible() {
    for _ in 0..50 {
        let r = ok("$random()").as_f64().unwrap();
        assert!((0.0..1.0).contains(&r), "{r}");
    }
    assert_eq!(ok("$random(42)"), ok("$random(42)"));
    assert_eq!(ok("$random(42.9)"), ok("$random(42)"));
    assert_ne!(ok("$random(42)"), ok("$random(43)"));
    let r = ok("$random($n)").as_f64().unwrap();
    assert!((0.0..1.0).contains(&r), "{r}");
}

#[test]
fn uuid_is_version_4() {
    let u = ok("$uuid()");
    let u = u.as_str().unwrap();
    assert_eq!(u.len(), 36);
    assert_eq!(u.as_bytes()[14], b'4');
    assert_ne!(ok("$uuid()"), ok("$uuid()"));
}

#[test]
fn parse_replaces_eval() {
    assert_eq!(
        ok("$parse('{\"a\": [1, 2.5, null]}')"),
        json!({"a": [1, 2.5, null]})
    );
    assert_eq!(ok("$parse('3')"), json!(3));
    let e = eval("$parse('{')").unwrap_err();
    assert!(e.to_string().contains("not valid JSON"), "{e}");
    assert!(
        matches!(eval("$eval('1 + 1')"), Err(JsonataError::Evaluation { code, .. }) if code == "T1006")
    );
}

#[test]
fn functions_are_not_json() {
    for src in ["function($x) { $x }", "$uppercase", "$partition"] {
        match eval(src) {
            Err(e @ JsonataError::NotJson { .. }) => {
                assert!(
                    e.to_string()
                        .ends_with("returned an unsupported result type.")
                )
            }
            other => panic!("{src}: {other:?}"),
        }
    }
}

#[test]
fn nulls_are_values_and_missing_paths_are_undefined() {
    assert_eq!(ok("$states.input.nul"), Value::Null);
    assert_eq!(ok("$exists($states.input.nul)"), json!(true));
    assert_eq!(ok("$exists($states.input.missing)"), json!(false));
    assert_eq!(ok("$states.input.empty"), json!([]));
    undefined("$states.input.missing");
    undefined("$states.result");
    assert_eq!(ok("{'x': $states.input.missing, 'y': 1}"), json!({"y": 1}));
}

#[test]
fn context_is_undefined_and_top_level_references_are_refused() {
    for (src, msg) in [
        ("$", "Reference to '$' at the top level is not supported."),
        ("$$", "Reference to '$$' is not supported."),
        (
            "$states.input.items[$$.a]",
            "Reference to '$$' is not supported.",
        ),
        (
            "phone",
            "Reference to 'phone' at the top level is not supported.",
        ),
        (
            "$count(items)",
            "Reference to 'items' at the top level is not supported.",
        ),
        (
            "{'a': b}",
            "Reference to 'b' at the top level is not supported.",
        ),
        (
            "$map([1], function($x) { b })",
            "Reference to 'b' at the top level is not supported.",
        ),
    ] {
        match Expression::parse(src) {
            Err(JsonataError::Unsupported { message, .. }) => assert_eq!(message, msg, "{src}"),
            other => panic!("{src}: {other:?}"),
        }
    }
    // Where the context is defined, names and `$` are legal.
    assert_eq!(ok("$states.input.items[$ > 1]"), json!([2, 3]));
    assert_eq!(ok("$states.input.{'a2': a * 2}"), json!({"a2": 2}));
    assert_eq!(ok("$states.input.items^(>$)"), json!([3, 2, 1]));
    assert_eq!(ok("$states.input.(a + 1)"), json!(2));
}

#[test]
fn jsonata_2_2_operators_are_not_2_0_6() {
    for src in ["$n ?: 1", "$n ?? 1"] {
        match Expression::parse(src) {
            Err(e @ JsonataError::Syntax { .. }) => assert!(e.is_load_time()),
            other => panic!("{src}: {other:?}"),
        }
    }
}

#[test]
fn the_expression_form_needs_both_markers_and_nothing_outside() {
    for yes in ["{% 1 %}", "{%1%}", "{%\n$states.input\n%}"] {
        assert!(Template::is_expression(yes), "{yes:?}");
    }
    for no in [
        "{%}",
        "{% 1 %} ",
        " {% 1 %}",
        "{% 1",
        "1 %}",
        "",
        "{%",
        "a {% 1 %}",
    ] {
        assert!(!Template::is_expression(no), "{no:?}");
    }
    assert!(Template::parse(&json!("{%  %}")).is_err());
}

#[test]
fn evaluation_errors_carry_the_jsonata_code_and_message() {
    let e = eval("$states.input.s + 1").unwrap_err().in_field("Output");
    assert_eq!(
        e.to_string(),
        "The JSONata expression '$states.input.s + 1' specified for the field 'Output' threw an \
         error during evaluation. T2001: The left side of the \"+\" operator must evaluate to a number"
    );
    assert!(
        matches!(eval("$error('boom')"), Err(JsonataError::Evaluation { code, .. }) if code == "D3137")
    );
}

#[test]
fn variables_not_named_are_not_needed() {
    // Only `$n` is bound: a scope without the others still evaluates.
    let (s, none) = (json!({}), Map::new());
    let e = Expression::parse("$n").unwrap();
    assert!(matches!(
        e.evaluate(&Scope {
            states: (&s).into(),
            variables: &none
        }),
        Err(JsonataError::Undefined { .. })
    ));
    let mut one = Map::new();
    one.insert("n".into(), json!(2));
    assert_eq!(
        e.evaluate(&Scope {
            states: (&s).into(),
            variables: &one
        })
        .unwrap(),
        json!(2)
    );
}

#[test]
fn values_are_bounded_as_on_aws() {
    assert_eq!(ok("$count([1..1000])"), json!(1000));
    assert!(matches!(
        eval("$count([1..873783])"),
        Err(JsonataError::Evaluation { .. })
    ));
}

/// Cost per evaluation, printed (`cargo test -p asl --profile local --lib
/// jsonata::tests::timing -- --ignored --nocapture`).
#[test]
#[ignore = "a measurement, not a check"]
fn timing() {
    let items: Vec<Value> = (0..20)
        .map(|i| json!({"sku": format!("SKU-{i}"), "price": 10 + i * 5, "qty": 1 + i % 3}))
        .collect();
    let states = json!({"input": {"order": {"id": "ord-123", "amount": 149.5, "currency": "eur"}, "items": items},
                        "context": {"Execution": {"Name": "exec"}}});
    let vars = vars();
    let scope = Scope {
        states: (&states).into(),
        variables: &vars,
    };
    for src in [
        "$states.input.order.id",
        "$states.input.order.amount > 100 and $states.input.order.currency = 'eur'",
        "{'orderId': $states.input.order.id, 'total': $sum($states.input.items.(price * qty))}",
        "$states.input",
        "$n + 1",
    ] {
        let e = Expression::parse(src).unwrap();
        // As the engine runs it (native where the shape allows), by the
        // crate with cut bindings, and with whole ones.
        let ways = [
            ("used", e.clone()),
            ("cut", e.clone().slow()),
            ("whole", e.uncut()),
        ];
        for (label, e) in ways {
            let n = 20_000;
            let t = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(e.evaluate(&scope).unwrap());
            }
            let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
            println!("{us:8.2} µs  {label:5}  {src}");
        }
    }
}

#[test]
fn parsed_expressions_can_be_shared_between_tasks() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Expression>();
    send_sync::<Template>();
    send_sync::<JsonataError>();
}
