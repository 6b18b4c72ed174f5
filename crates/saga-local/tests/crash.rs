//! Durability of `saga-local serve`: the real binary is killed with SIGKILL
//! and started again on the same data directory. Every execution continues
//! from where it was: a parked approval still waits (and its timeout fires at
//! the original deadline); steps cut off mid-flight run again without doing
//! anything twice.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const DEADLINE: Duration = Duration::from_secs(20);

const CATALOG: &str = r#"[
  {"sku": "SKU-1", "name": "Espresso beans 1 kg", "priceCents": 1999, "currency": "EUR", "stock": 100},
  {"sku": "SKU-4", "name": "Dual-boiler espresso machine", "priceCents": 149000, "currency": "EUR", "stock": 5}
]"#;

/// A `saga-local serve` process.
struct Serve {
    child: Child,
    url: String,
    client: Client<HttpConnector, Full<Bytes>>,
    _stdout: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    /// Start the binary on `data_dir` (port 0) and read its URL from stdout.
    async fn start(data_dir: &Path, extra: &[&str]) -> Serve {
        let catalog = data_dir.with_extension("catalog.json");
        std::fs::write(&catalog, CATALOG).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_saga-local"))
            .arg("serve")
            .args(["--port", "0", "--quiet", "--data-dir"])
            .arg(data_dir)
            .arg("--catalog")
            .arg(&catalog)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start saga-local serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(DEADLINE, lines.next_line())
            .await
            .expect("saga-local printed no URL in time")
            .unwrap()
            .expect("saga-local closed stdout without a URL");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .to_owned();
        // Keep draining stdout so the server never blocks on a full pipe.
        let stdout = Arc::new(Mutex::new(vec![first]));
        let sink = stdout.clone();
        tokio::spawn(async move {
            while let Ok(Some(l)) = lines.next_line().await {
                sink.lock().unwrap().push(l);
            }
        });
        Serve {
            child,
            url,
            client: Client::builder(TokioExecutor::new()).build_http(),
            _stdout: stdout,
        }
    }

    /// SIGTERM, as `kill` or a service manager sends it; the exit status.
    async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running").to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success());
        tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("saga-local did not stop after SIGTERM")
            .unwrap()
    }

    /// Wait for the exit after a SIGTERM sent elsewhere.
    async fn terminate_sent(mut self) -> std::process::ExitStatus {
        tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("saga-local did not stop after SIGTERM")
            .unwrap()
    }

    /// SIGKILL: no shutdown, no last write.
    async fn kill(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }

    async fn request(
        &self,
        method: &str,
        target: &str,
        content_type: &str,
        body: &str,
    ) -> (u16, Value) {
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{target}", self.url))
            .header("content-type", content_type)
            .header("accept", "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let resp = self.client.request(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    async fn post_order(&self, sku: &str, quantity: u32) -> String {
        self.post_paid(sku, quantity, "tok_visa").await
    }

    async fn post_paid(&self, sku: &str, quantity: u32, token: &str) -> String {
        let body = json!({
            "customerId": "c-1", "email": "ada@example.com",
            "items": [{"sku": sku, "quantity": quantity}],
            "payment": {"token": token},
            "shippingAddress": {"name": "Ada", "line1": "1 Main St", "city": "Berlin", "postalCode": "10115", "country": "DE"}
        });
        let (status, resp) = self
            .request("POST", "/orders", "application/json", &body.to_string())
            .await;
        assert_eq!(status, 202, "{resp}");
        resp["orderId"].as_str().unwrap().to_owned()
    }

    async fn order(&self, id: &str) -> Value {
        let (status, order) = self
            .request("GET", &format!("/orders/{id}"), "application/json", "")
            .await;
        assert_eq!(status, 200, "{order}");
        order
    }

    async fn await_status(&self, id: &str, status: &str) -> Value {
        let start = Instant::now();
        loop {
            let order = self.order(id).await;
            if order["status"] == status {
                return order;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "order {id} is {} after {DEADLINE:?}, not {status}: {order:#}",
                order["status"]
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Files in the outbox whose name contains `part`.
fn outbox_files(data_dir: &Path, part: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir.join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(part))
        .collect();
    names.sort();
    names
}

/// The approval id in the order's approval mail, once the mail is out and
/// the execution has saved its wait (killed earlier, the resumed execution
/// would send the mail again: the call to request-approval may have been cut
/// off).
async fn approval_id(data_dir: &Path, order_id: &str) -> String {
    let start = Instant::now();
    let mails = loop {
        let mails = outbox_files(data_dir, &format!("-approvals-{order_id}-"));
        if !mails.is_empty() {
            break mails;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no approval mail for {order_id} after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    await_parked(data_dir, order_id).await;
    let mail = std::fs::read_to_string(data_dir.join("outbox").join(&mails[0])).unwrap();
    let link = mail
        .split_whitespace()
        .find(|w| w.ends_with("?decision=approve"))
        .unwrap();
    let start = link.find("/approvals/").unwrap() + "/approvals/".len();
    link[start..]
        .trim_end_matches("?decision=approve")
        .to_owned()
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

fn statuses(order: &Value) -> Vec<String> {
    order["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_approval_survives_sigkill_and_completes_when_approved_after_the_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = Serve::start(&data, &[]).await;
    let id = first.post_order("SKU-4", 1).await;
    first.await_status(&id, "AWAITING_APPROVAL").await;
    let approval = approval_id(&data, &id).await;

    first.kill().await;
    let second = Serve::start(&data, &[]).await;
    let (status, resp) = second
        .request(
            "POST",
            &format!("/approvals/{approval}"),
            "application/x-www-form-urlencoded",
            "decision=approve",
        )
        .await;

    assert_eq!(status, 200, "{resp}");
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
        outbox_files(&data, "-approvals-").len(),
        1,
        "the approver was mailed once"
    );
    // Restarting on a catalog that still says 5 keeps the 4 left.
    second.kill().await;
    let third = Serve::start(&data, &[]).await;
    let big = third.post_order("SKU-4", 5).await;
    let failed = third.await_status(&big, "FAILED").await;
    assert_eq!(failed["failure"]["error"], "OutOfStock", "{failed:#}");
    third.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_approval_timeout_fires_at_the_original_deadline_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let timeout = ["--approval-timeout-seconds", "3"];
    let first = Serve::start(&data, &timeout).await;
    let id = first.post_order("SKU-4", 1).await;
    first.await_status(&id, "AWAITING_APPROVAL").await;
    await_parked(&data, &id).await;

    first.kill().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = Serve::start(&data, &timeout).await;
    let order = second.await_status(&id, "REJECTED").await;

    assert_eq!(order["failure"]["error"], "ApprovalTimedOut");
    let waited = history_at(&order, "REJECTED") - history_at(&order, "AWAITING_APPROVAL");
    assert!(
        waited >= chrono::TimeDelta::seconds(3) && waited < chrono::TimeDelta::milliseconds(4_200),
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
    let first = Serve::start(&data, &args).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        // tok_flaky: the first charge fails, the retry comes after a random
        // backoff of up to 2 s, so some orders are surely between attempts.
        let token = if i % 2 == 0 { "tok_visa" } else { "tok_flaky" };
        ids.push(first.post_paid("SKU-1", 2, token).await);
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
    let second = Serve::start(&data, &args).await;

    for id in &ids {
        let order = second.await_status(id, "COMPLETED").await;
        let seen = statuses(&order);
        let mut unique = seen.clone();
        unique.dedup();
        assert_eq!(seen, unique, "a status was recorded twice: {order:#}");
    }
    let (_, last) = second
        .request(
            "GET",
            &format!("/orders/{}", ids[0]),
            "application/json",
            "",
        )
        .await;
    assert_eq!(last["status"], "COMPLETED");
    // 12 orders of 2: exactly 24 units left the shelf, whatever was cut off.
    let probe = second.post_order("SKU-1", 77).await;
    let probe = second.await_status(&probe, "FAILED").await;
    assert_eq!(probe["failure"]["error"], "OutOfStock");
    let fits = second.post_order("SKU-1", 76).await;
    second.await_status(&fits, "COMPLETED").await;
    second.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_cleanly_and_a_waiting_order_continues_at_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = Serve::start(&data, &[]).await;
    let id = first.post_order("SKU-4", 1).await;
    first.await_status(&id, "AWAITING_APPROVAL").await;
    let approval = approval_id(&data, &id).await;

    let status = first.terminate().await;

    assert!(status.success(), "exit status after SIGTERM: {status}");
    let second = Serve::start(&data, &[]).await;
    let (code, resp) = second
        .request(
            "POST",
            &format!("/approvals/{approval}"),
            "application/x-www-form-urlencoded",
            "decision=approve",
        )
        .await;
    assert_eq!(code, 200, "{resp}");
    second.await_status(&id, "COMPLETED").await;
    second.kill().await;
}

/// The approval the server answered 200 to is saved: killed right after the
/// answer, the restarted server continues from past the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_answered_200_survives_a_sigkill_right_after_the_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = Serve::start(&data, &[]).await;
    let id = first.post_order("SKU-4", 1).await;
    first.await_status(&id, "AWAITING_APPROVAL").await;
    let approval = approval_id(&data, &id).await;

    let (status, resp) = first
        .request(
            "POST",
            &format!("/approvals/{approval}"),
            "application/x-www-form-urlencoded",
            "decision=approve",
        )
        .await;
    assert_eq!(status, 200, "{resp}");
    first.kill().await;

    let second = Serve::start(&data, &[]).await;
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
    let first = Serve::start(&data, &[]).await;
    let id = first.post_order("SKU-4", 1).await;
    first.await_status(&id, "AWAITING_APPROVAL").await;
    let approval = approval_id(&data, &id).await;

    let req = hyper::Request::builder()
        .method("POST")
        .uri(format!("{}/approvals/{approval}", first.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(Full::new(Bytes::from_static(b"decision=approve")))
        .unwrap();
    let post = first.client.request(req);
    let pid = first.child.id().expect("running").to_string();
    let term = async {
        tokio::time::sleep(Duration::from_millis(2)).await;
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap()
    };
    let (answer, sent) = tokio::join!(post, term);
    assert!(sent.success());
    let first_status = answer.map(|r| r.status().as_u16()).ok();
    let exit = first.terminate_sent().await;
    assert!(exit.success(), "exit status after SIGTERM: {exit}");

    let second = Serve::start(&data, &[]).await;
    let (again, resp) = second
        .request(
            "POST",
            &format!("/approvals/{approval}"),
            "application/x-www-form-urlencoded",
            "decision=approve",
        )
        .await;
    // 200: the first POST did not report it delivered and this one did;
    // 409: the first POST delivered it (and then it was saved).
    assert!(
        again == 200 || (again == 409 && first_status == Some(200)),
        "first POST {first_status:?}, second {again}: {resp}"
    );
    let order = second.await_status(&id, "COMPLETED").await;
    assert!(
        statuses(&order).contains(&"APPROVED".to_owned()),
        "{order:#}"
    );
    second.kill().await;
}
