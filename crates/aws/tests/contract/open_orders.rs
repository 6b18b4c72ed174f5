//! The open-order cap: a counter item per customer, taken in the transaction
//! that puts the order and freed in the one that ends it (issue 11, item 5).

use saga_aws::TableName;
use saga_aws::dynamo::open_orders::{OPEN_ATTRIBUTE, counter_key};
use saga_core::fixtures::received_order;
use saga_core::order::{Change, Failure, Order, OrderStatus, OrderUpdate};
use saga_core::ports::{Admission, OrderStore, UpdateOutcome};

use crate::orders::{orders_store, t0};
use crate::support::Moto;

fn order() -> Order {
    received_order(&[("SKU-1", 1)], "tok_visa", "10115", t0())
}

fn to(status: OrderStatus, from: &[OrderStatus]) -> OrderUpdate {
    let failure = Failure {
        error: saga_core::ErrorName::OutOfStock,
        cause: "test".into(),
    };
    OrderUpdate::transition(status, from, vec![Change::Failure(failure)], t0())
}

#[tokio::test]
async fn the_cap_counts_open_orders_and_a_final_status_frees_a_slot_once() {
    let moto = Moto::connect().await;
    let store = orders_store(&moto).await;
    let (a, b, c) = (order(), order(), order());

    assert_eq!(store.admit(&a, 2).await.unwrap(), Admission::Admitted);
    assert_eq!(store.admit(&b, 2).await.unwrap(), Admission::Admitted);
    assert_eq!(store.admit(&c, 2).await.unwrap(), Admission::CapReached);
    assert_eq!(
        store.get(c.order_id()).await.unwrap(),
        None,
        "nothing stored"
    );
    // A replay is no admission and takes no slot.
    assert_eq!(store.admit(&a, 2).await.unwrap(), Admission::AlreadyExists);
    assert_eq!(store.admit(&a, 3).await.unwrap(), Admission::AlreadyExists);

    // NEEDS_ATTENTION may still hold stock: it keeps its slot.
    let stuck = to(OrderStatus::NeedsAttention, &OrderStatus::IN_FLIGHT);
    assert!(matches!(
        store.update(b.order_id(), &stuck).await.unwrap(),
        UpdateOutcome::Applied(_)
    ));
    assert_eq!(store.admit(&c, 2).await.unwrap(), Admission::CapReached);

    let fail = to(
        OrderStatus::Failed,
        &[OrderStatus::Received, OrderStatus::NeedsAttention],
    );
    let UpdateOutcome::Applied(after) = store.update(a.order_id(), &fail).await.unwrap() else {
        panic!("the order is failed");
    };
    assert_eq!(after.status(), OrderStatus::Failed);
    // A retried step frees nothing twice.
    assert_eq!(
        store.update(a.order_id(), &fail).await.unwrap(),
        UpdateOutcome::ConditionFailed
    );
    assert_eq!(open_of(&moto, &store, "c-1").await, 1);
    assert_eq!(store.admit(&c, 2).await.unwrap(), Admission::Admitted);
    assert_eq!(
        store.admit(&order(), 2).await.unwrap(),
        Admission::CapReached
    );
    // The counter item is no order.
    assert_eq!(
        store.get(c.order_id()).await.unwrap().map(|o| o.status()),
        Some(OrderStatus::Received)
    );
}

#[tokio::test]
async fn an_order_stored_without_a_slot_frees_none() {
    let moto = Moto::connect().await;
    let store = orders_store(&moto).await;
    let legacy = order();
    store.insert(&legacy).await.unwrap();
    let held = order();
    assert_eq!(store.admit(&held, 1).await.unwrap(), Admission::Admitted);

    let fail = to(OrderStatus::Failed, &[OrderStatus::Received]);
    store.update(legacy.order_id(), &fail).await.unwrap();

    assert_eq!(open_of(&moto, &store, "c-1").await, 1);
    assert_eq!(
        store.admit(&order(), 1).await.unwrap(),
        Admission::CapReached
    );
}

#[tokio::test]
async fn concurrent_admissions_never_exceed_the_cap() {
    let moto = Moto::connect().await;
    let store = orders_store(&moto).await;
    let orders: Vec<Order> = (0..8).map(|_| order()).collect();

    let tasks: Vec<_> = orders
        .iter()
        .map(|o| {
            let (store, o) = (store.clone(), o.clone());
            tokio::spawn(async move { store.admit(&o, 3).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }

    let admitted = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Admission::Admitted)))
        .count();
    // A conflicting transaction may be cancelled (a transient error the
    // client retries), never admitted over the cap.
    assert!(admitted <= 3, "{outcomes:?}");
    assert!(admitted >= 1, "{outcomes:?}");
    assert_eq!(open_of(&moto, &store, "c-1").await, admitted as i64);
    let mut stored = 0;
    for o in &orders {
        stored += usize::from(store.get(o.order_id()).await.unwrap().is_some());
    }
    assert_eq!(stored, admitted);
    // Once settled, the cap is exactly 3.
    while open_of(&moto, &store, "c-1").await < 3 {
        assert_eq!(store.admit(&order(), 3).await.unwrap(), Admission::Admitted);
    }
    assert_eq!(
        store.admit(&order(), 3).await.unwrap(),
        Admission::CapReached
    );
}

async fn open_of(moto: &Moto, store: &saga_aws::DynamoStore, customer: &str) -> i64 {
    let table = store.tables().name(TableName::Orders).unwrap();
    let item = moto
        .raw_item(table, "orderId", &counter_key(customer))
        .await;
    item.and_then(|i| i.get(OPEN_ATTRIBUTE).cloned())
        .map(|v| v.as_n().unwrap().parse().unwrap())
        .unwrap_or(0)
}
