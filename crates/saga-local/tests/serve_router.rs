//! The router without a socket (`oneshot`), on in-memory adapters: requests
//! reach the right function as API Gateway events and its answers come back
//! unchanged; the rest is a JSON 404; bodies beyond 1 MiB stop at the server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use saga_core::fixtures::{demo_catalog, order_body};
use saga_core::memory::{MemoryStore, MemoryWorkflow};
use saga_core::{ApprovalId, ManualClock, OrderId};
use saga_local::serve::http::{AppState, router};
use serde_json::Value;
use tower::ServiceExt;

struct App {
    store: Arc<MemoryStore>,
    workflow: Arc<MemoryWorkflow>,
    state: AppState,
}

fn app() -> App {
    let store = Arc::new(MemoryStore::with_products(demo_catalog()));
    let workflow = Arc::new(MemoryWorkflow::default());
    let clock = Arc::new(ManualClock::at_fixed_start());
    let state = AppState::new(
        api_handler::Deps {
            orders: store.clone(),
            idempotency: store.clone(),
            workflow: workflow.clone(),
            clock: clock.clone(),
            public_base_url: Some("http://127.0.0.1:3000".into()),
            max_open_orders_per_customer: api_handler::DEFAULT_MAX_OPEN_ORDERS_PER_CUSTOMER,
        },
        approval_callback::Deps {
            approvals: store.clone(),
            orders: store.clone(),
            workflow: workflow.clone(),
            clock,
        },
    );
    App {
        store,
        workflow,
        state,
    }
}

async fn send(app: &App, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let resp = router(app.state.clone()).oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, bytes.to_vec())
}

#[tokio::test]
async fn an_order_goes_to_api_handler_and_starts_one_execution() {
    let app = app();
    let body = order_body(&[("SKU-1", 1)], "tok_visa", "10115").to_string();
    let req = Request::post("/orders")
        .header("content-type", "application/json")
        .header("idempotency-key", "k-1")
        .body(Body::from(body))
        .unwrap();

    let (status, headers, bytes) = send(&app, req).await;

    assert_eq!(status, StatusCode::ACCEPTED);
    let json: Value = serde_json::from_slice(&bytes).unwrap();
    let id = OrderId::parse(json["orderId"].as_str().unwrap()).unwrap();
    assert_eq!(
        headers["location"],
        format!("http://127.0.0.1:3000/orders/{id}").as_str()
    );
    assert!(app.store.order(&id).is_some());
    assert_eq!(app.workflow.started().len(), 1);

    let get = Request::get(format!("/orders/{id}"))
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(&app, get).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
}

#[tokio::test]
async fn unknown_routes_are_json_404_and_wrong_methods_the_handlers_405() {
    let app = app();

    let (status, headers, body) = send(
        &app,
        Request::get("/orders/x/y").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["content-type"], "application/json");
    assert!(String::from_utf8(body).unwrap().contains("no route"));

    let (status, headers, _) = send(
        &app,
        Request::put(format!("/approvals/{}", ApprovalId::generate()))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "GET, HEAD, POST");
}

#[tokio::test]
async fn bodies_over_one_mebibyte_stop_at_the_server() {
    let app = app();
    let huge = vec![b'x'; 1024 * 1024 + 1];
    let req = Request::post("/orders")
        .header("content-type", "application/json")
        .body(Body::from(huge))
        .unwrap();

    let (status, _, _) = send(&app, req).await;

    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(app.workflow.started().is_empty());
    assert!(app.store.orders().is_empty());
}

/// A workflow whose every call panics (a bug behind api-handler).
#[derive(Debug)]
struct PanickingWorkflow;

#[async_trait::async_trait]
impl saga_core::ports::Workflow for PanickingWorkflow {
    async fn start_execution(
        &self,
        _name: &OrderId,
        _input: &Value,
    ) -> Result<saga_core::ports::Started, saga_core::ports::WorkflowError> {
        panic!("injected bug in StartExecution")
    }

    async fn send_task_success(
        &self,
        _token: &saga_core::approval::TaskToken,
        _output: &Value,
    ) -> Result<(), saga_core::ports::WorkflowError> {
        panic!("injected bug in SendTaskSuccess")
    }

    async fn execution_exists(
        &self,
        _name: &OrderId,
    ) -> Result<bool, saga_core::ports::WorkflowError> {
        panic!("injected bug in DescribeExecution")
    }
}

#[tokio::test]
async fn a_panicking_function_answers_api_gateways_500_and_the_router_goes_on() {
    let mut app = app();
    let mut api = (*app.state.api).clone();
    api.workflow = Arc::new(PanickingWorkflow);
    app.state.api = Arc::new(api);
    let body = order_body(&[("SKU-1", 1)], "tok_visa", "10115").to_string();
    let post = || {
        Request::post("/orders")
            .header("content-type", "application/json")
            .body(Body::from(body.clone()))
            .unwrap()
    };

    let (status, headers, bytes) = send(&app, post()).await;
    let (again, _, _) = send(&app, post()).await;

    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(bytes, br#"{"message":"Internal Server Error"}"#);
    assert_eq!(again, StatusCode::INTERNAL_SERVER_ERROR, "still answering");
}
