//! The stable error names: the contract between the handlers (Lambda
//! `errorType`) and the state machine's `Retry` / `Catch` clauses.
//!
//! Declared once, here, as [`ErrorName`]. A workspace test checks that the
//! state machine names no error outside [`ErrorName::ALL`] (plus the Lambda
//! service errors and `States.*`) and that every name a handler can raise is
//! handled by the state machine. The engine's own `States.*` names are
//! `asl::ErrorName`; this enum knows only the saga's.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::OrderStatus;

/// Declares [`ErrorName`] from one table, so the enum, [`ErrorName::ALL`] and
/// [`ErrorName::as_str`] cannot disagree: a new name is one new row.
macro_rules! stable_error_names {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)+) => {
        /// A stable error name. Serialized (and parsed) as its string, e.g.
        /// `"OutOfStock"`; see [`ErrorName::as_str`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorName {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorName {
            /// Every stable error name, in declaration order.
            pub const ALL: &'static [ErrorName] = &[$(Self::$variant,)+];

            /// The name as Lambda reports it (`errorType`) and the ASL spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }
        }
    };
}

stable_error_names! {
    /// The order can't be accepted (unknown SKU, bad quantity, an order record
    /// that is missing or not in a state this step can act on). Not retried.
    ValidationError = "ValidationError",
    /// Not enough stock for some line. Not retried.
    OutOfStock = "OutOfStock",
    /// The payment provider refused the charge. Not retried.
    PaymentDeclined = "PaymentDeclined",
    /// Provider timeout / 5xx. Retried with backoff, then compensated.
    PaymentUnavailable = "PaymentUnavailable",
    /// The carrier refused the shipment (e.g. undeliverable address). Not retried.
    ShippingFailed = "ShippingFailed",
    /// A human rejected the order. Raised by the state machine itself.
    ApprovalRejected = "ApprovalRejected",
    /// Nobody decided before the approval timeout. Raised by the state machine itself.
    ApprovalTimedOut = "ApprovalTimedOut",
    /// Throttling, network, storage 5xx: retried with backoff and jitter.
    Transient = "Transient",
    /// Compensation could not finish; a human must look (alarm).
    CompensationFailed = "CompensationFailed",
    /// A bug or a misconfiguration (access denied, a missing table, an
    /// unreadable record). Not retried; compensated; the alarm on failed
    /// executions fires. An addition to the design's original list of names:
    /// storage failures that are not transient need an honest name rather
    /// than being retried as `Transient`.
    InternalError = "InternalError",
}

impl ErrorName {
    /// The names the state machine raises itself (not through a handler).
    pub const RAISED_BY_STATE_MACHINE: &'static [ErrorName] =
        &[Self::ApprovalRejected, Self::ApprovalTimedOut];

    /// The terminal order status this error leads to once compensated.
    pub const fn terminal_status(self) -> OrderStatus {
        match self {
            Self::ApprovalRejected | Self::ApprovalTimedOut => OrderStatus::Rejected,
            Self::ValidationError
            | Self::OutOfStock
            | Self::PaymentDeclined
            | Self::PaymentUnavailable
            | Self::ShippingFailed
            | Self::Transient
            | Self::CompensationFailed
            | Self::InternalError => OrderStatus::Failed,
        }
    }
}

/// Errors of the Lambda service that every Task retries. `Lambda.Unknown` is
/// what Step Functions reports for a function that timed out or ran out of
/// memory: the step may have done its work without answering, and every step
/// is idempotent, so running it again is the safe way to find out.
pub const LAMBDA_SERVICE_ERRORS: &[&str] = &[
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.Unknown",
];

/// A string that is not a stable error name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a stable error name")]
pub struct UnknownErrorName(pub String);

impl FromStr for ErrorName {
    type Err = UnknownErrorName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| UnknownErrorName(s.to_owned()))
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// So tests and callers holding the wire string compare without parsing.
impl PartialEq<str> for ErrorName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_pascal_case() {
        let mut seen = std::collections::HashSet::new();
        for name in ErrorName::ALL.iter().map(|n| n.as_str()) {
            assert!(seen.insert(name), "duplicate error name {name}");
            assert!(name.chars().next().is_some_and(|c| c.is_ascii_uppercase()));
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
        }
    }

    #[test]
    fn every_name_parses_back_and_serializes_as_its_string() {
        for &name in ErrorName::ALL {
            assert_eq!(name.as_str().parse::<ErrorName>(), Ok(name));
            assert_eq!(name.to_string(), name.as_str());
            let json = serde_json::to_value(name).unwrap();
            assert_eq!(json, serde_json::json!(name.as_str()));
            assert_eq!(serde_json::from_value::<ErrorName>(json).unwrap(), name);
        }
    }

    #[test]
    fn names_outside_the_stable_set_are_refused() {
        for other in ["States.Runtime", "Lambda.Unknown", "outOfStock", ""] {
            assert!(other.parse::<ErrorName>().is_err(), "{other}");
            assert!(serde_json::from_value::<ErrorName>(serde_json::json!(other)).is_err());
        }
        assert_eq!(
            "States.ALL".parse::<ErrorName>().unwrap_err().to_string(),
            "\"States.ALL\" is not a stable error name"
        );
    }

    #[test]
    fn rejection_errors_lead_to_rejected_everything_else_to_failed() {
        for &name in ErrorName::ALL {
            let expected = if ErrorName::RAISED_BY_STATE_MACHINE.contains(&name) {
                OrderStatus::Rejected
            } else {
                OrderStatus::Failed
            };
            assert_eq!(name.terminal_status(), expected, "{name}");
        }
        assert_eq!(
            ErrorName::ApprovalTimedOut.terminal_status(),
            OrderStatus::Rejected
        );
        assert_eq!(ErrorName::OutOfStock.terminal_status(), OrderStatus::Failed);
    }
}
