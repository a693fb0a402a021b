//! Each mini program's privacy state: the user privacy guideline ("配置小程序用户隐私保护指引"
//! (setprivacysetting), "获取小程序用户隐私保护指引" (getprivacysetting), "上传小程序用户隐私保护指引"
//! (uploadprivacyextfile)), the privacy scan of the committed code ("获取隐私接口检测结果"
//! (get_code_privacy_info)) and the interfaces that need an application ("获取地理位置接口列表"
//! (get_privacy_interface), "申请地理位置接口" (apply_privacy_interface)). Token: the authorizer
//! access token, permission set 18.
//!
//! The model, in short:
//! - A commit takes what its template uses ([`CodePrivacy`], from the configuration) and starts a
//!   scan that runs `privacy.scan_secs` simulated seconds; until then get_code_privacy_info and
//!   submit_audit answer 61039.
//! - The scan's `without_conf_list`: the [`INTERFACES`] the code calls that neither the template's
//!   app.json nor the commit's ext_json declare in `requiredPrivateInfos`; `without_auth_list`:
//!   those it calls (or declares) whose application is not approved (status 5).
//! - submit_audit answers 61040 when an API of `without_auth_list` is declared, or is used without
//!   `privacy_api_not_use: true` (the 61040 text of get_code_privacy_info's page).
//! - A submission whose code collects privacy_keys the guideline (the development version, else
//!   the online one) does not list is accepted, and its review is rejected with a reason naming
//!   them ([`Uncovered::reason`]); the scripted outcome is kept for the next review.
//! - An application is approved (status 5) `privacy.apply_secs` after it is made, unless
//!   `/sim/privacy/interfaces` scripts or ends it otherwise; each end is pushed to the message URL
//!   (`wxa_privacy_apply`).
//! - Releasing makes the development guideline the online one (privacy_ver 1).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::code::{with_mini_program, Params};
use crate::config::CodePrivacy;
use crate::state::SimState;
use crate::wx::{invalid_args, json_body, ok, str_field, WxError};
use crate::Sim;

/// Every privacy_key and its Chinese description (getprivacysetting's `privacy_desc_list`).
pub const PRIVACY_KEYS: [(&str, &str); 28] = [
    ("UserInfo", "用户信息（微信昵称、头像）"),
    ("Location", "位置信息"),
    ("Address", "地址"),
    ("Invoice", "发票信息"),
    ("RunData", "微信运动数据"),
    ("Record", "麦克风"),
    ("Album", "选中的照片或视频信息"),
    ("Camera", "摄像头"),
    ("PhoneNumber", "手机号"),
    ("Contact", "通讯录（仅写入）权限"),
    ("DeviceInfo", "设备信息"),
    ("EXIDNumber", "身份证号码"),
    ("EXOrderInfo", "订单信息"),
    ("EXUserPublishContent", "发布内容"),
    ("EXUserFollowAcct", "所关注账号"),
    ("EXUserOpLog", "操作日志"),
    ("AlbumWriteOnly", "相册（仅写入）权限"),
    ("LicensePlate", "车牌号"),
    ("BlueTooth", "蓝牙"),
    ("CalendarWriteOnly", "日历（仅写入）权限"),
    ("Email", "邮箱"),
    ("MessageFile", "选中的文件"),
    ("ChooseLocation", "选择的位置信息"),
    ("Accelerometer", "加速传感器"),
    ("Compass", "磁场传感器"),
    ("DeviceMotion", "方向传感器"),
    ("Gyroscope", "陀螺仪传感器"),
    ("Clipboard", "剪切板"),
];

/// The interfaces that need an application and a `requiredPrivateInfos` declaration (the location
/// APIs of get_privacy_interface): name, Chinese name, description, doc path.
pub const INTERFACES: [(&str, &str, &str, &str); 8] = [
    (
        "wx.chooseAddress",
        "获取用户收货地址",
        "调起用户编辑收货地址原生界面，并在编辑完成后返回用户选择的地址。",
        "open-api/address/wx.chooseAddress",
    ),
    (
        "wx.choosePoi",
        "选择位置，支持模糊定位（精确到市）和精确定位混选",
        "选择位置，支持模糊定位和精确定位混选",
        "location/wx.choosePoi",
    ),
    (
        "wx.getLocation",
        "获取当前的地理位置、速度",
        "获取当前的地理位置、速度。",
        "location/wx.getLocation",
    ),
    (
        "wx.onLocationChange",
        "监听实时地理位置变化事件",
        "监听实时地理位置变化事件，需结合 wx.startLocationUpdate 使用。",
        "location/wx.onLocationChange",
    ),
    (
        "wx.startLocationUpdate",
        "开启小程序进入前台时接收位置消息",
        "开启小程序进入前台时接收位置消息。",
        "location/wx.startLocationUpdate",
    ),
    (
        "wx.startLocationUpdateBackground",
        "开启小程序进入前后台时均接收位置消息",
        "开启小程序进入前后台时均接收位置消息。",
        "location/wx.startLocationUpdateBackground",
    ),
    (
        "wx.chooseLocation",
        "打开地图选择位置",
        "打开地图选择位置。",
        "location/wx.chooseLocation",
    ),
    (
        "wx.getFuzzyLocation",
        "获取当前的模糊地理位置",
        "获取当前的模糊地理位置。",
        "location/wx.getFuzzyLocation",
    ),
];

fn is_interface(api: &str) -> bool {
    INTERFACES.iter().any(|(name, ..)| *name == api)
}

/// `getLocation` and `wx.getLocation` alike (app.json writes the former).
fn api_name(declared: &str) -> String {
    if declared.starts_with("wx.") {
        declared.to_owned()
    } else {
        format!("wx.{declared}")
    }
}

/// The developer's (collector's) settings of a guideline; WeChat answers every field, empty or not.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OwnerSetting {
    pub contact_email: String,
    pub contact_phone: String,
    pub contact_qq: String,
    pub contact_weixin: String,
    pub ext_file_media_id: String,
    pub notice_method: String,
    pub store_expire_timestamp: String,
}

impl OwnerSetting {
    fn has_contact(&self) -> bool {
        [
            &self.contact_email,
            &self.contact_phone,
            &self.contact_qq,
            &self.contact_weixin,
        ]
        .iter()
        .any(|c| !c.is_empty())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettingItem {
    pub privacy_key: String,
    #[serde(default)]
    pub privacy_text: String,
}

/// One version of the user privacy guideline.
#[derive(Debug, Clone, Serialize)]
pub struct Guideline {
    pub owner_setting: OwnerSetting,
    pub setting_list: Vec<SettingItem>,
    pub update_time: i64,
}

/// get_privacy_interface's `status` ("status状态说明").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InterfaceStatus {
    /// 1 待申请开通
    ToApply,
    /// 3 申请中
    Applying,
    /// 4 申请失败
    Failed,
    /// 5 已开通
    Opened,
}

impl InterfaceStatus {
    pub fn code(self) -> i64 {
        match self {
            Self::ToApply => 1,
            Self::Applying => 3,
            Self::Failed => 4,
            Self::Opened => 5,
        }
    }
}

/// How an application ends: approved unless scripted otherwise (`/sim/privacy/interfaces`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ApplyOutcome {
    Approved,
    Rejected { fail_reason: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct Application {
    pub api_name: String,
    pub audit_id: i64,
    pub content: String,
    pub apply_time: i64,
    pub resolves_at: i64,
    pub status: InterfaceStatus,
    pub fail_reason: String,
    pub outcome: ApplyOutcome,
}

/// The privacy scan of the committed code.
#[derive(Debug, Clone, Serialize)]
pub struct CodeScan {
    pub template_id: i64,
    pub uses: CodePrivacy,
    /// Interfaces declared in `requiredPrivateInfos` (app.json and ext_json), as `wx.…`.
    pub declared: Vec<String>,
    pub done_at: i64,
}

/// get_code_privacy_info's answer once the scan is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanResult {
    pub without_auth_list: Vec<String>,
    pub without_conf_list: Vec<String>,
}

/// The privacy_keys the code collects that the guideline does not list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncovered(pub Vec<String>);

impl Uncovered {
    /// The review's rejection reason.
    pub fn reason(&self) -> String {
        format!(
            "小程序未配置用户隐私保护指引，或指引未声明代码收集的用户信息：{}。请通过 setprivacysetting 补充后重新提交审核。",
            self.0.join("、")
        )
    }
}

/// One mini program's privacy state (shown by `/sim/mini-programs/{appid}` as `privacy`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MpPrivacy {
    pub scan: Option<CodeScan>,
    /// privacy_ver 2: set by setprivacysetting, online once a version is released.
    pub development: Option<Guideline>,
    /// privacy_ver 1: the guideline of the released version.
    pub online: Option<Guideline>,
    /// ext_file_media_ids uploaded for this mini program.
    pub ext_files: Vec<String>,
    /// Applications by api_name.
    pub interfaces: BTreeMap<String, Application>,
    /// Outcomes scripted for the next application of an API.
    pub scripted: BTreeMap<String, ApplyOutcome>,
    /// Applications ended and not pushed yet (`wxa_privacy_apply`).
    #[serde(skip)]
    pub unpushed: Vec<Application>,
}

impl MpPrivacy {
    /// A commit of a template using `uses`, with `ext_json`: a new scan, done `scan_secs` from `now`.
    pub fn on_commit(
        &mut self,
        template_id: i64,
        uses: CodePrivacy,
        ext_json: &Value,
        now: i64,
        scan_secs: i64,
    ) {
        let from_ext = ext_json
            .get("requiredPrivateInfos")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        let mut declared: Vec<String> = uses
            .required_private_infos
            .iter()
            .map(String::as_str)
            .chain(from_ext)
            .map(api_name)
            .collect();
        declared.sort();
        declared.dedup();
        self.scan = Some(CodeScan {
            template_id,
            uses,
            declared,
            done_at: now + scan_secs,
        });
    }

    /// Ends the applications whose time has come; `opened` interfaces are open from the start.
    pub fn settle(&mut self, now: i64, opened: &[String]) {
        for api in opened {
            self.interfaces
                .entry(api.clone())
                .or_insert_with(|| Application {
                    api_name: api.clone(),
                    audit_id: 0,
                    content: String::new(),
                    apply_time: 0,
                    resolves_at: 0,
                    status: InterfaceStatus::Opened,
                    fail_reason: String::new(),
                    outcome: ApplyOutcome::Approved,
                });
        }
        for application in self.interfaces.values_mut() {
            if application.status == InterfaceStatus::Applying && application.resolves_at <= now {
                match &application.outcome {
                    ApplyOutcome::Approved => application.status = InterfaceStatus::Opened,
                    ApplyOutcome::Rejected { fail_reason } => {
                        application.status = InterfaceStatus::Failed;
                        application.fail_reason = fail_reason.clone();
                    }
                }
                self.unpushed.push(application.clone());
            }
        }
    }

    fn status_of(&self, api: &str) -> InterfaceStatus {
        self.interfaces
            .get(api)
            .map_or(InterfaceStatus::ToApply, |a| a.status)
    }

    /// The scan's result: 86001 before any commit, 61039 while it runs.
    pub fn scan_result(&self, now: i64) -> Result<ScanResult, WxError> {
        let scan = self
            .scan
            .as_ref()
            .ok_or_else(|| WxError::new(86001, "no code committed by the third party"))?;
        if scan.done_at > now {
            return Err(WxError::new(
                61039,
                "隐私接口检查任务未完成，请稍等一分钟再重试",
            ));
        }
        let used: Vec<&String> = scan
            .uses
            .privacy_apis
            .iter()
            .filter(|api| is_interface(api))
            .collect();
        let without_conf_list: Vec<String> = used
            .iter()
            .filter(|api| !scan.declared.contains(api))
            .map(|api| (*api).clone())
            .collect();
        let mut without_auth_list: Vec<String> = used
            .into_iter()
            .chain(scan.declared.iter().filter(|api| is_interface(api)))
            .filter(|api| self.status_of(api) != InterfaceStatus::Opened)
            .cloned()
            .collect();
        without_auth_list.sort();
        without_auth_list.dedup();
        Ok(ScanResult {
            without_auth_list,
            without_conf_list,
        })
    }

    /// What submit_audit checks of the code's privacy: 61039 while the scan runs, 61040 for an
    /// unapproved interface that is declared, or used without `privacy_api_not_use`. Answers the
    /// privacy_keys the guideline does not cover (the review then rejects).
    pub fn check_submit(
        &self,
        now: i64,
        privacy_api_not_use: bool,
    ) -> Result<Option<Uncovered>, WxError> {
        let result = self.scan_result(now)?;
        let declared = self.scan.as_ref().map(|s| &s.declared);
        if let Some(api) = result
            .without_auth_list
            .iter()
            .find(|api| declared.is_some_and(|d| d.contains(api)) || !privacy_api_not_use)
        {
            return Err(WxError::new(
                61040,
                format!(
                    "ext.json配置的隐私接口{api}无权限，请申请权限后再提交审核。或者代码中含有ext.json未配置隐私接口{api}（暂无权限），请配置并申请权限或者承诺不使用这些接口（设置参数privacy_api_not_use为true）后再提交审核。"
                ),
            ));
        }
        let guideline = self.development.as_ref().or(self.online.as_ref());
        let listed = |key: &String| {
            guideline.is_some_and(|g| g.setting_list.iter().any(|s| &s.privacy_key == key))
        };
        let missing: Vec<String> = self
            .scan
            .iter()
            .flat_map(|s| s.uses.privacy_keys.iter())
            .filter(|key| !listed(key))
            .cloned()
            .collect();
        Ok((!missing.is_empty()).then_some(Uncovered(missing)))
    }

    /// A version is released: its guideline (the development one) goes online.
    pub fn on_release(&mut self) {
        if let Some(development) = &self.development {
            self.online = Some(development.clone());
        }
    }
}

/// `privacy_ver`: 1 the online version, 2 (default) the development one; 86071 otherwise.
fn privacy_ver(body: &Value) -> Result<i64, WxError> {
    match body.get("privacy_ver") {
        None | Some(Value::Null) => Ok(2),
        Some(v) => match v.as_i64() {
            Some(ver @ (1 | 2)) => Ok(ver),
            _ => Err(WxError::new(86071, "privacy_ver参数无效")),
        },
    }
}

fn label_of(key: &str) -> Option<&'static str> {
    PRIVACY_KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, label)| *label)
}

/// The owner_setting of a setprivacysetting body: 86069 when it, notice_method or every contact is
/// missing ("owner_setting必填字段字段缺失"), 86072 for a store_expire_timestamp that is not a
/// number, 40007 for an ext_file_media_id not uploaded for this mini program.
fn owner_setting(body: &Value, ext_files: &[String]) -> Result<OwnerSetting, WxError> {
    let missing = || WxError::new(86069, "owner_setting必填字段字段缺失");
    let given = body
        .get("owner_setting")
        .filter(|v| !v.is_null())
        .ok_or_else(missing)?;
    let owner: OwnerSetting = serde_json::from_value(given.clone())
        .map_err(|_| WxError::new(47001, "data format error: owner_setting"))?;
    if owner.notice_method.is_empty() || !owner.has_contact() {
        return Err(missing());
    }
    let expiry = &owner.store_expire_timestamp;
    if !expiry.is_empty() && !expiry.chars().all(|c| c.is_ascii_digit()) {
        return Err(WxError::new(86072, "store_expire_timestamp参数无效"));
    }
    let media = &owner.ext_file_media_id;
    if !media.is_empty() && !ext_files.contains(media) {
        return Err(WxError::new(40007, "invalid media_id: ext_file_media_id"));
    }
    Ok(owner)
}

/// The setting_list of a setprivacysetting body: known privacy_keys, each once, with a purpose.
fn setting_list(body: &Value) -> Result<Vec<SettingItem>, WxError> {
    let given = body
        .get("setting_list")
        .filter(|v| !v.is_null())
        .ok_or_else(|| WxError::new(41002, "setting_list missing"))?;
    let items: Vec<SettingItem> = serde_json::from_value(given.clone())
        .map_err(|_| WxError::new(47001, "data format error: setting_list"))?;
    for (i, item) in items.iter().enumerate() {
        if label_of(&item.privacy_key).is_none() {
            return Err(invalid_args(&format!(
                "privacy_key {} is not a privacy_key",
                item.privacy_key
            )));
        }
        if item.privacy_text.trim().is_empty() {
            return Err(invalid_args(&format!(
                "privacy_text of {} missing",
                item.privacy_key
            )));
        }
        if items[..i].iter().any(|s| s.privacy_key == item.privacy_key) {
            return Err(invalid_args(&format!(
                "privacy_key {} listed twice",
                item.privacy_key
            )));
        }
    }
    Ok(items)
}

pub async fn set_privacy_setting(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let ver = privacy_ver(&body)?;
        let now = state.now();
        let privacy = &mut state.code_state(appid).privacy;
        let owner = owner_setting(&body, &privacy.ext_files)?;
        if ver == 1 {
            // The online version: only owner_setting, and not its ext_file_media_id, may change.
            let online = privacy
                .online
                .as_mut()
                .ok_or_else(|| WxError::new(86074, "现网隐私协议不存在"))?;
            if body.get("setting_list").is_some_and(|v| !v.is_null()) {
                return Err(invalid_args(
                    "setting_list cannot be set on the online version (privacy_ver 1)",
                ));
            }
            if owner.ext_file_media_id != online.owner_setting.ext_file_media_id {
                return Err(invalid_args(
                    "ext_file_media_id of the online version cannot change",
                ));
            }
            online.owner_setting = owner;
            online.update_time = now;
        } else {
            let setting_list = setting_list(&body)?;
            privacy.development = Some(Guideline {
                owner_setting: owner,
                setting_list,
                update_time: now,
            });
        }
        ok(json!({}))
    })
}

pub async fn get_privacy_setting(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let ver = privacy_ver(&body)?;
        let privacy = &state.code_state(appid).privacy;
        let guideline = if ver == 1 {
            privacy.online.as_ref()
        } else {
            privacy.development.as_ref()
        };
        let setting_list: Vec<Value> = guideline
            .iter()
            .flat_map(|g| g.setting_list.iter())
            .map(|s| json!({ "privacy_key": s.privacy_key, "privacy_text": s.privacy_text, "privacy_label": label_of(&s.privacy_key).unwrap_or_default() }))
            .collect();
        let desc: Vec<Value> = PRIVACY_KEYS
            .iter()
            .map(|(key, desc)| json!({ "privacy_key": key, "privacy_desc": desc }))
            .collect();
        let code = privacy.scan.as_ref();
        ok(json!({
            "code_exist": i64::from(code.is_some()),
            "privacy_list": code.map(|s| s.uses.privacy_keys.clone()).unwrap_or_default(),
            "setting_list": setting_list,
            "update_time": guideline.map_or(0, |g| g.update_time),
            "owner_setting": guideline.map(|g| g.owner_setting.clone()).unwrap_or_default(),
            "privacy_desc": { "privacy_desc_list": desc },
            "sdk_privacy_info_list": [],
        }))
    })
}

/// uploadprivacyextfile's limit: 100 KB.
const EXT_FILE_LIMIT: usize = 100 * 1024;

/// The `file` part of a multipart/form-data body: (filename, content).
fn multipart_file<'a>(headers: &HeaderMap, body: &'a [u8]) -> Option<(String, &'a [u8])> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut rest = body;
    while let Some(start) = find(rest, delimiter) {
        rest = &rest[start + delimiter.len()..];
        let headers_end = find(rest, b"\r\n\r\n")?;
        let part_headers = String::from_utf8_lossy(&rest[..headers_end]).to_string();
        let content = &rest[headers_end + 4..];
        let end = find(content, delimiter)?;
        let content = content[..end]
            .strip_suffix(b"\r\n")
            .unwrap_or(&content[..end]);
        let disposition = part_headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))?;
        let attribute = |name: &str| {
            disposition.split(';').find_map(|p| {
                p.trim()
                    .strip_prefix(&format!("{name}="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        if attribute("name").as_deref() == Some("file") {
            return Some((attribute("filename").unwrap_or_default(), content));
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub async fn upload_privacy_ext_file(
    State(sim): State<Sim>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let (filename, content) = multipart_file(&headers, &body)
            .ok_or_else(|| WxError::new(41005, "media data missing: file"))?;
        // The page's errcodes: 40006 invalid file type (only .txt), 40126 invalid text size.
        if !filename.to_ascii_lowercase().ends_with(".txt") {
            return Err(WxError::new(40006, "invalid file type"));
        }
        if content.len() > EXT_FILE_LIMIT {
            return Err(WxError::new(40126, "invalid text size"));
        }
        let media_id = format!(
            "{}",
            2_112_311_471_891_169_280u64 + rand::random::<u32>() as u64
        );
        state
            .code_state(appid)
            .privacy
            .ext_files
            .push(media_id.clone());
        ok(json!({ "ext_file_media_id": media_id }))
    })
}

pub async fn get_code_privacy_info(State(sim): State<Sim>, Query(params): Params) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let now = state.now();
        let result = settled(state, appid).scan_result(now)?;
        ok(json!(result))
    })
}

pub async fn get_privacy_interface(State(sim): State<Sim>, Query(params): Params) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let privacy = settled(state, appid);
        let list: Vec<Value> = INTERFACES
            .iter()
            .map(|(name, ch_name, desc, doc)| {
                let mut item = json!({
                    "api_name": name,
                    "api_ch_name": ch_name,
                    "api_desc": desc,
                    "status": InterfaceStatus::ToApply.code(),
                    "api_link": format!("https://developers.weixin.qq.com/miniprogram/dev/api/{doc}.html"),
                    "group_name": "地理位置",
                });
                if let Some(a) = privacy.interfaces.get(*name) {
                    item["status"] = json!(a.status.code());
                    item["apply_time"] = json!(a.apply_time);
                    item["audit_id"] = json!(a.audit_id);
                    if a.status == InterfaceStatus::Failed {
                        item["fail_reason"] = json!(a.fail_reason);
                    }
                }
                item
            })
            .collect();
        ok(json!({ "interface_list": list }))
    })
}

pub async fn apply_privacy_interface(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let api = str_field(&body, "api_name")?.to_owned();
        if !is_interface(&api) {
            return Err(invalid_args(&format!(
                "api_name {api} needs no application (names are case sensitive)"
            )));
        }
        let content = str_field(&body, "content")?.to_owned();
        if content.chars().count() > 300 {
            return Err(invalid_args("content longer than 300 characters"));
        }
        let count = |name: &str| body.get(name).and_then(Value::as_array).map_or(0, Vec::len);
        if count("pic_list") > 10 || count("video_list") > 10 {
            return Err(invalid_args(
                "pic_list and video_list take at most 10 items",
            ));
        }
        let now = state.now();
        let apply_secs = state.config.privacy.apply_secs;
        let audit_id = state.next_auditid;
        let privacy = settled(state, appid);
        if let Some(status @ (InterfaceStatus::Applying | InterfaceStatus::Opened)) =
            privacy.interfaces.get(&api).map(|a| a.status)
        {
            return Err(invalid_args(&format!(
                "{api} is already {}",
                if status == InterfaceStatus::Opened {
                    "opened"
                } else {
                    "under review"
                }
            )));
        }
        let outcome = privacy
            .scripted
            .remove(&api)
            .unwrap_or(ApplyOutcome::Approved);
        privacy.interfaces.insert(
            api.clone(),
            Application {
                api_name: api,
                audit_id,
                content,
                apply_time: now,
                resolves_at: now + apply_secs,
                status: InterfaceStatus::Applying,
                fail_reason: String::new(),
                outcome,
            },
        );
        state.next_auditid += 1;
        state
            .due_applications
            .insert((now + apply_secs, appid.to_owned()));
        ok(json!({ "audit_id": audit_id }))
    })
}

/// `/sim/privacy/interfaces`: how this mini program's application of `api_name` ends.
#[derive(Debug, Deserialize)]
pub struct ScriptApplication {
    pub appid: String,
    pub api_name: String,
    #[serde(flatten)]
    pub outcome: ApplyOutcome,
}

impl Sim {
    /// Ends the pending application of `api_name` now with `outcome`, or, with none pending,
    /// scripts how the next one ends. Answers whether one was pending (None: no such mini program).
    pub fn script_application(&self, script: ScriptApplication) -> Option<bool> {
        let resolved = {
            let mut state = self.state();
            state.mini_program(&script.appid)?;
            let now = state.now();
            let privacy = settled(&mut state, &script.appid);
            let resolved = match privacy
                .interfaces
                .get_mut(&script.api_name)
                .filter(|a| a.status == InterfaceStatus::Applying)
            {
                Some(application) => {
                    application.outcome = script.outcome;
                    application.resolves_at = now;
                    privacy.settle(now, &[]);
                    true
                }
                None => {
                    privacy.scripted.insert(script.api_name, script.outcome);
                    false
                }
            };
            if resolved {
                state.due_applications.insert((now, script.appid));
            }
            resolved
        };
        self.push_privacy_applications();
        Some(resolved)
    }

    /// Ends the applications whose time has come and pushes each ended one to its mini program's
    /// message URL ("申请地理位置接口" (apply_privacy_interface): `wxa_privacy_apply`, whose
    /// `status` is 3 approved, 2 rejected, unlike get_privacy_interface's). Only the mini
    /// programs with an application due are visited (`due_applications`, by time).
    pub fn push_privacy_applications(&self) {
        let ended: Vec<(String, Application)> = {
            let mut state = self.state();
            let now = state.now();
            let mut appids = std::collections::BTreeSet::new();
            while state
                .due_applications
                .first()
                .is_some_and(|(at, _)| *at <= now)
            {
                if let Some((_, appid)) = state.due_applications.pop_first() {
                    appids.insert(appid);
                }
            }
            appids
                .into_iter()
                .flat_map(|appid| {
                    let ended = std::mem::take(&mut settled(&mut state, &appid).unpushed);
                    ended.into_iter().map(move |a| (appid.clone(), a))
                })
                .collect()
        };
        for (appid, a) in ended {
            let (status, reason) = match a.status {
                InterfaceStatus::Opened => ("3", String::new()),
                _ => ("2", a.fail_reason.clone()),
            };
            let fields = crate::push::cdata_elements(&[
                ("api_name", a.api_name.clone()),
                ("apply_time", a.apply_time.to_string()),
                ("audit_id", a.audit_id.to_string()),
                ("audit_time", a.resolves_at.to_string()),
                ("reason", reason),
                ("status", status.to_owned()),
            ]);
            let inner = format!("<result_info>{fields}</result_info>");
            self.push_mini_program_event(&appid, "wxa_privacy_apply", &inner);
        }
    }
}

/// This mini program's privacy state, its applications settled now.
pub fn settled<'a>(state: &'a mut SimState, appid: &str) -> &'a mut MpPrivacy {
    let now = state.now();
    let opened = state.config.privacy.opened_apis.clone();
    let privacy = &mut state.code_state(appid).privacy;
    privacy.settle(now, &opened);
    privacy
}
