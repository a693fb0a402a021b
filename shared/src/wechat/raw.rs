//! A WeChat call whose path is known only at run time (the service gateway's pass-through for
//! internal services): the method, the path, the query and the JSON body as given, the token
//! added under its query name, and WeChat's answer handed back as it came (JSON, or the bytes of
//! an image such as "获取不限制的小程序码" (getwxacodeunlimit)'s).

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use super::{Binary, WechatClient, WechatError};

/// How a pass-through request travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawMethod {
    Get,
    Post,
}

/// One pass-through request: everything but the token.
#[derive(Debug, Clone)]
pub struct RawRequest<'a> {
    pub method: RawMethod,
    /// Starts with `/` (checked by the caller against its allow-list).
    pub path: &'a str,
    /// Query parameters, as text.
    pub query: &'a [(String, String)],
    /// The JSON body of a POST (WeChat wants at least `{}`: an empty POST is 44002).
    pub body: Option<&'a Value>,
}

/// What WeChat answered: a JSON object (success or errcode), or anything else as bytes.
#[derive(Debug, Clone)]
pub enum RawAnswer {
    Json(Map<String, Value>),
    Binary(Binary),
}

impl RawAnswer {
    /// The errcode of a JSON answer (None: none, or a binary answer).
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::Json(map) => map.get("errcode").and_then(Value::as_i64),
            Self::Binary(_) => None,
        }
    }

    /// WeChat refused the token (40001, 40014, 42001): replace it and retry once.
    pub fn token_refused(&self) -> bool {
        self.errcode()
            .is_some_and(|code| super::Errcode::from_code(code).is_token_invalid())
    }
}

impl WechatClient {
    /// Sends `request` with `token` as the query parameter `token_name`. A 2xx answer is handed
    /// back whatever its errcode (the caller reads it); other statuses and transport failures
    /// are errors.
    pub async fn call_raw(
        &self,
        request: &RawRequest<'_>,
        token_name: &str,
        token: &SecretString,
    ) -> Result<RawAnswer, WechatError> {
        let url = self.url(request.path);
        let token_pair = [(token_name, token.expose_secret())];
        let builder = match request.method {
            RawMethod::Get => self.http()?.get(url),
            RawMethod::Post => self
                .http()?
                .post(url)
                .json(request.body.unwrap_or(&Value::Object(Map::new()))),
        };
        let (content_type, bytes) =
            super::send_and_read(builder.query(&token_pair).query(request.query)).await?;
        // WeChat answers errors of its image endpoints as JSON with any content type (text/plain
        // among them): an answer that parses as a JSON object is JSON, whatever it is labelled.
        if !content_type.starts_with("image/") || bytes.first() == Some(&b'{') {
            if let Ok(map) = serde_json::from_slice::<Map<String, Value>>(&bytes) {
                return Ok(RawAnswer::Json(map));
            }
        }
        Ok(RawAnswer::Binary(Binary {
            content_type,
            bytes,
        }))
    }
}
