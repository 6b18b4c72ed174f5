//! `api-handler`: the order API (API Gateway HTTP API).
//!
//! - `POST /orders`: checks the request field by field (`400` naming each bad
//!   field, `413` over 64 KiB), honours `Idempotency-Key` (the same key and body
//!   return the same order; another body under the key is `422`), stores the
//!   order as `RECEIVED`, starts the saga named by the order id (so a replay
//!   can't start a second execution), and answers `202` with `Location`. A
//!   customer holding [`Deps::max_open_orders_per_customer`] orders that are
//!   not final gets `429` with `Retry-After`, and nothing is stored: stock is
//!   reserved before approval, so one client must not hold the catalog.
//! - `GET /orders/{orderId}`: the order as the orders table has it (not
//!   `DescribeExecution`): status, priced lines, total, tracking number, failure,
//!   history. The failure is curated per error name (the SKU that ran out, not
//!   the stock left; a reference instead of an internal cause chain).
//!
//! - Both: a header that isn't UTF-8 is `400` naming it; `POST` needs
//!   `Content-Type: application/json` (`415`). Behind API Gateway's JWT
//!   authorizer the customer is the `sub` claim: another `customerId` is
//!   `403`, another customer's order `404`, and idempotency keys are scoped
//!   to the customer.
//!
//! Other paths are `404`, other methods `405`. Internal error details never
//! reach the client; the logs get the cause chain.

use std::sync::Arc;
use std::time::Duration;

use saga_apigw::http::Method;
use saga_apigw::{Request, Response};
use saga_core::order::{Change, Failure, OrderUpdate};
use saga_core::ports::{
    Admission, BoxError, Claim, IdempotencyRecord, IdempotencyStore, OrderStore, StoreError,
    Workflow, WorkflowError, error_chain,
};
use saga_core::request::{FieldError, MAX_BODY_BYTES, RequestError, parse_order_request};
use saga_core::{ClientFailure, Clock, ErrorName, IdempotencyKey, Order, OrderId, OrderStatus};
use serde::Serialize;
use serde_json::json;

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// `MAX_OPEN_ORDERS_PER_CUSTOMER` when unset.
pub const DEFAULT_MAX_OPEN_ORDERS_PER_CUSTOMER: u32 = 10;

/// The `Retry-After` of a `429`: most orders end within a minute; one waiting
/// for approval may take up to the approval timeout, so the client polls.
pub const OPEN_ORDERS_RETRY_AFTER_SECONDS: u32 = 60;

/// `MAX_OPEN_ORDERS_PER_CUSTOMER` is not a whole number from 1.
#[derive(Debug, thiserror::Error)]
#[error("MAX_OPEN_ORDERS_PER_CUSTOMER must be a whole number from 1, got {0:?}")]
pub struct InvalidMaxOpenOrders(pub String);

/// The cap from the value of `MAX_OPEN_ORDERS_PER_CUSTOMER` (unset or blank:
/// the default).
pub fn max_open_orders_per_customer(value: Option<&str>) -> Result<u32, InvalidMaxOpenOrders> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_MAX_OPEN_ORDERS_PER_CUSTOMER),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| InvalidMaxOpenOrders(v.to_owned())),
    }
}

#[derive(Clone)]
pub struct Deps {
    pub orders: Arc<dyn OrderStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub workflow: Arc<dyn Workflow>,
    pub clock: Arc<dyn Clock>,
    /// Makes `Location` absolute (`https://api.example.com/orders/…`); relative when unset.
    pub public_base_url: Option<String>,
    /// How many orders that are not final one customer may have.
    pub max_open_orders_per_customer: u32,
}

saga_core::debug_deps!(Deps, public_base_url, max_open_orders_per_customer);

pub type Input = Request;
pub type Output = Response;

/// The environment variables `main.rs` reads (Terraform sets exactly these).
pub const ENV_VARS: &[&str] = &[
    "ORDERS_TABLE",
    "IDEMPOTENCY_TABLE",
    "STATE_MACHINE_ARN",
    "PUBLIC_BASE_URL",
    "MAX_OPEN_ORDERS_PER_CUSTOMER",
];

/// Every way a request ends other than success.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    BadRequest {
        message: String,
        details: Vec<FieldError>,
    },
    #[error("request body is larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// The authenticated caller may not do this (e.g. order for another customer).
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound { what: &'static str },
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("Idempotency-Key was already used with a different request")]
    IdempotencyConflict,
    #[error("too many open orders: at most {max} orders per customer may be in progress")]
    TooManyOpenOrders { max: u32 },
    #[error("temporarily unavailable")]
    Unavailable(#[source] BoxError),
    /// The saga could not be started and, without an idempotency key, the
    /// order was ended: the client must submit it again.
    #[error("the order could not be accepted")]
    NotAccepted(#[source] BoxError),
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        e.split_transient(Self::Unavailable, Self::Internal)
    }
}

impl From<WorkflowError> for Error {
    fn from(e: WorkflowError) -> Self {
        match e {
            WorkflowError::Store(s) => s.into(),
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl Error {
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Forbidden(_) => 403,
            Self::NotFound { .. } => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::IdempotencyConflict => 422,
            Self::TooManyOpenOrders { .. } => 429,
            Self::Unavailable(_) | Self::NotAccepted(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// `{"error": …, "details": […]}`; no internal details.
    pub fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            Self::BadRequest { message, details } => json!({"error": message, "details": details}),
            Self::NotFound { what } => json!({"error": format!("{what} not found")}),
            Self::Unavailable(_) => json!({
                "error": "temporarily unavailable; retry (with the same Idempotency-Key if you sent one)"
            }),
            Self::NotAccepted(_) => json!({
                "error": "the order could not be accepted and will not be processed; submit it again"
            }),
            Self::Internal(_) => json!({"error": "internal error"}),
            other => json!({"error": other.to_string()}),
        };
        let resp = saga_apigw::json_response(status, &body);
        match self {
            Self::MethodNotAllowed { allow } => saga_apigw::with_header(resp, "allow", allow),
            Self::TooManyOpenOrders { .. } => saga_apigw::with_header(
                resp,
                "retry-after",
                &OPEN_ORDERS_RETRY_AFTER_SECONDS.to_string(),
            ),
            Self::Unavailable(_) | Self::NotAccepted(_) => {
                saga_apigw::with_header(resp, "retry-after", "1")
            }
            _ => resp,
        }
    }
}

/// Handle the request, rendering errors as JSON responses.
pub async fn respond(deps: &Deps, req: Input) -> Output {
    match handle(deps, req).await {
        Ok(resp) => resp,
        Err(e) => {
            if e.status() >= 500 {
                tracing::error!(status = e.status(), error = %error_chain(&e), "request failed");
            }
            e.into_response()
        }
    }
}

/// Route and handle the request.
pub async fn handle(deps: &Deps, req: Input) -> Result<Output, Error> {
    if let Some(e) = saga_apigw::undecodable_header(&req) {
        return Err(bad_header(&e.name, e.to_string()));
    }
    let path = saga_apigw::path(&req).trim_end_matches('/');
    let method = saga_apigw::method(&req).clone();
    if path == "/orders" {
        return if method == Method::POST {
            create(deps, &req).await
        } else {
            Err(Error::MethodNotAllowed { allow: "POST" })
        };
    }
    if let Some(id) = path.strip_prefix("/orders/").filter(|s| !s.contains('/')) {
        return if method == Method::GET || method == Method::HEAD {
            show(deps, id, caller(&req)?).await
        } else {
            Err(Error::MethodNotAllowed { allow: "GET, HEAD" })
        };
    }
    Err(Error::NotFound { what: "route" })
}

fn location(deps: &Deps, id: &OrderId) -> String {
    let base = deps
        .public_base_url
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/');
    format!("{base}/orders/{id}")
}

/// A `400` naming the header.
fn bad_header(name: &str, message: String) -> Error {
    Error::BadRequest {
        message: format!("invalid {name} header"),
        details: vec![FieldError {
            field: name.to_owned(),
            message,
        }],
    }
}

/// Orders are JSON: any other type (a `text/plain` form is a CORS "simple
/// request" any web page can send) is refused before anything is stored.
fn require_json(req: &Request) -> Result<(), Error> {
    let content_type = saga_apigw::checked_header(req, "content-type")
        .map_err(|e| bad_header("Content-Type", e.to_string()))?;
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim);
    match essence {
        Some(t) if t.eq_ignore_ascii_case("application/json") => Ok(()),
        _ => Err(Error::UnsupportedMediaType),
    }
}

/// The `Idempotency-Key` header, if sent. A value that can't be decoded or
/// parsed is a `400`, never taken for an absent key (that would make a retry
/// a second order and a second charge).
fn idempotency_key(req: &Request) -> Result<Option<IdempotencyKey>, Error> {
    let raw = saga_apigw::checked_header(req, "idempotency-key")
        .map_err(|e| bad_header("Idempotency-Key", e.to_string()))?;
    raw.map(|k| IdempotencyKey::parse(k).map_err(|e| bad_header("Idempotency-Key", e.to_string())))
        .transpose()
}

/// The authenticated customer: the `sub` claim of API Gateway's JWT
/// authorizer. `None` when the route has no authorizer (auth off): then the
/// body's `customerId` is trusted, as before.
fn caller(req: &Request) -> Result<Option<&str>, Error> {
    match saga_apigw::jwt_claims(req) {
        None => Ok(None),
        Some(claims) => claims
            .get("sub")
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .map(Some)
            .ok_or(Error::Forbidden("the token has no sub claim")),
    }
}

async fn create(deps: &Deps, req: &Request) -> Result<Output, Error> {
    require_json(req)?;
    let body = saga_apigw::body(req).map_err(|e| Error::BadRequest {
        message: "request body is not readable".into(),
        details: vec![FieldError {
            field: "body".into(),
            message: e.to_string(),
        }],
    })?;
    let mut key = idempotency_key(req)?;
    let customer = caller(req)?;
    let request = parse_order_request(&body).map_err(|e| match e {
        RequestError::TooLarge => Error::PayloadTooLarge,
        RequestError::MalformedJson(_) => Error::BadRequest {
            message: "request body is not valid JSON".into(),
            details: e.details(),
        },
        RequestError::InvalidFields(details) => Error::BadRequest {
            message: "invalid order".into(),
            details,
        },
    })?;
    if let Some(sub) = customer {
        if request.customer_id.as_str() != sub {
            return Err(Error::Forbidden(
                "customerId is not the authenticated customer",
            ));
        }
        key = key.map(|k| k.scoped_to(sub));
    }

    let now = deps.clock.now();
    let mut order_id = OrderId::generate(now);
    let mut replay = false;
    if let Some(key) = &key {
        let record = IdempotencyRecord {
            key: key.clone(),
            fingerprint: request.fingerprint(),
            order_id: order_id.clone(),
            created_at: now,
            expires_at: now.plus(IDEMPOTENCY_WINDOW),
        };
        if let Claim::Existing(existing) = deps.idempotency.claim(&record, now).await? {
            if existing.fingerprint != record.fingerprint {
                return Err(Error::IdempotencyConflict);
            }
            order_id = existing.order_id;
            replay = true;
        }
    }

    // Both steps are idempotent, so a replay finishes whatever a failed first
    // attempt left undone; a replay finds its order stored and takes no slot.
    admit(deps, &Order::receive(order_id.clone(), request, now)).await?;
    if let Err(e) = deps
        .workflow
        .start_execution(&order_id, &json!({"orderId": order_id}))
        .await
    {
        if key.is_some() {
            return Err(e.into());
        }
        if !started_after_all(deps, &order_id, &e).await {
            give_up(deps, &order_id).await;
            return Err(Error::NotAccepted(Box::new(e)));
        }
    }

    let status = if replay {
        deps.orders
            .get(&order_id)
            .await?
            .map(|o| o.status())
            .unwrap_or(OrderStatus::Received)
    } else {
        OrderStatus::Received
    };
    tracing::info!(%order_id, replay, "order accepted");
    let resp = saga_apigw::json_response(202, &json!({"orderId": order_id, "status": status}));
    let resp = saga_apigw::with_header(resp, "location", &location(deps, &order_id));
    Ok(if replay {
        saga_apigw::with_header(resp, "idempotent-replayed", "true")
    } else {
        resp
    })
}

/// Whether the execution a failed `StartExecution` was asked for exists anyway
/// (an earlier attempt of the SDK succeeded and only its answer was lost): then
/// the order is accepted, and giving it up would make the client submit it a
/// second time. Not knowing (the question failed too) counts as not started.
async fn started_after_all(deps: &Deps, order_id: &OrderId, start_error: &WorkflowError) -> bool {
    match deps.workflow.execution_exists(order_id).await {
        Ok(exists) => {
            if exists {
                tracing::warn!(%order_id, error = %error_chain(start_error), "StartExecution failed but the execution exists");
            }
            exists
        }
        Err(e) => {
            tracing::warn!(%order_id, error = %error_chain(&e), "could not ask whether the execution exists");
            false
        }
    }
}

/// Store the order, taking one of its customer's open-order slots.
async fn admit(deps: &Deps, order: &Order) -> Result<(), Error> {
    let max = deps.max_open_orders_per_customer;
    match deps.orders.admit(order, max).await? {
        Admission::Admitted | Admission::AlreadyExists => Ok(()),
        Admission::CapReached => {
            tracing::warn!(order_id = %order.order_id(), customer_id = %order.customer_id(), max, "open-order cap reached");
            Err(Error::TooManyOpenOrders { max })
        }
    }
}

/// Without an idempotency key the client can't resume this order: end it so it
/// doesn't sit in RECEIVED forever. Best effort. Its error is `InternalError`,
/// not `Transient`: the order is final, nothing will retry it.
async fn give_up(deps: &Deps, order_id: &OrderId) {
    let failure = Failure {
        error: ErrorName::InternalError,
        cause: "the order could not be started; it was not processed".into(),
    };
    let update = OrderUpdate::transition(
        OrderStatus::Failed,
        &[OrderStatus::Received],
        vec![Change::Failure(failure)],
        deps.clock.now(),
    );
    if let Err(e) = deps.orders.update(order_id, &update).await {
        tracing::error!(%order_id, error = %error_chain(&e), "order could not be started nor marked failed");
    }
}

/// The order as clients see it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub order_id: String,
    pub status: OrderStatus,
    pub customer_id: String,
    pub lines: Vec<LineView>,
    pub total_cents: Option<i64>,
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    /// Curated ([`Failure::for_client`]): the recorded cause stays internal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<ClientFailure>,
    pub history: Vec<saga_core::HistoryEntry>,
    pub created_at: saga_core::Timestamp,
    pub updated_at: saga_core::Timestamp,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LineView {
    pub sku: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub quantity: u32,
    /// From the catalog, once the order is validated.
    pub unit_price_cents: Option<i64>,
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        let lines = match o.pricing() {
            Some(p) => p
                .lines
                .iter()
                .map(|l| LineView {
                    sku: l.sku.to_string(),
                    name: Some(l.name.clone()),
                    quantity: l.quantity.get(),
                    unit_price_cents: Some(l.unit_price_cents),
                })
                .collect(),
            None => o
                .items()
                .iter()
                .map(|i| LineView {
                    sku: i.sku.to_string(),
                    name: None,
                    quantity: i.quantity.get(),
                    unit_price_cents: None,
                })
                .collect(),
        };
        Self {
            order_id: o.order_id().to_string(),
            status: o.status(),
            customer_id: o.customer_id().to_string(),
            lines,
            total_cents: o.pricing().map(|p| p.total.minor_units()),
            currency: o.pricing().map(|p| p.total.currency().to_string()),
            tracking_number: o.shipment().map(|s| s.tracking_number.clone()),
            failure: o.failure().map(|f| f.for_client(o.order_id())),
            history: o.history().to_vec(),
            created_at: o.created_at(),
            updated_at: o.updated_at(),
        }
    }
}

/// `caller`: the authenticated customer; another customer's order is a `404`
/// like a missing one, so ids can't be probed.
async fn show(deps: &Deps, id: &str, caller: Option<&str>) -> Result<Output, Error> {
    let not_found = Error::NotFound { what: "order" };
    let order_id = OrderId::parse(id).map_err(|_| Error::NotFound { what: "order" })?;
    let order = deps
        .orders
        .get(&order_id)
        .await?
        .filter(|o| caller.is_none_or(|c| o.customer_id().as_str() == c))
        .ok_or(not_found)?;
    let resp = saga_apigw::json_response(200, &OrderView::from(&order));
    Ok(saga_apigw::with_header(resp, "cache-control", "no-store"))
}

#[cfg(test)]
mod tests;
