//! `make bench-events`: `BENCH_PUSHES` (10,000) customer messages posted to one mini program's
//! message URL (ticket-receive served over HTTP, `BENCH_CONCURRENCY` (16) in flight, as WeChat's
//! servers would), on moto's DynamoDB, Streams and EventBridge; the events table's stream drives
//! event-publisher through devstack's stream source, every 10th invocation failing to reach the
//! bus (retried by the source as Lambda retries). Reports the push answers' p50 / p99, the time
//! until every event is on the bus, DynamoDB and EventBridge requests per push, this process's
//! CPU (the product and the bench's client; moto is another process), and checks every event
//! reached the bus's queue exactly once by id.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use devstack::bus::take_messages;
use devstack::counting::{counted_dynamo, counted_eventbridge, process_cpu_secs, RequestCounter};
use devstack::inbox::Received;
use devstack::sim::{mini_program, Component, Setup};
use devstack::stream_source::{self, local_streams_client, StreamOptions};
use event_publisher::{EventBridgeBus, Publisher};
use futures::StreamExt;
use serde_json::json;
use shared::store::unix_now;

#[path = "../tests/common/mod.rs"]
mod common;

const MP: &str = "wxbencheventsmp001";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    (sorted[i] * 10.0).round() / 10.0
}

#[tokio::main]
async fn main() {
    if devstack::bench::probed() {
        return;
    }
    let count = devstack::bench::env_number("BENCH_PUSHES", 10_000) as usize;
    let concurrency = devstack::bench::env_number("BENCH_CONCURRENCY", 16) as usize;
    let component = Component::new("wxbencheventscomp1", "bench-secret", "benchtoken");
    let mut w = Setup::new(&component)
        .mini_program(mini_program(MP))
        .authorized()
        .start("bench-events")
        .await;
    let (dynamo, events) = (RequestCounter::default(), RequestCounter::default());
    w.platform.dynamo = counted_dynamo(&dynamo).await;
    let served = common::serve_pushes(&w).await;
    let eventbridge = counted_eventbridge(&events).await;
    let (bus, seen) = common::observed_bus(&w, &eventbridge, "bench-events").await;
    let publisher = Arc::new(Publisher::new(
        w.platform.event_store(),
        EventBridgeBus::new(eventbridge.clone(), &bus),
    ));
    let broken = Arc::new(Publisher::new(
        w.platform.event_store(),
        common::unreachable_bus(&bus).await,
    ));
    let published = Arc::new(AtomicU64::new(0));
    let invocations = Arc::new(AtomicU64::new(0));
    let arn = stream_source::table_stream(&w.platform.dynamo, &w.platform.tables.events)
        .await
        .unwrap();
    let (counted, calls) = (published.clone(), invocations.clone());
    let source = stream_source::start(
        local_streams_client().await,
        w.platform.sqs.clone(),
        &arn,
        StreamOptions::default(),
        move |event| {
            let (good, broken, counted) = (publisher.clone(), broken.clone(), counted.clone());
            // Every 10th invocation cannot reach the bus: its batch is retried.
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                let publisher = if n % 10 == 9 { broken } else { good };
                let (answer, outcome) = publisher.publish(&event).await;
                counted.fetch_add(outcome.published as u64, Ordering::SeqCst);
                Ok::<_, String>(answer)
            }
        },
    )
    .await
    .unwrap();

    // The platform's own events so far (the authorization's), published with the pushes.
    let before = w
        .platform
        .dynamo
        .scan()
        .table_name(&w.platform.tables.events)
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .unwrap()
        .count as usize;
    let crypto = w.component.crypto();
    let original_id = mini_program(MP).original_id;
    let url = served.url(&format!("/wechat/authorizer/{MP}/notify"));
    let http = reqwest::Client::new();
    let (dynamo_before, events_before) = (dynamo.count(), events.count());
    let cpu_before = process_cpu_secs();
    let started = Instant::now();
    let answers: Vec<(f64, bool)> = futures::stream::iter(0..count)
        .map(|i| {
            let (http, url, crypto, original_id) =
                (http.clone(), url.clone(), crypto.clone(), original_id.clone());
            async move {
                let now = unix_now();
                let plaintext = format!(
                    "<xml><ToUserName><![CDATA[{original_id}]]></ToUserName><FromUserName><![CDATA[o-bench-{}]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[message {i}]]></Content><MsgId>{}</MsgId></xml>",
                    i % 97,
                    7_000_000_000_000_000_000u64 + i as u64
                );
                let push = Received::signed_message(
                    &crypto,
                    (MP, &original_id),
                    &plaintext,
                    now,
                    &format!("bench{i}"),
                );
                let sent = Instant::now();
                let response = http
                    .post(&url)
                    .query(&push.query_pairs())
                    .body(push.body.clone())
                    .send()
                    .await;
                let ms = sent.elapsed().as_secs_f64() * 1000.0;
                let ok = match response {
                    Ok(r) => r.status().is_success() && r.text().await.unwrap_or_default() == "success",
                    Err(_) => false,
                };
                (ms, ok)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let pushed = started.elapsed();
    let answered_ok = answers.iter().filter(|(_, ok)| *ok).count();
    loop {
        if published.load(Ordering::SeqCst) as usize >= answered_ok + before {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "not every event was published: {} of {answered_ok}",
            published.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_published = started.elapsed();
    let cpu = process_cpu_secs() - cpu_before;
    let (dynamo_requests, events_requests) = (
        dynamo.count() - dynamo_before,
        events.count() - events_before,
    );
    let counts = source.stop().await;
    // Every event on the bus once: what its rule delivered to the queue, by detail.id.
    let mut ids = HashSet::new();
    let (mut delivered, mut messages) = (0usize, 0usize);
    loop {
        let bodies = take_messages(&w.platform.sqs, &seen.url).await;
        if bodies.is_empty() && delivered >= answered_ok + before {
            break;
        }
        for body in bodies {
            let event: serde_json::Value = serde_json::from_str(&body).unwrap();
            if event["detail-type"] == "message.text" {
                let id = event["detail"]["id"].as_str().unwrap_or_default();
                ids.insert(id.to_owned());
                messages += 1;
            }
            delivered += 1;
        }
        if delivered < answered_ok + before {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let mut ms: Vec<f64> = answers.iter().map(|(ms, _)| *ms).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    let per = |n: u64| (n as f64 / count as f64 * 100.0).round() / 100.0;
    println!(
        "{}",
        json!({
            "pushes": count,
            "answered_success": answered_ok,
            "concurrency": concurrency,
            "push_answer_ms_p50": percentile(&ms, 0.50),
            "push_answer_ms_p99": percentile(&ms, 0.99),
            "push_answer_ms_max": percentile(&ms, 1.0),
            "pushing_s": (pushed.as_secs_f64() * 10.0).round() / 10.0,
            "all_published_s": (all_published.as_secs_f64() * 10.0).round() / 10.0,
            "published": published.load(Ordering::SeqCst),
            "platform_events_before": before,
            "messages_on_the_bus_unique": ids.len(),
            "messages_on_the_bus_total": messages,
            "events_on_the_bus_total": delivered,
            "dynamodb_requests_per_push": per(dynamo_requests),
            "eventbridge_requests_per_push": per(events_requests),
            "stream_invocations": counts.batches,
            "stream_failed_invocations": counts.failed_batches,
            "process_cpu_s": (cpu * 10.0).round() / 10.0,
        })
    );
    assert_eq!(answered_ok, count, "every push answered success");
    assert_eq!(ids.len(), count, "every event on the bus");
    assert_eq!(messages, count, "none twice");
}
