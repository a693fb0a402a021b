//! Review readiness through the WeChat simulator and moto: code that uses a privacy API is not
//! submitted until the guideline covers it (then it passes review and is released); submit waits
//! for the privacy scan and answers when to retry; the platform's default guideline; the ext file
//! and interface applications; bad guidelines refused before WeChat is called.

use std::time::Duration;

use code_admin::PlatformCodeAdmin;
use devstack::sim::{shop, template, Component, Setup};
use devstack::world::World;
use lambda_http::http::StatusCode;
use serde_json::{json, Value};
use shared::review_readiness::ScanWait;
use ticket_receive::PlatformReceiver;
use wechat_sim::config::{SimConfig, TemplatePrivacy};

mod common;
use common::Answer;

const APPID: &str = "wxprivacycomponent";
const MP: &str = "wxprivacyminiprog1";
/// Template 1 uses nothing private; template 2 collects Location through wx.getLocation;
/// template 3 also calls wx.chooseAddress, which needs an approved application.
const PLAIN: i64 = 1;
const LOCATION: i64 = 2;
const ADDRESS: i64 = 3;

struct Privacy {
    world: World,
    admin: PlatformCodeAdmin,
    receiver: PlatformReceiver,
}

devstack::deref_world!(Privacy);

/// A short wait, polled often: the tests' scans end within it or long after it.
fn scan_wait(wait_ms: u64) -> ScanWait {
    ScanWait {
        wait: Duration::from_millis(wait_ms),
        every: Duration::from_millis(200),
    }
}

async fn world(test: &str, wait: ScanWait, change: impl FnOnce(&mut SimConfig)) -> Privacy {
    let world = Setup::new(&Component::new(APPID, "privacy-secret", "privacytoken"))
        .mini_programs([shop(MP)])
        .configure(|config| {
            config.templates = vec![
                template(PLAIN, "1.0.0", "plain", 0),
                template(LOCATION, "2.0.0", "nearby stores", 0),
                template(ADDRESS, "3.0.0", "delivery", 0),
            ];
            config.privacy.opened_apis = vec!["wx.getLocation".into()];
            config.privacy.templates = vec![
                TemplatePrivacy::new(LOCATION, &["Location"], &["wx.getLocation"]),
                TemplatePrivacy::new(
                    ADDRESS,
                    &["Location", "Address"],
                    &["wx.getLocation", "wx.chooseAddress"],
                ),
            ];
        })
        .configure(change)
        .messages_to_inbox()
        .authorized()
        .start(test)
        .await;
    Privacy {
        admin: PlatformCodeAdmin::from_platform(&world.platform, common::ops_tokens())
            .with_scan_wait(wait),
        receiver: PlatformReceiver::from_platform(&world.platform).unwrap(),
        world,
    }
}

fn mp(path: &str) -> String {
    format!("/admin/authorizers/{MP}{path}")
}

/// The guideline of a shop: a contact, and a purpose for each key given.
fn guideline(keys: &[&str]) -> Value {
    let items: Vec<Value> = keys
        .iter()
        .map(|k| json!({ "privacy_key": k, "privacy_text": format!("用于{k}相关的门店服务") }))
        .collect();
    json!({
        "owner_setting": { "contact_email": "privacy@shop.example.com", "notice_method": "弹窗提示" },
        "setting_list": items,
    })
}

impl Privacy {
    async fn call(&self, method: &str, path: &str, body: Value) -> Answer {
        common::call(&self.admin, method, path, body).await
    }

    /// Commits `template_id`, declaring wx.getLocation in requiredPrivateInfos as app.json must.
    async fn commit(&self, template_id: i64, extra: Value) -> Answer {
        let mut body = json!({
            "template_id": template_id,
            "user_version": "1.0.0",
            "ext_json": { "requiredPrivateInfos": ["getLocation"] },
        });
        if let Value::Object(extra) = extra {
            body.as_object_mut().unwrap().extend(extra);
        }
        self.call("POST", &mp("/commits"), body).await
    }

    async fn submit(&self) -> Answer {
        self.call("POST", &mp("/audits"), json!({})).await
    }

    async fn readiness(&self) -> Value {
        let answer = self.call("GET", &mp("/readiness"), Value::Null).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body
    }

    /// The review result the simulator pushed, delivered to ticket-receive's message URL.
    async fn deliver_review(&self, event: &str) {
        let push = self.inbox().wait_for(event).await;
        let response = ticket_receive::handle(&self.receiver, push.request())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}

fn check<'a>(readiness: &'a Value, name: &str) -> &'a Value {
    readiness["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {readiness}"))
}

#[tokio::test]
async fn location_code_is_submitted_only_once_the_guideline_covers_it_then_passes_and_releases() {
    let w = world("privacy-location", scan_wait(5_000), |_| {}).await;
    let answer = w.commit(LOCATION, Value::Null).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    // Refused before WeChat is asked to review: the guideline does not cover Location.
    let refused = w.submit().await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert_eq!(refused.body["error"], "privacy_setting_missing");
    assert_eq!(refused.body["missing_keys"], json!(["Location"]));
    assert_eq!(refused.body["without_conf_list"], json!([]));
    assert_eq!(
        w.ctl.calls("submit_audit").await,
        0,
        "WeChat was asked to review"
    );
    // Declaring the detected APIs unused does not make up for a missing guideline.
    let refused = w
        .call(
            "POST",
            &mp("/audits"),
            json!({ "privacy_api_not_use": true }),
        )
        .await;
    assert_eq!(refused.body["missing_keys"], json!(["Location"]));
    assert_eq!(w.ctl.calls("submit_audit").await, 0);

    let privacy = w.call("GET", &mp("/privacy"), Value::Null).await;
    assert_eq!(
        privacy.body["missing_keys"],
        json!(["Location"]),
        "{}",
        privacy.body
    );
    assert_eq!(privacy.body["setting"]["privacy_list"], json!(["Location"]));
    let readiness = w.readiness().await;
    assert_eq!(readiness["ready"], false);
    assert_eq!(check(&readiness, "privacy_setting")["ok"], false);
    assert_eq!(check(&readiness, "privacy_scan")["ok"], true, "{readiness}");
    assert_eq!(check(&readiness, "commit")["ok"], true);

    // A guideline that does not cover it is set, and still refused; then one that does.
    let set = w
        .call("PUT", &mp("/privacy"), guideline(&["PhoneNumber"]))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(w.submit().await.body["missing_keys"], json!(["Location"]));
    let set = w
        .call(
            "PUT",
            &mp("/privacy"),
            guideline(&["PhoneNumber", "Location"]),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(check(&w.readiness().await, "privacy_setting")["ok"], true);

    let submitted = w.submit().await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);
    assert_eq!(w.ctl.calls("submit_audit").await, 1);
    w.ctl.advance_clock(5).await;
    w.deliver_review("weapp_audit_success").await;
    let released = w.call("POST", &mp("/release"), Value::Null).await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);
    let online = &w.ctl.privacy_of(MP).await["online"];
    assert!(
        online.to_string().contains("Location"),
        "the released guideline is online: {online}"
    );
}

#[tokio::test]
async fn submit_waits_for_a_short_scan_and_answers_when_to_retry_a_long_one() {
    // A scan of 3 s ends within the 20 s wait: submitted after asking more than once.
    let w = world("privacy-scan", scan_wait(20_000), |c| {
        c.privacy.scan_secs = 3
    })
    .await;
    assert_eq!(w.commit(PLAIN, Value::Null).await.status, StatusCode::OK);
    let submitted = w.submit().await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);
    assert!(w.ctl.calls("get_code_privacy_info").await >= 2);
    assert_eq!(w.ctl.calls("submit_audit").await, 1);

    // A scan of 10 minutes outlasts a 1 s wait: 409 with Retry-After, nothing submitted.
    let w = world("privacy-scan-long", scan_wait(1_000), |c| {
        c.privacy.scan_secs = 600
    })
    .await;
    assert_eq!(w.commit(PLAIN, Value::Null).await.status, StatusCode::OK);
    let pending = w.submit().await;
    assert_eq!(pending.status, StatusCode::CONFLICT, "{}", pending.body);
    assert_eq!(pending.body["error"], "privacy_scan_pending");
    assert_eq!(pending.body["retry_after_secs"], 60);
    assert_eq!(pending.headers["retry-after"], "60");
    assert_eq!(w.ctl.calls("submit_audit").await, 0);
    let asked = w.ctl.calls("get_code_privacy_info").await;
    assert!(
        (1..=7).contains(&asked),
        "asked {asked} times in a 1 s wait"
    );
    let readiness = w.readiness().await;
    assert_eq!(
        check(&readiness, "privacy_scan")["ok"],
        false,
        "{readiness}"
    );
    // Once the scan is over, the same call goes through.
    w.ctl.advance_clock(600).await;
    let submitted = w.submit().await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);
}

#[tokio::test]
async fn the_default_guideline_is_given_on_commit_or_with_one_call() {
    let w = world("privacy-default", scan_wait(5_000), |_| {}).await;
    // Asked for before one is saved: refused before the commit.
    let refused = w.commit(LOCATION, json!({ "privacy": "default" })).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert_eq!(w.ctl.calls("commit").await, 0);
    let refused = w.commit(LOCATION, json!({ "privacy": "platform" })).await;
    assert_eq!(refused.body["field"], "privacy", "{}", refused.body);

    for (body, field) in [
        (json!({ "setting_list": [] }), "setting_list"),
        (
            json!({ "owner_setting": { "notice_method": "弹窗" }, "setting_list": [{ "privacy_key": "Location", "privacy_text": "导航" }] }),
            "owner_setting.contact_email",
        ),
    ] {
        let answer = w.call("PUT", "/admin/privacy-default", body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
        assert_eq!(answer.body["field"], field, "{}", answer.body);
    }
    let saved = w
        .call(
            "PUT",
            "/admin/privacy-default",
            guideline(&["Location", "Address"]),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let read = w.call("GET", "/admin/privacy-default", Value::Null).await;
    assert_eq!(
        read.body["default"]["setting_list"][1]["privacy_key"],
        "Address"
    );
    assert!(read.body["default"]["updated_at"].as_i64().unwrap() > 0);

    let committed = w.commit(LOCATION, json!({ "privacy": "default" })).await;
    assert_eq!(committed.status, StatusCode::OK, "{}", committed.body);
    let development = &w.ctl.privacy_of(MP).await["development"];
    assert!(
        development.to_string().contains("Location"),
        "{development}"
    );
    assert_eq!(w.submit().await.status, StatusCode::OK);

    // One call keeps the mini program's own texts and adds the default's other keys.
    let own = w
        .call("PUT", &mp("/privacy"), guideline(&["PhoneNumber"]))
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    let applied = w.call("POST", &mp("/privacy/default"), Value::Null).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    let keys: Vec<&str> = applied.body["privacy"]["setting_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["privacy_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["PhoneNumber", "Location", "Address"]);
}

#[tokio::test]
async fn interfaces_need_an_approved_application_and_the_ext_file_is_uploaded() {
    let w = world("privacy-interfaces", scan_wait(5_000), |_| {}).await;
    let set = w
        .call("PUT", &mp("/privacy"), guideline(&["Location", "Address"]))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    // wx.chooseAddress is neither declared nor applied for.
    let committed = w
        .call("POST", &mp("/commits"), json!({ "template_id": ADDRESS, "user_version": "3.0.0", "ext_json": { "requiredPrivateInfos": ["getLocation"] } }))
        .await;
    assert_eq!(committed.status, StatusCode::OK, "{}", committed.body);
    let refused = w.submit().await;
    assert_eq!(
        refused.body["error"], "privacy_setting_missing",
        "{}",
        refused.body
    );
    assert_eq!(refused.body["missing_keys"], json!([]));
    assert_eq!(
        refused.body["without_conf_list"],
        json!(["wx.chooseAddress"])
    );
    assert_eq!(
        refused.body["without_auth_list"],
        json!(["wx.chooseAddress"])
    );

    let interfaces = w.call("GET", &mp("/privacy/interfaces"), Value::Null).await;
    assert!(interfaces.body["interface_list"]
        .to_string()
        .contains("wx.chooseAddress"));
    let bad = w
        .call(
            "POST",
            &mp("/privacy/interfaces/chooseAddress/apply"),
            json!({ "content": "送货上门" }),
        )
        .await;
    assert_eq!(bad.body["field"], "api_name", "{}", bad.body);
    let bad = w
        .call(
            "POST",
            &mp("/privacy/interfaces/wx.chooseAddress/apply"),
            json!({}),
        )
        .await;
    assert_eq!(bad.body["field"], "content", "{}", bad.body);
    assert_eq!(w.ctl.calls("apply_privacy_interface").await, 0);
    let applied = w
        .call(
            "POST",
            &mp("/privacy/interfaces/wx.chooseAddress/apply"),
            json!({ "content": "下单时填写收货地址，用于送货上门" }),
        )
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    assert!(applied.body["audit_id"].as_i64().is_some());
    assert!(w.ctl.approve_interface(MP, "wx.chooseAddress").await);

    // Declared and approved: submitted.
    let committed = w
        .call("POST", &mp("/commits"), json!({ "template_id": ADDRESS, "user_version": "3.0.1", "ext_json": { "requiredPrivateInfos": ["getLocation", "chooseAddress"] } }))
        .await;
    assert_eq!(committed.status, StatusCode::OK, "{}", committed.body);
    let submitted = w.submit().await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);

    // The guideline file: uploaded as a .txt; the action log keeps its digest, not its text.
    let text = "本小程序的用户隐私保护指引全文。".repeat(20);
    let uploaded = w
        .call("POST", &mp("/privacy/file"), json!({ "content": text }))
        .await;
    assert_eq!(uploaded.status, StatusCode::OK, "{}", uploaded.body);
    let media_id = uploaded.body["ext_file_media_id"].as_str().unwrap();
    assert!(w.ctl.privacy_of(MP).await["ext_files"]
        .to_string()
        .contains(media_id));
    let actions = w.call("GET", &mp("/actions"), Value::Null).await.body;
    let upload = actions["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "UploadPrivacyFile")
        .unwrap()
        .clone();
    assert_eq!(upload["parameters"]["bytes"], text.len());
    assert!(!upload.to_string().contains("隐私保护指引全文"));
    let bad = w
        .call(
            "POST",
            &mp("/privacy/file"),
            json!({ "content": "x", "file_name": "guide.pdf" }),
        )
        .await;
    assert_eq!(bad.body["field"], "file_name", "{}", bad.body);
}

#[tokio::test]
async fn bad_guidelines_are_refused_naming_the_field_before_wechat() {
    let w = world("privacy-bad", scan_wait(5_000), |_| {}).await;
    let good = guideline(&["Location"]);
    let with = |pointer: &str, value: Value| {
        let mut body = good.clone();
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    for (body, field) in [
        (json!({}), "owner_setting".to_owned()),
        (
            with("/owner_setting", json!({ "contact_email": "a@b.cn" })),
            "owner_setting.notice_method".to_owned(),
        ),
        (
            with("/owner_setting/contact_email", json!("not an email")),
            "owner_setting.contact_email".to_owned(),
        ),
        (
            with("/owner_setting", json!({ "notice_method": "弹窗" })),
            "owner_setting.contact_email".to_owned(),
        ),
        (
            with("/setting_list/0/privacy_key", json!("Locaton")),
            "setting_list[0].privacy_key".to_owned(),
        ),
        (
            with("/setting_list/0/privacy_text", json!("")),
            "setting_list[0].privacy_text".to_owned(),
        ),
        (
            with("/setting_list/0/privacy_text", json!("字".repeat(201))),
            "setting_list[0].privacy_text".to_owned(),
        ),
        (
            with(
                "/setting_list",
                json!([{ "privacy_key": "Album", "privacy_text": "上传头像" }, { "privacy_key": "Album", "privacy_text": "再次" }]),
            ),
            "setting_list[1].privacy_key".to_owned(),
        ),
        (
            with("/setting_list", json!("Location")),
            "setting_list".to_owned(),
        ),
        (
            json!({ "privacy_ver": 3, "owner_setting": good["owner_setting"] }),
            "privacy_ver".to_owned(),
        ),
    ] {
        let answer = w.call("PUT", &mp("/privacy"), body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.body
        );
        assert_eq!(
            answer.body["field"],
            field.as_str(),
            "{body}: {}",
            answer.body
        );
    }
    assert_eq!(
        w.ctl.calls("setprivacysetting").await,
        0,
        "WeChat was called"
    );
    assert_eq!(
        w.ctl.privacy_of(MP).await["development"],
        Value::Null,
        "nothing was set"
    );
}
