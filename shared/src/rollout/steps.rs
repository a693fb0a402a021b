//! Creating a rollout and advancing its targets one step at a time.

use serde_json::{json, Map, Value};

use super::{ReleasePolicy, Rollout, RolloutSpec, RolloutStatus, StepMessage, Target, TargetState};
use crate::audit::AuditStatus;
use crate::authorizer::Authorizer;
use crate::authorizer_token::TokenError;
use crate::code_release::{default_item_list, CodeError, CodeReleaseService, MiniProgram};
use crate::queue::StepQueue;
use crate::review_readiness::{check_privacy_before_review, ScanWait};
use crate::store::rollouts::{DynamoRolloutStore, Lock, TargetChange};
use crate::store::{
    unix_now, AuditRecord, AuditStore, AuthorizationRecords, AuthorizerStore, StatusChange,
    StoreError,
};
use crate::wechat::code::{
    Commit, GetAuditStatus, GrayRelease, QueryQuota, Release, RevertGrayRelease, SubmitAudit,
};
use crate::wechat::{call, Errcode, WechatError};

/// Submit quota used up ("提交代码审核": 85085, the monthly or 7-day submit quota).
const SUBMIT_QUOTA_REACHED: i64 = 85085;
/// grayrelease: the mini program has no online version yet (its first release is a full one).
const NO_ONLINE_VERSION: i64 = 85079;
/// grayrelease: the percentage is not higher than the current one.
const GRAY_NOT_HIGHER: i64 = 85082;
/// How long a target whose privacy scan still runs waits before its next look.
const SCAN_RETRY_DELAY_SECS: u32 = 60;

#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// The step could not be made now (storage, the queue, WeChat busy): the message is retried.
    #[error("storage unavailable: {0}")]
    Store(#[from] StoreError),
    #[error("the queue is unavailable: {0}")]
    Queue(String),
    #[error("WeChat is unavailable, the step is retried: {0}")]
    Transient(CodeError),
    /// Creation refused: another rollout holds one of the mini programs.
    #[error("{appid} is in rollout {rollout_id}, which has not ended")]
    Conflict { appid: String, rollout_id: String },
}

/// What one message did to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// The target moved to this state.
    Moved(TargetState),
    /// Nothing to do now (a review under way, a hold, a paused rollout, quota).
    Waiting,
    /// Nothing to do at all (it ended, or another delivery moved it).
    Nothing,
}

/// How a WeChat or service failure ends a step.
enum Failure {
    /// Retry the message later.
    Retry(RolloutError),
    /// The rollout holds for quota: WeChat's errcode.
    Quota(i64),
    /// The target fails with WeChat's errcode or the platform's reason.
    Target(TargetChange),
}

fn failure(err: CodeError) -> Failure {
    let change = |errcode: Option<i64>, errmsg: Option<String>, reason: String| TargetChange {
        errcode,
        errmsg,
        reason: Some(reason),
        ..TargetChange::default()
    };
    match err {
        CodeError::Wechat(WechatError::Api { errcode, errmsg })
            if errcode.code() == SUBMIT_QUOTA_REACHED || errcode == Errcode::DailyQuotaReached =>
        {
            tracing::warn!(
                errcode = errcode.code(),
                errmsg,
                "WeChat quota reached: the rollout holds"
            );
            Failure::Quota(errcode.code())
        }
        CodeError::Wechat(WechatError::Api { errcode, errmsg })
            if errcode != Errcode::SystemBusy =>
        {
            let reason = errcode.meaning().map_or_else(
                || format!("WeChat errcode {}", errcode.code()),
                str::to_owned,
            );
            Failure::Target(change(Some(errcode.code()), Some(errmsg), reason))
        }
        CodeError::Store(e) => Failure::Retry(RolloutError::Store(e)),
        CodeError::Token(TokenError::Store(e)) => Failure::Retry(RolloutError::Store(e)),
        e @ (CodeError::Wechat(_)
        | CodeError::Component(_)
        | CodeError::Token(TokenError::QuotaExhausted | TokenError::RefreshFailed { .. })) => {
            Failure::Retry(RolloutError::Transient(e))
        }
        other => Failure::Target(change(None, None, other.to_string())),
    }
}

pub struct RolloutService<S, A, U, Q> {
    code: CodeReleaseService<S, A, U>,
    store: DynamoRolloutStore,
    queue: Q,
}

impl<S, A, U, Q> RolloutService<S, A, U, Q> {
    pub fn new(code: CodeReleaseService<S, A, U>, store: DynamoRolloutStore, queue: Q) -> Self {
        Self { code, store, queue }
    }

    pub fn store(&self) -> &DynamoRolloutStore {
        &self.store
    }

    pub fn code(&self) -> &CodeReleaseService<S, A, U> {
        &self.code
    }

    pub fn queue(&self) -> &Q {
        &self.queue
    }
}

/// A rollout id: its creation time first, so ids sort by age.
fn new_id(now: i64) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    let suffix = Alphanumeric
        .sample_string(&mut rand::rng(), 6)
        .to_ascii_lowercase();
    format!("r{now}{suffix}")
}

/// The ext_json a rollout commits for `appid`: the stored ext settings overlaid by the rollout's
/// ext ("代码管理 / 上传代码并生成体验版" (commit): ext_json is a string; a standard template's takes
/// extAppid, ext and window only).
pub fn rollout_ext_json(appid: &str, stored: Option<&str>, spec: &RolloutSpec) -> String {
    let mut ext: Map<String, Value> = stored
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|v| match v {
            Value::Object(map) => Some(map),
            _ => None,
        })
        .unwrap_or_default();
    ext.extend(spec.ext.clone());
    let ext_json = if spec.standard_template {
        json!({ "extAppid": appid, "ext": ext })
    } else {
        json!({ "extEnable": true, "extAppid": appid, "ext": ext })
    };
    ext_json.to_string()
}

impl<S, A, U, Q> RolloutService<S, A, U, Q>
where
    S: AuthorizationRecords,
    A: AuthorizerStore + Sync,
    U: AuditStore + Sync,
    Q: StepQueue + Sync,
{
    pub(super) async fn enqueue(&self, messages: &[StepMessage]) -> Result<(), RolloutError> {
        let bodies: Vec<String> = messages.iter().map(StepMessage::body).collect();
        self.queue
            .send_batch(&bodies)
            .await
            .map_err(|e| RolloutError::Queue(e.to_string()))
    }

    /// Whether rollout `id` (the holder of a lock) has ended or never came to exist.
    /// The rollout that holds `appid` now, if one that has not ended does (the admin API leaves
    /// such a mini program's code to it).
    pub async fn holder(&self, appid: &str) -> Result<Option<String>, StoreError> {
        match self.store.lock_holder(appid).await? {
            Some(id) if !self.is_over(&id).await? => Ok(Some(id)),
            _ => Ok(None),
        }
    }

    async fn is_over(&self, id: &str) -> Result<bool, StoreError> {
        Ok(match self.store.rollout(id).await? {
            None => true,
            Some(r) => matches!(r.status, RolloutStatus::Finished | RolloutStatus::Cancelled),
        })
    }

    /// Creates a rollout of `spec` on `appids` (already checked: authorized, code management):
    /// every mini program locked to it first (a lock held by a rollout that has not ended refuses
    /// the whole rollout, naming it), then the targets stored (the first `concurrency` queued),
    /// then the rollout, then the queued targets' messages sent.
    pub async fn create(
        &self,
        spec: RolloutSpec,
        appids: &[String],
        created_by: &str,
    ) -> Result<Rollout, RolloutError> {
        let now = unix_now();
        let id = new_id(now);
        // The rollout first: a lock always names a rollout that exists (a lock whose rollout is
        // missing is a leftover, taken over), so two creations never share a mini program.
        let rollout = Rollout {
            id: id.clone(),
            spec,
            status: RolloutStatus::Running,
            target_count: appids.len() as i64,
            done_count: 0,
            withdraw_on_cancel: false,
            created_by: created_by.to_owned(),
            created_at: now,
            updated_at: now,
            finished_at: None,
            hold_errcode: None,
            held_until: None,
        };
        self.store.create(&rollout).await?;
        let mut locked: Vec<&str> = Vec::new();
        for appid in appids {
            let taken = match self.store.lock(appid, &id, now).await? {
                Lock::Taken => true,
                Lock::HeldBy(other) if self.is_over(&other).await? => {
                    self.store.take_over_lock(appid, &other, &id, now).await?
                }
                Lock::HeldBy(_) => false,
            };
            if !taken {
                let holder = self.store.lock_holder(appid).await?.unwrap_or_default();
                for appid in &locked {
                    self.store.unlock(appid, &id).await?;
                }
                self.store.delete_rollout(&id).await?;
                return Err(RolloutError::Conflict {
                    appid: appid.clone(),
                    rollout_id: holder,
                });
            }
            locked.push(appid);
        }
        let window = rollout.spec.concurrency.max(1) as usize;
        let targets: Vec<Target> = appids
            .iter()
            .enumerate()
            .map(|(seq, appid)| Target {
                rollout_id: id.clone(),
                appid: appid.clone(),
                seq: seq as i64,
                state: if seq < window {
                    TargetState::Queued
                } else {
                    TargetState::Pending
                },
                auditid: None,
                errcode: None,
                errmsg: None,
                reason: None,
                screenshot: None,
                gray_step: None,
                hold_until: None,
                updated_at: now,
            })
            .collect();
        self.store.put_targets(&targets).await?;
        let first: Vec<StepMessage> = appids
            .iter()
            .take(window)
            .map(|appid| StepMessage::new(&id, appid))
            .collect();
        self.enqueue(&first).await?;
        tracing::info!(
            rollout = id,
            targets = appids.len(),
            window,
            "rollout created"
        );
        Ok(rollout)
    }

    /// One step of one target: whatever its state calls for next.
    pub async fn advance(&self, message: &StepMessage) -> Result<StepOutcome, RolloutError> {
        let (rollout, target) = self
            .store
            .rollout_and_target(&message.rollout_id, &message.appid)
            .await?;
        let (Some(rollout), Some(target)) = (rollout, target) else {
            tracing::warn!(
                rollout = message.rollout_id,
                appid = message.appid,
                "no such rollout target; message dropped"
            );
            return Ok(StepOutcome::Nothing);
        };
        if target.state.is_terminal() || rollout.has_ended(target.state) {
            return Ok(StepOutcome::Nothing);
        }
        match rollout.status {
            RolloutStatus::Cancelled => return self.cancel_target(&rollout, &target).await,
            RolloutStatus::Paused | RolloutStatus::Finished => return Ok(StepOutcome::Waiting),
            RolloutStatus::QuotaExhausted if target.state.is_active() => {
                return Ok(StepOutcome::Waiting)
            }
            _ => {}
        }
        let outcome = match target.state {
            TargetState::Pending | TargetState::Released => StepOutcome::Nothing,
            TargetState::Queued => self.commit(&rollout, &target).await?,
            TargetState::Committed => self.submit(&rollout, &target).await?,
            TargetState::Submitted => self.review_result(&rollout, &target).await?,
            TargetState::Passed => self.release(&rollout, &target).await?,
            TargetState::Gray => self.gray_step(&rollout, &target).await?,
            TargetState::Rejected | TargetState::Failed | TargetState::Cancelled => {
                StepOutcome::Nothing
            }
        };
        // A target that left the window makes room for the next pending one.
        if target.state.is_active() && matches!(outcome, StepOutcome::Moved(s) if !s.is_active()) {
            self.refill(&rollout, 1).await?;
        }
        Ok(outcome)
    }

    /// Moves the target from its state as read; a target someone else moved first is left alone.
    async fn move_to(
        &self,
        target: &Target,
        to: TargetState,
        change: TargetChange,
    ) -> Result<Option<Target>, RolloutError> {
        let moved = self
            .store
            .move_target(
                &target.rollout_id,
                &target.appid,
                &[target.state],
                to,
                &change,
                unix_now(),
            )
            .await?;
        if let Some(moved) = &moved {
            self.publish_step(Some(target.state), moved).await;
        }
        Ok(moved)
    }

    /// `platform.rollout.step`: a target moved (README "Events"). Keyed by the move itself (the
    /// target, its new state and when), so a retried write is the same event; only the move that
    /// won its condition publishes. A failure to record it is logged and changes nothing else.
    async fn publish_step(&self, from: Option<TargetState>, moved: &Target) {
        let Some(events) = self.code.authorization().events() else {
            return;
        };
        let key = format!(
            "{}#{}#{}#{}",
            moved.rollout_id,
            moved.appid,
            moved.state.as_str(),
            moved.updated_at
        );
        let fields = serde_json::json!({
            "rollout_id": moved.rollout_id,
            "from": from.map(TargetState::as_str),
            "state": moved.state.as_str(),
            "auditid": moved.auditid,
            "errcode": moved.errcode,
            "reason": moved.reason,
        });
        let kind = "platform.rollout.step";
        if let Err(e) =
            crate::store::record_platform_event(events, kind, Some(&moved.appid), &key, fields)
                .await
        {
            tracing::warn!(appid = %moved.appid, rollout = %moved.rollout_id, error = %e, "rollout step event not recorded");
        }
    }

    /// A move, then what ending (or not) means: an ended target frees its mini program and counts
    /// towards the rollout's end.
    async fn moved(
        &self,
        rollout: &Rollout,
        target: &Target,
        to: TargetState,
        change: TargetChange,
    ) -> Result<StepOutcome, RolloutError> {
        let Some(moved) = self.move_to(target, to, change).await? else {
            return Ok(StepOutcome::Nothing);
        };
        if rollout.has_ended(to) {
            self.store.unlock(&moved.appid, &rollout.id).await?;
            let now = unix_now();
            let counted = self.store.add_done(&rollout.id, 1, now).await?;
            if counted.done_count >= counted.target_count {
                let from = [
                    RolloutStatus::Running,
                    RolloutStatus::QuotaExhausted,
                    RolloutStatus::Paused,
                ];
                if self
                    .store
                    .set_status(&rollout.id, &from, RolloutStatus::Finished, now)
                    .await?
                    .is_some()
                {
                    tracing::info!(rollout = rollout.id, "rollout finished");
                }
            }
        }
        tracing::info!(
            rollout = rollout.id,
            appid = target.appid,
            from = target.state.as_str(),
            to = to.as_str(),
            "target moved"
        );
        Ok(StepOutcome::Moved(to))
    }

    /// The outcome of a failed WeChat or service call for `target`.
    async fn failed(
        &self,
        rollout: &Rollout,
        target: &Target,
        err: CodeError,
    ) -> Result<StepOutcome, RolloutError> {
        match failure(err) {
            Failure::Retry(e) => Err(e),
            Failure::Quota(errcode) => {
                let now = unix_now();
                // A daily API quota (45009) comes back at midnight, Beijing time; the submit
                // quota (85085) when queryquota says so.
                let until = (errcode == Errcode::DailyQuotaReached.code())
                    .then(|| next_midnight_beijing(now));
                self.store.hold(&rollout.id, errcode, until, now).await?;
                Ok(StepOutcome::Waiting)
            }
            Failure::Target(change) => {
                tracing::warn!(
                    rollout = rollout.id,
                    appid = target.appid,
                    reason = change.reason.as_deref().unwrap_or("-"),
                    "target failed"
                );
                self.moved(rollout, target, TargetState::Failed, change)
                    .await
            }
        }
    }

    /// The token source of the target's mini program, its authorizer read once for the step;
    /// Err(outcome) when it cannot be one any more (the target failed, saying why).
    async fn mini_program<'a>(
        &'a self,
        rollout: &Rollout,
        target: &'a Target,
    ) -> Result<Result<(MiniProgram<'a, S, A>, Authorizer), StepOutcome>, RolloutError> {
        let read = self.code.authorizer(&target.appid).await;
        let made = read.and_then(|authorizer| {
            let kept = authorizer.clone();
            self.code
                .mini_program_of(&target.appid, authorizer)
                .map(|mp| (mp, kept))
        });
        match made {
            Ok(made) => Ok(Ok(made)),
            Err(e) => self.failed(rollout, target, e).await.map(Err),
        }
    }

    /// Commit, then at once the submission: one message takes a target into review, with one
    /// authorizer read for all its WeChat calls.
    async fn commit(
        &self,
        rollout: &Rollout,
        target: &Target,
    ) -> Result<StepOutcome, RolloutError> {
        let (mp, authorizer) = match self.mini_program(rollout, target).await? {
            Ok(made) => made,
            Err(outcome) => return Ok(outcome),
        };
        let spec = &rollout.spec;
        let request = Commit {
            template_id: spec.template_id,
            ext_json: rollout_ext_json(&target.appid, authorizer.ext_settings.as_deref(), spec),
            user_version: spec.user_version.clone(),
            user_desc: spec.user_desc.clone(),
        };
        if let Err(e) = call(&mp, &request).await {
            return self.failed(rollout, target, e).await;
        }
        self.submit_with(&mp, rollout, target).await
    }

    /// A committed target whose submission waited (quota, a privacy scan).
    async fn submit(
        &self,
        rollout: &Rollout,
        target: &Target,
    ) -> Result<StepOutcome, RolloutError> {
        match self.mini_program(rollout, target).await? {
            Ok((mp, _)) => self.submit_with(&mp, rollout, target).await,
            Err(outcome) => Ok(outcome),
        }
    }

    /// A target that must wait before its submission: committed, its last move now (so that the
    /// sync does not also send it again while a delayed step is on its way).
    async fn wait_committed(&self, target: &Target) -> Result<(), RolloutError> {
        self.move_to(target, TargetState::Committed, TargetChange::default())
            .await?;
        Ok(())
    }

    /// queryquota (none left: the rollout holds), the checks of review readiness, submit_audit,
    /// the audit recorded (for the review's push), the target under review.
    async fn submit_with(
        &self,
        mp: &MiniProgram<'_, S, A>,
        rollout: &Rollout,
        target: &Target,
    ) -> Result<StepOutcome, RolloutError> {
        let appid = &target.appid;
        match call(mp, &QueryQuota {}).await {
            Ok(quota) if quota.rest <= 0 => {
                tracing::warn!(
                    rollout = rollout.id,
                    "submit quota used up: the rollout holds"
                );
                self.wait_committed(target).await?;
                return self.failed(rollout, target, quota_reached()).await;
            }
            Ok(_) => {}
            Err(e) => return self.failed(rollout, target, e).await,
        }
        let no_wait = ScanWait {
            wait: std::time::Duration::ZERO,
            ..ScanWait::default()
        };
        match check_privacy_before_review(mp, no_wait, false).await {
            Ok(()) => {}
            Err(CodeError::PrivacyScanPending { .. }) => {
                self.wait_committed(target).await?;
                let message = StepMessage::new(&rollout.id, appid);
                self.queue
                    .send(&message.body(), SCAN_RETRY_DELAY_SECS)
                    .await
                    .map_err(|e| RolloutError::Queue(e.to_string()))?;
                return Ok(StepOutcome::Waiting);
            }
            Err(e) => return self.failed(rollout, target, e).await,
        }
        let submitted = match default_item_list(mp).await {
            Ok(item_list) => {
                let request = SubmitAudit {
                    item_list,
                    extras: Map::new(),
                };
                call(mp, &request).await
            }
            Err(e) => Err(e),
        };
        let auditid = match submitted {
            Ok(answer) => answer.auditid,
            // Submitted by an earlier delivery that died before recording it: WeChat's latest
            // audit is ours if it is of this version.
            Err(CodeError::Wechat(WechatError::Api {
                errcode: Errcode::AuditPending,
                ..
            })) => return self.adopt_pending_audit(rollout, target).await,
            Err(e) => return self.failed(rollout, target, e).await,
        };
        let spec = &rollout.spec;
        self.code
            .audits()
            .save_submission(&AuditRecord::submitted(
                appid,
                auditid,
                Some(spec.template_id),
                Some(spec.user_version.clone()),
                Some(spec.user_desc.clone()),
                None,
                Some(unix_now()),
            ))
            .await?;
        self.under_review(rollout, target, auditid).await
    }

    async fn under_review(
        &self,
        rollout: &Rollout,
        target: &Target,
        auditid: i64,
    ) -> Result<StepOutcome, RolloutError> {
        let change = TargetChange {
            auditid: Some(auditid),
            ..TargetChange::default()
        };
        self.moved(rollout, target, TargetState::Submitted, change)
            .await
    }

    /// The target fails for a reason of the platform's (with WeChat's errcode, if one).
    async fn fail_because(
        &self,
        rollout: &Rollout,
        target: &Target,
        errcode: Option<i64>,
        reason: &str,
    ) -> Result<StepOutcome, RolloutError> {
        let change = TargetChange {
            errcode,
            reason: Some(reason.to_owned()),
            ..TargetChange::default()
        };
        self.moved(rollout, target, TargetState::Failed, change)
            .await
    }

    /// A review is already open: ours (this version, from an earlier delivery) moves the target
    /// on; another one fails it.
    async fn adopt_pending_audit(
        &self,
        rollout: &Rollout,
        target: &Target,
    ) -> Result<StepOutcome, RolloutError> {
        let latest = match self.code.sync_latest_audit(&target.appid).await {
            Ok(latest) => latest,
            Err(e) => return self.failed(rollout, target, e).await,
        };
        match latest {
            Some((_, audit))
                if audit.status.is_open()
                    && audit.user_version.as_deref() == Some(&rollout.spec.user_version) =>
            {
                self.under_review(rollout, target, audit.auditid).await
            }
            _ => {
                let why = "another review of this mini program is open";
                self.fail_because(rollout, target, Some(Errcode::AuditPending.code()), why)
                    .await
            }
        }
    }

    /// The review's result as WeChat says it (get_auditstatus: authoritative, whether a push
    /// brought the target here or the sync did), then the release its policy calls for.
    async fn review_result(
        &self,
        rollout: &Rollout,
        target: &Target,
    ) -> Result<StepOutcome, RolloutError> {
        let Some(auditid) = target.auditid else {
            return Ok(StepOutcome::Nothing);
        };
        let (mp, _) = match self.mini_program(rollout, target).await? {
            Ok(made) => made,
            Err(outcome) => return Ok(outcome),
        };
        let state = match call(&mp, &GetAuditStatus { auditid }).await {
            Ok(state) => state,
            Err(e) => return self.failed(rollout, target, e).await,
        };
        let Some(status) = state.status.and_then(AuditStatus::from_wechat) else {
            return Ok(StepOutcome::Waiting);
        };
        let outcome = TargetChange {
            reason: state.reason().map(str::to_owned),
            screenshot: state.screenshot().map(str::to_owned),
            ..TargetChange::default()
        };
        match status {
            AuditStatus::Passed | AuditStatus::Released if rollout.spec.release.is_manual() => {
                self.record_audit(&target.appid, auditid, status, &outcome)
                    .await?;
                self.moved(
                    rollout,
                    target,
                    TargetState::Passed,
                    TargetChange::default(),
                )
                .await
            }
            AuditStatus::Passed | AuditStatus::Released => {
                self.release_with(&mp, rollout, target, auditid).await
            }
            AuditStatus::Rejected => {
                self.record_audit(&target.appid, auditid, status, &outcome)
                    .await?;
                self.moved(rollout, target, TargetState::Rejected, outcome)
                    .await
            }
            AuditStatus::Withdrawn => {
                let why = "the review was withdrawn outside the rollout";
                self.fail_because(rollout, target, None, why).await
            }
            AuditStatus::Pending | AuditStatus::Delayed => Ok(StepOutcome::Waiting),
        }
    }

    /// The audits table told WeChat's answer (a push may have done it already; the sync's result
    /// may be the first news).
    async fn record_audit(
        &self,
        appid: &str,
        auditid: i64,
        status: AuditStatus,
        outcome: &TargetChange,
    ) -> Result<(), RolloutError> {
        let change = StatusChange {
            status,
            reason: outcome.reason.clone(),
            screenshot: outcome.screenshot.clone(),
            at: unix_now(),
        };
        self.code
            .audits()
            .correct_status(appid, auditid, &change)
            .await?;
        Ok(())
    }

    /// A passed review: released at once, or its first gray step.
    async fn release_with(
        &self,
        mp: &MiniProgram<'_, S, A>,
        rollout: &Rollout,
        target: &Target,
        auditid: i64,
    ) -> Result<StepOutcome, RolloutError> {
        match &rollout.spec.release {
            ReleasePolicy::Gray { gray, hold_secs } if !gray.is_empty() => {
                let first = GrayStep {
                    step: 0,
                    percentage: gray[0],
                    hold_secs: *hold_secs,
                };
                self.gray_to(mp, rollout, target, first, auditid).await
            }
            _ => self.release_fully(mp, rollout, target, auditid).await,
        }
    }

    async fn release_fully(
        &self,
        mp: &MiniProgram<'_, S, A>,
        rollout: &Rollout,
        target: &Target,
        auditid: i64,
    ) -> Result<StepOutcome, RolloutError> {
        match call(mp, &Release {}).await {
            Ok(_) => {}
            Err(CodeError::Wechat(WechatError::Api {
                errcode: Errcode::AlreadyReleased,
                ..
            })) => {}
            Err(e) => return self.failed(rollout, target, e).await,
        }
        let released = StatusChange {
            status: AuditStatus::Released,
            reason: None,
            screenshot: None,
            at: unix_now(),
        };
        self.code
            .audits()
            .correct_status(&target.appid, auditid, &released)
            .await?;
        self.moved(
            rollout,
            target,
            TargetState::Released,
            TargetChange::default(),
        )
        .await
    }

    /// grayrelease to the step's percentage, held its `hold_secs`.
    async fn gray_to(
        &self,
        mp: &MiniProgram<'_, S, A>,
        rollout: &Rollout,
        target: &Target,
        gray: GrayStep,
        auditid: i64,
    ) -> Result<StepOutcome, RolloutError> {
        let request = GrayRelease {
            gray_percentage: gray.percentage,
            support_experiencer_first: false,
            support_debuger_first: false,
        };
        match call(mp, &request).await {
            Ok(_) => {}
            // A first release has no online version to phase against: it is released fully.
            Err(CodeError::Wechat(WechatError::Api { errcode, .. }))
                if errcode.code() == NO_ONLINE_VERSION =>
            {
                return self.release_fully(mp, rollout, target, auditid).await;
            }
            // Already at this percentage or beyond: an earlier delivery of this step got there
            // (and died before recording it, or a duplicate is under way): the step is done.
            Err(CodeError::Wechat(WechatError::Api { errcode, .. }))
                if errcode.code() == GRAY_NOT_HIGHER => {}
            Err(e) => return self.failed(rollout, target, e).await,
        }
        let change = TargetChange {
            gray: Some((gray.step, unix_now() + gray.hold_secs)),
            ..TargetChange::default()
        };
        self.moved(rollout, target, TargetState::Gray, change).await
    }

    /// A passed target of a manual rollout waits; another is released.
    async fn release(
        &self,
        rollout: &Rollout,
        target: &Target,
    ) -> Result<StepOutcome, RolloutError> {
        if rollout.spec.release.is_manual() {
            return Ok(StepOutcome::Waiting);
        }
        let Some(auditid) = target.auditid else {
            return Ok(StepOutcome::Nothing);
        };
        match self.mini_program(rollout, target).await? {
            Ok((mp, _)) => self.release_with(&mp, rollout, target, auditid).await,
            Err(outcome) => Ok(outcome),
        }
    }

    /// The next gray step once the hold has passed; after the last one, the full release.
    async fn gray_step(
        &self,
        rollout: &Rollout,
        target: &Target,
    ) -> Result<StepOutcome, RolloutError> {
        if target.hold_until.is_some_and(|until| until > unix_now()) {
            return Ok(StepOutcome::Waiting);
        }
        let Some(auditid) = target.auditid else {
            return Ok(StepOutcome::Nothing);
        };
        let (mp, _) = match self.mini_program(rollout, target).await? {
            Ok(made) => made,
            Err(outcome) => return Ok(outcome),
        };
        let next = target.gray_step.unwrap_or(0) + 1;
        match &rollout.spec.release {
            ReleasePolicy::Gray { gray, hold_secs } if (next as usize) < gray.len() => {
                let step = GrayStep {
                    step: next,
                    percentage: gray[next as usize],
                    hold_secs: *hold_secs,
                };
                self.gray_to(&mp, rollout, target, step, auditid).await
            }
            _ => self.release_fully(&mp, rollout, target, auditid).await,
        }
    }

    async fn cancel_target(
        &self,
        rollout: &Rollout,
        target: &Target,
    ) -> Result<StepOutcome, RolloutError> {
        let undone = match target.state {
            TargetState::Submitted if rollout.withdraw_on_cancel => {
                self.code.undo_audit(&target.appid).await.map(|_| ())
            }
            // A gray release under way is reverted: its users go back to the online version
            // ("分阶段发布" (revertgrayrelease)).
            TargetState::Gray => self
                .code
                .call(&target.appid, &RevertGrayRelease {})
                .await
                .map(|_| ()),
            _ => Ok(()),
        };
        if let Err(e) = undone {
            if let Failure::Retry(e) = failure(e) {
                return Err(e);
            }
        }
        let change = TargetChange {
            reason: Some("the rollout was cancelled".into()),
            ..TargetChange::default()
        };
        self.moved(rollout, target, TargetState::Cancelled, change)
            .await
    }

    /// Queues up to `count` pending targets (each once: the move from pending is conditional).
    pub(super) async fn refill(
        &self,
        rollout: &Rollout,
        count: usize,
    ) -> Result<usize, RolloutError> {
        if rollout.status != RolloutStatus::Running || count == 0 {
            return Ok(0);
        }
        let mut queued = Vec::new();
        let mut start: Option<String> = None;
        while queued.len() < count {
            let (page, next) = self
                .store
                .targets_in_state(
                    &rollout.id,
                    TargetState::Pending,
                    (count * 2) as i32,
                    start.as_deref(),
                )
                .await?;
            for target in page {
                if queued.len() == count {
                    break;
                }
                if self
                    .move_to(&target, TargetState::Queued, TargetChange::default())
                    .await?
                    .is_some()
                {
                    queued.push(StepMessage::new(&rollout.id, &target.appid));
                }
            }
            match next {
                Some(n) => start = Some(n),
                None => break,
            }
        }
        self.enqueue(&queued).await?;
        Ok(queued.len())
    }

    /// Pause (`Running`/quota → `Paused`) or resume (`Paused` → `Running`, the window's work sent
    /// again).
    pub async fn pause(&self, id: &str) -> Result<Option<Rollout>, RolloutError> {
        let from = [RolloutStatus::Running, RolloutStatus::QuotaExhausted];
        Ok(self
            .store
            .set_status(id, &from, RolloutStatus::Paused, unix_now())
            .await?)
    }

    pub async fn resume(&self, id: &str) -> Result<Option<Rollout>, RolloutError> {
        let Some(rollout) = self
            .store
            .set_status(
                id,
                &[RolloutStatus::Paused],
                RolloutStatus::Running,
                unix_now(),
            )
            .await?
        else {
            return Ok(None);
        };
        self.send_work(&rollout).await?;
        Ok(Some(rollout))
    }

    /// Sends a message for every target with work to do now (queued, committed, passed, gray),
    /// and refills the window.
    pub(super) async fn send_work(&self, rollout: &Rollout) -> Result<usize, RolloutError> {
        let mut messages = Vec::new();
        let mut active = 0;
        // Submitted too: a review result pushed while the rollout was paused was dropped.
        for state in [
            TargetState::Queued,
            TargetState::Committed,
            TargetState::Submitted,
            TargetState::Passed,
            TargetState::Gray,
        ] {
            let targets = self.store.all_targets_in_state(&rollout.id, state).await?;
            if state.is_active() {
                active += targets.len();
            }
            messages.extend(
                targets
                    .iter()
                    .map(|t| StepMessage::new(&rollout.id, &t.appid)),
            );
        }
        self.enqueue(&messages).await?;
        let room = (rollout.spec.concurrency.max(1) as usize).saturating_sub(active);
        Ok(messages.len() + self.refill(rollout, room).await?)
    }

    /// Cancels the rollout (`withdraw`: reviews under way are withdrawn); its targets are
    /// cancelled by their next messages, sent here.
    pub async fn cancel(&self, id: &str, withdraw: bool) -> Result<Option<Rollout>, RolloutError> {
        let Some(rollout) = self.store.cancel(id, withdraw, unix_now()).await? else {
            return Ok(None);
        };
        self.sweep_cancelled(&rollout).await?;
        Ok(Some(rollout))
    }

    pub(super) async fn sweep_cancelled(&self, rollout: &Rollout) -> Result<usize, RolloutError> {
        let mut messages = Vec::new();
        for state in TargetState::ALL
            .into_iter()
            .filter(|s| !rollout.has_ended(*s))
        {
            let targets = self.store.all_targets_in_state(&rollout.id, state).await?;
            messages.extend(
                targets
                    .iter()
                    .map(|t| StepMessage::new(&rollout.id, &t.appid)),
            );
        }
        self.enqueue(&messages).await?;
        Ok(messages.len())
    }

    /// A rejected, failed or cancelled target starts again (its mini program locked again).
    pub async fn retry(&self, id: &str, appid: &str) -> Result<Option<Target>, RolloutError> {
        let now = unix_now();
        let retryable = self
            .store
            .target(id, appid)
            .await?
            .is_some_and(|t| t.state.is_terminal() && t.state != TargetState::Released);
        if !retryable {
            return Ok(None);
        }
        match self.store.lock(appid, id, now).await? {
            Lock::Taken => {}
            Lock::HeldBy(other) => {
                return Err(RolloutError::Conflict {
                    appid: appid.to_owned(),
                    rollout_id: other,
                })
            }
        }
        let from = [
            TargetState::Rejected,
            TargetState::Failed,
            TargetState::Cancelled,
        ];
        let Some(target) = self
            .store
            .move_target(
                id,
                appid,
                &from,
                TargetState::Queued,
                &TargetChange::default(),
                now,
            )
            .await?
        else {
            self.store.unlock(appid, id).await?;
            return Ok(None);
        };
        // Retried from whichever ended state it was in.
        self.publish_step(None, &target).await;
        self.store.add_done(id, -1, now).await?;
        self.store
            .set_status(id, &[RolloutStatus::Finished], RolloutStatus::Running, now)
            .await?;
        self.enqueue(&[StepMessage::new(id, appid)]).await?;
        Ok(Some(target))
    }
}

fn quota_reached() -> CodeError {
    CodeError::Wechat(WechatError::Api {
        errcode: Errcode::from_code(SUBMIT_QUOTA_REACHED),
        errmsg: "queryquota: rest 0".into(),
    })
}

/// One gray step of a policy: its index, its percentage and its hold.
#[derive(Debug, Clone, Copy)]
struct GrayStep {
    step: i64,
    percentage: i64,
    hold_secs: i64,
}

/// The next 00:00 in Beijing (UTC+8) after `now`, when WeChat's daily quotas start again.
fn next_midnight_beijing(now: i64) -> i64 {
    const DAY: i64 = 86_400;
    const OFFSET: i64 = 8 * 3600;
    (now + OFFSET).div_euclid(DAY) * DAY + DAY - OFFSET
}
