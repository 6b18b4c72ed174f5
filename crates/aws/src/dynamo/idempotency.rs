//! Idempotency keys: a claim is one conditional put (absent or expired).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use saga_core::Timestamp;
use saga_core::ports::{Claim, IdempotencyRecord, IdempotencyStore, StoreError};
use tracing::instrument;

use super::{DynamoStore, conditional, inconsistent, item_error};
use crate::config::TableName;
use crate::expr::n;
use crate::items::{self, EXPIRES_AT_MILLIS, IDEMPOTENCY_KEY};

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
            inconsistent(OP, "the condition failed but DynamoDB returned no item")
        })?;
        let existing = items::idempotency_from_item(item).map_err(|e| item_error(OP, e))?;
        Ok(Claim::Existing(existing))
    }
}
