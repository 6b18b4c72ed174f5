use saga_apigw::http::Method;
use saga_apigw::{event, response_body, response_header};
use saga_core::ManualClock;
use saga_core::fixtures::{demo_catalog, order_body};
use saga_core::memory::{MemoryStore, MemoryWorkflow};
use saga_core::pricing::{default_approval_threshold, price_order};
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
    // Final: nothing retries it, so not `Transient`.
    assert_eq!(orders[0].failure().unwrap().error, "InternalError");
}

/// Step Functions started the execution, but the SDK's last attempt timed out
/// (its first one succeeded): `StartExecution` fails, the execution runs.
#[derive(Debug, Default)]
struct StartedButAnswerLost {
    described: std::sync::Mutex<Vec<OrderId>>,
}

#[async_trait::async_trait]
impl Workflow for StartedButAnswerLost {
    async fn start_execution(
        &self,
        _name: &OrderId,
        _input: &Value,
    ) -> Result<saga_core::ports::Started, WorkflowError> {
        Err(StoreError::transient("workflow.start_execution", "timed out").into())
    }

    async fn send_task_success(
        &self,
        _token: &saga_core::approval::TaskToken,
        _output: &Value,
    ) -> Result<(), WorkflowError> {
        unreachable!("api-handler resumes no task")
    }

    async fn execution_exists(&self, name: &OrderId) -> Result<bool, WorkflowError> {
        self.described.lock().unwrap().push(name.clone());
        Ok(true)
    }
}

#[tokio::test]
async fn a_failed_start_whose_execution_exists_is_accepted_not_given_up() {
    let mut w = world();
    let workflow = Arc::new(StartedButAnswerLost::default());
    w.deps.workflow = workflow.clone();

    let resp = respond(&w.deps, post(&valid(), None)).await;

    assert_eq!(resp.status_code, 202, "{}", json_of(&resp));
    let id = OrderId::parse(json_of(&resp)["orderId"].as_str().unwrap()).unwrap();
    assert_eq!(*workflow.described.lock().unwrap(), vec![id.clone()]);
    let order = w.store.order(&id).unwrap();
    assert_eq!(
        order.status(),
        OrderStatus::Received,
        "left to its execution"
    );
    assert!(order.failure().is_none());
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
    let pricing =
        price_order(order.items(), &demo_catalog(), default_approval_threshold()).unwrap();
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

/// The order `post(valid())` created, failed with `error` and the recorded `cause`.
async fn failed_order(w: &World, error: ErrorName, cause: &str) -> OrderId {
    let resp = respond(&w.deps, post(&valid(), None)).await;
    let id = OrderId::parse(json_of(&resp)["orderId"].as_str().unwrap()).unwrap();
    let failure = Failure {
        error,
        cause: cause.to_owned(),
    };
    let u = OrderUpdate::transition(
        OrderStatus::Failed,
        &[OrderStatus::Received],
        vec![Change::Failure(failure)],
        w.deps.clock.now(),
    );
    w.store.update(&id, &u).await.unwrap();
    id
}

#[tokio::test]
async fn get_names_the_sku_out_of_stock_but_not_the_stock_left() {
    let w = world();
    let id = failed_order(
        &w,
        ErrorName::OutOfStock,
        "out of stock: SKU-3 (requested 500, available 10)",
    )
    .await;

    let resp = respond(
        &w.deps,
        event(Method::GET, &format!("/orders/{id}"), &[], None),
    )
    .await;

    let view = json_of(&resp);
    assert_eq!(
        view["failure"],
        json!({"error": "OutOfStock", "cause": "SKU-3 is out of stock"})
    );
    let raw = String::from_utf8(response_body(&resp)).unwrap();
    assert!(!raw.contains("available") && !raw.contains("500"), "{raw}");
}

#[tokio::test]
async fn get_shows_an_internal_failure_as_a_reference_not_the_cause_chain() {
    let w = world();
    let chain = "could not reserve: service error: Error { code: \"AccessDeniedException\", \
                 message: \"User: arn:aws:sts::123456789012:assumed-role/reserve is not authorized\", \
                 aws_request_id: \"5d0c\" }";
    let id = failed_order(&w, ErrorName::InternalError, chain).await;

    let resp = respond(
        &w.deps,
        event(Method::GET, &format!("/orders/{id}"), &[], None),
    )
    .await;

    let view = json_of(&resp);
    assert_eq!(view["failure"]["error"], "InternalError");
    assert_eq!(
        view["failure"]["cause"],
        format!(
            "the order could not be processed because of an internal error; \
             quote reference {id} to support"
        )
    );
    assert_eq!(view["failure"]["correlationId"], id.to_string());
    let raw = String::from_utf8(response_body(&resp)).unwrap();
    assert!(
        !raw.contains("arn:") && !raw.contains("123456789012") && !raw.contains("Error {"),
        "{raw}"
    );
    // The full chain stays on the record for operators.
    assert_eq!(w.store.order(&id).unwrap().failure().unwrap().cause, chain);
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

// --- issue 11: headers, Content-Type, per-customer authorization ---

/// `req` as API Gateway hands it on after its JWT authorizer accepted a token for `sub`.
fn as_customer(req: Request, sub: &str) -> Request {
    let claims = std::collections::HashMap::from([
        ("sub".to_owned(), sub.to_owned()),
        ("exp".to_owned(), "4102444800".to_owned()),
    ]);
    saga_apigw::with_jwt_claims(req, claims, None)
}

fn body_for(customer: &str) -> Vec<u8> {
    let mut body = order_body(&[("SKU-1", 2)], "tok_visa", "10115");
    body["customerId"] = json!(customer);
    body.to_string().into_bytes()
}

#[tokio::test]
async fn undecodable_or_non_ascii_idempotency_keys_are_400_naming_the_header() {
    let w = world();
    // Latin-1 bytes (not UTF-8) and UTF-8 that isn't visible ASCII: neither is ignored.
    for raw in [&b"key-\xe9"[..], "key-é".as_bytes()] {
        let mut req = post(&valid(), None);
        req.headers.insert(
            "idempotency-key",
            saga_apigw::http::HeaderValue::from_bytes(raw).unwrap(),
        );
        let resp = respond(&w.deps, req).await;
        assert_eq!(resp.status_code, 400, "{:?}", json_of(&resp));
        let field = json_of(&resp)["details"][0]["field"].clone();
        assert!(
            field
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case("Idempotency-Key"),
            "{field}"
        );
    }
    // Any other header that can't be decoded is refused the same way.
    let mut req = post(&valid(), Some("k-1"));
    req.headers.insert(
        "x-note",
        saga_apigw::http::HeaderValue::from_bytes(b"\xff").unwrap(),
    );
    let resp = respond(&w.deps, req).await;
    assert_eq!(resp.status_code, 400);
    assert_eq!(json_of(&resp)["details"][0]["field"], "x-note");
    assert!(w.store.orders().is_empty());
    assert!(w.workflow.started().is_empty());
}

#[tokio::test]
async fn orders_must_be_application_json() {
    let w = world();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonp"),
    ] {
        let headers: Vec<(&str, &str)> = content_type
            .map(|c| ("content-type", c))
            .into_iter()
            .collect();
        let resp = respond(
            &w.deps,
            event(Method::POST, "/orders", &headers, Some(&valid())),
        )
        .await;
        assert_eq!(resp.status_code, 415, "{content_type:?}");
        assert_eq!(
            response_header(&resp, "content-type"),
            Some("application/json")
        );
        assert!(json_of(&resp)["error"].as_str().is_some());
    }
    assert!(w.store.orders().is_empty());
    assert!(w.workflow.started().is_empty());

    for content_type in ["application/json", "Application/JSON; charset=utf-8"] {
        let headers = [("content-type", content_type)];
        let resp = respond(
            &w.deps,
            event(Method::POST, "/orders", &headers, Some(&valid())),
        )
        .await;
        assert_eq!(resp.status_code, 202, "{content_type}");
    }
}

#[tokio::test]
async fn with_claims_the_customer_is_the_sub_claim() {
    let w = world();
    let other = respond(&w.deps, as_customer(post(&body_for("c-2"), None), "c-1")).await;
    assert_eq!(other.status_code, 403, "{:?}", json_of(&other));
    assert!(w.store.orders().is_empty());

    let no_sub = saga_apigw::with_jwt_claims(post(&valid(), None), Default::default(), None);
    assert_eq!(respond(&w.deps, no_sub).await.status_code, 403);

    let own = respond(&w.deps, as_customer(post(&body_for("c-1"), None), "c-1")).await;
    assert_eq!(own.status_code, 202);
    let id = json_of(&own)["orderId"].as_str().unwrap().to_owned();
    let get = |sub: &str| as_customer(event(Method::GET, &format!("/orders/{id}"), &[], None), sub);
    assert_eq!(respond(&w.deps, get("c-1")).await.status_code, 200);
    let theirs = respond(&w.deps, get("c-2")).await;
    assert_eq!(theirs.status_code, 404);
    // Exactly the answer for an order that doesn't exist.
    let missing = as_customer(
        event(Method::GET, "/orders/01KD0000000000000000000000", &[], None),
        "c-2",
    );
    assert_eq!(json_of(&theirs), json_of(&respond(&w.deps, missing).await));
}

#[tokio::test]
async fn with_claims_idempotency_keys_are_per_customer() {
    let w = world();
    let send = |sub: &'static str| {
        let req = as_customer(post(&body_for(sub), Some("same-key")), sub);
        respond(&w.deps, req)
    };
    let a = json_of(&send("c-1").await);
    let b = json_of(&send("c-2").await);
    assert_ne!(a["orderId"], b["orderId"]);
    let replay = send("c-1").await;
    assert_eq!(
        response_header(&replay, "idempotent-replayed"),
        Some("true")
    );
    assert_eq!(json_of(&replay)["orderId"], a["orderId"]);
    assert_eq!(w.store.orders().len(), 2);
    assert_eq!(w.workflow.started().len(), 2);
}
mod open_orders;
