//! The simulator of these tests: three mini programs, a draft and a template, pushing to a
//! recording inbox (devstack's world, without the platform).

#![allow(dead_code)]

pub use devstack::sim::Simulator as Env;
use devstack::sim::{shop, template, Component, MiniProgramBuilder, Setup};
use serde_json::{json, Value};
use wechat_sim::config::{Draft, SimConfig};

pub const APPID: &str = "wxsimcomponent0001";
pub const SECRET: &str = "sim-appsecret";
pub const MP: &str = "wxminiprogram00001";
pub const MP2: &str = "wxminiprogram00002";
pub const NO_CODE_MP: &str = "wxminiprogram00003";

/// One of the three shops, `n` its number: gh_00000000000n, two testers, the Demo Co's.
fn demo_shop(appid: &str, n: u8, sets: &[i64]) -> wechat_sim::config::MiniProgram {
    shop(appid)
        .original_id(&format!("gh_00000000000{n}"))
        .named(&format!("Shop {appid}"), "Demo Co")
        .testers(2)
        .sets(sets)
}

fn configure(config: &mut SimConfig) {
    config.component.server_domains = vec!["example.com".into()];
    config.component.webview_domains = vec!["https://h5.example.com".into()];
    config.push.retry_delay_ms = 20;
    config.limits.submit_quota = 10;
    config.limits.speedup_quota = 1;
    config.limits.template_library_size = 3;
    config.clock_start = Some(1_763_700_000);
    config.drafts = vec![Draft {
        draft_id: 7,
        user_version: "1.1.0".into(),
        user_desc: "draft".into(),
        pages: vec![],
    }];
    config.templates = vec![template(1, "1.0.0", "first", 0)];
}

pub async fn start() -> Env {
    start_with(|_| {}).await
}

pub async fn start_with(change: impl FnOnce(&mut SimConfig)) -> Env {
    Setup::new(&Component::new(APPID, SECRET, "simtoken"))
        .mini_programs([
            demo_shop(MP, 1, &[17, 18, 19]),
            demo_shop(MP2, 2, &[17, 18]),
            demo_shop(NO_CODE_MP, 3, &[17]),
        ])
        .configure(configure)
        .configure(change)
        .pushes_to_inbox()
        .messages_to_inbox()
        .start_sim()
        .await
}

/// The path of a component API (`/cgi-bin/component/<api>`) called with `token`.
pub fn component_api(api: &str, token: &str) -> String {
    format!("/cgi-bin/component/{api}?component_access_token={token}")
}

/// A component token, and MP authorized with permission sets 17 and 18: (the component token,
/// MP's refresh token).
pub async fn mp_authorized(env: &Env) -> (String, String) {
    let token = env.component_token().await;
    let (_, refresh) = env.wx_authorize(&token, MP, &[17, 18]).await;
    (token, refresh)
}

/// api_authorizer_token's body for MP.
pub fn refresh_body(refresh_token: &str) -> Value {
    json!({ "component_appid": APPID, "authorizer_appid": MP, "authorizer_refresh_token": refresh_token })
}

/// POSTs `body` to `path` and asserts WeChat's errcode (0: success).
pub async fn expect(env: &Env, path: &str, body: Value, errcode: i64) {
    let answer = env.post(path, body).await;
    assert_eq!(
        answer["errcode"].as_i64(),
        Some(errcode),
        "{path}: {answer}"
    );
}

/// Asserts an errcode answer.
#[track_caller]
pub fn assert_errcode(body: &Value, errcode: i64) {
    assert_eq!(body["errcode"].as_i64(), Some(errcode), "{body}");
}

#[track_caller]
pub fn assert_ok(body: &Value) {
    assert_eq!(body["errcode"].as_i64(), Some(0), "{body}");
}

/// A mini program as its platform calls it, with its authorizer access token.
pub struct Mp<'a> {
    pub env: &'a Env,
    pub token: String,
}

impl Mp<'_> {
    /// The path of an API: `/wxa/<api>`, or `api` itself when it starts with `/`.
    pub fn path(&self, api: &str) -> String {
        let path = if api.starts_with('/') {
            api.to_owned()
        } else {
            format!("/wxa/{api}")
        };
        format!("{path}?access_token={}", self.token)
    }

    pub async fn post(&self, api: &str, body: Value) -> Value {
        self.env.post(&self.path(api), body).await
    }

    /// POSTs no body at all.
    pub async fn post_empty(&self, api: &str) -> Value {
        let request = self.env.http.post(self.env.url(&self.path(api)));
        request.send().await.unwrap().json().await.unwrap()
    }

    pub async fn get(&self, api: &str) -> Value {
        self.env.get(&self.path(api)).await
    }

    /// POSTs `body` to `api` and asserts WeChat's errcode (0: success).
    pub async fn expect(&self, api: &str, body: Value, errcode: i64) {
        expect(self.env, &self.path(api), body, errcode).await;
    }

    /// Commits template 1 with an ext_json.
    pub async fn commit(&self) -> Value {
        self.post(
            "commit",
            json!({ "template_id": 1, "ext_json": "{\"extAppid\":\"wx\",\"ext\":{\"shop\":1}}", "user_version": "1.0.0", "user_desc": "first" }),
        )
        .await
    }

    /// Submits the committed code for review with one valid item.
    pub async fn submit(&self) -> Value {
        self.submit_with(json!({})).await
    }

    /// [`Self::submit`] with more fields (e.g. `privacy_api_not_use`).
    pub async fn submit_with(&self, mut body: Value) -> Value {
        body["item_list"] = json!([{ "address": "pages/index/index", "tag": "shop tools", "first_class": "工具", "second_class": "效率", "first_id": 287, "second_id": 612, "title": "Home" }]);
        self.post("submit_audit", body).await
    }
}

/// `appid` authorized with `sets`, as its platform sees it.
pub async fn authorized<'a>(env: &'a Env, appid: &str, sets: &[i64]) -> Mp<'a> {
    let component = env.component_token().await;
    let (token, _) = env.wx_authorize(&component, appid, sets).await;
    Mp { env, token }
}
