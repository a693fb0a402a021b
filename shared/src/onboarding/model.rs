//! What an onboarding is: the profile the operator gave, each step's state as the operator sees
//! it (WeChat's errcode, its meaning, what to do next, the fields at fault), and what was done at
//! WeChat (media ids, audit ids, the verify task), so that a resumed step never redoes it.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::wechat::basic_info::ModifyQuota;
use crate::wechat::icp::AuditDatum;

/// A file to upload, base64 in the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    pub file_name: String,
    pub content_type: String,
    pub base64: String,
}

impl Media {
    pub fn bytes(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.base64)
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameProfile {
    pub nick_name: String,
    /// The business licence (an organization's naming material).
    pub license: Media,
    /// Up to 2 more materials (a trademark certificate…), when checkwxverifynickname asks.
    #[serde(default)]
    pub naming_other_stuff: Vec<Media>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateProfile {
    pub key: String,
    pub media: Media,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryProfile {
    pub first: i64,
    pub second: i64,
    #[serde(default)]
    pub certificates: Vec<CertificateProfile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilingMedia {
    /// Where its media id goes, e.g. `icp_subject.principal_info.certificate_photo_front`.
    pub icp_order_field: String,
    /// `image` or `video`.
    pub media_type: String,
    #[serde(default)]
    pub certificate_type: Option<i64>,
    pub media: Media,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilingProfile {
    pub icp_subject: Value,
    pub icp_applets: Value,
    #[serde(default)]
    pub icp_materials: Option<Value>,
    #[serde(default)]
    pub media: Vec<FilingMedia>,
}

/// The profile: each part absent is a step skipped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub nickname: Option<NameProfile>,
    #[serde(default)]
    pub avatar: Option<Media>,
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(default)]
    pub categories: Vec<CategoryProfile>,
    #[serde(default)]
    pub filing: Option<FilingProfile>,
}

/// The steps, in their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepName {
    Nickname,
    Avatar,
    Signature,
    Category,
    FilingEntrance,
    FilingMedia,
    FaceVerification,
    FilingApply,
    FilingReview,
}

impl StepName {
    pub const ALL: [Self; 9] = [
        Self::Nickname,
        Self::Avatar,
        Self::Signature,
        Self::Category,
        Self::FilingEntrance,
        Self::FilingMedia,
        Self::FaceVerification,
        Self::FilingApply,
        Self::FilingReview,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    /// Part done; the next call is due.
    Running,
    /// WeChat reviews (or the legal person verifies): a push or the schedule tells.
    Waiting,
    /// The operator must act (`next` says what): fix the fields and resubmit.
    NeedsOperator,
    /// WeChat could not be reached or was busy: the schedule tries again.
    Retrying,
    Done,
    Skipped,
}

impl StepStatus {
    pub fn finished(self) -> bool {
        matches!(self, Self::Done | Self::Skipped)
    }
}

/// A field WeChat (or our validation) found at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    #[serde(default)]
    pub errcode: Option<i64>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: StepName,
    pub status: StepStatus,
    #[serde(default)]
    pub errcode: Option<i64>,
    #[serde(default)]
    pub errmsg: Option<String>,
    #[serde(default)]
    pub meaning: Option<String>,
    /// What the operator must do next (or what the platform waits for).
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub field_errors: Vec<FieldError>,
    /// Until when the wait lasts (the face verification's 24 h), our clock.
    #[serde(default)]
    pub deadline: Option<i64>,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnboardingState {
    Running,
    Waiting,
    NeedsOperator,
    /// Named, categorized and filed: code may be released.
    Ready,
}

impl OnboardingState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::NeedsOperator => "needs_operator",
            Self::Ready => "ready",
        }
    }
}

/// The yearly change quotas getaccountbasicinfo answered, shown before they are spent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quotas {
    pub nickname: ModifyQuota,
    pub signature: ModifyQuota,
    pub head_image: ModifyQuota,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyTask {
    pub task_id: String,
    pub created_at: i64,
    /// The notice's 24 h.
    pub deadline: i64,
    #[serde(default)]
    pub passed: bool,
    /// The pushed result (2 failed, 3 passed).
    #[serde(default)]
    pub result: Option<i64>,
    /// Tasks created before this one (re-created after expiry or failure).
    #[serde(default)]
    pub replaces: u32,
}

/// What was done at WeChat, so that nothing is done twice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Progress {
    pub quotas: Option<Quotas>,
    pub name_checked: Option<String>,
    pub license_media_id: Option<String>,
    pub naming_media_ids: Vec<String>,
    pub nickname_audit_id: Option<String>,
    /// The review's `ret` (2 rejected, 3 passed) and reason, pushed or polled.
    pub nickname_result: Option<(i64, String)>,
    pub avatar_media_id: Option<String>,
    /// `"<first>-<second>-<key>"` → media id.
    pub certificate_media: BTreeMap<String, String>,
    pub categories_added: bool,
    /// `"<first>-<second>"` → the review's `ret` / `audit_status` and reason.
    pub category_results: BTreeMap<String, (i64, String)>,
    /// icp_order_field → media id.
    pub filing_media: BTreeMap<String, String>,
    pub verify_task: Option<VerifyTask>,
    pub filing_applied: bool,
    pub filing_status: Option<i64>,
    pub audit_data: Vec<AuditDatum>,
}

/// One onboarding, as stored (JSON) and answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Onboarding {
    pub id: String,
    pub appid: String,
    #[serde(default)]
    pub registration_id: Option<String>,
    pub profile: Profile,
    pub state: OnboardingState,
    pub steps: Vec<StepRecord>,
    pub progress: Progress,
    /// A run holds it until then (our clock): a concurrent run leaves the onboarding alone.
    #[serde(default)]
    pub lease_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The stored version this was read at (not part of the document).
    #[serde(skip)]
    pub version: i64,
}

impl Onboarding {
    pub fn new(
        id: String,
        appid: String,
        registration_id: Option<String>,
        profile: Profile,
        now: i64,
    ) -> Self {
        let steps = StepName::ALL
            .into_iter()
            .map(|name| StepRecord {
                name,
                status: StepStatus::Pending,
                errcode: None,
                errmsg: None,
                meaning: None,
                next: None,
                field_errors: Vec::new(),
                deadline: None,
                updated_at: now,
            })
            .collect();
        Self {
            id,
            appid,
            registration_id,
            profile,
            state: OnboardingState::Running,
            steps,
            progress: Progress::default(),
            lease_until: None,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    pub fn step(&self, name: StepName) -> &StepRecord {
        self.steps
            .iter()
            .find(|s| s.name == name)
            .expect("every step has a record")
    }

    pub fn step_mut(&mut self, name: StepName) -> &mut StepRecord {
        self.steps
            .iter_mut()
            .find(|s| s.name == name)
            .expect("every step has a record")
    }

    /// The first step not finished.
    pub fn current(&self) -> Option<StepName> {
        self.steps
            .iter()
            .find(|s| !s.status.finished())
            .map(|s| s.name)
    }

    /// Filed (or found filed): a release may go ahead.
    pub fn filed(&self) -> bool {
        self.progress.filing_status == Some(6)
    }

    /// The state the steps make.
    pub fn settle_state(&mut self) {
        self.state = match self.current() {
            None => OnboardingState::Ready,
            Some(step) => match self.step(step).status {
                StepStatus::NeedsOperator => OnboardingState::NeedsOperator,
                StepStatus::Waiting => OnboardingState::Waiting,
                _ => OnboardingState::Running,
            },
        };
    }
}
