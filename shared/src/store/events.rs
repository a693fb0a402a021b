//! The `events` table: the outbox of the platform's events (partition key `id`, the stable event
//! id of [`crate::events`]).
//!
//! One item per event: every push WeChat sent to either URL (its parsed fields as JSON, the
//! decrypted XML with credentials redacted, what acting on it did), and every state change of the
//! platform's own. Written once (a conditional put: WeChat's retries and our retried writes are
//! the same item), purged by TTL (`purge_at`) after 90 days as the push records always were. Its
//! stream (template.yaml, `KEYS_ONLY`, inserts only) drives event-publisher, which puts each on
//! the bus and then marks it `published_at`.
//!
//! Listing (`GET /admin/pushes`) reads one of three indexes, each sorted by `sort` =
//! `<CreateTime, 10 digits>#<id>` (newest first): `by_appid` (partition `appid`), `by_kind`
//! (partition `kind`), `by_month` (partition `month` = the CreateTime's UTC month, `YYYYMM`, for a
//! listing with neither: at most 4 partitions in 90 days, so a page is at most 4 queries however
//! sparse the months).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use base64::Engine;

use super::attr::{get, n, s, Item};
use super::expr::{Condition, Update};
use super::table::Table;
use super::tickets::{PushOutcome, PUSH_RETENTION_SECS};
use super::StoreError;
use crate::events::StoredEvent;

pub const PK: &str = "id";
pub const BY_APPID: &str = "by_appid";
pub const BY_KIND: &str = "by_kind";
pub const BY_MONTH: &str = "by_month";
const SECS_PER_DAY: i64 = 86_400;

/// What acting on a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// Stored; nothing acted on yet (or nothing to act on).
    Received,
    Processed,
    Failed,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Processed => "processed",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Received, Self::Processed, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

super::attr::text_enum!(EventStatus);

/// An event as stored, with what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub event: StoredEvent,
    pub status: EventStatus,
    pub status_detail: Option<String>,
    /// When event-publisher put it on the bus; none until then.
    pub published_at: Option<i64>,
}

/// One line of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    pub id: String,
    pub kind: String,
    pub appid: Option<String>,
    pub create_time: i64,
    pub received_at: i64,
}

/// What a listing asks for; `since`/`until` bound `CreateTime` (inclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub kind: Option<String>,
    pub appid: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// A page of a listing, newest first, and the cursor of the next one (none at the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    pub events: Vec<EventSummary>,
    pub cursor: Option<String>,
}

/// A cursor that is not one this store issued.
#[derive(Debug, thiserror::Error)]
#[error("cursor is not one a previous page answered")]
pub struct BadCursor;

/// The CreateTime's UTC month as `YYYYMM`: the partition of `by_month`.
pub fn utc_month(unix_secs: i64) -> String {
    utc_day(unix_secs)[..6].to_owned()
}

/// The month before a `YYYYMM` month; None for anything else.
fn previous_month(month: &str) -> Option<String> {
    if month.len() != 6 || !month.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, m): (i64, i64) = (month[..4].parse().ok()?, month[4..].parse().ok()?);
    if !(1..=12).contains(&m) {
        return None;
    }
    Some(if m == 1 {
        format!("{:04}12", year - 1)
    } else {
        format!("{year:04}{:02}", m - 1)
    })
}

/// The CreateTime's UTC date as `YYYYMMDD` (Howard Hinnant's civil-from-days).
pub fn utc_day(unix_secs: i64) -> String {
    let z = unix_secs.div_euclid(SECS_PER_DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}")
}

fn sort_key(create_time: i64, id: &str) -> String {
    format!("{create_time:010}#{id}")
}

fn item_of(event: &StoredEvent) -> Item {
    let mut item = Item::from([
        (PK.to_owned(), s(&event.id)),
        ("kind".to_owned(), s(&event.kind)),
        ("create_time".to_owned(), n(event.create_time)),
        ("received_at".to_owned(), n(event.received_at)),
        ("fields".to_owned(), s(event.fields.to_string())),
        ("status".to_owned(), s(EventStatus::Received.as_str())),
        ("month".to_owned(), s(utc_month(event.create_time))),
        ("sort".to_owned(), s(sort_key(event.create_time, &event.id))),
        (
            "purge_at".to_owned(),
            n(event.received_at + PUSH_RETENTION_SECS),
        ),
    ]);
    if let Some(appid) = &event.appid {
        item.insert("appid".to_owned(), s(appid));
    }
    if let Some(xml) = &event.xml {
        item.insert("xml".to_owned(), s(xml));
    }
    item
}

fn event_of(item: &Item) -> Result<StoredEvent, StoreError> {
    let fields: String = get(item, "fields")?;
    Ok(StoredEvent {
        id: get(item, PK)?,
        kind: get(item, "kind")?,
        appid: get(item, "appid")?,
        create_time: get(item, "create_time")?,
        received_at: get(item, "received_at")?,
        fields: serde_json::from_str(&fields)
            .map_err(|e| StoreError::Malformed(format!("fields: {e}")))?,
        xml: get(item, "xml")?,
    })
}

fn summary_of(item: &Item) -> Result<EventSummary, StoreError> {
    Ok(EventSummary {
        id: get(item, PK)?,
        kind: get(item, "kind")?,
        appid: get(item, "appid")?,
        create_time: get(item, "create_time")?,
        received_at: get(item, "received_at")?,
    })
}

fn key(id: &str) -> Item {
    Item::from([(PK.to_owned(), s(id))])
}

/// A cursor: the string attributes of the key a page ended at, as base64url JSON; or only `month`
/// for "that month, from its newest".
fn encode_cursor(key: &Item) -> String {
    let plain: HashMap<&str, &str> = key
        .iter()
        .filter_map(|(name, value)| value.as_s().ok().map(|v| (name.as_str(), v.as_str())))
        .collect();
    let json = serde_json::to_vec(&plain).expect("strings serialize");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(cursor: &str) -> Result<Item, BadCursor> {
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| BadCursor)?;
    let plain: HashMap<String, String> = serde_json::from_slice(&json).map_err(|_| BadCursor)?;
    Ok(plain.into_iter().map(|(k, v)| (k, s(v))).collect())
}

#[derive(Debug, Clone)]
pub struct DynamoEventStore {
    table: Table,
}

impl DynamoEventStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            table: Table::new(client, table),
        }
    }

    /// Stores the event unless it is there already (the same push again, the same change
    /// written again): nothing is overwritten.
    pub async fn record(&self, event: &StoredEvent) -> Result<PushOutcome, StoreError> {
        let written = self
            .table
            .put(item_of(event), &Condition::absent(PK))
            .await?;
        Ok(match written {
            Some(_) => PushOutcome::Stored,
            None => PushOutcome::Duplicate,
        })
    }

    /// Records what acting on a push did; a retried push that ends the same way changes nothing.
    pub async fn set_status(
        &self,
        id: &str,
        status: EventStatus,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        let update = Update::new()
            .set("status", s(status.as_str()))
            .set_or_remove("status_detail", detail.map(s))
            .set("processed_at", n(super::unix_now()))
            .condition("attribute_exists(#id) AND #status <> :status");
        self.table.update(key(id), &update).await.map(|_| ())
    }

    pub async fn event(&self, id: &str) -> Result<Option<EventRecord>, StoreError> {
        let Some(item) = self.table.get(key(id)).await? else {
            return Ok(None);
        };
        Ok(Some(EventRecord {
            event: event_of(&item)?,
            status: get(&item, "status")?,
            status_detail: get(&item, "status_detail")?,
            published_at: get(&item, "published_at")?,
        }))
    }

    /// The events among `ids` not yet marked published (strongly consistent; at most 100 ids a
    /// request, DynamoDB's BatchGetItem limit). An id no longer stored (purged) is none of them.
    pub async fn unpublished(&self, ids: &[String]) -> Result<Vec<StoredEvent>, StoreError> {
        let mut found = Vec::new();
        for chunk in ids.chunks(100) {
            let mut unique: Vec<&String> = chunk.iter().collect();
            unique.sort_unstable();
            unique.dedup();
            let keys = unique.into_iter().map(|id| key(id)).collect();
            for item in self.table.batch_get(keys).await? {
                if get::<Option<i64>>(&item, "published_at")?.is_none() {
                    found.push(event_of(&item)?);
                }
            }
        }
        Ok(found)
    }

    /// Marks the event published; false when it already was (or is gone).
    pub async fn mark_published(&self, id: &str, at: i64) -> Result<bool, StoreError> {
        let update = Update::new()
            .set("published_at", n(at))
            .condition("attribute_exists(#id) AND attribute_not_exists(#published_at)");
        Ok(self.table.update(key(id), &update).await?.is_some())
    }

    /// A page of at most `limit` events matching `filter`, newest first, after `cursor`.
    pub async fn list(
        &self,
        filter: &EventFilter,
        cursor: Option<&str>,
        limit: i32,
        now: i64,
    ) -> Result<Result<EventPage, BadCursor>, StoreError> {
        let mut start = match cursor.map(decode_cursor).transpose() {
            Ok(start) => start,
            Err(bad) => return Ok(Err(bad)),
        };
        let low = sort_key(filter.since.unwrap_or(0).max(0), "");
        // `~` sorts after every id character: the whole second of `until`.
        let high = format!(
            "{}~",
            sort_key(filter.until.unwrap_or(now + SECS_PER_DAY), "")
        );
        let (index, partition) = match (&filter.appid, &filter.kind) {
            (Some(appid), _) => (BY_APPID, Some(("appid", appid.clone()))),
            (None, Some(kind)) => (BY_KIND, Some(("kind", kind.clone()))),
            (None, None) => (BY_MONTH, None),
        };
        let query = |name: &str, value: String, start: Option<Item>, limit: i32| {
            let mut query = self
                .table
                .query()
                .index_name(index)
                .key_condition_expression("#p = :p AND #sort BETWEEN :low AND :high")
                .expression_attribute_names("#p", name)
                .expression_attribute_names("#sort", "sort")
                .expression_attribute_values(":p", s(value))
                .expression_attribute_values(":low", s(&low))
                .expression_attribute_values(":high", s(&high))
                .scan_index_forward(false)
                .limit(limit)
                .set_exclusive_start_key(start);
            // With an appid, a kind is a filter on that mini program's events.
            if let (BY_APPID, Some(kind)) = (index, &filter.kind) {
                query = query
                    .filter_expression("#kind = :kind")
                    .expression_attribute_names("#kind", "kind")
                    .expression_attribute_values(":kind", s(kind));
            }
            query
        };
        let mut events = Vec::new();
        if let Some((name, value)) = partition {
            let page = Table::query_page(query(name, value, start, limit)).await?;
            for item in page.items() {
                events.push(summary_of(item)?);
            }
            let cursor = page.last_evaluated_key.as_ref().map(encode_cursor);
            return Ok(Ok(EventPage { events, cursor }));
        }
        // No appid, no kind: month after month (at most 4 in 90 days), newest first, from the
        // cursor's month or `until`'s. A push may be dated a little ahead of our clock
        // (crate::push::MAX_FUTURE_SKEW_SECS).
        let oldest = utc_month(filter.since.unwrap_or(now - PUSH_RETENTION_SECS).max(0));
        let mut month = utc_month(
            filter
                .until
                .unwrap_or(now + crate::push::MAX_FUTURE_SKEW_SECS)
                .min(now + SECS_PER_DAY),
        );
        let cursor_month = start
            .as_ref()
            .and_then(|k| k.get("month"))
            .and_then(|d| d.as_s().ok())
            .cloned();
        if let Some(at) = cursor_month {
            if previous_month(&at).is_none() {
                return Ok(Err(BadCursor));
            }
            month = at;
            // A cursor of only a month starts that month from its newest.
            if start.as_ref().is_some_and(|k| k.len() == 1) {
                start = None;
            }
        }
        while month >= oldest {
            let wanted = limit - events.len() as i32;
            let page =
                Table::query_page(query("month", month.clone(), start.take(), wanted)).await?;
            for item in page.items() {
                events.push(summary_of(item)?);
            }
            if let Some(last) = &page.last_evaluated_key {
                return Ok(Ok(EventPage {
                    events,
                    cursor: Some(encode_cursor(last)),
                }));
            }
            month = previous_month(&month).unwrap_or_default();
            if events.len() as i32 >= limit && month >= oldest {
                let next = Item::from([("month".to_owned(), s(month))]);
                return Ok(Ok(EventPage {
                    events,
                    cursor: Some(encode_cursor(&next)),
                }));
            }
        }
        Ok(Ok(EventPage {
            events,
            cursor: None,
        }))
    }
}

/// Writes one of the platform's own state changes to the outbox (a kind of
/// [`crate::events::PLATFORM_KINDS`]); `key` names the change (e.g. `<auditid>#passed`), so that
/// a retried write is the same event. The one helper every place that changes such state calls:
/// the event is published by the stream like any push.
pub async fn record_platform_event(
    store: &DynamoEventStore,
    kind: &str,
    appid: Option<&str>,
    key: &str,
    fields: serde_json::Value,
) -> Result<PushOutcome, StoreError> {
    let event = StoredEvent::platform(kind, appid, key, super::unix_now(), fields);
    let outcome = store.record(&event).await?;
    tracing::info!(kind, appid = appid.unwrap_or("-"), id = %event.id, ?outcome, "platform event recorded");
    Ok(outcome)
}

/// The platform kind of an audit that reached `status`, if the status is one ([`PLATFORM_KINDS`]:
/// submitted, passed, rejected, released).
///
/// [`PLATFORM_KINDS`]: crate::events::PLATFORM_KINDS
pub fn audit_kind(status: crate::audit::AuditStatus) -> Option<&'static str> {
    use crate::audit::AuditStatus;
    match status {
        AuditStatus::Pending => Some("platform.audit.submitted"),
        AuditStatus::Passed => Some("platform.audit.passed"),
        AuditStatus::Rejected => Some("platform.audit.rejected"),
        AuditStatus::Released => Some("platform.audit.released"),
        AuditStatus::Delayed | AuditStatus::Withdrawn => None,
    }
}

/// [`record_platform_event`] for an audit of `appid` that reached `status` (nothing for a status
/// that is no platform kind): one event per audit and status.
pub async fn record_audit_event(
    store: &DynamoEventStore,
    appid: &str,
    auditid: i64,
    status: crate::audit::AuditStatus,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    let Some(kind) = audit_kind(status) else {
        return Ok(());
    };
    let fields =
        serde_json::json!({ "auditid": auditid, "status": status.as_str(), "reason": reason });
    let key = format!("{auditid}#{}", status.as_str());
    record_platform_event(store, kind, Some(appid), &key, fields)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_cursors() {
        assert_eq!(utc_day(0), "19700101");
        assert_eq!(utc_day(1_764_633_600), "20251202");
        assert_eq!(utc_day(1_709_208_000), "20240229");
        assert_eq!(utc_month(1_764_633_600), "202512");
        assert_eq!(previous_month("202601").as_deref(), Some("202512"));
        assert_eq!(previous_month("202612").as_deref(), Some("202611"));
        assert_eq!(previous_month("202613"), None);
        assert_eq!(previous_month("2026"), None);
        let key = Item::from([
            ("id".to_owned(), s("evt_1")),
            ("month".to_owned(), s("202512")),
        ]);
        assert_eq!(decode_cursor(&encode_cursor(&key)).unwrap(), key);
        assert!(decode_cursor("not a cursor!").is_err());
    }
}
