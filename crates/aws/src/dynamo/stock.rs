//! Stock reservations: reserving and releasing are each one
//! `TransactWriteItems` over the stock of every line and the order, all or
//! nothing, sharing one plan → transact → diagnose loop.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    CancellationReason, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use saga_core::OrderId;
use saga_core::order::{OrderItem, OrderUpdate, Sku};
use saga_core::ports::{ReserveOutcome, StockReservations, StoreError, UpdateOutcome};
use tracing::instrument;

use super::orders::{MAX_PLAN_ATTEMPTS, OrderCheck, diagnose, kept_changing, plan};
use super::{DynamoStore, inconsistent};
use crate::config::TableName;
use crate::error::{TransactionCancelled, classify, is_transient_code};
use crate::expr::{ExprBuilder, n, s};
use crate::items;

const CONDITIONAL_CHECK_FAILED: &str = "ConditionalCheckFailed";

/// What a stock transaction does to each line's product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StockChange {
    /// `stock - q`, guarded by `stock >= q`: never oversold.
    Reserve,
    /// `stock + q`; a product that no longer exists is skipped.
    Release,
}

impl StockChange {
    fn operation(self) -> &'static str {
        match self {
            Self::Reserve => "stock.reserve",
            Self::Release => "stock.release",
        }
    }
}

/// What a stock transaction came to, short of an error.
enum Transacted {
    Committed,
    OrderNotFound,
    OrderConditionFailed,
    /// A reserve found less than `requested` of `sku` (`None`: no such product).
    OutOfStock {
        sku: Sku,
        requested: u32,
        available: Option<i64>,
    },
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

pub(super) fn is_ccf(r: &CancellationReason) -> bool {
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

/// A cancelled transaction none of whose reasons is a business outcome.
pub(super) fn cancelled(op: &'static str, reasons: &[CancellationReason]) -> StoreError {
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

/// A reserve: the first line whose `stock >= q` failed, with the stock the
/// product had (`ALL_OLD`).
fn out_of_stock(merged: &[(Sku, u32)], reasons: &[CancellationReason]) -> Option<Transacted> {
    let ((sku, requested), r) = merged.iter().zip(reasons).find(|(_, r)| is_ccf(r))?;
    Some(Transacted::OutOfStock {
        sku: sku.clone(),
        requested: *requested,
        available: r.item().and_then(items::stock_of),
    })
}

/// A release: drop the lines whose product no longer exists (it has no stock
/// to give back; `MemoryStore` skips it too). `true` when any was dropped, so
/// the others are released without them.
fn skip_vanished(merged: &mut Vec<(Sku, u32)>, reasons: &[CancellationReason]) -> bool {
    let gone: Vec<Sku> = merged
        .iter()
        .zip(reasons)
        .filter(|(_, r)| is_ccf(r) && r.item().is_none())
        .map(|((sku, _), _)| sku.clone())
        .collect();
    if gone.is_empty() {
        return false;
    }
    tracing::warn!(skus = ?gone.iter().map(Sku::as_str).collect::<Vec<_>>(), "releasing stock of products that no longer exist: skipped");
    merged.retain(|(sku, _)| !gone.contains(sku));
    true
}

impl DynamoStore {
    /// One product stock update of a transaction.
    fn stock_update(
        &self,
        sku: &Sku,
        quantity: u32,
        change: StockChange,
    ) -> Result<TransactWriteItem, StoreError> {
        let op = change.operation();
        let table = self.table(TableName::Products, op)?;
        let mut b = ExprBuilder::new();
        let sku_attr = b.name("sku");
        let stock = b.name("stock");
        let q = b.value(n(quantity));
        let (update, condition) = match change {
            StockChange::Reserve => (
                format!("SET {stock} = {stock} - {q}"),
                format!("attribute_exists({sku_attr}) AND {stock} >= {q}"),
            ),
            StockChange::Release => (
                format!("SET {stock} = {stock} + {q}"),
                format!("attribute_exists({sku_attr})"),
            ),
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
    pub(super) async fn transact(
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

    /// Change the stock of every line and update the order in one
    /// transaction. A cancelled one is explained from the items as they were:
    /// the order first (as `MemoryStore` checks it first; planned again when
    /// a nested change met a missing parent), then the stock.
    async fn transact_stock(
        &self,
        id: &OrderId,
        lines: &[OrderItem],
        order_update: &OrderUpdate,
        change: StockChange,
    ) -> Result<Transacted, StoreError> {
        let op = change.operation();
        // Only `OrderStore::update` frees an open-order slot.
        if order_update.status.is_some_and(|st| st.is_final()) {
            return Err(inconsistent(op, "a stock transaction never ends an order"));
        }
        let mut merged = merge_lines(lines);
        let mut absent = BTreeSet::new();
        for _ in 0..MAX_PLAN_ATTEMPTS {
            let mut tx = Vec::with_capacity(merged.len() + 1);
            for (sku, q) in &merged {
                tx.push(self.stock_update(sku, *q, change)?);
            }
            let p = plan(order_update, &absent, op)?;
            tx.push(
                TransactWriteItem::builder()
                    .update(self.order_update_item(id, &p, op)?)
                    .build(),
            );
            let Some(reasons) = self.transact(tx, op).await? else {
                return Ok(Transacted::Committed);
            };
            if let Some(r) = reasons.get(merged.len()).filter(|r| is_ccf(r)) {
                match diagnose(order_update, &p, &absent, r.item().cloned(), op)? {
                    OrderCheck::NotFound => return Ok(Transacted::OrderNotFound),
                    OrderCheck::ConditionFailed => return Ok(Transacted::OrderConditionFailed),
                    OrderCheck::Replan(missing) => {
                        absent = missing;
                        continue;
                    }
                }
            }
            match change {
                StockChange::Reserve => {
                    if let Some(outcome) = out_of_stock(&merged, &reasons) {
                        return Ok(outcome);
                    }
                }
                StockChange::Release => {
                    if skip_vanished(&mut merged, &reasons) {
                        continue;
                    }
                }
            }
            return Err(cancelled(op, &reasons));
        }
        Err(kept_changing(op))
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
        let change = StockChange::Reserve;
        Ok(
            match self.transact_stock(id, lines, order_update, change).await? {
                Transacted::Committed => ReserveOutcome::Reserved,
                Transacted::OrderNotFound => ReserveOutcome::OrderNotFound,
                Transacted::OrderConditionFailed => ReserveOutcome::OrderConditionFailed,
                Transacted::OutOfStock {
                    sku,
                    requested,
                    available,
                } => ReserveOutcome::OutOfStock {
                    sku,
                    requested,
                    available,
                },
            },
        )
    }

    #[instrument(skip_all, fields(order_id = %id, lines = lines.len()), err(Display))]
    async fn release(
        &self,
        id: &OrderId,
        lines: &[OrderItem],
        order_update: &OrderUpdate,
    ) -> Result<UpdateOutcome, StoreError> {
        let change = StockChange::Release;
        let op = change.operation();
        match self.transact_stock(id, lines, order_update, change).await? {
            // TransactWriteItems returns no item: read the order back.
            Transacted::Committed => match self.read_order(id, op).await? {
                Some(order) => Ok(UpdateOutcome::Applied(Box::new(order))),
                None => Err(inconsistent(
                    op,
                    format!("order {id} vanished right after its release"),
                )),
            },
            Transacted::OrderNotFound => Ok(UpdateOutcome::NotFound),
            Transacted::OrderConditionFailed => Ok(UpdateOutcome::ConditionFailed),
            // A release guards no quantity, so no line can run out.
            Transacted::OutOfStock { sku, .. } => Err(inconsistent(
                op,
                format!("releasing {sku} was refused for lack of stock"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_core::order::Quantity;

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
}
