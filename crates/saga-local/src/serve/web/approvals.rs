//! `GET /console/approvals`: the orders waiting for a person, with their
//! amount and deadline, each linking to the confirmation page the approval
//! e-mail links to (`/approvals/{approvalId}`, which changes nothing until
//! its Approve / Reject form is posted). The running executions come from
//! `ListExecutions`; the approval from the order's pointer to it.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use saga_core::approval::ApprovalStatus;
use saga_core::{Approval, OrderId, OrderStatus};
use serde_json::json;

use super::html::{esc, page as frame, time};
use super::list::urlencode;
use super::{Console, PageError};

/// Running executions looked at (pages of the API's maximum).
const MAX_RUNNING: usize = 10_000;

impl Console {
    /// Names of the saga's running executions.
    async fn running(&self) -> Result<Vec<String>, PageError> {
        let arn = self.machine_arn()?;
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body =
                json!({"stateMachineArn": arn, "statusFilter": "RUNNING", "maxResults": 1000});
            if let Some(t) = &token {
                body["nextToken"] = json!(t);
            }
            let page = self.call("ListExecutions", body).await?;
            for e in page["executions"].as_array().into_iter().flatten() {
                if let Some(n) = e["name"].as_str() {
                    names.push(n.to_owned());
                }
            }
            token = page["nextToken"].as_str().map(str::to_owned);
            if token.is_none() || names.len() >= MAX_RUNNING {
                return Ok(names);
            }
        }
    }

    /// The pending approvals of running orders, soonest deadline first.
    async fn pending(&self) -> Result<Vec<Approval>, PageError> {
        let mut pending = Vec::new();
        for name in self.running().await? {
            let Ok(id) = OrderId::parse(&name) else {
                continue;
            };
            let Some(order) = self.orders.get(&id).await? else {
                continue;
            };
            let Some(pointer) = order
                .approval()
                .filter(|_| order.status() == OrderStatus::AwaitingApproval)
            else {
                continue;
            };
            if let Some(a) = self.approvals.get(&pointer.approval_id).await?
                && a.status == ApprovalStatus::Pending
            {
                pending.push(a);
            }
        }
        pending.sort_by_key(|a| a.expires_at.as_millis());
        Ok(pending)
    }
}

pub async fn page(State(console): State<Arc<Console>>) -> Result<Html<String>, PageError> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut rows = String::new();
    for a in console.pending().await? {
        let left = a.expires_at.as_millis() - now;
        let deadline = if left <= 0 {
            "expired (the timeout rejects it)".to_owned()
        } else {
            format!("in {}", super::html::duration(left))
        };
        let order = a.order_id.as_str();
        // Never the task token: only what the e-mail shows.
        let _ = write!(
            rows,
            r#"<tr><td><a href="/console/executions/{href}"><code>{order_h}</code></a></td><td>{customer}</td><td class="num"><strong>{total}</strong></td><td>{until} <span class="muted">({deadline})</span></td><td><a class="button" href="/approvals/{approval}">Review and decide<span class="muted"> order {order_h}</span></a></td></tr>"#,
            href = esc(&urlencode(order)),
            order_h = esc(order),
            customer = esc(a.summary.customer_id.as_str()),
            total = esc(&a.summary.total.to_string()),
            until = esc(&time(a.expires_at.as_millis())),
            deadline = esc(&deadline),
            approval = esc(&urlencode(a.approval_id.as_str())),
        );
    }
    if rows.is_empty() {
        rows = r#"<tr><td colspan="5" class="muted">No order is waiting for a decision.</td></tr>"#
            .to_owned();
    }
    let body = format!(
        r#"<h1>Approvals waiting for a decision</h1>
<p>Each link opens the confirmation page the approval e-mail links to; nothing is decided until you press Approve or Reject there.</p>
<div id="approvals" data-live aria-live="polite"><div class="table-wrap"><table>
<thead><tr><th scope="col">Order</th><th scope="col">Customer</th><th scope="col">Amount</th><th scope="col">Deadline</th><th scope="col">Decision</th></tr></thead>
<tbody>{rows}</tbody></table></div></div>"#
    );
    Ok(Html(frame("Approvals", &body)))
}
