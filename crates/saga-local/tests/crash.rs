//! Durability of `saga-local serve`: the real binary is killed with SIGKILL
//! and started again on the same data directory. Every execution continues
//! from where it was: a parked approval still waits (and its timeout fires at
//! the original deadline); steps cut off mid-flight run again without doing
//! anything twice.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use saga_tests::local::{CATALOG, DEADLINE, ServeProcess, outbox_files, spawn_serve, statuses};
use serde_json::Value;

/// Start the binary on `data_dir` (port 0, the e2e catalog).
async fn serve(data_dir: &Path, extra: &[&str]) -> ServeProcess {
    let catalog = data_dir.with_extension("catalog.json");
    std::fs::write(&catalog, CATALOG).unwrap();
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("--quiet"),
        OsStr::new("--data-dir"),
        data_dir.as_os_str(),
        OsStr::new("--catalog"),
        catalog.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    spawn_serve(
        env!("CARGO_BIN_EXE_saga-local"),
        &args,
        &data_dir.join("outbox"),
    )
    .await
}

/// A small order paid with `token`.
async fn post_paid(serve: &ServeProcess, sku: &str, quantity: u32, token: &str) -> String {
    serve.post_order(&[(sku, quantity)], token, "10115").await
}

/// The approval id in the order's approval mail, once the mail is out and
/// the execution has saved its wait (killed earlier, the resumed execution
/// would send the mail again: the call to request-approval may have been cut
/// off).
async fn approval_id(serve: &ServeProcess, data_dir: &Path, order_id: &str) -> String {
    let id = serve.approval_id(order_id).await;
    await_parked(data_dir, order_id).await;
    id
}

/// Wait until the execution's saved snapshot waits on its task token with
/// the request-approval call done.
async fn await_parked(data_dir: &Path, order_id: &str) {
    let store = saga_sqlite::SqliteStore::open(&data_dir.join("saga.db")).unwrap();
    let start = Instant::now();
    loop {
        let row = store.execution(order_id).await.unwrap();
        let state: Option<Value> = row
            .as_ref()
            .and_then(|r| serde_json::from_str(&r.state).ok());
        let phase = state.as_ref().and_then(|s| s.pointer("/position/phase"));
        if phase.is_some_and(|p| p["kind"] == "parked" && p["invoked"] == true) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the wait of {order_id} was not saved after {DEADLINE:?}: {phase:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn history_at(order: &Value, status: &str) -> chrono::DateTime<chrono::Utc> {
    let at = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["status"] == status)
        .unwrap_or_else(|| panic!("no {status} in {order:#}"))["at"]
        .as_str()
        .unwrap()
        .to_owned();
    at.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_approval_survives_sigkill_and_completes_when_approved_after_the_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = serve(&data, &[]).await;
    let id = post_paid(&first, "SKU-4", 1, "tok_visa").await;
    first.await_status(&id, "AWAITING_APPROVAL").await;
    let approval = approval_id(&first, &data, &id).await;

    first.kill().await;
    let second = serve(&data, &[]).await;
    let resp = second.decide(&approval, "approve").await;
    let status = resp.status;

    assert_eq!(status, 200, "{}", resp.text());
    let order = second.await_status(&id, "COMPLETED").await;
    assert_eq!(
        statuses(&order),
        [
            "RECEIVED",
            "VALIDATED",
            "RESERVED",
            "AWAITING_APPROVAL",
            "APPROVED",
            "PAID",
            "COMPLETED"
        ],
        "nothing ran twice"
    );
    assert_eq!(
        outbox_files(&data.join("outbox"), "-approvals-").len(),
        1,
        "the approver was mailed once"
    );
    // Restarting on a catalog that still says 5 keeps the 4 left.
    second.kill().await;
    let third = serve(&data, &[]).await;
    let big = post_paid(&third, "SKU-4", 5, "tok_visa").await;
    let failed = third.await_status(&big, "FAILED").await;
    assert_eq!(failed["failure"]["error"], "OutOfStock", "{failed:#}");
    third.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_approval_timeout_fires_at_the_original_deadline_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let timeout = ["--approval-timeout-seconds", "3"];
    let first = serve(&data, &timeout).await;
    let id = post_paid(&first, "SKU-4", 1, "tok_visa").await;
    first.await_status(&id, "AWAITING_APPROVAL").await;
    await_parked(&data, &id).await;

    first.kill().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = serve(&data, &timeout).await;
    let order = second.await_status(&id, "REJECTED").await;

    assert_eq!(order["failure"]["error"], "ApprovalTimedOut");
    let waited = history_at(&order, "REJECTED") - history_at(&order, "AWAITING_APPROVAL");
    assert!(
        // The deadline counts from the state's entry, a little before the
        // handler's AWAITING_APPROVAL timestamp: 100 ms of slack below.
        waited >= chrono::TimeDelta::milliseconds(2_900)
            && waited < chrono::TimeDelta::milliseconds(4_200),
        "rejected {waited} after the approval was requested: the deadline moved with the restart"
    );
    second.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_cut_off_mid_flight_finish_exactly_once_after_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // No approvals here: the probes below buy the whole rest of the shelf.
    let args = ["--approval-threshold-cents", "1000000000"];
    let first = serve(&data, &args).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        // tok_flaky: the first charge fails, the retry comes after a random
        // backoff of up to 2 s, so some orders are surely between attempts.
        let token = if i % 2 == 0 { "tok_visa" } else { "tok_flaky" };
        ids.push(post_paid(&first, "SKU-1", 2, token).await);
    }

    // Killed while some of them are somewhere in the middle.
    first.kill().await;
    let running = saga_sqlite::SqliteStore::open(&data.join("saga.db"))
        .unwrap()
        .executions_with_status("RUNNING")
        .await
        .unwrap()
        .len();
    assert!(
        running > 0,
        "every order had finished before the kill: the test proves nothing"
    );
    let second = serve(&data, &args).await;

    for id in &ids {
        let order = second.await_status(id, "COMPLETED").await;
        let seen = statuses(&order);
        let mut unique = seen.clone();
        unique.dedup();
        assert_eq!(seen, unique, "a status was recorded twice: {order:#}");
    }
    // Every execution ended, each once, and nothing is left running.
    let store = saga_sqlite::SqliteStore::open(&data.join("saga.db")).unwrap();
    let start = Instant::now();
    loop {
        let running = store.executions_with_status("RUNNING").await.unwrap();
        if running.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{} execution(s) still RUNNING after {DEADLINE:?}",
            running.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut succeeded: Vec<String> = store
        .executions_with_status("SUCCEEDED")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    succeeded.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(succeeded, expected, "one SUCCEEDED execution per order");
    // 12 orders of 2: exactly 24 units left the shelf, whatever was cut off.
    let probe = post_paid(&second, "SKU-1", 77, "tok_visa").await;
    let probe = second.await_status(&probe, "FAILED").await;
    assert_eq!(probe["failure"]["error"], "OutOfStock");
    let fits = post_paid(&second, "SKU-1", 76, "tok_visa").await;
    second.await_status(&fits, "COMPLETED").await;
    second.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_cleanly_and_a_waiting_order_continues_at_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = serve(&data, &[]).await;
    let id = post_paid(&first, "SKU-4", 1, "tok_visa").await;
    first.await_status(&id, "AWAITING_APPROVAL").await;
    let approval = approval_id(&first, &data, &id).await;

    let status = first.terminate().await;

    assert!(status.success(), "exit status after SIGTERM: {status}");
    let second = serve(&data, &[]).await;
    let resp = second.decide(&approval, "approve").await;
    let code = resp.status;
    assert_eq!(code, 200, "{}", resp.text());
    second.await_status(&id, "COMPLETED").await;
    second.kill().await;
}

/// The approval the server answered 200 to is saved: killed right after the
/// answer, the restarted server continues from past the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_answered_200_survives_a_sigkill_right_after_the_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = serve(&data, &[]).await;
    let id = post_paid(&first, "SKU-4", 1, "tok_visa").await;
    first.await_status(&id, "AWAITING_APPROVAL").await;
    let approval = approval_id(&first, &data, &id).await;

    let resp = first.decide(&approval, "approve").await;
    let status = resp.status;
    assert_eq!(status, 200, "{}", resp.text());
    first.kill().await;

    let second = serve(&data, &[]).await;
    let order = second.await_status(&id, "COMPLETED").await;
    assert!(
        statuses(&order).contains(&"APPROVED".to_owned()),
        "{order:#}"
    );
    second.kill().await;
}

/// SIGTERM while the approval is being delivered: either the POST is answered
/// 200 and the decision is saved, or it is not reported delivered and the
/// next POST delivers it. Either way the order completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_cut_off_by_sigterm_is_never_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = serve(&data, &[]).await;
    let id = post_paid(&first, "SKU-4", 1, "tok_visa").await;
    first.await_status(&id, "AWAITING_APPROVAL").await;
    let approval = approval_id(&first, &data, &id).await;

    let target = format!("/approvals/{approval}");
    let post = first.try_request(
        "POST",
        &target,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "application/json"),
        ],
        b"decision=approve",
    );
    let term = async {
        tokio::time::sleep(Duration::from_millis(2)).await;
        first.send_sigterm().await;
    };
    let (answer, ()) = tokio::join!(post, term);
    let first_status = answer.map(|r| r.status).ok();
    let mut first = first;
    let exit = first.wait().await;
    assert!(exit.success(), "exit status after SIGTERM: {exit}");

    let second = serve(&data, &[]).await;
    let resp = second.decide(&approval, "approve").await;
    let again = resp.status;
    // 200: the first POST did not report it delivered and this one did;
    // 409: the first POST delivered it (and then it was saved), or it
    // recorded the decision and the restart's redelivery delivered it.
    assert!(
        again == 200 || again == 409,
        "first POST {first_status:?}, second {again}: {}",
        resp.text()
    );
    let order = second.await_status(&id, "COMPLETED").await;
    assert!(
        statuses(&order).contains(&"APPROVED".to_owned()),
        "{order:#}"
    );
    second.kill().await;
}

/// Two servers on one data directory would both resume its running
/// executions: the second refuses to start, naming the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_dir_refuses_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = serve(&data, &[]).await;

    let second = tokio::time::timeout(
        DEADLINE,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_saga-local"))
            .args([
                "serve",
                "--port",
                "0",
                "--sfn-port",
                "0",
                "--quiet",
                "--data-dir",
            ])
            .arg(&data)
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .expect("the second server did not stop")
    .unwrap();

    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "is in use by another saga-local (pid {})",
            first.pid()
        )),
        "{stderr}"
    );
    // The first one is untouched.
    let id = post_paid(&first, "SKU-1", 1, "tok_visa").await;
    first.await_status(&id, "COMPLETED").await;
    first.kill().await;
}

/// Record `decision` on the approval as the POST does first, without
/// delivering it (what a crash right after that write, or a `503` from the
/// workflow, leaves behind).
async fn record_undelivered(
    data_dir: &Path,
    approval: &str,
    decision: saga_core::approval::Decision,
) {
    use saga_core::ports::{ApprovalStore, DecideOutcome};
    let store = saga_sqlite::SqliteStore::open(&data_dir.join("saga.db")).unwrap();
    let id = saga_core::ApprovalId::parse(approval).unwrap();
    let now = saga_core::Timestamp::from(chrono::Utc::now());
    let outcome = store.decide(&id, decision, now).await.unwrap();
    assert!(matches!(outcome, DecideOutcome::Decided(_)), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_recorded_before_a_crash_is_delivered_at_the_restart_without_a_second_click() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = serve(&data, &[]).await;
    let id = post_paid(&first, "SKU-4", 1, "tok_visa").await;
    first.await_status(&id, "AWAITING_APPROVAL").await;
    let approval = approval_id(&first, &data, &id).await;
    first.kill().await;
    record_undelivered(&data, &approval, saga_core::approval::Decision::Approve).await;

    let second = serve(&data, &[]).await;
    let order = second.await_status(&id, "COMPLETED").await;

    assert!(
        statuses(&order).contains(&"APPROVED".to_owned()),
        "{order:#}"
    );
    let resp = second.decide(&approval, "approve").await;
    assert_eq!(resp.status, 409, "already delivered: {}", resp.text());
    second.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_recorded_but_not_delivered_is_redelivered_by_the_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let serve = serve(&data, &[]).await;
    let id = post_paid(&serve, "SKU-4", 1, "tok_visa").await;
    serve.await_status(&id, "AWAITING_APPROVAL").await;
    let approval = approval_id(&serve, &data, &id).await;

    record_undelivered(&data, &approval, saga_core::approval::Decision::Reject).await;
    // Within the settle time plus one interval (15 s + 5 s), no click.
    let start = Instant::now();
    let order = loop {
        let order = serve.order(&id).await;
        if order["status"] == "REJECTED" || start.elapsed() > Duration::from_secs(45) {
            break order;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    assert_eq!(order["status"], "REJECTED", "{order:#}");
    assert_eq!(order["failure"]["error"], "ApprovalRejected", "{order:#}");
    serve.kill().await;
}

/// The stored history of `order_id` (its events, one row each) checked to be
/// one chain: ids 1, 2, … without a gap, each `previousEventId` an earlier
/// event, the head's `nextEventId` the one after the last.
async fn stored_history(data_dir: &Path, order_id: &str) -> Vec<Value> {
    let store = saga_sqlite::SqliteStore::open(&data_dir.join("saga.db")).unwrap();
    let rows = store.all_events(order_id).await.unwrap();
    let events: Vec<Value> = rows
        .iter()
        .map(|r| serde_json::from_str(&r.doc).unwrap())
        .collect();
    for (i, (row, event)) in rows.iter().zip(&events).enumerate() {
        let id = i as u64 + 1;
        assert_eq!(row.id, id, "ids are contiguous");
        assert_eq!(event["id"], id, "{event}");
        let previous = event["previousEventId"].as_u64().unwrap();
        assert!(
            previous < id && (previous > 0 || id == 1),
            "previousEventId {previous} of event {id}"
        );
    }
    let head = store.execution(order_id).await.unwrap().unwrap();
    let head: Value = serde_json::from_str(&head.state).unwrap();
    assert_eq!(head["nextEventId"], events.len() as u64 + 1, "{head:#}");
    assert!(
        head.get("history")
            .is_none_or(|h| h == &Value::Array(vec![]))
    );
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_read_back_after_sigkill_is_the_events_written_before_and_after() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = serve(&data, &[]).await;
    let id = post_paid(&first, "SKU-4", 1, "tok_visa").await;
    first.await_status(&id, "AWAITING_APPROVAL").await;
    let approval = approval_id(&first, &data, &id).await;
    let before = stored_history(&data, &id).await;

    first.kill().await;
    let second = serve(&data, &[]).await;
    assert_eq!(second.decide(&approval, "approve").await.status, 200);
    second.await_status(&id, "COMPLETED").await;
    let store = saga_sqlite::SqliteStore::open(&data.join("saga.db")).unwrap();
    let start = Instant::now();
    while store.execution(&id).await.unwrap().unwrap().status == "RUNNING" {
        assert!(start.elapsed() < DEADLINE, "the execution did not end");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = stored_history(&data, &id).await;

    assert_eq!(
        after[..before.len()],
        before[..],
        "the events written before the kill come back unchanged"
    );
    let types: Vec<&str> = after.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"ExecutionStarted"));
    assert_eq!(types.last(), Some(&"ExecutionSucceeded"));
    let entered = |state: &str| {
        after
            .iter()
            .filter(|e| e.pointer("/stateEnteredEventDetails/name") == Some(&Value::from(state)))
            .count()
    };
    assert_eq!(
        entered("RequestApproval"),
        1,
        "the wait is not entered twice"
    );
    assert_eq!(entered("NotifyCustomer"), 1);
    // Paging (five at a time, both ways) reads the same events.
    let mut forward = Vec::new();
    let mut from = None;
    loop {
        let page = store.events(&id, from, 5, false).await.unwrap();
        forward.extend(page.iter().map(|r| r.id));
        if page.len() < 5 {
            break;
        }
        from = page.last().map(|r| r.id + 1);
    }
    assert_eq!(forward, (1..=after.len() as u64).collect::<Vec<_>>());
    let last_page = store.events(&id, None, 5, true).await.unwrap();
    let newest: Vec<u64> = last_page.iter().map(|r| r.id).collect();
    let n = after.len() as u64;
    assert_eq!(newest, [n, n - 1, n - 2, n - 3, n - 4]);
    second.kill().await;
}
