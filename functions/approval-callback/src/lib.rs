//! `approval-callback`: the approver's side of an approval (API Gateway HTTP API).
//!
//! - `GET /approvals/{approvalId}[?decision=approve|reject]` → a confirmation
//!   page (order summary, Approve / Reject forms that POST). It changes nothing:
//!   mail scanners prefetch links.
//! - `POST /approvals/{approvalId}` (form or JSON `decision=approve|reject`) →
//!   decides exactly once (a conditional update from `PENDING`, expiry checked),
//!   then resumes the execution with `SendTaskSuccess {"approved", "decidedAt"}`.
//!   `409` already decided, `410` expired (also when Step Functions says the task
//!   is gone), `404` unknown.
//!
//! A decision recorded but not delivered (Step Functions unreachable, or the
//! function stopped in between) is delivered by the next POST of the same
//! decision, and without one: [`redeliver`] is what saga-local's sweep calls,
//! and in AWS the approvals table's stream invokes this function with the
//! undelivered decisions ([`stream`], [`invoke`]).

use std::sync::Arc;

use saga_apigw::http::Method;
use saga_apigw::{Request, Response, html_escape};
use saga_core::approval::{ApprovalStatus, Decision};
use saga_core::order::{Change, Expect, OrderUpdate};
use saga_core::ports::{
    ApprovalStore, BoxError, DecideOutcome, OrderStore, StoreError, TaskGone, Workflow,
    WorkflowError, error_chain,
};
use saga_core::{Approval, ApprovalId, Clock, OrderStatus, Timestamp};
use serde_json::json;

#[derive(Clone)]
pub struct Deps {
    pub approvals: Arc<dyn ApprovalStore>,
    pub orders: Arc<dyn OrderStore>,
    pub workflow: Arc<dyn Workflow>,
    pub clock: Arc<dyn Clock>,
}

saga_core::debug_deps!(Deps);

pub mod stream;
pub use stream::{Invocation, Reply, invoke};

/// An API Gateway HTTP API request.
pub type Input = Request;
/// An API Gateway HTTP API response.
pub type Output = Response;

/// The environment variables `main.rs` reads (Terraform sets exactly these).
pub const ENV_VARS: &[&str] = &["ORDERS_TABLE", "APPROVALS_TABLE"];

/// Everything that ends a request with something other than success; each
/// variant knows its status and the page the approver sees.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    BadRequest(String),
    #[error("already {decision} at {at}")]
    AlreadyDecided {
        order_id: String,
        decision: &'static str,
        at: String,
    },
    #[error("approval request expired")]
    Expired { order_id: String },
    #[error("approval request replaced by a newer one")]
    Superseded { order_id: String },
    #[error("temporarily unavailable")]
    Unavailable(#[source] BoxError),
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        e.split_transient(Self::Unavailable, Self::Internal)
    }
}

impl Error {
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::BadRequest(_) => 400,
            Self::AlreadyDecided { .. } => 409,
            Self::Expired { .. } | Self::Superseded { .. } => 410,
            Self::Unavailable(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// The response the approver sees. Internal details stay in the logs.
    pub fn into_response(self, wants_json: bool) -> Response {
        let status = self.status();
        let (title, text) = match &self {
            Self::NotFound => (
                "Not found".to_owned(),
                "There is no approval request at this address.".to_owned(),
            ),
            Self::MethodNotAllowed => (
                "Method not allowed".to_owned(),
                "Use GET to view or POST to decide.".to_owned(),
            ),
            Self::BadRequest(m) => ("Bad request".to_owned(), m.clone()),
            Self::AlreadyDecided {
                order_id,
                decision,
                at,
            } => (
                "Already decided".to_owned(),
                format!("Order {order_id} was already {decision} at {at}. Nothing was changed."),
            ),
            Self::Expired { order_id } => (
                "Link no longer valid".to_owned(),
                format!(
                    "This approval link for order {order_id} is no longer valid: the request expired \
                     or the order stopped waiting for a decision. Nothing was changed."
                ),
            ),
            Self::Superseded { order_id } => (
                "Link replaced".to_owned(),
                format!(
                    "A newer approval request was sent for order {order_id}; this link no longer decides \
                     anything. Use the link in the newest e-mail."
                ),
            ),
            Self::Unavailable(_) => (
                "Try again".to_owned(),
                "The decision could not be completed right now. Please try again in a moment."
                    .to_owned(),
            ),
            Self::Internal(_) => (
                "Something went wrong".to_owned(),
                "The request could not be completed.".to_owned(),
            ),
        };
        let resp = if wants_json {
            saga_apigw::json_response(status, &json!({"error": text}))
        } else {
            saga_apigw::html_response(
                status,
                page(&title, &format!("<p>{}</p>", html_escape(&text))),
            )
        };
        let resp = secure(resp);
        match self {
            Self::MethodNotAllowed => saga_apigw::with_header(resp, "allow", "GET, HEAD, POST"),
            Self::Unavailable(_) => saga_apigw::with_header(resp, "retry-after", "2"),
            _ => resp,
        }
    }
}

/// Handle the request, rendering every error as its page. What `main.rs` and
/// saga-local call.
pub async fn respond(deps: &Deps, req: Input) -> Output {
    let wants_json = wants_json(&req);
    match handle(deps, req).await {
        Ok(resp) => resp,
        Err(e) => {
            if e.status() >= 500 {
                tracing::error!(status = e.status(), error = %error_chain(&e), "approval request failed");
            }
            e.into_response(wants_json)
        }
    }
}

/// Route and handle the request.
pub async fn handle(deps: &Deps, req: Input) -> Result<Output, Error> {
    let id = route(saga_apigw::path(&req))?;
    let method = saga_apigw::method(&req).clone();
    if method == Method::GET || method == Method::HEAD {
        show(deps, &id, &req).await
    } else if method == Method::POST {
        decide(deps, &id, &req).await
    } else {
        Err(Error::MethodNotAllowed)
    }
}

fn route(path: &str) -> Result<ApprovalId, Error> {
    let id = path.strip_prefix("/approvals/").ok_or(Error::NotFound)?;
    ApprovalId::parse(id).map_err(|_| Error::NotFound)
}

fn wants_json(req: &Request) -> bool {
    let is_json = |h: Option<&str>| h.is_some_and(|v| v.contains("application/json"));
    is_json(saga_apigw::header(req, "content-type")) || is_json(saga_apigw::header(req, "accept"))
}

/// Headers for pages behind a capability URL.
fn secure(resp: Response) -> Response {
    [
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
        ("x-robots-tag", "noindex, nofollow"),
        ("x-content-type-options", "nosniff"),
        ("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    ]
    .into_iter()
    .fold(resp, |r, (k, v)| saga_apigw::with_header(r, k, v))
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}\
         table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}}\
         .num{{text-align:right}}form{{display:inline-block;margin:1rem 1rem 0 0}}button{{font-size:1.1rem;padding:.6rem 1.4rem}}\
         .approve{{background:#1a7f37;color:#fff}}.reject{{background:#cf222e;color:#fff}}.chosen{{outline:3px solid #0969da}}</style>\
         </head><body><h1>{t}</h1>\n{body}\n</body></html>\n",
        t = html_escape(title)
    )
}

fn summary_html(a: &Approval) -> String {
    let currency = a.summary.total.currency();
    let mut rows = String::new();
    for l in &a.summary.lines {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            html_escape(l.sku.as_str()),
            html_escape(&l.name),
            l.quantity.get(),
            html_escape(&l.unit_price(currency).to_string()),
            html_escape(&l.line_total_text(currency))
        ));
    }
    format!(
        "<p>Order <strong>{}</strong> from customer <strong>{}</strong>.</p>\
         <table><thead><tr><th>SKU</th><th>Item</th><th class=\"num\">Qty</th><th class=\"num\">Unit</th><th class=\"num\">Line</th></tr></thead>\
         <tbody>{rows}</tbody><tfoot><tr><th colspan=\"4\">Total</th><th class=\"num\">{}</th></tr></tfoot></table>",
        html_escape(a.order_id.as_str()),
        html_escape(a.summary.customer_id.as_str()),
        html_escape(&a.summary.total.to_string()),
    )
}

/// GET: the confirmation page. Reads only.
async fn show(deps: &Deps, id: &ApprovalId, req: &Request) -> Result<Output, Error> {
    let approval = deps.approvals.get(id).await?.ok_or(Error::NotFound)?;
    let now = deps.clock.now();
    let order_id = approval.order_id.to_string();
    match approval.status {
        ApprovalStatus::Expired => return Err(Error::Expired { order_id }),
        ApprovalStatus::Pending if approval.is_expired_at(now) => {
            return Err(Error::Expired { order_id });
        }
        ApprovalStatus::Approved | ApprovalStatus::Rejected if approval.delivered => {
            let decided = decided_word(&approval);
            let at = approval
                .decided_at
                .map(|t| t.to_string())
                .unwrap_or_default();
            let body = format!(
                "{}<p>This order was <strong>{decided}</strong> at {}.</p>",
                summary_html(&approval),
                html_escape(&at)
            );
            return Ok(secure(saga_apigw::html_response(
                200,
                page("Approval decided", &body),
            )));
        }
        ApprovalStatus::Approved | ApprovalStatus::Rejected => {
            // Recorded but not delivered (the POST answered 503): offer to send
            // the same decision again; POST delivers it.
            let Some(decision) = approval.decision() else {
                return Err(Error::Expired { order_id });
            };
            let body = format!(
                "{}<p>Your decision to <strong>{}</strong> this order was recorded but has not reached it yet. \
                 Confirm it again to deliver it.</p>{}",
                summary_html(&approval),
                decision.as_str(),
                decision_form(decision, &format!("Confirm: {}", decision.as_str()), true),
            );
            return Ok(secure(saga_apigw::html_response(
                200,
                page("Deliver your decision", &body),
            )));
        }
        ApprovalStatus::Pending => {}
    }
    let chosen = saga_apigw::query(req, "decision").and_then(|d| Decision::parse(&d));
    let button = |d: Decision, label: &str| decision_form(d, label, chosen == Some(d));
    let prompt = match chosen {
        Some(Decision::Approve) => "<p>Confirm to <strong>approve</strong> this order.</p>",
        Some(Decision::Reject) => "<p>Confirm to <strong>reject</strong> this order.</p>",
        None => "<p>Approve or reject this order.</p>",
    };
    let body = format!(
        "{}{prompt}{}{}<p><small>This request expires at {}.</small></p>",
        summary_html(&approval),
        button(Decision::Approve, "Approve"),
        button(Decision::Reject, "Reject"),
        html_escape(&approval.expires_at.to_string())
    );
    Ok(secure(saga_apigw::html_response(
        200,
        page(&format!("Approve order {}?", approval.order_id), &body),
    )))
}

/// Whether another request delivered this approval's decision. Its
/// `SendTaskSuccess` and the "delivered" mark are a few milliseconds apart, so
/// look twice more after short pauses before concluding it didn't.
async fn delivered_elsewhere(deps: &Deps, id: &ApprovalId) -> Result<bool, Error> {
    for pause_ms in [0, 150, 300] {
        tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
        if deps.approvals.get(id).await?.is_some_and(|a| a.delivered) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A form that POSTs `decision` to the page's own URL (no `action`: the page
/// may be served under a path prefix).
fn decision_form(decision: Decision, label: &str, chosen: bool) -> String {
    let class = if chosen {
        format!("{} chosen", decision.as_str())
    } else {
        decision.as_str().to_owned()
    };
    format!(
        "<form method=\"post\"><input type=\"hidden\" name=\"decision\" value=\"{}\">\
         <button type=\"submit\" class=\"{class}\">{}</button></form>",
        decision.as_str(),
        html_escape(label)
    )
}

fn decided_word(a: &Approval) -> &'static str {
    match a.status {
        ApprovalStatus::Approved => "approved",
        ApprovalStatus::Rejected => "rejected",
        ApprovalStatus::Expired => "expired",
        ApprovalStatus::Pending => "pending",
    }
}

fn parse_decision(req: &Request) -> Result<Decision, Error> {
    let body = saga_apigw::body(req).map_err(|e| Error::BadRequest(e.to_string()))?;
    let is_json =
        saga_apigw::header(req, "content-type").is_some_and(|c| c.contains("application/json"));
    let raw = if is_json {
        serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.get("decision")
                    .and_then(|d| d.as_str())
                    .map(str::to_owned)
            })
    } else {
        saga_apigw::form_value(&body, "decision")
    };
    raw.as_deref()
        .and_then(Decision::parse)
        .ok_or_else(|| Error::BadRequest("decision must be \"approve\" or \"reject\"".to_owned()))
}

/// POST: decide once, then deliver the decision to the waiting execution.
async fn decide(deps: &Deps, id: &ApprovalId, req: &Request) -> Result<Output, Error> {
    let decision = parse_decision(req)?;
    let now = deps.clock.now();
    match deps.approvals.decide(id, decision, now).await? {
        DecideOutcome::NotFound => Err(Error::NotFound),
        DecideOutcome::Expired(a) => {
            deps.approvals.mark_expired(id).await?;
            Err(Error::Expired {
                order_id: a.order_id.to_string(),
            })
        }
        DecideOutcome::Decided(a) => deliver(deps, &a, decision, now, req).await,
        DecideOutcome::NotPending(a) => {
            let order_id = a.order_id.to_string();
            match a.status {
                ApprovalStatus::Expired => Err(Error::Expired { order_id }),
                // The same decision, recorded but never delivered: deliver it now.
                _ if a.decision() == Some(decision) && !a.delivered => {
                    let at = a.decided_at.unwrap_or(now);
                    deliver(deps, &a, decision, at, req).await
                }
                _ => Err(Error::AlreadyDecided {
                    order_id,
                    decision: decided_word(&a),
                    at: a.decided_at.map(|t| t.to_string()).unwrap_or_default(),
                }),
            }
        }
    }
}

/// Deliver the decision of an approval that was decided but not delivered
/// (its POST answered `503`, or the process died in between), without a
/// second click: what saga-local's redelivery sweep calls. Nothing to do for
/// an approval that is pending, expired or delivered.
pub async fn redeliver(deps: &Deps, a: &Approval) -> Result<(), Error> {
    let (Some(decision), false) = (a.decision(), a.delivered) else {
        return Ok(());
    };
    let at = a.decided_at.unwrap_or_else(|| deps.clock.now());
    send_decision(deps, a, decision, at).await
}

/// Record `decision` on the order, resume the execution with it, and mark the
/// approval delivered. Whether it was delivered is what `SendTaskSuccess`
/// answers, never the order's status (which lags the workflow): a closed task
/// (`TaskTimedOut`, `InvalidToken`, `TaskDoesNotExist`) is `Expired`, unless
/// another request marked this approval delivered meanwhile (`AlreadyDecided`)
/// or a newer approval replaced it (`Superseded`).
async fn send_decision(
    deps: &Deps,
    a: &Approval,
    decision: Decision,
    at: Timestamp,
) -> Result<(), Error> {
    let id = &a.approval_id;
    let order_id = &a.order_id;
    record_on_order(deps, a, decision, at).await?;
    let output = json!({"approved": decision.approved(), "decidedAt": at});
    match deps
        .workflow
        .send_task_success(&a.task_token, &output)
        .await
    {
        Ok(()) => {
            if let Err(e) = deps.approvals.mark_delivered(id, decision).await {
                tracing::warn!(%order_id, error = %error_chain(&e), "decision delivered but not marked delivered");
            }
            tracing::info!(%order_id, decision = decision.as_str(), "approval decided");
            Ok(())
        }
        Err(WorkflowError::TaskGone(why)) => Err(task_gone(deps, a, why).await),
        Err(WorkflowError::Store(e)) => Err(e.into()),
    }
}

/// Record the decision on the order before resuming the execution, so the
/// payment step finds the order APPROVED. A failed condition means the order
/// moved on (a redelivery, or a timeout); the workflow has the last word.
async fn record_on_order(
    deps: &Deps,
    a: &Approval,
    decision: Decision,
    at: Timestamp,
) -> Result<(), Error> {
    let change = Change::ApprovalDecided {
        approved: decision.approved(),
        at,
    };
    let expect_this = Expect::ApprovalIs(a.approval_id.clone());
    let update = if decision.approved() {
        OrderUpdate::transition(
            OrderStatus::Approved,
            &[OrderStatus::AwaitingApproval],
            vec![change],
            at,
        )
        .and_expect(expect_this)
    } else {
        OrderUpdate::changes(
            vec![
                expect_this,
                Expect::StatusIn(vec![OrderStatus::AwaitingApproval]),
            ],
            vec![change],
            at,
        )
    };
    deps.orders.update(&a.order_id, &update).await?;
    Ok(())
}

/// Step Functions says the task waiting on this approval is closed.
async fn task_gone(deps: &Deps, a: &Approval, why: TaskGone) -> Error {
    match closed_task_outcome(deps, a, why).await {
        Ok(e) | Err(e) => e,
    }
}

async fn closed_task_outcome(deps: &Deps, a: &Approval, why: TaskGone) -> Result<Error, Error> {
    let id = &a.approval_id;
    let order_id = a.order_id.to_string();
    // A concurrent POST of the same decision (a double click, two Lambda
    // instances) may have delivered it first: it closed the task.
    if delivered_elsewhere(deps, id).await? {
        return Ok(Error::AlreadyDecided {
            order_id,
            decision: decided_word(a),
            at: a.decided_at.map(|t| t.to_string()).unwrap_or_default(),
        });
    }
    // A retried RequestApproval replaced this approval: the order waits on
    // the newer one (which approval is current, not how far the order got).
    let order = deps.orders.get(&a.order_id).await?;
    if order
        .as_ref()
        .and_then(|o| o.approval())
        .is_some_and(|current| current.approval_id != *id)
    {
        deps.approvals.mark_expired(id).await?;
        return Ok(Error::Superseded { order_id });
    }
    // Timed out, or closed by a delivery whose mark has not landed: that
    // delivery's mark restores the decision (`mark_delivered`).
    tracing::info!(%order_id, reason = ?why, "the execution stopped waiting; approval expired");
    deps.approvals.mark_expired(id).await?;
    Ok(Error::Expired { order_id })
}

async fn deliver(
    deps: &Deps,
    a: &Approval,
    decision: Decision,
    at: Timestamp,
    req: &Request,
) -> Result<Output, Error> {
    send_decision(deps, a, decision, at).await?;
    let order_id = &a.order_id;

    let (title, text) = if decision.approved() {
        (
            "Order approved",
            format!("Order {order_id} is approved. It will now be charged and shipped."),
        )
    } else {
        (
            "Order rejected",
            format!("Order {order_id} is rejected. It will be cancelled and its stock released."),
        )
    };
    let resp = if wants_json(req) {
        saga_apigw::json_response(
            200,
            &json!({"orderId": order_id, "decision": decision.as_str(), "decidedAt": at}),
        )
    } else {
        saga_apigw::html_response(200, page(title, &format!("<p>{}</p>", html_escape(&text))))
    };
    Ok(secure(resp))
}

#[cfg(test)]
mod tests;
