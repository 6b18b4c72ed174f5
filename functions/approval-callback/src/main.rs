use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use saga_aws::{DynamoStore, SfnWorkflow, TableName, Tables};
use saga_core::SystemClock;

#[tokio::main]
async fn main() -> Result<(), Error> {
    saga_aws::logging::init()?;
    let config = saga_aws::load_sdk_config().await;
    let store = Arc::new(DynamoStore::new(
        &config,
        Tables::from_env(&[TableName::Orders, TableName::Approvals])?,
    ));
    let _ = store.warm_up().await; // logged by warm_up; invocations report any real problem
    let workflow = Arc::new(SfnWorkflow::for_task_callbacks(&config));
    let deps = approval_callback::Deps {
        approvals: store.clone(),
        orders: store,
        workflow,
        clock: Arc::new(SystemClock),
    };
    run(service_fn(
        |event: LambdaEvent<approval_callback::Input>| async {
            Ok::<_, std::convert::Infallible>(
                approval_callback::respond(&deps, event.payload).await,
            )
        },
    ))
    .await
}
