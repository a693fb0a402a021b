//! Validation before WeChat is called: each failure names the field and the rule.

use serde_json::{json, Map, Value};

use serde::Serialize;
use shared::wechat::code::{
    BindTester, ChangeVisitStatus, Commit, Fields, GrayRelease, RevertCodeRelease, SpeedupAudit,
};
use shared::wechat::templates::{AddToTemplate, DeleteTemplate};

use crate::errors::{invalid, AdminError};

/// A state-changing call's validated fields: what the action log records, and all that making
/// the call reads (the raw body goes no further than validation). Serialized as the fields alone.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Validated {
    PutExt { ext: Value },
    Domains(Fields),
    WebviewDomains(Fields),
    AddTester(BindTester),
    RemoveTester(Fields),
    Commit(CommitFields),
    SubmitAudit(SubmitFields),
    SpeedupAudit(SpeedupAudit),
    Revert(RevertCodeRelease),
    StartGrayRelease(GrayRelease),
    VisitStatus(ChangeVisitStatus),
    AddTemplate(AddToTemplate),
    DeleteTemplate(DeleteTemplate),
    UndoAudit {},
    Release {},
    CancelGrayRelease {},
    CreateRegistration(crate::registrations::RegistrationFields),
}

/// A commit's validated fields ([`commit`]).
#[derive(Debug, Clone, Serialize)]
pub struct CommitFields {
    pub template_id: i64,
    pub user_version: String,
    pub user_desc: String,
    pub ext_json: Map<String, Value>,
}

/// submit_audit's validated fields ([`submit_audit`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SubmitFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_list: Option<Value>,
    #[serde(flatten)]
    pub extras: Map<String, Value>,
}

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

/// modify_domain's body ("配置小程序服务器域名" (modify_domain)).
pub fn domains(body: &Value) -> Result<Fields, AdminError> {
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
    Ok(Fields(out))
}

fn field_name(field: &str) -> &'static str {
    DOMAIN_LISTS
        .iter()
        .map(|(f, _)| *f)
        .find(|f| *f == field)
        .unwrap_or("domain")
}

/// setwebviewdomain's body ("配置小程序业务域名" (setwebviewdomain)): https, no port.
pub fn webview_domains(body: &Value) -> Result<Fields, AdminError> {
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
    Ok(Fields(out))
}

pub fn wechatid(body: &Value) -> Result<String, AdminError> {
    match text_field(body, "wechatid", 64)? {
        Some(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        _ => Err(invalid("wechatid", "required: the tester's WeChat id")),
    }
}

/// unbind_tester's body: a WeChat id (6–20 characters) or a userstr (anything longer).
pub fn tester(value: &str) -> Result<Fields, AdminError> {
    if value.is_empty()
        || value.len() > 128
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(invalid("tester", "a WeChat id or a userstr"));
    }
    let key = if value.len() > 20 {
        "userstr"
    } else {
        "wechatid"
    };
    Ok(Fields(Map::from_iter([(key.to_owned(), json!(value))])))
}

/// The largest ext settings object `PUT …/ext` stores, serialized (it lives in the authorizer's
/// item, next to the last commit).
pub const MAX_EXT_SETTINGS_BYTES: usize = 16 * 1024;
/// The largest ext_json a commit sends, serialized (it is kept in the authorizer's last commit and
/// in each audit's snapshot).
pub const MAX_EXT_JSON_BYTES: usize = 32 * 1024;

/// The JSON type an ext.json key takes.
#[derive(Clone, Copy)]
enum Kind {
    Object,
    Strings,
    Bool,
}

impl Kind {
    fn accepts(self, value: &Value) -> bool {
        match self {
            Self::Object => value.is_object(),
            Self::Strings => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string)),
            Self::Bool => value.is_boolean(),
        }
    }

    fn rule(self) -> &'static str {
        match self {
            Self::Object => "a JSON object",
            Self::Strings => "a list of strings",
            Self::Bool => "a boolean",
        }
    }
}

/// The top-level ext.json keys a commit may set besides `extEnable`, `extAppid` and `ext` (which
/// the platform sets), with the field named in errors (WeChat's commit page, "ext_json").
const EXT_JSON_KEYS: [(&str, &str, Kind); 8] = [
    ("extPages", "ext_json.extPages", Kind::Object),
    ("pages", "ext_json.pages", Kind::Strings),
    ("window", "ext_json.window", Kind::Object),
    ("networkTimeout", "ext_json.networkTimeout", Kind::Object),
    ("tabBar", "ext_json.tabBar", Kind::Object),
    ("plugins", "ext_json.plugins", Kind::Object),
    (
        "requiredPrivateInfos",
        "ext_json.requiredPrivateInfos",
        Kind::Strings,
    ),
    ("directCommit", "ext_json.directCommit", Kind::Bool),
];

/// The only ext_json keys a standard template accepts (the commit page: "标准模板extjson错误").
const STANDARD_EXT_JSON_KEYS: [&str; 3] = ["extAppid", "ext", "window"];

fn object<'a>(
    value: Option<&'a Value>,
    field: &'static str,
) -> Result<Option<&'a Map<String, Value>>, AdminError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(invalid(field, "a JSON object")),
    }
}

/// `PUT …/ext`'s ext settings: the template's `ext` object, size-capped.
pub fn ext_settings(body: &Value) -> Result<Value, AdminError> {
    let ext =
        object(body.get("ext"), "ext")?.ok_or_else(|| invalid("ext", "required: a JSON object"))?;
    let ext = Value::Object(ext.clone());
    if ext.to_string().len() > MAX_EXT_SETTINGS_BYTES {
        return Err(invalid(
            "ext",
            format!("at most {MAX_EXT_SETTINGS_BYTES} bytes as JSON"),
        ));
    }
    Ok(ext)
}

/// A commit's validated fields: `template_id`, `user_version`, `user_desc` and the `ext_json`
/// object built for the path's mini program: `extEnable: true`, `extAppid: appid`, `ext` (the
/// stored ext settings, overlaid by `ext_json.ext`, then by `ext`) and the other allowed keys of
/// the request's `ext_json`. A foreign `extAppid` or an unknown key is refused.
pub fn commit(
    body: &Value,
    appid: &str,
    stored_ext: Option<&Value>,
) -> Result<CommitFields, AdminError> {
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
    let mut ext_json = Map::new();
    for (key, value) in object(body.get("ext_json"), "ext_json")?
        .into_iter()
        .flatten()
    {
        match key.as_str() {
            "extEnable" if value == &Value::Bool(true) => {}
            "extEnable" => {
                return Err(invalid(
                    "ext_json.extEnable",
                    "true or absent (the platform always enables ext.json)",
                ))
            }
            "extAppid" if value.as_str() == Some(appid) => {}
            "extAppid" => {
                return Err(invalid(
                    "ext_json.extAppid",
                    format!("absent or {appid}: the mini program of the path"),
                ))
            }
            "ext" => ext.extend(
                object(Some(value), "ext_json.ext")?
                    .cloned()
                    .unwrap_or_default(),
            ),
            other => {
                let Some((_, field, kind)) = EXT_JSON_KEYS.iter().find(|(k, ..)| *k == other)
                else {
                    let allowed: Vec<&str> = EXT_JSON_KEYS.iter().map(|(k, ..)| *k).collect();
                    return Err(invalid(
                        "ext_json",
                        format!(
                            "unknown key {other:?}: allowed are extEnable, extAppid, ext, {}",
                            allowed.join(", ")
                        ),
                    ));
                };
                if !kind.accepts(value) {
                    return Err(invalid(field, kind.rule()));
                }
                ext_json.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some(given) = object(body.get("ext"), "ext")
        .map_err(|_| invalid("ext", "a JSON object (merged over the stored ext settings)"))?
    {
        ext.extend(given.clone());
    }
    ext_json.insert("extEnable".into(), json!(true));
    ext_json.insert("extAppid".into(), json!(appid));
    ext_json.insert("ext".into(), Value::Object(ext));
    if Value::Object(ext_json.clone()).to_string().len() > MAX_EXT_JSON_BYTES {
        return Err(invalid(
            "ext_json",
            format!("at most {MAX_EXT_JSON_BYTES} bytes as JSON, ext settings included"),
        ));
    }
    Ok(CommitFields {
        template_id,
        user_version: user_version.to_owned(),
        user_desc: user_desc.to_owned(),
        ext_json,
    })
}

/// The commit's WeChat body from its validated fields: ext_json as the string WeChat requires
/// (an object is 47001), reduced to extAppid, ext and window for a standard template.
pub fn commit_request(
    fields: &CommitFields,
    standard_template: bool,
) -> Result<Commit, AdminError> {
    let mut ext_json = fields.ext_json.clone();
    if standard_template {
        ext_json.remove("extEnable");
        if let Some(key) = ext_json
            .keys()
            .find(|k| !STANDARD_EXT_JSON_KEYS.contains(&k.as_str()))
        {
            return Err(invalid(
                "ext_json",
                format!("{key:?} is not allowed with a standard template: only window (and ext)"),
            ));
        }
    }
    Ok(Commit {
        template_id: fields.template_id,
        ext_json: Value::Object(ext_json).to_string(),
        user_version: fields.user_version.clone(),
        user_desc: fields.user_desc.clone(),
    })
}

/// submit_audit's validated fields: `item_list` if given, and the optional fields passed through.
pub fn submit_audit(body: &Value) -> Result<SubmitFields, AdminError> {
    let mut fields = SubmitFields {
        item_list: item_list(body)?,
        ..SubmitFields::default()
    };
    audit_extras(body, &mut fields.extras)?;
    Ok(fields)
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

pub fn gray_release(body: &Value) -> Result<GrayRelease, AdminError> {
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
    Ok(GrayRelease {
        gray_percentage: percentage,
        support_experiencer_first: experiencer,
        support_debuger_first: debuger,
    })
}

pub fn visit_status(body: &Value) -> Result<ChangeVisitStatus, AdminError> {
    let action = action(body, &["open", "close"], false)?.unwrap_or("open");
    Ok(ChangeVisitStatus {
        action: action.to_owned(),
    })
}

pub fn add_template(body: &Value) -> Result<AddToTemplate, AdminError> {
    let draft_id = required_int(body, "draft_id", 0..=i64::MAX)?;
    let template_type = int_field(body, "template_type", 0..=1)?.unwrap_or(0);
    Ok(AddToTemplate {
        draft_id,
        template_type,
    })
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
        assert_eq!(ok.0["requestdomain"][0], "https://api.example.com");
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

    const MP: &str = "wx0123456789abcdef";

    #[test]
    fn commits_build_ext_json_for_the_path_appid_and_check_versions() {
        let stored = json!({ "shop": 1, "theme": "red" });
        let fields = commit(
            &json!({ "template_id": 3, "user_version": "1.2.0", "ext": { "theme": "blue" }, "ext_json": { "ext": { "theme": "green", "lang": "zh" }, "window": { "navigationBarTitleText": "Shop" } } }),
            MP,
            Some(&stored),
        )
        .unwrap();
        assert_eq!(
            Value::Object(fields.ext_json.clone()),
            json!({
                "extEnable": true,
                "extAppid": MP,
                "ext": { "shop": 1, "theme": "blue", "lang": "zh" },
                "window": { "navigationBarTitleText": "Shop" },
            })
        );
        let request = commit_request(&fields, false).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&request.ext_json).unwrap(),
            Value::Object(fields.ext_json.clone()),
            "sent as a string"
        );
        let standard = commit_request(&fields, true).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&standard.ext_json).unwrap(),
            json!({ "extAppid": MP, "ext": { "shop": 1, "theme": "blue", "lang": "zh" }, "window": { "navigationBarTitleText": "Shop" } })
        );
        let tab_bar = commit(
            &json!({ "template_id": 3, "user_version": "1", "ext_json": { "tabBar": { "list": [] } } }),
            MP,
            None,
        )
        .unwrap();
        assert_eq!(
            field_of(commit_request(&tab_bar, true).unwrap_err()),
            "ext_json"
        );
        for (body, field) in [
            (
                json!({ "template_id": 3, "user_version": "v".repeat(65) }),
                "user_version",
            ),
            (
                json!({ "template_id": "3", "user_version": "1" }),
                "template_id",
            ),
            (
                json!({ "template_id": 3, "user_version": "1", "ext": "x" }),
                "ext",
            ),
            (
                json!({ "template_id": 3, "user_version": "1", "ext_json": "{}" }),
                "ext_json",
            ),
            (
                json!({ "template_id": 3, "user_version": "1", "ext_json": { "extAppid": "wxffffffffffffffff" } }),
                "ext_json.extAppid",
            ),
            (
                json!({ "template_id": 3, "user_version": "1", "ext_json": { "extEnable": "yes" } }),
                "ext_json.extEnable",
            ),
            (
                json!({ "template_id": 3, "user_version": "1", "ext_json": { "ext": [] } }),
                "ext_json.ext",
            ),
            (
                json!({ "template_id": 3, "user_version": "1", "ext_json": { "pages": [1] } }),
                "ext_json.pages",
            ),
            (
                json!({ "template_id": 3, "user_version": "1", "ext_json": { "directCommit": 1 } }),
                "ext_json.directCommit",
            ),
            (
                json!({ "template_id": 3, "user_version": "1", "ext_json": { "theme": "x" } }),
                "ext_json",
            ),
            (
                json!({ "template_id": 3, "user_version": "1", "ext": { "x": "y".repeat(MAX_EXT_JSON_BYTES) } }),
                "ext_json",
            ),
        ] {
            assert_eq!(
                field_of(commit(&body, MP, None).unwrap_err()),
                field,
                "{body}"
            );
        }
        assert_eq!(
            field_of(
                ext_settings(&json!({ "ext": { "x": "y".repeat(MAX_EXT_SETTINGS_BYTES) } }))
                    .unwrap_err()
            ),
            "ext"
        );
        assert_eq!(
            ext_settings(&json!({ "ext": { "x": 1 } })).unwrap(),
            json!({ "x": 1 })
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
            Value::Object(tester("alice_01").unwrap().0),
            json!({ "wechatid": "alice_01" })
        );
        assert_eq!(
            Value::Object(tester(&"a".repeat(40)).unwrap().0),
            json!({ "userstr": "a".repeat(40) })
        );
    }
}
