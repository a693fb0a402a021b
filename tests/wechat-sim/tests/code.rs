//! The simulator's mini-program APIs ("代码管理" (Third-party_Platforms/2.0/api/code)): each success path and documented errors,
//! reviews ended on the simulated clock and pushed to the message URL, faults and call counts.

mod common;

use common::*;
use devstack::sim::template;
use serde_json::{json, Value};

#[tokio::test]
async fn tokens_and_permission_set_18_are_checked() {
    let env = start().await;
    let mp = authorized(&env, NO_CODE_MP, &[17]).await;
    assert_errcode(&mp.get("get_category").await, 61007);
    assert_errcode(&env.get("/wxa/get_category").await, 41001);
    assert_errcode(
        &env.get("/wxa/get_category?access_token=bogus").await,
        40001,
    );
    let mp = authorized(&env, MP, &[18]).await;
    assert_ok(&mp.get("get_category").await);
    env.ctl.expire_tokens_of(MP).await;
    assert_errcode(&mp.get("get_category").await, 42001);
}

#[tokio::test]
async fn domains_and_testers() {
    let env = start().await;
    let mp = authorized(&env, MP, &[18]).await;
    let r = mp.post("modify_domain", json!({ "action": "add", "requestdomain": ["https://api.example.com"], "wsrequestdomain": ["wss://ws.example.com"] })).await;
    assert_eq!(
        r["requestdomain"],
        json!(["https://api.example.com"]),
        "{r}"
    );
    let add = |domains: &[&str]| json!({ "action": "add", "requestdomain": domains });
    mp.expect("modify_domain", add(&["https://api.example.com"]), 85017)
        .await;
    mp.expect("modify_domain", add(&["https://evil.test"]), 85018)
        .await;
    let many: Vec<String> = (0..201)
        .map(|i| format!("https://d{i}.example.com"))
        .collect();
    mp.expect(
        "modify_domain",
        json!({ "action": "set", "requestdomain": many }),
        85016,
    )
    .await;
    let r = mp.post("modify_domain", json!({ "action": "get" })).await;
    assert_eq!(r["wsrequestdomain"], json!(["wss://ws.example.com"]), "{r}");

    let webview = |domains: &[&str]| json!({ "action": "add", "webviewdomain": domains });
    mp.expect("setwebviewdomain", webview(&["https://h5.example.com"]), 0)
        .await;
    mp.expect(
        "setwebviewdomain",
        webview(&["https://h5.example.com"]),
        89019,
    )
    .await;
    mp.expect("setwebviewdomain", webview(&["https://other.test"]), 89021)
        .await;
    assert_eq!(
        mp.post("setwebviewdomain", json!({ "action": "get" }))
            .await["webviewdomain"],
        json!(["https://h5.example.com"])
    );

    let r = mp
        .post("bind_tester", json!({ "wechatid": "alice_01" }))
        .await;
    let userstr = r["userstr"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_owned();
    // Bound already, no such WeChat user, a second tester, then one over the limit of two.
    let tester = |wechatid: &str| json!({ "wechatid": wechatid });
    for (wechatid, errcode) in [
        ("alice_01", 85004),
        ("nobody_here", 85001),
        ("bob_0002", 0),
        ("carol_03", 85002),
    ] {
        mp.expect("bind_tester", tester(wechatid), errcode).await;
    }
    mp.expect("memberauth", json!({ "action": "get_everyone" }), 40097)
        .await;
    let members = mp
        .post("memberauth", json!({ "action": "get_experiencer" }))
        .await;
    assert_eq!(members["members"].as_array().unwrap().len(), 2, "{members}");
    // By userstr, then by WeChat id (no longer a tester, still one).
    let by_userstr = json!({ "userstr": userstr });
    mp.expect("unbind_tester", by_userstr, 0).await;
    mp.expect("unbind_tester", tester("alice_01"), 85001).await;
    mp.expect("unbind_tester", tester("bob_0002"), 0).await;
}

#[tokio::test]
async fn commit_qrcode_pages_and_templates() {
    let env = start().await;
    let mp = authorized(&env, MP, &[18]).await;
    assert_errcode(&mp.get("get_page").await, 86001);
    let before = env
        .http
        .get(env.url(&mp.path("get_qrcode")))
        .send()
        .await
        .unwrap();
    assert_eq!(before.headers()["content-type"], "text/plain");
    assert_errcode(&before.json().await.unwrap(), 86001);

    let ext_object = json!({ "template_id": 1, "ext_json": { "extAppid": "wx" }, "user_version": "1", "user_desc": "d" });
    mp.expect("commit", ext_object, 47001).await;
    let commit =
        |id: Value, ext: &str| json!({ "template_id": id, "ext_json": ext, "user_version": "1" });
    mp.expect("commit", commit(json!(99), "{}"), 85014).await;
    mp.expect("commit", commit(json!("1"), "{}"), 85014).await;
    mp.expect("commit", commit(json!(1), "{not json"), 85048)
        .await;
    assert_ok(&mp.commit().await);
    assert_eq!(
        mp.get("get_page").await["page_list"],
        json!(["pages/index/index", "pages/about/about"])
    );
    assert_eq!(
        mp.get("get_category").await["category_list"][0]["second_id"],
        612
    );

    let image = env
        .http
        .get(env.url(&format!(
            "{}&path=pages%2Findex%2Findex%3Fa%3D1",
            mp.path("get_qrcode")
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(image.headers()["content-type"], "image/png");
    let bytes = image.bytes().await.unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 200);

    // Template library: component token.
    let component = env.component_token().await;
    let t = |api: &str| format!("/wxa/{api}?access_token={component}");
    assert_eq!(
        env.get(&t("gettemplatedraftlist")).await["draft_list"][0]["draft_id"],
        7
    );
    expect(&env, &t("addtotemplate"), json!({ "draft_id": 404 }), 85064).await;
    let draft = json!({ "draft_id": 7, "template_type": 0 });
    expect(&env, &t("addtotemplate"), draft, 0).await;
    let list = env.get(&t("gettemplatelist")).await;
    let ids: Vec<i64> = list["template_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["template_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2], "{list}");
    // A draft added twice; a template deleted twice.
    for (api, body, errcode) in [
        ("addtotemplate", json!({ "draft_id": 7 }), 0),
        ("addtotemplate", json!({ "draft_id": 7 }), 85065),
        ("deletetemplate", json!({ "template_id": 2 }), 0),
        ("deletetemplate", json!({ "template_id": 2 }), 85064),
    ] {
        expect(&env, &t(api), body, errcode).await;
    }
    // An authorizer token is not a component token.
    assert_errcode(
        &env.get(&format!("/wxa/gettemplatelist?access_token={}", mp.token))
            .await,
        40001,
    );
}

#[tokio::test]
async fn review_release_and_rollback() {
    let env = start().await;
    let mp = authorized(&env, MP, &[18]).await;
    assert_errcode(&mp.submit().await, 85086);
    assert_errcode(&mp.get("get_latest_auditstatus").await, 85058);
    mp.expect("release", json!({}), 85019).await;
    mp.commit().await;
    mp.expect("submit_audit", json!({ "item_list": [] }), 85023)
        .await;
    let wrong_category =
        json!({ "item_list": [{ "address": "pages/index/index", "first_id": 1, "second_id": 2 }] });
    mp.expect("submit_audit", wrong_category, 85077).await;
    let wrong_page =
        json!({ "item_list": [{ "address": "pages/none", "first_id": 287, "second_id": 612 }] });
    mp.expect("submit_audit", wrong_page, 85007).await;
    let r = mp.submit().await;
    let auditid = r["auditid"].as_i64().unwrap_or_else(|| panic!("{r}"));
    assert_errcode(&mp.submit().await, 85009);
    assert_eq!(
        mp.post("get_auditstatus", json!({ "auditid": auditid }))
            .await["status"],
        2
    );
    mp.expect("get_auditstatus", json!({ "auditid": 1 }), 85012)
        .await;
    mp.expect("release", json!({}), 85020).await;
    assert_errcode(&mp.post_empty("release").await, 44002);

    // Speed-up: once, then 89404; the platform quota is 1.
    for (audit, errcode) in [(auditid, 0), (auditid, 89404), (5, 89402)] {
        mp.expect("speedupaudit", json!({ "auditid": audit }), errcode)
            .await;
    }
    let quota = mp.get("queryquota").await;
    assert_eq!(
        (quota["rest"].as_i64(), quota["speedup_rest"].as_i64()),
        (Some(9), Some(0)),
        "{quota}"
    );

    // The review passes after 5 simulated seconds; the result is pushed to $APPID$'s URL.
    env.ctl.advance_clock(5).await;
    let push = env.inbox().wait_for("weapp_audit_success").await;
    assert_eq!(push.path, format!("/mp/{MP}"));
    assert!(
        push.plaintext
            .contains("<ToUserName><![CDATA[gh_000000000001]]></ToUserName>"),
        "{}",
        push.plaintext
    );
    assert!(push.plaintext.contains("<SuccTime>"));
    let latest = mp.get("get_latest_auditstatus").await;
    assert_eq!(
        (latest["auditid"].as_i64(), latest["status"].as_i64()),
        (Some(auditid), Some(0)),
        "{latest}"
    );

    mp.expect("grayrelease", json!({ "gray_percentage": 10 }), 85079)
        .await;
    assert_errcode(&mp.get("revertgrayrelease").await, 85079);
    mp.expect("release", json!({}), 0).await;
    mp.expect("release", json!({}), 85052).await;
    assert_errcode(&mp.get("revertcoderelease").await, 87012);

    // A second version, grey-released then released; rollback returns to version 1.
    mp.commit().await;
    mp.submit().await;
    env.ctl.advance_clock(5).await;
    env.inbox().wait_for("weapp_audit_success").await;
    mp.expect("grayrelease", json!({ "gray_percentage": 101 }), 85081)
        .await;
    let debugger_first = json!({ "gray_percentage": 10, "support_debuger_first": true });
    mp.expect("grayrelease", debugger_first, 0).await;
    mp.expect("grayrelease", json!({ "gray_percentage": 5 }), 85082)
        .await;
    assert_eq!(
        mp.get("getgrayreleaseplan").await["gray_release_plan"]["gray_percentage"],
        10
    );
    assert_errcode(&mp.get("revertcoderelease").await, 87011);
    assert_ok(&mp.get("revertgrayrelease").await);
    assert_eq!(
        mp.get("getgrayreleaseplan").await["gray_release_plan"]["status"],
        4
    );
    mp.expect("release", json!({}), 0).await;
    let history = env
        .get(&format!(
            "{}&action=get_history_version",
            mp.path("revertcoderelease")
        ))
        .await;
    assert_eq!(
        history["version_list"].as_array().unwrap().len(),
        2,
        "{history}"
    );
    assert_ok(&mp.get("revertcoderelease").await);
    assert_errcode(&mp.get("revertcoderelease").await, 87012);

    // Pausing what is not closed; closing once.
    let visit = |action: &str| json!({ "action": action });
    mp.expect("change_visitstatus", visit("pause"), 85022).await;
    mp.expect("change_visitstatus", visit("close"), 0).await;
    mp.expect("change_visitstatus", visit("close"), 85021).await;
    assert_eq!(mp.post("getvisitstatus", json!({})).await["status"], 0);
}

#[tokio::test]
async fn scripted_rejection_delay_and_undo() {
    let env = start().await;
    let mp = authorized(&env, MP, &[18]).await;
    mp.commit().await;
    let script = |s: Value| env.ctl.script_review(s);
    assert_eq!(script(json!({ "appid": MP, "outcome": "reject", "after_secs": 60, "reason": "页面空白<br>请完善", "screenshot": "m1|m2" })).await, 204);
    assert_eq!(
        script(json!({ "appid": MP, "outcome": "delay", "after_secs": 10, "reason": "节假日" }))
            .await,
        204
    );
    assert_eq!(
        script(json!({ "appid": "wxnobody", "outcome": "pass" })).await,
        404
    );

    let auditid = mp.submit().await["auditid"].as_i64().unwrap();
    // 10 s short of the review's 60 (the clock also runs in real time), then past it.
    env.ctl.advance_clock(50).await;
    assert_eq!(
        mp.post("get_auditstatus", json!({ "auditid": auditid }))
            .await["status"],
        2
    );
    env.ctl.advance_clock(10).await;
    let push = env.inbox().wait_for("weapp_audit_fail").await;
    assert!(
        push.plaintext.contains("页面空白&lt;br&gt;请完善")
            || push.plaintext.contains("页面空白<br>请完善")
    );
    assert!(push
        .plaintext
        .contains("<ScreenShot><![CDATA[m1|m2]]></ScreenShot>"));
    let status = mp
        .post("get_auditstatus", json!({ "auditid": auditid }))
        .await;
    assert_eq!(
        (status["status"].as_i64(), status["screenshot"].as_str()),
        (Some(1), Some("m1|m2")),
        "{status}"
    );

    // Delayed: still pending, so no new submission; undo withdraws it.
    mp.submit().await;
    env.ctl.advance_clock(10).await;
    env.inbox().wait_for("weapp_audit_delay").await;
    assert_eq!(mp.get("get_latest_auditstatus").await["status"], 4);
    assert_errcode(&mp.submit().await, 85009);
    assert_ok(&mp.get("undocodeaudit").await);
    assert_eq!(mp.get("get_latest_auditstatus").await["status"], 3);
    assert_errcode(&mp.get("undocodeaudit").await, 85019);
    // Five undos a day at most.
    for _ in 0..4 {
        mp.submit().await;
        assert_ok(&mp.get("undocodeaudit").await);
    }
    mp.submit().await;
    assert_errcode(&mp.get("undocodeaudit").await, 87013);
}

#[tokio::test]
async fn injected_faults_and_call_counts() {
    let env = start().await;
    let mp = authorized(&env, MP, &[18]).await;
    let fault = |endpoint: &'static str, count: u32, f: Value| env.ctl.fault(endpoint, count, f);
    assert_eq!(
        fault(
            "get_category",
            2,
            json!({ "errcode": { "errcode": -1, "errmsg": "system error" } })
        )
        .await,
        204
    );
    assert_errcode(&mp.get("get_category").await, -1);
    assert_errcode(&mp.get("get_category").await, -1);
    assert_ok(&mp.get("get_category").await);

    fault(
        "get_category",
        1,
        json!({ "http_status": { "status": 502 } }),
    )
    .await;
    assert_eq!(
        env.http
            .get(env.url(&mp.path("get_category")))
            .send()
            .await
            .unwrap()
            .status(),
        502
    );

    fault("get_category", 1, json!("drop")).await;
    let dropped = match env.http.get(env.url(&mp.path("get_category"))).send().await {
        Ok(response) => response.bytes().await.is_err(),
        Err(_) => true,
    };
    assert!(dropped, "the connection should have been cut");

    fault("get_category", 1, json!({ "delay_ms": { "ms": 300 } })).await;
    let started = std::time::Instant::now();
    assert_ok(&mp.get("get_category").await);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));

    let calls = env.ctl.all_calls().await;
    assert_eq!(calls["get_category"], 6, "{calls}");
    assert_eq!(env.ctl.calls("api_query_auth").await, 1);
    let (status, _) = env
        .ctl
        .send(
            "/sim/faults",
            json!({ "endpoint": "x", "count": 0, "fault": "drop" }),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_template_sees_ext_only_when_enabled_for_its_mini_program() {
    let env = start_with(|config| config.templates.push(template(5, "5.0.0", "standard", 1))).await;
    let mp = authorized(&env, MP, &[18]).await;
    let sees = |ext_json: Value, template_id: i64| {
        let mp = &mp;
        async move {
            let body = json!({ "template_id": template_id, "ext_json": ext_json.to_string(), "user_version": "1", "user_desc": "d" });
            let answer = mp.post("commit", body).await;
            let state = mp.env.ctl.mini_program(MP).await;
            (answer, state["commit"]["ext_config"].clone())
        }
    };
    // Enabled and addressed to this mini program: the template reads `ext`.
    let (answer, seen) = sees(
        json!({ "extEnable": true, "extAppid": MP, "ext": { "shop": "coffee" }, "window": {} }),
        1,
    )
    .await;
    assert_ok(&answer);
    assert_eq!(seen, json!({ "shop": "coffee" }));
    let state = env.ctl.mini_program(MP).await;
    assert_eq!(state["commit"]["ext_json"]["extAppid"], MP, "{state}");
    // The bare ext object, not enabled, or addressed to another mini program: nothing.
    for ext_json in [
        json!({ "shop": "coffee" }),
        json!({ "extAppid": MP, "ext": { "shop": "coffee" } }),
        json!({ "extEnable": true, "extAppid": MP2, "ext": { "shop": "coffee" } }),
    ] {
        let (answer, seen) = sees(ext_json.clone(), 1).await;
        assert_ok(&answer);
        assert_eq!(seen, Value::Null, "{ext_json}");
    }
    // A standard template takes only extAppid, ext and window.
    let (answer, _) = sees(
        json!({ "extEnable": true, "extAppid": MP, "ext": { "shop": "tea" } }),
        5,
    )
    .await;
    assert_errcode(&answer, 85013);
    let (answer, seen) = sees(
        json!({ "extAppid": MP, "ext": { "shop": "tea" }, "window": {} }),
        5,
    )
    .await;
    assert_ok(&answer);
    assert_eq!(seen, json!({ "shop": "tea" }));
}
