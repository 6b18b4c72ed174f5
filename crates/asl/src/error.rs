//! Error names, definition problems and runtime failures.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An error name as used in `ErrorEquals`, `Fail.Error` and task failures.
///
/// The predefined `States.*` names are variants; anything else is
/// [`ErrorName::Custom`]. Parsing is explicit ([`FromStr`] rejects unknown
/// `States.*` names, [`ErrorName::new`] accepts them as custom names), and
/// serde goes through [`ErrorName::as_str`], so `States.ALL` round-trips.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorName {
    /// `States.ALL`: wildcard matching every error except `States.Runtime`
    /// and `States.DataLimitExceeded`.
    All,
    /// `States.HeartbeatTimeout`.
    HeartbeatTimeout,
    /// `States.Timeout`.
    Timeout,
    /// `States.TaskFailed`: wildcard matching every error except
    /// `States.Timeout` (and the never-catchable ones).
    TaskFailed,
    /// `States.Permissions`.
    Permissions,
    /// `States.ResultPathMatchFailure`.
    ResultPathMatchFailure,
    /// `States.ParameterPathFailure`.
    ParameterPathFailure,
    /// `States.BranchFailed`.
    BranchFailed,
    /// `States.NoChoiceMatched`.
    NoChoiceMatched,
    /// `States.IntrinsicFailure`.
    IntrinsicFailure,
    /// `States.ExceedToleratedFailureThreshold`.
    ExceedToleratedFailureThreshold,
    /// `States.ItemReaderFailed`.
    ItemReaderFailed,
    /// `States.ResultWriterFailed`.
    ResultWriterFailed,
    /// `States.Runtime`: never retried, never caught; fails the execution.
    Runtime,
    /// `States.DataLimitExceeded`: never caught by `States.ALL`.
    DataLimitExceeded,
    /// `States.QueryEvaluationError`.
    QueryEvaluationError,
    /// Any other name (for example a Lambda `errorType`).
    Custom(String),
}

const PREDEFINED: &[(&str, ErrorName)] = &[
    ("States.ALL", ErrorName::All),
    ("States.HeartbeatTimeout", ErrorName::HeartbeatTimeout),
    ("States.Timeout", ErrorName::Timeout),
    ("States.TaskFailed", ErrorName::TaskFailed),
    ("States.Permissions", ErrorName::Permissions),
    (
        "States.ResultPathMatchFailure",
        ErrorName::ResultPathMatchFailure,
    ),
    (
        "States.ParameterPathFailure",
        ErrorName::ParameterPathFailure,
    ),
    ("States.BranchFailed", ErrorName::BranchFailed),
    ("States.NoChoiceMatched", ErrorName::NoChoiceMatched),
    ("States.IntrinsicFailure", ErrorName::IntrinsicFailure),
    (
        "States.ExceedToleratedFailureThreshold",
        ErrorName::ExceedToleratedFailureThreshold,
    ),
    ("States.ItemReaderFailed", ErrorName::ItemReaderFailed),
    ("States.ResultWriterFailed", ErrorName::ResultWriterFailed),
    ("States.Runtime", ErrorName::Runtime),
    ("States.DataLimitExceeded", ErrorName::DataLimitExceeded),
    (
        "States.QueryEvaluationError",
        ErrorName::QueryEvaluationError,
    ),
];

/// Returned by [`ErrorName::from_str`] for a `States.` name that the
/// language does not define (or an empty name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error name {0:?}: names starting with \"States.\" are reserved")]
pub struct UnknownErrorName(pub String);

impl ErrorName {
    /// Lenient constructor: predefined names map to their variant, anything
    /// else (including unknown `States.*` names) becomes `Custom`.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        match PREDEFINED.iter().find(|(s, _)| *s == name) {
            Some((_, v)) => v.clone(),
            None => ErrorName::Custom(name),
        }
    }

    /// The name as written in a definition.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorName::Custom(s) => s,
            other => PREDEFINED
                .iter()
                .find(|(_, v)| v == other)
                .map_or("States.Runtime", |(s, _)| s),
        }
    }

    /// `States.Runtime` errors are neither retried nor caught.
    pub fn is_uncatchable(&self) -> bool {
        matches!(self, ErrorName::Runtime)
    }

    /// Whether an `ErrorEquals` entry `pattern` matches this error.
    pub fn is_matched_by(&self, pattern: &ErrorName) -> bool {
        if self.is_uncatchable() {
            return false;
        }
        match pattern {
            ErrorName::All => !matches!(self, ErrorName::DataLimitExceeded),
            ErrorName::TaskFailed => {
                !matches!(self, ErrorName::Timeout | ErrorName::DataLimitExceeded)
            }
            p => p == self,
        }
    }
}

impl FromStr for ErrorName {
    type Err = UnknownErrorName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(UnknownErrorName(s.to_owned()));
        }
        match ErrorName::new(s) {
            ErrorName::Custom(c) if c.starts_with("States.") => Err(UnknownErrorName(c)),
            v => Ok(v),
        }
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
        Ok(ErrorName::new(s))
    }
}

/// One problem found while validating a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// JSON pointer (RFC 6901) into the definition, e.g. `/States/Pay/Next`.
    pub pointer: String,
    /// What is wrong, in one sentence.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{p}: {}", self.message)
    }
}

/// A runtime failure: an error name and an optional cause, as AWS reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The error name.
    pub error: ErrorName,
    /// Human-readable cause (for Lambda errors, a JSON document).
    pub cause: Option<String>,
}

impl Failure {
    pub(crate) fn new(error: ErrorName, cause: impl Into<String>) -> Self {
        Failure {
            error,
            cause: Some(cause.into()),
        }
    }

    pub(crate) fn runtime(cause: impl Into<String>) -> Self {
        Failure::new(ErrorName::Runtime, cause)
    }
}

/// Escape one reference token of a JSON pointer.
pub(crate) fn pointer_token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_names_round_trip() {
        for (s, v) in PREDEFINED {
            assert_eq!(v.as_str(), *s);
            assert_eq!(s.parse::<ErrorName>().ok().as_ref(), Some(v));
        }
    }

    #[test]
    fn unknown_states_name_is_rejected_by_from_str() {
        assert!("States.Nope".parse::<ErrorName>().is_err());
        assert_eq!(
            ErrorName::new("States.Nope"),
            ErrorName::Custom("States.Nope".into())
        );
    }

    #[test]
    fn wildcards_follow_aws_rules() {
        let custom = ErrorName::new("PaymentDeclined");
        assert!(custom.is_matched_by(&ErrorName::All));
        assert!(custom.is_matched_by(&ErrorName::TaskFailed));
        assert!(!ErrorName::Timeout.is_matched_by(&ErrorName::TaskFailed));
        assert!(ErrorName::Timeout.is_matched_by(&ErrorName::All));
        assert!(!ErrorName::Runtime.is_matched_by(&ErrorName::All));
        assert!(!ErrorName::Runtime.is_matched_by(&ErrorName::Runtime));
    }

    #[test]
    fn serde_uses_the_written_name() {
        let v = serde_json::to_value(ErrorName::All).ok();
        assert_eq!(v, Some(serde_json::json!("States.ALL")));
    }
}
