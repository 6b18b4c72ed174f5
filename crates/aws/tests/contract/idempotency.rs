//! Idempotency keys: claimed once until they expire.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use saga_aws::{DynamoStore, TableName};
use saga_core::ports::{Claim, IdempotencyRecord, IdempotencyStore};
use saga_core::{IdempotencyKey, OrderId, Timestamp};

use crate::orders::t0;
use crate::support::Moto;

const DAY: Duration = Duration::from_secs(86_400);

fn record(key: &str, fingerprint: &str, created: Timestamp) -> IdempotencyRecord {
    IdempotencyRecord {
        key: IdempotencyKey::parse(key).unwrap(),
        fingerprint: fingerprint.into(),
        order_id: OrderId::generate(created),
        created_at: created,
        expires_at: created.plus(DAY),
    }
}

#[tokio::test]
async fn a_key_is_claimed_once_until_it_expires() {
    let moto = Moto::connect().await;
    let tables = moto.tables(&[TableName::Idempotency]).await;
    let store = DynamoStore::from_client(moto.dynamodb(), tables.clone());
    let first = record("key-1", "fp-a", t0());

    assert_eq!(store.claim(&first, t0()).await.unwrap(), Claim::Claimed);

    // Same key, before expiry (same body or not): the stored record answers.
    let same = record("key-1", "fp-a", t0().plus(Duration::from_secs(5)));
    assert_eq!(
        store.claim(&same, same.created_at).await.unwrap(),
        Claim::Existing(first.clone())
    );
    let other_body = record("key-1", "fp-b", t0().plus(Duration::from_secs(6)));
    assert_eq!(
        store
            .claim(&other_body, other_body.created_at)
            .await
            .unwrap(),
        Claim::Existing(first.clone())
    );
    // One millisecond before expiry it still holds; at expiry it is free again
    // (DynamoDB's TTL deletes lazily, so the adapter compares itself).
    let just_before = Timestamp::from_millis(first.expires_at.as_millis() - 1).unwrap();
    assert_eq!(
        store.claim(&other_body, just_before).await.unwrap(),
        Claim::Existing(first.clone())
    );
    let reused = record("key-1", "fp-c", first.expires_at);
    assert_eq!(
        store.claim(&reused, first.expires_at).await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        store.claim(&same, first.expires_at).await.unwrap(),
        Claim::Existing(reused.clone())
    );

    let item = moto
        .raw_item(
            tables.name(TableName::Idempotency).unwrap(),
            "idempotencyKey",
            "key-1",
        )
        .await
        .unwrap();
    assert_eq!(
        item["ttl"],
        AttributeValue::N(reused.expires_at.as_epoch_seconds().to_string())
    );
    assert_eq!(
        item["orderId"],
        AttributeValue::S(reused.order_id.to_string())
    );
}

#[tokio::test]
async fn different_keys_do_not_interfere() {
    let moto = Moto::connect().await;
    let tables = moto.tables(&[TableName::Idempotency]).await;
    let store = DynamoStore::from_client(moto.dynamodb(), tables);

    assert_eq!(
        store.claim(&record("a", "fp", t0()), t0()).await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        store.claim(&record("b", "fp", t0()), t0()).await.unwrap(),
        Claim::Claimed
    );
}
