//! The AWS JSON 1.0 protocol as Step Functions speaks it: `POST /` with
//! `X-Amz-Target: AWSStepFunctions.<Action>`, JSON bodies in and out, and
//! errors as `{"__type": "<Code>", "message": "…"}` with HTTP 400 (client
//! errors) or 500 (`InternalFailure`), the statuses of the API Reference.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The content type of every request and answer.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// The `X-Amz-Target` prefix of every action.
pub const TARGET_PREFIX: &str = "AWSStepFunctions.";

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The `__type`: `StateMachineDoesNotExist`, `InvalidToken`, …
    pub code: &'static str,
    pub message: String,
    pub status: StatusCode,
}

impl ApiError {
    /// A client error (HTTP 400), as every named error of the API is.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }

    /// `InternalFailure` (HTTP 500): saga-local itself failed (the database).
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            code: "InternalFailure",
            message: message.into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    pub fn invalid_arn(arn: &str) -> Self {
        Self::new("InvalidArn", format!("Invalid Arn: '{arn}'"))
    }

    pub fn invalid_token(message: impl Into<String>) -> Self {
        Self::new("InvalidToken", message)
    }
}

impl From<saga_core::ports::StoreError> for ApiError {
    fn from(e: saga_core::ports::StoreError) -> Self {
        tracing::error!(error = %saga_core::ports::error_chain(&e), "Step Functions API: the database failed");
        Self::internal("saga-local's database failed; see its log")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"__type": self.code, "message": self.message});
        json_response(self.status, &body)
    }
}

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    r
}

/// A request body: a JSON object, read member by member.
#[derive(Debug)]
pub struct Request(Map<String, Value>);

impl Request {
    /// The body of a request; an empty body is `{}`.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Map::new()));
        }
        match serde_json::from_slice(body) {
            Ok(Value::Object(m)) => Ok(Self(m)),
            Ok(_) => Err(ApiError::new(
                "SerializationException",
                "the request body is not a JSON object",
            )),
            Err(e) => Err(ApiError::new(
                "SerializationException",
                format!("the request body is not valid JSON: {e}"),
            )),
        }
    }

    /// An optional string member (a wrong type is a `ValidationException`).
    pub fn opt_str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::new(
                "SerializationException",
                format!("'{name}' must be a string"),
            )),
        }
    }

    /// A required string member, as AWS words a missing one.
    pub fn str(&self, name: &str) -> Result<&str, ApiError> {
        self.opt_str(name)?.ok_or_else(|| {
            ApiError::validation(format!(
                "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
            ))
        })
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::new(
                "SerializationException",
                format!("'{name}' must be a boolean"),
            )),
        }
    }

    /// An optional object member (`mock`, `stateConfiguration`).
    pub fn object(&self, name: &str) -> Result<Option<&Map<String, Value>>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(ApiError::new(
                "SerializationException",
                format!("'{name}' must be an object"),
            )),
        }
    }

    /// A nested object, read member by member like a request.
    pub fn from_map(m: Map<String, Value>) -> Self {
        Self(m)
    }

    /// `maxResults`: 0 (or absent) means the default, at most 1000.
    pub fn max_results(&self, default: usize) -> Result<usize, ApiError> {
        match self.0.get("maxResults") {
            None | Some(Value::Null) => Ok(default),
            Some(v) => match v.as_u64() {
                Some(0) => Ok(default),
                Some(n @ 1..=1000) => Ok(usize::try_from(n).unwrap_or(default)),
                _ => Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{v}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000"
                ))),
            },
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|v| !v.is_null())
    }
}

/// A timestamp as the protocol sends it: epoch seconds, milliseconds as the
/// fraction.
pub fn epoch(t: DateTime<Utc>) -> Value {
    epoch_ms(t.timestamp_millis())
}

pub fn epoch_ms(ms: i64) -> Value {
    // Exact for every date of this millennium (well inside f64's 2^53).
    #[allow(clippy::cast_precision_loss)]
    let secs = ms as f64 / 1000.0;
    serde_json::Number::from_f64(secs).map_or(Value::Null, Value::Number)
}

/// A state machine or execution name: 1–80 characters, none of the ones
/// AWS forbids.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    const FORBIDDEN: &str = "<>{}[]?*\"#%\\^|~`$&,;:/";
    let n = name.chars().count();
    let bad = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || FORBIDDEN.contains(*c));
    if n == 0 || n > 80 {
        return Err(ApiError::new(
            "InvalidName",
            format!("Invalid Name: '{name}' (1 to 80 characters)"),
        ));
    }
    if let Some(c) = bad {
        return Err(ApiError::new(
            "InvalidName",
            format!("Invalid Name: '{name}' (it contains {c:?})"),
        ));
    }
    Ok(())
}

/// The opaque `nextToken` of a page that continues after `key`.
pub fn page_token(kind: &str, key: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{key}"))
}

/// The key a `nextToken` of `kind` continues after; `InvalidToken` when it
/// is not one of ours.
pub fn page_key(kind: &str, token: &str) -> Result<String, ApiError> {
    use base64::Engine as _;
    let bad = || ApiError::invalid_token(format!("Invalid Token: '{token}'"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    text.strip_prefix(kind)
        .and_then(|r| r.strip_prefix(':'))
        .map(str::to_owned)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_foreign_ones_are_invalid() {
        let t = page_token("executions", "1700000000000:order-1");
        assert_eq!(page_key("executions", &t).unwrap(), "1700000000000:order-1");
        assert_eq!(page_key("history", &t).unwrap_err().code, "InvalidToken");
        assert_eq!(page_key("history", "%%%").unwrap_err().code, "InvalidToken");
    }

    #[test]
    fn names_follow_aws_rules() {
        assert!(check_name("order-1_a.b").is_ok());
        for bad in ["", "a b", "a:b", "a#b", &"x".repeat(81)] {
            assert_eq!(check_name(bad).unwrap_err().code, "InvalidName", "{bad:?}");
        }
    }

    #[test]
    fn epoch_has_millisecond_fractions() {
        assert_eq!(
            epoch_ms(1_700_000_000_123),
            serde_json::json!(1_700_000_000.123)
        );
    }

    #[test]
    fn required_members_are_validation_errors() {
        let r = Request::parse(br#"{"a": "x", "b": 1}"#).unwrap();
        assert_eq!(r.str("a").unwrap(), "x");
        assert_eq!(r.str("missing").unwrap_err().code, "ValidationException");
        assert_eq!(r.str("b").unwrap_err().code, "SerializationException");
        assert_eq!(
            Request::parse(b"[1]").unwrap_err().code,
            "SerializationException"
        );
    }
}
