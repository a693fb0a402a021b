//! The simulator of a test: a component, the mini programs WeChat knows, a [`Setup`] that starts
//! the simulator (and, for [`crate::world::World`], the platform next to it), and the
//! [`Simulator`] the test then talks to: its control API, its recorded pushes and WeChat's API as
//! a platform calls it.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{json, Value};
use shared::crypto::MessageCrypto;
use wechat_sim::config::{Category, MiniProgram, ReviewScript, SimConfig, Template};
use wechat_sim::RunningSim;

use crate::inbox::Inbox;
use crate::owner::{auth_code_of, browser, location_of, REDIRECT_URI};
use crate::simctl::SimControl;

/// The EncodingAESKey of every test component (43 characters).
pub const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// A third-party platform's settings, shared by the simulator and the functions.
#[derive(Debug, Clone)]
pub struct Component {
    pub appid: String,
    pub secret: String,
    pub token: String,
    pub key: String,
}

impl Component {
    /// A component with the tests' EncodingAESKey ([`KEY`]).
    pub fn new(appid: &str, secret: &str, token: &str) -> Self {
        Self::with_key(appid, secret, token, KEY)
    }

    pub fn with_key(appid: &str, secret: &str, token: &str, key: &str) -> Self {
        Self {
            appid: appid.to_owned(),
            secret: secret.to_owned(),
            token: token.to_owned(),
            key: key.to_owned(),
        }
    }

    /// The component's push crypto (no previous key).
    pub fn crypto(&self) -> MessageCrypto {
        MessageCrypto::new(
            SecretString::from(self.token.as_str()),
            &self.appid,
            &self.key,
            None,
        )
        .expect("a valid component key")
    }

    /// The functions' settings of this component.
    pub fn config(&self) -> shared::config::ComponentConfig {
        crate::component_config(&self.appid, &self.secret, &self.token, &self.key)
    }

    /// A simulator of this component with no mini programs and no pushes.
    pub fn sim_config(&self) -> SimConfig {
        SimConfig::for_component(&self.appid, &self.secret, &self.token, &self.key)
    }
}

/// A mini program of the tests: original id `gh_` and the appid's last 12 characters, nickname
/// `Shop <appid>`, no principal, categories or pages, 5 testers, permission sets 17 and 18, and
/// reviews that pass after 5 simulated seconds. [`MiniProgramBuilder`] changes what a test needs.
pub fn mini_program(appid: &str) -> MiniProgram {
    MiniProgram {
        appid: appid.to_owned(),
        original_id: format!("gh_{}", &appid[appid.len().saturating_sub(12)..]),
        nickname: format!("Shop {appid}"),
        principal_name: String::new(),
        head_img: String::new(),
        categories: Vec::new(),
        pages: Vec::new(),
        testers_limit: 5,
        permission_sets: vec![17, 18],
        review: ReviewScript::Pass { after_secs: 5 },
    }
}

/// A shop of the tools category (工具 › 效率, 287 › 612) with an index and an about page.
pub fn shop(appid: &str) -> MiniProgram {
    mini_program(appid)
        .category(("工具", 287), ("效率", 612))
        .pages(&["pages/index/index", "pages/about/about"])
}

/// An enterprise WeChat's fast registration accepts (a unified social credit code, code_type 1),
/// as create's JSON body.
pub fn enterprise() -> Value {
    json!({
        "name": "示例科技有限公司",
        "code": "91440300MA5EXAMPL1",
        "code_type": 1,
        "legal_persona_wechat": "legal_wx01",
        "legal_persona_name": "张三",
        "component_phone": "0755-86013388",
    })
}

/// A template of the library at start.
pub fn template(template_id: i64, user_version: &str, user_desc: &str, kind: i64) -> Template {
    Template {
        template_id,
        user_version: user_version.to_owned(),
        user_desc: user_desc.to_owned(),
        draft_id: None,
        pages: vec![],
        template_type: kind,
    }
}

/// Changes to a [`mini_program`], one field at a time.
pub trait MiniProgramBuilder: Sized {
    fn original_id(self, original_id: &str) -> Self;
    /// Its nickname and principal (company) name.
    fn named(self, nickname: &str, principal_name: &str) -> Self;
    /// One more category: (first class, its id), (second class, its id).
    fn category(self, first: (&str, i64), second: (&str, i64)) -> Self;
    fn pages(self, pages: &[&str]) -> Self;
    fn testers(self, limit: usize) -> Self;
    /// The permission sets the owner grants by default.
    fn sets(self, sets: &[i64]) -> Self;
}

impl MiniProgramBuilder for MiniProgram {
    fn original_id(mut self, original_id: &str) -> Self {
        self.original_id = original_id.to_owned();
        self
    }

    fn named(mut self, nickname: &str, principal_name: &str) -> Self {
        self.nickname = nickname.to_owned();
        self.principal_name = principal_name.to_owned();
        self
    }

    fn category(mut self, (first_class, first_id): (&str, i64), second: (&str, i64)) -> Self {
        self.categories.push(Category {
            first_class: first_class.to_owned(),
            second_class: second.0.to_owned(),
            third_class: None,
            first_id,
            second_id: second.1,
            third_id: None,
        });
        self
    }

    fn pages(mut self, pages: &[&str]) -> Self {
        self.pages = pages.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    fn testers(mut self, limit: usize) -> Self {
        self.testers_limit = limit;
        self
    }

    fn sets(mut self, sets: &[i64]) -> Self {
        self.permission_sets = sets.to_vec();
        self
    }
}

/// What a test starts: the simulator's configuration, where it pushes, and (for
/// [`Setup::start`]) the platform's WeChat timeout, ticket and authorizations.
pub struct Setup {
    pub(crate) component: Component,
    config: SimConfig,
    component_pushes: bool,
    message_pushes: bool,
    pub(crate) wechat_timeout: Duration,
    pub(crate) authorize: Authorize,
    pub(crate) queue: crate::event_source::QueueOptions,
}

/// What [`Setup::start`] does before the test begins.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Authorize {
    Nothing,
    /// The component ticket stored.
    Ticket,
    /// The ticket stored and every mini program authorized with its permission sets.
    Everyone,
}

impl Setup {
    /// A simulator of `component`: no mini programs, no pushes, the clock at the real time.
    pub fn new(component: &Component) -> Self {
        Self {
            component: component.clone(),
            config: component.sim_config(),
            component_pushes: false,
            message_pushes: false,
            wechat_timeout: Duration::from_secs(5),
            authorize: Authorize::Nothing,
            queue: crate::event_source::QueueOptions::default(),
        }
    }

    /// The world's step queue with these options (default: a 2 s visibility timeout, the
    /// dead-letter queue after 3 receives).
    pub fn queue(mut self, options: crate::event_source::QueueOptions) -> Self {
        self.queue = options;
        self
    }

    pub fn mini_program(mut self, mini_program: MiniProgram) -> Self {
        self.config.mini_programs.push(mini_program);
        self
    }

    pub fn mini_programs(mut self, mini_programs: impl IntoIterator<Item = MiniProgram>) -> Self {
        self.config.mini_programs.extend(mini_programs);
        self
    }

    /// Any other change to the simulator's configuration.
    pub fn configure(mut self, change: impl FnOnce(&mut SimConfig)) -> Self {
        change(&mut self.config);
        self
    }

    /// The simulator pushes to the authorization event URL of an [`Inbox`].
    pub fn pushes_to_inbox(mut self) -> Self {
        self.component_pushes = true;
        self
    }

    /// The simulator pushes to the message URL of an [`Inbox`].
    pub fn messages_to_inbox(mut self) -> Self {
        self.message_pushes = true;
        self
    }

    /// How long the platform waits for WeChat (5 s unless set).
    pub fn wechat_timeout(mut self, timeout: Duration) -> Self {
        self.wechat_timeout = timeout;
        self
    }

    /// The platform has a component_verify_ticket (one the simulator pushed) before the test.
    pub fn with_ticket(mut self) -> Self {
        self.authorize = self.authorize.max(Authorize::Ticket);
        self
    }

    /// The ticket stored, and every mini program authorized through the simulator's page with
    /// its permission sets, before the test.
    pub fn authorized(mut self) -> Self {
        self.authorize = Authorize::Everyone;
        self
    }

    /// Only the simulator (and its inbox): no platform, no tables.
    pub async fn start_sim(mut self) -> Simulator {
        assert!(
            self.authorize == Authorize::Nothing,
            "a ticket or authorizations need the platform: Setup::start"
        );
        let inbox = if self.component_pushes || self.message_pushes {
            let inbox = Inbox::start(self.component.crypto()).await;
            let push = &mut self.config.push;
            if self.component_pushes {
                push.authorization_event_url = Some(inbox.component_url());
            }
            if self.message_pushes {
                push.message_url = Some(inbox.message_url());
            }
            Some(inbox)
        } else {
            None
        };
        let running = RunningSim::on_loopback(self.config).await;
        Simulator {
            ctl: SimControl::new(&running.base_url()),
            running,
            component: self.component,
            inbox,
            http: browser(),
        }
    }
}

/// A simulator serving on a loopback port, as a test sees it.
pub struct Simulator {
    pub running: RunningSim,
    /// Its control API.
    pub ctl: SimControl,
    pub component: Component,
    inbox: Option<Inbox>,
    /// A client that follows no redirect (a browser, or the platform calling WeChat).
    pub http: reqwest::Client,
}

impl Simulator {
    pub fn base_url(&self) -> String {
        self.running.base_url()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// The pushes received; panics unless the setup asked for them.
    pub fn inbox(&self) -> &Inbox {
        self.inbox
            .as_ref()
            .expect("Setup::pushes_to_inbox or messages_to_inbox")
    }

    /// From now on the simulator pushes to these URLs (the authorization event URL, and the
    /// message URL with `$APPID$`): a platform served after the simulator started.
    pub fn push_to(&self, authorization_event_url: &str, message_url: &str) {
        let mut state = self.running.sim.state();
        state.config.push.authorization_event_url = Some(authorization_event_url.to_owned());
        state.config.push.message_url = Some(message_url.to_owned());
    }

    /// The simulator pushes a component_verify_ticket now; answers it.
    pub fn push_ticket(&self) -> String {
        self.running.sim.push_ticket()
    }

    /// WeChat's time now (the simulated clock).
    pub fn now(&self) -> i64 {
        self.running.sim.state().now()
    }

    /// POSTs JSON to WeChat's API; answers its JSON.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let request = self.http.post(self.url(path)).json(&body);
        request.send().await.unwrap().json().await.unwrap()
    }

    /// GETs WeChat's API; answers its JSON.
    pub async fn get(&self, path: &str) -> Value {
        let request = self.http.get(self.url(path));
        request.send().await.unwrap().json().await.unwrap()
    }

    /// GETs a page of WeChat's (the authorization pages); answers its text.
    pub async fn page(&self, path: &str) -> String {
        let request = self.http.get(self.url(path));
        request.send().await.unwrap().text().await.unwrap()
    }

    /// A pushed ticket and a component token for it.
    pub async fn component_token(&self) -> String {
        let c = &self.component;
        let ticket = self.push_ticket();
        let r = self
            .post(
                "/cgi-bin/component/api_component_token",
                json!({ "component_appid": c.appid, "component_appsecret": c.secret, "component_verify_ticket": ticket }),
            )
            .await;
        string_at(&r, "component_access_token")
    }

    pub async fn pre_auth_code(&self, component_token: &str) -> String {
        let r = self
            .post(
                &format!(
                    "/cgi-bin/component/api_create_preauthcode?component_access_token={component_token}"
                ),
                json!({ "component_appid": self.component.appid }),
            )
            .await;
        string_at(&r, "pre_auth_code")
    }

    /// The owner confirms `appid` with `sets` on the authorization page; answers WeChat's
    /// response (a redirect to the callback, or an error page).
    pub async fn owner_confirms(
        &self,
        pre_auth_code: &str,
        appid: &str,
        sets: &[i64],
    ) -> reqwest::Response {
        let form = [
            ("pre_auth_code", pre_auth_code),
            ("redirect_uri", REDIRECT_URI),
        ];
        crate::owner::confirm(&self.base_url(), &form, appid, sets).await
    }

    /// Authorizes `appid` with `sets` and exchanges the code with api_query_auth, as a platform
    /// does: (authorizer access token, refresh token).
    pub async fn wx_authorize(
        &self,
        component_token: &str,
        appid: &str,
        sets: &[i64],
    ) -> (String, String) {
        let pre = self.pre_auth_code(component_token).await;
        let code = auth_code_of(&location_of(&self.owner_confirms(&pre, appid, sets).await));
        let r = self
            .post(
                &format!(
                    "/cgi-bin/component/api_query_auth?component_access_token={component_token}"
                ),
                json!({ "component_appid": self.component.appid, "authorization_code": code }),
            )
            .await;
        let info = &r["authorization_info"];
        (
            string_at(info, "authorizer_access_token"),
            string_at(info, "authorizer_refresh_token"),
        )
    }
}

/// The string `name` of a WeChat answer; panics with the answer otherwise.
fn string_at(answer: &Value, name: &str) -> String {
    answer[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {answer}"))
        .to_owned()
}
