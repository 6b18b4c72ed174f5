use std::sync::Arc;

use saga_aws::{SfnWorkflow, TableName};
use saga_core::SystemClock;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let aws = saga_aws::lambda::init(&[TableName::Orders, TableName::Approvals]).await?;
    let deps = approval_callback::Deps {
        approvals: aws.store.clone(),
        orders: aws.store,
        workflow: Arc::new(SfnWorkflow::for_task_callbacks(&aws.sdk)),
        clock: Arc::new(SystemClock),
    };
    // API Gateway requests, and the approvals table's stream (redelivery).
    saga_aws::lambda::serve_responses(|input| approval_callback::invoke(&deps, input)).await
}
