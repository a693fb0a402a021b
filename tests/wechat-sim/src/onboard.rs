//! A new mini program's basic information, categories and ICP filing ("小程序备案"), on the
//! simulated clock:
//! - "新增临时素材" (media/upload, authorizer token) answers media ids the others check;
//! - "获取基本信息" (getaccountbasicinfo) with the yearly quotas (names 2, introductions 5,
//!   avatars 5); "微信认证名称检测" (checkwxverifynickname) and "设置名称" (setnickname) with the
//!   banned words and protected names `/sim/onboarding/words` scripts; a name review ends
//!   `nickname_secs` later (as `/sim/onboarding/outcomes` scripts, passed by default) and pushes
//!   `wxa_nickname_audit`; "查询改名审核状态" (api_wxa_querynickname);
//! - modifyheadimage, modifysignature; addcategory (known ids only) whose review ends
//!   `category_secs` later and pushes `wxa_category_audit`; getcategory;
//! - the `/wxa/icp/` family: entrance info (a fast-registered mini program starts not filed, the
//!   configured ones filed), the service-type dictionary, media uploads, the face-verification
//!   task (done `face_secs` later, or never: finished unverified after `face_expiry_secs`, 24 h), apply_icp_filing
//!   answering `hints` naming the fields at fault, then platform review → authority review →
//!   filed, each step's result pushed (`notify_icpfiling_verify_result`,
//!   `notify_apply_icpfiling_result`).

use std::collections::{HashMap, HashSet, VecDeque};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::code::{with_mini_program, Params};
use crate::push::{cdata_elements, Recipient};
use crate::register::TaskState;
use crate::state::SimState;
use crate::wx::{invalid_args, json_body, ok, str_field, WxError};
use crate::Sim;

/// How long the simulated reviews take (simulated seconds).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Durations {
    pub nickname_secs: i64,
    pub category_secs: i64,
    pub face_secs: i64,
    pub platform_secs: i64,
    pub authority_secs: i64,
    /// How long an unverified face-verification task lives (WeChat: 24 h).
    pub face_expiry_secs: i64,
}

impl Default for Durations {
    fn default() -> Self {
        Self {
            nickname_secs: 60,
            category_secs: 60,
            face_secs: 120,
            platform_secs: 3600,
            authority_secs: 7200,
            face_expiry_secs: FACE_TASK_SECS,
        }
    }
}

/// What a review is scripted to end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Review {
    Nickname,
    Category,
    Face,
    Platform,
    Authority,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outcome {
    #[serde(default = "yes")]
    pub pass: bool,
    #[serde(default)]
    pub reason: Option<String>,
    /// Face verification only: the legal person never verifies (the task finishes unverified
    /// after 24 h).
    #[serde(default)]
    pub never: bool,
    /// Filing reviews: the fields at fault (`key_name`, `error`, `suggest`).
    #[serde(default)]
    pub audit_data: Vec<Value>,
}

fn yes() -> bool {
    true
}

/// `POST /sim/onboarding/outcomes`.
#[derive(Debug, Clone, Deserialize)]
pub struct ScriptedOutcome {
    pub appid: String,
    pub review: Review,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// `POST /sim/onboarding/words`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Words {
    #[serde(default)]
    pub banned: Vec<String>,
    #[serde(default)]
    pub protected: Vec<String>,
}

/// The face-verification task lives 24 h unverified.
pub const FACE_TASK_SECS: i64 = 24 * 3600;
const NAME_QUOTA: i64 = 2;
const SIGNATURE_QUOTA: i64 = 5;
const HEAD_QUOTA: i64 = 5;
const IMAGE_LIMIT: usize = 2 * 1024 * 1024;

/// Level 1 (`parent_type` 0) and level 2 service content types.
pub const SERVICE_TYPES: &[(i64, i64, &str)] = &[
    (1, 0, "生活服务"),
    (2, 1, "餐饮服务"),
    (3, 1, "家政服务"),
    (10, 0, "工具"),
    (11, 10, "效率"),
    (12, 10, "信息查询"),
];

/// Categories addcategory knows: (first, second, needs a certificate).
pub const CATEGORIES: &[(i64, i64, &str, &str)] = &[
    (287, 289, "工具", "效率"),
    (287, 612, "工具", "信息查询"),
    (304, 305, "餐饮", "餐饮服务场所"),
];

#[derive(Debug, Clone, Serialize)]
pub struct NameAudit {
    pub audit_id: String,
    pub appid: String,
    pub nickname: String,
    /// 1 reviewing, 2 rejected, 3 passed.
    pub audit_stat: i64,
    pub fail_reason: String,
    pub resolves_at: i64,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize)]
pub struct CategoryAudit {
    pub first: i64,
    pub second: i64,
    pub audit_status: i64,
    pub audit_reason: String,
    pub resolves_at: i64,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyTask {
    pub task_id: String,
    pub appid: String,
    pub created_at: i64,
    pub resolves_at: i64,
    pub is_finish: bool,
    pub face_status: i64,
    pub outcome: Outcome,
}

/// One mini program's basic information and filing, beyond its configuration.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Account {
    pub signature: String,
    pub names_used: i64,
    pub signatures_used: i64,
    pub heads_used: i64,
    pub media: HashSet<String>,
    pub categories: Vec<CategoryAudit>,
    /// None: as its origin says (a fast-registered one is not filed, a configured one is).
    pub filing_status: Option<i64>,
    pub audit_data: Vec<Value>,
    pub icp_media: HashMap<String, String>,
    pub filing: Option<Value>,
    pub filing_resolves_at: Option<i64>,
}

#[derive(Debug, Default, Serialize)]
pub struct OnboardState {
    pub durations: Durations,
    pub accounts: HashMap<String, Account>,
    pub name_audits: Vec<NameAudit>,
    pub tasks: Vec<VerifyTask>,
    #[serde(skip)]
    scripted: HashMap<(String, Review), VecDeque<Outcome>>,
    pub banned: Vec<String>,
    pub protected: Vec<String>,
}

impl OnboardState {
    fn next_outcome(&mut self, appid: &str, review: Review) -> Outcome {
        self.scripted
            .get_mut(&(appid.to_owned(), review))
            .and_then(VecDeque::pop_front)
            .unwrap_or(Outcome {
                pass: true,
                ..Outcome::default()
            })
    }
}

fn account<'a>(state: &'a mut SimState, appid: &str) -> &'a mut Account {
    state.onboard.accounts.entry(appid.to_owned()).or_default()
}

fn fast_registered(state: &SimState, appid: &str) -> bool {
    state
        .registrations
        .tasks
        .iter()
        .any(|t| matches!(&t.state, TaskState::Registered { appid: a } if a == appid))
}

fn filing_status(state: &SimState, appid: &str) -> i64 {
    let stored = state
        .onboard
        .accounts
        .get(appid)
        .and_then(|a| a.filing_status);
    stored.unwrap_or(if fast_registered(state, appid) {
        1024
    } else {
        6
    })
}

fn media_id() -> String {
    format!("media_{:016x}", rand::random::<u64>())
}

fn has_banned_word(state: &SimState, text: &str) -> bool {
    state
        .onboard
        .banned
        .iter()
        .any(|w| text.contains(w.as_str()))
}

/// The parts of a multipart/form-data body: name → (filename, content).
fn multipart_parts(headers: &HeaderMap, body: &[u8]) -> HashMap<String, (String, Vec<u8>)> {
    let mut parts = HashMap::new();
    let Some(boundary) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| {
            ct.split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
                .map(|b| b.trim_matches('"').to_owned())
        })
    else {
        return parts;
    };
    let delimiter = format!("--{boundary}");
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let mut rest = body;
    while let Some(start) = find(rest, delimiter.as_bytes()) {
        rest = &rest[start + delimiter.len()..];
        let Some(headers_end) = find(rest, b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&rest[..headers_end]).to_string();
        let content = &rest[headers_end + 4..];
        let Some(end) = find(content, delimiter.as_bytes()) else {
            break;
        };
        let value = content[..end]
            .strip_suffix(b"\r\n")
            .unwrap_or(&content[..end]);
        let attribute = |name: &str| {
            head.split(';').find_map(|p| {
                p.trim()
                    .strip_prefix(&format!("{name}="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        if let Some(name) = attribute("name") {
            parts.insert(
                name,
                (attribute("filename").unwrap_or_default(), value.to_vec()),
            );
        }
    }
    parts
}

/// `POST /cgi-bin/media/upload?type=image`: the `media` part, an image of at most 2 MB.
pub async fn media_upload(
    State(sim): State<Sim>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        if params.get("type").map(String::as_str) != Some("image") {
            return Err(WxError::new(40004, "invalid media type"));
        }
        let parts = multipart_parts(&headers, &body);
        let (_, content) = parts
            .get("media")
            .filter(|(_, c)| !c.is_empty())
            .ok_or_else(|| WxError::new(41005, "media data missing"))?;
        if content.len() > IMAGE_LIMIT {
            return Err(WxError::new(40009, "invalid image size"));
        }
        let id = media_id();
        account(state, appid).media.insert(id.clone());
        let now = state.now();
        ok(json!({ "type": "image", "media_id": id, "created_at": now }))
    })
}

pub async fn get_account_basic_info(State(sim): State<Sim>, Query(params): Params) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let mp = state.mini_program(appid).cloned();
        let a = account(state, appid).clone();
        let quota =
            |used: i64, quota: i64| json!({ "modify_used_count": used, "modify_quota": quota });
        ok(json!({
            "appid": appid,
            "account_type": 3,
            "principal_type": 1,
            "principal_name": mp.as_ref().map(|m| m.principal_name.clone()),
            "realname_status": 1,
            "nickname": mp.as_ref().map(|m| m.nickname.clone()),
            "signature": a.signature,
            "head_image_url": mp.as_ref().map(|m| m.head_img.clone()),
            "nickname_info": quota(a.names_used, NAME_QUOTA),
            "signature_info": quota(a.signatures_used, SIGNATURE_QUOTA),
            "head_image_info": quota(a.heads_used, HEAD_QUOTA),
        }))
    })
}

/// A name's form: 4 to 30 characters (53010 otherwise).
fn check_name_form(name: &str) -> Result<(), WxError> {
    let length = name.chars().count();
    if !(4..=30).contains(&length) || name.chars().any(char::is_control) {
        return Err(WxError::new(53010, "invalid nickname format"));
    }
    Ok(())
}

pub async fn check_nickname(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, _| {
        let body = json_body(&body)?;
        let name = str_field(&body, "nick_name")?;
        check_name_form(name)?;
        if has_banned_word(state, name) {
            return Err(WxError::new(53012, "nickname forbidden"));
        }
        let hit = state.onboard.protected.iter().any(|p| p == name);
        ok(json!({
            "hit_condition": hit,
            "wording": if hit { "该名称与已有商标或帐号名称相同，需补充命名材料" } else { "" },
        }))
    })
}

fn require_media(state: &mut SimState, appid: &str, id: &str) -> Result<(), WxError> {
    if account(state, appid).media.contains(id) {
        Ok(())
    } else {
        Err(WxError::new(40007, "invalid media_id"))
    }
}

pub async fn set_nickname(State(sim): State<Sim>, Query(params): Params, body: Bytes) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let name = str_field(&body, "nick_name")?.to_owned();
        check_name_form(&name).map_err(|_| WxError::new(91004, "invalid nickname"))?;
        if has_banned_word(state, &name) {
            return Err(WxError::new(91004, "invalid nickname"));
        }
        if state
            .onboard
            .name_audits
            .iter()
            .any(|a| a.appid == appid && a.audit_stat == 1)
        {
            return Err(WxError::new(91019, "nickname under review"));
        }
        let taken = state
            .config
            .mini_programs
            .iter()
            .any(|m| m.appid != appid && m.nickname == name);
        if taken {
            return Err(WxError::new(91007, "nickname taken"));
        }
        let license = body.get("license").and_then(Value::as_str).unwrap_or("");
        if license.is_empty() {
            return Err(WxError::new(91009, "license required"));
        }
        require_media(state, appid, license)?;
        for n in 1..=5 {
            if let Some(id) = body
                .get(format!("naming_other_stuff_{n}"))
                .and_then(Value::as_str)
            {
                require_media(state, appid, id)?;
            }
        }
        if account(state, appid).names_used >= NAME_QUOTA {
            return Err(WxError::new(91010, "nickname quota spent this year"));
        }
        let outcome = state.onboard.next_outcome(appid, Review::Nickname);
        let audit_id = format!("{}", 800_000_000 + rand::random::<u32>() as u64);
        let resolves_at = state.now() + state.onboard.durations.nickname_secs;
        state.onboard.name_audits.push(NameAudit {
            audit_id: audit_id.clone(),
            appid: appid.to_owned(),
            nickname: name,
            audit_stat: 1,
            fail_reason: String::new(),
            resolves_at,
            outcome,
        });
        ok(json!({ "audit_id": audit_id, "wording": "" }))
    })
}

pub async fn query_nickname(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let audit_id = match body.get("audit_id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(WxError::new(41002, "audit_id missing")),
        };
        let audit = state
            .onboard
            .name_audits
            .iter()
            .find(|a| a.appid == appid && a.audit_id == audit_id)
            .ok_or_else(|| WxError::new(91011, "no such audit record"))?;
        ok(json!({
            "nickname": audit.nickname,
            "audit_stat": audit.audit_stat,
            "fail_reason": audit.fail_reason,
        }))
    })
}

pub async fn modify_head_image(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let id = str_field(&body, "head_img_media_id")?.to_owned();
        require_media(state, appid, &id)?;
        if account(state, appid).heads_used >= HEAD_QUOTA {
            return Err(WxError::new(53202, "head image quota spent"));
        }
        account(state, appid).heads_used += 1;
        if let Some(mp) = state.mini_program_mut(appid) {
            mp.head_img = format!("http://wx.qlogo.cn/mmhead/{id}/0");
        }
        ok(json!({}))
    })
}

pub async fn modify_signature(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let signature = str_field(&body, "signature")?.to_owned();
        if !(4..=120).contains(&signature.chars().count()) {
            return Err(WxError::new(53204, "invalid signature"));
        }
        if has_banned_word(state, &signature) {
            return Err(WxError::new(53201, "signature hits a banned word"));
        }
        let a = account(state, appid);
        if a.signatures_used >= SIGNATURE_QUOTA {
            return Err(WxError::new(53200, "signature quota spent"));
        }
        a.signatures_used += 1;
        a.signature = signature;
        ok(json!({}))
    })
}

pub async fn add_category(State(sim): State<Sim>, Query(params): Params, body: Bytes) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let list = body
            .get("categories")
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| invalid_args("categories"))?;
        let mut added = Vec::new();
        for c in list {
            let first = c.get("first").and_then(Value::as_i64).unwrap_or(0);
            let second = c.get("second").and_then(Value::as_i64).unwrap_or(0);
            if !CATEGORIES
                .iter()
                .any(|(f, s, _, _)| *f == first && *s == second)
            {
                return Err(WxError::new(53303, "invalid category"));
            }
            if account(state, appid)
                .categories
                .iter()
                .any(|k| k.first == first && k.second == second && k.audit_status != 2)
            {
                return Err(WxError::new(53304, "category already added"));
            }
            for cert in c
                .get("certicates")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let id = cert.get("value").and_then(Value::as_str).unwrap_or("");
                require_media(state, appid, id)?;
            }
            added.push((first, second));
        }
        let due = state.now() + state.onboard.durations.category_secs;
        for (first, second) in added {
            let outcome = state.onboard.next_outcome(appid, Review::Category);
            let a = account(state, appid);
            a.categories
                .retain(|k| !(k.first == first && k.second == second));
            a.categories.push(CategoryAudit {
                first,
                second,
                audit_status: 1,
                audit_reason: String::new(),
                resolves_at: due,
                outcome,
            });
        }
        ok(json!({}))
    })
}

/// getallcategories: the level-1 and level-2 categories addcategory knows.
pub async fn get_all_categories(State(sim): State<Sim>, Query(params): Params) -> Response {
    with_mini_program(&sim, &params, |_, _| {
        let mut list: Vec<Value> = Vec::new();
        for (first, second, first_name, second_name) in CATEGORIES {
            if !list.iter().any(|c| c["id"] == *first) {
                list.push(json!({ "id": first, "name": first_name, "level": 1, "father": 0 }));
            }
            list.push(json!({ "id": second, "name": second_name, "level": 2, "father": first }));
        }
        ok(json!({ "categories_list": { "categories": list } }))
    })
}

pub async fn get_categories(State(sim): State<Sim>, Query(params): Params) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let list: Vec<Value> = account(state, appid)
            .categories
            .iter()
            .map(|k| {
                json!({ "first": k.first, "second": k.second, "audit_status": k.audit_status, "audit_reason": k.audit_reason })
            })
            .collect();
        ok(
            json!({ "categories": list, "limit": 5, "quota": 5 - list.len() as i64, "category_limit": 5 }),
        )
    })
}

pub async fn get_icp_entrance_info(State(sim): State<Sim>, Query(params): Params) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let status = filing_status(state, appid);
        let audit_data = account(state, appid).audit_data.clone();
        ok(json!({ "info": {
            "status": status,
            "audit_data": audit_data,
            "available": 1,
            "sms_verify_status": if status == 4 { 1 } else { 0 },
        }}))
    })
}

pub async fn service_content_types(State(sim): State<Sim>, Query(params): Params) -> Response {
    with_mini_program(&sim, &params, |_, _| {
        let items: Vec<Value> = SERVICE_TYPES
            .iter()
            .map(|(kind, parent, name)| json!({ "type": kind, "parent_type": parent, "name": name, "remark": "" }))
            .collect();
        ok(json!({ "items": items }))
    })
}

pub async fn upload_icp_media(
    State(sim): State<Sim>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let parts = multipart_parts(&headers, &body);
        let text = |name: &str| {
            parts
                .get(name)
                .map(|(_, v)| String::from_utf8_lossy(v).to_string())
                .filter(|v| !v.is_empty())
        };
        let kind = text("type").ok_or_else(|| invalid_args("type"))?;
        if kind != "image" && kind != "video" {
            return Err(invalid_args("type must be image or video"));
        }
        let field = text("icp_order_field").ok_or_else(|| invalid_args("icp_order_field"))?;
        let (_, content) = parts
            .get("media")
            .filter(|(_, c)| !c.is_empty())
            .ok_or_else(|| WxError::new(41005, "media data missing"))?;
        if content.len() > 5 * 1024 * 1024 {
            return Err(WxError::new(40009, "invalid media size"));
        }
        let id = media_id();
        account(state, appid).icp_media.insert(id.clone(), field);
        let now = state.now();
        ok(json!({ "type": kind, "media_id": id, "created_at": now }))
    })
}

pub async fn create_verify_task(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        json_body(&body)?;
        let now = state.now();
        let outcome = state.onboard.next_outcome(appid, Review::Face);
        let resolves_at = if outcome.never {
            now + state.onboard.durations.face_expiry_secs
        } else {
            now + state.onboard.durations.face_secs
        };
        let task_id = format!("R{:019}", rand::random::<u64>() % 10u64.pow(18));
        state.onboard.tasks.push(VerifyTask {
            task_id: task_id.clone(),
            appid: appid.to_owned(),
            created_at: now,
            resolves_at,
            is_finish: false,
            face_status: 1,
            outcome,
        });
        ok(json!({ "task_id": task_id }))
    })
}

pub async fn query_verify_task(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let task_id = str_field(&body, "task_id")?;
        let task = state
            .onboard
            .tasks
            .iter()
            .find(|t| t.appid == appid && t.task_id == task_id)
            .ok_or_else(|| invalid_args("no such task_id"))?;
        ok(json!({ "is_finish": task.is_finish, "face_status": task.face_status }))
    })
}

fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

/// The fields apply_icp_filing finds at fault (errcode 86202 each, as the reference's example).
fn filing_hints(state: &SimState, appid: &str, body: &Value) -> Vec<Value> {
    let mut hints = Vec::new();
    let mut hint = |field: &str, errmsg: &str| {
        hints.push(json!({ "errcode": 86202, "errmsg": errmsg, "err_field": field }));
    };
    let passed = |field: &str| {
        at(body, field).and_then(Value::as_str).is_some_and(|id| {
            state
                .onboard
                .tasks
                .iter()
                .any(|t| t.appid == appid && t.task_id == id && t.face_status == 3)
        })
    };
    for field in [
        "icp_subject.principal_info.verify_task_id",
        "icp_applets.principal_info.verify_task_id",
    ] {
        if !passed(field) {
            hint(field, "the face verification of this task has not passed");
        }
    }
    let mobile = at(body, "icp_subject.principal_info.mobile")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !(mobile.len() == 11
        && mobile.starts_with('1')
        && mobile.bytes().all(|b| b.is_ascii_digit()))
    {
        hint(
            "icp_subject.principal_info.mobile",
            "a mainland mobile number: 11 digits",
        );
    }
    let types = at(body, "icp_applets.base_info.service_content_types")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let level2 = |v: &Value| {
        v.as_i64()
            .is_some_and(|t| SERVICE_TYPES.iter().any(|(k, p, _)| *k == t && *p != 0))
    };
    if types.is_empty() || types.len() > 5 || !types.iter().all(level2) {
        hint(
            "icp_applets.base_info.service_content_types",
            "1 to 5 level-2 service types",
        );
    }
    let nrlx = at(body, "icp_applets.base_info.nrlx_details").and_then(Value::as_array);
    if nrlx.is_none_or(|n| n.is_empty()) {
        hint(
            "icp_applets.base_info.nrlx_details",
            "the pre-approval answer is required",
        );
    }
    let comment = at(body, "icp_applets.base_info.comment")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !(20..=200).contains(&comment.chars().count()) {
        hint("icp_applets.base_info.comment", "20 to 200 characters");
    }
    hints
}

pub async fn apply_icp_filing(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let status = filing_status(state, appid);
        if !matches!(status, 1024 | 3 | 5) {
            return Err(WxError::new(
                86201,
                "the filing cannot be applied in its status",
            ));
        }
        let hints = filing_hints(state, appid, &body);
        if !hints.is_empty() {
            let body =
                json!({ "errcode": 86202, "errmsg": "invalid filing fields", "hints": hints });
            return Ok(axum::response::IntoResponse::into_response(Json(body)));
        }
        let due = state.now() + state.onboard.durations.platform_secs;
        let a = account(state, appid);
        a.filing_status = Some(2);
        a.audit_data.clear();
        a.filing = Some(body);
        a.filing_resolves_at = Some(due);
        ok(json!({}))
    })
}

/// What the resolver found due, pushed outside the lock.
enum Due {
    Message {
        appid: String,
        event: &'static str,
        fields: Vec<(&'static str, String)>,
    },
    Component {
        info_type: &'static str,
        fields: Vec<(&'static str, String)>,
    },
}

fn resolve(state: &mut SimState) -> Vec<Due> {
    let now = state.now();
    let mut due = Vec::new();
    let durations = state.onboard.durations.clone();
    let mut named = Vec::new();
    for audit in state
        .onboard
        .name_audits
        .iter_mut()
        .filter(|a| a.audit_stat == 1 && a.resolves_at <= now)
    {
        let pass = audit.outcome.pass;
        audit.audit_stat = if pass { 3 } else { 2 };
        audit.fail_reason = audit.outcome.reason.clone().unwrap_or_else(|| {
            if pass {
                String::new()
            } else {
                "名称不符合规范".into()
            }
        });
        due.push(Due::Message {
            appid: audit.appid.clone(),
            event: "wxa_nickname_audit",
            fields: vec![
                ("ret", audit.audit_stat.to_string()),
                ("nickname", audit.nickname.clone()),
                ("reason", audit.fail_reason.clone()),
            ],
        });
        if pass {
            named.push((audit.appid.clone(), audit.nickname.clone()));
        }
    }
    for (appid, name) in named {
        account(state, &appid).names_used += 1;
        if let Some(mp) = state.mini_program_mut(&appid) {
            mp.nickname = name;
        }
    }
    let mut approved = Vec::new();
    for (appid, a) in state.onboard.accounts.iter_mut() {
        for k in a
            .categories
            .iter_mut()
            .filter(|k| k.audit_status == 1 && k.resolves_at <= now)
        {
            k.audit_status = if k.outcome.pass { 3 } else { 2 };
            k.audit_reason = k.outcome.reason.clone().unwrap_or_default();
            due.push(Due::Message {
                appid: appid.clone(),
                event: "wxa_category_audit",
                fields: vec![
                    ("first", k.first.to_string()),
                    ("second", k.second.to_string()),
                    ("ret", k.audit_status.to_string()),
                    ("reason", k.audit_reason.clone()),
                ],
            });
            if k.outcome.pass {
                approved.push((appid.clone(), k.first, k.second));
            }
        }
        if let Some(at) = a.filing_resolves_at.filter(|at| *at <= now) {
            let status = a.filing_status.unwrap_or(1024);
            let review = if status == 2 {
                Review::Platform
            } else {
                Review::Authority
            };
            let outcome = state
                .onboard
                .scripted
                .get_mut(&(appid.clone(), review))
                .and_then(VecDeque::pop_front)
                .unwrap_or(Outcome {
                    pass: true,
                    ..Outcome::default()
                });
            let next = match (status, outcome.pass) {
                (2, true) => 4,
                (2, false) => 3,
                (_, true) => 6,
                (_, false) => 5,
            };
            a.filing_status = Some(next);
            a.audit_data = outcome.audit_data.clone();
            a.filing_resolves_at = (next == 4).then_some(at + durations.authority_secs);
            due.push(Due::Component {
                info_type: "notify_apply_icpfiling_result",
                fields: vec![
                    ("authorizer_appid", appid.clone()),
                    ("beian_status", next.to_string()),
                ],
            });
        }
    }
    for (appid, first, second) in approved {
        let names = CATEGORIES
            .iter()
            .find(|(f, s, _, _)| *f == first && *s == second);
        if let (Some(mp), Some((_, _, first_class, second_class))) =
            (state.mini_program_mut(&appid), names)
        {
            mp.categories.push(crate::config::Category {
                first_class: (*first_class).into(),
                second_class: (*second_class).into(),
                third_class: None,
                first_id: first,
                second_id: second,
                third_id: None,
            });
        }
    }
    for task in state
        .onboard
        .tasks
        .iter_mut()
        .filter(|t| !t.is_finish && t.resolves_at <= now)
    {
        task.is_finish = true;
        task.face_status = if task.outcome.pass && !task.outcome.never {
            3
        } else {
            2
        };
        // An expired task is not pushed (the legal person did nothing).
        if !task.outcome.never {
            due.push(Due::Component {
                info_type: "notify_icpfiling_verify_result",
                fields: vec![
                    ("task_id", task.task_id.clone()),
                    ("verify_appid", task.appid.clone()),
                    ("result", task.face_status.to_string()),
                ],
            });
        }
    }
    due
}

impl Sim {
    /// Ends the name, category, face and filing reviews that are due, and pushes their results.
    pub fn resolve_due_onboarding(&self) {
        let (due, component, now) = {
            let mut state = self.state();
            let due = resolve(&mut state);
            (due, state.config.component.appid.clone(), state.now())
        };
        for item in due {
            match item {
                Due::Message {
                    appid,
                    event,
                    fields,
                } => self.push_mini_program_event(&appid, event, &cdata_elements(&fields)),
                Due::Component { info_type, fields } => {
                    let xml = format!(
                        "<xml>{}<CreateTime>{now}</CreateTime>{}</xml>",
                        cdata_elements(&[
                            ("AppId", component.clone()),
                            ("InfoType", info_type.into())
                        ]),
                        cdata_elements(&fields),
                    );
                    self.send(Recipient::Component, info_type, xml);
                }
            }
        }
    }
}

/// `POST /sim/onboarding/outcomes`: the next review of that kind for that mini program.
pub async fn script_outcome(
    State(sim): State<Sim>,
    Json(script): Json<ScriptedOutcome>,
) -> StatusCode {
    sim.state()
        .onboard
        .scripted
        .entry((script.appid, script.review))
        .or_default()
        .push_back(script.outcome);
    StatusCode::NO_CONTENT
}

/// `POST /sim/onboarding/durations`.
pub async fn set_durations(State(sim): State<Sim>, Json(durations): Json<Durations>) -> StatusCode {
    sim.state().onboard.durations = durations;
    StatusCode::NO_CONTENT
}

/// `POST /sim/onboarding/words`: banned words and protected names.
pub async fn set_words(State(sim): State<Sim>, Json(words): Json<Words>) -> StatusCode {
    let mut state = sim.state();
    state.onboard.banned = words.banned;
    state.onboard.protected = words.protected;
    StatusCode::NO_CONTENT
}

/// `GET /sim/onboarding`: every account's basic information, the audits and the tasks.
pub async fn show(State(sim): State<Sim>) -> Json<Value> {
    Json(json!(sim.state().onboard))
}
