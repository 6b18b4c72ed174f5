use std::sync::Arc;
use std::time::Duration;

use saga_core::approval::{ApprovalSummary, TaskToken};
use saga_core::fixtures::{demo_catalog, product, received_order};
use saga_core::order::{Change, OrderStatus};
use saga_core::pricing::{default_approval_threshold, price_order};
use saga_core::{Clock, IdempotencyKey, ManualClock};

use std::path::PathBuf;

use rusqlite::Connection;
use saga_core::approval::{Approval, ApprovalStatus, Decision};
use saga_core::order::{Order, OrderUpdate, Sku};
use saga_core::ports::*;
use saga_core::{ApprovalId, OrderId, Timestamp};

use super::*;

struct Db {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: SqliteStore,
}

async fn db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saga.db");
    let store = SqliteStore::open(&path).unwrap();
    for p in demo_catalog() {
        store.upsert_product(&p).await.unwrap();
    }
    Db {
        _dir: dir,
        path,
        store,
    }
}

fn now() -> Timestamp {
    ManualClock::at_fixed_start().now()
}

async fn validated(store: &SqliteStore, items: &[(&str, u32)]) -> Order {
    let order = received_order(items, "tok_visa", "10115", now());
    store.insert(&order).await.unwrap();
    let pricing =
        price_order(order.items(), &demo_catalog(), default_approval_threshold()).unwrap();
    let u = OrderUpdate::transition(
        OrderStatus::Validated,
        &[OrderStatus::Received],
        vec![Change::Pricing(pricing)],
        now(),
    );
    match store.update(order.order_id(), &u).await.unwrap() {
        UpdateOutcome::Applied(o) => *o,
        other => panic!("{other:?}"),
    }
}

/// The reserve step's update (as `reserve` builds it).
fn reserve_update(order: &Order) -> OrderUpdate {
    OrderUpdate::reserve(order.items(), now())
}

fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}

#[tokio::test]
async fn products_are_upserted_and_read_back() {
    let db = db().await;
    let found = db
        .store
        .products(&[sku("SKU-2"), sku("NOPE"), sku("SKU-1")])
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|p| p.sku.as_str()).collect::<Vec<_>>(),
        vec!["SKU-2", "SKU-1"]
    );
    assert_eq!(found[0].price.minor_units(), 4_950);
    db.store
        .upsert_product(&product("SKU-2", "Frother v2", 5_000, 3))
        .await
        .unwrap();
    assert_eq!(db.store.stock(&sku("SKU-2")).await.unwrap(), Some(3));
    assert_eq!(db.store.all_products().await.unwrap().len(), 4);
}

#[tokio::test]
async fn seeding_keeps_the_stock_of_existing_products_unless_told_to_reset() {
    let db = db().await;
    // Two units of SKU-3 are reserved before the "restart".
    let order = validated(&db.store, &[("SKU-3", 2)]).await;
    let outcome = db
        .store
        .reserve(order.order_id(), order.items(), &reserve_update(&order))
        .await
        .unwrap();
    assert_eq!(outcome, ReserveOutcome::Reserved);

    let seeded = db
        .store
        .seed_product(&product("SKU-3", "Grinder v2", 13_500, 10), SeedStock::Keep)
        .await
        .unwrap();
    let new = db
        .store
        .seed_product(&product("SKU-9", "Tamper", 2_500, 7), SeedStock::Keep)
        .await
        .unwrap();

    assert_eq!((seeded, new), (Seeded::Updated, Seeded::Inserted));
    let grinder = db.store.products(&[sku("SKU-3")]).await.unwrap().remove(0);
    assert_eq!(grinder.name, "Grinder v2");
    assert_eq!(grinder.price.minor_units(), 13_500);
    assert_eq!(grinder.stock, 8, "the reserved units stay reserved");
    assert_eq!(db.store.stock(&sku("SKU-9")).await.unwrap(), Some(7));

    db.store
        .seed_product(
            &product("SKU-3", "Grinder v2", 13_500, 10),
            SeedStock::Reset,
        )
        .await
        .unwrap();
    assert_eq!(db.store.stock(&sku("SKU-3")).await.unwrap(), Some(10));
}

#[tokio::test]
async fn orders_round_trip_and_updates_are_conditional() {
    let db = db().await;
    let order = received_order(&[("SKU-1", 1)], "tok_visa", "10115", now());
    assert_eq!(db.store.insert(&order).await.unwrap(), Inserted::New);
    assert_eq!(
        db.store.insert(&order).await.unwrap(),
        Inserted::AlreadyExists
    );
    assert_eq!(
        OrderStore::get(&db.store, order.order_id())
            .await
            .unwrap()
            .as_ref(),
        Some(&order)
    );

    let wrong = OrderUpdate::transition(OrderStatus::Paid, &[OrderStatus::Reserved], vec![], now());
    assert_eq!(
        db.store.update(order.order_id(), &wrong).await.unwrap(),
        UpdateOutcome::ConditionFailed
    );
    let missing = OrderId::generate(now());
    assert_eq!(
        db.store.update(&missing, &wrong).await.unwrap(),
        UpdateOutcome::NotFound
    );
    assert_eq!(
        OrderStore::get(&db.store, order.order_id())
            .await
            .unwrap()
            .as_ref(),
        Some(&order),
        "nothing changed"
    );
}

#[tokio::test]
async fn no_way_back_from_a_final_status() {
    let db = db().await;
    let order = received_order(&[("SKU-1", 1)], "tok_visa", "10115", now());
    db.store.insert(&order).await.unwrap();
    let fail = OrderUpdate::transition(OrderStatus::Failed, &OrderStatus::IN_FLIGHT, vec![], now());
    assert!(matches!(
        db.store.update(order.order_id(), &fail).await.unwrap(),
        UpdateOutcome::Applied(_)
    ));
    let back = OrderUpdate::transition(OrderStatus::Validated, &OrderStatus::ALL, vec![], now());
    assert_eq!(
        db.store.update(order.order_id(), &back).await.unwrap(),
        UpdateOutcome::ConditionFailed
    );
}

#[tokio::test]
async fn reservation_is_all_or_nothing_and_happens_once() {
    let db = db().await;
    let order = validated(&db.store, &[("SKU-1", 3), ("SKU-4", 6)]).await;
    let out = db
        .store
        .reserve(order.order_id(), order.items(), &reserve_update(&order))
        .await
        .unwrap();
    assert_eq!(
        out,
        ReserveOutcome::OutOfStock {
            sku: sku("SKU-4"),
            requested: 6,
            available: Some(5)
        }
    );
    assert_eq!(
        db.store.stock(&sku("SKU-1")).await.unwrap(),
        Some(100),
        "the first line was rolled back"
    );
    assert_eq!(
        OrderStore::get(&db.store, order.order_id())
            .await
            .unwrap()
            .unwrap()
            .status(),
        OrderStatus::Validated
    );

    let order = validated(&db.store, &[("SKU-1", 3), ("SKU-4", 5)]).await;
    assert_eq!(
        db.store
            .reserve(order.order_id(), order.items(), &reserve_update(&order))
            .await
            .unwrap(),
        ReserveOutcome::Reserved
    );
    assert_eq!(
        db.store
            .reserve(order.order_id(), order.items(), &reserve_update(&order))
            .await
            .unwrap(),
        ReserveOutcome::OrderConditionFailed
    );
    assert_eq!(db.store.stock(&sku("SKU-1")).await.unwrap(), Some(97));
    assert_eq!(db.store.stock(&sku("SKU-4")).await.unwrap(), Some(0));

    let release = OrderUpdate::release(now());
    assert!(matches!(
        db.store
            .release(order.order_id(), order.items(), &release)
            .await
            .unwrap(),
        UpdateOutcome::Applied(_)
    ));
    assert_eq!(
        db.store
            .release(order.order_id(), order.items(), &release)
            .await
            .unwrap(),
        UpdateOutcome::ConditionFailed
    );
    assert_eq!(
        db.store.stock(&sku("SKU-4")).await.unwrap(),
        Some(5),
        "released exactly once"
    );
}

#[tokio::test]
async fn concurrent_reservations_never_oversell() {
    let db = db().await;
    db.store
        .upsert_product(&product("HOT", "Limited", 1_000, 10))
        .await
        .unwrap();
    let mut orders = Vec::new();
    for _ in 0..20 {
        let order = received_order(&[("HOT", 1)], "tok_visa", "10115", now());
        db.store.insert(&order).await.unwrap();
        let pricing = price_order(
            order.items(),
            &[product("HOT", "Limited", 1_000, 10)],
            default_approval_threshold(),
        )
        .unwrap();
        let u = OrderUpdate::transition(
            OrderStatus::Validated,
            &[OrderStatus::Received],
            vec![Change::Pricing(pricing)],
            now(),
        );
        db.store.update(order.order_id(), &u).await.unwrap();
        orders.push(order);
    }
    let store = Arc::new(db.store.clone());
    let tasks: Vec<_> = orders
        .into_iter()
        .map(|o| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .reserve(o.order_id(), o.items(), &reserve_update(&o))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut reserved = 0;
    for t in tasks {
        if t.await.unwrap() == ReserveOutcome::Reserved {
            reserved += 1;
        }
    }
    assert_eq!(reserved, 10);
    assert_eq!(db.store.stock(&sku("HOT")).await.unwrap(), Some(0));
}

fn approval(order_id: &OrderId, expires_in: Duration) -> Approval {
    let p = product("SKU-4", "Machine", 149_000, 5);
    Approval {
        approval_id: ApprovalId::generate(),
        order_id: order_id.clone(),
        task_token: TaskToken::new("token").unwrap(),
        status: ApprovalStatus::Pending,
        summary: ApprovalSummary {
            customer_id: saga_core::CustomerId::parse("c-1").unwrap(),
            lines: vec![],
            total: p.price,
        },
        created_at: now(),
        expires_at: now().plus(expires_in),
        decided_at: None,
        delivered: false,
    }
}

#[tokio::test]
async fn an_approval_is_decided_once_whatever_the_concurrency() {
    let db = db().await;
    let a = approval(&OrderId::generate(now()), Duration::from_secs(60));
    db.store.create(&a).await.unwrap();
    assert!(
        db.store.create(&a).await.is_err(),
        "ids never collide silently"
    );
    let store = Arc::new(db.store.clone());
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (store, id) = (store.clone(), a.approval_id.clone());
            let d = if i % 2 == 0 {
                Decision::Approve
            } else {
                Decision::Reject
            };
            tokio::spawn(async move { store.decide(&id, d, now()).await.unwrap() })
        })
        .collect();
    let mut decided = 0;
    for t in tasks {
        match t.await.unwrap() {
            DecideOutcome::Decided(_) => decided += 1,
            DecideOutcome::NotPending(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(decided, 1);
    let winner = ApprovalStore::get(&db.store, &a.approval_id)
        .await
        .unwrap()
        .unwrap()
        .decision()
        .unwrap();
    db.store
        .mark_delivered(&a.approval_id, winner)
        .await
        .unwrap();
    db.store.mark_expired(&a.approval_id).await.unwrap();
    let stored = ApprovalStore::get(&db.store, &a.approval_id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.delivered);
    assert_ne!(
        stored.status,
        ApprovalStatus::Expired,
        "a delivered decision is never voided"
    );
}

#[tokio::test]
async fn an_expired_approval_is_refused() {
    let db = db().await;
    let a = approval(&OrderId::generate(now()), Duration::from_secs(60));
    db.store.create(&a).await.unwrap();
    let later = now().plus(Duration::from_secs(61));
    assert!(matches!(
        db.store
            .decide(&a.approval_id, Decision::Approve, later)
            .await
            .unwrap(),
        DecideOutcome::Expired(_)
    ));
    assert_eq!(
        db.store
            .decide(&ApprovalId::generate(), Decision::Approve, later)
            .await
            .unwrap(),
        DecideOutcome::NotFound
    );
}

#[tokio::test]
async fn idempotency_keys_are_claimed_once_until_they_expire() {
    let db = db().await;
    let record = |order_id: OrderId, fingerprint: &str| IdempotencyRecord {
        key: IdempotencyKey::parse("k-1").unwrap(),
        fingerprint: fingerprint.into(),
        order_id,
        created_at: now(),
        expires_at: now().plus(Duration::from_secs(60)),
    };
    let first = record(OrderId::generate(now()), "a");
    assert_eq!(db.store.claim(&first, now()).await.unwrap(), Claim::Claimed);
    assert_eq!(
        db.store
            .claim(&record(OrderId::generate(now()), "b"), now())
            .await
            .unwrap(),
        Claim::Existing(first)
    );
    let later = now().plus(Duration::from_secs(61));
    assert_eq!(
        db.store
            .claim(&record(OrderId::generate(now()), "b"), later)
            .await
            .unwrap(),
        Claim::Claimed
    );
}

#[tokio::test]
async fn everything_survives_closing_and_reopening() {
    let db = db().await;
    let order = validated(&db.store, &[("SKU-2", 2)]).await;
    db.store
        .reserve(order.order_id(), order.items(), &reserve_update(&order))
        .await
        .unwrap();
    assert!(
        db.store
            .insert_execution(ExecutionRow {
                name: order.order_id().to_string(),
                status: "RUNNING".into(),
                state: "{\"state\":\"PayOrder\"}".into(),
                created_at_ms: 1,
                updated_at_ms: 1,
            })
            .await
            .unwrap()
    );
    let path = db.path.clone();
    drop(db.store);

    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(
        OrderStore::get(&reopened, order.order_id())
            .await
            .unwrap()
            .unwrap()
            .status(),
        OrderStatus::Reserved
    );
    assert_eq!(reopened.stock(&sku("SKU-2")).await.unwrap(), Some(23));
    let running = reopened.executions_with_status("RUNNING").await.unwrap();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].state, "{\"state\":\"PayOrder\"}");
}

#[tokio::test]
async fn executions_are_inserted_once_and_saved() {
    let db = db().await;
    let row = ExecutionRow {
        name: "e1".into(),
        status: "RUNNING".into(),
        state: "{}".into(),
        created_at_ms: 5,
        updated_at_ms: 5,
    };
    assert!(db.store.insert_execution(row.clone()).await.unwrap());
    assert!(
        !db.store.insert_execution(row).await.unwrap(),
        "a second start of the same name is refused"
    );
    db.store
        .save_execution("e1", "SUCCEEDED", "{\"done\":true}", 9)
        .await
        .unwrap();
    let e = db.store.execution("e1").await.unwrap().unwrap();
    assert_eq!(
        (
            e.status.as_str(),
            e.state.as_str(),
            e.created_at_ms,
            e.updated_at_ms
        ),
        ("SUCCEEDED", "{\"done\":true}", 5, 9)
    );
    assert!(
        db.store
            .executions_with_status("RUNNING")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_unreadable_order_is_reported_as_corrupt() {
    let db = db().await;
    let order = received_order(&[("SKU-1", 1)], "tok_visa", "10115", now());
    db.store.insert(&order).await.unwrap();
    {
        let conn = Connection::open(&db.path).unwrap();
        conn.execute("UPDATE orders SET doc = '{\"orderId\": 1}'", [])
            .unwrap();
    }
    let err = OrderStore::get(&db.store, order.order_id())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[tokio::test]
async fn undelivered_approvals_are_the_decided_ones_not_delivered_nor_expired_oldest_first() {
    let db = db().await;
    let hour = Duration::from_secs(3600);
    let at = |s: u64| now().plus(Duration::from_secs(s));
    let order = OrderId::generate(now());
    let [pending, late, early, delivered, expired, recent] =
        std::array::from_fn(|_| approval(&order, hour));
    for a in [&pending, &late, &early, &delivered, &expired, &recent] {
        db.store.create(a).await.unwrap();
    }
    let decide = |a: &Approval, d: Decision, secs: u64| {
        let (store, id) = (db.store.clone(), a.approval_id.clone());
        async move { store.decide(&id, d, at(secs)).await.unwrap() }
    };
    decide(&late, Decision::Approve, 20).await;
    decide(&early, Decision::Reject, 10).await;
    decide(&delivered, Decision::Approve, 10).await;
    decide(&expired, Decision::Approve, 10).await;
    decide(&recent, Decision::Approve, 40).await;
    db.store
        .mark_delivered(&delivered.approval_id, Decision::Approve)
        .await
        .unwrap();
    db.store.mark_expired(&expired.approval_id).await.unwrap();

    let ids = |v: Vec<Approval>| v.into_iter().map(|a| a.approval_id).collect::<Vec<_>>();
    let found = db.store.undelivered_approvals(at(30), 10).await.unwrap();
    assert_eq!(
        ids(found),
        vec![early.approval_id.clone(), late.approval_id.clone()]
    );
    let bounded = db.store.undelivered_approvals(at(30), 1).await.unwrap();
    assert_eq!(ids(bounded), vec![early.approval_id]);
}

#[tokio::test]
async fn the_open_order_cap_is_taken_with_the_insert_and_freed_by_a_final_status_once() {
    let d = db().await;
    let order = || received_order(&[("SKU-1", 1)], "tok_visa", "10115", now());
    let (a, b, c) = (order(), order(), order());
    assert_eq!(d.store.admit(&a, 2).await.unwrap(), Admission::Admitted);
    assert_eq!(d.store.admit(&b, 2).await.unwrap(), Admission::Admitted);
    assert_eq!(d.store.admit(&c, 2).await.unwrap(), Admission::CapReached);
    assert_eq!(
        OrderStore::get(&d.store, c.order_id()).await.unwrap(),
        None,
        "nothing stored"
    );
    assert_eq!(
        d.store.admit(&a, 2).await.unwrap(),
        Admission::AlreadyExists
    );

    let stuck = OrderUpdate::transition(
        OrderStatus::NeedsAttention,
        &OrderStatus::IN_FLIGHT,
        vec![],
        now(),
    );
    d.store.update(b.order_id(), &stuck).await.unwrap();
    assert_eq!(d.store.admit(&c, 2).await.unwrap(), Admission::CapReached);

    let fail =
        OrderUpdate::transition(OrderStatus::Failed, &[OrderStatus::Received], vec![], now());
    assert!(matches!(
        d.store.update(a.order_id(), &fail).await.unwrap(),
        UpdateOutcome::Applied(_)
    ));
    assert_eq!(
        d.store.update(a.order_id(), &fail).await.unwrap(),
        UpdateOutcome::ConditionFailed
    );
    assert_eq!(d.store.admit(&c, 2).await.unwrap(), Admission::Admitted);
    assert_eq!(
        d.store.admit(&order(), 2).await.unwrap(),
        Admission::CapReached
    );
    let open: i64 = Connection::open(&d.path)
        .unwrap()
        .query_row(
            "SELECT open FROM open_orders WHERE customer_id = 'c-1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(open, 2);
}
