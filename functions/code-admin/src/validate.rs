//! Validation before WeChat is called: each failure names the field and the rule.

use serde_json::{json, Map, Value};

use crate::errors::{invalid, AdminError};

pub fn appid(value: &str) -> Result<&str, AdminError> {
    let ok = value.len() == 18
        && value.starts_with("wx")
        && value[2..].bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(value)
    } else {
        Err(invalid("appid", "wx followed by 16 letters or digits"))
    }
}

pub fn positive_int(value: &str, field: &'static str) -> Result<i64, AdminError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| invalid(field, "a positive integer"))
}

fn int_field(
    body: &Value,
    field: &'static str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, AdminError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .filter(|n| range.contains(n))
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    field,
                    format!("an integer from {} to {}", range.start(), range.end()),
                )
            }),
    }
}

fn required_int(
    body: &Value,
    field: &'static str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, AdminError> {
    int_field(body, field, range.clone())?.ok_or_else(|| {
        invalid(
            field,
            format!(
                "required: an integer from {} to {}",
                range.start(),
                range.end()
            ),
        )
    })
}

fn text_field<'a>(
    body: &'a Value,
    field: &'static str,
    max_chars: usize,
) -> Result<Option<&'a str>, AdminError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max_chars => Ok(Some(s)),
        Some(_) => Err(invalid(
            field,
            format!("a string of at most {max_chars} characters"),
        )),
    }
}

fn string_list<'a>(
    body: &'a Value,
    field: &'static str,
    max: usize,
) -> Result<Option<Vec<&'a str>>, AdminError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if items.len() <= max => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| invalid(field, "a list of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(invalid(field, format!("a list of at most {max} strings"))),
    }
}

fn action<'a>(
    body: &'a Value,
    allowed: &[&str],
    optional: bool,
) -> Result<Option<&'a str>, AdminError> {
    match body.get("action").and_then(Value::as_str) {
        Some(a) if allowed.contains(&a) => Ok(Some(a)),
        None if optional && body.get("action").is_none() => Ok(None),
        _ => Err(invalid("action", format!("one of {}", allowed.join(", ")))),
    }
}

/// `scheme://host[:port]` with nothing after the host.
fn is_domain(value: &str, scheme: &str, port_allowed: bool) -> bool {
    let Some(rest) = value
        .strip_prefix(scheme)
        .and_then(|r| r.strip_prefix("://"))
    else {
        return false;
    };
    let (host, port) = match rest.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host.contains('.')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let port_ok = match port {
        None => true,
        Some(p) => {
            port_allowed && !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
        }
    };
    host_ok && port_ok
}

const DOMAIN_LISTS: [(&str, &str); 6] = [
    ("requestdomain", "https"),
    ("wsrequestdomain", "wss"),
    ("uploaddomain", "https"),
    ("downloaddomain", "https"),
    ("udpdomain", "udp"),
    ("tcpdomain", "tcp"),
];

/// modify_domain's body (reference §5.1).
pub fn domains(body: &Value) -> Result<Value, AdminError> {
    let action = action(body, &["add", "delete", "set", "get"], false)?.unwrap_or("get");
    let mut out = Map::new();
    out.insert("action".into(), json!(action));
    for (field, scheme) in DOMAIN_LISTS {
        if let Some(list) = string_list(body, field, 200)? {
            if let Some(bad) = list.iter().find(|d| !is_domain(d, scheme, true)) {
                return Err(AdminError::Invalid {
                    field: field_name(field),
                    rule: format!("{bad:?} is not a {scheme}:// domain (no IP, no path)"),
                });
            }
            out.insert(field.into(), json!(list));
        }
    }
    if action != "get" && out.len() == 1 {
        return Err(invalid(
            "requestdomain",
            "at least one domain list is needed for add, delete or set",
        ));
    }
    Ok(Value::Object(out))
}

fn field_name(field: &str) -> &'static str {
    DOMAIN_LISTS
        .iter()
        .map(|(f, _)| *f)
        .find(|f| *f == field)
        .unwrap_or("domain")
}

/// setwebviewdomain's body (reference §5.2): https, no port.
pub fn webview_domains(body: &Value) -> Result<Value, AdminError> {
    let action = action(body, &["add", "delete", "set", "get"], true)?;
    let list = string_list(body, "webviewdomain", 100)?;
    if let Some(bad) = list
        .iter()
        .flatten()
        .find(|d| !is_domain(d, "https", false))
    {
        return Err(invalid(
            "webviewdomain",
            format!("{bad:?} is not an https:// domain without port or path"),
        ));
    }
    let mut out = Map::new();
    if let Some(action) = action {
        out.insert("action".into(), json!(action));
    }
    if let Some(list) = list {
        out.insert("webviewdomain".into(), json!(list));
    } else if matches!(action, Some("add" | "delete" | "set")) {
        return Err(invalid("webviewdomain", "required for add, delete or set"));
    }
    Ok(Value::Object(out))
}

pub fn wechatid(body: &Value) -> Result<String, AdminError> {
    match text_field(body, "wechatid", 64)? {
        Some(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        _ => Err(invalid("wechatid", "required: the tester's WeChat id")),
    }
}

/// unbind_tester's body: a WeChat id (6–20 characters) or a userstr (anything longer).
pub fn tester(value: &str) -> Result<Value, AdminError> {
    if value.is_empty()
        || value.len() > 128
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(invalid("tester", "a WeChat id or a userstr"));
    }
    Ok(if value.len() > 20 {
        json!({ "userstr": value })
    } else {
        json!({ "wechatid": value })
    })
}

/// A commit: the WeChat body (ext_json as the string WeChat requires) and the ext merged.
pub fn commit(body: &Value, stored_ext: Option<&Value>) -> Result<(Value, Value), AdminError> {
    let template_id = required_int(body, "template_id", 1..=i64::MAX)?;
    let user_version = match text_field(body, "user_version", 64)? {
        Some(v) if !v.trim().is_empty() => v,
        _ => return Err(invalid("user_version", "required: at most 64 characters")),
    };
    let user_desc = text_field(body, "user_desc", 1024)?.unwrap_or("");
    let mut ext = match stored_ext {
        Some(Value::Object(stored)) => stored.clone(),
        _ => Map::new(),
    };
    match body.get("ext") {
        None | Some(Value::Null) => {}
        Some(Value::Object(given)) => ext.extend(given.clone()),
        Some(_) => {
            return Err(invalid(
                "ext",
                "a JSON object (merged over the stored ext settings)",
            ))
        }
    }
    let ext = Value::Object(ext);
    let wechat = json!({
        "template_id": template_id,
        "ext_json": ext.to_string(),
        "user_version": user_version,
        "user_desc": user_desc,
    });
    Ok((wechat, ext))
}

/// item_list as given (1–5 items; title ≤ 32; ≤ 10 tags of ≤ 20 characters).
pub fn item_list(body: &Value) -> Result<Option<Value>, AdminError> {
    let items = match body.get("item_list") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) if (1..=5).contains(&items.len()) => items,
        Some(_) => return Err(invalid("item_list", "a list of 1 to 5 items")),
    };
    for item in items {
        if !item.is_object() {
            return Err(invalid("item_list", "items are objects"));
        }
        text_field(item, "title", 32).map_err(|_| invalid("title", "at most 32 characters"))?;
        text_field(item, "address", 512).map_err(|_| invalid("address", "a page path"))?;
        if let Some(tag) = text_field(item, "tag", 250).map_err(|_| invalid("tag", "a string"))? {
            let tags: Vec<&str> = tag.split(' ').filter(|t| !t.is_empty()).collect();
            if tags.len() > 10 || tags.iter().any(|t| t.chars().count() > 20) {
                return Err(invalid(
                    "tag",
                    "at most 10 space-separated tags of at most 20 characters",
                ));
            }
        }
        for id in ["first_id", "second_id", "third_id"] {
            if item.get(id).is_some_and(|v| !v.is_i64()) {
                return Err(AdminError::Invalid {
                    field: if id == "first_id" {
                        "first_id"
                    } else if id == "second_id" {
                        "second_id"
                    } else {
                        "third_id"
                    },
                    rule: "an integer".into(),
                });
            }
        }
    }
    Ok(Some(Value::Array(items.clone())))
}

/// The optional fields of submit_audit passed through after checks.
pub fn audit_extras(body: &Value, out: &mut Map<String, Value>) -> Result<(), AdminError> {
    if let Some(desc) = text_field(body, "version_desc", 500)? {
        out.insert("version_desc".into(), json!(desc));
    }
    if let Some(feedback) = text_field(body, "feedback_info", 200)? {
        out.insert("feedback_info".into(), json!(feedback));
    }
    for field in ["preview_info", "ugc_declare"] {
        match body.get(field) {
            None | Some(Value::Null) => {}
            Some(v @ Value::Object(_)) => {
                out.insert(field.into(), v.clone());
            }
            Some(_) => {
                return Err(invalid(
                    if field == "preview_info" {
                        "preview_info"
                    } else {
                        "ugc_declare"
                    },
                    "a JSON object",
                ))
            }
        }
    }
    if let Some(v) = body.get("privacy_api_not_use") {
        out.insert(
            "privacy_api_not_use".into(),
            json!(v
                .as_bool()
                .ok_or_else(|| invalid("privacy_api_not_use", "a boolean"))?),
        );
    }
    Ok(())
}

pub fn gray_release(body: &Value) -> Result<Value, AdminError> {
    let percentage = required_int(body, "gray_percentage", 0..=100)?;
    let flag = |name: &'static str| match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid(name, "a boolean")),
    };
    let (experiencer, debuger) = (
        flag("support_experiencer_first")?,
        flag("support_debuger_first")?,
    );
    if percentage == 0 && !experiencer && !debuger {
        return Err(invalid(
            "gray_percentage",
            "0 needs support_experiencer_first or support_debuger_first",
        ));
    }
    Ok(
        json!({ "gray_percentage": percentage, "support_experiencer_first": experiencer, "support_debuger_first": debuger }),
    )
}

pub fn visit_status(body: &Value) -> Result<Value, AdminError> {
    let action = action(body, &["open", "close"], false)?.unwrap_or("open");
    Ok(json!({ "action": action }))
}

pub fn add_template(body: &Value) -> Result<Value, AdminError> {
    let draft_id = required_int(body, "draft_id", 0..=i64::MAX)?;
    let template_type = int_field(body, "template_type", 0..=1)?.unwrap_or(0);
    Ok(json!({ "draft_id": draft_id, "template_type": template_type }))
}

pub fn app_version(body: &Value) -> Result<Option<i64>, AdminError> {
    int_field(body, "app_version", 1..=i64::MAX)
}

pub fn qrcode_path(path: Option<&str>) -> Result<Option<&str>, AdminError> {
    match path {
        Some(p) if p.len() > 1024 || p.chars().any(char::is_whitespace) => Err(invalid(
            "path",
            "a page path with its query, at most 1024 characters, no spaces",
        )),
        Some("") | None => Ok(None),
        Some(p) => Ok(Some(p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: AdminError) -> &'static str {
        match err {
            AdminError::Invalid { field, .. } => field,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn domains_need_their_scheme_and_no_ip_or_path() {
        let ok = domains(&json!({ "action": "add", "requestdomain": ["https://api.example.com"], "wsrequestdomain": ["wss://ws.example.com:8443"] })).unwrap();
        assert_eq!(ok["requestdomain"][0], "https://api.example.com");
        for (body, field) in [
            (
                json!({ "action": "add", "requestdomain": ["http://api.example.com"] }),
                "requestdomain",
            ),
            (
                json!({ "action": "add", "requestdomain": ["https://1.2.3.4"] }),
                "requestdomain",
            ),
            (
                json!({ "action": "add", "uploaddomain": ["https://a.example.com/path"] }),
                "uploaddomain",
            ),
            (
                json!({ "action": "add", "wsrequestdomain": ["https://a.example.com"] }),
                "wsrequestdomain",
            ),
            (json!({ "action": "move" }), "action"),
            (json!({ "action": "add" }), "requestdomain"),
        ] {
            assert_eq!(field_of(domains(&body).unwrap_err()), field, "{body}");
        }
        assert_eq!(
            field_of(
                webview_domains(
                    &json!({ "action": "add", "webviewdomain": ["https://h5.example.com:8080"] })
                )
                .unwrap_err()
            ),
            "webviewdomain"
        );
    }

    #[test]
    fn commits_merge_ext_and_check_versions() {
        let stored = json!({ "shop": 1, "theme": "red" });
        let (wechat, ext) = commit(
            &json!({ "template_id": 3, "user_version": "1.2.0", "ext": { "theme": "blue" } }),
            Some(&stored),
        )
        .unwrap();
        assert_eq!(ext, json!({ "shop": 1, "theme": "blue" }));
        assert!(wechat["ext_json"].is_string());
        assert_eq!(
            serde_json::from_str::<Value>(wechat["ext_json"].as_str().unwrap()).unwrap(),
            ext
        );
        assert_eq!(
            field_of(
                commit(
                    &json!({ "template_id": 3, "user_version": "v".repeat(65) }),
                    None
                )
                .unwrap_err()
            ),
            "user_version"
        );
        assert_eq!(
            field_of(
                commit(&json!({ "template_id": "3", "user_version": "1" }), None).unwrap_err()
            ),
            "template_id"
        );
        assert_eq!(
            field_of(
                commit(
                    &json!({ "template_id": 3, "user_version": "1", "ext": "x" }),
                    None
                )
                .unwrap_err()
            ),
            "ext"
        );
    }

    #[test]
    fn audits_gray_and_templates_are_checked() {
        assert_eq!(
            field_of(item_list(&json!({ "item_list": [] })).unwrap_err()),
            "item_list"
        );
        assert_eq!(
            field_of(
                item_list(&json!({ "item_list": [{ "title": "t".repeat(33) }] })).unwrap_err()
            ),
            "title"
        );
        assert_eq!(
            field_of(
                item_list(&json!({ "item_list": [{ "tag": "a b c d e f g h i j k" }] }))
                    .unwrap_err()
            ),
            "tag"
        );
        assert!(item_list(&json!({})).unwrap().is_none());
        assert_eq!(
            field_of(gray_release(&json!({ "gray_percentage": 101 })).unwrap_err()),
            "gray_percentage"
        );
        assert_eq!(
            field_of(gray_release(&json!({ "gray_percentage": 0 })).unwrap_err()),
            "gray_percentage"
        );
        assert_eq!(
            field_of(visit_status(&json!({ "action": "pause" })).unwrap_err()),
            "action"
        );
        assert_eq!(
            field_of(add_template(&json!({ "template_type": 2, "draft_id": 1 })).unwrap_err()),
            "template_type"
        );
        assert_eq!(field_of(appid("wx123").unwrap_err()), "appid");
        assert_eq!(
            tester("alice_01").unwrap(),
            json!({ "wechatid": "alice_01" })
        );
        assert_eq!(
            tester(&"a".repeat(40)).unwrap(),
            json!({ "userstr": "a".repeat(40) })
        );
    }
}
