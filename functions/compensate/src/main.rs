use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use saga_aws::{DynamoStore, TableName, Tables};
use saga_core::SystemClock;
use saga_core::providers::{SimulatedCarrier, SimulatedPayments};

#[tokio::main]
async fn main() -> Result<(), Error> {
    saga_aws::logging::init()?;
    let config = saga_aws::load_sdk_config().await;
    let store = Arc::new(DynamoStore::new(
        &config,
        Tables::from_env(&[TableName::Orders, TableName::Products])?,
    ));
    let _ = store.warm_up().await; // logged by warm_up; invocations report any real problem
    let payments = Arc::new(SimulatedPayments::new(store.clone()));
    let deps = compensate::Deps {
        orders: store.clone(),
        stock: store,
        payments,
        carrier: Arc::new(SimulatedCarrier),
        clock: Arc::new(SystemClock),
    };
    run(service_fn(|event: LambdaEvent<compensate::Input>| {
        compensate::handle(&deps, event.payload)
    }))
    .await
}
