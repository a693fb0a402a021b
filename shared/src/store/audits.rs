//! The `audits` table: per mini program appid, per auditid (newest first when queried backwards).
//!
//! Pushed status changes are conditional on `status_rank` (pending → delayed → a result →
//! released) and on the time of the result, so a late, repeated or replayed result never moves a
//! record backwards, and a result dated before the submission never lands on it. WeChat's own
//! answer (get_auditstatus, get_latest_auditstatus) corrects a stored status that disagrees.

use std::future::Future;

use aws_sdk_dynamodb::Client;

use super::attr::{from_item, n, s, Item};
use super::expr::{Condition, Update};
use super::table::Table;
use super::StoreError;
use crate::audit::AuditStatus;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub appid: String,
    pub auditid: i64,
    pub template_id: Option<i64>,
    pub user_version: Option<String>,
    pub user_desc: Option<String>,
    /// The ext_json committed with this version (a snapshot, JSON text).
    pub ext_json: Option<String>,
    pub status: AuditStatus,
    pub reason: Option<String>,
    pub screenshot: Option<String>,
    pub submitted_at: Option<i64>,
    pub result_at: Option<i64>,
    pub released_at: Option<i64>,
}

impl AuditRecord {
    /// A submission just made (pending), with what was committed for it.
    pub fn submitted(
        appid: &str,
        auditid: i64,
        template_id: Option<i64>,
        user_version: Option<String>,
        user_desc: Option<String>,
        ext_json: Option<String>,
        submitted_at: Option<i64>,
    ) -> Self {
        Self {
            appid: appid.to_owned(),
            auditid,
            template_id,
            user_version,
            user_desc,
            ext_json,
            status: AuditStatus::Pending,
            reason: None,
            screenshot: None,
            submitted_at,
            result_at: None,
            released_at: None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "appid": self.appid,
            "auditid": self.auditid,
            "template_id": self.template_id,
            "user_version": self.user_version,
            "user_desc": self.user_desc,
            "ext_json": self.ext_json,
            "status": self.status.as_str(),
            "reason": self.reason,
            "screenshot": self.screenshot,
            "submitted_at": self.submitted_at,
            "result_at": self.result_at,
            "released_at": self.released_at,
        })
    }
}

from_item! { AuditRecord {
    appid, auditid, template_id, user_version, user_desc, ext_json, status, reason, screenshot,
    submitted_at, result_at, released_at
} }

/// A status change: the new status, WeChat's reason and screenshot ids, and when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub status: AuditStatus,
    pub reason: Option<String>,
    pub screenshot: Option<String>,
    pub at: i64,
}

/// How much earlier than our record of the submission (our clock, read after submit_audit
/// answered) a result may be dated on WeChat's clock and still belong to that submission.
pub const SUBMISSION_SKEW_SECS: i64 = 60;

pub trait AuditStore {
    /// Records a submission (once: a repeated auditid changes nothing).
    fn save_submission(
        &self,
        record: &AuditRecord,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn latest_audit(
        &self,
        appid: &str,
    ) -> impl Future<Output = Result<Option<AuditRecord>, StoreError>> + Send;

    fn audits(
        &self,
        appid: &str,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<AuditRecord>, StoreError>> + Send;

    fn audit(
        &self,
        appid: &str,
        auditid: i64,
    ) -> impl Future<Output = Result<Option<AuditRecord>, StoreError>> + Send;

    /// Moves the audit forward to `change.status` (creating the record if WeChat knows an audit we
    /// do not): to a higher rank, or within a rank (not released) to a later-dated result; never
    /// with a result dated before the audit's submission. Returns false when nothing changed.
    fn apply_status(
        &self,
        appid: &str,
        auditid: i64,
        change: &StatusChange,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Sets the audit to WeChat's own answer (get_auditstatus, get_latest_auditstatus,
    /// undocodeaudit) when the stored status disagrees, whatever the ranks, so a wrongly stored
    /// result is corrected; `released` (ours) stays when WeChat answers passed. Conditional on the
    /// status read: a push landing in between is not overwritten (the next sync sees it). Returns
    /// true when the record changed.
    fn correct_status(
        &self,
        appid: &str,
        auditid: i64,
        change: &StatusChange,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

#[derive(Debug, Clone)]
pub struct DynamoAuditStore {
    table: Table,
}

impl DynamoAuditStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            table: Table::new(client, table),
        }
    }

    fn key(appid: &str, auditid: i64) -> Item {
        Item::from([
            ("appid".to_owned(), s(appid)),
            ("auditid".to_owned(), n(auditid)),
        ])
    }

    async fn query(&self, appid: &str, limit: i32) -> Result<Vec<AuditRecord>, StoreError> {
        let query = self
            .table
            .query()
            .key_condition_expression("appid = :appid")
            .expression_attribute_values(":appid", s(appid))
            .scan_index_forward(false)
            .limit(limit)
            .consistent_read(true);
        let out = Table::query_page(query).await?;
        out.items().iter().map(AuditRecord::try_from).collect()
    }
}

impl AuditStore for DynamoAuditStore {
    async fn save_submission(&self, r: &AuditRecord) -> Result<bool, StoreError> {
        let mut item = Self::key(&r.appid, r.auditid);
        item.insert("status".into(), s(r.status.as_str()));
        item.insert("status_rank".into(), n(r.status.rank()));
        for (name, value) in [
            ("user_version", &r.user_version),
            ("user_desc", &r.user_desc),
            ("ext_json", &r.ext_json),
        ] {
            if let Some(v) = value {
                item.insert(name.into(), s(v));
            }
        }
        for (name, value) in [
            ("template_id", r.template_id),
            ("submitted_at", r.submitted_at),
        ] {
            if let Some(v) = value {
                item.insert(name.into(), n(v));
            }
        }
        let written = self.table.put(item, &Condition::absent("auditid")).await?;
        Ok(written.is_some())
    }

    async fn latest_audit(&self, appid: &str) -> Result<Option<AuditRecord>, StoreError> {
        Ok(self.query(appid, 1).await?.into_iter().next())
    }

    async fn audits(&self, appid: &str, limit: i32) -> Result<Vec<AuditRecord>, StoreError> {
        self.query(appid, limit).await
    }

    async fn audit(&self, appid: &str, auditid: i64) -> Result<Option<AuditRecord>, StoreError> {
        self.table.read(Self::key(appid, auditid)).await
    }

    async fn apply_status(
        &self,
        appid: &str,
        auditid: i64,
        change: &StatusChange,
    ) -> Result<bool, StoreError> {
        let mut forward =
            "attribute_not_exists(#status_rank) OR #status_rank < :status_rank".to_owned();
        if Self::time_field(change.status) == Some("result_at") {
            forward.push_str(
                " OR (#status_rank = :status_rank \
                 AND (attribute_not_exists(#result_at) OR #result_at < :result_at))",
            );
        }
        let update = Self::status_update(change)
            .condition(format!(
                "({forward}) AND (attribute_not_exists(#submitted_at) \
                 OR #submitted_at <= :latest_submission)"
            ))
            .value(
                ":latest_submission",
                n(change.at.saturating_add(SUBMISSION_SKEW_SECS)),
            );
        Ok(self
            .table
            .update(Self::key(appid, auditid), &update)
            .await?
            .is_some())
    }

    async fn correct_status(
        &self,
        appid: &str,
        auditid: i64,
        change: &StatusChange,
    ) -> Result<bool, StoreError> {
        let seen = self.audit(appid, auditid).await?;
        let update = Self::status_update(change);
        let update = match &seen {
            Some(seen)
                if seen.status == change.status
                    || (seen.status == AuditStatus::Released
                        && change.status == AuditStatus::Passed) =>
            {
                return Ok(false)
            }
            Some(seen) => update
                .condition("#status = :seen")
                .value(":seen", s(seen.status.as_str())),
            None => update.condition("attribute_not_exists(#auditid)"),
        };
        Ok(self
            .table
            .update(Self::key(appid, auditid), &update)
            .await?
            .is_some())
    }
}

impl DynamoAuditStore {
    /// Where the time of a status is kept.
    fn time_field(status: AuditStatus) -> Option<&'static str> {
        match status {
            AuditStatus::Pending => None,
            AuditStatus::Released => Some("released_at"),
            _ => Some("result_at"),
        }
    }

    /// The update writing `change`: status, rank and time; a result's reason and screenshot (or
    /// their removal: they belong to the result they came with). Released keeps the review's.
    fn status_update(change: &StatusChange) -> Update {
        let update = Update::new()
            .set("status", s(change.status.as_str()))
            .set("status_rank", n(change.status.rank()));
        let update = match Self::time_field(change.status) {
            Some(field) => update.set(field, n(change.at)),
            // Back to pending (WeChat's answer after a wrongly stored result): no result yet.
            None => update.remove("result_at"),
        };
        if change.status == AuditStatus::Released {
            return update;
        }
        let text = |value: &Option<String>| value.as_deref().map(s);
        update
            .set_or_remove("reason", text(&change.reason))
            .set_or_remove("screenshot", text(&change.screenshot))
    }
}
