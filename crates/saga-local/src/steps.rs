//! The saga's Lambda functions, in-process: a [`asl::TaskHost`] that runs the
//! real step handlers (`validate`, `reserve`, …) for `lambda:invoke` tasks and
//! publishes `sns:publish` tasks through a [`Notifier`].
//!
//! Each call goes through JSON exactly as in AWS: the task's `Payload` is
//! deserialized into the handler's `Input`, the `Output` serialized back, and a
//! handler error becomes a Lambda function error whose `errorType` is the
//! stable error name (`TaskFailure::lambda_error`), so the ASL's `Retry` and
//! `Catch` see what they would see in AWS.

use std::future::Future;
use std::sync::Arc;

use asl::{Resource, TaskFailure, TaskHost, TaskOutput, TaskRequest};
use async_trait::async_trait;
use lambda_runtime::Diagnostic;
use saga_core::Clock;
use saga_core::ports::{
    ApprovalStore, Carrier, Catalog, Message, Notifier, OrderStore, PaymentGateway,
    StockReservations, Topic, error_chain,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The adapters the steps run against: SQLite in `serve`, in-memory in tests.
#[derive(Clone)]
pub struct Adapters {
    pub orders: Arc<dyn OrderStore>,
    pub catalog: Arc<dyn Catalog>,
    pub stock: Arc<dyn StockReservations>,
    pub approvals: Arc<dyn ApprovalStore>,
    pub payments: Arc<dyn PaymentGateway>,
    pub carrier: Arc<dyn Carrier>,
    pub notifier: Arc<dyn Notifier>,
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Adapters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Adapters")
    }
}

/// Settings the functions read from their environment in AWS.
#[derive(Debug, Clone)]
pub struct StepSettings {
    /// validate's `APPROVAL_THRESHOLD_CENTS`.
    pub approval_threshold_cents: i64,
    /// request-approval's `PUBLIC_BASE_URL` (base of the links in e-mails).
    pub public_base_url: String,
}

/// The six step functions the state machine invokes, plus SNS.
pub struct StepHost {
    validate: validate::Deps,
    reserve: reserve::Deps,
    pay: pay::Deps,
    ship: ship::Deps,
    compensate: compensate::Deps,
    request_approval: request_approval::Deps,
    notifier: Arc<dyn Notifier>,
}

impl std::fmt::Debug for StepHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StepHost")
    }
}

/// The function names this host runs (the `<name>` of `${<name>_function_arn}`
/// with dashes).
pub const FUNCTIONS: &[&str] = &[
    "validate",
    "reserve",
    "pay",
    "ship",
    "compensate",
    "request-approval",
];

impl StepHost {
    pub fn new(a: &Adapters, settings: &StepSettings) -> Self {
        Self {
            validate: validate::Deps {
                orders: a.orders.clone(),
                catalog: a.catalog.clone(),
                clock: a.clock.clone(),
                approval_threshold_cents: settings.approval_threshold_cents,
            },
            reserve: reserve::Deps {
                orders: a.orders.clone(),
                stock: a.stock.clone(),
                clock: a.clock.clone(),
            },
            pay: pay::Deps {
                orders: a.orders.clone(),
                payments: a.payments.clone(),
                clock: a.clock.clone(),
            },
            ship: ship::Deps {
                orders: a.orders.clone(),
                carrier: a.carrier.clone(),
                clock: a.clock.clone(),
            },
            compensate: compensate::Deps {
                orders: a.orders.clone(),
                stock: a.stock.clone(),
                payments: a.payments.clone(),
                carrier: a.carrier.clone(),
                clock: a.clock.clone(),
            },
            request_approval: request_approval::Deps {
                orders: a.orders.clone(),
                approvals: a.approvals.clone(),
                notifier: a.notifier.clone(),
                clock: a.clock.clone(),
                public_base_url: settings.public_base_url.clone(),
            },
            notifier: a.notifier.clone(),
        }
    }

    /// Run the function `name` on a JSON payload, as Lambda would.
    pub async fn invoke_function(&self, name: &str, payload: Value) -> Result<Value, TaskFailure> {
        match name {
            "validate" => call(payload, |i| validate::handle(&self.validate, i)).await,
            "reserve" => call(payload, |i| reserve::handle(&self.reserve, i)).await,
            "pay" => call(payload, |i| pay::handle(&self.pay, i)).await,
            "ship" => call(payload, |i| ship::handle(&self.ship, i)).await,
            "compensate" => call(payload, |i| compensate::handle(&self.compensate, i)).await,
            "request-approval" => {
                call(payload, |i| {
                    request_approval::handle(&self.request_approval, i)
                })
                .await
            }
            other => Err(TaskFailure::lambda_error(
                "ResourceNotFoundException",
                &format!(
                    "Function not found: {other} (saga-local runs {})",
                    FUNCTIONS.join(", ")
                ),
            )),
        }
    }

    async fn publish(&self, params: &Value) -> Result<Value, TaskFailure> {
        let arn = params
            .get("TopicArn")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let topic = match arn.rsplit(':').next() {
            Some("approvals") => Topic::Approvals,
            Some("notifications") => Topic::Notifications,
            Some("alerts") => Topic::Alerts,
            _ => {
                return Err(TaskFailure::new(
                    "SNS.NotFoundException",
                    format!(
                        "Topic does not exist: {arn:?} (saga-local knows approvals, notifications, alerts)"
                    ),
                ));
            }
        };
        let message = Message {
            subject: params
                .get("Subject")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            body: match params.get("Message") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            },
        };
        match self.notifier.publish(topic, &message).await {
            Ok(id) => Ok(json!({"MessageId": id})),
            Err(e) => Err(TaskFailure::new(
                "SNS.InternalErrorException",
                error_chain(&e),
            )),
        }
    }
}

/// Deserialize the payload, run the handler, serialize its output or turn its
/// error into a Lambda function error.
async fn call<I, O, E, F, Fut>(payload: Value, handler: F) -> Result<Value, TaskFailure>
where
    I: DeserializeOwned,
    O: Serialize,
    E: Into<Diagnostic>,
    F: FnOnce(I) -> Fut,
    Fut: Future<Output = Result<O, E>>,
{
    let input: I = serde_json::from_value(payload).map_err(|e| {
        // What the Rust runtime reports for a payload it can't deserialize.
        TaskFailure::lambda_error(
            "lambda_runtime::deserializer::DeserializeError",
            &e.to_string(),
        )
    })?;
    match handler(input).await {
        Ok(output) => serde_json::to_value(output)
            .map_err(|e| TaskFailure::lambda_error("SerializationError", &e.to_string())),
        Err(e) => {
            let d: Diagnostic = e.into();
            Err(TaskFailure::lambda_error(&d.error_type, &d.error_message))
        }
    }
}

#[async_trait]
impl TaskHost for StepHost {
    async fn invoke(&self, request: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        match &request.resource {
            Resource::LambdaInvoke { .. } | Resource::LambdaFunction { .. } => {
                let name = request.function_name().ok_or_else(|| {
                    TaskFailure::host_error(format!(
                        "state {}: no FunctionName to invoke",
                        request.state_name
                    ))
                })?;
                self.invoke_function(&name, request.payload())
                    .await
                    .map(TaskOutput::Output)
            }
            Resource::SnsPublish { .. } => self
                .publish(&request.parameters)
                .await
                .map(TaskOutput::Output),
            other => Err(TaskFailure::host_error(format!(
                "state {}: saga-local runs Lambda functions and sns:publish, not {other:?}",
                request.state_name
            ))),
        }
    }
}
