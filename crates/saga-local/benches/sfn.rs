//! StartExecution → SUCCEEDED through the Step Functions API of `saga-local
//! serve`, for a 10-state Pass/Choice machine, at concurrency 1 and 16.
//!
//! The server runs in this process (`Server::start`, the API on a free
//! port); each client sends `StartExecution`, then `DescribeExecution`
//! every `--poll-ms` (1) until `SUCCEEDED`. Reported: executions per second
//! and the client's latency (StartExecution sent → the first Describe that
//! sees `SUCCEEDED`), p50 and p99.
//!
//! `cargo bench -p saga-local --bench sfn -- [--executions N (1000)] [--poll-ms 1]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a benchmark binary: panics and prints are its interface

use std::sync::Arc;
use std::time::{Duration, Instant};

use saga_local::serve::console::ConsoleMode;
use saga_local::serve::{ServeConfig, Server};
use saga_tests::local::Api;
use serde_json::{Value, json};

/// Pass → Choice → Pass …: ten states, five of each, then a Succeed.
fn machine() -> Value {
    let mut states = serde_json::Map::new();
    for i in 0..5 {
        let next_choice = format!("C{i}");
        states.insert(format!("P{i}"), json!({"Type": "Pass", "Result": i, "ResultPath": format!("$.p{i}"), "Next": next_choice}));
        let next = if i == 4 {
            "End".to_owned()
        } else {
            format!("P{}", i + 1)
        };
        let choice = if i == 4 {
            json!({"Type": "Choice", "Choices": [{"Variable": "$.go", "BooleanEquals": true, "Next": "Done"}], "Default": "Done"})
        } else {
            json!({"Type": "Choice", "Choices": [{"Variable": "$.go", "BooleanEquals": true, "Next": next}], "Default": next})
        };
        states.insert(format!("C{i}"), choice);
    }
    states.insert("Done".into(), json!({"Type": "Succeed"}));
    json!({"StartAt": "P0", "States": states})
}

async fn call(api: &Api, action: &str, body: &Value) -> Value {
    let target = format!("AWSStepFunctions.{action}");
    let resp = api
        .try_request(
            "POST",
            "/",
            &[
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amz-target", &target),
            ],
            body.to_string().as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{action}: {}", resp.text());
    resp.json()
}

async fn one(api: &Api, machine: &str, name: String, poll: Duration) -> Duration {
    let start = Instant::now();
    let arn = call(
        api,
        "StartExecution",
        &json!({"stateMachineArn": machine, "name": name, "input": "{\"go\": true}"}),
    )
    .await["executionArn"]
        .as_str()
        .unwrap()
        .to_owned();
    loop {
        let d = call(api, "DescribeExecution", &json!({"executionArn": arn})).await;
        match d["status"].as_str() {
            Some("SUCCEEDED") => return start.elapsed(),
            Some("RUNNING") => tokio::time::sleep(poll).await,
            other => panic!("{arn} ended {other:?}: {d}"),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect(name))
    };
    let executions = usize::try_from(arg("--executions", 1000)).unwrap();
    let poll = Duration::from_millis(arg("--poll-ms", 1));
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(dir.path());
    config.port = 0;
    config.console = ConsoleMode::Quiet;
    config.sfn = Some(saga_local::sfn::serve::SfnConfig::default());
    let server = Server::start(config).await.unwrap();
    let api = Arc::new(Api::new(server.sfn_url().unwrap(), dir.path()));
    let created = call(&api, "CreateStateMachine", &json!({"name": "bench", "definition": machine().to_string(), "roleArn": "arn:aws:iam::000000000000:role/bench"})).await;
    let machine = created["stateMachineArn"].as_str().unwrap().to_owned();

    for concurrency in [1usize, 16] {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..concurrency {
            let (api, machine) = (api.clone(), machine.clone());
            let share = executions / concurrency;
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(share);
                for i in 0..share {
                    lat.push(one(&api, &machine, format!("c{concurrency}-{c}-{i}"), poll).await);
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed();
        all.sort();
        #[allow(clippy::cast_precision_loss)]
        let rate = all.len() as f64 / elapsed.as_secs_f64();
        println!(
            "sfn api, 10-state Pass/Choice, StartExecution -> SUCCEEDED, concurrency {concurrency:>2}: {} executions, {rate:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
            all.len(),
            percentile(&all, 0.50).as_secs_f64() * 1000.0,
            percentile(&all, 0.99).as_secs_f64() * 1000.0,
        );
    }
    server.shutdown().await.unwrap();
}
