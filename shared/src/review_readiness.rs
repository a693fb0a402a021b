//! Whether a mini program's committed code can go to review, checked before submit_audit rather
//! than learnt from a rejection days later: since September 2023 WeChat refuses (or rejects the
//! review of) code that uses privacy APIs without a user privacy guideline covering them
//! ("用户隐私保护指引填写说明"), and the privacy scan of fresh code takes about a minute
//! ("获取隐私接口检测结果" (get_code_privacy_info): 61039 while it runs).
//!
//! The checks: a commit on record, server domains set, the guideline covering every privacy key
//! the code uses, the scan finished and clean, no review open, submissions left this month.

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::code_release::{CodeError, CodeReleaseService, CommitSnapshot};
use crate::retry::{poll_every, Poll};
use crate::store::{AuditStore, AuthorizationRecords, AuthorizerStore, PrivacyDefault};
use crate::wechat::code::{GetDomains, QueryQuota};
use crate::wechat::privacy::{
    CodePrivacyInfo, GetCodePrivacyInfo, GetPrivacySetting, PrivacyItem, PrivacySetting,
    SetPrivacySetting,
};
use crate::wechat::{call, Errcode, TokenSource, WechatError};

/// How long submit waits for a running privacy scan, and how often it asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanWait {
    /// `PRIVACY_SCAN_WAIT_SECS`: within the admin API's 30 s (API Gateway's limit), with room.
    pub wait: Duration,
    /// Each look is a WeChat call: a few per submission, not one every 100 ms.
    pub every: Duration,
}

impl Default for ScanWait {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(8),
            every: Duration::from_secs(2),
        }
    }
}

/// WeChat's own hint for a running scan: "retry in about a minute".
pub const SCAN_RETRY_AFTER_SECS: u64 = 60;

/// What stands between the code and review on the privacy side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrivacyGap {
    /// Privacy keys the code uses that the guideline does not cover.
    pub missing_keys: Vec<String>,
    /// Privacy APIs the code calls without declaring them in app.json's `requiredPrivateInfos`.
    pub without_conf_list: Vec<String>,
    /// Privacy APIs the code calls without an approved application ("申请接口").
    pub without_auth_list: Vec<String>,
}

impl PrivacyGap {
    pub fn is_empty(&self) -> bool {
        self.missing_keys.is_empty()
            && self.without_conf_list.is_empty()
            && self.without_auth_list.is_empty()
    }
}

/// The scan of the committed code: done, or still running after the wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    Done(CodePrivacyInfo),
    Pending,
}

/// One check of [`CodeReleaseService::readiness`].
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub data: Value,
}

impl Check {
    fn new(name: &'static str, ok: bool, detail: impl Into<String>, data: Value) -> Self {
        Self {
            name,
            ok,
            detail: detail.into(),
            data,
        }
    }
}

/// Every check, and whether all passed.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub checks: Vec<Check>,
}

/// The guideline `current` becomes with the platform's default: the mini program's own entries
/// kept, every key of the default it lacks added, the default's contact used when it has none.
pub fn with_default(current: &PrivacySetting, default: &PrivacyDefault) -> SetPrivacySetting {
    let mut setting_list: Vec<PrivacyItem> = current.setting_list.clone();
    for item in &default.setting_list {
        if !setting_list
            .iter()
            .any(|s| s.privacy_key == item.privacy_key)
        {
            setting_list.push(item.clone());
        }
    }
    let owner_setting = if current.owner_setting.has_contact() {
        current.owner_setting.clone()
    } else {
        default.owner_setting.clone()
    };
    SetPrivacySetting {
        privacy_ver: None,
        owner_setting,
        setting_list,
        sdk_privacy_info_list: None,
    }
}

/// One mini program's calls ([`crate::code_release::MiniProgram`]): the checks below take it so
/// that one step (a rollout's submit, the admin API's) reads the authorizer once for all its calls.
pub trait MiniProgramCalls: TokenSource<Error = CodeError> {}
impl<T: TokenSource<Error = CodeError>> MiniProgramCalls for T {}

/// The scan once: its result, or `Pending` while WeChat answers 61039.
pub async fn scan_once(mp: &impl MiniProgramCalls) -> Result<Scan, CodeError> {
    match call(mp, &GetCodePrivacyInfo {}).await {
        Ok(info) => Ok(Scan::Done(info)),
        Err(CodeError::Wechat(WechatError::Api {
            errcode: Errcode::PrivacyScanPending,
            ..
        })) => Ok(Scan::Pending),
        Err(e) => Err(e),
    }
}

/// The scan, waiting for it up to `wait` while it runs.
pub async fn privacy_scan(mp: &impl MiniProgramCalls, wait: ScanWait) -> Result<Scan, CodeError> {
    let found = poll_every(wait.wait, wait.every, || async {
        Ok::<_, CodeError>(match scan_once(mp).await? {
            Scan::Done(info) => Poll::Ready(info),
            Scan::Pending => Poll::Pending,
        })
    })
    .await?;
    Ok(found.map_or(Scan::Pending, Scan::Done))
}

/// The guideline the next review is held to: the development version, or the online one when
/// no development version was set ("查询小程序用户隐私保护指引": after a release the online
/// version is the one in force).
pub async fn effective_privacy_setting(
    mp: &impl MiniProgramCalls,
) -> Result<PrivacySetting, CodeError> {
    let development = call(mp, &GetPrivacySetting { privacy_ver: None }).await?;
    if !development.setting_list.is_empty() || development.privacy_list.is_empty() {
        return Ok(development);
    }
    let online = call(
        mp,
        &GetPrivacySetting {
            privacy_ver: Some(1),
        },
    )
    .await?;
    Ok(PrivacySetting {
        setting_list: online.setting_list,
        owner_setting: online.owner_setting,
        update_time: online.update_time,
        ..development
    })
}

/// The privacy checks before a review: the scan finished (waiting up to `wait`), the guideline
/// covering what the code uses, the scan's lists empty unless the operator declares the detected
/// APIs unused (`privacy_api_not_use`, submit_audit's own flag).
pub async fn check_privacy_before_review(
    mp: &impl MiniProgramCalls,
    wait: ScanWait,
    privacy_api_not_use: bool,
) -> Result<(), CodeError> {
    let Scan::Done(scan) = privacy_scan(mp, wait).await? else {
        return Err(CodeError::PrivacyScanPending {
            retry_after_secs: SCAN_RETRY_AFTER_SECS,
        });
    };
    let setting = effective_privacy_setting(mp).await?;
    let mut gap = PrivacyGap {
        missing_keys: setting.missing_keys(),
        ..PrivacyGap::default()
    };
    if !privacy_api_not_use {
        gap.without_conf_list = scan.without_conf_list;
        gap.without_auth_list = scan.without_auth_list;
    }
    if gap.is_empty() {
        Ok(())
    } else {
        Err(CodeError::PrivacySettingMissing(gap))
    }
}

/// Sets the platform's default guideline, keeping the mini program's own entries.
pub async fn apply_privacy_default(
    mp: &impl MiniProgramCalls,
    default: &PrivacyDefault,
) -> Result<SetPrivacySetting, CodeError> {
    let current = effective_privacy_setting(mp).await?;
    let request = with_default(&current, default);
    call(mp, &request).await?;
    Ok(request)
}

impl<S, A, U> CodeReleaseService<S, A, U>
where
    S: AuthorizationRecords,
    A: AuthorizerStore + Sync,
    U: AuditStore + Sync,
{
    /// The guideline as WeChat holds it: `privacy_ver` 2 (the development version, WeChat's
    /// default) or 1 (the online one).
    pub async fn privacy_setting(
        &self,
        appid: &str,
        privacy_ver: Option<i64>,
    ) -> Result<PrivacySetting, CodeError> {
        self.call(appid, &GetPrivacySetting { privacy_ver }).await
    }

    /// [`apply_privacy_default`] for `appid`.
    pub async fn apply_privacy_default(
        &self,
        appid: &str,
        default: &PrivacyDefault,
    ) -> Result<SetPrivacySetting, CodeError> {
        apply_privacy_default(&self.mini_program(appid).await?, default).await
    }

    /// [`check_privacy_before_review`] for `appid`.
    pub async fn check_privacy_before_review(
        &self,
        appid: &str,
        wait: ScanWait,
        privacy_api_not_use: bool,
    ) -> Result<(), CodeError> {
        check_privacy_before_review(&self.mini_program(appid).await?, wait, privacy_api_not_use)
            .await
    }

    /// Every check, without submitting; each WeChat call is made once (the scan is not waited
    /// for).
    pub async fn readiness(&self, appid: &str) -> Result<Readiness, CodeError> {
        let authorizer = self.authorizer(appid).await?;
        // One token source for every call of the checks: the authorizer is read once more.
        let mp = self.mini_program(appid).await?;
        let commit = authorizer
            .last_commit
            .as_deref()
            .and_then(|c| serde_json::from_str::<CommitSnapshot>(c).ok());
        let mut checks = vec![match &commit {
            Some(c) => Check::new(
                "commit",
                true,
                format!("template {} as {}", c.template_id, c.user_version),
                json!({ "template_id": c.template_id, "user_version": c.user_version, "committed_at": c.committed_at }),
            ),
            None => Check::new(
                "commit",
                false,
                "no commit on record: commit a template first",
                Value::Null,
            ),
        }];
        let domains = call(&mp, &GetDomains::default()).await?;
        checks.push(Check::new(
            "domains",
            !domains.requestdomain.is_empty(),
            if domains.requestdomain.is_empty() {
                "no request domain (requestdomain) is set: POST …/domains"
            } else {
                "request domains are set"
            },
            json!(domains),
        ));
        let setting = effective_privacy_setting(&mp).await?;
        let missing = setting.missing_keys();
        checks.push(Check::new(
            "privacy_setting",
            missing.is_empty(),
            if missing.is_empty() {
                "the guideline covers every privacy key the code uses".to_owned()
            } else {
                format!("the guideline does not cover {}", missing.join(", "))
            },
            json!({ "privacy_list": setting.privacy_list, "missing_keys": missing }),
        ));
        checks.push(match scan_once(&mp).await? {
            Scan::Pending => Check::new(
                "privacy_scan",
                false,
                "the privacy scan of the committed code is still running (61039): retry in about a minute",
                Value::Null,
            ),
            Scan::Done(scan) => Check::new(
                "privacy_scan",
                scan.is_clean(),
                if scan.is_clean() {
                    "the scan found no undeclared or unauthorized privacy API"
                } else {
                    "the scan found privacy APIs undeclared in requiredPrivateInfos or without an approved application"
                },
                json!(scan),
            ),
        });
        let open = match self.sync_latest_audit(appid).await? {
            Some((_, latest)) if latest.status.is_open() => Some(latest),
            _ => None,
        };
        checks.push(match open {
            Some(latest) => Check::new(
                "review",
                false,
                format!(
                    "review {} is {}: wait for its result or undo it",
                    latest.auditid,
                    latest.status.as_str()
                ),
                json!({ "auditid": latest.auditid }),
            ),
            None => Check::new("review", true, "no review is open", Value::Null),
        });
        let quota = call(&mp, &QueryQuota {}).await?;
        checks.push(Check::new(
            "quota",
            quota.rest > 0,
            format!("{} of {} submissions left", quota.rest, quota.limit),
            json!(quota),
        ));
        Ok(Readiness {
            ready: checks.iter().all(|c| c.ok),
            checks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::privacy::OwnerSetting;

    fn item(key: &str, text: &str) -> PrivacyItem {
        PrivacyItem {
            privacy_key: key.into(),
            privacy_text: text.into(),
            privacy_label: None,
        }
    }

    #[test]
    fn the_default_fills_what_the_mini_program_lacks_and_keeps_its_own() {
        let default = PrivacyDefault {
            owner_setting: OwnerSetting {
                contact_email: Some("privacy@example.com".into()),
                notice_method: "弹窗".into(),
                ..OwnerSetting::default()
            },
            setting_list: vec![item("Location", "门店导航"), item("PhoneNumber", "登录")],
            updated_at: 0,
        };
        let current = PrivacySetting {
            setting_list: vec![item("PhoneNumber", "会员登录")],
            ..PrivacySetting::default()
        };
        let set = with_default(&current, &default);
        assert_eq!(
            set.setting_list,
            [
                item("PhoneNumber", "会员登录"),
                item("Location", "门店导航")
            ]
        );
        assert_eq!(
            set.owner_setting, default.owner_setting,
            "it had no contact"
        );
    }
}
