//! Property tests: the parsers never panic, whatever the input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use asl::{Expr, Intrinsic, Path, ReferencePath, StateMachine};
use proptest::prelude::*;
use serde_json::{Value, json};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z$.*@?() \\[\\]'\"{}\\\\,:0-9-]{0,24}".prop_map(Value::String),
        prop_oneof![
            Just("Pass"),
            Just("Task"),
            Just("Choice"),
            Just("Wait"),
            Just("Succeed"),
            Just("Fail"),
            Just("Parallel"),
            Just("Map"),
            Just("A"),
            Just("B"),
            Just("$.a"),
            Just("$$.Task.Token"),
            Just("States.ALL"),
            Just("arn:aws:states:::lambda:invoke")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        let keys = prop_oneof![
            Just("StartAt"),
            Just("States"),
            Just("Type"),
            Just("Next"),
            Just("End"),
            Just("Choices"),
            Just("Variable"),
            Just("StringEquals"),
            Just("Branches"),
            Just("ItemProcessor"),
            Just("Parameters"),
            Just("x.$"),
            Just("Retry"),
            Just("Catch"),
            Just("ErrorEquals"),
            Just("Resource"),
            Just("Seconds"),
            Just("A"),
            Just("B"),
            Just("ResultPath"),
            Just("Default"),
            Just("And"),
            Just("Not")
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..5).prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn path_parser_never_panics(s in "\\PC{0,40}") {
        let _ = Path::parse(&s);
        let _ = ReferencePath::parse(&s);
    }

    #[test]
    fn path_like_input_never_panics(s in "\\$[a-z.\\[\\]*?@()'\"0-9:,<>=!&| -]{0,30}") {
        if let Ok(p) = Path::parse(&s) {
            let _ = p.select(&json!({"a": [1, {"b": 2}], "c": {"d": [true]}}));
        }
        let _ = ReferencePath::parse(&s);
    }

    #[test]
    fn intrinsic_parser_never_panics(s in "States\\.[A-Za-z]{0,14}\\([$.a-z0-9, '\\\\{}()S-]{0,40}\\)?") {
        let _ = Intrinsic::parse(&s);
        let _ = Expr::parse(&s);
    }

    #[test]
    fn arbitrary_text_as_intrinsic_never_panics(s in "\\PC{0,60}") {
        let _ = Intrinsic::parse(&s);
    }

    #[test]
    fn definition_parser_never_panics(v in json_value()) {
        let _ = StateMachine::from_value(&v);
        let _ = StateMachine::parse(&v.to_string());
    }

    #[test]
    fn shaped_definitions_never_panic(
        ty in prop_oneof![Just("Pass"), Just("Task"), Just("Choice"), Just("Wait"), Just("Map"), Just("Parallel"), Just("Fail")],
        body in json_value(),
    ) {
        let mut state = match body { Value::Object(m) => m, _ => serde_json::Map::new() };
        state.insert("Type".into(), json!(ty));
        let def = json!({"StartAt": "A", "States": {"A": Value::Object(state), "B": {"Type": "Succeed"}}});
        let _ = StateMachine::from_value(&def);
    }

    #[test]
    fn definition_text_never_panics(s in "\\PC{0,200}") {
        let _ = StateMachine::parse(&s);
    }
}
