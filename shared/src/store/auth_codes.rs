//! Claims on authorization codes, in the tickets table (`record = "auth_code#<sha1 of the code>"`).
//!
//! The same code reaches the platform twice: in the owner's callback and in the `authorized` push.
//! Whichever claims it first exchanges it; the other waits for, or finds, the result. A claim is a
//! conditional put with a lease, so a crashed exchanger does not block the code for ever.

use std::future::Future;

use sha1::{Digest, Sha1};

use super::attr::{get, get_or_default, n, s, Item};
use super::expr::{Condition, Update};
use super::lease::LeaseTerms;
use super::tickets::{DynamoTicketStore, SK};
use super::{lease, StoreError};

const CLAIM_RETENTION_SECS: i64 = 24 * 3600;

/// The record key of a code: its SHA-1, so the code itself is not kept.
pub fn claim_record(auth_code: &str) -> String {
    let digest = Sha1::digest(auth_code.as_bytes());
    format!(
        "auth_code#{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// `claim_state` of a claim item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimStatus {
    Exchanging,
    Done,
    Failed,
}

impl ClaimStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exchanging => "exchanging",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Exchanging, Self::Done, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimState {
    Exchanging { lease_until: i64 },
    Done { authorizer_appid: String },
    Failed { reason: String },
}

pub trait AuthCodeStore {
    /// Claims the code unless someone holds an unexpired claim or finished it.
    fn claim_auth_code(
        &self,
        component_appid: &str,
        auth_code: &str,
        terms: LeaseTerms<'_>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn auth_code_claim(
        &self,
        component_appid: &str,
        auth_code: &str,
    ) -> impl Future<Output = Result<Option<ClaimState>, StoreError>> + Send;

    /// Records the outcome (Done or Failed) of the owner's exchange.
    fn finish_auth_code(
        &self,
        component_appid: &str,
        auth_code: &str,
        owner: &str,
        outcome: &ClaimState,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Drops the owner's claim after a failure worth retrying.
    fn release_auth_code(
        &self,
        component_appid: &str,
        auth_code: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks an exchanged code's result as shown to the owner; false if it was shown before (a
    /// replayed callback URL), so that the authorizer's details are shown once.
    fn mark_auth_code_shown(
        &self,
        component_appid: &str,
        auth_code: &str,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

impl TryFrom<&Item> for ClaimState {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        // No claim_state, or one unknown to this version, reads as an exchange (as it always has).
        let state: Option<String> = get(item, "claim_state")?;
        Ok(match state.as_deref().and_then(ClaimStatus::parse) {
            Some(ClaimStatus::Done) => Self::Done {
                authorizer_appid: get_or_default(item, "authorizer_appid")?,
            },
            Some(ClaimStatus::Failed) => Self::Failed {
                reason: get_or_default(item, "reason")?,
            },
            Some(ClaimStatus::Exchanging) | None => Self::Exchanging {
                lease_until: get_or_default(item, "lease_until")?,
            },
        })
    }
}

impl AuthCodeStore for DynamoTicketStore {
    async fn claim_auth_code(
        &self,
        component_appid: &str,
        auth_code: &str,
        terms: LeaseTerms<'_>,
    ) -> Result<bool, StoreError> {
        let attributes = [
            ("claim_state", s(ClaimStatus::Exchanging.as_str())),
            ("lease_owner", s(terms.owner)),
            ("lease_until", n(terms.until)),
            ("purge_at", n(terms.now + CLAIM_RETENTION_SECS)),
        ];
        let condition = Condition::new(format!(
            "attribute_not_exists(#{SK}) OR (#claim_state = :exchanging AND #lease_until < :now)"
        ))
        .value(":exchanging", s(ClaimStatus::Exchanging.as_str()))
        .value(":now", n(terms.now));
        self.put_record(
            component_appid,
            &claim_record(auth_code),
            attributes,
            &condition,
        )
        .await
    }

    async fn auth_code_claim(
        &self,
        component_appid: &str,
        auth_code: &str,
    ) -> Result<Option<ClaimState>, StoreError> {
        self.read_record(component_appid, &claim_record(auth_code))
            .await
    }

    async fn finish_auth_code(
        &self,
        component_appid: &str,
        auth_code: &str,
        owner: &str,
        outcome: &ClaimState,
    ) -> Result<(), StoreError> {
        let (state, field, value) = match outcome {
            ClaimState::Done { authorizer_appid } => {
                (ClaimStatus::Done, "authorizer_appid", authorizer_appid)
            }
            ClaimState::Failed { reason } => (ClaimStatus::Failed, "reason", reason),
            ClaimState::Exchanging { .. } => return Ok(()),
        };
        let update = Update::new()
            .set("claim_state", s(state.as_str()))
            .set(field, s(value))
            .free_lease(owner)
            .condition(lease::HELD);
        self.update_record(component_appid, &claim_record(auth_code), &update)
            .await
            .map(|_| ())
    }

    async fn release_auth_code(
        &self,
        component_appid: &str,
        auth_code: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        let key = Self::key(component_appid, &claim_record(auth_code));
        let held = Condition::new(lease::HELD).value(":owner", s(owner));
        self.table().delete(key, &held).await.map(|_| ())
    }

    async fn mark_auth_code_shown(
        &self,
        component_appid: &str,
        auth_code: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let update = Update::new().set("shown_at", n(now)).condition(format!(
            "attribute_exists(#{SK}) AND attribute_not_exists(#shown_at)"
        ));
        self.update_record(component_appid, &claim_record(auth_code), &update)
            .await
    }
}
