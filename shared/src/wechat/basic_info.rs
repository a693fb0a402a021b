//! A mini program's basic information and categories, called with its authorizer token
//! (permission set 30, "小程序基本信息设置"): "获取基本信息" (getaccountbasicinfo), "微信认证名称检测"
//! (checkwxverifynickname), "设置名称" (setnickname), "查询改名审核状态" (api_wxa_querynickname),
//! "修改头像" (modifyheadimage), "修改简介" (modifysignature), "添加类目" (addcategory), "获取已设置的
//! 所有类目" (getcategory), and "新增临时素材" (media/upload) whose media ids the others take.

use serde::{Deserialize, Serialize};

use super::endpoint::{endpoint, Done, FilePart, Upload};
use crate::json_answers;

/// `{modify_used_count, modify_quota}` of a name, introduction or avatar: changes a year.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModifyQuota {
    pub modify_used_count: i64,
    pub modify_quota: i64,
}

impl ModifyQuota {
    pub fn spent(&self) -> bool {
        self.modify_quota > 0 && self.modify_used_count >= self.modify_quota
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GetAccountBasicInfo {}

/// getaccountbasicinfo's answer: the name and the quotas of the three changes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountBasicInfo {
    pub appid: String,
    pub nickname: String,
    pub principal_name: String,
    pub nickname_info: ModifyQuota,
    pub signature_info: ModifyQuota,
    pub head_image_info: ModifyQuota,
}
endpoint!(GetAccountBasicInfo, Get "/cgi-bin/account/getaccountbasicinfo", Authorizer => AccountBasicInfo);

#[derive(Debug, Clone, Serialize)]
pub struct CheckNickname<'a> {
    pub nick_name: &'a str,
}

/// `hit_condition`: the name matches a rule (a trademark, another account's name); `wording`
/// says which and what material proves the right to it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NicknameCheck {
    pub hit_condition: bool,
    pub wording: String,
}
endpoint!(CheckNickname<'_>, Post "/cgi-bin/wxverify/checkwxverifynickname", Authorizer => NicknameCheck);

/// setnickname: the name and, for an organization, its business licence (a temporary media id),
/// with up to 5 other naming materials.
#[derive(Debug, Clone, Serialize)]
pub struct SetNickname<'a> {
    pub nick_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub naming_other_stuff_1: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub naming_other_stuff_2: Option<&'a str>,
}

/// No `audit_id`: the name is set at once; else wait for `wxa_nickname_audit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NicknameSet {
    pub audit_id: Option<serde_json::Value>,
    pub wording: String,
}

impl NicknameSet {
    /// The audit id, a number or a string in WeChat's answers.
    pub fn audit_id(&self) -> Option<String> {
        match &self.audit_id {
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            Some(serde_json::Value::String(s)) if !s.is_empty() && s != "0" => Some(s.clone()),
            _ => None,
        }
    }
}
endpoint!(SetNickname<'_>, Post "/wxa/setnickname", Authorizer => NicknameSet);

#[derive(Debug, Clone, Serialize)]
pub struct QueryNickname<'a> {
    pub audit_id: &'a str,
}

/// `audit_stat`: 1 reviewing, 2 rejected, 3 passed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NicknameAudit {
    pub nickname: String,
    pub audit_stat: i64,
    pub fail_reason: String,
}
endpoint!(QueryNickname<'_>, Post "/wxa/api_wxa_querynickname", Authorizer => NicknameAudit);

/// modifyheadimage: the whole image (`0,0,1,1`) of a temporary media id uploaded with the
/// authorizer token.
#[derive(Debug, Clone, Serialize)]
pub struct ModifyHeadImage<'a> {
    pub head_img_media_id: &'a str,
    pub x1: &'static str,
    pub y1: &'static str,
    pub x2: &'static str,
    pub y2: &'static str,
}

impl<'a> ModifyHeadImage<'a> {
    pub fn whole(head_img_media_id: &'a str) -> Self {
        Self {
            head_img_media_id,
            x1: "0",
            y1: "0",
            x2: "1",
            y2: "1",
        }
    }
}
endpoint!(ModifyHeadImage<'_>, Post "/cgi-bin/account/modifyheadimage", Authorizer => Done);

#[derive(Debug, Clone, Serialize)]
pub struct ModifySignature<'a> {
    pub signature: &'a str,
}
endpoint!(ModifySignature<'_>, Post "/cgi-bin/account/modifysignature", Authorizer => Done);

/// One certificate of a category: its key and a temporary media id (`certicates` is WeChat's
/// spelling).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCategory {
    pub first: i64,
    pub second: i64,
    pub certicates: Vec<Certificate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AddCategory {
    pub categories: Vec<NewCategory>,
}
endpoint!(AddCategory, Post "/cgi-bin/wxopen/addcategory", Authorizer => Done);

/// "获取可设置的所有类目" (getallcategories): the categories a mini program may choose.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GetAllCategories {}

/// One category of the tree: level 1 has `father` 0.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CategoryNode {
    pub id: i64,
    pub name: String,
    pub level: i64,
    pub father: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CategoryTree {
    pub categories: Vec<CategoryNode>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AllCategories {
    pub categories_list: CategoryTree,
}

impl AllCategories {
    /// Whether `second` is a category under `first`.
    pub fn knows(&self, first: i64, second: i64) -> bool {
        self.categories_list
            .categories
            .iter()
            .any(|c| c.id == second && c.father == first && first != 0)
    }
}
endpoint!(GetAllCategories, Get "/cgi-bin/wxopen/getallcategories", Authorizer => AllCategories);

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GetCategories {}

/// A category as getcategory answers it; `audit_status` 1 reviewing, 2 rejected, 3 passed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CategoryState {
    pub first: i64,
    pub second: i64,
    pub audit_status: i64,
    pub audit_reason: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Categories {
    pub categories: Vec<CategoryState>,
    pub limit: i64,
    pub quota: i64,
}
endpoint!(GetCategories, Get "/cgi-bin/wxopen/getcategory", Authorizer => Categories);

/// "新增临时素材" (media/upload, type=image) with the authorizer token: the media id the name,
/// avatar and category calls take (another token's media id is 40007).
#[derive(Debug, Clone)]
pub struct UploadImage {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Serialize for UploadImage {
    /// Nothing goes in the query; the file is the body ([`Upload`]).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit_struct("UploadImage")
    }
}

impl Upload for UploadImage {
    fn file(&self) -> FilePart<'_> {
        FilePart {
            field: "media",
            file_name: &self.file_name,
            content_type: &self.content_type,
            bytes: &self.bytes,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadedMedia {
    pub media_id: String,
}
endpoint!(UploadImage, Upload "/cgi-bin/media/upload?type=image", Authorizer => UploadedMedia);

json_answers!(
    AllCategories,
    AccountBasicInfo,
    NicknameCheck,
    NicknameSet,
    NicknameAudit,
    Categories,
    UploadedMedia
);
