//! Terraform `templatefile` placeholders (`${name}`) filled with local
//! stand-ins before a definition is parsed.
//!
//! Defaults (override any name with `--var name=value`):
//!
//! | placeholder | local value |
//! |---|---|
//! | `<name>_function_arn` | `arn:aws:lambda:us-east-1:000000000000:function:<name>` (underscores become dashes) |
//! | `<name>_topic_arn` | `arn:aws:sns:us-east-1:000000000000:<name>` (underscores become dashes) |
//! | `<name>_seconds` | `86400` (one day) |
//! | `partition` | `aws` (the partition of `arn:${partition}:states:::lambda:invoke`) |
//!
//! Any other placeholder is an error naming it. `$${` is Terraform's escape
//! for a literal `${`.

use std::collections::BTreeMap;

/// Region in local ARNs.
pub const LOCAL_REGION: &str = "us-east-1";
/// Account in local ARNs.
pub const LOCAL_ACCOUNT: &str = "000000000000";
/// Default for `*_seconds` placeholders.
pub const DEFAULT_SECONDS: &str = "86400";
/// The AWS partition of local ARNs (`${partition}`; Terraform passes
/// `data.aws_partition`'s, so the ASL also deploys to aws-cn and aws-us-gov).
pub const LOCAL_PARTITION: &str = "aws";

/// Why a template could not be filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderError {
    /// Placeholders with no default and no `--var`.
    #[error("no value for placeholder(s) {}: pass --var NAME=VALUE", .0.join(", "))]
    Unknown(Vec<String>),
    /// `${` not followed by `name}`.
    #[error("unsupported template expression at byte {0}: only ${{name}} placeholders are filled")]
    Unsupported(usize),
    /// A `--var` argument without `=`.
    #[error("--var {0:?} must look like NAME=VALUE")]
    BadVar(String),
}

/// Parse `NAME=VALUE` pairs.
pub fn parse_vars(vars: &[String]) -> Result<BTreeMap<String, String>, PlaceholderError> {
    vars.iter()
        .map(|v| match v.split_once('=') {
            Some((k, val)) if !k.is_empty() => Ok((k.to_owned(), val.to_owned())),
            _ => Err(PlaceholderError::BadVar(v.clone())),
        })
        .collect()
}

/// The local stand-in for a placeholder, if it has one.
pub fn default_value(name: &str) -> Option<String> {
    if let Some(base) = name.strip_suffix("_function_arn") {
        return Some(format!(
            "arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{}",
            base.replace('_', "-")
        ));
    }
    if let Some(base) = name.strip_suffix("_topic_arn") {
        return Some(format!(
            "arn:aws:sns:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{}",
            base.replace('_', "-")
        ));
    }
    if name.ends_with("_seconds") {
        return Some(DEFAULT_SECONDS.to_owned());
    }
    if name == "partition" {
        return Some(LOCAL_PARTITION.to_owned());
    }
    None
}

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// Fill every `${name}` in `text`: `overrides` first, then the defaults.
pub fn fill(text: &str, overrides: &BTreeMap<String, String>) -> Result<String, PlaceholderError> {
    let mut out = String::with_capacity(text.len());
    let mut unknown: Vec<String> = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(i) = rest.find("${") {
        let (before, after) = rest.split_at(i);
        if before.ends_with('$') {
            // `$${` is a literal `${`.
            out.push_str(before.get(..before.len() - 1).unwrap_or_default());
            out.push_str("${");
            rest = after.get(2..).unwrap_or_default();
            offset += i + 2;
            continue;
        }
        out.push_str(before);
        let body = after.get(2..).unwrap_or_default();
        let Some(end) = body.find('}') else {
            return Err(PlaceholderError::Unsupported(offset + i));
        };
        let name = body.get(..end).unwrap_or_default().trim();
        if !is_ident(name) {
            return Err(PlaceholderError::Unsupported(offset + i));
        }
        match overrides.get(name).cloned().or_else(|| default_value(name)) {
            Some(v) => out.push_str(&v),
            None => {
                if !unknown.iter().any(|u| u == name) {
                    unknown.push(name.to_owned());
                }
            }
        }
        let consumed = 2 + end + 1;
        rest = after.get(consumed..).unwrap_or_default();
        offset += i + consumed;
    }
    out.push_str(rest);
    if unknown.is_empty() {
        Ok(out)
    } else {
        Err(PlaceholderError::Unknown(unknown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_defaults_and_overrides() {
        let vars = parse_vars(&["alerts_topic_arn=arn:custom".to_owned()]).unwrap();
        let text = r#"{"a": "${request_approval_function_arn}", "b": "${alerts_topic_arn}", "c": "${notifications_topic_arn}", "d": "${approval_timeout_seconds}", "e": "$${literal}", "f": "arn:${partition}:states:::lambda:invoke"}"#;
        let out = fill(text, &vars).unwrap();
        assert_eq!(
            out,
            r#"{"a": "arn:aws:lambda:us-east-1:000000000000:function:request-approval", "b": "arn:custom", "c": "arn:aws:sns:us-east-1:000000000000:notifications", "d": "86400", "e": "${literal}", "f": "arn:aws:states:::lambda:invoke"}"#
        );
    }

    #[test]
    fn unknown_placeholders_are_named() {
        let err = fill("${table_name} ${x} ${x}", &BTreeMap::new()).unwrap_err();
        assert_eq!(
            err,
            PlaceholderError::Unknown(vec!["table_name".into(), "x".into()])
        );
        assert!(err.to_string().contains("table_name"));
    }

    #[test]
    fn expressions_are_not_supported() {
        assert!(matches!(
            fill("${var.x}", &BTreeMap::new()),
            Err(PlaceholderError::Unsupported(0))
        ));
        assert!(fill("${unterminated", &BTreeMap::new()).is_err());
    }
}
