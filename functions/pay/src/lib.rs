//! `pay`: charges the order total through the payment provider and records the
//! charge in the order's ledger (`PAID`).
//!
//! Idempotent: the provider charges once per order (the order id is the
//! idempotency key), and a paid order returns its recorded charge.

use std::sync::Arc;

use saga_core::ErrorName;
use saga_core::order::{Change, Expect, OrderUpdate, PaymentRecord};
use saga_core::ports::{OrderStore, PaymentError, PaymentGateway, StoreError, UpdateOutcome};
use saga_core::step::load_order;
use saga_core::{Clock, OrderId, OrderStatus};
use serde::{Deserialize, Serialize};

#[derive(Clone)]
pub struct Deps {
    pub orders: Arc<dyn OrderStore>,
    pub payments: Arc<dyn PaymentGateway>,
    pub clock: Arc<dyn Clock>,
}

saga_core::debug_deps!(Deps);

pub type Input = saga_core::step::OrderInput;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub order_id: OrderId,
    pub charge_id: String,
    pub amount_cents: i64,
    pub currency: String,
}

impl Output {
    fn new(order_id: &OrderId, p: &PaymentRecord) -> Self {
        Self {
            order_id: order_id.clone(),
            charge_id: p.charge_id.clone(),
            amount_cents: p.amount.minor_units(),
            currency: p.amount.currency().to_string(),
        }
    }
}

/// The environment variables `main.rs` reads (Terraform sets exactly these).
pub const ENV_VARS: &[&str] = &["ORDERS_TABLE"];

/// Every `errorType` this function can report (checked against the state machine).
pub const ERROR_NAMES: &[ErrorName] = &[
    ErrorName::PaymentDeclined,
    ErrorName::PaymentUnavailable,
    ErrorName::ValidationError,
    ErrorName::Transient,
    ErrorName::InternalError,
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{reason}")]
    Declined { reason: String },
    #[error("{reason}")]
    Unavailable { reason: String },
    #[error("order {0} not found")]
    OrderNotFound(OrderId),
    #[error("order {order_id} is {status}; {why}")]
    NotPayable {
        order_id: OrderId,
        status: OrderStatus,
        why: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// The stable error name (Lambda `errorType`).
    pub fn error_name(&self) -> ErrorName {
        match self {
            Self::Declined { .. } => ErrorName::PaymentDeclined,
            Self::Unavailable { .. } => ErrorName::PaymentUnavailable,
            Self::OrderNotFound(_) | Self::NotPayable { .. } => ErrorName::ValidationError,
            Self::Store(e) => e.error_name(),
        }
    }
}

impl From<PaymentError> for Error {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::Declined { reason } => Self::Declined { reason },
            PaymentError::Unavailable { reason } => Self::Unavailable { reason },
            PaymentError::Store(s) => Self::Store(s),
        }
    }
}

saga_core::impl_diagnostic!(Error);

/// Charge the order.
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, Error> {
    let order_id = input.order_id;
    let order = load_order(&*deps.orders, &order_id, Error::OrderNotFound).await?;
    if let Some(p) = order.payment() {
        tracing::info!(%order_id, charge_id = %p.charge_id, "already paid");
        return Ok(Output::new(&order_id, p));
    }
    let not_payable = |why| Error::NotPayable {
        order_id: order_id.clone(),
        status: order.status(),
        why,
    };
    let pricing = order
        .pricing()
        .ok_or_else(|| not_payable("it has no price"))?;
    match order.status() {
        OrderStatus::Approved => {}
        OrderStatus::Reserved if !pricing.requires_approval => {}
        OrderStatus::Reserved => return Err(not_payable("it needs approval first")),
        _ => return Err(not_payable("only RESERVED or APPROVED orders are charged")),
    }

    let charge = deps
        .payments
        .charge(&order_id, order.payment_token(), pricing.total)
        .await?;
    let record = PaymentRecord {
        charge_id: charge.charge_id,
        amount: charge.amount,
        charged_at: deps.clock.now(),
        refund: None,
    };
    let update = OrderUpdate::transition(
        OrderStatus::Paid,
        &[OrderStatus::Reserved, OrderStatus::Approved],
        vec![Change::Payment(record.clone())],
        record.charged_at,
    )
    .and_expect(Expect::NoPayment);
    match deps.orders.update(&order_id, &update).await? {
        UpdateOutcome::Applied(_) => {
            tracing::info!(%order_id, charge_id = %record.charge_id, amount = record.amount.minor_units(), "paid");
            Ok(Output::new(&order_id, &record))
        }
        UpdateOutcome::NotFound => Err(Error::OrderNotFound(order_id)),
        UpdateOutcome::ConditionFailed => {
            let order = load_order(&*deps.orders, &order_id, Error::OrderNotFound).await?;
            match order.payment() {
                Some(p) => Ok(Output::new(&order_id, p)),
                None => Err(Error::NotPayable {
                    order_id,
                    status: order.status(),
                    why: "it changed while being charged",
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Diagnostic;
    use saga_core::Timestamp;
    use saga_core::fixtures::Stage;
    use saga_core::providers::SimulatedPayments;
    use saga_core::testing::store_errors;

    type World = saga_core::testing::World<Deps>;

    fn world() -> World {
        World::new(|store, clock| Deps {
            orders: store.clone(),
            payments: Arc::new(SimulatedPayments::new(store.clone())),
            clock: clock.clone(),
        })
    }

    async fn reserved_order(w: &World, items: &[(&str, u32)], token: &str) -> OrderId {
        w.order_at(Stage::Reserved, items, token, "10115").await
    }

    #[tokio::test]
    async fn charges_the_catalog_total_and_records_paid() {
        let w = world();
        let id = reserved_order(&w, &[("SKU-1", 2)], "tok_visa").await;
        let out = handle(&w.deps, Input::new(&id)).await.unwrap();
        assert_eq!(out.amount_cents, 3_998);
        assert_eq!(out.charge_id, format!("ch_{id}"));
        let order = w.store.order(&id).unwrap();
        assert_eq!(order.status(), OrderStatus::Paid);
        assert_eq!(order.payment().unwrap().amount.minor_units(), 3_998);
    }

    #[tokio::test]
    async fn declined_and_unavailable_have_their_names() {
        let w = world();
        let id = reserved_order(&w, &[("SKU-1", 1)], "tok_declined").await;
        let err = handle(&w.deps, Input::new(&id)).await.unwrap_err();
        assert_eq!(Diagnostic::from(err).error_type, "PaymentDeclined");
        assert!(w.store.order(&id).unwrap().payment().is_none());

        let id = reserved_order(&w, &[("SKU-1", 1)], "tok_unavailable").await;
        let err = handle(&w.deps, Input::new(&id)).await.unwrap_err();
        assert_eq!(Diagnostic::from(err).error_type, "PaymentUnavailable");
    }

    #[tokio::test]
    async fn flaky_succeeds_on_the_retry() {
        let w = world();
        let id = reserved_order(&w, &[("SKU-1", 1)], "tok_flaky").await;
        let err = handle(&w.deps, Input::new(&id)).await.unwrap_err();
        assert_eq!(err.error_name(), "PaymentUnavailable");
        handle(&w.deps, Input::new(&id)).await.unwrap();
        assert_eq!(w.store.order(&id).unwrap().status(), OrderStatus::Paid);
    }

    #[tokio::test]
    async fn invoking_twice_charges_once() {
        let w = world();
        let id = reserved_order(&w, &[("SKU-1", 1)], "tok_visa").await;
        w.assert_runs_once(&id, || handle(&w.deps, Input::new(&id)))
            .await;
    }

    #[tokio::test]
    async fn a_big_order_is_not_charged_before_approval() {
        let w = world();
        let id = reserved_order(&w, &[("SKU-4", 1)], "tok_visa").await;
        let err = handle(&w.deps, Input::new(&id)).await.unwrap_err();
        assert_eq!(err.error_name(), "ValidationError");
        assert!(err.to_string().contains("needs approval"), "{err}");
        assert!(w.store.order(&id).unwrap().payment().is_none());
    }

    #[tokio::test]
    async fn a_lost_ledger_write_is_healed_by_the_retry_without_a_second_charge() {
        let w = world();
        let id = reserved_order(&w, &[("SKU-1", 1)], "tok_visa").await;
        w.store.fail_next("orders.update", true);
        let err = handle(&w.deps, Input::new(&id)).await.unwrap_err();
        assert_eq!(err.error_name(), "Transient");
        let out = handle(&w.deps, Input::new(&id)).await.unwrap();
        assert_eq!(
            out.charge_id,
            format!("ch_{id}"),
            "same charge, not a new one"
        );
    }

    #[test]
    fn every_error_has_a_stable_name() {
        use ErrorName::*;
        let id = || OrderId::generate(Timestamp::from_millis(0).unwrap());
        saga_core::assert_error_names!(Error, ERROR_NAMES, {
            Error::Declined { .. } => [(Error::Declined { reason: "x".into() }, PaymentDeclined)],
            Error::Unavailable { .. } => [(Error::Unavailable { reason: "x".into() }, PaymentUnavailable)],
            Error::OrderNotFound(_) => [(Error::OrderNotFound(id()), ValidationError)],
            Error::NotPayable { .. } => [(
                Error::NotPayable { order_id: id(), status: OrderStatus::Failed, why: "x" },
                ValidationError,
            )],
            Error::Store(_) => store_errors(Error::Store),
        });
    }
}
