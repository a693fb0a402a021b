//! One WeChat endpoint, one type: the request (serde: a POST's JSON body or a GET's query), the
//! answer it decodes to, its path, its method and the token it takes. [`call`] is the one request
//! path every call takes: it adds the right token and, when WeChat refuses the token (40001,
//! 40014, 42001), has the token source replace it and retries once (as wechatpy's
//! `BaseWeChatClient._request` does).

use std::future::Future;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{check_errcode, Binary, WechatClient, WechatError};

/// How the request travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The request is the query string.
    Get,
    /// The request is the JSON body.
    Post,
    /// The request is one file, the multipart/form-data body (the media uploads, e.g.
    /// "uploadprivacyextfile"); nothing else is sent.
    Upload,
}

/// The token an endpoint takes, and the query parameter that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// None: the call carries the component's secret itself (api_component_token,
    /// api_start_push_ticket).
    None,
    /// The component access token as `component_access_token` (the component APIs).
    Component,
    /// The component access token as `access_token` (the template library: "gettemplatelist").
    ComponentAsAccessToken,
    /// An authorizer's access token as `access_token` (the mini program APIs).
    Authorizer,
}

impl TokenKind {
    fn query_name(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Component => Some("component_access_token"),
            Self::ComponentAsAccessToken | Self::Authorizer => Some("access_token"),
        }
    }
}

/// A WeChat endpoint: implement it on the request type.
pub trait Endpoint: Serialize + Sync {
    const PATH: &'static str;
    const METHOD: Method;
    const TOKEN: TokenKind;
    type Answer: Answer;

    /// The file of an [`Method::Upload`] endpoint.
    fn file(&self) -> Option<FilePart<'_>> {
        None
    }

    /// The text fields sent before the file of an [`Method::Upload`] endpoint
    /// ("上传小程序备案媒体材料" (upload_icp_media) takes `type`, `icp_order_field`, …).
    fn form_fields(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// One file of a multipart upload: its form field, its name, its type and its bytes.
#[derive(Debug, Clone, Copy)]
pub struct FilePart<'a> {
    pub field: &'a str,
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

/// A request that is one file ([`Method::Upload`]).
pub trait Upload {
    fn file(&self) -> FilePart<'_>;

    /// Text fields sent before the file (none by default).
    fn fields(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// A multipart/form-data body of one file, and its content type (RFC 7578). A file containing
/// the boundary is refused rather than sent broken (the boundary is random: only a file made to
/// collide would).
fn multipart(
    part: FilePart<'_>,
    fields: &[(&'static str, String)],
) -> Result<(String, Vec<u8>), WechatError> {
    use rand::distr::{Alphanumeric, SampleString};
    let boundary = format!(
        "----wechat-component-{}",
        Alphanumeric.sample_string(&mut rand::rng(), 24)
    );
    if part
        .bytes
        .windows(boundary.len())
        .any(|w| w == boundary.as_bytes())
        || part.file_name.contains(['"', '\r', '\n'])
    {
        return Err(WechatError::Decode(
            "the file cannot be sent as multipart".into(),
        ));
    }
    if fields
        .iter()
        .any(|(_, value)| value.contains(&boundary) || value.contains(['\r', '\n']))
    {
        return Err(WechatError::Decode(
            "a form field cannot be sent as multipart".into(),
        ));
    }
    let mut body: Vec<u8> = fields
        .iter()
        .flat_map(|(name, value)| {
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .into_bytes()
        })
        .collect();
    body.extend(format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
        part.field, part.file_name, part.content_type
    )
    .into_bytes());
    body.extend_from_slice(part.bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Ok((format!("multipart/form-data; boundary={boundary}"), body))
}

/// `endpoint!(Request, Post "/path", Authorizer => Answer)`: the [`Endpoint`] impl of a request
/// (`Upload "/path"` for a request that is one file: it implements [`Upload`]).
macro_rules! endpoint {
    ($request:ty, Upload $path:literal, $token:ident => $answer:ty) => {
        impl $crate::wechat::endpoint::Endpoint for $request {
            const PATH: &'static str = $path;
            const METHOD: $crate::wechat::endpoint::Method =
                $crate::wechat::endpoint::Method::Upload;
            const TOKEN: $crate::wechat::endpoint::TokenKind =
                $crate::wechat::endpoint::TokenKind::$token;
            type Answer = $answer;

            fn file(&self) -> Option<$crate::wechat::endpoint::FilePart<'_>> {
                Some($crate::wechat::endpoint::Upload::file(self))
            }

            fn form_fields(&self) -> Vec<(&'static str, String)> {
                $crate::wechat::endpoint::Upload::fields(self)
            }
        }
    };
    ($request:ty, $method:ident $path:literal, $token:ident => $answer:ty) => {
        impl $crate::wechat::endpoint::Endpoint for $request {
            const PATH: &'static str = $path;
            const METHOD: $crate::wechat::endpoint::Method =
                $crate::wechat::endpoint::Method::$method;
            const TOKEN: $crate::wechat::endpoint::TokenKind =
                $crate::wechat::endpoint::TokenKind::$token;
            type Answer = $answer;
        }
    };
}
pub(crate) use endpoint;

/// What an endpoint answers on success.
pub trait Answer: Sized + Send {
    fn decode(content_type: &str, bytes: &[u8]) -> Result<Self, WechatError>;
}

/// JSON answers: an error iff `errcode` is present and non-zero, else decoded as the type.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WechatError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| WechatError::Decode(e.to_string()))?;
    check_errcode(&value)?;
    serde_json::from_value(value).map_err(|e| WechatError::Decode(e.to_string()))
}

/// Implements [`Answer`] for JSON answer types.
#[macro_export]
macro_rules! json_answers {
    ($($answer:ty),+ $(,)?) => {
        $(impl $crate::wechat::endpoint::Answer for $answer {
            fn decode(_: &str, bytes: &[u8]) -> Result<Self, $crate::wechat::WechatError> {
                $crate::wechat::endpoint::decode_json(bytes)
            }
        })+
    };
}

/// The answer of a call whose only news is success (`{"errcode":0,"errmsg":"ok"}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Done {}

/// An answer handed on as WeChat gave it (the admin API's pass-through reads), without
/// `errcode` / `errmsg`. Nothing of the platform reads into it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Passthrough(pub Map<String, Value>);

impl Passthrough {
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

json_answers!(Done);

impl Answer for Passthrough {
    fn decode(_: &str, bytes: &[u8]) -> Result<Self, WechatError> {
        let mut map: Map<String, Value> = decode_json(bytes)?;
        map.remove("errcode");
        map.remove("errmsg");
        Ok(Self(map))
    }
}

/// An image on success (get_qrcode), errcode JSON otherwise.
impl Answer for Binary {
    fn decode(content_type: &str, bytes: &[u8]) -> Result<Self, WechatError> {
        if content_type.starts_with("image/") && bytes.first() != Some(&b'{') {
            return Ok(Self {
                content_type: content_type.to_owned(),
                bytes: bytes.to_vec(),
            });
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| WechatError::Decode(e.to_string()))?;
        check_errcode(&value)?;
        Err(WechatError::Decode(format!(
            "expected an image, got {content_type}"
        )))
    }
}

impl WechatClient {
    /// Sends `request` with `token` (when the endpoint takes one) and decodes the answer.
    pub async fn call<E: Endpoint>(
        &self,
        token: Option<&SecretString>,
        request: &E,
    ) -> Result<E::Answer, WechatError> {
        let url = self.url(E::PATH);
        let token_pair: Vec<(&str, &str)> = E::TOKEN
            .query_name()
            .zip(token)
            .map(|(name, token)| (name, token.expose_secret()))
            .into_iter()
            .collect();
        let builder = match E::METHOD {
            Method::Get => self.http()?.get(url).query(&token_pair).query(request),
            Method::Post => self.http()?.post(url).query(&token_pair).json(request),
            Method::Upload => {
                let part = request.file().ok_or_else(|| {
                    WechatError::Decode(format!("{} has no file to upload", E::PATH))
                })?;
                let (content_type, body) = multipart(part, &request.form_fields())?;
                self.http()?
                    .post(url)
                    .query(&token_pair)
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body)
            }
        };
        let (content_type, bytes) = super::send_and_read(builder).await?;
        E::Answer::decode(&content_type, &bytes)
    }
}

/// Where the token of a call comes from: the component token service, or one authorizer's tokens.
pub trait TokenSource: Sync {
    type Error: From<WechatError> + Send;
    fn client(&self) -> &WechatClient;
    /// A token to call with now.
    fn token(&self) -> impl Future<Output = Result<SecretString, Self::Error>> + Send;
    /// WeChat refused `token`: make the next [`TokenSource::token`] a fresh one.
    fn refused(&self, token: &SecretString)
        -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Calls `request` with a token from `source`; a refused token is replaced and the call retried
/// once.
pub async fn call<E: Endpoint, T: TokenSource>(
    source: &T,
    request: &E,
) -> Result<E::Answer, T::Error> {
    let token = source.token().await?;
    match source.client().call(Some(&token), request).await {
        Err(e) if e.errcode().is_some_and(|c| c.is_token_invalid()) => {
            tracing::warn!(endpoint = E::PATH, error = %e, "token refused; replacing it and retrying once");
            source.refused(&token).await?;
            let fresh = source.token().await?;
            Ok(source.client().call(Some(&fresh), request).await?)
        }
        other => Ok(other?),
    }
}
