//! `GET /auth/start`: the page from which a mini program's owner authorizes the platform.
//!
//! WeChat refuses programmatic redirects to its authorization pages: the owner must click a link
//! on a page of the platform's own domain. This answers that page, with the PC link
//! (componentloginpage, a QR code to scan) and the mobile link (bindcomponent), or both URLs as
//! JSON for `Accept: application/json`. `redirect_uri` comes from configuration
//! (`AUTH_CALLBACK_URL`), never from the request, plus a signed `state` that the callback requires
//! ([`shared::auth_state`]), valid as long as the pre_auth_code.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde_json::json;
use shared::auth_state::StateSigner;
use shared::component::{ComponentError, ComponentService};
use shared::config::ConfigError;
use shared::platform::Platform;
use shared::store::{unix_now, ComponentRecords, DynamoTicketStore};
use shared::web::{
    encode_query_value, escape_html, html_page, json_error, json_failure, json_response, wants_json,
};
use shared::wechat::WechatEndpoints;

/// Accepted `auth_type` values ("授权流程技术说明" (Authorization_Process_Technical_Description): 1 official accounts, 2 mini programs, 3 both; newer
/// kinds 4, 5, 6, 8).
const AUTH_TYPES: &[i64] = &[1, 2, 3, 4, 5, 6, 8];

/// The options of one authorization link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkOptions {
    pub auth_type: i64,
    pub biz_appid: Option<String>,
    pub category_id_list: Option<String>,
}

/// A query parameter the page cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct BadParameter {
    pub field: &'static str,
    pub rule: &'static str,
}

fn is_appid(value: &str) -> bool {
    value.len() == 18
        && value.starts_with("wx")
        && value[2..].bytes().all(|b| b.is_ascii_alphanumeric())
}

impl LinkOptions {
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Self, BadParameter> {
        let auth_type = match get("auth_type").filter(|v| !v.is_empty()) {
            None => 2,
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|t| AUTH_TYPES.contains(t))
                .ok_or(BadParameter {
                    field: "auth_type",
                    rule: "one of 1, 2, 3, 4, 5, 6, 8 (2: mini programs)",
                })?,
        };
        let biz_appid = get("biz_appid").filter(|v| !v.is_empty());
        if biz_appid.as_deref().is_some_and(|a| !is_appid(a)) {
            return Err(BadParameter {
                field: "biz_appid",
                rule: "an appid: wx followed by 16 letters or digits",
            });
        }
        let category_id_list = get("category_id_list").filter(|v| !v.is_empty());
        let valid_list = |l: &str| {
            l.split('|')
                .all(|id| !id.is_empty() && id.len() <= 6 && id.bytes().all(|b| b.is_ascii_digit()))
        };
        if category_id_list.as_deref().is_some_and(|l| !valid_list(l)) {
            return Err(BadParameter {
                field: "category_id_list",
                rule: "permission set ids joined by |, e.g. 17|18",
            });
        }
        Ok(Self {
            auth_type,
            biz_appid,
            category_id_list,
        })
    }
}

/// The two authorization page URLs ("授权流程技术说明" (Authorization_Process_Technical_Description)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationLinks {
    pub pc_url: String,
    pub mobile_url: String,
    pub expires_in: i64,
}

pub fn authorization_links(
    endpoints: &WechatEndpoints,
    component_appid: &str,
    pre_auth_code: &str,
    expires_in: i64,
    redirect_uri: &str,
    options: &LinkOptions,
) -> AuthorizationLinks {
    let mut query = format!(
        "component_appid={}&pre_auth_code={}&redirect_uri={}&auth_type={}",
        encode_query_value(component_appid),
        encode_query_value(pre_auth_code),
        encode_query_value(redirect_uri),
        options.auth_type
    );
    if let Some(biz) = &options.biz_appid {
        query.push_str(&format!("&biz_appid={}", encode_query_value(biz)));
    }
    if let Some(list) = &options.category_id_list {
        query.push_str(&format!("&category_id_list={}", encode_query_value(list)));
    }
    AuthorizationLinks {
        pc_url: format!("{}/cgi-bin/componentloginpage?{query}", endpoints.mp_base),
        mobile_url: format!(
            "{}/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&{query}#wechat_redirect",
            endpoints.open_base
        ),
        expires_in,
    }
}

pub struct AuthStart<S> {
    component: ComponentService<S>,
    endpoints: WechatEndpoints,
    callback_url: String,
    states: StateSigner,
}

impl<S> AuthStart<S> {
    pub fn new(
        component: ComponentService<S>,
        endpoints: WechatEndpoints,
        callback_url: String,
        states: StateSigner,
    ) -> Self {
        Self {
            component,
            endpoints,
            callback_url,
            states,
        }
    }
}

/// The callback URL with a `state` parameter added to its query.
pub fn redirect_uri_with_state(callback_url: &str, state: &str) -> String {
    let separator = if callback_url.contains('?') { '&' } else { '?' };
    format!(
        "{callback_url}{separator}state={}",
        encode_query_value(state)
    )
}

/// `AUTH_CALLBACK_URL`: where WeChat sends the owner back; must be an absolute http(s) URL.
pub fn callback_url(get: impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let url = get("AUTH_CALLBACK_URL")
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing("AUTH_CALLBACK_URL"))?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ConfigError::Invalid {
            name: "AUTH_CALLBACK_URL",
            reason: "must be an absolute http(s) URL".into(),
        });
    }
    Ok(url)
}

impl AuthStart<DynamoTicketStore> {
    pub fn from_platform(platform: &Platform, callback_url: String) -> Self {
        Self::new(
            platform.component_service(),
            platform.wechat.endpoints().clone(),
            callback_url,
            platform.state_signer(),
        )
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let callback = callback_url(|name| std::env::var(name).ok())?;
        Ok(Self::from_platform(&Platform::from_env().await?, callback))
    }
}

fn component_error_status(err: &ComponentError) -> StatusCode {
    match err {
        ComponentError::Wechat(e) if !e.is_transient() => StatusCode::BAD_GATEWAY,
        ComponentError::TicketTooOld { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The Lambda handler.
pub async fn handle<S: ComponentRecords>(
    app: &AuthStart<S>,
    request: Request,
) -> Result<Response<Body>, Error> {
    let json = wants_json(request.headers());
    let params = request.query_string_parameters();
    let options = match LinkOptions::parse(|name| params.first(name).map(str::to_owned)) {
        Ok(options) => options,
        Err(bad) => {
            tracing::warn!(field = bad.field, "auth start refused: bad parameter");
            let response = if json {
                json_error(StatusCode::BAD_REQUEST, "bad_parameter", &bad.to_string())
            } else {
                html_page(
                    StatusCode::BAD_REQUEST,
                    "参数错误",
                    &format!(
                        "<h1>参数错误 / Bad parameter</h1><p>{}</p>",
                        escape_html(&bad.to_string())
                    ),
                )
            };
            return Ok(response.map(Body::from));
        }
    };
    let pre_auth = match app.component.create_preauthcode().await {
        Ok(code) => code,
        Err(err) => {
            let status = component_error_status(&err);
            tracing::error!(error = %err, status = status.as_u16(), "no pre_auth_code");
            let response = if json {
                match &err {
                    // Known states, said as they are; anything else may carry internal detail.
                    ComponentError::NoTicket
                    | ComponentError::TicketTooOld { .. }
                    | ComponentError::RefreshInProgress => {
                        json_error(status, "wechat_unavailable", &err.to_string())
                    }
                    _ => json_failure(status, "wechat_unavailable", &err.to_string()),
                }
            } else {
                html_page(
                    status,
                    "暂时无法授权",
                    "<h1>暂时无法发起授权 / Authorization is unavailable right now</h1><p>Please try again in a minute.</p>",
                )
            };
            return Ok(response.map(Body::from));
        }
    };
    let now = unix_now();
    let state = app.states.issue(now, now + pre_auth.expires_in);
    let links = authorization_links(
        &app.endpoints,
        app.component.appid(),
        &pre_auth.code,
        pre_auth.expires_in,
        &redirect_uri_with_state(&app.callback_url, &state),
        &options,
    );
    tracing::info!(
        auth_type = options.auth_type,
        biz_appid = options.biz_appid.as_deref().unwrap_or("-"),
        "authorization links issued"
    );
    let response = if json {
        json_response(
            StatusCode::OK,
            &json!({ "pc_url": links.pc_url, "mobile_url": links.mobile_url, "expires_in": links.expires_in }),
        )
    } else {
        html_page(
            StatusCode::OK,
            "授权小程序给平台",
            &format!(
                "<h1>授权你的小程序 / Authorize your mini program</h1>\
                 <p>点击下方链接，用小程序管理员的微信扫码或确认授权。链接 {} 分钟内有效，只能使用一次。<br>\
                 Click a link and confirm as the mini program's administrator. It is valid for {} minutes, once.</p>\
                 <p><a class=\"button\" id=\"pc\" href=\"{}\">电脑上授权（扫码） / Authorize on a computer</a></p>\
                 <p><a class=\"button\" id=\"mobile\" href=\"{}\">在手机微信中授权 / Authorize in WeChat on the phone</a></p>",
                links.expires_in / 60,
                links.expires_in / 60,
                escape_html(&links.pc_url),
                escape_html(&links.mobile_url)
            ),
        )
    };
    Ok(response.map(Body::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<LinkOptions, BadParameter> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        LinkOptions::parse(|name| map.get(name).cloned())
    }

    #[test]
    fn options_are_validated() {
        assert_eq!(
            parse(&[]).unwrap(),
            LinkOptions {
                auth_type: 2,
                biz_appid: None,
                category_id_list: None
            }
        );
        assert_eq!(parse(&[("auth_type", "7")]).unwrap_err().field, "auth_type");
        assert_eq!(parse(&[("auth_type", "x")]).unwrap_err().field, "auth_type");
        assert_eq!(
            parse(&[("biz_appid", "wx123")]).unwrap_err().field,
            "biz_appid"
        );
        assert_eq!(
            parse(&[("biz_appid", "wx0123456789abcdef\"")])
                .unwrap_err()
                .field,
            "biz_appid"
        );
        assert_eq!(
            parse(&[("category_id_list", "17|x")]).unwrap_err().field,
            "category_id_list"
        );
        let ok = parse(&[
            ("auth_type", "3"),
            ("biz_appid", "wx0123456789abcdef"),
            ("category_id_list", "17|18"),
        ])
        .unwrap();
        assert_eq!(ok.category_id_list.as_deref(), Some("17|18"));
    }

    #[test]
    fn links_follow_the_reference() {
        let options = LinkOptions {
            auth_type: 2,
            biz_appid: Some("wx0123456789abcdef".into()),
            category_id_list: Some("17|18".into()),
        };
        let links = authorization_links(
            &WechatEndpoints::default(),
            "wxc",
            "preauthcode@@@x",
            1800,
            "https://p.example.com/auth/callback?a=1",
            &options,
        );
        assert_eq!(
            links.pc_url,
            "https://mp.weixin.qq.com/cgi-bin/componentloginpage?component_appid=wxc&pre_auth_code=preauthcode%40%40%40x&redirect_uri=https%3A%2F%2Fp.example.com%2Fauth%2Fcallback%3Fa%3D1&auth_type=2&biz_appid=wx0123456789abcdef&category_id_list=17%7C18"
        );
        assert!(links.mobile_url.starts_with("https://open.weixin.qq.com/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&component_appid=wxc&"));
        assert!(links.mobile_url.ends_with("#wechat_redirect"));
    }

    #[test]
    fn the_state_is_added_to_the_callback_query() {
        assert_eq!(
            redirect_uri_with_state("https://a.b/auth/callback", "s1.9.n.t"),
            "https://a.b/auth/callback?state=s1.9.n.t"
        );
        assert_eq!(
            redirect_uri_with_state("https://a.b/auth/callback?x=1", "s1.9.n.t"),
            "https://a.b/auth/callback?x=1&state=s1.9.n.t"
        );
    }

    #[test]
    fn callback_url_is_required_and_absolute() {
        assert!(matches!(
            callback_url(|_| None),
            Err(ConfigError::Missing("AUTH_CALLBACK_URL"))
        ));
        assert!(callback_url(|_| Some("/auth/callback".into())).is_err());
        assert_eq!(
            callback_url(|_| Some("https://a.b/auth/callback".into())).unwrap(),
            "https://a.b/auth/callback"
        );
    }
}
