//! Admin authentication: `Authorization: Bearer <token>` against SHA-256 hashes of valid tokens,
//! each with a label (several, for rotation). Compared in constant time; the token is never logged.
//!
//! Tokens must carry at least 128 bits of randomness. Only hashes are configured, so that cannot
//! be checked at start-up; what can be checked is the token presented: one that could not hold
//! 128 bits (shorter than 22 base64url characters, or than 32 digits if it is hex, or not an
//! RFC 6750 `b64token`) is refused before any hash is compared. `generate` (the `admin-token`
//! command) makes tokens of 256 bits from the OS's random number generator.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::TryRngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 128 bits as base64 (6 bits a character): 22 characters.
pub const MIN_TOKEN_CHARS: usize = 22;
/// 128 bits as hex (4 bits a digit): 32 digits.
pub const MIN_HEX_TOKEN_CHARS: usize = 32;
/// Longer tokens are refused unhashed (no one needs more; the header is attacker-sized).
pub const MAX_TOKEN_CHARS: usize = 512;
/// Bytes of randomness in a generated token (256 bits).
const GENERATED_TOKEN_BYTES: usize = 32;

/// Why a presented token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// No `Authorization: Bearer <token>`.
    Missing,
    /// A token that cannot carry 128 bits: refused without comparing.
    TooWeak,
    /// A well-formed token that matches no configured hash.
    Unknown,
}

/// Whether `token` can hold 128 bits: an RFC 6750 `b64token` (letters, digits, `-._~+/`, then
/// `=` padding) of at least 22 characters, or 32 if every character is a hex digit.
pub fn can_hold_128_bits(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    let b64token = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    let min = if body.bytes().all(|b| b.is_ascii_hexdigit()) {
        MIN_HEX_TOKEN_CHARS
    } else {
        MIN_TOKEN_CHARS
    };
    b64token && body.len() >= min && token.len() <= MAX_TOKEN_CHARS
}

/// A new admin token (256 bits from the OS RNG, base64url) and its `ADMIN_TOKEN_HASHES` entry.
pub fn generate(label: &str) -> Result<(String, String), AdminTokensError> {
    if !valid_label(label) {
        return Err(AdminTokensError::Label);
    }
    let mut bytes = [0u8; GENERATED_TOKEN_BYTES];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| AdminTokensError::Random(e.to_string()))?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let entry = format!("{label}:{}", token_hash(&token));
    Ok((token, entry))
}

/// A label is a non-empty word: it sits between the separators of `ADMIN_TOKEN_HASHES`.
fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminTokensError {
    #[error("ADMIN_TOKEN_HASHES is empty: no admin could call the API")]
    Empty,
    #[error("ADMIN_TOKEN_HASHES entry {0}: expected label:sha256hex (64 hex digits)")]
    Malformed(usize),
    #[error("a label is letters, digits, '-', '_' or '.'")]
    Label,
    #[error("the OS random number generator failed: {0}")]
    Random(String),
}

/// The labelled hashes of the valid admin tokens.
#[derive(Clone)]
pub struct AdminTokens {
    hashes: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for AdminTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<&str> = self.hashes.iter().map(|(l, _)| l.as_str()).collect();
        f.debug_struct("AdminTokens")
            .field("labels", &labels)
            .finish()
    }
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The SHA-256 of a token, hex (what `ADMIN_TOKEN_HASHES` holds).
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl AdminTokens {
    /// `label:hash,label:hash` (commas or whitespace between entries).
    pub fn parse(spec: &str) -> Result<Self, AdminTokensError> {
        let mut hashes = Vec::new();
        for (i, entry) in spec
            .split([',', ' ', '\n'])
            .filter(|e| !e.trim().is_empty())
            .enumerate()
        {
            let (label, hash) = entry
                .trim()
                .split_once(':')
                .ok_or(AdminTokensError::Malformed(i + 1))?;
            let hash =
                hex32(&hash.to_ascii_lowercase()).ok_or(AdminTokensError::Malformed(i + 1))?;
            if !valid_label(label) {
                return Err(AdminTokensError::Malformed(i + 1));
            }
            hashes.push((label.to_owned(), hash));
        }
        if hashes.is_empty() {
            return Err(AdminTokensError::Empty);
        }
        Ok(Self { hashes })
    }

    /// The label of the token in an `Authorization` header value, if it is valid. A token that
    /// cannot hold 128 bits is refused first; otherwise every hash is compared, in constant time.
    pub fn verify(&self, authorization: Option<&str>) -> Result<String, TokenRefusal> {
        let token = authorization
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(TokenRefusal::Missing)?;
        if !can_hold_128_bits(token) {
            return Err(TokenRefusal::TooWeak);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (label, hash) in &self.hashes {
            if bool::from(hash.ct_eq(&digest)) {
                found = Some(label.clone());
            }
        }
        found.ok_or(TokenRefusal::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: &str = "ops-token-with-enough-randomness-0001";
    const CI: &str = "ci-token-with-enough-randomness-00002";

    #[test]
    fn verifies_bearer_tokens_by_hash_with_labels() {
        let spec = format!(
            "ops:{},ci:{}",
            token_hash(OPS),
            token_hash(CI).to_uppercase()
        );
        let tokens = AdminTokens::parse(&spec).unwrap();
        assert_eq!(
            tokens.verify(Some(&format!("Bearer {OPS}"))).as_deref(),
            Ok("ops")
        );
        assert_eq!(
            tokens.verify(Some(&format!("Bearer {CI}"))).as_deref(),
            Ok("ci")
        );
        for (bad, why) in [
            (None, TokenRefusal::Missing),
            (Some(String::new()), TokenRefusal::Missing),
            (Some("Bearer ".to_owned()), TokenRefusal::Missing),
            (Some(OPS.to_owned()), TokenRefusal::Missing),
            (Some(format!("Basic {OPS}")), TokenRefusal::Missing),
            (Some("Bearer wrong".to_owned()), TokenRefusal::TooWeak),
            (Some(format!("Bearer {OPS}x")), TokenRefusal::Unknown),
        ] {
            assert_eq!(tokens.verify(bad.as_deref()), Err(why), "{bad:?}");
        }
        assert!(!format!("{tokens:?}").contains(&token_hash(OPS)));
    }

    #[test]
    fn tokens_that_cannot_hold_128_bits_are_refused_unhashed() {
        let short = "a".repeat(MIN_TOKEN_CHARS - 1);
        let tokens = AdminTokens::parse(&format!("weak:{}", token_hash(&short))).unwrap();
        assert_eq!(
            tokens.verify(Some(&format!("Bearer {short}"))),
            Err(TokenRefusal::TooWeak),
            "configured, but too short"
        );
        for weak in [
            "demo-admin-token",
            "0123456789abcdef0123456789abcde",
            "with space inside the token 0123",
            "non-ascii-токен-0123456789abcdef",
            "====================================",
            &"A".repeat(MAX_TOKEN_CHARS + 1),
        ] {
            assert!(!can_hold_128_bits(weak), "{weak}");
        }
        for strong in [
            "0123456789abcdef0123456789abcdef",
            "AbCdEfGhIjKlMnOpQrStUv",
            "q8Zb1sKk2mB0v9yXcH4tR7wL+E3nUaJ6fG5dS1oQiTw=",
        ] {
            assert!(can_hold_128_bits(strong), "{strong}");
        }
    }

    #[test]
    fn generated_tokens_hold_256_bits_and_verify_against_their_entry() {
        let (token, entry) = generate("ops").unwrap();
        assert_eq!(token.len(), 43, "32 bytes as unpadded base64url");
        assert!(can_hold_128_bits(&token));
        assert_eq!(entry, format!("ops:{}", token_hash(&token)));
        let tokens = AdminTokens::parse(&entry).unwrap();
        assert_eq!(
            tokens.verify(Some(&format!("Bearer {token}"))).as_deref(),
            Ok("ops")
        );
        assert_ne!(generate("ops").unwrap().0, token);
        assert_eq!(generate("a:b").unwrap_err(), AdminTokensError::Label);
        assert_eq!(generate("").unwrap_err(), AdminTokensError::Label);
    }

    #[test]
    fn malformed_specs_are_refused() {
        assert_eq!(AdminTokens::parse("").unwrap_err(), AdminTokensError::Empty);
        assert_eq!(
            AdminTokens::parse("ops").unwrap_err(),
            AdminTokensError::Malformed(1)
        );
        assert_eq!(
            AdminTokens::parse("ops:abc").unwrap_err(),
            AdminTokensError::Malformed(1)
        );
        assert_eq!(
            AdminTokens::parse(&format!(":{}", token_hash("x"))).unwrap_err(),
            AdminTokensError::Malformed(1)
        );
    }
}
