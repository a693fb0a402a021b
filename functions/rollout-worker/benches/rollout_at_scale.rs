//! `make bench-rollout`: one rollout to 1,000 mini programs (reviews ending 10 s after
//! submission, 5 % rejected, auto release) on moto's DynamoDB and SQS and the WeChat simulator, worked
//! by rollout-worker behind the local SQS event source (5 invocations at a time, as template.yaml's
//! MaximumConcurrency), review results pushed to ticket-receive. Reports wall time from creation
//! to the last release, WeChat calls, DynamoDB and SQS requests per target, and this process's
//! CPU (the product and the in-process simulator; moto is another process). `BENCH_TARGETS`,
//! `BENCH_CONCURRENCY` change the set-up.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use devstack::counting::{counted_dynamo, counted_sqs, process_cpu_secs, RequestCounter};
use devstack::event_source::{self, QueueOptions, SourceOptions};
use devstack::sim::{template, Component, Setup};
use rollout_worker::Worker;
use serde_json::{json, Value};
use shared::rollout::{ReleasePolicy, RolloutSpec, SimpleRelease, SyncAges, TargetState};

#[path = "../tests/common/mod.rs"]
mod common;

#[tokio::main]
async fn main() {
    if devstack::bench::probed() {
        return;
    }
    let count = devstack::bench::env_number("BENCH_TARGETS", 1000) as usize;
    let concurrency = devstack::bench::env_number("BENCH_CONCURRENCY", 50) as i64;
    let queue = QueueOptions {
        visibility_timeout_secs: 60,
        max_receive_count: 5,
    };
    let mut w = Setup::new(&Component::new(
        "wxbenchrolloutcomp",
        "bench-secret",
        "benchtoken",
    ))
    .configure(|c| c.templates = vec![template(1, "1.0.0", "shop", 0)])
    .queue(queue)
    .with_ticket()
    .start("bench-rollout")
    .await;
    let bulk = w.ctl.bulk_authorize("wxbench", count).await;
    devstack::bulk::store_code_authorizers(&w.platform, &bulk).await;
    w.ctl
        .set_submit_quota(count as i64 * 2, count as i64 * 2)
        .await;
    // Reviews end 10 s after submission, on WeChat's clock, which runs with the real one: moving
    // it on would put the pushes' signed timestamps outside ticket-receive's replay window.
    let rejected = w.ctl.reject_reviews_by_fraction("wxbench", 0.05, 10).await;

    let (dynamo, sqs) = (RequestCounter::default(), RequestCounter::default());
    w.platform.dynamo = counted_dynamo(&dynamo).await;
    w.platform.sqs = counted_sqs(&sqs).await;
    let _served = common::serve_pushes(&w).await;
    let worker = Arc::new(Worker::from_platform(&w.platform, SyncAges::default()).unwrap());
    let consumer = worker.clone();
    let source = event_source::start(&w.queue, SourceOptions::default(), move |event| {
        let worker = consumer.clone();
        async move { Ok::<_, Infallible>(worker.handle_batch(event).await) }
    });

    let appids: Vec<String> = bulk.into_iter().map(|(appid, _)| appid).collect();
    let spec = RolloutSpec {
        name: "bench".into(),
        template_id: 1,
        user_version: "2.0.0".into(),
        user_desc: "bench".into(),
        ext: Default::default(),
        standard_template: false,
        release: ReleasePolicy::Simple(SimpleRelease::Auto),
        concurrency,
    };
    let calls_before = w.ctl.all_calls().await;
    let (dynamo_before, sqs_before) = (dynamo.count(), sqs.count());
    let cpu_before = process_cpu_secs();
    let started = Instant::now();
    let rollouts = worker.rollouts();
    let rollout = rollouts.create(spec, &appids, "bench").await.unwrap();
    // The schedule's sync, compressed: every 10 s, a review without result after 30 s is asked
    // of WeChat (a push the simulator stopped retrying while moto was busy).
    let ages = SyncAges {
        stale_secs: 60,
        review_secs: 30,
    };
    let (mut syncs, mut sent_by_sync) = (0u64, 0usize);
    let mut last_sync = Instant::now();
    let finished = loop {
        let current = rollouts
            .store()
            .rollout(&rollout.id)
            .await
            .unwrap()
            .unwrap();
        if current.done_count >= current.target_count {
            break current;
        }
        if last_sync.elapsed() >= Duration::from_secs(10) {
            let summary = rollouts.sync(ages).await.unwrap();
            syncs += 1;
            sent_by_sync += summary.sent;
            last_sync = Instant::now();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "the rollout did not finish: {current:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let wall = started.elapsed();
    let cpu = process_cpu_secs() - cpu_before;
    let (dynamo_requests, sqs_requests) =
        (dynamo.count() - dynamo_before, sqs.count() - sqs_before);
    let counts = source.stop().await;
    let store = rollouts.store();
    let released = store
        .count_in_state(&rollout.id, TargetState::Released)
        .await
        .unwrap();
    let was_rejected = store
        .count_in_state(&rollout.id, TargetState::Rejected)
        .await
        .unwrap();
    let calls = w.ctl.all_calls().await;
    // Review results the simulator stopped retrying (not answered in time): the sync caught up.
    let pushes = w.ctl.pushes().await;
    let given_up = pushes
        .as_array()
        .map(|all| all.iter().filter(|p| p["delivered"] == false).count())
        .unwrap_or(0);
    let mut wechat_calls = 0u64;
    if let (Value::Object(after), Value::Object(before)) = (&calls, &calls_before) {
        for (endpoint, n) in after {
            let was = before.get(endpoint).and_then(Value::as_u64).unwrap_or(0);
            wechat_calls += n.as_u64().unwrap_or(0) - was;
        }
    }
    let per = |n: u64| (n as f64 / count as f64 * 100.0).round() / 100.0;
    println!(
        "{}",
        json!({
            "targets": count,
            "released": released,
            "rejected": was_rejected,
            "expected_rejected": rejected.len(),
            "status": finished.status.as_str(),
            "concurrency": concurrency,
            "wall_time_s": (wall.as_secs_f64() * 10.0).round() / 10.0,
            "process_cpu_s": (cpu * 10.0).round() / 10.0,
            "wechat_calls_per_target": per(wechat_calls),
            "dynamodb_requests_per_target": per(dynamo_requests),
            "sqs_requests_per_target": per(sqs_requests),
            "messages_received": counts.received,
            "messages_failed": counts.failed,
            "invocations": counts.batches,
            "syncs": syncs,
            "steps_sent_by_sync": sent_by_sync,
            "push_deliveries_given_up": given_up,
        })
    );
    assert_eq!(released as usize + was_rejected as usize, count);
}
