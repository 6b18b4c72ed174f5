use saga_apigw::http::Method;
use saga_apigw::{event, response_body, response_header};
use saga_core::ManualClock;
use saga_core::fixtures::{demo_catalog, order_body};
use saga_core::memory::{MemoryStore, MemoryWorkflow};
use saga_core::pricing::price_order;
use serde_json::Value;

use super::*;

struct World {
    store: Arc<MemoryStore>,
    workflow: Arc<MemoryWorkflow>,
    deps: Deps,
}

fn world() -> World {
    let store = Arc::new(MemoryStore::with_products(demo_catalog()));
    let workflow = Arc::new(MemoryWorkflow::default());
    let deps = Deps {
        orders: store.clone(),
        idempotency: store.clone(),
        workflow: workflow.clone(),
        clock: Arc::new(ManualClock::at_fixed_start()),
        public_base_url: Some("https://api.example.com".into()),
        max_open_orders_per_customer: DEFAULT_MAX_OPEN_ORDERS_PER_CUSTOMER,
    };
    World {
        store,
        workflow,
        deps,
    }
}

fn post(body: &[u8], key: Option<&str>) -> Request {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(k) = key {
        headers.push(("Idempotency-Key", k));
    }
    event(Method::POST, "/orders", &headers, Some(body))
}

fn json_of(resp: &Response) -> Value {
    serde_json::from_slice(&response_body(resp)).unwrap()
}

fn valid() -> Vec<u8> {
    order_body(&[("SKU-1", 2)], "tok_visa", "10115")
        .to_string()
        .into_bytes()
}

#[tokio::test]
async fn post_stores_the_order_starts_the_saga_and_answers_202_with_location() {
    let w = world();
    let resp = respond(&w.deps, post(&valid(), None)).await;

    assert_eq!(resp.status_code, 202);
    let body = json_of(&resp);
    assert_eq!(body["status"], "RECEIVED");
    let id = OrderId::parse(body["orderId"].as_str().unwrap()).unwrap();
    assert_eq!(
        response_header(&resp, "location"),
        Some(format!("https://api.example.com/orders/{id}").as_str())
    );
    assert_eq!(w.store.order(&id).unwrap().status(), OrderStatus::Received);
    assert_eq!(
        w.workflow.started(),
        vec![(id.clone(), json!({"orderId": id}))]
    );
}

#[tokio::test]
async fn same_key_same_body_is_the_same_order_and_one_execution() {
    let w = world();
    let first = json_of(&respond(&w.deps, post(&valid(), Some("key-1"))).await);
    let pretty =
        serde_json::to_vec_pretty(&order_body(&[("SKU-1", 2)], "tok_visa", "10115")).unwrap();
    let replay = respond(&w.deps, post(&pretty, Some("key-1"))).await;

    assert_eq!(replay.status_code, 202);
    assert_eq!(json_of(&replay)["orderId"], first["orderId"]);
    assert_eq!(
        response_header(&replay, "idempotent-replayed"),
        Some("true")
    );
    assert_eq!(w.workflow.started().len(), 1);
}

#[tokio::test]
async fn same_key_different_body_is_422_and_changes_nothing() {
    let w = world();
    respond(&w.deps, post(&valid(), Some("key-1"))).await;
    let other = order_body(&[("SKU-1", 3)], "tok_visa", "10115").to_string();
    let resp = respond(&w.deps, post(other.as_bytes(), Some("key-1"))).await;
    assert_eq!(resp.status_code, 422);
    assert_eq!(
        json_of(&resp)["error"],
        "Idempotency-Key was already used with a different request"
    );
    assert_eq!(w.workflow.started().len(), 1);
}

#[tokio::test]
async fn a_failed_start_is_finished_by_the_replay() {
    let w = world();
    w.workflow.fail_next();
    let resp = respond(&w.deps, post(&valid(), Some("key-1"))).await;
    assert_eq!(resp.status_code, 503);
    assert_eq!(response_header(&resp, "retry-after"), Some("1"));
    assert!(w.workflow.started().is_empty());

    let replay = respond(&w.deps, post(&valid(), Some("key-1"))).await;
    assert_eq!(replay.status_code, 202);
    assert_eq!(w.workflow.started().len(), 1);
}

#[tokio::test]
async fn without_a_key_a_failed_start_ends_the_order_instead_of_leaving_it_received() {
    let w = world();
    w.workflow.fail_next();
    let resp = respond(&w.deps, post(&valid(), None)).await;
    assert_eq!(resp.status_code, 503);
    assert_eq!(
        json_of(&resp)["error"],
        "the order could not be accepted and will not be processed; submit it again"
    );
    let orders = w.store.orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].status(), OrderStatus::Failed);
    assert_eq!(orders[0].failure().unwrap().error, "Transient");
}

#[tokio::test]
async fn bad_requests_name_every_bad_field() {
    let w = world();
    let mut body = order_body(&[("SKU-1", 0)], "visa", "10115");
    body["email"] = json!(12);
    let resp = respond(&w.deps, post(body.to_string().as_bytes(), None)).await;
    assert_eq!(resp.status_code, 400);
    let json = json_of(&resp);
    assert_eq!(json["error"], "invalid order");
    let fields: Vec<&str> = json["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["email", "items[0].quantity", "payment.token"]);
    assert!(w.workflow.started().is_empty(), "bad input changes nothing");

    let resp = respond(&w.deps, post(b"{not json", None)).await;
    assert_eq!(resp.status_code, 400);
    assert_eq!(json_of(&resp)["error"], "request body is not valid JSON");
    assert_eq!(json_of(&resp)["details"][0]["field"], "body");

    let resp = respond(&w.deps, post(&valid(), Some("has space"))).await;
    assert_eq!(resp.status_code, 400);
    assert_eq!(json_of(&resp)["details"][0]["field"], "Idempotency-Key");
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let w = world();
    let mut body = order_body(&[("SKU-1", 1)], "tok_visa", "10115");
    body["shippingAddress"]["line2"] = json!("x".repeat(MAX_BODY_BYTES));
    let resp = respond(&w.deps, post(body.to_string().as_bytes(), None)).await;
    assert_eq!(resp.status_code, 413);
    assert!(w.workflow.started().is_empty());
}

#[tokio::test]
async fn get_returns_the_order_from_the_table() {
    let w = world();
    let id = {
        let resp = respond(&w.deps, post(&valid(), None)).await;
        OrderId::parse(json_of(&resp)["orderId"].as_str().unwrap()).unwrap()
    };
    let resp = respond(
        &w.deps,
        event(Method::GET, &format!("/orders/{id}"), &[], None),
    )
    .await;
    assert_eq!(resp.status_code, 200);
    let view = json_of(&resp);
    assert_eq!(view["status"], "RECEIVED");
    assert_eq!(
        view["lines"][0],
        json!({"sku": "SKU-1", "quantity": 2, "unitPriceCents": null})
    );
    assert_eq!(view["totalCents"], Value::Null);
    assert_eq!(view["history"][0]["status"], "RECEIVED");
    let raw = String::from_utf8(response_body(&resp)).unwrap();
    assert!(
        !raw.contains("tok_visa") && !raw.contains("buyer@example.com"),
        "no payment token or e-mail: {raw}"
    );

    // Once priced, the catalog prices show.
    let order = w.store.order(&id).unwrap();
    let pricing = price_order(order.items(), &demo_catalog(), 100_000).unwrap();
    let u = OrderUpdate::transition(
        OrderStatus::Validated,
        &[OrderStatus::Received],
        vec![Change::Pricing(pricing)],
        w.deps.clock.now(),
    );
    w.store.update(&id, &u).await.unwrap();
    let view = json_of(
        &respond(
            &w.deps,
            event(Method::GET, &format!("/orders/{id}"), &[], None),
        )
        .await,
    );
    assert_eq!(view["lines"][0]["unitPriceCents"], 1_999);
    assert_eq!(view["totalCents"], 3_998);
    assert_eq!(view["currency"], "EUR");
}

#[tokio::test]
async fn unknown_orders_routes_and_methods() {
    let w = world();
    let unknown = OrderId::generate(w.deps.clock.now());
    let resp = respond(
        &w.deps,
        event(Method::GET, &format!("/orders/{unknown}"), &[], None),
    )
    .await;
    assert_eq!(
        (resp.status_code, json_of(&resp)["error"].clone()),
        (404, json!("order not found"))
    );
    assert_eq!(
        respond(&w.deps, event(Method::GET, "/orders/not-an-id", &[], None))
            .await
            .status_code,
        404
    );
    assert_eq!(
        respond(&w.deps, event(Method::GET, "/nope", &[], None))
            .await
            .status_code,
        404
    );
    let resp = respond(&w.deps, event(Method::GET, "/orders", &[], None)).await;
    assert_eq!(
        (resp.status_code, response_header(&resp, "allow")),
        (405, Some("POST"))
    );
    let resp = respond(
        &w.deps,
        event(Method::DELETE, &format!("/orders/{unknown}"), &[], None),
    )
    .await;
    assert_eq!(resp.status_code, 405);
}

#[tokio::test]
async fn storage_failures_are_503_or_500_without_internal_details() {
    let w = world();
    w.store.fail_next("orders.insert", true);
    assert_eq!(
        respond(&w.deps, post(&valid(), None)).await.status_code,
        503
    );
    w.store.fail_next("orders.insert", false);
    let resp = respond(&w.deps, post(&valid(), None)).await;
    assert_eq!(resp.status_code, 500);
    assert_eq!(json_of(&resp), json!({"error": "internal error"}));
}

mod open_orders;
