//! The simulator's go-live check against a receiver that answers every push `success` and does
//! nothing (the inbox): each case's failure is named and explained; the test accounts it
//! authorizes look like WeChat's (an official account has no MiniProgramInfo); and
//! custom/send checks its token and fields as WeChat does ("全网发布接入检测说明", "客服消息").

mod common;

use common::*;
use serde_json::{json, Value};
use wechat_sim::golive::{group, MINI_PROGRAMS, OFFICIAL_ACCOUNTS};

fn case<'a>(report: &'a Value, name: &str, appid: Option<&str>) -> &'a Value {
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name && c["appid"].as_str() == appid)
        .unwrap_or_else(|| panic!("no case {name} {appid:?} in {report:#}"))
}

#[tokio::test]
async fn a_platform_that_only_answers_success_fails_each_case_with_its_reason() {
    let env = start().await;
    let (status, report) = env
        .ctl
        .go_live_check(json!({ "group": 1, "custom_message_wait_ms": 300 }))
        .await;
    assert!(status.is_success(), "{status} {report}");
    assert_eq!(report["passed"], false);
    let [official, mini] = group(1);
    assert_eq!(report["accounts"], json!([official.appid, mini.appid]));
    assert_eq!(
        case(&report, "component_verify_ticket", None)["passed"],
        true
    );
    for account in [official, mini] {
        let appid = Some(account.appid);
        let authorized = case(&report, "authorized", appid);
        assert_eq!(authorized["passed"], false);
        assert_eq!(
            authorized["detail"],
            "answered `success` to the authorized push, but never exchanged its authorization code (api_query_auth)"
        );
        assert_eq!(
            case(&report, "event", appid)["detail"],
            "expected HTTP 200 with an encrypted passive text reply `LOCATIONfrom_callback`; got HTTP 200 with `success`"
        );
        assert_eq!(case(&report, "text", appid)["passed"], false);
        let api = case(&report, "query_auth_code", appid);
        assert_eq!(api["passed"], false);
        let detail = api["detail"].as_str().unwrap();
        assert!(
            detail.contains("but no customer-service message")
                && detail
                    .ends_with("within 300 ms (the code was never exchanged (api_query_auth))"),
            "{detail}"
        );
    }
    // What the inbox received: the ticket, the authorized pushes, and the three messages of each
    // account on its message URL, addressed to its original id from one user.
    let inbox = env.inbox();
    let api_push = inbox.wait_for("QUERY_AUTH_CODE:").await;
    assert!(api_push.path.starts_with("/mp/"), "{}", api_push.path);
    let pushes = inbox.all();
    assert_eq!(pushes.len(), 1 + 2 + 6, "{pushes:#?}");
    let mini_pushes: Vec<_> = pushes
        .iter()
        .filter(|p| p.path == format!("/mp/{}", mini.appid))
        .collect();
    assert_eq!(mini_pushes.len(), 3);
    assert!(mini_pushes
        .iter()
        .all(|p| p.body.contains(mini.original_id) && p.query["openid"].starts_with('o')));
}

#[tokio::test]
async fn the_check_refuses_bad_requests() {
    let env = start().await;
    for (body, status) in [
        (json!({ "group": 5 }), 400),
        (json!({ "appid": "wxd3m0shop00000001" }), 400),
        (json!({ "group": 0, "appid": MINI_PROGRAMS[0].appid }), 400),
        (json!({ "groop": 0 }), 400),
    ] {
        let (got, answer) = env.ctl.go_live_check(body.clone()).await;
        assert_eq!(got.as_u16(), status, "{body}: {answer}");
        assert_eq!(answer["error"], "bad_request", "{body}: {answer}");
    }
    // One account, named: one ticket case and its four.
    let (_, report) = env
        .ctl
        .go_live_check(json!({ "appid": OFFICIAL_ACCOUNTS[4].appid, "custom_message_wait_ms": 0 }))
        .await;
    assert_eq!(report["cases"].as_array().unwrap().len(), 5, "{report}");
    assert_eq!(report["group"], Value::Null);
}

/// The sender, and the code, of the QUERY_AUTH_CODE push the inbox received for `appid`.
async fn query_auth_code_push(env: &Env, appid: &str) -> (String, String) {
    let push = env.inbox().wait_for("QUERY_AUTH_CODE:").await;
    assert_eq!(push.path, format!("/mp/{appid}"));
    let doc = shared::xml::parse(&push.plaintext).unwrap();
    let content = doc.text_of("Content").unwrap();
    let code = content.strip_prefix("QUERY_AUTH_CODE:").unwrap().to_owned();
    (doc.text_of("FromUserName").unwrap().to_owned(), code)
}

#[tokio::test]
async fn custom_send_checks_token_and_fields_like_wechat() {
    let env = start().await;
    let account = &OFFICIAL_ACCOUNTS[2];
    let (_, report) = env
        .ctl
        .go_live_check(json!({ "appid": account.appid, "custom_message_wait_ms": 0 }))
        .await;
    assert_eq!(report["passed"], false);
    // The platform's part of case 4, done by hand: exchange the pushed code, send with its token.
    let (openid, code) = query_auth_code_push(&env, account.appid).await;
    let component = env.component_token().await;
    let exchange = env
        .post(
            &component_api("api_query_auth", &component),
            json!({ "component_appid": APPID, "authorization_code": code }),
        )
        .await;
    let token = exchange["authorization_info"]["authorizer_access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{exchange}"))
        .to_owned();
    // An official account, as WeChat describes one: no MiniProgramInfo, a service account.
    let info = env
        .post(
            &component_api("api_get_authorizer_info", &component),
            json!({ "component_appid": APPID, "authorizer_appid": account.appid }),
        )
        .await;
    assert_ok(&info);
    assert_eq!(info["authorizer_info"]["user_name"], account.original_id);
    assert_eq!(info["authorizer_info"]["service_type_info"]["id"], 2);
    assert!(
        info["authorizer_info"].get("MiniProgramInfo").is_none(),
        "{info}"
    );

    let send = |token: &str| format!("/cgi-bin/message/custom/send?access_token={token}");
    let text = |to: &str, content: &str| json!({ "touser": to, "msgtype": "text", "text": { "content": content } });
    let raw = |token: &str, body: &'static str| {
        let request = env.http.post(env.url(&send(token))).body(body);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_errcode(
        &env.post("/cgi-bin/message/custom/send", text(&openid, "x"))
            .await,
        41001,
    );
    assert_errcode(&env.post(&send("nope"), text(&openid, "x")).await, 40001);
    assert_errcode(
        &env.post(&send(&component), text(&openid, "x")).await,
        40001,
    );
    assert_errcode(&raw(&token, "").await, 44002);
    assert_errcode(&raw(&token, "{not json").await, 47001);
    assert_errcode(
        &env.post(&send(&token), json!({ "msgtype": "text" })).await,
        40003,
    );
    let bad_type = json!({ "touser": openid, "msgtype": "telegram" });
    assert_errcode(&env.post(&send(&token), bad_type).await, 40008);
    assert_errcode(&env.post(&send(&token), text(&openid, "")).await, 44004);
    assert_errcode(
        &env.post(&send(&token), text("o-stranger", "x")).await,
        45015,
    );
    assert!(env.ctl.custom_messages().await.is_empty());

    let content = format!("{code}_from_api");
    assert_ok(&env.post(&send(&token), text(&openid, &content)).await);
    let messages = env.ctl.custom_messages().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["appid"], account.appid);
    assert_eq!(messages[0]["touser"], openid.as_str());
    assert_eq!(messages[0]["content"], content.as_str());
}
