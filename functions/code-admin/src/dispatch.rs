//! One admin operation → one service call or typed WeChat endpoint. A state-changing operation
//! gets its validated fields (record.rs); a read gets `{}` and reads only its path and query.

use std::collections::{HashMap, HashSet};

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use shared::store::{
    ActionLog, AdminAttribute, AuditRecord, AuditStore, AuthCodeStore, AuthorizerStore,
    ComponentTokenStore, TicketStore,
};
use shared::wechat::code::{
    BindTester, ChangeVisitStatus, Fields, GetCategory, GetGrayReleasePlan, GetHistoryVersion,
    GetPage, GetQrcode, GrayRelease, ListTesters, ModifyDomain, QueryQuota, RevertCodeRelease,
    RevertGrayRelease, SetWebviewDomain, SpeedupAudit, UnbindTester,
};
use shared::wechat::endpoint::Passthrough;
use shared::wechat::templates::{
    AddToTemplate, DeleteTemplate, GetTemplateDraftList, GetTemplateList,
};

use crate::errors::{invalid, AdminError};
use crate::routes::Op;
use crate::{validate, Answer, CodeAdmin};

/// Validated fields as the request type they were validated for.
fn typed<T: DeserializeOwned>(fields: &Value) -> Result<T, AdminError> {
    serde_json::from_value(fields.clone())
        .map_err(|e| AdminError::Component(format!("validated fields do not fit the request: {e}")))
}

fn fields(fields: &Value) -> Fields {
    Fields(fields.as_object().cloned().unwrap_or_default())
}

fn passthrough(answer: Passthrough) -> Result<Answer, AdminError> {
    Ok(Answer::Json(answer.into_value()))
}

fn json(value: Value) -> Result<Answer, AdminError> {
    Ok(Answer::Json(value))
}

impl<S, A, U, L> CodeAdmin<S, A, U, L>
where
    S: ComponentTokenStore + TicketStore + AuthCodeStore + Sync,
    A: AuthorizerStore + Sync,
    U: AuditStore + Sync,
    L: ActionLog + Sync,
{
    pub(crate) async fn route(
        &self,
        op: Op,
        params: &HashMap<String, String>,
        query: &HashMap<String, String>,
        fields_in: &Value,
    ) -> Result<Answer, AdminError> {
        let appid = || {
            params
                .get("appid")
                .map(|a| validate::appid(a))
                .transpose()
                .map(Option::unwrap_or_default)
        };
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
                let (page, next) = code
                    .authorization()
                    .authorizers()
                    .authorizer_page(cursor, limit as i32)
                    .await?;
                let page: Vec<Value> = page.iter().map(|a| a.to_admin_json()).collect();
                json(json!({ "authorizers": page, "next_cursor": next }))
            }
            Op::GetAuthorizer => {
                json(json!({ "authorizer": code.authorizer(appid()?).await?.to_admin_json() }))
            }
            Op::PutExt => {
                let appid = appid()?;
                let ext = &fields_in["ext"];
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
            Op::Domains => passthrough(
                code.call(appid()?, &ModifyDomain(fields(fields_in)))
                    .await?,
            ),
            Op::WebviewDomains => passthrough(
                code.call(appid()?, &SetWebviewDomain(fields(fields_in)))
                    .await?,
            ),
            Op::ListTesters => passthrough(code.call(appid()?, &ListTesters::default()).await?),
            Op::AddTester => passthrough(
                code.call(appid()?, &typed::<BindTester>(fields_in)?)
                    .await?,
            ),
            Op::RemoveTester => passthrough(
                code.call(appid()?, &UnbindTester(fields(fields_in)))
                    .await?,
            ),
            Op::Commit => json(self.commit(appid()?, fields_in).await?),
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
            Op::SubmitAudit => {
                let mut extras = fields_in.as_object().cloned().unwrap_or_default();
                let item_list = extras.remove("item_list");
                let (auditid, item_list) = code.submit_audit(appid()?, item_list, extras).await?;
                json(json!({ "auditid": auditid, "item_list": item_list }))
            }
            Op::ListAudits => {
                let audits = code.audits().audits(appid()?, 50).await?;
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
            Op::UndoAudit => json(json!({ "withdrawn": code.undo_audit(appid()?).await? })),
            Op::SpeedupAudit => passthrough(
                code.call(appid()?, &typed::<SpeedupAudit>(fields_in)?)
                    .await?,
            ),
            Op::Release => {
                let released = code.release(appid()?).await?;
                json(json!({ "released": released.auditid, "user_version": released.user_version }))
            }
            Op::Revert => {
                let request = RevertCodeRelease {
                    app_version: fields_in["app_version"].as_i64(),
                };
                passthrough(code.call(appid()?, &request).await?)
            }
            Op::Versions => passthrough(code.call(appid()?, &GetHistoryVersion::default()).await?),
            Op::StartGrayRelease => passthrough(
                code.call(appid()?, &typed::<GrayRelease>(fields_in)?)
                    .await?,
            ),
            Op::GrayReleasePlan => passthrough(code.call(appid()?, &GetGrayReleasePlan {}).await?),
            Op::CancelGrayRelease => passthrough(code.call(appid()?, &RevertGrayRelease {}).await?),
            Op::VisitStatus => passthrough(
                code.call(appid()?, &typed::<ChangeVisitStatus>(fields_in)?)
                    .await?,
            ),
            Op::Actions => json(json!({ "actions": self.actions.actions(appid()?, 100).await? })),
            Op::TemplateDrafts => passthrough(code.template_call(&GetTemplateDraftList {}).await?),
            Op::AddTemplate => passthrough(
                code.template_call(&typed::<AddToTemplate>(fields_in)?)
                    .await?,
            ),
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
            Op::DeleteTemplate => passthrough(
                code.template_call(&typed::<DeleteTemplate>(fields_in)?)
                    .await?,
            ),
            Op::Quota => {
                let appid = query.get("appid").ok_or_else(|| {
                    invalid(
                        "appid",
                        "required: any authorized mini program (the quota is platform-wide)",
                    )
                })?;
                passthrough(code.call(validate::appid(appid)?, &QueryQuota {}).await?)
            }
        }
    }

    /// Commits with a commit's validated fields (validate::commit), the ext_json shaped for the
    /// template's type.
    async fn commit(&self, appid: &str, fields: &Value) -> Result<Value, AdminError> {
        let standard = match fields["template_id"].as_i64() {
            Some(id) => self.code.is_standard_template(id).await?,
            None => false,
        };
        let request = validate::commit_request(fields, standard)?;
        let snapshot = self.code.commit(appid, &request).await?;
        Ok(json!({ "committed": snapshot, "ext": fields["ext_json"]["ext"] }))
    }
}
