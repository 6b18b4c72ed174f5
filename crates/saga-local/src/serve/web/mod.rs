//! The web console of `saga-local serve`, at `/console` on the order API's
//! port: the saga's executions, each one drawn as its state machine with the
//! way it went, the approvals waiting for a person, and Stop / Redrive.
//!
//! - **What it reads.** Executions through the Step Functions API's
//!   in-process entry point ([`SfnApi::dispatch`]: `ListExecutions`,
//!   `DescribeExecution`, `GetExecutionHistory`), so it shows what
//!   `aws stepfunctions` shows; the order and approval records from the
//!   database. The graph is drawn from the machine that runs.
//! - **What it changes.** Only `StopExecution` and `RedriveExecution`, each a
//!   `POST` from a confirmation page that says what will happen, with the
//!   server's CSRF token and an `Origin` that is the console's own.
//! - **Who may call it.** Loopback clients only, unless `--console-public`;
//!   and only under a `Host` that is an IP address, `localhost` or the host of
//!   `--public-url` (a page on another site that rebinds its name to
//!   127.0.0.1 gets 403). It reveals the executions' data (task tokens
//!   redacted) and approval links, which are bearer capabilities: that is why
//!   it is not public by default.
//! - **Pages.** Server-rendered HTML, complete without JavaScript; an inline
//!   script (allowed by its hash in the Content-Security-Policy, like the
//!   inline style sheet: no external asset) adds live updates and the state
//!   details panel.

mod actions;
mod approvals;
mod execution;
mod html;
mod list;
pub mod redact;
pub mod svg;
pub mod visits;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use asl::StateMachine;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use saga_core::ports::{ApprovalStore, OrderStore};
use serde_json::{Value, json};

use crate::sfn::SfnApi;
use crate::sfn::protocol::{ApiError, Request as ApiRequest};

/// Who may reach the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `--console-public`: any peer (still only under an accepted `Host`).
    pub public: bool,
    /// Host names accepted besides IP addresses and `localhost`: the host of
    /// the public URL.
    pub hosts: Vec<String>,
}

impl Access {
    /// Loopback only unless `public`; the host of `public_url` accepted.
    pub fn new(public: bool, public_url: &str) -> Self {
        let host = public_url
            .split_once("://")
            .map_or(public_url, |(_, rest)| rest)
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default();
        Self {
            public,
            hosts: vec![strip_port(host).to_ascii_lowercase()],
        }
    }

    /// Why a request may not see the console, if it may not.
    fn refuse(&self, peer: Option<SocketAddr>, host: Option<&str>) -> Option<&'static str> {
        let loopback = peer.is_some_and(|p| p.ip().to_canonical().is_loopback());
        if !self.public && !loopback {
            return Some(
                "The console answers loopback clients only. Start saga-local serve with --console-public to open it to other machines (it shows order data and approval links).",
            );
        }
        let host = strip_port(host.unwrap_or_default()).to_ascii_lowercase();
        let trimmed = host.trim_start_matches('[').trim_end_matches(']');
        let accepted = host == "localhost"
            || host.ends_with(".localhost")
            || trimmed.parse::<IpAddr>().is_ok()
            || self.hosts.contains(&host);
        (!accepted).then_some(
            "The console answers only under an IP address, localhost or the host of --public-url (this Host header is none of them).",
        )
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..=h.len()]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// What the console's pages need.
pub struct Console {
    api: Arc<SfnApi>,
    machine: StateMachine,
    orders: Arc<dyn OrderStore>,
    approvals: Arc<dyn ApprovalStore>,
    access: Access,
    /// The CSRF token of this server process (random, in every form).
    csrf: String,
}

debug_naming!(Console, access);

/// The console could not start.
#[derive(Debug, thiserror::Error)]
#[error("no randomness for the console's CSRF token: {0}")]
pub struct NoRandomness(String);

impl Console {
    pub fn new(
        api: Arc<SfnApi>,
        machine: StateMachine,
        store: Arc<saga_sqlite::SqliteStore>,
        access: Access,
    ) -> Result<Arc<Self>, NoRandomness> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| NoRandomness(e.to_string()))?;
        Ok(Arc::new(Self {
            api,
            machine,
            orders: store.clone(),
            approvals: store,
            access,
            csrf: bytes.iter().map(|b| format!("{b:02x}")).collect(),
        }))
    }

    /// The type of the state named `name` (at any depth).
    fn state_type(&self, name: &str) -> Option<&'static str> {
        let mut stack = vec![self.machine.outline()];
        while let Some(g) = stack.pop() {
            for s in g.states {
                if s.name == name {
                    return Some(s.state_type);
                }
                stack.extend(s.branches);
            }
        }
        None
    }

    /// One Step Functions API action, in process.
    async fn call(&self, action: &str, body: Value) -> Result<Value, ApiError> {
        let req = ApiRequest::parse(body.to_string().as_bytes())?;
        self.api.dispatch(action, &req).await
    }

    fn machine_arn(&self) -> Result<String, ApiError> {
        self.api
            .saga_arn()
            .ok_or_else(|| ApiError::internal("the Step Functions API has no saga"))
    }

    fn execution_arn(&self, name: &str) -> Result<String, ApiError> {
        self.api
            .saga_execution_arn(name)
            .ok_or_else(|| ApiError::internal("the Step Functions API has no saga"))
    }

    /// `DescribeExecution` of the saga's execution `name`.
    async fn describe(&self, name: &str) -> Result<Value, ApiError> {
        self.call(
            "DescribeExecution",
            json!({"executionArn": self.execution_arn(name)?}),
        )
        .await
    }

    /// The whole history of `name`, oldest first, task tokens redacted.
    async fn history(&self, name: &str, limit: usize) -> Result<Vec<Value>, ApiError> {
        let arn = self.execution_arn(name)?;
        let mut events = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"executionArn": arn, "maxResults": 1000});
            if let Some(t) = &token {
                body["nextToken"] = json!(t);
            }
            let page = self.call("GetExecutionHistory", body).await?;
            if let Some(items) = page["events"].as_array() {
                events.extend(items.iter().cloned());
            }
            token = page["nextToken"].as_str().map(str::to_owned);
            if token.is_none() || events.len() >= limit {
                break;
            }
        }
        redact::redact(&mut events);
        Ok(events)
    }
}

/// The console's routes, behind [`guard`].
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/console", get(list::page))
        .route(
            "/console/",
            get(|| async { Redirect::permanent("/console") }),
        )
        .route("/console/approvals", get(approvals::page))
        .route("/console/executions/{name}", get(execution::page))
        .route(
            "/console/executions/{name}/{action}",
            get(actions::confirm).post(actions::act),
        )
        .layer(middleware::from_fn_with_state(console.clone(), guard))
        .with_state(console)
}

/// Refuse callers the console does not serve; give every answer the
/// security headers.
async fn guard(State(console): State<Arc<Console>>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let mut resp = match console.access.refuse(peer, host) {
        Some(why) => {
            PageError::new(StatusCode::FORBIDDEN, "Not available here", why).into_response()
        }
        None => next.run(req).await,
    };
    secure(resp.headers_mut());
    resp
}

fn secure(h: &mut HeaderMap) {
    let csp = HeaderValue::from_static(html::content_security_policy());
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: with it, browsers send `Origin: null` on the
    // console's own form posts, and the Origin check refuses them.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A page saying what went wrong (nothing was changed).
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    title: String,
    message: String,
}

impl PageError {
    fn new(status: StatusCode, title: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            title: title.to_owned(),
            message: message.into(),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        let status = match e.code {
            "ExecutionDoesNotExist" => StatusCode::NOT_FOUND,
            _ => e.status,
        };
        Self::new(
            status,
            "The Step Functions API refused",
            format!("{}: {}", e.code, e.message),
        )
    }
}

impl From<saga_core::ports::StoreError> for PageError {
    fn from(e: saga_core::ports::StoreError) -> Self {
        tracing::error!(error = %saga_core::ports::error_chain(&e), "console: the database failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The database failed",
            "saga-local's database failed; its log has the cause.",
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = format!(
            r#"<h1>{}</h1><p class="notice error" role="alert">{}</p><p><a href="/console">Back to the executions</a></p>"#,
            html::esc(&self.title),
            html::esc(&self.message)
        );
        (self.status, Html(html::page(&self.title, &body))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().unwrap(), 50_000))
    }

    #[test]
    fn only_loopback_peers_under_accepted_hosts_unless_public() {
        let local = Access::new(false, "http://127.0.0.1:3000");
        assert_eq!(
            local.refuse(peer("127.0.0.1"), Some("127.0.0.1:3000")),
            None
        );
        assert_eq!(local.refuse(peer("::1"), Some("[::1]:3000")), None);
        assert_eq!(
            local.refuse(peer("::ffff:127.0.0.1"), Some("localhost:3000")),
            None
        );
        assert!(
            local
                .refuse(peer("192.0.2.7"), Some("127.0.0.1:3000"))
                .is_some()
        );
        assert!(
            local.refuse(None, Some("127.0.0.1:3000")).is_some(),
            "no peer: refused"
        );
        // DNS rebinding: a loopback peer, but another site's name.
        assert!(
            local
                .refuse(peer("127.0.0.1"), Some("evil.example:3000"))
                .is_some()
        );
        assert!(local.refuse(peer("127.0.0.1"), None).is_some());

        let public = Access::new(true, "http://orders.example.com:8080/");
        assert_eq!(
            public.refuse(peer("192.0.2.7"), Some("orders.example.com:8080")),
            None
        );
        assert_eq!(
            public.refuse(peer("192.0.2.7"), Some("192.0.2.1:8080")),
            None
        );
        assert!(
            public
                .refuse(peer("192.0.2.7"), Some("evil.example"))
                .is_some()
        );
    }
}
