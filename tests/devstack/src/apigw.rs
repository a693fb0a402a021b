//! API Gateway HTTP API (payload 2.0) events for calling the functions' handlers in tests, built
//! from a fixture as Lambda receives them (`lambda_http::request::from_str`).

use serde_json::Value;

/// An event for `method path?query` with `headers` and `body`.
pub fn request(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: &str,
) -> lambda_http::Request {
    let mut json: Value =
        serde_json::from_str(include_str!("../data/apigw-http.json")).expect("fixture");
    let raw: Vec<String> = query
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                shared::web::encode_query_value(k),
                shared::web::encode_query_value(v)
            )
        })
        .collect();
    json["rawPath"] = path.into();
    json["routeKey"] = format!("{method} {path}").into();
    json["requestContext"]["http"]["method"] = method.into();
    json["requestContext"]["http"]["path"] = path.into();
    json["requestContext"]["routeKey"] = format!("{method} {path}").into();
    json["rawQueryString"] = raw.join("&").into();
    json["queryStringParameters"] = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    for (name, value) in headers {
        json["headers"][name.to_ascii_lowercase()] = (*value).into();
    }
    json["body"] = body.into();
    lambda_http::request::from_str(&json.to_string()).expect("a valid API Gateway event")
}

/// The authorization event URL's POST, as WeChat sends a push.
pub fn push(query: &[(&str, &str)], body: &str) -> lambda_http::Request {
    xml_post("/wechat/component/notify", query, body)
}

/// The message URL's POST of `appid`, as WeChat sends a push.
pub fn message_push(appid: &str, query: &[(&str, &str)], body: &str) -> lambda_http::Request {
    xml_post(&format!("/wechat/authorizer/{appid}/notify"), query, body)
}

fn xml_post(path: &str, query: &[(&str, &str)], body: &str) -> lambda_http::Request {
    request("POST", path, query, &[("content-type", "text/xml")], body)
}

/// A GET, optionally asking for JSON.
pub fn get(path: &str, query: &[(&str, &str)], json: bool) -> lambda_http::Request {
    let accept = if json {
        "application/json"
    } else {
        "text/html"
    };
    request("GET", path, query, &[("accept", accept)], "")
}

/// The body of a handler's response as text.
pub fn body_text(response: &lambda_http::Response<lambda_http::Body>) -> String {
    String::from_utf8(response.body().to_vec()).expect("UTF-8 body")
}
