//! `GET /orders/{id}?wait=<seconds>` on the real binary: one request answers
//! once the order has settled, or when the time is up; a bad `wait` is a 400.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use saga_tests::local::{CATALOG, ServeProcess, spawn_serve};
use serde_json::Value;

async fn serve(dir: &Path) -> ServeProcess {
    let catalog = dir.join("catalog.json");
    std::fs::write(&catalog, CATALOG).unwrap();
    let data = dir.join("data");
    spawn_serve(
        env!("CARGO_BIN_EXE_saga-local"),
        &[
            OsStr::new("--quiet"),
            OsStr::new("--data-dir"),
            data.as_os_str(),
            OsStr::new("--catalog"),
            catalog.as_os_str(),
        ],
        &data.join("outbox"),
    )
    .await
}

async fn get(serve: &ServeProcess, target: &str) -> (u16, Value) {
    let resp = serve.api.request("GET", target, &[], b"").await;
    (resp.status, resp.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_get_with_wait_answers_once_the_order_has_settled() {
    let dir = tempfile::tempdir().unwrap();
    let serve = serve(dir.path()).await;

    let small = serve.post_order(&[("SKU-1", 1)], "tok_visa", "10115").await;
    let (status, order) = get(&serve, &format!("/orders/{small}?wait=20")).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "COMPLETED", "{order:#}");

    // A big order stops moving by itself when it waits for a person.
    let big = serve.post_order(&[("SKU-4", 1)], "tok_visa", "10115").await;
    let (status, order) = get(&serve, &format!("/orders/{big}?wait=20")).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "AWAITING_APPROVAL", "{order:#}");

    // Settled already: answered right away, as without `wait`.
    let start = Instant::now();
    let (_, order) = get(&serve, &format!("/orders/{big}?wait=20")).await;
    assert_eq!(order["status"], "AWAITING_APPROVAL");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    serve.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_wait_is_a_400_and_an_unknown_order_a_404() {
    let dir = tempfile::tempdir().unwrap();
    let serve = serve(dir.path()).await;
    let id = "01KD0000000000000000000000";

    for bad in ["21", "-1", "soon"] {
        let (status, body) = get(&serve, &format!("/orders/{id}?wait={bad}")).await;
        assert_eq!(status, 400, "wait={bad}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("from 0 to 20"),
            "{body}"
        );
    }
    let (status, body) = get(&serve, &format!("/orders/{id}?wait=1")).await;
    assert_eq!(status, 404, "{body}");
    serve.kill().await;
}
