//! The gateway's one error type, answered to the caller as a JSON object
//! (`{"error":{"code","field","message","retryable"}}`) naming the cause. Messages carry appids,
//! paths and reason codes only: never a token, never internal detail (that goes to the log).

use serde_json::{json, Value};
use shared::authorizer::AuthorizerStatus;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The request is not what the gateway takes: `field` names what is wrong.
    #[error("{field}: expected {expected}")]
    BadRequest {
        field: String,
        expected: &'static str,
    },
    #[error(
        "{path} is not on the gateway's allow-list of WeChat paths (WECHAT_CALL_ALLOWED_PREFIXES)"
    )]
    PathNotAllowed { path: String },
    #[error("{appid} is not an authorizer of this platform")]
    UnknownAppid { appid: String },
    #[error("{appid} has revoked its authorization of this platform")]
    Unauthorized { appid: String },
    #[error("{appid} must authorize this platform again (WeChat refused its refresh token)")]
    ReauthorizationRequired { appid: String },
    /// No usable token now (a refresh failed, no ticket yet, WeChat's quota); worth retrying.
    #[error("no token available now: {reason}")]
    TokenUnavailable { reason: String },
    /// WeChat did not answer the call (timeout, connection, 5xx); worth retrying.
    #[error("WeChat did not answer: {reason}")]
    WechatUnavailable { reason: String },
    /// Our side failed (DynamoDB); the detail is in the log.
    #[error("the gateway could not complete the request")]
    Internal,
}

impl GatewayError {
    pub fn bad(field: impl Into<String>, expected: &'static str) -> Self {
        Self::BadRequest {
            field: field.into(),
            expected,
        }
    }

    /// The authorizer `appid` as stored (None: not stored) cannot get a token.
    pub fn not_authorized(appid: &str, status: Option<AuthorizerStatus>) -> Self {
        let appid = appid.to_owned();
        match status {
            None => Self::UnknownAppid { appid },
            Some(AuthorizerStatus::Unauthorized) => Self::Unauthorized { appid },
            Some(AuthorizerStatus::ReauthorizationRequired) => {
                Self::ReauthorizationRequired { appid }
            }
            // Authorized again between the refusal and the look: the caller may retry.
            Some(AuthorizerStatus::Authorized) => Self::TokenUnavailable {
                reason: format!("{appid} changed its authorization meanwhile"),
            },
        }
    }

    /// The stable name of the cause, for callers to branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "bad_request",
            Self::PathNotAllowed { .. } => "path_not_allowed",
            Self::UnknownAppid { .. } => "unknown_appid",
            Self::Unauthorized { .. } => "unauthorized",
            Self::ReauthorizationRequired { .. } => "reauthorization_required",
            Self::TokenUnavailable { .. } => "token_unavailable",
            Self::WechatUnavailable { .. } => "wechat_unavailable",
            Self::Internal => "internal",
        }
    }

    /// The request field at fault, if one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::BadRequest { field, .. } => Some(field),
            Self::PathNotAllowed { .. } => Some("path"),
            Self::UnknownAppid { .. }
            | Self::Unauthorized { .. }
            | Self::ReauthorizationRequired { .. } => Some("appid"),
            Self::TokenUnavailable { .. } | Self::WechatUnavailable { .. } | Self::Internal => None,
        }
    }

    /// The same request may succeed later.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::TokenUnavailable { .. } | Self::WechatUnavailable { .. } | Self::Internal
        )
    }

    /// The answer to the caller.
    pub fn to_json(&self) -> Value {
        json!({ "error": {
            "code": self.code(),
            "field": self.field(),
            "message": self.to_string(),
            "retryable": self.retryable(),
        }})
    }
}
