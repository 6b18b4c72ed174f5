//! Error mapping, in one place: which SDK failures are worth retrying.
//!
//! Transient (the handler reports `Transient`, the state machine retries with
//! backoff): throttling and conflict codes ([`TRANSIENT_CODES`]), any HTTP 5xx,
//! timeouts, and dispatch / IO failures. Everything else (access denied, a
//! missing table, a validation error, an unreadable item) is permanent. The SDK
//! error is always kept as the `source`, never stringified.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use saga_core::ports::StoreError;

/// Error codes (DynamoDB, SNS, Step Functions and transaction cancellation
/// reasons) that mean "try again later".
pub const TRANSIENT_CODES: &[&str] = &[
    // DynamoDB
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionInProgressException",
    "ReplicatedWriteConflictException",
    "InternalServerError",
    // Cancellation reasons of TransactWriteItems
    "TransactionConflict",
    "ProvisionedThroughputExceeded",
    "ThrottlingError",
    // SNS / Step Functions / generic AWS
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "KMSThrottlingException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Whether an AWS error code means "try again later".
pub fn is_transient_code(code: &str) -> bool {
    TRANSIENT_CODES.contains(&code)
}

/// Whether an SDK failure is worth retrying.
pub fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) => true,
        // A user error (e.g. an invalid endpoint URL) won't fix itself.
        SdkError::DispatchFailure(d) => !d.is_user(),
        SdkError::ResponseError(r) => r.raw().status().is_server_error(),
        SdkError::ServiceError(s) => {
            s.err().code().is_some_and(is_transient_code) || s.raw().status().is_server_error()
        }
        SdkError::ConstructionFailure(_) => false,
        _ => false,
    }
}

/// Map an SDK failure of `operation` (e.g. `"orders.update"`) to a [`StoreError`].
pub fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if is_transient(&err) {
        tracing::warn!(operation, code = err.code(), "transient AWS failure");
        StoreError::transient(operation, err)
    } else {
        tracing::error!(operation, code = err.code(), "AWS request failed");
        StoreError::permanent(operation, err)
    }
}

/// A record could not be read or written as the domain type.
#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    #[error("the {table} item is not a valid record")]
    Unreadable {
        table: &'static str,
        #[source]
        source: serde_dynamo::Error,
    },
    #[error("the {table} item can't be written")]
    Unwritable {
        table: &'static str,
        #[source]
        source: serde_dynamo::Error,
    },
    #[error("the {table} item lacks the attribute {attribute}")]
    MissingAttribute {
        table: &'static str,
        attribute: &'static str,
    },
    #[error("{0}")]
    Inconsistent(String),
}

/// A required table / topic / ARN is not configured.
#[derive(Debug, thiserror::Error)]
#[error("not configured: set {var}")]
pub struct NotConfigured {
    pub var: &'static str,
}

/// A transaction was cancelled for reasons that are not a business outcome.
#[derive(Debug, thiserror::Error)]
#[error("transaction cancelled: {reasons}")]
pub struct TransactionCancelled {
    /// `index:code` per item that failed, e.g. `0:ValidationError`.
    pub reasons: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty())
    }

    fn service_error(code: &str, status: u16) -> SdkError<GetItemError, HttpResponse> {
        let err = GetItemError::generic(ErrorMetadata::builder().code(code).build());
        SdkError::service_error(err, response(status))
    }

    #[test]
    fn throttling_codes_are_transient() {
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "RequestLimitExceeded",
            "TransactionConflictException",
            "TransactionInProgressException",
        ] {
            let err = classify("orders.get", service_error(code, 400));
            assert!(err.is_transient(), "{code}");
            assert_eq!(err.error_name(), "Transient");
        }
    }

    #[test]
    fn any_5xx_is_transient_whatever_the_code() {
        let err = classify("orders.get", service_error("SomethingNew", 503));
        assert!(err.is_transient());
        let chain = saga_core::ports::error_chain(&err);
        assert!(
            chain.starts_with("orders.get is temporarily unavailable: service error"),
            "{chain}"
        );
        assert!(
            chain.contains("SomethingNew"),
            "the cause chain names the code: {chain}"
        );
    }

    #[test]
    fn access_denied_missing_table_and_validation_are_permanent() {
        for code in [
            "AccessDeniedException",
            "ResourceNotFoundException",
            "ValidationException",
            "UnrecognizedClientException",
        ] {
            let err = classify("orders.get", service_error(code, 400));
            assert!(!err.is_transient(), "{code}");
            assert_eq!(err.error_name(), "InternalError");
            let StoreError::Permanent { operation, source } = &err else {
                panic!("{code} should be permanent");
            };
            assert_eq!(*operation, "orders.get");
            // The SDK error is the source, not a string.
            let sdk = source
                .downcast_ref::<SdkError<GetItemError, HttpResponse>>()
                .expect("the SDK error is kept as the source");
            assert_eq!(sdk.code(), Some(code));
        }
    }

    #[test]
    fn timeouts_and_io_are_transient_user_errors_are_not() {
        let timeout: SdkError<GetItemError, HttpResponse> =
            SdkError::timeout_error("operation timed out");
        assert!(classify("orders.get", timeout).is_transient());
        let io: SdkError<GetItemError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io("connection reset".into()));
        assert!(classify("orders.get", io).is_transient());
        let conn_timeout: SdkError<GetItemError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::timeout("connect timeout".into()));
        assert!(classify("orders.get", conn_timeout).is_transient());
        let user: SdkError<GetItemError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::user("invalid endpoint".into()));
        assert!(!classify("orders.get", user).is_transient());
        let construction: SdkError<GetItemError, HttpResponse> =
            SdkError::construction_failure("missing key");
        assert!(!classify("orders.get", construction).is_transient());
        let garbled: SdkError<GetItemError, HttpResponse> =
            SdkError::response_error("unparseable body", response(502));
        assert!(classify("orders.get", garbled).is_transient());
    }

    #[test]
    fn modeled_errors_expose_their_codes() {
        let ccf = TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .meta(
                    ErrorMetadata::builder()
                        .code("TransactionCanceledException")
                        .build(),
                )
                .build(),
        );
        let err = SdkError::service_error(ccf, response(400));
        assert_eq!(err.code(), Some("TransactionCanceledException"));
        // A cancelled transaction is a business outcome the adapter decodes,
        // not something to retry blindly.
        assert!(!is_transient(&err));

        let ccf = GetItemError::generic(
            ErrorMetadata::builder()
                .code("ConditionalCheckFailedException")
                .build(),
        );
        assert!(!is_transient(&SdkError::service_error(ccf, response(400))));
    }
}
