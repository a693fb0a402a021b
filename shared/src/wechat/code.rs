//! A mini program's code, review and release, called with its authorizer token (WeChat Open
//! Platform docs, "小程序管理 / 代码管理": commit, get_page, get_category, submit_audit,
//! get_auditstatus, get_latest_auditstatus, undocodeaudit, speedupaudit, release,
//! revertcoderelease, grayrelease, getgrayreleaseplan, revertgrayrelease, change_visitstatus,
//! get_qrcode, queryquota; "服务器域名" modify_domain, setwebviewdomain; "成员管理" bind_tester,
//! unbind_tester, memberauth).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::endpoint::{endpoint, Done, Passthrough};
use super::Binary;
use crate::json_answers;

/// A request whose fields the admin API has validated and passes on as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fields(pub Map<String, Value>);

/// Requests without parameters.
macro_rules! empty_request {
    ($($name:ident),+) => {
        $(#[derive(Debug, Clone, Copy, Default, Serialize)]
        pub struct $name {})+
    };
}
empty_request!(
    GetPage,
    GetCategory,
    GetLatestAuditStatus,
    UndoCodeAudit,
    Release,
    GetGrayReleasePlan,
    RevertGrayRelease,
    QueryQuota
);

/// "commit": uploads the code of a template with its ext_json (a string: an object is 47001).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Commit {
    pub template_id: i64,
    pub ext_json: String,
    pub user_version: String,
    pub user_desc: String,
}
endpoint!(Commit, Post "/wxa/commit", Authorizer => Done);

/// "get_page": the pages of the committed code.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PageList {
    #[serde(default)]
    pub page_list: Vec<String>,
}
endpoint!(GetPage, Get "/wxa/get_page", Authorizer => PageList);

/// One approved category of the mini program ("get_category").
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Category {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub third_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub third_id: Option<i64>,
    /// Anything else WeChat says of the category, handed on.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CategoryList {
    #[serde(default)]
    pub category_list: Vec<Category>,
}
endpoint!(GetCategory, Get "/wxa/get_category", Authorizer => CategoryList);

/// "submit_audit": `item_list` and the optional fields, validated by the admin API.
#[derive(Debug, Clone, Serialize)]
pub struct SubmitAudit {
    pub item_list: Value,
    #[serde(flatten)]
    pub extras: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubmitAuditAnswer {
    pub auditid: i64,
}
endpoint!(SubmitAudit, Post "/wxa/submit_audit", Authorizer => SubmitAuditAnswer);

/// An audit as WeChat reports it ("get_auditstatus", "get_latest_auditstatus"): `status` 0
/// passed, 1 rejected, 2 in review, 3 withdrawn, 4 delayed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auditid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screenshot: Option<String>,
    /// The spelling of some answers.
    #[serde(
        rename = "ScreenShot",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub screen_shot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_desc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit_audit_time: Option<i64>,
    /// Anything else WeChat says, handed on.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl AuditState {
    /// The rejection's screenshot, whichever spelling WeChat used.
    pub fn screenshot(&self) -> Option<&str> {
        self.screenshot
            .as_deref()
            .or(self.screen_shot.as_deref())
            .filter(|s| !s.is_empty())
    }

    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref().filter(|s| !s.is_empty())
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct GetAuditStatus {
    pub auditid: i64,
}
endpoint!(GetAuditStatus, Post "/wxa/get_auditstatus", Authorizer => AuditState);
endpoint!(GetLatestAuditStatus, Get "/wxa/get_latest_auditstatus", Authorizer => AuditState);

endpoint!(UndoCodeAudit, Get "/wxa/undocodeaudit", Authorizer => Done);

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SpeedupAudit {
    pub auditid: i64,
}
endpoint!(SpeedupAudit, Post "/wxa/speedupaudit", Authorizer => Passthrough);

endpoint!(Release, Post "/wxa/release", Authorizer => Done);

/// "revertcoderelease": back to the previous release, or to `app_version`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RevertCodeRelease {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_version: Option<i64>,
}
endpoint!(RevertCodeRelease, Get "/wxa/revertcoderelease", Authorizer => Passthrough);

/// "revertcoderelease?action=get_history_version": the versions one can go back to.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GetHistoryVersion {
    action: &'static str,
}

impl Default for GetHistoryVersion {
    fn default() -> Self {
        Self {
            action: "get_history_version",
        }
    }
}
endpoint!(GetHistoryVersion, Get "/wxa/revertcoderelease", Authorizer => Passthrough);

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct GrayRelease {
    pub gray_percentage: i64,
    pub support_experiencer_first: bool,
    pub support_debuger_first: bool,
}
endpoint!(GrayRelease, Post "/wxa/grayrelease", Authorizer => Passthrough);
endpoint!(GetGrayReleasePlan, Get "/wxa/getgrayreleaseplan", Authorizer => Passthrough);
endpoint!(RevertGrayRelease, Get "/wxa/revertgrayrelease", Authorizer => Passthrough);

/// "change_visitstatus": `open` or `close`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeVisitStatus {
    pub action: String,
}
endpoint!(ChangeVisitStatus, Post "/wxa/change_visitstatus", Authorizer => Passthrough);

/// "get_qrcode": the trial version's QR code, optionally for a page.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GetQrcode<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<&'a str>,
}
endpoint!(GetQrcode<'_>, Get "/wxa/get_qrcode", Authorizer => Binary);

/// "获取永久素材" (get_material): a review screenshot named by a rejection's `ScreenShot`, as image
/// bytes (JSON on error).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GetMaterial<'a> {
    pub media_id: &'a str,
}
endpoint!(GetMaterial<'_>, Post "/cgi-bin/material/get_material", Authorizer => Binary);

/// "queryquota": the platform's review submissions and speed-ups left this month.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Quota {
    #[serde(default)]
    pub rest: i64,
    #[serde(default)]
    pub limit: i64,
    #[serde(default)]
    pub speedup_rest: i64,
    #[serde(default)]
    pub speedup_limit: i64,
}
endpoint!(QueryQuota, Get "/wxa/queryquota", Authorizer => Quota);

/// The domain lists modify_domain answers (with action `get`, what is configured).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DomainLists {
    #[serde(default)]
    pub requestdomain: Vec<String>,
    #[serde(default)]
    pub wsrequestdomain: Vec<String>,
    #[serde(default)]
    pub uploaddomain: Vec<String>,
    #[serde(default)]
    pub downloaddomain: Vec<String>,
    #[serde(default)]
    pub udpdomain: Vec<String>,
    #[serde(default)]
    pub tcpdomain: Vec<String>,
}

impl DomainLists {
    pub fn is_empty(&self) -> bool {
        [
            &self.requestdomain,
            &self.wsrequestdomain,
            &self.uploaddomain,
            &self.downloaddomain,
            &self.udpdomain,
            &self.tcpdomain,
        ]
        .iter()
        .all(|list| list.is_empty())
    }
}

/// modify_domain with action `get` ("配置小程序服务器域名" (modify_domain)).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GetDomains {
    action: &'static str,
}

impl Default for GetDomains {
    fn default() -> Self {
        Self { action: "get" }
    }
}
endpoint!(GetDomains, Post "/wxa/modify_domain", Authorizer => DomainLists);

/// "modify_domain": the validated action and domain lists.
#[derive(Debug, Clone, Serialize)]
pub struct ModifyDomain(pub Fields);
endpoint!(ModifyDomain, Post "/wxa/modify_domain", Authorizer => Passthrough);

/// "setwebviewdomain": the validated action and list.
#[derive(Debug, Clone, Serialize)]
pub struct SetWebviewDomain(pub Fields);
endpoint!(SetWebviewDomain, Post "/wxa/setwebviewdomain", Authorizer => Passthrough);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BindTester {
    pub wechatid: String,
}
endpoint!(BindTester, Post "/wxa/bind_tester", Authorizer => Passthrough);

/// "unbind_tester": `wechatid` or `userstr`.
#[derive(Debug, Clone, Serialize)]
pub struct UnbindTester(pub Fields);
endpoint!(UnbindTester, Post "/wxa/unbind_tester", Authorizer => Passthrough);

/// "memberauth" with `action: get_experiencer`: the testers.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ListTesters {
    action: &'static str,
}

impl Default for ListTesters {
    fn default() -> Self {
        Self {
            action: "get_experiencer",
        }
    }
}
endpoint!(ListTesters, Post "/wxa/memberauth", Authorizer => Passthrough);

json_answers!(
    PageList,
    CategoryList,
    SubmitAuditAnswer,
    AuditState,
    Quota,
    DomainLists
);
