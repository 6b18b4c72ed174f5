//! What every function's `main.rs` does around its own wiring: install the
//! log subscriber, load the SDK configuration, build the DynamoDB store over
//! the tables the function uses and open its connection during init
//! ([`init`]), then answer invocations until the runtime stops ([`serve`]).
//!
//! ```no_run
//! # async fn main_() -> Result<(), lambda_runtime::Error> {
//! use saga_aws::TableName;
//! let aws = saga_aws::lambda::init(&[TableName::Orders]).await?;
//! let orders = aws.store; // build the handler's Deps from it
//! saga_aws::lambda::serve(|input: serde_json::Value| async move {
//!     Ok::<_, std::convert::Infallible>(input) // e.g. my_step::handle(&deps, input)
//! })
//! .await
//! # }
//! ```

use std::convert::Infallible;
use std::fmt::Debug;
use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{ConfigError, TableName, Tables};
use crate::{DynamoStore, load_sdk_config, logging};

/// A function could not start.
#[derive(thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Logging(#[from] tracing::subscriber::SetGlobalDefaultError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The cause's own `Debug`: what a `main` returning this error prints
/// (`Error: Missing("ORDERS_TABLE")`) names the problem, not the wrapper.
impl Debug for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Logging(e) => Debug::fmt(e, f),
            Self::Config(e) => Debug::fmt(e, f),
        }
    }
}

/// The AWS side of a function, built once during init.
#[derive(Debug, Clone)]
pub struct Aws {
    /// For the other clients the function needs (SNS, Step Functions).
    pub sdk: aws_config::SdkConfig,
    /// DynamoDB over the tables [`init`] was given.
    pub store: Arc<DynamoStore>,
}

/// Install the log subscriber ([`logging::init`]), load the SDK configuration
/// and build the store over `tables` (read from their environment variables:
/// a missing one is an error naming it), then warm it up: the TLS handshake
/// happens during init, not on the first request.
pub async fn init(tables: &[TableName]) -> Result<Aws, InitError> {
    logging::init()?;
    let sdk = load_sdk_config().await;
    let store = Arc::new(DynamoStore::new(&sdk, Tables::from_env(tables)?));
    // A failed warm-up is logged by warm_up; the invocations report any real
    // problem (a function that can't reach DynamoDB now may later).
    let _ = store.warm_up().await;
    Ok(Aws { sdk, store })
}

/// `lambda_runtime::run(service_fn(..))` with `handler` given each
/// invocation's payload; returns when the runtime stops. A handler's error
/// becomes the invocation's `errorType` / `errorMessage` (its `Diagnostic`).
pub async fn serve<I, O, E, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<O, E>>,
    I: DeserializeOwned,
    O: Serialize,
    E: Into<Diagnostic> + Debug,
{
    lambda_runtime::run(service_fn(|event: LambdaEvent<I>| handler(event.payload))).await
}

/// [`serve`] for a handler that always answers (an HTTP response, whose
/// errors are responses too).
pub async fn serve_responses<I, O, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = O>,
    I: DeserializeOwned,
    O: Serialize,
{
    serve(|input| {
        let response = handler(input);
        async move { Ok::<_, Infallible>(response.await) }
    })
    .await
}
