//! Fast-registration tasks ("快速注册企业小程序" (fastregisterweapp)), in the tickets table
//! (`record = "registration#<id>"`), per component: the enterprise and its legal person as sent
//! to WeChat, the task's state, WeChat's refusal, its last search answer, and the push's outcome
//! with the linked mini program.
//!
//! Every change is conditional on the states it may leave (creating → pending | refused;
//! creating | pending → succeeded | failed), so a late answer, a retried push or a concurrent
//! request never moves a task backwards or overwrites its outcome. An ended task is purged by TTL
//! (`purge_at`) after [`ENDED_RETENTION_SECS`]: the legal person's details are not kept for
//! longer than the pushes that carry them.

use std::future::Future;

use super::attr::{from_item, n, s, Item};
use super::expr::{Condition, Update};
use super::tickets::{DynamoTicketStore, PUSH_RETENTION_SECS, SK};
use super::StoreError;

pub const RECORD_PREFIX: &str = "registration#";

/// How long an ended task stays (as long as the push that ended it: [`PUSH_RETENTION_SECS`]).
pub const ENDED_RETENTION_SECS: i64 = PUSH_RETENTION_SECS;

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationState {
    /// Stored before create was called; stays so if WeChat's answer was lost.
    Creating,
    /// WeChat accepted the task: the legal person is to confirm.
    Pending,
    /// WeChat refused create (`errcode`).
    Refused,
    /// Pushed with status 0: the mini program `appid` is registered and authorized.
    Succeeded,
    /// Pushed with another status (`push_status`, `push_msg`).
    Failed,
}

impl RegistrationState {
    pub const ALL: [Self; 5] = [
        Self::Creating,
        Self::Pending,
        Self::Refused,
        Self::Succeeded,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Pending => "pending",
            Self::Refused => "refused",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Still waiting for WeChat (create's answer or the push).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Creating | Self::Pending)
    }
}

/// One task as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationTask {
    pub id: String,
    pub name: String,
    pub code: String,
    pub code_type: i64,
    pub legal_persona_wechat: String,
    pub legal_persona_name: String,
    pub component_phone: Option<String>,
    pub state: RegistrationState,
    /// WeChat's refusal of create.
    pub errcode: Option<i64>,
    pub errmsg: Option<String>,
    /// WeChat's last answer to search (0, 89250, 89251, 89252…) and when (our clock).
    pub search_errcode: Option<i64>,
    pub searched_at: Option<i64>,
    /// The push: its status and msg, the new mini program, its CreateTime (WeChat's clock).
    pub push_status: Option<i64>,
    pub push_msg: Option<String>,
    pub appid: Option<String>,
    pub pushed_at: Option<i64>,
    /// Our clock.
    pub created_at: i64,
    pub updated_at: i64,
}

from_item! { RegistrationTask {
    id, name, code, code_type, legal_persona_wechat, legal_persona_name, component_phone, state,
    errcode, errmsg, search_errcode, searched_at, push_status, push_msg, appid, pushed_at,
    created_at, updated_at
} }

/// A change to a task, and the states it may be made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationChange<'a> {
    /// create answered ok.
    Accepted,
    /// create answered an errcode.
    Refused { errcode: i64, errmsg: &'a str },
    /// search answered (the state is left to create's answer and the push).
    Searched { errcode: i64 },
    /// The push: status 0 with the registered mini program, or a failure.
    Pushed {
        status: i64,
        msg: Option<&'a str>,
        appid: Option<&'a str>,
        create_time: i64,
    },
}

impl RegistrationChange<'_> {
    /// The state after, and the states it applies to.
    fn transition(&self) -> (Option<RegistrationState>, &'static [RegistrationState]) {
        use RegistrationState::*;
        match self {
            Self::Accepted => (Some(Pending), &[Creating]),
            Self::Refused { .. } => (Some(Refused), &[Creating]),
            Self::Searched { .. } => (None, &[Creating, Pending]),
            // Status 0 whose code could not be exchanged: no mini program came of it.
            Self::Pushed {
                status: 0,
                appid: None,
                ..
            } => (Some(Failed), &[Creating, Pending]),
            Self::Pushed { status: 0, .. } => (Some(Succeeded), &[Creating, Pending]),
            Self::Pushed { .. } => (Some(Failed), &[Creating, Pending]),
        }
    }
}

pub trait RegistrationStore {
    /// Stores a new task (state creating); false if the id is taken.
    fn create_registration(
        &self,
        component_appid: &str,
        task: &RegistrationTask,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn registration(
        &self,
        component_appid: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<RegistrationTask>, StoreError>> + Send;

    /// Every task of the component (unordered).
    fn registrations(
        &self,
        component_appid: &str,
    ) -> impl Future<Output = Result<Vec<RegistrationTask>, StoreError>> + Send;

    /// Applies `change` if the task is in a state it applies to; false otherwise.
    fn change_registration(
        &self,
        component_appid: &str,
        id: &str,
        change: &RegistrationChange<'_>,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

fn record(id: &str) -> String {
    format!("{RECORD_PREFIX}{id}")
}

impl RegistrationStore for DynamoTicketStore {
    async fn create_registration(
        &self,
        component_appid: &str,
        t: &RegistrationTask,
    ) -> Result<bool, StoreError> {
        let mut attributes: Item = Item::from([
            ("id".to_owned(), s(&t.id)),
            ("name".to_owned(), s(&t.name)),
            ("code".to_owned(), s(&t.code)),
            ("code_type".to_owned(), n(t.code_type)),
            (
                "legal_persona_wechat".to_owned(),
                s(&t.legal_persona_wechat),
            ),
            ("legal_persona_name".to_owned(), s(&t.legal_persona_name)),
            ("state".to_owned(), s(RegistrationState::Creating.as_str())),
            ("created_at".to_owned(), n(t.created_at)),
            ("updated_at".to_owned(), n(t.updated_at)),
        ]);
        if let Some(phone) = &t.component_phone {
            attributes.insert("component_phone".to_owned(), s(phone));
        }
        self.put_record(
            component_appid,
            &record(&t.id),
            attributes,
            &Condition::absent(SK),
        )
        .await
    }

    async fn registration(
        &self,
        component_appid: &str,
        id: &str,
    ) -> Result<Option<RegistrationTask>, StoreError> {
        self.read_record(component_appid, &record(id)).await
    }

    async fn registrations(
        &self,
        component_appid: &str,
    ) -> Result<Vec<RegistrationTask>, StoreError> {
        let items = self
            .records_with_prefix(component_appid, RECORD_PREFIX)
            .await?;
        items.iter().map(RegistrationTask::try_from).collect()
    }

    async fn change_registration(
        &self,
        component_appid: &str,
        id: &str,
        change: &RegistrationChange<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (to, from) = change.transition();
        let placeholders: Vec<String> = (0..from.len()).map(|i| format!(":from{i}")).collect();
        let mut update = Update::new().set("updated_at", n(now));
        if let Some(to) = to {
            update = update.set("state", s(to.as_str()));
            if !to.is_open() {
                update = update.set("purge_at", n(now + ENDED_RETENTION_SECS));
            }
        }
        update = match change {
            RegistrationChange::Accepted => update,
            RegistrationChange::Refused { errcode, errmsg } => {
                update.set("errcode", n(*errcode)).set("errmsg", s(*errmsg))
            }
            RegistrationChange::Searched { errcode } => update
                .set("search_errcode", n(*errcode))
                .set("searched_at", n(now)),
            RegistrationChange::Pushed {
                status,
                msg,
                appid,
                create_time,
            } => update
                .set("push_status", n(*status))
                .set("pushed_at", n(*create_time))
                .set_or_remove("push_msg", msg.map(s))
                .set_or_remove("appid", appid.map(s)),
        };
        let mut update = update.condition(format!(
            "attribute_exists(#{SK}) AND #state IN ({})",
            placeholders.join(", ")
        ));
        for (placeholder, state) in placeholders.iter().zip(from) {
            update = update.value(placeholder, s(state.as_str()));
        }
        self.update_record(component_appid, &record(id), &update)
            .await
    }
}
