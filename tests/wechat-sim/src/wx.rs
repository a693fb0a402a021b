//! WeChat's API conventions: JSON bodies, errors as HTTP 200 `{"errcode","errmsg"}` (wechatpy's "_handle_result"; WeChat's "全局返回码说明").

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// An errcode answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WxError {
    pub errcode: i64,
    pub errmsg: String,
}

impl WxError {
    pub fn new(errcode: i64, errmsg: impl Into<String>) -> Self {
        Self {
            errcode,
            errmsg: errmsg.into(),
        }
    }
}

/// Looks like WeChat's: the message, then a request id.
fn with_rid(errmsg: &str) -> String {
    format!(
        "{errmsg} rid: {:08x}-{:08x}",
        rand::random::<u32>(),
        rand::random::<u32>()
    )
}

impl IntoResponse for WxError {
    fn into_response(self) -> Response {
        (
            StatusCode::OK,
            axum::Json(json!({ "errcode": self.errcode, "errmsg": with_rid(&self.errmsg) })),
        )
            .into_response()
    }
}

pub type WxResult = Result<Response, WxError>;

/// A success body: `errcode: 0, errmsg: "ok"` and the given fields.
pub fn ok(fields: Value) -> WxResult {
    let mut body = Map::new();
    body.insert("errcode".into(), json!(0));
    body.insert("errmsg".into(), json!("ok"));
    if let Value::Object(extra) = fields {
        body.extend(extra);
    }
    Ok(axum::Json(Value::Object(body)).into_response())
}

/// A success body without errcode (api_component_token, api_query_auth, api_authorizer_token…).
pub fn bare(fields: Value) -> WxResult {
    Ok(axum::Json(fields).into_response())
}

/// The JSON body of a POST; empty → 44002, not JSON → 47001.
pub fn json_body(body: &[u8]) -> Result<Value, WxError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(WxError::new(44002, "empty post data"));
    }
    serde_json::from_slice(body).map_err(|_| WxError::new(47001, "data format error"))
}

pub fn str_field<'a>(body: &'a Value, name: &str) -> Result<&'a str, WxError> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| WxError::new(41002, format!("{name} missing")))
}

pub fn int_field(body: &Value, name: &str) -> Result<i64, WxError> {
    match body.get(name) {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| WxError::new(40097, format!("invalid args: {name}"))),
        None | Some(Value::Null) => Err(WxError::new(41002, format!("{name} missing"))),
        Some(_) => Err(WxError::new(
            40097,
            format!("invalid args: {name} must be a number"),
        )),
    }
}

pub fn invalid_args(detail: &str) -> WxError {
    WxError::new(40097, format!("invalid args: {detail}"))
}

/// The response of a handler's result, error or not.
pub fn respond(result: WxResult) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}
