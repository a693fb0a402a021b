//! Fast registration of enterprise mini programs ("快速注册企业小程序" (fastregisterweapp)): a
//! task is stored, then created at WeChat; the legal person confirms on their phone; WeChat pushes
//! `notify_third_fasteregister`. Status 0 carries the new mini program's authorization code, which
//! is exchanged exactly like an owner's ([`AuthorizationService::complete`]: the authorizer, its
//! tokens and permission sets stored once however often the push comes), and the task is linked
//! to it; another status ends the task as failed with WeChat's `msg`.
//!
//! A push is matched to a task by what WeChat echoes in `info` (name, code, legal_persona_wechat):
//! create answers no task id, so the `taskid` some pushes carry is not one we could know. A push
//! matching no task is still acted on (the mini program is stored); the mismatch is logged.

use std::collections::HashMap;

use crate::authorization::{AuthError, AuthorizationService, EventTime, PushAction};
use crate::component::ComponentError;
use crate::push::{AuthorizationEvent, AuthorizationPush};
use crate::store::{
    unix_now, AuthorizationRecords, AuthorizerStore, RegistrationChange, RegistrationTask,
    StoreError,
};
use crate::wechat::registration::{CodeType, FastRegisterCreate, FastRegisterSearch};
use crate::wechat::WechatError;

/// An enterprise to register, validated by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enterprise {
    pub name: String,
    pub code: String,
    pub code_type: CodeType,
    pub legal_persona_wechat: String,
    pub legal_persona_name: String,
    pub component_phone: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// WeChat refused create; the task is stored as refused with the errcode.
    #[error("WeChat refused the registration {id}: {error}")]
    Refused { id: String, error: WechatError },
    #[error("no fast-registration task {0}")]
    NotFound(String),
    #[error(transparent)]
    Component(#[from] ComponentError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The task's id: random, so it says nothing of the enterprise.
fn new_id() -> String {
    format!("reg_{:016x}", rand::random::<u64>())
}

/// The state search answers: its errcode (0 when WeChat answered ok).
fn search_errcode(answer: Result<(), ComponentError>) -> Result<i64, ComponentError> {
    match answer {
        Ok(()) => Ok(0),
        Err(ComponentError::Wechat(WechatError::Api { errcode, .. })) => Ok(errcode.code()),
        Err(e) => Err(e),
    }
}

impl<S, A> AuthorizationService<S, A>
where
    S: AuthorizationRecords,
    A: AuthorizerStore + Sync,
{
    /// Stores the task, then creates it at WeChat (never the other way round: a push for a task
    /// WeChat accepted always finds it). Answers the task as stored after WeChat's answer; a
    /// refusal is stored and answered as [`RegistrationError::Refused`]; a lost answer leaves the
    /// task `creating` (the push, or a search, tells later).
    pub async fn create_registration(
        &self,
        enterprise: &Enterprise,
    ) -> Result<RegistrationTask, RegistrationError> {
        let store = self.component().store();
        let component_appid = self.component().appid();
        let now = unix_now();
        let mut task = RegistrationTask {
            id: new_id(),
            name: enterprise.name.clone(),
            code: enterprise.code.clone(),
            code_type: enterprise.code_type.wechat(),
            legal_persona_wechat: enterprise.legal_persona_wechat.clone(),
            legal_persona_name: enterprise.legal_persona_name.clone(),
            component_phone: enterprise.component_phone.clone(),
            state: crate::store::RegistrationState::Creating,
            errcode: None,
            errmsg: None,
            search_errcode: None,
            searched_at: None,
            push_status: None,
            push_msg: None,
            appid: None,
            pushed_at: None,
            created_at: now,
            updated_at: now,
        };
        // A random 64-bit id is taken only by a bug: one more try tells that apart from chance.
        if !store.create_registration(component_appid, &task).await? {
            task.id = new_id();
            if !store.create_registration(component_appid, &task).await? {
                return Err(StoreError::Contention {
                    operation: "create_registration",
                    attempts: 2,
                }
                .into());
            }
        }
        let answer = self
            .component()
            .call(&FastRegisterCreate {
                name: &enterprise.name,
                code: &enterprise.code,
                code_type: enterprise.code_type,
                legal_persona_wechat: &enterprise.legal_persona_wechat,
                legal_persona_name: &enterprise.legal_persona_name,
                component_phone: enterprise.component_phone.as_deref(),
            })
            .await;
        let refusal = match answer {
            Ok(_) => None,
            Err(ComponentError::Wechat(error @ WechatError::Api { .. })) => Some(error),
            Err(e) => {
                tracing::warn!(registration = task.id, error = %e, "fastregisterweapp create: no answer; the task stays creating");
                return Err(e.into());
            }
        };
        let change = match &refusal {
            None => RegistrationChange::Accepted,
            Some(WechatError::Api { errcode, errmsg }) => RegistrationChange::Refused {
                errcode: errcode.code(),
                errmsg,
            },
            Some(_) => unreachable!("only API refusals are kept"),
        };
        store
            .change_registration(component_appid, &task.id, &change, unix_now())
            .await?;
        tracing::info!(registration = task.id, refused = ?refusal.as_ref().and_then(WechatError::errcode), "fastregisterweapp create answered");
        match refusal {
            Some(error) => Err(RegistrationError::Refused { id: task.id, error }),
            None => self.registration(&task.id).await,
        }
    }

    pub async fn registration(&self, id: &str) -> Result<RegistrationTask, RegistrationError> {
        self.component()
            .store()
            .registration(self.component().appid(), id)
            .await?
            .ok_or_else(|| RegistrationError::NotFound(id.to_owned()))
    }

    /// Every task, newest first.
    pub async fn registrations(&self) -> Result<Vec<RegistrationTask>, RegistrationError> {
        let component = self.component();
        let mut tasks = component.store().registrations(component.appid()).await?;
        tasks.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        Ok(tasks)
    }

    /// The task, with WeChat's search answer stored first while it is still open (one call); an
    /// ended task is answered as stored. A search WeChat does not answer leaves the task as it
    /// was (logged): the stored state is still worth showing.
    pub async fn refreshed_registration(
        &self,
        id: &str,
    ) -> Result<RegistrationTask, RegistrationError> {
        let task = self.registration(id).await?;
        if !task.state.is_open() {
            return Ok(task);
        }
        let answer = self
            .component()
            .call(&FastRegisterSearch {
                name: &task.name,
                legal_persona_wechat: &task.legal_persona_wechat,
                legal_persona_name: &task.legal_persona_name,
            })
            .await
            .map(|_| ());
        match search_errcode(answer) {
            Ok(errcode) => {
                let change = RegistrationChange::Searched { errcode };
                self.component()
                    .store()
                    .change_registration(self.component().appid(), id, &change, unix_now())
                    .await?;
                self.registration(id).await
            }
            Err(e) => {
                tracing::warn!(registration = id, error = %e, "fastregisterweapp search failed; answering the stored task");
                Ok(task)
            }
        }
    }

    /// The task a push is about: an open one with the echoed enterprise (the newest), else an
    /// ended one it already ended (a retried push).
    async fn task_of_push(
        &self,
        info: &HashMap<&str, &str>,
        appid: Option<&str>,
        status: i64,
    ) -> Result<Option<(RegistrationTask, bool)>, StoreError> {
        let component = self.component();
        let tasks = component.store().registrations(component.appid()).await?;
        let field = |name: &str| info.get(name).copied().unwrap_or_default();
        let mut matching: Vec<RegistrationTask> = tasks
            .into_iter()
            .filter(|t| {
                t.name == field("name")
                    && t.code.eq_ignore_ascii_case(field("code"))
                    && t.legal_persona_wechat == field("legal_persona_wechat")
            })
            .collect();
        matching.sort_by_key(|t| std::cmp::Reverse(t.created_at));
        if let Some(open) = matching.iter().find(|t| t.state.is_open()) {
            return Ok(Some((open.clone(), true)));
        }
        Ok(matching
            .into_iter()
            .find(|t| t.push_status == Some(status) && t.appid.as_deref() == appid)
            .map(|t| (t, false)))
    }

    /// Acts on `notify_third_fasteregister`: status 0 exchanges the code (as an owner's) and
    /// links the task; another status ends the task as failed. Idempotent: a retried push finds
    /// the code exchanged and the task ended by it.
    pub async fn act_on_fast_registration(
        &self,
        push: &AuthorizationPush,
    ) -> Result<PushAction, AuthError> {
        let AuthorizationEvent::FastRegister {
            appid,
            status,
            auth_code,
            msg,
            info,
        } = &push.event
        else {
            return Ok(PushAction::Nothing);
        };
        let status = *status;
        // A status-0 push whose code WeChat refuses (40029, 61010) ends its task as failed, with
        // the reason as its message: no mini program can come of that push.
        let mut exchange_failure: Option<String> = None;
        let authorizer_appid = match (status, auth_code) {
            (0, Some(code)) => {
                match self
                    .complete(code, EventTime::Pushed(push.create_time))
                    .await
                {
                    Ok(done) => Some(done.authorizer.appid),
                    Err(e) if !e.is_transient() => {
                        exchange_failure =
                            Some(format!("the auth_code could not be exchanged: {e}"));
                        None
                    }
                    Err(e) => return Err(e),
                }
            }
            (0, None) => {
                return Ok(PushAction::Failed {
                    reason: "fast registration succeeded without an auth_code".into(),
                })
            }
            _ => None,
        };
        let info: HashMap<&str, &str> = info.iter().map(|(k, v)| (k.as_str(), v.trim())).collect();
        let found = self
            .task_of_push(&info, authorizer_appid.as_deref(), status)
            .await?;
        let registration = found.as_ref().map(|(task, _)| task.id.clone());
        let linked = match &found {
            Some((task, true)) => {
                let change = RegistrationChange::Pushed {
                    status,
                    msg: exchange_failure.as_deref().or(msg.as_deref()),
                    appid: authorizer_appid.as_deref(),
                    create_time: push.create_time,
                };
                self.component()
                    .store()
                    .change_registration(self.component().appid(), &task.id, &change, unix_now())
                    .await?
            }
            Some((_, false)) => false,
            None => {
                // The enterprise's details stay out of the log (the legal person's are personal).
                tracing::warn!(
                    appid = appid.as_deref().unwrap_or("-"),
                    status,
                    "fast-registration push matches no stored task; acted on without one"
                );
                false
            }
        };
        tracing::info!(
            registration = registration.as_deref().unwrap_or("-"),
            authorizer_appid = authorizer_appid.as_deref().unwrap_or("-"),
            status,
            linked,
            "fast registration result"
        );
        if let Some(reason) = exchange_failure {
            return Ok(PushAction::Failed {
                reason: format!("fast registration: {reason}"),
            });
        }
        Ok(PushAction::FastRegistration {
            registration,
            status,
            authorizer_appid,
            linked,
        })
    }
}
