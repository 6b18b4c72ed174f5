//! Speed: a few expressions of the kind a state machine holds, parsed once
//! (where the crate allows it) and evaluated many times with `$states` bound;
//! the median of several rounds.

use crate::candidates::{self, Outcome};
use serde_json::{Map, Value, json};
use std::time::Instant;

pub const EXPRESSIONS: &[(&str, &str)] = &[
    ("field", "$states.input.order.id"),
    ("object", r#"{"orderId": $states.input.order.id, "total": $sum($states.input.items.(price * qty)), "count": $count($states.input.items)}"#),
    ("filter", "$states.input.items[price > 50].sku"),
    ("string", r#"$states.input.order.id & "-" & $uppercase($states.input.order.currency) & "-" & $string($states.input.order.amount)"#),
    ("lambda", "$map($states.input.items, function($i) { $i.qty * 2 })"),
    ("condition", r#"$states.input.order.amount > 100 and $states.input.order.currency = "eur""#),
];

pub fn states() -> Map<String, Value> {
    let items: Vec<Value> = (0..20).map(|i| json!({"sku": format!("SKU-{i}"), "price": 10 + i * 5, "qty": 1 + i % 3})).collect();
    let states = json!({
        "input": {"order": {"id": "ord-123", "amount": 149.5, "currency": "eur", "customer": {"id": "c-9", "email": "a@example.com"}}, "items": items},
        "context": {"Execution": {"Id": "arn:x", "Name": "exec"}, "State": {"Name": "Reserve", "EnteredTime": "2026-01-01T00:00:00Z"}}
    });
    let mut m = Map::new();
    m.insert("states".into(), states);
    m
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median µs per call of `f` over 7 rounds of ~50 ms.
fn time(mut f: impl FnMut() -> Outcome) -> f64 {
    let t = Instant::now();
    let mut iters = 0u32;
    while t.elapsed().as_millis() < 20 {
        std::hint::black_box(f());
        iters += 1;
    }
    let iters = (iters * 5 / 2).max(1);
    let rounds: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                std::hint::black_box(f());
            }
            t.elapsed().as_secs_f64() * 1e6 / f64::from(iters)
        })
        .collect();
    median(rounds)
}

pub fn run(cands: &[String]) {
    let bindings = states();
    println!("A. $states converted per evaluation (median µs per evaluation, 7 rounds)");
    table(cands, |cand, expr| {
        let mut f = candidates::prepare(cand, expr);
        let b = bindings.clone();
        Some(time(move || f(&b)))
    });
    println!("\nB. $states converted once, reused (median µs per evaluation, 7 rounds)");
    table(cands, |cand, expr| candidates::prepare_bound(cand, expr, &bindings).map(time));
    for (name, expr) in EXPRESSIONS {
        let outs: Vec<String> = cands.iter().map(|c| format!("{:?}", candidates::prepare(c, expr)(&bindings))).collect();
        println!("# {name}: {}", outs.join(" | ").chars().take(400).collect::<String>());
    }
}

fn table(cands: &[String], mut measure: impl FnMut(&str, &str) -> Option<f64>) {
    println!("expression\t{}", cands.join("\t"));
    let mut sums = vec![0.0; cands.len()];
    for (name, expr) in EXPRESSIONS {
        let mut cells = Vec::new();
        for (k, cand) in cands.iter().enumerate() {
            match measure(cand, expr) {
                Some(m) => {
                    sums[k] += m;
                    cells.push(format!("{m:.2}"));
                }
                None => cells.push("n/a".into()),
            }
        }
        println!("{name}\t{}", cells.join("\t"));
    }
    let cells: Vec<String> = sums.iter().map(|s| format!("{s:.2}")).collect();
    println!("sum\t{}", cells.join("\t"));
}
