//! Fast registration of enterprise mini programs ("快速注册企业小程序" (fastregisterweapp)):
//! `action=create` checks the enterprise's fields like WeChat and starts a task; the legal person
//! then confirms (face check) on their phone, which here happens `confirm_after_secs` simulated
//! seconds later or at once through `/sim/registrations/{taskid}/confirm`; WeChat then pushes
//! `notify_third_fasteregister` to the authorization event URL. Status 0 carries the new mini
//! program's appid and an authorization code redeemable at api_query_auth (the new mini program
//! has authorized the platform with `permission_sets`); another status carries only `msg`.
//! `action=search` (name, legal_persona_wechat, legal_persona_name) answers the task's state.
//! `/sim/registrations/outcome` scripts the next create's refusal or the next task's push.

use std::collections::{HashMap, VecDeque};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::component::component_token;
use crate::config::{MiniProgram, ReviewScript};
use crate::push::Recipient;
use crate::state::{random_id, AuthCode, Authorization, AUTH_CODE_LIFETIME};
use crate::wx::{invalid_args, json_body, ok, respond, WxError};
use crate::Sim;
use shared::wechat::registration::{is_wechat_id, CodeType};

pub const INFO_TYPE: &str = "notify_third_fasteregister";

fn default_confirm_after_secs() -> i64 {
    60
}

/// What fast registration grants the platform: the permission sets the doc requires of it
/// (帐号管理 17, 开发管理与数据分析 18, 开放平台帐号管理 25, 小程序基本信息设置 30, 小程序认证 31).
fn default_registration_sets() -> Vec<i64> {
    vec![17, 18, 25, 30, 31]
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationSettings {
    /// Simulated seconds after create when the legal person confirms and WeChat pushes.
    #[serde(default = "default_confirm_after_secs")]
    pub confirm_after_secs: i64,
    /// The permission sets a registered mini program authorizes the platform with.
    #[serde(default = "default_registration_sets")]
    pub permission_sets: Vec<i64>,
}

impl Default for RegistrationSettings {
    fn default() -> Self {
        Self {
            confirm_after_secs: default_confirm_after_secs(),
            permission_sets: default_registration_sets(),
        }
    }
}

/// The enterprise of a task, as created (`info` of the push).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enterprise {
    pub name: String,
    pub code: String,
    pub code_type: i64,
    pub legal_persona_wechat: String,
    pub legal_persona_name: String,
    pub component_phone: String,
}

/// How a task ends: the push's `status` (0: registered) and `msg`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushOutcome {
    pub status: i64,
    #[serde(default)]
    pub msg: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for the legal person's face check (search: 89251).
    AwaitingLegalPerson,
    Registered {
        appid: String,
    },
    Failed {
        status: i64,
        msg: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub taskid: String,
    pub enterprise: Enterprise,
    pub created_at: i64,
    pub confirms_at: i64,
    pub state: TaskState,
    pub outcome: PushOutcome,
    /// The push's plaintext, once sent (re-sent by `/sim/registrations/{taskid}/push-again`).
    pub pushed: Option<String>,
}

/// What `/sim/registrations/outcome` scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Script {
    /// The next create is refused with this errcode (61070, 89247…).
    RefuseCreate {
        errcode: i64,
        #[serde(default)]
        errmsg: Option<String>,
    },
    /// The next task created ends with this push.
    Push(PushOutcome),
}

#[derive(Debug, Default)]
pub struct Registrations {
    pub tasks: Vec<Task>,
    refusals: VecDeque<WxError>,
    outcomes: VecDeque<PushOutcome>,
}

fn text(body: &Value, name: &str) -> Option<String> {
    body.get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn lack_of_params(name: &str) -> WxError {
    WxError::new(89253, format!("lack of some params: {name}"))
}

fn required(body: &Value, name: &str) -> Result<String, WxError> {
    text(body, name).ok_or_else(|| lack_of_params(name))
}

fn enterprise(body: &Value) -> Result<Enterprise, WxError> {
    let name = required(body, "name")?;
    let code = required(body, "code")?;
    let code_type = match body.get("code_type") {
        None | Some(Value::Null) => return Err(lack_of_params("code_type")),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok())),
    };
    let legal_persona_wechat = required(body, "legal_persona_wechat")?;
    let legal_persona_name = required(body, "legal_persona_name")?;
    let code_type = code_type
        .filter(|t| (1..=3).contains(t))
        .ok_or_else(|| WxError::new(89248, "invalid code type"))?;
    // WeChat answers a code not of its type's shape with 89247 "inner error" (a staff answer on
    // the community: "code_type是1的时候,code是18位").
    if !CodeType::from_wechat(code_type).is_some_and(|t| t.fits(&code)) {
        return Err(WxError::new(89247, "inner error, retry after some while"));
    }
    if !is_wechat_id(&legal_persona_wechat) {
        return Err(WxError::new(86004, "invalid wechat"));
    }
    Ok(Enterprise {
        name,
        code,
        code_type,
        legal_persona_wechat,
        legal_persona_name,
        component_phone: text(body, "component_phone").unwrap_or_default(),
    })
}

/// `POST /cgi-bin/component/fastregisterweapp?action=create|search&component_access_token=`.
pub async fn fastregisterweapp(
    State(sim): State<Sim>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let mut state = sim.state();
    respond((|| {
        state.require_component_token(component_token(&params))?;
        let body = json_body(&body)?;
        let now = state.now();
        let settings = state.config.registrations.clone();
        let registrations = &mut state.registrations;
        match params.get("action").map(String::as_str) {
            Some("create") => {
                let enterprise = enterprise(&body)?;
                if let Some(refusal) = registrations.refusals.pop_front() {
                    return Err(refusal);
                }
                // "创建任务逻辑串行": one task at a time per enterprise.
                if registrations.tasks.iter().any(|t| {
                    t.enterprise.code == enterprise.code
                        && t.state == TaskState::AwaitingLegalPerson
                }) {
                    return Err(WxError::new(89249, "task running"));
                }
                let outcome = registrations.outcomes.pop_front().unwrap_or(PushOutcome {
                    status: 0,
                    msg: None,
                });
                registrations.tasks.push(Task {
                    taskid: random_id("task_").chars().take(21).collect(),
                    enterprise,
                    created_at: now,
                    confirms_at: now + settings.confirm_after_secs,
                    state: TaskState::AwaitingLegalPerson,
                    outcome,
                    pushed: None,
                });
                ok(json!({}))
            }
            Some("search") => {
                let name = required(&body, "name")?;
                let wechat = required(&body, "legal_persona_wechat")?;
                let person = required(&body, "legal_persona_name")?;
                let task = registrations
                    .tasks
                    .iter()
                    .rev()
                    .find(|t| {
                        let e = &t.enterprise;
                        e.name == name
                            && e.legal_persona_wechat == wechat
                            && e.legal_persona_name == person
                    })
                    .ok_or_else(|| WxError::new(89250, "task not found"))?;
                // What search answers for an ended task is not documented: a registered one
                // answers ok, a failed one is gone (89250, as community reports show).
                match &task.state {
                    TaskState::AwaitingLegalPerson => {
                        Err(WxError::new(89251, "legal persona checking"))
                    }
                    TaskState::Registered { .. } => ok(json!({})),
                    TaskState::Failed { .. } => Err(WxError::new(89250, "task not found")),
                }
            }
            _ => Err(invalid_args("action must be create or search")),
        }
    })())
}

fn cdata(name: &str, value: &str) -> String {
    format!("<{name}><![CDATA[{value}]]></{name}>")
}

impl Sim {
    /// The legal person confirms task `taskid` now: the task ends as scripted and WeChat pushes.
    /// False when no such task awaits confirmation.
    pub fn confirm_registration(&self, taskid: &str) -> bool {
        let xml = {
            let mut state = self.state();
            let now = state.now();
            let component_appid = state.config.component.appid.clone();
            let sets = state.config.registrations.permission_sets.clone();
            let Some(index) = state
                .registrations
                .tasks
                .iter()
                .position(|t| t.taskid == taskid && t.state == TaskState::AwaitingLegalPerson)
            else {
                return false;
            };
            let task = state.registrations.tasks[index].clone();
            let e = &task.enterprise;
            let mut xml = format!(
                "<xml>{}<CreateTime>{now}</CreateTime>{}",
                cdata("AppId", &component_appid),
                cdata("InfoType", INFO_TYPE)
            );
            let outcome = &task.outcome;
            let new_state = if outcome.status == 0 {
                let appid = format!("wx{:016x}", rand::random::<u64>());
                let auth_code = random_id("queryauthcode@@@");
                state.add_mini_program(MiniProgram {
                    appid: appid.clone(),
                    original_id: format!("gh_{:012x}", rand::random::<u64>() >> 16),
                    // A new account has no name yet (set later with setnickname).
                    nickname: String::new(),
                    principal_name: e.name.clone(),
                    head_img: String::new(),
                    categories: Vec::new(),
                    pages: Vec::new(),
                    testers_limit: 15,
                    permission_sets: sets.clone(),
                    review: ReviewScript::Pass { after_secs: 5 },
                });
                state
                    .authorizations
                    .insert(appid.clone(), Authorization::new(&appid, sets, now));
                state.auth_codes.insert(
                    auth_code.clone(),
                    AuthCode {
                        appid: appid.clone(),
                        expires_at: now + AUTH_CODE_LIFETIME,
                        used: false,
                    },
                );
                xml.push_str(&cdata("appid", &appid));
                xml.push_str("<status>0</status>");
                xml.push_str(&cdata("auth_code", &auth_code));
                xml.push_str(&cdata("msg", outcome.msg.as_deref().unwrap_or("OK")));
                TaskState::Registered { appid }
            } else {
                let msg = outcome
                    .msg
                    .clone()
                    .unwrap_or_else(|| "register failed".into());
                xml.push_str(&format!("<status>{}</status>", outcome.status));
                xml.push_str(&cdata("msg", &msg));
                TaskState::Failed {
                    status: outcome.status,
                    msg,
                }
            };
            xml.push_str("<info>");
            for (name, value) in [
                ("name", e.name.as_str()),
                ("code", e.code.as_str()),
                ("code_type", &e.code_type.to_string()),
                ("legal_persona_wechat", e.legal_persona_wechat.as_str()),
                ("legal_persona_name", e.legal_persona_name.as_str()),
                ("component_phone", e.component_phone.as_str()),
            ] {
                xml.push_str(&cdata(name, value));
            }
            xml.push_str("</info></xml>");
            let task = &mut state.registrations.tasks[index];
            task.state = new_state;
            task.pushed = Some(xml.clone());
            xml
        };
        self.send(Recipient::Component, INFO_TYPE, xml);
        true
    }

    /// WeChat sends a task's push again, unchanged (its retry of the same event). False when the
    /// task has not been pushed.
    pub fn push_registration_again(&self, taskid: &str) -> bool {
        let pushed = self
            .state()
            .registrations
            .tasks
            .iter()
            .find(|t| t.taskid == taskid)
            .and_then(|t| t.pushed.clone());
        match pushed {
            Some(xml) => {
                self.send(Recipient::Component, INFO_TYPE, xml);
                true
            }
            None => false,
        }
    }

    /// Confirms every task whose time has come on the simulated clock.
    pub fn resolve_due_registrations(&self) {
        let due: Vec<String> = {
            let state = self.state();
            let now = state.now();
            state
                .registrations
                .tasks
                .iter()
                .filter(|t| t.state == TaskState::AwaitingLegalPerson && t.confirms_at <= now)
                .map(|t| t.taskid.clone())
                .collect()
        };
        for taskid in due {
            self.confirm_registration(&taskid);
        }
    }
}

/// `GET /sim/registrations`: every task, as WeChat holds it.
pub async fn list(State(sim): State<Sim>) -> Json<Value> {
    Json(json!(sim.state().registrations.tasks))
}

/// `POST /sim/registrations/outcome`: `{"refuse_create": {"errcode": 61070}}` or
/// `{"push": {"status": -1, "msg": "…"}}`.
pub async fn script(State(sim): State<Sim>, Json(script): Json<Script>) -> StatusCode {
    let mut state = sim.state();
    match script {
        Script::RefuseCreate { errcode, errmsg } => {
            state.registrations.refusals.push_back(WxError::new(
                errcode,
                errmsg.unwrap_or_else(|| "scripted by the simulator".into()),
            ))
        }
        Script::Push(outcome) => state.registrations.outcomes.push_back(outcome),
    }
    StatusCode::NO_CONTENT
}

fn no_task(taskid: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not_found", "message": format!("no task {taskid} in that state") })),
    )
        .into_response()
}

/// `POST /sim/registrations/{taskid}/confirm`: the legal person confirms now.
pub async fn confirm(State(sim): State<Sim>, Path(taskid): Path<String>) -> Response {
    if sim.confirm_registration(&taskid) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        no_task(&taskid)
    }
}

/// `POST /sim/registrations/{taskid}/push-again`: the same push once more.
pub async fn push_again(State(sim): State<Sim>, Path(taskid): Path<String>) -> Response {
    if sim.push_registration_again(&taskid) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        no_task(&taskid)
    }
}
