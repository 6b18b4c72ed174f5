use std::sync::Arc;

use saga_aws::TableName;
use saga_core::{SystemClock, env, pricing::DEFAULT_APPROVAL_THRESHOLD_CENTS};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let threshold = env::parse_or("APPROVAL_THRESHOLD_CENTS", DEFAULT_APPROVAL_THRESHOLD_CENTS)?;
    let aws = saga_aws::lambda::init(&[TableName::Orders, TableName::Products]).await?;
    let deps = validate::Deps {
        orders: aws.store.clone(),
        catalog: aws.store,
        clock: Arc::new(SystemClock),
        approval_threshold_cents: threshold,
    };
    saga_aws::lambda::serve(|input| validate::handle(&deps, input)).await
}
