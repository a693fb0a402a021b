//! Rollouts end to end, on moto's tables and queue and the WeChat simulator: created through the
//! admin API, worked by rollout-worker behind a local SQS event source (as Lambda's would drive
//! it), review results pushed by the simulator to ticket-receive served over HTTP, which queues
//! the next step. 50 targets with rejections, redelivered messages, a consumer killed mid-step,
//! quota running out and coming back, pause / resume / cancel, gray steps, bad input.

// The rollout's futures nest deeply (a step, a sync, the store, the SDK): room for the compiler's
// layout queries of the tests' own futures around them.
#![recursion_limit = "256"]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use code_admin::PlatformCodeAdmin;
use devstack::apigw::Served;
use devstack::event_source::{self, EventSource, QueueOptions, SourceOptions};
use devstack::sim::{template, Component, Setup};
use devstack::wait::{poll, poll_within};
use devstack::world::World;
use lambda_http::http::StatusCode;
use rollout_worker::Worker;
use serde_json::{json, Value};
use shared::rollout::{StepMessage, SyncAges};

/// code-admin's test helpers: the admin token and one call of its handler.
#[path = "../../code-admin/tests/common/mod.rs"]
mod admin;
mod common;

struct Rollouts {
    world: World,
    admin: PlatformCodeAdmin,
    worker: Arc<Worker>,
    appids: Vec<String>,
    source: Option<EventSource>,
    _served: Served,
}

devstack::deref_world!(Rollouts);

/// `n` bulk mini programs `prefix…` (permission sets 17 and 18) stored as authorizers, template 1
/// in the library, the submit quota ample, review results pushed to ticket-receive over HTTP.
async fn world(test: &str, prefix: &str, n: usize) -> Rollouts {
    world_with(test, prefix, n, 30).await
}

/// [`world`] whose queue gives a message not deleted back after `visibility_timeout_secs` (a
/// step never takes that long, so no message is worked twice at once).
async fn world_with(test: &str, prefix: &str, n: usize, visibility_timeout_secs: u32) -> Rollouts {
    let queue = QueueOptions {
        visibility_timeout_secs,
        max_receive_count: 5,
    };
    let world = Setup::new(&Component::new(
        "wxrolloutcomponent",
        "rollout-secret",
        "rollouttoken",
    ))
    .configure(|c| c.templates = vec![template(1, "1.0.0", "shop", 0)])
    .queue(queue)
    .with_ticket()
    .start(test)
    .await;
    let bulk = world.ctl.bulk_authorize(prefix, n).await;
    devstack::bulk::store_code_authorizers(&world.platform, &bulk).await;
    world.ctl.set_submit_quota(1000, 1000).await;
    let served = common::serve_pushes(&world).await;
    // The sync looks again at once: the tests call it when they mean it.
    let ages = SyncAges {
        stale_secs: 0,
        review_secs: 0,
    };
    let mut appids: Vec<String> = bulk.into_iter().map(|(appid, _)| appid).collect();
    appids.sort();
    let mut rollouts = Rollouts {
        admin: PlatformCodeAdmin::from_platform(&world.platform, admin::ops_tokens()),
        worker: Arc::new(Worker::from_platform(&world.platform, ages).unwrap()),
        world,
        appids,
        source: None,
        _served: served,
    };
    rollouts.start_consumer();
    rollouts
}

impl Rollouts {
    /// The worker behind a local SQS event source: 3 invocations at a time, 10 messages each.
    fn start_consumer(&mut self) {
        let worker = self.worker.clone();
        let options = SourceOptions {
            concurrency: 3,
            ..SourceOptions::default()
        };
        self.source = Some(event_source::start(&self.queue, options, move |event| {
            let worker = worker.clone();
            async move { Ok::<_, Infallible>(worker.handle_batch(event).await) }
        }));
    }

    /// Kills the consumer: its invocations under way stop where they are, their messages
    /// neither deleted nor answered (SQS delivers them again after the visibility timeout).
    fn kill_consumer(&mut self) {
        drop(self.source.take());
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call_with(method, path, &[], body).await
    }

    async fn call_with(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Value,
    ) -> (StatusCode, Value) {
        let answer = admin::call_with(&self.admin, method, path, query, body).await;
        (answer.status, answer.body)
    }

    async fn create(&self, body: Value) -> String {
        let (status, answer) = self.call("POST", "/admin/rollouts", body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["rollout"]["id"].as_str().unwrap().to_owned()
    }

    async fn report(&self, id: &str) -> Value {
        let (status, report) = self
            .call("GET", &format!("/admin/rollouts/{id}"), Value::Null)
            .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        report
    }

    /// Waits until `done` holds of the rollout's report, running the sync now and then (as its
    /// schedule would). WeChat's clock runs with the real one (reviews end a few seconds after
    /// submission): moving it on would sign pushes outside ticket-receive's replay window.
    async fn wait_for(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut round = 0u32;
        let done = &done;
        // Reviews take seconds of real time and a rollout many steps: a longer limit than one push.
        let found = poll_within(devstack::wait::deadline() * 4, || {
            round += 1;
            let sync = round.is_multiple_of(20);
            async move {
                let report = self.report(id).await;
                if done(&report) {
                    return Some(report);
                }
                if sync {
                    let ages = SyncAges {
                        stale_secs: 5,
                        review_secs: 5,
                    };
                    // Boxed: the sync's future is deep, and this one nests it in two more.
                    Box::pin(self.worker.rollouts().sync(ages)).await.unwrap();
                }
                None
            }
        })
        .await;
        match found {
            Some(report) => report,
            None => panic!("{what}: {}", self.report(id).await),
        }
    }

    async fn targets(&self, id: &str, state: &str) -> Vec<Value> {
        let path = format!("/admin/rollouts/{id}/targets");
        let query = [("state", state), ("limit", "500")];
        let (status, page) = self.call_with("GET", &path, &query, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["targets"].as_array().unwrap().clone()
    }

    async fn appids_in(&self, id: &str, state: &str) -> Vec<String> {
        let mut appids: Vec<String> = self
            .targets(id, state)
            .await
            .iter()
            .map(|t| t["appid"].as_str().unwrap().to_owned())
            .collect();
        appids.sort();
        appids
    }

    async fn calls(&self) -> HashMap<String, u64> {
        let all = self.ctl.all_calls().await;
        [
            "commit",
            "submit_audit",
            "release",
            "grayrelease",
            "undocodeaudit",
        ]
        .into_iter()
        .map(|e| (e.to_owned(), all[e].as_u64().unwrap_or(0)))
        .collect()
    }

    async fn drained(&self) {
        self.queue
            .wait_drained(devstack::wait::deadline())
            .await
            .unwrap_or_else(|depth| panic!("the queue did not drain: {depth:?}"));
    }
}

fn count(report: &Value, state: &str) -> i64 {
    report["counts"][state].as_i64().unwrap_or(-1)
}

fn auto(version: &str) -> Value {
    json!({ "template_id": 1, "user_version": version, "user_desc": "rollout", "targets": { "all": true }, "release": "auto", "concurrency": 10 })
}

/// The platform.rollout.step events recorded so far: (appid, state), every page.
async fn rollout_steps(w: &Rollouts) -> Vec<(String, String)> {
    let events = w.platform.event_store();
    let filter = shared::store::EventFilter {
        kind: Some("platform.rollout.step".into()),
        ..Default::default()
    };
    let mut steps = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = events
            .list(&filter, cursor.as_deref(), 200, shared::store::unix_now())
            .await
            .unwrap()
            .unwrap();
        for summary in &page.events {
            let record = events.event(&summary.id).await.unwrap().expect("the event");
            let state = record.event.fields["state"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            steps.push((summary.appid.clone().unwrap_or_default(), state));
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return steps,
        }
    }
}

#[tokio::test]
async fn fifty_targets_roll_out_with_rejections_and_redelivered_messages_change_nothing() {
    let w = world("rollout-fifty", "wxrollfifty", 50).await;
    let rejected = w
        .ctl
        .reject_reviews_by_fraction("wxrollfifty", 0.1, 4)
        .await;
    assert_eq!(rejected.len(), 5);
    let id = w.create(auto("2.0.0")).await;

    let done = w
        .wait_for(&id, "every target ended", |r| {
            r["rollout"]["status"] == "finished"
        })
        .await;
    assert_eq!(count(&done, "released"), 45, "{done}");
    assert_eq!(count(&done, "rejected"), 5, "{done}");
    assert_eq!(done["quota_used"], 50);
    let mut expected = rejected.clone();
    expected.sort();
    assert_eq!(
        w.appids_in(&id, "rejected").await,
        expected,
        "the ones WeChat rejected"
    );
    for target in w.targets(&id, "rejected").await {
        assert!(
            target["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{target}"
        );
    }
    for appid in w.appids_in(&id, "released").await {
        assert_eq!(
            w.ctl.online_version(&appid).await.as_deref(),
            Some("2.0.0"),
            "{appid}"
        );
    }
    // Each mini program committed, submitted and (unless rejected) released once.
    let calls = w.calls().await;
    assert_eq!(
        (calls["commit"], calls["submit_audit"], calls["release"]),
        (50, 50, 45)
    );

    // Each move published once as platform.rollout.step: one "released" per released target.
    let steps = rollout_steps(&w).await;
    let released = steps.iter().filter(|s| s.1 == "released").count();
    assert_eq!(released, 45, "{steps:?}");

    // SQS delivers at least once: every target's message again changes nothing, calls nothing.
    for appid in &w.appids {
        w.queue.send(&StepMessage::new(&id, appid).body()).await;
    }
    w.drained().await;
    assert_eq!(w.calls().await, calls);
    assert_eq!(
        rollout_steps(&w).await.len(),
        steps.len(),
        "no step event again"
    );
    let again = w.report(&id).await;
    assert_eq!(again["counts"], done["counts"]);
    // The rollout freed its mini programs: a second one may take them.
    let second = w
        .create(json!({ "template_id": 1, "user_version": "2.0.1", "targets": { "appids": [rejected[0]] }, "release": "manual" }))
        .await;
    assert_ne!(second, id);
}

#[tokio::test]
async fn a_consumer_killed_mid_step_is_recovered_by_redelivery() {
    // A message of the killed consumer comes back 4 s later.
    let mut w = world_with("rollout-killed", "wxrollkilled", 6, 4).await;
    // Every submission takes 1.5 s to answer: the consumer is killed while one is under way.
    let delay = json!({ "delay_ms": { "ms": 1500 } });
    assert_eq!(w.ctl.fault("submit_audit", 6, delay).await, 204);
    let id = w.create(auto("3.0.0")).await;
    let started = poll(|| async { (w.ctl.calls("submit_audit").await > 0).then_some(()) }).await;
    started.expect("a submission under way");
    w.kill_consumer();
    let killed_at = w.calls().await;
    w.start_consumer();

    let done = w
        .wait_for(&id, "recovered after the kill", |r| {
            r["rollout"]["status"] == "finished"
        })
        .await;
    assert_eq!(count(&done, "released"), 6, "{done}");
    // One review per mini program, whatever the kill cut short: WeChat holds one audit each, the
    // one the target records.
    for target in w.targets(&id, "released").await {
        let appid = target["appid"].as_str().unwrap();
        let latest = &w.ctl.mini_program(appid).await;
        assert_eq!(
            w.ctl.online_version(appid).await.as_deref(),
            Some("3.0.0"),
            "{appid}: {latest}"
        );
    }
    let calls = w.calls().await;
    assert!(calls["submit_audit"] >= killed_at["submit_audit"]);
    assert!(calls["release"] >= 6);
}

#[tokio::test]
async fn quota_running_out_holds_the_rollout_until_it_comes_back() {
    let w = world("rollout-quota", "wxrollquota", 8).await;
    w.ctl.set_submit_quota(1000, 3).await;
    let id = w.create(auto("4.0.0")).await;
    let held = w
        .wait_for(&id, "held for quota", |r| {
            r["rollout"]["status"] == "quota_exhausted"
        })
        .await;
    assert!(
        count(&held, "submitted") + count(&held, "released") + count(&held, "passed") <= 3,
        "{held}"
    );
    w.drained().await;
    // The sync asks queryquota and keeps holding: no submission burnt against 85085 in a loop.
    let before = w.calls().await["submit_audit"];
    w.worker.rollouts().sync(SyncAges::default()).await.unwrap();
    w.drained().await;
    assert_eq!(w.calls().await["submit_audit"], before);
    assert_eq!(w.report(&id).await["rollout"]["status"], "quota_exhausted");

    w.ctl.set_submit_quota(1000, 1000).await;
    w.worker.rollouts().sync(SyncAges::default()).await.unwrap();
    let done = w
        .wait_for(&id, "resumed when quota came back", |r| {
            r["rollout"]["status"] == "finished"
        })
        .await;
    assert_eq!(count(&done, "released"), 8, "{done}");
}

#[tokio::test]
async fn pause_resume_and_cancel_with_withdrawal() {
    let w = world("rollout-pause", "wxrollpause", 6).await;
    // Reviews that take long: the cancel finds them under way.
    w.ctl
        .script_reviews_by_fraction(
            json!({ "prefix": "wxrollpause", "reject_fraction": 0.0, "after_secs": 100000 }),
        )
        .await;
    let body = json!({ "template_id": 1, "user_version": "5.0.0", "targets": { "all": true }, "release": "auto", "concurrency": 2 });
    let id = w.create(body).await;
    let (status, paused) = w
        .call("POST", &format!("/admin/rollouts/{id}/pause"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["rollout"]["status"], "paused");
    w.drained().await;
    let while_paused = w.calls().await;
    assert!(
        while_paused["commit"] <= 2,
        "at most the window had started: {while_paused:?}"
    );
    w.worker.rollouts().sync(SyncAges::default()).await.unwrap();
    w.drained().await;
    assert_eq!(w.calls().await, while_paused, "nothing moves while paused");
    let (status, again) = w
        .call("POST", &format!("/admin/rollouts/{id}/pause"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");

    let (status, _) = w
        .call("POST", &format!("/admin/rollouts/{id}/resume"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    let submitted = w
        .wait_for(&id, "all under review", |r| count(r, "submitted") == 6)
        .await;
    assert_eq!(submitted["quota_used"], 6);

    let (status, cancelled) = w
        .call(
            "POST",
            &format!("/admin/rollouts/{id}/cancel"),
            json!({ "withdraw": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let done = w
        .wait_for(&id, "every target cancelled", |r| {
            count(r, "cancelled") == 6
        })
        .await;
    assert_eq!(done["rollout"]["status"], "cancelled");
    assert_eq!(w.calls().await["undocodeaudit"], 6, "each review withdrawn");
    assert_eq!(w.calls().await["release"], 0);
    // Cancelled targets can start again in a new rollout.
    w.create(auto("5.0.1")).await;
}

#[tokio::test]
async fn gray_steps_hold_then_release() {
    let w = world("rollout-gray", "wxrollgray", 3).await;
    // A first release, so that there is an online version to phase against.
    let first = w.create(auto("6.0.0")).await;
    w.wait_for(&first, "first release", |r| {
        r["rollout"]["status"] == "finished"
    })
    .await;
    let gray = json!({ "template_id": 1, "user_version": "6.1.0", "targets": { "all": true }, "release": { "gray": [10, 50, 100], "hold_secs": 1 } });
    let id = w.create(gray).await;
    // Every gray step delivered twice: a step already made is not made again, nor fails.
    w.wait_for(&id, "all in gray release", |r| count(r, "gray") == 3)
        .await;
    for appid in &w.appids {
        for _ in 0..2 {
            w.queue.send(&StepMessage::new(&id, appid).body()).await;
        }
    }
    let done = w
        .wait_for(&id, "gray steps then release", |r| {
            r["rollout"]["status"] == "finished"
        })
        .await;
    assert_eq!(count(&done, "released"), 3, "{done}");
    assert_eq!(count(&done, "failed"), 0, "{done}");
    assert!(
        w.calls().await["grayrelease"] >= 9,
        "three steps for each of three"
    );
    for appid in &w.appids {
        assert_eq!(w.ctl.online_version(appid).await.as_deref(), Some("6.1.0"));
    }
}

#[tokio::test]
async fn bad_rollouts_are_refused_before_anything_is_queued() {
    let w = world("rollout-bad", "wxrollbad0", 3).await;
    let no18 = "wxnotauthorized001";
    let good = auto("7.0.0");
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    for (body, field) in [
        (with("template_id", json!(99)), "template_id"),
        (with("user_version", json!("")), "user_version"),
        (with("targets", json!({ "appids": [] })), "targets.appids"),
        (
            with("targets", json!({ "appids": [no18] })),
            "targets.appids[0]",
        ),
        (
            with("targets", json!({ "all": true, "appids": [no18] })),
            "targets",
        ),
        (
            with("release", json!({ "gray": [50, 10], "hold_secs": 1 })),
            "release.gray",
        ),
        (
            with("release", json!({ "gray": [10, 150], "hold_secs": 1 })),
            "release.gray",
        ),
        (with("release", json!("later")), "release"),
        (with("concurrency", json!(0)), "concurrency"),
        (with("concurrency", json!(101)), "concurrency"),
    ] {
        let (status, answer) = w.call("POST", "/admin/rollouts", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
    }
    let depth = w.queue.depth().await;
    assert!(depth.is_empty(), "nothing queued: {depth:?}");
    assert_eq!(w.calls().await["commit"], 0);

    // A mini program in a rollout that has not ended cannot join another.
    let body = json!({ "template_id": 1, "user_version": "7.0.0", "targets": { "appids": [w.appids[0]] }, "release": "manual" });
    let first = w.create(body.clone()).await;
    let (status, answer) = w.call("POST", "/admin/rollouts", body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"], "rollout_conflict");
    assert_eq!(answer["rollout_id"], first.as_str());
    assert_eq!(answer["appid"], w.appids[0].as_str());
    // Its code is the rollout's: the admin API's own commit is refused, naming the rollout.
    let commit = json!({ "template_id": 1, "user_version": "9.9.9" });
    let (status, answer) = w
        .call(
            "POST",
            &format!("/admin/authorizers/{}/commits", w.appids[0]),
            commit,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["rollout_id"], first.as_str());
    let (status, list) = w.call("GET", "/admin/rollouts", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["rollouts"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn review_results_pushed_while_paused_are_acted_on_at_resume() {
    let w = world("rollout-paused-push", "wxrollpaused", 3).await;
    let id = w.create(auto("8.0.0")).await;
    w.wait_for(&id, "all under review", |r| count(r, "submitted") == 3)
        .await;
    let (status, _) = w
        .call("POST", &format!("/admin/rollouts/{id}/pause"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    // The reviews end meanwhile (5 s): their pushes queue steps the paused rollout drops.
    let pushed = poll_within(devstack::wait::deadline() * 2, || async {
        let pushes = w.ctl.pushes().await;
        let results = pushes
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|p| p.to_string().contains("weapp_audit_success"))
                    .count()
            })
            .unwrap_or(0);
        (results == 3).then_some(())
    })
    .await;
    pushed.expect("the three review results pushed");
    w.drained().await;
    assert_eq!(
        count(&w.report(&id).await, "submitted"),
        3,
        "nothing moved while paused"
    );
    let (status, _) = w
        .call("POST", &format!("/admin/rollouts/{id}/resume"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    let done = w
        .wait_for(&id, "released after resume", |r| {
            r["rollout"]["status"] == "finished"
        })
        .await;
    assert_eq!(count(&done, "released"), 3, "{done}");
}
