//! A server with the API on a free port, an SDK client for it, and a fake
//! Lambda Invoke endpoint that records what it was sent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use saga_local::serve::console::ConsoleMode;
use saga_local::serve::{RunningServer, ServeConfig, Server};
use saga_local::sfn::serve::SfnConfig;
use serde_json::{Value, json};

pub const ROLE: &str = "arn:aws:iam::000000000000:role/test";

pub struct Local {
    pub server: RunningServer,
    pub client: Client,
    pub lambda: Option<FakeLambda>,
    config: ServeConfig,
    _dir: tempfile::TempDir,
}

impl Local {
    /// A server with the API, without a Lambda endpoint or mocks.
    pub async fn start() -> Self {
        Self::with(false, None).await
    }

    /// With a fake Lambda endpoint and/or a MockConfigFile.
    pub async fn with(lambda: bool, mock_config: Option<&Value>) -> Self {
        Self::with_saga(lambda, mock_config, None).await
    }

    /// Also with another order saga definition (`--definition`).
    pub async fn with_saga(
        lambda: bool,
        mock_config: Option<&Value>,
        saga: Option<&Value>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let lambda = if lambda {
            Some(FakeLambda::start().await)
        } else {
            None
        };
        let mock_path = mock_config.map(|m| {
            let p = dir.path().join("mock.json");
            std::fs::write(&p, m.to_string()).unwrap();
            p
        });
        let mut config = ServeConfig::new(dir.path().join("data"));
        config.port = 0;
        config.console = ConsoleMode::Quiet;
        config.sfn = Some(SfnConfig {
            port: 0,
            lambda_endpoint: lambda.as_ref().map(|l| l.url.clone()),
            mock_config: mock_path,
        });
        if let Some(definition) = saga {
            // The saga is named by its file, as `--definition` names it.
            let p = dir.path().join("order-saga.asl.json");
            std::fs::write(&p, definition.to_string()).unwrap();
            config.definition = Some(p);
        }
        let server = Server::start(config.clone()).await.unwrap();
        let client = client(server.sfn_url().unwrap());
        Self {
            server,
            client,
            lambda,
            config,
            _dir: dir,
        }
    }

    /// Shut the server down and start it again on the same data directory
    /// (a new port: a new client).
    pub async fn restart(self) -> Self {
        let Self {
            server,
            lambda,
            config,
            _dir,
            ..
        } = self;
        server.shutdown().await.unwrap();
        let server = Server::start(config.clone()).await.unwrap();
        let client = client(server.sfn_url().unwrap());
        Self {
            server,
            client,
            lambda,
            config,
            _dir,
        }
    }

    pub async fn create(&self, name: &str, definition: &Value) -> String {
        self.client
            .create_state_machine()
            .name(name)
            .definition(definition.to_string())
            .role_arn(ROLE)
            .send()
            .await
            .unwrap()
            .state_machine_arn
    }

    pub async fn start_execution(&self, machine: &str, name: &str, input: &Value) -> String {
        self.client
            .start_execution()
            .state_machine_arn(machine)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .unwrap()
            .execution_arn
    }

    /// Poll until the execution leaves RUNNING.
    pub async fn finished(
        &self,
        arn: &str,
    ) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
        let start = Instant::now();
        loop {
            let d = self
                .client
                .describe_execution()
                .execution_arn(arn)
                .send()
                .await
                .unwrap();
            if d.status != ExecutionStatus::Running {
                return d;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{arn} still running"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The whole history, oldest first.
    pub async fn history(&self, arn: &str) -> Vec<HistoryEvent> {
        self.client
            .get_execution_history()
            .execution_arn(arn)
            .max_results(1000)
            .send()
            .await
            .unwrap()
            .events
    }
}

pub fn types(events: &[HistoryEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.r#type.as_str().to_owned())
        .collect()
}

/// The SDK client as a user would build it for the local endpoint.
pub fn client(url: &str) -> Client {
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .interceptor(NoHostPrefix)
        .build();
    Client::from_conf(config)
}

/// StartSyncExecution's endpoint has the host prefix `sync-` (AWS serves
/// it at `sync-states.<region>.amazonaws.com`); against a local endpoint
/// it must go (as boto3's `inject_host_prefix=False` does).
#[derive(Debug)]
pub struct NoHostPrefix;

impl aws_sdk_sfn::config::Intercept for NoHostPrefix {
    fn name(&self) -> &'static str {
        "NoHostPrefix"
    }

    fn modify_before_serialization(
        &self,
        _context: &mut aws_sdk_sfn::config::interceptors::BeforeSerializationInterceptorContextMut<
            '_,
        >,
        _runtime_components: &aws_sdk_sfn::config::RuntimeComponents,
        cfg: &mut aws_sdk_sfn::config::ConfigBag,
    ) -> Result<(), aws_sdk_sfn::error::BoxError> {
        cfg.interceptor_state()
            .unset::<aws_smithy_runtime_api::client::endpoint::EndpointPrefix>();
        Ok(())
    }
}

/// The code of an SDK error (`StateMachineDoesNotExist`, …).
pub fn code<E, R>(e: &aws_sdk_sfn::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sfn::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("not a service error: {e:?}"))
}

/// Every `(function, payload)` the fake Lambda received.
pub type Calls = Arc<Mutex<Vec<(String, Value)>>>;

/// A Lambda Invoke API: `ok` returns its payload with `"seen": true`,
/// `boom` raises `Boom`, `flaky` raises `Boom` until [`FakeLambda::fix`]
/// and is `ok` after, `wait` returns `{}` (its caller waits for a task
/// token), anything else is 404. Records every payload.
#[derive(Clone)]
pub struct FakeLambda {
    pub url: String,
    pub calls: Calls,
    fixed: Arc<AtomicBool>,
}

async fn invoke(
    State((calls, fixed)): State<(Calls, Arc<AtomicBool>)>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Json(payload): Json<Value>,
) -> Response {
    assert_eq!(
        headers
            .get("x-amz-invocation-type")
            .and_then(|v| v.to_str().ok()),
        Some("RequestResponse")
    );
    calls.lock().unwrap().push((name.clone(), payload.clone()));
    let fixed = fixed.load(Ordering::SeqCst);
    match name.as_str() {
        "ok" | "flaky" if name == "ok" || fixed => {
            let mut out = payload;
            out["seen"] = json!(true);
            Json(out).into_response()
        }
        "wait" => Json(json!({})).into_response(),
        "boom" | "flaky" => (
            [("x-amz-function-error", "Unhandled")],
            Json(json!({"errorType": "Boom", "errorMessage": "it blew up"})),
        )
            .into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({"Type": "User", "message": "Function not found"})),
        )
            .into_response(),
    }
}

impl FakeLambda {
    async fn start() -> Self {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let fixed = Arc::new(AtomicBool::new(false));
        let app = axum::Router::new()
            .route(
                "/2015-03-31/functions/{name}/invocations",
                axum::routing::post(invoke),
            )
            .with_state((calls.clone(), fixed.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, calls, fixed }
    }

    /// From now on `flaky` succeeds.
    pub fn fix(&self) {
        self.fixed.store(true, Ordering::SeqCst);
    }

    /// The payloads `function` received.
    pub fn payloads(&self, function: &str) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == function)
            .map(|(_, p)| p.clone())
            .collect()
    }
}
