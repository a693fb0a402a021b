//! One admin operation → one service call or typed WeChat endpoint: a read from its path and
//! query ([`CodeAdmin::read`]), a state-changing call from its validated fields alone
//! ([`CodeAdmin::change`], through the action log of record.rs).

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};
use shared::code_release::CodeError;
use shared::store::{unix_now, CaseOutcome, GoLiveStore, PrivacyDefault, PrivacyDefaultStore};
use shared::store::{ActionLog, AdminAttribute, AuditRecord, AuditStore, AuthorizerStore};
use shared::wechat::code::{
    GetCategory, GetGrayReleasePlan, GetHistoryVersion, GetMaterial, GetPage, GetQrcode,
    ListTesters, ModifyDomain, QueryQuota, RevertGrayRelease, SetWebviewDomain, UnbindTester,
};
use shared::wechat::endpoint::Passthrough;
use shared::wechat::privacy::{GetPrivacyInterface, UploadPrivacyExtFile};
use shared::wechat::templates::{GetTemplateDraftList, GetTemplateList};

use crate::errors::{invalid, AdminError};
use crate::routes::Op;
use crate::validate::{self, CommitFields, Validated};
use crate::{Answer, CodeAdmin};

/// The path's `{appid}`, checked.
fn path_appid(params: &HashMap<String, String>) -> Result<&str, AdminError> {
    params
        .get("appid")
        .map(|a| validate::appid(a))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// The go-live check as the platform saw it: each test account's newest outcome per case, and
/// whether every one of them passed.
fn go_live_report(cases: &[CaseOutcome]) -> Value {
    let cases: Vec<Value> = cases
        .iter()
        .map(|c| {
            json!({
                "appid": c.appid,
                "case": c.case.as_str(),
                "status": c.status.as_str(),
                "detail": c.detail,
                "at": c.at,
            })
        })
        .collect();
    let passed = !cases.is_empty() && cases.iter().all(|c| c["status"] == "passed");
    json!({ "passed": passed, "cases": cases })
}

fn passthrough(answer: Passthrough) -> Result<Answer, AdminError> {
    Ok(Answer::Json(answer.into_value()))
}

fn json(value: Value) -> Result<Answer, AdminError> {
    Ok(Answer::Json(value))
}

impl<L: ActionLog + Sync> CodeAdmin<L> {
    /// A read: its path and query only.
    pub(crate) async fn read(
        &self,
        op: Op,
        params: &HashMap<String, String>,
        query: &HashMap<String, String>,
    ) -> Result<Answer, AdminError> {
        let appid = || path_appid(params);
        let code = &self.code;
        match op {
            Op::ListAuthorizers => {
                let limit = query
                    .get("limit")
                    .map(|l| validate::positive_int(l, "limit"))
                    .transpose()?
                    .unwrap_or(100)
                    .min(500);
                let cursor = query
                    .get("cursor")
                    .map(|c| validate::appid(c))
                    .transpose()?;
                let filter = validate::authorizer_filter(query)?;
                let (page, next) = code
                    .authorization()
                    .authorizers()
                    .authorizer_page_where(cursor, limit as i32, &filter)
                    .await?;
                let page: Vec<Value> = page.iter().map(|a| a.to_admin_json()).collect();
                json(json!({ "authorizers": page, "next_cursor": next }))
            }
            Op::GetAuthorizer => {
                json(json!({ "authorizer": code.authorizer(appid()?).await?.to_admin_json() }))
            }
            Op::ListTesters => passthrough(code.call(appid()?, &ListTesters::default()).await?),
            Op::Qrcode => {
                let path = validate::qrcode_path(query.get("path").map(String::as_str))?;
                let image = code.call(appid()?, &GetQrcode { path }).await?;
                Ok(Answer::Image {
                    content_type: image.content_type,
                    bytes: image.bytes,
                })
            }
            Op::Categories => json(json!(code.call(appid()?, &GetCategory {}).await?)),
            Op::Pages => {
                let mut pages = code.call(appid()?, &GetPage {}).await?;
                let mut seen = HashSet::new();
                pages.page_list.retain(|p| seen.insert(p.clone()));
                json(json!(pages))
            }
            Op::ListAudits => {
                let limit = match query.get("limit") {
                    Some(l) => validate::positive_int(l, "limit")?.min(50),
                    None => 50,
                };
                let audits = code.audits().audits(appid()?, limit as i32).await?;
                let audits: Vec<Value> = audits.iter().map(AuditRecord::to_json).collect();
                json(json!({ "audits": audits }))
            }
            Op::LatestAudit => match code.sync_latest_audit(appid()?).await? {
                Some((wechat, record)) => {
                    json(json!({ "wechat": wechat, "audit": record.to_json() }))
                }
                None => Err(AdminError::NotFound {
                    method: "GET".into(),
                    path: "no audit yet".into(),
                }),
            },
            Op::GetAudit => {
                let auditid = validate::positive_int(
                    params.get("auditid").map(String::as_str).unwrap_or(""),
                    "auditid",
                )?;
                let (wechat, record) = code.audit_status(appid()?, auditid).await?;
                json(json!({ "wechat": wechat, "audit": record.map(|r| r.to_json()) }))
            }
            Op::ReviewScreenshot => {
                let appid = appid()?;
                let auditid = validate::positive_int(
                    params.get("auditid").map(String::as_str).unwrap_or(""),
                    "auditid",
                )?;
                let media_id = params.get("media_id").map(String::as_str).unwrap_or("");
                // Only a screenshot this audit's rejection named: the route is no general
                // material proxy.
                let named = code
                    .audits()
                    .audit(appid, auditid)
                    .await?
                    .and_then(|a| a.screenshot)
                    .is_some_and(|ids| ids.split('|').any(|id| !id.is_empty() && id == media_id));
                if !named {
                    return Err(AdminError::NotFound {
                        method: "GET".into(),
                        path: format!("screenshot {media_id:?} of audit {auditid}"),
                    });
                }
                let image = code.call(appid, &GetMaterial { media_id }).await?;
                Ok(Answer::Image {
                    content_type: image.content_type,
                    bytes: image.bytes,
                })
            }
            Op::Versions => passthrough(code.call(appid()?, &GetHistoryVersion::default()).await?),
            Op::GrayReleasePlan => passthrough(code.call(appid()?, &GetGrayReleasePlan {}).await?),
            Op::Actions => json(json!({ "actions": self.actions.actions(appid()?, 100).await? })),
            Op::TemplateDrafts => passthrough(code.template_call(&GetTemplateDraftList {}).await?),
            Op::ListTemplates => {
                let template_type = match query.get("template_type").map(String::as_str) {
                    None => None,
                    Some("0") => Some(0),
                    Some("1") => Some(1),
                    Some(_) => return Err(invalid("template_type", "0 (normal) or 1 (standard)")),
                };
                json(json!(
                    code.template_call(&GetTemplateList { template_type })
                        .await?
                ))
            }
            Op::Quota => {
                let appid = query.get("appid").ok_or_else(|| {
                    invalid(
                        "appid",
                        "required: any authorized mini program (the quota is platform-wide)",
                    )
                })?;
                json(json!(
                    code.call(validate::appid(appid)?, &QueryQuota {}).await?
                ))
            }
            Op::GetPrivacy => {
                let privacy_ver =
                    match query.get("privacy_ver").map(String::as_str) {
                        None => None,
                        Some("1") => Some(1),
                        Some("2") => Some(2),
                        Some(_) => return Err(invalid(
                            "privacy_ver",
                            "1 (the online version's guideline) or 2 (the development version's)",
                        )),
                    };
                let setting = code.privacy_setting(appid()?, privacy_ver).await?;
                json(json!({ "missing_keys": setting.missing_keys(), "setting": setting }))
            }
            Op::PrivacyInterfaces => {
                json(json!(code.call(appid()?, &GetPrivacyInterface {}).await?))
            }
            Op::Readiness => {
                let appid = appid()?;
                let mut readiness = json!(code.readiness(appid).await?);
                self.add_filing_to_readiness(appid, &mut readiness).await?;
                json(readiness)
            }
            Op::GetPrivacyDefault => json(json!({ "default": self.privacy_default().await? })),
            Op::GoLiveReport => {
                let component = code.authorization().component();
                let cases = component.store().go_live_cases(component.appid()).await?;
                json(go_live_report(&cases))
            }
            Op::PlatformHealth => {
                let component = code.authorization().component();
                json(
                    crate::health::platform_health(
                        component.store(),
                        component.appid(),
                        unix_now(),
                    )
                    .await?,
                )
            }
            Op::ListRollouts | Op::GetRollout | Op::RolloutTargets => {
                self.read_rollouts(op, params, query).await
            }
            Op::ListRegistrations | Op::GetRegistration => {
                self.read_registrations(op, params).await
            }
            Op::ListWebhooks | Op::GetWebhook | Op::WebhookDeliveries => {
                self.read_webhooks(op, params, query).await
            }
            Op::ListOnboardings | Op::GetOnboarding => self.read_onboardings(op, params).await,
            Op::ListPushes | Op::GetPush => self.read_pushes(op, params, query).await,
            // The state-changing operations go through `change` with their validated fields.
            other => Err(AdminError::NotFound {
                method: "GET".into(),
                path: format!("{other:?} is not a read"),
            }),
        }
    }

    /// A state-changing call, with nothing but its validated fields.
    pub(crate) async fn change(
        &self,
        label: &str,
        op: Op,
        params: &HashMap<String, String>,
        fields: Validated,
    ) -> Result<Answer, AdminError> {
        let appid = path_appid(params);
        let code = &self.code;
        match fields {
            Validated::PutExt { ext } => {
                let appid = appid?;
                if !code
                    .authorization()
                    .authorizers()
                    .set_admin_attribute(appid, AdminAttribute::ExtSettings, &ext.to_string())
                    .await?
                {
                    return Err(AdminError::not_authorized(appid));
                }
                json(json!({ "ext": ext }))
            }
            Validated::Domains(fields) => {
                passthrough(code.call(appid?, &ModifyDomain(fields)).await?)
            }
            Validated::WebviewDomains(fields) => {
                passthrough(code.call(appid?, &SetWebviewDomain(fields)).await?)
            }
            Validated::AddTester(request) => passthrough(code.call(appid?, &request).await?),
            Validated::RemoveTester(fields) => {
                passthrough(code.call(appid?, &UnbindTester(fields)).await?)
            }
            Validated::Commit(fields) => json(self.commit(appid?, &fields).await?),
            Validated::SubmitAudit(fields) => {
                let (auditid, item_list) = code
                    .submit_audit(appid?, fields.item_list, fields.extras)
                    .await?;
                json(json!({ "auditid": auditid, "item_list": item_list }))
            }
            Validated::UndoAudit {} => json(json!({ "withdrawn": code.undo_audit(appid?).await? })),
            Validated::SpeedupAudit(request) => passthrough(code.call(appid?, &request).await?),
            Validated::Release {} => {
                let released = code.release(appid?).await?;
                json(json!({ "released": released.auditid, "user_version": released.user_version }))
            }
            Validated::Revert(request) => passthrough(code.call(appid?, &request).await?),
            Validated::StartGrayRelease(request) => passthrough(code.call(appid?, &request).await?),
            Validated::CancelGrayRelease {} => {
                passthrough(code.call(appid?, &RevertGrayRelease {}).await?)
            }
            Validated::VisitStatus(request) => passthrough(code.call(appid?, &request).await?),
            Validated::AddTemplate(request) => passthrough(code.template_call(&request).await?),
            Validated::DeleteTemplate(request) => passthrough(code.template_call(&request).await?),
            Validated::SetPrivacy(request) => {
                code.call(appid?, &request).await?;
                json(json!({ "privacy": request }))
            }
            Validated::UploadPrivacyFile(file) => {
                let upload = UploadPrivacyExtFile {
                    file_name: file.file_name,
                    bytes: file.content.into_bytes(),
                };
                json(json!(code.call(appid?, &upload).await?))
            }
            Validated::ApplyPrivacyDefault {} => {
                let default = self.required_privacy_default().await?;
                let applied = code.apply_privacy_default(appid?, &default).await?;
                json(json!({ "privacy": applied }))
            }
            Validated::ApplyPrivacyInterface(request) => {
                json(json!(code.call(appid?, &request).await?))
            }
            Validated::SetPrivacyDefault(default) => {
                let component = code.authorization().component();
                component
                    .store()
                    .save_privacy_default(component.appid(), &default, unix_now())
                    .await?;
                json(json!({ "default": self.privacy_default().await? }))
            }
            Validated::CreateRegistration(fields) => self.create_registration(&fields).await,
            Validated::CreateOnboarding(fields) => self.create_onboarding(&fields).await,
            Validated::ResubmitOnboarding(fields) => {
                self.resubmit_onboarding(params, &fields).await
            }
            Validated::CreateRollout(fields) => self.create_rollout(fields, label).await,
            Validated::CancelRollout { withdraw } => {
                self.change_rollout(op, params, withdraw).await
            }
            Validated::PauseRollout {}
            | Validated::ResumeRollout {}
            | Validated::RetryTarget {} => self.change_rollout(op, params, false).await,
            Validated::CreateWebhook(fields) => self.create_webhook(label, &fields).await,
            Validated::DeleteWebhook { id } => self.delete_webhook(&id).await,
            Validated::TestWebhook { id } => self.test_webhook(&id).await,
        }
    }

    /// The platform's default privacy guideline, if one was saved.
    async fn privacy_default(&self) -> Result<Option<PrivacyDefault>, AdminError> {
        let component = self.code.authorization().component();
        Ok(component.store().privacy_default(component.appid()).await?)
    }

    async fn required_privacy_default(&self) -> Result<PrivacyDefault, AdminError> {
        self.privacy_default().await?.ok_or_else(|| {
            AdminError::Refused(CodeError::Conflict(
                "no default privacy guideline is saved: PUT /admin/privacy-default first".into(),
            ))
        })
    }

    /// Commits with a commit's validated fields, the ext_json shaped for the template's type.
    async fn commit(&self, appid: &str, fields: &CommitFields) -> Result<Value, AdminError> {
        let standard = self.code.is_standard_template(fields.template_id).await?;
        let request = validate::commit_request(fields, standard)?;
        // Checked before the commit: asking for a default that does not exist changes nothing.
        let default = match fields.privacy_default {
            true => Some(self.required_privacy_default().await?),
            false => None,
        };
        let snapshot = self.code.commit(appid, &request).await?;
        let mut answer =
            json!({ "committed": snapshot, "ext": fields.ext_json.get("ext"), "privacy": null });
        if let Some(default) = default {
            // The commit stands whatever happens here: a failure is answered beside it (200),
            // for POST …/privacy/default to be tried again.
            match self.code.apply_privacy_default(appid, &default).await {
                Ok(applied) => answer["privacy"] = json!(applied),
                Err(e) => {
                    let e = AdminError::from(e);
                    tracing::warn!(appid, error = %e, "committed; the default privacy guideline was not applied");
                    answer["privacy_error"] = e.body();
                }
            }
        }
        Ok(answer)
    }
}
