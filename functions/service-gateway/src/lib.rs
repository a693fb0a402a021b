//! service-gateway: invoked directly by the platform's internal services (IAM
//! `lambda:InvokeFunction`; no public route). It hands out tokens and calls WeChat on an
//! authorizer's behalf, so that no service reads the authorizers table or races token-refresh:
//!
//! * `{"action":"token","appid"}`: the authorizer access token and its expiry, valid for
//!   `TOKEN_MARGIN_SECS` more, refreshed (if not) by the platform's leased path: one WeChat call
//!   whoever asks at once; a caller arriving during a refresh waits for and reads the new token;
//! * `{"action":"component_token"}`: the component access token and its expiry;
//! * `{"action":"call","appid","method","path","query","body"}`: the WeChat call with the right
//!   token ("小程序登录" (component jscode2session) takes the component token and
//!   `component_appid`; the others the authorizer's), retried once after a leased refresh when
//!   WeChat refuses the token (40001 / 40014 / 42001). Paths are limited to the prefixes of
//!   `WECHAT_CALL_ALLOWED_PREFIXES`.
//!
//! Every request is logged (action, appid, path, errcode, ms, outcome); tokens never are.

pub mod error;
pub mod request;

use std::time::Instant;

use base64::Engine;
use lambda_runtime::Error;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use shared::authorization::AuthorizationService;
use shared::authorizer_token::{AccessToken, TokenError};
use shared::component::ComponentError;
use shared::config::{whole_number, ConfigError};
use shared::platform::Platform;
use shared::store::{
    unix_now, AuthorizationRecords, AuthorizerStore, DynamoAuthorizerStore, DynamoTicketStore,
};
use shared::wechat::raw::{RawAnswer, RawRequest};
use shared::wechat::{TokenSource, WechatError};

pub use error::GatewayError;
pub use request::{parse, CallRequest, Request};

/// The calls of "第三方平台代调用" a platform's business services make (subscribe messages, phone
/// numbers, login, URL schemes and links, mini program codes, customer-service messages): the
/// default of `WECHAT_CALL_ALLOWED_PREFIXES`.
pub const DEFAULT_ALLOWED_PREFIXES: &[&str] = &[
    "/cgi-bin/message/subscribe/send",
    "/wxa/business/getuserphonenumber",
    "/sns/component/jscode2session",
    "/wxa/generatescheme",
    "/wxa/generate_urllink",
    "/wxa/getwxacodeunlimit",
    "/cgi-bin/message/custom/send",
];

/// "小程序登录" (component jscode2session): the component token, as `component_access_token`, and
/// `component_appid`, `appid` and `grant_type` in the query.
const JSCODE2SESSION: &str = "/sns/component/jscode2session";

/// A token used for a call is valid for at least another minute.
const CALL_MARGIN_SECS: i64 = 60;

/// The gateway's settings, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySettings {
    /// `WECHAT_CALL_ALLOWED_PREFIXES`: comma-separated path prefixes (default
    /// [`DEFAULT_ALLOWED_PREFIXES`]).
    pub allowed_prefixes: Vec<String>,
    /// `TOKEN_MARGIN_SECS` (default 300, 60 to 3600): a token the `token` action hands out is
    /// valid for at least this long; one that is not is refreshed first.
    pub token_margin_secs: i64,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            allowed_prefixes: DEFAULT_ALLOWED_PREFIXES
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            token_margin_secs: 300,
        }
    }
}

impl GatewaySettings {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let token_margin_secs = whole_number(&get, "TOKEN_MARGIN_SECS", 300, 60)?;
        // WeChat's tokens live 7200 s: a margin near that would refresh on every request.
        if token_margin_secs > 3600 {
            return Err(ConfigError::Invalid {
                name: "TOKEN_MARGIN_SECS",
                reason: format!("{token_margin_secs} is over 3600"),
            });
        }
        let allowed_prefixes = match get("WECHAT_CALL_ALLOWED_PREFIXES").filter(|v| !v.is_empty()) {
            None => Self::default().allowed_prefixes,
            Some(list) => {
                let prefixes: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect();
                if let Some(bad) = prefixes.iter().find(|p| !p.starts_with('/')) {
                    return Err(ConfigError::Invalid {
                        name: "WECHAT_CALL_ALLOWED_PREFIXES",
                        reason: format!("{bad:?} does not start with /"),
                    });
                }
                prefixes
            }
        };
        Ok(Self {
            allowed_prefixes,
            token_margin_secs,
        })
    }

    pub fn allows(&self, path: &str) -> bool {
        self.allowed_prefixes.iter().any(|p| path.starts_with(p))
    }
}

/// Which token a call takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallToken {
    Authorizer,
    Component,
}

impl CallToken {
    fn of(path: &str) -> Self {
        if path == JSCODE2SESSION {
            Self::Component
        } else {
            Self::Authorizer
        }
    }

    fn query_name(self) -> &'static str {
        match self {
            Self::Authorizer => "access_token",
            Self::Component => "component_access_token",
        }
    }
}

/// What one request did, for its log line.
#[derive(Debug, Default)]
struct Outcome {
    errcode: Option<i64>,
    retried: bool,
}

pub struct Gateway<S, A> {
    service: AuthorizationService<S, A>,
    settings: GatewaySettings,
}

impl Gateway<DynamoTicketStore, DynamoAuthorizerStore> {
    pub fn from_platform(platform: &Platform, settings: GatewaySettings) -> Self {
        Self::new(platform.authorization_service(), settings)
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = GatewaySettings::from_lookup(|name| std::env::var(name).ok())?;
        Ok(Self::from_platform(&Platform::from_env().await?, settings))
    }
}

/// A token and its expiry as answered.
fn token_answer(token: &SecretString, expires_at: i64) -> Value {
    json!({
        "access_token": token.expose_secret(),
        "expires_at": expires_at,
        "expires_in": expires_at - unix_now(),
    })
}

fn wechat_unavailable(err: WechatError) -> GatewayError {
    GatewayError::WechatUnavailable {
        reason: err.to_string(),
    }
}

impl<S, A> Gateway<S, A>
where
    S: AuthorizationRecords,
    A: AuthorizerStore + Sync,
{
    pub fn new(service: AuthorizationService<S, A>, settings: GatewaySettings) -> Self {
        Self { service, settings }
    }

    pub fn settings(&self) -> &GatewaySettings {
        &self.settings
    }

    /// Answers one request: its result, or the error object naming the cause.
    pub async fn answer(&self, event: Value) -> Value {
        let started = Instant::now();
        let request = match parse(event) {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(error = %e, code = e.code(), "request refused");
                return e.to_json();
            }
        };
        let mut outcome = Outcome::default();
        let result = match &request {
            Request::Token { appid } => self.authorizer_token(appid).await,
            Request::ComponentToken => self.component_token().await,
            Request::Call(call) => self.call(call, &mut outcome).await,
        };
        let path = match &request {
            Request::Call(call) => Some(call.path.as_str()),
            _ => None,
        };
        let ms = started.elapsed().as_millis() as u64;
        let (action, appid) = (request.action(), request.appid());
        match result {
            Ok(answer) => {
                tracing::info!(
                    action,
                    appid,
                    path,
                    errcode = outcome.errcode,
                    retried = outcome.retried,
                    ms,
                    "served"
                );
                answer
            }
            Err(e) => {
                tracing::warn!(action, appid, path, errcode = outcome.errcode, retried = outcome.retried, ms, code = e.code(), error = %e, "refused");
                e.to_json()
            }
        }
    }

    async fn authorizer_token(&self, appid: &str) -> Result<Value, GatewayError> {
        let margin = self.settings.token_margin_secs;
        let token = self.leased_token(appid, margin, None).await?;
        Ok(token_answer(&token.token, token.expires_at))
    }

    /// The authorizer's token by the platform's leased path (the shared crate's
    /// `authorizer_token`), its refusals named.
    async fn leased_token(
        &self,
        appid: &str,
        margin: i64,
        refused: Option<&SecretString>,
    ) -> Result<AccessToken, GatewayError> {
        // Boxed: the lease poll is a deep future.
        let token = Box::pin(self.service.authorizer_token(appid, margin, refused)).await;
        match token {
            Ok(token) => Ok(token),
            Err(e) => Err(self.token_error(appid, e).await),
        }
    }

    async fn component_token(&self) -> Result<Value, GatewayError> {
        let component = self.service.component();
        let (token, expires_at) = component
            .token_with_expiry(component.margin_secs)
            .await
            .map_err(component_error)?;
        Ok(token_answer(&token, expires_at))
    }

    /// The token for a call: the authorizer's (not `refused`), or the component's (a `refused` one
    /// invalidated first, if still the stored one, so that the next is bought under the lease).
    async fn call_token(
        &self,
        kind: CallToken,
        appid: &str,
        refused: Option<&SecretString>,
    ) -> Result<SecretString, GatewayError> {
        match kind {
            CallToken::Authorizer => Ok(self
                .leased_token(appid, CALL_MARGIN_SECS, refused)
                .await?
                .token),
            CallToken::Component => {
                let component = self.service.component();
                if let Some(refused) = refused {
                    component.refused(refused).await.map_err(component_error)?;
                }
                component.token().await.map_err(component_error)
            }
        }
    }

    async fn call(&self, call: &CallRequest, outcome: &mut Outcome) -> Result<Value, GatewayError> {
        if !self.settings.allows(&call.path) {
            return Err(GatewayError::PathNotAllowed {
                path: call.path.clone(),
            });
        }
        let kind = CallToken::of(&call.path);
        let mut query = call.query.clone();
        if kind == CallToken::Component {
            // The component token is the platform's: the mini program must be one of ours.
            self.require_authorized(&call.appid).await?;
            self.component_query(&call.appid, &mut query)?;
        }
        let raw = RawRequest {
            method: call.method,
            path: &call.path,
            query: &query,
            body: call.body.as_ref(),
        };
        let client = self.service.component().client();
        let token = self.call_token(kind, &call.appid, None).await?;
        let mut answer = client
            .call_raw(&raw, kind.query_name(), &token)
            .await
            .map_err(wechat_unavailable)?;
        if answer.token_refused() {
            tracing::warn!(
                appid = call.appid,
                path = call.path,
                errcode = answer.errcode(),
                "token refused; refreshing it and retrying once"
            );
            outcome.retried = true;
            let fresh = self.call_token(kind, &call.appid, Some(&token)).await?;
            answer = client
                .call_raw(&raw, kind.query_name(), &fresh)
                .await
                .map_err(wechat_unavailable)?;
        }
        outcome.errcode = answer.errcode();
        Ok(match answer {
            RawAnswer::Json(map) => json!({ "kind": "json", "body": map }),
            RawAnswer::Binary(binary) => json!({
                "kind": "binary",
                "content_type": binary.content_type,
                "body_base64": base64::engine::general_purpose::STANDARD.encode(&binary.bytes),
            }),
        })
    }

    /// jscode2session's query: `appid` (the request's), `grant_type` and `component_appid`.
    fn component_query(
        &self,
        appid: &str,
        query: &mut Vec<(String, String)>,
    ) -> Result<(), GatewayError> {
        let component_appid = self.service.component().appid();
        for (name, expected) in [("appid", appid), ("component_appid", component_appid)] {
            match query.iter().find(|(n, _)| n == name) {
                Some((_, value)) if value != expected => {
                    return Err(GatewayError::bad(
                        format!("query.{name}"),
                        "absent, or the request's appid / the platform's component appid",
                    ))
                }
                Some(_) => {}
                None => query.push((name.to_owned(), expected.to_owned())),
            }
        }
        if !query.iter().any(|(n, _)| n == "grant_type") {
            query.push(("grant_type".into(), "authorization_code".into()));
        }
        Ok(())
    }

    /// The authorizer is stored and authorized.
    async fn require_authorized(&self, appid: &str) -> Result<(), GatewayError> {
        let stored = self.service.authorizers().authorizer(appid).await;
        let status = stored.map_err(internal)?.map(|a| a.status);
        match status {
            Some(shared::authorizer::AuthorizerStatus::Authorized) => Ok(()),
            other => Err(GatewayError::not_authorized(appid, other)),
        }
    }

    /// A token refusal as the caller's error: a not-authorized one names why, from the item.
    async fn token_error(&self, appid: &str, err: TokenError) -> GatewayError {
        match err {
            TokenError::NotAuthorized(_) => {
                match self.service.authorizers().authorizer(appid).await {
                    Ok(stored) => GatewayError::not_authorized(appid, stored.map(|a| a.status)),
                    Err(e) => internal(e),
                }
            }
            TokenError::QuotaExhausted => GatewayError::TokenUnavailable {
                reason: "WeChat's daily quota of api_authorizer_token is used up (45009)".into(),
            },
            TokenError::RefreshFailed { reason, .. } => GatewayError::TokenUnavailable {
                reason: format!("the refresh of {appid}'s token failed ({reason})"),
            },
            TokenError::Store(e) => internal(e),
        }
    }
}

fn internal(err: impl std::fmt::Display) -> GatewayError {
    tracing::error!(error = %err, "storage failed");
    GatewayError::Internal
}

fn component_error(err: ComponentError) -> GatewayError {
    match err {
        ComponentError::Store(e) => internal(e),
        other => GatewayError::TokenUnavailable {
            reason: format!("component token: {other}"),
        },
    }
}

/// The Lambda handler: always an answer (the result, or the error object); a function error
/// means the invocation itself failed.
pub async fn handle<S, A>(gateway: &Gateway<S, A>, event: Value) -> Result<Value, Error>
where
    S: AuthorizationRecords,
    A: AuthorizerStore + Sync,
{
    Ok(gateway.answer(event).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<GatewaySettings, ConfigError> {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        GatewaySettings::from_lookup(shared::config::map_lookup(&map))
    }

    #[test]
    fn the_allow_list_and_margin_come_from_the_environment() {
        let default = settings(&[]).unwrap();
        assert_eq!(default, GatewaySettings::default());
        assert!(default.allows("/wxa/getwxacodeunlimit"));
        assert!(!default.allows("/wxa/commit"));
        let custom = settings(&[
            (
                "WECHAT_CALL_ALLOWED_PREFIXES",
                " /wxa/get_category , /cgi-bin/openapi/",
            ),
            ("TOKEN_MARGIN_SECS", "900"),
        ])
        .unwrap();
        assert_eq!(
            custom.allowed_prefixes,
            vec!["/wxa/get_category", "/cgi-bin/openapi/"]
        );
        assert!(custom.allows("/cgi-bin/openapi/quota/get"));
        assert!(!custom.allows("/wxa/generate_urllink"));
        assert_eq!(custom.token_margin_secs, 900);
        for bad in [
            ("WECHAT_CALL_ALLOWED_PREFIXES", "wxa/x"),
            ("TOKEN_MARGIN_SECS", "30"),
            ("TOKEN_MARGIN_SECS", "7200"),
        ] {
            assert!(settings(&[bad]).is_err(), "{bad:?}");
        }
    }
}
