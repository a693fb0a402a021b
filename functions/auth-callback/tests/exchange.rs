//! The authorization code is spent by api_query_auth: the tokens it answers are stored at once,
//! before the account's details are asked for, so a slow api_get_authorizer_info (and the
//! function's timeout cutting it short) cannot lose them.

use std::time::Duration;

use devstack::owner::{auth_code_of, confirm_on_page, store_ticket};
use devstack::simctl::SimControl;
use secrecy::ExposeSecret;
use serde_json::json;
use shared::authorization::EventTime;
use shared::store::{AuthCodeStore, AuthorizerStore, ClaimState};
use shared::wechat::{WechatClient, WechatEndpoints};
use wechat_sim::config::{MiniProgram, ReviewScript};
use wechat_sim::{Sim, SimConfig};

const APPID: &str = "wxexchangecomponen";
const SECRET: &str = "exchange-secret";
const TOKEN: &str = "exchangetoken";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const MP: &str = "wxexchangeminiprog";

#[tokio::test]
async fn the_tokens_are_stored_before_the_details_are_asked_for() {
    let mut config = SimConfig::for_component(APPID, SECRET, TOKEN, KEY);
    config.mini_programs.push(MiniProgram {
        appid: MP.into(),
        original_id: "gh_exchange00001".into(),
        nickname: "Slow Details Café".into(),
        principal_name: String::new(),
        head_img: String::new(),
        categories: Vec::new(),
        pages: Vec::new(),
        testers_limit: 5,
        permission_sets: vec![17, 18],
        review: ReviewScript::Pass { after_secs: 5 },
    });
    let running = Sim::new(config)
        .unwrap()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut platform = devstack::test_platform(
        "exchange-slow-info",
        devstack::component_config(APPID, SECRET, TOKEN, KEY),
        &running.base_url(),
    )
    .await;
    // A WeChat timeout longer than the delay below: the call is still waiting when we look.
    let endpoints = WechatEndpoints {
        api_base: running.base_url(),
        mp_base: running.base_url(),
        open_base: running.base_url(),
    };
    platform.wechat = WechatClient::new(endpoints, Duration::from_secs(60)).unwrap();
    let sim = SimControl::new(&running.base_url());
    store_ticket(&platform, running.sim.push_ticket()).await;
    let pre = platform
        .component_service()
        .create_preauthcode()
        .await
        .unwrap();
    let code = auth_code_of(&confirm_on_page(&running.base_url(), &pre.code, MP, &[17, 18]).await);
    sim.fault(
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
    let store = platform.authorizer_store();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let stored = loop {
        if let Some(a) = store.authorizer(MP).await.unwrap() {
            break a;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tokens were not stored while api_get_authorizer_info was answering"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The function times out here, its api_get_authorizer_info call unanswered.
    assert!(!exchanging.is_finished());
    exchanging.abort();

    assert_eq!(
        stored
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
        sim.current_refresh_token(MP).await
    );
    assert!(stored.access_token.is_some() && stored.access_token_expires_at.is_some());
    assert_eq!(stored.permission_sets, vec![17, 18]);
    // The code is recorded as exchanged: the authorized push (or a reload) does not spend it again.
    assert_eq!(
        platform
            .ticket_store()
            .auth_code_claim(APPID, &code)
            .await
            .unwrap(),
        Some(ClaimState::Done {
            authorizer_appid: MP.into()
        })
    );
    assert_eq!(sim.calls("api_query_auth").await, 1);
}
