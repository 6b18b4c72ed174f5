//! Orders: insert, read, conditional update (plan → write → diagnose), and
//! the payment attempt counter.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure, Update};
use saga_core::OrderId;
use saga_core::order::{Order, OrderUpdate};
use saga_core::ports::{
    Admission, Inserted, OrderStore, PaymentAttempts, StoreError, UpdateOutcome,
};
use tracing::instrument;

use super::{DynamoStore, conditional, inconsistent, item_error, returned_item};
use crate::config::TableName;
use crate::error::ItemError;
use crate::expr::{OrderUpdatePlan, Parent, missing_parents, n, plan_order_update, s};
use crate::items::{self, Item};

/// How often an order update is planned again after a nested change met a
/// missing parent object (or a product vanished during a release).
pub(super) const MAX_PLAN_ATTEMPTS: usize = 4;

impl DynamoStore {
    pub(super) async fn read_order(
        &self,
        id: &OrderId,
        op: &'static str,
    ) -> Result<Option<Order>, StoreError> {
        self.get_item(TableName::Orders, "orderId", id.as_str(), op)
            .await?
            .map(|item| items::order_from_item(item).map_err(|e| item_error(op, e)))
            .transpose()
    }

    /// The order's part of a transaction: `plan` applied to order `id`.
    pub(super) fn order_update_item(
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

pub(super) fn plan(
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
pub(super) enum OrderCheck {
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
pub(super) fn diagnose(
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
        return Err(inconsistent(
            op,
            format!(
                "the condition {} failed although the order meets the update's expectations",
                plan.readable_condition()
            ),
        ));
    }
    Ok(OrderCheck::Replan(missing))
}

pub(super) fn kept_changing(op: &'static str) -> StoreError {
    StoreError::transient(
        op,
        ItemError::Inconsistent(format!(
            "the item kept changing during {MAX_PLAN_ATTEMPTS} attempts"
        )),
    )
}

#[async_trait]
impl OrderStore for DynamoStore {
    #[instrument(skip_all, fields(order_id = %order.order_id()), err(Display))]
    async fn insert(&self, order: &Order) -> Result<Inserted, StoreError> {
        const OP: &str = "orders.insert";
        let table = self.table(TableName::Orders, OP)?;
        let item = items::order_to_item(order).map_err(|e| StoreError::permanent(OP, e))?;
        Ok(if self.put_new(table, item, "orderId", OP).await? {
            Inserted::New
        } else {
            Inserted::AlreadyExists
        })
    }

    #[instrument(skip_all, fields(order_id = %order.order_id(), max), err(Display))]
    async fn admit(&self, order: &Order, max: u32) -> Result<Admission, StoreError> {
        self.admit_order(order, max).await
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
        if update.status.is_some_and(|st| st.is_final()) {
            match self.slot_of(id, OP).await? {
                None => return Ok(UpdateOutcome::NotFound),
                Some(Some(customer)) => {
                    return self.update_freeing_slot(id, update, &customer, OP).await;
                }
                Some(None) => {}
            }
        }
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
            Err(_) => Err(inconsistent(OP, format!("order {id} not found"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_core::Timestamp;
    use saga_core::order::{Change, Expect};

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
}
