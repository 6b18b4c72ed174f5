//! `serve` with faulty steps: what a bug in a handler does to an order.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::time::{Duration, Instant};

use saga_core::order::Sku;
use saga_tests::local::{Api, CATALOG, DEADLINE};
use serde_json::Value;

use super::console::ConsoleMode;
use super::{RunningServer, ServeConfig, Server};
use crate::steps::{Step, faulty, panic_error_type};

async fn serve_with(dir: &tempfile::TempDir, steps: &[Step]) -> RunningServer {
    let catalog = dir.path().join("catalog.json");
    std::fs::write(&catalog, CATALOG).unwrap();
    let mut config = ServeConfig::new(dir.path().join("data"));
    config.port = 0;
    config.catalog = Some(catalog);
    config.console = ConsoleMode::Quiet;
    Server::start_with(config, steps)
        .await
        .unwrap_or_else(|e| panic!("{}", e.chain()))
}

/// The execution's saved state once its row is no longer `RUNNING`.
async fn ended_execution(server: &RunningServer, id: &str) -> (String, Value) {
    let start = Instant::now();
    loop {
        let row = server.store().execution(id).await.unwrap();
        if let Some(row) = row.filter(|r| r.status != "RUNNING") {
            return (row.status, serde_json::from_str(&row.state).unwrap());
        }
        assert!(
            start.elapsed() < DEADLINE,
            "execution {id} still RUNNING after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stock(server: &RunningServer, sku: &str) -> i64 {
    server
        .store()
        .stock(&Sku::parse(sku).unwrap())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_step_fails_its_task_the_order_is_compensated_and_the_next_one_completes() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_with(&dir, &faulty::pay_panics_once()).await;
    let api = Api::new(server.url(), server.outbox());
    let before = stock(&server, "SKU-1").await;

    let first = api.post_order(&[("SKU-1", 2)], "tok_visa", "10115").await;
    let failed = api.await_end(&first).await;
    let (status, state) = ended_execution(&server, &first).await;

    // The Catch of ProcessPayment ran Compensate: the stock is back.
    assert_eq!(failed["status"], "FAILED", "{failed:#}");
    assert_eq!(failed["failure"]["error"], "InternalError", "{failed:#}");
    assert_eq!(stock(&server, "SKU-1").await, before);
    assert_eq!(status, "FAILED");
    let task_errors: Vec<&str> = state["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.pointer("/taskFailedEventDetails/error")?.as_str())
        .collect();
    assert_eq!(task_errors, [panic_error_type()], "{state:#}");

    // The server and its engine go on.
    let second = api.post_order(&[("SKU-1", 1)], "tok_visa", "10115").await;
    let completed = api.await_end(&second).await;
    assert_eq!(completed["status"], "COMPLETED", "{completed:#}");
    server.shutdown().await.unwrap();
}
