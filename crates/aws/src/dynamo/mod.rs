//! [`DynamoStore`]: the DynamoDB implementation of the storage ports, over the
//! four tables of `docs/contracts.md`. Same semantics as
//! `saga_core::memory::MemoryStore`, enforced by condition expressions.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, KeysAndAttributes, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use saga_core::approval::{Approval, ApprovalStatus, Decision};
use saga_core::order::{Order, OrderItem, OrderUpdate, Sku};
use saga_core::ports::{
    ApprovalStore, Catalog, CatalogAdmin, Claim, DecideOutcome, IdempotencyRecord,
    IdempotencyStore, Inserted, OrderStore, PaymentAttempts, ReserveOutcome, StockReservations,
    StoreError, UpdateOutcome,
};
use saga_core::pricing::Product;
use saga_core::{ApprovalId, OrderId, Timestamp};
use tracing::instrument;

use crate::config::{TableName, Tables};
use crate::error::{ItemError, NotConfigured, TransactionCancelled, classify, is_transient_code};
use crate::expr::{ExprBuilder, OrderUpdatePlan, Parent, missing_parents, n, plan_order_update, s};
use crate::items::{self, EXPIRES_AT_MILLIS, IDEMPOTENCY_KEY, Item};

/// How often an order update is planned again after a nested change met a
/// missing parent object (or a product vanished during a release).
const MAX_PLAN_ATTEMPTS: usize = 4;
/// BatchGetItem: keys per request, and rounds for unprocessed keys.
const BATCH_GET_MAX_KEYS: usize = 100;
const BATCH_GET_MAX_ROUNDS: u32 = 6;

const CONDITIONAL_CHECK_FAILED: &str = "ConditionalCheckFailed";

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

    /// Load a catalog entry without disturbing live stock: a new product gets
    /// the entry's stock; an existing one gets its name, price and currency
    /// updated and keeps the stock it has (which accounts for reserved and
    /// sold units). `reset_stock` overwrites the stock too.
    #[instrument(skip(self, product), fields(sku = %product.sku.as_str()), err(Display))]
    pub async fn seed_product(
        &self,
        product: &Product,
        reset_stock: bool,
    ) -> Result<(), StoreError> {
        const OP: &str = "products.seed";
        if reset_stock {
            return self.upsert_product(product).await;
        }
        let table = self.table(TableName::Products, OP)?;
        self.client
            .update_item()
            .table_name(table)
            .key("sku", s(product.sku.as_str()))
            .update_expression("SET #name = :name, priceCents = :price, currency = :currency, stock = if_not_exists(stock, :stock)")
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":name", s(product.name.clone()))
            .expression_attribute_values(":price", n(product.price.minor_units()))
            .expression_attribute_values(":currency", s(product.price.currency().as_str()))
            .expression_attribute_values(":stock", n(product.stock))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
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

    async fn read_order(
        &self,
        id: &OrderId,
        op: &'static str,
    ) -> Result<Option<Order>, StoreError> {
        let table = self.table(TableName::Orders, op)?;
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key("orderId", s(id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(op, e))?;
        out.item
            .map(|item| items::order_from_item(item).map_err(|e| item_error(op, e)))
            .transpose()
    }

    fn order_update_item(
        &self,
        id: &OrderId,
        plan: &OrderUpdatePlan,
        op: &'static str,
    ) -> Result<Update, StoreError> {
        let table = self.table(TableName::Orders, op)?;
        Update::builder()
            .table_name(table)
            .key("orderId", s(id.as_str()))
            .update_expression(&plan.update_expression)
            .condition_expression(&plan.condition_expression)
            .set_expression_attribute_names(Some(plan.names.clone()))
            .set_expression_attribute_values(Some(plan.values.clone()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::permanent(op, e))
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
    out.attributes.ok_or_else(|| {
        StoreError::permanent(
            op,
            ItemError::Inconsistent("UpdateItem returned no attributes".into()),
        )
    })
}

fn plan(
    update: &OrderUpdate,
    absent: &BTreeSet<Parent>,
    op: &'static str,
) -> Result<OrderUpdatePlan, StoreError> {
    plan_order_update(update, absent).map_err(|source| {
        StoreError::permanent(
            op,
            ItemError::Unwritable {
                table: "orders",
                source,
            },
        )
    })
}

/// What a failed order condition means, from the item as it was (`ALL_OLD`).
enum OrderCheck {
    NotFound,
    ConditionFailed,
    /// The expectations hold: a nested change met a missing parent object
    /// (or a parent known absent appeared). Plan again knowing which parents
    /// are absent.
    Replan(BTreeSet<Parent>),
}

/// Why the order condition of `plan` (planned with `absent` known absent)
/// failed, from the item as it was (`ALL_OLD`). When the expectations hold,
/// only the parents the plan guards can explain the failure: if the parents
/// missing among them are those already planned for, planning again would
/// send the same request, so the condition and [`OrderUpdate::check`]
/// disagree, a bug no retry fixes.
fn diagnose(
    update: &OrderUpdate,
    plan: &OrderUpdatePlan,
    absent: &BTreeSet<Parent>,
    old: Option<Item>,
    op: &'static str,
) -> Result<OrderCheck, StoreError> {
    let Some(item) = old else {
        return Ok(OrderCheck::NotFound);
    };
    let order = items::order_from_item(item).map_err(|e| item_error(op, e))?;
    if !update.check(&order) {
        return Ok(OrderCheck::ConditionFailed);
    }
    let relevant: BTreeSet<Parent> = plan.guarded.union(absent).copied().collect();
    let missing = missing_parents(&order, &relevant);
    if missing == *absent {
        return Err(StoreError::permanent(
            op,
            ItemError::Inconsistent(format!(
                "the condition {} failed although the order meets the update's expectations",
                plan.readable_condition()
            )),
        ));
    }
    Ok(OrderCheck::Replan(missing))
}

fn kept_changing(op: &'static str) -> StoreError {
    StoreError::transient(
        op,
        ItemError::Inconsistent(format!(
            "the item kept changing during {MAX_PLAN_ATTEMPTS} attempts"
        )),
    )
}

fn reasons_text(reasons: &[CancellationReason]) -> String {
    reasons
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r.code() {
            None | Some("None") => None,
            Some(code) => Some(format!("{i}:{code}")),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_ccf(r: &CancellationReason) -> bool {
    r.code() == Some(CONDITIONAL_CHECK_FAILED)
}

/// Lines with the same SKU merged (DynamoDB refuses two operations on one
/// item in a transaction), in first-appearance order.
fn merge_lines(lines: &[OrderItem]) -> Vec<(Sku, u32)> {
    let mut merged: Vec<(Sku, u32)> = Vec::new();
    for line in lines {
        match merged.iter_mut().find(|(sku, _)| *sku == line.sku) {
            Some((_, q)) => *q = q.saturating_add(line.quantity.get()),
            None => merged.push((line.sku.clone(), line.quantity.get())),
        }
    }
    merged
}

impl DynamoStore {
    /// One product stock update of a transaction: `stock - q` guarded by
    /// `stock >= q` (reserve), or `stock + q` (release).
    fn stock_update(
        &self,
        sku: &Sku,
        quantity: u32,
        reserve: bool,
        op: &'static str,
    ) -> Result<TransactWriteItem, StoreError> {
        let table = self.table(TableName::Products, op)?;
        let mut b = ExprBuilder::new();
        let sku_attr = b.name("sku");
        let stock = b.name("stock");
        let q = b.value(n(quantity));
        let (update, condition) = if reserve {
            (
                format!("SET {stock} = {stock} - {q}"),
                format!("attribute_exists({sku_attr}) AND {stock} >= {q}"),
            )
        } else {
            (
                format!("SET {stock} = {stock} + {q}"),
                format!("attribute_exists({sku_attr})"),
            )
        };
        let (names, values) = b.into_parts();
        let update = Update::builder()
            .table_name(table)
            .key("sku", s(sku.as_str()))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::permanent(op, e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Send a transaction; `Ok(None)` when it committed, `Ok(Some(reasons))`
    /// when DynamoDB cancelled it (one reason per item, in order).
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        op: &'static str,
    ) -> Result<Option<Vec<CancellationReason>>, StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(None),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                    Ok(Some(e.cancellation_reasons().to_vec()))
                }
                _ => Err(classify(op, err)),
            },
        }
    }
}

/// A cancelled transaction none of whose reasons is a business outcome.
fn cancelled(op: &'static str, reasons: &[CancellationReason]) -> StoreError {
    let err = TransactionCancelled {
        reasons: reasons_text(reasons),
    };
    if reasons
        .iter()
        .any(|r| r.code().is_some_and(is_transient_code))
    {
        StoreError::transient(op, err)
    } else {
        StoreError::permanent(op, err)
    }
}

#[async_trait]
impl Catalog for DynamoStore {
    #[instrument(skip_all, fields(skus = skus.len()), err(Display))]
    async fn products(&self, skus: &[Sku]) -> Result<Vec<Product>, StoreError> {
        const OP: &str = "products.get";
        let table = self.table(TableName::Products, OP)?;
        let mut unique: Vec<&Sku> = Vec::new();
        for sku in skus {
            if !unique.contains(&sku) {
                unique.push(sku);
            }
        }
        let mut found: HashMap<Sku, Product> = HashMap::new();
        for chunk in unique.chunks(BATCH_GET_MAX_KEYS) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|sku| HashMap::from([("sku".to_owned(), s(sku.as_str()))]))
                .collect();
            let mut request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::permanent(OP, e))?;
            let mut round = 0;
            loop {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(table, request)
                    .send()
                    .await
                    .map_err(|e| classify(OP, e))?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(table))
                    .unwrap_or_default()
                {
                    let p = items::product_from_item(item).map_err(|e| item_error(OP, e))?;
                    found.insert(p.sku.clone(), p);
                }
                match out.unprocessed_keys.and_then(|mut u| u.remove(table)) {
                    Some(rest) if !rest.keys().is_empty() => {
                        round += 1;
                        if round >= BATCH_GET_MAX_ROUNDS {
                            return Err(StoreError::transient(
                                OP,
                                ItemError::Inconsistent(format!(
                                    "{} keys still unprocessed after {round} rounds",
                                    rest.keys().len()
                                )),
                            ));
                        }
                        tokio::time::sleep(Duration::from_millis(25 << round)).await;
                        request = rest;
                    }
                    _ => break,
                }
            }
        }
        Ok(skus.iter().filter_map(|s| found.get(s).cloned()).collect())
    }
}

#[async_trait]
impl CatalogAdmin for DynamoStore {
    #[instrument(skip_all, fields(sku = %product.sku.as_str()), err(Display))]
    async fn upsert_product(&self, product: &Product) -> Result<(), StoreError> {
        const OP: &str = "products.put";
        let table = self.table(TableName::Products, OP)?;
        let item = items::product_to_item(product).map_err(|e| StoreError::permanent(OP, e))?;
        self.client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }
}

#[async_trait]
impl OrderStore for DynamoStore {
    #[instrument(skip_all, fields(order_id = %order.order_id()), err(Display))]
    async fn insert(&self, order: &Order) -> Result<Inserted, StoreError> {
        const OP: &str = "orders.insert";
        let table = self.table(TableName::Orders, OP)?;
        let item = items::order_to_item(order).map_err(|e| StoreError::permanent(OP, e))?;
        let result = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", "orderId")
            .send()
            .await;
        Ok(match conditional(OP, result)? {
            Ok(_) => Inserted::New,
            Err(_) => Inserted::AlreadyExists,
        })
    }

    #[instrument(skip_all, fields(order_id = %id), err(Display))]
    async fn get(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.read_order(id, "orders.get").await
    }

    #[instrument(skip_all, fields(order_id = %id, status = ?update.status), err(Display))]
    async fn update(
        &self,
        id: &OrderId,
        update: &OrderUpdate,
    ) -> Result<UpdateOutcome, StoreError> {
        const OP: &str = "orders.update";
        let table = self.table(TableName::Orders, OP)?;
        let mut absent = BTreeSet::new();
        for _ in 0..MAX_PLAN_ATTEMPTS {
            let p = plan(update, &absent, OP)?;
            let result = self
                .client
                .update_item()
                .table_name(table)
                .key("orderId", s(id.as_str()))
                .update_expression(&p.update_expression)
                .condition_expression(&p.condition_expression)
                .set_expression_attribute_names(Some(p.names.clone()))
                .set_expression_attribute_values(Some(p.values.clone()))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let old = match conditional(OP, result)? {
                Ok(out) => {
                    let item = returned_item(OP, out)?;
                    let order = items::order_from_item(item).map_err(|e| item_error(OP, e))?;
                    return Ok(UpdateOutcome::Applied(Box::new(order)));
                }
                Err(old) => old,
            };
            match diagnose(update, &p, &absent, old, OP)? {
                OrderCheck::NotFound => return Ok(UpdateOutcome::NotFound),
                OrderCheck::ConditionFailed => return Ok(UpdateOutcome::ConditionFailed),
                OrderCheck::Replan(missing) => absent = missing,
            }
        }
        Err(kept_changing(OP))
    }
}

#[async_trait]
impl PaymentAttempts for DynamoStore {
    #[instrument(skip_all, fields(order_id = %id), err(Display))]
    async fn next_payment_attempt(&self, id: &OrderId) -> Result<u32, StoreError> {
        const OP: &str = "orders.payment_attempt";
        let table = self.table(TableName::Orders, OP)?;
        let result = self
            .client
            .update_item()
            .table_name(table)
            .key("orderId", s(id.as_str()))
            .update_expression("ADD #attempts :one")
            .condition_expression("attribute_exists(#id)")
            .expression_attribute_names("#attempts", "paymentAttempts")
            .expression_attribute_names("#id", "orderId")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match conditional(OP, result)? {
            Ok(out) => {
                let attempts = out
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get("paymentAttempts"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or(ItemError::MissingAttribute {
                        table: "orders",
                        attribute: "paymentAttempts",
                    })
                    .map_err(|e| item_error(OP, e))?;
                Ok(u32::try_from(attempts).unwrap_or(u32::MAX))
            }
            Err(_) => Err(StoreError::permanent(
                OP,
                ItemError::Inconsistent(format!("order {id} not found")),
            )),
        }
    }
}

#[async_trait]
impl StockReservations for DynamoStore {
    #[instrument(skip_all, fields(order_id = %id, lines = lines.len()), err(Display))]
    async fn reserve(
        &self,
        id: &OrderId,
        lines: &[OrderItem],
        order_update: &OrderUpdate,
    ) -> Result<ReserveOutcome, StoreError> {
        const OP: &str = "stock.reserve";
        let merged = merge_lines(lines);
        let mut absent = BTreeSet::new();
        for _ in 0..MAX_PLAN_ATTEMPTS {
            let mut tx = Vec::with_capacity(merged.len() + 1);
            for (sku, q) in &merged {
                tx.push(self.stock_update(sku, *q, true, OP)?);
            }
            let p = plan(order_update, &absent, OP)?;
            tx.push(
                TransactWriteItem::builder()
                    .update(self.order_update_item(id, &p, OP)?)
                    .build(),
            );
            let Some(reasons) = self.transact(tx, OP).await? else {
                return Ok(ReserveOutcome::Reserved);
            };
            // The order first (as MemoryStore checks it first), then stock.
            if let Some(r) = reasons.get(merged.len()).filter(|r| is_ccf(r)) {
                match diagnose(order_update, &p, &absent, r.item().cloned(), OP)? {
                    OrderCheck::NotFound => return Ok(ReserveOutcome::OrderNotFound),
                    OrderCheck::ConditionFailed => {
                        return Ok(ReserveOutcome::OrderConditionFailed);
                    }
                    OrderCheck::Replan(missing) => {
                        absent = missing;
                        continue;
                    }
                }
            }
            if let Some(((sku, requested), r)) =
                merged.iter().zip(&reasons).find(|(_, r)| is_ccf(r))
            {
                return Ok(ReserveOutcome::OutOfStock {
                    sku: sku.clone(),
                    requested: *requested,
                    available: r.item().and_then(items::stock_of),
                });
            }
            return Err(cancelled(OP, &reasons));
        }
        Err(kept_changing(OP))
    }

    #[instrument(skip_all, fields(order_id = %id, lines = lines.len()), err(Display))]
    async fn release(
        &self,
        id: &OrderId,
        lines: &[OrderItem],
        order_update: &OrderUpdate,
    ) -> Result<UpdateOutcome, StoreError> {
        const OP: &str = "stock.release";
        let mut merged = merge_lines(lines);
        let mut absent = BTreeSet::new();
        for _ in 0..MAX_PLAN_ATTEMPTS {
            let mut tx = Vec::with_capacity(merged.len() + 1);
            for (sku, q) in &merged {
                tx.push(self.stock_update(sku, *q, false, OP)?);
            }
            let p = plan(order_update, &absent, OP)?;
            tx.push(
                TransactWriteItem::builder()
                    .update(self.order_update_item(id, &p, OP)?)
                    .build(),
            );
            let Some(reasons) = self.transact(tx, OP).await? else {
                // TransactWriteItems returns no item: read the order back.
                return match self.read_order(id, OP).await? {
                    Some(order) => Ok(UpdateOutcome::Applied(Box::new(order))),
                    None => Err(StoreError::permanent(
                        OP,
                        ItemError::Inconsistent(format!(
                            "order {id} vanished right after its release"
                        )),
                    )),
                };
            };
            if let Some(r) = reasons.get(merged.len()).filter(|r| is_ccf(r)) {
                match diagnose(order_update, &p, &absent, r.item().cloned(), OP)? {
                    OrderCheck::NotFound => return Ok(UpdateOutcome::NotFound),
                    OrderCheck::ConditionFailed => return Ok(UpdateOutcome::ConditionFailed),
                    OrderCheck::Replan(missing) => {
                        absent = missing;
                        continue;
                    }
                }
            }
            // A product that no longer exists has no stock to give back
            // (MemoryStore skips it too): release the others.
            let gone: Vec<Sku> = merged
                .iter()
                .zip(&reasons)
                .filter(|(_, r)| is_ccf(r) && r.item().is_none())
                .map(|((sku, _), _)| sku.clone())
                .collect();
            if !gone.is_empty() {
                tracing::warn!(skus = ?gone.iter().map(Sku::as_str).collect::<Vec<_>>(), "releasing stock of products that no longer exist: skipped");
                merged.retain(|(sku, _)| !gone.contains(sku));
                continue;
            }
            return Err(cancelled(OP, &reasons));
        }
        Err(kept_changing(OP))
    }
}

#[async_trait]
impl ApprovalStore for DynamoStore {
    #[instrument(skip_all, fields(approval = %approval.approval_id.fingerprint(), order_id = %approval.order_id), err(Display))]
    async fn create(&self, approval: &Approval) -> Result<(), StoreError> {
        const OP: &str = "approvals.create";
        let table = self.table(TableName::Approvals, OP)?;
        let item = items::approval_to_item(approval).map_err(|e| StoreError::permanent(OP, e))?;
        let result = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", "approvalId")
            .send()
            .await;
        match conditional(OP, result)? {
            Ok(_) => Ok(()),
            Err(_) => Err(StoreError::permanent(
                OP,
                ItemError::Inconsistent("approval id collision".into()),
            )),
        }
    }

    #[instrument(skip_all, fields(approval = %id.fingerprint()), err(Display))]
    async fn get(&self, id: &ApprovalId) -> Result<Option<Approval>, StoreError> {
        const OP: &str = "approvals.get";
        let table = self.table(TableName::Approvals, OP)?;
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key("approvalId", s(id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        out.item
            .map(|item| items::approval_from_item(item).map_err(|e| item_error(OP, e)))
            .transpose()
    }

    #[instrument(skip_all, fields(approval = %id.fingerprint(), decision = decision.as_str()), err(Display))]
    async fn decide(
        &self,
        id: &ApprovalId,
        decision: Decision,
        at: Timestamp,
    ) -> Result<DecideOutcome, StoreError> {
        const OP: &str = "approvals.decide";
        let table = self.table(TableName::Approvals, OP)?;
        let result = self
            .client
            .update_item()
            .table_name(table)
            .key("approvalId", s(id.as_str()))
            .update_expression("SET #status = :decided, #decidedAt = :at")
            .condition_expression("#status = :pending AND #expires > :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#decidedAt", "decidedAt")
            .expression_attribute_names("#expires", EXPIRES_AT_MILLIS)
            .expression_attribute_values(":decided", s(decision.status().as_str()))
            .expression_attribute_values(":pending", s(ApprovalStatus::Pending.as_str()))
            .expression_attribute_values(":at", s(at.to_string()))
            .expression_attribute_values(":now", n(at.as_millis()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let old = match conditional(OP, result)? {
            Ok(out) => {
                let item = returned_item(OP, out)?;
                let a = items::approval_from_item(item).map_err(|e| item_error(OP, e))?;
                return Ok(DecideOutcome::Decided(Box::new(a)));
            }
            Err(old) => old,
        };
        let Some(item) = old else {
            return Ok(DecideOutcome::NotFound);
        };
        let has_expiry = item.contains_key(EXPIRES_AT_MILLIS);
        let a = items::approval_from_item(item).map_err(|e| item_error(OP, e))?;
        if a.status != ApprovalStatus::Pending {
            Ok(DecideOutcome::NotPending(Box::new(a)))
        } else if a.is_expired_at(at) {
            Ok(DecideOutcome::Expired(Box::new(a)))
        } else if !has_expiry {
            Err(item_error(
                OP,
                ItemError::MissingAttribute {
                    table: "approvals",
                    attribute: EXPIRES_AT_MILLIS,
                },
            ))
        } else {
            Err(StoreError::permanent(
                OP,
                ItemError::Inconsistent(format!(
                    "approval {id}: expiresAtMillis disagrees with expiresAt"
                )),
            ))
        }
    }

    #[instrument(skip_all, fields(approval = %id.fingerprint()), err(Display))]
    async fn mark_delivered(&self, id: &ApprovalId) -> Result<(), StoreError> {
        const OP: &str = "approvals.mark_delivered";
        let table = self.table(TableName::Approvals, OP)?;
        let result = self
            .client
            .update_item()
            .table_name(table)
            .key("approvalId", s(id.as_str()))
            .update_expression("SET #delivered = :true")
            .condition_expression("attribute_exists(#id)")
            .expression_attribute_names("#delivered", "delivered")
            .expression_attribute_names("#id", "approvalId")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await;
        // Unknown approval: nothing to mark (as MemoryStore).
        let _applied = conditional(OP, result)?;
        Ok(())
    }

    #[instrument(skip_all, fields(approval = %id.fingerprint()), err(Display))]
    async fn mark_expired(&self, id: &ApprovalId) -> Result<(), StoreError> {
        const OP: &str = "approvals.mark_expired";
        let table = self.table(TableName::Approvals, OP)?;
        let result = self
            .client
            .update_item()
            .table_name(table)
            .key("approvalId", s(id.as_str()))
            .update_expression("SET #status = :expired")
            .condition_expression(
                "attribute_exists(#id) AND (attribute_not_exists(#delivered) OR #delivered = :false)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#delivered", "delivered")
            .expression_attribute_names("#id", "approvalId")
            .expression_attribute_values(":expired", s(ApprovalStatus::Expired.as_str()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        // Unknown, or the decision was delivered: nothing to do.
        let _applied = conditional(OP, result)?;
        Ok(())
    }
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    #[instrument(skip_all, fields(order_id = %record.order_id), err(Display))]
    async fn claim(&self, record: &IdempotencyRecord, now: Timestamp) -> Result<Claim, StoreError> {
        const OP: &str = "idempotency.claim";
        let table = self.table(TableName::Idempotency, OP)?;
        let item = items::idempotency_to_item(record).map_err(|e| StoreError::permanent(OP, e))?;
        let result = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#key) OR #expires <= :now")
            .expression_attribute_names("#key", IDEMPOTENCY_KEY)
            .expression_attribute_names("#expires", EXPIRES_AT_MILLIS)
            .expression_attribute_values(":now", n(now.as_millis()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let old = match conditional(OP, result)? {
            Ok(_) => return Ok(Claim::Claimed),
            Err(old) => old,
        };
        let item = old.ok_or_else(|| {
            StoreError::permanent(
                OP,
                ItemError::Inconsistent(
                    "the condition failed but DynamoDB returned no item".into(),
                ),
            )
        })?;
        let existing = items::idempotency_from_item(item).map_err(|e| item_error(OP, e))?;
        Ok(Claim::Existing(existing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_core::order::{Change, Expect, Quantity};

    fn line(sku: &str, q: u32) -> OrderItem {
        OrderItem {
            sku: Sku::parse(sku).unwrap(),
            quantity: Quantity::new(q).unwrap(),
        }
    }

    #[test]
    fn lines_of_one_sku_are_merged_in_first_appearance_order() {
        let merged = merge_lines(&[line("B", 1), line("A", 2), line("B", 3)]);
        let view: Vec<(&str, u32)> = merged.iter().map(|(s, q)| (s.as_str(), *q)).collect();
        assert_eq!(view, vec![("B", 4), ("A", 2)]);
    }

    #[test]
    fn cancellation_reasons_are_summarised_by_index() {
        let reasons = vec![
            CancellationReason::builder().code("None").build(),
            CancellationReason::builder()
                .code("ThrottlingError")
                .build(),
            CancellationReason::builder()
                .code("ValidationError")
                .build(),
        ];
        assert_eq!(
            reasons_text(&reasons),
            "1:ThrottlingError, 2:ValidationError"
        );
        assert!(cancelled("stock.reserve", &reasons).is_transient());
        assert!(!cancelled("stock.reserve", &reasons[2..]).is_transient());
        let conflict = vec![
            CancellationReason::builder()
                .code("TransactionConflict")
                .build(),
        ];
        assert_eq!(
            cancelled("stock.reserve", &conflict).error_name(),
            "Transient"
        );
    }

    fn at() -> Timestamp {
        Timestamp::from_millis(1_767_225_600_000).unwrap()
    }

    #[test]
    fn a_failed_guard_is_planned_again_once_then_no_progress_is_permanent() {
        // A RECEIVED order has no reservation: releasing it is a no-op in
        // apply_to, but the first plan guards `attribute_exists(reservation)`.
        let order = saga_core::fixtures::received_order(&[("SKU-1", 1)], "tok_visa", "10115", at());
        let item = || Some(items::order_to_item(&order).unwrap());
        let update = OrderUpdate::changes(vec![], vec![Change::ReservationReleased(at())], at());
        let none = BTreeSet::new();
        let first = plan(&update, &none, "orders.update").unwrap();
        assert_eq!(first.guarded, BTreeSet::from([Parent::Reservation]));
        let Ok(OrderCheck::Replan(absent)) =
            diagnose(&update, &first, &none, item(), "orders.update")
        else {
            panic!("a missing guarded parent is planned again");
        };
        assert_eq!(absent, BTreeSet::from([Parent::Reservation]));

        // The replanned condition failing on the same item is no progress:
        // planning again would send the same request.
        let second = plan(&update, &absent, "orders.update").unwrap();
        let Err(err) = diagnose(&update, &second, &absent, item(), "orders.update") else {
            panic!("no progress is an error");
        };
        assert!(!err.is_transient(), "a retry would fail the same way");
        assert_eq!(
            saga_core::ports::error_chain(&err),
            "orders.update failed: the condition attribute_exists(orderId) AND \
             attribute_not_exists(reservation) failed although the order meets \
             the update's expectations"
        );
    }

    #[test]
    fn a_condition_that_disagrees_with_check_is_permanent_not_retried() {
        // Nothing guarded, the expectations hold, yet the condition failed.
        let order = saga_core::fixtures::received_order(&[("SKU-1", 1)], "tok_visa", "10115", at());
        let update = OrderUpdate::changes(vec![Expect::NoPayment], vec![], at());
        let none = BTreeSet::new();
        let p = plan(&update, &none, "orders.update").unwrap();
        assert!(p.guarded.is_empty());
        let old = Some(items::order_to_item(&order).unwrap());
        let Err(err) = diagnose(&update, &p, &none, old, "orders.update") else {
            panic!("an unexplained condition failure is an error");
        };
        assert!(!err.is_transient());
        assert!(
            saga_core::ports::error_chain(&err).contains("attribute_not_exists(payment)"),
            "names the condition: {}",
            saga_core::ports::error_chain(&err)
        );
        // The order not meeting the expectations is the business outcome.
        let impossible = OrderUpdate::changes(vec![Expect::StatusIn(vec![])], vec![], at());
        let p = plan(&impossible, &none, "orders.update").unwrap();
        let old = Some(items::order_to_item(&order).unwrap());
        assert!(matches!(
            diagnose(&impossible, &p, &none, old, "orders.update"),
            Ok(OrderCheck::ConditionFailed)
        ));
        assert!(matches!(
            diagnose(&update, &p, &none, None, "orders.update"),
            Ok(OrderCheck::NotFound)
        ));
    }

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
