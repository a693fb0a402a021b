//! What internal services send, parsed into typed requests; every refusal names its field.
//!
//! ```json
//! {"action":"token","appid":"wx…"}
//! {"action":"component_token"}
//! {"action":"call","appid":"wx…","method":"POST","path":"/wxa/generate_urllink","query":{},"body":{…}}
//! ```

use serde_json::{Map, Value};
use shared::authorizer::is_appid;
use shared::wechat::raw::RawMethod;

use crate::error::GatewayError;

#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Token { appid: String },
    ComponentToken,
    Call(CallRequest),
}

impl Request {
    /// The action's name, as sent (and logged).
    pub fn action(&self) -> &'static str {
        match self {
            Self::Token { .. } => "token",
            Self::ComponentToken => "component_token",
            Self::Call(_) => "call",
        }
    }

    pub fn appid(&self) -> Option<&str> {
        match self {
            Self::Token { appid } => Some(appid),
            Self::ComponentToken => None,
            Self::Call(call) => Some(&call.appid),
        }
    }
}

/// A WeChat call on an authorizer's behalf, checked for shape (the allow-list is the gateway's).
#[derive(Debug, Clone, PartialEq)]
pub struct CallRequest {
    pub appid: String,
    pub method: RawMethod,
    pub path: String,
    /// The query parameters as text, without any token (the gateway adds it).
    pub query: Vec<(String, String)>,
    /// A POST's JSON body (None: `{}` is sent).
    pub body: Option<Value>,
}

/// Query parameters that carry tokens: the gateway adds them, a caller cannot.
const TOKEN_PARAMETERS: &[&str] = &["access_token", "component_access_token"];

/// Parses an invocation's payload.
pub fn parse(event: Value) -> Result<Request, GatewayError> {
    let Value::Object(mut fields) = event else {
        return Err(GatewayError::bad("(request)", "a JSON object"));
    };
    let action = required_str(&mut fields, "action", "token, component_token or call")?;
    let request = match action.as_str() {
        "token" => Request::Token {
            appid: appid(&mut fields)?,
        },
        "component_token" => Request::ComponentToken,
        "call" => Request::Call(call(&mut fields)?),
        _ => {
            return Err(GatewayError::bad(
                "action",
                "token, component_token or call",
            ))
        }
    };
    match fields.keys().next() {
        Some(unknown) => Err(GatewayError::bad(
            unknown.as_str(),
            "no such field for this action",
        )),
        None => Ok(request),
    }
}

fn required_str(
    fields: &mut Map<String, Value>,
    name: &'static str,
    expected: &'static str,
) -> Result<String, GatewayError> {
    match fields.remove(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(GatewayError::bad(name, expected)),
    }
}

fn appid(fields: &mut Map<String, Value>) -> Result<String, GatewayError> {
    let appid = required_str(fields, "appid", "wx followed by 16 letters or digits")?;
    if !is_appid(&appid) {
        return Err(GatewayError::bad(
            "appid",
            "wx followed by 16 letters or digits",
        ));
    }
    Ok(appid)
}

fn call(fields: &mut Map<String, Value>) -> Result<CallRequest, GatewayError> {
    let appid = appid(fields)?;
    let method = match required_str(fields, "method", "GET or POST")?.as_str() {
        "GET" => RawMethod::Get,
        "POST" => RawMethod::Post,
        _ => return Err(GatewayError::bad("method", "GET or POST")),
    };
    let path = required_str(
        fields,
        "path",
        "a WeChat API path such as /wxa/generate_urllink",
    )?;
    if !is_api_path(&path) {
        return Err(GatewayError::bad(
            "path",
            "a WeChat API path: /, then letters, digits, _ - . and /, no query, no ..",
        ));
    }
    let query = match fields.remove("query") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(query)) => query_pairs(query)?,
        Some(_) => return Err(GatewayError::bad("query", "an object of parameters")),
    };
    let body = match fields.remove("body") {
        None | Some(Value::Null) => None,
        Some(_) if method == RawMethod::Get => {
            return Err(GatewayError::bad("body", "no body with GET (use query)"))
        }
        Some(body @ Value::Object(_)) => Some(body),
        Some(_) => return Err(GatewayError::bad("body", "a JSON object")),
    };
    Ok(CallRequest {
        appid,
        method,
        path,
        query,
        body,
    })
}

/// `/segment/segment…` of letters, digits, `_`, `-` and `.`; no empty or dot-only segment.
fn is_api_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    rest.split('/').all(|segment| {
        !segment.is_empty()
            && segment.chars().any(|c| c != '.')
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    })
}

fn query_pairs(query: Map<String, Value>) -> Result<Vec<(String, String)>, GatewayError> {
    query
        .into_iter()
        .map(|(name, value)| {
            if TOKEN_PARAMETERS.contains(&name.as_str()) {
                return Err(GatewayError::bad(
                    format!("query.{name}"),
                    "no token: the gateway adds it",
                ));
            }
            let text = match value {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(GatewayError::bad(
                        format!("query.{name}"),
                        "a string, number or boolean",
                    ))
                }
            };
            Ok((name, text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const APPID: &str = "wxabcdef0123456789";

    fn refused_field(event: Value) -> String {
        match parse(event) {
            Err(GatewayError::BadRequest { field, .. }) => field,
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn the_three_actions_parse() {
        assert_eq!(
            parse(json!({"action":"token","appid":APPID})).unwrap(),
            Request::Token {
                appid: APPID.into()
            }
        );
        assert_eq!(
            parse(json!({"action":"component_token"})).unwrap(),
            Request::ComponentToken
        );
        let call = parse(json!({"action":"call","appid":APPID,"method":"GET",
            "path":"/sns/component/jscode2session","query":{"js_code":"abc","n":3,"b":true}}))
        .unwrap();
        let Request::Call(call) = call else {
            panic!("a call")
        };
        assert_eq!(call.method, RawMethod::Get);
        assert_eq!(
            call.query,
            vec![
                ("b".to_owned(), "true".to_owned()),
                ("js_code".to_owned(), "abc".to_owned()),
                ("n".to_owned(), "3".to_owned())
            ]
        );
    }

    #[test]
    fn each_refusal_names_its_field() {
        let call = |extra: Value| {
            let mut base =
                json!({"action":"call","appid":APPID,"method":"POST","path":"/wxa/generatescheme"});
            for (k, v) in extra.as_object().unwrap() {
                base[k] = v.clone();
            }
            base
        };
        let cases = [
            (json!([1]), "(request)"),
            (json!({}), "action"),
            (json!({"action":"tokens"}), "action"),
            (json!({"action":"token"}), "appid"),
            (json!({"action":"token","appid":"wx123"}), "appid"),
            (json!({"action":"token","appid":APPID,"extra":1}), "extra"),
            (json!({"action":"component_token","appid":APPID}), "appid"),
            (call(json!({"method":"PUT"})), "method"),
            (call(json!({"path":"wxa/x"})), "path"),
            (call(json!({"path":"/wxa/../cgi-bin/x"})), "path"),
            (call(json!({"path":"/wxa//x"})), "path"),
            (call(json!({"path":"/wxa/x?access_token=1"})), "path"),
            (call(json!({"query":[1]})), "query"),
            (
                call(json!({"query":{"access_token":"t"}})),
                "query.access_token",
            ),
            (call(json!({"query":{"x":{"y":1}}})), "query.x"),
            (call(json!({"body":"text"})), "body"),
            (call(json!({"method":"GET","body":{}})), "body"),
        ];
        for (event, field) in cases {
            assert_eq!(refused_field(event.clone()), field, "{event}");
        }
    }
}
