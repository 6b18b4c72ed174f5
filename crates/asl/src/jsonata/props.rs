//! Property tests: no expression or template panics the parser or the
//! evaluator. Panics inside the crate are caught at the module's boundary,
//! so these tests look for the marks the boundary leaves (a `S0500` syntax
//! error, an evaluation error without a code) rather than for an unwind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{Expression, JsonataError, Scope, States, Template};

const TOKENS: &[&str] = &[
    "$states",
    "$states.input",
    "$states.context",
    ".",
    "input",
    "items",
    "a",
    "[",
    "]",
    "(",
    ")",
    "{",
    "}",
    "'s'",
    "\"t\"",
    "0",
    "1",
    "2.5",
    "-1",
    "1e308",
    "+",
    "-",
    "*",
    "/",
    "%",
    "&",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    "and",
    "or",
    "in",
    "?",
    ":",
    ";",
    ",",
    ":=",
    "function($x)",
    "$x",
    "$",
    "$$",
    "..",
    "^(",
    "~>",
    "|",
    "#$i",
    "@$o",
    "**",
    "*",
    "$partition",
    "$range",
    "$hash",
    "$random",
    "$uuid",
    "$parse",
    "$eval",
    "$string",
    "$number",
    "$map",
    "$reduce",
    "$sift",
    "$keys",
    "$lookup",
    "$sum",
    "$count",
    "$formatNumber",
    "$fromMillis",
    "$match",
    "/a+/i",
    "true",
    "false",
    "null",
    "$v",
    "$n",
    "$f",
    "'MD5'",
    "'{'",
    "[1..3]",
];

fn jsonata_like() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..14).prop_map(|t| t.join(" "))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z{}%$ .]{0,8}".prop_map(Value::String),
        jsonata_like().prop_map(|e| Value::String(format!("{{% {e} %}}"))),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z/~]{1,3}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn not_a_caught_panic(r: &Result<Value, JsonataError>) -> bool {
    !matches!(r, Err(JsonataError::Evaluation { code, .. }) if code.is_empty())
}

fn parse_not_a_caught_panic(r: &Result<Expression, JsonataError>) -> bool {
    !matches!(r, Err(JsonataError::Syntax { code, .. }) if code == "S0500")
}

fn code(e: &JsonataError) -> String {
    match e {
        JsonataError::Evaluation { code, .. } => code.clone(),
        other => format!("{other:?}")
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

fn scope_values(states: Value) -> (Value, Map<String, Value>) {
    let mut vars = Map::new();
    vars.insert("v".into(), states.clone());
    vars.insert("n".into(), json!(3));
    (
        json!({"input": states, "context": {"Execution": {"Name": "x"}}}),
        vars,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_strings_never_panic_the_parser(s in any::<String>()) {
        prop_assert!(parse_not_a_caught_panic(&Expression::parse(&s)));
        let _ = Template::is_expression(&s);
    }

    #[test]
    fn jsonata_like_expressions_never_panic(src in jsonata_like(), input in json_value()) {
        let parsed = Expression::parse(&src);
        prop_assert!(parse_not_a_caught_panic(&parsed));
        if let Ok(e) = parsed {
            let (states, vars) = scope_values(input);
            let r = e.evaluate(&Scope { states: (&states).into(), variables: &vars });
            prop_assert!(not_a_caught_panic(&r), "{src}: {r:?}");
        }
    }

    #[test]
    fn cut_bindings_give_what_whole_ones_give(src in jsonata_like(), input in json_value()) {
        // Not deterministic: nothing to compare.
        if src.contains("$random") || src.contains("$uuid") {
            return Ok(());
        }
        if let Ok(e) = Expression::parse(&src) {
            let (states, vars) = scope_values(input);
            let scope = Scope { states: (&states).into(), variables: &vars };
            let (cut, whole) = (e.evaluate(&scope), e.clone().uncut().evaluate(&scope));
            // The engine's form: `$states` as borrowed fields, cut one by one.
            let fields = [("input", &states["input"]), ("context", &states["context"])];
            let parts = Scope { states: States::Fields(&fields), variables: &vars };
            let from_parts = e.evaluate(&parts);
            for other in [&cut, &from_parts] {
                match (other, &whole) {
                    (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{}", src),
                    (Err(a), Err(b)) => prop_assert_eq!(code(a), code(b), "{}", src),
                    _ => prop_assert!(false, "{src}: {other:?}, whole {whole:?}"),
                }
            }
        }
    }

    #[test]
    fn arbitrary_templates_never_panic(t in json_value(), input in json_value()) {
        if let Ok(t) = Template::parse(&t) {
            let (states, vars) = scope_values(input);
            let r = t.evaluate(&Scope { states: (&states).into(), variables: &vars });
            prop_assert!(not_a_caught_panic(&r), "{r:?}");
        }
    }
}
