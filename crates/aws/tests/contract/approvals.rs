//! Approvals: created once, decided once whatever the concurrency, expired
//! refused, delivery / expiry marks.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use saga_aws::{DynamoStore, TableName};
use saga_core::approval::{Approval, ApprovalStatus, ApprovalSummary, Decision, TaskToken};
use saga_core::ports::{ApprovalStore, DecideOutcome};
use saga_core::{ApprovalId, Currency, CustomerId, Money, OrderId, Timestamp};
use tokio::task::JoinSet;

use crate::orders::t0;
use crate::support::Moto;

pub fn approval(expires_in: Duration) -> Approval {
    Approval {
        approval_id: ApprovalId::generate(),
        order_id: OrderId::generate(t0()),
        task_token: TaskToken::new("AAAAKgAAAAIAAAAAAAAAAQ-secret-token").unwrap(),
        status: ApprovalStatus::Pending,
        summary: ApprovalSummary {
            customer_id: CustomerId::parse("c-1").unwrap(),
            lines: vec![],
            total: Money::new(149_000, Currency::parse("EUR").unwrap()),
        },
        created_at: t0(),
        expires_at: t0().plus(expires_in),
        decided_at: None,
        delivered: false,
    }
}

async fn store(moto: &Moto) -> DynamoStore {
    let tables = moto.tables(&[TableName::Approvals]).await;
    DynamoStore::from_client(moto.dynamodb(), tables)
}

const DAY: Duration = Duration::from_secs(86_400);

fn later(secs: u64) -> Timestamp {
    t0().plus(Duration::from_secs(secs))
}

#[tokio::test]
async fn an_approval_is_created_once_and_reads_back_with_its_ttl() {
    let moto = Moto::connect().await;
    let store = store(&moto).await;
    let a = approval(DAY);

    store.create(&a).await.unwrap();
    let again = store.create(&a).await.unwrap_err();

    assert!(
        !again.is_transient(),
        "an id collision is not retried: {again:?}"
    );
    assert_eq!(store.get(&a.approval_id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.get(&ApprovalId::generate()).await.unwrap(), None);
    let item = moto
        .raw_item(
            store.tables().name(TableName::Approvals).unwrap(),
            "approvalId",
            a.approval_id.as_str(),
        )
        .await
        .unwrap();
    assert_eq!(
        item["ttl"],
        AttributeValue::N(a.forget_after().as_epoch_seconds().to_string()),
        "DynamoDB TTL: epoch seconds, a week after expiry"
    );
}

#[tokio::test]
async fn an_approval_is_decided_once() {
    let moto = Moto::connect().await;
    let store = store(&moto).await;
    let a = approval(DAY);
    store.create(&a).await.unwrap();

    let first = store
        .decide(&a.approval_id, Decision::Approve, later(60))
        .await
        .unwrap();
    let second = store
        .decide(&a.approval_id, Decision::Reject, later(61))
        .await
        .unwrap();

    let DecideOutcome::Decided(decided) = first else {
        panic!("{first:?}")
    };
    assert_eq!(decided.status, ApprovalStatus::Approved);
    assert_eq!(decided.decided_at, Some(later(60)));
    let DecideOutcome::NotPending(seen) = second else {
        panic!("{second:?}")
    };
    assert_eq!(*seen, *decided, "the second caller sees the first decision");
    assert_eq!(
        store.get(&a.approval_id).await.unwrap().unwrap().status,
        ApprovalStatus::Approved
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_decisions_exactly_one_wins() {
    let moto = Moto::connect().await;
    let store = store(&moto).await;
    let a = approval(DAY);
    store.create(&a).await.unwrap();

    let mut tasks = JoinSet::new();
    for i in 0..8 {
        let (store, id) = (store.clone(), a.approval_id.clone());
        let decision = if i % 2 == 0 {
            Decision::Approve
        } else {
            Decision::Reject
        };
        tasks.spawn(async move { store.decide(&id, decision, later(60)).await.unwrap() });
    }
    let outcomes = tasks.join_all().await;

    let winners: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            DecideOutcome::Decided(a) => Some(a.status),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, DecideOutcome::Decided(_) | DecideOutcome::NotPending(_)))
    );
    assert_eq!(
        store.get(&a.approval_id).await.unwrap().unwrap().status,
        winners[0]
    );
}

#[tokio::test]
async fn an_expired_approval_is_refused_and_unknown_is_not_found() {
    let moto = Moto::connect().await;
    let store = store(&moto).await;
    let a = approval(Duration::from_secs(60));
    store.create(&a).await.unwrap();

    let at_expiry = store
        .decide(&a.approval_id, Decision::Approve, later(60))
        .await
        .unwrap();
    let unknown = store
        .decide(&ApprovalId::generate(), Decision::Approve, later(1))
        .await
        .unwrap();

    assert!(
        matches!(at_expiry, DecideOutcome::Expired(ref x) if x.status == ApprovalStatus::Pending),
        "{at_expiry:?}"
    );
    assert_eq!(unknown, DecideOutcome::NotFound);
    assert_eq!(
        store.get(&a.approval_id).await.unwrap(),
        Some(a.clone()),
        "nothing changed"
    );
    // One millisecond before the expiry still counts.
    let b = approval(Duration::from_secs(60));
    store.create(&b).await.unwrap();
    let before = Timestamp::from_millis(b.expires_at.as_millis() - 1).unwrap();
    assert!(matches!(
        store
            .decide(&b.approval_id, Decision::Reject, before)
            .await
            .unwrap(),
        DecideOutcome::Decided(_)
    ));
}

#[tokio::test]
async fn expiry_voids_an_undelivered_decision_but_not_a_delivered_one() {
    let moto = Moto::connect().await;
    let store = store(&moto).await;
    let delivered = approval(DAY);
    let undelivered = approval(DAY);
    for a in [&delivered, &undelivered] {
        store.create(a).await.unwrap();
        store
            .decide(&a.approval_id, Decision::Approve, later(1))
            .await
            .unwrap();
    }
    store
        .mark_delivered(&delivered.approval_id, Decision::Approve)
        .await
        .unwrap();

    store.mark_expired(&delivered.approval_id).await.unwrap();
    store.mark_expired(&undelivered.approval_id).await.unwrap();
    let ghost = ApprovalId::generate();
    store.mark_expired(&ghost).await.unwrap();
    store
        .mark_delivered(&ghost, Decision::Approve)
        .await
        .unwrap();

    let d = store.get(&delivered.approval_id).await.unwrap().unwrap();
    assert_eq!((d.status, d.delivered), (ApprovalStatus::Approved, true));
    let u = store.get(&undelivered.approval_id).await.unwrap().unwrap();
    assert_eq!((u.status, u.delivered), (ApprovalStatus::Expired, false));
    assert_eq!(
        store.get(&ghost).await.unwrap(),
        None,
        "marking an unknown approval creates nothing"
    );
}

#[tokio::test]
async fn a_delivery_marked_after_a_racing_expiry_restores_the_decision() {
    // A losing double click was told "task closed" and marked the approval
    // expired; the winner's SendTaskSuccess had succeeded and marks it now.
    let moto = Moto::connect().await;
    let store = store(&moto).await;
    let a = approval(DAY);
    store.create(&a).await.unwrap();
    store
        .decide(&a.approval_id, Decision::Reject, later(1))
        .await
        .unwrap();
    store.mark_expired(&a.approval_id).await.unwrap();

    store
        .mark_delivered(&a.approval_id, Decision::Reject)
        .await
        .unwrap();

    let got = store.get(&a.approval_id).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.delivered),
        (ApprovalStatus::Rejected, true)
    );
}
