//! Each run is kept for the platform-health route (`GET /admin/health`): its counts and reasons,
//! never the text of an error (which may carry WeChat's or AWS's messages); and the refreshes that
//! need someone are published as platform events.

mod common;

use devstack::sim::{mini_program, Component, Setup};
use devstack::simctl::fault;
use shared::store::{unix_now, ComponentTokenStore, EventFilter, RefreshRunStore, TicketStore};

const APPID: &str = "wxrunrecordcompnt1";

#[tokio::test]
async fn a_run_is_kept_with_its_counts_and_without_error_text() {
    let w = Setup::new(&Component::new(
        APPID,
        "run-record-secret",
        "runrecordtoken",
    ))
    .mini_programs([
        mini_program("wxrunrecordmp00001"),
        mini_program("wxrunrecordmp00002"),
    ])
    .authorized()
    .start("runrecord")
    .await;
    let store = w.platform.component_service().store().clone();
    assert!(store.verify_ticket(APPID).await.unwrap().is_some());
    assert_eq!(store.last_refresh_run(APPID).await.unwrap(), None);

    let summary = common::handle(&w.platform, serde_json::json!({})).await;
    assert_eq!(summary.refreshed, 2);
    let run = store.last_refresh_run(APPID).await.unwrap().expect("kept");
    assert_eq!(run.summary["refreshed"], 2);
    assert_eq!(run.summary["due"], 2);
    assert!(run.finished_at >= shared::store::unix_now() - 60);

    // A run without a component token: its state is kept, WeChat's message is not.
    w.ctl.expire_component_tokens().await;
    w.ctl
        .fault("api_component_token", 10, fault::errcode(40013))
        .await;
    let stored = store.stored_component_token(APPID).await.unwrap();
    let token = stored
        .token
        .expect("the authorizations bought a component token");
    assert!(store
        .invalidate_component_token(APPID, &token)
        .await
        .unwrap());
    let failed = common::handle(&w.platform, serde_json::json!({})).await;
    assert_ne!(
        failed.component_token,
        token_refresh::ComponentTokenState::Valid
    );
    let run = store.last_refresh_run(APPID).await.unwrap().expect("kept");
    let kept = run.summary.to_string();
    assert!(
        kept.contains("\"component_token\":{\"failed\":{}}"),
        "{kept}"
    );
    assert!(!kept.contains("error"), "no error text is kept: {kept}");
    assert!(
        !kept.contains("40013") && !kept.contains("invalid appid"),
        "{kept}"
    );
}

/// The platform events of a refresh: the owner must authorize again (61023), or a refresh failed.
#[tokio::test]
async fn refreshes_that_need_someone_are_published_as_platform_events() {
    let (revoked, failing) = ("wxrunrecordmp00003", "wxrunrecordmp00004");
    let w = Setup::new(&Component::new(
        "wxrunrecordcompnt2",
        "run-record-secret",
        "runrecordtoken",
    ))
    .mini_programs([mini_program(revoked), mini_program(failing)])
    .authorized()
    .start("runevents")
    .await;
    // The first call (whichever mini program) refused as revoked, the next ones as a WeChat
    // outage: one of each outcome, told apart by what the summary counts.
    w.ctl
        .fault("api_authorizer_token", 1, fault::errcode(61023))
        .await;
    w.ctl
        .fault("api_authorizer_token", 20, fault::http_status(503))
        .await;
    let summary = common::handle(&w.platform, serde_json::json!({})).await;
    assert_eq!(summary.reauthorization_required, 1, "{summary:?}");
    assert_eq!(summary.failures(), 1, "{summary:?}");

    let events = w.platform.event_store();
    let kinds = [
        "platform.authorizer.reauthorization_required",
        "platform.token_refresh.failed",
    ];
    for kind in kinds {
        let filter = EventFilter {
            kind: Some(kind.to_owned()),
            ..EventFilter::default()
        };
        let page = events
            .list(&filter, None, 10, unix_now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(page.events.len(), 1, "one {kind}: {:?}", page.events);
    }
    // A second run in the same 10-minute window records nothing new (the same keys).
    let window = unix_now() / 600;
    common::handle(&w.platform, serde_json::json!({})).await;
    let same_window = unix_now() / 600 == window;
    let all = events
        .list(&EventFilter::default(), None, 100, unix_now())
        .await
        .unwrap()
        .unwrap();
    let failed = all
        .events
        .iter()
        .filter(|e| e.kind == "platform.token_refresh.failed")
        .count();
    if same_window {
        assert_eq!(
            failed, 1,
            "the same failure in the same run window is one event"
        );
    } else {
        assert!(
            failed <= 2,
            "a new window's failure is one more event: {failed}"
        );
    }
}
