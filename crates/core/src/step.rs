//! What every step crate (`functions/*`) shares: reading the order it acts on,
//! its `Diagnostic` (the Lambda `errorType` / `errorMessage`) and the `Debug`
//! of its `Deps`.

use serde::{Deserialize, Serialize};

use crate::ports::{OrderStore, StoreError};
use crate::{Order, OrderId};

/// The input of the steps that act on an order by its id alone
/// (`{"orderId": "…"}`): validate, reserve, pay, ship. A bad id fails while
/// deserializing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderInput {
    pub order_id: OrderId,
}

impl OrderInput {
    pub fn new(order_id: &OrderId) -> Self {
        Self {
            order_id: order_id.clone(),
        }
    }
}

/// Read the order a step acts on; `not_found` is the step's own error for an
/// order that does not exist (a `ValidationError`: the saga names no order
/// it did not create).
pub async fn load_order<E: From<StoreError>>(
    orders: &dyn OrderStore,
    order_id: &OrderId,
    not_found: impl FnOnce(OrderId) -> E,
) -> Result<Order, E> {
    orders
        .get(order_id)
        .await?
        .ok_or_else(|| not_found(order_id.clone()))
}

/// `impl From<$error> for lambda_runtime::Diagnostic`: the stable name of
/// `$error::error_name()` as `errorType`, the whole cause chain as
/// `errorMessage`.
///
/// The orphan rule puts this impl in each step crate; the macro keeps it one
/// line there. This crate does not depend on `lambda_runtime`: the expansion
/// names `::lambda_runtime::Diagnostic`, which the calling crate provides.
#[macro_export]
macro_rules! impl_diagnostic {
    ($error:ty) => {
        impl ::std::convert::From<$error> for ::lambda_runtime::Diagnostic {
            fn from(e: $error) -> Self {
                Self {
                    error_type: e.error_name().as_str().to_owned(),
                    error_message: $crate::ports::error_chain(&e),
                }
            }
        }
    };
}

/// `Debug` for a struct of ports (trait objects with nothing to show): its
/// path and the listed plain fields, e.g. `pay::Deps { .. }` or
/// `validate::Deps { approval_threshold_cents: 100000, .. }`.
#[macro_export]
macro_rules! debug_deps {
    ($deps:ident $(, $field:ident)* $(,)?) => {
        impl ::std::fmt::Debug for $deps {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(concat!(module_path!(), "::", stringify!($deps)))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::fixtures::{demo_catalog, received_order};
    use crate::memory::MemoryStore;
    use crate::{Clock, ManualClock, Timestamp};

    #[derive(Debug, PartialEq)]
    enum StepError {
        NotFound(OrderId),
        Store(String),
    }

    impl From<StoreError> for StepError {
        fn from(e: StoreError) -> Self {
            Self::Store(e.to_string())
        }
    }

    #[tokio::test]
    async fn load_order_reads_the_order_or_names_its_absence_in_the_callers_error() {
        let store = MemoryStore::with_products(demo_catalog());
        let now = ManualClock::at_fixed_start().now();
        let order = received_order(&[("SKU-1", 1)], "tok_visa", "10115", now);
        crate::ports::OrderStore::insert(&store, &order)
            .await
            .unwrap();

        let loaded = load_order(&store, order.order_id(), StepError::NotFound).await;
        assert_eq!(loaded.unwrap(), order);

        let missing = OrderId::generate(Timestamp::from_millis(0).unwrap());
        let err = load_order(&store, &missing, StepError::NotFound).await;
        assert_eq!(err.unwrap_err(), StepError::NotFound(missing.clone()));

        store.fail_next("orders.get", true);
        let err = load_order(&store, &missing, StepError::NotFound).await;
        assert!(matches!(err, Err(StepError::Store(_))), "{err:?}");
    }

    #[allow(dead_code)] // only its Debug is looked at
    struct Deps {
        ports: Arc<dyn crate::Clock>,
        threshold: i64,
    }
    debug_deps!(Deps, threshold);

    #[test]
    fn debug_deps_shows_the_path_and_the_listed_fields_only() {
        let deps = Deps {
            ports: Arc::new(ManualClock::at_fixed_start()),
            threshold: 7,
        };
        assert_eq!(
            format!("{deps:?}"),
            "saga_core::step::tests::Deps { threshold: 7, .. }"
        );
    }
}
