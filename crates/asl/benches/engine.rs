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

/// `n` Pass states, each followed by a Choice: `2 n` transitions.
fn chain(n: usize) -> StateMachine {
    let mut states = Map::new();
    for i in 0..n {
        let next_pass = if i + 1 == n {
            "Done".to_owned()
        } else {
            format!("P{}", i + 1)
        };
        states.insert(
            format!("P{i}"),
            json!({"Type": "Pass", "Result": i, "ResultPath": "$.step", "Next": format!("C{i}")}),
        );
        states.insert(
            format!("C{i}"),
            json!({"Type": "Choice",
                   "Choices": [{"Variable": "$.step", "NumericGreaterThanEquals": 0, "Next": next_pass}],
                   "Default": "Done"}),
        );
    }
    states.insert("Done".into(), json!({"Type": "Succeed"}));
    StateMachine::from_value(&json!({"StartAt": "P0", "States": Value::Object(states)}))
        .unwrap_or_else(|p| panic!("{p:?}"))
}

fn map_machine() -> StateMachine {
    StateMachine::parse(
        r#"{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
            "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value"},
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "OutputPath": "$.v", "End": true}}},
            "End": true}}}"#,
    )
    .unwrap_or_else(|p| panic!("{p:?}"))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::default();
    let engine = Engine::new(Arc::new(NoTasks), Arc::new(clock.clone()));

    let n = 500;
    let machine = chain(n);
    let mut g = c.benchmark_group("transitions");
    g.throughput(Throughput::Elements((2 * n) as u64));
    g.bench_function("pass_choice_chain_1000", |b| {
        b.iter(|| {
            let fut = engine
                .run(
                    &machine,
                    StartExecution::new("bench", json!({"order": {"id": "o-1", "total": 1500}})),
                )
                .unwrap_or_else(|e| panic!("{e}"));
            let out = rt.block_on(clock.run(fut));
            black_box(out.status)
        });
    });

    let map = map_machine();
    let items: Vec<Value> = (0..1000)
        .map(|i| json!({"sku": format!("SKU-{i}"), "q": i}))
        .collect();
    let input = json!({ "items": items });
    g.throughput(Throughput::Elements(1000));
    g.bench_function("map_1000_items", |b| {
        b.iter(|| {
            let fut = engine
                .run(&map, StartExecution::new("bench", input.clone()))
                .unwrap_or_else(|e| panic!("{e}"));
            let out = rt.block_on(clock.run(fut));
            black_box(out.status)
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
