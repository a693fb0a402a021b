//! What the admin API's test files share: the `ops` token and one call of the handler.

#![allow(dead_code)]

use code_admin::auth::token_hash;
use code_admin::{AdminTokens, CodeAdmin};
use devstack::apigw::{body_text, request};
use lambda_http::http::{HeaderMap, StatusCode};
use serde_json::Value;
use shared::store::ActionLog;

/// 256 bits, as `admin-token` prints them; labelled `ops` by [`ops_tokens`].
pub const ADMIN: &str = "Rg7Zb1sKk2mB0v9yXcH4tR7wLpE3nUaJ6fG5dS1oQiT";

pub fn ops_tokens() -> AdminTokens {
    AdminTokens::parse(&format!("ops:{}", token_hash(ADMIN))).unwrap()
}

/// An answer: its status, its JSON (or its text as a JSON string) and its headers.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

/// `method path` with the JSON `body` (none for `Value::Null`), as [`ADMIN`].
pub async fn call<L: ActionLog + Sync>(
    admin: &CodeAdmin<L>,
    method: &str,
    path: &str,
    body: Value,
) -> Answer {
    call_with(admin, method, path, &[], body).await
}

/// [`call`] with a query.
pub async fn call_with<L: ActionLog + Sync>(
    admin: &CodeAdmin<L>,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Value,
) -> Answer {
    let auth = format!("Bearer {ADMIN}");
    let headers = [
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
    ];
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let response = code_admin::handle(admin, request(method, path, query, &headers, &body))
        .await
        .unwrap();
    let text = body_text(&response);
    Answer {
        status: response.status(),
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers: response.headers().clone(),
    }
}
