//! The owner's authorization pages ("授权流程技术说明" (Authorization_Process_Technical_Description)): componentloginpage (PC) and bindcomponent
//! (mobile). The owner picks a mini program and the permission sets and confirms; the browser is
//! redirected to `redirect_uri?auth_code=…&expires_in=600` and the authorized push is sent.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;

use crate::state::AUTH_CODE_LIFETIME;
use crate::Sim;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// WeChat shows its own error page (HTTP 200) for a bad or used pre_auth_code.
fn error_page(message: &str) -> Response {
    Html(format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>授权失败</title></head><body>\
         <h1 class=\"weui-msg__title\">授权失败</h1><p class=\"error\">{}</p></body></html>",
        escape(message)
    ))
    .into_response()
}

/// Checks the page's parameters; returns the pre_auth_code and the redirect_uri.
fn check_request(sim: &Sim, params: &HashMap<String, String>) -> Result<(String, String), String> {
    let state = sim.state();
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    if get("component_appid") != Some(state.config.component.appid.as_str()) {
        return Err("component_appid 参数错误 (unknown component_appid)".into());
    }
    let code = get("pre_auth_code").ok_or("缺少 pre_auth_code (pre_auth_code missing)")?;
    let redirect_uri = get("redirect_uri").ok_or("缺少 redirect_uri (redirect_uri missing)")?;
    if !(redirect_uri.starts_with("https://") || redirect_uri.starts_with("http://")) {
        return Err("redirect_uri 参数错误 (redirect_uri must be an http(s) URL)".into());
    }
    match state.pre_auth_codes.get(code) {
        None => Err("该链接无效，请重新发起授权 (pre_auth_code is invalid)".into()),
        Some(c) if c.used => {
            Err("该链接已被使用，请重新发起授权 (pre_auth_code was already used)".into())
        }
        Some(c) if c.expires_at <= state.now() => {
            Err("该链接已过期，请重新发起授权 (pre_auth_code expired)".into())
        }
        Some(_) => Ok((code.to_owned(), redirect_uri.to_owned())),
    }
}

/// The page listing the mini programs the owner can authorize.
pub async fn login_page(
    State(sim): State<Sim>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let (code, redirect_uri) = match check_request(&sim, &params) {
        Ok(ok) => ok,
        Err(message) => return error_page(&message),
    };
    let auth_type = params
        .get("auth_type")
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or(3);
    let biz_appid = params.get("biz_appid").filter(|b| !b.is_empty());
    let requested_sets: Option<Vec<i64>> = params
        .get("category_id_list")
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split('|')
                .filter_map(|id| id.trim().parse().ok())
                .collect()
        });
    let state = sim.state();
    let candidates: Vec<_> = state
        .config
        .mini_programs
        .iter()
        .filter(|_| auth_type != 1 || biz_appid.is_some())
        .filter(|mp| biz_appid.is_none_or(|b| *b == mp.appid))
        .collect();
    if candidates.is_empty() {
        return error_page("没有可授权的帐号 (no account can be authorized with these parameters)");
    }
    let mut forms = String::new();
    for mp in candidates {
        let sets: Vec<i64> = match &requested_sets {
            Some(requested) => requested
                .iter()
                .copied()
                .filter(|s| mp.permission_sets.contains(s))
                .collect(),
            None => mp.permission_sets.clone(),
        };
        let boxes: String = sets
            .iter()
            .map(|s| format!("<label><input type=\"checkbox\" name=\"permission\" value=\"{s}\" checked> 权限集 {s}</label> "))
            .collect();
        forms.push_str(&format!(
            "<form method=\"post\" action=\"/cgi-bin/componentloginpage/confirm\" class=\"account\">\
             <h2>{nick}</h2><p>{appid} · {principal}</p>\
             <input type=\"hidden\" name=\"pre_auth_code\" value=\"{code}\">\
             <input type=\"hidden\" name=\"redirect_uri\" value=\"{redirect}\">\
             <input type=\"hidden\" name=\"appid\" value=\"{appid}\">\
             <fieldset>{boxes}</fieldset>\
             <button type=\"submit\" id=\"confirm-{appid}\">授权 (authorize)</button></form>",
            nick = escape(&mp.nickname),
            appid = escape(&mp.appid),
            principal = escape(&mp.principal_name),
            code = escape(&code),
            redirect = escape(&redirect_uri),
        ));
    }
    Html(format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>公众平台帐号授权</title></head><body>\
         <h1>选择要授权给第三方平台的小程序</h1>{forms}</body></html>"
    ))
    .into_response()
}

/// The owner's confirmation: the form posts repeated `permission` fields, read from the raw body.
pub async fn confirm(
    State(sim): State<Sim>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut params = HashMap::new();
    params.insert(
        "component_appid".to_owned(),
        sim.state().config.component.appid.clone(),
    );
    params.insert("pre_auth_code".to_owned(), get("pre_auth_code"));
    params.insert("redirect_uri".to_owned(), get("redirect_uri"));
    let (code, redirect_uri) = match check_request(&sim, &params) {
        Ok(ok) => ok,
        Err(message) => return error_page(&message),
    };
    let appid = get("appid");
    let permission_sets: Vec<i64> = fields
        .iter()
        .filter(|(k, _)| k == "permission")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    let grant = {
        let mut state = sim.state();
        if state.mini_program(&appid).is_none() {
            return error_page("帐号不存在 (unknown mini program)");
        }
        if let Some(pre) = state.pre_auth_codes.get_mut(&code) {
            pre.used = true;
        }
        state.grant(&appid, permission_sets)
    };
    let auth_code = grant.auth_code;
    sim.push_authorization_event(
        grant.info_type,
        &appid,
        Some((&auth_code, grant.expires_at)),
    );
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let location =
        format!("{redirect_uri}{separator}auth_code={auth_code}&expires_in={AUTH_CODE_LIFETIME}");
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}
