//! Rollouts: one template version committed, reviewed and released on many mini programs.
//!
//! A rollout is a row (`meta`) and one row per target (mini program), in the rollouts table
//! (store/rollouts.rs). Work moves through a queue, one message per step of one target
//! ([`StepMessage`]); a step reads the target's state and does what comes next
//! ([`RolloutService::advance`], steps.rs), so a redelivered or duplicated message does nothing
//! twice: every move is a conditional write from the state it was read in. A scheduled sync
//! (sync.rs) catches up what no message carries: review results that never arrived, gray steps
//! whose hold has passed, quota that came back, cancelled rollouts' targets.

mod steps;
mod sync;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use steps::rollout_ext_json;
pub use steps::{RolloutError, RolloutService, StepOutcome};

use crate::code_release::CodeReleaseService;
use crate::platform::Platform;
use crate::queue::SqsQueue;
use crate::store::rollouts::DynamoRolloutStore;
use crate::store::{DynamoAuditStore, DynamoAuthorizerStore, DynamoTicketStore};

/// Rollouts over the platform's tables and its queue.
pub type PlatformRollouts =
    RolloutService<DynamoTicketStore, DynamoAuthorizerStore, DynamoAuditStore, SqsQueue>;

impl Platform {
    /// The rollout service, when the platform has a rollout queue (`ROLLOUT_QUEUE_URL`).
    pub fn rollouts(&self) -> Option<PlatformRollouts> {
        let queue = self.rollout_queue()?;
        let audits = DynamoAuditStore::new(self.dynamo.clone(), &self.tables.audits);
        Some(RolloutService::new(
            CodeReleaseService::new(self.authorization_service(), audits),
            self.rollout_store(),
            queue,
        ))
    }

    pub fn rollout_store(&self) -> DynamoRolloutStore {
        DynamoRolloutStore::new(self.dynamo.clone(), &self.tables.rollouts)
    }
}
pub use sync::{SyncAges, SyncSummary};

/// What happens once a target's review passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReleasePolicy {
    /// `"manual"` (stop at passed) or `"auto"` (release at once).
    Simple(SimpleRelease),
    /// `{"gray": [10, 50, 100], "hold_secs": N}`: grayrelease to each percentage in turn, holding
    /// `hold_secs` between steps, then release.
    Gray { gray: Vec<i64>, hold_secs: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimpleRelease {
    Manual,
    Auto,
}

impl ReleasePolicy {
    pub fn is_manual(&self) -> bool {
        matches!(self, Self::Simple(SimpleRelease::Manual))
    }
}

/// What a rollout ships, as created (frozen with its target list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutSpec {
    pub name: String,
    pub template_id: i64,
    pub user_version: String,
    pub user_desc: String,
    /// Merged over each mini program's stored ext settings.
    #[serde(default)]
    pub ext: Map<String, Value>,
    /// The template library lists it as a standard template (its ext_json takes no extEnable).
    #[serde(default)]
    pub standard_template: bool,
    pub release: ReleasePolicy,
    /// Targets worked on (commit → submit) at once.
    pub concurrency: i64,
}

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutStatus {
    Running,
    Paused,
    /// WeChat's submit quota is used up: no submission until queryquota shows some again.
    QuotaExhausted,
    /// Cancelled; the targets not yet ended are being cancelled.
    Cancelled,
    /// Every target ended.
    Finished,
}

impl RolloutStatus {
    pub const ALL: [Self; 5] = [
        Self::Running,
        Self::Paused,
        Self::QuotaExhausted,
        Self::Cancelled,
        Self::Finished,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::QuotaExhausted => "quota_exhausted",
            Self::Cancelled => "cancelled",
            Self::Finished => "finished",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One target's state: `pending → queued → committed → submitted → passed | rejected | failed →
/// (gray →) released`, or `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    /// Not yet started (outside the window of `concurrency`).
    Pending,
    /// In the window: its first step is on the queue.
    Queued,
    Committed,
    /// Under review (`auditid`).
    Submitted,
    /// The review passed; waiting for release (a manual rollout ends here).
    Passed,
    /// Gray release in progress (`gray_step`, `hold_until`).
    Gray,
    Released,
    Rejected,
    Failed,
    Cancelled,
}

impl TargetState {
    pub const ALL: [Self; 10] = [
        Self::Pending,
        Self::Queued,
        Self::Committed,
        Self::Submitted,
        Self::Passed,
        Self::Gray,
        Self::Released,
        Self::Rejected,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Queued => "queued",
            Self::Committed => "committed",
            Self::Submitted => "submitted",
            Self::Passed => "passed",
            Self::Gray => "gray",
            Self::Released => "released",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Nothing more happens to the target (a retry starts it again).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Released | Self::Rejected | Self::Failed | Self::Cancelled
        )
    }

    /// Being worked on: it holds a place in the rollout's window.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Queued | Self::Committed)
    }
}

/// A rollout as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollout {
    pub id: String,
    pub spec: RolloutSpec,
    pub status: RolloutStatus,
    pub target_count: i64,
    /// Targets that ended (terminal, or passed in a manual rollout).
    pub done_count: i64,
    /// Cancel withdraws pending reviews (undocodeaudit).
    pub withdraw_on_cancel: bool,
    /// The admin token's label that created it.
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    /// Why it holds (`quota_exhausted`): WeChat's errcode (85085 submit quota, 45009 a daily API
    /// quota), and until when no call is tried (45009: the next midnight, Beijing time).
    pub hold_errcode: Option<i64>,
    pub held_until: Option<i64>,
}

impl Rollout {
    /// Whether a target in `state` has ended for this rollout: a terminal state, or passed in a
    /// manual rollout (its release is the operator's).
    pub fn has_ended(&self, state: TargetState) -> bool {
        state.is_terminal() || (state == TargetState::Passed && self.spec.release.is_manual())
    }
}

/// One target as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub rollout_id: String,
    pub appid: String,
    /// Its place in the frozen list.
    pub seq: i64,
    pub state: TargetState,
    pub auditid: Option<i64>,
    /// WeChat's errcode of the step that failed, its errmsg and the reference's meaning.
    pub errcode: Option<i64>,
    pub errmsg: Option<String>,
    /// Why it failed or was rejected (the review's reason).
    pub reason: Option<String>,
    /// The review's screenshots (media ids joined by `|`).
    pub screenshot: Option<String>,
    /// The gray step reached (an index into the policy's percentages).
    pub gray_step: Option<i64>,
    /// When the current gray step's hold ends.
    pub hold_until: Option<i64>,
    pub updated_at: i64,
}

/// The queue's message: one step of one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepMessage {
    pub rollout_id: String,
    pub appid: String,
}

impl StepMessage {
    pub fn new(rollout_id: &str, appid: &str) -> Self {
        Self {
            rollout_id: rollout_id.to_owned(),
            appid: appid.to_owned(),
        }
    }

    pub fn body(&self) -> String {
        serde_json::to_string(self).expect("a step message serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn release_policies_read_as_the_api_writes_them() {
        let manual: ReleasePolicy = serde_json::from_value(json!("manual")).unwrap();
        assert!(manual.is_manual());
        let gray: ReleasePolicy =
            serde_json::from_value(json!({ "gray": [10, 50, 100], "hold_secs": 60 })).unwrap();
        assert_eq!(
            gray,
            ReleasePolicy::Gray {
                gray: vec![10, 50, 100],
                hold_secs: 60
            }
        );
        assert!(serde_json::from_value::<ReleasePolicy>(json!("later")).is_err());
        for state in TargetState::ALL {
            assert_eq!(TargetState::parse(state.as_str()), Some(state));
        }
    }
}
