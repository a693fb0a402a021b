//! Everything the simulated WeChat remembers, on its own clock.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use serde::Serialize;
use serde_json::Value;

use crate::config::{MiniProgram, ReviewScript, SimConfig, Template};
use crate::wx::WxError;

pub const TOKEN_LIFETIME: i64 = 7200;
pub const TICKET_LIFETIME: i64 = 12 * 3600;
pub const PRE_AUTH_CODE_LIFETIME: i64 = 1800;
pub const AUTH_CODE_LIFETIME: i64 = 600;

/// Wall clock plus an offset that /sim/clock/advance moves forward.
#[derive(Debug, Clone)]
pub struct Clock {
    offset: i64,
}

impl Clock {
    pub fn starting_at(start: Option<i64>) -> Self {
        Self {
            offset: start.map(|s| s - real_now()).unwrap_or(0),
        }
    }

    pub fn now(&self) -> i64 {
        real_now() + self.offset
    }

    pub fn advance(&mut self, seconds: i64) {
        self.offset += seconds;
    }
}

fn real_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A random token-like string with a recognisable prefix.
pub fn random_id(prefix: &str) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    format!(
        "{prefix}{}",
        Alphanumeric.sample_string(&mut rand::rng(), 40)
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOwner {
    Component,
    Authorizer(String),
}

#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub owner: TokenOwner,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct PreAuthCode {
    pub expires_at: i64,
    pub used: bool,
}

#[derive(Debug, Clone)]
pub struct AuthCode {
    pub appid: String,
    pub expires_at: i64,
    pub used: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizationStatus {
    Authorized,
    Unauthorized,
}

/// A refresh token replaced by a rotation, still accepted until `valid_until`.
#[derive(Debug, Clone, Serialize)]
pub struct ReplacedRefreshToken {
    pub token: String,
    pub valid_until: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Authorization {
    pub appid: String,
    /// The current refresh token: the one api_query_auth, api_get_authorizer_info and
    /// api_get_authorizer_list answer.
    pub refresh_token: String,
    /// Refresh tokens replaced by rotation, accepted a little longer ("获取/刷新接口调用令牌" (api_authorizer_token)).
    pub replaced_refresh_tokens: Vec<ReplacedRefreshToken>,
    pub permission_sets: Vec<i64>,
    pub status: AuthorizationStatus,
    pub auth_time: i64,
}

impl Authorization {
    /// A new authorization, with a new refresh token.
    pub fn new(appid: &str, permission_sets: Vec<i64>, auth_time: i64) -> Self {
        Self {
            appid: appid.to_owned(),
            refresh_token: random_id("refreshtoken@@@"),
            replaced_refresh_tokens: Vec::new(),
            permission_sets,
            status: AuthorizationStatus::Authorized,
            auth_time,
        }
    }

    /// Whether api_authorizer_token accepts `token` now: the current one, or a replaced one still
    /// within its grace period; only while authorized.
    pub fn accepts_refresh_token(&self, token: &str, now: i64) -> bool {
        self.status == AuthorizationStatus::Authorized
            && (self.refresh_token == token
                || self
                    .replaced_refresh_tokens
                    .iter()
                    .any(|r| r.token == token && r.valid_until > now))
    }

    /// Replaces the refresh token by a new one; the old one is accepted for `replaced_valid_secs`.
    pub fn rotate_refresh_token(&mut self, now: i64, replaced_valid_secs: i64) -> String {
        let new = random_id("refreshtoken@@@");
        let old = std::mem::replace(&mut self.refresh_token, new.clone());
        self.replaced_refresh_tokens.retain(|r| r.valid_until > now);
        self.replaced_refresh_tokens.push(ReplacedRefreshToken {
            token: old,
            valid_until: now + replaced_valid_secs,
        });
        new
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Tester {
    pub wechatid: String,
    pub userstr: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Commit {
    pub template_id: i64,
    pub user_version: String,
    pub user_desc: String,
    /// The ext_json as committed, parsed.
    pub ext_json: Value,
    /// What the template reads with `wx.getExtConfigSync` (None: it sees nothing).
    pub ext_config: Option<Value>,
    pub pages: Vec<String>,
    pub commit_time: i64,
}

/// WeChat's audit status codes ("查询审核单状态" (get_auditstatus)).
pub mod audit_status {
    pub const PASSED: i64 = 0;
    pub const REJECTED: i64 = 1;
    pub const UNDER_REVIEW: i64 = 2;
    pub const WITHDRAWN: i64 = 3;
    pub const DELAYED: i64 = 4;
}

#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    pub auditid: i64,
    pub status: i64,
    pub reason: String,
    pub screenshot: String,
    pub submit_time: i64,
    pub resolves_at: i64,
    pub script: ReviewScript,
    pub commit: Commit,
    pub released: bool,
    pub sped_up: bool,
    pub item_list: Value,
}

impl Audit {
    pub fn pending(&self) -> bool {
        matches!(
            self.status,
            audit_status::UNDER_REVIEW | audit_status::DELAYED
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Release {
    pub app_version: i64,
    pub user_version: String,
    pub user_desc: String,
    pub commit_time: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrayPlan {
    pub status: i64,
    pub create_timestamp: i64,
    pub gray_percentage: i64,
    pub support_experiencer_first: bool,
    pub support_debuger_first: bool,
}

pub const DOMAIN_KINDS: [&str; 6] = [
    "requestdomain",
    "wsrequestdomain",
    "uploaddomain",
    "downloaddomain",
    "udpdomain",
    "tcpdomain",
];

/// The code-management state of one mini program.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CodeState {
    pub domains: BTreeMap<String, Vec<String>>,
    pub webview_domains: Vec<String>,
    pub testers: Vec<Tester>,
    pub commit: Option<Commit>,
    pub audits: Vec<Audit>,
    pub releases: Vec<Release>,
    /// Index into `releases` of the version online.
    pub online: Option<usize>,
    pub rolled_back: bool,
    pub gray: Option<GrayPlan>,
    pub visit_closed: bool,
    pub undo_times: Vec<i64>,
    /// Outcomes scripted through /sim/reviews, used before the configured one.
    pub scripted_reviews: VecDeque<ReviewScript>,
    /// The privacy guideline, the committed code's privacy scan, interface applications.
    pub privacy: crate::privacy::MpPrivacy,
}

impl CodeState {
    pub fn latest_audit(&self) -> Option<&Audit> {
        self.audits.last()
    }

    pub fn latest_audit_mut(&mut self) -> Option<&mut Audit> {
        self.audits.last_mut()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LibraryTemplate {
    pub template: Template,
    pub create_time: i64,
}

/// One push and how its delivery went.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: u64,
    pub url: String,
    /// InfoType or Event.
    pub kind: String,
    pub appid: Option<String>,
    pub attempts: u32,
    pub delivered: bool,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

/// What a fault does to the next calls of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Errcode {
        errcode: i64,
        errmsg: Option<String>,
    },
    HttpStatus {
        status: u16,
    },
    DelayMs {
        ms: u64,
    },
    Drop,
}

#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub kind: FaultKind,
    pub remaining: u32,
}

pub struct SimState {
    /// The configuration; its `mini_programs` grow only through [`SimState::add_mini_program`],
    /// which keeps the appid index.
    pub config: SimConfig,
    /// appid → index in `config.mini_programs`: a lookup per API call stays O(1) with thousands
    /// of mini programs.
    mini_program_index: HashMap<String, usize>,
    pub clock: Clock,
    /// Tickets pushed, value → CreateTime.
    pub tickets: HashMap<String, i64>,
    pub tokens: HashMap<String, IssuedToken>,
    pub pre_auth_codes: HashMap<String, PreAuthCode>,
    pub auth_codes: HashMap<String, AuthCode>,
    pub authorizations: BTreeMap<String, Authorization>,
    pub code: HashMap<String, CodeState>,
    pub library: Vec<LibraryTemplate>,
    pub next_template_id: i64,
    pub next_auditid: i64,
    pub submits_used: i64,
    pub speedups_used: i64,
    pub calls: BTreeMap<String, u64>,
    pub faults: HashMap<String, VecDeque<Fault>>,
    pub deliveries: Vec<Delivery>,
    pub sped_up: HashSet<i64>,
    /// Fast-registration tasks ("快速注册企业小程序" (fastregisterweapp)).
    pub registrations: crate::register::Registrations,
    /// Quotas, authorizer options, js_codes and the platform's own domains.
    pub platform: crate::platform::PlatformState,
    /// The go-live check's users and the customer-service messages received.
    pub go_live: crate::golive::GoLiveState,
    /// Reviews to end, by due time: (resolves_at, auditid, appid). The resolver takes only the
    /// due ones, whatever the number of mini programs.
    pub due_reviews: BTreeSet<(i64, i64, String)>,
    /// Privacy-interface applications to end, by due time: (resolves_at, appid).
    pub due_applications: BTreeSet<(i64, String)>,
    /// Review outcomes by fraction (`/sim/reviews` without an appid), if scripted.
    pub review_rule: Option<crate::review_rule::ReviewRule>,
    /// The subscribe messages the business calls sent.
    pub business: crate::business::BusinessState,
    /// Basic information, categories and ICP filing of new mini programs.
    pub onboard: crate::onboard::OnboardState,
}

/// What an owner's authorization gives: the InfoType to push, the authorization code, its expiry.
#[derive(Debug, Clone)]
pub struct Grant {
    pub info_type: &'static str,
    pub auth_code: String,
    pub expires_at: i64,
}

impl SimState {
    pub fn new(config: SimConfig) -> Self {
        let clock = Clock::starting_at(config.clock_start);
        let now = clock.now();
        let library: Vec<LibraryTemplate> = config
            .templates
            .iter()
            .map(|t| LibraryTemplate {
                template: t.clone(),
                create_time: now,
            })
            .collect();
        let next_template_id = library
            .iter()
            .map(|t| t.template.template_id)
            .max()
            .unwrap_or(0)
            + 1;
        let mut mini_program_index = HashMap::new();
        for (i, mp) in config.mini_programs.iter().enumerate() {
            mini_program_index.entry(mp.appid.clone()).or_insert(i);
        }
        Self {
            mini_program_index,
            clock,
            tickets: HashMap::new(),
            tokens: HashMap::new(),
            pre_auth_codes: HashMap::new(),
            auth_codes: HashMap::new(),
            authorizations: BTreeMap::new(),
            code: HashMap::new(),
            library,
            next_template_id,
            next_auditid: 420_000_001,
            submits_used: 0,
            speedups_used: 0,
            calls: BTreeMap::new(),
            faults: HashMap::new(),
            deliveries: Vec::new(),
            sped_up: HashSet::new(),
            registrations: Default::default(),
            platform: crate::platform::PlatformState::default(),
            go_live: Default::default(),
            due_reviews: BTreeSet::new(),
            due_applications: BTreeSet::new(),
            review_rule: None,
            business: Default::default(),
            onboard: Default::default(),
            config,
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn mini_program(&self, appid: &str) -> Option<&MiniProgram> {
        self.mini_program_index
            .get(appid)
            .map(|i| &self.config.mini_programs[*i])
    }

    /// A mini program to change (its name, avatar, categories).
    pub fn mini_program_mut(&mut self, appid: &str) -> Option<&mut MiniProgram> {
        let index = *self.mini_program_index.get(appid)?;
        self.config.mini_programs.get_mut(index)
    }

    /// A new mini program of this WeChat; false (and nothing changed) if its appid exists.
    pub fn add_mini_program(&mut self, mini_program: MiniProgram) -> bool {
        if self.mini_program_index.contains_key(&mini_program.appid) {
            return false;
        }
        self.mini_program_index
            .insert(mini_program.appid.clone(), self.config.mini_programs.len());
        self.config.mini_programs.push(mini_program);
        true
    }

    pub fn issue_token(&mut self, owner: TokenOwner) -> String {
        let prefix = match &owner {
            TokenOwner::Component => "component_token_",
            TokenOwner::Authorizer(_) => "authorizer_token_",
        };
        let token = random_id(prefix);
        let expires_at = self.now() + TOKEN_LIFETIME;
        self.tokens
            .insert(token.clone(), IssuedToken { owner, expires_at });
        token
    }

    /// Checks an access token: missing 41001, unknown 40001, expired 42001.
    pub fn token_owner(&self, token: Option<&str>) -> Result<TokenOwner, WxError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| WxError::new(41001, "access_token missing"))?;
        let issued = self.tokens.get(token).ok_or_else(|| {
            WxError::new(
                40001,
                "invalid credential, access_token is invalid or not latest",
            )
        })?;
        if issued.expires_at <= self.now() {
            return Err(WxError::new(42001, "access_token expired"));
        }
        Ok(issued.owner.clone())
    }

    pub fn require_component_token(&self, token: Option<&str>) -> Result<(), WxError> {
        match self.token_owner(token)? {
            TokenOwner::Component => Ok(()),
            TokenOwner::Authorizer(_) => Err(WxError::new(
                40001,
                "invalid credential, access_token is invalid or not latest",
            )),
        }
    }

    /// The appid behind an authorizer token (a component token is 40001).
    pub fn require_authorizer_token(&self, token: Option<&str>) -> Result<String, WxError> {
        match self.token_owner(token)? {
            TokenOwner::Authorizer(appid) => Ok(appid),
            TokenOwner::Component => Err(WxError::new(
                40001,
                "invalid credential, access_token is invalid or not latest",
            )),
        }
    }

    /// The mini program behind an authorizer token, still authorized, with permission set 18.
    pub fn require_code_management(&self, token: Option<&str>) -> Result<String, WxError> {
        let appid = self.require_authorizer_token(token)?;
        let authorization = self
            .authorizations
            .get(&appid)
            .filter(|a| a.status == AuthorizationStatus::Authorized)
            .ok_or_else(|| WxError::new(61003, "component is not authorized by this account"))?;
        if !authorization.permission_sets.contains(&18) {
            return Err(WxError::new(61007, "api is unauthorized to component"));
        }
        Ok(appid)
    }

    pub fn code_state(&mut self, appid: &str) -> &mut CodeState {
        self.code.entry(appid.to_owned()).or_default()
    }

    /// Expires every token of an owner now.
    pub fn expire_tokens(&mut self, owner: &TokenOwner) -> usize {
        let now = self.now();
        let mut n = 0;
        for issued in self
            .tokens
            .values_mut()
            .filter(|t| &t.owner == owner && t.expires_at > now)
        {
            issued.expires_at = now;
            n += 1;
        }
        n
    }

    /// Forgets every token of an owner now (40001 from then on).
    pub fn forget_tokens(&mut self, owner: &TokenOwner) -> usize {
        let before = self.tokens.len();
        self.tokens.retain(|_, t| &t.owner != owner);
        before - self.tokens.len()
    }

    /// The owner authorizes `appid` with `permission_sets`: a new authorization gets a new refresh
    /// token, changing the permissions of one keeps it; WeChat issues an authorization code.
    pub fn grant(&mut self, appid: &str, permission_sets: Vec<i64>) -> Grant {
        let now = self.now();
        let already = match self.authorizations.get_mut(appid) {
            Some(a) if a.status == AuthorizationStatus::Authorized => {
                a.permission_sets = permission_sets;
                a.auth_time = now;
                true
            }
            _ => {
                self.authorizations.insert(
                    appid.to_owned(),
                    Authorization::new(appid, permission_sets, now),
                );
                false
            }
        };
        let (auth_code, expires_at) = self.issue_auth_code(appid);
        Grant {
            info_type: if already {
                "updateauthorized"
            } else {
                "authorized"
            },
            auth_code,
            expires_at,
        }
    }

    /// A fresh authorization code of `appid` (api_query_auth exchanges it once): it and its expiry.
    pub fn issue_auth_code(&mut self, appid: &str) -> (String, i64) {
        let auth_code = random_id("queryauthcode@@@");
        let expires_at = self.now() + AUTH_CODE_LIFETIME;
        self.auth_codes.insert(
            auth_code.clone(),
            AuthCode {
                appid: appid.to_owned(),
                expires_at,
                used: false,
            },
        );
        (auth_code, expires_at)
    }

    /// Takes the next fault for an endpoint, if one is armed.
    pub fn take_fault(&mut self, endpoint: &str) -> Option<FaultKind> {
        let queue = self.faults.get_mut(endpoint)?;
        let front = queue.front_mut()?;
        let kind = front.kind.clone();
        front.remaining -= 1;
        if front.remaining == 0 {
            queue.pop_front();
        }
        Some(kind)
    }
}
