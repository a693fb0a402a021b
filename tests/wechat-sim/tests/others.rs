//! The platform's other calls: authorizer options, API quotas and their reset, mini-program login
//! through the component (jscode2session) and the platform's own mini-program domains.

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn authorizer_options_are_read_and_set_as_strings() {
    let env = start().await;
    let (token, _) = mp_authorized(&env).await;
    let body = |appid: &str, name: &str, value: Option<&str>| {
        let mut body =
            json!({ "component_appid": APPID, "authorizer_appid": appid, "option_name": name });
        if let Some(value) = value {
            body["option_value"] = json!(value);
        }
        body
    };
    let get = component_api("api_get_authorizer_option", &token);
    let set = component_api("api_set_authorizer_option", &token);
    let answer = env.post(&get, body(MP, "location_report", None)).await;
    assert_eq!(
        answer,
        json!({ "authorizer_appid": MP, "option_name": "location_report", "option_value": "0" })
    );
    expect(&env, &set, body(MP, "location_report", Some("2")), 0).await;
    let answer = env.post(&get, body(MP, "location_report", None)).await;
    assert_eq!(answer["option_value"], "2", "{answer}");
    assert_eq!(
        env.post(&get, body(MP, "voice_recognize", None)).await["option_value"],
        "0"
    );
    for (body, errcode) in [
        (body(MP, "location_report", Some("3")), 40097),
        (body(MP, "customer_service", Some("2")), 40097),
        (body(MP, "font_size", Some("1")), 40097),
        (body(MP2, "voice_recognize", Some("1")), 61003),
        (body(MP, "voice_recognize", None), 41002),
    ] {
        expect(&env, &set, body, errcode).await;
    }
    let bogus = "/cgi-bin/component/api_get_authorizer_option?component_access_token=nope";
    expect(&env, bogus, body(MP, "location_report", None), 40001).await;
}

const QUOTA: &str = "/cgi-bin/openapi/quota/get";

async fn used(env: &Env, token: &str, cgi_path: &str) -> Value {
    let answer = env
        .post(
            &format!("{QUOTA}?access_token={token}"),
            json!({ "cgi_path": cgi_path }),
        )
        .await;
    assert_ok(&answer);
    answer["quota"]["used"].clone()
}

#[tokio::test]
async fn quota_get_counts_each_accounts_real_calls_until_clear_quota() {
    let env = start().await;
    let mp = authorized(&env, MP, &[18]).await;
    for _ in 0..3 {
        assert_ok(&mp.get("get_category").await);
    }
    let quota = mp
        .post(QUOTA, json!({ "cgi_path": "/wxa/get_category" }))
        .await;
    assert_eq!(
        quota["quota"],
        json!({ "daily_limit": 100000, "used": 3, "remain": 99997 }),
        "{quota}"
    );
    assert_eq!(quota["rate_limit"]["refresh_second"], 300, "{quota}");
    let component = env.component_token().await;
    // The component's calls are its own: none of get_category, one authorization exchanged.
    assert_eq!(used(&env, &component, "/wxa/get_category").await, 0);
    assert_eq!(
        used(&env, &component, "/cgi-bin/component/api_query_auth").await,
        1
    );
    mp.expect(QUOTA, json!({ "cgi_path": "wxa/get_category" }), 76003)
        .await;
    let component_api_path = json!({ "cgi_path": "/cgi-bin/component/api_query_auth" });
    mp.expect(QUOTA, component_api_path, 76022).await;

    // An account clears its own counts only.
    mp.expect("/cgi-bin/clear_quota", json!({ "appid": MP2 }), 40013)
        .await;
    mp.expect("/cgi-bin/clear_quota", json!({ "appid": MP }), 0)
        .await;
    assert_eq!(used(&env, &mp.token, "/wxa/get_category").await, 0);
    assert_eq!(
        used(&env, &component, "/cgi-bin/component/api_query_auth").await,
        1
    );
    let clear = component_api("clear_quota", &component);
    expect(&env, &clear, json!({ "component_appid": APPID }), 0).await;
    assert_eq!(
        used(&env, &component, "/cgi-bin/component/api_query_auth").await,
        0
    );

    // clear_quota/v2: no token, the appsecret; ten a month per account.
    let v2 = "/cgi-bin/component/clear_quota/v2";
    let by_secret = |secret: &str| json!({ "component_appid": APPID, "appsecret": secret });
    expect(&env, v2, by_secret("wrong"), 40125).await;
    let mut of_mp2 = by_secret(SECRET);
    of_mp2["appid"] = json!(MP2);
    expect(&env, v2, of_mp2, 61003).await;
    for _ in 1..10 {
        expect(&env, v2, by_secret(SECRET), 0).await;
    }
    expect(&env, v2, by_secret(SECRET), 48006).await;
    expect(&env, &clear, json!({ "component_appid": APPID }), 48006).await;
    // A month later the platform may clear again.
    env.ctl.advance_clock(30 * 86_400).await;
    let component = env.component_token().await;
    let clear = component_api("clear_quota", &component);
    expect(&env, &clear, json!({ "component_appid": APPID }), 0).await;
}

fn jscode2session(appid: &str, js_code: &str, grant_type: &str, token: &str) -> String {
    format!("/sns/component/jscode2session?appid={appid}&js_code={js_code}&grant_type={grant_type}&component_appid={APPID}&component_access_token={token}")
}

#[tokio::test]
async fn jscode2session_exchanges_a_minted_js_code_once_for_the_users_openid() {
    let env = start().await;
    let (token, _) = mp_authorized(&env).await;
    let (code, openid) = env.ctl.js_code(MP, "alice").await;
    let grant = "authorization_code";
    assert_errcode(
        &env.get(&jscode2session(MP, &code, "password", &token))
            .await,
        40002,
    );
    let session = env.get(&jscode2session(MP, &code, grant, &token)).await;
    assert_eq!(session["openid"], openid.as_str(), "{session}");
    assert!(session.get("errcode").is_none(), "{session}");
    assert!(!session["session_key"].as_str().unwrap().is_empty());
    assert_errcode(
        &env.get(&jscode2session(MP, &code, grant, &token)).await,
        40163,
    );
    assert_errcode(
        &env.get(&jscode2session(MP, "bogus", grant, &token)).await,
        40029,
    );
    assert_errcode(
        &env.get(&jscode2session(MP, "", grant, &token)).await,
        41008,
    );
    assert_errcode(&env.get(&jscode2session(MP, &code, grant, "")).await, 41001);

    // The same user has the same openid; another user another.
    let (again, same) = env.ctl.js_code(MP, "alice").await;
    assert_eq!(same, openid);
    assert_ne!(env.ctl.js_code(MP, "bob").await.1, openid);
    // A code is for its own mini program, for five minutes; MP2 is not authorized.
    assert_errcode(
        &env.get(&jscode2session(MP2, &again, grant, &token)).await,
        61003,
    );
    env.ctl.advance_clock(300).await;
    let token = env.component_token().await;
    assert_errcode(
        &env.get(&jscode2session(MP, &again, grant, &token)).await,
        40029,
    );
    let (status, _) = env
        .ctl
        .send("/sim/js-codes", json!({ "appid": "wxnobody" }))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn platform_domains_change_the_test_version_or_both_and_modify_domain_follows_the_released() {
    let env = start().await;
    let mp = authorized(&env, MP, &[18]).await;
    let component = env.component_token().await;
    let server = format!("/cgi-bin/component/modify_wxa_server_domain?access_token={component}");
    let jump = format!("/cgi-bin/component/modify_wxa_jump_domain?access_token={component}");
    let got = env.post(&server, json!({ "action": "get" })).await;
    assert_eq!(
        (
            &got["published_wxa_server_domain"],
            &got["testing_wxa_server_domain"]
        ),
        (&json!("example.com"), &json!("example.com")),
        "{got}"
    );
    let add = |domains: &str, together: bool| json!({ "action": "add", "wxa_server_domain": domains, "is_modify_published_together": together });
    let got = env
        .post(&server, add("shop.test;https://bad.test", false))
        .await;
    assert_ok(&got);
    assert_eq!(
        got["testing_wxa_server_domain"], "example.com;shop.test",
        "{got}"
    );
    assert_eq!(got["published_wxa_server_domain"], "example.com", "{got}");
    assert_eq!(
        got["invalid_wxa_server_domain"], "https://bad.test",
        "{got}"
    );
    let request = json!({ "action": "add", "requestdomain": ["https://api.shop.test"] });
    mp.expect("modify_domain", request.clone(), 85018).await;
    let got = env.post(&server, add("shop.test", true)).await;
    assert_eq!(
        got["published_wxa_server_domain"], "example.com;shop.test",
        "{got}"
    );
    assert!(got.get("invalid_wxa_server_domain").is_none(), "{got}");
    mp.expect("modify_domain", request, 0).await;

    let jump_add = json!({ "action": "add", "wxa_jump_h5_domain": "h5.shop.test", "is_modify_published_together": true });
    let got = env.post(&jump, jump_add).await;
    assert_eq!(
        got["published_wxa_jump_h5_domain"], "h5.example.com;h5.shop.test",
        "{got}"
    );
    let webview = json!({ "action": "add", "webviewdomain": ["https://h5.shop.test"] });
    mp.expect("setwebviewdomain", webview, 0).await;
    // Deleting what is not there succeeds; an unknown action or a mini program's token does not.
    let delete = json!({ "action": "delete", "wxa_server_domain": "none.test" });
    expect(&env, &server, delete, 0).await;
    expect(&env, &server, json!({ "action": "replace" }), 40097).await;
    let with_mp_token = format!(
        "/cgi-bin/component/modify_wxa_server_domain?access_token={}",
        mp.token
    );
    expect(&env, &with_mp_token, json!({ "action": "get" }), 40001).await;
}
