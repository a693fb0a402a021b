//! The scheduled sync (an EventBridge schedule in AWS): what no message carries. Review results
//! that never arrived (a lost push), steps whose message was lost, gray steps whose hold has
//! passed, quota that came back, a window with room, cancelled rollouts' remaining targets.

use serde::Serialize;

use super::steps::{RolloutError, RolloutService};
use super::{Rollout, RolloutStatus, StepMessage, TargetState};
use crate::queue::StepQueue;
use crate::store::{unix_now, AuditStore, AuthorizationRecords, AuthorizerStore};
use crate::wechat::code::QueryQuota;

/// How old a target's last move must be before the sync sends its step again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncAges {
    /// A queued, committed or passed target whose message was lost (`ROLLOUT_STALE_SECS`).
    pub stale_secs: i64,
    /// A target under review: asked with get_auditstatus (`ROLLOUT_REVIEW_SYNC_SECS`).
    pub review_secs: i64,
}

impl Default for SyncAges {
    fn default() -> Self {
        Self {
            stale_secs: 600,
            review_secs: 3600,
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncSummary {
    pub rollouts: usize,
    /// Steps sent again (lost messages, reviews asked, gray holds over, cancellations).
    pub sent: usize,
    /// Rollouts that had held for quota and run again.
    pub resumed: usize,
    pub finished: usize,
}

impl<S, A, U, Q> RolloutService<S, A, U, Q>
where
    S: AuthorizationRecords,
    A: AuthorizerStore + Sync,
    U: AuditStore + Sync,
    Q: StepQueue + Sync,
{
    pub async fn sync(&self, ages: SyncAges) -> Result<SyncSummary, RolloutError> {
        let mut summary = SyncSummary::default();
        for status in [
            RolloutStatus::Running,
            RolloutStatus::QuotaExhausted,
            RolloutStatus::Cancelled,
        ] {
            for rollout in self.store().rollouts_with_status(status).await? {
                summary.rollouts += 1;
                match status {
                    RolloutStatus::Running => {
                        Box::pin(self.sync_running(&rollout, ages, &mut summary)).await?
                    }
                    RolloutStatus::QuotaExhausted => {
                        if Box::pin(self.quota_is_back(&rollout)).await? {
                            summary.resumed += 1;
                            summary.sent += Box::pin(self.send_work(&rollout)).await?;
                        }
                    }
                    _ if rollout.finished_at.is_some() => {}
                    _ => {
                        let sent = Box::pin(self.sweep_cancelled(&rollout)).await?;
                        if sent == 0 {
                            self.store()
                                .close_cancelled(&rollout.id, unix_now())
                                .await?;
                        }
                        summary.sent += sent;
                    }
                }
            }
        }
        tracing::info!(?summary, "rollout sync");
        Ok(summary)
    }

    async fn sync_running(
        &self,
        rollout: &Rollout,
        ages: SyncAges,
        summary: &mut SyncSummary,
    ) -> Result<(), RolloutError> {
        let now = unix_now();
        // Counted from the targets themselves: a step that died between its move and the
        // rollout's count leaves the count short, never the targets.
        let mut ended = 0;
        for state in TargetState::ALL {
            if rollout.has_ended(state) {
                ended += self.store().count_in_state(&rollout.id, state).await?;
            }
        }
        if ended >= rollout.target_count {
            let from = [RolloutStatus::Running];
            if self
                .store()
                .set_status(&rollout.id, &from, RolloutStatus::Finished, now)
                .await?
                .is_some()
            {
                summary.finished += 1;
            }
            return Ok(());
        }
        let mut due = Vec::new();
        let mut active = 0usize;
        for state in [
            TargetState::Queued,
            TargetState::Committed,
            TargetState::Submitted,
            TargetState::Passed,
            TargetState::Gray,
        ] {
            for target in self
                .store()
                .all_targets_in_state(&rollout.id, state)
                .await?
            {
                active += usize::from(state.is_active());
                let age = now - target.updated_at;
                let is_due = match state {
                    TargetState::Submitted => age >= ages.review_secs,
                    TargetState::Gray => target.hold_until.is_none_or(|until| until <= now),
                    TargetState::Passed if rollout.spec.release.is_manual() => false,
                    _ => age >= ages.stale_secs,
                };
                if is_due {
                    due.push(StepMessage::new(&rollout.id, &target.appid));
                }
            }
        }
        self.enqueue(&due).await?;
        summary.sent += due.len();
        let room = (rollout.spec.concurrency.max(1) as usize).saturating_sub(active);
        summary.sent += Box::pin(self.refill(rollout, room)).await?;
        Ok(())
    }

    /// Whether queryquota shows submissions left (asked with the token of a mini program waiting
    /// to be submitted); if so the rollout runs again.
    async fn quota_is_back(&self, rollout: &Rollout) -> Result<bool, RolloutError> {
        if rollout.held_until.is_some_and(|until| until > unix_now()) {
            return Ok(false);
        }
        let waiting = self
            .store()
            .targets_in_state(&rollout.id, TargetState::Committed, 1, None)
            .await?
            .0;
        let waiting = match waiting.first() {
            Some(t) => t.clone(),
            None => match self
                .store()
                .targets_in_state(&rollout.id, TargetState::Queued, 1, None)
                .await?
                .0
                .first()
            {
                Some(t) => t.clone(),
                None => return self.run_again(rollout).await,
            },
        };
        match self.code().call(&waiting.appid, &QueryQuota {}).await {
            Ok(quota) if quota.rest > 0 => self.run_again(rollout).await,
            Ok(_) => Ok(false),
            Err(e) => {
                tracing::warn!(rollout = rollout.id, error = %e, "queryquota failed; the rollout keeps holding");
                Ok(false)
            }
        }
    }

    async fn run_again(&self, rollout: &Rollout) -> Result<bool, RolloutError> {
        let from = [RolloutStatus::QuotaExhausted];
        Ok(self
            .store()
            .set_status(&rollout.id, &from, RolloutStatus::Running, unix_now())
            .await?
            .is_some())
    }
}
