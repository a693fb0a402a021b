//! code-admin end to end through the WeChat simulator and moto: commit → QR code → review (the
//! simulator's result pushed to ticket-receive's message URL) → release → rollback; rejection,
//! undo, the pending and release guards, 401s, validation and errcode mapping; the OpenAPI file
//! against the router.

use std::collections::{BTreeSet, HashMap};

use code_admin::auth::token_hash;
use code_admin::{AdminTokens, PlatformCodeAdmin};
use devstack::apigw::{body_text, request};
use devstack::inbox::{Inbox, Received};
use lambda_http::http::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};
use shared::crypto::MessageCrypto;
use shared::platform::Platform;
use shared::push::message_envelope_xml;
use shared::store::attr::{n, s};
use shared::store::{
    unix_now, Action, ActionKey, ActionLog, ActionOutcome, AuditStore, DynamoActionLog,
    DynamoAuditStore, StoreError,
};
use ticket_receive::PlatformReceiver;
use wechat_sim::config::{Category, MiniProgram, ReviewScript, Template};
use wechat_sim::{RunningSim, Sim, SimConfig};

const APPID: &str = "wxadmincomponent01";
const SECRET: &str = "admin-component-secret";
const TOKEN: &str = "admintoken";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const MP: &str = "wxadminminiprog001";
const NO_18: &str = "wxadminminiprog002";
/// 256 bits, as `admin-token` prints them (43 base64url characters).
const ADMIN: &str = "q8Zb1sKk2mB0v9yXcH4tR7wLpE3nUaJ6fG5dS1oQiTz";

struct World {
    sim: RunningSim,
    inbox: Inbox,
    platform: Platform,
    admin: PlatformCodeAdmin,
    receiver: PlatformReceiver,
    http: reqwest::Client,
}

/// The mini program's original id (`gh_…`, the authorizer's user_name): one per appid.
fn original_id(appid: &str) -> String {
    format!("gh_{}", &appid[appid.len() - 12..])
}

fn mini_program(appid: &str, sets: Vec<i64>) -> MiniProgram {
    MiniProgram {
        appid: appid.into(),
        original_id: original_id(appid),
        nickname: format!("Shop {appid}"),
        principal_name: "Admin Test Ltd.".into(),
        head_img: String::new(),
        categories: vec![Category {
            first_class: "工具".into(),
            second_class: "效率".into(),
            third_class: None,
            first_id: 287,
            second_id: 612,
            third_id: None,
        }],
        pages: vec!["pages/index/index".into(), "pages/about/about".into()],
        testers_limit: 5,
        permission_sets: sets,
        review: ReviewScript::Pass { after_secs: 5 },
    }
}

async fn world(test: &str) -> World {
    world_with(test, |_| {}).await
}

async fn world_with(test: &str, change: impl FnOnce(&mut SimConfig)) -> World {
    let crypto = MessageCrypto::new(SecretString::from(TOKEN), APPID, KEY, None).unwrap();
    let inbox = Inbox::start(crypto).await;
    let mut config = SimConfig::for_component(APPID, SECRET, TOKEN, KEY);
    config.push.message_url = Some(inbox.message_url());
    config.component.server_domains = vec!["example.com".into()];
    config.mini_programs = vec![
        mini_program(MP, vec![17, 18]),
        mini_program(NO_18, vec![17]),
    ];
    config.templates = vec![Template {
        template_id: 1,
        user_version: "1.0.0".into(),
        user_desc: "shop".into(),
        draft_id: None,
        pages: vec![],
        template_type: 0,
    }];
    change(&mut config);
    let sim = Sim::new(config)
        .unwrap()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let platform = devstack::test_platform(
        test,
        devstack::component_config(APPID, SECRET, TOKEN, KEY),
        &sim.base_url(),
    )
    .await;
    let tokens = AdminTokens::parse(&format!("ops:{}", token_hash(ADMIN))).unwrap();
    let admin = PlatformCodeAdmin::from_platform(&platform, tokens);
    let receiver = PlatformReceiver::from_platform(&platform).unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let w = World {
        sim,
        inbox,
        platform,
        admin,
        receiver,
        http,
    };
    devstack::owner::store_ticket(&w.platform, w.sim.sim.push_ticket()).await;
    devstack::owner::authorize(&w.platform, &w.sim.base_url(), MP, &[17, 18]).await;
    devstack::owner::authorize(&w.platform, &w.sim.base_url(), NO_18, &[17]).await;
    w
}

impl World {
    async fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Value,
    ) -> (StatusCode, Value) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(auth) = &auth {
            headers.push(("authorization", auth.as_str()));
        }
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let response =
            code_admin::handle(&self.admin, request(method, path, query, &headers, &body))
                .await
                .unwrap();
        let status = response.status();
        let text = body_text(&response);
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A call to another code-admin (e.g. one whose action log is broken).
    async fn call_other(
        &self,
        admin: &PlatformCodeAdmin,
        method: &str,
        path: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        let auth = format!("Bearer {ADMIN}");
        let headers = [
            ("content-type", "application/json"),
            ("authorization", auth.as_str()),
        ];
        let response = code_admin::handle(admin, request(method, path, &[], &headers, body))
            .await
            .unwrap();
        let text = body_text(&response);
        (
            response.status(),
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// WeChat calls of `endpoint` so far (the simulator's count).
    fn sim_calls(&self, endpoint: &str) -> u64 {
        self.sim
            .sim
            .state()
            .calls
            .get(endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// The simulator's last commit of MP: `ext_json` as received, `ext_config` as its template
    /// reads it (what `GET /sim/mini-programs/{appid}` shows).
    fn sim_commit(&self) -> Value {
        json!(self
            .sim
            .sim
            .state()
            .code
            .get(MP)
            .and_then(|c| c.commit.clone()))
    }

    async fn actions(&self) -> Vec<Value> {
        let (status, body) = self.call("GET", &mp("/actions"), Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["actions"].as_array().unwrap().clone()
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call_as(Some(ADMIN), method, path, &[], body).await
    }

    async fn advance(&self, seconds: i64) {
        let r = self
            .http
            .post(format!("{}/sim/clock/advance", self.sim.base_url()))
            .json(&json!({ "seconds": seconds }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// Delivers a recorded message push to ticket-receive's message URL.
    async fn deliver(&self, push: &Received) -> (StatusCode, String) {
        let appid = push.path.trim_start_matches("/mp/");
        let event = request(
            "POST",
            &format!("/wechat/authorizer/{appid}/notify"),
            &push.query_pairs(),
            &[("content-type", "text/xml")],
            &push.body,
        );
        let response = ticket_receive::handle(&self.receiver, event).await.unwrap();
        (response.status(), body_text(&response))
    }

    async fn audit_status(&self, auditid: i64) -> String {
        let store =
            DynamoAuditStore::new(self.platform.dynamo.clone(), &self.platform.tables.audits);
        store
            .audit(MP, auditid)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str()
            .to_owned()
    }

    /// The next review's outcome (the simulator's `/sim/reviews`).
    async fn script_review(&self, script: Value) {
        let r = self
            .http
            .post(format!("{}/sim/reviews", self.sim.base_url()))
            .json(&script)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }

    async fn fault(&self, endpoint: &str, fault: Value) {
        let r = self
            .http
            .post(format!("{}/sim/faults", self.sim.base_url()))
            .json(&json!({ "endpoint": endpoint, "fault": fault }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
}

fn mp(path: &str) -> String {
    format!("/admin/authorizers/{MP}{path}")
}

async fn commit(w: &World, version: &str) {
    let (status, body) = w.call("POST", &mp("/commits"), json!({ "template_id": 1, "user_version": version, "user_desc": "d", "ext": { "theme": "blue" } })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn commit_review_release_and_roll_back() {
    let w = world("release").await;
    let (status, body) = w
        .call(
            "PUT",
            &mp("/ext"),
            json!({ "ext": { "shop_id": 42, "theme": "red" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    commit(&w, "1.0.0").await;
    let (_, authorizer) = w.call("GET", &mp(""), Value::Null).await;
    let ext_json = authorizer["authorizer"]["last_commit"]["ext_json"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        serde_json::from_str::<Value>(&ext_json).unwrap(),
        json!({ "extEnable": true, "extAppid": MP, "ext": { "shop_id": 42, "theme": "blue" } }),
        "ext merged over the stored settings, for this mini program"
    );
    assert!(
        authorizer.to_string().find("authorizer_token_").is_none(),
        "tokens never leave the API"
    );

    // The trial QR code is an image.
    let response = code_admin::handle(
        &w.admin,
        request(
            "GET",
            &mp("/qrcode"),
            &[("path", "pages/index/index?from=admin")],
            &[("authorization", &format!("Bearer {ADMIN}"))],
            "",
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            response.status(),
            response.headers()["content-type"].to_str().unwrap()
        ),
        (StatusCode::OK, "image/png")
    );
    assert_eq!(&response.body().as_ref()[..4], b"\x89PNG");
    assert_eq!(
        w.call("GET", &mp("/pages"), Value::Null).await.1["page_list"],
        json!(["pages/index/index", "pages/about/about"])
    );

    // Submitted with item_list built from get_category and get_page.
    let (status, submitted) = w.call("POST", &mp("/audits"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    let auditid = submitted["auditid"].as_i64().unwrap();
    assert_eq!(submitted["item_list"][0]["address"], "pages/index/index");
    assert_eq!(w.audit_status(auditid).await, "pending");
    // Guards: no second submission, no release while pending.
    let (status, body) = w.call("POST", &mp("/audits"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = w.call("POST", &mp("/release"), Value::Null).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // The review passes; the result is pushed to the message URL and lands in the audits table.
    w.advance(5).await;
    let push = w.inbox.wait_for("weapp_audit_success").await;
    assert_eq!(w.deliver(&push).await, (StatusCode::OK, "success".into()));
    assert_eq!(w.audit_status(auditid).await, "passed");
    // A repeated push changes nothing; a late delay never moves the record back.
    assert_eq!(w.deliver(&push).await, (StatusCode::OK, "success".into()));
    assert_eq!(w.audit_status(auditid).await, "passed");

    let (status, body) = w.call("POST", &mp("/release"), Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(w.audit_status(auditid).await, "released");
    let (_, history) = w.call("GET", &mp("/audits"), Value::Null).await;
    assert_eq!(history["audits"][0]["status"], "released");
    assert_eq!(history["audits"][0]["user_version"], "1.0.0");
    assert!(history["audits"][0]["ext_json"]
        .as_str()
        .unwrap()
        .contains("shop_id"));

    // Only one version released: nothing to roll back to (WeChat's 87012, with its meaning).
    let (status, body) = w.call("POST", &mp("/revert"), Value::Null).await;
    assert_eq!(
        (status, body["errcode"].as_i64()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some(87012)),
        "{body}"
    );

    // A second version, released; then rolled back.
    commit(&w, "1.1.0").await;
    let second = w.call("POST", &mp("/audits"), json!({ "item_list": [{ "address": "pages/about/about", "first_id": 287, "second_id": 612, "first_class": "工具", "second_class": "效率", "title": "About", "tag": "shop" }] })).await.1["auditid"].as_i64().unwrap();
    w.advance(5).await;
    let (_, latest) = w.call("GET", &mp("/audits/latest"), Value::Null).await;
    assert_eq!(
        (
            latest["audit"]["auditid"].as_i64(),
            latest["audit"]["status"].as_str()
        ),
        (Some(second), Some("passed")),
        "{latest}"
    );
    assert_eq!(
        w.call("POST", &mp("/release"), Value::Null).await.0,
        StatusCode::OK
    );
    assert_eq!(
        w.call("GET", &mp("/versions"), Value::Null).await.1["version_list"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        w.call("POST", &mp("/revert"), Value::Null).await.0,
        StatusCode::OK
    );

    // Every state-changing step is in the action log, with the token's label.
    let (_, actions) = w.call("GET", &mp("/actions"), Value::Null).await;
    let names: Vec<&str> = actions["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for expected in ["PutExt", "Commit", "SubmitAudit", "Release", "Revert"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(actions["actions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["label"] == "ops"));
    let refused = actions["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["http_status"] == 409)
        .unwrap();
    assert_eq!(refused["result"], "conflict");
}

#[tokio::test]
async fn rejection_undo_and_speedup() {
    let w = world("reject").await;
    commit(&w, "2.0.0").await;
    w.script_review(json!({ "appid": MP, "outcome": "reject", "after_secs": 10, "reason": "首页空白", "screenshot": "m1|m2" }))
        .await;
    let auditid = w.call("POST", &mp("/audits"), json!({})).await.1["auditid"]
        .as_i64()
        .unwrap();
    assert_eq!(
        w.call(
            "POST",
            &mp(&format!("/audits/{auditid}/speedup")),
            Value::Null
        )
        .await
        .0,
        StatusCode::OK
    );
    w.advance(10).await;
    let push = w.inbox.wait_for("weapp_audit_fail").await;
    assert_eq!(w.deliver(&push).await.0, StatusCode::OK);
    let (_, one) = w
        .call("GET", &mp(&format!("/audits/{auditid}")), Value::Null)
        .await;
    assert_eq!(
        (
            one["audit"]["status"].as_str(),
            one["audit"]["reason"].as_str(),
            one["audit"]["screenshot"].as_str()
        ),
        (Some("rejected"), Some("首页空白"), Some("m1|m2")),
        "{one}"
    );
    let (status, body) = w.call("POST", &mp("/release"), Value::Null).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Undo a pending review: withdrawn, and a new submission is allowed again.
    let again = w.call("POST", &mp("/audits"), json!({})).await.1["auditid"]
        .as_i64()
        .unwrap();
    let (status, body) = w.call("POST", &mp("/audits/undo"), Value::Null).await;
    assert_eq!(
        (status, body["withdrawn"].as_i64()),
        (StatusCode::OK, Some(again)),
        "{body}"
    );
    assert_eq!(w.audit_status(again).await, "withdrawn");
    let (status, body) = w.call("POST", &mp("/audits/undo"), Value::Null).await;
    assert_eq!(
        (status, body["errcode"].as_i64()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some(85019)),
        "{body}"
    );
    assert_eq!(
        w.call("POST", &mp("/audits"), json!({})).await.0,
        StatusCode::OK
    );
}

/// A review result signed now with the component's settings, as WeChat would post it to the
/// message URL of `appid`.
fn signed_message(appid: &str, plaintext: &str, nonce: &str) -> Received {
    let crypto = MessageCrypto::new(SecretString::from(TOKEN), APPID, KEY, None).unwrap();
    let encrypt = crypto.encrypt(plaintext).unwrap();
    let timestamp = unix_now().to_string();
    let query = HashMap::from([
        ("timestamp".to_owned(), timestamp.clone()),
        ("nonce".to_owned(), nonce.to_owned()),
        ("encrypt_type".to_owned(), "aes".to_owned()),
        (
            "msg_signature".to_owned(),
            crypto.msg_signature(&timestamp, nonce, &encrypt),
        ),
    ]);
    Received {
        path: format!("/mp/{appid}"),
        query,
        body: message_envelope_xml(&original_id(appid), &encrypt),
        plaintext: plaintext.to_owned(),
    }
}

fn audit_success_xml(to_user_name: &str, create_time: i64, succ_time: i64) -> String {
    format!("<xml><ToUserName><![CDATA[{to_user_name}]]></ToUserName><FromUserName><![CDATA[o-system-weapp-audit]]></FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[weapp_audit_success]]></Event><SuccTime>{succ_time}</SuccTime></xml>")
}

#[tokio::test]
async fn review_results_apply_only_to_their_own_mini_program_and_review() {
    let w = world("addressee").await;
    commit(&w, "3.0.0").await;
    w.script_review(
        json!({ "appid": MP, "outcome": "reject", "after_secs": 10, "reason": "图片违规" }),
    )
    .await;
    let auditid = w.call("POST", &mp("/audits"), json!({})).await.1["auditid"]
        .as_i64()
        .unwrap();
    let now = unix_now();

    // The other mini program's signed success, dated 30 days back, posted to this one's URL:
    // refused, the review stays pending.
    let month_ago = now - 30 * 24 * 3600;
    let foreign = audit_success_xml(&original_id(NO_18), month_ago, month_ago);
    let (status, body) = w.deliver(&signed_message(MP, &foreign, "n-foreign")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("wrong_addressee"), "{body}");
    assert_eq!(w.audit_status(auditid).await, "pending");
    // To a mini program that never authorized: refused too.
    let (status, body) = w
        .deliver(&signed_message("wxnotauthorized001", &foreign, "n-unknown"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("unknown_authorizer"), "{body}");

    // This mini program's own success, but dated before the submission: acknowledged, not applied.
    let earlier = audit_success_xml(&original_id(MP), now, now - 3600);
    assert_eq!(
        w.deliver(&signed_message(MP, &earlier, "n-earlier")).await,
        (StatusCode::OK, "success".into())
    );
    assert_eq!(w.audit_status(auditid).await, "pending");

    // WeChat's real rejection applies.
    w.advance(10).await;
    let push = w.inbox.wait_for("weapp_audit_fail").await;
    assert_eq!(w.deliver(&push).await, (StatusCode::OK, "success".into()));
    assert_eq!(w.audit_status(auditid).await, "rejected");

    // A wrongly stored result (as the unchecked push left it) is corrected by asking WeChat,
    // through either route.
    for route in [format!("/audits/{auditid}"), "/audits/latest".to_owned()] {
        w.platform
            .dynamo
            .update_item()
            .table_name(&w.platform.tables.audits)
            .key("appid", s(MP))
            .key("auditid", n(auditid))
            .update_expression("SET #status = :passed, status_rank = :rank REMOVE reason")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":passed", s("passed"))
            .expression_attribute_values(":rank", n(2))
            .send()
            .await
            .unwrap();
        let (status, body) = w.call("GET", &mp(&route), Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (
                body["audit"]["status"].as_str(),
                body["audit"]["reason"].as_str()
            ),
            (Some("rejected"), Some("图片违规")),
            "{route}: {body}"
        );
    }
    let (status, body) = w.call("POST", &mp("/release"), Value::Null).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test]
async fn admin_calls_need_a_valid_token() {
    let w = world("auth").await;
    for token in [None, Some("wrong-token"), Some("")] {
        let (status, body) = w
            .call_as(token, "GET", "/admin/authorizers", &[], Value::Null)
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized")),
            "{token:?}"
        );
    }
    let (status, body) = w.call("GET", "/admin/authorizers", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["authorizers"].as_array().unwrap().len(), 2);
    assert_eq!(
        w.call("GET", "/admin/nowhere", Value::Null).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_input_is_refused_before_wechat_is_called() {
    let w = world("validation").await;
    let calls_before: Value = w
        .http
        .get(format!("{}/sim/calls", w.sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cases = [
        (
            "POST",
            mp("/commits"),
            json!({ "template_id": 1, "user_version": "v".repeat(65) }),
            "user_version",
        ),
        (
            "POST",
            mp("/commits"),
            json!({ "template_id": "1", "user_version": "1" }),
            "template_id",
        ),
        (
            "POST",
            "/admin/authorizers/wx123/commits".to_owned(),
            json!({ "template_id": 1, "user_version": "1" }),
            "appid",
        ),
        (
            "POST",
            mp("/domains"),
            json!({ "action": "add", "requestdomain": ["http://insecure.example.com"] }),
            "requestdomain",
        ),
        (
            "POST",
            mp("/webview-domains"),
            json!({ "action": "add", "webviewdomain": ["https://h5.example.com:8443"] }),
            "webviewdomain",
        ),
        (
            "POST",
            mp("/audits"),
            json!({ "item_list": [{ "title": "t".repeat(33) }] }),
            "title",
        ),
        (
            "POST",
            mp("/gray-release"),
            json!({ "gray_percentage": 150 }),
            "gray_percentage",
        ),
        (
            "POST",
            mp("/visit-status"),
            json!({ "action": "pause" }),
            "action",
        ),
        (
            "POST",
            "/admin/templates".to_owned(),
            json!({ "draft_id": 1, "template_type": 5 }),
            "template_type",
        ),
        ("PUT", mp("/ext"), json!({ "ext": [1, 2] }), "ext"),
        ("GET", "/admin/quota".to_owned(), Value::Null, "appid"),
    ];
    for (method, path, body, field) in cases {
        let (status, answer) = w.call(method, &path, body).await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{path}: {answer}"
        );
    }
    let (status, answer) = code_admin::handle(
        &w.admin,
        request(
            "POST",
            &mp("/commits"),
            &[],
            &[("authorization", &format!("Bearer {ADMIN}"))],
            "not json",
        ),
    )
    .await
    .map(|r| (r.status(), body_text(&r)))
    .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let calls_after: Value = w
        .http
        .get(format!("{}/sim/calls", w.sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for endpoint in [
        "commit",
        "modify_domain",
        "setwebviewdomain",
        "submit_audit",
        "grayrelease",
        "change_visitstatus",
        "addtotemplate",
    ] {
        assert_eq!(
            calls_after.get(endpoint),
            calls_before.get(endpoint),
            "{endpoint} was called"
        );
    }
}

#[tokio::test]
async fn wechat_errcodes_are_mapped_once() {
    let w = world("errcodes").await;
    // No permission set 18: refused before WeChat with 403.
    let (status, body) = w
        .call(
            "GET",
            &format!("/admin/authorizers/{NO_18}/categories"),
            Value::Null,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("permission_set_missing")),
        "{body}"
    );
    for (fault, status, errcode) in [
        (
            json!({ "errcode": { "errcode": 61007 } }),
            StatusCode::FORBIDDEN,
            61007,
        ),
        (
            json!({ "errcode": { "errcode": 45009 } }),
            StatusCode::TOO_MANY_REQUESTS,
            45009,
        ),
        (
            json!({ "errcode": { "errcode": -1 } }),
            StatusCode::SERVICE_UNAVAILABLE,
            -1,
        ),
        (
            json!({ "errcode": { "errcode": 85009 } }),
            StatusCode::CONFLICT,
            85009,
        ),
    ] {
        w.fault("get_category", fault).await;
        let (got, body) = w.call("GET", &mp("/categories"), Value::Null).await;
        assert_eq!(
            (got, body["errcode"].as_i64()),
            (status, Some(errcode)),
            "{body}"
        );
        assert!(body["meaning"].is_string(), "{body}");
    }
    // An expired authorizer token is refreshed once and the call goes through.
    let r = w
        .http
        .post(format!("{}/sim/tokens/expire", w.sim.base_url()))
        .json(&json!({ "appid": MP }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (status, body) = w.call("GET", &mp("/categories"), Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Template errors come back with WeChat's meaning.
    let (status, body) = w
        .call(
            "POST",
            &mp("/commits"),
            json!({ "template_id": 99, "user_version": "1" }),
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_i64(), body["meaning"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(85014),
            Some("invalid or nonexistent template_id")
        )
    );
    // The template library works with the component token.
    let (status, body) = w.call("GET", "/admin/templates", Value::Null).await;
    assert_eq!(
        (status, body["template_list"][0]["template_id"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{body}"
    );
    assert_eq!(
        w.call("DELETE", "/admin/templates/404", Value::Null)
            .await
            .1["errcode"],
        85064
    );
}

#[test]
fn the_openapi_file_matches_the_router() {
    let spec: serde_yaml::Value = serde_yaml::from_str(include_str!("../openapi.yaml")).unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        for (method, _) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if method != "parameters" {
                documented.insert((method.to_uppercase(), path.as_str().unwrap().to_owned()));
            }
        }
    }
    let routed: BTreeSet<(String, String)> = code_admin::routes::ROUTES
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, routed);
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_anything_happens() {
    let w = world("bodycap").await;
    let big = json!({ "template_id": 1, "user_version": "9.9.9", "ext": { "blob": "x".repeat(450 * 1024) } });
    let (status, body) = w
        .call_other(&w.admin, "POST", &mp("/commits"), &big.to_string())
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large")),
        "{body}"
    );
    assert_eq!(w.sim_calls("commit"), 0, "WeChat was called");
    assert!(w.actions().await.is_empty(), "nothing is logged");
    // 64 KiB is the limit, whatever the route.
    let (status, _) = w
        .call_other(
            &w.admin,
            "PUT",
            &mp("/ext"),
            &format!("{{\"ext\":{{\"a\":\"{}\"}}}}", "y".repeat(64 * 1024)),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_call_whose_action_record_cannot_be_written_is_not_made() {
    let w = world("logdown").await;
    let broken = PlatformCodeAdmin::new(
        w.platform.authorization_service(),
        DynamoAuditStore::new(w.platform.dynamo.clone(), &w.platform.tables.audits),
        DynamoActionLog::new(w.platform.dynamo.clone(), "no-such-actions-table"),
        AdminTokens::parse(&format!("ops:{}", token_hash(ADMIN))).unwrap(),
    );
    let commit = json!({ "template_id": 1, "user_version": "1.0.0", "ext": { "shop": "coffee" } });
    let (status, body) = w
        .call_other(&broken, "POST", &mp("/commits"), &commit.to_string())
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("action_log_unavailable")
        ),
        "{body}"
    );
    assert!(
        !body.to_string().contains("no-such-actions-table"),
        "no internal detail: {body}"
    );
    assert_eq!(w.sim_calls("commit"), 0, "WeChat was called");
    let (status, _) = w.call_other(&broken, "POST", &mp("/release"), "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(w.sim_calls("get_latest_auditstatus"), 0);
    assert_eq!(w.sim_calls("release"), 0);
    // Reads do not need the action log.
    let (status, _) = w.call_other(&broken, "GET", &mp("/categories"), "").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_action_log_holds_the_validated_fields_started_then_completed() {
    let w = world("actionlog").await;
    let body = json!({ "template_id": 1, "user_version": "1.0.0", "user_desc": "d", "ext": { "shop": "coffee" }, "unvalidated": "raw-body-marker" });
    let (status, answer) = w.call("POST", &mp("/commits"), body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let actions = w.actions().await;
    let commit = actions
        .iter()
        .find(|a| a["action"] == "Commit")
        .unwrap_or_else(|| panic!("{actions:?}"));
    assert_eq!(
        (
            commit["status"].as_str(),
            commit["result"].as_str(),
            commit["http_status"].as_i64()
        ),
        (Some("succeeded"), Some("ok"), Some(200)),
        "{commit}"
    );
    let parameters = &commit["parameters"];
    assert_eq!(
        (
            parameters["template_id"].as_i64(),
            parameters["user_version"].as_str()
        ),
        (Some(1), Some("1.0.0")),
        "{commit}"
    );
    assert_eq!(parameters["ext_json"]["ext"], json!({ "shop": "coffee" }));
    assert!(
        !commit.to_string().contains("raw-body-marker"),
        "the raw body is not logged: {commit}"
    );
    assert!(commit["finished_at_ms"].as_i64() >= commit["at_ms"].as_i64());

    // A call WeChat refuses is completed as failed, with WeChat's errcode.
    let (status, _) = w
        .call(
            "POST",
            &mp("/commits"),
            json!({ "template_id": 99, "user_version": "1" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let failed = w
        .actions()
        .await
        .into_iter()
        .find(|a| a["parameters"]["template_id"] == 99)
        .unwrap();
    assert_eq!(
        (
            failed["status"].as_str(),
            failed["errcode"].as_i64(),
            failed["http_status"].as_i64()
        ),
        (Some("failed"), Some(85014), Some(422)),
        "{failed}"
    );
    // Input refused by validation: recorded as refused, naming the field, nothing else.
    let (status, _) = w
        .call(
            "POST",
            &mp("/gray-release"),
            json!({ "gray_percentage": 150, "note": "raw-body-marker" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let refused = w
        .actions()
        .await
        .into_iter()
        .find(|a| a["action"] == "StartGrayRelease")
        .unwrap();
    assert_eq!(
        (
            refused["status"].as_str(),
            refused["http_status"].as_i64(),
            refused["parameters"].clone()
        ),
        (
            Some("refused"),
            Some(400),
            json!({ "field": "gray_percentage" })
        ),
        "{refused}"
    );
}

#[tokio::test]
async fn ext_json_is_built_for_the_template_and_the_path_appid() {
    let w = world("extjson").await;
    let (status, body) = w
        .call(
            "POST",
            &mp("/commits"),
            json!({ "template_id": 1, "user_version": "1.0.0", "ext": { "shop": "coffee" }, "ext_json": { "window": { "navigationBarTitleText": "Coffee" }, "extPages": { "pages/index/index": { "navigationBarTitleText": "Menu" } } } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let committed = w.sim_commit();
    assert_eq!(
        committed["ext_config"],
        json!({ "shop": "coffee" }),
        "the template reads ext: {committed}"
    );
    assert_eq!(
        committed["ext_json"],
        json!({
            "extEnable": true,
            "extAppid": MP,
            "ext": { "shop": "coffee" },
            "window": { "navigationBarTitleText": "Coffee" },
            "extPages": { "pages/index/index": { "navigationBarTitleText": "Menu" } },
        })
    );
    let calls = w.sim_calls("commit");
    for (body, field) in [
        (
            json!({ "template_id": 1, "user_version": "1", "ext_json": { "extAppid": NO_18 } }),
            "ext_json.extAppid",
        ),
        (
            json!({ "template_id": 1, "user_version": "1", "ext_json": { "extEnable": false } }),
            "ext_json.extEnable",
        ),
        (
            json!({ "template_id": 1, "user_version": "1", "ext_json": { "shop": "coffee" } }),
            "ext_json",
        ),
        (
            json!({ "template_id": 1, "user_version": "1", "ext_json": { "window": [] } }),
            "ext_json.window",
        ),
        (
            json!({ "template_id": 1, "user_version": "1", "ext": { "blob": "z".repeat(40 * 1024) } }),
            "ext_json",
        ),
    ] {
        let (status, answer) = w.call("POST", &mp("/commits"), body.clone()).await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}: {answer}"
        );
    }
    assert_eq!(w.sim_calls("commit"), calls, "WeChat was called");
    // The path appid's own extAppid and extEnable: true are accepted (a pasted ext.json).
    let (status, body) = w
        .call(
            "POST",
            &mp("/commits"),
            json!({ "template_id": 1, "user_version": "1.0.1", "ext_json": { "extEnable": true, "extAppid": MP, "ext": { "shop": "tea" } } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(w.sim_commit()["ext_config"], json!({ "shop": "tea" }));
}

#[tokio::test]
async fn a_standard_template_gets_only_ext_app_id_ext_and_window() {
    let w = world_with("standard", |config| {
        config.templates.push(Template {
            template_id: 2,
            user_version: "2.0.0".into(),
            user_desc: "standard".into(),
            draft_id: None,
            pages: vec![],
            template_type: 1,
        })
    })
    .await;
    let (status, body) = w
        .call(
            "POST",
            &mp("/commits"),
            json!({ "template_id": 2, "user_version": "2.0.0", "ext": { "shop": "tea" }, "ext_json": { "window": { "navigationBarTitleText": "Tea" } } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let committed = w.sim_commit();
    assert_eq!(
        committed["ext_json"],
        json!({ "extAppid": MP, "ext": { "shop": "tea" }, "window": { "navigationBarTitleText": "Tea" } })
    );
    assert_eq!(committed["ext_config"], json!({ "shop": "tea" }));
    let calls = w.sim_calls("commit");
    let (status, body) = w
        .call(
            "POST",
            &mp("/commits"),
            json!({ "template_id": 2, "user_version": "2.0.1", "ext_json": { "tabBar": { "list": [] } } }),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("ext_json")),
        "{body}"
    );
    assert_eq!(w.sim_calls("commit"), calls, "WeChat was called");
}

/// The status of `GET /admin/authorizers` with `token`, every token of `configured` accepted by hash.
async fn status_with_token(w: &World, configured: &[&str], token: &str) -> StatusCode {
    let spec: Vec<String> = configured
        .iter()
        .enumerate()
        .map(|(i, t)| format!("admin{i}:{}", token_hash(t)))
        .collect();
    let admin = PlatformCodeAdmin::new(
        w.platform.authorization_service(),
        DynamoAuditStore::new(w.platform.dynamo.clone(), &w.platform.tables.audits),
        DynamoActionLog::new(w.platform.dynamo.clone(), &w.platform.tables.actions),
        AdminTokens::parse(&spec.join(",")).unwrap(),
    );
    let auth = format!("Bearer {token}");
    let event = request(
        "GET",
        "/admin/authorizers",
        &[],
        &[("authorization", &auth)],
        "",
    );
    code_admin::handle(&admin, event).await.unwrap().status()
}

#[tokio::test]
async fn tokens_with_less_than_128_bits_are_refused() {
    let w = world("weaktoken").await;
    // Configured, but too short to carry 128 bits: refused before its hash is compared.
    let weak = [
        "demo-admin-token",
        "0123456789abcdef0123456789abcde",
        "short",
    ];
    for token in weak {
        assert_eq!(
            status_with_token(&w, &weak, token).await,
            StatusCode::UNAUTHORIZED,
            "{token}"
        );
    }
    // 32 hex digits, 22 base64url characters: 128 bits, accepted.
    let strong = ["0123456789abcdef0123456789abcdef", "AbCdEfGhIjKlMnOpQrStUv"];
    for token in strong {
        assert_eq!(
            status_with_token(&w, &strong, token).await,
            StatusCode::OK,
            "{token}"
        );
    }
}

/// An action log whose completions fail (DynamoDB lost after the call was made).
struct LosesOutcomes(DynamoActionLog);

impl ActionLog for LosesOutcomes {
    async fn start(&self, action: &Action) -> Result<ActionKey, StoreError> {
        self.0.start(action).await
    }

    async fn finish(&self, _: &ActionKey, _: &ActionOutcome) -> Result<bool, StoreError> {
        Err(StoreError::Malformed("outcome lost".into()))
    }

    async fn refuse(&self, action: &Action, outcome: &ActionOutcome) -> Result<(), StoreError> {
        self.0.refuse(action, outcome).await
    }

    async fn actions(&self, scope: &str, limit: i32) -> Result<Vec<Value>, StoreError> {
        self.0.actions(scope, limit).await
    }
}

#[tokio::test]
async fn a_call_whose_outcome_is_lost_stays_started_in_the_log() {
    let w = world("outcomelost").await;
    let admin = code_admin::CodeAdmin::new(
        w.platform.authorization_service(),
        DynamoAuditStore::new(w.platform.dynamo.clone(), &w.platform.tables.audits),
        LosesOutcomes(DynamoActionLog::new(
            w.platform.dynamo.clone(),
            &w.platform.tables.actions,
        )),
        AdminTokens::parse(&format!("ops:{}", token_hash(ADMIN))).unwrap(),
    );
    let auth = format!("Bearer {ADMIN}");
    let body = json!({ "template_id": 1, "user_version": "3.0.0" }).to_string();
    let response = code_admin::handle(
        &admin,
        request(
            "POST",
            &mp("/commits"),
            &[],
            &[("authorization", &auth)],
            &body,
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "WeChat committed: the answer says so"
    );
    assert_eq!(w.sim_calls("commit"), 1);
    let actions = w.actions().await;
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(
        (
            actions[0]["status"].as_str(),
            actions[0]["result"].as_str(),
            actions[0]["parameters"]["user_version"].as_str()
        ),
        (Some("started"), None, Some("3.0.0")),
        "outcome unknown, intent recorded: {actions:?}"
    );
}
