//! The open-order cap: one counter item per customer in the orders table
//! (key `orderId = "CUSTOMER#<customerId>"`, never a valid order id),
//! incremented in the `TransactWriteItems` that puts the order, guarded by
//! `openOrders < :max`; decremented in the transaction that moves the order
//! to a final status, whose order condition (not final yet) makes a retried
//! step free nothing twice. The order item names the customer whose slot it
//! holds (`openSlotOf`, written once at admission): an order stored before
//! the cap existed holds none and frees none.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use saga_core::order::{Expect, Order, OrderUpdate};
use saga_core::ports::{Admission, StoreError, UpdateOutcome};
use saga_core::{CustomerId, OrderId, OrderStatus};

use super::orders::{MAX_PLAN_ATTEMPTS, OrderCheck, diagnose, kept_changing, plan};
use super::stock::{cancelled, is_ccf};
use super::{DynamoStore, inconsistent};
use crate::config::TableName;
use crate::expr::{ExprBuilder, n, s};
use crate::items;

/// On an order item: the customer whose open-order slot it holds.
pub const SLOT_ATTRIBUTE: &str = "openSlotOf";
/// On a counter item: how many slots the customer holds.
pub const OPEN_ATTRIBUTE: &str = "openOrders";

/// The key (`orderId`) of `customer`'s counter item.
pub fn counter_key(customer: &str) -> String {
    format!("CUSTOMER#{customer}")
}

impl DynamoStore {
    /// The counter's part of a transaction: `openOrders + delta`, guarded by
    /// `openOrders < max` when taking a slot.
    fn counter_update(
        &self,
        customer: &str,
        delta: i64,
        max: Option<u32>,
        op: &'static str,
    ) -> Result<TransactWriteItem, StoreError> {
        let table = self.table(TableName::Orders, op)?;
        let mut b = ExprBuilder::new();
        let open = b.name(OPEN_ATTRIBUTE);
        let d = b.value(n(delta));
        let condition = max.map(|max| {
            format!(
                "attribute_not_exists({open}) OR {open} < {}",
                b.value(n(max))
            )
        });
        let (names, values) = b.into_parts();
        let update = Update::builder()
            .table_name(table)
            .key("orderId", s(counter_key(customer)))
            .update_expression(format!("ADD {open} {d}"))
            .set_condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(values)
            .build()
            .map_err(|e| StoreError::permanent(op, e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Put `order` (unless its id exists) and take one of its customer's
    /// `max` slots, in one transaction.
    pub(super) async fn admit_order(
        &self,
        order: &Order,
        max: u32,
    ) -> Result<Admission, StoreError> {
        const OP: &str = "orders.insert";
        if max == 0 {
            return Ok(Admission::CapReached);
        }
        let table = self.table(TableName::Orders, OP)?;
        let customer = order.customer_id().as_str();
        let mut item = items::order_to_item(order).map_err(|e| StoreError::permanent(OP, e))?;
        item.insert(SLOT_ATTRIBUTE.to_owned(), s(customer));
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", "orderId")
            .build()
            .map_err(|e| StoreError::permanent(OP, e))?;
        let tx = vec![
            TransactWriteItem::builder().put(put).build(),
            self.counter_update(customer, 1, Some(max), OP)?,
        ];
        let Some(reasons) = self.transact(tx, OP).await? else {
            return Ok(Admission::Admitted);
        };
        // The order first: a replay is no admission, whatever the counter says.
        if reasons.first().is_some_and(is_ccf) {
            return Ok(Admission::AlreadyExists);
        }
        if reasons.get(1).is_some_and(is_ccf) {
            return Ok(Admission::CapReached);
        }
        Err(cancelled(OP, &reasons))
    }

    /// The customer whose slot order `id` holds: `None` when the order does
    /// not exist, `Some(None)` when it holds none.
    pub(super) async fn slot_of(
        &self,
        id: &OrderId,
        op: &'static str,
    ) -> Result<Option<Option<CustomerId>>, StoreError> {
        let Some(item) = self
            .get_item(TableName::Orders, "orderId", id.as_str(), op)
            .await?
        else {
            return Ok(None);
        };
        let holder = match item.get(SLOT_ATTRIBUTE) {
            None => None,
            Some(v) => Some(
                v.as_s()
                    .ok()
                    .and_then(|c| CustomerId::parse(c).ok())
                    .ok_or_else(|| {
                        inconsistent(op, format!("order {id}: invalid {SLOT_ATTRIBUTE}"))
                    })?,
            ),
        };
        Ok(Some(holder))
    }

    /// `update` (to a final status) applied to order `id` and `customer`'s
    /// slot freed, in one transaction conditioned on the order not being
    /// final yet.
    pub(super) async fn update_freeing_slot(
        &self,
        id: &OrderId,
        update: &OrderUpdate,
        customer: &CustomerId,
        op: &'static str,
    ) -> Result<UpdateOutcome, StoreError> {
        let not_final = OrderStatus::ALL
            .into_iter()
            .filter(|st| !st.is_final())
            .collect();
        let update = update.clone().and_expect(Expect::StatusIn(not_final));
        let mut absent = BTreeSet::new();
        for _ in 0..MAX_PLAN_ATTEMPTS {
            let p = plan(&update, &absent, op)?;
            let tx = vec![
                TransactWriteItem::builder()
                    .update(self.order_update_item(id, &p, op)?)
                    .build(),
                self.counter_update(customer.as_str(), -1, None, op)?,
            ];
            let Some(reasons) = self.transact(tx, op).await? else {
                // TransactWriteItems returns no item: read the order back.
                return match self.read_order(id, op).await? {
                    Some(order) => Ok(UpdateOutcome::Applied(Box::new(order))),
                    None => Err(inconsistent(
                        op,
                        format!("order {id} vanished after its update"),
                    )),
                };
            };
            let Some(r) = reasons.first().filter(|r| is_ccf(r)) else {
                return Err(cancelled(op, &reasons));
            };
            match diagnose(&update, &p, &absent, r.item().cloned(), op)? {
                OrderCheck::NotFound => return Ok(UpdateOutcome::NotFound),
                OrderCheck::ConditionFailed => return Ok(UpdateOutcome::ConditionFailed),
                OrderCheck::Replan(missing) => absent = missing,
            }
        }
        Err(kept_changing(op))
    }
}
