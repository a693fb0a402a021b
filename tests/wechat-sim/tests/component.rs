//! The simulator's component APIs, authorization pages and pushes: each success path and its
//! documented errors ("授权事件接收URL" (authorize_event), "令牌与授权" (ThirdParty/token)).

mod common;

use common::*;
use devstack::owner::{auth_code_of, location_of};
use serde_json::json;
use shared::push::{AuthorizationEvent, AuthorizationPush};

#[tokio::test]
async fn tickets_are_pushed_encrypted_and_accepted_for_12_hours() {
    let env = start().await;
    // api_start_push_ticket pushes one at once; a wrong secret is refused.
    let r = env
        .post(
            "/cgi-bin/component/api_start_push_ticket",
            json!({ "component_appid": APPID, "component_secret": "nope" }),
        )
        .await;
    assert_errcode(&r, 40125);
    let r = env
        .post(
            "/cgi-bin/component/api_start_push_ticket",
            json!({ "component_appid": APPID, "component_secret": SECRET }),
        )
        .await;
    assert_ok(&r);
    let push = env.inbox().wait_for("component_verify_ticket").await;
    assert_eq!(push.path, "/component");
    assert_eq!(push.query["encrypt_type"], "aes");
    let parsed = AuthorizationPush::parse(&push.plaintext).unwrap();
    let AuthorizationEvent::ComponentVerifyTicket { ticket } = parsed.event else {
        panic!("{parsed:?}")
    };
    assert_eq!(parsed.component_appid, APPID);

    let token_request = |ticket: &str, secret: &str| json!({ "component_appid": APPID, "component_appsecret": secret, "component_verify_ticket": ticket });
    let r = env
        .post(COMPONENT_TOKEN, token_request(&ticket, SECRET))
        .await;
    assert_eq!(r["expires_in"], 7200, "{r}");
    assert!(r.get("errcode").is_none(), "no errcode on success: {r}");
    expect(&env, COMPONENT_TOKEN, token_request(&ticket, "bad"), 40125).await;
    let forged = token_request("ticket@@@forged", SECRET);
    expect(&env, COMPONENT_TOKEN, forged, 61006).await;
    let other = json!({ "component_appid": "wxother", "component_appsecret": SECRET, "component_verify_ticket": ticket });
    assert_errcode(&env.post(COMPONENT_TOKEN, other).await, 40013);
    env.ctl.advance_clock(12 * 3600).await;
    expect(&env, COMPONENT_TOKEN, token_request(&ticket, SECRET), 61005).await;
}

const COMPONENT_TOKEN: &str = "/cgi-bin/component/api_component_token";

#[tokio::test]
async fn tokens_expire_on_the_simulated_clock() {
    let env = start().await;
    let token = env.component_token().await;
    let path = |t: &str| component_api("api_create_preauthcode", t);
    let ours = || json!({ "component_appid": APPID });
    let r = env.post(&path(&token), ours()).await;
    assert_eq!(r["expires_in"], 1800, "{r}");
    // No token, a wrong one, no component_appid.
    expect(
        &env,
        "/cgi-bin/component/api_create_preauthcode",
        ours(),
        41001,
    )
    .await;
    expect(&env, &path("not-a-token"), ours(), 40001).await;
    expect(&env, &path(&token), json!({}), 41002).await;
    // The simulated clock also runs in real time: 10 s short of the token's 7200 s leaves room
    // for a slow machine between the calls, and 10 s past is expired whatever it took.
    env.ctl.advance_clock(7190).await;
    assert!(env.post(&path(&token), ours()).await["pre_auth_code"].is_string());
    env.ctl.advance_clock(20).await;
    expect(&env, &path(&token), ours(), 42001).await;
    // Expire now through the control API.
    let fresh = env.component_token().await;
    env.ctl.expire_component_tokens().await;
    expect(&env, &path(&fresh), ours(), 42001).await;
}

#[tokio::test]
async fn the_owner_authorizes_on_the_page_and_the_code_is_single_use() {
    let env = start().await;
    let token = env.component_token().await;
    let pre = env.pre_auth_code(&token).await;
    let page = env
        .page(&format!(
            "/cgi-bin/componentloginpage?component_appid={APPID}&pre_auth_code={pre}&redirect_uri=https%3A%2F%2Fplatform.example.com%2Fauth%2Fcallback&auth_type=2"
        ))
        .await;
    assert!(
        page.contains(MP)
            && page.contains(MP2)
            && page.contains("name=\"permission\" value=\"18\""),
        "{page}"
    );
    // biz_appid restricts the page to one account; the mobile page is the same.
    let mobile = env
        .page(&format!(
            "/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&component_appid={APPID}&pre_auth_code={pre}&redirect_uri=https%3A%2F%2Fp.example.com%2Fcb&auth_type=3&biz_appid={MP2}"
        ))
        .await;
    assert!(mobile.contains(MP2) && !mobile.contains(MP), "{mobile}");

    let response = env.owner_confirms(&pre, MP, &[17, 18]).await;
    assert_eq!(response.status(), 302);
    let location = location_of(&response);
    assert!(
        location
            .starts_with("https://platform.example.com/auth/callback?auth_code=queryauthcode@@@"),
        "{location}"
    );
    assert!(location.ends_with("&expires_in=600"));
    let code = auth_code_of(&location);

    // The same code arrives in the authorized push.
    let push = AuthorizationPush::parse(
        &env.inbox()
            .wait_for("<InfoType><![CDATA[authorized]]>")
            .await
            .plaintext,
    )
    .unwrap();
    let AuthorizationEvent::Authorized(grant) = push.event else {
        panic!("{push:?}")
    };
    assert_eq!(
        (
            grant.authorizer_appid.as_str(),
            grant.authorization_code.as_str()
        ),
        (MP, code.as_str())
    );

    // A used pre_auth_code shows WeChat's error page.
    let again = env.owner_confirms(&pre, MP, &[18]).await;
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().contains("授权失败"));
    let bad = env
        .page(&format!("/cgi-bin/componentloginpage?component_appid={APPID}&pre_auth_code=nope&redirect_uri=https%3A%2F%2Fa.b"))
        .await;
    assert!(bad.contains("授权失败") && bad.contains("invalid"), "{bad}");

    let query = |code: &str| json!({ "component_appid": APPID, "authorization_code": code });
    let path = component_api("api_query_auth", &token);
    let r = env.post(&path, query(&code)).await;
    let info = &r["authorization_info"];
    assert_eq!(info["authorizer_appid"], MP, "{r}");
    assert_eq!(
        info["func_info"],
        json!([{ "funcscope_category": { "id": 17 } }, { "funcscope_category": { "id": 18 } }])
    );
    assert!(info["authorizer_refresh_token"]
        .as_str()
        .unwrap()
        .starts_with("refreshtoken@@@"));
    expect(&env, &path, query(&code), 40029).await;

    // An expired code: 61010.
    let pre = env.pre_auth_code(&token).await;
    let code = auth_code_of(&location_of(&env.owner_confirms(&pre, MP2, &[18]).await));
    env.ctl.advance_clock(601).await;
    let token = env.component_token().await;
    let path = component_api("api_query_auth", &token);
    expect(&env, &path, query(&code), 61010).await;
}

#[tokio::test]
async fn authorizer_tokens_refresh_until_revoked() {
    let env = start().await;
    let (token, refresh) = mp_authorized(&env).await;
    let path = component_api("api_authorizer_token", &token);
    let body = refresh_body;
    let r = env.post(&path, body(&refresh)).await;
    assert_eq!(r["authorizer_refresh_token"], refresh.as_str(), "{r}");
    assert_eq!(r["expires_in"], 7200);
    expect(&env, &path, body("refreshtoken@@@wrong"), 61023).await;

    // Info and list.
    let info_path = component_api("api_get_authorizer_info", &token);
    let r = env
        .post(
            &info_path,
            json!({ "component_appid": APPID, "authorizer_appid": MP }),
        )
        .await;
    assert_eq!(r["authorizer_info"]["user_name"], "gh_000000000001", "{r}");
    assert!(r["authorizer_info"]["MiniProgramInfo"]["categories"].is_array());
    assert_eq!(
        r["authorization_info"]["authorizer_refresh_token"],
        refresh.as_str()
    );
    expect(
        &env,
        &info_path,
        json!({ "component_appid": APPID, "authorizer_appid": MP2 }),
        61003,
    )
    .await;
    env.wx_authorize(&token, MP2, &[18]).await;
    let list_path = component_api("api_get_authorizer_list", &token);
    let r = env
        .post(
            &list_path,
            json!({ "component_appid": APPID, "offset": 0, "count": 1 }),
        )
        .await;
    assert_eq!(
        (
            r["total_count"].as_i64(),
            r["list"].as_array().unwrap().len()
        ),
        (Some(2), 1),
        "{r}"
    );
    let r = env
        .post(
            &list_path,
            json!({ "component_appid": APPID, "offset": 1, "count": 500 }),
        )
        .await;
    assert_eq!(r["list"][0]["authorizer_appid"], MP2, "{r}");
    expect(
        &env,
        &list_path,
        json!({ "component_appid": APPID, "offset": 0, "count": 501 }),
        40097,
    )
    .await;

    // Revocation: unauthorized is pushed, the refresh token dies.
    assert_eq!(env.ctl.revoke(MP).await, 204);
    let push =
        AuthorizationPush::parse(&env.inbox().wait_for("unauthorized").await.plaintext).unwrap();
    assert_eq!(push.authorizer_appid(), Some(MP));
    expect(&env, &path, body(&refresh), 61023).await;
    let r = env
        .post(
            &list_path,
            json!({ "component_appid": APPID, "offset": 0, "count": 10 }),
        )
        .await;
    assert_eq!(r["total_count"], 1);
    // Re-authorizing gives a new refresh token and an `authorized` push again.
    let (_, new_refresh) = env.wx_authorize(&token, MP, &[18]).await;
    assert_ne!(new_refresh, refresh);
}

#[tokio::test]
async fn changing_permissions_pushes_updateauthorized_and_keeps_the_refresh_token() {
    let env = start().await;
    let token = env.component_token().await;
    let (_, refresh) = env.wx_authorize(&token, MP, &[17]).await;
    let (_, again) = env.wx_authorize(&token, MP, &[17, 18]).await;
    assert_eq!(refresh, again);
    let push = env.inbox().wait_for("updateauthorized").await;
    assert!(push.plaintext.contains(MP));
}

#[tokio::test]
async fn unanswered_pushes_are_retried_up_to_three_times() {
    let env = start().await;
    // The n-th push's delivery once the simulator has recorded its last attempt.
    let settled = |n: usize, attempts: u64| {
        let env = &env;
        async move {
            devstack::wait::poll(|| async {
                let d = env.ctl.pushes().await;
                let ended =
                    d[n]["attempts"] == attempts && (d[n]["delivered"] == true || attempts == 4);
                ended.then(|| d[n].clone())
            })
            .await
            .unwrap_or_else(|| panic!("push {n} did not end after {attempts} attempts"))
        }
    };
    env.inbox().fail_next(2);
    env.push_ticket();
    env.inbox().wait_for("component_verify_ticket").await;
    let first = settled(0, 3).await;
    assert_eq!(first["delivered"], true, "{first}");

    env.inbox().fail_next(10);
    env.push_ticket();
    let second = settled(1, 4).await;
    assert_eq!(
        (&second["delivered"], &second["last_status"]),
        (&json!(false), &json!(500)),
        "{second}"
    );
}

#[tokio::test]
async fn tickets_are_pushed_on_a_schedule() {
    let started = std::time::Instant::now();
    let env = start_with(|c| c.push.ticket_interval_secs = 1).await;
    // The first at once, the next a second later (however long a busy machine takes).
    env.inbox()
        .wait_for_count("component_verify_ticket", 2)
        .await;
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "the second ticket came after the interval"
    );
    let tickets: std::collections::HashSet<String> = env
        .inbox()
        .containing("component_verify_ticket")
        .into_iter()
        .map(|p| p.plaintext)
        .collect();
    assert!(tickets.len() >= 2, "each push carries a new ticket");
}

#[tokio::test]
async fn bulk_authorizations_and_added_latency() {
    let env = start_with(|c| c.latency_ms = 150).await;
    let created = env.ctl.bulk_authorize("wxbulk", 600).await;
    assert_eq!(created.len(), 600);
    assert_eq!(created[7].0, "wxbulk000000000007");
    let (bad, _) = env
        .ctl
        .send(
            "/sim/authorizations/bulk",
            json!({ "prefix": "wxbulk", "count": 0 }),
        )
        .await;
    assert_eq!(bad, 400);
    let token = env.component_token().await;
    let started = std::time::Instant::now();
    let r = env
        .post(
            &component_api("api_authorizer_token", &token),
            json!({ "component_appid": APPID, "authorizer_appid": "wxbulk000000000007", "authorizer_refresh_token": created[7].1 }),
        )
        .await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    assert!(r["authorizer_access_token"].is_string(), "{r}");
    let list = env
        .post(
            &component_api("api_get_authorizer_list", &token),
            json!({ "component_appid": APPID, "offset": 500, "count": 500 }),
        )
        .await;
    assert_eq!(
        (
            list["total_count"].as_u64(),
            list["list"].as_array().unwrap().len()
        ),
        (Some(600), 100)
    );
}
