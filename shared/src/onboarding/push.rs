//! The four pushes an onboarding waits for: on the message URL `wxa_nickname_audit` (`ret` 2
//! rejected, 3 passed, `nickname`, `reason`) and `wxa_category_audit` (`first`, `second`, `ret`,
//! `reason`); on the authorization event URL `notify_icpfiling_verify_result` (`task_id`,
//! `verify_appid`, `result` 2 failed, 3 passed) and `notify_apply_icpfiling_result`
//! (`authorizer_appid`, `beian_status`). ticket-receive stores them for the onboarding of the
//! mini program ([`record`]); the next run folds them in ([`fold`]).

use serde::{Deserialize, Serialize};

use super::model::{Onboarding, StepName, StepStatus};
use crate::store::onboardings::DynamoOnboardingStore;
use crate::store::{unix_now, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PushFact {
    Nickname {
        ret: i64,
        nickname: String,
        reason: String,
    },
    Category {
        first: i64,
        second: i64,
        ret: i64,
        reason: String,
    },
    Face {
        task_id: String,
        result: i64,
    },
    Filing {
        beian_status: i64,
    },
}

impl PushFact {
    /// Its key among the onboarding's pushes: a retried push has the same one.
    fn key(&self, create_time: i64) -> String {
        match self {
            Self::Nickname { ret, nickname, .. } => {
                format!("nickname#{create_time}#{ret}#{nickname}")
            }
            Self::Category {
                first, second, ret, ..
            } => format!("category#{create_time}#{first}-{second}#{ret}"),
            Self::Face { task_id, result } => format!("face#{task_id}#{result}"),
            Self::Filing { beian_status } => format!("filing#{create_time}#{beian_status}"),
        }
    }
}

/// The child elements of an XML push, leniently (the official category sample is malformed).
fn field(plaintext: &str, name: &str) -> Option<String> {
    let doc = crate::xml::parse(plaintext).ok()?;
    doc.text_of(name).map(str::to_owned)
}

fn number(plaintext: &str, name: &str) -> Option<i64> {
    field(plaintext, name)?.trim().parse().ok()
}

/// The onboarding push a message-URL push is, if it is one (`Event`).
pub fn message_fact(plaintext: &str) -> Option<PushFact> {
    match field(plaintext, "Event")?.as_str() {
        "wxa_nickname_audit" => Some(PushFact::Nickname {
            ret: number(plaintext, "ret")?,
            nickname: field(plaintext, "nickname").unwrap_or_default(),
            reason: field(plaintext, "reason").unwrap_or_default(),
        }),
        "wxa_category_audit" => Some(PushFact::Category {
            first: number(plaintext, "first")?,
            second: number(plaintext, "second")?,
            ret: number(plaintext, "ret")?,
            reason: field(plaintext, "reason").unwrap_or_default(),
        }),
        _ => None,
    }
}

/// The onboarding push an authorization-event push is, with the mini program it concerns.
pub fn component_fact(plaintext: &str) -> Option<(String, PushFact)> {
    match field(plaintext, "InfoType")?.as_str() {
        "notify_icpfiling_verify_result" => Some((
            field(plaintext, "verify_appid")?,
            PushFact::Face {
                task_id: field(plaintext, "task_id")?,
                result: number(plaintext, "result")?,
            },
        )),
        "notify_apply_icpfiling_result" => Some((
            field(plaintext, "authorizer_appid")?,
            PushFact::Filing {
                beian_status: number(plaintext, "beian_status")?,
            },
        )),
        _ => None,
    }
}

/// Stores `fact` for the onboarding running for `appid`; false when none runs (the push is for
/// a change made elsewhere).
pub async fn record(
    store: &DynamoOnboardingStore,
    appid: &str,
    fact: &PushFact,
    create_time: i64,
) -> Result<bool, StoreError> {
    let body = serde_json::to_string(fact).expect("a push fact serializes");
    store
        .add_push(appid, &fact.key(create_time), &body, unix_now())
        .await
}

/// A push's news in the onboarding: only for the step waiting for it (a late push about an
/// earlier submission changes nothing).
pub fn fold(o: &mut Onboarding, fact: &PushFact) {
    let p = &mut o.progress;
    match fact {
        PushFact::Nickname {
            ret,
            nickname,
            reason,
        } => {
            let waiting = o.step(StepName::Nickname).status == StepStatus::Waiting;
            let ours = o
                .profile
                .nickname
                .as_ref()
                .is_some_and(|n| &n.nick_name == nickname);
            if waiting && ours {
                o.progress.nickname_result = Some((*ret, reason.clone()));
            }
        }
        PushFact::Category {
            first,
            second,
            ret,
            reason,
        } => {
            if p.categories_added {
                p.category_results
                    .insert(format!("{first}-{second}"), (*ret, reason.clone()));
            }
        }
        PushFact::Face { task_id, result } => {
            if let Some(task) = p.verify_task.as_mut().filter(|t| &t.task_id == task_id) {
                task.result = Some(*result);
                task.passed = *result == crate::wechat::icp::FACE_PASSED;
            }
        }
        PushFact::Filing { beian_status } => {
            if p.filing_applied {
                p.filing_status = Some(*beian_status);
            }
        }
    }
}
