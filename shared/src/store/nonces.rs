//! The nonces of recent pushes, kept in the tickets table (`record = nonce#<nonce>`), so that a
//! push replayed within the timestamp window is told apart from WeChat's retry of it.
//!
//! WeChat retries a push that was not answered `success` by sending the same request again (the
//! simulator does; the signed `timestamp` is reused): the same nonce with the same `msg_signature`
//! on the same URL is a retry, and is processed again (every step is idempotent). The same nonce
//! with another `msg_signature` (another body or timestamp) or on another URL is refused. An item
//! lives until `purge_at` (the table's TTL attribute), set past the last moment the push's
//! timestamp is accepted; one past `purge_at` that TTL has not deleted yet counts as absent.

use std::future::Future;

use aws_sdk_dynamodb::types::ReturnValue;

use super::attr::{get, n, s};
use super::expr::Condition;
use super::tickets::{DynamoTicketStore, SK};
use super::StoreError;

/// One push's nonce as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushNonce<'a> {
    pub component_appid: &'a str,
    pub nonce: &'a str,
    pub msg_signature: &'a str,
    /// The path the push was posted to (its `{appid}` is not covered by the signature).
    pub url: &'a str,
    /// Our clock.
    pub now: i64,
    /// When the item may go: once the push's timestamp has left the window. A retry writes the
    /// same item again, unchanged.
    pub purge_at: i64,
}

impl PushNonce<'_> {
    pub fn record_key(&self) -> String {
        format!("nonce#{}", self.nonce)
    }
}

/// What the nonce says about a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceOutcome {
    /// Not seen within the window.
    First,
    /// Seen with the same msg_signature on the same URL: WeChat's retry (or a replay of the very
    /// same request, which changes nothing either).
    Retry,
    /// Seen with another msg_signature or on another URL: refused.
    Reused,
}

pub trait NonceStore {
    /// Records the nonce unless a live record of it belongs to another push.
    fn claim_nonce(
        &self,
        nonce: &PushNonce<'_>,
    ) -> impl Future<Output = Result<NonceOutcome, StoreError>> + Send;
}

impl NonceStore for DynamoTicketStore {
    async fn claim_nonce(&self, nonce: &PushNonce<'_>) -> Result<NonceOutcome, StoreError> {
        let mut item = Self::key(nonce.component_appid, &nonce.record_key());
        item.extend([
            ("msg_signature".to_owned(), s(nonce.msg_signature)),
            ("push_url".to_owned(), s(nonce.url)),
            ("purge_at".to_owned(), n(nonce.purge_at)),
        ]);
        let condition = Condition::new(format!(
            "attribute_not_exists(#{SK}) OR #purge_at < :now \
             OR (#msg_signature = :sig AND #push_url = :url)"
        ))
        .value(":now", n(nonce.now))
        .value(":sig", s(nonce.msg_signature))
        .value(":url", s(nonce.url))
        .returning(ReturnValue::AllOld);
        let Some(old) = self.table().put(item, &condition).await? else {
            return Ok(NonceOutcome::Reused);
        };
        let live_before = get::<Option<i64>>(&old, "purge_at")?.is_some_and(|t| t >= nonce.now);
        Ok(if live_before {
            NonceOutcome::Retry
        } else {
            NonceOutcome::First
        })
    }
}
