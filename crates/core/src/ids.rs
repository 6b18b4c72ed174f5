//! Identifiers: parsed newtypes with private fields.

use base64::Engine as _;
use serde::Serialize;

use crate::Timestamp;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {reason}")]
pub struct IdError {
    what: &'static str,
    reason: &'static str,
}

/// Fill `buf` with cryptographically secure random bytes.
///
/// # Panics
/// Never in practice: the OS random source failing is unrecoverable for a
/// service that hands out capability links, so it aborts the request loudly.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if let Err(e) = getrandom::fill(&mut buf) {
        // There is no safe fallback for a capability id.
        panic!("operating system random source failed: {e}");
    }
    buf
}

/// The rule of customer ids and SKUs: 1 to 64 ASCII letters, digits and
/// `extra`. `Err` is the reason; `charset` says what is allowed.
pub(crate) fn short_name(s: &str, extra: &[u8], charset: &'static str) -> Result<(), &'static str> {
    if s.is_empty() || s.len() > 64 {
        return Err("must be 1 to 64 characters");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    {
        return Err(charset);
    }
    Ok(())
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// An order id: a ULID (26 characters of Crockford base32; 48 bits of
/// millisecond time then 80 random bits), so ids sort by creation time and are
/// valid Step Functions execution names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct OrderId(String);

impl OrderId {
    /// A new id for an order created at `now`.
    pub fn generate(now: Timestamp) -> Self {
        let millis = u128::from(u64::try_from(now.as_millis()).unwrap_or(0) & 0xFFFF_FFFF_FFFF);
        let random = random_bytes::<10>();
        let mut value = millis << 80;
        for (i, b) in random.iter().enumerate() {
            value |= u128::from(*b) << (8 * (9 - i));
        }
        let mut out = [0u8; 26];
        for (i, slot) in out.iter_mut().enumerate() {
            let shift = 5 * (25 - i);
            let idx = usize::try_from((value >> shift) & 0x1F).unwrap_or(0);
            *slot = CROCKFORD.get(idx).copied().unwrap_or(b'0');
        }
        Self(String::from_utf8_lossy(&out).into_owned())
    }

    pub fn parse(s: &str) -> Result<Self, IdError> {
        let err = |reason| IdError {
            what: "orderId",
            reason,
        };
        if s.len() != 26 {
            return Err(err("must be 26 characters (a ULID)"));
        }
        if !s.bytes().all(|b| CROCKFORD.contains(&b)) {
            return Err(err("must be upper-case Crockford base32 (a ULID)"));
        }
        if s.as_bytes().first().is_some_and(|b| *b > b'7') {
            return Err(err("is out of the ULID range"));
        }
        Ok(Self(s.to_owned()))
    }
}

/// A random, URL-safe approval id: 192 bits, base64url without padding (32
/// characters). It is the capability in the approval links, so it is never
/// derived from anything guessable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ApprovalId(String);

impl ApprovalId {
    pub fn generate() -> Self {
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<24>()))
    }

    /// A short SHA-256 prefix naming this id in logs. The id itself is the
    /// capability to decide the approval: it goes in links, never in logs.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        Sha256::digest(self.0.as_bytes())
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn parse(s: &str) -> Result<Self, IdError> {
        let err = |reason| IdError {
            what: "approvalId",
            reason,
        };
        if s.len() != 32 {
            return Err(err("must be 32 characters"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(err("must be base64url"));
        }
        Ok(Self(s.to_owned()))
    }
}

/// A customer id as the client sends it: 1–64 characters of `[A-Za-z0-9._:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CustomerId(String);

impl CustomerId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let err = |reason| IdError {
            what: "customerId",
            reason,
        };
        short_name(s, b"._:-", "may only contain letters, digits and . _ : -").map_err(err)?;
        Ok(Self(s.to_owned()))
    }
}

/// A client's `Idempotency-Key` header: 1–255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let err = |reason| IdError {
            what: "Idempotency-Key",
            reason,
        };
        if s.is_empty() || s.len() > 255 {
            return Err(err("must be 1 to 255 characters"));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(err("must be visible ASCII without spaces"));
        }
        Ok(Self(s.to_owned()))
    }
}

parsed_string_impls!(IdError: OrderId, ApprovalId, CustomerId, IdempotencyKey);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_parse_back_and_sort_by_creation_time() {
        let earlier = OrderId::generate(Timestamp::from_millis(1_767_225_600_000).unwrap());
        let later = OrderId::generate(Timestamp::from_millis(1_767_225_600_001).unwrap());
        assert_eq!(OrderId::parse(earlier.as_str()).unwrap(), earlier);
        assert!(earlier < later, "{earlier} should sort before {later}");
    }

    #[test]
    fn order_ids_are_random_within_one_millisecond() {
        let now = Timestamp::from_millis(1_767_225_600_000).unwrap();
        assert_ne!(OrderId::generate(now), OrderId::generate(now));
    }

    #[test]
    fn order_id_rejects_garbage_with_a_reason() {
        let err = OrderId::parse("not-an-id").unwrap_err();
        assert_eq!(err.to_string(), "orderId must be 26 characters (a ULID)");
        assert!(OrderId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAu").is_err());
        assert!(OrderId::parse("81ARZ3NDEKTSV4RRFFQ69G5FAV").is_err());
    }

    #[test]
    fn approval_ids_are_url_safe_and_unguessable() {
        let a = ApprovalId::generate();
        let b = ApprovalId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32); // 192 bits
        assert!(
            a.as_str()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(ApprovalId::parse(a.as_str()).unwrap(), a);
        assert!(ApprovalId::parse("../../etc/passwd").is_err());
    }

    #[test]
    fn customer_id_and_idempotency_key_limits() {
        assert!(CustomerId::parse("c-1").is_ok());
        assert!(CustomerId::parse("").is_err());
        assert!(CustomerId::parse("a b").is_err());
        assert!(IdempotencyKey::parse("key-1").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
    }
}
