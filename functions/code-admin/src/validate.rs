//! Validation before WeChat is called: each failure names the field and the rule. Bodies are
//! typed in requests.rs; here are the validated fields they become, the path values and the
//! rules of a commit's ext.json.

use serde_json::{json, Map, Value};

use serde::Serialize;
use shared::store::PrivacyDefault;
use shared::wechat::code::{
    BindTester, ChangeVisitStatus, Commit, Fields, GrayRelease, RevertCodeRelease, SpeedupAudit,
};
use shared::wechat::privacy::{ApplyPrivacyInterface, SetPrivacySetting};
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
    SetPrivacy(SetPrivacySetting),
    UploadPrivacyFile(PrivacyFile),
    ApplyPrivacyDefault {},
    ApplyPrivacyInterface(ApplyPrivacyInterface),
    SetPrivacyDefault(PrivacyDefault),
    CreateRegistration(crate::registrations::RegistrationFields),
    CreateRollout(crate::rollouts::RolloutFields),
    PauseRollout {},
    ResumeRollout {},
    CancelRollout { withdraw: bool },
    RetryTarget {},
    CreateWebhook(crate::webhooks::WebhookFields),
    DeleteWebhook { id: String },
    TestWebhook { id: String },
    CreateOnboarding(crate::onboardings::OnboardingFields),
    ResubmitOnboarding(crate::onboardings::ResubmitFields),
}

/// A guideline file to upload. The action log records its name, size and SHA-256, not its text.
#[derive(Debug, Clone)]
pub struct PrivacyFile {
    pub file_name: String,
    pub content: String,
}

impl Serialize for PrivacyFile {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.content.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        json!({ "file_name": self.file_name, "bytes": self.content.len(), "sha256": hex })
            .serialize(serializer)
    }
}

/// A commit's validated fields ([`crate::requests::CommitRequest`]).
#[derive(Debug, Clone, Serialize)]
pub struct CommitFields {
    pub template_id: i64,
    pub user_version: String,
    pub user_desc: String,
    pub ext_json: Map<String, Value>,
    /// `"privacy": "default"`: after the commit, the platform's default guideline fills what the
    /// mini program's own lacks.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub privacy_default: bool,
}

/// submit_audit's validated fields ([`crate::requests::SubmitRequest`]).
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

/// `scheme://host[:port]` with nothing after the host.
pub(crate) fn is_domain(value: &str, scheme: &str, port_allowed: bool) -> bool {
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

/// A commit's `ext_json` object, built for the path's mini program: `extEnable: true`,
/// `extAppid: appid`, `ext` (the stored ext settings, overlaid by `ext_json.ext`, then by the
/// request's `ext`) and the other allowed keys of the request's `ext_json`. A foreign `extAppid`
/// or an unknown key is refused.
pub fn commit_ext_json(
    appid: &str,
    stored_ext: Option<&Value>,
    requested: Map<String, Value>,
    ext_overlay: Map<String, Value>,
) -> Result<Map<String, Value>, AdminError> {
    let mut ext = match stored_ext {
        Some(Value::Object(stored)) => stored.clone(),
        _ => Map::new(),
    };
    let mut ext_json = Map::new();
    for (key, value) in requested {
        match key.as_str() {
            "extEnable" if value == Value::Bool(true) => {}
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
            "ext" => match value {
                Value::Object(given) => ext.extend(given),
                Value::Null => {}
                _ => return Err(invalid("ext_json.ext", "a JSON object")),
            },
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
                if !kind.accepts(&value) {
                    return Err(invalid(field, kind.rule()));
                }
                ext_json.insert(key, value);
            }
        }
    }
    ext.extend(ext_overlay);
    ext_json.insert("extEnable".into(), json!(true));
    ext_json.insert("extAppid".into(), json!(appid));
    ext_json.insert("ext".into(), Value::Object(ext));
    if Value::Object(ext_json.clone()).to_string().len() > MAX_EXT_JSON_BYTES {
        return Err(invalid(
            "ext_json",
            format!("at most {MAX_EXT_JSON_BYTES} bytes as JSON, ext settings included"),
        ));
    }
    Ok(ext_json)
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

/// The listing's filters: `status` (authorized, unauthorized, reauthorization_required),
/// `test_account` (true or false) and `q` (part of the appid or the name, at most 64 characters).
pub fn authorizer_filter(
    query: &std::collections::HashMap<String, String>,
) -> Result<shared::store::authorizers::AuthorizerFilter, AdminError> {
    use shared::authorizer::AuthorizerStatus;
    let status = match query.get("status").map(String::as_str) {
        None | Some("") => None,
        Some(text) => Some(AuthorizerStatus::parse(text).ok_or_else(|| {
            invalid(
                "status",
                "one of authorized, unauthorized, reauthorization_required",
            )
        })?),
    };
    let test_account = match query.get("test_account").map(String::as_str) {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(invalid("test_account", "true or false")),
    };
    let search = match query.get("q").map(|q| q.trim()) {
        None | Some("") => None,
        Some(q) if q.chars().count() > 64 => return Err(invalid("q", "at most 64 characters")),
        Some(q) => Some(q.to_owned()),
    };
    Ok(shared::store::authorizers::AuthorizerFilter {
        status,
        test_account,
        search,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::field_of;
    use crate::requests::{parse, CommitRequest, ExtRequest};

    const MP: &str = "wx0123456789abcdef";

    fn commit(body: &Value, stored: Option<&Value>) -> Result<CommitFields, AdminError> {
        parse::<CommitRequest>(body)?.validate(MP, stored)
    }

    #[test]
    fn commits_build_ext_json_for_the_path_appid_and_check_versions() {
        let stored = json!({ "shop": 1, "theme": "red" });
        let fields = commit(
            &json!({ "template_id": 3, "user_version": "1.2.0", "ext": { "theme": "blue" }, "ext_json": { "ext": { "theme": "green", "lang": "zh" }, "window": { "navigationBarTitleText": "Shop" } } }),
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
            None,
        )
        .unwrap();
        assert_eq!(
            field_of(commit_request(&tab_bar, true).unwrap_err()),
            "ext_json"
        );
        for (body, field) in [
            (json!({ "user_version": "1" }), "template_id"),
            (
                json!({ "template_id": 0, "user_version": "1" }),
                "template_id",
            ),
            (json!({ "template_id": 3 }), "user_version"),
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
            assert_eq!(field_of(commit(&body, None).unwrap_err()), field, "{body}");
        }
        let ext = |body: Value| parse::<ExtRequest>(&body).and_then(ExtRequest::validate);
        assert_eq!(
            field_of(
                ext(json!({ "ext": { "x": "y".repeat(MAX_EXT_SETTINGS_BYTES) } })).unwrap_err()
            ),
            "ext"
        );
        assert_eq!(
            ext(json!({ "ext": { "x": 1 } })).unwrap(),
            json!({ "x": 1 })
        );
    }

    #[test]
    fn path_values_are_checked() {
        assert_eq!(field_of(appid("wx123").unwrap_err()), "appid");
        assert_eq!(
            Value::Object(tester("alice_01").unwrap().0),
            json!({ "wechatid": "alice_01" })
        );
        assert_eq!(
            Value::Object(tester(&"a".repeat(40)).unwrap().0),
            json!({ "userstr": "a".repeat(40) })
        );
        assert_eq!(field_of(tester("a b").unwrap_err()), "tester");
        assert_eq!(field_of(qrcode_path(Some("a b")).unwrap_err()), "path");
    }
}
