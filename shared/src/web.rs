//! Answers of the HTTP functions: JSON errors, small HTML pages, content negotiation.
//! (Plain `http` types; the Lambda glue converts the body.)

use http::{header, HeaderMap, Response, StatusCode};
use serde_json::{json, Value};

/// `{"error": code, "message": message}` with `status`.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response<String> {
    json_response(status, &json!({ "error": code, "message": message }))
}

/// A failure's JSON answer. A 4xx carries `detail` (what the caller got wrong). A 5xx never does:
/// internal detail (SDK error chains with hosts, ports and request ids, WeChat URLs) stays in the
/// logs, under a fresh `request_id` that the answer carries instead, with a fixed message.
pub fn json_failure(status: StatusCode, code: &str, detail: &str) -> Response<String> {
    if !status.is_server_error() {
        return json_error(status, code, detail);
    }
    let request_id = new_request_id();
    tracing::error!(%request_id, code, status = status.as_u16(), detail, "request failed; the caller sees the request id only");
    json_response(status, &server_error_body(status, code, &request_id))
}

/// The fixed body of a 5xx: `{"error", "message", "request_id"}`.
pub fn server_error_body(status: StatusCode, code: &str, request_id: &str) -> Value {
    let message = match status {
        StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT => {
            "WeChat could not complete the call; try again later"
        }
        StatusCode::SERVICE_UNAVAILABLE => "temporarily unavailable; try again shortly",
        _ => "internal error",
    };
    json!({
        "error": code,
        "message": format!("{message} (request id {request_id})"),
        "request_id": request_id,
    })
}

/// A random id for one failed request, logged with its detail.
pub fn new_request_id() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 16)
}

pub fn json_response(status: StatusCode, body: &Value) -> Response<String> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .expect("valid static response")
}

/// The one stylesheet of the pages, inline and allowed by its hash in [`CONTENT_SECURITY_POLICY`].
const PAGE_STYLE: &str = "body{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em;line-height:1.5}\
a.button{display:inline-block;padding:.6em 1.2em;margin:.4em 0;background:#07c160;color:#fff;border-radius:4px;text-decoration:none}\
.warning{color:#b45309}";

/// Nothing but the page's own stylesheet (by hash): no script, no frame, no form, no base, no
/// framing by other sites. Links to WeChat's authorization page are navigations, not loads.
static CONTENT_SECURITY_POLICY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use base64::Engine;
    use sha2::Digest;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(PAGE_STYLE));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
});

/// A complete HTML page; `body_html` must already be escaped. Sent with a strict CSP, no
/// sniffing, no referrer (the callback URL carries the authorization code), never cached.
pub fn html_page(status: StatusCode, title: &str, body_html: &str) -> Response<String> {
    let page = format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title>\
         <style>{PAGE_STYLE}</style></head><body>{}</body></html>",
        escape_html(title),
        body_html
    );
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY.as_str(),
        )
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::X_FRAME_OPTIONS, "DENY")
        .body(page)
        .expect("valid static response")
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// True when the client asked for JSON (`Accept: application/json`).
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|part| part.trim().starts_with("application/json"))
        })
}

/// Percent-encodes a query value.
pub fn encode_query_value(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_carry_a_strict_policy_that_allows_their_own_style() {
        use base64::Engine;
        use sha2::Digest;
        let page = html_page(StatusCode::OK, "t", "<p>x</p>");
        let headers = page.headers();
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none';") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline") && !csp.contains("script-src"));
        // The hash in the policy is the hash of the <style> the page actually carries.
        let body = page.body();
        let style = &body[body.find("<style>").unwrap() + 7..body.find("</style>").unwrap()];
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style));
        assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn server_errors_withhold_their_detail() {
        let detail =
            "dispatch failure: io error connecting to http://127.0.0.1:8000 (request id 4F2A)";
        let answer = json_failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            detail,
        );
        let body: Value = serde_json::from_str(answer.body()).unwrap();
        assert_eq!(body["error"], "storage_unavailable");
        let id = body["request_id"].as_str().unwrap();
        assert_eq!(id.len(), 16);
        assert!(body["message"].as_str().unwrap().contains(id));
        assert!(!answer.body().contains("127.0.0.1") && !answer.body().contains("4F2A"));
        // A caller's mistake is explained to the caller.
        let answer = json_failure(
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "auth_type must be 1-6",
        );
        let body: Value = serde_json::from_str(answer.body()).unwrap();
        assert_eq!(body["message"], "auth_type must be 1-6");
        assert!(body.get("request_id").is_none());
    }

    #[test]
    fn escapes_and_negotiates() {
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let mut headers = HeaderMap::new();
        assert!(!wants_json(&headers));
        headers.insert(
            header::ACCEPT,
            "text/html, application/json;q=0.9".parse().unwrap(),
        );
        assert!(wants_json(&headers));
        assert_eq!(
            encode_query_value("https://a.b/c?d=1&e=2"),
            "https%3A%2F%2Fa.b%2Fc%3Fd%3D1%26e%3D2"
        );
    }
}
