//! The Step Functions API on `saga-local serve` (`--sfn-port`, default
//! 8083 as Step Functions Local; `0` turns it off): the AWS JSON 1.0
//! protocol, so `aws stepfunctions --endpoint-url`, `aws-sdk-sfn` and boto3
//! work against it unchanged.
//!
//! - **Protocol** ([`protocol`]): `POST /` with `X-Amz-Target:
//!   AWSStepFunctions.<Action>`; errors `{"__type", "message"}` with AWS's
//!   HTTP statuses. Any SigV4 signature is accepted **without being
//!   checked**, as Step Functions Local does: bind it to loopback (the
//!   default) or a trusted network only.
//! - **ARNs** ([`arn`]): region `us-east-1`, account `000000000000`. The
//!   order saga is `arn:aws:states:us-east-1:000000000000:stateMachine:order-saga`
//!   ([`SAGA_ARN`]), its executions are named by order id and stored as
//!   `POST /orders` stores them.
//! - **Other state machines** ([`machines`]) are stored in SQLite; their
//!   executions run on a second engine and are stored as durably as the
//!   saga's ([`durable`]: head row + append-only events, resumed after a
//!   restart); their Task states go to a MockConfigFile test case, the
//!   `--lambda-endpoint`, or fail as AWS fails them ([`hosts`]).
//! - **RedriveExecution** ([`redrive`]) for both, as AWS defines it.

pub mod arn;
mod durable;
pub mod executions;
pub mod history;
pub mod hosts;
pub mod machines;
pub mod protocol;
mod redrive;
mod run;
pub mod saga;
pub mod serve;
mod sync;
mod test_state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use asl::{CallbackError, Engine, EngineConfig, RealClock, StateMachine};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use saga_sqlite::SqliteStore;
use serde_json::{Value, json};

use crate::mock::MockConfig;
use crate::serve::persistence::Parked;
use crate::serve::workflow::Gate;
use arn::Arns;
use hosts::{LambdaEndpoint, RoutingHost};
pub use protocol::ApiError;
use protocol::{Request, TARGET_PREFIX, json_response};
pub use saga::Saga;

/// The order saga's state machine ARN.
pub const SAGA_ARN: &str = "arn:aws:states:us-east-1:000000000000:stateMachine:order-saga";

/// The role ARN the saga reports (there is no IAM locally).
pub const SAGA_ROLE_ARN: &str = "arn:aws:iam::000000000000:role/saga-local";

/// The `statusFilter` values of `ListExecutions` (also the web console's filter).
pub const STATUS_FILTERS: [&str; 6] = [
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
    "ABORTED",
    "PENDING_REDRIVE",
];

/// The default port, Step Functions Local's.
pub const DEFAULT_SFN_PORT: u16 = 8083;

/// How the state machines created through the API run their tasks.
#[derive(Debug, Default)]
pub struct SfnOptions {
    /// `--lambda-endpoint`: the Lambda Invoke API to call.
    pub lambda_endpoint: Option<String>,
    /// `--mock-config` / `SFN_MOCK_CONFIG`, parsed.
    pub mock_config: Option<MockConfig>,
}

/// The API: its state machines, its engine and the saga.
pub struct SfnApi {
    arns: Arns,
    store: SqliteStore,
    saga: Option<Saga>,
    engine: Engine,
    host: Arc<RoutingHost>,
    /// The saga's: closed at shutdown, so every execution stops saving and
    /// stays `RUNNING` at its last save, resumed at the next start.
    gate: Arc<Gate>,
    parked: Parked,
    mock: Option<MockConfig>,
    /// Parsed definitions by ARN and revision.
    parsed: Mutex<HashMap<String, (i64, StateMachine)>>,
}

debug_naming!(SfnApi, arns, saga);

impl SfnApi {
    pub fn new(store: SqliteStore, saga: Option<Saga>, options: SfnOptions) -> Arc<Self> {
        let config = EngineConfig::default();
        let host = Arc::new(RoutingHost::new(
            options.lambda_endpoint.as_deref().map(LambdaEndpoint::new),
            &config,
        ));
        let engine = Engine::builder(host.clone(), Arc::new(RealClock))
            .config(config.clone())
            .build();
        let gate = saga
            .as_ref()
            .map_or_else(Arc::default, |s| s.workflow.gate());
        Arc::new(Self {
            arns: Arns::new(&config),
            store,
            saga,
            engine,
            host,
            gate,
            parked: Parked::default(),
            mock: options.mock_config,
            parsed: Mutex::default(),
        })
    }

    /// The order saga's state machine ARN, when the API serves it (the web console).
    pub fn saga_arn(&self) -> Option<String> {
        self.saga
            .as_ref()
            .map(|s| self.arns.state_machine(s.name()))
    }

    /// The ARN of the saga's execution named `name`.
    pub fn saga_execution_arn(&self, name: &str) -> Option<String> {
        self.saga
            .as_ref()
            .map(|s| self.arns.execution(s.name(), name))
    }

    /// One action.
    pub async fn dispatch(&self, action: &str, req: &Request) -> Result<Value, ApiError> {
        match action {
            "CreateStateMachine" => self.create_state_machine(req).await,
            "DescribeStateMachine" => self.describe_state_machine(req).await,
            "ListStateMachines" => self.list_state_machines(req).await,
            "UpdateStateMachine" => self.update_state_machine(req).await,
            "DeleteStateMachine" => self.delete_state_machine(req).await,
            "ValidateStateMachineDefinition" => Self::validate_definition(req),
            "StartExecution" => self.start_execution(req).await,
            "StartSyncExecution" => self.start_sync_execution(req).await,
            "DescribeExecution" => self.describe_execution(req).await,
            "ListExecutions" => self.list_executions(req).await,
            "GetExecutionHistory" => self.get_execution_history(req).await,
            "StopExecution" => self.stop_execution(req).await,
            "RedriveExecution" => self.redrive_execution(req).await,
            "SendTaskSuccess" => self.send_task_success(req),
            "SendTaskFailure" => self.send_task_failure(req),
            "SendTaskHeartbeat" => self.send_task_heartbeat(req),
            "TestState" => self.test_state(req).await,
            other => Err(ApiError::new(
                "UnknownOperationException",
                format!("saga-local does not implement the Step Functions action {other}"),
            )),
        }
    }

    /// A callback to whichever engine issued the token (the API's or the
    /// saga's; tokens are random, so only one knows it).
    fn callback(
        &self,
        f: impl Fn(&Engine) -> Result<(), CallbackError>,
    ) -> Result<Value, ApiError> {
        let mut result = f(&self.engine);
        if let (Err(CallbackError::TaskDoesNotExist | CallbackError::InvalidToken), Some(saga)) =
            (&result, &self.saga)
        {
            result = f(saga.workflow.engine());
        }
        match result {
            Ok(()) => Ok(json!({})),
            Err(CallbackError::InvalidToken) => Err(ApiError::invalid_token(
                "Invalid Token: the task token is not valid",
            )),
            Err(CallbackError::TaskDoesNotExist) => Err(ApiError::new(
                "TaskDoesNotExist",
                "Task Does Not Exist: no task is waiting for this token",
            )),
            Err(CallbackError::TaskTimedOut) => Err(ApiError::new(
                "TaskTimedOut",
                "Task Timed Out: the task has timed out or was already closed",
            )),
        }
    }

    fn send_task_success(&self, req: &Request) -> Result<Value, ApiError> {
        let token = req.str("taskToken")?;
        let output = req.str("output")?;
        let output: Value = serde_json::from_str(output).map_err(|e| {
            ApiError::new("InvalidOutput", format!("Invalid Output: not JSON: {e}"))
        })?;
        self.callback(|e| e.send_task_success(token, output.clone()))
    }

    fn send_task_failure(&self, req: &Request) -> Result<Value, ApiError> {
        let token = req.str("taskToken")?;
        let error = req.opt_str("error")?.map(str::to_owned);
        let cause = req.opt_str("cause")?.map(str::to_owned);
        self.callback(|e| e.send_task_failure(token, error.clone(), cause.clone()))
    }

    fn send_task_heartbeat(&self, req: &Request) -> Result<Value, ApiError> {
        let token = req.str("taskToken")?;
        self.callback(|e| e.send_task_heartbeat(token))
    }
}

/// The API's routes: `POST /` only.
pub fn router(api: Arc<SfnApi>) -> Router {
    Router::new().route("/", post(handle)).with_state(api)
}

async fn handle(State(api): State<Arc<SfnApi>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(action) = target.strip_prefix(TARGET_PREFIX) else {
        return ApiError::new(
            "UnknownOperationException",
            format!("X-Amz-Target must be AWSStepFunctions.<Action>, got {target:?}"),
        )
        .into_response();
    };
    let result = match Request::parse(&body) {
        Ok(req) => api.dispatch(action, &req).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}
