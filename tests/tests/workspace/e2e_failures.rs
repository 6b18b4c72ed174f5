//! Failures after a side effect are compensated: the released stock can be
//! bought again (there are only two units of TWO-1).

use super::{spawn_local, statuses};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_payment_releases_the_stock_for_the_next_buyer() {
    let local = spawn_local().await;

    let declined = local
        .post_order(&[("TWO-1", 2)], "tok_declined", "10115")
        .await;
    let order = local.await_status(&declined, "FAILED").await;

    assert_eq!(order["failure"]["error"], "PaymentDeclined");
    assert_eq!(
        statuses(&order),
        ["RECEIVED", "VALIDATED", "RESERVED", "FAILED"]
    );
    // Both units are back: another customer gets them.
    let next = local.post_order(&[("TWO-1", 2)], "tok_visa", "10115").await;
    local.await_status(&next, "COMPLETED").await;
    assert_eq!(local.stock("TWO-1").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_shipment_refunds_and_releases_the_stock_for_the_next_buyer() {
    let local = spawn_local().await;

    let undeliverable = local.post_order(&[("TWO-1", 2)], "tok_visa", "00000").await;
    let order = local.await_status(&undeliverable, "FAILED").await;

    assert_eq!(order["failure"]["error"], "ShippingFailed");
    assert!(
        statuses(&order).contains(&"PAID".to_owned()),
        "it was charged first"
    );
    assert_eq!(local.await_execution_end(&undeliverable).await, "FAILED");
    let compensation = local
        .console()
        .into_iter()
        .find(|l| l.starts_with(&format!("{undeliverable} Compensate ")))
        .expect("a console line for Compensate");
    assert!(compensation.contains("succeeded"), "{compensation}");
    let next = local.post_order(&[("TWO-1", 2)], "tok_visa", "10115").await;
    local.await_status(&next, "COMPLETED").await;
    assert_eq!(local.stock("TWO-1").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_for_more_than_the_stock_fails_out_of_stock_and_takes_nothing() {
    let local = spawn_local().await;

    let id = local
        .post_order(&[("SKU-1", 1), ("TWO-1", 3)], "tok_visa", "10115")
        .await;
    let order = local.await_status(&id, "FAILED").await;

    assert_eq!(order["failure"]["error"], "OutOfStock");
    assert_eq!(
        (local.stock("SKU-1").await, local.stock("TWO-1").await),
        (100, 2),
        "all or nothing"
    );
}
