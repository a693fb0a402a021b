//! Refresh tokens WeChat rotates are never lost ("获取/刷新接口调用令牌" (api_authorizer_token): a rotated refresh token replaces
//! the old one, which keeps working only a few minutes): a scheduled and an on-demand refresh
//! calling api_authorizer_token with the same refresh token, a save refused by a live lease, and
//! a stored refresh token WeChat no longer accepts (61023) while its list names another one.
//!
//! The invariant checked: after the refreshes return, the stored refresh token is the one WeChat
//! holds as current, so a refresh after the grace period still works.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{assert_reconciled, reconcile, refresher, ALL_DUE};
use devstack::sim::{mini_program, Component, MiniProgramBuilder, Setup};
use devstack::world::World;
use shared::authorizer::AuthorizerStatus;
use shared::authorizer_token::Refresh;
use shared::store::authorizers::token_shard;
use shared::store::LeaseTerms;
use shared::store::{unix_now, AuthorizerStore, DueAuthorizer};

/// How long WeChat accepts a replaced refresh token in these tests.
const GRACE: i64 = 300;

fn mp(i: usize) -> String {
    format!("wxrotationmp{i:06}")
}

/// A simulator with `count` mini programs, each authorized with permission sets 17 and 18.
async fn world(test: &str, count: usize) -> World {
    let shop = |i| {
        mini_program(&mp(i))
            .original_id(&format!("gh_rotation{i:04}"))
            .named(&format!("Rotating shop {i}"), &format!("Rotating Ltd. {i}"))
    };
    Setup::new(&Component::new(
        "wxrotationcomponen",
        "rotation-secret",
        "rotationtoken",
    ))
    .mini_programs((0..count).map(shop))
    .authorized()
    .start(test)
    .await
}

/// One mini program, authorized, and WeChat rotating refresh tokens from now on.
async fn rotating(test: &str) -> World {
    let w = world(test, 1).await;
    w.ctl.rotate_refresh_tokens(GRACE).await;
    w
}

/// What a scheduled run read from the `token_expiry` index for `appid`.
async fn due_entry(w: &World, appid: &str) -> DueAuthorizer {
    w.platform
        .authorizer_store()
        .due_authorizers(token_shard(appid), unix_now() + ALL_DUE)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.appid == appid)
        .expect("due")
}

/// The stored refresh token is WeChat's current one, and still works once the replaced ones
/// have stopped working.
async fn assert_stored_token_survives_the_grace_period(w: &World, appid: &str) {
    assert_stored_token_is_wechats(w, appid, "the stored refresh token is WeChat's current one")
        .await;
    w.ctl.advance_clock(GRACE + 1).await;
    let refreshed = w
        .platform
        .authorization_service()
        .refresh_authorizer(appid, ALL_DUE)
        .await
        .unwrap();
    assert!(
        matches!(refreshed, Refresh::Refreshed { .. }),
        "{refreshed:?}"
    );
    assert_eq!(
        w.authorizer(appid).await.status,
        AuthorizerStatus::Authorized
    );
}

/// The refresh token stored for `appid` is the one WeChat holds as current.
async fn assert_stored_token_is_wechats(w: &World, appid: &str, context: &str) {
    assert_eq!(
        w.stored_refresh_token(appid).await,
        w.ctl.current_refresh_token(appid).await,
        "{context}"
    );
}

#[tokio::test]
async fn a_refresh_refused_because_another_saved_first_keeps_wechats_newest_token() {
    let w = rotating("rotation-stale").await;
    let service = w.platform.authorization_service();
    // The scheduled run has read the index; meanwhile an on-demand refresh saves its answer.
    let due = due_entry(&w, &mp(0)).await;
    let on_demand = service.refresh_authorizer(&mp(0), ALL_DUE).await.unwrap();
    assert!(
        matches!(on_demand, Refresh::Refreshed { .. }),
        "{on_demand:?}"
    );
    // The scheduled refresh calls WeChat with the same (replaced, still accepted) token: WeChat
    // answers a newer one, and its save is refused because the version moved.
    service.refresh_due(&due).await.unwrap();
    assert_eq!(w.ctl.calls("api_authorizer_token").await, 2);
    assert_stored_token_survives_the_grace_period(&w, &mp(0)).await;
}

#[tokio::test]
async fn a_scheduled_refresh_refused_by_a_live_lease_keeps_its_rotated_token() {
    let w = rotating("rotation-leased").await;
    let due = due_entry(&w, &mp(0)).await;
    let store = w.platform.authorizer_store();
    // An on-demand caller takes the item's lease after the scheduled run read the index.
    let now = unix_now();
    assert!(store
        .lease_authorizer(&mp(0), LeaseTerms::from_now("on-demand", now, 30))
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
    assert_eq!(w.ctl.calls("api_authorizer_token").await, 1);
    assert_stored_token_survives_the_grace_period(&w, &mp(0)).await;
}

#[tokio::test]
async fn concurrent_scheduled_and_on_demand_refreshes_keep_wechats_current_token() {
    let w = rotating("rotation-race").await;
    let service = w.platform.authorization_service();
    let appid = mp(0);
    for _ in 0..4 {
        let due = due_entry(&w, &mp(0)).await;
        let (scheduled, on_demand) = tokio::join!(
            service.refresh_due(&due),
            service.refresh_authorizer(&appid, ALL_DUE)
        );
        scheduled.unwrap();
        on_demand.unwrap();
        assert_stored_token_is_wechats(&w, &mp(0), "after each round").await;
    }
    assert_stored_token_survives_the_grace_period(&w, &mp(0)).await;
}

#[tokio::test]
async fn a_refused_refresh_token_is_replaced_by_the_one_wechat_lists() {
    let w = world("rotation-61023", 2).await;
    // mp 0's stored refresh token is one WeChat no longer accepts (lost in an earlier rotation).
    w.update_authorizer(&mp(0), "SET refresh_token = :dead")
        .expression_attribute_values(":dead", AttributeValue::S("refreshtoken@@@dead".into()))
        .send()
        .await
        .unwrap();
    // mp 1 was revoked on WeChat's side (its unauthorized push never arrived).
    w.ctl.revoke(&mp(1)).await;
    let summary = refresher(&w.platform, ALL_DUE, 4).refresh_all().await;
    assert_eq!(
        (summary.refreshed, summary.reauthorization_required),
        (1, 1),
        "{summary:?}"
    );
    let store = w.platform.authorizer_store();
    let recovered = store.authorizer(&mp(0)).await.unwrap().unwrap();
    assert_eq!(recovered.status, AuthorizerStatus::Authorized);
    assert_stored_token_is_wechats(&w, &mp(0), "the listed one").await;
    let revoked = store.authorizer(&mp(1)).await.unwrap().unwrap();
    assert_eq!(revoked.status, AuthorizerStatus::ReauthorizationRequired);
}

#[tokio::test]
async fn reconcile_takes_the_listed_refresh_token_whenever_it_differs_and_restores_details() {
    let w = world("rotation-reconcile", 4).await;
    let update = |appid: String, expression: &'static str| w.update_authorizer(&appid, expression);
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
    w.delete_authorizer(&mp(2)).await;
    update(
        mp(3),
        "REMOVE permission_sets, nick_name, principal_name SET has_code_management = :no",
    )
    .expression_attribute_values(":no", AttributeValue::Bool(false))
    .send()
    .await
    .unwrap();

    let summary = reconcile(&w.platform).await;
    assert_reconciled(&summary, 4, 3, 0);
    let store = w.platform.authorizer_store();
    for i in 0..4 {
        let a = store.authorizer(&mp(i)).await.unwrap().unwrap();
        assert_eq!(a.status, AuthorizerStatus::Authorized, "{i}");
        assert_stored_token_is_wechats(&w, &mp(i), &i.to_string()).await;
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
