//! AWS adapters of the `saga-core` ports: [`DynamoStore`] (DynamoDB: catalog,
//! orders, stock reservations, approvals, idempotency keys), [`SnsNotifier`]
//! (SNS) and [`SfnWorkflow`] (Step Functions), with their configuration from
//! the environment.
//!
//! A Lambda `main` builds them once during init ([`lambda::init`] does this
//! for the store, with the log subscriber, and [`lambda::serve`] runs the
//! handler):
//!
//! ```no_run
//! # async fn init() -> Result<(), Box<dyn std::error::Error>> {
//! use saga_aws::{DynamoStore, TableName, Tables};
//! let sdk = saga_aws::load_sdk_config().await;
//! let store = DynamoStore::new(&sdk, Tables::from_env(&[TableName::Orders, TableName::Products])?);
//! store.warm_up().await?; // TLS handshake during init, not on the first request
//! # Ok(()) }
//! ```
//!
//! Every adapter has the semantics of the in-memory adapters in
//! `saga_core::memory`, enforced by DynamoDB condition expressions and
//! transactions; `tests/contract` checks them against moto.

pub mod audit;
pub mod config;
pub mod dynamo;
pub mod error;
pub mod expr;
pub mod items;
pub mod lambda;
pub mod logging;
pub mod schema;
pub mod sfn;
pub mod sns;

pub use config::{ConfigError, TableName, Tables, TopicArns};
pub use dynamo::DynamoStore;
pub use sfn::SfnWorkflow;
pub use sns::SnsNotifier;

/// The SDK configuration from the standard sources (environment, profile,
/// Lambda's role credentials, region). Honours `AWS_ENDPOINT_URL`, which the
/// contract tests point at moto.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
