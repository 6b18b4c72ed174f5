//! End-to-end: `saga-local serve` in-process on port 0 with a temporary data
//! directory (real HTTP, real SQLite, the real handlers and state machine),
//! driven the way a client and an approver would: POST an order, poll GET,
//! read the approval mail in the outbox, click.
//!
//! Helpers: [`spawn_local`], [`Local::post_order`], [`Local::approve`],
//! [`Local::await_status`]. Every wait has a deadline and says what it last saw.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use saga_local::serve::console::ConsoleMode;
use saga_local::serve::{ConsoleBuffer, RunningServer, ServeConfig, Server};
use serde_json::Value;

#[path = "e2e_approvals.rs"]
mod approvals;
#[path = "e2e_failures.rs"]
mod failures;
#[path = "e2e_http.rs"]
mod http;
#[path = "e2e_orders.rs"]
mod orders;

/// The catalog of every e2e server: something cheap with plenty of stock,
/// something that needs approval, and two small stocks for races and
/// compensation.
const CATALOG: &str = r#"[
  {"sku": "SKU-1", "name": "Espresso beans 1 kg", "priceCents": 1999, "currency": "EUR", "stock": 100},
  {"sku": "SKU-4", "name": "Dual-boiler espresso machine", "priceCents": 149000, "currency": "EUR", "stock": 5},
  {"sku": "TEN-1", "name": "Limited mug", "priceCents": 1500, "currency": "EUR", "stock": 10},
  {"sku": "TWO-1", "name": "Last two tampers", "priceCents": 2500, "currency": "EUR", "stock": 2}
]"#;

/// How long a wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(15);

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A running `saga-local serve`.
pub struct Local {
    server: RunningServer,
    _dir: tempfile::TempDir,
    client: Client<HttpConnector, Full<Bytes>>,
    console: ConsoleBuffer,
}

/// A server with the e2e catalog and defaults (threshold 100000, 24 h timeout).
pub async fn spawn_local() -> Local {
    spawn_local_with(|_| {}).await
}

/// A server with the e2e catalog, configured further by `adjust`.
pub async fn spawn_local_with(adjust: impl FnOnce(&mut ServeConfig)) -> Local {
    let dir = tempfile::tempdir().expect("temp dir");
    let catalog = dir.path().join("catalog.json");
    std::fs::write(&catalog, CATALOG).expect("write catalog");
    let console = ConsoleBuffer::default();
    let mut config = ServeConfig::new(dir.path().join("data"));
    config.port = 0;
    config.catalog = Some(catalog);
    config.console = ConsoleMode::Memory(console.clone());
    adjust(&mut config);
    let server = Server::start(config)
        .await
        .unwrap_or_else(|e| panic!("{}", e.chain()));
    Local {
        server,
        _dir: dir,
        client: Client::builder(TokioExecutor::new()).build_http(),
        console,
    }
}

impl Local {
    pub fn url(&self) -> &str {
        self.server.url()
    }

    pub fn console(&self) -> Vec<String> {
        self.console.lines()
    }

    pub fn outbox(&self) -> PathBuf {
        self.server.outbox().to_owned()
    }

    pub fn server(&self) -> &RunningServer {
        &self.server
    }

    /// Any request; `target` is a path with an optional query.
    pub async fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{target}", self.url()));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::copy_from_slice(body)))
            .expect("request");
        let resp = self
            .client
            .request(req)
            .await
            .unwrap_or_else(|e| panic!("{method} {target}: {e}"));
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("body").to_bytes().to_vec();
        Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    pub async fn post_json(&self, body: &Value, headers: &[(&str, &str)]) -> Resp {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.request("POST", "/orders", &all, body.to_string().as_bytes())
            .await
    }

    /// POST an order (`(sku, quantity)` lines) and return its id (asserts 202).
    pub async fn post_order(
        &self,
        items: &[(&str, u32)],
        token: &str,
        postal_code: &str,
    ) -> String {
        let resp = self
            .post_json(
                &saga_core::fixtures::order_body(items, token, postal_code),
                &[],
            )
            .await;
        assert_eq!(resp.status, 202, "{}", resp.text());
        let body = resp.json();
        assert_eq!(body["status"], "RECEIVED");
        body["orderId"].as_str().expect("orderId").to_owned()
    }

    pub async fn order(&self, id: &str) -> Value {
        let resp = self
            .request("GET", &format!("/orders/{id}"), &[], b"")
            .await;
        assert_eq!(resp.status, 200, "GET /orders/{id}: {}", resp.text());
        resp.json()
    }

    /// Poll GET /orders/{id} until its status is `status`. Fails if it ends in
    /// another terminal status or the deadline passes.
    pub async fn await_status(&self, id: &str, status: &str) -> Value {
        let start = Instant::now();
        loop {
            let order = self.order(id).await;
            let now = order["status"].as_str().unwrap_or_default().to_owned();
            if now == status {
                return order;
            }
            let terminal = ["COMPLETED", "FAILED", "REJECTED", "NEEDS_ATTENTION"];
            if terminal.contains(&now.as_str()) {
                panic!("order {id} ended {now}, not {status}: {order:#}");
            }
            if start.elapsed() > DEADLINE {
                panic!(
                    "order {id} is still {now} after {DEADLINE:?}, waiting for {status}: {order:#}"
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Poll until the order is in a terminal status; return it.
    pub async fn await_end(&self, id: &str) -> Value {
        let start = Instant::now();
        loop {
            let order = self.order(id).await;
            if ["COMPLETED", "FAILED", "REJECTED", "NEEDS_ATTENTION"]
                .contains(&order["status"].as_str().unwrap_or_default())
            {
                return order;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "order {id} has not ended after {DEADLINE:?}: {order:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Poll the store until the order's execution is no longer `RUNNING`
    /// (the order reaches its last status a few states before the execution
    /// ends: the notification, the console's end line and the final save
    /// come after); return its final status.
    pub async fn await_execution_end(&self, id: &str) -> String {
        let start = Instant::now();
        loop {
            let row = self
                .server
                .store()
                .execution(id)
                .await
                .expect("read the execution");
            let status = row.as_ref().map(|r| r.status.clone());
            if let Some(s) = status.as_deref()
                && s != "RUNNING"
            {
                return s.to_owned();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "execution {id} is {status:?} after {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Poll the console until a line contains `needle`; every line so far.
    pub async fn await_console(&self, needle: &str) -> Vec<String> {
        let start = Instant::now();
        loop {
            let lines = self.console();
            if lines.iter().any(|l| l.contains(needle)) {
                return lines;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no console line with {needle:?} after {DEADLINE:?}: {lines:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The approval mail of an order, as the approver gets it (waits for it).
    pub async fn approval_mail(&self, order_id: &str) -> String {
        let start = Instant::now();
        loop {
            let mut mails: Vec<PathBuf> = std::fs::read_dir(self.outbox())
                .expect("outbox")
                .map(|e| e.expect("entry").path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.contains(&format!("-approvals-{order_id}-")))
                })
                .collect();
            mails.sort();
            if let Some(first) = mails.first() {
                return std::fs::read_to_string(first).expect("read mail");
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no approval mail for {order_id} in {} after {DEADLINE:?}",
                self.outbox().display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The approval id in an order's mail (from its approve link).
    pub async fn approval_id(&self, order_id: &str) -> String {
        let mail = self.approval_mail(order_id).await;
        let link = mail
            .split_whitespace()
            .find(|w| w.ends_with("?decision=approve"))
            .unwrap_or_else(|| panic!("no approve link in the mail:\n{mail}"));
        let path = link
            .strip_prefix(self.url())
            .unwrap_or_else(|| panic!("{link} does not start with {}", self.url()));
        path.trim_start_matches("/approvals/")
            .trim_end_matches("?decision=approve")
            .to_owned()
    }

    /// POST a decision (`approve` / `reject`) as the confirmation page's form does.
    pub async fn decide(&self, approval_id: &str, decision: &str) -> Resp {
        self.request(
            "POST",
            &format!("/approvals/{approval_id}"),
            &[("content-type", "application/x-www-form-urlencoded")],
            format!("decision={decision}").as_bytes(),
        )
        .await
    }

    /// Approve the order's pending approval (asserts 200).
    pub async fn approve(&self, order_id: &str) {
        let id = self.approval_id(order_id).await;
        let resp = self.decide(&id, "approve").await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }

    /// The stock of a SKU now.
    pub async fn stock(&self, sku: &str) -> i64 {
        let sku = saga_core::order::Sku::parse(sku).expect("sku");
        self.server
            .store()
            .stock(&sku)
            .await
            .expect("stock")
            .expect("known sku")
    }
}

/// The statuses of an order's history, in order.
pub fn statuses(order: &Value) -> Vec<String> {
    order["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}
