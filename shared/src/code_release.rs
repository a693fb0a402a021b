//! A mini program's code lifecycle: commit, review (audit), release, over WeChat's code
//! management endpoints ([`crate::wechat::code`]) and the audits table. The admin API drives it
//! one mini program at a time; rollouts will drive it for many.
//!
//! WeChat's own answer about an audit (get_auditstatus / get_latest_auditstatus) is
//! authoritative: it corrects a stored status that disagrees (a pushed result applied wrongly,
//! or one that never arrived).

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::audit::AuditStatus;
use crate::authorization::AuthorizationService;
use crate::authorizer::AuthorizerStatus;
use crate::authorizer_token::TokenError;
use crate::component::ComponentError;
use crate::review_readiness::{PrivacyGap, ScanWait};
use crate::store::{
    unix_now, AdminAttribute, AuditRecord, AuditStore, AuthorizationRecords, AuthorizerStore,
    StatusChange, StoreError,
};
use crate::wechat::code::{
    AuditState, Commit, GetAuditStatus, GetCategory, GetLatestAuditStatus, GetPage, Release,
    SubmitAudit, UndoCodeAudit,
};
use crate::wechat::templates::GetTemplateList;
use crate::wechat::{Endpoint, Errcode, TokenSource, WechatClient, WechatError};

/// Forces a refresh of an authorizer token WeChat refused (any token is "due" with this margin).
const FORCE_REFRESH_MARGIN: i64 = 1_000_000_000;
/// get_latest_auditstatus: no audit was ever submitted.
const NO_AUDIT: i64 = 85058;

#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error("authorizer {0} is not authorized (or must authorize again)")]
    NotAuthorized(String),
    #[error("authorizer {0} did not grant permission set 18 (mini program code management)")]
    NoCodeManagement(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0} is one of WeChat's go-live test accounts: code is never deployed to it")]
    TestAccount(String),
    #[error("{field}: {rule}")]
    Invalid { field: &'static str, rule: String },
    #[error(transparent)]
    Wechat(#[from] WechatError),
    #[error(transparent)]
    Component(#[from] ComponentError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("WeChat's answer lacks what it always carries: {0}")]
    Unexpected(&'static str),
    #[error(
        "the privacy scan of the committed code is still running: retry in {retry_after_secs} s"
    )]
    PrivacyScanPending { retry_after_secs: u64 },
    #[error("the privacy guideline does not cover what the code uses: {}", privacy_gap_summary(.0))]
    PrivacySettingMissing(PrivacyGap),
}

fn privacy_gap_summary(gap: &PrivacyGap) -> String {
    let mut parts = Vec::new();
    for (what, list) in [
        ("missing privacy keys", &gap.missing_keys),
        (
            "APIs undeclared in requiredPrivateInfos",
            &gap.without_conf_list,
        ),
        (
            "APIs without an approved application",
            &gap.without_auth_list,
        ),
    ] {
        if !list.is_empty() {
            parts.push(format!("{what}: {}", list.join(", ")));
        }
    }
    parts.join("; ")
}

/// One mini program's token source for code management: authorized, with permission set 18.
/// The token read with those checks is used first; a refused one is refreshed (under the
/// authorizer's lease) and replaced.
pub struct MiniProgram<'a, S, A> {
    service: &'a AuthorizationService<S, A>,
    appid: &'a str,
    first: std::sync::Mutex<Option<SecretString>>,
}

impl<'a, S, A> MiniProgram<'a, S, A> {
    /// The token source of any authorizer `appid` (the caller has made its own checks), starting
    /// with `first` when the caller holds a fresh token (the one an exchange just answered).
    pub fn new(
        service: &'a AuthorizationService<S, A>,
        appid: &'a str,
        first: Option<SecretString>,
    ) -> Self {
        Self {
            service,
            appid,
            first: std::sync::Mutex::new(first),
        }
    }
}

impl<S, A> TokenSource for MiniProgram<'_, S, A>
where
    S: AuthorizationRecords,
    A: AuthorizerStore + Sync,
{
    type Error = CodeError;

    fn client(&self) -> &WechatClient {
        self.service.component().client()
    }

    async fn token(&self) -> Result<SecretString, CodeError> {
        let first = self.first.lock().expect("token lock").take();
        match first {
            Some(token) => Ok(token),
            None => Ok(self.service.authorizer_access_token(self.appid).await?),
        }
    }

    async fn refused(&self, _token: &SecretString) -> Result<(), CodeError> {
        self.service
            .refresh_authorizer(self.appid, FORCE_REFRESH_MARGIN)
            .await?;
        Ok(())
    }
}

/// What a commit leaves on the authorizer (`last_commit`), for the audit's snapshot.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CommitSnapshot {
    pub template_id: i64,
    pub user_version: String,
    pub user_desc: String,
    pub ext_json: String,
    pub committed_at: i64,
}

pub struct CodeReleaseService<S, A, U> {
    authorization: AuthorizationService<S, A>,
    audits: U,
    scan_wait: ScanWait,
}

impl<S, A, U> CodeReleaseService<S, A, U> {
    pub fn new(authorization: AuthorizationService<S, A>, audits: U) -> Self {
        Self {
            authorization,
            audits,
            scan_wait: ScanWait::default(),
        }
    }

    /// How long submit waits for a running privacy scan.
    pub fn with_scan_wait(self, scan_wait: ScanWait) -> Self {
        Self { scan_wait, ..self }
    }
}

impl<S, A, U> CodeReleaseService<S, A, U>
where
    S: AuthorizationRecords,
    A: AuthorizerStore + Sync,
    U: AuditStore + Sync,
{
    pub fn authorization(&self) -> &AuthorizationService<S, A> {
        &self.authorization
    }

    pub fn audits(&self) -> &U {
        &self.audits
    }

    /// The stored authorizer, authorized or not.
    pub async fn authorizer(
        &self,
        appid: &str,
    ) -> Result<crate::authorizer::Authorizer, CodeError> {
        self.authorization
            .authorizers()
            .authorizer(appid)
            .await?
            .ok_or_else(|| CodeError::NotAuthorized(appid.to_owned()))
    }

    /// The token source of `appid` for code management.
    pub async fn mini_program<'a>(
        &'a self,
        appid: &'a str,
    ) -> Result<MiniProgram<'a, S, A>, CodeError> {
        let authorizer = self.authorizer(appid).await?;
        self.mini_program_of(appid, authorizer)
    }

    /// The token source of `appid` for code management, from its authorizer as just read
    /// (authorized, permission set 18, not a test account): a step that needs the authorizer
    /// anyway reads it once.
    pub fn mini_program_of<'a>(
        &'a self,
        appid: &'a str,
        authorizer: crate::authorizer::Authorizer,
    ) -> Result<MiniProgram<'a, S, A>, CodeError> {
        if authorizer.status != AuthorizerStatus::Authorized {
            return Err(CodeError::NotAuthorized(appid.to_owned()));
        }
        if !authorizer.has_code_management() {
            return Err(CodeError::NoCodeManagement(appid.to_owned()));
        }
        // WeChat's go-live test accounts are authorized by WeChat itself for its check: code is
        // never deployed to them ("全网发布接入检测说明").
        if authorizer.test_account {
            return Err(CodeError::TestAccount(appid.to_owned()));
        }
        let first = match (authorizer.access_token, authorizer.access_token_expires_at) {
            (Some(token), Some(expires_at)) if expires_at > unix_now() + 60 => Some(token),
            _ => None,
        };
        Ok(MiniProgram::new(&self.authorization, appid, first))
    }

    /// Calls a code management endpoint for `appid`.
    pub async fn call<E: Endpoint>(
        &self,
        appid: &str,
        request: &E,
    ) -> Result<E::Answer, CodeError> {
        crate::wechat::call(&self.mini_program(appid).await?, request).await
    }

    /// Calls a template library endpoint (the component token).
    pub async fn template_call<E: Endpoint>(&self, request: &E) -> Result<E::Answer, CodeError> {
        Ok(self.authorization.component().call(request).await?)
    }

    /// The latest audit as WeChat sees it, applied to the audits table (a missed push is caught
    /// up); None when none was ever submitted.
    pub async fn sync_latest_audit(
        &self,
        appid: &str,
    ) -> Result<Option<(AuditState, AuditRecord)>, CodeError> {
        let answer = match self.call(appid, &GetLatestAuditStatus {}).await {
            Ok(answer) => answer,
            Err(CodeError::Wechat(WechatError::Api {
                errcode: Errcode::Other(NO_AUDIT),
                ..
            })) => return Ok(None),
            Err(e) => return Err(e),
        };
        let auditid = answer.auditid.ok_or(CodeError::Unexpected(
            "get_latest_auditstatus without auditid",
        ))?;
        if let Some(status) = answer.status.and_then(AuditStatus::from_wechat) {
            if self.audits.audit(appid, auditid).await?.is_none() {
                // Submitted outside the platform: record what WeChat says.
                self.audits
                    .save_submission(&AuditRecord::submitted(
                        appid,
                        auditid,
                        None,
                        answer.user_version.clone(),
                        answer.user_desc.clone(),
                        None,
                        answer.submit_audit_time,
                    ))
                    .await?;
            }
            self.apply(appid, auditid, status, &answer).await?;
        }
        let record = self
            .audits
            .audit(appid, auditid)
            .await?
            .ok_or(CodeError::Unexpected("the audit just saved"))?;
        Ok(Some((answer, record)))
    }

    /// One audit as WeChat sees it, applied to the stored one.
    pub async fn audit_status(
        &self,
        appid: &str,
        auditid: i64,
    ) -> Result<(AuditState, Option<AuditRecord>), CodeError> {
        let answer = self.call(appid, &GetAuditStatus { auditid }).await?;
        if let Some(status) = answer.status.and_then(AuditStatus::from_wechat) {
            self.apply(appid, auditid, status, &answer).await?;
        }
        Ok((answer, self.audits.audit(appid, auditid).await?))
    }

    /// Applies WeChat's own answer about an audit: authoritative, it corrects a stored status
    /// that disagrees (a wrongly applied push included).
    async fn apply(
        &self,
        appid: &str,
        auditid: i64,
        status: AuditStatus,
        answer: &AuditState,
    ) -> Result<bool, CodeError> {
        let change = StatusChange {
            status,
            reason: answer.reason().map(str::to_owned),
            screenshot: answer.screenshot().map(str::to_owned),
            at: unix_now(),
        };
        Ok(self.audits.correct_status(appid, auditid, &change).await?)
    }

    /// Whether the template library lists `template_id` as a standard template (template_type 1),
    /// whose ext_json takes only extAppid, ext and window. One it does not list is taken as a
    /// normal template: WeChat answers its commit (85014 when it does not exist).
    pub async fn is_standard_template(&self, template_id: i64) -> Result<bool, CodeError> {
        let standard = self
            .template_call(&GetTemplateList {
                template_type: Some(1),
            })
            .await?;
        Ok(standard
            .template_list
            .iter()
            .any(|t| t.template_id == template_id))
    }

    /// Commits; the commit is kept as the authorizer's `last_commit` for the next audit.
    pub async fn commit(&self, appid: &str, request: &Commit) -> Result<CommitSnapshot, CodeError> {
        self.call(appid, request).await?;
        let snapshot = CommitSnapshot {
            template_id: request.template_id,
            user_version: request.user_version.clone(),
            user_desc: request.user_desc.clone(),
            ext_json: request.ext_json.clone(),
            committed_at: unix_now(),
        };
        let text = serde_json::to_string(&snapshot).expect("a snapshot serializes");
        self.authorization
            .authorizers()
            .set_admin_attribute(appid, AdminAttribute::LastCommit, &text)
            .await?;
        Ok(snapshot)
    }

    /// Submits the last commit for review. A review still open (as WeChat confirms) is a
    /// conflict; so is code whose privacy scan is still running after the wait, or whose privacy
    /// guideline does not cover what it uses (review_readiness.rs): checked here, not learnt from
    /// a rejection. Without `item_list`, the first page and the first approved category are used.
    pub async fn submit_audit(
        &self,
        appid: &str,
        item_list: Option<Value>,
        extras: Map<String, Value>,
    ) -> Result<(i64, Value), CodeError> {
        if self
            .audits
            .latest_audit(appid)
            .await?
            .is_some_and(|a| a.status.is_open())
        {
            if let Some((_, latest)) = self.sync_latest_audit(appid).await? {
                if latest.status.is_open() {
                    return Err(CodeError::Conflict(format!(
                        "a review of this mini program is {} (auditid {}): wait for its result or undo it",
                        latest.status.as_str(),
                        latest.auditid
                    )));
                }
            }
        }
        let privacy_api_not_use = extras
            .get("privacy_api_not_use")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        self.check_privacy_before_review(appid, self.scan_wait, privacy_api_not_use)
            .await?;
        let item_list = match item_list {
            Some(items) => items,
            None => self.default_item_list(appid).await?,
        };
        let answer = self
            .call(
                appid,
                &SubmitAudit {
                    item_list: item_list.clone(),
                    extras,
                },
            )
            .await?;
        let commit = self
            .authorizer(appid)
            .await?
            .last_commit
            .and_then(|c| serde_json::from_str::<CommitSnapshot>(&c).ok());
        self.audits
            .save_submission(&AuditRecord::submitted(
                appid,
                answer.auditid,
                commit.as_ref().map(|c| c.template_id),
                commit.as_ref().map(|c| c.user_version.clone()),
                commit.as_ref().map(|c| c.user_desc.clone()),
                commit.map(|c| c.ext_json),
                Some(unix_now()),
            ))
            .await?;
        self.audit_event(appid, answer.auditid, AuditStatus::Pending)
            .await;
        Ok((answer.auditid, item_list))
    }

    /// [`default_item_list`] for `appid`.
    async fn default_item_list(&self, appid: &str) -> Result<Value, CodeError> {
        default_item_list(&self.mini_program(appid).await?).await
    }

    /// Releases the latest audit once WeChat confirms it passed.
    pub async fn release(&self, appid: &str) -> Result<AuditRecord, CodeError> {
        let latest = self
            .sync_latest_audit(appid)
            .await?
            .map(|(_, record)| record);
        let Some(latest) = latest.filter(|a| a.status == AuditStatus::Passed) else {
            return Err(CodeError::Conflict(
                "the latest review has not passed: submit, wait for the result, then release"
                    .into(),
            ));
        };
        self.call(appid, &Release {}).await?;
        let change = StatusChange {
            status: AuditStatus::Released,
            reason: None,
            screenshot: None,
            at: unix_now(),
        };
        self.audits
            .apply_status(appid, latest.auditid, &change)
            .await?;
        self.audit_event(appid, latest.auditid, AuditStatus::Released)
            .await;
        Ok(latest)
    }

    /// The platform event of an audit that reached `status` by our own call (submitted,
    /// released). WeChat has already done it, so a failed write is logged rather than answered
    /// as the call's failure (README "Events": the gap this leaves).
    async fn audit_event(&self, appid: &str, auditid: i64, status: AuditStatus) {
        if let Some(events) = self.authorization.events() {
            if let Err(e) =
                crate::store::record_audit_event(events, appid, auditid, status, None).await
            {
                tracing::error!(appid, auditid, status = status.as_str(), error = %e, "audit event not recorded");
            }
        }
    }

    /// Withdraws the open review; returns its auditid if one was open.
    pub async fn undo_audit(&self, appid: &str) -> Result<Option<i64>, CodeError> {
        self.call(appid, &UndoCodeAudit {}).await?;
        match self
            .audits
            .latest_audit(appid)
            .await?
            .filter(|a| a.status.is_open())
        {
            Some(audit) => {
                self.apply(
                    appid,
                    audit.auditid,
                    AuditStatus::Withdrawn,
                    &AuditState::default(),
                )
                .await?;
                Ok(Some(audit.auditid))
            }
            None => Ok(None),
        }
    }
}

/// submit_audit's `item_list` when none is given, as the PHP implementations build it: the first
/// page and the first approved category ("获取已上传的代码的页面列表" (get_page), "获取审核时可填写
/// 的类目信息" (get_category)).
pub async fn default_item_list<T: TokenSource<Error = CodeError>>(
    mp: &T,
) -> Result<Value, CodeError> {
    let categories = crate::wechat::call(mp, &GetCategory {}).await?;
    let pages = crate::wechat::call(mp, &GetPage {}).await?;
    let (Some(category), Some(page)) = (categories.category_list.first(), pages.page_list.first())
    else {
        return Err(CodeError::Invalid {
            field: "item_list",
            rule: "not given, and it cannot be built: no approved category or no page".into(),
        });
    };
    let mut item = Map::new();
    item.insert("address".into(), json!(page));
    item.insert("title".into(), json!("首页"));
    let known = json!({
        "first_class": category.first_class,
        "second_class": category.second_class,
        "third_class": category.third_class,
        "first_id": category.first_id,
        "second_id": category.second_id,
        "third_id": category.third_id,
    });
    if let Value::Object(known) = known {
        item.extend(known.into_iter().filter(|(_, v)| !v.is_null()));
    }
    Ok(json!([item]))
}
