//! Driving `saga-local serve` over HTTP, as a client and an approver would:
//! [`Api`] (POST an order, poll GET, read the approval mail in the outbox,
//! click), and [`spawn_serve`] for the real binary (crash tests, benchmark).
//! Every wait has a deadline and says what it last saw.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The catalog of the end-to-end and crash tests: something cheap with plenty
/// of stock, something that needs approval, and two small stocks for races
/// and compensation.
pub const CATALOG: &str = r#"[
  {"sku": "SKU-1", "name": "Espresso beans 1 kg", "priceCents": 1999, "currency": "EUR", "stock": 100},
  {"sku": "SKU-4", "name": "Dual-boiler espresso machine", "priceCents": 149000, "currency": "EUR", "stock": 5},
  {"sku": "TEN-1", "name": "Limited mug", "priceCents": 1500, "currency": "EUR", "stock": 10},
  {"sku": "TWO-1", "name": "Last two tampers", "priceCents": 2500, "currency": "EUR", "stock": 2}
]"#;

/// How long a wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Statuses an order does not leave.
pub const TERMINAL: [&str; 4] = ["COMPLETED", "FAILED", "REJECTED", "NEEDS_ATTENTION"];

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

/// The HTTP API of one server, and its outbox.
#[derive(Debug, Clone)]
pub struct Api {
    url: String,
    outbox: PathBuf,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Api {
    /// The server at `url` (`http://127.0.0.1:1234`) writing into `outbox`.
    pub fn new(url: &str, outbox: &Path) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            outbox: outbox.to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn outbox(&self) -> PathBuf {
        self.outbox.clone()
    }

    /// Any request; `target` is a path with an optional query.
    pub async fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        self.try_request(method, target, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
    }

    /// Any request; an error when no answer came (e.g. the server died).
    pub async fn try_request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Resp, String> {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{target}", self.url));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| e.to_string())?;
        let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes()
            .to_vec();
        Ok(Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
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
        body["orderId"]
            .as_str()
            .unwrap_or_else(|| panic!("no orderId in {body}"))
            .to_owned()
    }

    pub async fn order(&self, id: &str) -> Value {
        let resp = self
            .request("GET", &format!("/orders/{id}"), &[], b"")
            .await;
        assert_eq!(resp.status, 200, "GET /orders/{id}: {}", resp.text());
        resp.json()
    }

    /// Poll GET /orders/{id} every `poll` until its status is `status`. Fails
    /// if it ends in another terminal status or the deadline passes.
    pub async fn await_status(&self, id: &str, status: &str) -> Value {
        let start = Instant::now();
        loop {
            let order = self.order(id).await;
            let now = order["status"].as_str().unwrap_or_default().to_owned();
            if now == status {
                return order;
            }
            if TERMINAL.contains(&now.as_str()) {
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
            if TERMINAL.contains(&order["status"].as_str().unwrap_or_default()) {
                return order;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "order {id} has not ended after {DEADLINE:?}: {order:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The approval mail of an order, as the approver gets it (waits for it).
    pub async fn approval_mail(&self, order_id: &str) -> String {
        let start = Instant::now();
        loop {
            let mails = outbox_files(&self.outbox, &format!("-approvals-{order_id}-"));
            if let Some(first) = mails.first() {
                return std::fs::read_to_string(self.outbox.join(first))
                    .unwrap_or_else(|e| panic!("read {first}: {e}"));
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no approval mail for {order_id} in {} after {DEADLINE:?}",
                self.outbox.display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The approval id in an order's mail (from its approve link; waits for it).
    pub async fn approval_id(&self, order_id: &str) -> String {
        let mail = self.approval_mail(order_id).await;
        let link = mail
            .split_whitespace()
            .find(|w| w.ends_with("?decision=approve"))
            .unwrap_or_else(|| panic!("no approve link in the mail:\n{mail}"));
        let path = link
            .strip_prefix(&self.url)
            .unwrap_or_else(|| panic!("{link} does not start with {}", self.url));
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

    /// Two decisions on one approval at once; the answers in the order given.
    pub async fn race(&self, approval_id: &str, first: &str, second: &str) -> (Resp, Resp) {
        tokio::join!(
            self.decide(approval_id, first),
            self.decide(approval_id, second)
        )
    }

    /// Approve the order's pending approval (asserts 200).
    pub async fn approve(&self, order_id: &str) {
        let id = self.approval_id(order_id).await;
        let resp = self.decide(&id, "approve").await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
}

/// Files in `dir` whose name contains `part`, sorted (by time: outbox names
/// start with it).
pub fn outbox_files(dir: &Path, part: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(part))
        .collect();
    names.sort();
    names
}

/// The statuses of an order's history, in order.
pub fn statuses(order: &Value) -> Vec<String> {
    order["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no history in {order:#}"))
        .iter()
        .map(|h| h["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A `saga-local serve` process (killed when dropped).
#[derive(Debug)]
pub struct ServeProcess {
    child: Child,
    pub api: Api,
    stdout: Arc<Mutex<Vec<String>>>,
}

/// Start `bin serve --port 0 --sfn-port 0 <args>` (the Step Functions API
/// off: tests run side by side, and its default port is fixed) and read its URL from the first line of
/// stdout (`--quiet` keeps that line); stdout is drained from then on. The
/// outbox is `outbox` (pass the `--outbox` or `<data-dir>/outbox` it uses).
pub async fn spawn_serve(bin: &str, args: &[&std::ffi::OsStr], outbox: &Path) -> ServeProcess {
    let mut child = Command::new(bin)
        .args(["serve", "--port", "0", "--sfn-port", "0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start {bin}: {e}"));
    let Some(out) = child.stdout.take() else {
        panic!("no stdout of {bin}");
    };
    let mut lines = BufReader::new(out).lines();
    let first = match tokio::time::timeout(DEADLINE, lines.next_line()).await {
        Ok(Ok(Some(line))) => line,
        Ok(Ok(None)) => panic!("{bin} serve closed stdout without a URL"),
        Ok(Err(e)) => panic!("{bin} serve: {e}"),
        Err(_) => panic!("{bin} serve printed no URL within {DEADLINE:?}"),
    };
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
            sink.lock().unwrap_or_else(|p| p.into_inner()).push(l);
        }
    });
    ServeProcess {
        child,
        api: Api::new(&url, outbox),
        stdout,
    }
}

impl std::ops::Deref for ServeProcess {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl ServeProcess {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child
            .id()
            .unwrap_or_else(|| panic!("saga-local serve has exited"))
    }

    /// What it printed so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Send SIGTERM (as `kill` or a service manager does).
    pub async fn send_sigterm(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .await
            .unwrap_or_else(|e| panic!("kill -TERM: {e}"));
        assert!(sent.success(), "kill -TERM failed");
    }

    /// SIGTERM, then the exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        self.send_sigterm().await;
        self.wait().await
    }

    /// The exit status (after a signal sent elsewhere).
    pub async fn wait(&mut self) -> std::process::ExitStatus {
        match tokio::time::timeout(DEADLINE, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => panic!("wait for saga-local: {e}"),
            Err(_) => panic!("saga-local did not stop within {DEADLINE:?}"),
        }
    }

    /// SIGKILL: no shutdown, no last write.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
