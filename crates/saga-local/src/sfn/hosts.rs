//! Who runs the Task states of the state machines created through the API
//! (the order saga keeps its in-process handlers):
//!
//! 1. a `MockConfigFile` test case, when the execution was started as
//!    `stateMachineArn#TestCaseName` and the case mocks the state, exactly as
//!    Step Functions Local does;
//! 2. else, for Lambda resources (`arn:aws:lambda:…:function:…` and
//!    `arn:aws:states:::lambda:invoke`), the Lambda Invoke API at
//!    `--lambda-endpoint` (`POST /2015-03-31/functions/{name}/invocations`,
//!    what `cargo lambda watch` serves);
//! 3. else the task fails as AWS fails a call to a function that does not
//!    exist (`Lambda.ResourceNotFoundException`, catchable), or, for
//!    another service, with `States.Runtime`: saga-local runs no other AWS
//!    service.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use asl::{Resource, TaskFailure, TaskHost, TaskOutput, TaskRequest, async_trait};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::mock::MockHost;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The task host of the API's engine.
pub struct RoutingHost {
    /// Execution ARN → its test case (only while it runs).
    mocks: Mutex<HashMap<String, Arc<MockHost>>>,
    lambda: Option<LambdaEndpoint>,
    region: String,
    account: String,
}

debug_naming!(RoutingHost, lambda);

impl RoutingHost {
    pub fn new(lambda: Option<LambdaEndpoint>, config: &asl::EngineConfig) -> Self {
        Self {
            mocks: Mutex::default(),
            lambda,
            region: config.region.clone(),
            account: config.account_id.clone(),
        }
    }

    /// Answer the tasks of `execution` from this test case.
    pub fn mock(&self, execution: &str, host: MockHost) {
        lock(&self.mocks).insert(execution.to_owned(), Arc::new(host));
    }

    /// The execution ended: forget its test case.
    pub fn forget(&self, execution: &str) {
        lock(&self.mocks).remove(execution);
    }

    fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.region, self.account
        )
    }
}

#[async_trait]
impl TaskHost for RoutingHost {
    async fn invoke(&self, req: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        let mock = lock(&self.mocks).get(&req.execution_id).cloned();
        if let Some(mock) = mock.filter(|m| m.mocks(&req.state_name)) {
            return mock.invoke(req).await;
        }
        let is_lambda = matches!(
            req.resource,
            Resource::LambdaFunction { .. } | Resource::LambdaInvoke { .. }
        );
        if !is_lambda {
            return Err(TaskFailure::host_error(format!(
                "saga-local runs no {} task (state '{}'): only Lambda functions (--lambda-endpoint) and MockConfigFile test cases (--mock-config, start the execution as <stateMachineArn>#<TestCase>)",
                req.resource_arn, req.state_name
            )));
        }
        let Some(name) = req.function_name() else {
            return Err(TaskFailure::new(
                "Lambda.InvalidParameterValueException",
                "FunctionName is missing or not a function name or ARN",
            ));
        };
        match &self.lambda {
            Some(endpoint) => {
                endpoint
                    .invoke(&name, &self.function_arn(&name), req.payload())
                    .await
            }
            None => Err(not_found(&self.function_arn(&name))),
        }
    }
}

/// What AWS answers for a function that does not exist.
fn not_found(function_arn: &str) -> TaskFailure {
    TaskFailure::new(
        "Lambda.ResourceNotFoundException",
        format!(
            "Function not found: {function_arn} (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: 00000000-0000-4000-8000-000000000000; Proxy: null)"
        ),
    )
}

/// The Lambda Invoke API of `--lambda-endpoint` (plain HTTP).
#[derive(Clone)]
pub struct LambdaEndpoint {
    url: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for LambdaEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaEndpoint")
            .field("url", &self.url)
            .finish()
    }
}

impl LambdaEndpoint {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Invoke `name` synchronously (`RequestResponse`): its output, or the
    /// function error it raised (`X-Amz-Function-Error`) as AWS reports it.
    async fn invoke(
        &self,
        name: &str,
        function_arn: &str,
        payload: Value,
    ) -> Result<TaskOutput, TaskFailure> {
        let client_error = |e: String| {
            TaskFailure::new(
                "Lambda.SdkClientException",
                format!("Unable to execute HTTP request to {}: {e}", self.url),
            )
        };
        let req = hyper::Request::post(format!(
            "{}/2015-03-31/functions/{name}/invocations",
            self.url
        ))
        .header("content-type", "application/json")
        .header("x-amz-invocation-type", "RequestResponse")
        .body(Full::new(Bytes::from(payload.to_string())))
        .map_err(|e| client_error(e.to_string()))?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| client_error(e.to_string()))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| client_error(e.to_string()))?
            .to_bytes();
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        match parts.status.as_u16() {
            200 if parts.headers.contains_key("x-amz-function-error") => {
                let field = |k: &str| json.get(k).and_then(Value::as_str).unwrap_or_default();
                let error_type = match field("errorType") {
                    "" => "Lambda.Unknown",
                    t => t,
                };
                Err(TaskFailure::lambda_error(error_type, field("errorMessage")))
            }
            200 => Ok(TaskOutput::Output(json)),
            404 => Err(not_found(function_arn)),
            status => Err(TaskFailure::new(
                "Lambda.ServiceException",
                format!(
                    "the Lambda endpoint {} answered {status}: {}",
                    self.url,
                    String::from_utf8_lossy(&body)
                ),
            )),
        }
    }
}
