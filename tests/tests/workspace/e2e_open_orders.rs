//! The per-customer cap on open orders over HTTP (issue 11, item 5): big
//! orders waiting for approval hold their slots; a rejection frees one.

use super::{Local, spawn_local_with};

async fn post(local: &Local) -> saga_tests::local::Resp {
    let body = saga_core::fixtures::order_body(&[("SKU-4", 1)], "tok_visa", "10115");
    local.post_json(&body, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_third_open_order_is_429_until_one_is_rejected() {
    let local = spawn_local_with(|c| c.max_open_orders_per_customer = 2).await;
    let mut waiting = Vec::new();
    for _ in 0..2 {
        let resp = post(&local).await;
        assert_eq!(resp.status, 202, "{}", resp.text());
        let id = resp.json()["orderId"].as_str().unwrap().to_owned();
        local.await_status(&id, "AWAITING_APPROVAL").await;
        waiting.push(id);
    }

    let third = post(&local).await;
    assert_eq!(third.status, 429, "{}", third.text());
    assert_eq!(third.header("retry-after"), Some("60"));
    assert_eq!(local.stock("SKU-4").await, 3, "the third reserved nothing");

    let approval_id = local.approval_id(&waiting[0]).await;
    assert_eq!(local.decide(&approval_id, "reject").await.status, 200);
    local.await_status(&waiting[0], "REJECTED").await;

    let resp = post(&local).await;
    assert_eq!(
        resp.status,
        202,
        "a rejected order frees its slot: {}",
        resp.text()
    );
}
