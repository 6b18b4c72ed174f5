//! `reserve`: holds stock for every line of a validated order, all or nothing,
//! in one transaction with the order record (`RESERVED`).
//!
//! Idempotent: a reserved order returns its reservation; stock is taken once.

use std::sync::Arc;

use saga_core::ErrorName;
use saga_core::order::OrderUpdate;
use saga_core::ports::{OrderStore, ReserveOutcome, StockReservations, StoreError};
use saga_core::step::load_order;
use saga_core::{Clock, Order, OrderId, OrderItem, OrderStatus, Sku};
use serde::{Deserialize, Serialize};

#[derive(Clone)]
pub struct Deps {
    pub orders: Arc<dyn OrderStore>,
    pub stock: Arc<dyn StockReservations>,
    pub clock: Arc<dyn Clock>,
}

saga_core::debug_deps!(Deps);

pub type Input = saga_core::step::OrderInput;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservedLine {
    pub sku: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub order_id: OrderId,
    pub reserved: Vec<ReservedLine>,
}

impl Output {
    fn new(order_id: &OrderId, lines: &[OrderItem]) -> Self {
        Self {
            order_id: order_id.clone(),
            reserved: lines
                .iter()
                .map(|l| ReservedLine {
                    sku: l.sku.to_string(),
                    quantity: l.quantity.get(),
                })
                .collect(),
        }
    }
}

/// The environment variables `main.rs` reads (Terraform sets exactly these).
pub const ENV_VARS: &[&str] = &["ORDERS_TABLE", "PRODUCTS_TABLE"];

/// Every `errorType` this function can report (checked against the state machine).
pub const ERROR_NAMES: &[ErrorName] = &[
    ErrorName::OutOfStock,
    ErrorName::ValidationError,
    ErrorName::Transient,
    ErrorName::InternalError,
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("out of stock: {sku} (requested {requested}{})", available.map(|a| format!(", available {a}")).unwrap_or_default())]
    OutOfStock {
        sku: Sku,
        requested: u32,
        available: Option<i64>,
    },
    #[error("order {0} not found")]
    OrderNotFound(OrderId),
    #[error("order {order_id} is {status}; only VALIDATED orders can be reserved")]
    WrongStatus {
        order_id: OrderId,
        status: OrderStatus,
    },
    #[error("the reservation of order {0} was already released")]
    AlreadyReleased(OrderId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// The stable error name (Lambda `errorType`).
    pub fn error_name(&self) -> ErrorName {
        match self {
            Self::OutOfStock { .. } => ErrorName::OutOfStock,
            Self::OrderNotFound(_) | Self::WrongStatus { .. } | Self::AlreadyReleased(_) => {
                ErrorName::ValidationError
            }
            Self::Store(e) => e.error_name(),
        }
    }
}

saga_core::impl_diagnostic!(Error);

/// Reserve the order's lines.
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, Error> {
    let order_id = input.order_id;
    let order = load_order(&*deps.orders, &order_id, Error::OrderNotFound).await?;
    if let Some(done) = already_reserved(&order)? {
        return Ok(done);
    }
    if order.status() != OrderStatus::Validated {
        return Err(Error::WrongStatus {
            order_id,
            status: order.status(),
        });
    }
    let lines = order.items();
    let update = OrderUpdate::reserve(lines, deps.clock.now());

    match deps.stock.reserve(&order_id, lines, &update).await? {
        ReserveOutcome::Reserved => {
            tracing::info!(%order_id, lines = lines.len(), "reserved");
            Ok(Output::new(&order_id, lines))
        }
        ReserveOutcome::OutOfStock {
            sku,
            requested,
            available,
        } => {
            tracing::info!(%order_id, %sku, requested, "out of stock");
            Err(Error::OutOfStock {
                sku,
                requested,
                available,
            })
        }
        ReserveOutcome::OrderNotFound => Err(Error::OrderNotFound(order_id)),
        ReserveOutcome::OrderConditionFailed => {
            // A concurrent duplicate may have reserved first.
            let order = load_order(&*deps.orders, &order_id, Error::OrderNotFound).await?;
            already_reserved(&order)?.ok_or(Error::WrongStatus {
                order_id,
                status: order.status(),
            })
        }
    }
}

fn already_reserved(order: &Order) -> Result<Option<Output>, Error> {
    match order.reservation() {
        Some(r) if r.released_at.is_some() => Err(Error::AlreadyReleased(order.order_id().clone())),
        Some(r) => Ok(Some(Output::new(order.order_id(), &r.lines))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Diagnostic;
    use saga_core::Timestamp;
    use saga_core::fixtures::{Stage, received_order};
    use saga_core::testing::store_errors;

    type World = saga_core::testing::World<Deps>;

    fn world() -> World {
        World::new(|store, clock| Deps {
            orders: store.clone(),
            stock: store.clone(),
            clock: clock.clone(),
        })
    }

    async fn validated_order(w: &World, items: &[(&str, u32)]) -> OrderId {
        w.order_at(Stage::Validated, items, "tok_visa", "10115")
            .await
    }

    #[tokio::test]
    async fn reserves_every_line_and_marks_the_order() {
        let w = world();
        let id = validated_order(&w, &[("SKU-1", 3), ("SKU-3", 2)]).await;
        let out = handle(&w.deps, Input::new(&id)).await.unwrap();
        assert_eq!(out.reserved.len(), 2);
        assert_eq!(w.store.stock("SKU-1"), Some(97));
        assert_eq!(w.store.stock("SKU-3"), Some(8));
        assert_eq!(w.store.order(&id).unwrap().status(), OrderStatus::Reserved);
    }

    #[tokio::test]
    async fn out_of_stock_names_the_sku_and_takes_nothing() {
        let w = world();
        let id = validated_order(&w, &[("SKU-1", 3), ("SKU-4", 6)]).await;
        let err = handle(&w.deps, Input::new(&id)).await.unwrap_err();
        assert_eq!(err.error_name(), "OutOfStock");
        let diag = Diagnostic::from(err);
        assert_eq!(
            diag.error_message,
            "out of stock: SKU-4 (requested 6, available 5)"
        );
        assert_eq!(w.store.stock("SKU-1"), Some(100), "all or nothing");
        assert_eq!(w.store.order(&id).unwrap().status(), OrderStatus::Validated);
    }

    #[tokio::test]
    async fn invoking_twice_reserves_once() {
        let w = world();
        let id = validated_order(&w, &[("SKU-2", 5)]).await;
        let first = handle(&w.deps, Input::new(&id)).await.unwrap();
        let second = handle(&w.deps, Input::new(&id)).await.unwrap();
        assert_eq!(first, second);
        assert_eq!(w.store.stock("SKU-2"), Some(20));
        assert_eq!(
            w.store.order(&id).unwrap().history().len(),
            3,
            "RECEIVED, VALIDATED, RESERVED"
        );
    }

    #[tokio::test]
    async fn an_unvalidated_order_is_refused() {
        let w = world();
        let order = received_order(&[("SKU-1", 1)], "tok_visa", "10115", w.deps.clock.now());
        w.store.insert(&order).await.unwrap();
        let err = handle(&w.deps, Input::new(order.order_id()))
            .await
            .unwrap_err();
        assert_eq!(err.error_name(), "ValidationError");
        assert_eq!(w.store.stock("SKU-1"), Some(100));
    }

    #[tokio::test]
    async fn transient_store_failure_is_transient_and_takes_nothing() {
        let w = world();
        let id = validated_order(&w, &[("SKU-1", 1)]).await;
        w.store.fail_next("stock.reserve", true);
        let err = handle(&w.deps, Input::new(&id)).await.unwrap_err();
        assert_eq!(Diagnostic::from(err).error_type, "Transient");
        assert_eq!(w.store.stock("SKU-1"), Some(100));
        handle(&w.deps, Input::new(&id)).await.unwrap();
        assert_eq!(w.store.stock("SKU-1"), Some(99), "the retry succeeds");
    }

    #[test]
    fn bad_payloads_fail_while_deserializing() {
        let err = serde_json::from_value::<Input>(serde_json::json!({"orderId": 7})).unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
    }

    #[test]
    fn every_error_has_a_stable_name() {
        use ErrorName::*;
        let id = || OrderId::generate(Timestamp::from_millis(0).unwrap());
        let out_of_stock = Error::OutOfStock {
            sku: Sku::parse("A").unwrap(),
            requested: 1,
            available: None,
        };
        saga_core::assert_error_names!(Error, ERROR_NAMES, {
            Error::OutOfStock { .. } => [(out_of_stock, OutOfStock)],
            Error::OrderNotFound(_) => [(Error::OrderNotFound(id()), ValidationError)],
            Error::WrongStatus { .. } => [(
                Error::WrongStatus { order_id: id(), status: OrderStatus::Failed },
                ValidationError,
            )],
            Error::AlreadyReleased(_) => [(Error::AlreadyReleased(id()), ValidationError)],
            Error::Store(_) => store_errors(Error::Store),
        });
    }
}
