//! Each run is kept for the platform-health route (`GET /admin/health`): its counts and reasons,
//! never the text of an error (which may carry WeChat's or AWS's messages).

mod common;

use devstack::sim::{mini_program, Component, Setup};
use devstack::simctl::fault;
use shared::store::{ComponentTokenStore, RefreshRunStore, TicketStore};

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
