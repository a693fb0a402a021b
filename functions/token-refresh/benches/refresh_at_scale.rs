//! 10,000 authorizers due at once, refreshed in one run against the WeChat simulator (20 ms added
//! to every answer) and moto's DynamoDB. Reports wall time, WeChat calls and DynamoDB requests per
//! authorizer. Run by `make bench-refresh` (which starts moto); `BENCH_AUTHORIZERS`,
//! `BENCH_LATENCY_MS`, `REFRESH_CONCURRENCY` change the figures.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use devstack::counting::RequestCounter;
use devstack::sim::{Component, Setup};
use serde_json::json;
use shared::store::authorizers::token_shard;
use shared::store::unix_now;

#[path = "../tests/common/mod.rs"]
mod common;

#[tokio::main]
async fn main() {
    if devstack::bench::probed() {
        return;
    }
    let count = devstack::bench::env_number("BENCH_AUTHORIZERS", 10_000) as usize;
    let latency = devstack::bench::env_number("BENCH_LATENCY_MS", 20);
    let concurrency = devstack::bench::env_number("REFRESH_CONCURRENCY", 16) as usize;

    let mut w = Setup::new(&Component::new(
        "wxbenchcomponent01",
        "bench-secret",
        "benchtoken",
    ))
    .configure(|config| config.latency_ms = latency)
    .start("bench")
    .await;
    let bulk = w.ctl.bulk_authorize("wxbench", count).await;

    let counter = RequestCounter::default();
    w.platform.dynamo = devstack::counting::counted_dynamo(&counter).await;

    // Seed: every authorizer's token expires in a minute.
    let seeding = Instant::now();
    let now = unix_now();
    let items = bulk
        .iter()
        .map(|(appid, refresh_token)| {
            HashMap::from([
                (
                    "authorizer_appid".to_owned(),
                    AttributeValue::S(appid.into()),
                ),
                ("status".to_owned(), AttributeValue::S("authorized".into())),
                (
                    "access_token".to_owned(),
                    AttributeValue::S("authorizer_token_old".into()),
                ),
                (
                    "access_token_expires_at".to_owned(),
                    AttributeValue::N((now + 60).to_string()),
                ),
                (
                    "token_shard".to_owned(),
                    AttributeValue::N(token_shard(appid).to_string()),
                ),
                (
                    "refresh_token".to_owned(),
                    AttributeValue::S(refresh_token.clone()),
                ),
                ("token_version".to_owned(), AttributeValue::N("1".into())),
                (
                    "last_event_time".to_owned(),
                    AttributeValue::N(now.to_string()),
                ),
            ])
        })
        .collect();
    devstack::bulk::put_items(&w.platform.dynamo, &w.platform.tables.authorizers, items).await;
    w.store_ticket().await;
    eprintln!(
        "seeded {count} authorizers in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let refresher = common::refresher(&w.platform, 1800, concurrency);
    let requests_before = counter.count();
    let started = Instant::now();
    let summary = refresher.refresh_all().await;
    let wall = started.elapsed();
    let requests = counter.count() - requests_before;
    let calls = w.ctl.all_calls().await;

    assert_eq!(summary.refreshed as usize, count, "{summary:?}");
    let per_authorizer = requests as f64 / summary.refreshed as f64;
    println!(
        "{}",
        json!({
            "authorizers": count,
            "refreshed": summary.refreshed,
            "failed": summary.failures(),
            "wechat_latency_ms": latency,
            "concurrency": concurrency,
            "wall_time_s": (wall.as_secs_f64() * 100.0).round() / 100.0,
            "per_second": (summary.refreshed as f64 / wall.as_secs_f64()).round(),
            "wechat_calls_api_authorizer_token": calls["api_authorizer_token"],
            "wechat_calls_api_component_token": calls.get("api_component_token").cloned().unwrap_or(json!(0)),
            "dynamodb_requests": requests,
            "dynamodb_requests_per_authorizer": (per_authorizer * 1000.0).round() / 1000.0,
        })
    );
    assert!(
        per_authorizer <= 2.01,
        "more than 2 DynamoDB requests per authorizer: {per_authorizer}"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}
