//! Authorizers: the mini programs that authorized the platform ("使用授权码获取授权信息", "获取/刷新接口调用令牌", "获取授权方的帐号基本信息").

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;

/// Permission set 18: mini-program code management.
pub const CODE_MANAGEMENT: i64 = 18;

/// Permission sets the platform needs.
pub const REQUIRED_PERMISSION_SETS: &[i64] = &[CODE_MANAGEMENT];

/// An appid as WeChat issues them: `wx` and 16 letters or digits.
pub fn is_appid(value: &str) -> bool {
    value.len() == 18
        && value.starts_with("wx")
        && value[2..].bytes().all(|b| b.is_ascii_alphanumeric())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizerStatus {
    Authorized,
    Unauthorized,
    /// The refresh token was refused (61023): the owner must authorize again.
    ReauthorizationRequired,
}

impl AuthorizerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorized => "authorized",
            Self::Unauthorized => "unauthorized",
            Self::ReauthorizationRequired => "reauthorization_required",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Authorized,
            Self::Unauthorized,
            Self::ReauthorizationRequired,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// What the platform keeps about one authorizer.
#[derive(Debug, Clone)]
pub struct Authorizer {
    pub appid: String,
    pub status: AuthorizerStatus,
    pub access_token: Option<SecretString>,
    pub access_token_expires_at: Option<i64>,
    pub refresh_token: Option<SecretString>,
    /// Incremented by every token write; token writes are conditional on it.
    pub token_version: i64,
    pub permission_sets: Vec<i64>,
    pub nick_name: String,
    pub head_img: String,
    pub user_name: String,
    pub principal_name: String,
    pub service_type: Option<i64>,
    pub verify_type: Option<i64>,
    pub qrcode_url: String,
    /// `MiniProgramInfo` as WeChat returned it (network, categories), JSON text.
    pub mini_program_info: Option<String>,
    pub authorized_at: Option<i64>,
    pub unauthorized_at: Option<i64>,
    /// The time of the newest authorization event applied (push CreateTime, or the callback time).
    pub last_event_time: i64,
    /// The per-mini-program ext settings set by the admin API (a JSON object, text).
    pub ext_settings: Option<String>,
    /// The last code committed through the admin API (template, version, ext_json), JSON text.
    pub last_commit: Option<String>,
    /// One of WeChat's go-live test accounts ([`crate::go_live::TEST_ACCOUNTS`]): stored like any
    /// authorizer (the check exchanges its code and calls with its token), flagged so that code
    /// rollouts leave it out.
    pub test_account: bool,
    /// Until when a refresh holds the item's lease (Unix seconds), if one does or did.
    pub lease_until: Option<i64>,
}

impl Authorizer {
    /// The admin API's view: everything but the tokens.
    pub fn to_admin_json(&self) -> serde_json::Value {
        let parse = |text: &Option<String>| {
            text.as_deref()
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
        };
        serde_json::json!({
            "appid": self.appid,
            "status": self.status.as_str(),
            "nick_name": self.nick_name,
            "head_img": self.head_img,
            "user_name": self.user_name,
            "principal_name": self.principal_name,
            "service_type": self.service_type,
            "verify_type": self.verify_type,
            "qrcode_url": self.qrcode_url,
            "permission_sets": self.permission_sets,
            "missing_permission_sets": self.missing_permission_sets(),
            "has_code_management": self.has_code_management(),
            "has_access_token": self.access_token.is_some(),
            "access_token_expires_at": self.access_token_expires_at,
            "has_refresh_token": self.refresh_token.is_some(),
            "authorized_at": self.authorized_at,
            "unauthorized_at": self.unauthorized_at,
            "mini_program_info": parse(&self.mini_program_info),
            "ext": parse(&self.ext_settings),
            "last_commit": parse(&self.last_commit),
            "test_account": self.test_account,
        })
    }

    pub fn missing_permission_sets(&self) -> Vec<i64> {
        REQUIRED_PERMISSION_SETS
            .iter()
            .copied()
            .filter(|s| !self.permission_sets.contains(s))
            .collect()
    }

    pub fn has_code_management(&self) -> bool {
        self.permission_sets.contains(&CODE_MANAGEMENT)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct FuncScope {
    pub id: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FuncInfo {
    pub funcscope_category: FuncScope,
}

/// `authorization_info` of api_query_auth (tokens present only with API permissions).
#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizationInfo {
    pub authorizer_appid: String,
    #[serde(default)]
    pub authorizer_access_token: Option<SecretString>,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub authorizer_refresh_token: Option<SecretString>,
    #[serde(default)]
    pub func_info: Vec<FuncInfo>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QueryAuthAnswer {
    pub authorization_info: AuthorizationInfo,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TypeInfo {
    pub id: i64,
}

/// `authorizer_info` of api_get_authorizer_info (unknown keys ignored).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizerInfo {
    #[serde(default)]
    pub nick_name: String,
    #[serde(default)]
    pub head_img: String,
    #[serde(default)]
    pub service_type_info: Option<TypeInfo>,
    #[serde(default)]
    pub verify_type_info: Option<TypeInfo>,
    #[serde(default)]
    pub user_name: String,
    #[serde(default)]
    pub principal_name: String,
    #[serde(default)]
    pub qrcode_url: String,
    #[serde(default, rename = "MiniProgramInfo")]
    pub mini_program_info: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizerInfoAnswer {
    pub authorizer_info: AuthorizerInfo,
    /// The authorization as WeChat holds it now: refresh token and permission sets (no access
    /// token).
    #[serde(default)]
    pub authorization_info: Option<AuthorizationInfo>,
}

impl AuthorizationInfo {
    pub fn permission_sets(&self) -> Vec<i64> {
        self.func_info
            .iter()
            .map(|f| f.funcscope_category.id)
            .collect()
    }
}

impl Authorizer {
    /// The record of a fresh authorization: what api_query_auth answered (tokens, permission
    /// sets), stored at once; the account's details are added afterwards.
    /// `event_time` is on WeChat's clock (see `authorization::EventTime`).
    pub fn authorized(auth: AuthorizationInfo, now: i64, event_time: i64) -> Self {
        let permission_sets = auth.permission_sets();
        Self {
            access_token_expires_at: auth
                .expires_in
                .filter(|_| auth.authorizer_access_token.is_some())
                .map(|e| now + e),
            access_token: auth.authorizer_access_token,
            refresh_token: auth.authorizer_refresh_token,
            permission_sets,
            authorized_at: Some(now),
            last_event_time: event_time,
            ..Self::empty(auth.authorizer_appid)
        }
    }

    /// An authorization WeChat lists that was never stored (reconcile): its refresh token, at
    /// WeChat's `auth_time`; tokens, details and permission sets follow.
    pub fn listed(appid: String, refresh_token: SecretString, auth_time: i64) -> Self {
        Self {
            refresh_token: Some(refresh_token),
            authorized_at: Some(auth_time),
            last_event_time: auth_time,
            ..Self::empty(appid)
        }
    }

    fn empty(appid: String) -> Self {
        Self {
            test_account: crate::go_live::is_test_account(&appid),
            appid,
            status: AuthorizerStatus::Authorized,
            access_token: None,
            access_token_expires_at: None,
            refresh_token: None,
            token_version: 0,
            permission_sets: Vec::new(),
            nick_name: String::new(),
            head_img: String::new(),
            user_name: String::new(),
            principal_name: String::new(),
            service_type: None,
            verify_type: None,
            qrcode_url: String::new(),
            mini_program_info: None,
            authorized_at: None,
            unauthorized_at: None,
            last_event_time: 0,
            ext_settings: None,
            last_commit: None,
            lease_until: None,
        }
    }
}
