//! The `state` that ties an owner's callback to an authorization link this platform issued.
//!
//! `/auth/callback` is public: without this, anyone could make it spend an `api_query_auth` and
//! write a claim item with any `auth_code`. `/auth/start` adds `state` to the `redirect_uri` it
//! gives WeChat (which appends `auth_code` and `expires_in` to it); the callback accepts a code only
//! with a state that is signed by this platform and not expired. Issuing a state writes nothing (it
//! is an HMAC-SHA256 over its expiry and a nonce).
//!
//! The key is derived from the component's appsecret (HMAC with a label of its own), so there is
//! no second secret to provision; rotating the appsecret invalidates links not yet used, which only
//! sends those owners back to /auth/start.
//!
//! A state is good for one authorization code (the callback binds it to the first code it comes
//! with, `AuthStateStore`), so a script fetching /auth/start cannot spend more than one
//! api_query_auth per (throttled) start page.
//!
//! This relies on WeChat keeping the `redirect_uri`'s own query when it appends `auth_code` (it
//! does for a URL-encoded `redirect_uri`: "Authorization_Process_Technical_Description", and
//! WxJava's note that an unencoded multi-parameter URI loses parameters). Check it once on a test
//! account before going live; the callback's refusal page says how to tell.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// How long after its link expires a state is still accepted: WeChat redirects the owner at once
/// after the confirmation, so this covers only the clocks of two Lambdas and a slow page.
pub const STATE_GRACE_SECS: i64 = 120;
/// No link lives longer than this, whatever WeChat says of the pre_auth_code (1800 s today).
pub const MAX_STATE_LIFETIME_SECS: i64 = 3600;

const VERSION: &str = "s1";
const LABEL: &[u8] = b"wechat-component/auth-callback-state/v1";

/// Why a callback's `state` is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateRefusal {
    #[error("state is missing")]
    Missing,
    #[error("state is not one this platform issued")]
    Forged,
    #[error("state has expired")]
    Expired,
}

/// A state that verified: its nonce names it (one code per state, [`crate::store::AuthStateStore`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedState {
    pub nonce: String,
    pub expires_at: i64,
}

impl VerifiedState {
    /// When the record binding it to a code may go: once the state could no longer verify.
    pub fn purge_at(&self) -> i64 {
        self.expires_at.saturating_add(STATE_GRACE_SECS + 60)
    }
}

/// Issues and checks states.
#[derive(Clone)]
pub struct StateSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for StateSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateSigner")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl StateSigner {
    /// The signer of a component: its key is HMAC(appsecret, label ‖ component appid).
    pub fn new(component_appid: &str, appsecret: &SecretString) -> Self {
        let mut mac = HmacSha256::new_from_slice(appsecret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(LABEL);
        mac.update(component_appid.as_bytes());
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn tag(&self, payload: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("32-byte key");
        mac.update(payload.as_bytes());
        mac
    }

    /// A state valid until `expires_at` (unix seconds, capped at `now` +
    /// [`MAX_STATE_LIFETIME_SECS`]): `s1.<expires_at>.<nonce>.<tag>`, URL-safe.
    pub fn issue(&self, now: i64, expires_at: i64) -> String {
        let expires_at = expires_at.min(now + MAX_STATE_LIFETIME_SECS);
        let nonce: [u8; 12] = rand::random();
        let payload = format!("{VERSION}.{expires_at}.{}", URL_SAFE_NO_PAD.encode(nonce));
        let tag = URL_SAFE_NO_PAD.encode(self.tag(&payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// Accepts a state this signer issued whose link has not expired (plus
    /// [`STATE_GRACE_SECS`]). The tag is compared in constant time.
    pub fn verify(&self, state: Option<&str>, now: i64) -> Result<VerifiedState, StateRefusal> {
        let state = state
            .filter(|s| !s.is_empty())
            .ok_or(StateRefusal::Missing)?;
        if state.len() > 128 {
            return Err(StateRefusal::Forged);
        }
        let (payload, tag) = state.rsplit_once('.').ok_or(StateRefusal::Forged)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| StateRefusal::Forged)?;
        self.tag(payload)
            .verify_slice(&tag)
            .map_err(|_| StateRefusal::Forged)?;
        let mut parts = payload.split('.');
        let (expires_at, nonce) = match (parts.next(), parts.next(), parts.next()) {
            (Some(VERSION), Some(expires_at), Some(nonce)) => {
                expires_at.parse::<i64>().ok().map(|e| (e, nonce))
            }
            _ => None,
        }
        .ok_or(StateRefusal::Forged)?;
        if now > expires_at.saturating_add(STATE_GRACE_SECS) {
            return Err(StateRefusal::Expired);
        }
        Ok(VerifiedState {
            nonce: nonce.to_owned(),
            expires_at,
        })
    }
}

/// True when `code` looks like an authorization code: WeChat's are `queryauthcode@@@` and
/// URL-safe characters ("授权流程技术说明" (Authorization_Process_Technical_Description) example); anything with spaces, quotes, control characters
/// or of an unlikely length is refused before it costs a claim item or a WeChat call.
pub fn is_plausible_auth_code(code: &str) -> bool {
    (16..=512).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@-_=+/.*".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(secret: &str) -> StateSigner {
        StateSigner::new("wxcomponent0000001", &SecretString::from(secret))
    }

    #[test]
    fn a_state_is_accepted_until_its_link_expires() {
        let s = signer("secret");
        let state = s.issue(1_000, 2_800);
        assert!(state.len() < 128, "{state}");
        assert!(state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        let verified = s.verify(Some(&state), 1_000).unwrap();
        assert_eq!(verified.expires_at, 2_800);
        assert_eq!(verified.nonce.len(), 16);
        assert!(s.verify(Some(&state), 2_800 + STATE_GRACE_SECS).is_ok());
        assert_eq!(
            s.verify(Some(&state), 2_801 + STATE_GRACE_SECS),
            Err(StateRefusal::Expired)
        );
        // Two links never share a state.
        assert_ne!(state, s.issue(1_000, 2_800));
    }

    #[test]
    fn the_lifetime_is_capped() {
        let s = signer("secret");
        let state = s.issue(0, i64::MAX);
        assert_eq!(
            s.verify(Some(&state), MAX_STATE_LIFETIME_SECS + STATE_GRACE_SECS + 1),
            Err(StateRefusal::Expired)
        );
    }

    #[test]
    fn forged_tampered_and_missing_states_are_refused() {
        let s = signer("secret");
        let state = s.issue(1_000, 2_800);
        assert_eq!(s.verify(None, 1_000), Err(StateRefusal::Missing));
        assert_eq!(s.verify(Some(""), 1_000), Err(StateRefusal::Missing));
        // Another platform's (another secret's) state.
        let other = signer("other").issue(1_000, 2_800);
        assert_eq!(s.verify(Some(&other), 1_000), Err(StateRefusal::Forged));
        // A later expiry under the same tag.
        let extended = state.replacen(".2800.", ".9999999999.", 1);
        assert_ne!(extended, state);
        assert_eq!(s.verify(Some(&extended), 1_000), Err(StateRefusal::Forged));
        for bad in [
            "x",
            "s1.2800.nonce",
            "s1.2800.nonce.!!!",
            "s2.2800.AAAA.AAAA",
            &"a".repeat(200),
        ] {
            assert_eq!(
                s.verify(Some(bad), 1_000),
                Err(StateRefusal::Forged),
                "{bad}"
            );
        }
    }

    #[test]
    fn auth_codes_must_look_like_wechats() {
        assert!(is_plausible_auth_code(
            "queryauthcode@@@Ab3dEf6hIj9lMn2pQr5tUv8xYz1bCd4fGh7jKl0n"
        ));
        for bad in [
            "",
            "short",
            "queryauthcode@@@ has spaces",
            "queryauthcode@@@<script>",
            &"a".repeat(513),
        ] {
            assert!(!is_plausible_auth_code(bad), "{bad}");
        }
    }
}
