//! A typed client of WeChat's HTTP API (reqwest with rustls). Base URLs come from configuration
//! so that the local stack and the tests reach the simulator; the defaults are WeChat's hosts.

pub mod basic_info;
pub mod code;
pub mod component;
pub mod endpoint;
mod errcode;
pub mod icp;
pub mod message;
pub mod privacy;
pub mod raw;
pub mod registration;
pub mod templates;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;

pub use endpoint::{call, Endpoint, TokenSource};
pub use errcode::Errcode;

/// Where WeChat is: the API host and the two authorization page hosts ("授权流程技术说明" (Authorization_Process_Technical_Description)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WechatEndpoints {
    /// `WECHAT_API_BASE`, default `https://api.weixin.qq.com`.
    pub api_base: String,
    /// `WECHAT_MP_BASE` (PC page componentloginpage), default `https://mp.weixin.qq.com`.
    pub mp_base: String,
    /// `WECHAT_OPEN_BASE` (mobile page bindcomponent), default `https://open.weixin.qq.com`.
    pub open_base: String,
}

impl Default for WechatEndpoints {
    fn default() -> Self {
        Self {
            api_base: "https://api.weixin.qq.com".into(),
            mp_base: "https://mp.weixin.qq.com".into(),
            open_base: "https://open.weixin.qq.com".into(),
        }
    }
}

impl WechatEndpoints {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let default = Self::default();
        let pick = |name: &str, fallback: String| {
            get(name)
                .filter(|v| !v.is_empty())
                .map(|v| v.trim_end_matches('/').to_owned())
                .unwrap_or(fallback)
        };
        Self {
            api_base: pick("WECHAT_API_BASE", default.api_base),
            mp_base: pick("WECHAT_MP_BASE", default.mp_base),
            open_base: pick("WECHAT_OPEN_BASE", default.open_base),
        }
    }

    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// Why a WeChat call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WechatError {
    #[error("WeChat answered errcode {} ({}): {errmsg}", .errcode.code(), .errcode.meaning().unwrap_or("see the errcode table"))]
    Api { errcode: Errcode, errmsg: String },
    #[error("WeChat answered HTTP {0}")]
    Http(u16),
    #[error("WeChat could not be reached: {0}")]
    Transport(String),
    #[error("WeChat's answer was not understood: {0}")]
    Decode(String),
}

impl WechatError {
    pub fn errcode(&self) -> Option<Errcode> {
        match self {
            Self::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    /// Worth retrying later: -1, 5xx, timeouts and connection errors.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api { errcode, .. } => *errcode == Errcode::SystemBusy,
            Self::Http(status) => *status >= 500,
            Self::Transport(_) => true,
            Self::Decode(_) => false,
        }
    }
}

/// The HTTP client, shared by every clone. reqwest's client (its TLS configuration: the system's
/// root certificates, read and parsed, most of a function's init time) is built on the first
/// WeChat call rather than at start-up (README, "Init time"), once per process.
#[derive(Debug, Clone)]
pub struct WechatClient {
    http: Arc<OnceLock<Result<reqwest::Client, String>>>,
    timeout: Duration,
    endpoints: WechatEndpoints,
}

/// A binary answer (get_qrcode): the bytes and their content type.
#[derive(Debug, Clone)]
pub struct Binary {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl WechatClient {
    pub fn new(endpoints: WechatEndpoints, timeout: Duration) -> Result<Self, WechatError> {
        Ok(Self {
            http: Arc::default(),
            timeout,
            endpoints,
        })
    }

    /// reqwest's client, built by the first call (concurrent first calls wait for that one). It
    /// verifies certificates against the system's roots (rustls-platform-verifier); a client that
    /// cannot be built (no root certificates) fails every call.
    fn http(&self) -> Result<&reqwest::Client, WechatError> {
        self.http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .timeout(self.timeout)
                    .connect_timeout(self.timeout.min(Duration::from_secs(3)))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| WechatError::Transport(e.clone()))
    }

    pub fn endpoints(&self) -> &WechatEndpoints {
        &self.endpoints
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoints.api_base)
    }
}

fn transport(err: reqwest::Error) -> WechatError {
    WechatError::Transport(err.without_url().to_string())
}

/// Sends a request and reads a 2xx answer: its content type and bytes (other statuses are errors).
async fn send_and_read(builder: reqwest::RequestBuilder) -> Result<(String, Vec<u8>), WechatError> {
    let response = builder.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(WechatError::Http(status));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = response.bytes().await.map_err(transport)?;
    Ok((content_type, bytes.into()))
}

/// Error iff `errcode` is present and non-zero (wechatpy's "_handle_result"; WeChat's "全局返回码说明").
fn check_errcode(value: &Value) -> Result<(), WechatError> {
    match value.get("errcode").and_then(Value::as_i64) {
        None | Some(0) => Ok(()),
        Some(code) => Err(WechatError::Api {
            errcode: Errcode::from_code(code),
            errmsg: value
                .get("errmsg")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        }),
    }
}
