use std::sync::Arc;

use saga_aws::{SnsNotifier, TableName, TopicArns};
use saga_core::{SystemClock, env, ports::Topic};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let public_base_url = env::required("PUBLIC_BASE_URL")?;
    let aws = saga_aws::lambda::init(&[TableName::Orders, TableName::Approvals]).await?;
    let topics = TopicArns::from_env(&[Topic::Approvals])?;
    let deps = request_approval::Deps {
        orders: aws.store.clone(),
        approvals: aws.store,
        notifier: Arc::new(SnsNotifier::new(&aws.sdk, topics)),
        clock: Arc::new(SystemClock),
        public_base_url,
    };
    saga_aws::lambda::serve(|input| request_approval::handle(&deps, input)).await
}
