//! SQS locally as Lambda uses it: a queue with its dead-letter queue ([`create_queue`]), and an
//! event source ([`start`]) that drives a consumer the way a Lambda event source mapping does.
//!
//! What the event source does, as AWS documents it for SQS event sources ("Using Lambda with
//! Amazon SQS", "Handling errors for an SQS event source", "Reporting batch item failures"):
//! up to `batch_size` (≤ 10) messages per receive, one invocation per receive with the SQS event
//! (`Records`: messageId, receiptHandle, body, attributes with ApproximateReceiveCount,
//! eventSourceARN, …), at most `concurrency` invocations at a time (the mapping's
//! `ScalingConfig.MaximumConcurrency`); then the messages that did not fail are deleted. A message
//! fails when the answer's `batchItemFailures` names it; the whole batch fails when the handler
//! errs or times out, or when the answer names an identifier that is empty or not in the batch.
//! Failed messages are left alone: SQS delivers them again once their visibility timeout has
//! passed, and moves them to the dead-letter queue after `maxReceiveCount` receives, as on AWS.
//!
//! moto serves one request at a time here (`scripts/moto_server.py`), so this never long-polls
//! (a `WaitTimeSeconds` receive would hold every other AWS call of the tests): it short-polls, and
//! pauses `idle_pause` after an empty answer.

use std::collections::HashSet;
use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use tokio::sync::watch;

use crate::StackError;

fn sqs_error<E: std::error::Error>(err: E) -> StackError {
    StackError::Sqs(aws_sdk_sqs::error::DisplayErrorContext(err).to_string())
}

/// How a queue is made: its visibility timeout and how many receives send a message to the
/// dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOptions {
    /// How long a received message stays invisible (SQS `VisibilityTimeout`, seconds).
    pub visibility_timeout_secs: u32,
    /// Receives after which SQS moves a message to the dead-letter queue (`maxReceiveCount`).
    pub max_receive_count: u32,
}

impl QueueOptions {
    /// The options of template.yaml's `RolloutQueue` (what `make dev` uses): its
    /// `VisibilityTimeout` and its `RedrivePolicy`'s `maxReceiveCount`.
    pub fn of_template(template: &str) -> Result<Self, StackError> {
        Self::of_template_queue(template, "RolloutQueue")
    }

    /// The options of template.yaml's queue `logical_id` (e.g. `WebhookQueue`).
    pub fn of_template_queue(template: &str, logical_id: &str) -> Result<Self, StackError> {
        let doc: serde_yaml::Value = serde_yaml::from_str(template)?;
        let queue = &doc["Resources"][logical_id]["Properties"];
        let number = |value: &serde_yaml::Value, what: &str| {
            value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    StackError::Template(format!("{logical_id}: {what} is not a number"))
                })
        };
        Ok(Self {
            visibility_timeout_secs: number(&queue["VisibilityTimeout"], "VisibilityTimeout")?,
            max_receive_count: number(
                &queue["RedrivePolicy"]["maxReceiveCount"],
                "RedrivePolicy.maxReceiveCount",
            )?,
        })
    }
}

impl Default for QueueOptions {
    /// For tests: a failed message comes back after 2 s, and goes to the dead-letter queue after
    /// 3 receives.
    fn default() -> Self {
        Self {
            visibility_timeout_secs: 2,
            max_receive_count: 3,
        }
    }
}

/// A queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct LocalQueue {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
    pub arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
    pub options: QueueOptions,
}

/// How many messages a queue holds, as SQS counts them (approximately on AWS, exactly in moto).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Depth {
    /// `ApproximateNumberOfMessages`: visible, waiting for a receive.
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible`: received, neither deleted nor visible again.
    pub in_flight: u64,
    /// `ApproximateNumberOfMessagesDelayed`: sent with a delay not yet over.
    pub delayed: u64,
}

impl Depth {
    pub fn is_empty(&self) -> bool {
        self.visible + self.in_flight + self.delayed == 0
    }
}

/// Creates `name` and its dead-letter queue `name-dlq` (kept 14 days, as template.yaml's), the
/// first redriving to the second after `options.max_receive_count` receives.
pub async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    options: QueueOptions,
) -> Result<LocalQueue, StackError> {
    let dlq_url = create(
        client,
        &format!("{name}-dlq"),
        [(QueueAttributeName::MessageRetentionPeriod, "1209600".into())],
    )
    .await?;
    let dlq_arn = queue_arn(client, &dlq_url).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": options.max_receive_count.to_string(),
    });
    let visibility = options.visibility_timeout_secs.to_string();
    let url = create(
        client,
        name,
        [
            (QueueAttributeName::VisibilityTimeout, visibility),
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
        ],
    )
    .await?;
    open_queue(client, &url).await
}

/// The queue at `url` as it is: its ARN, visibility timeout, and the dead-letter queue its
/// redrive policy names (an error if it has none).
pub async fn open_queue(client: &aws_sdk_sqs::Client, url: &str) -> Result<LocalQueue, StackError> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(sqs_error)?;
    let attribute = |name: QueueAttributeName| {
        out.attributes()
            .and_then(|a| a.get(&name))
            .cloned()
            .ok_or_else(|| StackError::Sqs(format!("{url} has no {}", name.as_str())))
    };
    let invalid = |what: &str| StackError::Sqs(format!("{url}: {what}"));
    let redrive: serde_json::Value =
        serde_json::from_str(&attribute(QueueAttributeName::RedrivePolicy)?)
            .map_err(|_| invalid("RedrivePolicy is not JSON"))?;
    let dlq_arn = redrive["deadLetterTargetArn"]
        .as_str()
        .ok_or_else(|| invalid("RedrivePolicy names no deadLetterTargetArn"))?
        .to_owned();
    // maxReceiveCount: a number or a string of one, whichever the creator sent.
    let max_receive_count = match &redrive["maxReceiveCount"] {
        serde_json::Value::String(n) => n.parse().ok(),
        n => n.as_u64().and_then(|n| u32::try_from(n).ok()),
    }
    .ok_or_else(|| invalid("RedrivePolicy has no maxReceiveCount"))?;
    let visibility_timeout_secs = attribute(QueueAttributeName::VisibilityTimeout)?
        .parse()
        .map_err(|_| invalid("VisibilityTimeout is not a number"))?;
    let dlq_name = dlq_arn.rsplit(':').next().unwrap_or_default();
    let dlq_url = client
        .get_queue_url()
        .queue_name(dlq_name)
        .send()
        .await
        .map_err(sqs_error)?
        .queue_url
        .ok_or_else(|| invalid("its dead-letter queue has no URL"))?;
    Ok(LocalQueue {
        client: client.clone(),
        url: url.to_owned(),
        arn: attribute(QueueAttributeName::QueueArn)?,
        dlq_url,
        dlq_arn,
        options: QueueOptions {
            visibility_timeout_secs,
            max_receive_count,
        },
    })
}

/// Creates the queue `name` with `attributes`; its URL.
async fn create(
    client: &aws_sdk_sqs::Client,
    name: &str,
    attributes: impl IntoIterator<Item = (QueueAttributeName, String)>,
) -> Result<String, StackError> {
    let out = client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.into_iter().collect()))
        .send()
        .await
        .map_err(sqs_error)?;
    out.queue_url
        .ok_or_else(|| StackError::Sqs("CreateQueue answered no QueueUrl".into()))
}

/// A queue name no other test (or test run) uses: [`crate::unique_prefix`] within SQS's rules
/// (letters, digits, `-`, `_`; at most 80 characters with the `-dlq` of its dead-letter queue).
pub fn unique_queue_name(test: &str) -> String {
    let name: String = crate::unique_prefix(test)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(72)
        .collect();
    name.trim_end_matches('-').to_owned()
}

/// The ARN of the queue at `url`.
pub async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> Result<String, StackError> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sqs_error)?;
    out.attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| StackError::Sqs(format!("{url} has no QueueArn")))
}

/// The depth of the queue at `url`.
pub async fn depth(client: &aws_sdk_sqs::Client, url: &str) -> Result<Depth, StackError> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(sqs_error)?;
    let count = |name: QueueAttributeName| {
        out.attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Depth {
        visible: count(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    })
}

impl LocalQueue {
    /// How many messages the queue holds.
    pub async fn depth(&self) -> Depth {
        depth(&self.client, &self.url).await.expect("SQS answers")
    }

    /// How many messages the dead-letter queue holds.
    pub async fn dead_letter_depth(&self) -> Depth {
        depth(&self.client, &self.dlq_url)
            .await
            .expect("SQS answers")
    }

    /// Waits, polling with a deadline of `limit`, until the queue holds nothing (visible, in
    /// flight or delayed): every message deleted or moved to the dead-letter queue. `Err` with
    /// the last depth seen if it still held messages at the deadline.
    pub async fn wait_drained(&self, limit: Duration) -> Result<(), Depth> {
        let until = Instant::now() + limit;
        loop {
            let seen = self.depth().await;
            if seen.is_empty() {
                return Ok(());
            }
            if Instant::now() >= until {
                return Err(seen);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends `body` to the queue (a test's own message; the product sends through
    /// `shared::queue`).
    pub async fn send(&self, body: &str) {
        let send = self.client.send_message().queue_url(&self.url);
        send.message_body(body).send().await.expect("sent");
    }

    /// Takes every message of the dead-letter queue (received and deleted): the bodies with the
    /// receives each had before it was moved there.
    pub async fn take_dead_letters(&self) -> Vec<DeadLetter> {
        let mut letters = Vec::new();
        loop {
            let out = self
                .client
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages(10)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("SQS answers");
            let messages = out.messages();
            if messages.is_empty() {
                return letters;
            }
            let entries = messages
                .iter()
                .enumerate()
                .map(|(i, m)| delete_entry(i, m.receipt_handle().unwrap_or_default()))
                .collect();
            let delete = self.client.delete_message_batch().queue_url(&self.dlq_url);
            delete
                .set_entries(Some(entries))
                .send()
                .await
                .expect("deleted");
            letters.extend(messages.iter().map(|m| DeadLetter {
                body: m.body().unwrap_or_default().to_owned(),
                // As the dead-letter queue reports it, less this receive.
                receive_count: receive_count(m).saturating_sub(1),
            }));
        }
    }
}

/// A message found in the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub body: String,
    /// How often it was received before this (moto keeps the count of the source queue).
    pub receive_count: u64,
}

fn receive_count(message: &aws_sdk_sqs::types::Message) -> u64 {
    message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn delete_entry(index: usize, receipt_handle: &str) -> DeleteMessageBatchRequestEntry {
    DeleteMessageBatchRequestEntry::builder()
        .id(index.to_string())
        .receipt_handle(receipt_handle)
        .build()
        .expect("id and receipt handle are set")
}

/// How the event source polls and invokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceOptions {
    /// Invocations at a time (the mapping's `MaximumConcurrency`; template.yaml: 5).
    pub concurrency: usize,
    /// Messages per invocation, 1 to 10 (the mapping's `BatchSize`; template.yaml: 10).
    pub batch_size: u32,
    /// The pause after a receive that found nothing.
    pub idle_pause: Duration,
    /// An invocation that has not answered by then fails its whole batch (the function's
    /// `Timeout`; template.yaml: 30 s).
    pub timeout: Duration,
    /// Print a line per invocation (`make dev`'s log).
    pub log_batches: bool,
}

impl Default for SourceOptions {
    fn default() -> Self {
        Self {
            concurrency: 5,
            batch_size: 10,
            idle_pause: Duration::from_millis(100),
            timeout: Duration::from_secs(30),
            log_batches: false,
        }
    }
}

/// What an event source has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Messages received (a redelivery counts again).
    pub received: u64,
    /// Messages deleted after their invocation.
    pub deleted: u64,
    /// Messages of invocations that failed them (left for redelivery).
    pub failed: u64,
    /// Invocations.
    pub batches: u64,
    /// SQS calls (receive, delete) that failed.
    pub sqs_errors: u64,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    deleted: AtomicU64,
    failed: AtomicU64,
    batches: AtomicU64,
    sqs_errors: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::SeqCst);
    }

    fn snapshot(&self) -> Counts {
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        Counts {
            received: get(&self.received),
            deleted: get(&self.deleted),
            failed: get(&self.failed),
            batches: get(&self.batches),
            sqs_errors: get(&self.sqs_errors),
        }
    }
}

/// A running event source; [`EventSource::stop`] ends it (dropping it aborts it).
pub struct EventSource {
    stop: watch::Sender<bool>,
    pollers: Vec<tokio::task::JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl EventSource {
    pub fn counts(&self) -> Counts {
        self.counters.snapshot()
    }

    /// Stops polling; the invocations under way finish (and delete what they should) first.
    pub async fn stop(mut self) -> Counts {
        let _ = self.stop.send(true);
        for poller in std::mem::take(&mut self.pollers) {
            let _ = poller.await;
        }
        self.counts()
    }
}

impl Drop for EventSource {
    fn drop(&mut self) {
        for poller in &self.pollers {
            poller.abort();
        }
    }
}

/// Polls `queue` and invokes `handler` with each batch, as a Lambda SQS event source mapping with
/// `ReportBatchItemFailures` does (module doc), until stopped.
pub fn start<H, Fut, E>(queue: &LocalQueue, options: SourceOptions, handler: H) -> EventSource
where
    H: Fn(SqsEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<SqsBatchResponse, E>> + Send + 'static,
    E: Display + Send + 'static,
{
    assert!(
        (1..=10).contains(&options.batch_size) && options.concurrency > 0,
        "batch size 1 to 10, concurrency at least 1: {options:?}"
    );
    let (stop, stopped) = watch::channel(false);
    let counters = Arc::new(Counters::default());
    let handler = Arc::new(handler);
    let pollers = (0..options.concurrency)
        .map(|_| {
            let poller = Poller {
                queue: queue.clone(),
                options,
                counters: counters.clone(),
                stopped: stopped.clone(),
            };
            tokio::spawn(poller.run(handler.clone()))
        })
        .collect();
    EventSource {
        stop,
        pollers,
        counters,
    }
}

/// One of the `concurrency` loops: receive, invoke, delete. N loops, each waiting for its
/// invocation, are N invocations at most.
struct Poller {
    queue: LocalQueue,
    options: SourceOptions,
    counters: Arc<Counters>,
    stopped: watch::Receiver<bool>,
}

impl Poller {
    async fn run<H, Fut, E>(mut self, handler: Arc<H>)
    where
        H: Fn(SqsEvent) -> Fut,
        Fut: Future<Output = Result<SqsBatchResponse, E>>,
        E: Display,
    {
        while !*self.stopped.borrow() {
            let messages = match self.receive().await {
                Ok(messages) if !messages.is_empty() => messages,
                outcome => {
                    if let Err(e) = outcome {
                        Counters::add(&self.counters.sqs_errors, 1);
                        eprintln!("event source: receive failed: {e}");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(self.options.idle_pause) => {}
                        _ = self.stopped.changed() => {}
                    }
                    continue;
                }
            };
            Counters::add(&self.counters.received, messages.len());
            Counters::add(&self.counters.batches, 1);
            let event = sqs_event(&messages, &self.queue);
            let answer = tokio::time::timeout(self.options.timeout, handler(event)).await;
            let failed = match answer {
                Ok(Ok(response)) => failed_ids(&response, &messages).unwrap_or_else(|bad| {
                    eprintln!("event source: the whole batch fails: {bad}");
                    all_ids(&messages)
                }),
                Ok(Err(e)) => {
                    eprintln!("event source: the function failed, the whole batch fails: {e}");
                    all_ids(&messages)
                }
                Err(_) => {
                    eprintln!("event source: the function timed out, the whole batch fails");
                    all_ids(&messages)
                }
            };
            if self.options.log_batches {
                eprintln!(
                    "event source: {} messages, {} failed",
                    messages.len(),
                    failed.len()
                );
            }
            Counters::add(&self.counters.failed, failed.len());
            self.delete_all_but(&messages, &failed).await;
        }
    }

    async fn receive(&self) -> Result<Vec<aws_sdk_sqs::types::Message>, StackError> {
        let out = self
            .queue
            .client
            .receive_message()
            .queue_url(&self.queue.url)
            .max_number_of_messages(self.options.batch_size as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(out.messages.unwrap_or_default())
    }

    async fn delete_all_but(
        &self,
        messages: &[aws_sdk_sqs::types::Message],
        failed: &HashSet<String>,
    ) {
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| !failed.contains(m.message_id().unwrap_or_default()))
            .enumerate()
            .map(|(i, m)| delete_entry(i, m.receipt_handle().unwrap_or_default()))
            .collect();
        if entries.is_empty() {
            return;
        }
        let sent = entries.len();
        let delete = self
            .queue
            .client
            .delete_message_batch()
            .queue_url(&self.queue.url);
        match delete.set_entries(Some(entries)).send().await {
            Ok(out) => {
                Counters::add(&self.counters.deleted, out.successful().len());
                if !out.failed().is_empty() {
                    Counters::add(&self.counters.sqs_errors, out.failed().len());
                    eprintln!(
                        "event source: {} of {sent} deletes refused",
                        out.failed().len()
                    );
                }
            }
            Err(e) => {
                Counters::add(&self.counters.sqs_errors, 1);
                eprintln!("event source: delete failed: {}", sqs_error(e));
            }
        }
    }
}

fn all_ids(messages: &[aws_sdk_sqs::types::Message]) -> HashSet<String> {
    messages
        .iter()
        .filter_map(|m| m.message_id().map(str::to_owned))
        .collect()
}

/// The messages an answer fails, or why the whole batch fails: an `itemIdentifier` that is empty
/// or names no message of the batch (AWS: "Lambda treats a batch as a complete failure").
fn failed_ids(
    response: &SqsBatchResponse,
    messages: &[aws_sdk_sqs::types::Message],
) -> Result<HashSet<String>, String> {
    let batch = all_ids(messages);
    response
        .batch_item_failures
        .iter()
        .map(|f| {
            if batch.contains(&f.item_identifier) {
                Ok(f.item_identifier.clone())
            } else {
                Err(format!(
                    "itemIdentifier {:?} is no message of the batch",
                    f.item_identifier
                ))
            }
        })
        .collect()
}

/// The event Lambda sends for `messages` of `queue`.
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message], queue: &LocalQueue) -> SqsEvent {
    let region = queue
        .client
        .config()
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".into());
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id().map(str::to_owned);
            record.receipt_handle = m.receipt_handle().map(str::to_owned);
            record.body = m.body().map(str::to_owned);
            record.md5_of_body = m.md5_of_body().map(str::to_owned);
            record.md5_of_message_attributes = m.md5_of_message_attributes().map(str::to_owned);
            record.attributes = m
                .attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect();
            record.message_attributes = m
                .message_attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    let mut attribute = SqsMessageAttribute::default();
                    attribute.data_type = Some(v.data_type().to_owned());
                    attribute.string_value = v.string_value().map(str::to_owned);
                    attribute.binary_value = v.binary_value().map(|b| {
                        let mut data = Base64Data::default();
                        data.extend_from_slice(b.as_ref());
                        data
                    });
                    (k.clone(), attribute)
                })
                .collect();
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(queue.arn.clone());
            record.aws_region = Some(region.clone());
            record
        })
        .collect();
    event
}

/// A handler that invokes `function` through a Lambda invoke API at `invoke_base` (cargo lambda
/// watch's, in `make dev`): `POST {invoke_base}/2015-03-31/functions/{function}/invocations` with
/// the event; a function error (an `X-Amz-Function-Error` header, a non-2xx status, or an error
/// document `{errorType, errorMessage}`) fails the batch, an empty or `null` answer fails nothing
/// (AWS: "Lambda treats a batch as a complete success"), anything else must be the
/// `SqsBatchResponse` (or, for a stream source, the stream's `StreamBatchResponse`: any event
/// and its batch answer).
pub fn invoking<Ev, Answer>(
    http: reqwest::Client,
    invoke_base: &str,
    function: &str,
) -> impl Fn(Ev) -> std::pin::Pin<Box<dyn Future<Output = Result<Answer, InvokeError>> + Send>>
       + Send
       + Sync
       + 'static
where
    Ev: serde::Serialize + Send + Sync + 'static,
    Answer: serde::de::DeserializeOwned + Default + Send + 'static,
{
    let url = invoke_url(invoke_base, function);
    move |event| {
        let (http, url) = (http.clone(), url.clone());
        Box::pin(async move {
            let answer = invoke(&http, &url, &event).await?;
            if answer.is_null() {
                return Ok(Answer::default());
            }
            serde_json::from_value(answer).map_err(|e| InvokeError::Answer(e.to_string()))
        })
    }
}

/// The invoke API's URL of `function`.
pub fn invoke_url(invoke_base: &str, function: &str) -> String {
    format!(
        "{}/2015-03-31/functions/{function}/invocations",
        invoke_base.trim_end_matches('/')
    )
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("invoke request failed: {0}")]
    Request(String),
    #[error("the function failed ({0})")]
    Function(String),
    #[error("the function's answer is not a batch response: {0}")]
    Answer(String),
}

/// Invokes the function at `url` (an invoke API URL) with `payload`: its answer (`null` for an
/// empty one), or the function's error.
pub async fn invoke(
    http: &reqwest::Client,
    url: &str,
    payload: &impl serde::Serialize,
) -> Result<serde_json::Value, InvokeError> {
    let response = http
        .post(url)
        .json(payload)
        .send()
        .await
        .map_err(|e| InvokeError::Request(e.to_string()))?;
    let status = response.status();
    let function_error = response
        .headers()
        .get("x-amz-function-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response
        .text()
        .await
        .map_err(|e| InvokeError::Request(e.to_string()))?;
    let answer: serde_json::Value = if body.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&body).map_err(|e| InvokeError::Answer(e.to_string()))?
    };
    let error_document = answer.get("errorType").is_some() || answer.get("errorMessage").is_some();
    if !status.is_success() || function_error.is_some() || error_document {
        return Err(InvokeError::Function(format!(
            "HTTP {status}, {}",
            answer.get("errorMessage").unwrap_or(&answer)
        )));
    }
    Ok(answer)
}
