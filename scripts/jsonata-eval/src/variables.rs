//! Paths through a bound variable: the ASL engine reads everything through
//! `$states` and `$name`, where the jsonata-js suite mostly reads its input.
//! Each expression runs twice, once on the document as input (`input.a`) and
//! once on the document bound as `$states` (`$states.input.a`); the two must
//! agree. The input form is the reference here: every candidate that gets
//! this far passes the suite's input-path cases.

use crate::candidates::{self, Outcome};
use crate::cases::{Case, Expect};
use serde_json::{Map, Value, json};

const EXPRESSIONS: &[&str] = &[
    "input.a",
    "input.missing",
    "input.nul",
    "input.empty",
    "input.one",
    "input.nested.deep.value",
    "input.items",
    "input.items.price",
    "input.items[0]",
    "input.items[price > 1].name",
    "input.items.tags",
    "input.arrs",
    "input.obj.*",
    "input.**.price",
    "$exists(input.nul)",
    "$exists(input.missing)",
    "$exists(input.empty)",
    "$type(input.nul)",
    "$count(input.empty)",
    "$count(input.items)",
    "$count(input.nul)",
    "$string(input.n)",
    "input.n",
    "input.big",
    "{\"x\": input.missing, \"y\": input.nul, \"z\": input.empty}",
    "[input.missing, input.nul, input.empty]",
    "input.items.{\"n\": name}",
    "input.empty[0]",
    "$sum(input.items.price)",
    "$keys(input.obj)",
];

fn document() -> Value {
    json!({"input": {
        "a": "x", "nul": null, "empty": [], "one": [7], "n": 3, "big": 12345678901i64,
        "nested": {"deep": {"value": 1.5}},
        "items": [{"name": "p", "price": 1, "tags": ["t1", "t2"]}, {"name": "q", "price": 2.5, "tags": []}],
        "arrs": [[1, 2], [3]],
        "obj": {"k1": 1, "k2": [2, 3]}
    }})
}

fn case(expr: String, input: Option<Value>, bindings: Map<String, Value>) -> Case {
    Case { group: "variables".into(), name: String::new(), expr, input, bindings, expect: Expect::Undefined, limits: None }
}

fn show(o: &Outcome) -> String {
    match o {
        Outcome::Value(Some(v)) => v.to_string(),
        Outcome::Value(None) => "undefined".into(),
        Outcome::Error(c, m) => format!("error {c:?} {m}"),
    }
}

pub fn run(cands: &[String]) {
    let doc = document();
    let mut bound = Map::new();
    bound.insert("states".into(), doc.clone());
    for cand in cands {
        let mut differ = 0;
        for e in EXPRESSIONS {
            let via_input = candidates::run(cand, &case(e.to_string(), Some(doc.clone()), Map::new()));
            let via_var = candidates::run(cand, &case(e.replace("input.", "$states.input."), None, bound.clone()));
            let (a, b) = (show(&via_input), show(&via_var));
            let same = match (&via_input, &via_var) {
                (Outcome::Value(Some(x)), Outcome::Value(Some(y))) => crate::cases::json_eq(x, y),
                _ => a == b,
            };
            if !same {
                differ += 1;
                println!("{cand}\t{e}\tinput: {a}\tvariable: {b}");
            }
        }
        println!("{cand}: {differ} of {} expressions differ between input and variable paths", EXPRESSIONS.len());
    }
}
