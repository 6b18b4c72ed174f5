//! `compensate`: undoes, newest first, only what really happened to a failed
//! order — cancel any shipment booked for it, refund the payment, release the
//! stock — reading what happened from the order record, never assuming. (A
//! recorded shipment means `COMPLETED`, which is not undone: the ship step
//! records the shipment and the status in one update.) Then records the final
//! status: `REJECTED` for `ApprovalRejected` / `ApprovalTimedOut`, `FAILED`
//! otherwise, with `failure: {error, cause}`.
//!
//! Each undo is recorded with a condition on the record, so a re-run (a retry,
//! a duplicate delivery) does each exactly once. When an undo fails the order is
//! marked `NEEDS_ATTENTION` and the step fails with `CompensationFailed`; a later
//! successful run still finishes it.

use std::sync::Arc;

use lambda_runtime::Diagnostic;
use saga_core::error_names;
use saga_core::order::{Change, Expect, Failure, OrderUpdate, PaymentRecord, RefundRecord};
use saga_core::ports::{
    Carrier, Charge, OrderStore, PaymentGateway, StockReservations, StoreError, UpdateOutcome,
    error_chain,
};
use saga_core::{Clock, Order, OrderId, OrderStatus};
use serde::{Deserialize, Serialize};

/// Longest cause recorded on the order.
const MAX_CAUSE_CHARS: usize = 1000;

#[derive(Clone)]
pub struct Deps {
    pub orders: Arc<dyn OrderStore>,
    pub stock: Arc<dyn StockReservations>,
    pub payments: Arc<dyn PaymentGateway>,
    pub carrier: Arc<dyn Carrier>,
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("compensate::Deps")
    }
}

/// The error the state machine caught (`Catch` with `ResultPath`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub order_id: OrderId,
    pub error: CaughtError,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub order_id: OrderId,
    /// `FAILED` or `REJECTED`.
    pub status: OrderStatus,
    /// What has been undone for this order, newest first, as recorded
    /// (`paymentRefunded`, `stockReleased`).
    pub undone: Vec<String>,
    /// The stable error name recorded on the order.
    pub error: String,
    pub cause: String,
}

/// The environment variables `main.rs` reads (Terraform sets exactly these).
pub const ENV_VARS: &[&str] = &["ORDERS_TABLE", "PRODUCTS_TABLE"];

/// Every `errorType` this function can report (checked against the state machine).
pub const ERROR_NAMES: &[&str] = &[
    error_names::COMPENSATION_FAILED,
    error_names::TRANSIENT,
    error_names::INTERNAL_ERROR,
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not {step} for order {order_id}")]
    Undo {
        order_id: OrderId,
        step: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("order {order_id} could not be marked {status}: it is {current}")]
    NotFinished {
        order_id: OrderId,
        status: OrderStatus,
        current: OrderStatus,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    pub fn error_name(&self) -> &'static str {
        match self {
            Self::Undo { .. } | Self::NotFinished { .. } => error_names::COMPENSATION_FAILED,
            Self::Store(e) => e.error_name(),
        }
    }
}

impl From<Error> for Diagnostic {
    fn from(e: Error) -> Self {
        Diagnostic {
            error_type: e.error_name().to_owned(),
            error_message: error_chain(&e),
        }
    }
}

/// The failure to record: a stable error name and a readable cause.
///
/// Lambda errors arrive with `Cause` = `{"errorMessage", "errorType", …}` JSON;
/// the message is what a person wants to read. Names outside the stable set
/// (`States.Timeout`, `Lambda.…`, `States.Runtime`) are recorded as `Transient`
/// or `InternalError`, with the original name kept in the cause.
pub fn failure_of(caught: &CaughtError) -> Failure {
    let raw = caught.cause.clone().unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&raw)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or(raw);
    let (error, cause) = if error_names::is_stable(&caught.error) {
        (caught.error.clone(), message)
    } else {
        let name = if caught.error.starts_with("Lambda.")
            || caught.error == "States.Timeout"
            || caught.error == "States.HeartbeatTimeout"
        {
            error_names::TRANSIENT
        } else {
            error_names::INTERNAL_ERROR
        };
        let cause = if message.is_empty() {
            caught.error.clone()
        } else {
            format!("{}: {message}", caught.error)
        };
        (name.to_owned(), cause)
    };
    Failure {
        error,
        cause: cause.chars().take(MAX_CAUSE_CHARS).collect(),
    }
}

fn undone_of(order: &Order) -> Vec<String> {
    let mut undone = Vec::new();
    if order.payment().is_some_and(|p| p.refund.is_some()) {
        undone.push("paymentRefunded".to_owned());
    }
    if order.reservation().is_some_and(|r| r.released_at.is_some()) {
        undone.push("stockReleased".to_owned());
    }
    undone
}

/// Compensate the order.
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, Error> {
    let order_id = input.order_id;
    let failure = failure_of(&input.error);
    let terminal = error_names::terminal_status_for(&failure.error);

    let Some(order) = deps.orders.get(&order_id).await? else {
        tracing::warn!(%order_id, "order not found; nothing to compensate");
        return Ok(Output {
            order_id,
            status: terminal,
            undone: vec![],
            error: failure.error,
            cause: failure.cause,
        });
    };
    match order.status() {
        // Shipped and recorded: the step that failed came after (e.g. ship's
        // response was lost). A completed order is not undone.
        OrderStatus::Completed => {
            tracing::warn!(%order_id, error = %failure.error, "order already COMPLETED; nothing to compensate");
            return Ok(finished(&order));
        }
        OrderStatus::Failed | OrderStatus::Rejected => return Ok(finished(&order)),
        _ => {}
    }

    if let Err(e) = undo(deps, &order).await {
        mark_needs_attention(deps, &order_id, &failure, &e).await;
        return Err(e);
    }

    let update = OrderUpdate::transition(
        terminal,
        &[
            OrderStatus::IN_FLIGHT.as_slice(),
            &[OrderStatus::NeedsAttention],
        ]
        .concat(),
        vec![Change::Failure(failure.clone())],
        deps.clock.now(),
    );
    match deps.orders.update(&order_id, &update).await? {
        UpdateOutcome::Applied(after) => {
            tracing::info!(%order_id, status = %terminal, error = %failure.error, "compensated");
            Ok(finished(&after))
        }
        UpdateOutcome::NotFound => Err(Error::NotFinished {
            order_id,
            status: terminal,
            current: order.status(),
        }),
        UpdateOutcome::ConditionFailed => {
            let now = deps.orders.get(&order_id).await?;
            match now {
                Some(o) if matches!(o.status(), OrderStatus::Failed | OrderStatus::Rejected) => {
                    Ok(finished(&o))
                }
                Some(o) => Err(Error::NotFinished {
                    order_id,
                    status: terminal,
                    current: o.status(),
                }),
                None => Err(Error::NotFinished {
                    order_id,
                    status: terminal,
                    current: order.status(),
                }),
            }
        }
    }
}

fn finished(order: &Order) -> Output {
    let (error, cause) = order
        .failure()
        .map(|f| (f.error.clone(), f.cause.clone()))
        .unwrap_or_default();
    Output {
        order_id: order.order_id().clone(),
        status: order.status(),
        undone: undone_of(order),
        error,
        cause,
    }
}

/// Undo newest first. Each undo is recorded before the next starts.
async fn undo(deps: &Deps, order: &Order) -> Result<(), Error> {
    let order_id = order.order_id();
    let fail = |step: &'static str| {
        move |source: Box<dyn std::error::Error + Send + Sync>| Error::Undo {
            order_id: order_id.clone(),
            step,
            source,
        }
    };

    // A recorded shipment comes with `COMPLETED` (handled by the caller).
    if order.shipment().is_none() && order.payment().is_some() {
        // Paid, so the ship step may have run: the carrier may hold a booking
        // that was never recorded (a lost response). Cancelling by order id is
        // a no-op when there is none. Decided from the record, not the status:
        // a re-run after a failed undo finds the order `NEEDS_ATTENTION`.
        deps.carrier
            .cancel_shipment(order_id, None)
            .await
            .map_err(|e| fail("cancel any unrecorded shipment")(e.into()))?;
    }

    if order.payment().is_none() && order.pricing().is_some() {
        // The pay step may have run: the provider may have charged without the
        // charge being recorded (a lost response, a timeout). Ask it — always,
        // since only the provider knows (the order's attempt counter is kept
        // by the simulated provider alone).
        let found = deps
            .payments
            .find_charge(order)
            .await
            .map_err(|e| fail("look up an unrecorded charge")(e.into()))?;
        if let Some(charge) = found {
            let refund = deps
                .payments
                .refund(order_id, order.payment_token(), &charge)
                .await
                .map_err(|e| fail("refund the unrecorded charge")(e.into()))?;
            let now = deps.clock.now();
            let record = PaymentRecord {
                charge_id: charge.charge_id.clone(),
                amount: charge.amount,
                charged_at: now,
                refund: Some(RefundRecord {
                    refund_id: refund.refund_id,
                    refunded_at: now,
                }),
            };
            let update =
                OrderUpdate::changes(vec![Expect::NoPayment], vec![Change::Payment(record)], now);
            deps.orders
                .update(order_id, &update)
                .await
                .map_err(|e| fail("record the refund of the unrecorded charge")(e.into()))?;
            tracing::warn!(%order_id, charge_id = %charge.charge_id, "refunded a charge the pay step had not recorded");
        }
    }

    if let Some(payment) = order.payment().filter(|p| p.refund.is_none()) {
        let charge = Charge {
            charge_id: payment.charge_id.clone(),
            amount: payment.amount,
        };
        let refund = deps
            .payments
            .refund(order_id, order.payment_token(), &charge)
            .await
            .map_err(|e| fail("refund the payment")(e.into()))?;
        let now = deps.clock.now();
        let update = OrderUpdate::changes(
            vec![Expect::PaymentNotRefunded],
            vec![Change::Refund(RefundRecord {
                refund_id: refund.refund_id,
                refunded_at: now,
            })],
            now,
        );
        deps.orders
            .update(order_id, &update)
            .await
            .map_err(|e| fail("record the refund")(e.into()))?;
        tracing::info!(%order_id, charge_id = %payment.charge_id, "payment refunded");
    }

    if let Some(reservation) = order.reservation().filter(|r| r.released_at.is_none()) {
        let update = OrderUpdate::release(deps.clock.now());
        deps.stock
            .release(order_id, &reservation.lines, &update)
            .await
            .map_err(|e| fail("release the stock")(e.into()))?;
        tracing::info!(%order_id, lines = reservation.lines.len(), "stock released");
    }
    Ok(())
}

/// Best effort: the step is failing anyway, and its error is what matters.
async fn mark_needs_attention(deps: &Deps, order_id: &OrderId, original: &Failure, err: &Error) {
    let failure = Failure {
        error: error_names::COMPENSATION_FAILED.to_owned(),
        cause: format!(
            "{}; original failure: {}: {}",
            error_chain(err),
            original.error,
            original.cause
        )
        .chars()
        .take(MAX_CAUSE_CHARS)
        .collect(),
    };
    let update = OrderUpdate::transition(
        OrderStatus::NeedsAttention,
        &OrderStatus::IN_FLIGHT,
        vec![Change::Failure(failure.clone())],
        deps.clock.now(),
    );
    let update = match deps.orders.get(order_id).await {
        // Already NEEDS_ATTENTION: refresh the cause without a second history entry.
        Ok(Some(o)) if o.status() == OrderStatus::NeedsAttention => OrderUpdate::changes(
            vec![Expect::StatusIn(vec![OrderStatus::NeedsAttention])],
            vec![Change::Failure(failure)],
            deps.clock.now(),
        ),
        _ => update,
    };
    match deps.orders.update(order_id, &update).await {
        Ok(_) => {
            tracing::error!(%order_id, error = %error_chain(err), "compensation failed; order needs attention")
        }
        Err(e) => {
            tracing::error!(%order_id, error = %error_chain(err), mark_error = %error_chain(&e), "compensation failed and the order could not be marked")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_core::fixtures::{self, Stage, demo_catalog};
    use saga_core::memory::MemoryStore;
    use saga_core::order::ShipmentRecord;
    use saga_core::providers::{SimulatedCarrier, SimulatedPayments};
    use saga_core::{ManualClock, Timestamp};
    use serde_json::json;

    struct World {
        store: Arc<MemoryStore>,
        deps: Deps,
    }

    fn world() -> World {
        let store = Arc::new(MemoryStore::with_products(demo_catalog()));
        let deps = Deps {
            orders: store.clone(),
            stock: store.clone(),
            payments: Arc::new(SimulatedPayments::new(store.clone())),
            carrier: Arc::new(SimulatedCarrier),
            clock: Arc::new(ManualClock::at_fixed_start()),
        };
        World { store, deps }
    }

    /// An order brought to `stage` through the real stores (stock really taken).
    async fn order_at(w: &World, stage: Stage, token: &str) -> OrderId {
        fixtures::order_at(
            &*w.store,
            stage,
            &[("SKU-2", 4)],
            token,
            "10115",
            w.deps.clock.now(),
        )
        .await
        .order_id()
        .clone()
    }

    fn input(id: &OrderId, error: &str, cause: &str) -> Input {
        Input {
            order_id: id.clone(),
            error: CaughtError {
                error: error.into(),
                cause: Some(cause.into()),
            },
        }
    }

    #[tokio::test]
    async fn undoes_everything_newest_first_and_records_failed() {
        let mut w = world();
        let spy = Arc::new(SpyCarrier::watching(w.store.clone()));
        w.deps.carrier = spy.clone();
        let id = order_at(&w, Stage::Paid, "tok_visa").await;
        assert_eq!(w.store.stock("SKU-2"), Some(21));
        let cause =
            json!({"errorMessage": "carrier lost it", "errorType": "ShippingFailed"}).to_string();

        let out = handle(&w.deps, input(&id, "ShippingFailed", &cause))
            .await
            .unwrap();

        assert_eq!(out.status, OrderStatus::Failed);
        assert_eq!(out.undone, vec!["paymentRefunded", "stockReleased"]);
        assert_eq!(out.cause, "carrier lost it");
        assert_eq!(w.store.stock("SKU-2"), Some(25));
        let order = w.store.order(&id).unwrap();
        assert_eq!(order.failure().unwrap().error, "ShippingFailed");
        assert!(order.payment().unwrap().refund.is_some());
        assert_eq!(
            spy.calls(),
            vec![(id.clone(), None)],
            "any booking is cancelled by order id"
        );
        assert_eq!(
            *spy.seen.lock().unwrap(),
            vec![(false, false)],
            "newest first: the booking is cancelled before the refund and the release"
        );
        assert_eq!(order.history().last().unwrap().status, OrderStatus::Failed);
    }

    #[tokio::test]
    async fn undoes_only_what_happened() {
        let w = world();
        let id = order_at(&w, Stage::Reserved, "tok_visa").await;
        let out = handle(&w.deps, input(&id, "PaymentDeclined", "declined"))
            .await
            .unwrap();
        assert_eq!(out.undone, vec!["stockReleased"]);
        assert_eq!(w.store.stock("SKU-2"), Some(25));
        assert!(w.store.order(&id).unwrap().payment().is_none());

        let id = order_at(&w, Stage::Validated, "tok_visa").await;
        let out = handle(&w.deps, input(&id, "OutOfStock", "out of stock: SKU-2"))
            .await
            .unwrap();
        assert!(out.undone.is_empty());
        assert_eq!(
            w.store.stock("SKU-2"),
            Some(25),
            "nothing was reserved, nothing released"
        );
    }

    #[tokio::test]
    async fn rejections_end_rejected() {
        let w = world();
        let id = order_at(&w, Stage::Reserved, "tok_visa").await;
        let out = handle(
            &w.deps,
            input(&id, "ApprovalTimedOut", "no decision within 86400 s"),
        )
        .await
        .unwrap();
        assert_eq!(out.status, OrderStatus::Rejected);
        assert_eq!(w.store.order(&id).unwrap().status(), OrderStatus::Rejected);
    }

    #[tokio::test]
    async fn running_twice_undoes_once() {
        let w = world();
        let id = order_at(&w, Stage::Paid, "tok_visa").await;
        let first = handle(&w.deps, input(&id, "ShippingFailed", "x"))
            .await
            .unwrap();
        let snapshot = w.store.order(&id).unwrap();
        let second = handle(&w.deps, input(&id, "ShippingFailed", "x"))
            .await
            .unwrap();
        assert_eq!(first, second);
        assert_eq!(w.store.order(&id).unwrap(), snapshot);
        assert_eq!(w.store.stock("SKU-2"), Some(25), "released once");
    }

    #[tokio::test]
    async fn a_failing_refund_is_compensation_failed_and_needs_attention_then_a_rerun_finishes() {
        let w = world();
        let id = order_at(&w, Stage::Paid, "tok_refund_fails").await;
        let err = handle(&w.deps, input(&id, "ShippingFailed", "x"))
            .await
            .unwrap_err();
        assert_eq!(Diagnostic::from(err).error_type, "CompensationFailed");
        let order = w.store.order(&id).unwrap();
        assert_eq!(order.status(), OrderStatus::NeedsAttention);
        assert!(
            order.failure().unwrap().cause.contains("refund"),
            "{}",
            order.failure().unwrap().cause
        );
        assert_eq!(
            w.store.stock("SKU-2"),
            Some(21),
            "stock is released only after the refund (newest first)"
        );

        // Retried: still failing, still one NEEDS_ATTENTION entry.
        handle(&w.deps, input(&id, "ShippingFailed", "x"))
            .await
            .unwrap_err();
        let needs = w
            .store
            .order(&id)
            .unwrap()
            .history()
            .iter()
            .filter(|h| h.status == OrderStatus::NeedsAttention)
            .count();
        assert_eq!(needs, 1);
    }

    #[tokio::test]
    async fn a_transient_failure_midway_resumes_where_it_stopped() {
        let w = world();
        let id = order_at(&w, Stage::Paid, "tok_visa").await;
        w.store.fail_next("stock.release", true);
        let err = handle(&w.deps, input(&id, "ShippingFailed", "x"))
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "CompensationFailed");
        assert!(
            w.store
                .order(&id)
                .unwrap()
                .payment()
                .unwrap()
                .refund
                .is_some(),
            "the refund is kept"
        );
        let out = handle(&w.deps, input(&id, "ShippingFailed", "x"))
            .await
            .unwrap();
        assert_eq!(out.status, OrderStatus::Failed);
        assert_eq!(
            out.error, "ShippingFailed",
            "the original failure is recorded, not the compensation hiccup"
        );
        assert_eq!(w.store.stock("SKU-2"), Some(25));
    }

    #[tokio::test]
    async fn a_completed_order_is_not_undone_and_ends_completed() {
        let w = world();
        let id = order_at(&w, Stage::Paid, "tok_visa").await;
        let s = ShipmentRecord {
            tracking_number: "T".into(),
            shipped_at: w.deps.clock.now(),
            cancelled_at: None,
        };
        let u = OrderUpdate::transition(
            OrderStatus::Completed,
            &[OrderStatus::Paid],
            vec![Change::Shipment(s)],
            w.deps.clock.now(),
        );
        w.store.update(&id, &u).await.unwrap();
        let before = w.store.order(&id).unwrap();
        let out = handle(
            &w.deps,
            input(&id, "Lambda.Unknown", "ship timed out after recording"),
        )
        .await
        .unwrap();
        assert_eq!(out.status, OrderStatus::Completed);
        assert!(out.undone.is_empty());
        assert_eq!(
            w.store.order(&id).unwrap(),
            before,
            "nothing undone, nothing recorded"
        );
    }

    #[tokio::test]
    async fn a_charge_the_pay_step_never_recorded_is_found_and_refunded() {
        let w = world();
        let id = order_at(&w, Stage::Reserved, "tok_visa").await;
        // pay charged, then timed out before recording the charge.
        let order = w.store.order(&id).unwrap();
        let charge = w
            .deps
            .payments
            .charge(&id, order.payment_token(), order.pricing().unwrap().total)
            .await
            .unwrap();
        assert!(w.store.order(&id).unwrap().payment().is_none());

        let out = handle(&w.deps, input(&id, "Lambda.Unknown", "pay timed out"))
            .await
            .unwrap();

        assert_eq!(out.undone, vec!["paymentRefunded", "stockReleased"]);
        let payment = w.store.order(&id).unwrap().payment().cloned().unwrap();
        assert_eq!(payment.charge_id, charge.charge_id);
        assert!(payment.refund.is_some());
        // A re-run refunds nothing more.
        let again = handle(&w.deps, input(&id, "Lambda.Unknown", "pay timed out"))
            .await
            .unwrap();
        assert_eq!(again.undone, out.undone);
    }

    #[tokio::test]
    async fn a_declined_attempt_is_not_refunded() {
        let w = world();
        let id = order_at(&w, Stage::Reserved, "tok_declined").await;
        let order = w.store.order(&id).unwrap();
        let _ = w
            .deps
            .payments
            .charge(&id, order.payment_token(), order.pricing().unwrap().total)
            .await;
        let out = handle(&w.deps, input(&id, "PaymentDeclined", "declined"))
            .await
            .unwrap();
        assert_eq!(out.undone, vec!["stockReleased"]);
        assert!(w.store.order(&id).unwrap().payment().is_none());
    }

    /// A real provider as compensate sees it: it knows of a charge the order
    /// record does not count (no `paymentAttempts`), and refunds it.
    #[derive(Default)]
    struct ProviderWithAnUnrecordedCharge(std::sync::Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl PaymentGateway for ProviderWithAnUnrecordedCharge {
        async fn charge(
            &self,
            _: &OrderId,
            _: &saga_core::PaymentToken,
            _: saga_core::Money,
        ) -> Result<Charge, saga_core::ports::PaymentError> {
            unreachable!("compensation never charges")
        }
        async fn refund(
            &self,
            order_id: &OrderId,
            _: &saga_core::PaymentToken,
            charge: &Charge,
        ) -> Result<saga_core::ports::Refund, saga_core::ports::PaymentError> {
            self.0.lock().unwrap().push(charge.charge_id.clone());
            Ok(saga_core::ports::Refund {
                refund_id: format!("re_{order_id}"),
            })
        }
        async fn find_charge(
            &self,
            order: &Order,
        ) -> Result<Option<Charge>, saga_core::ports::PaymentError> {
            Ok(order.pricing().map(|p| Charge {
                charge_id: "ch_provider".into(),
                amount: p.total,
            }))
        }
    }

    #[tokio::test]
    async fn the_provider_is_asked_for_an_unrecorded_charge_even_when_no_attempt_was_counted() {
        let mut w = world();
        let provider = Arc::new(ProviderWithAnUnrecordedCharge::default());
        w.deps.payments = provider.clone();
        let id = order_at(&w, Stage::Reserved, "tok_visa").await;
        assert_eq!(w.store.order(&id).unwrap().payment_attempts(), 0);

        let out = handle(&w.deps, input(&id, "Lambda.Unknown", "pay timed out"))
            .await
            .unwrap();

        assert_eq!(out.undone, vec!["paymentRefunded", "stockReleased"]);
        assert_eq!(*provider.0.lock().unwrap(), vec!["ch_provider".to_owned()]);
        let payment = w.store.order(&id).unwrap().payment().cloned().unwrap();
        assert_eq!(payment.charge_id, "ch_provider");
        assert!(payment.refund.is_some());
    }

    /// A carrier that remembers cancellations and, when it watches the
    /// store, what the order record said at each: (refunded, stock released).
    /// The first `fails_left` cancellations fail.
    #[derive(Default)]
    struct SpyCarrier {
        calls: std::sync::Mutex<Vec<(OrderId, Option<String>)>>,
        fails_left: std::sync::atomic::AtomicU32,
        store: Option<Arc<MemoryStore>>,
        seen: std::sync::Mutex<Vec<(bool, bool)>>,
    }

    impl SpyCarrier {
        fn failing(times: u32) -> Self {
            Self {
                fails_left: times.into(),
                ..Self::default()
            }
        }

        fn watching(store: Arc<MemoryStore>) -> Self {
            Self {
                store: Some(store),
                ..Self::default()
            }
        }

        fn calls(&self) -> Vec<(OrderId, Option<String>)> {
            self.calls.lock().unwrap().clone()
        }
    }

    #[async_trait::async_trait]
    impl Carrier for SpyCarrier {
        async fn create_shipment(
            &self,
            _: &OrderId,
            _: &saga_core::Address,
            _: &[saga_core::OrderItem],
        ) -> Result<saga_core::ports::Shipment, saga_core::ports::ShippingError> {
            unreachable!("compensation never ships")
        }
        async fn cancel_shipment(
            &self,
            order_id: &OrderId,
            tracking: Option<&str>,
        ) -> Result<(), saga_core::ports::ShippingError> {
            self.calls
                .lock()
                .unwrap()
                .push((order_id.clone(), tracking.map(str::to_owned)));
            if let Some(order) = self.store.as_ref().and_then(|s| s.order(order_id)) {
                self.seen.lock().unwrap().push((
                    order.payment().is_some_and(|p| p.refund.is_some()),
                    order.reservation().is_some_and(|r| r.released_at.is_some()),
                ));
            }
            let failing = self
                .fails_left
                .fetch_update(
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                    |n| n.checked_sub(1),
                )
                .is_ok();
            if failing {
                return Err(saga_core::ports::ShippingError::Unavailable {
                    reason: "carrier down".into(),
                });
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_failed_cancel_is_retried_by_the_rerun_of_a_needs_attention_order() {
        let mut w = world();
        let spy = Arc::new(SpyCarrier::failing(1));
        w.deps.carrier = spy.clone();
        let id = order_at(&w, Stage::Paid, "tok_visa").await;

        let err = handle(&w.deps, input(&id, "Lambda.Unknown", "ship timed out"))
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "CompensationFailed");
        assert_eq!(
            w.store.order(&id).unwrap().status(),
            OrderStatus::NeedsAttention
        );
        assert!(
            w.store
                .order(&id)
                .unwrap()
                .payment()
                .unwrap()
                .refund
                .is_none(),
            "nothing older is undone before the booking is cancelled"
        );

        let out = handle(&w.deps, input(&id, "Lambda.Unknown", "ship timed out"))
            .await
            .unwrap();
        assert_eq!(out.status, OrderStatus::Failed);
        assert_eq!(
            spy.calls(),
            vec![(id.clone(), None), (id.clone(), None)],
            "the re-run cancels the booking again"
        );
        assert_eq!(w.store.stock("SKU-2"), Some(25));
    }

    #[tokio::test]
    async fn a_paid_order_whose_shipping_failed_has_any_unrecorded_booking_cancelled() {
        let mut w = world();
        let spy = Arc::new(SpyCarrier::default());
        w.deps.carrier = spy.clone();
        let id = order_at(&w, Stage::Paid, "tok_visa").await;
        handle(&w.deps, input(&id, "Lambda.Unknown", "ship timed out"))
            .await
            .unwrap();
        assert_eq!(spy.calls(), vec![(id.clone(), None)]);

        // An order never paid was never shipped: no carrier call.
        let id = order_at(&w, Stage::Reserved, "tok_visa").await;
        handle(&w.deps, input(&id, "PaymentDeclined", "x"))
            .await
            .unwrap();
        assert_eq!(spy.calls().len(), 1);
    }

    #[test]
    fn non_stable_error_names_are_normalised_keeping_the_original() {
        let f = failure_of(&CaughtError {
            error: "States.Runtime".into(),
            cause: Some("bad path".into()),
        });
        assert_eq!(f.error, "InternalError");
        assert_eq!(f.cause, "States.Runtime: bad path");
        let f = failure_of(&CaughtError {
            error: "Lambda.TooManyRequestsException".into(),
            cause: None,
        });
        assert_eq!(f.error, "Transient");
        let f = failure_of(&CaughtError {
            error: "OutOfStock".into(),
            cause: Some("x".repeat(5000)),
        });
        assert_eq!(f.cause.len(), MAX_CAUSE_CHARS);
    }

    #[test]
    fn input_takes_the_catch_shape() {
        let i: Input = serde_json::from_value(json!({
            "orderId": OrderId::generate(Timestamp::from_millis(0).unwrap()),
            "error": {"Error": "OutOfStock", "Cause": "{}"}
        }))
        .unwrap();
        assert_eq!(i.error.error, "OutOfStock");
        assert!(serde_json::from_value::<Input>(json!({"orderId": "x", "error": {}})).is_err());
    }

    /// Each kind of error and the stable name it must report. No wildcard:
    /// a new variant (or `StoreError` kind) does not compile until it is
    /// covered here, and [`every_error_has_a_stable_name`] fails until it has
    /// a sample.
    fn kind_and_name(e: &Error) -> (&'static str, &'static str) {
        match e {
            Error::Undo { .. } => ("Undo", error_names::COMPENSATION_FAILED),
            Error::NotFinished { .. } => ("NotFinished", error_names::COMPENSATION_FAILED),
            Error::Store(StoreError::Transient { .. }) => {
                ("Store/Transient", error_names::TRANSIENT)
            }
            Error::Store(StoreError::Permanent { .. }) => {
                ("Store/Permanent", error_names::INTERNAL_ERROR)
            }
            Error::Store(StoreError::Corrupt { .. }) => {
                ("Store/Corrupt", error_names::INTERNAL_ERROR)
            }
        }
    }

    /// Arms of [`kind_and_name`].
    const KINDS: usize = 5;

    #[test]
    fn every_error_has_a_stable_name() {
        let id = OrderId::generate(Timestamp::from_millis(0).unwrap());
        let mut seen = std::collections::BTreeSet::new();
        for e in [
            Error::Undo {
                order_id: id.clone(),
                step: "x",
                source: "y".into(),
            },
            Error::NotFinished {
                order_id: id.clone(),
                status: OrderStatus::Failed,
                current: OrderStatus::Paid,
            },
            Error::Store(StoreError::transient("x", "y")),
            Error::Store(StoreError::permanent("x", "y")),
            Error::Store(StoreError::corrupt("x", "y")),
        ] {
            let (kind, name) = kind_and_name(&e);
            assert_eq!(e.error_name(), name, "{kind}");
            assert!(
                ERROR_NAMES.contains(&name),
                "{name} ({kind}) is not in ERROR_NAMES"
            );
            assert!(seen.insert(kind), "{kind} listed twice");
        }
        assert_eq!(seen.len(), KINDS, "one sample of every kind");
    }
}
