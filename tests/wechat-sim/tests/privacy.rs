//! The simulator's privacy model: the scan after a commit ("获取隐私接口检测结果"
//! (get_code_privacy_info), 61039 while it runs), the user privacy guideline (setprivacysetting,
//! getprivacysetting, uploadprivacyextfile), interface applications (get_privacy_interface,
//! apply_privacy_interface) and what submit_audit and the review make of them.

mod common;

use common::*;
use devstack::sim::template;
use serde_json::{json, Value};
use wechat_sim::config::{DraftPrivacy, SimConfig, TemplatePrivacy};

const SCAN: &str = "/wxa/security/get_code_privacy_info";
const INTERFACES: &str = "/wxa/security/get_privacy_interface";
const APPLY: &str = "/wxa/security/apply_privacy_interface";
const SET: &str = "/cgi-bin/component/setprivacysetting";
const GET: &str = "/cgi-bin/component/getprivacysetting";

/// Template 2 collects the location and calls wx.getLocation; its scan takes 60 s.
fn location_template(config: &mut SimConfig) {
    config.templates.push(template(2, "2.0.0", "nearby", 0));
    config
        .privacy
        .templates
        .push(TemplatePrivacy::new(2, &["Location"], &["wx.getLocation"]));
    config.privacy.scan_secs = 60;
}

/// Commits template 2 with `requiredPrivateInfos` in its ext_json.
async fn commit_location(mp: &Mp<'_>, declared: &[&str]) {
    let ext_json = json!({ "extAppid": MP, "requiredPrivateInfos": declared }).to_string();
    let body = json!({ "template_id": 2, "ext_json": ext_json, "user_version": "2.0.0" });
    mp.expect("commit", body, 0).await;
}

fn guideline(keys: &[&str]) -> Value {
    let settings: Vec<Value> = keys
        .iter()
        .map(|k| json!({ "privacy_key": k, "privacy_text": "为你推荐附近门店" }))
        .collect();
    json!({
        "owner_setting": { "contact_email": "privacy@example.com", "notice_method": "弹窗" },
        "setting_list": settings,
    })
}

/// The status (and the whole entry) of `api` in get_privacy_interface.
async fn interface(mp: &Mp<'_>, api: &str) -> (i64, Value) {
    let list = mp.get(INTERFACES).await;
    assert_ok(&list);
    let entry = list["interface_list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["api_name"] == api)
        .cloned()
        .unwrap_or_else(|| panic!("{api} in {list}"));
    (entry["status"].as_i64().unwrap(), entry)
}

#[tokio::test]
async fn the_scan_answers_61039_until_it_ends_then_lists_what_the_code_lacks() {
    let env = start_with(location_template).await;
    let mp = authorized(&env, MP, &[18]).await;
    assert_errcode(&mp.get(SCAN).await, 86001);
    commit_location(&mp, &[]).await;
    assert_errcode(&mp.get(SCAN).await, 61039);
    assert_errcode(&mp.submit().await, 61039);
    // (A margin of a second: the simulated clock moves with the real one too.)
    env.ctl.advance_clock(58).await;
    assert_errcode(&mp.get(SCAN).await, 61039);
    env.ctl.advance_clock(2).await;
    let scan = mp.get(SCAN).await;
    assert_ok(&scan);
    assert_eq!(
        scan["without_conf_list"],
        json!(["wx.getLocation"]),
        "{scan}"
    );
    assert_eq!(
        scan["without_auth_list"],
        json!(["wx.getLocation"]),
        "{scan}"
    );
    // Used, undeclared and not approved: 61040 unless promised unused.
    assert_errcode(&mp.submit().await, 61040);

    // A new commit declaring it scans again; declared but not approved is 61040 regardless.
    commit_location(&mp, &["getLocation"]).await;
    assert_errcode(&mp.get(SCAN).await, 61039);
    env.ctl.advance_clock(60).await;
    let scan = mp.get(SCAN).await;
    assert_eq!(scan["without_conf_list"], json!([]), "{scan}");
    assert_eq!(
        scan["without_auth_list"],
        json!(["wx.getLocation"]),
        "{scan}"
    );
    let promised = json!({ "privacy_api_not_use": true });
    assert_errcode(&mp.submit_with(promised).await, 61040);
    let state = env.ctl.privacy_of(MP).await;
    assert_eq!(state["scan"]["template_id"], 2, "{state}");
    assert_eq!(
        state["scan"]["declared"],
        json!(["wx.getLocation"]),
        "{state}"
    );

    // The scan time is a control setting; 0: done at once. Template 1 uses nothing.
    env.ctl.privacy_scan_secs(0).await;
    assert_ok(&mp.commit().await);
    let scan = mp.get(SCAN).await;
    assert_eq!(
        (&scan["without_conf_list"], &scan["without_auth_list"]),
        (&json!([]), &json!([])),
        "{scan}"
    );
}

#[tokio::test]
async fn an_undeclared_unapproved_interface_promised_unused_passes_the_submission() {
    let env = start_with(|c| {
        location_template(c);
        c.privacy.scan_secs = 0;
    })
    .await;
    let mp = authorized(&env, MP, &[18]).await;
    commit_location(&mp, &[]).await;
    assert_errcode(&mp.submit().await, 61040);
    mp.expect(SET, guideline(&["Location"]), 0).await;
    let r = mp.submit_with(json!({ "privacy_api_not_use": true })).await;
    assert!(r["auditid"].as_i64().is_some(), "{r}");
}

#[tokio::test]
async fn an_interface_application_is_approved_after_its_review_or_as_scripted() {
    let env = start_with(location_template).await;
    let mp = authorized(&env, MP, &[18]).await;
    let list = mp.get(INTERFACES).await;
    assert_eq!(
        list["interface_list"].as_array().unwrap().len(),
        8,
        "{list}"
    );
    let (status, entry) = interface(&mp, "wx.getLocation").await;
    assert_eq!(status, 1, "{entry}");
    assert!(entry.get("audit_id").is_none(), "{entry}");
    assert_eq!(entry["group_name"], "地理位置");

    let apply =
        |api: &str| json!({ "api_name": api, "content": "为用户推荐附近门店", "url_list": [] });
    mp.expect(APPLY, json!({ "api_name": "wx.getLocation" }), 41002)
        .await;
    mp.expect(APPLY, apply("wx.getlocation"), 40097).await;
    let before = env.now();
    let r = mp.post(APPLY, apply("wx.getLocation")).await;
    let audit_id = r["audit_id"].as_i64().unwrap_or_else(|| panic!("{r}"));
    let (status, entry) = interface(&mp, "wx.getLocation").await;
    assert_eq!(
        (status, entry["audit_id"].as_i64()),
        (3, Some(audit_id)),
        "{entry}"
    );
    let applied = entry["apply_time"].as_i64().unwrap();
    assert!((before..=env.now()).contains(&applied), "{entry}");
    mp.expect(APPLY, apply("wx.getLocation"), 40097).await;
    // Approved after apply_secs (5 by default) on the simulated clock.
    // (A margin of a second: the simulated clock moves with the real one too.)
    env.ctl.advance_clock(3).await;
    assert_eq!(interface(&mp, "wx.getLocation").await.0, 3);
    env.ctl.advance_clock(2).await;
    assert_eq!(interface(&mp, "wx.getLocation").await.0, 5);
    // Pushed to the message URL; the push's status is 3 for approved.
    let push = env.inbox().wait_for("wxa_privacy_apply").await;
    assert_eq!(push.path, format!("/mp/{MP}"));
    for element in [
        "<api_name><![CDATA[wx.getLocation]]></api_name>".to_owned(),
        format!("<audit_id><![CDATA[{audit_id}]]></audit_id>"),
        "<status><![CDATA[3]]></status>".to_owned(),
    ] {
        assert!(push.plaintext.contains(&element), "{}", push.plaintext);
    }
    commit_location(&mp, &["getLocation"]).await;
    env.ctl.advance_clock(60).await;
    let scan = mp.get(SCAN).await;
    assert_eq!(
        (&scan["without_conf_list"], &scan["without_auth_list"]),
        (&json!([]), &json!([])),
        "{scan}"
    );

    // A rejection scripted before the application; an approval of a pending one, at once.
    assert!(
        !env.ctl
            .reject_interface(MP, "wx.choosePoi", "小程序内未含有相应使用场景")
            .await
    );
    mp.expect(APPLY, apply("wx.choosePoi"), 0).await;
    env.ctl.advance_clock(5).await;
    let (status, entry) = interface(&mp, "wx.choosePoi").await;
    assert_eq!(status, 4, "{entry}");
    assert_eq!(entry["fail_reason"], "小程序内未含有相应使用场景");
    let rejected = env
        .inbox()
        .wait_for("<api_name><![CDATA[wx.choosePoi]]></api_name>")
        .await;
    assert!(
        rejected
            .plaintext
            .contains("<status><![CDATA[2]]></status>")
            && rejected.plaintext.contains("小程序内未含有相应使用场景"),
        "{}",
        rejected.plaintext
    );
    mp.expect(APPLY, apply("wx.chooseAddress"), 0).await;
    assert!(env.ctl.approve_interface(MP, "wx.chooseAddress").await);
    assert_eq!(interface(&mp, "wx.chooseAddress").await.0, 5);
    // A rejected interface may be applied for again.
    mp.expect(APPLY, apply("wx.choosePoi"), 0).await;
    assert_eq!(interface(&mp, "wx.choosePoi").await.0, 3);
}

#[tokio::test]
async fn the_guideline_round_trips_and_bad_settings_get_wechats_errcodes() {
    let env = start_with(location_template).await;
    let mp = authorized(&env, MP, &[18]).await;
    let empty = mp.post(GET, json!({})).await;
    assert_ok(&empty);
    assert_eq!(
        (
            &empty["code_exist"],
            &empty["privacy_list"],
            &empty["setting_list"]
        ),
        (&json!(0), &json!([]), &json!([])),
        "{empty}"
    );
    let desc = empty["privacy_desc"]["privacy_desc_list"]
        .as_array()
        .unwrap();
    assert_eq!(desc.len(), 28, "{empty}");
    assert!(desc.contains(&json!({ "privacy_key": "Location", "privacy_desc": "位置信息" })));

    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = guideline(&["Location"]);
        change(&mut body);
        body
    };
    for (body, errcode) in [
        (with(&|b| b["owner_setting"] = Value::Null), 86069),
        (
            with(&|b| b["owner_setting"]["notice_method"] = json!("")),
            86069,
        ),
        (
            with(&|b| b["owner_setting"] = json!({ "notice_method": "弹窗" })),
            86069,
        ),
        (
            with(&|b| b["owner_setting"]["store_expire_timestamp"] = json!("7天")),
            86072,
        ),
        (
            with(&|b| b["owner_setting"]["ext_file_media_id"] = json!("404")),
            40007,
        ),
        (with(&|b| b["privacy_ver"] = json!(3)), 86071),
        (with(&|b| b["privacy_ver"] = json!(1)), 86074),
        (with(&|b| b["setting_list"] = Value::Null), 41002),
        (
            with(&|b| b["setting_list"][0]["privacy_key"] = json!("Gps")),
            40097,
        ),
        (
            with(&|b| b["setting_list"][0]["privacy_text"] = json!("")),
            40097,
        ),
    ] {
        mp.expect(SET, body, errcode).await;
    }
    assert_eq!(mp.post(GET, json!({})).await["setting_list"], json!([]));

    let before = env.now();
    mp.expect(SET, guideline(&["Location", "PhoneNumber"]), 0)
        .await;
    commit_location(&mp, &[]).await;
    let got = mp.post(GET, json!({ "privacy_ver": 2 })).await;
    assert_eq!(
        (&got["code_exist"], &got["privacy_list"]),
        (&json!(1), &json!(["Location"])),
        "{got}"
    );
    let updated = got["update_time"].as_i64().unwrap();
    assert!((before..=env.now()).contains(&updated), "{got}");
    assert_eq!(
        got["setting_list"][0],
        json!({ "privacy_key": "Location", "privacy_text": "为你推荐附近门店", "privacy_label": "位置信息" })
    );
    assert_eq!(got["setting_list"][1]["privacy_key"], "PhoneNumber");
    assert_eq!(got["owner_setting"]["contact_email"], "privacy@example.com");
    assert_eq!(got["owner_setting"]["contact_qq"], "", "{got}");
    // No version is online yet.
    assert_eq!(
        mp.post(GET, json!({ "privacy_ver": 1 })).await["setting_list"],
        json!([])
    );
    assert_errcode(&mp.post(GET, json!({ "privacy_ver": 0 })).await, 86071);
    assert_errcode(&mp.post_empty(GET).await, 44002);
}

/// A multipart/form-data body with one `file` part.
fn multipart(filename: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----simboundary7MA4YWxkTrZu0gW";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(mp: &Mp<'_>, filename: &str, content: &[u8]) -> Value {
    let (content_type, body) = multipart(filename, content);
    let path = mp.path("/cgi-bin/component/uploadprivacyextfile");
    let request = mp.env.http.post(mp.env.url(&path));
    let response = request
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_uploaded_guideline_file_is_a_media_id_the_owner_setting_takes() {
    let env = start().await;
    let mp = authorized(&env, MP, &[18]).await;
    assert_errcode(&upload(&mp, "guide.pdf", b"%PDF").await, 40006);
    assert_errcode(
        &upload(&mp, "guide.txt", &vec![b'a'; 100 * 1024 + 1]).await,
        40126,
    );
    let r = upload(&mp, "guide.txt", "用户隐私保护指引".as_bytes()).await;
    assert_ok(&r);
    let media_id = r["ext_file_media_id"].as_str().unwrap().to_owned();
    assert!(media_id.chars().all(|c| c.is_ascii_digit()), "{r}");
    let mut body = guideline(&["Location"]);
    body["owner_setting"]["ext_file_media_id"] = json!(media_id);
    mp.expect(SET, body, 0).await;
    assert_eq!(
        mp.post(GET, json!({})).await["owner_setting"]["ext_file_media_id"],
        media_id
    );
    // Another mini program's media id is not this one's.
    let other = authorized(&env, MP2, &[18]).await;
    let mut body = guideline(&["Location"]);
    body["owner_setting"]["ext_file_media_id"] = json!(media_id);
    other.expect(SET, body, 40007).await;
}

#[tokio::test]
async fn a_location_template_is_rejected_until_the_guideline_covers_it_then_passes_and_releases() {
    let env = start_with(|c| {
        location_template(c);
        c.privacy.templates[0].uses.required_private_infos = vec!["getLocation".into()];
        c.privacy.opened_apis = vec!["wx.getLocation".into()];
    })
    .await;
    let mp = authorized(&env, MP, &[18]).await;
    assert_eq!(interface(&mp, "wx.getLocation").await.0, 5);
    commit_location(&mp, &[]).await;
    env.ctl.advance_clock(60).await;
    let script = json!({ "appid": MP, "outcome": "pass", "after_secs": 7 });
    assert_eq!(env.ctl.script_review(script).await, 204);

    // No guideline: accepted, then rejected naming the key; the scripted pass is kept.
    let first = mp.submit().await["auditid"].as_i64().unwrap();
    env.ctl.advance_clock(7).await;
    let push = env.inbox().wait_for("weapp_audit_fail").await;
    assert!(push.plaintext.contains("Location"), "{}", push.plaintext);
    let status = mp
        .post("get_auditstatus", json!({ "auditid": first }))
        .await;
    assert_eq!(status["status"], 1, "{status}");
    assert!(
        status["reason"]
            .as_str()
            .unwrap()
            .contains("用户隐私保护指引"),
        "{status}"
    );

    // A guideline without Location is no better.
    mp.expect(SET, guideline(&["PhoneNumber"]), 0).await;
    let second = mp.submit().await["auditid"].as_i64().unwrap();
    env.ctl.advance_clock(7).await;
    let status = mp
        .post("get_auditstatus", json!({ "auditid": second }))
        .await;
    assert_eq!(status["status"], 1, "{status}");

    mp.expect(SET, guideline(&["Location"]), 0).await;
    let third = mp.submit().await["auditid"].as_i64().unwrap();
    env.ctl.advance_clock(7).await;
    env.inbox().wait_for("weapp_audit_success").await;
    let status = mp
        .post("get_auditstatus", json!({ "auditid": third }))
        .await;
    assert_eq!(status["status"], 0, "{status}");
    mp.expect("release", json!({}), 0).await;
    // Released: the guideline is online (privacy_ver 1), whose owner_setting may now change.
    let online = mp.post(GET, json!({ "privacy_ver": 1 })).await;
    assert_eq!(
        online["setting_list"][0]["privacy_key"], "Location",
        "{online}"
    );
    let mut owner = guideline(&[]);
    owner["privacy_ver"] = json!(1);
    owner.as_object_mut().unwrap().remove("setting_list");
    owner["owner_setting"]["contact_phone"] = json!("13800000000");
    mp.expect(SET, owner.clone(), 0).await;
    owner["setting_list"] = json!([]);
    mp.expect(SET, owner, 40097).await;
    let online = mp.post(GET, json!({ "privacy_ver": 1 })).await;
    assert_eq!(online["owner_setting"]["contact_phone"], "13800000000");
    let state = env.ctl.privacy_of(MP).await;
    assert_eq!(
        state["online"]["setting_list"][0]["privacy_key"], "Location",
        "{state}"
    );
}

#[tokio::test]
async fn a_template_added_from_a_draft_uses_what_the_draft_uses() {
    let env = start_with(|c| {
        let uses = TemplatePrivacy::new(0, &["PhoneNumber"], &[]).uses;
        c.privacy.drafts.push(DraftPrivacy { draft_id: 7, uses });
    })
    .await;
    let mp = authorized(&env, MP, &[18]).await;
    let component = env.component_token().await;
    let add = format!("/wxa/addtotemplate?access_token={component}");
    expect(&env, &add, json!({ "draft_id": 7 }), 0).await;
    let body = json!({ "template_id": 2, "ext_json": "{}", "user_version": "1.1.0" });
    mp.expect("commit", body, 0).await;
    let got = mp.post(GET, json!({})).await;
    assert_eq!(got["privacy_list"], json!(["PhoneNumber"]), "{got}");
}
