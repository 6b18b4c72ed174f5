//! `GET /console`: the saga's executions, newest first (`ListExecutions`),
//! filtered by status, a page at a time; each with its order's status and
//! its current state (the last state its history entered).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use serde::Deserialize;
use serde_json::{Value, json};

use super::html::{duration, esc, page as frame, status, time};
use super::{Console, PageError};
use crate::sfn::STATUS_FILTERS as STATUSES;

/// Executions per page.
pub const PAGE_SIZE: u64 = 25;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    /// The API's `nextToken` of the page to show.
    #[serde(default)]
    next: Option<String>,
}

/// Seconds since the epoch (as the API sends dates) in milliseconds.
pub fn ms(v: &Value) -> Option<i64> {
    #[allow(clippy::cast_possible_truncation)]
    v.as_f64().map(|s| (s * 1000.0).round() as i64)
}

impl Console {
    /// The state the execution entered last (its current one while it runs).
    pub(super) async fn current_state(&self, name: &str) -> Result<Option<String>, PageError> {
        let page = self
            .call(
                "GetExecutionHistory",
                json!({"executionArn": self.execution_arn(name)?, "reverseOrder": true,
                       "maxResults": 50, "includeExecutionData": false}),
            )
            .await?;
        Ok(page["events"].as_array().and_then(|events| {
            events.iter().find_map(|e| {
                let t = e["type"].as_str()?;
                t.ends_with("StateEntered")
                    .then(|| e["stateEnteredEventDetails"]["name"].as_str())
                    .flatten()
                    .map(str::to_owned)
            })
        }))
    }
}

fn filter_form(selected: Option<&str>) -> String {
    let mut options = String::from(r#"<option value="">any status</option>"#);
    for s in STATUSES {
        let sel = if selected == Some(s) { " selected" } else { "" };
        let _ = write!(options, r#"<option value="{s}"{sel}>{s}</option>"#);
    }
    format!(
        r#"<form class="filters" method="get" action="/console"><label for="status">Status</label> <select id="status" name="status">{options}</select> <button type="submit">Filter</button></form>"#
    )
}

async fn row(console: &Console, e: &Value, now_ms: i64) -> Result<String, PageError> {
    let name = e["name"].as_str().unwrap_or_default();
    let st = e["status"].as_str().unwrap_or_default();
    let start = ms(&e["startDate"]).unwrap_or_default();
    let stop = ms(&e["stopDate"]);
    let current = console.current_state(name).await?.unwrap_or_default();
    let order = match saga_core::OrderId::parse(name) {
        Ok(id) => console.orders.get(&id).await?,
        Err(_) => None,
    };
    let order_status = order.map_or_else(String::new, |o| status(o.status().as_str()));
    let href = format!("/console/executions/{}", esc(&urlencode(name)));
    Ok(format!(
        r#"<tr><td><a href="{href}"><code>{}</code></a></td><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td>{}</td></tr>"#,
        esc(name),
        status(st),
        order_status,
        esc(&time(start)),
        esc(&duration(stop.unwrap_or(now_ms) - start)),
        esc(&current)
    ))
}

/// Percent-encode a path segment (execution names may hold any character
/// the API accepts).
pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

pub async fn page(
    State(console): State<Arc<Console>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Html<String>, PageError> {
    let Query(q) =
        query.map_err(|e| PageError::new(StatusCode::BAD_REQUEST, "Bad query", e.body_text()))?;
    let status_filter = q.status.as_deref().filter(|s| !s.is_empty());
    let mut body = json!({"stateMachineArn": console.machine_arn()?, "maxResults": PAGE_SIZE});
    if let Some(s) = status_filter {
        body["statusFilter"] = json!(s);
    }
    if let Some(t) = q.next.as_deref().filter(|t| !t.is_empty()) {
        body["nextToken"] = json!(t);
    }
    let listed = console.call("ListExecutions", body).await?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut rows = String::new();
    for e in listed["executions"].as_array().into_iter().flatten() {
        rows.push_str(&row(&console, e, now_ms).await?);
    }
    if rows.is_empty() {
        rows = r#"<tr><td colspan="6" class="muted">No executions yet: post an order (<code>POST /orders</code>) and it appears here.</td></tr>"#.to_owned();
    }
    let mut pager = String::new();
    let filter_q = status_filter
        .map(|s| format!("status={}&", urlencode(s)))
        .unwrap_or_default();
    if q.next.is_some() {
        let _ = write!(
            pager,
            r#"<a href="/console?{}">First page</a> "#,
            esc(filter_q.trim_end_matches('&'))
        );
    }
    if let Some(t) = listed["nextToken"].as_str() {
        let _ = write!(
            pager,
            r#"<a href="/console?{}next={}" rel="next">Older executions →</a>"#,
            esc(&filter_q),
            esc(&urlencode(t))
        );
    }
    let html = format!(
        r#"<h1>Executions of the order saga</h1>
{filter}
<div id="executions" data-live aria-live="polite">
<div class="table-wrap"><table><caption class="muted">Newest first{shown}; updated live while this page is open.</caption>
<thead><tr><th scope="col">Order id</th><th scope="col">Execution</th><th scope="col">Order status</th><th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Current state</th></tr></thead>
<tbody>{rows}</tbody></table></div>
</div>
<nav class="filters" aria-label="Pages">{pager}</nav>"#,
        filter = filter_form(status_filter),
        shown = status_filter
            .map(|s| format!(", status {}", esc(s)))
            .unwrap_or_default(),
    );
    Ok(Html(frame("Executions", &html)))
}
