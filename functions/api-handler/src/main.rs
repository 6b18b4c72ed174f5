use std::sync::Arc;

use saga_aws::{SfnWorkflow, TableName};
use saga_core::SystemClock;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let public_base_url = std::env::var("PUBLIC_BASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());
    let max_open_orders_per_customer = api_handler::max_open_orders_per_customer(
        std::env::var("MAX_OPEN_ORDERS_PER_CUSTOMER")
            .ok()
            .as_deref(),
    )?;
    let aws = saga_aws::lambda::init(&[TableName::Orders, TableName::Idempotency]).await?;
    let deps = api_handler::Deps {
        orders: aws.store.clone(),
        idempotency: aws.store,
        workflow: Arc::new(SfnWorkflow::from_env(&aws.sdk)?),
        clock: Arc::new(SystemClock),
        public_base_url,
        max_open_orders_per_customer,
    };
    saga_aws::lambda::serve_responses(|input| api_handler::respond(&deps, input)).await
}
