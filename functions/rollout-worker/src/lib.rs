//! rollout-worker: the consumer of the rollout queue (an SQS event source in AWS, with partial
//! batch responses: a message whose step could not be made now is retried after the visibility
//! timeout, and lands in the dead-letter queue after 5 tries) and the rollout sync on a schedule
//! (`{"mode":"sync"}`). The steps themselves are `shared::rollout`.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use futures::stream::{self, StreamExt};
use lambda_runtime::Error;
use serde_json::{json, Value};
use shared::config::{whole_number, ConfigError};
use shared::platform::Platform;
use shared::rollout::{PlatformRollouts, StepMessage, SyncAges};

/// Messages of one batch worked on at once (each is a few WeChat calls).
const STEPS_AT_ONCE: usize = 4;

pub struct Worker {
    rollouts: PlatformRollouts,
    ages: SyncAges,
    /// The onboardings' schedule (`{"mode":"onboarding"}`).
    onboardings: shared::platform::PlatformOnboardings,
}

impl Worker {
    pub fn from_platform(platform: &Platform, ages: SyncAges) -> Result<Self, ConfigError> {
        let rollouts = platform
            .rollouts()
            .ok_or(ConfigError::Missing("ROLLOUT_QUEUE_URL"))?;
        Ok(Self {
            rollouts,
            ages,
            onboardings: platform.onboardings(),
        })
    }

    /// `ROLLOUT_STALE_SECS`, `ROLLOUT_REVIEW_SYNC_SECS` (README, "Rollouts").
    pub fn ages_from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<SyncAges, ConfigError> {
        let default = SyncAges::default();
        Ok(SyncAges {
            stale_secs: whole_number(&get, "ROLLOUT_STALE_SECS", default.stale_secs, 0)?,
            review_secs: whole_number(&get, "ROLLOUT_REVIEW_SYNC_SECS", default.review_secs, 0)?,
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let ages = Self::ages_from_lookup(|name| std::env::var(name).ok())?;
        Self::from_platform(&Platform::from_env().await?, ages)
    }

    pub fn rollouts(&self) -> &PlatformRollouts {
        &self.rollouts
    }

    /// One batch: each message's step; those that could not be made now are answered as
    /// failures (retried by SQS), a message that is not a step is dropped with a log line.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let failed: Vec<String> = stream::iter(event.records)
            .map(|record| async move {
                let id = record.message_id.clone().unwrap_or_default();
                let Some(message) = record
                    .body
                    .as_deref()
                    .and_then(|b| serde_json::from_str::<StepMessage>(b).ok())
                else {
                    tracing::error!(message_id = id, "not a rollout step; dropped");
                    return None;
                };
                match self.rollouts.advance(&message).await {
                    Ok(outcome) => {
                        tracing::debug!(rollout = message.rollout_id, appid = message.appid, ?outcome, "step");
                        None
                    }
                    Err(e) => {
                        tracing::warn!(rollout = message.rollout_id, appid = message.appid, error = %e, "step not made; SQS retries it");
                        Some(id)
                    }
                }
            })
            .buffer_unordered(STEPS_AT_ONCE)
            .filter_map(|failed| async move { failed })
            .collect()
            .await;
        shared::queue::batch_response(failed)
    }
}

/// The Lambda handler: an SQS batch (`Records`), or the schedule's `{"mode":"sync"}` or
/// `{"mode":"onboarding"}` (the onboardings run: pushes folded in, reviews polled).
pub async fn handle(worker: &Worker, event: Value) -> Result<Value, Error> {
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event)?;
        return Ok(serde_json::to_value(worker.handle_batch(batch).await)?);
    }
    match event.get("mode").and_then(Value::as_str) {
        Some("sync") => {
            let summary = worker.rollouts.sync(worker.ages).await?;
            Ok(json!({ "sync": summary }))
        }
        Some("onboarding") => {
            let summary = worker.onboardings.sync().await?;
            Ok(json!({ "onboarding": summary }))
        }
        _ => Err("expected an SQS batch, {\"mode\":\"sync\"} or {\"mode\":\"onboarding\"}".into()),
    }
}
