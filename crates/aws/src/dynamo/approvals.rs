//! Approvals: created once per id, decided once (a conditional update on
//! `status = PENDING` and the expiry), marked delivered or expired.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use saga_core::approval::{Approval, ApprovalStatus, Decision};
use saga_core::ports::{ApprovalStore, DecideOutcome, StoreError};
use saga_core::{ApprovalId, Timestamp};
use tracing::instrument;

use super::{DynamoStore, conditional, inconsistent, item_error, returned_item};
use crate::config::TableName;
use crate::error::ItemError;
use crate::expr::{n, s};
use crate::items::{self, EXPIRES_AT_MILLIS, Item};

/// Why a decision was not recorded, from the approval as it was (`ALL_OLD`):
/// unknown, already decided, or expired. Anything else means the condition
/// disagrees with the stored approval, a corrupt item no retry fixes.
fn undecided(
    id: &ApprovalId,
    old: Option<Item>,
    at: Timestamp,
) -> Result<DecideOutcome, StoreError> {
    const OP: &str = "approvals.decide";
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
        Err(inconsistent(
            OP,
            format!("approval {id}: expiresAtMillis disagrees with expiresAt"),
        ))
    }
}

impl DynamoStore {
    /// Update approval `id` with `update` where `condition` holds; where it
    /// doesn't (unknown, or past the point the mark means anything), nothing
    /// is written and that is no error.
    async fn mark(
        &self,
        id: &ApprovalId,
        op: &'static str,
        (update, condition): (&str, &str),
        names: &[(&str, &str)],
        values: &[(&str, AttributeValue)],
    ) -> Result<(), StoreError> {
        let table = self.table(TableName::Approvals, op)?;
        let mut request = self
            .client
            .update_item()
            .table_name(table)
            .key("approvalId", s(id.as_str()))
            .update_expression(update)
            .condition_expression(condition);
        for (name, attribute) in names {
            request = request.expression_attribute_names(*name, *attribute);
        }
        for (placeholder, value) in values {
            request = request.expression_attribute_values(*placeholder, value.clone());
        }
        let _applied = conditional(op, request.send().await)?;
        Ok(())
    }
}

#[async_trait]
impl ApprovalStore for DynamoStore {
    #[instrument(skip_all, fields(approval = %approval.approval_id.fingerprint(), order_id = %approval.order_id), err(Display))]
    async fn create(&self, approval: &Approval) -> Result<(), StoreError> {
        const OP: &str = "approvals.create";
        let table = self.table(TableName::Approvals, OP)?;
        let item = items::approval_to_item(approval).map_err(|e| StoreError::permanent(OP, e))?;
        if self.put_new(table, item, "approvalId", OP).await? {
            Ok(())
        } else {
            Err(inconsistent(OP, "approval id collision"))
        }
    }

    #[instrument(skip_all, fields(approval = %id.fingerprint()), err(Display))]
    async fn get(&self, id: &ApprovalId) -> Result<Option<Approval>, StoreError> {
        const OP: &str = "approvals.get";
        self.get_item(TableName::Approvals, "approvalId", id.as_str(), OP)
            .await?
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
        undecided(id, old, at)
    }

    #[instrument(skip_all, fields(approval = %id.fingerprint()), err(Display))]
    async fn mark_delivered(&self, id: &ApprovalId, decision: Decision) -> Result<(), StoreError> {
        // Unknown approval: nothing to mark (as MemoryStore).
        self.mark(
            id,
            "approvals.mark_delivered",
            (
                "SET #delivered = :true, #status = :decided",
                "attribute_exists(#id)",
            ),
            &[
                ("#delivered", "delivered"),
                ("#status", "status"),
                ("#id", "approvalId"),
            ],
            &[
                (":true", AttributeValue::Bool(true)),
                (":decided", s(decision.status().as_str())),
            ],
        )
        .await
    }

    #[instrument(skip_all, fields(approval = %id.fingerprint()), err(Display))]
    async fn mark_expired(&self, id: &ApprovalId) -> Result<(), StoreError> {
        // Unknown, or the decision was delivered: nothing to do.
        self.mark(
            id,
            "approvals.mark_expired",
            (
                "SET #status = :expired",
                "attribute_exists(#id) AND (attribute_not_exists(#delivered) OR #delivered = :false)",
            ),
            &[
                ("#status", "status"),
                ("#delivered", "delivered"),
                ("#id", "approvalId"),
            ],
            &[
                (":expired", s(ApprovalStatus::Expired.as_str())),
                (":false", AttributeValue::Bool(false)),
            ],
        )
        .await
    }
}
