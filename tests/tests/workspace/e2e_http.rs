//! What a client sees for bad requests: 400 naming each field, 404, 405, 413,
//! and the request shapes API Gateway passes through (query, headers, bodies).

use serde_json::json;

use super::spawn_local;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_orders_are_400_with_a_detail_per_field() {
    let local = spawn_local().await;

    let malformed = local
        .request(
            "POST",
            "/orders",
            &[("content-type", "application/json")],
            b"{\"items\": [",
        )
        .await;
    assert_eq!(malformed.status, 400, "{}", malformed.text());
    assert!(malformed.json()["details"].as_array().is_some());

    let mut body = saga_core::fixtures::order_body(&[("SKU-1", 0)], "tok_visa", "10115");
    body["email"] = json!("not-an-email");
    body["shippingAddress"]["country"] = json!("Germany");
    let resp = local.post_json(&body, &[]).await;
    assert_eq!(resp.status, 400, "{}", resp.text());
    let fields: Vec<String> = resp.json()["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_owned())
        .collect();
    for field in ["email", "items[0].quantity", "shippingAddress.country"] {
        assert!(
            fields.iter().any(|f| f == field),
            "{field} not in {fields:?}"
        );
    }

    let empty = local
        .post_json(&json!({"customerId": "c-1", "items": []}), &[])
        .await;
    assert_eq!(empty.status, 400);
    // Nothing was stored or started for any of them.
    for table in ["orders", "executions", "idempotency", "approvals"] {
        assert_eq!(local.rows(table), 0, "rows in {table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_things_are_404_and_wrong_methods_405() {
    let local = spawn_local().await;

    let order = local
        .request("GET", "/orders/01KD0000000000000000000000", &[], b"")
        .await;
    assert_eq!(order.status, 404, "{}", order.text());
    let garbage = local.request("GET", "/orders/not-an-id", &[], b"").await;
    assert_eq!(garbage.status, 404);
    let approval = local
        .request(
            "GET",
            "/approvals/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &[],
            b"",
        )
        .await;
    assert_eq!(approval.status, 404);
    let route = local.request("GET", "/admin", &[], b"").await;
    assert_eq!(route.status, 404);
    assert!(route.json()["error"].as_str().is_some());

    let delete = local.request("DELETE", "/orders", &[], b"").await;
    assert_eq!(delete.status, 405);
    assert_eq!(delete.header("allow"), Some("POST"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_64_kib_are_413_from_the_handler_and_huge_ones_from_the_server() {
    let local = spawn_local().await;
    let json = [("content-type", "application/json")];

    let big = vec![b' '; 64 * 1024 + 1];
    let resp = local.request("POST", "/orders", &json, &big).await;
    assert_eq!(resp.status, 413, "{}", resp.text());
    assert!(
        resp.json()["error"]
            .as_str()
            .unwrap()
            .contains("larger than")
    );

    let huge = vec![b' '; 2 * 1024 * 1024];
    let resp = local.request("POST", "/orders", &json, &huge).await;
    assert_eq!(resp.status, 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_answers_202_with_an_absolute_location() {
    let local = spawn_local().await;
    let resp = local
        .post_json(
            &saga_core::fixtures::order_body(&[("SKU-1", 1)], "tok_visa", "10115"),
            &[],
        )
        .await;

    assert_eq!(resp.status, 202);
    let id = resp.json()["orderId"].as_str().unwrap().to_owned();
    assert_eq!(
        resp.header("location"),
        Some(format!("{}/orders/{id}", local.url()).as_str())
    );
    local.await_status(&id, "COMPLETED").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_ascii_idempotency_key_is_400_naming_it_and_stores_nothing() {
    let local = spawn_local().await;
    let body = saga_core::fixtures::order_body(&[("SKU-1", 1)], "tok_visa", "10115");
    for _ in 0..2 {
        let resp = local
            .post_json(&body, &[("idempotency-key", "clé-1")])
            .await;
        assert_eq!(resp.status, 400, "{}", resp.text());
        let field = resp.json()["details"][0]["field"].clone();
        assert!(
            field
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case("idempotency-key"),
            "{field}"
        );
    }
    local.assert_empty(&["orders", "executions", "idempotency"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_that_are_not_application_json_are_415_and_store_nothing() {
    let local = spawn_local().await;
    let body = saga_core::fixtures::order_body(&[("SKU-1", 1)], "tok_visa", "10115").to_string();
    // What a web page can send cross-origin without a preflight, and no type at all.
    for headers in [
        &[("content-type", "text/plain")][..],
        &[("content-type", "application/x-www-form-urlencoded")][..],
        &[][..],
    ] {
        let resp = local
            .request("POST", "/orders", headers, body.as_bytes())
            .await;
        assert_eq!(resp.status, 415, "{headers:?}: {}", resp.text());
        assert!(resp.json()["error"].as_str().is_some());
    }
    local.assert_empty(&["orders", "executions", "idempotency"]);
    let json = [("content-type", "application/json; charset=UTF-8")];
    let resp = local
        .request("POST", "/orders", &json, body.as_bytes())
        .await;
    assert_eq!(resp.status, 202, "{}", resp.text());
}
