use std::sync::Arc;

use saga_aws::TableName;
use saga_core::SystemClock;
use saga_core::providers::{SimulatedCarrier, SimulatedPayments};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let aws = saga_aws::lambda::init(&[TableName::Orders, TableName::Products]).await?;
    let deps = compensate::Deps {
        orders: aws.store.clone(),
        stock: aws.store.clone(),
        payments: Arc::new(SimulatedPayments::new(aws.store)),
        carrier: Arc::new(SimulatedCarrier),
        clock: Arc::new(SystemClock),
    };
    saga_aws::lambda::serve(|input| compensate::handle(&deps, input)).await
}
