//! User privacy: the guideline a mini program must have before review ("用户隐私保护指引": the
//! pages "设置小程序用户隐私保护指引" (setprivacysetting), "查询小程序用户隐私保护指引"
//! (getprivacysetting), "上传小程序用户隐私保护指引文件" (uploadprivacyextfile)), the privacy API
//! scan of the committed code ("获取隐私接口检测结果" (get_code_privacy_info)) and the privacy
//! interfaces that need an application ("获取接口列表" (get_privacy_interface), "申请接口"
//! (apply_privacy_interface)). All take the authorizer's token, though some live under
//! `/cgi-bin/component/`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::endpoint::{endpoint, Done, FilePart, Upload};
use crate::json_answers;

/// The privacy keys WeChat knows (setprivacysetting's "privacy_key" list).
pub const PRIVACY_KEYS: &[&str] = &[
    "UserInfo",
    "Location",
    "Address",
    "Invoice",
    "RunData",
    "Record",
    "Album",
    "Camera",
    "PhoneNumber",
    "Contact",
    "DeviceInfo",
    "EXIDNumber",
    "EXOrderInfo",
    "EXUserPublishContent",
    "EXUserFollowAcct",
    "EXUserOpLog",
    "AlbumWriteOnly",
    "LicensePlate",
    "BlueTooth",
    "CalendarWriteOnly",
    "Email",
    "MessageFile",
    "ChooseLocation",
    "Accelerometer",
    "Compass",
    "DeviceMotion",
    "Gyroscope",
    "Clipboard",
];

/// The developer's contact and how users are told of changes ("owner_setting").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerSetting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_qq: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_weixin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext_file_media_id: Option<String>,
    #[serde(default)]
    pub notice_method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_expire_timestamp: Option<String>,
}

impl OwnerSetting {
    /// WeChat requires at least one way to reach the developer.
    pub fn has_contact(&self) -> bool {
        [
            &self.contact_email,
            &self.contact_phone,
            &self.contact_qq,
            &self.contact_weixin,
        ]
        .iter()
        .any(|c| c.as_deref().is_some_and(|c| !c.trim().is_empty()))
    }
}

/// One declared use of personal information: what it is collected for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyItem {
    pub privacy_key: String,
    pub privacy_text: String,
    /// Answered by getprivacysetting (the key's Chinese name); never sent.
    #[serde(default, skip_serializing)]
    pub privacy_label: Option<String>,
}

/// "setprivacysetting": the whole guideline (it replaces the stored one).
#[derive(Debug, Clone, Serialize)]
pub struct SetPrivacySetting {
    /// 1 the online version's guideline (default), 2 the development version's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy_ver: Option<i64>,
    pub owner_setting: OwnerSetting,
    pub setting_list: Vec<PrivacyItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk_privacy_info_list: Option<Value>,
}
endpoint!(SetPrivacySetting, Post "/cgi-bin/component/setprivacysetting", Authorizer => Done);

/// "getprivacysetting".
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GetPrivacySetting {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy_ver: Option<i64>,
}

/// What the code uses (`privacy_list`), what is configured (`setting_list`) and the rest as
/// WeChat gives it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PrivacySetting {
    /// 1 when code has been committed.
    #[serde(default)]
    pub code_exist: i64,
    #[serde(default)]
    pub privacy_list: Vec<String>,
    #[serde(default)]
    pub setting_list: Vec<PrivacyItem>,
    #[serde(default)]
    pub update_time: i64,
    #[serde(default)]
    pub owner_setting: OwnerSetting,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub privacy_desc: Value,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub sdk_privacy_info_list: Value,
}

impl PrivacySetting {
    /// The keys the code uses that the guideline does not cover, in the code's order.
    pub fn missing_keys(&self) -> Vec<String> {
        self.privacy_list
            .iter()
            .filter(|key| !self.setting_list.iter().any(|s| &s.privacy_key == *key))
            .cloned()
            .collect()
    }
}
endpoint!(GetPrivacySetting, Post "/cgi-bin/component/getprivacysetting", Authorizer => PrivacySetting);

/// "uploadprivacyextfile": a `.txt` guideline of at most 100 KB, as multipart field `file`.
#[derive(Debug, Clone)]
pub struct UploadPrivacyExtFile {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

impl Serialize for UploadPrivacyExtFile {
    /// Nothing goes in the query; the file is the body ([`Upload`]).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit_struct("UploadPrivacyExtFile")
    }
}

impl Upload for UploadPrivacyExtFile {
    fn file(&self) -> FilePart<'_> {
        FilePart {
            field: "file",
            file_name: &self.file_name,
            content_type: "text/plain",
            bytes: &self.bytes,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtFileAnswer {
    pub ext_file_media_id: String,
}
endpoint!(UploadPrivacyExtFile, Upload "/cgi-bin/component/uploadprivacyextfile", Authorizer => ExtFileAnswer);

/// "get_code_privacy_info": errcode 61039 while the scan after a commit runs.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GetCodePrivacyInfo {}

/// The privacy APIs the committed code calls without a grant (`without_auth_list`) or without
/// declaring them in app.json's `requiredPrivateInfos` (`without_conf_list`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodePrivacyInfo {
    #[serde(default)]
    pub without_auth_list: Vec<String>,
    #[serde(default)]
    pub without_conf_list: Vec<String>,
}

impl CodePrivacyInfo {
    pub fn is_clean(&self) -> bool {
        self.without_auth_list.is_empty() && self.without_conf_list.is_empty()
    }
}
endpoint!(GetCodePrivacyInfo, Get "/wxa/security/get_code_privacy_info", Authorizer => CodePrivacyInfo);

/// "get_privacy_interface".
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GetPrivacyInterface {}

/// One privacy interface and the state of its application, as WeChat gives it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PrivacyInterface {
    pub api_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_ch_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_desc: Option<String>,
    /// The application's state (the page's "status" table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PrivacyInterfaces {
    #[serde(default)]
    pub interface_list: Vec<PrivacyInterface>,
}
endpoint!(GetPrivacyInterface, Get "/wxa/security/get_privacy_interface", Authorizer => PrivacyInterfaces);

/// "apply_privacy_interface": why the mini program needs the interface, with optional evidence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyPrivacyInterface {
    pub api_name: String,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_list: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pic_list: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_list: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplicationAnswer {
    pub audit_id: i64,
}
endpoint!(ApplyPrivacyInterface, Post "/wxa/security/apply_privacy_interface", Authorizer => ApplicationAnswer);

json_answers!(
    PrivacySetting,
    ExtFileAnswer,
    CodePrivacyInfo,
    PrivacyInterfaces,
    ApplicationAnswer
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_keys_are_the_used_ones_not_configured() {
        let setting: PrivacySetting = serde_json::from_value(serde_json::json!({
            "code_exist": 1,
            "privacy_list": ["Location", "PhoneNumber", "Album"],
            "setting_list": [{ "privacy_key": "PhoneNumber", "privacy_text": "登录", "privacy_label": "手机号" }],
        }))
        .unwrap();
        assert_eq!(setting.missing_keys(), ["Location", "Album"]);
        let sent = serde_json::to_value(&setting.setting_list[0]).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({ "privacy_key": "PhoneNumber", "privacy_text": "登录" }),
            "the label is WeChat's, never sent"
        );
    }
}
