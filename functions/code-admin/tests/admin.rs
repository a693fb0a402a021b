//! code-admin end to end through the WeChat simulator and moto: commit → QR code → review (the
//! simulator's result pushed to ticket-receive's message URL) → release → rollback; rejection,
//! undo, the pending and release guards, 401s, validation and errcode mapping; the OpenAPI file
//! against the router.

use std::collections::BTreeSet;

use code_admin::auth::token_hash;
use code_admin::{AdminTokens, CodeAdmin, PlatformCodeAdmin};
use devstack::apigw::{body_text, request};
use devstack::inbox::Received;
use devstack::sim::{shop, template, Component, MiniProgramBuilder, Setup};
use devstack::world::World;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::{json, Value};
use shared::store::attr::{n, s};
use shared::store::{
    unix_now, Action, ActionKey, ActionLog, ActionOutcome, AuditStore, DynamoActionLog,
    DynamoAuditStore, StoreError,
};
use ticket_receive::PlatformReceiver;
use wechat_sim::config::{MiniProgram, SimConfig};

const APPID: &str = "wxadmincomponent01";
const MP: &str = "wxadminminiprog001";
const NO_18: &str = "wxadminminiprog002";
/// 256 bits, as `admin-token` prints them (43 base64url characters).
const ADMIN: &str = "q8Zb1sKk2mB0v9yXcH4tR7wLpE3nUaJ6fG5dS1oQiTz";

fn component() -> Component {
    Component::new(APPID, "admin-component-secret", "admintoken")
}

/// The world, the code-admin of its platform (the `ops` token is [`ADMIN`]) and ticket-receive,
/// where the simulator's review results are delivered.
struct Admin {
    world: World,
    admin: PlatformCodeAdmin,
    receiver: PlatformReceiver,
}

devstack::deref_world!(Admin);

/// The mini program's original id (`gh_…`, the authorizer's user_name): one per appid.
fn original_id(appid: &str) -> String {
    format!("gh_{}", &appid[appid.len() - 12..])
}

fn mini_program(appid: &str, sets: &[i64]) -> MiniProgram {
    shop(appid)
        .original_id(&original_id(appid))
        .named(&format!("Shop {appid}"), "Admin Test Ltd.")
        .sets(sets)
}

async fn world(test: &str) -> Admin {
    world_with(test, |_| {}).await
}

/// MP (permission sets 17 and 18) and NO_18 (17 only) authorized, template 1 in the library,
/// review results pushed to the message URL.
async fn world_with(test: &str, change: impl FnOnce(&mut SimConfig)) -> Admin {
    let world = Setup::new(&component())
        .mini_programs([mini_program(MP, &[17, 18]), mini_program(NO_18, &[17])])
        .configure(|config| {
            config.component.server_domains = vec!["example.com".into()];
            config.templates = vec![template(1, "1.0.0", "shop", 0)];
        })
        .configure(change)
        .messages_to_inbox()
        .authorized()
        .start(test)
        .await;
    Admin {
        admin: PlatformCodeAdmin::from_platform(&world.platform, tokens(&ops())),
        receiver: PlatformReceiver::from_platform(&world.platform).unwrap(),
        world,
    }
}

/// The configured tokens: [`ADMIN`] labelled `ops`.
fn ops() -> String {
    format!("ops:{}", token_hash(ADMIN))
}

fn tokens(spec: &str) -> AdminTokens {
    AdminTokens::parse(spec).unwrap()
}

/// A code-admin of the world's platform whose action log is `actions`.
fn admin_with<L: ActionLog + Sync>(w: &World, actions: L, tokens: AdminTokens) -> CodeAdmin<L> {
    let platform = &w.platform;
    let audits = DynamoAuditStore::new(platform.dynamo.clone(), &platform.tables.audits);
    CodeAdmin::new(platform.authorization_service(), audits, actions, tokens)
}

/// The action log of the world's platform, or of a table of another name.
fn action_log(w: &World, table: Option<&str>) -> DynamoActionLog {
    let table = table.unwrap_or(&w.platform.tables.actions);
    DynamoActionLog::new(w.platform.dynamo.clone(), table)
}

/// `method path?query` with a JSON `body` sent to `admin`, with `token` as the Bearer token.
async fn send<L: ActionLog + Sync>(
    admin: &CodeAdmin<L>,
    token: Option<&str>,
    (method, path, query): (&str, &str, &[(&str, &str)]),
    body: &str,
) -> Response<Body> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("authorization", auth.as_str()));
    }
    code_admin::handle(admin, request(method, path, query, &headers, body))
        .await
        .unwrap()
}

/// The status and JSON (or text) of an answer.
fn answer_of(response: &Response<Body>) -> (StatusCode, Value) {
    let text = body_text(response);
    (
        response.status(),
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

impl Admin {
    async fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Value,
    ) -> (StatusCode, Value) {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        answer_of(&send(&self.admin, token, (method, path, query), &body).await)
    }

    /// A call to another code-admin (e.g. one whose action log is broken).
    async fn call_other<L: ActionLog + Sync>(
        &self,
        admin: &CodeAdmin<L>,
        method: &str,
        path: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        answer_of(&send(admin, Some(ADMIN), (method, path, &[]), body).await)
    }

    /// The simulator's last commit of MP: `ext_json` as received, `ext_config` as its template
    /// reads it.
    async fn sim_commit(&self) -> Value {
        self.ctl.mini_program(MP).await["commit"].clone()
    }

    async fn actions(&self) -> Vec<Value> {
        let (status, body) = self.call("GET", &mp("/actions"), Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["actions"].as_array().unwrap().clone()
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call_as(Some(ADMIN), method, path, &[], body).await
    }

    /// POST /admin/authorizers/{MP}/commits with `body`.
    async fn post_commit(&self, body: Value) -> (StatusCode, Value) {
        self.call("POST", &mp("/commits"), body).await
    }

    /// Delivers a recorded message push to ticket-receive's message URL.
    async fn deliver(&self, push: &Received) -> (StatusCode, String) {
        let response = ticket_receive::handle(&self.receiver, push.request())
            .await
            .unwrap();
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
        assert_eq!(self.ctl.script_review(script).await, 204);
    }

    async fn fault(&self, endpoint: &str, fault: Value) {
        assert_eq!(self.ctl.fault(endpoint, 1, fault).await, 204);
    }
}

fn mp(path: &str) -> String {
    format!("/admin/authorizers/{MP}{path}")
}

async fn commit(w: &Admin, version: &str) {
    let (status, body) = w.call("POST", &mp("/commits"), json!({ "template_id": 1, "user_version": version, "user_desc": "d", "ext": { "theme": "blue" } })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn commit_review_release_and_roll_back() {
    let w = world("release").await;
    let ext = json!({ "ext": { "shop_id": 42, "theme": "red" } });
    let (status, body) = w.call("PUT", &mp("/ext"), ext).await;
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
    let qrcode = (
        "GET",
        mp("/qrcode"),
        [("path", "pages/index/index?from=admin")],
    );
    let response = send(&w.admin, Some(ADMIN), (qrcode.0, &qrcode.1, &qrcode.2), "").await;
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
    w.ctl.advance_clock(5).await;
    let push = w.inbox().wait_for("weapp_audit_success").await;
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
    w.ctl.advance_clock(5).await;
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
    w.ctl.advance_clock(10).await;
    let push = w.inbox().wait_for("weapp_audit_fail").await;
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
    let crypto = component().crypto();
    let to = (appid, original_id(appid));
    Received::signed_message(&crypto, (to.0, &to.1), plaintext, unix_now(), nonce)
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
    w.ctl.advance_clock(10).await;
    let push = w.inbox().wait_for("weapp_audit_fail").await;
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
    let calls_before = w.ctl.all_calls().await;
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
    let (status, answer) = w
        .call_other(&w.admin, "POST", &mp("/commits"), "not json")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let calls_after = w.ctl.all_calls().await;
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
    let categories = format!("/admin/authorizers/{NO_18}/categories");
    let (status, body) = w.call("GET", &categories, Value::Null).await;
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
    w.ctl.expire_tokens_of(MP).await;
    let (status, body) = w.call("GET", &mp("/categories"), Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Template errors come back with WeChat's meaning.
    let request = json!({ "template_id": 99, "user_version": "1" });
    let (status, body) = w.post_commit(request).await;
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
    assert_eq!(w.ctl.calls("commit").await, 0, "WeChat was called");
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
    let broken = admin_with(
        &w,
        action_log(&w, Some("no-such-actions-table")),
        tokens(&ops()),
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
    assert_eq!(w.ctl.calls("commit").await, 0, "WeChat was called");
    let (status, _) = w.call_other(&broken, "POST", &mp("/release"), "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(w.ctl.calls("get_latest_auditstatus").await, 0);
    assert_eq!(w.ctl.calls("release").await, 0);
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
    let request = json!({ "template_id": 99, "user_version": "1" });
    let (status, _) = w.post_commit(request).await;
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
    let gray = json!({ "gray_percentage": 150, "note": "raw-body-marker" });
    let (status, _) = w.call("POST", &mp("/gray-release"), gray).await;
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
    let request = json!({ "template_id": 1, "user_version": "1.0.0", "ext": { "shop": "coffee" }, "ext_json": { "window": { "navigationBarTitleText": "Coffee" }, "extPages": { "pages/index/index": { "navigationBarTitleText": "Menu" } } } });
    let (status, body) = w.post_commit(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let committed = w.sim_commit().await;
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
    let calls = w.ctl.calls("commit").await;
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
    assert_eq!(w.ctl.calls("commit").await, calls, "WeChat was called");
    // The path appid's own extAppid and extEnable: true are accepted (a pasted ext.json).
    let request = json!({ "template_id": 1, "user_version": "1.0.1", "ext_json": { "extEnable": true, "extAppid": MP, "ext": { "shop": "tea" } } });
    let (status, body) = w.post_commit(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(w.sim_commit().await["ext_config"], json!({ "shop": "tea" }));
}

#[tokio::test]
async fn a_standard_template_gets_only_ext_app_id_ext_and_window() {
    let w = world_with("standard", |config| {
        config.templates.push(template(2, "2.0.0", "standard", 1))
    })
    .await;
    let request = json!({ "template_id": 2, "user_version": "2.0.0", "ext": { "shop": "tea" }, "ext_json": { "window": { "navigationBarTitleText": "Tea" } } });
    let (status, body) = w.post_commit(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let committed = w.sim_commit().await;
    assert_eq!(
        committed["ext_json"],
        json!({ "extAppid": MP, "ext": { "shop": "tea" }, "window": { "navigationBarTitleText": "Tea" } })
    );
    assert_eq!(committed["ext_config"], json!({ "shop": "tea" }));
    let calls = w.ctl.calls("commit").await;
    let request = json!({ "template_id": 2, "user_version": "2.0.1", "ext_json": { "tabBar": { "list": [] } } });
    let (status, body) = w.post_commit(request).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("ext_json")),
        "{body}"
    );
    assert_eq!(w.ctl.calls("commit").await, calls, "WeChat was called");
}

/// The status of `GET /admin/authorizers` with `token`, every token of `configured` accepted by hash.
async fn status_with_token(w: &World, configured: &[&str], token: &str) -> StatusCode {
    let spec: Vec<String> = configured
        .iter()
        .enumerate()
        .map(|(i, t)| format!("admin{i}:{}", token_hash(t)))
        .collect();
    let admin = admin_with(w, action_log(w, None), tokens(&spec.join(",")));
    let list = ("GET", "/admin/authorizers", &[][..]);
    send(&admin, Some(token), list, "").await.status()
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
    let admin = admin_with(&w, LosesOutcomes(action_log(&w, None)), tokens(&ops()));
    let body = json!({ "template_id": 1, "user_version": "3.0.0" }).to_string();
    let commit = ("POST", mp("/commits"), []);
    let response = send(&admin, Some(ADMIN), (commit.0, &commit.1, &commit.2), &body).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "WeChat committed: the answer says so"
    );
    assert_eq!(w.ctl.calls("commit").await, 1);
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
