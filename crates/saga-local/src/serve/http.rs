//! The HTTP side: each request becomes the API Gateway HTTP API (v2) event
//! Lambda would receive and goes to the same `api-handler` /
//! `approval-callback` code; the handler's response is turned back into HTTP
//! (status, headers, cookies, body, base64 flag).
//!
//! Routes (any method; the handlers answer 404 / 405 themselves):
//! `/orders`, `/orders/{orderId}` → api-handler; `/approvals/{approvalId}` →
//! approval-callback. Everything else is a JSON 404. `GET
//! /orders/{orderId}?wait=<seconds>` (saga-local only) answers once the order
//! has settled ([`crate::serve::wait`]).
//!
//! With `--auth-hs256-secret`, the order routes are behind a local stand-in
//! for API Gateway's JWT authorizer ([`crate::serve::auth`]).
//!
//! A function that panics answers what API Gateway answers for a Lambda
//! integration that failed, `500 {"message":"Internal Server Error"}`, and
//! the server goes on.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures_util::FutureExt;

use crate::serve::wait::{self, Wait};

/// Bodies up to this size reach the handlers (which refuse more than 64 KiB
/// with their own 413); larger ones get axum's 413.
pub const MAX_HTTP_BODY_BYTES: usize = 1024 * 1024;

/// What the routes need: the two HTTP functions' dependencies.
#[derive(Clone, Debug)]
pub struct AppState {
    pub api: Arc<api_handler::Deps>,
    pub approvals: Arc<approval_callback::Deps>,
    /// In front of the order routes only, as in infra/api.tf.
    pub authorizer: Option<Arc<crate::serve::auth::Authorizer>>,
    /// Where `GET /orders/{id}?wait=…` learns that the order changed
    /// ([`crate::serve::wait`]); without it, `wait` is checked but not waited.
    pub order_changes: Option<Arc<saga_sqlite::SqliteStore>>,
}

impl AppState {
    pub fn new(api: api_handler::Deps, approvals: approval_callback::Deps) -> Self {
        Self {
            api: Arc::new(api),
            approvals: Arc::new(approvals),
            authorizer: None,
            order_changes: None,
        }
    }

    /// `GET /orders/{id}?wait=…` waits for the changes committed to `store`.
    pub fn with_order_changes(mut self, store: Arc<saga_sqlite::SqliteStore>) -> Self {
        self.order_changes = Some(store);
        self
    }

    /// The order routes behind this JWT authorizer (none: open).
    pub fn with_authorizer(mut self, authorizer: Option<crate::serve::auth::Authorizer>) -> Self {
        self.authorizer = authorizer.map(Arc::new);
        self
    }
}

/// The saga's HTTP API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/orders", any(orders))
        .route("/orders/{order_id}", any(orders))
        .route("/approvals/{approval_id}", any(approvals))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_HTTP_BODY_BYTES))
        .with_state(state)
}

async fn orders(State(state): State<AppState>, ApiEvent(event): ApiEvent) -> Response {
    let event = match &state.authorizer {
        None => event,
        Some(authorizer) => match authorizer.authorize(event) {
            Ok(event) => event,
            Err(unauthorized) => return unauthorized.into_response(),
        },
    };
    match (wait::requested(&event), &state.order_changes) {
        (Wait::Invalid(message), _) => from_response(wait::invalid(&message)),
        (Wait::For(id, wait), Some(store)) => {
            let respond = || api_handler::respond(&state.api, event.clone());
            invoke("api-handler", wait::settled(store, &id, wait, respond)).await
        }
        (Wait::No | Wait::For(..), _) => {
            invoke("api-handler", api_handler::respond(&state.api, event)).await
        }
    }
}

async fn approvals(State(state): State<AppState>, ApiEvent(event): ApiEvent) -> Response {
    invoke(
        "approval-callback",
        approval_callback::respond(&state.approvals, event),
    )
    .await
}

/// Run an HTTP function; its panic becomes API Gateway's answer to a failed
/// Lambda integration (the function's runtime reports the panic, API Gateway
/// hides it from the client).
async fn invoke(
    function: &'static str,
    respond: impl Future<Output = saga_apigw::Response>,
) -> Response {
    // Unwind safety: as in Lambda, the next request runs on the same deps.
    match AssertUnwindSafe(respond).catch_unwind().await {
        Ok(resp) => from_response(resp),
        Err(panic) => {
            let message = crate::steps::panic_message(&*panic).unwrap_or("?");
            tracing::error!(function, panic = message, "user handler panicked");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"message":"Internal Server Error"}"#,
            )
                .into_response()
        }
    }
}

/// A request as the API Gateway event of [`to_event`]. The body is read by
/// the `Bytes` extractor, so [`DefaultBodyLimit`] applies and its rejection
/// (413) is axum's.
struct ApiEvent(saga_apigw::Request);

impl<S: Send + Sync> FromRequest<S> for ApiEvent {
    type Rejection = BytesRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let method = request.method().clone();
        let uri = request.uri().clone();
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state).await?;
        Ok(ApiEvent(to_event(method, &uri, &headers, &body)))
    }
}

async fn not_found(uri: Uri) -> Response {
    let body = serde_json::json!({"error": format!("no route for {}", uri.path())});
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The event API Gateway would send for this request.
pub fn to_event(
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> saga_apigw::Request {
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let body = (!body.is_empty()).then_some(body);
    let mut event = saga_apigw::event(method, &target, &[], body);
    // Every header as it came, bytes included, as API Gateway passes them:
    // dropping one that isn't ASCII would let the handler take it for absent.
    event.headers = headers.clone();
    event
}

/// The HTTP response for a handler's API Gateway response.
pub fn from_response(resp: saga_apigw::Response) -> Response {
    let status = u16::try_from(resp.status_code)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = saga_apigw::response_body(&resp);
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    let headers = out.headers_mut();
    for (name, value) in &resp.headers {
        headers.append(name.clone(), value.clone());
    }
    for (name, value) in &resp.multi_value_headers {
        if !resp.headers.contains_key(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    for cookie in &resp.cookies {
        if let Ok(v) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_apigw::Response as ApiResponse;

    #[test]
    fn requests_become_events_with_method_path_query_headers_and_body() {
        let uri: Uri = "/approvals/abc?decision=approve".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("idempotency-key", HeaderValue::from_static("k-1"));
        let event = to_event(Method::POST, &uri, &headers, b"decision=approve");
        assert_eq!(saga_apigw::method(&event), Method::POST);
        assert_eq!(saga_apigw::path(&event), "/approvals/abc");
        assert_eq!(
            saga_apigw::query(&event, "decision").as_deref(),
            Some("approve")
        );
        assert_eq!(saga_apigw::header(&event, "Idempotency-Key"), Some("k-1"));
        assert_eq!(saga_apigw::body(&event).unwrap(), b"decision=approve");

        // A header value that isn't ASCII reaches the handler, which judges it.
        headers.insert(
            "idempotency-key",
            HeaderValue::from_bytes("clé".as_bytes()).unwrap(),
        );
        let event = to_event(Method::POST, &uri, &headers, b"");
        assert_eq!(
            saga_apigw::checked_header(&event, "idempotency-key"),
            Ok(Some("clé"))
        );

        let binary = to_event(Method::POST, &uri, &HeaderMap::new(), &[0xff, 0x00]);
        assert!(binary.is_base64_encoded);
        assert_eq!(saga_apigw::body(&binary).unwrap(), vec![0xff, 0x00]);
    }

    #[test]
    fn responses_keep_status_headers_and_decoded_body() {
        let mut resp: ApiResponse = saga_apigw::with_header(
            saga_apigw::json_response(202, &serde_json::json!({"a": 1})),
            "location",
            "/orders/1",
        );
        resp.cookies = vec!["a=b".into()];
        let http = from_response(resp);
        assert_eq!(http.status(), StatusCode::ACCEPTED);
        assert_eq!(http.headers()["location"], "/orders/1");
        assert_eq!(http.headers()["content-type"], "application/json");
        assert_eq!(http.headers()["set-cookie"], "a=b");

        let mut b64 = saga_apigw::text_response(200, "application/octet-stream", "AAE=".into());
        b64.is_base64_encoded = true;
        let http = from_response(b64);
        let (_, body) = http.into_parts();
        let bytes = futures_body(body);
        assert_eq!(bytes, vec![0x00, 0x01]);
    }

    fn futures_body(body: Body) -> Vec<u8> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap()
                .to_vec()
        })
    }
}
