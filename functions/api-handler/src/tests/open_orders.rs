//! The per-customer cap on open orders (issue 11, item 5).

use saga_core::order::{Change, Failure, OrderUpdate};

use super::*;

/// Fill the default cap of customer `c-1` with orders that stay open.
async fn fill_the_cap(w: &World) -> Vec<OrderId> {
    let mut ids = Vec::new();
    for _ in 0..DEFAULT_MAX_OPEN_ORDERS_PER_CUSTOMER {
        let resp = respond(&w.deps, post(&valid(), None)).await;
        assert_eq!(resp.status_code, 202, "{:?}", json_of(&resp));
        ids.push(OrderId::parse(json_of(&resp)["orderId"].as_str().unwrap()).unwrap());
    }
    ids
}

fn other_customer() -> Vec<u8> {
    let mut body = order_body(&[("SKU-1", 2)], "tok_visa", "10115");
    body["customerId"] = "c-2".into();
    body.to_string().into_bytes()
}

#[tokio::test]
async fn the_order_over_the_cap_is_429_with_retry_after_and_nothing_is_stored() {
    let w = world();
    fill_the_cap(&w).await;

    let resp = respond(&w.deps, post(&valid(), None)).await;

    assert_eq!(resp.status_code, 429);
    assert_eq!(
        response_header(&resp, "retry-after"),
        Some(OPEN_ORDERS_RETRY_AFTER_SECONDS.to_string().as_str())
    );
    assert!(
        json_of(&resp)["error"]
            .as_str()
            .unwrap()
            .contains("too many open orders"),
        "{:?}",
        json_of(&resp)
    );
    let cap = DEFAULT_MAX_OPEN_ORDERS_PER_CUSTOMER as usize;
    assert_eq!(w.store.orders().len(), cap, "the 11th order is not stored");
    assert_eq!(w.workflow.started().len(), cap, "nor started");
    assert_eq!(
        w.store.open_orders("c-1"),
        DEFAULT_MAX_OPEN_ORDERS_PER_CUSTOMER
    );
    // The cap is per customer.
    let resp = respond(&w.deps, post(&other_customer(), None)).await;
    assert_eq!(resp.status_code, 202);
}

#[tokio::test]
async fn an_order_reaching_a_final_status_frees_its_slot_once() {
    let w = world();
    let ids = fill_the_cap(&w).await;
    let fail = OrderUpdate::transition(
        OrderStatus::Failed,
        &[OrderStatus::Received],
        vec![Change::Failure(Failure {
            error: saga_core::ErrorName::OutOfStock,
            cause: "test".into(),
        })],
        w.deps.clock.now(),
    );
    w.deps.orders.update(&ids[0], &fail).await.unwrap();
    // A retried step: its expectations fail, nothing is freed twice.
    w.deps.orders.update(&ids[0], &fail).await.unwrap();
    assert_eq!(
        w.store.open_orders("c-1"),
        DEFAULT_MAX_OPEN_ORDERS_PER_CUSTOMER - 1
    );

    let resp = respond(&w.deps, post(&valid(), None)).await;
    assert_eq!(resp.status_code, 202);
    let resp = respond(&w.deps, post(&valid(), None)).await;
    assert_eq!(resp.status_code, 429, "one slot was freed, not two");
}

#[tokio::test]
async fn needs_attention_keeps_its_slot() {
    let w = world();
    let ids = fill_the_cap(&w).await;
    let stuck = OrderUpdate::transition(
        OrderStatus::NeedsAttention,
        &OrderStatus::IN_FLIGHT,
        vec![],
        w.deps.clock.now(),
    );
    w.deps.orders.update(&ids[0], &stuck).await.unwrap();

    let resp = respond(&w.deps, post(&valid(), None)).await;
    assert_eq!(resp.status_code, 429, "it may still hold stock");
}

#[tokio::test]
async fn a_replay_of_the_same_key_takes_no_second_slot() {
    let mut w = world();
    w.deps.max_open_orders_per_customer = 1;
    let first = respond(&w.deps, post(&valid(), Some("key-1"))).await;
    assert_eq!(first.status_code, 202);

    let replay = respond(&w.deps, post(&valid(), Some("key-1"))).await;

    assert_eq!(replay.status_code, 202, "{:?}", json_of(&replay));
    assert_eq!(json_of(&replay)["orderId"], json_of(&first)["orderId"]);
    assert_eq!(w.store.open_orders("c-1"), 1);
}

#[tokio::test]
async fn an_order_that_could_not_be_started_frees_its_slot() {
    let mut w = world();
    w.deps.max_open_orders_per_customer = 1;
    w.workflow.fail_next();
    let resp = respond(&w.deps, post(&valid(), None)).await;
    assert_eq!(resp.status_code, 503);

    let resp = respond(&w.deps, post(&valid(), None)).await;

    assert_eq!(
        resp.status_code, 202,
        "give_up marked it FAILED: its slot is free"
    );
}

#[test]
fn the_cap_from_the_environment_defaults_to_10_and_refuses_0_and_junk() {
    assert_eq!(max_open_orders_per_customer(None).unwrap(), 10);
    assert_eq!(max_open_orders_per_customer(Some(" ")).unwrap(), 10);
    assert_eq!(max_open_orders_per_customer(Some("3")).unwrap(), 3);
    for bad in ["0", "-1", "ten", "1.5"] {
        let err = max_open_orders_per_customer(Some(bad)).unwrap_err();
        assert!(
            err.to_string().contains("MAX_OPEN_ORDERS_PER_CUSTOMER"),
            "{err}"
        );
    }
}
