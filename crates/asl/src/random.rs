//! Randomness: task tokens, UUIDs, jitter and seeded `MathRandom`.

use base64::Engine as _;

/// The operating system's random source failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the system random number generator failed: {0}")]
pub struct RandomError(String);

fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    getrandom::fill(buf).map_err(|e| RandomError(e.to_string()))
}

/// A uniformly random `u64`.
pub(crate) fn u64() -> Result<u64, RandomError> {
    let mut b = [0u8; 8];
    fill(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// A uniformly random float in `[0, 1)`.
pub(crate) fn unit() -> Result<f64, RandomError> {
    Ok((u64()? >> 11) as f64 / (1u64 << 53) as f64)
}

/// Deterministic value from a seed (splitmix64).
pub(crate) fn seeded(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// A version 4 UUID.
pub(crate) fn uuid_v4() -> Result<String, RandomError> {
    let mut b = [0u8; 16];
    fill(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        h.get(0..8).unwrap_or_default(),
        h.get(8..12).unwrap_or_default(),
        h.get(12..16).unwrap_or_default(),
        h.get(16..20).unwrap_or_default(),
        h.get(20..32).unwrap_or_default()
    ))
}

/// Length of a task token: 32 random bytes in unpadded URL-safe Base64.
pub(crate) const TOKEN_LEN: usize = 43;

/// A task token: 256 random bits, URL-safe Base64 without padding.
pub(crate) fn task_token() -> Result<String, RandomError> {
    let mut b = [0u8; 32];
    fill(&mut b)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// Whether `s` has the shape of a token this engine issues.
pub(crate) fn is_token_shaped(s: &str) -> bool {
    s.len() == TOKEN_LEN
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_url_safe_and_unique() {
        let a = task_token().unwrap_or_default();
        let b = task_token().unwrap_or_default();
        assert!(is_token_shaped(&a));
        assert_ne!(a, b);
    }

    #[test]
    fn uuid_has_version_4_shape() {
        let u = uuid_v4().unwrap_or_default();
        assert_eq!(u.len(), 36);
        assert_eq!(u.get(14..15), Some("4"));
    }
}
