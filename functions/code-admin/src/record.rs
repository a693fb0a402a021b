//! The action log around a state-changing admin call: validated (a refusal is recorded as such),
//! recorded as started with its validated fields only, made, and completed with its outcome. A
//! call whose start cannot be recorded is not made.

use std::collections::HashMap;

use serde_json::{json, Value};
use shared::store::{Action, ActionLog, ActionOutcome, ActionStatus};

use shared::wechat::code::SpeedupAudit;
use shared::wechat::templates::DeleteTemplate;

use crate::errors::AdminError;
use crate::registrations::RegistrationRequest;
use crate::requests::{
    parse, AddTemplateRequest, ApplyInterfaceRequest, CommitRequest, DomainsRequest, ExtRequest,
    GrayReleaseRequest, PrivacyDefaultRequest, PrivacyFileRequest, PrivacyRequest, RevertRequest,
    SubmitRequest, TesterRequest, VisitStatusRequest, WebviewDomainsRequest,
};
use crate::rollouts::{CancelRequest, RolloutRequest};
use crate::routes::Op;
use crate::validate::{self, Validated};
use crate::webhooks::{webhook_id, WebhookRequest};
use crate::{Answer, CodeAdmin};

impl<L: ActionLog + Sync> CodeAdmin<L> {
    /// The validated fields of a state-changing call (None for a read).
    async fn validated_fields(
        &self,
        op: Op,
        params: &HashMap<String, String>,
        body: &Value,
    ) -> Result<Option<Validated>, AdminError> {
        let appid = params
            .get("appid")
            .map(|a| validate::appid(a))
            .transpose()?
            .unwrap_or_default();
        let path_int = |name: &'static str| {
            validate::positive_int(params.get(name).map(String::as_str).unwrap_or(""), name)
        };
        Ok(Some(match op {
            Op::PutExt => Validated::PutExt {
                ext: parse::<ExtRequest>(body)?.validate()?,
            },
            Op::Domains => Validated::Domains(parse::<DomainsRequest>(body)?.validate()?),
            Op::WebviewDomains => {
                Validated::WebviewDomains(parse::<WebviewDomainsRequest>(body)?.validate()?)
            }
            Op::AddTester => Validated::AddTester(parse::<TesterRequest>(body)?.validate()?),
            Op::RemoveTester => Validated::RemoveTester(validate::tester(
                params.get("tester").map(String::as_str).unwrap_or(""),
            )?),
            Op::Commit => {
                let request = parse::<CommitRequest>(body)?;
                let stored = self
                    .code
                    .authorizer(appid)
                    .await?
                    .ext_settings
                    .and_then(|e| serde_json::from_str::<Value>(&e).ok());
                Validated::Commit(request.validate(appid, stored.as_ref())?)
            }
            Op::SubmitAudit => Validated::SubmitAudit(parse::<SubmitRequest>(body)?.validate()?),
            Op::SpeedupAudit => Validated::SpeedupAudit(SpeedupAudit {
                auditid: path_int("auditid")?,
            }),
            Op::Revert => Validated::Revert(parse::<RevertRequest>(body)?.validate()?),
            Op::StartGrayRelease => {
                Validated::StartGrayRelease(parse::<GrayReleaseRequest>(body)?.validate()?)
            }
            Op::VisitStatus => {
                Validated::VisitStatus(parse::<VisitStatusRequest>(body)?.validate()?)
            }
            Op::AddTemplate => {
                Validated::AddTemplate(parse::<AddTemplateRequest>(body)?.validate()?)
            }
            Op::DeleteTemplate => Validated::DeleteTemplate(DeleteTemplate {
                template_id: path_int("template_id")?,
            }),
            Op::SetPrivacy => Validated::SetPrivacy(parse::<PrivacyRequest>(body)?.validate()?),
            Op::UploadPrivacyFile => {
                Validated::UploadPrivacyFile(parse::<PrivacyFileRequest>(body)?.validate()?)
            }
            Op::ApplyPrivacyDefault => Validated::ApplyPrivacyDefault {},
            Op::ApplyPrivacyInterface => Validated::ApplyPrivacyInterface(
                parse::<ApplyInterfaceRequest>(body)?
                    .validate(params.get("api_name").map(String::as_str).unwrap_or(""))?,
            ),
            Op::SetPrivacyDefault => {
                Validated::SetPrivacyDefault(parse::<PrivacyDefaultRequest>(body)?.validate()?)
            }
            Op::UndoAudit => Validated::UndoAudit {},
            Op::Release => Validated::Release {},
            Op::CancelGrayRelease => Validated::CancelGrayRelease {},
            Op::CreateRollout => {
                Validated::CreateRollout(parse::<RolloutRequest>(body)?.validate()?)
            }
            Op::PauseRollout => Validated::PauseRollout {},
            Op::ResumeRollout => Validated::ResumeRollout {},
            Op::CancelRollout => Validated::CancelRollout {
                withdraw: parse::<CancelRequest>(body)?.validate()?,
            },
            Op::RetryTarget => Validated::RetryTarget {},
            Op::CreateOnboarding => Validated::CreateOnboarding(
                parse::<crate::onboardings::OnboardingRequest>(body)?.validate()?,
            ),
            Op::ResubmitOnboarding => Validated::ResubmitOnboarding(
                parse::<crate::onboardings::ResubmitRequest>(body)?.validate()?,
            ),
            Op::CreateRegistration => {
                Validated::CreateRegistration(parse::<RegistrationRequest>(body)?.validate()?)
            }
            // Reads take nothing from the body.
            Op::ListAuthorizers
            | Op::GetAuthorizer
            | Op::ListTesters
            | Op::Qrcode
            | Op::ReviewScreenshot
            | Op::Categories
            | Op::Pages
            | Op::ListAudits
            | Op::LatestAudit
            | Op::GetAudit
            | Op::Versions
            | Op::GrayReleasePlan
            | Op::Actions
            | Op::TemplateDrafts
            | Op::ListTemplates
            | Op::Quota
            | Op::GetPrivacy
            | Op::PrivacyInterfaces
            | Op::Readiness
            | Op::GetPrivacyDefault
            | Op::GoLiveReport
            | Op::PlatformHealth => return Ok(None),
            Op::ListRegistrations | Op::GetRegistration => return Ok(None),
            Op::CreateWebhook => Validated::CreateWebhook(
                self.validate_webhook(parse::<WebhookRequest>(body)?)
                    .await?,
            ),
            Op::DeleteWebhook => Validated::DeleteWebhook {
                id: webhook_id(params)?.to_owned(),
            },
            Op::TestWebhook => Validated::TestWebhook {
                id: webhook_id(params)?.to_owned(),
            },
            Op::ListWebhooks | Op::GetWebhook | Op::WebhookDeliveries => return Ok(None),
            Op::ListOnboardings | Op::GetOnboarding => return Ok(None),
            Op::ListPushes | Op::GetPush => return Ok(None),
            Op::ListRollouts | Op::GetRollout | Op::RolloutTargets => return Ok(None),
        }))
    }

    /// The refusal of a code call for a mini program a rollout holds.
    async fn rollout_holding(
        &self,
        op: Op,
        params: &HashMap<String, String>,
    ) -> Result<Option<AdminError>, AdminError> {
        let Some(appid) = params.get("appid") else {
            return Ok(None);
        };
        // A release of a mini program whose onboarding's ICP filing is not approved would fail
        // at WeChat ("小程序备案": no mini program goes online before it).
        if matches!(op, Op::Release | Op::StartGrayRelease) {
            if let Some(refusal) = self.filing_block(appid).await? {
                return Ok(Some(refusal));
            }
        }
        let Some(rollouts) = &self.rollouts else {
            return Ok(None);
        };
        Ok(rollouts
            .holder(appid)
            .await?
            .map(|rollout_id| AdminError::RolloutConflict {
                appid: appid.clone(),
                rollout_id,
            }))
    }

    /// A state-changing call: validated (a refusal is recorded as such), recorded as started, and
    /// only then made; its record is completed with the outcome.
    pub(crate) async fn act(
        &self,
        label: &str,
        op: Op,
        params: &HashMap<String, String>,
        query: &HashMap<String, String>,
        body: &Value,
    ) -> Result<Answer, AdminError> {
        let action = |parameters: Value| Action {
            label: label.to_owned(),
            action: format!("{op:?}"),
            appid: params
                .get("appid")
                .filter(|a| validate::appid(a).is_ok())
                .cloned(),
            parameters,
            at_ms: unix_ms(),
        };
        let fields = match self.validated_fields(op, params, body).await {
            // A mini program in a rollout that has not ended: its code is the rollout's.
            Ok(Some(fields)) if op.changes_code() => match self.rollout_holding(op, params).await {
                Ok(None) => fields,
                Ok(Some(err)) | Err(err) => {
                    let refused = outcome(ActionStatus::Refused, Some(&err));
                    if let Err(e) = self.actions.refuse(&action(json!({})), &refused).await {
                        tracing::error!(error = %e, ?op, "action log: the refusal was not recorded");
                    }
                    return Err(err);
                }
            },
            Ok(Some(fields)) => fields,
            Ok(None) => return self.read(op, params, query).await,
            Err(err) => {
                let parameters = match &err {
                    AdminError::Invalid { field, .. } => json!({ "field": field }),
                    _ => json!({}),
                };
                let refused = outcome(ActionStatus::Refused, Some(&err));
                if let Err(e) = self.actions.refuse(&action(parameters), &refused).await {
                    tracing::error!(error = %e, ?op, "action log: the refusal was not recorded");
                }
                return Err(err);
            }
        };
        let key = self
            .actions
            .start(&action(
                serde_json::to_value(&fields).expect("validated fields serialize"),
            ))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, ?op, "action log unavailable: the call is not made");
                AdminError::ActionLog(e)
            })?;
        let result = self.change(label, op, params, fields).await;
        let done = match &result {
            Ok(_) => outcome(ActionStatus::Succeeded, None),
            Err(e) => outcome(ActionStatus::Failed, Some(e)),
        };
        match self.actions.finish(&key, &done).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                ?op,
                at = key.at,
                "action log: the record was no longer started"
            ),
            Err(e) => {
                tracing::error!(error = %e, ?op, at = key.at, "action log: the outcome was not recorded; the record stays started")
            }
        }
        result
    }
}

/// Milliseconds since the Unix epoch (the action log's clock).
fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How a call ended, for its action record.
fn outcome(status: ActionStatus, error: Option<&AdminError>) -> ActionOutcome {
    ActionOutcome {
        status,
        result: error.map_or("ok", AdminError::code).to_owned(),
        http_status: error.map_or(200, |e| e.status().as_u16()),
        errcode: error.and_then(AdminError::errcode),
        at_ms: unix_ms(),
    }
}
