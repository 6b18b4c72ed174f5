use std::sync::Arc;

use saga_aws::TableName;
use saga_core::SystemClock;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let aws = saga_aws::lambda::init(&[TableName::Orders, TableName::Products]).await?;
    let deps = reserve::Deps {
        orders: aws.store.clone(),
        stock: aws.store,
        clock: Arc::new(SystemClock),
    };
    saga_aws::lambda::serve(|input| reserve::handle(&deps, input)).await
}
