//! The outcomes of the go-live check's cases ("全网发布接入检测说明"), kept in the tickets table
//! (`record = go_live#<test account appid>#<case>#<digest of the push>`), so that an operator can
//! see why a check failed. One item per push: WeChat's retry of a push (the same plaintext) is the
//! same item, which is what makes the API case idempotent ([`GoLiveStore::claim_go_live_case`]).
//! Items are purged by TTL (`purge_at`) after 90 days.

use std::collections::BTreeMap;
use std::future::Future;

use sha2::{Digest, Sha256};

use super::attr::{n, s};
use super::expr::Condition;
use super::tickets::{DynamoTicketStore, PUSH_RETENTION_SECS, SK};
use super::StoreError;
use crate::go_live::CaseName;

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStatus {
    /// Being worked on (the API case, between its claim and its outcome) until `lease_until`.
    Running,
    Passed,
    Failed,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Passed => "passed",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Running, Self::Passed, Self::Failed]
            .into_iter()
            .find(|c| c.as_str() == text)
    }
}

super::attr::text_enum!(CaseStatus, CaseName);

/// One push of the check: which account, which case, and the push itself (its digest is the key).
#[derive(Debug, Clone, Copy)]
pub struct CasePush<'a> {
    pub component_appid: &'a str,
    pub appid: &'a str,
    pub case: CaseName,
    /// The decrypted push.
    pub plaintext: &'a str,
}

impl CasePush<'_> {
    pub fn record_key(&self) -> String {
        let digest = Sha256::digest(self.plaintext.as_bytes());
        let digest: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("{PREFIX}{}#{}#{digest}", self.appid, self.case.as_str())
    }
}

const PREFIX: &str = "go_live#";

/// A case's outcome as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseOutcome {
    /// The test account.
    pub appid: String,
    pub case: CaseName,
    pub status: CaseStatus,
    /// What was answered or done, or why it failed.
    pub detail: String,
    /// When (our clock).
    pub at: i64,
}

super::attr::from_item! { CaseOutcome {
    appid = "authorizer_appid", case = "case_name", status, detail, at
} }

/// What claiming the API case of a push found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseClaim {
    /// Ours until the lease ends: do the work, then record the outcome.
    Claimed,
    /// An earlier delivery of this push passed: nothing is to be done again.
    AlreadyPassed,
    /// Another delivery is working on it now.
    Busy,
}

pub trait GoLiveStore {
    /// Takes the case of `push` until `lease_until`, unless it passed already or another
    /// delivery holds a live claim; a failed or abandoned one is taken again.
    fn claim_go_live_case(
        &self,
        push: &CasePush<'_>,
        now: i64,
        lease_until: i64,
    ) -> impl Future<Output = Result<CaseClaim, StoreError>> + Send;

    /// Records the outcome of `push`'s case (passed or failed), replacing the claim.
    fn record_go_live_case(
        &self,
        push: &CasePush<'_>,
        status: CaseStatus,
        detail: &str,
        at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The latest check's outcomes: each test account's newest outcome of each case, by appid
    /// and case.
    fn go_live_cases(
        &self,
        component_appid: &str,
    ) -> impl Future<Output = Result<Vec<CaseOutcome>, StoreError>> + Send;
}

impl DynamoTicketStore {
    fn case_attributes(
        push: &CasePush<'_>,
        status: CaseStatus,
        detail: &str,
        at: i64,
    ) -> Vec<(&'static str, aws_sdk_dynamodb::types::AttributeValue)> {
        vec![
            ("authorizer_appid", s(push.appid)),
            ("case_name", s(push.case.as_str())),
            ("status", s(status.as_str())),
            ("detail", s(detail)),
            ("at", n(at)),
            ("purge_at", n(at + PUSH_RETENTION_SECS)),
        ]
    }
}

impl GoLiveStore for DynamoTicketStore {
    async fn claim_go_live_case(
        &self,
        push: &CasePush<'_>,
        now: i64,
        lease_until: i64,
    ) -> Result<CaseClaim, StoreError> {
        let mut attributes = Self::case_attributes(push, CaseStatus::Running, "claimed", now);
        attributes.push(("lease_until", n(lease_until)));
        let condition = Condition::new(format!(
            "attribute_not_exists(#{SK}) OR #status = :failed \
             OR (#status = :running AND #lease_until < :now)"
        ))
        .value(":failed", s(CaseStatus::Failed.as_str()))
        .value(":running", s(CaseStatus::Running.as_str()))
        .value(":now", n(now));
        let record = push.record_key();
        if self
            .put_record(push.component_appid, &record, attributes, &condition)
            .await?
        {
            return Ok(CaseClaim::Claimed);
        }
        let found: Option<CaseOutcome> = self.read_record(push.component_appid, &record).await?;
        Ok(match found.map(|f| f.status) {
            Some(CaseStatus::Passed) => CaseClaim::AlreadyPassed,
            _ => CaseClaim::Busy,
        })
    }

    async fn record_go_live_case(
        &self,
        push: &CasePush<'_>,
        status: CaseStatus,
        detail: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        let attributes = Self::case_attributes(push, status, detail, at);
        // A delivery that passed stays passed (a late, slower duplicate cannot undo it).
        let condition = Condition::new("attribute_not_exists(#status) OR #status <> :passed")
            .value(":passed", s(CaseStatus::Passed.as_str()));
        self.put_record(
            push.component_appid,
            &push.record_key(),
            attributes,
            &condition,
        )
        .await
        .map(|_| ())
    }

    async fn go_live_cases(&self, component_appid: &str) -> Result<Vec<CaseOutcome>, StoreError> {
        let items = self.records_with_prefix(component_appid, PREFIX).await?;
        let mut newest: BTreeMap<(String, CaseName), CaseOutcome> = BTreeMap::new();
        for item in &items {
            let outcome = CaseOutcome::try_from(item)?;
            let key = (outcome.appid.clone(), outcome.case);
            if newest.get(&key).is_none_or(|seen| seen.at <= outcome.at) {
                newest.insert(key, outcome);
            }
        }
        Ok(newest.into_values().collect())
    }
}
