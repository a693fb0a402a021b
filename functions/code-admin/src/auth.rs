//! Admin authentication: `Authorization: Bearer <token>` against SHA-256 hashes of valid tokens,
//! each with a label (several, for rotation). Compared in constant time; the token is never logged.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminTokensError {
    #[error("ADMIN_TOKEN_HASHES is empty: no admin could call the API")]
    Empty,
    #[error("ADMIN_TOKEN_HASHES entry {0}: expected label:sha256hex (64 hex digits)")]
    Malformed(usize),
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
            if label.is_empty() {
                return Err(AdminTokensError::Malformed(i + 1));
            }
            hashes.push((label.to_owned(), hash));
        }
        if hashes.is_empty() {
            return Err(AdminTokensError::Empty);
        }
        Ok(Self { hashes })
    }

    /// The label of the token in an `Authorization` header value, if it is valid. Every hash is
    /// compared, in constant time.
    pub fn verify(&self, authorization: Option<&str>) -> Option<String> {
        let token = authorization?.strip_prefix("Bearer ")?.trim();
        if token.is_empty() {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (label, hash) in &self.hashes {
            if bool::from(hash.ct_eq(&digest)) {
                found = Some(label.clone());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_bearer_tokens_by_hash_with_labels() {
        let spec = format!(
            "ops:{},ci:{}",
            token_hash("s3cret-ops"),
            token_hash("s3cret-ci").to_uppercase()
        );
        let tokens = AdminTokens::parse(&spec).unwrap();
        assert_eq!(
            tokens.verify(Some("Bearer s3cret-ops")).as_deref(),
            Some("ops")
        );
        assert_eq!(
            tokens.verify(Some("Bearer s3cret-ci")).as_deref(),
            Some("ci")
        );
        for bad in [
            None,
            Some(""),
            Some("Bearer "),
            Some("Bearer wrong"),
            Some("s3cret-ops"),
            Some("Basic s3cret-ops"),
        ] {
            assert_eq!(tokens.verify(bad), None, "{bad:?}");
        }
        assert!(!format!("{tokens:?}").contains(&token_hash("s3cret-ops")));
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
