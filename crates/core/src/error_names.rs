//! The stable error names: the contract between the handlers (Lambda
//! `errorType`) and the state machine's `Retry` / `Catch` clauses.
//!
//! Declared once, here. A workspace test checks that the state machine names no
//! error outside [`ALL`] (plus the Lambda service errors and `States.*`) and that
//! every name a handler can raise is handled by the state machine.

/// The order can't be accepted (unknown SKU, bad quantity, an order record that
/// is missing or not in a state this step can act on). Not retried.
pub const VALIDATION_ERROR: &str = "ValidationError";
/// Not enough stock for some line. Not retried.
pub const OUT_OF_STOCK: &str = "OutOfStock";
/// The payment provider refused the charge. Not retried.
pub const PAYMENT_DECLINED: &str = "PaymentDeclined";
/// Provider timeout / 5xx. Retried with backoff, then compensated.
pub const PAYMENT_UNAVAILABLE: &str = "PaymentUnavailable";
/// The carrier refused the shipment (e.g. undeliverable address). Not retried.
pub const SHIPPING_FAILED: &str = "ShippingFailed";
/// A human rejected the order. Raised by the state machine itself.
pub const APPROVAL_REJECTED: &str = "ApprovalRejected";
/// Nobody decided before the approval timeout. Raised by the state machine itself.
pub const APPROVAL_TIMED_OUT: &str = "ApprovalTimedOut";
/// Throttling, network, storage 5xx: retried with backoff and jitter.
pub const TRANSIENT: &str = "Transient";
/// Compensation could not finish; a human must look (alarm).
pub const COMPENSATION_FAILED: &str = "CompensationFailed";

/// A bug or a misconfiguration (access denied, a missing table, an unreadable
/// record). Not retried; compensated; the alarm on failed executions fires.
/// An addition to the design's original list of names: storage failures that are not
/// transient need an honest name rather than being retried as `Transient`.
pub const INTERNAL_ERROR: &str = "InternalError";

/// Every stable error name.
pub const ALL: &[&str] = &[
    VALIDATION_ERROR,
    OUT_OF_STOCK,
    PAYMENT_DECLINED,
    PAYMENT_UNAVAILABLE,
    SHIPPING_FAILED,
    APPROVAL_REJECTED,
    APPROVAL_TIMED_OUT,
    TRANSIENT,
    COMPENSATION_FAILED,
    INTERNAL_ERROR,
];

/// The names the state machine raises itself (not through a handler).
pub const RAISED_BY_STATE_MACHINE: &[&str] = &[APPROVAL_REJECTED, APPROVAL_TIMED_OUT];

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

/// Whether `name` is one of the stable error names.
pub fn is_stable(name: &str) -> bool {
    ALL.contains(&name)
}

/// The terminal order status an error leads to once compensated.
pub fn terminal_status_for(error: &str) -> crate::OrderStatus {
    if error == APPROVAL_REJECTED || error == APPROVAL_TIMED_OUT {
        crate::OrderStatus::Rejected
    } else {
        crate::OrderStatus::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_pascal_case() {
        let mut seen = std::collections::HashSet::new();
        for name in ALL {
            assert!(seen.insert(*name), "duplicate error name {name}");
            assert!(name.chars().next().is_some_and(|c| c.is_ascii_uppercase()));
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
        }
    }

    #[test]
    fn rejection_errors_lead_to_rejected_everything_else_to_failed() {
        assert_eq!(
            terminal_status_for(APPROVAL_REJECTED),
            crate::OrderStatus::Rejected
        );
        assert_eq!(
            terminal_status_for(APPROVAL_TIMED_OUT),
            crate::OrderStatus::Rejected
        );
        assert_eq!(
            terminal_status_for(OUT_OF_STOCK),
            crate::OrderStatus::Failed
        );
        assert_eq!(
            terminal_status_for("States.Runtime"),
            crate::OrderStatus::Failed
        );
    }
}
