//! `validate`: prices an order from the catalog (clients never send prices),
//! and decides whether it needs a human's approval.
//!
//! Idempotent: a validated order returns its recorded pricing unchanged.

use std::sync::Arc;

use saga_core::ErrorName;
use saga_core::order::{Change, MAX_LINES, OrderUpdate};
use saga_core::ports::{Catalog, OrderStore, StoreError, UpdateOutcome};
use saga_core::pricing::{PricingError, price_order};
use saga_core::step::load_order;
use saga_core::{Clock, Order, OrderId, OrderStatus, Pricing};
use serde::{Deserialize, Serialize};

/// The ports this step uses.
#[derive(Clone)]
pub struct Deps {
    pub orders: Arc<dyn OrderStore>,
    pub catalog: Arc<dyn Catalog>,
    pub clock: Arc<dyn Clock>,
    /// Orders whose total is at or above this wait for approval.
    pub approval_threshold_cents: i64,
}

saga_core::debug_deps!(Deps, approval_threshold_cents);

pub type Input = saga_core::step::OrderInput;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub sku: String,
    pub quantity: u32,
    pub unit_price_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub order_id: OrderId,
    pub lines: Vec<Line>,
    pub total_cents: i64,
    pub currency: String,
    pub requires_approval: bool,
    /// Where the customer is told about the shipment (NotifyCustomer).
    pub email: String,
}

impl Output {
    fn new(order: &Order, pricing: &Pricing) -> Self {
        Self {
            order_id: order.order_id().clone(),
            email: order.email().to_string(),
            lines: pricing
                .lines
                .iter()
                .map(|l| Line {
                    sku: l.sku.to_string(),
                    quantity: l.quantity.get(),
                    unit_price_cents: l.unit_price_cents,
                })
                .collect(),
            total_cents: pricing.total.minor_units(),
            currency: pricing.total.currency().to_string(),
            requires_approval: pricing.requires_approval,
        }
    }
}

/// The environment variables `main.rs` reads (Terraform sets exactly these).
pub const ENV_VARS: &[&str] = &["ORDERS_TABLE", "PRODUCTS_TABLE", "APPROVAL_THRESHOLD_CENTS"];

/// Every `errorType` this function can report (checked against the state machine).
pub const ERROR_NAMES: &[ErrorName] = &[
    ErrorName::ValidationError,
    ErrorName::Transient,
    ErrorName::InternalError,
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("order {0} not found")]
    OrderNotFound(OrderId),
    #[error("order {order_id} is {status}; only RECEIVED orders can be validated")]
    WrongStatus {
        order_id: OrderId,
        status: OrderStatus,
    },
    #[error("order {order_id} has {lines} lines; at most {MAX_LINES} are allowed")]
    TooManyLines { order_id: OrderId, lines: usize },
    #[error("order {order_id} can't be priced")]
    Pricing {
        order_id: OrderId,
        #[source]
        source: PricingError,
    },
    #[error("the stored order is invalid")]
    InvalidRecord(#[source] StoreError),
    #[error(transparent)]
    Store(StoreError),
}

impl Error {
    /// The stable error name (Lambda `errorType`).
    pub fn error_name(&self) -> ErrorName {
        match self {
            Self::OrderNotFound(_)
            | Self::WrongStatus { .. }
            | Self::TooManyLines { .. }
            | Self::Pricing { .. }
            | Self::InvalidRecord(_) => ErrorName::ValidationError,
            Self::Store(e) => e.error_name(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt { .. } => Self::InvalidRecord(e),
            other => Self::Store(other),
        }
    }
}

saga_core::impl_diagnostic!(Error);

/// Price the order and record it as `VALIDATED`.
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, Error> {
    let order_id = input.order_id;
    let order = load_order(&*deps.orders, &order_id, Error::OrderNotFound).await?;
    if let Some(pricing) = order.pricing() {
        tracing::info!(%order_id, "already validated");
        return Ok(Output::new(&order, pricing));
    }
    if order.status() != OrderStatus::Received {
        return Err(Error::WrongStatus {
            order_id,
            status: order.status(),
        });
    }
    if order.items().len() > MAX_LINES {
        return Err(Error::TooManyLines {
            order_id,
            lines: order.items().len(),
        });
    }

    let skus: Vec<_> = order.items().iter().map(|i| i.sku.clone()).collect();
    let products = deps.catalog.products(&skus).await?;
    let pricing =
        price_order(order.items(), &products, deps.approval_threshold_cents).map_err(|source| {
            Error::Pricing {
                order_id: order_id.clone(),
                source,
            }
        })?;

    let update = OrderUpdate::transition(
        OrderStatus::Validated,
        &[OrderStatus::Received],
        vec![Change::Pricing(pricing.clone())],
        deps.clock.now(),
    )
    .and_expect(saga_core::order::Expect::NoPricing);
    match deps.orders.update(&order_id, &update).await? {
        UpdateOutcome::Applied(_) => {
            tracing::info!(%order_id, total = pricing.total.minor_units(), requires_approval = pricing.requires_approval, "validated");
            Ok(Output::new(&order, &pricing))
        }
        UpdateOutcome::NotFound => Err(Error::OrderNotFound(order_id)),
        // A concurrent duplicate may have won: its pricing is the answer.
        UpdateOutcome::ConditionFailed => {
            let order = load_order(&*deps.orders, &order_id, Error::OrderNotFound).await?;
            match order.pricing() {
                Some(p) => Ok(Output::new(&order, p)),
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
    use saga_core::fixtures::Stage;
    use saga_core::pricing::DEFAULT_APPROVAL_THRESHOLD_CENTS;
    use saga_core::testing::store_errors;
    use serde_json::json;

    type World = saga_core::testing::World<Deps>;

    fn world() -> World {
        World::new(|store, clock| Deps {
            orders: store.clone(),
            catalog: store.clone(),
            clock: clock.clone(),
            approval_threshold_cents: DEFAULT_APPROVAL_THRESHOLD_CENTS,
        })
    }

    async fn new_order(w: &World, items: &[(&str, u32)]) -> OrderId {
        w.order_at(Stage::Received, items, "tok_visa", "10115")
            .await
    }

    #[tokio::test]
    async fn prices_from_the_catalog_and_records_validated() {
        let w = world();
        let id = new_order(&w, &[("SKU-1", 2), ("SKU-2", 1)]).await;

        let out = handle(&w.deps, Input::new(&id)).await.unwrap();

        assert_eq!(out.total_cents, 2 * 1_999 + 4_950);
        assert_eq!(out.currency, "EUR");
        assert!(!out.requires_approval);
        assert_eq!(
            out.lines[0],
            Line {
                sku: "SKU-1".into(),
                quantity: 2,
                unit_price_cents: 1_999
            }
        );
        let order = w.store.order(&id).unwrap();
        assert_eq!(order.status(), OrderStatus::Validated);
        assert_eq!(order.history().len(), 2);
    }

    #[tokio::test]
    async fn big_orders_require_approval() {
        let w = world();
        let id = new_order(&w, &[("SKU-4", 1)]).await;
        let out = handle(&w.deps, Input::new(&id)).await.unwrap();
        assert!(out.requires_approval, "149000 >= 100000");
    }

    #[tokio::test]
    async fn unknown_skus_are_a_validation_error_naming_them() {
        let w = world();
        let id = new_order(&w, &[("SKU-1", 1), ("NOPE-9", 1)]).await;
        let err = handle(&w.deps, Input::new(&id)).await.unwrap_err();
        assert_eq!(err.error_name(), "ValidationError");
        let diag = Diagnostic::from(err);
        assert!(
            diag.error_message.contains("NOPE-9"),
            "{}",
            diag.error_message
        );
        assert_eq!(
            w.store.order(&id).unwrap().status(),
            OrderStatus::Received,
            "nothing changed"
        );
    }

    #[tokio::test]
    async fn out_of_range_quantities_and_too_many_lines_in_the_record_are_validation_errors() {
        let w = world();
        let id = new_order(&w, &[("SKU-1", 1)]).await;
        let mut raw = serde_json::to_value(w.store.order(&id).unwrap()).unwrap();
        raw["items"][0]["quantity"] = json!(5000);
        w.store.put_raw_order(&id, raw.clone());
        let err = handle(&w.deps, Input::new(&id)).await.unwrap_err();
        assert_eq!(err.error_name(), "ValidationError");
        assert!(
            Diagnostic::from(err)
                .error_message
                .contains("between 1 and 1000")
        );

        let items: Vec<_> = (0..=MAX_LINES)
            .map(|i| json!({"sku": format!("S{i}"), "quantity": 1}))
            .collect();
        raw["items"] = json!(items);
        w.store.put_raw_order(&id, raw);
        let err = handle(&w.deps, Input::new(&id)).await.unwrap_err();
        assert_eq!(err.error_name(), "ValidationError");
        assert!(Diagnostic::from(err).error_message.contains("at most 50"));
    }

    #[tokio::test]
    async fn invoking_twice_changes_nothing_twice() {
        let w = world();
        let id = new_order(&w, &[("SKU-1", 1)]).await;
        w.assert_runs_once(&id, || handle(&w.deps, Input::new(&id)))
            .await;
    }

    #[tokio::test]
    async fn missing_order_and_wrong_status() {
        let w = world();
        let missing = OrderId::generate(Timestamp::from_millis(0).unwrap());
        let err = handle(&w.deps, Input::new(&missing)).await.unwrap_err();
        assert!(matches!(err, Error::OrderNotFound(_)));

        // Ended before validation (as api-handler ends an order whose saga
        // could not be started): not priced, not validated.
        let id = new_order(&w, &[("SKU-1", 1)]).await;
        let ended = OrderUpdate::transition(
            OrderStatus::Failed,
            &[OrderStatus::Received],
            vec![Change::Failure(saga_core::Failure {
                error: ErrorName::InternalError,
                cause: "not started".into(),
            })],
            w.deps.clock.now(),
        );
        w.store.update(&id, &ended).await.unwrap();
        let err = handle(&w.deps, Input::new(&id)).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::WrongStatus {
                    status: OrderStatus::Failed,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.error_name(), "ValidationError");
        let order = w.store.order(&id).unwrap();
        assert_eq!(order.status(), OrderStatus::Failed);
        assert!(order.pricing().is_none());
    }

    #[tokio::test]
    async fn storage_failures_are_transient() {
        let w = world();
        let id = new_order(&w, &[("SKU-1", 1)]).await;
        w.store.fail_next("products.get", true);
        let err = handle(&w.deps, Input::new(&id)).await.unwrap_err();
        assert_eq!(Diagnostic::from(err).error_type, "Transient");
        w.store.fail_next("orders.update", false);
        let err = handle(&w.deps, Input::new(&id)).await.unwrap_err();
        assert_eq!(Diagnostic::from(err).error_type, "InternalError");
    }

    #[test]
    fn bad_payloads_fail_while_deserializing_with_a_clear_message() {
        let err = serde_json::from_value::<Input>(json!({"orderId": "nope"})).unwrap_err();
        assert!(
            err.to_string().contains("orderId must be 26 characters"),
            "{err}"
        );
        let err = serde_json::from_value::<Input>(json!({})).unwrap_err();
        assert!(err.to_string().contains("missing field `orderId`"), "{err}");
    }

    #[test]
    fn every_error_has_a_stable_name() {
        use ErrorName::*;
        let id = || OrderId::generate(Timestamp::from_millis(0).unwrap());
        saga_core::assert_error_names!(Error, ERROR_NAMES, {
            Error::OrderNotFound(_) => [(Error::OrderNotFound(id()), ValidationError)],
            Error::WrongStatus { .. } => [(
                Error::WrongStatus { order_id: id(), status: OrderStatus::Failed },
                ValidationError,
            )],
            Error::TooManyLines { .. } => [(Error::TooManyLines { order_id: id(), lines: 51 }, ValidationError)],
            Error::Pricing { .. } => [(
                Error::Pricing { order_id: id(), source: PricingError::Overflow },
                ValidationError,
            )],
            Error::InvalidRecord(_) => [(Error::InvalidRecord(StoreError::corrupt("x", "y")), ValidationError)],
            Error::Store(_) => store_errors(Error::Store),
        });
    }
}
