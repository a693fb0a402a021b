//! EventBridge locally (moto): a custom bus per test or per `make dev`, with a rule routing its
//! events to an SQS queue so that a test (or a person) sees what was published.

use aws_sdk_eventbridge::types::Target;

use crate::StackError;

fn events_error<E: std::error::Error>(err: E) -> StackError {
    StackError::Sqs(aws_sdk_eventbridge::error::DisplayErrorContext(err).to_string())
}

/// An EventBridge client for the local endpoint (`AWS_ENDPOINT_URL_EVENTBRIDGE`, or else the
/// DynamoDB one: one moto serves every service locally).
pub async fn local_eventbridge_client() -> aws_sdk_eventbridge::Client {
    let sdk = crate::local_sdk_config().await;
    let mut config = aws_sdk_eventbridge::config::Builder::from(&sdk);
    if std::env::var_os("AWS_ENDPOINT_URL_EVENTBRIDGE").is_none() {
        if let Ok(url) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
            config = config.endpoint_url(url);
        }
    }
    aws_sdk_eventbridge::Client::from_conf(config.build())
}

/// Creates the custom bus `name` (if it does not exist); its ARN.
pub async fn create_bus(
    client: &aws_sdk_eventbridge::Client,
    name: &str,
) -> Result<String, StackError> {
    match client.create_event_bus().name(name).send().await {
        Ok(out) => Ok(out.event_bus_arn.unwrap_or_default()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_already_exists_exception()) =>
        {
            let out = client
                .describe_event_bus()
                .name(name)
                .send()
                .await
                .map_err(events_error)?;
            Ok(out.arn.unwrap_or_default())
        }
        Err(e) => Err(events_error(e)),
    }
}

/// A rule `rule` on `bus` sending every event matching `pattern` (EventBridge's JSON pattern) to
/// the queue `queue_arn`.
pub async fn route_to_queue(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    rule: &str,
    pattern: &serde_json::Value,
    queue_arn: &str,
) -> Result<(), StackError> {
    client
        .put_rule()
        .name(rule)
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .map_err(events_error)?;
    let target = Target::builder()
        .id("queue")
        .arn(queue_arn)
        .build()
        .map_err(events_error)?;
    client
        .put_targets()
        .rule(rule)
        .event_bus_name(bus)
        .targets(target)
        .send()
        .await
        .map_err(events_error)?;
    Ok(())
}

/// An archive of every event of `bus` (template.yaml's EventArchive).
pub async fn create_archive(
    client: &aws_sdk_eventbridge::Client,
    name: &str,
    bus_arn: &str,
    retention_days: i32,
) -> Result<(), StackError> {
    let pattern = serde_json::json!({ "source": [shared::events::EVENT_SOURCE] });
    match client
        .create_archive()
        .archive_name(name)
        .event_source_arn(bus_arn)
        .event_pattern(pattern.to_string())
        .retention_days(retention_days)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(events_error(e)),
    }
}

/// Takes every message of the queue at `url` now (received and deleted): their bodies.
pub async fn take_messages(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("SQS answers");
        let messages = out.messages();
        if messages.is_empty() {
            return bodies;
        }
        for m in messages {
            bodies.push(m.body().unwrap_or_default().to_owned());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("deleted");
        }
    }
}
