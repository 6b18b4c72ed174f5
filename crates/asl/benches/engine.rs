//! Transitions per second: a long Pass/Choice chain and a Map over 1,000
//! items. Run with `cargo bench -p asl`; with `ASL_BENCH_CPU=1` criterion
//! measures the CPU time of the benchmark's thread instead of the wall
//! clock (on a machine shared with other work, the wall clock also counts
//! the time others held the core).

use std::hint::black_box;
use std::sync::Arc;

use asl::{
    Engine, ExecutionStatus, ManualClock, StartExecution, StateMachine, TaskFailure, TaskHost,
    TaskOutput, TaskRequest, async_trait,
};
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, Throughput};
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
    /// JSONata with a function call in each expression (`$number`), which
    /// takes it off the engine's native shapes: every evaluation is
    /// jlens-core's.
    JsonataCrate,
}

/// `n` Pass states, each followed by a Choice: `2 n` transitions. The
/// JSONata chains do the same work with `Output` and `Condition`.
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
            Ql::JsonataCrate => (
                json!({"Type": "Pass", "Output": format!("{{% $merge([$states.input, {{'step': $number('{i}')}}]) %}}"), "Next": format!("C{i}")}),
                json!({"Type": "Choice",
                       "Choices": [{"Condition": "{% $number($states.input.step) >= 0 %}", "Next": next_pass}],
                       "Default": "Done"}),
            ),
        };
        states.insert(format!("P{i}"), pass);
        states.insert(format!("C{i}"), choice);
    }
    states.insert("Done".into(), json!({"Type": "Succeed"}));
    let mut def = json!({"StartAt": "P0", "States": Value::Object(states)});
    if !matches!(ql, Ql::JsonPath) {
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
        Ql::Jsonata | Ql::JsonataCrate => {
            r#"{"QueryLanguage": "JSONata", "StartAt": "M", "States": {"M": {"Type": "Map", "Items": "{% $states.input.items %}",
            "ItemSelector": {"i": "{% $states.context.Map.Item.Index %}", "v": "{% $states.context.Map.Item.Value %}"},
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Output": "{% $states.input.v %}", "End": true}}},
            "End": true}}}"#
        }
    };
    StateMachine::parse(def).unwrap_or_else(|p| panic!("{p:?}"))
}

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::default();
    let engine = Engine::new(Arc::new(NoTasks), Arc::new(clock.clone()));
    let outcome = |machine: &StateMachine, input: &Value| {
        let fut = engine
            .run(machine, StartExecution::new("bench", input.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        rt.block_on(clock.run(fut))
    };
    let run = |machine: &StateMachine, input: &Value| black_box(outcome(machine, input).status);
    // Each language does the same work: the same output, checked once
    // before the timing.
    let same_output = |machine: &StateMachine, input: &Value, want: &mut Option<Value>| {
        let out = outcome(machine, input);
        assert_eq!(out.status, ExecutionStatus::Succeeded, "{:?}", out.cause);
        let got = out.output.unwrap_or_default();
        assert_eq!(want.get_or_insert_with(|| got.clone()), &got);
    };
    let (mut chain_out, mut map_out) = (None, None);

    let n = 500;
    let order = json!({"order": {"id": "o-1", "total": 1500}});
    let items: Vec<Value> = (0..1000)
        .map(|i| json!({"sku": format!("SKU-{i}"), "q": i}))
        .collect();
    let items = json!({ "items": items });
    let mut g = c.benchmark_group("transitions");
    for (ql, suffix) in [
        (Ql::JsonPath, ""),
        (Ql::Jsonata, "_jsonata"),
        (Ql::JsonataCrate, "_jsonata_crate"),
    ] {
        let machine = chain(n, ql);
        same_output(&machine, &order, &mut chain_out);
        g.throughput(Throughput::Elements((2 * n) as u64));
        g.bench_function(format!("pass_choice_chain_1000{suffix}"), |b| {
            b.iter(|| run(&machine, &order));
        });
        if matches!(ql, Ql::JsonataCrate) {
            continue;
        }
        let map = map_machine(ql);
        same_output(&map, &items, &mut map_out);
        g.throughput(Throughput::Elements(1000));
        g.bench_function(format!("map_1000_items{suffix}"), |b| {
            b.iter(|| run(&map, &items));
        });
    }
    g.finish();
}

fn main() {
    if std::env::var_os("ASL_BENCH_CPU").is_some() {
        let mut c = Criterion::default()
            .with_measurement(CpuTime)
            .configure_from_args();
        bench(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default().configure_from_args();
        bench(&mut c);
        c.final_summary();
    }
}

/// The CPU time of the calling thread (the benchmark runs on one: a
/// current-thread runtime), in nanoseconds, from the scheduler's own
/// account (Linux `/proc/thread-self/schedstat`, first field).
struct CpuTime;

fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .unwrap_or_else(|e| panic!("ASL_BENCH_CPU needs Linux's schedstat: {e}"));
    stat.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected schedstat: {stat}"))
}

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Nanoseconds as criterion writes wall time (`ns`, `µs`, `ms`, `s`).
struct CpuFormatter;

impl CpuFormatter {
    fn unit(typical_ns: f64) -> (f64, &'static str) {
        match typical_ns {
            t if t < 1e3 => (1.0, "ns"),
            t if t < 1e6 => (1e-3, "µs"),
            t if t < 1e9 => (1e-6, "ms"),
            _ => (1e-9, "s"),
        }
    }
}

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = Self::unit(typical);
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }
    fn scale_throughputs(&self, _typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let per = match t {
            Throughput::Elements(n) | Throughput::Bytes(n) | Throughput::BytesDecimal(n) => *n,
            _ => 1,
        } as f64;
        values.iter_mut().for_each(|v| *v = per * 1e9 / *v);
        "elem/s (CPU)"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}
