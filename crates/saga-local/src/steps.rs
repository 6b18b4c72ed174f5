//! The saga's Lambda functions, in-process: a [`asl::TaskHost`] that runs the
//! real step handlers (`validate`, `reserve`, …) for `lambda:invoke` tasks and
//! publishes `sns:publish` tasks through a [`Notifier`].
//!
//! Each call goes through JSON exactly as in AWS: the task's `Payload` is
//! deserialized into the handler's `Input`, the `Output` serialized back, and a
//! handler error becomes a Lambda function error whose `errorType` is the
//! stable error name (`TaskFailure::lambda_error`), so the ASL's `Retry` and
//! `Catch` see what they would see in AWS. A handler that panics fails its
//! task with the error `lambda_runtime` reports for a panic
//! ([`panic_failure`]), and the server keeps running, as a Lambda function's
//! runtime does.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use asl::{Resource, TaskFailure, TaskHost, TaskOutput, TaskRequest};
use async_trait::async_trait;
use futures_util::FutureExt;
use lambda_runtime::Diagnostic;
use saga_core::Clock;
use saga_core::ports::{
    ApprovalStore, Carrier, Catalog, Message, Notifier, OrderStore, PaymentAttempts,
    PaymentGateway, StockReservations, Topic, error_chain,
};
use saga_core::providers::{SimulatedCarrier, SimulatedPayments};
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

impl Adapters {
    /// Every store port from one `store`, with the simulated payment provider
    /// and carrier of docs/contracts.md: what `serve` runs on SQLite and the
    /// tests on memory.
    pub fn simulated<S>(store: Arc<S>, notifier: Arc<dyn Notifier>, clock: Arc<dyn Clock>) -> Self
    where
        S: OrderStore + Catalog + StockReservations + ApprovalStore + PaymentAttempts + 'static,
    {
        Self {
            orders: store.clone(),
            catalog: store.clone(),
            stock: store.clone(),
            approvals: store.clone(),
            payments: Arc::new(SimulatedPayments::new(store)),
            carrier: Arc::new(SimulatedCarrier),
            notifier,
            clock,
        }
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

/// One Lambda function the state machine invokes, as saga-local runs it: the
/// one place that names a step (adding one is a row of [`STEPS`]; what else
/// changes is in docs/extending.md).
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// The function's name: `functions/<name>`, the `FunctionName` of the
    /// ASL's invoke, and the `<name>` of its local ARN.
    pub name: &'static str,
    /// The ASL's placeholder for its ARN: `${<name>_function_arn}`, dashes as
    /// underscores.
    pub arn_placeholder: &'static str,
    /// Its stable error names (what the ASL's `Retry` and `Catch` may match).
    pub error_names: &'static [saga_core::ErrorName],
    /// Its `Deps`, built from the adapters and settings, bound to its `handle`.
    bind: fn(&Adapters, &StepSettings) -> Box<dyn Invoke>,
}

/// A row of [`STEPS`] for the function crate `$krate` (whose `Deps`,
/// `handle` and `ERROR_NAMES` it uses), named `$name`; `|a, s| …` builds its
/// `Deps` from the [`Adapters`] and [`StepSettings`].
macro_rules! step {
    ($name:literal, $krate:ident, |$a:ident, $s:ident| $deps:expr) => {
        Step {
            name: $name,
            arn_placeholder: concat!(stringify!($krate), "_function_arn"),
            error_names: $krate::ERROR_NAMES,
            bind: |$a, $s| bound($deps, |d, p| Box::pin(call(p, |i| $krate::handle(d, i)))),
        }
    };
}

/// The step functions the state machine invokes (the happy path first; an
/// unknown function's error lists them in this order).
pub const STEPS: &[Step] = &[
    step!("validate", validate, |a, s| validate::Deps {
        orders: a.orders.clone(),
        catalog: a.catalog.clone(),
        clock: a.clock.clone(),
        approval_threshold_cents: s.approval_threshold_cents,
    }),
    step!("reserve", reserve, |a, _s| reserve::Deps {
        orders: a.orders.clone(),
        stock: a.stock.clone(),
        clock: a.clock.clone(),
    }),
    step!("pay", pay, |a, _s| pay::Deps {
        orders: a.orders.clone(),
        payments: a.payments.clone(),
        clock: a.clock.clone(),
    }),
    step!("ship", ship, |a, _s| ship::Deps {
        orders: a.orders.clone(),
        carrier: a.carrier.clone(),
        clock: a.clock.clone(),
    }),
    step!("compensate", compensate, |a, _s| compensate::Deps {
        orders: a.orders.clone(),
        stock: a.stock.clone(),
        payments: a.payments.clone(),
        carrier: a.carrier.clone(),
        clock: a.clock.clone(),
    }),
    step!("request-approval", request_approval, |a, s| {
        request_approval::Deps {
            orders: a.orders.clone(),
            approvals: a.approvals.clone(),
            notifier: a.notifier.clone(),
            clock: a.clock.clone(),
            public_base_url: s.public_base_url.clone(),
        }
    }),
];

/// What a bound step returns: its output, or the Lambda error it raised.
type Reply<'a> = Pin<Box<dyn Future<Output = Result<Value, TaskFailure>> + Send + 'a>>;

/// A step's handler bound to its `Deps`.
trait Invoke: Send + Sync {
    fn invoke(&self, payload: Value) -> Reply<'_>;
}

struct Bound<D> {
    deps: D,
    handle: for<'d> fn(&'d D, Value) -> Reply<'d>,
}

impl<D: Send + Sync> Invoke for Bound<D> {
    fn invoke(&self, payload: Value) -> Reply<'_> {
        (self.handle)(&self.deps, payload)
    }
}

fn bound<D: Send + Sync + 'static>(
    deps: D,
    handle: for<'d> fn(&'d D, Value) -> Reply<'d>,
) -> Box<dyn Invoke> {
    Box::new(Bound { deps, handle })
}

/// The steps of [`STEPS`], each bound to its dependencies, plus SNS.
pub struct StepHost {
    steps: Vec<(&'static str, Box<dyn Invoke>)>,
    notifier: Arc<dyn Notifier>,
}

impl std::fmt::Debug for StepHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StepHost")
    }
}

impl StepHost {
    /// The functions of [`STEPS`].
    pub fn new(a: &Adapters, settings: &StepSettings) -> Self {
        Self::with_steps(STEPS, a, settings)
    }

    /// The functions of `steps` (tests swap a handler for a faulty one).
    pub(crate) fn with_steps(steps: &[Step], a: &Adapters, settings: &StepSettings) -> Self {
        Self {
            steps: steps
                .iter()
                .map(|step| (step.name, (step.bind)(a, settings)))
                .collect(),
            notifier: a.notifier.clone(),
        }
    }

    /// Run the function `name` on a JSON payload, as Lambda would: a panic
    /// of its handler is caught and becomes its error, as `lambda_runtime`
    /// catches it ([`panic_failure`]).
    pub async fn invoke_function(&self, name: &str, payload: Value) -> Result<Value, TaskFailure> {
        match self.steps.iter().find(|(n, _)| *n == name) {
            // Unwind safety: after a panic the same deps serve the next
            // invocation, as the Lambda runtime keeps serving with the state
            // its init built (the stores recover poisoned locks).
            Some((_, step)) => AssertUnwindSafe(async { step.invoke(payload).await })
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    tracing::error!(
                        function = name,
                        panic = panic_message(&*panic).unwrap_or("?"),
                        "user handler panicked"
                    );
                    Err(panic_failure(&*panic))
                }),
            None => Err(TaskFailure::lambda_error(
                "ResourceNotFoundException",
                &format!(
                    "Function not found: {name} (saga-local runs {})",
                    self.steps
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
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

/// The `errorType` `lambda_runtime` reports for a panicking handler: the
/// type name of the `&Box<dyn Any + Send>` its `CatchPanicService` caught
/// (`layers/panic.rs`: `type_name_of_val(err)`), computed the same way.
pub fn panic_error_type() -> &'static str {
    std::any::type_name::<&Box<dyn Any + Send>>()
}

/// The panic's message, when it has one (`panic!` with a literal or a format).
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> Option<&str> {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
}

/// The Lambda function error `lambda_runtime` (1.x, `layers/panic.rs`)
/// reports for a panicking handler: `errorType` [`panic_error_type`],
/// `errorMessage` `Lambda panicked: <message>` (`Lambda panicked` when the
/// panic carries no text).
pub fn panic_failure(panic: &(dyn Any + Send)) -> TaskFailure {
    let message = match panic_message(panic) {
        Some(msg) => format!("Lambda panicked: {msg}"),
        None => "Lambda panicked".to_owned(),
    };
    TaskFailure::lambda_error(panic_error_type(), &message)
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
            // The outbox standing in for SNS is saga-local's own code; if it
            // panics, the task fails as with an SNS service error (which the
            // ASL's Catch handles) instead of taking the execution down.
            Resource::SnsPublish { .. } => AssertUnwindSafe(self.publish(&request.parameters))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    Err(TaskFailure::new(
                        "SNS.InternalErrorException",
                        format!(
                            "saga-local's outbox panicked: {}",
                            panic_message(&*panic).unwrap_or("?")
                        ),
                    ))
                })
                .map(TaskOutput::Output),
            other => Err(TaskFailure::host_error(format!(
                "state {}: saga-local runs Lambda functions and sns:publish, not {other:?}",
                request.state_name
            ))),
        }
    }
}

/// Faulty step tables for tests.
#[cfg(test)]
pub(crate) mod faulty {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// A bound step whose first invocation panics inside the handler's
    /// future (as a bug in its `handle` would); later ones run `inner`.
    struct PanicsOnce {
        inner: Box<dyn Invoke>,
        panicked: AtomicBool,
    }

    async fn buggy_handler() -> Result<Value, TaskFailure> {
        panic!("injected bug: index out of bounds")
    }

    impl Invoke for PanicsOnce {
        fn invoke(&self, payload: Value) -> Reply<'_> {
            if self.panicked.swap(true, Ordering::SeqCst) {
                self.inner.invoke(payload)
            } else {
                Box::pin(buggy_handler())
            }
        }
    }

    fn real(name: &str) -> &'static Step {
        STEPS
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no step {name}"))
    }

    /// [`STEPS`] with `pay` panicking on its first invocation (counted per
    /// [`StepHost`]).
    pub(crate) fn pay_panics_once() -> Vec<Step> {
        STEPS
            .iter()
            .map(|s| match s.name {
                "pay" => Step {
                    bind: |a, settings| {
                        Box::new(PanicsOnce {
                            inner: (real("pay").bind)(a, settings),
                            panicked: AtomicBool::new(false),
                        })
                    },
                    ..*s
                },
                _ => *s,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

    use std::collections::BTreeSet;

    use saga_core::SystemClock;
    use saga_core::memory::{MemoryNotifier, MemoryStore};

    use super::*;
    use crate::placeholders::default_value;

    fn host() -> StepHost {
        host_with(STEPS)
    }

    fn host_with(steps: &[Step]) -> StepHost {
        let adapters = Adapters::simulated(
            Arc::new(MemoryStore::default()),
            Arc::new(MemoryNotifier::default()),
            Arc::new(SystemClock),
        );
        let settings = StepSettings {
            approval_threshold_cents: saga_core::pricing::DEFAULT_APPROVAL_THRESHOLD_CENTS,
            public_base_url: "http://127.0.0.1:3000".into(),
        };
        StepHost::with_steps(steps, &adapters, &settings)
    }

    /// The `${…_function_arn}` placeholders of the saga's state machine.
    fn function_placeholders_of_the_state_machine() -> BTreeSet<String> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../statemachines/order-saga.asl.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        text.split("${")
            .skip(1)
            .filter_map(|rest| rest.split_once('}'))
            .map(|(name, _)| name.trim().to_owned())
            .filter(|name| name.ends_with("_function_arn"))
            .collect()
    }

    #[test]
    fn saga_local_runs_every_function_the_state_machine_invokes() {
        let registered: BTreeSet<String> =
            STEPS.iter().map(|s| s.arn_placeholder.to_owned()).collect();
        assert_eq!(registered, function_placeholders_of_the_state_machine());
    }

    #[test]
    fn each_placeholder_stands_for_its_own_step() {
        for step in STEPS {
            let arn = default_value(step.arn_placeholder).unwrap();
            assert_eq!(
                asl::function_name_of(&arn).as_deref(),
                Some(step.name),
                "{arn}"
            );
            assert!(!step.error_names.is_empty(), "{}", step.name);
        }
    }

    #[tokio::test]
    async fn every_step_is_invoked_by_its_name_through_json() {
        let host = host();
        for step in STEPS {
            // A payload no handler accepts: the handler's Input says why.
            let err = host
                .invoke_function(step.name, json!("not an object"))
                .await
                .unwrap_err();
            assert_eq!(
                err.error, "lambda_runtime::deserializer::DeserializeError",
                "{}",
                step.name
            );
        }
    }

    #[tokio::test]
    async fn an_unknown_function_is_not_found_and_the_known_ones_are_named() {
        let err = host()
            .invoke_function("refund", json!({}))
            .await
            .unwrap_err();
        assert_eq!(err.error, "ResourceNotFoundException");
        assert!(
            err.cause.as_deref().unwrap_or_default().contains(
                "Function not found: refund (saga-local runs validate, reserve, pay, ship, compensate, request-approval)"
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_panic_is_the_error_lambda_runtime_reports_for_it() {
        // lambda_runtime 1.x, layers/panic.rs: type_name_of_val(&Box<dyn Any + Send>).
        assert_eq!(
            panic_error_type(),
            "&alloc::boxed::Box<dyn core::any::Any + core::marker::Send>"
        );
        let cases: [(Box<dyn Any + Send>, &str); 3] = [
            (Box::new("literal"), "Lambda panicked: literal"),
            (
                Box::new(format!("formatted {}", 1)),
                "Lambda panicked: formatted 1",
            ),
            (Box::new(42_u8), "Lambda panicked"),
        ];
        for (panic, message) in cases {
            let failure = panic_failure(&*panic);
            assert_eq!(failure.error, panic_error_type());
            let cause: Value = serde_json::from_str(failure.cause.as_deref().unwrap()).unwrap();
            assert_eq!(cause["errorMessage"], message);
            assert_eq!(cause["errorType"], panic_error_type());
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_fails_its_invocation_and_the_next_one_runs() {
        let host = host_with(&faulty::pay_panics_once());

        let first = host
            .invoke_function("pay", json!({"orderId": "01KD0000000000000000000000"}))
            .await
            .unwrap_err();
        let second = host
            .invoke_function("pay", json!("not an object"))
            .await
            .unwrap_err();

        assert_eq!(first.error, panic_error_type());
        assert!(
            first
                .cause
                .as_deref()
                .unwrap()
                .contains("Lambda panicked: injected bug: index out of bounds"),
            "{first:?}"
        );
        assert_eq!(
            second.error, "lambda_runtime::deserializer::DeserializeError",
            "the real handler runs again"
        );
    }
}
