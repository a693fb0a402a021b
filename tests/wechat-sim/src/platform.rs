//! The platform's other calls: authorizer options ("获取/设置授权方选项信息"
//! (api_get_authorizer_option, api_set_authorizer_option)), API quotas ("查询openAPI调用quota"
//! (openapi/quota/get), "重置API调用次数" (clear_quota, clear_quota/v2)), mini-program login
//! for authorizers ("小程序登录" (component jscode2session)) and the platform's own mini-program
//! domains ("设置第三方平台服务器域名" (modify_wxa_server_domain), "设置第三方平台业务域名"
//! (modify_wxa_jump_domain)).

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::Response;
use serde::Serialize;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::code::Params;
use crate::component::{check_component_appid, component_token, with_component_call};
use crate::state::{random_id, AuthorizationStatus, SimState, TokenOwner};
use crate::wx::{bare, invalid_args, json_body, ok, respond, str_field, WxError, WxResult};
use crate::Sim;

/// What openapi/quota/get answers as every API's daily limit (WeChat's differ per API).
pub const DAILY_LIMIT: u64 = 100_000;
/// clear_quota: 10 a month per account ("每个账号每月共10次清零操作机会"), 48006 beyond.
pub const CLEARS_PER_MONTH: usize = 10;
/// How long a js_code minted by `/sim/js-codes` can be exchanged (WeChat: 5 minutes).
pub const JS_CODE_LIFETIME: i64 = 300;

/// The account an API call counts against: the component, or an authorizer's appid.
fn owner_key(owner: &TokenOwner) -> String {
    match owner {
        TokenOwner::Component => "component".to_owned(),
        TokenOwner::Authorizer(appid) => appid.clone(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct JsCode {
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
    pub expires_at: i64,
    pub used: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PlatformState {
    /// Calls per account, then per cgi path, since the account's last clear_quota.
    pub quota_used: BTreeMap<String, BTreeMap<String, u64>>,
    /// When each account's quota was cleared.
    pub clears: BTreeMap<String, Vec<i64>>,
    /// Authorizer options set, by appid then option_name.
    pub options: BTreeMap<String, BTreeMap<String, String>>,
    pub js_codes: HashMap<String, JsCode>,
    /// The test version of the platform's mini-program server / business domains (None: the same
    /// as the released version, which is `component.server_domains` / `webview_domains`).
    pub testing_server_domains: Option<Vec<String>>,
    pub testing_jump_domains: Option<Vec<String>>,
}

/// Counts a WeChat API call against the account whose token it carries (unknown tokens count
/// against no one).
pub fn record_call(state: &mut SimState, uri: &Uri) {
    let token = uri.query().and_then(|q| {
        q.split('&').find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            matches!(name, "access_token" | "component_access_token").then_some(value)
        })
    });
    let Some(owner) = token
        .and_then(|t| state.tokens.get(t))
        .map(|t| owner_key(&t.owner))
    else {
        return;
    };
    *state
        .platform
        .quota_used
        .entry(owner)
        .or_default()
        .entry(uri.path().to_owned())
        .or_default() += 1;
}

/// The authorizer options and their values ("location_report" 0/1/2, "voice_recognize" 0/1,
/// "customer_service" 0/1); every one is "0" until set.
const OPTIONS: [(&str, &[&str]); 3] = [
    ("location_report", &["0", "1", "2"]),
    ("voice_recognize", &["0", "1"]),
    ("customer_service", &["0", "1"]),
];

/// An authorized authorizer_appid of a component call's body, and its option_name.
fn option_of<'a>(
    state: &SimState,
    body: &'a Value,
) -> Result<(&'a str, &'static [&'static str]), WxError> {
    let appid = str_field(body, "authorizer_appid")?;
    if !state
        .authorizations
        .get(appid)
        .is_some_and(|a| a.status == AuthorizationStatus::Authorized)
    {
        return Err(WxError::new(
            61003,
            "component is not authorized by this account",
        ));
    }
    let name = str_field(body, "option_name")?;
    let values = OPTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, values)| *values)
        .ok_or_else(|| invalid_args(&format!("option_name {name}")))?;
    Ok((appid, values))
}

pub async fn get_authorizer_option(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_component_call(&sim, &params, &body, |state, body| {
        let (appid, _) = option_of(state, body)?;
        let name = str_field(body, "option_name")?;
        let value = state
            .platform
            .options
            .get(appid)
            .and_then(|o| o.get(name))
            .cloned()
            .unwrap_or_else(|| "0".to_owned());
        bare(json!({ "authorizer_appid": appid, "option_name": name, "option_value": value }))
    })
}

pub async fn set_authorizer_option(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_component_call(&sim, &params, &body, |state, body| {
        let (appid, values) = option_of(state, body)?;
        let name = str_field(body, "option_name")?;
        let value = str_field(body, "option_value")?;
        if !values.contains(&value) {
            return Err(invalid_args(&format!("option_value {value} of {name}")));
        }
        state
            .platform
            .options
            .entry(appid.to_owned())
            .or_default()
            .insert(name.to_owned(), value.to_owned());
        ok(json!({}))
    })
}

pub async fn quota_get(State(sim): State<Sim>, Query(params): Params, body: Bytes) -> Response {
    let state = sim.state();
    respond((|| {
        let owner = state.token_owner(component_token(&params))?;
        let body = json_body(&body)?;
        let path = str_field(&body, "cgi_path")?;
        if !path.starts_with('/') || path.contains(['?', ' ']) {
            return Err(WxError::new(76003, "invalid cgi_path"));
        }
        // An authorizer does not own the component's token and authorization APIs.
        if matches!(owner, TokenOwner::Authorizer(_)) && path.starts_with("/cgi-bin/component/api_")
        {
            return Err(WxError::new(76022, "the token does not own this API"));
        }
        let used = state
            .platform
            .quota_used
            .get(&owner_key(&owner))
            .and_then(|paths| paths.get(path))
            .copied()
            .unwrap_or(0);
        ok(json!({
            "quota": { "daily_limit": DAILY_LIMIT, "used": used, "remain": DAILY_LIMIT.saturating_sub(used) },
            "rate_limit": { "call_count": 5000, "refresh_second": 300 },
            "component_rate_limit": { "call_count": 5000, "refresh_second": 300 },
        }))
    })())
}

/// Clears an account's counts, 10 times in 30 days at most (48006 beyond).
fn clear(state: &mut SimState, owner: &TokenOwner) -> WxResult {
    let now = state.now();
    let key = owner_key(owner);
    let clears = state.platform.clears.entry(key.clone()).or_default();
    clears.retain(|t| now - *t < 30 * 86_400);
    if clears.len() >= CLEARS_PER_MONTH {
        return Err(WxError::new(
            48006,
            "forbid to clear quota because of reaching the limit",
        ));
    }
    clears.push(now);
    state.platform.quota_used.remove(&key);
    ok(json!({}))
}

/// An authorized mini program's owner (61003 otherwise).
fn authorizer(state: &SimState, appid: &str) -> Result<TokenOwner, WxError> {
    state
        .authorizations
        .get(appid)
        .filter(|a| a.status == AuthorizationStatus::Authorized)
        .map(|_| TokenOwner::Authorizer(appid.to_owned()))
        .ok_or_else(|| WxError::new(61003, "component is not authorized by this account"))
}

/// `POST /cgi-bin/clear_quota {appid}`: the token's own account (40013 for another appid).
pub async fn clear_quota_of_account(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let mut state = sim.state();
    respond((|| {
        let owner = state.token_owner(component_token(&params))?;
        let body = json_body(&body)?;
        let appid = str_field(&body, "appid")?;
        let own = match &owner {
            TokenOwner::Component => state.config.component.appid.as_str(),
            TokenOwner::Authorizer(a) => a.as_str(),
        };
        if appid != own {
            return Err(WxError::new(40013, "invalid appid"));
        }
        clear(&mut state, &owner)
    })())
}

/// `POST /cgi-bin/component/clear_quota {component_appid}`: the component's counts.
pub async fn clear_component_quota(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_component_call(&sim, &params, &body, |state, _| {
        clear(state, &TokenOwner::Component)
    })
}

/// `POST /cgi-bin/component/clear_quota/v2 {component_appid, appsecret[, appid]}`: no token; the
/// component's counts, or an authorizer's with `appid`.
pub async fn clear_quota_by_secret(State(sim): State<Sim>, body: Bytes) -> Response {
    let mut state = sim.state();
    respond((|| {
        let body = json_body(&body)?;
        check_component_appid(&state, &body)?;
        if str_field(&body, "appsecret")? != state.config.component.appsecret {
            return Err(WxError::new(40125, "invalid appsecret"));
        }
        let owner = match body.get("appid").and_then(Value::as_str) {
            Some(appid) if !appid.is_empty() => authorizer(&state, appid)?,
            _ => TokenOwner::Component,
        };
        clear(&mut state, &owner)
    })())
}

/// The openid of `user` in mini program `appid`: 28 characters, stable.
fn openid(appid: &str, user: &str) -> String {
    let digest: String = Sha1::digest(format!("{appid}:{user}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("o{}", &digest[..27])
}

impl Sim {
    /// A js_code of `user` in `appid` (what wx.login gives the mini program), valid 5 minutes,
    /// once: (js_code, openid); None for an unknown mini program.
    pub fn mint_js_code(
        &self,
        appid: &str,
        user: &str,
        unionid: Option<String>,
    ) -> Option<(String, String)> {
        let mut state = self.state();
        state.mini_program(appid)?;
        let code = JsCode {
            appid: appid.to_owned(),
            openid: openid(appid, user),
            unionid,
            expires_at: state.now() + JS_CODE_LIFETIME,
            used: false,
        };
        let js_code = random_id("jscode");
        let openid = code.openid.clone();
        state.platform.js_codes.insert(js_code.clone(), code);
        Some((js_code, openid))
    }
}

/// `GET /sns/component/jscode2session?appid&js_code&grant_type&component_appid&component_access_token`.
pub async fn jscode2session(State(sim): State<Sim>, Query(params): Params) -> Response {
    let mut state = sim.state();
    respond((|| {
        state.require_component_token(params.get("component_access_token").map(String::as_str))?;
        let param = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
        if param("component_appid") != state.config.component.appid {
            return Err(WxError::new(40013, "invalid appid: component_appid"));
        }
        if param("grant_type") != "authorization_code" {
            return Err(WxError::new(40002, "invalid grant_type"));
        }
        let appid = param("appid");
        authorizer(&state, appid)?;
        let js_code = param("js_code");
        if js_code.is_empty() {
            return Err(WxError::new(41008, "missing code"));
        }
        let now = state.now();
        let code = state
            .platform
            .js_codes
            .get_mut(js_code)
            .filter(|c| c.appid == appid && c.expires_at > now)
            .ok_or_else(|| WxError::new(40029, "invalid code"))?;
        if code.used {
            return Err(WxError::new(40163, "code been used"));
        }
        code.used = true;
        let mut answer = json!({ "openid": code.openid, "session_key": random_id("").chars().take(24).collect::<String>() });
        if let Some(unionid) = &code.unionid {
            answer["unionid"] = json!(unionid);
        }
        bare(answer)
    })())
}

/// A platform-level domain as the two pages want it: a host, no scheme, path or port.
fn valid_host(domain: &str) -> bool {
    !domain.is_empty()
        && domain.contains('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// The host of a registered entry (`example.com` or `https://h5.example.com`).
fn host(entry: &str) -> String {
    let rest = entry.split_once("://").map_or(entry, |(_, rest)| rest);
    rest.split(['/', ':']).next().unwrap_or(rest).to_owned()
}

/// Which of the platform's two domain lists a call changes.
#[derive(Clone, Copy)]
enum DomainKind {
    /// modify_wxa_server_domain: `wxa_server_domain`, at most 1000.
    Server,
    /// modify_wxa_jump_domain: `wxa_jump_h5_domain`, at most 200.
    Jump,
}

impl DomainKind {
    fn field(self) -> &'static str {
        match self {
            Self::Server => "wxa_server_domain",
            Self::Jump => "wxa_jump_h5_domain",
        }
    }

    fn limit(self) -> usize {
        match self {
            Self::Server => 1000,
            Self::Jump => 200,
        }
    }

    /// The released list, as hosts.
    fn published(self, state: &SimState) -> Vec<String> {
        let c = &state.config.component;
        let list = match self {
            Self::Server => &c.server_domains,
            Self::Jump => &c.webview_domains,
        };
        list.iter().map(|d| host(d)).collect()
    }

    fn set_published(self, state: &mut SimState, hosts: &[String]) {
        let c = &mut state.config.component;
        match self {
            Self::Server => c.server_domains = hosts.to_vec(),
            // setwebviewdomain adds these to a mini program as they are: with their scheme.
            Self::Jump => {
                c.webview_domains = hosts.iter().map(|h| format!("https://{h}")).collect()
            }
        }
    }

    fn testing(self, state: &mut SimState) -> &mut Option<Vec<String>> {
        match self {
            Self::Server => &mut state.platform.testing_server_domains,
            Self::Jump => &mut state.platform.testing_jump_domains,
        }
    }
}

/// Applies add / delete / set to `list`.
fn change(action: &str, list: &mut Vec<String>, given: &[String]) {
    match action {
        "add" => {
            for d in given {
                if !list.contains(d) {
                    list.push(d.clone());
                }
            }
        }
        // Deleting a domain that is not there succeeds.
        "delete" => list.retain(|d| !given.contains(d)),
        _ => *list = given.to_vec(),
    }
}

/// The platform's domains: the test version, and with `is_modify_published_together` the released
/// one too (what modify_domain and setwebviewdomain accept). Invalid entries are left out and
/// named in `invalid_…`.
fn modify_platform_domains(
    sim: &Sim,
    params: &HashMap<String, String>,
    body: &[u8],
    kind: DomainKind,
) -> Response {
    let mut state = sim.state();
    respond((|| {
        state.require_component_token(component_token(params))?;
        let body = json_body(body)?;
        let action = str_field(&body, "action")?;
        if !matches!(action, "add" | "delete" | "set" | "get") {
            return Err(invalid_args("action must be add, delete, set or get"));
        }
        let field = kind.field();
        let given = body.get(field).and_then(Value::as_str).unwrap_or("");
        let (valid, invalid): (Vec<String>, Vec<String>) = given
            .split(';')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .partition(|d| valid_host(d));
        if valid.len() > kind.limit() {
            return Err(invalid_args(&format!(
                "{field} takes at most {}",
                kind.limit()
            )));
        }
        let published = kind.published(&state);
        if action != "get" {
            let together = body
                .get("is_modify_published_together")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let testing = kind.testing(&mut state);
            let mut list = testing.clone().unwrap_or_else(|| published.clone());
            change(action, &mut list, &valid);
            *testing = Some(list);
            if together {
                let mut list = published;
                change(action, &mut list, &valid);
                kind.set_published(&mut state, &list);
            }
        }
        let published = kind.published(&state);
        let testing = kind
            .testing(&mut state)
            .clone()
            .unwrap_or_else(|| published.clone());
        let mut answer = json!({
            format!("published_{field}"): published.join(";"),
            format!("testing_{field}"): testing.join(";"),
        });
        if !invalid.is_empty() {
            answer[format!("invalid_{field}")] = json!(invalid.join(";"));
        }
        ok(answer)
    })())
}

pub async fn modify_wxa_server_domain(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    modify_platform_domains(&sim, &params, &body, DomainKind::Server)
}

pub async fn modify_wxa_jump_domain(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    modify_platform_domains(&sim, &params, &body, DomainKind::Jump)
}
