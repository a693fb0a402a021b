//! The simulator's configuration: a TOML or JSON file (by extension), overridable by env.

use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The component (third-party platform) the simulator serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComponentSettings {
    pub appid: String,
    pub appsecret: String,
    pub token: String,
    pub encoding_aes_key: String,
    /// Server domains registered on the platform (modify_domain accepts these and subdomains).
    #[serde(default)]
    pub server_domains: Vec<String>,
    /// Business (web-view) domains registered on the platform.
    #[serde(default)]
    pub webview_domains: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Category {
    pub first_class: String,
    pub second_class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub third_class: Option<String>,
    pub first_id: i64,
    pub second_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub third_id: Option<i64>,
}

/// How a review of this mini program ends, unless scripted otherwise through /sim/reviews.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReviewScript {
    Pass {
        #[serde(default = "default_review_secs")]
        after_secs: i64,
    },
    Reject {
        #[serde(default = "default_review_secs")]
        after_secs: i64,
        reason: String,
        #[serde(default)]
        screenshot: String,
    },
    /// WeChat pushes weapp_audit_delay; the review stays delayed (status 4) unless
    /// `then_pass_after_secs` is given: it then passes that many simulated seconds later.
    Delay {
        #[serde(default = "default_review_secs")]
        after_secs: i64,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        then_pass_after_secs: Option<i64>,
    },
}

impl ReviewScript {
    pub fn after_secs(&self) -> i64 {
        match self {
            Self::Pass { after_secs }
            | Self::Reject { after_secs, .. }
            | Self::Delay { after_secs, .. } => *after_secs,
        }
    }
}

pub(crate) fn default_review_secs() -> i64 {
    5
}

fn default_review() -> ReviewScript {
    ReviewScript::Pass {
        after_secs: default_review_secs(),
    }
}

fn default_permission_sets() -> Vec<i64> {
    vec![
        17, 18, 19, 25, 30, 31, 36, 37, 40, 41, 45, 48, 49, 51, 52, 57, 65, 67, 70, 71, 73, 76, 81,
        84, 85, 86, 88, 93, 99, 102, 104, 105, 116, 117, 118, 119, 120, 121, 129, 130, 138, 144,
    ]
}

fn default_testers_limit() -> usize {
    15
}

/// A mini program that exists in this simulated WeChat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MiniProgram {
    pub appid: String,
    /// The original id, `gh_…`.
    pub original_id: String,
    pub nickname: String,
    #[serde(default)]
    pub principal_name: String,
    #[serde(default)]
    pub head_img: String,
    #[serde(default)]
    pub categories: Vec<Category>,
    /// Pages used when the committed template does not list its own.
    #[serde(default)]
    pub pages: Vec<String>,
    #[serde(default = "default_testers_limit")]
    pub testers_limit: usize,
    /// Permission sets the owner grants by default on the authorization page.
    #[serde(default = "default_permission_sets")]
    pub permission_sets: Vec<i64>,
    #[serde(default = "default_review")]
    pub review: ReviewScript,
}

/// A draft in the platform's draft box (from the developer tools).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Draft {
    pub draft_id: i64,
    pub user_version: String,
    pub user_desc: String,
    #[serde(default)]
    pub pages: Vec<String>,
}

/// A template already in the library at start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Template {
    pub template_id: i64,
    pub user_version: String,
    pub user_desc: String,
    #[serde(default)]
    pub draft_id: Option<i64>,
    #[serde(default)]
    pub pages: Vec<String>,
    #[serde(default)]
    pub template_type: i64,
}

/// What a template's code uses of the user's information ("用户隐私保护指引" (set_privacy_setting),
/// "获取隐私接口检测结果" (get_code_privacy_info)). In a configuration file these keys sit on the
/// `[[templates]]` / `[[drafts]]` entry itself (see [`SimConfig::load`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodePrivacy {
    /// The privacy_keys the code collects (getprivacysetting's `privacy_list`), e.g. `Location`.
    #[serde(default)]
    pub privacy_keys: Vec<String>,
    /// The privacy APIs the code calls, e.g. `wx.getLocation`.
    #[serde(default)]
    pub privacy_apis: Vec<String>,
    /// The APIs the template's own app.json declares in `requiredPrivateInfos` (a commit's
    /// ext_json may declare more).
    #[serde(default)]
    pub required_private_infos: Vec<String>,
}

impl CodePrivacy {
    pub fn is_empty(&self) -> bool {
        self.privacy_keys.is_empty()
            && self.privacy_apis.is_empty()
            && self.required_private_infos.is_empty()
    }
}

/// The privacy a template of the library uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplatePrivacy {
    pub template_id: i64,
    #[serde(flatten)]
    pub uses: CodePrivacy,
}

impl TemplatePrivacy {
    /// Template `template_id` collects `keys` and calls `apis`, declaring none in its app.json.
    pub fn new(template_id: i64, keys: &[&str], apis: &[&str]) -> Self {
        let owned = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
        Self {
            template_id,
            uses: CodePrivacy {
                privacy_keys: owned(keys),
                privacy_apis: owned(apis),
                required_private_infos: Vec::new(),
            },
        }
    }
}

/// The privacy a draft uses (a template added from it inherits it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftPrivacy {
    pub draft_id: i64,
    #[serde(flatten)]
    pub uses: CodePrivacy,
}

fn default_apply_secs() -> i64 {
    5
}

/// The privacy side of the simulated WeChat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacySettings {
    /// How long the privacy scan after a commit runs, in simulated seconds (get_code_privacy_info
    /// and submit_audit answer 61039 meanwhile). 0: done at once.
    #[serde(default)]
    pub scan_secs: i64,
    /// How long an apply_privacy_interface application is under review, in simulated seconds.
    #[serde(default = "default_apply_secs")]
    pub apply_secs: i64,
    /// Interfaces (e.g. `wx.getLocation`) open for every mini program from the start (status 5).
    #[serde(default)]
    pub opened_apis: Vec<String>,
    #[serde(default)]
    pub templates: Vec<TemplatePrivacy>,
    #[serde(default)]
    pub drafts: Vec<DraftPrivacy>,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            scan_secs: 0,
            apply_secs: default_apply_secs(),
            opened_apis: Vec::new(),
            templates: Vec::new(),
            drafts: Vec::new(),
        }
    }
}

impl PrivacySettings {
    /// What template `template_id`'s code uses (nothing unless configured).
    pub fn of_template(&self, template_id: i64) -> CodePrivacy {
        self.templates
            .iter()
            .rev()
            .find(|t| t.template_id == template_id)
            .map(|t| t.uses.clone())
            .unwrap_or_default()
    }

    /// A template made from draft `draft_id` uses what the draft uses.
    pub fn inherit(&mut self, draft_id: i64, template_id: i64) {
        if let Some(draft) = self.drafts.iter().find(|d| d.draft_id == draft_id) {
            let uses = draft.uses.clone();
            self.templates.push(TemplatePrivacy { template_id, uses });
        }
    }
}

/// The privacy keys written on the `[[templates]]` and `[[drafts]]` entries of a file.
#[derive(Deserialize)]
struct PrivacyOfEntries {
    #[serde(default)]
    templates: Vec<TemplatePrivacy>,
    #[serde(default)]
    drafts: Vec<DraftPrivacy>,
}

fn default_ticket_interval() -> u64 {
    600
}
fn default_push_timeout_ms() -> u64 {
    5000
}
fn default_push_retries() -> u32 {
    3
}
fn default_retry_delay_ms() -> u64 {
    1000
}

/// Where and how the simulator pushes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushSettings {
    /// The authorization event URL (tickets, authorized, unauthorized…). None: no pushes.
    #[serde(default)]
    pub authorization_event_url: Option<String>,
    /// The message URL; `$APPID$` is replaced by the mini program's appid.
    #[serde(default)]
    pub message_url: Option<String>,
    /// Seconds between component_verify_ticket pushes (0: only on request).
    #[serde(default = "default_ticket_interval")]
    pub ticket_interval_secs: u64,
    /// A push not answered `success` within this time is retried.
    #[serde(default = "default_push_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_push_retries")]
    pub retries: u32,
    #[serde(default = "default_retry_delay_ms")]
    pub retry_delay_ms: u64,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            authorization_event_url: None,
            message_url: None,
            ticket_interval_secs: default_ticket_interval(),
            timeout_ms: default_push_timeout_ms(),
            retries: default_push_retries(),
            retry_delay_ms: default_retry_delay_ms(),
        }
    }
}

fn default_submit_quota() -> i64 {
    20
}
fn default_speedup_quota() -> i64 {
    2
}
fn default_template_limit() -> usize {
    200
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limits {
    /// Monthly review submissions shared by all mini programs (queryquota).
    #[serde(default = "default_submit_quota")]
    pub submit_quota: i64,
    #[serde(default = "default_speedup_quota")]
    pub speedup_quota: i64,
    #[serde(default = "default_template_limit")]
    pub template_library_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            submit_quota: default_submit_quota(),
            speedup_quota: default_speedup_quota(),
            template_library_size: default_template_limit(),
        }
    }
}

fn default_replaced_refresh_token_secs() -> i64 {
    300
}

/// What api_authorizer_token does with the refresh token it is given ("获取/刷新接口调用令牌" (api_authorizer_token): WeChat
/// normally answers the same one; if it answers a new one, the old one keeps working for about
/// 5 minutes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshTokenSettings {
    /// Every api_authorizer_token call answers a new refresh token (default: the same one).
    #[serde(default)]
    pub rotate: bool,
    /// How long a replaced refresh token is still accepted, in simulated seconds.
    #[serde(default = "default_replaced_refresh_token_secs")]
    pub replaced_valid_secs: i64,
}

impl Default for RefreshTokenSettings {
    fn default() -> Self {
        Self {
            rotate: false,
            replaced_valid_secs: default_replaced_refresh_token_secs(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimConfig {
    pub component: ComponentSettings,
    #[serde(default)]
    pub push: PushSettings,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub refresh_tokens: RefreshTokenSettings,
    /// Unix seconds the simulated clock starts at (default: the real time).
    #[serde(default)]
    pub clock_start: Option<i64>,
    /// Latency added to every WeChat API answer, in milliseconds (`SIM_LATENCY_MS`).
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default)]
    pub mini_programs: Vec<MiniProgram>,
    #[serde(default)]
    pub drafts: Vec<Draft>,
    #[serde(default)]
    pub templates: Vec<Template>,
    /// Fast registration: when the legal person confirms, what the new mini program grants.
    #[serde(default)]
    pub registrations: crate::register::RegistrationSettings,
    #[serde(default)]
    pub privacy: PrivacySettings,
}

/// A configuration file's text as `T`: JSON or TOML.
fn parse<T: serde::de::DeserializeOwned>(json: bool, text: &str) -> Result<T, String> {
    if json {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

impl SimConfig {
    /// A simulator of this component with no mini programs, no pushes and default limits.
    pub fn for_component(
        appid: &str,
        appsecret: &str,
        token: &str,
        encoding_aes_key: &str,
    ) -> Self {
        Self {
            component: ComponentSettings {
                appid: appid.into(),
                appsecret: appsecret.into(),
                token: token.into(),
                encoding_aes_key: encoding_aes_key.into(),
                server_domains: Vec::new(),
                webview_domains: Vec::new(),
            },
            push: PushSettings {
                ticket_interval_secs: 0,
                ..PushSettings::default()
            },
            limits: Limits::default(),
            refresh_tokens: RefreshTokenSettings::default(),
            clock_start: None,
            latency_ms: 0,
            mini_programs: Vec::new(),
            drafts: Vec::new(),
            templates: Vec::new(),
            registrations: Default::default(),
            privacy: PrivacySettings::default(),
        }
    }

    /// Reads a `.toml` or `.json` file, then applies `SIM_*` overrides from `env`.
    pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let parse_error = |message: String| ConfigError::Parse {
            path: path.display().to_string(),
            message,
        };
        let json = path.extension().is_some_and(|e| e == "json");
        let mut config: SimConfig = parse(json, &text).map_err(parse_error)?;
        // `privacy_keys`, `privacy_apis` and `required_private_infos` sit on the template (or
        // draft) entries of the file; they are kept in `privacy`, next to the library.
        let entries: PrivacyOfEntries = parse(json, &text).map_err(parse_error)?;
        let privacy = &mut config.privacy;
        privacy
            .templates
            .extend(entries.templates.into_iter().filter(|t| !t.uses.is_empty()));
        privacy
            .drafts
            .extend(entries.drafts.into_iter().filter(|d| !d.uses.is_empty()));
        config.apply_env(env);
        config.validate()?;
        Ok(config)
    }

    /// `SIM_AUTHORIZATION_EVENT_URL`, `SIM_MESSAGE_URL`, `SIM_TICKET_INTERVAL_SECS` and the
    /// component settings `COMPONENT_APPID`, `COMPONENT_APPSECRET`, `COMPONENT_TOKEN`,
    /// `COMPONENT_ENCODING_AES_KEY` (so the simulator and the functions share one component).
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        let get = |name: &str| env(name).filter(|v| !v.is_empty());
        if let Some(v) = get("SIM_AUTHORIZATION_EVENT_URL") {
            self.push.authorization_event_url = Some(v);
        }
        if let Some(v) = get("SIM_MESSAGE_URL") {
            self.push.message_url = Some(v);
        }
        if let Some(v) = get("SIM_TICKET_INTERVAL_SECS").and_then(|v| v.parse().ok()) {
            self.push.ticket_interval_secs = v;
        }
        if let Some(v) = get("SIM_LATENCY_MS").and_then(|v| v.parse().ok()) {
            self.latency_ms = v;
        }
        for (name, field) in [
            ("COMPONENT_APPID", &mut self.component.appid),
            ("COMPONENT_APPSECRET", &mut self.component.appsecret),
            ("COMPONENT_TOKEN", &mut self.component.token),
            (
                "COMPONENT_ENCODING_AES_KEY",
                &mut self.component.encoding_aes_key,
            ),
        ] {
            if let Some(v) = get(name) {
                *field = v;
            }
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        shared::crypto::AesKey::from_encoding_aes_key(&self.component.encoding_aes_key)
            .map_err(|e| ConfigError::Invalid(format!("component.encoding_aes_key: {e}")))?;
        let mut seen = std::collections::HashSet::new();
        for mp in &self.mini_programs {
            if !seen.insert(&mp.appid) {
                return Err(ConfigError::Invalid(format!(
                    "mini program {} listed twice",
                    mp.appid
                )));
            }
        }
        Ok(())
    }
}
