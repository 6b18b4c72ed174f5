//! An SDK interceptor that records every AWS call as the IAM action it needs
//! and the resource it touches, so tests can prove a function's code stays
//! inside its `functions/<fn>/aws-permissions.json`.
//!
//! `TransactWriteItems` is authorised per item, so it is recorded as the item
//! actions inside it (`dynamodb:UpdateItem` on each table, …); `BatchGetItem`
//! as `dynamodb:BatchGetItem` on each table it reads.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// One IAM action on one resource (table name, topic or state machine ARN;
/// `None` when the request names none, e.g. `SendTaskSuccess`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AwsCall {
    pub action: String,
    pub resource: Option<String>,
}

/// Records calls; clones share the record. Add it to a client with
/// `aws_sdk_dynamodb::config::Builder::interceptor` (same for SNS / SFN).
#[derive(Debug, Clone, Default)]
pub struct CallRecorder {
    calls: Arc<Mutex<Vec<AwsCall>>>,
}

impl CallRecorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<AwsCall> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forget the calls so far.
    pub fn take(&self) -> Vec<AwsCall> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn push(&self, action: String, resource: Option<&str>) {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(AwsCall {
                action,
                resource: resource.map(str::to_owned),
            });
    }
}

/// The IAM service prefix of an SDK service name.
fn iam_prefix(service: &str) -> String {
    match service {
        "DynamoDB" => "dynamodb".into(),
        "SFN" => "states".into(),
        "SNS" => "sns".into(),
        "SQS" => "sqs".into(),
        other => other.to_ascii_lowercase(),
    }
}

impl Intercept for CallRecorder {
    fn name(&self) -> &'static str {
        "CallRecorder"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(meta) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let prefix = iam_prefix(meta.service());
        let action = |name: &str| format!("{prefix}:{name}");
        let input = context.input();
        use aws_sdk_dynamodb::operation as ddb;
        if let Some(tx) = input.downcast_ref::<ddb::transact_write_items::TransactWriteItemsInput>()
        {
            for item in tx.transact_items() {
                if let Some(u) = item.update() {
                    self.push(action("UpdateItem"), Some(u.table_name()));
                }
                if let Some(p) = item.put() {
                    self.push(action("PutItem"), Some(p.table_name()));
                }
                if let Some(d) = item.delete() {
                    self.push(action("DeleteItem"), Some(d.table_name()));
                }
                if let Some(c) = item.condition_check() {
                    self.push(action("ConditionCheckItem"), Some(c.table_name()));
                }
            }
            return Ok(());
        }
        if let Some(b) = input.downcast_ref::<ddb::batch_get_item::BatchGetItemInput>() {
            let mut tables: Vec<&String> = b
                .request_items()
                .into_iter()
                .flat_map(|m| m.keys())
                .collect();
            tables.sort();
            for t in tables {
                self.push(action("BatchGetItem"), Some(t));
            }
            return Ok(());
        }
        let resource = if let Some(i) = input.downcast_ref::<ddb::get_item::GetItemInput>() {
            i.table_name()
        } else if let Some(i) = input.downcast_ref::<ddb::put_item::PutItemInput>() {
            i.table_name()
        } else if let Some(i) = input.downcast_ref::<ddb::update_item::UpdateItemInput>() {
            i.table_name()
        } else if let Some(i) = input.downcast_ref::<ddb::delete_item::DeleteItemInput>() {
            i.table_name()
        } else if let Some(i) = input.downcast_ref::<ddb::query::QueryInput>() {
            i.table_name()
        } else if let Some(i) = input.downcast_ref::<ddb::scan::ScanInput>() {
            i.table_name()
        } else if let Some(i) =
            input.downcast_ref::<aws_sdk_sns::operation::publish::PublishInput>()
        {
            i.topic_arn()
        } else if let Some(i) =
            input.downcast_ref::<aws_sdk_sfn::operation::start_execution::StartExecutionInput>()
        {
            i.state_machine_arn()
        } else if let Some(i) = input
            .downcast_ref::<aws_sdk_sfn::operation::describe_execution::DescribeExecutionInput>(
        ) {
            i.execution_arn()
        } else {
            None
        };
        self.push(action(meta.name()), resource);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_service_names_map_to_iam_prefixes() {
        assert_eq!(iam_prefix("DynamoDB"), "dynamodb");
        assert_eq!(iam_prefix("SFN"), "states");
        assert_eq!(iam_prefix("SNS"), "sns");
    }
}
