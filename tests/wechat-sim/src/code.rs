//! Mini-program code management, part 1 ("代码管理": modify_domain … get_page): domains, testers, commit, the
//! trial QR code, categories and pages. Token: the authorizer access token, permission set 18.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::state::{Commit, SimState, Tester, DOMAIN_KINDS};
use crate::wx::{int_field, invalid_args, json_body, ok, respond, str_field, WxError, WxResult};
use crate::Sim;

pub type Params = Query<HashMap<String, String>>;

/// Runs `f` for the mini program behind the request's authorizer token.
pub fn with_mini_program(
    sim: &Sim,
    params: &HashMap<String, String>,
    f: impl FnOnce(&mut SimState, &str) -> WxResult,
) -> Response {
    let mut state = sim.state();
    respond(
        state
            .require_code_management(params.get("access_token").map(String::as_str))
            .and_then(|appid| f(&mut state, &appid)),
    )
}

fn string_list(body: &Value, name: &str) -> Result<Option<Vec<String>>, WxError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid_args(name))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(invalid_args(name)),
    }
}

/// The host of `scheme://host[:port]/…`.
fn host_of(domain: &str) -> &str {
    let rest = domain.split_once("://").map_or(domain, |(_, rest)| rest);
    rest.split(['/', ':']).next().unwrap_or(rest)
}

/// True when `domain`'s host is one of `registered` (hosts or URLs) or a subdomain of one.
fn registered_on_platform(domain: &str, registered: &[String]) -> bool {
    let host = host_of(domain);
    registered
        .iter()
        .map(|r| host_of(r))
        .any(|r| host == r || host.ends_with(&format!(".{r}")))
}

/// Applies add / delete / set to a list; returns whether anything changed.
fn apply(action: &str, current: &mut Vec<String>, given: Vec<String>) -> bool {
    let before = current.clone();
    match action {
        "add" => {
            for d in given {
                if !current.contains(&d) {
                    current.push(d);
                }
            }
        }
        "delete" => current.retain(|d| !given.contains(d)),
        _ => *current = given,
    }
    *current != before
}

pub async fn modify_domain(State(sim): State<Sim>, Query(params): Params, body: Bytes) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let action = str_field(&body, "action")?.to_owned();
        if !matches!(action.as_str(), "add" | "delete" | "set" | "get") {
            return Err(invalid_args("action must be add, delete, set or get"));
        }
        if action != "get" {
            let platform = state.config.component.server_domains.clone();
            let mut changed = false;
            for kind in DOMAIN_KINDS {
                let Some(given) = string_list(&body, kind)? else {
                    continue;
                };
                if given.len() > 200 {
                    return Err(WxError::new(85016, "exceed valid domain count"));
                }
                if let Some(bad) = given
                    .iter()
                    .find(|d| action != "delete" && !registered_on_platform(d, &platform))
                {
                    return Err(WxError::new(
                        85018,
                        format!("domain {bad} is not registered on the third-party platform"),
                    ));
                }
                let list = state
                    .code_state(appid)
                    .domains
                    .entry(kind.to_owned())
                    .or_default();
                changed |= apply(&action, list, given);
            }
            if action == "add" && !changed {
                return Err(WxError::new(85017, "no domain to modify"));
            }
        }
        let domains = &state.code_state(appid).domains;
        let mut out = serde_json::Map::new();
        for kind in DOMAIN_KINDS {
            out.insert(
                kind.to_owned(),
                json!(domains.get(kind).cloned().unwrap_or_default()),
            );
        }
        ok(Value::Object(out))
    })
}

pub async fn set_webview_domain(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let platform = state.config.component.webview_domains.clone();
        let action = body
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if action == "get" {
            return ok(json!({ "webviewdomain": state.code_state(appid).webview_domains }));
        }
        if platform.is_empty() {
            return Err(WxError::new(
                89020,
                "the platform has no business domain configured",
            ));
        }
        let given = match string_list(&body, "webviewdomain")? {
            Some(list) => list,
            None if action.is_empty() => platform.clone(),
            None => return Err(invalid_args("webviewdomain")),
        };
        if given.len() > 100 {
            return Err(WxError::new(89029, "too many business domains"));
        }
        if let Some(bad) = given
            .iter()
            .find(|d| action != "delete" && !registered_on_platform(d, &platform))
        {
            return Err(WxError::new(
                89021,
                format!("{bad} is not a business domain of the platform"),
            ));
        }
        let action = if action.is_empty() {
            "add"
        } else {
            action.as_str()
        };
        if !matches!(action, "add" | "delete" | "set") {
            return Err(invalid_args("action must be add, delete, set or get"));
        }
        if !apply(action, &mut state.code_state(appid).webview_domains, given) {
            return Err(WxError::new(89019, "business domain unchanged"));
        }
        ok(json!({}))
    })
}

fn userstr(appid: &str, wechatid: &str) -> String {
    Sha1::digest(format!("{appid}:{wechatid}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// WeChat ids that exist in this simulated world: 6–20 characters, a letter first.
fn wechat_id_exists(id: &str) -> bool {
    (6..=20).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !id.starts_with("nobody")
}

pub async fn bind_tester(State(sim): State<Sim>, Query(params): Params, body: Bytes) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let wechatid = str_field(&body, "wechatid")?.to_owned();
        if !wechat_id_exists(&wechatid) {
            return Err(WxError::new(
                85001,
                "user not exist or user cannot be searched",
            ));
        }
        let limit = state
            .mini_program(appid)
            .map(|m| m.testers_limit)
            .unwrap_or(15);
        let code = state.code_state(appid);
        if code.testers.iter().any(|t| t.wechatid == wechatid) {
            return Err(WxError::new(85004, "user already bind"));
        }
        if code.testers.len() >= limit {
            return Err(WxError::new(
                85002,
                "number of binding testers reaches limit",
            ));
        }
        let userstr = userstr(appid, &wechatid);
        code.testers.push(Tester {
            wechatid,
            userstr: userstr.clone(),
        });
        ok(json!({ "userstr": userstr }))
    })
}

pub async fn unbind_tester(State(sim): State<Sim>, Query(params): Params, body: Bytes) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let wechatid = body.get("wechatid").and_then(Value::as_str);
        let userstr = body.get("userstr").and_then(Value::as_str);
        if wechatid.is_none() && userstr.is_none() {
            return Err(WxError::new(41002, "wechatid or userstr missing"));
        }
        let code = state.code_state(appid);
        let before = code.testers.len();
        code.testers.retain(|t| {
            Some(t.wechatid.as_str()) != wechatid && Some(t.userstr.as_str()) != userstr
        });
        if code.testers.len() == before {
            return Err(WxError::new(85001, "user not exist or is not a tester"));
        }
        ok(json!({}))
    })
}

pub async fn memberauth(State(sim): State<Sim>, Query(params): Params, body: Bytes) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        if str_field(&body, "action")? != "get_experiencer" {
            return Err(invalid_args("action must be get_experiencer"));
        }
        let members: Vec<Value> = state
            .code_state(appid)
            .testers
            .iter()
            .map(|t| json!({ "userstr": t.userstr }))
            .collect();
        ok(json!({ "members": members }))
    })
}

/// `template_type` of a standard template (1) in the template library.
const STANDARD_TEMPLATE: i64 = 1;
/// The only ext_json keys a standard template accepts (the commit page).
const STANDARD_EXT_JSON_KEYS: [&str; 3] = ["extAppid", "ext", "window"];

/// What the committed template reads with `wx.getExtConfigSync`: the `ext` object, only when the
/// ext_json is enabled (`extEnable: true`; a standard template has no such key) and addressed to
/// this mini program (`extAppid`); otherwise the template sees nothing.
fn ext_config(ext_json: &Value, appid: &str, standard: bool) -> Option<Value> {
    let enabled = standard || ext_json.get("extEnable") == Some(&Value::Bool(true));
    let addressed = ext_json.get("extAppid").and_then(Value::as_str) == Some(appid);
    (enabled && addressed).then(|| ext_json.get("ext").cloned().unwrap_or_else(|| json!({})))
}

pub async fn commit(State(sim): State<Sim>, Query(params): Params, body: Bytes) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let template_id = match body.get("template_id") {
            Some(Value::String(_)) => {
                return Err(WxError::new(85014, "template_id must be a number"))
            }
            _ => int_field(&body, "template_id")?,
        };
        let ext_json = match body.get("ext_json") {
            None | Some(Value::Null) => json!({}),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(parsed @ Value::Object(_)) => parsed,
                _ => return Err(WxError::new(85048, "ext_json parse failed")),
            },
            Some(_) => {
                return Err(WxError::new(
                    47001,
                    "data format error: ext_json must be a string",
                ))
            }
        };
        let user_version = str_field(&body, "user_version")?.to_owned();
        if user_version.chars().count() > 64 {
            return Err(invalid_args("user_version longer than 64"));
        }
        let user_desc = body
            .get("user_desc")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let template = state
            .library
            .iter()
            .find(|t| t.template.template_id == template_id)
            .map(|t| t.template.clone())
            .ok_or_else(|| WxError::new(85014, "template not exist"))?;
        let pages = if template.pages.is_empty() {
            state
                .mini_program(appid)
                .map(|m| m.pages.clone())
                .unwrap_or_default()
        } else {
            template.pages.clone()
        };
        if pages.is_empty() {
            return Err(WxError::new(85047, "pages are empty"));
        }
        let standard = template.template_type == STANDARD_TEMPLATE;
        if standard
            && ext_json.as_object().is_some_and(|keys| {
                keys.keys()
                    .any(|k| !STANDARD_EXT_JSON_KEYS.contains(&k.as_str()))
            })
        {
            // The commit page: a standard template's ext_json has only extAppid, ext and window
            // ("标准模板extjson错误"; the page gives no errcode: 85013, invalid ext config, assumed).
            return Err(WxError::new(85013, "标准模板extjson错误"));
        }
        let ext_config = ext_config(&ext_json, appid, standard);
        let commit_time = state.now();
        // The privacy scan of this code starts ("获取隐私接口检测结果" (get_code_privacy_info)).
        let uses = state.config.privacy.of_template(template_id);
        let scan_secs = state.config.privacy.scan_secs;
        state.code_state(appid).privacy.on_commit(
            template_id,
            uses,
            &ext_json,
            commit_time,
            scan_secs,
        );
        state.code_state(appid).commit = Some(Commit {
            template_id,
            user_version,
            user_desc,
            ext_json,
            ext_config,
            pages,
            commit_time,
        });
        ok(json!({}))
    })
}

/// A real PNG: the QR code of the trial version's link, 4 px a module, quiet zone of 4.
pub(crate) fn qr_png(content: &str) -> Vec<u8> {
    let code = qrcode::QrCode::new(content.as_bytes()).expect("short content fits a QR code");
    let modules = code.width();
    let colors = code.to_colors();
    let (scale, quiet) = (4usize, 4usize);
    let size = (modules + 2 * quiet) * scale;
    let mut pixels = vec![255u8; size * size];
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (mx, my) = (i % modules + quiet, i / modules + quiet);
            for y in my * scale..(my + 1) * scale {
                pixels[y * size + mx * scale..y * size + (mx + 1) * scale].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, size as u32, size as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("in-memory PNG");
    writer.write_image_data(&pixels).expect("in-memory PNG");
    writer.finish().expect("in-memory PNG");
    out
}

pub async fn get_qrcode(State(sim): State<Sim>, Query(params): Params) -> Response {
    let result = {
        let mut state = sim.state();
        state
            .require_code_management(params.get("access_token").map(String::as_str))
            .and_then(|appid| match &state.code_state(&appid).commit {
                Some(_) => Ok(appid),
                None => Err(WxError::new(86001, "no code committed by the third party")),
            })
    };
    match result {
        Ok(appid) => {
            let path = params.get("path").cloned().unwrap_or_default();
            let link = format!("https://open.weixin.qq.com/sns/getexpappinfo?appid={appid}&path={path}#wechat-redirect");
            (
                [
                    (header::CONTENT_TYPE, "image/png"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"QRCode.png\"",
                    ),
                ],
                qr_png(&link),
            )
                .into_response()
        }
        // WeChat answers errors of this endpoint as JSON with a text/plain content type.
        Err(e) => (
            [(header::CONTENT_TYPE, "text/plain")],
            json!({ "errcode": e.errcode, "errmsg": e.errmsg }).to_string(),
        )
            .into_response(),
    }
}

pub async fn get_category(State(sim): State<Sim>, Query(params): Params) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let categories = state
            .mini_program(appid)
            .map(|m| m.categories.clone())
            .unwrap_or_default();
        ok(json!({ "category_list": categories }))
    })
}

pub async fn get_page(State(sim): State<Sim>, Query(params): Params) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        match &state.code_state(appid).commit {
            Some(commit) => ok(json!({ "page_list": commit.pages })),
            None => Err(WxError::new(86001, "no code committed by the third party")),
        }
    })
}
