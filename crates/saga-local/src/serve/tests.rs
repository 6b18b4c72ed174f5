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

/// The execution's saved state (its head, with its stored events as
/// `history`) once its row is no longer `RUNNING`.
async fn ended_execution(server: &RunningServer, id: &str) -> (String, Value) {
    let start = Instant::now();
    loop {
        let row = server.store().execution(id).await.unwrap();
        if let Some(row) = row.filter(|r| r.status != "RUNNING") {
            let mut state: Value = serde_json::from_str(&row.state).unwrap();
            let events = server.store().all_events(id).await.unwrap();
            state["history"] = events
                .iter()
                .map(|e| serde_json::from_str::<Value>(&e.doc).unwrap())
                .collect::<Vec<_>>()
                .into();
            return (row.status, state);
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

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_with_loose_modes_is_made_private_at_start_and_the_banner_says_so() {
    use std::os::unix::fs::PermissionsExt;
    let set = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let outbox = data.join("outbox");
    // A data directory as an earlier saga-local left it: umask 022 modes.
    serve_with(&dir, crate::steps::STEPS)
        .await
        .shutdown()
        .await
        .unwrap();
    let mail = outbox.join("20261121T183000.123Z-approvals-01KD0000000000000000000000-1.txt");
    let foreign = outbox.join("notes.md");
    std::fs::write(&mail, "Approve: http://h/approvals/a1?decision=approve").unwrap();
    std::fs::write(&foreign, "not the outbox's").unwrap();
    // An empty write-ahead log, as a killed server can leave one.
    let wal = data.join("saga.db-wal");
    std::fs::write(&wal, "").unwrap();
    for (path, loose) in [
        (&data, 0o755),
        (&outbox, 0o755),
        (&data.join("saga.db"), 0o644),
        (&data.join("lock"), 0o644),
        (&wal, 0o644),
        (&mail, 0o644),
        (&foreign, 0o644),
    ] {
        set(path, loose);
    }
    let buffer = super::ConsoleBuffer::default();
    let catalog = dir.path().join("catalog.json");
    let mut config = ServeConfig::new(&data);
    config.port = 0;
    config.catalog = Some(catalog);
    config.console = ConsoleMode::Memory(buffer.clone());

    let server = Server::start(config).await.unwrap();

    assert_eq!((mode(&data), mode(&outbox)), (0o700, 0o700));
    for file in [data.join("saga.db"), data.join("lock"), wal, mail] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    assert_eq!(
        mode(&foreign),
        0o644,
        "a file the outbox did not write is left alone"
    );
    let lines = buffer.lines().join("\n");
    assert!(
        lines.contains("  private   6 path(s) had looser modes and are now private to you"),
        "{lines}"
    );
    server.shutdown().await.unwrap();
}

/// The steps' writes are deferred (committed with the next write shown
/// outside): a message must not leave before them. An approval mail,
/// caught the moment it appears, leads to an approval that a reader of the
/// committed database (another process, the next start) finds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_mail_leaves_only_once_what_the_steps_wrote_before_it_is_committed() {
    use saga_core::ports::OrderStore;
    use saga_core::{OrderId, OrderStatus};
    use saga_tests::local::outbox_files;

    let dir = tempfile::tempdir().unwrap();
    let server = serve_with(&dir, crate::steps::STEPS).await;
    let api = Api::new(server.url(), server.outbox());
    for _ in 0..5 {
        let id = api.post_order(&[("SKU-4", 1)], "tok_visa", "10115").await;
        let start = Instant::now();
        while outbox_files(server.outbox(), &format!("-approvals-{id}-")).is_empty() {
            assert!(start.elapsed() < DEADLINE, "no approval mail for {id}");
            std::thread::sleep(Duration::from_micros(100));
        }
        let committed = OrderStore::get(server.store(), &OrderId::parse(&id).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            committed.status(),
            OrderStatus::AwaitingApproval,
            "committed when its mail appeared"
        );
        assert!(committed.approval().is_some(), "{committed:?}");
    }
    server.shutdown().await.unwrap();
}
