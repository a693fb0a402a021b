//! A simulator on a free port, pushing to a recording inbox, and a small client speaking WeChat's
//! API conventions.

#![allow(dead_code)]

pub use devstack::inbox::Inbox;
use secrecy::SecretString;
use serde_json::{json, Value};
use shared::crypto::MessageCrypto;
use wechat_sim::config::{
    Category, ComponentSettings, Draft, Limits, MiniProgram, PushSettings, ReviewScript, SimConfig,
    Template,
};
use wechat_sim::{RunningSim, Sim};

pub const APPID: &str = "wxsimcomponent0001";
pub const SECRET: &str = "sim-appsecret";
pub const TOKEN: &str = "simtoken";
pub const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub const MP: &str = "wxminiprogram00001";
pub const MP2: &str = "wxminiprogram00002";
pub const NO_CODE_MP: &str = "wxminiprogram00003";

fn crypto() -> MessageCrypto {
    MessageCrypto::new(SecretString::from(TOKEN), APPID, KEY, None).unwrap()
}

fn category(first_id: i64, second_id: i64) -> Category {
    Category {
        first_class: "工具".into(),
        second_class: "效率".into(),
        third_class: None,
        first_id,
        second_id,
        third_id: None,
    }
}

fn mini_program(appid: &str, original_id: &str, sets: Vec<i64>) -> MiniProgram {
    MiniProgram {
        appid: appid.into(),
        original_id: original_id.into(),
        nickname: format!("Shop {appid}"),
        principal_name: "Demo Co".into(),
        head_img: String::new(),
        categories: vec![category(287, 612)],
        pages: vec!["pages/index/index".into(), "pages/about/about".into()],
        testers_limit: 2,
        permission_sets: sets,
        review: ReviewScript::Pass { after_secs: 5 },
    }
}

pub fn config(inbox: &Inbox) -> SimConfig {
    SimConfig {
        component: ComponentSettings {
            appid: APPID.into(),
            appsecret: SECRET.into(),
            token: TOKEN.into(),
            encoding_aes_key: KEY.into(),
            server_domains: vec!["example.com".into()],
            webview_domains: vec!["https://h5.example.com".into()],
        },
        push: PushSettings {
            authorization_event_url: Some(inbox.component_url()),
            message_url: Some(inbox.message_url()),
            ticket_interval_secs: 0,
            timeout_ms: 5000,
            retries: 3,
            retry_delay_ms: 20,
        },
        limits: Limits {
            submit_quota: 10,
            speedup_quota: 1,
            template_library_size: 3,
        },
        refresh_tokens: Default::default(),
        clock_start: Some(1_763_700_000),
        latency_ms: 0,
        mini_programs: vec![
            mini_program(MP, "gh_000000000001", vec![17, 18, 19]),
            mini_program(MP2, "gh_000000000002", vec![17, 18]),
            mini_program(NO_CODE_MP, "gh_000000000003", vec![17]),
        ],
        drafts: vec![Draft {
            draft_id: 7,
            user_version: "1.1.0".into(),
            user_desc: "draft".into(),
            pages: vec![],
        }],
        templates: vec![Template {
            template_id: 1,
            user_version: "1.0.0".into(),
            user_desc: "first".into(),
            draft_id: None,
            pages: vec![],
            template_type: 0,
        }],
    }
}

pub struct Env {
    pub running: RunningSim,
    pub inbox: Inbox,
    pub http: reqwest::Client,
}

pub async fn start() -> Env {
    start_with(|_| {}).await
}

pub async fn start_with(change: impl FnOnce(&mut SimConfig)) -> Env {
    let inbox = Inbox::start(crypto()).await;
    let mut config = config(&inbox);
    change(&mut config);
    let running = Sim::new(config)
        .unwrap()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env {
        running,
        inbox,
        http,
    }
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn advance(&self, seconds: i64) {
        let r = self
            .http
            .post(self.url("/sim/clock/advance"))
            .json(&json!({ "seconds": seconds }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// A pushed ticket and a component token for it.
    pub async fn component_token(&self) -> String {
        let ticket = self.running.sim.push_ticket();
        let r = self
            .post(
                "/cgi-bin/component/api_component_token",
                json!({ "component_appid": APPID, "component_appsecret": SECRET, "component_verify_ticket": ticket }),
            )
            .await;
        r["component_access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{r}"))
            .to_owned()
    }

    pub async fn pre_auth_code(&self, token: &str) -> String {
        let r = self
            .post(
                &format!(
                    "/cgi-bin/component/api_create_preauthcode?component_access_token={token}"
                ),
                json!({ "component_appid": APPID }),
            )
            .await;
        r["pre_auth_code"]
            .as_str()
            .unwrap_or_else(|| panic!("{r}"))
            .to_owned()
    }

    /// The owner confirms on the authorization page; returns the redirect's Location.
    pub async fn owner_confirms(
        &self,
        pre_auth_code: &str,
        appid: &str,
        sets: &[i64],
    ) -> reqwest::Response {
        let mut form = vec![
            ("pre_auth_code".to_owned(), pre_auth_code.to_owned()),
            (
                "redirect_uri".to_owned(),
                "https://platform.example.com/auth/callback".to_owned(),
            ),
            ("appid".to_owned(), appid.to_owned()),
        ];
        form.extend(
            sets.iter()
                .map(|s| ("permission".to_owned(), s.to_string())),
        );
        self.http
            .post(self.url("/cgi-bin/componentloginpage/confirm"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Authorizes `appid` with `sets` and exchanges the code: (authorizer token, refresh token).
    pub async fn authorize(
        &self,
        component_token: &str,
        appid: &str,
        sets: &[i64],
    ) -> (String, String) {
        let pre = self.pre_auth_code(component_token).await;
        let response = self.owner_confirms(&pre, appid, sets).await;
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let code = location
            .split("auth_code=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned();
        let r = self
            .post(
                &format!(
                    "/cgi-bin/component/api_query_auth?component_access_token={component_token}"
                ),
                json!({ "component_appid": APPID, "authorization_code": code }),
            )
            .await;
        let info = &r["authorization_info"];
        (
            info["authorizer_access_token"]
                .as_str()
                .unwrap_or_else(|| panic!("{r}"))
                .to_owned(),
            info["authorizer_refresh_token"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    }
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
