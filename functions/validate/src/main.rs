use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use saga_aws::{DynamoStore, TableName, Tables};
use saga_core::{SystemClock, env, pricing::DEFAULT_APPROVAL_THRESHOLD_CENTS};

#[tokio::main]
async fn main() -> Result<(), Error> {
    saga_aws::logging::init()?;
    let threshold = env::parse_or("APPROVAL_THRESHOLD_CENTS", DEFAULT_APPROVAL_THRESHOLD_CENTS)?;
    let config = saga_aws::load_sdk_config().await;
    let store = Arc::new(DynamoStore::new(
        &config,
        Tables::from_env(&[TableName::Orders, TableName::Products])?,
    ));
    let _ = store.warm_up().await; // logged by warm_up; invocations report any real problem
    let deps = validate::Deps {
        orders: store.clone(),
        catalog: store,
        clock: Arc::new(SystemClock),
        approval_threshold_cents: threshold,
    };
    run(service_fn(|event: LambdaEvent<validate::Input>| {
        validate::handle(&deps, event.payload)
    }))
    .await
}
