use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use saga_aws::{DynamoStore, SnsNotifier, TableName, Tables, TopicArns};
use saga_core::{SystemClock, env, ports::Topic};

#[tokio::main]
async fn main() -> Result<(), Error> {
    saga_aws::logging::init()?;
    let public_base_url = env::required("PUBLIC_BASE_URL")?;
    let config = saga_aws::load_sdk_config().await;
    let store = Arc::new(DynamoStore::new(
        &config,
        Tables::from_env(&[TableName::Orders, TableName::Approvals])?,
    ));
    let _ = store.warm_up().await; // logged by warm_up; invocations report any real problem
    let notifier = Arc::new(SnsNotifier::new(
        &config,
        TopicArns::from_env(&[Topic::Approvals])?,
    ));
    let deps = request_approval::Deps {
        orders: store.clone(),
        approvals: store,
        notifier,
        clock: Arc::new(SystemClock),
        public_base_url,
    };
    run(service_fn(|event: LambdaEvent<request_approval::Input>| {
        request_approval::handle(&deps, event.payload)
    }))
    .await
}
