//! Orders: conditional insert, read, and `OrderUpdate` translated into one
//! conditional UpdateItem, checked step by step against `MemoryStore` (the
//! reference semantics).

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use saga_aws::{DynamoStore, TableName};
use saga_core::approval::ApprovalRef;
use saga_core::fixtures::{demo_catalog, received_order};
use saga_core::memory::MemoryStore;
use saga_core::order::{
    Change, Expect, Failure, Order, OrderStatus, OrderUpdate, PaymentRecord, RefundRecord,
    Reservation, ShipmentRecord,
};
use saga_core::ports::{Inserted, OrderStore, PaymentAttempts, StoreError, UpdateOutcome};
use saga_core::pricing::price_order;
use saga_core::{ApprovalId, OrderId, Timestamp};

use crate::support::Moto;

pub fn t0() -> Timestamp {
    Timestamp::from_millis(1_767_225_600_000).unwrap()
}

fn at(secs: u64) -> Timestamp {
    t0().plus(Duration::from_secs(secs))
}

pub async fn orders_store(moto: &Moto) -> DynamoStore {
    let tables = moto.tables(&[TableName::Orders]).await;
    DynamoStore::from_client(moto.dynamodb(), tables)
}

#[tokio::test]
async fn insert_is_conditional_and_an_order_reads_back_unchanged() {
    let moto = Moto::connect().await;
    let store = orders_store(&moto).await;
    let order = received_order(&[("SKU-1", 2), ("SKU-2", 1)], "tok_visa", "10115", t0());

    assert_eq!(store.insert(&order).await.unwrap(), Inserted::New);
    let mut other = received_order(&[("SKU-3", 1)], "tok_visa", "10115", t0());
    // Same id, different content: refused, the first one stays.
    other = serde_json::from_value({
        let mut v = serde_json::to_value(&other).unwrap();
        v["orderId"] = serde_json::json!(order.order_id());
        v
    })
    .unwrap();
    assert_eq!(store.insert(&other).await.unwrap(), Inserted::AlreadyExists);

    assert_eq!(
        store.get(order.order_id()).await.unwrap(),
        Some(order.clone())
    );
    assert_eq!(store.get(&OrderId::generate(t0())).await.unwrap(), None);

    let item = moto
        .raw_item(
            store.tables().name(TableName::Orders).unwrap(),
            "orderId",
            order.order_id().as_str(),
        )
        .await
        .unwrap();
    assert_eq!(item["status"], AttributeValue::S("RECEIVED".into()));
    assert!(matches!(&item["items"], AttributeValue::L(l) if l.len() == 2));
}

/// Apply `update` to both stores and check they agree; the DynamoDB outcome.
async fn both(
    memory: &MemoryStore,
    dynamo: &DynamoStore,
    id: &OrderId,
    update: OrderUpdate,
    what: &str,
) -> UpdateOutcome {
    let expected = memory.update(id, &update).await.unwrap();
    let actual = dynamo.update(id, &update).await.unwrap();
    assert_eq!(
        actual, expected,
        "{what}: DynamoDB and MemoryStore disagree"
    );
    assert_eq!(
        dynamo.get(id).await.unwrap(),
        memory.order(id),
        "{what}: stored orders differ"
    );
    actual
}

fn applied(o: &UpdateOutcome) -> &Order {
    match o {
        UpdateOutcome::Applied(order) => order,
        other => panic!("expected Applied, got {other:?}"),
    }
}

#[tokio::test]
async fn every_expectation_and_change_behaves_like_the_memory_store() {
    let moto = Moto::connect().await;
    let dynamo = orders_store(&moto).await;
    let memory = MemoryStore::new();
    let order = received_order(&[("SKU-4", 1)], "tok_visa", "10115", t0());
    let id = order.order_id().clone();
    memory.insert(&order).await.unwrap();
    dynamo.insert(&order).await.unwrap();
    use OrderStatus::*;

    let pricing = price_order(order.items(), &demo_catalog(), 100_000).unwrap();
    let validate = OrderUpdate::transition(
        Validated,
        &[Received],
        vec![Change::Pricing(pricing)],
        at(1),
    )
    .and_expect(Expect::NoPricing);
    let o = both(&memory, &dynamo, &id, validate.clone(), "validate").await;
    assert_eq!(applied(&o).status(), Validated);
    assert_eq!(applied(&o).history().len(), 2);
    assert_eq!(
        both(&memory, &dynamo, &id, validate, "validate again").await,
        UpdateOutcome::ConditionFailed
    );

    let reservation = Reservation {
        lines: order.items().to_vec(),
        reserved_at: at(2),
        released_at: None,
    };
    let reserve = OrderUpdate::transition(
        Reserved,
        &[Validated],
        vec![Change::Reservation(reservation)],
        at(2),
    )
    .and_expect(Expect::NoReservation);
    both(&memory, &dynamo, &id, reserve, "reserve").await;

    let approval_id = ApprovalId::generate();
    let approval = ApprovalRef {
        approval_id: approval_id.clone(),
        token_digest: "d".repeat(64),
        requested_at: at(3),
        expires_at: at(3 + 86_400),
        notified: false,
        decision: None,
    };
    both(
        &memory,
        &dynamo,
        &id,
        OrderUpdate::transition(
            AwaitingApproval,
            &[Reserved],
            vec![Change::Approval(approval)],
            at(3),
        ),
        "request approval",
    )
    .await;
    assert_eq!(
        both(
            &memory,
            &dynamo,
            &id,
            OrderUpdate::changes(
                vec![Expect::ApprovalIs(ApprovalId::generate())],
                vec![Change::ApprovalNotified],
                at(4)
            ),
            "notified, other approval",
        )
        .await,
        UpdateOutcome::ConditionFailed
    );
    let o = both(
        &memory,
        &dynamo,
        &id,
        OrderUpdate::changes(
            vec![Expect::ApprovalIs(approval_id.clone())],
            vec![Change::ApprovalNotified],
            at(4),
        ),
        "notified",
    )
    .await;
    assert!(applied(&o).approval().unwrap().notified);
    both(
        &memory,
        &dynamo,
        &id,
        OrderUpdate::transition(
            Approved,
            &[AwaitingApproval],
            vec![Change::ApprovalDecided {
                approved: true,
                at: at(5),
            }],
            at(5),
        )
        .and_expect(Expect::ApprovalIs(approval_id)),
        "approved",
    )
    .await;

    let payment = PaymentRecord {
        charge_id: format!("ch_{id}"),
        amount: memory.order(&id).unwrap().pricing().unwrap().total,
        charged_at: at(6),
        refund: None,
    };
    let pay = OrderUpdate::transition(
        Paid,
        &[Reserved, Approved],
        vec![Change::Payment(payment)],
        at(6),
    )
    .and_expect(Expect::NoPayment);
    both(&memory, &dynamo, &id, pay.clone(), "pay").await;
    assert_eq!(
        both(&memory, &dynamo, &id, pay, "pay twice").await,
        UpdateOutcome::ConditionFailed,
        "a charge is recorded once"
    );

    let ship = OrderUpdate::changes(
        vec![Expect::NoShipment],
        vec![Change::Shipment(ShipmentRecord {
            tracking_number: format!("TRK{id}"),
            shipped_at: at(7),
            cancelled_at: None,
        })],
        at(7),
    );
    both(&memory, &dynamo, &id, ship.clone(), "ship").await;
    assert_eq!(
        both(&memory, &dynamo, &id, ship, "ship twice").await,
        UpdateOutcome::ConditionFailed
    );

    // Compensation, newest first, each exactly once.
    for (what, update) in [
        (
            "cancel shipment",
            OrderUpdate::changes(
                vec![Expect::ShipmentActive],
                vec![Change::ShipmentCancelled(at(8))],
                at(8),
            ),
        ),
        (
            "refund",
            OrderUpdate::changes(
                vec![Expect::PaymentNotRefunded],
                vec![Change::Refund(RefundRecord {
                    refund_id: format!("re_{id}"),
                    refunded_at: at(9),
                })],
                at(9),
            ),
        ),
        (
            "release",
            OrderUpdate::changes(
                vec![Expect::ReservationHeld],
                vec![Change::ReservationReleased(at(10))],
                at(10),
            ),
        ),
    ] {
        assert!(matches!(
            both(&memory, &dynamo, &id, update.clone(), what).await,
            UpdateOutcome::Applied(_)
        ));
        assert_eq!(
            both(&memory, &dynamo, &id, update, &format!("{what} twice")).await,
            UpdateOutcome::ConditionFailed,
            "{what} happens once"
        );
    }

    let fail = OrderUpdate::transition(
        Failed,
        &OrderStatus::ALL,
        vec![Change::Failure(Failure {
            error: saga_core::ErrorName::ShippingFailed,
            cause: "undeliverable".into(),
        })],
        at(11),
    );
    let o = both(&memory, &dynamo, &id, fail, "fail").await;
    assert_eq!(applied(&o).status(), Failed);
    let final_order = applied(&o).clone();

    // No way back from a final status, whatever the caller claims.
    for to in OrderStatus::ALL {
        let back = OrderUpdate::transition(to, &OrderStatus::ALL, vec![], at(12));
        assert_eq!(
            both(&memory, &dynamo, &id, back, &format!("FAILED -> {to}")).await,
            UpdateOutcome::ConditionFailed
        );
        let forced = OrderUpdate {
            expect: vec![Expect::StatusIn(vec![Paid])],
            status: Some(to),
            changes: vec![],
            at: at(12),
        };
        assert_eq!(
            dynamo.update(&id, &forced).await.unwrap(),
            UpdateOutcome::ConditionFailed
        );
    }
    assert_eq!(dynamo.get(&id).await.unwrap(), Some(final_order));

    assert_eq!(
        dynamo
            .update(
                &OrderId::generate(t0()),
                &OrderUpdate::changes(vec![], vec![], at(13))
            )
            .await
            .unwrap(),
        UpdateOutcome::NotFound
    );
}

#[tokio::test]
async fn nested_changes_of_missing_objects_are_no_ops_like_in_memory() {
    let moto = Moto::connect().await;
    let dynamo = orders_store(&moto).await;
    let memory = MemoryStore::new();
    let order = received_order(&[("SKU-1", 1)], "tok_visa", "10115", t0());
    let id = order.order_id().clone();
    memory.insert(&order).await.unwrap();
    dynamo.insert(&order).await.unwrap();

    // Nothing to refund, cancel, release or notify: only updatedAt and the
    // status move, as OrderUpdate::apply_to does.
    let update = OrderUpdate::transition(
        OrderStatus::Failed,
        &[OrderStatus::Received],
        vec![
            Change::Refund(RefundRecord {
                refund_id: "re".into(),
                refunded_at: at(1),
            }),
            Change::ShipmentCancelled(at(1)),
            Change::ReservationReleased(at(1)),
            Change::ApprovalNotified,
            Change::ApprovalDecided {
                approved: false,
                at: at(1),
            },
        ],
        at(1),
    );
    let o = both(
        &memory,
        &dynamo,
        &id,
        update,
        "nested changes without parents",
    )
    .await;
    assert_eq!(applied(&o).status(), OrderStatus::Failed);
    assert!(applied(&o).payment().is_none() && applied(&o).shipment().is_none());

    // A whole object and a nested change of it in one update merge.
    let other = received_order(&[("SKU-1", 1)], "tok_visa", "10115", t0());
    memory.insert(&other).await.unwrap();
    dynamo.insert(&other).await.unwrap();
    let o = both(
        &memory,
        &dynamo,
        other.order_id(),
        OrderUpdate::changes(
            vec![Expect::NoReservation],
            vec![
                Change::Reservation(Reservation {
                    lines: other.items().to_vec(),
                    reserved_at: at(1),
                    released_at: None,
                }),
                Change::ReservationReleased(at(2)),
            ],
            at(2),
        ),
        "reservation and release in one update",
    )
    .await;
    assert_eq!(applied(&o).reservation().unwrap().released_at, Some(at(2)));
}

#[tokio::test]
async fn payment_attempts_count_up_from_one_and_need_the_order() {
    let moto = Moto::connect().await;
    let store = orders_store(&moto).await;
    let order = received_order(&[("SKU-1", 1)], "tok_flaky", "10115", t0());
    store.insert(&order).await.unwrap();

    assert_eq!(
        store.next_payment_attempt(order.order_id()).await.unwrap(),
        1
    );
    assert_eq!(
        store.next_payment_attempt(order.order_id()).await.unwrap(),
        2
    );
    assert_eq!(
        store
            .get(order.order_id())
            .await
            .unwrap()
            .unwrap()
            .payment_attempts(),
        2
    );

    let err = store
        .next_payment_attempt(&OrderId::generate(t0()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Permanent {
                operation: "orders.payment_attempt",
                ..
            }
        ),
        "{err:?}"
    );
    // ADD on a missing item would create it: the condition prevents that.
    assert_eq!(store.get(&OrderId::generate(t0())).await.unwrap(), None);
}

#[tokio::test]
async fn an_order_record_that_does_not_parse_is_corrupt() {
    let moto = Moto::connect().await;
    let store = orders_store(&moto).await;
    let id = OrderId::generate(t0());
    moto.put_raw_item(
        store.tables().name(TableName::Orders).unwrap(),
        [
            ("orderId".to_owned(), AttributeValue::S(id.to_string())),
            (
                "status".to_owned(),
                AttributeValue::S("SHIPPED_BY_PIGEON".into()),
            ),
        ]
        .into(),
    )
    .await;

    let err = store.get(&id).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                operation: "orders.get",
                ..
            }
        ),
        "{err:?}"
    );
}
