use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use saga_aws::{DynamoStore, SfnWorkflow, TableName, Tables};
use saga_core::SystemClock;

#[tokio::main]
async fn main() -> Result<(), Error> {
    saga_aws::logging::init()?;
    let public_base_url = std::env::var("PUBLIC_BASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());
    let config = saga_aws::load_sdk_config().await;
    let store = Arc::new(DynamoStore::new(
        &config,
        Tables::from_env(&[TableName::Orders, TableName::Idempotency])?,
    ));
    let _ = store.warm_up().await; // logged by warm_up; invocations report any real problem
    let workflow = Arc::new(SfnWorkflow::from_env(&config)?);
    let deps = api_handler::Deps {
        orders: store.clone(),
        idempotency: store,
        workflow,
        clock: Arc::new(SystemClock),
        public_base_url,
    };
    run(service_fn(|event: LambdaEvent<api_handler::Input>| async {
        Ok::<_, std::convert::Infallible>(api_handler::respond(&deps, event.payload).await)
    }))
    .await
}
