use std::sync::Arc;

use saga_aws::TableName;
use saga_core::{SystemClock, providers::SimulatedCarrier};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let aws = saga_aws::lambda::init(&[TableName::Orders]).await?;
    let deps = ship::Deps {
        orders: aws.store,
        carrier: Arc::new(SimulatedCarrier),
        clock: Arc::new(SystemClock),
    };
    saga_aws::lambda::serve(|input| ship::handle(&deps, input)).await
}
