//! webhook-delivery: the consumer of the webhook queue (an SQS event source with partial batch
//! responses). Each message is one event for one subscription (`shared::webhook::WebhookMessage`,
//! made by the subscription's rule); it is POSTed as JSON to the subscription's URL, signed with
//! its secret.
//!
//! * 2xx: delivered. Anything else (a redirect, never followed; another status; a timeout; a URL
//!   whose host now resolves to a refused address) is a failed attempt: the message is answered
//!   as failed with its visibility set to the backoff of its attempt ([`RetryPolicy`]), so SQS
//!   delivers it again then; past [`RetryPolicy::max_age_secs`] (24 h) from the first attempt it
//!   is moved to the dead-letter queue and shown as dead.
//! * Each attempt claims the delivery first (`shared::store::webhooks`): a message SQS delivers
//!   again, or twice at once, of an event already delivered to that subscription is not sent
//!   again. (A crash between the receiver's 2xx and the record is the one case where an event is
//!   sent twice: receivers deduplicate on the `X-Webhook-Id` header.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use shared::config::{whole_number, ConfigError};
use shared::store::{
    unix_now, AttemptOutcome, Claim, StoreError, Subscription, SubscriptionState, WebhookStore,
};
use shared::webhook::{self, TargetPolicy, WebhookMessage};

/// Messages of one batch delivered at once.
const AT_ONCE: usize = 10;

/// When a failed attempt is tried again, and when the delivery gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first retry's delay; each next one doubles it…
    pub base_secs: i64,
    /// …up to this.
    pub max_delay_secs: i64,
    /// Past this age (from the first attempt) a failed delivery is dead.
    pub max_age_secs: i64,
}

impl Default for RetryPolicy {
    /// 30 s, 1 min, 2 min … 1 h, then hourly: some 30 attempts in 24 h.
    fn default() -> Self {
        Self {
            base_secs: 30,
            max_delay_secs: 3600,
            max_age_secs: 24 * 3600,
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt `attempt` (1 for the first), within SQS's 12 h visibility.
    pub fn delay_secs(&self, attempt: i64) -> i32 {
        let doubled = self
            .base_secs
            .saturating_mul(1i64 << (attempt - 1).clamp(0, 30));
        doubled.min(self.max_delay_secs).clamp(0, 43_200) as i32
    }
}

/// How the delivery runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub queue_url: String,
    pub dlq_url: String,
    pub secret_prefix: String,
    pub policy: TargetPolicy,
    pub retry: RetryPolicy,
    /// One POST's timeout.
    pub timeout: Duration,
    /// The retry delay of a message whose delivery another attempt holds, or whose subscription
    /// is still being created.
    pub busy_secs: i32,
}

impl Settings {
    /// `WEBHOOK_QUEUE_URL`, `WEBHOOK_DLQ_URL`, `WEBHOOK_SECRET_PREFIX`, `WEBHOOK_ALLOW_LOOPBACK`,
    /// `WEBHOOK_RETRY_BASE_SECS`, `WEBHOOK_RETRY_MAX_DELAY_SECS`, `WEBHOOK_MAX_AGE_SECS`,
    /// `WEBHOOK_TIMEOUT_SECS` (README, "Webhooks").
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            get(name)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let default = RetryPolicy::default();
        Ok(Self {
            queue_url: required("WEBHOOK_QUEUE_URL")?,
            dlq_url: required("WEBHOOK_DLQ_URL")?,
            secret_prefix: required("WEBHOOK_SECRET_PREFIX")?,
            policy: TargetPolicy::from_lookup(&get),
            retry: RetryPolicy {
                base_secs: whole_number(&get, "WEBHOOK_RETRY_BASE_SECS", default.base_secs, 1)?,
                max_delay_secs: whole_number(
                    &get,
                    "WEBHOOK_RETRY_MAX_DELAY_SECS",
                    default.max_delay_secs,
                    1,
                )?,
                max_age_secs: whole_number(&get, "WEBHOOK_MAX_AGE_SECS", default.max_age_secs, 1)?,
            },
            timeout: Duration::from_secs(whole_number(&get, "WEBHOOK_TIMEOUT_SECS", 10, 1)? as u64),
            busy_secs: 5,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Secrets Manager: {0}")]
    Secret(String),
    #[error("SQS: {0}")]
    Queue(String),
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handled {
    /// Delete it: delivered, dead, or nothing to deliver.
    Done,
    /// Deliver it again after this many seconds.
    Retry(i32),
}

pub struct Delivery {
    store: WebhookStore,
    secrets: aws_sdk_secretsmanager::Client,
    sqs: aws_sdk_sqs::Client,
    http: reqwest::Client,
    settings: Settings,
    /// Secrets by subscription id and creation time (a subscription deleted and made anew under
    /// the same id has another secret).
    secret_cache: Mutex<HashMap<(String, i64), String>>,
}

impl Delivery {
    pub fn new(
        store: WebhookStore,
        secrets: aws_sdk_secretsmanager::Client,
        sqs: aws_sdk_sqs::Client,
        settings: Settings,
    ) -> Result<Self, ConfigError> {
        let http = webhook::delivery_client(settings.policy, settings.timeout).map_err(|e| {
            ConfigError::Invalid {
                name: "WEBHOOK_TIMEOUT_SECS",
                reason: e.to_string(),
            }
        })?;
        Ok(Self {
            store,
            secrets,
            sqs,
            http,
            settings,
            secret_cache: Mutex::default(),
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let sdk = shared::config::aws_sdk_config().await;
        let tables = shared::config::TableNames::from_env()?;
        let settings = Settings::from_lookup(|name| std::env::var(name).ok())?;
        Self::new(
            WebhookStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                &tables.webhooks,
                &tables.webhook_deliveries,
            ),
            aws_sdk_secretsmanager::Client::new(&sdk),
            aws_sdk_sqs::Client::new(&sdk),
            settings,
        )
    }

    /// One batch: the messages to be delivered again are answered as failures, each with its
    /// visibility set to its retry delay.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let failed: Vec<String> = stream::iter(event.records)
            .map(|record| async move {
                let id = record.message_id.clone().unwrap_or_default();
                let retry = match self.handle(&record).await {
                    Ok(Handled::Done) => return None,
                    Ok(Handled::Retry(secs)) => secs,
                    Err(e) => {
                        tracing::warn!(message_id = id, error = %e, "webhook message not handled; SQS delivers it again");
                        self.settings.busy_secs
                    }
                };
                if let Err(e) = self.set_visibility(&record, retry).await {
                    // The queue's own visibility timeout applies instead.
                    tracing::warn!(message_id = id, error = %e, "retry delay not set");
                }
                Some(id)
            })
            .buffer_unordered(AT_ONCE)
            .filter_map(|failed| async move { failed })
            .collect()
            .await;
        shared::queue::batch_response(failed)
    }

    async fn handle(&self, record: &SqsMessage) -> Result<Handled, DeliveryError> {
        let body = record.body.as_deref().unwrap_or_default();
        let Ok(message) = serde_json::from_str::<WebhookMessage>(body) else {
            tracing::error!(
                message_id = record.message_id,
                "not a webhook message; moved to the dead-letter queue"
            );
            self.dead_letter(body).await?;
            return Ok(Handled::Done);
        };
        let (sub_id, event) = (&message.subscription, &message.detail);
        let sub = match self.store.subscription(sub_id).await? {
            Some(sub) if sub.state == SubscriptionState::Active => sub,
            Some(sub) if sub.state == SubscriptionState::Creating => {
                return Ok(Handled::Retry(self.settings.busy_secs))
            }
            _ => {
                tracing::info!(
                    subscription = sub_id,
                    event = event.id,
                    "subscription deleted: not delivered"
                );
                return Ok(Handled::Done);
            }
        };
        let now_ms = unix_now() * 1000;
        // The lease outlasts the POST and the writes around it.
        let lease_until = now_ms + self.settings.timeout.as_millis() as i64 + 20_000;
        let (attempts, queued_at) = match self
            .store
            .claim(sub_id, &event.id, &event.kind, now_ms, lease_until)
            .await?
        {
            Claim::Claimed {
                attempts,
                queued_at,
            } => (attempts, queued_at),
            Claim::Done(state) => {
                tracing::info!(
                    subscription = sub_id,
                    event = event.id,
                    state = state.as_str(),
                    "already done: not sent again"
                );
                return Ok(Handled::Done);
            }
            Claim::Busy => return Ok(Handled::Retry(self.settings.busy_secs)),
        };
        let outcome = match self.post(&sub, &message).await {
            Ok(status) => AttemptOutcome::Delivered { status },
            Err((status, error)) => {
                let age_secs = (now_ms - queued_at) / 1000;
                if age_secs >= self.settings.retry.max_age_secs {
                    self.dead_letter(body).await?;
                    AttemptOutcome::Dead { status, error }
                } else {
                    AttemptOutcome::Failed { status, error }
                }
            }
        };
        let done_ms = unix_now() * 1000;
        if !self
            .store
            .complete(sub_id, &event.id, lease_until, done_ms, &outcome)
            .await?
        {
            tracing::warn!(
                subscription = sub_id,
                event = event.id,
                "the attempt outlasted its lease"
            );
        }
        tracing::info!(subscription = sub_id, event = event.id, kind = event.kind, attempt = attempts + 1, outcome = ?outcome, "webhook attempt");
        Ok(match outcome {
            AttemptOutcome::Failed { .. } => {
                Handled::Retry(self.settings.retry.delay_secs(attempts + 1))
            }
            _ => Handled::Done,
        })
    }

    /// One signed POST: the receiver's 2xx status, or the status (if any) and why it failed.
    async fn post(
        &self,
        sub: &Subscription,
        message: &WebhookMessage,
    ) -> Result<i64, (Option<i64>, String)> {
        // Checked again at each attempt: the host may resolve elsewhere now (the client's
        // resolver checks the addresses it connects to; this covers IP-literal hosts).
        let url = webhook::check_url(&sub.url, self.settings.policy)
            .await
            .map_err(|e| (None, format!("url refused: {e}")))?;
        let secret = self.secret(sub).await.map_err(|e| {
            tracing::error!(subscription = sub.id, error = %e, "signing secret unavailable");
            (None, "signing secret unavailable".to_owned())
        })?;
        let body = serde_json::to_vec(&message.detail).expect("an event serializes");
        let signature = webhook::signature_header(&secret, unix_now(), &body);
        let request = self.http.post(url).body(body);
        let response = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(webhook::SIGNATURE_HEADER, signature)
            .header(webhook::EVENT_ID_HEADER, &message.detail.id)
            .header(webhook::KIND_HEADER, &message.detail.kind)
            .header(webhook::SUBSCRIPTION_HEADER, &sub.id)
            .send()
            .await
            .map_err(|e| (None, transport_error(&e)))?;
        let status = response.status();
        let code = i64::from(status.as_u16());
        if status.is_success() {
            Ok(code)
        } else if status.is_redirection() {
            Err((Some(code), format!("HTTP {code}: a redirect, not followed")))
        } else {
            Err((Some(code), format!("HTTP {code}")))
        }
    }

    async fn secret(&self, sub: &Subscription) -> Result<String, DeliveryError> {
        let key = (sub.id.clone(), sub.created_at_ms);
        if let Some(secret) = self.secret_cache.lock().expect("cache").get(&key) {
            return Ok(secret.clone());
        }
        let name = format!("{}{}", self.settings.secret_prefix, sub.id);
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| {
                DeliveryError::Secret(
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        let secret = out
            .secret_string
            .ok_or_else(|| DeliveryError::Secret("the secret has no string".into()))?;
        let mut cache = self.secret_cache.lock().expect("cache");
        cache.insert(key, secret.clone());
        Ok(secret)
    }

    async fn dead_letter(&self, body: &str) -> Result<(), DeliveryError> {
        let send = self.sqs.send_message().queue_url(&self.settings.dlq_url);
        send.message_body(body).send().await.map_err(|e| {
            DeliveryError::Queue(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
        })?;
        Ok(())
    }

    async fn set_visibility(&self, record: &SqsMessage, secs: i32) -> Result<(), DeliveryError> {
        let receipt = record.receipt_handle.as_deref().unwrap_or_default();
        let change = self.sqs.change_message_visibility();
        change
            .queue_url(&self.settings.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(secs)
            .send()
            .await
            .map_err(|e| {
                DeliveryError::Queue(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
            })?;
        Ok(())
    }
}

/// Why a POST got no answer, in words safe to show (no URL, no addresses).
fn transport_error(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".into()
    } else if err.is_connect() {
        // The guarded resolver's refusal is a connect error too: its source says which.
        let mut source = std::error::Error::source(err);
        while let Some(e) = source {
            if let Some(refusal) = e.downcast_ref::<webhook::TargetError>() {
                return format!("url refused: {refusal}");
            }
            source = e.source();
        }
        "could not connect".into()
    } else {
        "the request failed".into()
    }
}

/// The Lambda handler.
pub async fn handle(delivery: &Delivery, event: SqsEvent) -> SqsBatchResponse {
    delivery.handle_batch(event).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let retry = RetryPolicy::default();
        let delays: Vec<i32> = (1..=9).map(|a| retry.delay_secs(a)).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(retry.delay_secs(200), 3600);
        // Some 30 attempts fit the 24 h.
        let mut at = 0i64;
        let mut attempts = 1;
        while at < retry.max_age_secs {
            at += i64::from(retry.delay_secs(attempts));
            attempts += 1;
        }
        assert!((25..=35).contains(&attempts), "{attempts}");
    }
}
