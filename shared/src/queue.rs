//! The rollouts' step queue: one SQS message per step of one target, consumed by rollout-worker
//! (template.yaml's `RolloutQueue`, with its dead-letter queue).
//!
//! [`StepQueue`] is what the domain needs of it; [`SqsQueue`] is SQS. `SendMessageBatch` takes
//! at most 10 entries and may accept some and refuse others in one answer (its `Failed` list), so
//! [`SqsQueue::send_batch`] sends slices of 10 and resends only the refused entries, a bounded
//! number of times, before reporting the ones still refused.

use std::future::Future;
use std::time::Duration;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::retry::Backoff;

/// At most this many entries in one `SendMessageBatch` (SQS's limit).
pub const MAX_BATCH: usize = 10;

/// At most this delay of one message (SQS's `DelaySeconds`: 0 to 900).
pub const MAX_DELAY_SECS: u32 = 900;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The request itself failed (after the SDK's own retries): nothing of it is known sent.
    #[error("SQS {operation} failed: {message}")]
    Backend {
        operation: &'static str,
        message: String,
    },
    /// Entries SQS still refused after every attempt; the others were sent.
    #[error("SQS refused {} of {total} messages after {attempts} attempts (first: {})", refused.len(), refused[0])]
    Refused {
        total: usize,
        attempts: u32,
        refused: Vec<Refusal>,
    },
    #[error("a message delay of {0} s is more than SQS's {MAX_DELAY_SECS} s")]
    Delay(u32),
}

/// One entry SQS refused in a batch answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("message {index}: {code}{}", if *.sender_fault { " (the message's fault)" } else { "" })]
pub struct Refusal {
    /// Its position in the slice given to [`StepQueue::send_batch`].
    pub index: usize,
    /// SQS's error code (e.g. `InternalError`, `InvalidParameterValue`).
    pub code: String,
    /// True when SQS says the entry itself is wrong: sending it again cannot help.
    pub sender_fault: bool,
}

/// The step queue as the rollouts see it.
pub trait StepQueue {
    /// Sends one message, delivered after `delay_secs` (at most [`MAX_DELAY_SECS`]).
    fn send(
        &self,
        body: &str,
        delay_secs: u32,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Sends every body (in requests of at most [`MAX_BATCH`]); an error names the bodies not sent.
    fn send_batch(&self, bodies: &[String]) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Resends of refused entries: 4 attempts in all, 100 ms, 400 ms, 1.6 s apart (with jitter), well
/// within the 10 s of a push and the 29 s of an admin call.
pub const SEND_BACKOFF: Backoff = Backoff::new(4, Duration::from_millis(100), 4);

/// The SQS queue at `url`.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    backoff: Backoff,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
            backoff: SEND_BACKOFF,
        }
    }

    /// The same queue with another resend policy for refused batch entries.
    pub fn with_backoff(self, backoff: Backoff) -> Self {
        Self { backoff, ..self }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// One `SendMessageBatch` of `entries` (index, body): the entries refused.
    async fn send_entries(&self, entries: Vec<(usize, &str)>) -> Result<Vec<Refusal>, QueueError> {
        let request: Vec<SendMessageBatchRequestEntry> = entries
            .into_iter()
            .map(|(index, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message_body(body)
                    .build()
                    .map_err(|e| backend("SendMessageBatch", e))
            })
            .collect::<Result<_, _>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| backend("SendMessageBatch", e))?;
        out.failed()
            .iter()
            .map(|f| {
                let index = f.id().parse().map_err(|_| QueueError::Backend {
                    operation: "SendMessageBatch",
                    message: format!("an answer names entry {:?}, which was not sent", f.id()),
                })?;
                Ok(Refusal {
                    index,
                    code: f.code().to_owned(),
                    sender_fault: f.sender_fault(),
                })
            })
            .collect()
    }
}

fn backend<E: std::error::Error>(operation: &'static str, err: E) -> QueueError {
    QueueError::Backend {
        operation,
        message: aws_sdk_sqs::error::DisplayErrorContext(err).to_string(),
    }
}

impl StepQueue for SqsQueue {
    async fn send(&self, body: &str, delay_secs: u32) -> Result<(), QueueError> {
        if delay_secs > MAX_DELAY_SECS {
            return Err(QueueError::Delay(delay_secs));
        }
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(delay_secs as i32)
            .send()
            .await
            .map_err(|e| backend("SendMessage", e))?;
        Ok(())
    }

    async fn send_batch(&self, bodies: &[String]) -> Result<(), QueueError> {
        send_in_batches(bodies, self.backoff, |entries| self.send_entries(entries)).await
    }
}

/// Sends `bodies` through `send` (one `SendMessageBatch`: the entries given, answering those
/// refused) in slices of [`MAX_BATCH`]; entries refused other than by their own fault are sent
/// again, alone, up to `backoff.attempts` in all. Every slice is tried whatever an earlier one
/// did; the refusals left are reported together, by index in `bodies`.
pub async fn send_in_batches<'a, F, Fut>(
    bodies: &'a [String],
    backoff: Backoff,
    send: F,
) -> Result<(), QueueError>
where
    F: Fn(Vec<(usize, &'a str)>) -> Fut,
    Fut: Future<Output = Result<Vec<Refusal>, QueueError>>,
{
    let mut refused = Vec::new();
    for (slice, chunk) in bodies.chunks(MAX_BATCH).enumerate() {
        let mut pending: Vec<(usize, &str)> = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| (slice * MAX_BATCH + i, body.as_str()))
            .collect();
        let mut attempt = 1;
        loop {
            let refusals = send(pending.clone()).await?;
            let (final_refusals, retry): (Vec<Refusal>, Vec<Refusal>) = refusals
                .into_iter()
                .partition(|r| r.sender_fault || attempt >= backoff.attempts);
            refused.extend(final_refusals);
            if retry.is_empty() {
                break;
            }
            pending.retain(|(index, _)| retry.iter().any(|r| r.index == *index));
            let delay = backoff.delay(attempt);
            tracing::warn!(
                refused = retry.len(),
                attempt,
                delay_ms = delay.as_millis() as u64,
                code = %retry[0].code,
                "SQS refused batch entries; sending them again"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        refused.sort_by_key(|r| r.index);
        Err(QueueError::Refused {
            total: bodies.len(),
            attempts: backoff.attempts,
            refused,
        })
    }
}

/// The answer of an SQS-triggered function (`ReportBatchItemFailures`): the messages that
/// failed, delivered again by SQS; every other one of the batch is deleted.
pub fn batch_response(
    failed: impl IntoIterator<Item = String>,
) -> aws_lambda_events::sqs::SqsBatchResponse {
    let mut response = aws_lambda_events::sqs::SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|item_identifier| {
            let mut failure = aws_lambda_events::sqs::BatchItemFailure::default();
            failure.item_identifier = item_identifier;
            failure
        })
        .collect();
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// A `SendMessageBatch` stand-in: refuses each body as often as `refusals` says (with the
    /// given sender fault), records every request.
    struct Fake {
        refusals: Mutex<HashMap<String, (u32, bool)>>,
        requests: Mutex<Vec<Vec<String>>>,
    }

    impl Fake {
        fn new(refusals: &[(&str, u32, bool)]) -> Self {
            Self {
                refusals: Mutex::new(
                    refusals
                        .iter()
                        .map(|(b, n, f)| ((*b).to_owned(), (*n, *f)))
                        .collect(),
                ),
                requests: Mutex::new(Vec::new()),
            }
        }

        async fn send(&self, entries: Vec<(usize, &str)>) -> Result<Vec<Refusal>, QueueError> {
            assert!(
                !entries.is_empty() && entries.len() <= MAX_BATCH,
                "{entries:?}"
            );
            let bodies = entries.iter().map(|(_, b)| (*b).to_owned()).collect();
            self.requests.lock().unwrap().push(bodies);
            let mut refusals = self.refusals.lock().unwrap();
            let mut refused = Vec::new();
            for (index, body) in entries {
                if let Some((left, sender_fault)) = refusals.get_mut(body) {
                    if *left > 0 {
                        *left -= 1;
                        refused.push(Refusal {
                            index,
                            code: "InternalError".into(),
                            sender_fault: *sender_fault,
                        });
                    }
                }
            }
            Ok(refused)
        }

        fn requests(&self) -> Vec<Vec<String>> {
            self.requests.lock().unwrap().clone()
        }
    }

    fn bodies(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("m{i}")).collect()
    }

    const BACKOFF: Backoff = Backoff::new(3, Duration::from_millis(100), 2);

    #[tokio::test(start_paused = true)]
    async fn slices_of_ten_each_body_once() {
        let fake = Fake::new(&[]);
        let all = bodies(25);
        send_in_batches(&all, BACKOFF, |e| fake.send(e))
            .await
            .unwrap();
        let requests = fake.requests();
        let sizes: Vec<usize> = requests.iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);
        assert_eq!(requests.concat(), all);
    }

    #[tokio::test(start_paused = true)]
    async fn only_refused_entries_are_sent_again() {
        let fake = Fake::new(&[("m3", 2, false), ("m12", 1, false)]);
        let all = bodies(15);
        send_in_batches(&all, BACKOFF, |e| fake.send(e))
            .await
            .unwrap();
        let requests = fake.requests();
        assert_eq!(requests.len(), 5, "{requests:?}");
        assert_eq!(requests[1], ["m3"]);
        assert_eq!(requests[2], ["m3"]);
        assert_eq!(requests[4], ["m12"]);
        let mut sent: Vec<String> = requests.concat();
        sent.sort();
        sent.dedup();
        assert_eq!(sent.len(), 15, "every body sent");
    }

    #[tokio::test(start_paused = true)]
    async fn entries_still_refused_are_an_error_after_the_attempts() {
        let fake = Fake::new(&[("m1", 10, false), ("m11", 10, true)]);
        let all = bodies(12);
        let err = send_in_batches(&all, BACKOFF, |e| fake.send(e))
            .await
            .unwrap_err();
        let QueueError::Refused { total, refused, .. } = err else {
            panic!("{err}");
        };
        assert_eq!(total, 12);
        let indexes: Vec<usize> = refused.iter().map(|r| r.index).collect();
        assert_eq!(indexes, [1, 11]);
        let requests = fake.requests();
        let tries = |body: &str| {
            requests
                .iter()
                .filter(|r| r.contains(&body.to_owned()))
                .count()
        };
        assert_eq!(tries("m1"), 3, "the attempts, no more");
        assert_eq!(tries("m11"), 1, "the message's own fault is not retried");
        assert_eq!(tries("m0"), 1);
    }
}
