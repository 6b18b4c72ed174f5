//! Reading settings from the environment with typed errors (no `expect`).

use std::str::FromStr;

/// A setting is missing or unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable {0} is not set")]
    Missing(String),
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid { var: String, reason: String },
}

/// A required, non-empty variable.
pub fn required(var: &str) -> Result<String, EnvError> {
    required_from(var, |v| std::env::var(v).ok())
}

/// A variable parsed as `T`, or `default` when unset or empty.
pub fn parse_or<T: FromStr>(var: &str, default: T) -> Result<T, EnvError>
where
    T::Err: std::fmt::Display,
{
    parse_or_from(var, default, |v| std::env::var(v).ok())
}

/// [`required`] over any lookup (tests).
pub fn required_from(
    var: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, EnvError> {
    match lookup(var).map(|v| v.trim().to_owned()) {
        None => Err(EnvError::Missing(var.to_owned())),
        Some(v) if v.is_empty() => Err(EnvError::Invalid {
            var: var.to_owned(),
            reason: "is empty".into(),
        }),
        Some(v) => Ok(v),
    }
}

/// [`parse_or`] over any lookup (tests).
pub fn parse_or_from<T: FromStr>(
    var: &str,
    default: T,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<T, EnvError>
where
    T::Err: std::fmt::Display,
{
    match lookup(var).map(|v| v.trim().to_owned()) {
        None => Ok(default),
        Some(v) if v.is_empty() => Ok(default),
        Some(v) => v.parse().map_err(|e: T::Err| EnvError::Invalid {
            var: var.to_owned(),
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_and_parsed_settings_explain_what_is_wrong() {
        let lookup = |v: &str| match v {
            "SET" => Some("42".to_owned()),
            "EMPTY" => Some("  ".to_owned()),
            "BAD" => Some("forty".to_owned()),
            _ => None,
        };
        assert_eq!(required_from("SET", lookup).unwrap(), "42");
        assert_eq!(
            required_from("NOPE", lookup).unwrap_err().to_string(),
            "environment variable NOPE is not set"
        );
        assert!(required_from("EMPTY", lookup).is_err());
        assert_eq!(parse_or_from("SET", 7_i64, lookup).unwrap(), 42);
        assert_eq!(parse_or_from("NOPE", 7_i64, lookup).unwrap(), 7);
        assert_eq!(
            parse_or_from("BAD", 7_i64, lookup).unwrap_err().to_string(),
            "environment variable BAD is invalid: invalid digit found in string"
        );
    }
}
