//! event-publisher: the events table's stream → the EventBridge bus.
//!
//! The outbox's second half. ticket-receive (and every place the platform's state changes) only
//! writes the event to the events table; the table's stream (inserts only: template.yaml's
//! `FilterCriteria`) invokes this with batches of keys. For each batch it reads the events not yet
//! marked published (one BatchGetItem, strongly consistent), puts them on the bus (PutEvents, 10
//! entries a request: `source` [`EVENT_SOURCE`], `detail-type` the kind, `detail` the
//! [`PlatformEvent`] with its stable id), then marks each one published with a conditional write.
//!
//! A record whose event could not be put is answered in `batchItemFailures` (the stream's partial
//! batch response): Lambda retries the shard from the lowest of them, and the records after it
//! that were published are skipped by their mark. So an event is published at least once, and
//! twice only when the publisher stops between PutEvents succeeding and the mark being written
//! (README, "Events": consumers deduplicate on `detail.id`, which is the same both times).

use std::collections::{HashMap, HashSet};
use std::future::Future;

use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use shared::config::ConfigError;
use shared::events::{StoredEvent, EVENT_SOURCE};
use shared::store::{unix_now, DynamoEventStore};
use shared::stream::{BatchItemFailure, ChangeKind, StreamBatchResponse, StreamEvent};
use tracing::{error, info, warn};

/// PutEvents takes at most 10 entries, and 256 KB in all ("Amazon EventBridge quotas").
const ENTRIES_PER_PUT: usize = 10;
const BYTES_PER_PUT: usize = 256 * 1024;

/// One entry for the bus: the event and its `detail` JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct BusEntry {
    pub id: String,
    pub kind: String,
    pub create_time: i64,
    pub detail: String,
}

impl BusEntry {
    pub fn of(event: &StoredEvent) -> Self {
        Self {
            id: event.id.clone(),
            kind: event.kind.clone(),
            create_time: event.create_time,
            detail: serde_json::to_string(&event.detail()).expect("an event serializes"),
        }
    }

    /// Its size as EventBridge counts it (source, detail-type, detail, and 14 bytes of time).
    fn size(&self) -> usize {
        EVENT_SOURCE.len() + self.kind.len() + self.detail.len() + 14
    }
}

#[derive(Debug, thiserror::Error)]
#[error("EventBridge PutEvents failed: {0}")]
pub struct BusError(String);

/// Where events go: the answer says, per entry in order, whether it was put.
pub trait Bus {
    fn put(
        &self,
        entries: &[BusEntry],
    ) -> impl Future<Output = Result<Vec<Result<(), String>>, BusError>> + Send;
}

/// The custom bus `EVENT_BUS_NAME`.
#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    name: String,
}

impl EventBridgeBus {
    pub fn new(client: aws_sdk_eventbridge::Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }
}

impl Bus for EventBridgeBus {
    async fn put(&self, entries: &[BusEntry]) -> Result<Vec<Result<(), String>>, BusError> {
        let request = entries.iter().fold(self.client.put_events(), |request, e| {
            request.entries(
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.name)
                    .source(EVENT_SOURCE)
                    .detail_type(&e.kind)
                    .detail(&e.detail)
                    .time(DateTime::from_secs(e.create_time))
                    .build(),
            )
        });
        let out = Box::pin(request.send()).await.map_err(|e| {
            BusError(aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string())
        })?;
        let answers = out.entries();
        if answers.len() != entries.len() {
            return Err(BusError(format!(
                "{} entries answered for {} sent",
                answers.len(),
                entries.len()
            )));
        }
        Ok(answers
            .iter()
            .map(|a| match a.error_code() {
                None => Ok(()),
                Some(code) => Err(format!("{code}: {}", a.error_message().unwrap_or(""))),
            })
            .collect())
    }
}

/// The publisher: the events table and the bus.
pub struct Publisher<B> {
    store: DynamoEventStore,
    bus: B,
}

pub type PlatformPublisher = Publisher<EventBridgeBus>;

impl PlatformPublisher {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let sdk = shared::config::aws_sdk_config().await;
        let tables = shared::config::TableNames::from_env()?;
        let bus = std::env::var("EVENT_BUS_NAME")
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or(ConfigError::Missing("EVENT_BUS_NAME"))?;
        Ok(Self::new(
            DynamoEventStore::new(aws_sdk_dynamodb::Client::new(&sdk), tables.events),
            EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&sdk), bus),
        ))
    }
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub published: usize,
    /// Already marked published: a redelivery.
    pub skipped: usize,
    pub failed: usize,
}

impl<B: Bus + Sync> Publisher<B> {
    pub fn new(store: DynamoEventStore, bus: B) -> Self {
        Self { store, bus }
    }

    /// One batch of stream records: the failed ones answered by sequence number.
    pub async fn handle(&self, event: StreamEvent) -> StreamBatchResponse {
        let (response, outcome) = self.publish(&event).await;
        info!(
            records = event.records.len(),
            published = outcome.published,
            skipped = outcome.skipped,
            failed = outcome.failed,
            "stream batch"
        );
        response
    }

    pub async fn publish(&self, event: &StreamEvent) -> (StreamBatchResponse, BatchOutcome) {
        // Inserts of an event (the mapping's filter passes only those; anything else is no event).
        let records: Vec<(&str, &str)> = event
            .records
            .iter()
            .filter(|r| r.event_name == ChangeKind::Insert)
            .filter_map(|r| {
                Some((
                    r.string_key(shared::store::events::PK)?,
                    r.dynamodb.sequence_number.as_str(),
                ))
            })
            .collect();
        let ids: Vec<String> = records.iter().map(|(id, _)| (*id).to_owned()).collect();
        let mut outcome = BatchOutcome::default();
        let pending = match self.store.unpublished(&ids).await {
            Ok(pending) => pending,
            Err(e) => {
                error!(error = %e, "cannot read the batch's events; the batch is retried");
                outcome.failed = records.len();
                return (failures(records.iter().map(|(_, seq)| *seq)), outcome);
            }
        };
        let by_id: HashMap<&str, &StoredEvent> =
            pending.iter().map(|e| (e.id.as_str(), e)).collect();
        // In stream order, each event once.
        let mut seen = HashSet::new();
        let entries: Vec<BusEntry> = records
            .iter()
            .filter_map(|(id, _)| by_id.get(id).filter(|_| seen.insert(*id)))
            .map(|e| BusEntry::of(e))
            .collect();
        outcome.skipped = ids.iter().collect::<HashSet<_>>().len() - entries.len();
        let mut failed_ids: HashSet<String> = HashSet::new();
        for chunk in chunks(&entries) {
            let answers = match self.bus.put(chunk).await {
                Ok(answers) => answers,
                Err(e) => {
                    warn!(error = %e, entries = chunk.len(), "PutEvents failed; retried from the stream");
                    vec![Err(e.to_string()); chunk.len()]
                }
            };
            for (entry, answer) in chunk.iter().zip(answers) {
                match answer {
                    Ok(()) => {
                        outcome.published += 1;
                        // Not marking it only means a later redelivery publishes it again (the
                        // same id): never a reason to fail what was published.
                        if let Err(e) = self.store.mark_published(&entry.id, unix_now()).await {
                            warn!(id = %entry.id, error = %e, "published, but not marked");
                        }
                    }
                    Err(reason) => {
                        warn!(id = %entry.id, kind = %entry.kind, reason, "event not put on the bus");
                        failed_ids.insert(entry.id.clone());
                    }
                }
            }
        }
        outcome.failed = failed_ids.len();
        let failed = records
            .iter()
            .filter(|(id, _)| failed_ids.contains(*id))
            .map(|(_, seq)| *seq);
        (failures(failed), outcome)
    }
}

fn failures<'a>(sequence_numbers: impl Iterator<Item = &'a str>) -> StreamBatchResponse {
    StreamBatchResponse {
        batch_item_failures: sequence_numbers
            .map(|seq| BatchItemFailure {
                item_identifier: seq.to_owned(),
            })
            .collect(),
    }
}

/// The entries in PutEvents requests: at most 10, and 256 KB, each.
fn chunks(entries: &[BusEntry]) -> Vec<&[BusEntry]> {
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, entry) in entries.iter().enumerate() {
        let full = i - start == ENTRIES_PER_PUT || size + entry.size() > BYTES_PER_PUT;
        if full && i > start {
            out.push(&entries[start..i]);
            (start, size) = (i, 0);
        }
        size += entry.size();
    }
    if start < entries.len() {
        out.push(&entries[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(detail_len: usize) -> BusEntry {
        BusEntry {
            id: "evt".into(),
            kind: "message.text".into(),
            create_time: 1,
            detail: "x".repeat(detail_len),
        }
    }

    #[test]
    fn put_requests_hold_ten_entries_and_256_kb_at_most() {
        let small: Vec<BusEntry> = (0..23).map(|_| entry(10)).collect();
        let sizes: Vec<usize> = chunks(&small).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [10, 10, 3]);
        let big: Vec<BusEntry> = (0..5).map(|_| entry(100 * 1024)).collect();
        let sizes: Vec<usize> = chunks(&big).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert!(chunks(&[]).is_empty());
    }
}
