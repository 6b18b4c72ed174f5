//! What a client is told about a failed order.
//!
//! The order record keeps the whole cause a step reported (an SDK error with
//! account ids and ARNs, `out of stock: SKU-3 (requested 500, available 10)`):
//! operators read it there, in the logs and in the execution history. A client
//! gets [`ClientFailure`]: one curated sentence per error name, naming at most
//! the SKU that ran out (never how many are left), and for failures only an
//! operator can explain a correlation id — the order id, which is also the
//! execution name and the `order_id` field of every log line about the order.

use serde::Serialize;

use crate::{ErrorName, Failure, OrderId, Sku};

/// How a step's `OutOfStock` message begins (`reserve`'s `Error::OutOfStock`):
/// the SKU follows, then ` (requested …`.
pub const OUT_OF_STOCK_PREFIX: &str = "out of stock: ";

/// A failure as a client sees it: the stable error name and a curated cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientFailure {
    pub error: ErrorName,
    pub cause: String,
    /// Set for failures a client can't act on: quote it to support; operators
    /// find the full cause under it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

impl Failure {
    /// What the client of order `order_id` is told about this failure.
    pub fn for_client(&self, order_id: &OrderId) -> ClientFailure {
        let told = |cause: &str| ClientFailure {
            error: self.error,
            cause: cause.to_owned(),
            correlation_id: None,
        };
        match self.error {
            ErrorName::OutOfStock => match out_of_stock_sku(&self.cause) {
                Some(sku) => told(&format!("{sku} is out of stock")),
                None => told("an item of the order is out of stock"),
            },
            ErrorName::ValidationError => told("the order could not be accepted as placed"),
            ErrorName::PaymentDeclined => told("the payment was declined"),
            ErrorName::ShippingFailed => told("the carrier could not ship the order"),
            ErrorName::ApprovalRejected => told("the order was rejected by an approver"),
            ErrorName::ApprovalTimedOut => told("nobody approved the order in time"),
            ErrorName::PaymentUnavailable
            | ErrorName::Transient
            | ErrorName::CompensationFailed
            | ErrorName::InternalError => ClientFailure {
                error: self.error,
                cause: format!(
                    "the order could not be processed because of an internal error; \
                     quote reference {order_id} to support"
                ),
                correlation_id: Some(order_id.to_string()),
            },
        }
    }
}

/// The SKU an `OutOfStock` cause names, if it is one (`out of stock: SKU-3
/// (requested 500, available 10)` → `SKU-3`). Parsed as a [`Sku`], so nothing
/// but a well-formed SKU can come out.
pub fn out_of_stock_sku(cause: &str) -> Option<Sku> {
    let rest = cause.strip_prefix(OUT_OF_STOCK_PREFIX)?;
    let sku = rest.split(' ').next()?;
    Sku::parse(sku).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(error: ErrorName, cause: &str) -> Failure {
        Failure {
            error,
            cause: cause.to_owned(),
        }
    }

    fn order_id() -> OrderId {
        OrderId::parse("01KDVDNA00NRARN0AXX8PG0V9M").unwrap()
    }

    #[test]
    fn out_of_stock_names_the_sku_but_not_the_quantities() {
        let f = failure(
            ErrorName::OutOfStock,
            "out of stock: SKU-3 (requested 500, available 10)",
        );

        let told = f.for_client(&order_id());

        assert_eq!(told.error, ErrorName::OutOfStock);
        assert_eq!(told.cause, "SKU-3 is out of stock");
        assert_eq!(told.correlation_id, None);
    }

    #[test]
    fn an_unparsable_out_of_stock_cause_names_no_sku() {
        for cause in ["", "out of stock: <script> (requested 1)", "stock 10 left"] {
            let told = failure(ErrorName::OutOfStock, cause).for_client(&order_id());
            assert_eq!(
                told.cause, "an item of the order is out of stock",
                "{cause:?}"
            );
        }
    }

    #[test]
    fn internal_failures_are_a_generic_sentence_with_the_order_id_as_reference() {
        let chain = "dispatch failure: Error { code: \"AccessDeniedException\", message: \
                     \"User: arn:aws:sts::123456789012:assumed-role/x is not authorized\" }";
        for name in [
            ErrorName::InternalError,
            ErrorName::Transient,
            ErrorName::PaymentUnavailable,
            ErrorName::CompensationFailed,
        ] {
            let told = failure(name, chain).for_client(&order_id());

            assert_eq!(told.error, name);
            assert_eq!(
                told.cause,
                "the order could not be processed because of an internal error; \
                 quote reference 01KDVDNA00NRARN0AXX8PG0V9M to support"
            );
            assert_eq!(
                told.correlation_id.as_deref(),
                Some("01KDVDNA00NRARN0AXX8PG0V9M")
            );
        }
    }

    #[test]
    fn no_client_cause_repeats_the_recorded_one() {
        let secret = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders available 10";
        for &name in ErrorName::ALL {
            let told = failure(name, secret).for_client(&order_id());
            assert!(!told.cause.contains("arn:"), "{name}: {}", told.cause);
            assert!(!told.cause.contains("available"), "{name}: {}", told.cause);
        }
    }

    #[test]
    fn serializes_as_error_cause_and_the_correlation_id_when_set() {
        let told = failure(ErrorName::PaymentDeclined, "card refused").for_client(&order_id());

        assert_eq!(
            serde_json::to_value(told).unwrap(),
            serde_json::json!({"error": "PaymentDeclined", "cause": "the payment was declined"})
        );
    }
}
