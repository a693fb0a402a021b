//! token-refresh against moto and the WeChat simulator: expiry on the simulator's clock, one WeChat
//! call for concurrent refreshes, 5xx / timeouts / 61023 / 45009, reconcile, the ticket watchdog,
//! and a run that dies half-way.

mod common;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{assert_reconciled, reconcile, refresher, ALL_DUE};
use devstack::sim::{mini_program, Component, MiniProgramBuilder, Setup};
use devstack::simctl::fault;
use devstack::world::World;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use shared::authorizer::AuthorizerStatus;
use shared::authorizer_token::{Refresh, Skip};
use shared::store::LeaseTerms;
use shared::store::{unix_now, AuthorizerStore, TicketStore, VerifyTicket};
use token_refresh::Summary;
use token_refresh::{ComponentTokenState, Mode, TicketState};

const APPID: &str = "wxrefreshcomponent";

fn mp(i: usize) -> String {
    format!("wxrefreshmp{i:07}")
}

/// `count` mini programs (permission sets 17 and 18), and a short WeChat timeout (2 s; the
/// injected delay is 5 s) so that the timeout tests are quick.
fn setup(count: usize) -> Setup {
    let shop = |i| {
        mini_program(&mp(i))
            .original_id(&format!("gh_refresh{i:05}"))
            .named(&format!("Shop {i}"), "")
    };
    Setup::new(&Component::new(APPID, "refresh-secret", "refreshtoken"))
        .mini_programs((0..count).map(shop))
        .wechat_timeout(Duration::from_millis(2000))
}

/// The ticket stored and `count` mini programs authorized.
async fn world(test: &str, count: usize) -> World {
    setup(count).authorized().start(test).await
}

/// Moves `appid`'s stored access-token expiry to one minute from now, so that it is due with
/// [`DUE_SOON`] while a freshly refreshed token (7200 s) is not.
async fn expires_soon(w: &World, appid: &str) {
    w.set_token_expiry(appid, unix_now() + 60).await;
}

/// The endpoint refreshing authorizer tokens.
const TOKEN_API: &str = "api_authorizer_token";

/// A token that expires within the minute is due with this margin; a fresh one (7200 s) is not.
const DUE_SOON: i64 = 1800;

#[tokio::test]
async fn tokens_expired_on_wechats_clock_are_refreshed_by_the_scheduled_run() {
    let w = world("scheduled", 3).await;
    // Nothing is due yet with the default margin.
    let summary = refresher(&w.platform, 1800, 16).refresh_all().await;
    assert_eq!(
        (
            summary.due,
            summary.refreshed,
            summary.component_token,
            summary.ticket
        ),
        (0, 0, ComponentTokenState::Valid, TicketState::Ok)
    );
    // Two hours later on WeChat's clock the tokens are dead.
    w.ctl.advance_clock(7200).await;
    assert_eq!(w.errcode_with_stored_token(&mp(0)).await, 42001);
    let before = w.authorizer(&mp(0)).await;
    // WeChat also dropped the component token early: the first call is refused (42001), the token
    // is refreshed once and the run goes on.
    w.ctl.expire_component_tokens().await;
    let summary = refresher(&w.platform, ALL_DUE, 1).refresh_all().await;
    assert_eq!(
        (summary.due, summary.refreshed, summary.failures()),
        (3, 3, 0),
        "{summary:?}"
    );
    for i in 0..3 {
        assert_eq!(w.errcode_with_stored_token(&mp(i)).await, 0);
    }
    let after = w.authorizer(&mp(0)).await;
    assert_eq!(after.token_version, before.token_version + 1);
    assert_eq!(
        after.refresh_token.unwrap().expose_secret(),
        before.refresh_token.unwrap().expose_secret()
    );
    assert_eq!(
        w.ctl.calls("api_authorizer_token").await,
        4,
        "3 and the one refused"
    );
    assert_eq!(w.ctl.calls("api_component_token").await, 2);
    // The Lambda handler returns the same summary as JSON.
    let value = token_refresh::handle(&refresher(&w.platform, 1800, 16), json!({}))
        .await
        .unwrap();
    let parsed: Summary = serde_json::from_value(value).unwrap();
    assert_eq!((parsed.mode, parsed.due), (Mode::Refresh, 0));
}

#[tokio::test]
async fn ten_concurrent_refreshes_of_one_authorizer_make_one_wechat_call() {
    let w = world("concurrent", 1).await;
    expires_soon(&w, &mp(0)).await;
    let before = w.authorizer(&mp(0)).await;
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
    assert_eq!(w.ctl.calls("api_authorizer_token").await, 1);
    let after = w.authorizer(&mp(0)).await;
    assert_eq!(after.token_version, before.token_version + 1);
    assert_ne!(
        after.access_token.as_ref().unwrap().expose_secret(),
        before.access_token.as_ref().unwrap().expose_secret()
    );
    assert_eq!(w.errcode_with_stored_token(&mp(0)).await, 0);
    // On demand, ten callers at once: the token is valid, nobody calls WeChat.
    let tokens =
        futures::future::join_all((0..10).map(|_| service.authorizer_access_token(&appid))).await;
    assert!(tokens.iter().all(|t| t.as_ref().unwrap().expose_secret()
        == after.access_token.as_ref().unwrap().expose_secret()));
    assert_eq!(w.ctl.calls("api_authorizer_token").await, 1);
}

#[tokio::test]
async fn fivexx_and_timeouts_are_retried_and_nothing_is_lost_when_they_persist() {
    let w = world("faults", 2).await;
    // One 502 and one timeout: retried, refreshed.
    for once in [fault::http_status(502), fault::delay_ms(5000)] {
        w.ctl.fault(TOKEN_API, 1, once).await;
    }
    let summary = refresher(&w.platform, ALL_DUE, 1).refresh_all().await;
    assert_eq!(
        (summary.refreshed, summary.failures()),
        (2, 0),
        "{summary:?}"
    );
    assert_eq!(w.ctl.calls("api_authorizer_token").await, 4);
    // WeChat down for every attempt: nothing lost, the reason recorded, the next run succeeds.
    let before = w.authorizer(&mp(0)).await;
    let ctl = &w.ctl;
    ctl.fault(TOKEN_API, 6, fault::http_status(503)).await;
    let summary = refresher(&w.platform, ALL_DUE, 1).refresh_all().await;
    assert_eq!(
        (summary.refreshed, summary.failed.get("http_503").copied()),
        (0, Some(2)),
        "{summary:?}"
    );
    let after = w.authorizer(&mp(0)).await;
    assert_eq!(
        after.access_token.unwrap().expose_secret(),
        before.access_token.unwrap().expose_secret()
    );
    assert_eq!(
        after.refresh_token.unwrap().expose_secret(),
        before.refresh_token.unwrap().expose_secret()
    );
    let item = w.authorizer_item(&mp(0)).await;
    assert_eq!(item["last_refresh_error"].as_s().unwrap(), "http_503");
    assert!(!item.contains_key("lease_owner"), "the lease is given back");
    let summary = refresher(&w.platform, ALL_DUE, 1).refresh_all().await;
    assert_eq!(summary.refreshed, 2, "{summary:?}");
}

#[tokio::test]
async fn a_refused_refresh_token_marks_the_authorizer_and_keeps_it() {
    let w = world("61023", 2).await;
    // The owner revoked; the unauthorized push never reached us.
    assert_eq!(w.ctl.revoke(&mp(0)).await, 204);
    let summary = refresher(&w.platform, ALL_DUE, 16).refresh_all().await;
    assert_eq!(
        (summary.refreshed, summary.reauthorization_required),
        (1, 1),
        "{summary:?}"
    );
    let marked = w.authorizer(&mp(0)).await;
    assert_eq!(marked.status, AuthorizerStatus::ReauthorizationRequired);
    assert!(
        marked.refresh_token.is_some()
            && marked.access_token.is_none()
            && marked.authorized_at.is_some()
    );
    // No longer due: the next run leaves it alone.
    let summary = refresher(&w.platform, ALL_DUE, 16).refresh_all().await;
    assert_eq!(summary.due, 1);
}

#[tokio::test]
async fn quota_exhaustion_stops_the_run() {
    let w = world("45009", 3).await;
    let ctl = &w.ctl;
    ctl.fault(TOKEN_API, 1, fault::errcode(45009)).await;
    let summary = refresher(&w.platform, ALL_DUE, 1).refresh_all().await;
    assert!(summary.quota_exhausted, "{summary:?}");
    assert_eq!(
        (
            summary.refreshed,
            summary.skipped.get("quota_exhausted").copied()
        ),
        (0, Some(3)),
        "{summary:?}"
    );
    assert_eq!(w.ctl.calls("api_authorizer_token").await, 1);
    for i in 0..3 {
        let a = w.authorizer(&mp(i)).await;
        assert_eq!(a.status, AuthorizerStatus::Authorized);
        assert!(a.refresh_token.is_some() && a.access_token.is_some());
    }
}

#[tokio::test]
async fn a_run_killed_half_way_loses_nothing() {
    let w = world("killed", 2).await;
    // A previous run took the lease on mp 0 and died; its lease has run out.
    let now = unix_now();
    let held = w
        .platform
        .authorizer_store()
        .lease_authorizer(&mp(0), LeaseTerms::from_now("crashed-run", now - 100, 30))
        .await
        .unwrap();
    assert!(held.is_some());
    let summary = refresher(&w.platform, ALL_DUE, 16).refresh_all().await;
    assert_eq!(summary.refreshed, 2, "{summary:?}");
    // A live lease is respected.
    let now = unix_now();
    w.platform
        .authorizer_store()
        .lease_authorizer(&mp(1), LeaseTerms::from_now("running", now, 30))
        .await
        .unwrap();
    let summary = refresher(&w.platform, ALL_DUE, 16).refresh_all().await;
    assert_eq!(
        (summary.refreshed, summary.skipped.get("leased").copied()),
        (1, Some(1)),
        "{summary:?}"
    );
}

#[tokio::test]
async fn reconcile_restores_refresh_tokens_and_flags_unlisted_authorizers() {
    let w = world("reconcile", 3).await;
    // Lost: mp 0's refresh token, and mp 1 entirely.
    w.update_authorizer(&mp(0), "REMOVE refresh_token")
        .send()
        .await
        .unwrap();
    w.delete_authorizer(&mp(1)).await;
    // Ours but unknown to WeChat.
    w.platform
        .dynamo
        .put_item()
        .table_name(&w.platform.tables.authorizers)
        .item(
            "authorizer_appid",
            AttributeValue::S("wxgone000000000001".into()),
        )
        .item("status", AttributeValue::S("authorized".into()))
        .item("last_event_time", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    let summary = reconcile(&w.platform).await;
    assert_reconciled(&summary, 3, 2, 1);
    assert_eq!(summary.refreshed, 2, "{summary:?}");
    for i in [0, 1] {
        let a = w.authorizer(&mp(i)).await;
        assert!(a.refresh_token.is_some(), "{i}");
        assert_eq!(w.errcode_with_stored_token(&mp(i)).await, 0);
    }
    let gone = w.authorizer_item("wxgone000000000001").await;
    assert!(gone.contains_key("not_listed_by_wechat_at"));
}

#[tokio::test]
async fn the_ticket_watchdog_restarts_pushes() {
    let w = setup(0).start("watchdog").await;
    let summary = refresher(&w.platform, 1800, 16).refresh_all().await;
    assert!(
        matches!(summary.ticket, TicketState::Restarted { .. }),
        "{summary:?}"
    );
    assert!(
        matches!(summary.component_token, ComponentTokenState::Failed { .. }),
        "{summary:?}"
    );
    assert_eq!(
        w.ctl.calls("api_start_push_ticket").await,
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
    let summary = refresher(&w.platform, 1800, 16).refresh_all().await;
    assert!(
        matches!(summary.ticket, TicketState::Restarted { newest_age_secs: Some(age) } if (2400..2460).contains(&age)),
        "{summary:?}"
    );
}

#[tokio::test]
async fn overlapping_scheduled_runs_refresh_each_authorizer_once() {
    let w = world("overlap", 4).await;
    let mut before = Vec::new();
    for i in 0..4 {
        expires_soon(&w, &mp(i)).await;
        before.push(w.authorizer(&mp(i)).await.token_version);
    }
    // A refreshed token is no longer due (DUE_SOON < its 7200 s), so a run that takes a shard the
    // other has already finished finds nothing to do there: whichever run holds which shard, each
    // authorizer is refreshed exactly once.
    let (one, two) = (
        refresher(&w.platform, DUE_SOON, 2),
        refresher(&w.platform, DUE_SOON, 2),
    );
    let (a, b) = tokio::join!(one.refresh_all(), two.refresh_all());
    assert_eq!(a.refreshed + b.refreshed, 4, "{a:?} {b:?}");
    assert_eq!((a.failures(), b.failures()), (0, 0), "{a:?} {b:?}");
    assert_eq!(w.ctl.calls("api_authorizer_token").await, 4, "{a:?} {b:?}");
    for (i, version) in before.into_iter().enumerate() {
        assert_eq!(
            w.authorizer(&mp(i)).await.token_version,
            version + 1,
            "{}",
            mp(i)
        );
        assert_eq!(w.errcode_with_stored_token(&mp(i)).await, 0);
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
