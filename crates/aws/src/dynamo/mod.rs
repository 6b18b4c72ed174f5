//! [`DynamoStore`]: the DynamoDB implementation of the storage ports, over the
//! four tables of `docs/contracts.md`. Same semantics as
//! `saga_core::memory::MemoryStore`, enforced by condition expressions.
//!
//! One file per port: [`orders`] (orders and payment attempts, and the
//! plan → write → diagnose loop of order updates), [`catalog`], [`stock`]
//! (reservations: one transaction over stock and order), [`approvals`] and
//! [`idempotency`]. This file holds the store and what they all use.

mod approvals;
mod catalog;
mod idempotency;
pub mod open_orders;
mod orders;
mod stock;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use saga_core::ports::StoreError;
use tracing::instrument;

use crate::config::{TableName, Tables};
use crate::error::{ItemError, NotConfigured, classify};
use crate::expr::s;
use crate::items::Item;

/// DynamoDB storage of products, orders, approvals and idempotency keys.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: Tables,
}

/// The key of the order `warm_up` reads: not a valid order id, so it never exists.
const WARM_UP_KEY: &str = "warm-up-never-an-order";

impl DynamoStore {
    /// A store over `tables` using the SDK configuration `config`.
    pub fn new(config: &aws_config::SdkConfig, tables: Tables) -> Self {
        Self::from_client(Client::new(config), tables)
    }

    /// A store over `tables` using `client` (e.g. with interceptors).
    pub fn from_client(client: Client, tables: Tables) -> Self {
        Self { client, tables }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    fn table(&self, table: TableName, operation: &'static str) -> Result<&str, StoreError> {
        self.tables.name(table).ok_or_else(|| {
            StoreError::permanent(
                operation,
                NotConfigured {
                    var: table.env_var(),
                },
            )
        })
    }

    /// Open the TLS connection (and resolve credentials) during Lambda init:
    /// one `GetItem` on the orders table for a key that never exists, a call
    /// every function is allowed to make.
    #[instrument(skip(self), err(Display))]
    pub async fn warm_up(&self) -> Result<(), StoreError> {
        const OP: &str = "orders.warm_up";
        let table = self.table(TableName::Orders, OP)?;
        self.client
            .get_item()
            .table_name(table)
            .key("orderId", s(WARM_UP_KEY))
            .projection_expression("orderId")
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    /// The item of `table` whose key attribute `key` is `value`, read
    /// consistently (a step reads what the previous one wrote).
    async fn get_item(
        &self,
        table: TableName,
        key: &'static str,
        value: &str,
        op: &'static str,
    ) -> Result<Option<Item>, StoreError> {
        let table = self.table(table, op)?;
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key(key, s(value))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(op, e))?;
        Ok(out.item)
    }

    /// Put `item` into `table` unless an item with its key (attribute `key`)
    /// exists: `false` when one did, and nothing was written.
    async fn put_new(
        &self,
        table: &str,
        item: Item,
        key: &'static str,
        op: &'static str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", key)
            .send()
            .await;
        Ok(conditional(op, result)?.is_ok())
    }
}

/// An item that doesn't parse is corrupt; one that can't be written is a bug.
fn item_error(op: &'static str, err: ItemError) -> StoreError {
    match err {
        ItemError::Unreadable { .. } | ItemError::MissingAttribute { .. } => {
            StoreError::corrupt(op, err)
        }
        ItemError::Unwritable { .. } | ItemError::Inconsistent(_) => StoreError::permanent(op, err),
    }
}

/// A permanent error: what DynamoDB answered contradicts what was asked.
fn inconsistent(op: &'static str, what: impl Into<String>) -> StoreError {
    StoreError::permanent(op, ItemError::Inconsistent(what.into()))
}

/// A write whose condition can fail: the SDK error of `PutItem` / `UpdateItem`.
trait ConditionalWrite: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static {
    /// `Some(old item)` when this is `ConditionalCheckFailedException` (the
    /// item is there when the request asked for `ALL_OLD` and it existed).
    fn condition_failed(&self) -> Option<Option<Item>>;
}

impl ConditionalWrite for PutItemError {
    fn condition_failed(&self) -> Option<Option<Item>> {
        match self {
            Self::ConditionalCheckFailedException(e) => Some(e.item.clone()),
            _ => None,
        }
    }
}

impl ConditionalWrite for UpdateItemError {
    fn condition_failed(&self) -> Option<Option<Item>> {
        match self {
            Self::ConditionalCheckFailedException(e) => Some(e.item.clone()),
            _ => None,
        }
    }
}

/// The result of a conditional write: `Ok(Ok(output))` when it was applied,
/// `Ok(Err(old item))` when its condition failed, `Err` for any other failure
/// (classified).
fn conditional<O, E: ConditionalWrite>(
    op: &'static str,
    result: Result<O, SdkError<E, HttpResponse>>,
) -> Result<Result<O, Option<Item>>, StoreError> {
    match result {
        Ok(out) => Ok(Ok(out)),
        Err(err) => match err.as_service_error().and_then(E::condition_failed) {
            Some(old) => Ok(Err(old)),
            None => Err(classify(op, err)),
        },
    }
}

/// The item an `UpdateItem` with `ReturnValues` returned.
fn returned_item(op: &'static str, out: UpdateItemOutput) -> Result<Item, StoreError> {
    out.attributes
        .ok_or_else(|| inconsistent(op, "UpdateItem returned no attributes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unconfigured_table_is_a_permanent_error_naming_its_variable() {
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build();
        let store = DynamoStore::from_client(Client::from_conf(conf), Tables::new());
        let err = store.table(TableName::Orders, "orders.get").unwrap_err();
        assert!(!err.is_transient());
        assert_eq!(
            saga_core::ports::error_chain(&err),
            "orders.get failed: not configured: set ORDERS_TABLE"
        );
    }
}
