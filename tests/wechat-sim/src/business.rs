//! The calls a platform's business services make on an authorizer's behalf (through the service
//! gateway): "发送订阅消息" (subscribeMessage.send), "手机号快速验证" (getuserphonenumber),
//! "获取加密scheme码" (generatescheme), "获取加密URLLink" (generate_urllink) and "获取不限制的小程序码"
//! (getwxacodeunlimit, an image). Token: the authorizer access token (41001 / 40001 / 42001;
//! a component token is 40001).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::state::{random_id, SimState};
use crate::wx::{invalid_args, json_body, ok, respond, str_field, WxError, WxResult};
use crate::Sim;

/// A subscribe message WeChat accepted.
#[derive(Debug, Clone, Serialize)]
pub struct SubscribeMessage {
    pub appid: String,
    pub touser: String,
    pub template_id: String,
    pub page: Option<String>,
    pub data: Value,
    pub at: i64,
}

/// What the business calls leave in WeChat's state.
#[derive(Debug, Default)]
pub struct BusinessState {
    pub subscribe_messages: Vec<SubscribeMessage>,
}

/// The `env_version`s a scheme, a URL link or a code can open (default `release`).
const ENV_VERSIONS: &[&str] = &["release", "trial", "develop"];

/// Runs `f` with the JSON body for the mini program behind the authorizer token.
fn with_authorizer(
    sim: &Sim,
    params: &HashMap<String, String>,
    body: &[u8],
    f: impl FnOnce(&mut SimState, &str, Value) -> WxResult,
) -> Response {
    let mut state = sim.state();
    respond((|| {
        let appid =
            state.require_authorizer_token(params.get("access_token").map(String::as_str))?;
        let body = json_body(body)?;
        f(&mut state, &appid, body)
    })())
}

fn env_version(value: Option<&Value>) -> Result<(), WxError> {
    match value.and_then(Value::as_str) {
        None => Ok(()),
        Some(v) if ENV_VERSIONS.contains(&v) => Ok(()),
        Some(_) => Err(invalid_args("env_version")),
    }
}

/// A page of the mini program, when it lists pages (41030 otherwise, as WeChat answers).
fn known_page(state: &SimState, appid: &str, page: &str) -> Result<(), WxError> {
    let pages = state
        .mini_program(appid)
        .map(|mp| mp.pages.clone())
        .unwrap_or_default();
    if pages.is_empty() || pages.iter().any(|p| p == page.trim_start_matches('/')) {
        Ok(())
    } else {
        Err(WxError::new(41030, "invalid page rid"))
    }
}

type BusinessQuery = Query<HashMap<String, String>>;

/// `POST /cgi-bin/message/subscribe/send`: 40003 no `touser`, 40037 no `template_id`, 47003 no
/// `data` object.
pub async fn subscribe_send(
    State(sim): State<Sim>,
    Query(params): BusinessQuery,
    body: Bytes,
) -> Response {
    with_authorizer(&sim, &params, &body, |state, appid, body| {
        let touser =
            str_field(&body, "touser").map_err(|_| WxError::new(40003, "invalid openid"))?;
        let template_id = str_field(&body, "template_id")
            .map_err(|_| WxError::new(40037, "invalid template_id"))?;
        let data = match body.get("data") {
            Some(data @ Value::Object(_)) => data.clone(),
            _ => return Err(WxError::new(47003, "argument invalid! data is empty")),
        };
        if let Some(state_name) = body.get("miniprogram_state").and_then(Value::as_str) {
            if !["developer", "trial", "formal"].contains(&state_name) {
                return Err(invalid_args("miniprogram_state"));
            }
        }
        let message = SubscribeMessage {
            appid: appid.to_owned(),
            touser: touser.to_owned(),
            template_id: template_id.to_owned(),
            page: body.get("page").and_then(Value::as_str).map(str::to_owned),
            data,
            at: state.now(),
        };
        state.business.subscribe_messages.push(message);
        ok(json!({ "msgid": state.business.subscribe_messages.len() }))
    })
}

/// The phone number behind a phone code (stable per code): `138` and eight digits.
pub fn phone_of(code: &str) -> String {
    let digest = Sha1::digest(code.as_bytes());
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 100_000_000;
    format!("138{n:08}")
}

/// `POST /wxa/business/getuserphonenumber {code}`: 40029 no code.
pub async fn get_user_phone_number(
    State(sim): State<Sim>,
    Query(params): BusinessQuery,
    body: Bytes,
) -> Response {
    with_authorizer(&sim, &params, &body, |state, appid, body| {
        let code = str_field(&body, "code").map_err(|_| WxError::new(40029, "invalid code"))?;
        let phone = phone_of(code);
        ok(json!({ "phone_info": {
            "phoneNumber": phone,
            "purePhoneNumber": phone,
            "countryCode": "86",
            "watermark": { "timestamp": state.now(), "appid": appid },
        }}))
    })
}

/// What a scheme or URL link opens (`jump_wxa` of a scheme, the body of a URL link): a known
/// `path`, a valid `env_version`.
fn check_target(state: &SimState, appid: &str, target: &Value) -> Result<(), WxError> {
    env_version(target.get("env_version"))?;
    match target.get("path").and_then(Value::as_str) {
        Some(path) => known_page(state, appid, path),
        None => Ok(()),
    }
}

/// `POST /wxa/generatescheme {jump_wxa{path, query, env_version}, expire_*}`.
pub async fn generate_scheme(
    State(sim): State<Sim>,
    Query(params): BusinessQuery,
    body: Bytes,
) -> Response {
    with_authorizer(&sim, &params, &body, |state, appid, body| {
        check_target(state, appid, body.get("jump_wxa").unwrap_or(&Value::Null))?;
        let t = &random_id("")[..12];
        ok(json!({ "openlink": format!("weixin://dl/business/?t={t}") }))
    })
}

/// `POST /wxa/generate_urllink {path, query, env_version, expire_*}`.
pub async fn generate_urllink(
    State(sim): State<Sim>,
    Query(params): BusinessQuery,
    body: Bytes,
) -> Response {
    with_authorizer(&sim, &params, &body, |state, appid, body| {
        check_target(state, appid, &body)?;
        let t = &random_id("")[..12];
        ok(json!({ "url_link": format!("https://wxaurl.cn/{t}") }))
    })
}

/// `POST /wxa/getwxacodeunlimit {scene, page, check_path, env_version, width}`: a PNG of the
/// code's link; errors as JSON (40097 no scene, 40169 a scene over 32 characters, 41030 a page
/// the mini program does not have while `check_path` is true, its default).
pub async fn get_wxacode_unlimit(
    State(sim): State<Sim>,
    Query(params): BusinessQuery,
    body: Bytes,
) -> Response {
    let mut link = None;
    let answer = with_authorizer(&sim, &params, &body, |state, appid, body| {
        let scene = str_field(&body, "scene").map_err(|_| invalid_args("scene"))?;
        if scene.chars().count() > 32 {
            return Err(WxError::new(40169, "invalid length for scene"));
        }
        env_version(body.get("env_version"))?;
        let page = body.get("page").and_then(Value::as_str).unwrap_or("");
        let check_path = body.get("check_path").and_then(Value::as_bool) != Some(false);
        if check_path && !page.is_empty() {
            known_page(state, appid, page)?;
        }
        link = Some(format!(
            "https://mp.weixin.qq.com/a/{appid}?scene={scene}&page={page}"
        ));
        ok(json!({}))
    });
    match link {
        Some(link) => (
            [(header::CONTENT_TYPE, "image/png")],
            crate::code::qr_png(&link),
        )
            .into_response(),
        None => answer,
    }
}

/// `GET /sim/subscribe-messages`: every subscribe message accepted, oldest first.
pub async fn subscribe_messages(State(sim): State<Sim>) -> Json<Value> {
    Json(json!(sim.state().business.subscribe_messages))
}
