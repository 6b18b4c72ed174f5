use std::sync::Arc;

use saga_aws::TableName;
use saga_core::{SystemClock, providers::SimulatedPayments};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let aws = saga_aws::lambda::init(&[TableName::Orders]).await?;
    let deps = pay::Deps {
        orders: aws.store.clone(),
        payments: Arc::new(SimulatedPayments::new(aws.store)),
        clock: Arc::new(SystemClock),
    };
    saga_aws::lambda::serve(|input| pay::handle(&deps, input)).await
}
