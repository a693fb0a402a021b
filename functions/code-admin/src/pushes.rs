//! What arrived: `GET /admin/pushes?kind=&appid=&since=&until=&cursor=&limit=` (every push and
//! platform event kept in the events table, newest first, paged) and `GET /admin/pushes/{id}`
//! (one, with its parsed fields, its XML and whether it was published). Reads only: one query of
//! one index per page (`by_appid`, `by_kind`, or day by day `by_day`), one GetItem for a detail.

use std::collections::HashMap;

use serde_json::{json, Value};
use shared::events::known_kinds;
use shared::store::{unix_now, EventFilter, EventRecord, EventSummary};

use crate::errors::{invalid, AdminError};
use crate::routes::Op;
use crate::{validate, Answer, CodeAdmin};

/// A page holds 50 events unless `limit` says otherwise (at most 200).
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

fn summary_json(e: &EventSummary) -> Value {
    json!({
        "id": e.id,
        "kind": e.kind,
        "appid": e.appid,
        "create_time": e.create_time,
        "received_at": e.received_at,
    })
}

fn record_json(r: &EventRecord) -> Value {
    json!({
        "id": r.event.id,
        "kind": r.event.kind,
        "appid": r.event.appid,
        "create_time": r.event.create_time,
        "received_at": r.event.received_at,
        "fields": r.event.fields,
        "xml": r.event.xml,
        "status": r.status.as_str(),
        "status_detail": r.status_detail,
        "published_at": r.published_at,
        // Each subscription's delivery (state, attempts, last status and error), filled in by
        // `read_pushes` from the webhooks' delivery records.
        "deliveries": [],
    })
}

/// A Unix time in seconds (non-negative).
fn unix_secs(value: &str, field: &'static str) -> Result<i64, AdminError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| invalid(field, "Unix seconds (a non-negative integer)"))
}

/// The listing's query, checked: a kind the platform publishes (or any `event.<name>` /
/// `message.<type>` WeChat may send), an appid, `since <= until`.
pub(crate) fn filter_of(query: &HashMap<String, String>) -> Result<EventFilter, AdminError> {
    let kind = match query.get("kind").map(String::as_str) {
        None | Some("") => None,
        Some(kind) => {
            let known = known_kinds().any(|k| k == kind);
            let pushed = ["message.", "event.", "component."].iter().any(|family| {
                kind.strip_prefix(family).is_some_and(|name| {
                    !name.is_empty()
                        && name.len() <= 64
                        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                })
            });
            if !known && !pushed {
                return Err(invalid(
                    "kind",
                    "a kind: message.<MsgType>, event.<Event>, component.<InfoType> or a platform.* kind",
                ));
            }
            Some(kind.to_owned())
        }
    };
    let appid = match query.get("appid").map(String::as_str) {
        None | Some("") => None,
        Some(appid) => Some(validate::appid(appid)?.to_owned()),
    };
    let since = query
        .get("since")
        .map(|v| unix_secs(v, "since"))
        .transpose()?;
    let until = query
        .get("until")
        .map(|v| unix_secs(v, "until"))
        .transpose()?;
    if let (Some(since), Some(until)) = (since, until) {
        if since > until {
            return Err(invalid("since", "at most until"));
        }
    }
    Ok(EventFilter {
        kind,
        appid,
        since,
        until,
    })
}

/// `evt_` and 32 lowercase hexadecimal digits.
fn event_id(params: &HashMap<String, String>) -> Result<&str, AdminError> {
    let id = params.get("id").map(String::as_str).unwrap_or_default();
    let ok = id.len() == 36
        && id.starts_with("evt_")
        && id[4..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(id)
    } else {
        Err(invalid("id", "evt_ followed by 32 hexadecimal digits"))
    }
}

impl<L> CodeAdmin<L> {
    pub(crate) async fn read_pushes(
        &self,
        op: Op,
        params: &HashMap<String, String>,
        query: &HashMap<String, String>,
    ) -> Result<Answer, AdminError> {
        let store = self
            .events
            .as_ref()
            .ok_or_else(|| AdminError::Component("the events table is not configured".into()))?;
        if op == Op::GetPush {
            let id = event_id(params)?;
            let record = store.event(id).await?.ok_or_else(|| AdminError::NotFound {
                method: "GET".into(),
                path: format!("/admin/pushes/{id}"),
            })?;
            let mut push = record_json(&record);
            // Each webhook's delivery of this event (none when webhooks are not configured).
            if self.webhooks.is_some() {
                push["deliveries"] = json!(self.event_deliveries(id).await?);
            }
            return Ok(Answer::Json(json!({ "push": push })));
        }
        let filter = filter_of(query)?;
        let limit = query
            .get("limit")
            .map(|l| validate::positive_int(l, "limit"))
            .transpose()?
            .unwrap_or(DEFAULT_LIMIT)
            .min(MAX_LIMIT) as i32;
        let cursor = query.get("cursor").map(String::as_str);
        let page = store
            .list(&filter, cursor, limit, unix_now())
            .await?
            .map_err(|_| invalid("cursor", "a cursor this route answered"))?;
        let pushes: Vec<Value> = page.events.iter().map(summary_json).collect();
        Ok(Answer::Json(
            json!({ "pushes": pushes, "cursor": page.cursor }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::field_of;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_listing_query_is_checked_field_by_field() {
        let ok = filter_of(&query(&[
            ("kind", "event.subscribe_msg_popup_event"),
            ("appid", "wx0123456789abcdef"),
            ("since", "10"),
            ("until", "20"),
        ]))
        .unwrap();
        assert_eq!(ok.since, Some(10));
        assert!(filter_of(&query(&[("kind", "event.some_new_event")])).is_ok());
        assert!(filter_of(&query(&[("kind", "platform.audit.passed")])).is_ok());
        for (pairs, field) in [
            (vec![("kind", "platform.nothing")], "kind"),
            (vec![("kind", "message.")], "kind"),
            (vec![("kind", "event.a b")], "kind"),
            (vec![("appid", "wx1")], "appid"),
            (vec![("since", "-1")], "since"),
            (vec![("until", "soon")], "until"),
            (vec![("since", "20"), ("until", "10")], "since"),
        ] {
            assert_eq!(
                field_of(filter_of(&query(&pairs)).unwrap_err()),
                field,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn ids_are_event_ids() {
        let id = format!("evt_{}", "0a".repeat(16));
        assert!(event_id(&query(&[("id", &id)])).is_ok());
        assert!(event_id(&query(&[("id", "evt_XYZ")])).is_err());
        assert!(event_id(&query(&[("id", "../tickets")])).is_err());
    }
}
