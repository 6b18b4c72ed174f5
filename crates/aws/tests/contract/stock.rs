//! Stock reservations: one TransactWriteItems of every line's stock and the
//! order; releases exactly once.

use saga_aws::{DynamoStore, TableName};
use saga_core::OrderId;
use saga_core::fixtures::{product, received_order};
use saga_core::order::{Order, OrderStatus, OrderUpdate, Sku};
use saga_core::ports::{
    Catalog, CatalogAdmin, OrderStore, ReserveOutcome, StockReservations, UpdateOutcome,
};

use crate::orders::t0;
use crate::support::Moto;

async fn setup(moto: &Moto, stock: &[(&str, i64)]) -> DynamoStore {
    let tables = moto.tables(&[TableName::Products, TableName::Orders]).await;
    let store = DynamoStore::from_client(moto.dynamodb(), tables);
    for (sku, n) in stock {
        store
            .upsert_product(&product(sku, sku, 500, *n))
            .await
            .unwrap();
    }
    store
}

async fn stock(store: &DynamoStore, sku: &str) -> Option<i64> {
    store
        .products(&[Sku::parse(sku).unwrap()])
        .await
        .unwrap()
        .first()
        .map(|p| p.stock)
}

/// Insert `order` and move it to VALIDATED, as the validate step does.
async fn insert_validated(store: &DynamoStore, order: &Order) {
    store.insert(order).await.unwrap();
    let validated = OrderUpdate::transition(
        OrderStatus::Validated,
        &[OrderStatus::Received],
        vec![],
        t0(),
    );
    assert!(matches!(
        store.update(order.order_id(), &validated).await.unwrap(),
        UpdateOutcome::Applied(_)
    ));
}

/// The reserve step's update: VALIDATED → RESERVED with the reservation.
fn reserve_update(order: &Order) -> OrderUpdate {
    OrderUpdate::reserve(order.items(), t0())
}

/// Compensation's update: the reservation released.
fn release_update() -> OrderUpdate {
    OrderUpdate::release(t0())
}

#[tokio::test]
async fn a_reservation_takes_every_line_and_marks_the_order_in_one_transaction() {
    let moto = Moto::connect().await;
    let store = setup(&moto, &[("SKU-1", 10), ("SKU-2", 3)]).await;
    let order = received_order(&[("SKU-1", 4), ("SKU-2", 3)], "tok_visa", "10115", t0());
    insert_validated(&store, &order).await;
    moto.recorder.take();

    let outcome = store
        .reserve(order.order_id(), order.items(), &reserve_update(&order))
        .await
        .unwrap();
    let actions: Vec<String> = moto.recorder.take().into_iter().map(|c| c.action).collect();

    assert_eq!(outcome, ReserveOutcome::Reserved);
    assert_eq!(stock(&store, "SKU-1").await, Some(6));
    assert_eq!(
        stock(&store, "SKU-2").await,
        Some(0),
        "the last units can be taken"
    );
    let stored = store.get(order.order_id()).await.unwrap().unwrap();
    assert_eq!(stored.status(), OrderStatus::Reserved);
    assert_eq!(stored.reservation().unwrap().lines, order.items());
    assert_eq!(
        actions,
        vec!["dynamodb:UpdateItem"; 3],
        "one TransactWriteItems: two product updates and the order update"
    );
}

#[tokio::test]
async fn insufficient_stock_writes_nothing_and_says_which_line() {
    let moto = Moto::connect().await;
    let store = setup(&moto, &[("SKU-1", 10), ("SKU-2", 2)]).await;
    let order = received_order(&[("SKU-1", 4), ("SKU-2", 3)], "tok_visa", "10115", t0());
    insert_validated(&store, &order).await;
    let before = store.get(order.order_id()).await.unwrap();

    let outcome = store
        .reserve(order.order_id(), order.items(), &reserve_update(&order))
        .await
        .unwrap();

    assert_eq!(
        outcome,
        ReserveOutcome::OutOfStock {
            sku: Sku::parse("SKU-2").unwrap(),
            requested: 3,
            available: Some(2),
        }
    );
    assert_eq!(
        stock(&store, "SKU-1").await,
        Some(10),
        "SKU-1 was not taken"
    );
    assert_eq!(stock(&store, "SKU-2").await, Some(2));
    assert_eq!(
        store.get(order.order_id()).await.unwrap(),
        before,
        "the order is untouched"
    );
}

#[tokio::test]
async fn an_unknown_sku_is_out_of_stock_with_nothing_available() {
    let moto = Moto::connect().await;
    let store = setup(&moto, &[("SKU-1", 10)]).await;
    let order = received_order(&[("SKU-1", 1), ("SKU-9", 1)], "tok_visa", "10115", t0());
    insert_validated(&store, &order).await;

    let outcome = store
        .reserve(order.order_id(), order.items(), &reserve_update(&order))
        .await
        .unwrap();

    assert_eq!(
        outcome,
        ReserveOutcome::OutOfStock {
            sku: Sku::parse("SKU-9").unwrap(),
            requested: 1,
            available: None,
        }
    );
    assert_eq!(stock(&store, "SKU-1").await, Some(10));
    assert_eq!(stock(&store, "SKU-9").await, None, "no product was created");
}

#[tokio::test]
async fn a_retried_reservation_takes_the_stock_once() {
    let moto = Moto::connect().await;
    let store = setup(&moto, &[("SKU-1", 10)]).await;
    let order = received_order(&[("SKU-1", 4)], "tok_visa", "10115", t0());
    insert_validated(&store, &order).await;
    let update = reserve_update(&order);

    let first = store
        .reserve(order.order_id(), order.items(), &update)
        .await
        .unwrap();
    let retry = store
        .reserve(order.order_id(), order.items(), &update)
        .await
        .unwrap();

    assert_eq!(first, ReserveOutcome::Reserved);
    assert_eq!(
        retry,
        ReserveOutcome::OrderConditionFailed,
        "already reserved"
    );
    assert_eq!(stock(&store, "SKU-1").await, Some(6));
}

#[tokio::test]
async fn reserving_for_an_unknown_order_takes_nothing() {
    let moto = Moto::connect().await;
    let store = setup(&moto, &[("SKU-1", 10)]).await;
    let order = received_order(&[("SKU-1", 4)], "tok_visa", "10115", t0());

    let outcome = store
        .reserve(
            &OrderId::generate(t0()),
            order.items(),
            &reserve_update(&order),
        )
        .await
        .unwrap();

    assert_eq!(outcome, ReserveOutcome::OrderNotFound);
    assert_eq!(stock(&store, "SKU-1").await, Some(10));
}

#[tokio::test]
async fn two_orders_racing_for_the_last_unit_one_wins() {
    let moto = Moto::connect().await;
    let store = setup(&moto, &[("SKU-1", 1)]).await;
    let a = received_order(&[("SKU-1", 1)], "tok_visa", "10115", t0());
    let b = received_order(&[("SKU-1", 1)], "tok_visa", "10115", t0());
    insert_validated(&store, &a).await;
    insert_validated(&store, &b).await;
    let (ua, ub) = (reserve_update(&a), reserve_update(&b));

    let (ra, rb) = tokio::join!(
        store.reserve(a.order_id(), a.items(), &ua),
        store.reserve(b.order_id(), b.items(), &ub)
    );

    let outcomes = [ra.unwrap(), rb.unwrap()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == ReserveOutcome::Reserved)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes.iter().any(|o| matches!(
        o,
        ReserveOutcome::OutOfStock {
            available: Some(0),
            ..
        }
    )));
    assert_eq!(stock(&store, "SKU-1").await, Some(0));
}

#[tokio::test]
async fn a_release_gives_the_stock_back_exactly_once() {
    let moto = Moto::connect().await;
    let store = setup(&moto, &[("SKU-1", 10), ("SKU-2", 5)]).await;
    let order = received_order(&[("SKU-1", 4), ("SKU-2", 5)], "tok_visa", "10115", t0());
    insert_validated(&store, &order).await;
    store
        .reserve(order.order_id(), order.items(), &reserve_update(&order))
        .await
        .unwrap();
    assert_eq!(stock(&store, "SKU-2").await, Some(0));

    let first = store
        .release(order.order_id(), order.items(), &release_update())
        .await
        .unwrap();
    let second = store
        .release(order.order_id(), order.items(), &release_update())
        .await
        .unwrap();

    match first {
        UpdateOutcome::Applied(o) => assert_eq!(o.reservation().unwrap().released_at, Some(t0())),
        other => panic!("{other:?}"),
    }
    assert_eq!(second, UpdateOutcome::ConditionFailed);
    assert_eq!(stock(&store, "SKU-1").await, Some(10));
    assert_eq!(stock(&store, "SKU-2").await, Some(5));
    assert_eq!(
        store
            .release(&OrderId::generate(t0()), order.items(), &release_update())
            .await
            .unwrap(),
        UpdateOutcome::NotFound
    );
    assert_eq!(stock(&store, "SKU-1").await, Some(10));
}

#[tokio::test]
async fn releasing_a_product_that_no_longer_exists_releases_the_others() {
    let moto = Moto::connect().await;
    let store = setup(&moto, &[("SKU-1", 10), ("SKU-2", 5)]).await;
    let order = received_order(&[("SKU-1", 4), ("SKU-2", 1)], "tok_visa", "10115", t0());
    insert_validated(&store, &order).await;
    store
        .reserve(order.order_id(), order.items(), &reserve_update(&order))
        .await
        .unwrap();
    store
        .client()
        .delete_item()
        .table_name(store.tables().name(TableName::Products).unwrap())
        .key(
            "sku",
            aws_sdk_dynamodb::types::AttributeValue::S("SKU-2".into()),
        )
        .send()
        .await
        .unwrap();

    let outcome = store
        .release(order.order_id(), order.items(), &release_update())
        .await
        .unwrap();

    assert!(matches!(outcome, UpdateOutcome::Applied(_)), "{outcome:?}");
    assert_eq!(stock(&store, "SKU-1").await, Some(10));
    assert_eq!(
        stock(&store, "SKU-2").await,
        None,
        "not re-created by the release"
    );
}
