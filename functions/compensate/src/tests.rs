use super::*;
use lambda_runtime::Diagnostic;
use saga_core::fixtures::{self, Stage, demo_catalog};
use saga_core::memory::MemoryStore;
use saga_core::order::ShipmentRecord;
use saga_core::providers::{SimulatedCarrier, SimulatedPayments};
use saga_core::testing::store_errors;
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
    assert_eq!(f.error.terminal_status(), OrderStatus::Failed);
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

#[test]
fn every_error_has_a_stable_name() {
    use ErrorName::*;
    let id = || OrderId::generate(Timestamp::from_millis(0).unwrap());
    saga_core::assert_error_names!(Error, ERROR_NAMES, {
        Error::Undo { .. } => [(Error::undo(&id(), "x", "y"), CompensationFailed)],
        Error::NotFinished { .. } => [(
            Error::NotFinished { order_id: id(), status: OrderStatus::Failed, current: OrderStatus::Paid },
            CompensationFailed,
        )],
        Error::Store(_) => store_errors(Error::Store),
    });
}
