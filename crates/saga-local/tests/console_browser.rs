//! The web console in a real browser: Debian's headless `chromium` driven
//! through `chromedriver` (WebDriver, the `fantoccini` client) against
//! `saga-local serve` with the real handlers, SQLite file and built-in ASL.
//!
//! It opens the list, posts an order and sees it reach COMPLETED without a
//! reload, opens it and checks the graph marks the states it went through
//! (and the details panel, by mouse and by keyboard), approves a big order
//! from the approvals list through the e-mail's confirmation page, redrives a
//! NEEDS_ATTENTION order (`tok_refund_fails`) and sees the history go on
//! after `ExecutionRedriven`, checks the pages at 360 px, and saves
//! screenshots under `target/console-screenshots/` (docs/img has two).
//!
//! chromium and chromedriver must be installed (`apt-get install chromium
//! chromium-driver`; `make test` does it): without them this test fails, it
//! never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use saga_local::serve::console::ConsoleMode;
use saga_local::serve::{RunningServer, ServeConfig, Server};
use saga_tests::local::{Api, CATALOG};
use serde_json::{Value, json};

/// Compensation of `tok_refund_fails` retries with the ASL's real backoff
/// (up to 5 + 10 + 20 + 40 s with full jitter) before NEEDS_ATTENTION.
const SLOW: Duration = Duration::from_secs(180);
const WAIT: Duration = Duration::from_secs(30);

fn find_program(env: &str, names: &[&str]) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for n in names {
            let candidate = dir.join(n);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "{} not found (on PATH, or set {env}): the console's browser test needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver (make test installs them)",
        names.join(" / ")
    );
}

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn driver() -> Driver {
    let bin = find_program("CHROMEDRIVER", &["chromedriver"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(&bin)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let d = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let start = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            start.elapsed() < WAIT,
            "chromedriver did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d
}

async fn browser(driver: &Driver) -> Client {
    let chromium = find_program("CHROME", &["chromium", "chromium-browser", "google-chrome"]);
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1800"]
        }
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("chromedriver at {} gave no session: {e}", driver.url))
}

async fn serve(dir: &Path) -> RunningServer {
    let catalog = dir.join("catalog.json");
    std::fs::write(&catalog, CATALOG).unwrap();
    let mut config = ServeConfig::new(dir.join("data"));
    config.port = 0;
    config.catalog = Some(catalog);
    config.console = ConsoleMode::Quiet;
    Server::start(config)
        .await
        .unwrap_or_else(|e| panic!("{}", e.chain()))
}

/// Wait until `script` (returning a boolean) is true in the page.
async fn until(c: &Client, what: &str, script: &str, deadline: Duration) {
    let start = Instant::now();
    loop {
        if c.execute(script, vec![]).await.unwrap() == Value::Bool(true) {
            return;
        }
        if start.elapsed() > deadline {
            let text = c
                .find(Locator::Css("main"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            panic!("{what}: not after {deadline:?}; the page shows:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn screenshot(c: &Client, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
    std::fs::write(dir.join(name), png).unwrap();
}

/// `[state name, class]` of every node of the graph.
async fn graph(c: &Client) -> Vec<(String, String)> {
    let v = c
        .execute(
            "return Array.from(document.querySelectorAll('svg.graph g.node')).map(g => [g.querySelector('a').getAttribute('aria-label').split(' (')[0], g.getAttribute('class')])",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

fn class_of<'a>(nodes: &'a [(String, String)], state: &str) -> &'a str {
    nodes
        .iter()
        .find(|(n, _)| n == state)
        .map(|(_, c)| c.as_str())
        .unwrap_or_else(|| panic!("no node {state} in {nodes:?}"))
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn await_order(api: &Api, id: &str, status: &str, deadline: Duration) {
    let start = Instant::now();
    while api.order(id).await["status"] != status {
        assert!(
            start.elapsed() < deadline,
            "order {id} is not {status} after {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let driver = driver().await;
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path()).await;
    let api = Api::new(server.url(), server.outbox());
    let url = server.url().to_owned();
    // Started first: its compensation retries take a while.
    let attention = api
        .post_order(&[("SKU-1", 1)], "tok_refund_fails", "00000")
        .await;
    let c = browser(&driver).await;

    list_updates_live_and_the_graph_marks_the_path(&c, &api, &url).await;
    approve_from_the_approvals_list(&c, &api, &url).await;
    redrive_a_needs_attention_order(&c, &api, &url, &attention).await;
    narrow_screens(&c, &url, &attention).await;

    c.close().await.unwrap();
    server.shutdown().await.unwrap();
}

async fn list_updates_live_and_the_graph_marks_the_path(c: &Client, api: &Api, url: &str) {
    c.goto(&format!("{url}/console")).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "Executions · saga-local console");
    // A mark that a reload would wipe.
    c.execute("window.notReloaded = true; return true", vec![])
        .await
        .unwrap();
    let id = api.post_order(&[("SKU-1", 2)], "tok_visa", "10115").await;
    let row = format!(
        "Array.from(document.querySelectorAll('#executions tr')).find(r => r.textContent.includes('{id}'))"
    );
    until(c, "the new order appears", &format!("return !!{row}"), WAIT).await;
    until(c, "it reaches COMPLETED", &format!("return {row}.textContent.includes('COMPLETED') && {row}.textContent.includes('SUCCEEDED')"), WAIT).await;
    assert_eq!(
        c.execute("return window.notReloaded === true", vec![])
            .await
            .unwrap(),
        Value::Bool(true),
        "the list updated without a reload"
    );

    the_graph_marks_the_path(c, &id).await;
}

async fn the_graph_marks_the_path(c: &Client, id: &str) {
    c.find(Locator::LinkText(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("svg.graph"))
        .await
        .unwrap();
    let nodes = graph(c).await;
    assert_eq!(nodes.len(), 15, "every state of the saga: {nodes:?}");
    for s in [
        "ValidateOrder",
        "ReserveInventory",
        "NeedsApproval",
        "ProcessPayment",
        "ShipOrder",
        "NotifyCustomer",
    ] {
        assert!(
            class_of(&nodes, s).split(' ').any(|k| k == "ok"),
            "{s}: {nodes:?}"
        );
    }
    for s in [
        "RequestApproval",
        "ApprovalDecision",
        "Compensate",
        "OrderFailed",
        "OrderRejected",
    ] {
        assert!(class_of(&nodes, s).contains("unvisited"), "{s}: {nodes:?}");
    }
    assert!(class_of(&nodes, "NotifyCustomer").contains("current"));
    let node_text = text(c, "svg.graph").await;
    assert!(
        node_text.contains("✓ succeeded"),
        "a word and an icon, not only colour: {node_text}"
    );
    assert!(text(c, "#order").await.contains("COMPLETED"));
    assert!(text(c, "#history").await.contains("ExecutionSucceeded"));

    // The details panel: by mouse, then by keyboard.
    c.find(Locator::Css("a[aria-label^='ProcessPayment (']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(c, "the panel shows ProcessPayment", "return document.getElementById('panel').textContent.includes('ProcessPayment') && document.getElementById('panel').textContent.includes('Output')", WAIT).await;
    let ship = c
        .find(Locator::Css("a[aria-label^='ShipOrder (']"))
        .await
        .unwrap();
    c.execute(
        "document.querySelector(\"a[aria-label^='ShipOrder (']\").focus(); return true",
        vec![],
    )
    .await
    .unwrap();
    ship.send_keys("\u{E007}").await.unwrap();
    until(
        c,
        "Enter opens ShipOrder",
        "return document.getElementById('panel').textContent.includes('ShipOrder')",
        WAIT,
    )
    .await;
    c.execute("window.scrollTo(0, 0); return true", vec![])
        .await
        .unwrap();
    screenshot(c, "execution.png").await;
}

async fn approve_from_the_approvals_list(c: &Client, api: &Api, url: &str) {
    let big = api.post_order(&[("SKU-4", 1)], "tok_visa", "10115").await;
    await_order(api, &big, "AWAITING_APPROVAL", WAIT).await;
    c.goto(&format!("{url}/console/approvals")).await.unwrap();
    let row = text(c, "#approvals").await;
    assert!(row.contains(&big) && row.contains("1490.00 EUR"), "{row}");
    let link = c
        .find(Locator::XPath(&format!(
            "//tr[contains(., '{big}')]//a[starts-with(@href, '/approvals/')]"
        )))
        .await
        .unwrap();
    link.click().await.unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/approvals/")
    );
    // The e-mail's confirmation page: its Approve form decides.
    c.find(Locator::XPath("//button[contains(., 'Approve')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    await_order(api, &big, "COMPLETED", WAIT).await;
    c.goto(&format!("{url}/console/executions/{big}"))
        .await
        .unwrap();
    let nodes = graph(c).await;
    assert!(
        class_of(&nodes, "RequestApproval")
            .split(' ')
            .any(|k| k == "ok"),
        "{nodes:?}"
    );
    assert!(
        class_of(&nodes, "ApprovalDecision")
            .split(' ')
            .any(|k| k == "ok")
    );
}

async fn redrive_a_needs_attention_order(c: &Client, api: &Api, url: &str, id: &str) {
    await_order(api, id, "NEEDS_ATTENTION", SLOW).await;
    c.goto(&format!("{url}/console/executions/{id}"))
        .await
        .unwrap();
    // The order needs attention from the first failed refund; the execution
    // fails once Compensate's retries are spent (live on this page).
    until(
        c,
        "the execution fails",
        "return document.getElementById('summary').textContent.includes('FAILED')",
        SLOW,
    )
    .await;
    let nodes = graph(c).await;
    assert!(
        class_of(&nodes, "Compensate").contains("caught"),
        "{nodes:?}"
    );
    assert!(class_of(&nodes, "CompensationNeedsAttention").contains("failed"));
    c.find(Locator::LinkText("Redrive…"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let confirm = text(c, "main").await;
    assert!(
        confirm.contains("ExecutionRedriven") && confirm.contains("CompensationNeedsAttention"),
        "{confirm}"
    );
    c.find(Locator::XPath(
        "//button[starts-with(., 'Redrive execution')]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    until(
        c,
        "the redrive is accepted",
        "return document.body.textContent.includes('RedriveExecution was accepted')",
        WAIT,
    )
    .await;
    let history = "document.getElementById('history').textContent";
    until(
        c,
        "the redriven run ends",
        &format!("return {history}.split('ExecutionFailed').length === 3"),
        WAIT,
    )
    .await;
    let rows = text(c, "#history").await;
    assert_eq!(rows.matches("ExecutionRedriven").count(), 1, "{rows}");
    // The redrive reruns compensation: the Task the execution stopped in is
    // entered a second time and its compensate call fails again.
    let attempts: Vec<&str> = rows
        .lines()
        .filter(|l| l.contains("TaskStateEntered") && l.contains("CompensationNeedsAttention"))
        .collect();
    assert_eq!(
        attempts.len(),
        2,
        "the first run and the redriven one: {rows}"
    );
    assert!(!rows.contains("FailStateEntered"), "{rows}");
    until(
        c,
        "the summary says FAILED again",
        "return document.getElementById('summary').textContent.includes('FAILED')",
        WAIT,
    )
    .await;
    assert!(text(c, "#summary").await.contains("Redriven"));
    c.execute("window.scrollTo(0, 0); return true", vec![])
        .await
        .unwrap();
    screenshot(c, "redriven.png").await;
}

async fn narrow_screens(c: &Client, url: &str, id: &str) {
    c.set_window_size(1280, 1100).await.unwrap();
    c.goto(&format!("{url}/console")).await.unwrap();
    screenshot(c, "list.png").await;
    c.set_window_size(360, 800).await.unwrap();
    for (path, shot) in [
        ("/console".to_owned(), "list-360.png"),
        ("/console/approvals".to_owned(), "approvals-360.png"),
        (format!("/console/executions/{id}"), "execution-360.png"),
    ] {
        c.goto(&format!("{url}{path}")).await.unwrap();
        let fits = c
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            fits,
            Value::Bool(true),
            "{path} fits 360 px (wide parts scroll inside their box)"
        );
        screenshot(c, shot).await;
    }
}
