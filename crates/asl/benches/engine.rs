//! Transitions per second: a long Pass/Choice chain and a Map over 1,000
//! items. Run with `cargo bench -p asl`.

use std::hint::black_box;
use std::sync::Arc;

use asl::{
    Engine, ManualClock, StartExecution, StateMachine, TaskFailure, TaskHost, TaskOutput,
    TaskRequest, async_trait,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Map, Value, json};

#[derive(Debug)]
struct NoTasks;

#[async_trait]
impl TaskHost for NoTasks {
    async fn invoke(&self, _req: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        Err(TaskFailure::host_error("no tasks in this benchmark"))
    }
}

/// The query language a benchmark machine is written in.
#[derive(Clone, Copy)]
enum Ql {
    JsonPath,
    Jsonata,
}

/// `n` Pass states, each followed by a Choice: `2 n` transitions. The
/// JSONata chain does the same work with `Output` and `Condition`.
fn chain(n: usize, ql: Ql) -> StateMachine {
    let mut states = Map::new();
    for i in 0..n {
        let next_pass = if i + 1 == n {
            "Done".to_owned()
        } else {
            format!("P{}", i + 1)
        };
        let (pass, choice) = match ql {
            Ql::JsonPath => (
                json!({"Type": "Pass", "Result": i, "ResultPath": "$.step", "Next": format!("C{i}")}),
                json!({"Type": "Choice",
                       "Choices": [{"Variable": "$.step", "NumericGreaterThanEquals": 0, "Next": next_pass}],
                       "Default": "Done"}),
            ),
            Ql::Jsonata => (
                json!({"Type": "Pass", "Output": format!("{{% $merge([$states.input, {{'step': {i}}}]) %}}"), "Next": format!("C{i}")}),
                json!({"Type": "Choice",
                       "Choices": [{"Condition": "{% $states.input.step >= 0 %}", "Next": next_pass}],
                       "Default": "Done"}),
            ),
        };
        states.insert(format!("P{i}"), pass);
        states.insert(format!("C{i}"), choice);
    }
    states.insert("Done".into(), json!({"Type": "Succeed"}));
    let mut def = json!({"StartAt": "P0", "States": Value::Object(states)});
    if matches!(ql, Ql::Jsonata) {
        def["QueryLanguage"] = json!("JSONata");
    }
    StateMachine::from_value(&def).unwrap_or_else(|p| panic!("{p:?}"))
}

fn map_machine(ql: Ql) -> StateMachine {
    let def = match ql {
        Ql::JsonPath => {
            r#"{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
            "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value"},
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "OutputPath": "$.v", "End": true}}},
            "End": true}}}"#
        }
        Ql::Jsonata => {
            r#"{"QueryLanguage": "JSONata", "StartAt": "M", "States": {"M": {"Type": "Map", "Items": "{% $states.input.items %}",
            "ItemSelector": {"i": "{% $states.context.Map.Item.Index %}", "v": "{% $states.context.Map.Item.Value %}"},
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Output": "{% $states.input.v %}", "End": true}}},
            "End": true}}}"#
        }
    };
    StateMachine::parse(def).unwrap_or_else(|p| panic!("{p:?}"))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::default();
    let engine = Engine::new(Arc::new(NoTasks), Arc::new(clock.clone()));
    let run = |machine: &StateMachine, input: &Value| {
        let fut = engine
            .run(machine, StartExecution::new("bench", input.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        black_box(rt.block_on(clock.run(fut)).status)
    };

    let n = 500;
    let order = json!({"order": {"id": "o-1", "total": 1500}});
    let items: Vec<Value> = (0..1000)
        .map(|i| json!({"sku": format!("SKU-{i}"), "q": i}))
        .collect();
    let items = json!({ "items": items });
    let mut g = c.benchmark_group("transitions");
    for (ql, suffix) in [(Ql::JsonPath, ""), (Ql::Jsonata, "_jsonata")] {
        let machine = chain(n, ql);
        g.throughput(Throughput::Elements((2 * n) as u64));
        g.bench_function(format!("pass_choice_chain_1000{suffix}"), |b| {
            b.iter(|| run(&machine, &order));
        });
        let map = map_machine(ql);
        g.throughput(Throughput::Elements(1000));
        g.bench_function(format!("map_1000_items{suffix}"), |b| {
            b.iter(|| run(&map, &items));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
