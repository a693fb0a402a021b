//! The admin API's errors, mapped once to HTTP status and a JSON body.

use std::borrow::Cow;

use lambda_http::http::StatusCode;
use serde_json::{json, Value};
use shared::authorizer_token::TokenError;
use shared::code_release::CodeError;
use shared::component::ComponentError;
use shared::store::StoreError;
use shared::wechat::{Errcode, WechatError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("missing or invalid admin token")]
    Unauthorized,
    #[error("admin tokens carry at least 128 bits of randomness: 22 or more base64url characters (32 hex digits); make one with the admin-token command")]
    TokenTooWeak,
    #[error("request body over {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("no route {method} {path}")]
    NotFound { method: String, path: String },
    /// A mini program of a new rollout is in another that has not ended.
    #[error("{appid} is in rollout {rollout_id}, which has not ended")]
    RolloutConflict { appid: String, rollout_id: String },
    #[error("{field}: {rule}")]
    Invalid {
        field: Cow<'static, str>,
        rule: String,
    },
    /// Not authorized, no permission set 18, or a conflict with the review's state.
    #[error(transparent)]
    Refused(CodeError),
    #[error(transparent)]
    Wechat(#[from] WechatError),
    #[error("WeChat could not be called: {0}")]
    Component(String),
    #[error("storage unavailable: {0}")]
    Store(#[from] StoreError),
    /// EventBridge, Secrets Manager or SQS failed for a webhook: what was done is finished by
    /// sending the call again.
    #[error("webhooks unavailable: {0}")]
    Webhooks(String),
    /// The platform has no bus (`EVENT_BUS_NAME`): webhooks are off.
    #[error("webhooks are not configured on this platform (EVENT_BUS_NAME)")]
    WebhooksOff,
    /// The call's record could not be written before it started: nothing was done.
    #[error("the action log could not be written, so nothing was done: try again later")]
    ActionLog(#[source] StoreError),
}

/// The field an [`AdminError::Invalid`] names (unit tests).
#[cfg(test)]
pub(crate) fn field_of(err: AdminError) -> String {
    match err {
        AdminError::Invalid { field, .. } => field.into_owned(),
        other => panic!("not a validation error: {other}"),
    }
}

pub fn invalid(field: &'static str, rule: impl Into<String>) -> AdminError {
    AdminError::Invalid {
        field: Cow::Borrowed(field),
        rule: rule.into(),
    }
}

impl From<ComponentError> for AdminError {
    fn from(err: ComponentError) -> Self {
        match err {
            ComponentError::Wechat(e) => Self::Wechat(e),
            ComponentError::Store(e) => Self::Store(e),
            other => Self::Component(other.to_string()),
        }
    }
}

impl From<CodeError> for AdminError {
    fn from(err: CodeError) -> Self {
        match err {
            refused @ (CodeError::NotAuthorized(_)
            | CodeError::NoCodeManagement(_)
            | CodeError::TestAccount(_)
            | CodeError::Conflict(_)
            | CodeError::PrivacyScanPending { .. }
            | CodeError::PrivacySettingMissing(_)) => Self::Refused(refused),
            CodeError::Invalid { field, rule } => Self::Invalid {
                field: Cow::Borrowed(field),
                rule,
            },
            CodeError::Wechat(e) => Self::Wechat(e),
            CodeError::Component(e) => e.into(),
            CodeError::Token(e) => e.into(),
            CodeError::Store(e) => Self::Store(e),
            CodeError::Unexpected(what) => Self::Component(what.to_owned()),
        }
    }
}

impl From<TokenError> for AdminError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::NotAuthorized(appid) => Self::not_authorized(appid),
            TokenError::Store(e) => Self::Store(e),
            TokenError::QuotaExhausted => Self::Wechat(WechatError::Api {
                errcode: Errcode::DailyQuotaReached,
                errmsg: String::new(),
            }),
            TokenError::RefreshFailed { appid, reason } => Self::Component(format!(
                "authorizer {appid}: token refresh failed ({reason})"
            )),
        }
    }
}

impl AdminError {
    pub fn not_authorized(appid: impl Into<String>) -> Self {
        Self::Refused(CodeError::NotAuthorized(appid.into()))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized | Self::TokenTooWeak => StatusCode::UNAUTHORIZED,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::RolloutConflict { .. } => StatusCode::CONFLICT,
            Self::Refused(CodeError::NoCodeManagement(_) | CodeError::TestAccount(_)) => {
                StatusCode::FORBIDDEN
            }
            Self::Refused(
                CodeError::Conflict(_)
                | CodeError::PrivacyScanPending { .. }
                | CodeError::PrivacySettingMissing(_),
            ) => StatusCode::CONFLICT,
            Self::Refused(_) => StatusCode::NOT_FOUND,
            Self::Wechat(e) => wechat_status(e),
            Self::Component(_) | Self::Store(_) | Self::ActionLog(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Webhooks(_) | Self::WebhooksOff => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized | Self::TokenTooWeak => "unauthorized",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::NotFound { .. } => "not_found",
            Self::Invalid { .. } => "invalid_request",
            Self::RolloutConflict { .. } => "rollout_conflict",
            Self::Refused(CodeError::NoCodeManagement(_)) => "permission_set_missing",
            Self::Refused(CodeError::TestAccount(_)) => "test_account",
            Self::Refused(CodeError::Conflict(_)) => "conflict",
            Self::Refused(CodeError::PrivacyScanPending { .. }) => "privacy_scan_pending",
            Self::Refused(CodeError::PrivacySettingMissing(_)) => "privacy_setting_missing",
            Self::Refused(_) => "authorizer_not_authorized",
            Self::Wechat(WechatError::Api { .. }) => "wechat_error",
            Self::Wechat(_) | Self::Component(_) => "wechat_unavailable",
            Self::Store(_) => "storage_unavailable",
            Self::ActionLog(_) => "action_log_unavailable",
            Self::Webhooks(_) => "webhooks_unavailable",
            Self::WebhooksOff => "webhooks_not_configured",
        }
    }

    pub fn body(&self) -> Value {
        let status = self.status();
        if status.is_server_error() && !matches!(self, Self::Wechat(WechatError::Api { .. })) {
            // WeChat's own errcode and errmsg are shown (the -1 "system busy" 503); any other
            // internal detail (SDK errors, WeChat URLs) goes to the log under a request id only.
            let request_id = shared::web::new_request_id();
            tracing::error!(%request_id, code = self.code(), status = status.as_u16(), detail = %self, "admin call failed");
            return shared::web::server_error_body(status, self.code(), &request_id);
        }
        let mut body = json!({ "error": self.code(), "message": self.to_string() });
        match self {
            Self::Invalid { field, rule } => {
                body["field"] = json!(field);
                body["rule"] = json!(rule);
            }
            Self::Wechat(WechatError::Api { errcode, errmsg }) => {
                body["errcode"] = json!(errcode.code());
                body["errmsg"] = json!(errmsg);
                body["meaning"] = json!(errcode.meaning());
                if matches!(
                    errcode,
                    Errcode::PermissionSetMissing | Errcode::ApiUnauthorized
                ) {
                    body["missing_permission_set"] = json!(18);
                }
            }
            Self::BodyTooLarge { limit } => body["limit"] = json!(limit),
            Self::RolloutConflict { appid, rollout_id } => {
                body["appid"] = json!(appid);
                body["rollout_id"] = json!(rollout_id);
            }
            Self::Refused(CodeError::PrivacyScanPending { retry_after_secs }) => {
                body["retry_after_secs"] = json!(retry_after_secs);
            }
            Self::Refused(CodeError::PrivacySettingMissing(gap)) => {
                body["missing_keys"] = json!(gap.missing_keys);
                body["without_conf_list"] = json!(gap.without_conf_list);
                body["without_auth_list"] = json!(gap.without_auth_list);
            }
            _ => {}
        }
        body
    }

    /// When to try again (the `Retry-After` header), for a refusal that passes with time.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Refused(CodeError::PrivacyScanPending { retry_after_secs }) => {
                Some(*retry_after_secs)
            }
            _ => None,
        }
    }

    /// WeChat's errcode, when WeChat refused the call.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::Wechat(WechatError::Api { errcode, .. }) => Some(errcode.code()),
            _ => None,
        }
    }
}

/// WeChat's errcodes mapped once (issue: 85009 → 409, 61007/48001 → 403, 45009 → 429, -1 → 503).
fn wechat_status(err: &WechatError) -> StatusCode {
    match err {
        WechatError::Api { errcode, .. } => match errcode {
            Errcode::AuditPending => StatusCode::CONFLICT,
            // 该主体已有任务执行中 (fastregisterweapp): the enterprise's task is still running.
            Errcode::RegistrationRunning => StatusCode::CONFLICT,
            Errcode::PermissionSetMissing
            | Errcode::ApiUnauthorized
            | Errcode::ComponentNotAuthorized => StatusCode::FORBIDDEN,
            Errcode::DailyQuotaReached | Errcode::TooFrequent => StatusCode::TOO_MANY_REQUESTS,
            Errcode::SystemBusy => StatusCode::SERVICE_UNAVAILABLE,
            Errcode::InvalidCredential
            | Errcode::InvalidAccessToken
            | Errcode::AccessTokenExpired => StatusCode::BAD_GATEWAY,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        },
        WechatError::Http(_) | WechatError::Transport(_) => StatusCode::SERVICE_UNAVAILABLE,
        WechatError::Decode(_) => StatusCode::BAD_GATEWAY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: i64) -> AdminError {
        AdminError::Wechat(WechatError::Api {
            errcode: Errcode::from_code(code),
            errmsg: "x".into(),
        })
    }

    #[test]
    fn errcodes_map_to_statuses_with_their_meaning() {
        assert_eq!(api(85009).status(), StatusCode::CONFLICT);
        assert_eq!(api(61007).status(), StatusCode::FORBIDDEN);
        assert_eq!(api(61007).body()["missing_permission_set"], 18);
        assert_eq!(api(48001).status(), StatusCode::FORBIDDEN);
        assert_eq!(api(45009).status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(api(-1).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api(85014).status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = api(85014).body();
        assert_eq!(
            (body["errcode"].as_i64(), body["meaning"].as_str()),
            (Some(85014), Some("invalid or nonexistent template_id"))
        );
        assert_eq!(
            invalid("user_version", "at most 64 characters").body()["field"],
            "user_version"
        );
    }
}
