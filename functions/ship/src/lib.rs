//! `ship`: books the shipment with the carrier, records the tracking number and
//! completes the order (`COMPLETED`).
//!
//! Idempotent: the carrier ships once per order, and a shipped order returns
//! its recorded tracking number.

use std::sync::Arc;

use saga_core::ErrorName;
use saga_core::order::{Change, Expect, OrderUpdate, ShipmentRecord};
use saga_core::ports::{Carrier, OrderStore, ShippingError, StoreError, UpdateOutcome};
use saga_core::step::load_order;
use saga_core::{Clock, OrderId, OrderStatus};
use serde::{Deserialize, Serialize};

#[derive(Clone)]
pub struct Deps {
    pub orders: Arc<dyn OrderStore>,
    pub carrier: Arc<dyn Carrier>,
    pub clock: Arc<dyn Clock>,
}

saga_core::debug_deps!(Deps);

pub type Input = saga_core::step::OrderInput;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub order_id: OrderId,
    pub tracking_number: String,
}

/// The environment variables `main.rs` reads (Terraform sets exactly these).
pub const ENV_VARS: &[&str] = &["ORDERS_TABLE"];

/// Every `errorType` this function can report (checked against the state machine).
pub const ERROR_NAMES: &[ErrorName] = &[
    ErrorName::ShippingFailed,
    ErrorName::ValidationError,
    ErrorName::Transient,
    ErrorName::InternalError,
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{reason}")]
    Refused { reason: String },
    #[error("{reason}")]
    CarrierUnavailable { reason: String },
    #[error("order {0} not found")]
    OrderNotFound(OrderId),
    #[error("order {order_id} is {status}; only PAID orders are shipped")]
    WrongStatus {
        order_id: OrderId,
        status: OrderStatus,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// The stable error name (Lambda `errorType`).
    pub fn error_name(&self) -> ErrorName {
        match self {
            Self::Refused { .. } => ErrorName::ShippingFailed,
            Self::CarrierUnavailable { .. } => ErrorName::Transient,
            Self::OrderNotFound(_) | Self::WrongStatus { .. } => ErrorName::ValidationError,
            Self::Store(e) => e.error_name(),
        }
    }
}

impl From<ShippingError> for Error {
    fn from(e: ShippingError) -> Self {
        match e {
            ShippingError::Refused { reason } => Self::Refused { reason },
            ShippingError::Unavailable { reason } => Self::CarrierUnavailable { reason },
        }
    }
}

saga_core::impl_diagnostic!(Error);

/// Ship the order.
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, Error> {
    let order_id = input.order_id;
    let order = load_order(&*deps.orders, &order_id, Error::OrderNotFound).await?;
    if let Some(s) = order.shipment() {
        return Ok(Output {
            order_id,
            tracking_number: s.tracking_number.clone(),
        });
    }
    if order.status() != OrderStatus::Paid {
        return Err(Error::WrongStatus {
            order_id,
            status: order.status(),
        });
    }
    let shipment = deps
        .carrier
        .create_shipment(&order_id, order.shipping_address(), order.items())
        .await?;
    let now = deps.clock.now();
    let record = ShipmentRecord {
        tracking_number: shipment.tracking_number,
        shipped_at: now,
        cancelled_at: None,
    };
    let update = OrderUpdate::transition(
        OrderStatus::Completed,
        &[OrderStatus::Paid],
        vec![Change::Shipment(record.clone())],
        now,
    )
    .and_expect(Expect::NoShipment);
    match deps.orders.update(&order_id, &update).await? {
        UpdateOutcome::Applied(_) => {
            tracing::info!(%order_id, tracking_number = %record.tracking_number, "shipped");
            Ok(Output {
                order_id,
                tracking_number: record.tracking_number,
            })
        }
        UpdateOutcome::NotFound => Err(Error::OrderNotFound(order_id)),
        UpdateOutcome::ConditionFailed => {
            let order = load_order(&*deps.orders, &order_id, Error::OrderNotFound).await?;
            match order.shipment() {
                Some(s) => Ok(Output {
                    order_id,
                    tracking_number: s.tracking_number.clone(),
                }),
                None => Err(Error::WrongStatus {
                    order_id,
                    status: order.status(),
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
    use saga_core::fixtures::{Stage, received_order};
    use saga_core::providers::SimulatedCarrier;
    use saga_core::testing::store_errors;

    type World = saga_core::testing::World<Deps>;

    fn world() -> World {
        World::new(|store, clock| Deps {
            orders: store.clone(),
            carrier: Arc::new(SimulatedCarrier),
            clock: clock.clone(),
        })
    }

    async fn paid_order(w: &World, postal_code: &str) -> OrderId {
        w.order_at(Stage::Paid, &[("SKU-1", 1)], "tok_visa", postal_code)
            .await
    }

    #[tokio::test]
    async fn ships_records_tracking_and_completes() {
        let w = world();
        let id = paid_order(&w, "10115").await;
        let out = handle(&w.deps, Input::new(&id)).await.unwrap();
        assert_eq!(out.tracking_number, format!("TRK{id}"));
        let order = w.store.order(&id).unwrap();
        assert_eq!(order.status(), OrderStatus::Completed);
        assert_eq!(
            order.shipment().unwrap().tracking_number,
            out.tracking_number
        );
    }

    #[tokio::test]
    async fn undeliverable_address_is_shipping_failed_and_changes_nothing() {
        let w = world();
        let id = paid_order(&w, "00000").await;
        let err = handle(&w.deps, Input::new(&id)).await.unwrap_err();
        assert_eq!(Diagnostic::from(err).error_type, "ShippingFailed");
        assert_eq!(w.store.order(&id).unwrap().status(), OrderStatus::Paid);
    }

    #[tokio::test]
    async fn invoking_twice_ships_once() {
        let w = world();
        let id = paid_order(&w, "10115").await;
        w.assert_runs_once(&id, || handle(&w.deps, Input::new(&id)))
            .await;
    }

    #[tokio::test]
    async fn an_unpaid_order_is_not_shipped() {
        let w = world();
        let order = received_order(&[("SKU-1", 1)], "tok_visa", "10115", w.deps.clock.now());
        w.store.insert(&order).await.unwrap();
        let err = handle(&w.deps, Input::new(order.order_id()))
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "ValidationError");
    }

    #[test]
    fn every_error_has_a_stable_name() {
        use ErrorName::*;
        let id = || OrderId::generate(Timestamp::from_millis(0).unwrap());
        let reason = || "x".to_owned();
        saga_core::assert_error_names!(Error, ERROR_NAMES, {
            Error::Refused { .. } => [(Error::Refused { reason: reason() }, ShippingFailed)],
            Error::CarrierUnavailable { .. } => [(Error::CarrierUnavailable { reason: reason() }, Transient)],
            Error::OrderNotFound(_) => [(Error::OrderNotFound(id()), ValidationError)],
            Error::WrongStatus { .. } => [(
                Error::WrongStatus { order_id: id(), status: OrderStatus::Failed },
                ValidationError,
            )],
            Error::Store(_) => store_errors(Error::Store),
        });
    }
}
