//! Answers of the HTTP functions: JSON errors, small HTML pages, content negotiation.
//! (Plain `http` types; the Lambda glue converts the body.)

use http::{header, HeaderMap, Response, StatusCode};
use serde_json::{json, Value};

/// `{"error": code, "message": message}` with `status`.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response<String> {
    json_response(status, &json!({ "error": code, "message": message }))
}

pub fn json_response(status: StatusCode, body: &Value) -> Response<String> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .expect("valid static response")
}

/// A complete HTML page; `body_html` must already be escaped.
pub fn html_page(status: StatusCode, title: &str, body_html: &str) -> Response<String> {
    let page = format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title>\
         <style>body{{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em;line-height:1.5}}\
         a.button{{display:inline-block;padding:.6em 1.2em;margin:.4em 0;background:#07c160;color:#fff;border-radius:4px;text-decoration:none}}\
         .warning{{color:#b45309}}</style></head><body>{}</body></html>",
        escape_html(title),
        body_html
    );
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
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
