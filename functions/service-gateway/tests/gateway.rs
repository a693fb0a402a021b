//! service-gateway against moto and the WeChat simulator: tokens asked for during a refresh, calls
//! retried once after a refused token, binary answers, the refusals and the component token.

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use devstack::sim::{shop, Component, Setup};
use devstack::simctl::fault;
use devstack::wait::poll;
use devstack::world::World;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use service_gateway::{Gateway, GatewaySettings};
use shared::store::{unix_now, DynamoAuthorizerStore, DynamoTicketStore};

const APPID: &str = "wxgatewaycomponent";

fn mp(i: usize) -> String {
    format!("wxgatewaymp{i:07}")
}

/// `count` authorized shops (pages index and about), the ticket stored.
async fn world(test: &str, count: usize) -> World {
    Setup::new(&Component::new(APPID, "gateway-secret", "gatewaytoken"))
        .mini_programs((0..count).map(|i| shop(&mp(i))))
        .authorized()
        .start(test)
        .await
}

fn gateway(w: &World) -> Gateway<DynamoTicketStore, DynamoAuthorizerStore> {
    Gateway::from_platform(&w.platform, GatewaySettings::default())
}

fn token_request(appid: &str) -> Value {
    json!({ "action": "token", "appid": appid })
}

fn call(appid: &str, method: &str, path: &str, query: Value, body: Value) -> Value {
    json!({ "action": "call", "appid": appid, "method": method, "path": path, "query": query, "body": body })
}

fn post(appid: &str, path: &str, body: Value) -> Value {
    call(appid, "POST", path, Value::Null, body)
}

fn urllink(appid: &str) -> Value {
    let body = json!({ "path": "pages/index/index", "query": "table=3" });
    post(appid, "/wxa/generate_urllink", body)
}

/// The stored access token of `appid`.
async fn stored_token(w: &World, appid: &str) -> String {
    let token = w.authorizer(appid).await.access_token.expect("a token");
    token.expose_secret().to_owned()
}

/// Moves `appid`'s stored token expiry to one minute from now: inside the gateway's margin.
async fn expires_soon(w: &World, appid: &str) {
    w.set_token_expiry(appid, unix_now() + 60).await;
}

/// Sets the stored status of `appid` (as an unauthorized push or a refused refresh would).
async fn set_status(w: &World, appid: &str, status: &str) {
    w.update_authorizer(appid, "SET #status = :status")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":status", AttributeValue::S(status.into()))
        .send()
        .await
        .unwrap();
}

/// WeChat's JSON answer of a call; panics on anything else.
#[track_caller]
fn wechat_json(answer: &Value) -> &Value {
    assert_eq!(answer["kind"], "json", "{answer}");
    &answer["body"]
}

/// The error object's (code, field); panics if the answer is not an error.
#[track_caller]
fn refusal(answer: &Value) -> (&str, Option<&str>) {
    let error = &answer["error"];
    let code = error["code"].as_str().unwrap_or_else(|| panic!("{answer}"));
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    (code, error["field"].as_str())
}

#[tokio::test]
async fn a_token_asked_for_during_a_refresh_is_the_new_one_after_one_wechat_refresh() {
    let w = world("during-refresh", 1).await;
    let g = gateway(&w);
    let appid = mp(0);
    expires_soon(&w, &appid).await;
    let old = stored_token(&w, &appid).await;
    // WeChat answers the refresh 2 s late: the first caller holds the lease all that time.
    w.ctl
        .fault("api_authorizer_token", 1, fault::delay_ms(2000))
        .await;
    let first = g.answer(token_request(&appid));
    let during = async {
        // The first caller holds the lease and WeChat has its refresh: now the others ask.
        let refreshing =
            poll(|| async { (w.ctl.calls("api_authorizer_token").await == 1).then_some(()) });
        refreshing.await.expect("the first caller refreshes");
        futures::future::join_all((0..8).map(|_| g.answer(token_request(&appid)))).await
    };
    let (first, others) = tokio::join!(first, during);
    let new = stored_token(&w, &appid).await;
    assert_ne!(new, old);
    for answer in std::iter::once(&first).chain(&others) {
        assert_eq!(answer["access_token"], new, "{answer}");
        assert!(answer["expires_at"].as_i64().unwrap() > unix_now() + 7000);
        assert!(answer["expires_in"].as_i64().unwrap() > 7000);
    }
    assert_eq!(w.ctl.calls("api_authorizer_token").await, 1);
    assert_eq!(w.errcode_with_stored_token(&appid).await, 0);
    // Valid beyond the margin now: asked again, the stored token, no WeChat call.
    let again = g.answer(token_request(&appid)).await;
    assert_eq!(again["access_token"], new);
    assert_eq!(w.ctl.calls("api_authorizer_token").await, 1);
}

#[tokio::test]
async fn a_call_with_an_expired_token_succeeds_after_one_refresh() {
    let w = world("expired-call", 1).await;
    let g = gateway(&w);
    let appid = mp(0);
    let old = stored_token(&w, &appid).await;
    // WeChat dropped the token early (42001), though it is stored as valid for two hours.
    w.ctl.expire_tokens_of(&appid).await;
    let answer = g.answer(urllink(&appid)).await;
    let body = wechat_json(&answer);
    assert_eq!(body["errcode"], 0, "{answer}");
    assert!(body["url_link"]
        .as_str()
        .unwrap()
        .starts_with("https://wxaurl.cn/"));
    assert_eq!(w.ctl.calls("api_authorizer_token").await, 1);
    assert_eq!(
        w.ctl.calls("generate_urllink").await,
        2,
        "refused, then retried once"
    );
    assert_ne!(stored_token(&w, &appid).await, old);
    // A token WeChat no longer knows (40001: not the latest): the same, one more refresh.
    w.ctl.forget_tokens_of(&appid).await;
    let answer = g.answer(urllink(&appid)).await;
    assert_eq!(wechat_json(&answer)["errcode"], 0, "{answer}");
    assert_eq!(w.ctl.calls("api_authorizer_token").await, 2);
    assert_eq!(w.ctl.calls("generate_urllink").await, 4);
    // Refused again after the refresh: WeChat's answer is handed back, no third call.
    w.ctl
        .fault("generate_urllink", 2, fault::errcode(42001))
        .await;
    let answer = g.answer(urllink(&appid)).await;
    assert_eq!(wechat_json(&answer)["errcode"], 42001, "{answer}");
    assert_eq!(w.ctl.calls("generate_urllink").await, 6);
    assert_eq!(w.ctl.calls("api_authorizer_token").await, 3);
}

#[tokio::test]
async fn concurrent_calls_refused_the_same_token_make_one_refresh() {
    let w = world("refused-together", 1).await;
    let g = gateway(&w);
    let appid = mp(0);
    w.ctl.expire_tokens_of(&appid).await;
    let answers = futures::future::join_all((0..6).map(|_| g.answer(urllink(&appid)))).await;
    for answer in &answers {
        assert_eq!(wechat_json(answer)["errcode"], 0, "{answer}");
    }
    // Whatever the interleaving: one refresh between them; each call at most retried once.
    assert_eq!(w.ctl.calls("api_authorizer_token").await, 1);
    let calls = w.ctl.calls("generate_urllink").await;
    assert!((7..=12).contains(&calls), "{calls}");
}

#[tokio::test]
async fn a_mini_program_code_comes_back_base64_with_its_content_type() {
    let w = world("binary", 1).await;
    let g = gateway(&w);
    let body = json!({ "scene": "table=12", "page": "pages/index/index", "width": 430 });
    let request = call(&mp(0), "POST", "/wxa/getwxacodeunlimit", Value::Null, body);
    let answer = g.answer(request).await;
    assert_eq!(answer["kind"], "binary", "{answer}");
    assert_eq!(answer["content_type"], "image/png");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(answer["body_base64"].as_str().unwrap())
        .unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    // Its errors are JSON.
    let body = json!({ "scene": "table=12", "page": "pages/missing/missing" });
    let request = call(&mp(0), "POST", "/wxa/getwxacodeunlimit", Value::Null, body);
    let answer = g.answer(request).await;
    assert_eq!(wechat_json(&answer)["errcode"], 41030, "{answer}");
}

#[tokio::test]
async fn refusals_name_their_cause_and_call_no_wechat_api() {
    let w = world("refusals", 3).await;
    let g = gateway(&w);
    set_status(&w, &mp(1), "unauthorized").await;
    set_status(&w, &mp(2), "reauthorization_required").await;
    let before = w.ctl.all_calls().await;
    let unknown = "wxnotanauthorizer1";
    let get_category = call(&mp(0), "GET", "/wxa/get_category", json!({}), Value::Null);
    let cases = [
        (get_category.clone(), "path_not_allowed", Some("path")),
        (token_request(unknown), "unknown_appid", Some("appid")),
        (urllink(unknown), "unknown_appid", Some("appid")),
        (token_request(&mp(1)), "unauthorized", Some("appid")),
        (urllink(&mp(1)), "unauthorized", Some("appid")),
        (
            token_request(&mp(2)),
            "reauthorization_required",
            Some("appid"),
        ),
        (
            call(
                &mp(1),
                "GET",
                "/sns/component/jscode2session",
                json!({"js_code": "x"}),
                Value::Null,
            ),
            "unauthorized",
            Some("appid"),
        ),
        (json!({ "action": "token" }), "bad_request", Some("appid")),
        (
            json!({ "action": "refresh" }),
            "bad_request",
            Some("action"),
        ),
        (
            call(
                &mp(0),
                "PUT",
                "/wxa/generate_urllink",
                Value::Null,
                Value::Null,
            ),
            "bad_request",
            Some("method"),
        ),
        (
            call(
                &mp(0),
                "POST",
                "/wxa/generate_urllink",
                json!({"access_token": "x"}),
                json!({}),
            ),
            "bad_request",
            Some("query.access_token"),
        ),
    ];
    let tokens = [
        stored_token(&w, &mp(0)).await,
        stored_token(&w, &mp(1)).await,
    ];
    for (request, code, field) in cases {
        let answer = g.answer(request.clone()).await;
        assert_eq!(refusal(&answer), (code, field), "{request} -> {answer}");
        let text = answer.to_string();
        assert!(tokens.iter().all(|t| !text.contains(t.as_str())), "{text}");
    }
    assert_eq!(w.ctl.all_calls().await, before, "no WeChat call was made");
    // The allow-list is the setting's: with get_category on it, the call goes through.
    let settings = GatewaySettings {
        allowed_prefixes: vec!["/wxa/get_category".into()],
        ..GatewaySettings::default()
    };
    let g = Gateway::from_platform(&w.platform, settings);
    let answer = g.answer(get_category).await;
    assert_eq!(wechat_json(&answer)["errcode"], 0, "{answer}");
    assert_eq!(
        refusal(&g.answer(urllink(&mp(0))).await).0,
        "path_not_allowed"
    );
}

#[tokio::test]
async fn the_component_token_and_jscode2session_with_it() {
    let w = world("component", 1).await;
    let g = gateway(&w);
    let bought = w.ctl.calls("api_component_token").await;
    let answer = g.answer(json!({ "action": "component_token" })).await;
    let stored = w.platform.component_service().token().await.unwrap();
    assert_eq!(answer["access_token"], stored.expose_secret(), "{answer}");
    assert!(answer["expires_at"].as_i64().unwrap() > unix_now() + 600);
    // Login of a user of the mini program: the component token and component_appid are added.
    let login = |js_code: &str| {
        let query = json!({ "js_code": js_code });
        call(
            &mp(0),
            "GET",
            "/sns/component/jscode2session",
            query,
            Value::Null,
        )
    };
    let (js_code, openid) = w.ctl.js_code(&mp(0), "user-1").await;
    let answer = g.answer(login(&js_code)).await;
    assert_eq!(wechat_json(&answer)["openid"], openid.as_str(), "{answer}");
    assert_eq!(w.ctl.calls("api_component_token").await, bought);
    // WeChat dropped the component token: refused (42001), bought again once, retried.
    w.ctl.expire_component_tokens().await;
    let (js_code, openid) = w.ctl.js_code(&mp(0), "user-2").await;
    let answer = g.answer(login(&js_code)).await;
    assert_eq!(wechat_json(&answer)["openid"], openid.as_str(), "{answer}");
    assert_eq!(w.ctl.calls("api_component_token").await, bought + 1);
    assert_eq!(w.ctl.calls("jscode2session").await, 3);
    let answer = g.answer(json!({ "action": "component_token" })).await;
    let stored = w.platform.component_service().token().await.unwrap();
    assert_eq!(answer["access_token"], stored.expose_secret());
}

#[tokio::test]
async fn the_business_calls_reach_wechat_on_the_authorizers_behalf() {
    let w = world("business", 1).await;
    let g = gateway(&w);
    let appid = mp(0);
    let data = json!({ "thing1": { "value": "拿铁" } });
    let send = json!({ "touser": "openid-1", "template_id": "tmpl-1", "page": "pages/index/index", "data": data });
    const SUBSCRIBE_SEND: &str = "/cgi-bin/message/subscribe/send";
    let answer = g.answer(post(&appid, SUBSCRIBE_SEND, send)).await;
    assert_eq!(wechat_json(&answer)["errcode"], 0, "{answer}");
    let sent = w.ctl.subscribe_messages().await;
    assert_eq!(sent.len(), 1);
    let received = (sent[0]["appid"].as_str(), &sent[0]["data"]);
    assert_eq!(received, (Some(appid.as_str()), &data));
    let phone = json!({ "code": "phone-code" });
    let answer = g
        .answer(post(&appid, "/wxa/business/getuserphonenumber", phone))
        .await;
    let info = &wechat_json(&answer)["phone_info"];
    assert_eq!(info["watermark"]["appid"], appid.as_str(), "{answer}");
    assert_eq!(info["countryCode"], "86");
    let scheme = json!({ "jump_wxa": { "path": "pages/about/about", "env_version": "trial" } });
    let answer = g.answer(post(&appid, "/wxa/generatescheme", scheme)).await;
    let openlink = wechat_json(&answer)["openlink"].as_str();
    let openlink = openlink.unwrap_or_default();
    assert!(openlink.starts_with("weixin://dl/business/?t="), "{answer}");
    // WeChat's own refusals come back as WeChat answered them.
    let bad = json!({ "touser": "openid-1", "data": {} });
    let answer = g.answer(post(&appid, SUBSCRIBE_SEND, bad)).await;
    assert_eq!(wechat_json(&answer)["errcode"], 40037, "{answer}");
    assert_eq!(w.ctl.subscribe_messages().await.len(), 1);
}
