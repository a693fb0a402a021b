//! Rollouts: one template committed, submitted, reviewed and released for a thousand bulk mini
//! programs through WeChat's API; reviews rejected by fraction; the submit quota running out and
//! coming back; phased (grey) release steps; delayed reviews that later pass.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use common::*;
use futures::{stream, StreamExt};
use serde_json::{json, Value};

/// Concurrent calls of a rollout's workers.
const WORKERS: usize = 16;

/// A bulk mini program as its platform calls it: an access token from its refresh token.
async fn bulk_mp<'a>(env: &'a Env, component: &str, appid: &str, refresh: &str) -> Mp<'a> {
    let r = env
        .post(
            &component_api("api_authorizer_token", component),
            json!({ "component_appid": APPID, "authorizer_appid": appid, "authorizer_refresh_token": refresh }),
        )
        .await;
    let token = r["authorizer_access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{appid}: {r}"));
    Mp {
        env,
        token: token.to_owned(),
    }
}

/// queryquota's (or `/sim/quota`'s) `rest` and `limit`.
fn rest_and_limit(quota: &Value) -> (Option<i64>, Option<i64>) {
    (quota["rest"].as_i64(), quota["limit"].as_i64())
}

/// Every WeChat API call made so far (control routes are not counted).
async fn calls_made(env: &Env) -> u64 {
    let calls = env.ctl.all_calls().await;
    let counts = calls.as_object().expect("call counts");
    counts.values().filter_map(Value::as_u64).sum()
}

/// The review results pushed so far, per appid (the message URL's `/mp/{appid}`): their events,
/// a retried push once.
fn review_pushes(env: &Env) -> BTreeMap<String, BTreeSet<&'static str>> {
    let mut by_appid: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for push in env.inbox().containing("weapp_audit_") {
        let appid = push.path.trim_start_matches("/mp/").to_owned();
        let event = [
            "weapp_audit_success",
            "weapp_audit_fail",
            "weapp_audit_delay",
        ]
        .into_iter()
        .find(|e| push.plaintext.contains(e))
        .expect("a review event");
        by_appid.entry(appid).or_default().insert(event);
    }
    by_appid
}

/// Waits until `count` mini programs had a review result pushed.
async fn wait_for_review_pushes(
    env: &Env,
    count: usize,
) -> BTreeMap<String, BTreeSet<&'static str>> {
    let pushed = devstack::wait::poll(|| async {
        let pushes = review_pushes(env);
        (pushes.len() >= count).then_some(pushes)
    })
    .await;
    pushed.unwrap_or_else(|| panic!("fewer than {count} mini programs had their review pushed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_mini_programs_roll_out_with_five_percent_rejected() {
    const N: usize = 1000;
    let env = start().await;
    let started = Instant::now();
    let bulk = env.ctl.bulk_authorize("wxroll", N).await;
    let bulk_took = started.elapsed();
    assert_eq!(bulk.len(), N);
    let rejected: BTreeSet<String> = env
        .ctl
        .reject_reviews_by_fraction("wxroll", 0.05, 30)
        .await
        .into_iter()
        .collect();
    assert_eq!(rejected.len(), 50, "round(0.05 × 1000) of the population");
    let quota = env.ctl.set_submit_quota(N as i64, N as i64).await;
    assert_eq!(rest_and_limit(&quota), (Some(1000), Some(1000)));

    let component = env.component_token().await;
    let info = env
        .post(
            &component_api("api_get_authorizer_info", &component),
            json!({ "component_appid": APPID, "authorizer_appid": bulk[7].0 }),
        )
        .await;
    assert_eq!(
        info["authorizer_info"]["user_name"], "gh_roll000000000007",
        "{info}"
    );
    assert_eq!(
        info["authorizer_info"]["MiniProgramInfo"]["categories"],
        json!([{ "first": "工具", "second": "效率" }])
    );

    // Each mini program: a token, commit, submit.
    let calls_before = calls_made(&env).await;
    let rollout = Instant::now();
    let submitted: Vec<(String, String, i64)> = stream::iter(&bulk)
        .map(|(appid, refresh)| {
            let (env, component) = (&env, &component);
            async move {
                let mp = bulk_mp(env, component, appid, refresh).await;
                assert_ok(&mp.commit().await);
                let submit = mp.submit().await;
                let auditid = submit["auditid"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("{appid}: {submit}"));
                (appid.clone(), mp.token, auditid)
            }
        })
        .buffer_unordered(WORKERS)
        .collect()
        .await;
    let quota = env
        .get(&format!("/wxa/queryquota?access_token={}", submitted[0].1))
        .await;
    assert_eq!(rest_and_limit(&quota), (Some(0), Some(1000)), "{quota}");

    // Every review ends at once; each result reaches its mini program's message URL.
    env.ctl.advance_clock(30).await;
    let pushes = wait_for_review_pushes(&env, N).await;
    let failed: BTreeSet<String> = pushes
        .iter()
        .filter(|(_, events)| events.contains("weapp_audit_fail"))
        .map(|(appid, _)| appid.clone())
        .collect();
    assert_eq!(
        failed, rejected,
        "the rejected ones are those the script named"
    );
    assert!(
        pushes.values().all(|events| events.len() == 1),
        "one outcome each"
    );

    // Each: its status, then release (passed) or 85020 (rejected).
    let released: Vec<bool> = stream::iter(&submitted)
        .map(|(appid, token, auditid)| {
            let (env, rejected) = (&env, &rejected);
            async move {
                let mp = Mp {
                    env,
                    token: token.clone(),
                };
                let status = mp
                    .post("get_auditstatus", json!({ "auditid": auditid }))
                    .await;
                let passed = !rejected.contains(appid);
                assert_eq!(
                    status["status"].as_i64(),
                    Some(if passed { 0 } else { 1 }),
                    "{appid}: {status}"
                );
                mp.expect("release", json!({}), if passed { 0 } else { 85020 })
                    .await;
                passed
            }
        })
        .buffer_unordered(WORKERS)
        .collect()
        .await;
    let took = rollout.elapsed();
    let calls = calls_made(&env).await - calls_before;
    assert_eq!(released.iter().filter(|r| **r).count(), 950);
    assert_eq!(
        calls,
        5 * N as u64 + 1,
        "token, commit, submit, status, release each; a queryquota"
    );
    assert_eq!(
        env.ctl.online_version(&bulk[999].0).await.is_some(),
        !rejected.contains(&bulk[999].0)
    );
    println!(
        "bulk of {N} in {bulk_took:?}; rollout: {calls} calls in {took:?} ({:.0} calls/s, {WORKERS} concurrent, review pushes included)",
        calls as f64 / took.as_secs_f64()
    );
}

#[tokio::test]
async fn review_scripts_by_fraction_are_checked_and_yield_to_scripts_of_one() {
    let env = start().await;
    let bulk = env.ctl.bulk_authorize("wxfrac", 10).await;
    for (script, field) in [
        (json!({ "reject_fraction": 1.5 }), "reject_fraction"),
        (
            json!({ "reject_fraction": 0.7, "delay_fraction": 0.7 }),
            "at most 1",
        ),
        (json!({ "reject_fractoin": 0.1 }), "reject_fractoin"),
        (json!({ "after_secs": -1 }), "after_secs"),
    ] {
        let (status, answer) = env.ctl.send("/sim/reviews", script).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    // Half delayed, passing 60 s after the delay; one mini program scripted to be rejected.
    let answer = env
        .ctl
        .script_reviews_by_fraction(json!({ "prefix": "wxfrac", "delay_fraction": 0.5, "after_secs": 10, "delay_then_pass_after_secs": 60 }))
        .await;
    let delayed: BTreeSet<String> = answer["delayed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        (answer["population"].as_u64(), delayed.len()),
        (Some(10), 5),
        "{answer}"
    );
    let scripted = bulk
        .iter()
        .map(|(a, _)| a)
        .find(|a| !delayed.contains(*a))
        .unwrap()
        .clone();
    let reject =
        json!({ "appid": scripted, "outcome": "reject", "after_secs": 10, "reason": "名称不符" });
    assert_eq!(env.ctl.script_review(reject).await, 204);

    let component = env.component_token().await;
    env.ctl.set_submit_quota(11, 11).await;
    let mut mps = Vec::new();
    for (appid, refresh) in &bulk {
        let mp = bulk_mp(&env, &component, appid, refresh).await;
        assert_ok(&mp.commit().await);
        let auditid = mp.submit().await["auditid"].as_i64().expect("an auditid");
        mps.push((appid.clone(), mp, auditid));
    }
    env.ctl.advance_clock(10).await;
    let pushes = wait_for_review_pushes(&env, 10).await;
    let with = |event: &str| -> BTreeSet<String> {
        pushes
            .iter()
            .filter(|(_, e)| e.contains(event))
            .map(|(a, _)| a.clone())
            .collect()
    };
    assert_eq!(with("weapp_audit_delay"), delayed);
    assert_eq!(with("weapp_audit_fail"), BTreeSet::from([scripted.clone()]));
    assert_eq!(with("weapp_audit_success").len(), 4);

    // The delayed ones pass a minute later.
    for (appid, mp, auditid) in &mps {
        if delayed.contains(appid) {
            let status = mp
                .post("get_auditstatus", json!({ "auditid": auditid }))
                .await;
            assert_eq!(status["status"], 4, "{status}");
        }
    }
    env.ctl.advance_clock(60).await;
    let later = devstack::wait::poll(|| async {
        let pushes = review_pushes(&env);
        let ended = |a: &String| {
            pushes
                .get(a)
                .is_some_and(|e| e.contains("weapp_audit_success"))
        };
        delayed.iter().all(ended).then_some(pushes)
    })
    .await
    .expect("each delayed review passed and was pushed");
    let succeeded = later.values().filter(|e| e.contains("weapp_audit_success"));
    assert_eq!(succeeded.count(), 9);
    for (appid, mp, auditid) in &mps {
        let status = mp
            .post("get_auditstatus", json!({ "auditid": auditid }))
            .await;
        let expected = if *appid == scripted { 1 } else { 0 };
        assert_eq!(
            status["status"].as_i64(),
            Some(expected),
            "{appid}: {status}"
        );
    }

    // Dropped: the configured outcome (pass after 5 s) again.
    env.ctl.clear_reviews_by_fraction().await;
    let (appid, mp, _) = &mps[0];
    assert_ok(&mp.commit().await);
    assert!(mp.submit().await["auditid"].is_i64());
    env.ctl.advance_clock(5).await;
    let latest = mp.get("get_latest_auditstatus").await;
    assert_eq!(latest["status"], 0, "{appid}: {latest}");
}

#[tokio::test]
async fn the_submit_quota_runs_out_and_comes_back() {
    let env = start().await;
    let mp = authorized(&env, MP, &[18]).await;
    assert_ok(&mp.commit().await);
    let quota = env.ctl.set_submit_quota_rest(0).await;
    assert_eq!(rest_and_limit(&quota), (Some(0), Some(10)));
    let answer = mp.get("queryquota").await;
    assert_eq!(rest_and_limit(&answer), (Some(0), Some(10)), "{answer}");
    assert_errcode(&mp.submit().await, 85085);

    for (bad, field) in [
        (json!({ "rest": 11 }), "rest"),
        (json!({ "limit": -1 }), "limit"),
        (json!({ "submit_quota": 5 }), "submit_quota"),
    ] {
        let (status, answer) = env.ctl.send("/sim/quota", bad).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    assert_eq!(
        mp.get("queryquota").await["rest"],
        0,
        "a refused change changes nothing"
    );

    env.ctl.set_submit_quota_rest(1).await;
    assert!(mp.submit().await["auditid"].is_i64());
    let answer = mp.get("queryquota").await;
    assert_eq!(rest_and_limit(&answer), (Some(0), Some(10)), "{answer}");
    // A new month: the limit, all of it left.
    let quota = env.ctl.set_submit_quota(20, 20).await;
    assert_eq!(quota["rest"], 20);
}

/// `version` committed, submitted, and its review passed (5 simulated seconds).
async fn passed_review(mp: &Mp<'_>, version: &str) {
    let commit = json!({ "template_id": 1, "ext_json": "{}", "user_version": version, "user_desc": version });
    mp.expect("commit", commit, 0).await;
    assert!(mp.submit().await["auditid"].is_i64());
    mp.env.ctl.advance_clock(5).await;
    let latest = mp.get("get_latest_auditstatus").await;
    assert_eq!(latest["status"], 0, "{latest}");
}

#[tokio::test]
async fn a_bulk_mini_program_is_phased_in_step_by_step() {
    let env = start().await;
    let bulk = env.ctl.bulk_authorize("wxgray", 2).await;
    let (appid, refresh) = &bulk[1];
    let component = env.component_token().await;
    let mp = bulk_mp(&env, &component, appid, refresh).await;
    assert_eq!(env.ctl.online_version(appid).await, None);
    passed_review(&mp, "1.0.0").await;
    mp.expect("grayrelease", json!({ "gray_percentage": 10 }), 85079)
        .await;
    mp.expect("release", json!({}), 0).await;
    assert_eq!(
        env.ctl.online_version(appid).await.as_deref(),
        Some("1.0.0")
    );

    passed_review(&mp, "2.0.0").await;
    let plan = || async {
        let plan = &mp.get("getgrayreleaseplan").await["gray_release_plan"];
        (plan["status"].as_i64(), plan["gray_percentage"].as_i64())
    };
    assert_eq!(plan().await, (Some(0), Some(0)));
    for (percentage, errcode) in [(10, 0), (5, 85082), (10, 85082), (50, 0), (101, 85081)] {
        mp.expect(
            "grayrelease",
            json!({ "gray_percentage": percentage }),
            errcode,
        )
        .await;
    }
    assert_eq!(plan().await, (Some(1), Some(50)));
    let state = env.ctl.mini_program(appid).await;
    assert_eq!(state["online_release"]["user_version"], "1.0.0", "{state}");
    assert_eq!(
        state["gray_release_plan"]["user_version"], "2.0.0",
        "{state}"
    );
    assert_eq!(state["gray_release_plan"]["gray_percentage"], 50, "{state}");

    // Reverted: deleted (4); a new plan may start lower.
    assert_ok(&mp.get("revertgrayrelease").await);
    assert_eq!(plan().await, (Some(4), Some(50)));
    assert_errcode(&mp.get("revertgrayrelease").await, 85079);
    mp.expect("grayrelease", json!({ "gray_percentage": 20 }), 0)
        .await;
    // Released in full: the plan is finished (3), 2.0.0 online.
    mp.expect("release", json!({}), 0).await;
    assert_eq!(plan().await, (Some(3), Some(20)));
    assert_eq!(
        env.ctl.online_version(appid).await.as_deref(),
        Some("2.0.0")
    );
    mp.expect("grayrelease", json!({ "gray_percentage": 30 }), 85080)
        .await;
}
