//! Every path of `statemachines/order-saga.asl.json`, run by the engine with the
//! real step handlers on in-memory adapters, in virtual time (a 24 h approval
//! timeout takes no real time). Each asserts the execution's end, the failure
//! name, and the order, stock and payment ledger afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use asl::{
    Clock as _, Engine, ExecutionOutcome, ExecutionStatus, ManualClock, StartExecution,
    StateMachine, TaskFailure, TaskHost, TaskOutput, TaskRequest,
};
use chrono::{TimeZone, Utc};
use saga_apigw::http::Method;
use saga_core::fixtures::{demo_catalog, received_order};
use saga_core::memory::{MemoryNotifier, MemoryStore};
use saga_core::ports::{OrderStore, Topic};
use saga_core::{Order, OrderId, OrderStatus};
use saga_local::engine_glue::{DomainClock, EngineWorkflow};
use saga_local::steps::{Adapters, StepHost, StepSettings};
use serde_json::json;

const APPROVAL_TIMEOUT: Duration = Duration::from_secs(86_400);

struct Saga {
    store: Arc<MemoryStore>,
    notifier: Arc<MemoryNotifier>,
    clock: ManualClock,
    engine: Engine,
    machine: StateMachine,
    callback: approval_callback::Deps,
}

/// Runs `inner`, but every call of `function` fails with `Lambda.Unknown`
/// after the handler did its work (a timeout that lost the response).
#[derive(Debug)]
struct LosesResponses {
    inner: StepHost,
    function: &'static str,
}

#[async_trait::async_trait]
impl TaskHost for LosesResponses {
    async fn invoke(&self, request: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        let lose = request.function_name().as_deref() == Some(self.function);
        let result = self.inner.invoke(request).await;
        if lose {
            return Err(TaskFailure::new(
                "Lambda.Unknown",
                "Task timed out after 15.00 seconds",
            ));
        }
        result
    }
}

fn saga() -> Saga {
    saga_with(None)
}

fn saga_with(lose_responses_of: Option<&'static str>) -> Saga {
    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
            .single()
            .unwrap(),
    );
    let domain_clock: Arc<dyn saga_core::Clock> = Arc::new(DomainClock(Arc::new(clock.clone())));
    let store = Arc::new(MemoryStore::with_products(demo_catalog()));
    let notifier = Arc::new(MemoryNotifier::default());
    let adapters = Adapters::simulated(store.clone(), notifier.clone(), domain_clock.clone());
    let settings = StepSettings {
        approval_threshold: saga_core::pricing::default_approval_threshold(),
        public_base_url: "http://127.0.0.1:3000".into(),
    };
    let steps = StepHost::new(&adapters, &settings);
    let host: Arc<dyn TaskHost> = match lose_responses_of {
        None => Arc::new(steps),
        Some(function) => Arc::new(LosesResponses {
            inner: steps,
            function,
        }),
    };
    let engine = Engine::new(host, Arc::new(clock.clone()));
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../statemachines/order-saga.asl.json");
    let machine = saga_local::load::load_definition(&path, &BTreeMap::new()).unwrap();
    let workflow = Arc::new(EngineWorkflow::new(engine.clone(), machine.clone()));
    let callback = approval_callback::Deps {
        approvals: store.clone(),
        orders: store.clone(),
        workflow,
        clock: domain_clock,
    };
    Saga {
        store,
        notifier,
        clock,
        engine,
        machine,
        callback,
    }
}

impl Saga {
    async fn place(&self, items: &[(&str, u32)], token: &str, postal_code: &str) -> OrderId {
        let order = received_order(
            items,
            token,
            postal_code,
            saga_core::Clock::now(&*self.callback.clock),
        );
        self.store.insert(&order).await.unwrap();
        order.order_id().clone()
    }

    /// Run the execution to its end; `approver` acts once the approval e-mail is out.
    async fn run(&self, id: &OrderId, approver: Option<&str>) -> ExecutionOutcome {
        let execution = self
            .engine
            .run(
                &self.machine,
                StartExecution::new(id.as_str(), json!({"orderId": id})),
            )
            .unwrap();
        let approve = async {
            let Some(decision) = approver else { return };
            loop {
                if let Some(approval) = self.store.approvals_of(id).into_iter().next()
                    && self
                        .store
                        .order(id)
                        .and_then(|o| o.approval().map(|a| a.notified))
                        == Some(true)
                {
                    let form = format!("decision={decision}");
                    let req = saga_apigw::event(
                        Method::POST,
                        &format!("/approvals/{}", approval.approval_id),
                        &[("content-type", "application/x-www-form-urlencoded")],
                        Some(form.as_bytes()),
                    );
                    let resp = approval_callback::respond(&self.callback, req).await;
                    assert_eq!(
                        resp.status_code,
                        200,
                        "{:?}",
                        saga_apigw::response_body(&resp)
                    );
                    return;
                }
                tokio::task::yield_now().await;
            }
        };
        let (outcome, ()) = self
            .clock
            .run(async { tokio::join!(execution, approve) })
            .await;
        outcome
    }

    fn order(&self, id: &OrderId) -> Order {
        self.store.order(id).unwrap()
    }

    fn stock(&self, sku: &str) -> i64 {
        self.store.stock(sku).unwrap()
    }

    fn statuses(&self, id: &OrderId) -> Vec<OrderStatus> {
        self.order(id).history().iter().map(|h| h.status).collect()
    }
}

fn failed_with(outcome: &ExecutionOutcome, error: &str) {
    assert_eq!(
        outcome.status,
        ExecutionStatus::Failed,
        "{:?}",
        outcome.summary()
    );
    assert_eq!(
        outcome.error.as_deref(),
        Some(error),
        "{:?}",
        outcome.summary()
    );
}

/// The name of the last state the execution entered (AWS history:
/// `…StateEntered` events carry it).
fn last_state_entered(outcome: &ExecutionOutcome) -> String {
    outcome
        .history
        .iter()
        .rev()
        .filter(|e| e.event_type.as_str().ends_with("StateEntered"))
        .filter_map(|e| serde_json::to_value(e).ok())
        .find_map(|e| {
            e["stateEnteredEventDetails"]["name"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// How many times the state machine scheduled `function` (AWS history: the
/// parameters are a JSON string).
fn attempts_of(outcome: &ExecutionOutcome, function: &str) -> usize {
    let suffix = format!(":function:{function}");
    outcome
        .history
        .iter()
        .filter(|e| e.event_type.as_str() == "TaskScheduled")
        .filter_map(|e| serde_json::to_value(e).ok())
        .filter_map(|e| {
            e["taskScheduledEventDetails"]["parameters"]
                .as_str()
                .map(str::to_owned)
        })
        .filter_map(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
        .filter(|p| {
            p["FunctionName"]
                .as_str()
                .is_some_and(|f| f.ends_with(&suffix))
        })
        .count()
}

/// The state transitions AWS bills for the execution: one per state entered
/// plus one per retry of a task ("Step Functions counts a state transition
/// each time a step of your workflow is executed ... including retries",
/// aws.amazon.com/step-functions/pricing). A retry is a `TaskScheduled` with
/// no `TaskStateEntered` of its own.
fn billed_transitions(outcome: &ExecutionOutcome) -> usize {
    let count = |suffix: &str| {
        outcome
            .history
            .iter()
            .filter(|e| e.event_type.as_str().ends_with(suffix))
            .count()
    };
    let retries = count("TaskScheduled") - count("TaskStateEntered");
    count("StateEntered") + retries
}

/// The states the execution entered, in order (for failure messages).
fn states_entered(outcome: &ExecutionOutcome) -> Vec<String> {
    outcome
        .history
        .iter()
        .filter(|e| e.event_type.as_str().ends_with("StateEntered"))
        .filter_map(|e| serde_json::to_value(e).ok())
        .filter_map(|e| {
            e["stateEnteredEventDetails"]["name"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

use OrderStatus::*;

#[tokio::test]
async fn a_small_order_completes_without_approval() {
    let s = saga();
    let id = s.place(&[("SKU-1", 2)], "tok_visa", "10115").await;
    let outcome = s.run(&id, None).await;

    assert_eq!(
        outcome.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        outcome.summary()
    );
    assert_eq!(
        s.statuses(&id),
        vec![Received, Validated, Reserved, Paid, Completed]
    );
    let order = s.order(&id);
    assert_eq!(
        order.shipment().unwrap().tracking_number,
        format!("TRK{id}")
    );
    assert_eq!(order.payment().unwrap().amount.minor_units(), 3_998);
    assert!(order.payment().unwrap().refund.is_none());
    assert_eq!(s.stock("SKU-1"), 98);
    let notes = s.notifier.messages();
    assert!(
        notes
            .iter()
            .any(|(t, m)| *t == Topic::Notifications && m.body.contains(&format!("TRK{id}"))),
        "{notes:?}"
    );
    assert!(notes.iter().all(|(t, _)| *t != Topic::Approvals));
    // ValidateOrder, ReserveInventory, NeedsApproval, ProcessPayment,
    // ShipOrder, NotifyCustomer (the JSONPath saga took 8).
    assert_eq!(
        billed_transitions(&outcome),
        6,
        "{:?}",
        states_entered(&outcome)
    );
    assert_eq!(
        outcome.output,
        Some(json!({"orderId": id, "status": "COMPLETED", "trackingNumber": format!("TRK{id}")}))
    );
}

#[tokio::test]
async fn a_big_order_waits_for_approval_and_completes_when_approved() {
    let s = saga();
    let id = s.place(&[("SKU-4", 1)], "tok_visa", "10115").await;
    let outcome = s.run(&id, Some("approve")).await;

    assert_eq!(
        outcome.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        outcome.summary()
    );
    assert_eq!(
        s.statuses(&id),
        vec![
            Received,
            Validated,
            Reserved,
            AwaitingApproval,
            Approved,
            Paid,
            Completed
        ]
    );
    assert_eq!(s.stock("SKU-4"), 4);
    let mail = s
        .notifier
        .messages()
        .into_iter()
        .find(|(t, _)| *t == Topic::Approvals)
        .unwrap()
        .1;
    assert!(
        mail.body.contains("http://127.0.0.1:3000/approvals/")
            && mail.body.contains("?decision=approve")
    );
    // ... plus RequestApproval and ApprovalDecision (the JSONPath saga took 10).
    assert_eq!(
        billed_transitions(&outcome),
        8,
        "{:?}",
        states_entered(&outcome)
    );
}

#[tokio::test]
async fn a_rejected_order_ends_rejected_with_its_stock_back() {
    let s = saga();
    let id = s.place(&[("SKU-4", 2)], "tok_visa", "10115").await;
    let outcome = s.run(&id, Some("reject")).await;

    failed_with(&outcome, "ApprovalRejected");
    let order = s.order(&id);
    assert_eq!(order.status(), Rejected);
    assert_eq!(order.failure().unwrap().error, "ApprovalRejected");
    assert_eq!(
        order.failure().unwrap().cause,
        "the approver rejected the order"
    );
    assert!(order.payment().is_none(), "never charged");
    assert_eq!(s.stock("SKU-4"), 5);
}

#[tokio::test]
async fn no_decision_within_the_timeout_rejects_the_order() {
    let s = saga();
    let started = s.clock.now();
    let id = s.place(&[("SKU-4", 1)], "tok_visa", "10115").await;
    let outcome = s.run(&id, None).await;

    failed_with(&outcome, "ApprovalTimedOut");
    assert!(s.clock.now() - started >= chrono::TimeDelta::from_std(APPROVAL_TIMEOUT).unwrap());
    assert_eq!(s.order(&id).status(), Rejected);
    assert_eq!(
        outcome.cause.as_deref(),
        Some("no approval decision within 86400 seconds"),
        "the placeholder, filled"
    );
    assert_eq!(s.stock("SKU-4"), 5);
    // The link in the e-mail now says so.
    let approval = s.store.approvals_of(&id).remove(0);
    let resp = approval_callback::respond(
        &s.callback,
        saga_apigw::event(
            Method::GET,
            &format!("/approvals/{}", approval.approval_id),
            &[],
            None,
        ),
    )
    .await;
    assert_eq!(resp.status_code, 410);
}

#[tokio::test]
async fn out_of_stock_fails_and_takes_nothing() {
    let s = saga();
    let id = s
        .place(&[("SKU-1", 1), ("SKU-4", 6)], "tok_visa", "10115")
        .await;
    let outcome = s.run(&id, None).await;

    failed_with(&outcome, "OutOfStock");
    assert!(
        outcome
            .cause
            .as_deref()
            .unwrap_or_default()
            .contains("SKU-4"),
        "{:?}",
        outcome.cause
    );
    assert_eq!(s.order(&id).status(), Failed);
    assert_eq!((s.stock("SKU-1"), s.stock("SKU-4")), (100, 5));
}

#[tokio::test]
async fn unknown_skus_fail_validation() {
    let s = saga();
    let id = s.place(&[("NOPE-1", 1)], "tok_visa", "10115").await;
    let outcome = s.run(&id, None).await;
    failed_with(&outcome, "ValidationError");
    assert_eq!(s.statuses(&id), vec![Received, Failed]);
}

#[tokio::test]
async fn a_declined_payment_releases_the_stock() {
    let s = saga();
    let id = s.place(&[("SKU-2", 3)], "tok_declined", "10115").await;
    let outcome = s.run(&id, None).await;

    failed_with(&outcome, "PaymentDeclined");
    assert_eq!(attempts_of(&outcome, "pay"), 1, "declines are not retried");
    assert!(s.order(&id).payment().is_none());
    assert_eq!(s.stock("SKU-2"), 25);
}

#[tokio::test]
async fn an_unavailable_provider_is_retried_then_compensated() {
    let s = saga();
    let id = s.place(&[("SKU-2", 3)], "tok_unavailable", "10115").await;
    let outcome = s.run(&id, None).await;

    failed_with(&outcome, "PaymentUnavailable");
    assert_eq!(
        attempts_of(&outcome, "pay"),
        4,
        "the first attempt and three retries"
    );
    assert_eq!(s.order(&id).status(), Failed);
    assert_eq!(s.stock("SKU-2"), 25);
}

#[tokio::test]
async fn a_flaky_provider_succeeds_on_the_retry() {
    let s = saga();
    let id = s.place(&[("SKU-2", 1)], "tok_flaky", "10115").await;
    let outcome = s.run(&id, None).await;

    assert_eq!(
        outcome.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        outcome.summary()
    );
    assert_eq!(attempts_of(&outcome, "pay"), 2);
    let order = s.order(&id);
    assert_eq!(order.status(), Completed);
    assert_eq!(order.payment_attempts(), 2);
    assert_eq!(s.stock("SKU-2"), 24);
}

#[tokio::test]
async fn a_refused_shipment_refunds_and_releases() {
    let s = saga();
    let id = s.place(&[("SKU-3", 2)], "tok_visa", "00000").await;
    let outcome = s.run(&id, None).await;

    failed_with(&outcome, "ShippingFailed");
    let order = s.order(&id);
    assert_eq!(order.status(), Failed);
    assert_eq!(order.failure().unwrap().error, "ShippingFailed");
    assert!(order.payment().unwrap().refund.is_some(), "refunded");
    assert!(order.reservation().unwrap().released_at.is_some());
    assert_eq!(s.stock("SKU-3"), 10);
}

#[tokio::test]
async fn a_compensation_that_keeps_failing_alerts_and_stops_where_a_redrive_reruns_it() {
    let s = saga();
    let id = s.place(&[("SKU-3", 2)], "tok_refund_fails", "00000").await;
    let outcome = s.run(&id, None).await;

    failed_with(&outcome, "CompensationFailed");
    assert_eq!(
        attempts_of(&outcome, "compensate"),
        6,
        "the first attempt, four retries and the one after the alert"
    );
    assert_eq!(
        last_state_entered(&outcome),
        "CompensationNeedsAttention",
        "the execution stops in the Task a redrive reruns"
    );
    let order = s.order(&id);
    assert_eq!(order.status(), NeedsAttention);
    assert!(order.payment().unwrap().refund.is_none());
    assert_eq!(
        s.stock("SKU-3"),
        8,
        "stock is released only after the refund: nothing is assumed"
    );
    let alerts: Vec<_> = s
        .notifier
        .messages()
        .into_iter()
        .filter(|(t, _)| *t == Topic::Alerts)
        .collect();
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].1.body.contains(id.as_str()) && alerts[0].1.body.contains("ShippingFailed"),
        "{:?}",
        alerts[0].1
    );
}

#[tokio::test]
async fn a_shipment_whose_answers_are_lost_is_retried_and_the_order_still_completes() {
    let s = saga_with(Some("ship"));
    let id = s.place(&[("SKU-2", 2)], "tok_visa", "10115").await;
    let outcome = s.run(&id, None).await;

    // ship did its work every time; its lost answers are retried, then
    // compensation finds the order COMPLETED and leaves it so.
    assert_eq!(
        outcome.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        outcome.summary()
    );
    assert_eq!(
        attempts_of(&outcome, "ship"),
        4,
        "the first attempt and three Lambda.Unknown retries"
    );
    let order = s.order(&id);
    assert_eq!(order.status(), Completed);
    assert!(
        order.payment().unwrap().refund.is_none(),
        "a completed order is not refunded"
    );
    assert_eq!(s.stock("SKU-2"), 23);
    assert!(
        s.notifier
            .messages()
            .iter()
            .all(|(t, _)| *t != Topic::Alerts),
        "no false alarm"
    );
}

#[tokio::test]
async fn a_payment_whose_answers_are_lost_is_found_and_refunded() {
    let s = saga_with(Some("pay"));
    let id = s.place(&[("SKU-2", 2)], "tok_visa", "10115").await;
    let outcome = s.run(&id, None).await;

    // pay recorded the charge each time (idempotent); after the retries the
    // saga compensates from the record: refunded, stock back.
    assert_eq!(
        outcome.status,
        ExecutionStatus::Failed,
        "{:?}",
        outcome.summary()
    );
    assert_eq!(attempts_of(&outcome, "pay"), 4);
    let order = s.order(&id);
    assert_eq!(order.status(), Failed);
    assert_eq!(
        order.failure().unwrap().error,
        "Transient",
        "Lambda.Unknown is recorded as Transient"
    );
    assert!(order.payment().unwrap().refund.is_some());
    assert_eq!(s.stock("SKU-2"), 25);
}
