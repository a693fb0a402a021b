//! token-refresh against moto and the WeChat simulator: expiry on the simulator's clock, one WeChat
//! call for concurrent refreshes, 5xx / timeouts / 61023 / 45009, reconcile, the ticket watchdog,
//! and a run that dies half-way.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use shared::authorizer::AuthorizerStatus;
use shared::authorizer_token::{Refresh, Skip};
use shared::platform::Platform;
use shared::store::{unix_now, AuthorizerStore, TicketStore, VerifyTicket};
use shared::wechat::{WechatClient, WechatEndpoints};
use token_refresh::{RefreshSettings, Refresher, Summary};
use wechat_sim::config::{MiniProgram, ReviewScript};
use wechat_sim::{RunningSim, Sim, SimConfig};

const APPID: &str = "wxrefreshcomponent";
const SECRET: &str = "refresh-secret";
const TOKEN: &str = "refreshtoken";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

fn mp(i: usize) -> String {
    format!("wxrefreshmp{i:07}")
}

struct World {
    sim: RunningSim,
    platform: Platform,
    http: reqwest::Client,
}

async fn world(test: &str, mini_programs: usize) -> World {
    let mut config = SimConfig::for_component(APPID, SECRET, TOKEN, KEY);
    for i in 0..mini_programs {
        config.mini_programs.push(MiniProgram {
            appid: mp(i),
            original_id: format!("gh_refresh{i:05}"),
            nickname: format!("Shop {i}"),
            principal_name: String::new(),
            head_img: String::new(),
            categories: Vec::new(),
            pages: Vec::new(),
            testers_limit: 5,
            permission_sets: vec![17, 18],
            review: ReviewScript::Pass { after_secs: 5 },
        });
    }
    let sim = Sim::new(config)
        .unwrap()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut platform = devstack::test_platform(
        test,
        devstack::component_config(APPID, SECRET, TOKEN, KEY),
        &sim.base_url(),
    )
    .await;
    // A short WeChat timeout (2 s; the injected delay is 5 s) so that the timeout tests are quick.
    let endpoints = WechatEndpoints {
        api_base: sim.base_url(),
        mp_base: sim.base_url(),
        open_base: sim.base_url(),
    };
    platform.wechat = WechatClient::new(endpoints, Duration::from_millis(2000)).unwrap();
    World {
        sim,
        platform,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

impl World {
    async fn ticket(&self) {
        devstack::owner::store_ticket(&self.platform, self.sim.sim.push_ticket()).await;
    }

    async fn authorize(&self, appid: &str) {
        devstack::owner::authorize(&self.platform, &self.sim.base_url(), appid, &[17, 18]).await;
    }

    async fn calls(&self, endpoint: &str) -> u64 {
        let calls: Value = self
            .http
            .get(format!("{}/sim/calls", self.sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        calls[endpoint].as_u64().unwrap_or(0)
    }

    async fn sim(&self, path: &str, body: Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.sim.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }

    async fn fault(&self, endpoint: &str, count: u32, fault: Value) {
        self.sim(
            "/sim/faults",
            json!({ "endpoint": endpoint, "count": count, "fault": fault }),
        )
        .await;
    }

    /// A /wxa call with the stored token of `appid`: 0 when WeChat accepts it.
    async fn wechat_accepts_token_of(&self, appid: &str) -> i64 {
        let stored = self
            .platform
            .authorizer_store()
            .authorizer(appid)
            .await
            .unwrap()
            .unwrap();
        let token = stored.access_token.unwrap();
        let r: Value = self
            .http
            .get(format!(
                "{}/wxa/get_category?access_token={}",
                self.sim.base_url(),
                token.expose_secret()
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["errcode"].as_i64().unwrap()
    }

    /// Moves `appid`'s stored access-token expiry to one minute from now, so that it is due with
    /// [`DUE_SOON`] while a freshly refreshed token (7200 s) is not.
    async fn expires_soon(&self, appid: &str) {
        self.platform
            .dynamo
            .update_item()
            .table_name(&self.platform.tables.authorizers)
            .key("authorizer_appid", AttributeValue::S(appid.into()))
            .update_expression("SET access_token_expires_at = :soon")
            .expression_attribute_values(":soon", AttributeValue::N((unix_now() + 60).to_string()))
            .send()
            .await
            .unwrap();
    }

    async fn token_version(&self, appid: &str) -> i64 {
        self.platform
            .authorizer_store()
            .authorizer(appid)
            .await
            .unwrap()
            .unwrap()
            .token_version
    }

    fn refresher(
        &self,
        margin_secs: i64,
        concurrency: usize,
    ) -> Refresher<shared::store::DynamoTicketStore, shared::store::DynamoAuthorizerStore> {
        let settings = RefreshSettings {
            margin_secs,
            component_margin_secs: 1800,
            concurrency,
            ticket_watchdog_secs: 1800,
        };
        Refresher::from_platform(&self.platform, settings)
    }
}

/// Every token is due with this margin (tokens live 7200 s).
const ALL_DUE: i64 = 7300;

/// A token that expires within the minute is due with this margin; a fresh one (7200 s) is not.
const DUE_SOON: i64 = 1800;

#[tokio::test]
async fn tokens_expired_on_wechats_clock_are_refreshed_by_the_scheduled_run() {
    let w = world("scheduled", 3).await;
    w.ticket().await;
    for i in 0..3 {
        w.authorize(&mp(i)).await;
    }
    // Nothing is due yet with the default margin.
    let summary = w.refresher(1800, 16).refresh_all().await;
    assert_eq!(
        (
            summary.due,
            summary.refreshed,
            summary.component_token.as_str(),
            summary.ticket.as_str()
        ),
        (0, 0, "valid", "ok")
    );
    // Two hours later on WeChat's clock the tokens are dead.
    w.sim("/sim/clock/advance", json!({ "seconds": 7200 }))
        .await;
    assert_eq!(w.wechat_accepts_token_of(&mp(0)).await, 42001);
    let before = w
        .platform
        .authorizer_store()
        .authorizer(&mp(0))
        .await
        .unwrap()
        .unwrap();
    // WeChat also dropped the component token early: the first call is refused (42001), the token
    // is refreshed once and the run goes on.
    w.sim("/sim/tokens/expire", json!({ "component": true }))
        .await;
    let summary = w.refresher(ALL_DUE, 1).refresh_all().await;
    assert_eq!(
        (summary.due, summary.refreshed, summary.failures()),
        (3, 3, 0),
        "{summary:?}"
    );
    for i in 0..3 {
        assert_eq!(w.wechat_accepts_token_of(&mp(i)).await, 0);
    }
    let after = w
        .platform
        .authorizer_store()
        .authorizer(&mp(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.token_version, before.token_version + 1);
    assert_eq!(
        after.refresh_token.unwrap().expose_secret(),
        before.refresh_token.unwrap().expose_secret()
    );
    assert_eq!(
        w.calls("api_authorizer_token").await,
        4,
        "3 and the one refused"
    );
    assert_eq!(w.calls("api_component_token").await, 2);
    // The Lambda handler returns the same summary as JSON.
    let value = token_refresh::handle(&w.refresher(1800, 16), json!({}))
        .await
        .unwrap();
    let parsed: Summary = serde_json::from_value(value).unwrap();
    assert_eq!((parsed.mode.as_str(), parsed.due), ("refresh", 0));
}

#[tokio::test]
async fn ten_concurrent_refreshes_of_one_authorizer_make_one_wechat_call() {
    let w = world("concurrent", 1).await;
    w.ticket().await;
    w.authorize(&mp(0)).await;
    w.expires_soon(&mp(0)).await;
    let before = w
        .platform
        .authorizer_store()
        .authorizer(&mp(0))
        .await
        .unwrap()
        .unwrap();
    let service = w.platform.authorization_service();
    let appid = mp(0);
    let results =
        futures::future::join_all((0..10).map(|_| service.refresh_authorizer(&appid, DUE_SOON)))
            .await;
    // The invariant, whatever the interleaving: exactly one caller refreshes; each of the others
    // either found the lease held, found the token already fresh, or lost the conditional save.
    let refreshed = results
        .iter()
        .filter(|r| matches!(r, Ok(Refresh::Refreshed { .. })))
        .count();
    assert_eq!(refreshed, 1, "{results:?}");
    assert!(
        results.iter().all(|r| matches!(
            r,
            Ok(Refresh::Refreshed { .. }
                | Refresh::Skipped(Skip::Leased | Skip::NotDue | Skip::Superseded))
        )),
        "{results:?}"
    );
    assert_eq!(w.calls("api_authorizer_token").await, 1);
    let after = w
        .platform
        .authorizer_store()
        .authorizer(&mp(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.token_version, before.token_version + 1);
    assert_ne!(
        after.access_token.as_ref().unwrap().expose_secret(),
        before.access_token.as_ref().unwrap().expose_secret()
    );
    assert_eq!(w.wechat_accepts_token_of(&mp(0)).await, 0);
    // On demand, ten callers at once: the token is valid, nobody calls WeChat.
    let tokens =
        futures::future::join_all((0..10).map(|_| service.authorizer_access_token(&appid))).await;
    assert!(tokens.iter().all(|t| t.as_ref().unwrap().expose_secret()
        == after.access_token.as_ref().unwrap().expose_secret()));
    assert_eq!(w.calls("api_authorizer_token").await, 1);
}

#[tokio::test]
async fn fivexx_and_timeouts_are_retried_and_nothing_is_lost_when_they_persist() {
    let w = world("faults", 2).await;
    w.ticket().await;
    w.authorize(&mp(0)).await;
    w.authorize(&mp(1)).await;
    // One 502 and one timeout: retried, refreshed.
    w.fault(
        "api_authorizer_token",
        1,
        json!({ "http_status": { "status": 502 } }),
    )
    .await;
    w.fault(
        "api_authorizer_token",
        1,
        json!({ "delay_ms": { "ms": 5000 } }),
    )
    .await;
    let summary = w.refresher(ALL_DUE, 1).refresh_all().await;
    assert_eq!(
        (summary.refreshed, summary.failures()),
        (2, 0),
        "{summary:?}"
    );
    assert_eq!(w.calls("api_authorizer_token").await, 4);
    // WeChat down for every attempt: nothing lost, the reason recorded, the next run succeeds.
    let before = w
        .platform
        .authorizer_store()
        .authorizer(&mp(0))
        .await
        .unwrap()
        .unwrap();
    w.fault(
        "api_authorizer_token",
        6,
        json!({ "http_status": { "status": 503 } }),
    )
    .await;
    let summary = w.refresher(ALL_DUE, 1).refresh_all().await;
    assert_eq!(
        (summary.refreshed, summary.failed.get("http_503").copied()),
        (0, Some(2)),
        "{summary:?}"
    );
    let after = w
        .platform
        .authorizer_store()
        .authorizer(&mp(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.access_token.unwrap().expose_secret(),
        before.access_token.unwrap().expose_secret()
    );
    assert_eq!(
        after.refresh_token.unwrap().expose_secret(),
        before.refresh_token.unwrap().expose_secret()
    );
    let item = w
        .platform
        .dynamo
        .get_item()
        .table_name(&w.platform.tables.authorizers)
        .key("authorizer_appid", AttributeValue::S(mp(0)))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["last_refresh_error"].as_s().unwrap(), "http_503");
    assert!(!item.contains_key("lease_owner"), "the lease is given back");
    let summary = w.refresher(ALL_DUE, 1).refresh_all().await;
    assert_eq!(summary.refreshed, 2, "{summary:?}");
}

#[tokio::test]
async fn a_refused_refresh_token_marks_the_authorizer_and_keeps_it() {
    let w = world("61023", 2).await;
    w.ticket().await;
    w.authorize(&mp(0)).await;
    w.authorize(&mp(1)).await;
    // The owner revoked; the unauthorized push never reached us.
    let r = w
        .http
        .post(format!(
            "{}/sim/authorizations/{}/revoke",
            w.sim.base_url(),
            mp(0)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let summary = w.refresher(ALL_DUE, 16).refresh_all().await;
    assert_eq!(
        (summary.refreshed, summary.reauthorization_required),
        (1, 1),
        "{summary:?}"
    );
    let marked = w
        .platform
        .authorizer_store()
        .authorizer(&mp(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(marked.status, AuthorizerStatus::ReauthorizationRequired);
    assert!(
        marked.refresh_token.is_some()
            && marked.access_token.is_none()
            && marked.authorized_at.is_some()
    );
    // No longer due: the next run leaves it alone.
    let summary = w.refresher(ALL_DUE, 16).refresh_all().await;
    assert_eq!(summary.due, 1);
}

#[tokio::test]
async fn quota_exhaustion_stops_the_run() {
    let w = world("45009", 3).await;
    w.ticket().await;
    for i in 0..3 {
        w.authorize(&mp(i)).await;
    }
    w.fault(
        "api_authorizer_token",
        1,
        json!({ "errcode": { "errcode": 45009 } }),
    )
    .await;
    let summary = w.refresher(ALL_DUE, 1).refresh_all().await;
    assert!(summary.quota_exhausted, "{summary:?}");
    assert_eq!(
        (
            summary.refreshed,
            summary.skipped.get("quota_exhausted").copied()
        ),
        (0, Some(3)),
        "{summary:?}"
    );
    assert_eq!(w.calls("api_authorizer_token").await, 1);
    for i in 0..3 {
        let a = w
            .platform
            .authorizer_store()
            .authorizer(&mp(i))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.status, AuthorizerStatus::Authorized);
        assert!(a.refresh_token.is_some() && a.access_token.is_some());
    }
}

#[tokio::test]
async fn a_run_killed_half_way_loses_nothing() {
    let w = world("killed", 2).await;
    w.ticket().await;
    w.authorize(&mp(0)).await;
    w.authorize(&mp(1)).await;
    // A previous run took the lease on mp 0 and died; its lease has run out.
    let now = unix_now();
    let held = w
        .platform
        .authorizer_store()
        .lease_authorizer(&mp(0), "crashed-run", now - 100, now - 70)
        .await
        .unwrap();
    assert!(held.is_some());
    let summary = w.refresher(ALL_DUE, 16).refresh_all().await;
    assert_eq!(summary.refreshed, 2, "{summary:?}");
    // A live lease is respected.
    let now = unix_now();
    w.platform
        .authorizer_store()
        .lease_authorizer(&mp(1), "running", now, now + 30)
        .await
        .unwrap();
    let summary = w.refresher(ALL_DUE, 16).refresh_all().await;
    assert_eq!(
        (summary.refreshed, summary.skipped.get("leased").copied()),
        (1, Some(1)),
        "{summary:?}"
    );
}

#[tokio::test]
async fn reconcile_restores_refresh_tokens_and_flags_unlisted_authorizers() {
    let w = world("reconcile", 3).await;
    w.ticket().await;
    for i in 0..3 {
        w.authorize(&mp(i)).await;
    }
    let table = &w.platform.tables.authorizers;
    let key = |appid: String| AttributeValue::S(appid);
    // Lost: mp 0's refresh token, and mp 1 entirely.
    w.platform
        .dynamo
        .update_item()
        .table_name(table)
        .key("authorizer_appid", key(mp(0)))
        .update_expression("REMOVE refresh_token")
        .send()
        .await
        .unwrap();
    w.platform
        .dynamo
        .delete_item()
        .table_name(table)
        .key("authorizer_appid", key(mp(1)))
        .send()
        .await
        .unwrap();
    // Ours but unknown to WeChat.
    w.platform
        .dynamo
        .put_item()
        .table_name(table)
        .item("authorizer_appid", key("wxgone000000000001".into()))
        .item("status", AttributeValue::S("authorized".into()))
        .item("last_event_time", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    let value = token_refresh::handle(&w.refresher(ALL_DUE, 4), json!({ "mode": "reconcile" }))
        .await
        .unwrap();
    let summary: Summary = serde_json::from_value(value).unwrap();
    assert_eq!(
        (summary.listed, summary.restored, summary.not_listed),
        (Some(3), Some(2), Some(1)),
        "{summary:?}"
    );
    assert_eq!(summary.refreshed, 2, "{summary:?}");
    for i in [0, 1] {
        let a = w
            .platform
            .authorizer_store()
            .authorizer(&mp(i))
            .await
            .unwrap()
            .unwrap();
        assert!(a.refresh_token.is_some(), "{i}");
        assert_eq!(w.wechat_accepts_token_of(&mp(i)).await, 0);
    }
    let gone = w
        .platform
        .dynamo
        .get_item()
        .table_name(table)
        .key("authorizer_appid", key("wxgone000000000001".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(gone.contains_key("not_listed_by_wechat_at"));
}

#[tokio::test]
async fn the_ticket_watchdog_restarts_pushes() {
    let w = world("watchdog", 0).await;
    let summary = w.refresher(1800, 16).refresh_all().await;
    assert!(summary.ticket.starts_with("restarted"), "{summary:?}");
    assert!(summary.component_token.starts_with("failed"), "{summary:?}");
    assert_eq!(
        w.calls("api_start_push_ticket").await,
        2,
        "the watchdog and the token service each ask"
    );
    // An old ticket (40 minutes) is stale too.
    let old = VerifyTicket {
        ticket: SecretString::from("ticket@@@old"),
        create_time: unix_now() - 2400,
        received_at: unix_now() - 2400,
    };
    w.platform
        .ticket_store()
        .save_verify_ticket(APPID, old)
        .await
        .unwrap();
    let summary = w.refresher(1800, 16).refresh_all().await;
    assert!(
        summary.ticket.contains("2400") || summary.ticket.contains("240"),
        "{summary:?}"
    );
}

#[tokio::test]
async fn overlapping_scheduled_runs_refresh_each_authorizer_once() {
    let w = world("overlap", 4).await;
    w.ticket().await;
    let mut before = Vec::new();
    for i in 0..4 {
        w.authorize(&mp(i)).await;
        w.expires_soon(&mp(i)).await;
        before.push(w.token_version(&mp(i)).await);
    }
    // A refreshed token is no longer due (DUE_SOON < its 7200 s), so a run that takes a shard the
    // other has already finished finds nothing to do there: whichever run holds which shard, each
    // authorizer is refreshed exactly once.
    let (one, two) = (w.refresher(DUE_SOON, 2), w.refresher(DUE_SOON, 2));
    let (a, b) = tokio::join!(one.refresh_all(), two.refresh_all());
    assert_eq!(a.refreshed + b.refreshed, 4, "{a:?} {b:?}");
    assert_eq!((a.failures(), b.failures()), (0, 0), "{a:?} {b:?}");
    assert_eq!(w.calls("api_authorizer_token").await, 4, "{a:?} {b:?}");
    for (i, version) in before.into_iter().enumerate() {
        assert_eq!(w.token_version(&mp(i)).await, version + 1, "{}", mp(i));
        assert_eq!(w.wechat_accepts_token_of(&mp(i)).await, 0);
    }
    for summary in [&a, &b] {
        let passed_over = summary
            .skipped
            .get("shard_leased_by_another_run")
            .copied()
            .unwrap_or(0);
        assert!(passed_over <= 16, "{summary:?}");
    }
}
