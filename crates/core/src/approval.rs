//! Human approval of big orders.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::money::Money;
use crate::order::PricedLine;
use crate::{ApprovalId, CustomerId, OrderId, Timestamp};

/// How long the approver has by default: one day (the state machine's
/// `TimeoutSeconds` default, and `saga-local serve`'s).
pub const DEFAULT_APPROVAL_TIMEOUT_SECONDS: u64 = 86_400;

/// The longest approval wait accepted: one year, the most a Standard Step
/// Functions execution can last, so a longer wait could never end.
pub const MAX_APPROVAL_TIMEOUT_SECONDS: u64 = 365 * 86_400;

/// How long a decided or expired approval is kept after its expiry, so a late
/// click still gets a clear "expired" / "already decided" answer instead of
/// "unknown". The DynamoDB TTL attribute is `expiresAt` plus this.
pub const RETENTION_AFTER_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// A Step Functions task token. It resumes an execution, so it is a secret:
/// `Debug` and `Display` never show it, and it never appears in a URL, an
/// e-mail or a log line. Only the stores and the workflow adapter read it.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TaskToken(String);

impl<'de> Deserialize<'de> for TaskToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl TaskToken {
    pub fn new(token: impl Into<String>) -> Result<Self, crate::order::ValueError> {
        let token = token.into();
        if token.is_empty() || token.len() > 4096 {
            return Err(crate::order::ValueError {
                message: "task token must be 1 to 4096 characters".into(),
            });
        }
        Ok(Self(token))
    }

    /// The raw token, for the workflow adapter and stores only.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// A SHA-256 digest (hex) that identifies the token without revealing it.
    pub fn digest(&self) -> String {
        let hash = Sha256::digest(self.0.as_bytes());
        hash.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for TaskToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TaskToken(<redacted>)")
    }
}

impl fmt::Display for TaskToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted task token>")
    }
}

/// The decision a human makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "approve" => Some(Self::Approve),
            "reject" => Some(Self::Reject),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
        }
    }

    pub fn approved(&self) -> bool {
        matches!(self, Self::Approve)
    }

    pub fn status(&self) -> ApprovalStatus {
        match self {
            Self::Approve => ApprovalStatus::Approved,
            Self::Reject => ApprovalStatus::Rejected,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
}

impl ApprovalStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Approved => "APPROVED",
            Self::Rejected => "REJECTED",
            Self::Expired => "EXPIRED",
        }
    }
}

/// What the approver sees: enough to decide, nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalSummary {
    pub customer_id: CustomerId,
    pub lines: Vec<PricedLine>,
    pub total: Money,
}

/// An approval request, as stored in the approvals table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    pub approval_id: ApprovalId,
    pub order_id: OrderId,
    pub task_token: TaskToken,
    pub status: ApprovalStatus,
    pub summary: ApprovalSummary,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
    /// The decision reached the workflow (`SendTaskSuccess` answered).
    #[serde(default)]
    pub delivered: bool,
}

impl Approval {
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }

    /// When the stores may forget the record (DynamoDB TTL).
    pub fn forget_after(&self) -> Timestamp {
        self.expires_at.plus(RETENTION_AFTER_EXPIRY)
    }

    /// The decision recorded, if any.
    pub fn decision(&self) -> Option<Decision> {
        match self.status {
            ApprovalStatus::Approved => Some(Decision::Approve),
            ApprovalStatus::Rejected => Some(Decision::Reject),
            ApprovalStatus::Pending | ApprovalStatus::Expired => None,
        }
    }
}

/// The order's pointer to its current approval request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRef {
    pub approval_id: ApprovalId,
    /// [`TaskToken::digest`] of the token this approval resumes: a retried
    /// request with the same token reuses the approval instead of mailing again.
    pub token_digest: String,
    pub requested_at: Timestamp,
    pub expires_at: Timestamp,
    /// The approval e-mail was published.
    #[serde(default)]
    pub notified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub approved: bool,
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_token_never_shows_in_debug_or_display() {
        let token = TaskToken::new("AAAAKgAAAAIAAAAAAAAAAS3cr3t").unwrap();
        let rendered = format!("{token:?} {token} {:?}", Some(&token));
        assert!(!rendered.contains("S3cr3t"), "{rendered}");
        assert_eq!(token.digest().len(), 64);
        assert_ne!(token.digest(), TaskToken::new("other").unwrap().digest());
    }

    #[test]
    fn decisions_parse_from_the_form_values() {
        assert_eq!(Decision::parse("approve"), Some(Decision::Approve));
        assert_eq!(Decision::parse("reject"), Some(Decision::Reject));
        assert_eq!(Decision::parse("APPROVE"), None);
        assert_eq!(Decision::parse(""), None);
    }
}
