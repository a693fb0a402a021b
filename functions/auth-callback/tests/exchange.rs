//! The authorization code is spent by api_query_auth: the tokens it answers are stored at once,
//! before the account's details are asked for, so a slow api_get_authorizer_info (and the
//! function's timeout cutting it short) cannot lose them.

use std::time::Duration;

use devstack::owner::{auth_code_of, confirm_on_page};
use devstack::sim::{mini_program, Component, MiniProgramBuilder, Setup};
use secrecy::ExposeSecret;
use serde_json::json;
use shared::authorization::EventTime;
use shared::store::{AuthCodeStore, ClaimState};

const APPID: &str = "wxexchangecomponen";
const MP: &str = "wxexchangeminiprog";

#[tokio::test]
async fn the_tokens_are_stored_before_the_details_are_asked_for() {
    let details = mini_program(MP)
        .original_id("gh_exchange00001")
        .named("Slow Details Café", "");
    // A WeChat timeout longer than the delay below: the call is still waiting when we look.
    let w = Setup::new(&Component::new(APPID, "exchange-secret", "exchangetoken"))
        .mini_program(details)
        .wechat_timeout(Duration::from_secs(60))
        .with_ticket()
        .start("exchange-slow-info")
        .await;
    let platform = &w.platform;
    let pre = platform
        .component_service()
        .create_preauthcode()
        .await
        .unwrap();
    let code = auth_code_of(&confirm_on_page(&w.base_url(), &pre.code, MP, &[17, 18]).await);
    w.ctl
        .fault(
            "api_get_authorizer_info",
            1,
            json!({ "delay_ms": { "ms": 40_000 } }),
        )
        .await;

    let service = platform.authorization_service();
    let exchanging = {
        let code = code.clone();
        tokio::spawn(async move { service.complete(&code, EventTime::Callback).await })
    };
    // The tokens stored and the code recorded as exchanged (two writes, in that order), while
    // api_get_authorizer_info is still answering (40 s; 20 s are given).
    let tickets = platform.ticket_store();
    let claim = || tickets.auth_code_claim(APPID, &code);
    let stored = devstack::wait::poll_within(Duration::from_secs(20), || async {
        let done = matches!(claim().await.unwrap(), Some(ClaimState::Done { .. }));
        match w.stored(MP).await {
            Some(stored) if done => Some(stored),
            _ => None,
        }
    })
    .await
    .expect("the tokens were not stored while api_get_authorizer_info was answering");
    // The function times out here, its api_get_authorizer_info call unanswered.
    assert!(!exchanging.is_finished());
    exchanging.abort();

    assert_eq!(
        stored
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
        w.ctl.current_refresh_token(MP).await
    );
    assert!(stored.access_token.is_some() && stored.access_token_expires_at.is_some());
    assert_eq!(stored.permission_sets, vec![17, 18]);
    // The code is recorded as exchanged: the authorized push (or a reload) does not spend it again.
    assert_eq!(
        claim().await.unwrap(),
        Some(ClaimState::Done {
            authorizer_appid: MP.into()
        })
    );
    assert_eq!(w.ctl.calls("api_query_auth").await, 1);
}
