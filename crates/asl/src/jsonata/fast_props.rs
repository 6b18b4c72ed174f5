//! The native evaluation of [`super::fast`] against jlens-core: for
//! generated expressions of the shapes it knows (and near misses) over
//! generated data, both give the same value or the same error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{Expression, Scope, States};

/// Field names the data and the paths share, so that paths find values
/// (with names like array indexes, which JavaScript objects order first).
const KEYS: &[&str] = &["a", "b", "step", "items", "10", "2"];

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(KEYS).prop_map(str::to_owned)
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..4).prop_map(Value::from),
        prop::sample::select(vec![
            json!(9_007_199_254_740_993_i64),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1.0),
            json!(-0.0),
            json!(2.5),
            json!(1e300),
            json!(-7.25e-5),
        ]),
        prop::sample::select(vec!["", "a", "b", "ab", "é", "\u{1F600}", "\u{FFFD}", "0"])
            .prop_map(|s| Value::String(s.to_owned())),
    ]
}

fn data() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn literal() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "'a'",
        "'b'",
        "''",
        "\"\u{1F600}\"",
        "'\u{FFFD}'",
        "0",
        "1",
        "2.5",
        "-1",
        "9007199254740993",
        "1e300",
        "true",
        "false",
        "null",
    ])
    .prop_map(str::to_owned)
}

fn path() -> impl Strategy<Value = String> {
    let root = prop::sample::select(vec![
        "$states.input",
        "$states.result",
        "$states.context",
        "$states",
        "$x",
        "$y",
        // Not bound: a variable, and a built-in function.
        "$unbound",
        "$sum",
    ]);
    (root, prop::collection::vec(key(), 0..3)).prop_map(|(r, ks)| {
        // A name that is not an identifier is written in backquotes.
        std::iter::once(r.to_owned())
            .chain(ks.into_iter().map(|k| format!("`{k}`")))
            .collect::<Vec<_>>()
            .join(".")
    })
}

fn operand() -> impl Strategy<Value = String> {
    prop_oneof![3 => path(), 2 => literal()]
}

fn comparison() -> impl Strategy<Value = String> {
    let op = prop::sample::select(vec!["=", "!=", "<", "<=", ">", ">="]);
    (operand(), op, operand()).prop_map(|(l, op, r)| format!("{l} {op} {r}"))
}

fn condition() -> impl Strategy<Value = String> {
    prop_oneof![comparison(), operand()].prop_recursive(3, 8, 2, |inner| {
        let op = prop::sample::select(vec!["and", "or"]);
        // With and without parentheses (`and` binds tighter than `or`).
        (inner.clone(), op, inner, any::<bool>()).prop_map(|(l, op, r, parens)| {
            if parens {
                format!("({l}) {op} ({r})")
            } else {
                format!("{l} {op} {r}")
            }
        })
    })
}

fn object() -> impl Strategy<Value = String> {
    prop::collection::vec((key(), prop_oneof![operand(), comparison()]), 0..3).prop_map(|pairs| {
        let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("'{k}': {v}")).collect();
        format!("{{{}}}", pairs.join(", "))
    })
}

fn expression() -> impl Strategy<Value = String> {
    let item = prop_oneof![path(), object(), literal()];
    let merge = prop::collection::vec(item, 0..3)
        .prop_map(|items| format!("$merge([{}])", items.join(", ")));
    // Near misses: what the shapes must not take.
    let near = (
        path(),
        prop::sample::select(vec!["[0]", "[]", "[a]", ".*", " & 'x'", " + 1"]),
    )
        .prop_map(|(p, tail)| format!("{p}{tail}"));
    prop_oneof![
        3 => path(),
        1 => literal(),
        3 => comparison(),
        6 => condition(),
        2 => object(),
        3 => merge,
        1 => near,
    ]
}

/// Both ways of evaluating `src` over `states` and `vars`, as the engine
/// binds `$states` (borrowed fields) and as a whole object.
fn both_ways(src: &str, states: &Value, vars: &Map<String, Value>) -> Result<(), TestCaseError> {
    let Ok(e) = Expression::parse(src) else {
        return Ok(());
    };
    let slow = e.clone().slow();
    let fields = [
        ("input", &states["input"]),
        ("result", &states["result"]),
        ("context", &states["context"]),
    ];
    for s in [States::Object(states), States::Fields(&fields)] {
        let scope = Scope {
            states: s,
            variables: vars,
        };
        let (native, crate_) = (e.evaluate(&scope), slow.evaluate(&scope));
        // As text too: the order of an object's keys is what a user sees
        // (the maps keep it, and compare equal in any order).
        let text = |r: &Result<Value, _>| r.as_ref().map(Value::to_string).ok();
        prop_assert_eq!(text(&native), text(&crate_), "{}", src);
        prop_assert_eq!(native, crate_, "{}", src);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_native_shapes_give_what_jlens_core_gives(
        src in expression(),
        input in data(),
        result in data(),
        x in data(),
        y in data(),
        shadow_merge in any::<bool>(),
    ) {
        let states = json!({"input": input, "result": result, "context": {"Execution": {"Name": "e"}}});
        let mut vars = Map::new();
        vars.insert("x".into(), x);
        vars.insert("y".into(), y);
        if shadow_merge {
            vars.insert("merge".into(), json!({"a": 1}));
        }
        both_ways(&src, &states, &vars)?;
    }
}

#[test]
fn the_common_shapes_are_native() {
    let states =
        json!({"input": {"step": 3, "order": {"id": "o-1", "total": 1500.0}, "items": [1]}});
    let mut vars = Map::new();
    vars.insert("customer".into(), json!({"name": "María"}));
    let scope = Scope {
        states: (&states).into(),
        variables: &vars,
    };
    let cases = [
        ("$states.input.step >= 0", json!(true)),
        (
            "$states.input.order.id = 'o-1' and $customer.name != ''",
            json!(true),
        ),
        ("$states.input.missing > 1 or false", json!(false)),
        (
            "$merge([$states.input.order, {'step': 1, 'who': $customer.name}])",
            json!({"id": "o-1", "total": 1500, "step": 1, "who": "María"}),
        ),
        ("$states.input.items", json!([1])),
        ("$customer", json!({"name": "María"})),
        ("'literal'", json!("literal")),
    ];
    for (src, want) in cases {
        let e = Expression::parse(src).unwrap();
        assert!(e.is_fast(), "{src}");
        // Answered natively, and what the crate answers.
        assert_eq!(e.fast_answer(&scope), Some(Some(want.clone())), "{src}");
        assert_eq!(e.clone().slow().evaluate(&scope).ok(), Some(want), "{src}");
    }
    // The integral float comes out as an integer, as the crate writes it.
    let total = Expression::parse("$states.input.order.total")
        .unwrap()
        .evaluate(&scope)
        .unwrap();
    assert!(total.is_i64(), "{total:?}");
    // Undefined is the same error either way.
    let e = Expression::parse("$states.input.nothing").unwrap();
    assert_eq!(e.evaluate(&scope), e.clone().slow().evaluate(&scope));
    assert!(e.evaluate(&scope).is_err());
}

#[test]
fn other_shapes_are_left_to_the_crate() {
    for src in [
        "$states.input.items[0]",
        "$states.input.a & 'x'",
        "{'a': 1, 'a': 2}",
        "$merge($states.input)",
        "$sum([1, 2])",
        "$states.input.a ? 1 : 2",
    ] {
        assert!(!Expression::parse(src).unwrap().is_fast(), "{src}");
    }
    // A shape that meets what it cannot decide defers: an array mid-path.
    let states = json!({"input": {"a": [{"b": 1}, {"b": 2}]}});
    let vars = Map::new();
    let scope = Scope {
        states: (&states).into(),
        variables: &vars,
    };
    let e = Expression::parse("$states.input.a.b").unwrap();
    assert!(e.is_fast());
    assert_eq!(e.fast_answer(&scope), None);
    assert_eq!(e.evaluate(&scope), Ok(json!([1, 2])));
}
