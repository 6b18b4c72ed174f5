//! The web console of `saga-local serve` over a real socket, with the real
//! handlers, SQLite file and built-in ASL: the list, one execution's graph
//! (the visited path of a completed, a rejected and a compensated order),
//! approvals, Stop with its CSRF token and Origin check, escaping, and who may
//! call it. The real-browser test is tests/console_browser.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use saga_local::serve::console::ConsoleMode;
use saga_local::serve::{RunningServer, ServeConfig, Server};
use saga_tests::local::{Api, CATALOG, Resp};

async fn serve(dir: &tempfile::TempDir, sfn: bool) -> RunningServer {
    let catalog = dir.path().join("catalog.json");
    std::fs::write(&catalog, CATALOG).unwrap();
    let mut config = ServeConfig::new(dir.path().join("data"));
    config.port = 0;
    config.catalog = Some(catalog);
    config.console = ConsoleMode::Quiet;
    // The console works with the Step Functions port off as well as on.
    config.sfn = sfn.then(|| saga_local::sfn::serve::SfnConfig {
        port: 0,
        ..Default::default()
    });
    Server::start(config)
        .await
        .unwrap_or_else(|e| panic!("{}", e.chain()))
}

async fn get(api: &Api, path: &str) -> Resp {
    api.request("GET", path, &[], b"").await
}

async fn page(api: &Api, path: &str) -> String {
    let resp = get(api, path).await;
    assert_eq!(resp.status, 200, "GET {path}: {}", resp.text());
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        resp.headers
    );
    resp.text()
}

/// The class list of the graph node of `state` (`node task ok current`).
fn node_class(html: &str, state: &str) -> String {
    let at = html
        .find(&format!("aria-label=\"{state} ("))
        .unwrap_or_else(|| panic!("no node for {state} in the graph"));
    let start = html[..at].rfind("<g class=\"node ").unwrap() + "<g class=\"".len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}

fn outcome(html: &str, state: &str) -> &'static str {
    let class = node_class(html, state);
    for o in ["ok", "retried", "caught", "failed", "waiting", "running"] {
        if class.split(' ').any(|c| c == o) {
            return o;
        }
    }
    assert!(class.contains("unvisited"), "{state}: {class}");
    "unvisited"
}

fn assert_path(html: &str, expected: &[(&str, &str)]) {
    let got: Vec<(&str, &str)> = expected
        .iter()
        .map(|(s, _)| (*s, outcome(html, s)))
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graph_marks_the_paths_of_a_completed_a_rejected_and_a_compensated_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir, false).await;
    let api = Api::new(server.url(), server.outbox());

    let completed = api.post_order(&[("SKU-1", 1)], "tok_visa", "10115").await;
    api.await_status(&completed, "COMPLETED").await;
    let rejected = api.post_order(&[("SKU-4", 1)], "tok_visa", "10115").await;
    let approval = api.approval_id(&rejected).await;
    assert_eq!(api.decide(&approval, "reject").await.status, 200);
    api.await_status(&rejected, "REJECTED").await;
    let compensated = api.post_order(&[("SKU-1", 1)], "tok_visa", "00000").await;
    api.await_status(&compensated, "FAILED").await;

    let html = page(&api, &format!("/console/executions/{completed}")).await;
    assert_path(
        &html,
        &[
            ("ValidateOrder", "ok"),
            ("ReserveInventory", "ok"),
            ("NeedsApproval", "ok"),
            ("RequestApproval", "unvisited"),
            ("ProcessPayment", "ok"),
            ("ShipOrder", "ok"),
            ("NotifyCustomer", "ok"),
            ("Compensate", "unvisited"),
            ("OrderFailed", "unvisited"),
        ],
    );
    assert!(node_class(&html, "NotifyCustomer").contains("current"));
    assert!(html.contains("SUCCEEDED") && html.contains("COMPLETED"));
    assert!(
        html.contains("Espresso beans 1 kg"),
        "the order's lines beside the graph"
    );

    let html = page(&api, &format!("/console/executions/{rejected}")).await;
    assert_path(
        &html,
        &[
            ("NeedsApproval", "ok"),
            ("RequestApproval", "ok"),
            ("ApprovalDecision", "ok"),
            ("ProcessPayment", "unvisited"),
            ("Compensate", "ok"),
            ("CompensationOutcome", "ok"),
            ("OrderRejected", "failed"),
            ("OrderFailed", "unvisited"),
        ],
    );
    assert!(node_class(&html, "OrderRejected").contains("current"));
    assert!(
        !html.contains("taskToken\":\"") || html.contains("«task token redacted»"),
        "the approval task's token is redacted"
    );

    let html = page(&api, &format!("/console/executions/{compensated}")).await;
    assert_path(
        &html,
        &[
            ("ProcessPayment", "ok"),
            ("ShipOrder", "caught"),
            ("NotifyCustomer", "unvisited"),
            ("Compensate", "ok"),
            ("CompensationOutcome", "ok"),
            ("OrderFailed", "failed"),
        ],
    );
    assert!(html.contains("ShippingFailed"), "the caught error is shown");

    the_list_is_newest_first_and_filters(&api, &completed, &rejected, &compensated).await;
    server.shutdown().await.unwrap();
}

async fn the_list_is_newest_first_and_filters(
    api: &Api,
    completed: &str,
    rejected: &str,
    compensated: &str,
) {
    let list = page(api, "/console").await;
    let (c, r, f) = (
        list.find(completed).unwrap(),
        list.find(rejected).unwrap(),
        list.find(compensated).unwrap(),
    );
    assert!(f < r && r < c, "newest first");
    assert!(list.contains("OrderRejected") && list.contains("NotifyCustomer"));
    let succeeded = page(api, "/console?status=SUCCEEDED").await;
    assert!(succeeded.contains(completed) && !succeeded.contains(rejected));
    let bad = get(api, "/console?status=HAPPY").await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("statusFilter"), "{}", bad.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_link_to_the_mail_s_confirmation_page_and_never_show_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir, true).await;
    let api = Api::new(server.url(), server.outbox());
    let big = api.post_order(&[("SKU-4", 1)], "tok_visa", "10115").await;
    let approval = api.approval_id(&big).await;
    api.await_status(&big, "AWAITING_APPROVAL").await;

    let html = page(&api, "/console/approvals").await;
    assert!(
        html.contains(&format!("href=\"/approvals/{approval}\"")),
        "{html}"
    );
    assert!(html.contains("1490.00 EUR"), "the amount: {html}");
    assert!(html.contains("Deadline"));
    let row = server.store().execution(&big).await.unwrap().unwrap();
    assert_eq!(row.status, "RUNNING");
    // The link is the e-mail's page: it shows the order and changes nothing.
    let confirm = page(&api, &format!("/approvals/{approval}")).await;
    assert!(confirm.contains("Approve"), "{confirm}");

    // The execution page waits in RequestApproval and shows no token.
    let html = page(&api, &format!("/console/executions/{big}")).await;
    assert_eq!(outcome(&html, "RequestApproval"), "waiting");
    assert!(html.contains("«task token redacted»"), "{html}");
    let events = server.store().all_events(&big).await.unwrap();
    let raw: String = events.iter().map(|e| e.doc.clone()).collect();
    for word in raw.split(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_') {
        if word.len() >= 40 {
            assert!(
                !html.contains(word),
                "a token-like value {word} reached the page"
            );
        }
    }
    server.shutdown().await.unwrap();
}

fn form_headers(origin: Option<&str>) -> Vec<(&str, &str)> {
    let mut h = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some(o) = origin {
        h.push(("origin", o));
    }
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_needs_the_console_s_origin_and_csrf_token_and_says_what_it_does_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir, false).await;
    let api = Api::new(server.url(), server.outbox());
    let big = api.post_order(&[("SKU-4", 1)], "tok_visa", "10115").await;
    api.await_status(&big, "AWAITING_APPROVAL").await;
    let path = format!("/console/executions/{big}/stop");

    let confirm = page(&api, &path).await;
    assert!(confirm.contains("ABORTED") && confirm.contains("compensation included"));
    let csrf = confirm
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let origin = server.url().to_owned();
    let body = format!("csrf={csrf}");
    for (headers, body, why) in [
        (form_headers(None), body.as_str(), "no Origin"),
        (
            form_headers(Some("http://evil.example")),
            body.as_str(),
            "another origin",
        ),
        (form_headers(Some(&origin)), "csrf=wrong", "a wrong token"),
        (form_headers(Some(&origin)), "", "no token"),
    ] {
        let resp = api.request("POST", &path, &headers, body.as_bytes()).await;
        assert_eq!(resp.status, 403, "{why}: {}", resp.text());
        assert!(resp.text().contains("Nothing was changed"), "{why}");
        let row = server.store().execution(&big).await.unwrap().unwrap();
        assert_eq!(row.status, "RUNNING", "{why} changed nothing");
    }

    let resp = api
        .request("POST", &path, &form_headers(Some(&origin)), body.as_bytes())
        .await;
    assert_eq!(resp.status, 303, "{}", resp.text());
    assert_eq!(
        resp.header("location"),
        Some(format!("/console/executions/{big}?done=stop").as_str())
    );
    let row = server.store().execution(&big).await.unwrap().unwrap();
    assert_eq!(row.status, "ABORTED");
    let html = page(&api, &format!("/console/executions/{big}?done=stop")).await;
    assert!(html.contains("StopExecution was accepted"));
    assert_eq!(outcome(&html, "RequestApproval"), "failed");
    // A stopped execution has nothing to stop.
    assert_eq!(get(&api, &path).await.status, 409);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_refuses_foreign_hosts_and_unknown_executions_and_sets_a_strict_policy() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir, false).await;
    let api = Api::new(server.url(), server.outbox());

    let resp = get(&api, "/console").await;
    let csp = resp.header("content-security-policy").unwrap();
    assert!(csp.starts_with("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(resp.header("x-frame-options"), Some("DENY"));
    assert!(
        !resp.text().contains("http://") || !resp.text().contains("src=\"http"),
        "no external asset"
    );

    // DNS rebinding: a loopback peer, but the Host of another site.
    let rebound = api
        .request("GET", "/console", &[("host", "evil.example")], b"")
        .await;
    assert_eq!(rebound.status, 403, "{}", rebound.text());

    let missing = get(&api, "/console/executions/no-such-order").await;
    assert_eq!(missing.status, 404, "{}", missing.text());
    assert!(missing.text().contains("ExecutionDoesNotExist"));
    let unknown = get(&api, "/console/executions/x/explode").await;
    assert_eq!(unknown.status, 404);
    server.shutdown().await.unwrap();
}

/// The console's router alone, without a socket: the peer address is what
/// the server's connect info would say.
async fn from_peer(public: bool, peer: &str) -> u16 {
    use axum::extract::ConnectInfo;
    use tower::ServiceExt;
    let dir = tempfile::tempdir().unwrap();
    let store = saga_sqlite::SqliteStore::open(&dir.path().join("saga.db")).unwrap();
    let api = saga_local::sfn::SfnApi::new(store.clone(), None, Default::default());
    let machine = saga_local::serve::load_machine(&ServeConfig::new(dir.path())).unwrap();
    let access = saga_local::serve::web::Access::new(public, "http://127.0.0.1:3000");
    let console =
        saga_local::serve::web::Console::new(api, machine, std::sync::Arc::new(store), access)
            .unwrap();
    let mut req = axum::http::Request::get("/console/executions/x/explode")
        .header("host", "127.0.0.1:3000")
        .body(axum::body::Body::empty())
        .unwrap();
    let addr: std::net::SocketAddr = format!("{peer}:50000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    let resp = saga_local::serve::web::router(console)
        .oneshot(req)
        .await
        .unwrap();
    resp.status().as_u16()
}

#[tokio::test]
async fn other_machines_are_refused_unless_console_public() {
    // 192.0.2.0/24 is documentation space: only a value here, never dialled.
    assert_eq!(from_peer(false, "192.0.2.7").await, 403);
    assert_eq!(
        from_peer(false, "127.0.0.1").await,
        404,
        "reaches the routes"
    );
    assert_eq!(from_peer(true, "192.0.2.7").await, 404, "--console-public");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banner_prints_the_console_url_and_it_opens() {
    let dir = tempfile::tempdir().unwrap();
    let buffer = saga_local::serve::ConsoleBuffer::default();
    let mut config = ServeConfig::new(dir.path().join("data"));
    config.port = 0;
    config.console = ConsoleMode::Memory(buffer.clone());
    let server = Server::start(config).await.unwrap();
    let line = buffer
        .lines()
        .into_iter()
        .find(|l| l.trim_start().starts_with("console"))
        .unwrap_or_else(|| panic!("no console line in {:?}", buffer.lines()));
    let url = line.split_whitespace().nth(1).unwrap().to_owned();
    assert_eq!(url, format!("{}/console", server.url()));
    assert!(line.contains("this machine only"), "{line}");
    let api = Api::new(server.url(), server.outbox());
    let html = page(&api, "/console").await;
    assert!(html.contains("Executions of the order saga"));
    server.shutdown().await.unwrap();
}
