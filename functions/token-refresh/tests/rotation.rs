//! Refresh tokens WeChat rotates are never lost (reference §4.6: a rotated refresh token replaces
//! the old one, which keeps working only a few minutes): a scheduled and an on-demand refresh
//! calling api_authorizer_token with the same refresh token, a save refused by a live lease, and
//! a stored refresh token WeChat no longer accepts (61023) while its list names another one.
//!
//! The invariant checked: after the refreshes return, the stored refresh token is the one WeChat
//! holds as current, so a refresh after the grace period still works.

use aws_sdk_dynamodb::types::AttributeValue;
use devstack::simctl::SimControl;
use secrecy::ExposeSecret;
use serde_json::json;
use shared::authorizer::AuthorizerStatus;
use shared::authorizer_token::Refresh;
use shared::platform::Platform;
use shared::store::authorizers::token_shard;
use shared::store::{unix_now, AuthorizerStore, DueAuthorizer};
use token_refresh::{RefreshSettings, Refresher};
use wechat_sim::config::{MiniProgram, ReviewScript};
use wechat_sim::{RunningSim, Sim, SimConfig};

const APPID: &str = "wxrotationcomponen";
const SECRET: &str = "rotation-secret";
const TOKEN: &str = "rotationtoken";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// Every token is due with this margin (tokens live 7200 s).
const ALL_DUE: i64 = 7300;
/// How long WeChat accepts a replaced refresh token in these tests.
const GRACE: i64 = 300;

fn mp(i: usize) -> String {
    format!("wxrotationmp{i:06}")
}

struct World {
    _sim: RunningSim,
    platform: Platform,
    sim: SimControl,
}

/// A simulator with `count` mini programs, each authorized with permission sets 17 and 18.
async fn world(test: &str, count: usize) -> World {
    let mut config = SimConfig::for_component(APPID, SECRET, TOKEN, KEY);
    config.mini_programs = (0..count)
        .map(|i| MiniProgram {
            appid: mp(i),
            original_id: format!("gh_rotation{i:04}"),
            nickname: format!("Rotating shop {i}"),
            principal_name: format!("Rotating Ltd. {i}"),
            head_img: String::new(),
            categories: Vec::new(),
            pages: Vec::new(),
            testers_limit: 5,
            permission_sets: vec![17, 18],
            review: ReviewScript::Pass { after_secs: 5 },
        })
        .collect();
    let running = Sim::new(config)
        .unwrap()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let platform = devstack::test_platform(
        test,
        devstack::component_config(APPID, SECRET, TOKEN, KEY),
        &running.base_url(),
    )
    .await;
    devstack::owner::store_ticket(&platform, running.sim.push_ticket()).await;
    for i in 0..count {
        devstack::owner::authorize(&platform, &running.base_url(), &mp(i), &[17, 18]).await;
    }
    let sim = SimControl::new(&running.base_url());
    World {
        _sim: running,
        platform,
        sim,
    }
}

impl World {
    fn refresher(
        &self,
    ) -> Refresher<shared::store::DynamoTicketStore, shared::store::DynamoAuthorizerStore> {
        let settings = RefreshSettings {
            margin_secs: ALL_DUE,
            component_margin_secs: 1800,
            concurrency: 4,
            ticket_watchdog_secs: 1800,
        };
        Refresher::from_platform(&self.platform, settings)
    }

    /// What a scheduled run read from the `token_expiry` index for `appid`.
    async fn due_entry(&self, appid: &str) -> DueAuthorizer {
        self.platform
            .authorizer_store()
            .due_authorizers(token_shard(appid), unix_now() + ALL_DUE)
            .await
            .unwrap()
            .into_iter()
            .find(|d| d.appid == appid)
            .expect("due")
    }

    async fn stored_refresh_token(&self, appid: &str) -> Option<String> {
        self.platform
            .authorizer_store()
            .authorizer(appid)
            .await
            .unwrap()
            .and_then(|a| a.refresh_token)
            .map(|t| t.expose_secret().to_owned())
    }

    /// The stored refresh token is WeChat's current one, and still works once the replaced ones
    /// have stopped working.
    async fn assert_stored_token_survives_the_grace_period(&self, appid: &str) {
        assert_eq!(
            self.stored_refresh_token(appid).await,
            self.sim.current_refresh_token(appid).await,
            "the stored refresh token is WeChat's current one"
        );
        self.sim.advance_clock(GRACE + 1).await;
        let refreshed = self
            .platform
            .authorization_service()
            .refresh_authorizer(appid, ALL_DUE)
            .await
            .unwrap();
        assert!(
            matches!(refreshed, Refresh::Refreshed { .. }),
            "{refreshed:?}"
        );
        let stored = self
            .platform
            .authorizer_store()
            .authorizer(appid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, AuthorizerStatus::Authorized);
    }
}

#[tokio::test]
async fn a_refresh_refused_because_another_saved_first_keeps_wechats_newest_token() {
    let w = world("rotation-stale", 1).await;
    w.sim.rotate_refresh_tokens(GRACE).await;
    let service = w.platform.authorization_service();
    // The scheduled run has read the index; meanwhile an on-demand refresh saves its answer.
    let due = w.due_entry(&mp(0)).await;
    let on_demand = service.refresh_authorizer(&mp(0), ALL_DUE).await.unwrap();
    assert!(
        matches!(on_demand, Refresh::Refreshed { .. }),
        "{on_demand:?}"
    );
    // The scheduled refresh calls WeChat with the same (replaced, still accepted) token: WeChat
    // answers a newer one, and its save is refused because the version moved.
    service.refresh_due(&due).await.unwrap();
    assert_eq!(w.sim.calls("api_authorizer_token").await, 2);
    w.assert_stored_token_survives_the_grace_period(&mp(0))
        .await;
}

#[tokio::test]
async fn a_scheduled_refresh_refused_by_a_live_lease_keeps_its_rotated_token() {
    let w = world("rotation-leased", 1).await;
    w.sim.rotate_refresh_tokens(GRACE).await;
    let store = w.platform.authorizer_store();
    let due = w.due_entry(&mp(0)).await;
    // An on-demand caller takes the item's lease after the scheduled run read the index.
    let now = unix_now();
    assert!(store
        .lease_authorizer(&mp(0), "on-demand", now, now + 30)
        .await
        .unwrap()
        .is_some());
    w.platform
        .authorization_service()
        .refresh_due(&due)
        .await
        .unwrap();
    store
        .release_authorizer_lease(&mp(0), "on-demand", None)
        .await
        .unwrap();
    assert_eq!(w.sim.calls("api_authorizer_token").await, 1);
    w.assert_stored_token_survives_the_grace_period(&mp(0))
        .await;
}

#[tokio::test]
async fn concurrent_scheduled_and_on_demand_refreshes_keep_wechats_current_token() {
    let w = world("rotation-race", 1).await;
    w.sim.rotate_refresh_tokens(GRACE).await;
    let service = w.platform.authorization_service();
    let appid = mp(0);
    for _ in 0..4 {
        let due = w.due_entry(&mp(0)).await;
        let (scheduled, on_demand) = tokio::join!(
            service.refresh_due(&due),
            service.refresh_authorizer(&appid, ALL_DUE)
        );
        scheduled.unwrap();
        on_demand.unwrap();
        assert_eq!(
            w.stored_refresh_token(&mp(0)).await,
            w.sim.current_refresh_token(&mp(0)).await
        );
    }
    w.assert_stored_token_survives_the_grace_period(&mp(0))
        .await;
}

#[tokio::test]
async fn a_refused_refresh_token_is_replaced_by_the_one_wechat_lists() {
    let w = world("rotation-61023", 2).await;
    // mp 0's stored refresh token is one WeChat no longer accepts (lost in an earlier rotation).
    w.platform
        .dynamo
        .update_item()
        .table_name(&w.platform.tables.authorizers)
        .key("authorizer_appid", AttributeValue::S(mp(0)))
        .update_expression("SET refresh_token = :dead")
        .expression_attribute_values(":dead", AttributeValue::S("refreshtoken@@@dead".into()))
        .send()
        .await
        .unwrap();
    // mp 1 was revoked on WeChat's side (its unauthorized push never arrived).
    w.sim.revoke(&mp(1)).await;
    let summary = w.refresher().refresh_all().await;
    assert_eq!(
        (summary.refreshed, summary.reauthorization_required),
        (1, 1),
        "{summary:?}"
    );
    let store = w.platform.authorizer_store();
    let recovered = store.authorizer(&mp(0)).await.unwrap().unwrap();
    assert_eq!(recovered.status, AuthorizerStatus::Authorized);
    assert_eq!(
        w.stored_refresh_token(&mp(0)).await,
        w.sim.current_refresh_token(&mp(0)).await
    );
    let revoked = store.authorizer(&mp(1)).await.unwrap().unwrap();
    assert_eq!(revoked.status, AuthorizerStatus::ReauthorizationRequired);
}

#[tokio::test]
async fn reconcile_takes_the_listed_refresh_token_whenever_it_differs_and_restores_details() {
    let w = world("rotation-reconcile", 4).await;
    let table = &w.platform.tables.authorizers;
    let update = |appid: String, expression: &'static str| {
        w.platform
            .dynamo
            .update_item()
            .table_name(table)
            .key("authorizer_appid", AttributeValue::S(appid))
            .update_expression(expression)
    };
    // mp 0: a stored refresh token WeChat does not list (present, but not WeChat's).
    update(mp(0), "SET refresh_token = :dead")
        .expression_attribute_values(":dead", AttributeValue::S("refreshtoken@@@dead".into()))
        .send()
        .await
        .unwrap();
    // mp 1: marked reauthorization_required on a dead token, while WeChat still lists it.
    update(
        mp(1),
        "SET refresh_token = :dead, #status = :reauth REMOVE access_token, access_token_expires_at, token_shard",
    )
    .expression_attribute_names("#status", "status")
    .expression_attribute_values(":dead", AttributeValue::S("refreshtoken@@@dead1".into()))
    .expression_attribute_values(":reauth", AttributeValue::S("reauthorization_required".into()))
    .send()
    .await
    .unwrap();
    // mp 2: lost entirely; mp 3: stored without its permission sets and details.
    w.platform
        .dynamo
        .delete_item()
        .table_name(table)
        .key("authorizer_appid", AttributeValue::S(mp(2)))
        .send()
        .await
        .unwrap();
    update(
        mp(3),
        "REMOVE permission_sets, nick_name, principal_name SET has_code_management = :no",
    )
    .expression_attribute_values(":no", AttributeValue::Bool(false))
    .send()
    .await
    .unwrap();

    let value = token_refresh::handle(&w.refresher(), json!({ "mode": "reconcile" }))
        .await
        .unwrap();
    let summary: token_refresh::Summary = serde_json::from_value(value).unwrap();
    assert_eq!(
        (summary.listed, summary.restored, summary.not_listed),
        (Some(4), Some(3), Some(0)),
        "{summary:?}"
    );
    let store = w.platform.authorizer_store();
    for i in 0..4 {
        let a = store.authorizer(&mp(i)).await.unwrap().unwrap();
        assert_eq!(a.status, AuthorizerStatus::Authorized, "{i}");
        assert_eq!(
            w.stored_refresh_token(&mp(i)).await,
            w.sim.current_refresh_token(&mp(i)).await,
            "{i}"
        );
        assert!(a.access_token.is_some(), "{i}");
        assert_eq!(a.permission_sets, vec![17, 18], "{i}");
        assert!(a.has_code_management(), "{i}");
        assert_eq!(
            (a.nick_name.as_str(), a.user_name.as_str()),
            (
                format!("Rotating shop {i}").as_str(),
                format!("gh_rotation{i:04}").as_str()
            ),
            "{i}"
        );
    }
}
