//! Requests counted on their way out of an AWS SDK client (benchmarks report DynamoDB, SQS and
//! EventBridge requests per item).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

// The SDK's interceptor types, through the DynamoDB crate's re-exports: every AWS SDK client
// takes the same ones (the SQS client below too).
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

/// Counts every request a client sends (each retry too).
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<AtomicU64>);

impl RequestCounter {
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A DynamoDB client of the local SDK configuration whose requests `counter` counts.
pub async fn counted_dynamo(counter: &RequestCounter) -> aws_sdk_dynamodb::Client {
    let sdk = crate::local_sdk_config().await;
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(counter.clone())
            .build(),
    )
}

/// An SQS client of the local SDK configuration whose requests `counter` counts.
pub async fn counted_sqs(counter: &RequestCounter) -> aws_sdk_sqs::Client {
    let sdk = crate::local_sdk_config().await;
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk)
            .interceptor(counter.clone())
            .build(),
    )
}

/// An EventBridge client of the local endpoint (`crate::bus`) whose requests `counter` counts.
pub async fn counted_eventbridge(counter: &RequestCounter) -> aws_sdk_eventbridge::Client {
    let base = crate::bus::local_eventbridge_client().await;
    aws_sdk_eventbridge::Client::from_conf(
        base.config()
            .to_builder()
            .interceptor(counter.clone())
            .build(),
    )
}

/// The CPU time (user + system) this process has used so far, in seconds (Linux: /proc).
pub fn process_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis: utime is the 12th, stime the 13th.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // USER_HZ is 100 on Linux.
    (ticks(11) + ticks(12)) / 100.0
}
