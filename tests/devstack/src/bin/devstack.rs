//! Local-stack helper.
//!
//! * `devstack create-tables PREFIX`: creates template.yaml's tables in the DynamoDB endpoint
//!   (`AWS_ENDPOINT_URL_DYNAMODB`) and prints `VAR=name` lines for the functions' environment;
//! * `devstack dump TABLE`: prints every item of a table as JSON lines (for looking at the demo);
//! * `devstack create-queue NAME [--visibility-timeout SECS] [--max-receive-count N]`: creates the
//!   queue and its dead-letter queue `NAME-dlq` in the SQS endpoint (`AWS_ENDPOINT_URL_SQS`;
//!   defaults: template.yaml's `RolloutQueue`) and prints `ROLLOUT_QUEUE_URL=…` and
//!   `ROLLOUT_DEAD_LETTER_QUEUE_URL=…`;
//! * `devstack sqs-source --queue-url URL --function NAME --invoke-url URL [--concurrency N]
//!   [--batch-size N] [--timeout-secs N] [--schedule-secs N --schedule-input JSON]`: the queue's
//!   Lambda event source for a function served by `cargo lambda watch` (its invoke API at
//!   `--invoke-url`), as `devstack::event_source` does it in the tests; with `--schedule-secs`,
//!   also invokes the function with `--schedule-input` every N seconds, as the EventBridge
//!   schedule does. Runs until killed.
//! * `devstack create-webhooks PREFIX`: creates the platform's bus `PREFIXevents` (template.yaml's
//!   `EventBus`) and the webhook queue `PREFIXwebhooks` with its dead-letter queue (its
//!   `WebhookQueue`'s options) in moto, and prints `EVENT_BUS_NAME=…`, `WEBHOOK_QUEUE_URL=…`,
//!   `WEBHOOK_QUEUE_ARN=…`, `WEBHOOK_DLQ_URL=…` and `WEBHOOK_SECRET_PREFIX=…`;
//! * `devstack webhook-receiver [--port N] [--secret whsec_…]`: a webhook receiver on loopback
//!   that prints every POST and, given the subscription's secret, whether its signature holds
//!   (answered 401 when it does not). Runs until killed.
//! * `devstack create-bus NAME`: creates the custom bus `NAME` in the EventBridge endpoint
//!   (`AWS_ENDPOINT_URL_EVENTBRIDGE`), its archive (template.yaml's `EventArchive`, the
//!   `EventArchiveRetentionDays` default), a queue `NAME-seen` every event of the platform is
//!   routed to (to look at what was published), and the publisher's on-failure queue; prints
//!   `EVENT_BUS_NAME=…`, `EVENTS_SEEN_QUEUE_URL=…` and `EVENT_PUBLISHER_DEAD_LETTER_QUEUE_URL=…`;
//! * `devstack stream-source --table NAME --function NAME --invoke-url URL [--batch-size N]
//!   [--timeout-secs N] [--max-retry-attempts N] [--on-failure-queue-url URL]`: the table's
//!   DynamoDB stream as Lambda's event source mapping drives a function (template.yaml's
//!   `Outbox` event), as `devstack::stream_source` does it in the tests. Runs until killed.

use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use devstack::event_source::{self, QueueOptions, SourceOptions};
use serde_json::{json, Map, Value};

fn to_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!(s),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(n)),
        AttributeValue::Bool(b) => json!(b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(list) => Value::Array(list.iter().map(to_json).collect()),
        AttributeValue::M(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
        AttributeValue::Ss(set) => json!(set),
        AttributeValue::Ns(set) => json!(set),
        other => json!(format!("{other:?}")),
    }
}

async fn run(args: &[String]) -> Result<(), String> {
    match args {
        [cmd, prefix] if cmd == "create-tables" => {
            let client = devstack::local_client().await;
            let vars = devstack::create_tables(&client, prefix)
                .await
                .map_err(|e| e.to_string())?;
            for (var, name) in vars {
                println!("{var}={name}");
            }
            Ok(())
        }
        [cmd, table] if cmd == "dump" => {
            let client = devstack::local_client().await;
            let mut pages = client.scan().table_name(table).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page =
                    page.map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
                for item in page.items() {
                    let object: Map<String, Value> =
                        item.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
                    println!("{}", Value::Object(object));
                }
            }
            Ok(())
        }
        [cmd, rest @ ..] if cmd == "create-queue" => create_queue(rest).await,
        [cmd, rest @ ..] if cmd == "sqs-source" => sqs_source(rest).await,
        [cmd, prefix] if cmd == "create-webhooks" => create_webhooks(prefix).await,
        [cmd, rest @ ..] if cmd == "webhook-receiver" => {
            let flags = Flags::parse(rest, &["port", "secret"])?;
            let port: u16 = flags.number("port", 9200)?;
            devstack::webhooks::serve_and_print(([127, 0, 0, 1], port).into(), flags.get("secret"))
                .await;
            Ok(())
        }
        [cmd, name] if cmd == "create-bus" => create_bus(name).await,
        [cmd, rest @ ..] if cmd == "stream-source" => stream_source(rest).await,
        _ => Err(USAGE.into()),
    }
}

const USAGE: &str = "usage: devstack create-tables PREFIX | devstack dump TABLE | \
    devstack create-queue NAME [--visibility-timeout SECS] [--max-receive-count N] | \
    devstack sqs-source --queue-url URL --function NAME --invoke-url URL [--concurrency N] \
    [--batch-size N] [--timeout-secs N] [--schedule-secs N --schedule-input JSON] | \
    devstack create-webhooks PREFIX | devstack webhook-receiver [--port N] [--secret whsec_...] | \
    devstack create-bus NAME | \
    devstack stream-source --table NAME --function NAME --invoke-url URL [--batch-size N] \
    [--timeout-secs N] [--max-retry-attempts N] [--on-failure-queue-url URL]";

/// `--name value` pairs after the positional arguments.
struct Flags<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Flags<'a> {
    fn parse(args: &'a [String], known: &[&str]) -> Result<Self, String> {
        let mut pairs = Vec::new();
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            let name = flag
                .strip_prefix("--")
                .filter(|n| known.contains(n))
                .ok_or_else(|| format!("unknown argument {flag:?}; {USAGE}"))?;
            let value = rest
                .next()
                .ok_or_else(|| format!("--{name} needs a value"))?;
            pairs.push((name, value.as_str()));
        }
        Ok(Self(pairs))
    }

    fn get(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    fn required(&self, name: &str) -> Result<&'a str, String> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required; {USAGE}"))
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name} {v:?} is not a number")),
        }
    }
}

async fn create_queue(args: &[String]) -> Result<(), String> {
    let (name, flags) = match args {
        [name, rest @ ..] => (
            name,
            Flags::parse(rest, &["visibility-timeout", "max-receive-count"])?,
        ),
        [] => return Err(USAGE.into()),
    };
    let template =
        devstack::read_template(&devstack::template_path()).map_err(|e| e.to_string())?;
    let deployed = QueueOptions::of_template(&template).map_err(|e| e.to_string())?;
    let options = QueueOptions {
        visibility_timeout_secs: flags
            .number("visibility-timeout", deployed.visibility_timeout_secs)?,
        max_receive_count: flags.number("max-receive-count", deployed.max_receive_count)?,
    };
    let client = devstack::local_sqs_client().await;
    let queue = event_source::create_queue(&client, name, options)
        .await
        .map_err(|e| e.to_string())?;
    println!("ROLLOUT_QUEUE_URL={}", queue.url);
    println!("ROLLOUT_DEAD_LETTER_QUEUE_URL={}", queue.dlq_url);
    Ok(())
}

async fn create_webhooks(prefix: &str) -> Result<(), String> {
    let template =
        devstack::read_template(&devstack::template_path()).map_err(|e| e.to_string())?;
    let options =
        QueueOptions::of_template_queue(&template, "WebhookQueue").map_err(|e| e.to_string())?;
    let client = devstack::local_sqs_client().await;
    let name = prefix.trim_end_matches('-');
    let hooks = devstack::webhooks::create_webhooks(&client, name, options)
        .await
        .map_err(|e| e.to_string())?;
    println!("EVENT_BUS_NAME={}", hooks.bus_name);
    println!("WEBHOOK_QUEUE_URL={}", hooks.queue.url);
    println!("WEBHOOK_QUEUE_ARN={}", hooks.queue.arn);
    println!("WEBHOOK_DLQ_URL={}", hooks.queue.dlq_url);
    println!("WEBHOOK_SECRET_PREFIX={}", hooks.secret_prefix);
    Ok(())
}

async fn sqs_source(args: &[String]) -> Result<(), String> {
    let flags = Flags::parse(
        args,
        &[
            "queue-url",
            "function",
            "invoke-url",
            "concurrency",
            "batch-size",
            "timeout-secs",
            "schedule-secs",
            "schedule-input",
        ],
    )?;
    let (url, function, invoke_base) = (
        flags.required("queue-url")?,
        flags.required("function")?,
        flags.required("invoke-url")?,
    );
    let defaults = SourceOptions::default();
    let options = SourceOptions {
        concurrency: flags.number("concurrency", defaults.concurrency)?,
        batch_size: flags.number("batch-size", defaults.batch_size)?,
        timeout: Duration::from_secs(flags.number("timeout-secs", defaults.timeout.as_secs())?),
        log_batches: true,
        ..defaults
    };
    if !(1..=10).contains(&options.batch_size) || options.concurrency == 0 {
        return Err("--batch-size is 1 to 10, --concurrency at least 1".into());
    }
    let schedule = match (flags.get("schedule-secs"), flags.get("schedule-input")) {
        (None, None) => None,
        (Some(_), Some(input)) => {
            let input: Value = serde_json::from_str(input)
                .map_err(|e| format!("--schedule-input is not JSON: {e}"))?;
            Some((
                Duration::from_secs(flags.number("schedule-secs", 0u64)?.max(1)),
                input,
            ))
        }
        _ => return Err("--schedule-secs and --schedule-input go together".into()),
    };
    let client = devstack::local_sqs_client().await;
    let queue = event_source::open_queue(&client, url)
        .await
        .map_err(|e| e.to_string())?;
    // The function's answer may take its whole timeout; the invoke API adds no limit of its own.
    let http = reqwest::Client::builder()
        .timeout(options.timeout + Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    eprintln!(
        "devstack sqs-source: {url} -> {function} ({} at a time, batches of {}; visibility \
         timeout {} s, dead-letter queue {} after {} receives)",
        options.concurrency,
        options.batch_size,
        queue.options.visibility_timeout_secs,
        queue.dlq_url,
        queue.options.max_receive_count
    );
    let source = event_source::start(
        &queue,
        options,
        event_source::invoking(http.clone(), invoke_base, function),
    );
    match schedule {
        None => std::future::pending::<()>().await,
        Some((every, input)) => {
            let url = event_source::invoke_url(invoke_base, function);
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await; // the first tick is now: the schedule's first run comes a period later
            loop {
                ticks.tick().await;
                match event_source::invoke(&http, &url, &input).await {
                    Ok(answer) => {
                        eprintln!("devstack sqs-source: scheduled {function} {input}: {answer}")
                    }
                    Err(e) => eprintln!("devstack sqs-source: scheduled {function} {input}: {e}"),
                }
            }
        }
    }
    drop(source);
    Ok(())
}

/// The `Default` of a template parameter.
fn parameter_default(name: &str) -> Result<i64, String> {
    let template =
        devstack::read_template(&devstack::template_path()).map_err(|e| e.to_string())?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&template).map_err(|e| e.to_string())?;
    doc["Parameters"][name]["Default"]
        .as_i64()
        .ok_or_else(|| format!("template.yaml: parameter {name} has no numeric Default"))
}

async fn create_bus(name: &str) -> Result<(), String> {
    use devstack::bus;
    let events = bus::local_eventbridge_client().await;
    let sqs = devstack::local_sqs_client().await;
    let arn = bus::create_bus(&events, name)
        .await
        .map_err(|e| e.to_string())?;
    let retention = parameter_default("EventArchiveRetentionDays")?;
    bus::create_archive(&events, &format!("{name}-archive"), &arn, retention as i32)
        .await
        .map_err(|e| e.to_string())?;
    let seen = event_source::create_queue(&sqs, &format!("{name}-seen"), QueueOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let pattern = json!({ "source": [shared::events::EVENT_SOURCE] });
    bus::route_to_queue(&events, name, "everything-to-seen", &pattern, &seen.arn)
        .await
        .map_err(|e| e.to_string())?;
    println!("EVENT_BUS_NAME={name}");
    println!("EVENTS_SEEN_QUEUE_URL={}", seen.url);
    // The publisher's on-failure destination: the seen queue's own dead-letter queue would do,
    // but a queue of its own reads as template.yaml's EventPublisherDeadLetterQueue.
    let failed =
        event_source::create_queue(&sqs, &format!("{name}-publisher"), QueueOptions::default())
            .await
            .map_err(|e| e.to_string())?;
    println!("EVENT_PUBLISHER_DEAD_LETTER_QUEUE_URL={}", failed.dlq_url);
    Ok(())
}

async fn stream_source(args: &[String]) -> Result<(), String> {
    use devstack::stream_source::{self, StreamOptions};
    let flags = Flags::parse(
        args,
        &[
            "table",
            "function",
            "invoke-url",
            "batch-size",
            "timeout-secs",
            "max-retry-attempts",
            "on-failure-queue-url",
        ],
    )?;
    let (table, function, invoke_base) = (
        flags.required("table")?,
        flags.required("function")?,
        flags.required("invoke-url")?,
    );
    let defaults = StreamOptions::default();
    let options = StreamOptions {
        batch_size: flags.number("batch-size", defaults.batch_size)?,
        timeout: Duration::from_secs(flags.number("timeout-secs", defaults.timeout.as_secs())?),
        max_retry_attempts: flags.number("max-retry-attempts", defaults.max_retry_attempts)?,
        on_failure_queue_url: flags.get("on-failure-queue-url").map(str::to_owned),
        log_batches: true,
        ..defaults
    };
    if !(1..=10_000).contains(&options.batch_size) {
        return Err("--batch-size is 1 to 10000".into());
    }
    let dynamo = devstack::local_client().await;
    let arn = stream_source::table_stream(&dynamo, table)
        .await
        .map_err(|e| e.to_string())?;
    let http = reqwest::Client::builder()
        .timeout(options.timeout + Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    eprintln!(
        "devstack stream-source: {arn} -> {function} (batches of {}, {} retries, then {})",
        options.batch_size,
        options.max_retry_attempts,
        options.on_failure_queue_url.as_deref().unwrap_or("dropped")
    );
    let source = stream_source::start(
        stream_source::local_streams_client().await,
        devstack::local_sqs_client().await,
        &arn,
        options,
        event_source::invoking(http, invoke_base, function),
    )
    .await
    .map_err(|e| e.to_string())?;
    std::future::pending::<()>().await;
    drop(source);
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("devstack: {message}");
            ExitCode::FAILURE
        }
    }
}
