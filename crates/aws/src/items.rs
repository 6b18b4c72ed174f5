//! How domain records are stored as DynamoDB items.
//!
//! Items are the domain types' serde shape (camelCase, through `serde_dynamo`),
//! so attribute names in expressions are the serde names. Additions:
//!
//! | table | extra attributes |
//! |---|---|
//! | products | flat: `sku`, `name`, `priceCents` (N), `currency` (S), `stock` (N) |
//! | approvals | `expiresAtMillis` (N, compared by `decide`), `ttl` (N, epoch seconds of [`Approval::forget_after`]) |
//! | idempotency | key stored as `idempotencyKey` (the table key) instead of `key`; `expiresAtMillis` (N, compared by `claim`), `ttl` (N, epoch seconds of `expiresAt`) |
//!
//! `expiresAt` stays the RFC 3339 string of the domain type; the numeric
//! `expiresAtMillis` copy exists because conditions compare numbers exactly
//! whatever the year (a string comparison would only hold for 4-digit years).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use saga_core::approval::Approval;
use saga_core::money::{Currency, Money};
use saga_core::order::{Order, Sku};
use saga_core::ports::IdempotencyRecord;
use saga_core::pricing::Product;
use serde::{Deserialize, Serialize};

use crate::error::ItemError;
use crate::expr::n;

pub type Item = HashMap<String, AttributeValue>;

pub const EXPIRES_AT_MILLIS: &str = "expiresAtMillis";
pub const TTL: &str = "ttl";

/// A product as stored in the products table. Reading ignores attributes this
/// version doesn't know (the table may have been written by a newer one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductItem {
    pub sku: Sku,
    pub name: String,
    pub price_cents: i64,
    pub currency: Currency,
    pub stock: i64,
}

impl From<&Product> for ProductItem {
    fn from(p: &Product) -> Self {
        Self {
            sku: p.sku.clone(),
            name: p.name.clone(),
            price_cents: p.price.minor_units(),
            currency: p.price.currency(),
            stock: p.stock,
        }
    }
}

impl From<ProductItem> for Product {
    fn from(p: ProductItem) -> Self {
        Self {
            sku: p.sku,
            name: p.name,
            price: Money::new(p.price_cents, p.currency),
            stock: p.stock,
        }
    }
}

fn to_item<T: Serialize>(table: &'static str, value: &T) -> Result<Item, ItemError> {
    serde_dynamo::aws_sdk_dynamodb_1::to_item(value)
        .map_err(|source| ItemError::Unwritable { table, source })
}

fn from_item<T: for<'de> Deserialize<'de>>(
    table: &'static str,
    item: Item,
) -> Result<T, ItemError> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item)
        .map_err(|source| ItemError::Unreadable { table, source })
}

pub fn product_to_item(p: &Product) -> Result<Item, ItemError> {
    to_item("products", &ProductItem::from(p))
}

pub fn product_from_item(item: Item) -> Result<Product, ItemError> {
    from_item::<ProductItem>("products", item).map(Product::from)
}

/// The `stock` of a product item, if readable.
pub fn stock_of(item: &Item) -> Option<i64> {
    match item.get("stock") {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

pub fn order_to_item(o: &Order) -> Result<Item, ItemError> {
    to_item("orders", o)
}

pub fn order_from_item(item: Item) -> Result<Order, ItemError> {
    from_item("orders", item)
}

pub fn approval_to_item(a: &Approval) -> Result<Item, ItemError> {
    let mut item = to_item("approvals", a)?;
    item.insert(EXPIRES_AT_MILLIS.into(), n(a.expires_at.as_millis()));
    item.insert(TTL.into(), n(a.forget_after().as_epoch_seconds()));
    Ok(item)
}

pub fn approval_from_item(item: Item) -> Result<Approval, ItemError> {
    from_item("approvals", item)
}

pub const IDEMPOTENCY_KEY: &str = "idempotencyKey";

pub fn idempotency_to_item(r: &IdempotencyRecord) -> Result<Item, ItemError> {
    let mut item = to_item("idempotency", r)?;
    let key = item.remove("key").ok_or(ItemError::MissingAttribute {
        table: "idempotency",
        attribute: "key",
    })?;
    item.insert(IDEMPOTENCY_KEY.into(), key);
    item.insert(EXPIRES_AT_MILLIS.into(), n(r.expires_at.as_millis()));
    item.insert(TTL.into(), n(r.expires_at.as_epoch_seconds()));
    Ok(item)
}

pub fn idempotency_from_item(mut item: Item) -> Result<IdempotencyRecord, ItemError> {
    let key = item
        .remove(IDEMPOTENCY_KEY)
        .ok_or(ItemError::MissingAttribute {
            table: "idempotency",
            attribute: IDEMPOTENCY_KEY,
        })?;
    item.insert("key".into(), key);
    from_item("idempotency", item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_core::approval::{ApprovalStatus, ApprovalSummary, TaskToken};
    use saga_core::{ApprovalId, CustomerId, IdempotencyKey, OrderId, Timestamp};

    fn at() -> Timestamp {
        Timestamp::from_millis(1_767_225_600_123).unwrap()
    }

    #[test]
    fn products_are_flat_with_numeric_price_and_stock() {
        let p = saga_core::fixtures::product("SKU-1", "Beans", 1999, 7);
        let item = product_to_item(&p).unwrap();
        assert_eq!(item["sku"], AttributeValue::S("SKU-1".into()));
        assert_eq!(item["priceCents"], AttributeValue::N("1999".into()));
        assert_eq!(item["currency"], AttributeValue::S("EUR".into()));
        assert_eq!(item["stock"], AttributeValue::N("7".into()));
        assert_eq!(item.len(), 5);
        assert_eq!(stock_of(&item), Some(7));
        assert_eq!(product_from_item(item.clone()).unwrap(), p);
        // Attributes this version doesn't know are ignored.
        let mut newer = item;
        newer.insert("addedLater".into(), AttributeValue::Bool(true));
        assert_eq!(product_from_item(newer).unwrap(), p);
    }

    #[test]
    fn orders_round_trip_in_their_serde_shape() {
        let order = saga_core::fixtures::received_order(&[("SKU-1", 2)], "tok_visa", "10115", at());
        let item = order_to_item(&order).unwrap();
        assert_eq!(
            item["orderId"],
            AttributeValue::S(order.order_id().to_string())
        );
        assert_eq!(item["status"], AttributeValue::S("RECEIVED".into()));
        assert_eq!(item["paymentAttempts"], AttributeValue::N("0".into()));
        assert!(matches!(item["history"], AttributeValue::L(_)));
        assert!(
            !item.contains_key("reservation"),
            "None is absent, not NULL"
        );
        assert_eq!(order_from_item(item).unwrap(), order);
    }

    #[test]
    fn approvals_carry_numeric_expiry_and_ttl_after_the_retention() {
        let a = Approval {
            approval_id: ApprovalId::generate(),
            order_id: OrderId::generate(at()),
            task_token: TaskToken::new("token").unwrap(),
            status: ApprovalStatus::Pending,
            summary: ApprovalSummary {
                customer_id: CustomerId::parse("c-1").unwrap(),
                lines: vec![],
                total: Money::new(1, Currency::parse("EUR").unwrap()),
            },
            created_at: at(),
            expires_at: at(),
            decided_at: None,
            delivered: false,
        };
        let item = approval_to_item(&a).unwrap();
        assert_eq!(
            item["expiresAtMillis"],
            AttributeValue::N("1767225600123".into())
        );
        assert_eq!(
            item["ttl"],
            AttributeValue::N((1_767_225_600 + 7 * 24 * 3600).to_string())
        );
        assert_eq!(approval_from_item(item).unwrap(), a);
    }

    #[test]
    fn idempotency_records_are_keyed_by_idempotency_key() {
        let r = IdempotencyRecord {
            key: IdempotencyKey::parse("k-1").unwrap(),
            fingerprint: "abc".into(),
            order_id: OrderId::generate(at()),
            created_at: at(),
            expires_at: at(),
        };
        let item = idempotency_to_item(&r).unwrap();
        assert_eq!(item["idempotencyKey"], AttributeValue::S("k-1".into()));
        assert!(!item.contains_key("key"));
        assert_eq!(item["ttl"], AttributeValue::N("1767225600".into()));
        assert_eq!(idempotency_from_item(item).unwrap(), r);
    }

    #[test]
    fn an_unreadable_item_is_an_error_naming_the_table() {
        let mut item = Item::new();
        item.insert("sku".into(), AttributeValue::S("SKU-1".into()));
        let err = product_from_item(item).unwrap_err();
        assert!(err.to_string().contains("products"), "{err}");
    }
}
