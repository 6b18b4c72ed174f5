use std::sync::Arc;

use saga_aws::TableName;
use saga_core::pricing::{
    DEFAULT_APPROVAL_THRESHOLD_CENTS as CENTS, DEFAULT_APPROVAL_THRESHOLD_CURRENCY as CURRENCY,
    approval_threshold,
};
use saga_core::{SystemClock, env};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let cents = env::parse_or("APPROVAL_THRESHOLD_CENTS", CENTS)?;
    let currency = env::parse_or("APPROVAL_THRESHOLD_CURRENCY", CURRENCY)?;
    let threshold = approval_threshold(cents, currency)?;
    let aws = saga_aws::lambda::init(&[TableName::Orders, TableName::Products]).await?;
    let deps = validate::Deps {
        orders: aws.store.clone(),
        catalog: aws.store,
        clock: Arc::new(SystemClock),
        approval_threshold: threshold,
    };
    saga_aws::lambda::serve(|input| validate::handle(&deps, input)).await
}
