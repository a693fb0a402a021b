//! DynamoDB Streams locally as Lambda uses them: an event source ([`start`]) that drives a
//! consumer the way a DynamoDB event source mapping does (template.yaml's `Outbox` event of
//! EventPublisherFunction).
//!
//! What the mapping does, as AWS documents it ("Using AWS Lambda with Amazon DynamoDB",
//! "Configuring partial batch response", "Retaining discarded batch records"): one poller per
//! shard from `TRIM_HORIZON`, records in order, the ones its filter (`eventName: INSERT`) does not
//! pass dropped, up to `batch_size` per invocation with the stream event (`Records`: eventID,
//! eventName, dynamodb.Keys/SequenceNumber, eventSourceARN …), one invocation at a time per
//! shard. An answer naming no failure moves the shard's checkpoint past the batch; one naming
//! failures (`batchItemFailures`, by sequence number) retries the shard from the lowest of them;
//! an error, a timeout, or an identifier not in the batch retries the whole batch. After
//! `max_retry_attempts` retries of a batch, its description goes to the on-failure queue and
//! the shard moves past it.
//!
//! Like [`crate::event_source`], it never waits on moto (one request at a time): it polls, and
//! pauses `idle_pause` after an empty answer.

use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType, Record, ShardIteratorType};
use shared::stream::{ChangeKind, StreamBatchResponse, StreamChange, StreamEvent, StreamRecord};
use tokio::sync::watch;

use crate::StackError;

fn streams_error<E: std::error::Error>(err: E) -> StackError {
    StackError::Dynamo(aws_sdk_dynamodbstreams::error::DisplayErrorContext(err).to_string())
}

/// How the stream source polls and invokes (template.yaml's mapping: batch 100, 10 retries).
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub batch_size: i32,
    pub max_retry_attempts: u32,
    /// The pause after a poll that found nothing, and before a retry.
    pub idle_pause: Duration,
    /// An invocation that has not answered by then fails its batch (the function's `Timeout`).
    pub timeout: Duration,
    /// Where a batch that failed every retry is described (the mapping's `OnFailure` queue).
    pub on_failure_queue_url: Option<String>,
    pub log_batches: bool,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            batch_size: 100,
            max_retry_attempts: 10,
            idle_pause: Duration::from_millis(50),
            timeout: Duration::from_secs(30),
            on_failure_queue_url: None,
            log_batches: false,
        }
    }
}

/// What a stream source has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamCounts {
    /// Records handed to the function (a retry counts again).
    pub delivered: u64,
    pub batches: u64,
    /// Invocations that failed records (or the whole batch).
    pub failed_batches: u64,
    /// Batches given up on and described to the on-failure queue.
    pub discarded_batches: u64,
    pub stream_errors: u64,
}

#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    batches: AtomicU64,
    failed_batches: AtomicU64,
    discarded_batches: AtomicU64,
    stream_errors: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::SeqCst);
    }

    fn snapshot(&self) -> StreamCounts {
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        StreamCounts {
            delivered: get(&self.delivered),
            batches: get(&self.batches),
            failed_batches: get(&self.failed_batches),
            discarded_batches: get(&self.discarded_batches),
            stream_errors: get(&self.stream_errors),
        }
    }
}

/// A running stream source; [`StreamSource::stop`] ends it (dropping it aborts it).
pub struct StreamSource {
    stop: watch::Sender<bool>,
    pollers: Vec<tokio::task::JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl StreamSource {
    pub fn counts(&self) -> StreamCounts {
        self.counters.snapshot()
    }

    /// Stops polling once the invocation under way (if any) has answered.
    pub async fn stop(mut self) -> StreamCounts {
        let _ = self.stop.send(true);
        for poller in std::mem::take(&mut self.pollers) {
            let _ = poller.await;
        }
        self.counts()
    }
}

impl Drop for StreamSource {
    fn drop(&mut self) {
        for poller in &self.pollers {
            poller.abort();
        }
    }
}

/// The stream of `table` (its latest), as `(client, stream ARN)`.
pub async fn table_stream(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<String, StackError> {
    let out = dynamo
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| {
            StackError::Dynamo(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
        })?;
    out.table()
        .and_then(|t| t.latest_stream_arn())
        .map(str::to_owned)
        .ok_or_else(|| StackError::Dynamo(format!("{table} has no stream")))
}

/// A DynamoDB Streams client for the local endpoint (`AWS_ENDPOINT_URL_DYNAMODB_STREAMS`, or
/// else the DynamoDB one: one moto serves every service locally).
pub async fn local_streams_client() -> aws_sdk_dynamodbstreams::Client {
    let sdk = crate::local_sdk_config().await;
    let mut config = aws_sdk_dynamodbstreams::config::Builder::from(&sdk);
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB_STREAMS").is_none() {
        if let Ok(url) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
            config = config.endpoint_url(url);
        }
    }
    aws_sdk_dynamodbstreams::Client::from_conf(config.build())
}

/// Polls every shard of `stream_arn` and invokes `handler` as the mapping does (module doc),
/// until stopped.
pub async fn start<H, Fut, E>(
    client: aws_sdk_dynamodbstreams::Client,
    sqs: aws_sdk_sqs::Client,
    stream_arn: &str,
    options: StreamOptions,
    handler: H,
) -> Result<StreamSource, StackError>
where
    H: Fn(StreamEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<StreamBatchResponse, E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let described = client
        .describe_stream()
        .stream_arn(stream_arn)
        .send()
        .await
        .map_err(streams_error)?;
    let shards: Vec<String> = described
        .stream_description()
        .map(|d| d.shards())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s.shard_id().map(str::to_owned))
        .collect();
    let (stop, stopped) = watch::channel(false);
    let counters = Arc::new(Counters::default());
    let handler = Arc::new(handler);
    let pollers = shards
        .into_iter()
        .map(|shard| {
            let poller = ShardPoller {
                client: client.clone(),
                sqs: sqs.clone(),
                stream_arn: stream_arn.to_owned(),
                shard,
                options: options.clone(),
                counters: counters.clone(),
                stopped: stopped.clone(),
            };
            tokio::spawn(poller.run(handler.clone()))
        })
        .collect();
    Ok(StreamSource {
        stop,
        pollers,
        counters,
    })
}

struct ShardPoller {
    client: aws_sdk_dynamodbstreams::Client,
    sqs: aws_sdk_sqs::Client,
    stream_arn: String,
    shard: String,
    options: StreamOptions,
    counters: Arc<Counters>,
    stopped: watch::Receiver<bool>,
}

/// Where the shard is read from next.
enum Position {
    TrimHorizon,
    At(String),
    After(String),
}

/// Sequence numbers are decimal strings of any length: compared as numbers.
fn sequence_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

impl ShardPoller {
    async fn iterator(&self, position: &Position) -> Result<Option<String>, StackError> {
        let request = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(&self.shard);
        let request = match position {
            Position::TrimHorizon => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            Position::At(seq) => request
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .sequence_number(seq),
            Position::After(seq) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(seq),
        };
        Ok(request.send().await.map_err(streams_error)?.shard_iterator)
    }

    async fn pause(&mut self) {
        tokio::select! {
            _ = tokio::time::sleep(self.options.idle_pause) => {}
            _ = self.stopped.changed() => {}
        }
    }

    async fn run<H, Fut, E>(mut self, handler: Arc<H>)
    where
        H: Fn(StreamEvent) -> Fut,
        Fut: Future<Output = Result<StreamBatchResponse, E>>,
        E: Display,
    {
        let mut position = Position::TrimHorizon;
        let mut iterator: Option<String> = None;
        let mut attempts = 0u32;
        while !*self.stopped.borrow() {
            let current = match iterator.take() {
                Some(it) => it,
                None => match self.iterator(&position).await {
                    Ok(Some(it)) => it,
                    Ok(None) => return,
                    Err(e) => {
                        Counters::add(&self.counters.stream_errors, 1);
                        eprintln!("stream source: GetShardIterator failed: {e}");
                        self.pause().await;
                        continue;
                    }
                },
            };
            let out = match self
                .client
                .get_records()
                .shard_iterator(&current)
                .limit(self.options.batch_size)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => {
                    Counters::add(&self.counters.stream_errors, 1);
                    eprintln!("stream source: GetRecords failed: {}", streams_error(e));
                    self.pause().await;
                    continue;
                }
            };
            let records = out.records();
            let Some(last) = records
                .last()
                .and_then(|r| r.dynamodb())
                .and_then(|d| d.sequence_number())
            else {
                iterator = out.next_shard_iterator;
                self.pause().await;
                continue;
            };
            let last = last.to_owned();
            // The mapping's filter: inserts only; the rest is dropped, as AWS does.
            let batch: Vec<StreamRecord> = records
                .iter()
                .filter(|r| r.event_name() == Some(&OperationType::Insert))
                .filter_map(|r| stream_record(r, &self.stream_arn))
                .collect();
            if batch.is_empty() {
                position = Position::After(last);
                iterator = out.next_shard_iterator;
                continue;
            }
            Counters::add(&self.counters.delivered, batch.len());
            Counters::add(&self.counters.batches, 1);
            let first = batch[0].dynamodb.sequence_number.clone();
            let event = StreamEvent {
                records: batch.clone(),
            };
            let answer = tokio::time::timeout(self.options.timeout, handler(event)).await;
            let retry_from = match answer {
                Ok(Ok(response)) => lowest_failure(&response, &batch).unwrap_or_else(|bad| {
                    eprintln!("stream source: the whole batch fails: {bad}");
                    Some(first.clone())
                }),
                Ok(Err(e)) => {
                    eprintln!("stream source: the function failed, the whole batch fails: {e}");
                    Some(first.clone())
                }
                Err(_) => {
                    eprintln!("stream source: the function timed out, the whole batch fails");
                    Some(first.clone())
                }
            };
            if self.options.log_batches {
                eprintln!(
                    "stream source: {} records, {}",
                    batch.len(),
                    if retry_from.is_some() {
                        "retried"
                    } else {
                        "done"
                    }
                );
            }
            match retry_from {
                None => {
                    attempts = 0;
                    position = Position::After(last);
                    iterator = out.next_shard_iterator;
                }
                Some(seq) => {
                    Counters::add(&self.counters.failed_batches, 1);
                    attempts += 1;
                    if attempts > self.options.max_retry_attempts {
                        self.discard(&batch).await;
                        attempts = 0;
                        position = Position::After(last);
                    } else {
                        position = Position::At(seq);
                        self.pause().await;
                    }
                    iterator = None;
                }
            }
        }
    }

    /// The batch given up on: described to the on-failure queue as Lambda describes it
    /// (`DDBStreamBatchInfo`), the shard moves on.
    async fn discard(&self, batch: &[StreamRecord]) {
        Counters::add(&self.counters.discarded_batches, 1);
        let Some(url) = &self.options.on_failure_queue_url else {
            eprintln!("stream source: a batch failed every retry; no on-failure queue");
            return;
        };
        let body = serde_json::json!({
            "requestContext": { "condition": "RetryAttemptsExhausted" },
            "DDBStreamBatchInfo": {
                "shardId": self.shard,
                "startSequenceNumber": batch.first().map(|r| r.dynamodb.sequence_number.clone()),
                "endSequenceNumber": batch.last().map(|r| r.dynamodb.sequence_number.clone()),
                "batchSize": batch.len(),
                "streamArn": self.stream_arn,
            }
        });
        if let Err(e) = self
            .sqs
            .send_message()
            .queue_url(url)
            .message_body(body.to_string())
            .send()
            .await
        {
            eprintln!("stream source: the on-failure queue refused: {e}");
        }
    }
}

/// The lowest failed sequence number of an answer (None: a complete success), or why the whole
/// batch fails: an identifier that is empty or names no record of the batch.
fn lowest_failure(
    response: &StreamBatchResponse,
    batch: &[StreamRecord],
) -> Result<Option<String>, String> {
    let mut lowest: Option<&str> = None;
    for failure in &response.batch_item_failures {
        let seq = failure.item_identifier.as_str();
        if !batch.iter().any(|r| r.dynamodb.sequence_number == seq) {
            return Err(format!("itemIdentifier {seq:?} is no record of the batch"));
        }
        if lowest.is_none_or(|l| sequence_order(seq, l).is_lt()) {
            lowest = Some(seq);
        }
    }
    Ok(lowest.map(str::to_owned))
}

fn json_attribute(value: &AttributeValue) -> serde_json::Value {
    match value {
        AttributeValue::S(s) => serde_json::json!({ "S": s }),
        AttributeValue::N(n) => serde_json::json!({ "N": n }),
        other => serde_json::json!({ "S": format!("{other:?}") }),
    }
}

/// The record as Lambda hands it over.
fn stream_record(record: &Record, stream_arn: &str) -> Option<StreamRecord> {
    let change = record.dynamodb()?;
    let event_name = match record.event_name()? {
        OperationType::Insert => ChangeKind::Insert,
        OperationType::Modify => ChangeKind::Modify,
        OperationType::Remove => ChangeKind::Remove,
        _ => return None,
    };
    Some(StreamRecord {
        event_id: record.event_id().unwrap_or_default().to_owned(),
        event_name,
        event_source: "aws:dynamodb".into(),
        event_source_arn: stream_arn.to_owned(),
        aws_region: record.aws_region().unwrap_or("us-east-1").to_owned(),
        dynamodb: StreamChange {
            keys: change
                .keys()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), json_attribute(v)))
                .collect(),
            sequence_number: change.sequence_number()?.to_owned(),
            size_bytes: change.size_bytes().unwrap_or_default(),
            stream_view_type: change
                .stream_view_type()
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert!(sequence_order("99", "100").is_lt());
        assert!(sequence_order("1100000000017454423010", "1100000000017454423009").is_gt());
    }
}
