//! A new mini program from nothing to ready for code: named ("设置名称" setnickname), given an
//! avatar and an introduction, categorized ("添加类目" addcategory) and filed ("小程序备案":
//! get_icp_entrance_info, upload_icp_media, create_icp_verifytask, apply_icp_filing), as a state
//! machine in the onboardings table.
//!
//! A run ([`OnboardingService::advance`]) takes the onboarding's lease, then makes at most one
//! WeChat call that changes something before it writes what came of it (conditional on the
//! version it read), so a run that stops anywhere is resumed by the next without redoing what
//! WeChat already did. Runs are started by the admin API (create, resubmit), by the pushes
//! (stored by ticket-receive, folded in here) and by the schedule ([`OnboardingService::sync`]),
//! which also polls what WeChat reviews (api_wxa_querynickname, getcategory,
//! query_icp_verifytask, get_icp_entrance_info).

pub mod model;
pub mod push;
mod steps;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::authorization::AuthorizationService;
use crate::code_release::CodeError;
use crate::store::onboardings::{Created, DocWrite, DynamoOnboardingStore};
use crate::store::{
    unix_now, Action, ActionLog, ActionOutcome, ActionStatus, AuthorizationRecords,
    AuthorizerStore, StoreError,
};
use crate::wechat::icp::FilingStatus;

pub use model::*;
pub use push::PushFact;

/// How long a run holds an onboarding (a run is a few WeChat calls).
const LEASE_SECS: i64 = 60;
/// Most moves of one run (each is one WeChat call and one write).
const MOVES_PER_RUN: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    #[error("no onboarding {0}")]
    NotFound(String),
    #[error("onboarding {id} of {appid} has not ended")]
    Running { appid: String, id: String },
    #[error("{field}: {rule}")]
    Invalid { field: String, rule: String },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Code(#[from] CodeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored onboarding is malformed: {0}")]
    Malformed(String),
}

/// What the schedule did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SyncSummary {
    pub advanced: usize,
    pub ready: usize,
    pub waiting: usize,
    pub needs_operator: usize,
    pub failed: usize,
}

/// The parts of a profile an operator replaces when resubmitting.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub nickname: Option<NameProfile>,
    pub avatar: Option<Media>,
    pub signature: Option<String>,
    pub categories: Option<Vec<CategoryProfile>>,
    pub filing: Option<FilingProfile>,
}

pub struct OnboardingService<S, A, L> {
    authorization: AuthorizationService<S, A>,
    store: DynamoOnboardingStore,
    actions: L,
}

fn new_id() -> String {
    format!("onb_{:016x}", rand::random::<u64>())
}

impl<S, A, L> OnboardingService<S, A, L> {
    pub fn new(
        authorization: AuthorizationService<S, A>,
        store: DynamoOnboardingStore,
        actions: L,
    ) -> Self {
        Self {
            authorization,
            store,
            actions,
        }
    }

    pub fn store(&self) -> &DynamoOnboardingStore {
        &self.store
    }
}

fn decode(doc: &str, version: i64) -> Result<Onboarding, OnboardingError> {
    let mut o: Onboarding =
        serde_json::from_str(doc).map_err(|e| OnboardingError::Malformed(e.to_string()))?;
    o.version = version;
    Ok(o)
}

fn ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl<S, A, L> OnboardingService<S, A, L>
where
    S: AuthorizationRecords,
    A: AuthorizerStore + Sync,
    L: ActionLog + Sync,
{
    /// Stores a new onboarding of an authorized mini program, then runs it as far as it goes.
    pub async fn create(
        &self,
        appid: &str,
        registration_id: Option<String>,
        profile: Profile,
    ) -> Result<Onboarding, OnboardingError> {
        let authorized = self
            .authorization
            .authorizers()
            .authorizer(appid)
            .await?
            .is_some_and(|a| a.status == crate::authorizer::AuthorizerStatus::Authorized);
        if !authorized {
            return Err(OnboardingError::Invalid {
                field: "appid".into(),
                rule: format!("{appid} is not an authorized mini program of the platform"),
            });
        }
        let now = unix_now();
        let o = Onboarding::new(new_id(), appid.to_owned(), registration_id, profile, now);
        let doc = serde_json::to_string(&o).expect("an onboarding serializes");
        match self
            .store
            .create(&o.id, appid, o.state.as_str(), &doc, now)
            .await?
        {
            Created::Stored => {}
            Created::Running { id } => {
                return Err(OnboardingError::Running {
                    appid: appid.to_owned(),
                    id,
                })
            }
        }
        tracing::info!(onboarding = o.id, appid, "onboarding created");
        self.advance_logged(&o.id).await
    }

    pub async fn get(&self, id: &str) -> Result<Onboarding, OnboardingError> {
        let (doc, _) = self
            .store
            .read(id)
            .await?
            .ok_or_else(|| OnboardingError::NotFound(id.to_owned()))?;
        decode(&doc.doc, doc.version)
    }

    pub async fn list(&self) -> Result<Vec<Onboarding>, OnboardingError> {
        let mut all = self
            .store
            .all()
            .await?
            .into_iter()
            .map(|(_, d)| decode(&d.doc, d.version))
            .collect::<Result<Vec<_>, _>>()?;
        all.sort_by_key(|o| std::cmp::Reverse(o.created_at));
        Ok(all)
    }

    /// Why code may not go online yet, for a mini program that has an onboarding whose filing is
    /// not approved (None for every other mini program: those already online were filed).
    pub async fn filing_block(&self, appid: &str) -> Result<Option<String>, OnboardingError> {
        let Some(id) = self.store.newest_for(appid).await? else {
            return Ok(None);
        };
        let o = self.get(&id).await?;
        if o.filed() {
            return Ok(None);
        }
        let status = o
            .progress
            .filing_status
            .map(FilingStatus::from_wechat)
            .unwrap_or(FilingStatus::NotFiled);
        Ok(Some(format!(
            "ICP filing not approved ({}): onboarding {} must reach ready first",
            status.describe(),
            o.id
        )))
    }

    /// The operator's fix: replaces the parts of the profile given and starts again the steps
    /// they feed (and any step waiting for the operator), conditional on the version read.
    pub async fn resubmit(
        &self,
        id: &str,
        patch: ProfilePatch,
    ) -> Result<Onboarding, OnboardingError> {
        let mut o = self.get(id).await?;
        if o.state == OnboardingState::Ready {
            return Err(OnboardingError::Conflict(format!(
                "onboarding {id} is ready: nothing to resubmit"
            )));
        }
        let now = unix_now();
        steps::apply_patch(&mut o, patch, now);
        o.settle_state();
        if !self.save(&mut o, now).await? {
            return Err(OnboardingError::Conflict(format!(
                "onboarding {id} changed while it was resubmitted: read it and try again"
            )));
        }
        self.advance_logged(id).await
    }

    /// Runs the onboarding; a failure is logged and the onboarding answered as stored.
    async fn advance_logged(&self, id: &str) -> Result<Onboarding, OnboardingError> {
        if let Err(e) = self.advance(id).await {
            tracing::warn!(onboarding = id, error = %e, "onboarding run stopped; the schedule resumes it");
        }
        self.get(id).await
    }

    /// Writes `o` conditional on its version; on success it is at the next one.
    async fn save(&self, o: &mut Onboarding, now: i64) -> Result<bool, OnboardingError> {
        o.updated_at = now;
        let doc = serde_json::to_string(&*o).expect("an onboarding serializes");
        let ended = o.state == OnboardingState::Ready;
        let write = DocWrite {
            id: &o.id,
            appid: &o.appid,
            state: o.state.as_str(),
            ended,
            doc: &doc,
        };
        let saved = self.store.save(&write, o.version, now).await?;
        if saved {
            o.version += 1;
        }
        Ok(saved)
    }

    /// One run: the pushes received folded in, then the steps, one WeChat call and one write at
    /// a time, until one waits (for WeChat or the operator) or all are done. Answers the
    /// onboarding as the run left it; a run already holding it is left alone.
    pub async fn advance(&self, id: &str) -> Result<Onboarding, OnboardingError> {
        let (doc, pushes) = self
            .store
            .read(id)
            .await?
            .ok_or_else(|| OnboardingError::NotFound(id.to_owned()))?;
        let mut o = decode(&doc.doc, doc.version)?;
        let now = unix_now();
        if o.state == OnboardingState::Ready || o.lease_until.is_some_and(|until| until > now) {
            return Ok(o);
        }
        let facts: Vec<PushFact> = pushes
            .iter()
            .filter_map(|p| serde_json::from_str(&p.body).ok())
            .collect();
        for fact in &facts {
            push::fold(&mut o, fact);
        }
        o.lease_until = Some(now + LEASE_SECS);
        if !self.save(&mut o, now).await? {
            // Another run or a resubmit wrote first: theirs stands.
            return Ok(o);
        }
        let folded: Vec<String> = pushes.into_iter().map(|p| p.sk).collect();
        self.store.delete_pushes(id, &folded).await?;
        let result = self.run(&mut o).await;
        o.lease_until = None;
        o.settle_state();
        let now = unix_now();
        if !self.save(&mut o, now).await? {
            tracing::warn!(
                onboarding = id,
                "onboarding changed under its lease; the run's last write was refused"
            );
        }
        if o.state == OnboardingState::Ready {
            tracing::info!(onboarding = id, appid = o.appid, "onboarding ready");
        }
        result.map(|()| o)
    }

    async fn run(&self, o: &mut Onboarding) -> Result<(), OnboardingError> {
        for _ in 0..MOVES_PER_RUN {
            let Some(step) = o.current() else {
                return Ok(());
            };
            let moved = self.step(o, step).await;
            let now = unix_now();
            o.step_mut(step).updated_at = now;
            o.settle_state();
            if !self.save(o, now).await? {
                return Err(OnboardingError::Conflict(
                    "the onboarding changed under the run's lease".into(),
                ));
            }
            match moved? {
                steps::Moved::Again => continue,
                steps::Moved::Stop => return Ok(()),
            }
        }
        Ok(())
    }

    /// The schedule: every onboarding neither ready nor waiting for the operator is run (the
    /// waiting ones poll WeChat).
    pub async fn sync(&self) -> Result<SyncSummary, OnboardingError> {
        let mut summary = SyncSummary::default();
        for o in self.list().await? {
            if matches!(
                o.state,
                OnboardingState::Ready | OnboardingState::NeedsOperator
            ) {
                continue;
            }
            match self.advance(&o.id).await {
                Ok(after) => {
                    summary.advanced += 1;
                    match after.state {
                        OnboardingState::Ready => summary.ready += 1,
                        OnboardingState::Waiting => summary.waiting += 1,
                        OnboardingState::NeedsOperator => summary.needs_operator += 1,
                        OnboardingState::Running => {}
                    }
                }
                Err(e) => {
                    summary.failed += 1;
                    tracing::warn!(onboarding = o.id, error = %e, "onboarding run failed; retried on the next schedule");
                }
            }
        }
        Ok(summary)
    }

    /// A step's WeChat call in the action log (label `onboarding`), its outcome beside it.
    async fn log_call(
        &self,
        o: &Onboarding,
        step: StepName,
        call: &str,
        error: Option<&CodeError>,
    ) {
        let action = Action {
            label: "onboarding".into(),
            action: format!("Onboarding.{}", json!(step).as_str().unwrap_or("step")),
            appid: Some(o.appid.clone()),
            parameters: json!({ "onboarding": o.id, "call": call }),
            at_ms: ms(),
        };
        let errcode = match error {
            Some(CodeError::Wechat(e)) => e.errcode().map(|c| c.code()),
            _ => None,
        };
        let outcome = ActionOutcome {
            status: if error.is_some() {
                ActionStatus::Failed
            } else {
                ActionStatus::Succeeded
            },
            result: if error.is_some() {
                "wechat_error"
            } else {
                "ok"
            }
            .into(),
            http_status: if error.is_some() { 502 } else { 200 },
            errcode,
            at_ms: ms(),
        };
        let logged = match self.actions.start(&action).await {
            Ok(key) => self.actions.finish(&key, &outcome).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = logged {
            tracing::error!(onboarding = o.id, error = %e, "action log: an onboarding call was not recorded");
        }
    }
}

/// The onboarding as the admin API answers it: the media as their names and sizes only.
pub fn to_json(o: &Onboarding) -> Value {
    let mut value = json!(o);
    strip_media(&mut value);
    value["current_step"] = json!(o.current());
    value["filed"] = json!(o.filed());
    value
}

/// Each media's base64 replaced by its size (answers and the action log never carry files).
pub fn strip_media(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(b64)) = map.get("base64") {
                let bytes = b64.len() / 4 * 3;
                map.remove("base64");
                map.insert("bytes".into(), json!(bytes));
            }
            map.values_mut().for_each(strip_media);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_media),
        _ => {}
    }
}
