//! Admin request bodies as typed structs: deserialized first (serde names the field of a wrong
//! type by its path, e.g. `item_list[0].first_id`), then `validate()` checks the rules serde
//! cannot (ranges, lengths, schemes, what is required) and names the field and the rule.
//! Fields are optional in the structs so that a missing one is reported by `validate()` with its
//! name, not by serde's message about the whole body.

use std::borrow::Cow;
use std::ops::RangeInclusive;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use shared::wechat::code::{BindTester, ChangeVisitStatus, Fields, GrayRelease, RevertCodeRelease};
use shared::wechat::templates::AddToTemplate;

use shared::store::PrivacyDefault;
use shared::wechat::privacy::{
    ApplyPrivacyInterface, OwnerSetting, PrivacyItem, SetPrivacySetting, PRIVACY_KEYS,
};

use crate::errors::{invalid, AdminError};
use crate::validate::{self, CommitFields, PrivacyFile, SubmitFields};

/// A body into its request struct; a value of the wrong type is refused naming its path.
pub fn parse<T: DeserializeOwned>(body: &Value) -> Result<T, AdminError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let field = e.path().to_string();
        AdminError::Invalid {
            field: Cow::Owned(field),
            rule: plain_rule(&e.inner().to_string()),
        }
    })
}

/// serde's words for JSON types, in the words of the API's documentation, and never the value
/// given: serde quotes it (`invalid type: integer `13800009999``), and a value may be personal
/// data (a phone number) that the rule would carry into the answer and the log.
fn plain_rule(message: &str) -> String {
    let (head, expected) = match message.split_once(", expected ") {
        Some((head, expected)) => (head, Some(expected)),
        None => (message, None),
    };
    let given = if let Some(kind) = head.strip_prefix("invalid type: ") {
        let kind = kind.split([' ', '`', '"']).next().unwrap_or("value");
        let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {kind} was given")
    } else if head.starts_with("invalid value") || head.starts_with("unknown variant") {
        "this value is not accepted".to_owned()
    } else {
        head.to_owned()
    };
    let Some(expected) = expected else {
        return given;
    };
    let mut expected = expected.to_owned();
    for (serde_word, plain) in [
        ("i64", "an integer"),
        ("a sequence", "a list"),
        ("a map", "a JSON object"),
    ] {
        if expected == serde_word {
            expected = plain.to_owned();
        }
    }
    if expected.starts_with("struct ") {
        expected = "a JSON object".to_owned();
    }
    format!("{given}; expected {expected}")
}

fn required<T>(
    value: Option<T>,
    field: &'static str,
    rule: impl Into<String>,
) -> Result<T, AdminError> {
    value.ok_or_else(|| invalid(field, format!("required: {}", rule.into())))
}

fn in_range(
    value: Option<i64>,
    field: &'static str,
    range: RangeInclusive<i64>,
) -> Result<Option<i64>, AdminError> {
    match value {
        Some(n) if !range.contains(&n) => Err(invalid(
            field,
            format!("an integer from {} to {}", range.start(), range.end()),
        )),
        other => Ok(other),
    }
}

fn at_most(
    value: Option<String>,
    field: &'static str,
    max_chars: usize,
) -> Result<Option<String>, AdminError> {
    match value {
        Some(s) if s.chars().count() > max_chars => Err(invalid(
            field,
            format!("a string of at most {max_chars} characters"),
        )),
        other => Ok(other),
    }
}

fn list_at_most(
    value: Option<Vec<String>>,
    field: &'static str,
    max: usize,
) -> Result<Option<Vec<String>>, AdminError> {
    match value {
        Some(list) if list.len() > max => {
            Err(invalid(field, format!("a list of at most {max} strings")))
        }
        other => Ok(other),
    }
}

/// What a domain list call does ("配置小程序服务器域名" (modify_domain), "配置小程序业务域名"
/// (setwebviewdomain)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListAction {
    Add,
    Delete,
    Set,
    Get,
}

impl ListAction {
    fn changes(self) -> bool {
        self != Self::Get
    }
}

/// `PUT …/ext`: the template's `ext` object, size-capped.
#[derive(Debug, Deserialize)]
pub struct ExtRequest {
    ext: Option<Map<String, Value>>,
}

impl ExtRequest {
    pub fn validate(self) -> Result<Value, AdminError> {
        let ext = Value::Object(required(self.ext, "ext", "a JSON object")?);
        if ext.to_string().len() > validate::MAX_EXT_SETTINGS_BYTES {
            return Err(invalid(
                "ext",
                format!("at most {} bytes as JSON", validate::MAX_EXT_SETTINGS_BYTES),
            ));
        }
        Ok(ext)
    }
}

/// `POST …/domains`: modify_domain's lists, each `scheme://host[:port]` of its own scheme.
#[derive(Debug, Deserialize)]
pub struct DomainsRequest {
    action: Option<ListAction>,
    requestdomain: Option<Vec<String>>,
    wsrequestdomain: Option<Vec<String>>,
    uploaddomain: Option<Vec<String>>,
    downloaddomain: Option<Vec<String>>,
    udpdomain: Option<Vec<String>>,
    tcpdomain: Option<Vec<String>>,
}

impl DomainsRequest {
    pub fn validate(self) -> Result<Fields, AdminError> {
        let action = required(self.action, "action", "one of add, delete, set, get")?;
        let mut out = Map::from_iter([("action".to_owned(), json!(action))]);
        for (field, scheme, list) in [
            ("requestdomain", "https", self.requestdomain),
            ("wsrequestdomain", "wss", self.wsrequestdomain),
            ("uploaddomain", "https", self.uploaddomain),
            ("downloaddomain", "https", self.downloaddomain),
            ("udpdomain", "udp", self.udpdomain),
            ("tcpdomain", "tcp", self.tcpdomain),
        ] {
            let Some(list) = list_at_most(list, field, 200)? else {
                continue;
            };
            if let Some(bad) = list.iter().find(|d| !validate::is_domain(d, scheme, true)) {
                return Err(invalid(
                    field,
                    format!("{bad:?} is not a {scheme}:// domain (no IP, no path)"),
                ));
            }
            out.insert(field.into(), json!(list));
        }
        if action.changes() && out.len() == 1 {
            return Err(invalid(
                "requestdomain",
                "at least one domain list is needed for add, delete or set",
            ));
        }
        Ok(Fields(out))
    }
}

/// `POST …/webview-domains`: setwebviewdomain's list, https without port or path.
#[derive(Debug, Deserialize)]
pub struct WebviewDomainsRequest {
    action: Option<ListAction>,
    webviewdomain: Option<Vec<String>>,
}

impl WebviewDomainsRequest {
    pub fn validate(self) -> Result<Fields, AdminError> {
        let list = list_at_most(self.webviewdomain, "webviewdomain", 100)?;
        if let Some(bad) = list
            .iter()
            .flatten()
            .find(|d| !validate::is_domain(d, "https", false))
        {
            return Err(invalid(
                "webviewdomain",
                format!("{bad:?} is not an https:// domain without port or path"),
            ));
        }
        if list.is_none() && self.action.is_some_and(ListAction::changes) {
            return Err(invalid("webviewdomain", "required for add, delete or set"));
        }
        let mut out = Map::new();
        if let Some(action) = self.action {
            out.insert("action".into(), json!(action));
        }
        if let Some(list) = list {
            out.insert("webviewdomain".into(), json!(list));
        }
        Ok(Fields(out))
    }
}

/// `POST …/testers`: the tester's WeChat id.
#[derive(Debug, Deserialize)]
pub struct TesterRequest {
    wechatid: Option<String>,
}

impl TesterRequest {
    pub fn validate(self) -> Result<BindTester, AdminError> {
        match at_most(self.wechatid, "wechatid", 64)? {
            Some(id) if !id.trim().is_empty() => Ok(BindTester {
                wechatid: id.trim().to_owned(),
            }),
            _ => Err(invalid("wechatid", "required: the tester's WeChat id")),
        }
    }
}

/// `POST …/commits`: the template, the version and the ext settings of this commit.
#[derive(Debug, Deserialize)]
pub struct CommitRequest {
    template_id: Option<i64>,
    user_version: Option<String>,
    user_desc: Option<String>,
    /// Merged over the stored ext settings (and over `ext_json.ext`).
    ext: Option<Map<String, Value>>,
    ext_json: Option<Map<String, Value>>,
    privacy: Option<PrivacyChoice>,
}

/// What a commit does about the privacy guideline: `"default"` applies the platform's default
/// where the mini program's own guideline lacks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrivacyChoice {
    Default,
}

impl CommitRequest {
    /// The commit's fields for the path's mini program `appid`, its stored ext settings merged
    /// in ([`validate::commit_ext_json`]).
    pub fn validate(
        self,
        appid: &str,
        stored_ext: Option<&Value>,
    ) -> Result<CommitFields, AdminError> {
        let template_id = required(
            in_range(self.template_id, "template_id", 1..=i64::MAX)?,
            "template_id",
            "an integer from 1",
        )?;
        let user_version = match at_most(self.user_version, "user_version", 64)? {
            Some(v) if !v.trim().is_empty() => v,
            _ => return Err(invalid("user_version", "required: at most 64 characters")),
        };
        let user_desc = at_most(self.user_desc, "user_desc", 1024)?.unwrap_or_default();
        let ext_json = validate::commit_ext_json(
            appid,
            stored_ext,
            self.ext_json.unwrap_or_default(),
            self.ext.unwrap_or_default(),
        )?;
        Ok(CommitFields {
            template_id,
            user_version,
            user_desc,
            ext_json,
            privacy_default: self.privacy == Some(PrivacyChoice::Default),
        })
    }
}

/// One item of submit_audit's `item_list`, passed on as given once checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    second_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    third_id: Option<i64>,
    /// The category names and anything else WeChat accepts.
    #[serde(flatten)]
    other: Map<String, Value>,
}

impl AuditItem {
    /// title ≤ 32 characters; at most 10 space-separated tags of at most 20 characters
    /// ("提交代码审核" (submit_audit)).
    fn validate(self) -> Result<Self, AdminError> {
        let item = Self {
            title: at_most(self.title, "title", 32)?,
            address: at_most(self.address, "address", 512)?,
            ..self
        };
        if let Some(tag) = &item.tag {
            let tags: Vec<&str> = tag.split(' ').filter(|t| !t.is_empty()).collect();
            if tags.len() > 10 || tags.iter().any(|t| t.chars().count() > 20) {
                return Err(invalid(
                    "tag",
                    "at most 10 space-separated tags of at most 20 characters",
                ));
            }
        }
        Ok(item)
    }
}

/// `POST …/audits`: submit_audit's fields; all optional (the category is found if no
/// `item_list` is given).
#[derive(Debug, Default, Deserialize)]
pub struct SubmitRequest {
    item_list: Option<Vec<AuditItem>>,
    version_desc: Option<String>,
    feedback_info: Option<String>,
    preview_info: Option<Map<String, Value>>,
    ugc_declare: Option<Map<String, Value>>,
    privacy_api_not_use: Option<bool>,
}

impl SubmitRequest {
    pub fn validate(self) -> Result<SubmitFields, AdminError> {
        let item_list = match self.item_list {
            None => None,
            Some(items) if (1..=5).contains(&items.len()) => Some(
                items
                    .into_iter()
                    .map(AuditItem::validate)
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => return Err(invalid("item_list", "a list of 1 to 5 items")),
        };
        let mut extras = Map::new();
        let mut put = |field: &str, value: Option<Value>| {
            if let Some(value) = value {
                extras.insert(field.to_owned(), value);
            }
        };
        put(
            "version_desc",
            at_most(self.version_desc, "version_desc", 500)?.map(Value::String),
        );
        put(
            "feedback_info",
            at_most(self.feedback_info, "feedback_info", 200)?.map(Value::String),
        );
        put("preview_info", self.preview_info.map(Value::Object));
        put("ugc_declare", self.ugc_declare.map(Value::Object));
        put(
            "privacy_api_not_use",
            self.privacy_api_not_use.map(Value::Bool),
        );
        Ok(SubmitFields {
            item_list: item_list.map(|items| json!(items)),
            extras,
        })
    }
}

/// `POST …/gray-release`: a percentage, 0 only for testers or experiencers first.
#[derive(Debug, Deserialize)]
pub struct GrayReleaseRequest {
    gray_percentage: Option<i64>,
    support_experiencer_first: Option<bool>,
    support_debuger_first: Option<bool>,
}

impl GrayReleaseRequest {
    pub fn validate(self) -> Result<GrayRelease, AdminError> {
        let percentage = required(
            in_range(self.gray_percentage, "gray_percentage", 0..=100)?,
            "gray_percentage",
            "an integer from 0 to 100",
        )?;
        let experiencer = self.support_experiencer_first.unwrap_or(false);
        let debuger = self.support_debuger_first.unwrap_or(false);
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
}

/// change_visitstatus's two actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VisitAction {
    Open,
    Close,
}

/// `POST …/visit-status`.
#[derive(Debug, Deserialize)]
pub struct VisitStatusRequest {
    action: Option<VisitAction>,
}

impl VisitStatusRequest {
    pub fn validate(self) -> Result<ChangeVisitStatus, AdminError> {
        let action = required(self.action, "action", "open or close")?;
        Ok(ChangeVisitStatus {
            action: match action {
                VisitAction::Open => "open",
                VisitAction::Close => "close",
            }
            .to_owned(),
        })
    }
}

/// `POST /admin/templates`: a draft into the library as a normal (0) or standard (1) template.
#[derive(Debug, Deserialize)]
pub struct AddTemplateRequest {
    draft_id: Option<i64>,
    template_type: Option<i64>,
}

impl AddTemplateRequest {
    pub fn validate(self) -> Result<AddToTemplate, AdminError> {
        Ok(AddToTemplate {
            draft_id: required(
                in_range(self.draft_id, "draft_id", 0..=i64::MAX)?,
                "draft_id",
                "an integer from 0",
            )?,
            template_type: in_range(self.template_type, "template_type", 0..=1)?.unwrap_or(0),
        })
    }
}

/// `POST …/revert`: back to the previous release, or to `app_version`.
#[derive(Debug, Deserialize)]
pub struct RevertRequest {
    app_version: Option<i64>,
}

impl RevertRequest {
    pub fn validate(self) -> Result<RevertCodeRelease, AdminError> {
        Ok(RevertCodeRelease {
            app_version: in_range(self.app_version, "app_version", 1..=i64::MAX)?,
        })
    }
}

/// The longest text the platform sends for a privacy purpose or a notice method (WeChat states no
/// limit; the guideline's page shows them as one line each).
const MAX_PRIVACY_TEXT_CHARS: usize = 200;

/// The developer's contact and how users are told ("owner_setting"): notice_method required,
/// at least one contact (WeChat refuses a guideline without one: "owner_setting必填字段缺失").
#[derive(Debug, Deserialize)]
pub struct OwnerSettingRequest {
    contact_email: Option<String>,
    contact_phone: Option<String>,
    contact_qq: Option<String>,
    contact_weixin: Option<String>,
    ext_file_media_id: Option<String>,
    notice_method: Option<String>,
    store_expire_timestamp: Option<String>,
}

fn text_in(
    value: Option<String>,
    field: &'static str,
    max_chars: usize,
    ok: impl Fn(&str) -> bool,
    rule: &str,
) -> Result<Option<String>, AdminError> {
    match at_most(value.map(|v| v.trim().to_owned()), field, max_chars)? {
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if !ok(&v) => Err(invalid(field, rule.to_owned())),
        other => Ok(other),
    }
}

impl OwnerSettingRequest {
    fn validate(self) -> Result<OwnerSetting, AdminError> {
        let digits = |v: &str| v.bytes().all(|b| b.is_ascii_digit());
        let setting = OwnerSetting {
            contact_email: text_in(
                self.contact_email,
                "owner_setting.contact_email",
                128,
                |v| {
                    v.split_once('@')
                        .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
                },
                "an email address",
            )?,
            contact_phone: text_in(
                self.contact_phone,
                "owner_setting.contact_phone",
                20,
                |v| {
                    v.len() >= 5
                        && v.bytes()
                            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'+')
                },
                "a phone number: digits, - and +",
            )?,
            contact_qq: text_in(
                self.contact_qq,
                "owner_setting.contact_qq",
                12,
                |v| v.len() >= 5 && digits(v),
                "a QQ number: 5 to 12 digits",
            )?,
            contact_weixin: text_in(
                self.contact_weixin,
                "owner_setting.contact_weixin",
                20,
                |v| v.len() >= 6,
                "a WeChat id: 6 to 20 characters",
            )?,
            ext_file_media_id: text_in(
                self.ext_file_media_id,
                "owner_setting.ext_file_media_id",
                256,
                |_| true,
                "",
            )?,
            notice_method: text_in(
                self.notice_method,
                "owner_setting.notice_method",
                MAX_PRIVACY_TEXT_CHARS,
                |_| true,
                "",
            )?
            .ok_or_else(|| {
                invalid(
                    "owner_setting.notice_method",
                    "required: how users are told of changes (e.g. 弹窗)",
                )
            })?,
            store_expire_timestamp: text_in(
                self.store_expire_timestamp,
                "owner_setting.store_expire_timestamp",
                64,
                |_| true,
                "",
            )?,
        };
        if !setting.has_contact() {
            return Err(invalid(
                "owner_setting.contact_email",
                "at least one contact is required: contact_email, contact_phone, contact_qq or contact_weixin",
            ));
        }
        Ok(setting)
    }
}

/// One declared use: a known privacy key and what it is collected for.
#[derive(Debug, Deserialize)]
pub struct PrivacyItemRequest {
    privacy_key: Option<String>,
    privacy_text: Option<String>,
}

/// A guideline's `setting_list`: known keys, each once, each with its purpose.
fn setting_list(items: Option<Vec<PrivacyItemRequest>>) -> Result<Vec<PrivacyItem>, AdminError> {
    let mut out: Vec<PrivacyItem> = Vec::new();
    for (i, item) in items.unwrap_or_default().into_iter().enumerate() {
        let at = |name: &str| Cow::Owned(format!("setting_list[{i}].{name}"));
        let key = item.privacy_key.unwrap_or_default();
        if !PRIVACY_KEYS.contains(&key.as_str()) {
            return Err(AdminError::Invalid {
                field: at("privacy_key"),
                rule: format!(
                    "{key:?} is not a privacy key WeChat knows: one of {}",
                    PRIVACY_KEYS.join(", ")
                ),
            });
        }
        if out.iter().any(|o| o.privacy_key == key) {
            return Err(AdminError::Invalid {
                field: at("privacy_key"),
                rule: format!("{key} is listed twice"),
            });
        }
        let text = item
            .privacy_text
            .map(|t| t.trim().to_owned())
            .unwrap_or_default();
        if text.is_empty() || text.chars().count() > MAX_PRIVACY_TEXT_CHARS {
            return Err(AdminError::Invalid {
                field: at("privacy_text"),
                rule: format!("required: what it is collected for, at most {MAX_PRIVACY_TEXT_CHARS} characters"),
            });
        }
        out.push(PrivacyItem {
            privacy_key: key,
            privacy_text: text,
            privacy_label: None,
        });
    }
    Ok(out)
}

/// `PUT …/privacy`: the whole guideline, as setprivacysetting takes it.
#[derive(Debug, Deserialize)]
pub struct PrivacyRequest {
    privacy_ver: Option<i64>,
    owner_setting: Option<OwnerSettingRequest>,
    setting_list: Option<Vec<PrivacyItemRequest>>,
    sdk_privacy_info_list: Option<Vec<Value>>,
}

impl PrivacyRequest {
    pub fn validate(self) -> Result<SetPrivacySetting, AdminError> {
        Ok(SetPrivacySetting {
            privacy_ver: in_range(self.privacy_ver, "privacy_ver", 1..=2)?,
            owner_setting: required(
                self.owner_setting,
                "owner_setting",
                "the contact and notice_method",
            )?
            .validate()?,
            setting_list: setting_list(self.setting_list)?,
            sdk_privacy_info_list: self.sdk_privacy_info_list.map(Value::Array),
        })
    }
}

/// `PUT /admin/privacy-default`: the platform's default guideline.
#[derive(Debug, Deserialize)]
pub struct PrivacyDefaultRequest {
    owner_setting: Option<OwnerSettingRequest>,
    setting_list: Option<Vec<PrivacyItemRequest>>,
}

impl PrivacyDefaultRequest {
    pub fn validate(self) -> Result<PrivacyDefault, AdminError> {
        let setting_list = setting_list(self.setting_list)?;
        if setting_list.is_empty() {
            return Err(invalid(
                "setting_list",
                "required: a text for each privacy key the platform's templates use",
            ));
        }
        Ok(PrivacyDefault {
            owner_setting: required(
                self.owner_setting,
                "owner_setting",
                "the contact and notice_method",
            )?
            .validate()?,
            setting_list,
            updated_at: 0,
        })
    }
}

/// The largest guideline file WeChat takes ("uploadprivacyextfile": a .txt of at most 100 KB);
/// the admin API's body cap (64 KiB) bounds it further.
const MAX_PRIVACY_FILE_BYTES: usize = 100 * 1024;

/// `POST …/privacy/file`: a text guideline, uploaded as a .txt file.
#[derive(Debug, Deserialize)]
pub struct PrivacyFileRequest {
    file_name: Option<String>,
    content: Option<String>,
}

impl PrivacyFileRequest {
    pub fn validate(self) -> Result<PrivacyFile, AdminError> {
        let file_name = self.file_name.unwrap_or_else(|| "privacy.txt".into());
        let plain = file_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !plain || !file_name.ends_with(".txt") || file_name.len() > 64 {
            return Err(invalid(
                "file_name",
                "a .txt name of letters, digits, '.', '_' or '-', at most 64 characters",
            ));
        }
        let content = required(self.content, "content", "the guideline's text")?;
        if content.trim().is_empty() || content.len() > MAX_PRIVACY_FILE_BYTES {
            return Err(invalid(
                "content",
                format!("the guideline's text, 1 to {MAX_PRIVACY_FILE_BYTES} bytes"),
            ));
        }
        Ok(PrivacyFile { file_name, content })
    }
}

/// `POST …/privacy/interfaces/{api_name}/apply`: why the mini program needs the interface.
#[derive(Debug, Deserialize)]
pub struct ApplyInterfaceRequest {
    content: Option<String>,
    url_list: Option<Vec<String>>,
    pic_list: Option<Vec<String>>,
    video_list: Option<Vec<String>>,
}

impl ApplyInterfaceRequest {
    pub fn validate(self, api_name: &str) -> Result<ApplyPrivacyInterface, AdminError> {
        let api_ok = api_name.len() <= 64
            && api_name.starts_with("wx.")
            && api_name[3..].bytes().all(|b| b.is_ascii_alphanumeric());
        if !api_ok {
            return Err(invalid(
                "api_name",
                "an interface name such as wx.getLocation",
            ));
        }
        let content = match at_most(self.content, "content", 300)? {
            Some(c) if !c.trim().is_empty() => c,
            _ => {
                return Err(invalid(
                    "content",
                    "required: how the mini program uses the interface, at most 300 characters",
                ))
            }
        };
        Ok(ApplyPrivacyInterface {
            api_name: api_name.to_owned(),
            content,
            url_list: list_at_most(self.url_list, "url_list", 5)?,
            pic_list: list_at_most(self.pic_list, "pic_list", 10)?,
            video_list: list_at_most(self.video_list, "video_list", 5)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::field_of;

    fn refused<T: DeserializeOwned, F>(
        body: Value,
        validate: impl Fn(T) -> Result<F, AdminError>,
    ) -> String {
        match parse::<T>(&body).and_then(validate) {
            Ok(_) => panic!("{body} was accepted"),
            Err(e) => field_of(e),
        }
    }

    #[test]
    fn the_rule_never_repeats_the_value_given() {
        let err = parse::<PrivacyRequest>(
            &json!({ "owner_setting": { "contact_phone": 13800009999u64 } }),
        )
        .unwrap_err();
        let AdminError::Invalid { field, rule } = err else {
            panic!()
        };
        assert_eq!(field, "owner_setting.contact_phone");
        assert_eq!(rule, "an integer was given; expected a string");
        assert!(!rule.contains("13800009999"));
        let err = parse::<VisitStatusRequest>(&json!({ "action": "secret-value" })).unwrap_err();
        assert!(!err.to_string().contains("secret-value"), "{err}");
    }

    #[test]
    fn a_wrong_type_is_named_by_its_path_in_plain_words() {
        let err =
            parse::<SubmitRequest>(&json!({ "item_list": [{ "first_id": "1" }] })).unwrap_err();
        let AdminError::Invalid { field, rule } = err else {
            panic!()
        };
        assert_eq!(field, "item_list[0].first_id");
        assert!(rule.contains("expected an integer"), "{rule}");
        let err = parse::<CommitRequest>(&json!({ "ext_json": "{}" })).unwrap_err();
        assert!(
            matches!(&err, AdminError::Invalid { field, rule } if field == "ext_json" && rule.contains("expected a JSON object")),
            "{err}"
        );
    }

    #[test]
    fn domains_need_their_scheme_and_no_ip_or_path() {
        let ok = parse::<DomainsRequest>(&json!({ "action": "add", "requestdomain": ["https://api.example.com"], "wsrequestdomain": ["wss://ws.example.com:8443"] })).unwrap().validate().unwrap();
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
            (json!({}), "action"),
            (json!({ "action": "add" }), "requestdomain"),
            (json!({ "action": "add", "tcpdomain": [1] }), "tcpdomain[0]"),
        ] {
            assert_eq!(
                refused(body.clone(), DomainsRequest::validate),
                field,
                "{body}"
            );
        }
        assert_eq!(
            refused(
                json!({ "action": "add", "webviewdomain": ["https://h5.example.com:8080"] }),
                WebviewDomainsRequest::validate
            ),
            "webviewdomain"
        );
        assert_eq!(
            refused(json!({ "action": "set" }), WebviewDomainsRequest::validate),
            "webviewdomain"
        );
    }

    #[test]
    fn audits_gray_releases_and_templates_are_checked() {
        for (body, field) in [
            (json!({ "item_list": [] }), "item_list"),
            (
                json!({ "item_list": [{ "title": "t".repeat(33) }] }),
                "title",
            ),
            (
                json!({ "item_list": [{ "tag": "a b c d e f g h i j k" }] }),
                "tag",
            ),
            (json!({ "item_list": [1] }), "item_list[0]"),
            (
                json!({ "privacy_api_not_use": "yes" }),
                "privacy_api_not_use",
            ),
            (json!({ "preview_info": [] }), "preview_info"),
        ] {
            assert_eq!(
                refused(body.clone(), SubmitRequest::validate),
                field,
                "{body}"
            );
        }
        let fields = parse::<SubmitRequest>(&json!({ "item_list": [{ "address": "pages/index", "first_class": "工具", "first_id": 1 }], "version_desc": "v" }))
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(
            fields.item_list,
            Some(json!([{ "address": "pages/index", "first_class": "工具", "first_id": 1 }])),
            "passed on as given"
        );
        assert_eq!(Value::Object(fields.extras), json!({ "version_desc": "v" }));
        assert!(parse::<SubmitRequest>(&json!({}))
            .unwrap()
            .validate()
            .unwrap()
            .item_list
            .is_none());
        for body in [
            json!({ "gray_percentage": 101 }),
            json!({ "gray_percentage": 0 }),
            json!({}),
        ] {
            assert_eq!(
                refused(body, GrayReleaseRequest::validate),
                "gray_percentage"
            );
        }
        assert_eq!(
            refused(json!({ "action": "pause" }), VisitStatusRequest::validate),
            "action"
        );
        assert_eq!(
            refused(
                json!({ "template_type": 2, "draft_id": 1 }),
                AddTemplateRequest::validate
            ),
            "template_type"
        );
        assert_eq!(refused(json!({}), AddTemplateRequest::validate), "draft_id");
        assert_eq!(
            refused(json!({ "app_version": 0 }), RevertRequest::validate),
            "app_version"
        );
        assert_eq!(refused(json!({ "ext": [1] }), ExtRequest::validate), "ext");
        assert_eq!(
            refused(json!({ "wechatid": " " }), TesterRequest::validate),
            "wechatid"
        );
    }
}
