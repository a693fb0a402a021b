//! The simulator's fast registration ("快速注册企业小程序" (fastregisterweapp)): create's checks and
//! errcodes, search, the legal person's confirmation and the `notify_third_fasteregister` push,
//! its authorization code redeemed at api_query_auth, and scripted failures.

mod common;

use common::*;
use devstack::sim::enterprise;
use serde_json::{json, Value};
use shared::push::{AuthorizationEvent, AuthorizationPush};

fn with(field: &str, value: Value) -> Value {
    let mut body = enterprise();
    body[field] = value;
    body
}

fn create(token: &str) -> String {
    format!("/cgi-bin/component/fastregisterweapp?action=create&component_access_token={token}")
}

fn search(token: &str) -> String {
    format!("/cgi-bin/component/fastregisterweapp?action=search&component_access_token={token}")
}

fn search_body() -> Value {
    json!({ "name": "示例科技有限公司", "legal_persona_wechat": "legal_wx01", "legal_persona_name": "张三" })
}

/// The fast-registration push received (after `count - 1` earlier ones), parsed.
async fn pushed(env: &Env, count: usize) -> AuthorizationEvent {
    let pushes = env
        .inbox()
        .wait_for_count("notify_third_fasteregister", count)
        .await;
    let push = AuthorizationPush::parse(&pushes[count - 1].plaintext).unwrap();
    assert_eq!(push.component_appid, APPID);
    push.event
}

#[tokio::test]
async fn create_checks_the_enterprise_like_wechat() {
    let env = start().await;
    let token = env.component_token().await;
    let path = create(&token);
    expect(&env, &create(""), enterprise(), 41001).await;
    expect(&env, &path, with("legal_persona_name", json!("")), 89253).await;
    expect(&env, &path, with("code_type", Value::Null), 89253).await;
    expect(&env, &path, with("code_type", json!(4)), 89248).await;
    // 18 characters for a unified social credit code, xxxxxxxx-x for an organisation code.
    expect(&env, &path, with("code", json!("91440300MA5")), 89247).await;
    let organisation = json!({ "code": "MA5EXAMP-1", "code_type": 2 });
    let mut body = enterprise();
    body["code"] = organisation["code"].clone();
    body["code_type"] = json!(3);
    expect(&env, &path, body.clone(), 89247).await;
    expect(
        &env,
        &path,
        with("legal_persona_wechat", json!("1abc")),
        86004,
    )
    .await;
    env.ctl.refuse_next_registration(61070).await;
    expect(&env, &path, enterprise(), 61070).await;
    assert!(env.ctl.registrations().await.is_empty(), "no task yet");
    expect(&env, &search(&token), search_body(), 89250).await;

    expect(&env, &path, enterprise(), 0).await;
    // One task at a time per enterprise.
    expect(&env, &path, enterprise(), 89249).await;
    body["code_type"] = json!(2);
    expect(&env, &path, body, 0).await;
    assert_eq!(env.ctl.registrations().await.len(), 2);
    expect(&env, &search(&token), search_body(), 89251).await;
    assert!(env
        .inbox()
        .containing("notify_third_fasteregister")
        .is_empty());
}

#[tokio::test]
async fn a_confirmed_task_pushes_an_authorization_code_of_the_new_mini_program() {
    let env = start().await;
    let token = env.component_token().await;
    expect(&env, &create(&token), enterprise(), 0).await;
    let taskid = env.ctl.newest_registration().await;
    env.ctl.confirm_registration(&taskid).await;
    let AuthorizationEvent::FastRegister {
        appid,
        status,
        auth_code,
        info,
        ..
    } = pushed(&env, 1).await
    else {
        panic!("not a fast-registration push")
    };
    assert_eq!(status, 0);
    let appid = appid.expect("the new mini program's appid");
    let info: std::collections::HashMap<_, _> = info.into_iter().collect();
    for field in ["name", "code", "legal_persona_wechat", "legal_persona_name"] {
        assert_eq!(
            info[field],
            enterprise()[field].as_str().unwrap(),
            "{field}"
        );
    }
    assert_eq!(info["code_type"], "1");
    let tasks = env.ctl.registrations().await;
    assert_eq!(tasks[0]["state"]["appid"], appid.as_str());

    let query_auth = component_api("api_query_auth", &token);
    let exchange = json!({ "component_appid": APPID, "authorization_code": auth_code.unwrap() });
    let answer = env.post(&query_auth, exchange.clone()).await;
    let info = &answer["authorization_info"];
    assert_eq!(info["authorizer_appid"], appid.as_str(), "{answer}");
    assert!(info["authorizer_access_token"].is_string());
    let sets: Vec<i64> = info["func_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["funcscope_category"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(sets, [17, 18, 25, 30, 31]);
    assert_eq!(
        env.ctl.current_refresh_token(&appid).await.as_deref(),
        info["authorizer_refresh_token"].as_str()
    );
    // The code is single-use; search now answers the registered task; the task has ended, so the
    // enterprise may start another.
    expect(&env, &query_auth, exchange, 40029).await;
    expect(&env, &search(&token), search_body(), 0).await;
    expect(&env, &create(&token), enterprise(), 0).await;

    // WeChat's retry of the same push: the same plaintext again.
    env.ctl.push_registration_again(&taskid).await;
    let pushes = env
        .inbox()
        .wait_for_count("notify_third_fasteregister", 2)
        .await;
    assert_eq!(pushes[0].plaintext, pushes[1].plaintext);
}

#[tokio::test]
async fn scripted_failures_push_their_status_and_message() {
    let env = start_with(|c| c.registrations.confirm_after_secs = 30).await;
    let token = env.component_token().await;
    env.ctl
        .next_registration_push(-1, "authorize third party failed")
        .await;
    expect(&env, &create(&token), enterprise(), 0).await;
    // The legal person confirms on WeChat's clock.
    env.ctl.advance_clock(30).await;
    let AuthorizationEvent::FastRegister {
        appid,
        status,
        auth_code,
        msg,
        ..
    } = pushed(&env, 1).await
    else {
        panic!("not a fast-registration push")
    };
    assert_eq!(
        (status, msg.as_deref()),
        (-1, Some("authorize third party failed"))
    );
    assert_eq!((appid, auth_code), (None, None));
    let tasks = env.ctl.registrations().await;
    assert_eq!(tasks[0]["state"]["state"], "failed");
    assert_eq!(tasks[0]["state"]["status"], -1);
    expect(&env, &search(&token), search_body(), 89250).await;
    assert!(
        env.ctl
            .authorizations()
            .await
            .as_object()
            .unwrap()
            .is_empty(),
        "no mini program was registered"
    );
}
