//! code-admin: the admin HTTP API under `/admin` managing authorized mini programs' code, review
//! and release (reference §5). Every route needs `Authorization: Bearer <token>`; bodies are
//! capped; a state-changing call is validated, recorded in the action log as started (with its
//! validated fields only) before WeChat is called, not made if that record cannot be written, and
//! completed with its outcome; WeChat's errcodes are mapped once (errors.rs).

pub mod auth;
pub mod errors;
pub mod routes;
pub mod validate;

use std::collections::HashMap;
use std::future::Future;

use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};
use shared::audit::AuditStatus;
use shared::authorization::AuthorizationService;
use shared::config::ConfigError;
use shared::platform::Platform;
use shared::store::{
    unix_now, Action, ActionLog, ActionOutcome, ActionStatus, AdminAttribute, AuditRecord,
    AuditStore, AuthCodeStore, AuthorizerStore, ComponentTokenStore, DynamoActionLog,
    DynamoAuditStore, DynamoAuthorizerStore, DynamoTicketStore, StatusChange, TicketStore,
};
use shared::wechat::{Errcode, WechatError};

pub use auth::AdminTokens;
use auth::TokenRefusal;
use errors::{invalid, AdminError};
use routes::{changes_state, match_route, Op};

/// Force a refresh of an authorizer token WeChat refused (any token is "due" with this margin).
const FORCE_REFRESH_MARGIN: i64 = 1_000_000_000;

/// The largest admin request body: ample for any admin call (API Gateway would pass 10 MB), and
/// small enough that a call's validated fields always fit an action-log item (DynamoDB: 400 KB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct CodeAdmin<S, A, U, L> {
    service: AuthorizationService<S, A>,
    audits: U,
    actions: L,
    tokens: AdminTokens,
}

pub type PlatformCodeAdmin =
    CodeAdmin<DynamoTicketStore, DynamoAuthorizerStore, DynamoAuditStore, DynamoActionLog>;

impl PlatformCodeAdmin {
    pub fn from_platform(platform: &Platform, tokens: AdminTokens) -> Self {
        Self {
            service: platform.authorization_service(),
            audits: DynamoAuditStore::new(platform.dynamo.clone(), &platform.tables.audits),
            actions: DynamoActionLog::new(platform.dynamo.clone(), &platform.tables.actions),
            tokens,
        }
    }

    /// `ADMIN_TOKEN_HASHES` (labelled SHA-256 hashes) from the environment or the component secret.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let platform = Platform::from_env().await?;
        let spec = std::env::var("ADMIN_TOKEN_HASHES")
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| platform.config.admin_token_hashes.clone())
            .ok_or(ConfigError::Missing("ADMIN_TOKEN_HASHES"))?;
        let tokens = AdminTokens::parse(&spec).map_err(|e| ConfigError::Invalid {
            name: "ADMIN_TOKEN_HASHES",
            reason: e.to_string(),
        })?;
        Ok(Self::from_platform(&platform, tokens))
    }
}

/// What a route answers: JSON, or an image.
enum Answer {
    Json(Value),
    Image {
        content_type: String,
        bytes: Vec<u8>,
    },
}

fn request_body(request: &Request) -> Result<Value, AdminError> {
    let bytes = request.body().as_ref();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(invalid("body", "a JSON object")),
    }
}

fn wechat_value(value: Value) -> Value {
    match value {
        Value::Object(mut map) => {
            map.remove("errcode");
            map.remove("errmsg");
            Value::Object(map)
        }
        other => other,
    }
}

impl<S, A, U, L> CodeAdmin<S, A, U, L>
where
    S: ComponentTokenStore + TicketStore + AuthCodeStore + Sync,
    A: AuthorizerStore + Sync,
    U: AuditStore + Sync,
    L: ActionLog + Sync,
{
    pub fn new(
        service: AuthorizationService<S, A>,
        audits: U,
        actions: L,
        tokens: AdminTokens,
    ) -> Self {
        Self {
            service,
            audits,
            actions,
            tokens,
        }
    }

    /// Runs `call` with the authorizer's token (set 18 required); a token WeChat refuses is
    /// refreshed once and the call retried.
    async fn with_authorizer_token<T, F, Fut>(&self, appid: &str, call: F) -> Result<T, AdminError>
    where
        F: Fn(SecretString) -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        let authorizer = self
            .service
            .authorizers()
            .authorizer(appid)
            .await?
            .filter(|a| a.status == shared::authorizer::AuthorizerStatus::Authorized)
            .ok_or_else(|| AdminError::NotAuthorized(appid.to_owned()))?;
        if !authorizer.has_code_management() {
            return Err(AdminError::NoCodeManagement(appid.to_owned()));
        }
        let token = match (authorizer.access_token, authorizer.access_token_expires_at) {
            (Some(token), Some(expires_at)) if expires_at > unix_now() + 60 => token,
            _ => self.service.authorizer_access_token(appid).await?,
        };
        match call(token).await {
            Err(e) if e.errcode().is_some_and(Errcode::is_token_invalid) => {
                tracing::warn!(appid, error = %e, "authorizer token refused; refreshing and retrying once");
                self.service
                    .refresh_authorizer(appid, FORCE_REFRESH_MARGIN)
                    .await?;
                let fresh = self.service.authorizer_access_token(appid).await?;
                Ok(call(fresh).await?)
            }
            other => Ok(other?),
        }
    }

    async fn mp_post(&self, appid: &str, path: &str, body: &Value) -> Result<Value, AdminError> {
        let client = self.service.component().client();
        self.with_authorizer_token(appid, |token| async move {
            client
                .post::<Value>(path, &[("access_token", token.expose_secret())], body)
                .await
        })
        .await
    }

    async fn mp_get(
        &self,
        appid: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, AdminError> {
        let client = self.service.component().client();
        self.with_authorizer_token(appid, |token| async move {
            let mut all = vec![("access_token", token.expose_secret())];
            all.extend_from_slice(query);
            client.get::<Value>(path, &all).await
        })
        .await
    }

    /// Template library calls: the component token, passed as `access_token` (reference §5.15).
    async fn component_call(
        &self,
        path: &str,
        body: Option<&Value>,
        query: &[(&str, &str)],
    ) -> Result<Value, AdminError> {
        let component = self.service.component();
        let client = component.client();
        let answer = component
            .with_token(|token| async move {
                let mut all = vec![("access_token", token.expose_secret())];
                all.extend_from_slice(query);
                match body {
                    Some(body) => client.post::<Value>(path, &all, body).await,
                    None => client.get::<Value>(path, &all).await,
                }
            })
            .await?;
        Ok(answer)
    }

    /// The latest audit as WeChat sees it, applied to the audits table (a missed push is caught up).
    async fn sync_latest_audit(
        &self,
        appid: &str,
    ) -> Result<Option<(Value, AuditRecord)>, AdminError> {
        let answer = match self.mp_get(appid, "/wxa/get_latest_auditstatus", &[]).await {
            Ok(answer) => answer,
            Err(AdminError::Wechat(WechatError::Api {
                errcode: Errcode::Other(85058),
                ..
            })) => return Ok(None),
            Err(e) => return Err(e),
        };
        let auditid = answer["auditid"].as_i64().ok_or_else(|| {
            AdminError::Component("get_latest_auditstatus without auditid".into())
        })?;
        let status = answer["status"].as_i64().and_then(AuditStatus::from_wechat);
        if let Some(status) = status {
            if self.audits.audit(appid, auditid).await?.is_none() {
                // Submitted outside the platform: record what WeChat says.
                self.audits
                    .save_submission(&AuditRecord {
                        appid: appid.to_owned(),
                        auditid,
                        template_id: None,
                        user_version: answer["user_version"].as_str().map(str::to_owned),
                        user_desc: answer["user_desc"].as_str().map(str::to_owned),
                        ext_json: None,
                        status: AuditStatus::Pending,
                        reason: None,
                        screenshot: None,
                        submitted_at: answer["submit_audit_time"].as_i64(),
                        result_at: None,
                        released_at: None,
                    })
                    .await?;
            }
            self.apply(appid, auditid, status, &answer).await?;
        }
        let record = self
            .audits
            .audit(appid, auditid)
            .await?
            .ok_or_else(|| AdminError::Component("audit not stored".into()))?;
        Ok(Some((wechat_value(answer), record)))
    }

    /// Applies WeChat's own answer about an audit: authoritative, it corrects a stored status
    /// that disagrees (a wrongly applied push included).
    async fn apply(
        &self,
        appid: &str,
        auditid: i64,
        status: AuditStatus,
        answer: &Value,
    ) -> Result<bool, AdminError> {
        let text = |name: &str| {
            answer
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let change = StatusChange {
            status,
            reason: text("reason"),
            screenshot: text("screenshot").or_else(|| text("ScreenShot")),
            at: unix_now(),
        };
        Ok(self.audits.correct_status(appid, auditid, &change).await?)
    }

    async fn authorizer_json(
        &self,
        appid: &str,
    ) -> Result<shared::authorizer::Authorizer, AdminError> {
        self.service
            .authorizers()
            .authorizer(appid)
            .await?
            .ok_or_else(|| AdminError::NotAuthorized(appid.to_owned()))
    }

    /// Submits for review with submit_audit's validated fields (validate::submit_audit).
    async fn submit_audit(&self, appid: &str, fields: &Value) -> Result<Value, AdminError> {
        if self
            .audits
            .latest_audit(appid)
            .await?
            .is_some_and(|a| a.status.is_open())
        {
            if let Some((_, latest)) = self.sync_latest_audit(appid).await? {
                if latest.status.is_open() {
                    return Err(AdminError::Conflict(format!(
                        "a review of this mini program is {} (auditid {}): wait for its result or undo it",
                        latest.status.as_str(),
                        latest.auditid
                    )));
                }
            }
        }
        let mut request = fields.as_object().cloned().unwrap_or_default();
        let item_list = match request.get("item_list") {
            Some(items) => items.clone(),
            None => self.default_item_list(appid).await?,
        };
        request.insert("item_list".into(), item_list.clone());
        let answer = self
            .mp_post(appid, "/wxa/submit_audit", &Value::Object(request))
            .await?;
        let auditid = answer["auditid"]
            .as_i64()
            .ok_or_else(|| AdminError::Component("submit_audit without auditid".into()))?;
        let commit = self
            .authorizer_json(appid)
            .await?
            .last_commit
            .and_then(|c| serde_json::from_str::<Value>(&c).ok())
            .unwrap_or(Value::Null);
        self.audits
            .save_submission(&AuditRecord {
                appid: appid.to_owned(),
                auditid,
                template_id: commit["template_id"].as_i64(),
                user_version: commit["user_version"].as_str().map(str::to_owned),
                user_desc: commit["user_desc"].as_str().map(str::to_owned),
                ext_json: commit["ext_json"].as_str().map(str::to_owned),
                status: AuditStatus::Pending,
                reason: None,
                screenshot: None,
                submitted_at: Some(unix_now()),
                result_at: None,
                released_at: None,
            })
            .await?;
        Ok(json!({ "auditid": auditid, "item_list": item_list }))
    }

    /// As the PHP implementation does: the first page and the first approved category.
    async fn default_item_list(&self, appid: &str) -> Result<Value, AdminError> {
        let categories = self.mp_get(appid, "/wxa/get_category", &[]).await?;
        let pages = self.mp_get(appid, "/wxa/get_page", &[]).await?;
        let (Some(category), Some(page)) = (
            categories["category_list"].get(0),
            pages["page_list"].get(0),
        ) else {
            return Err(invalid(
                "item_list",
                "not given, and it cannot be built: no approved category or no page",
            ));
        };
        let mut item = Map::new();
        item.insert("address".into(), page.clone());
        item.insert("title".into(), json!("首页"));
        for key in [
            "first_class",
            "second_class",
            "third_class",
            "first_id",
            "second_id",
            "third_id",
        ] {
            if let Some(v) = category.get(key).filter(|v| !v.is_null()) {
                item.insert(key.into(), v.clone());
            }
        }
        Ok(json!([item]))
    }

    /// Commits with a commit's validated fields (validate::commit), the ext_json shaped for the
    /// template's type; the commit is kept as the authorizer's `last_commit`.
    async fn commit(&self, appid: &str, fields: &Value) -> Result<Value, AdminError> {
        let standard = match fields["template_id"].as_i64() {
            Some(id) => self.is_standard_template(id).await?,
            None => false,
        };
        let request = validate::commit_request(fields, standard)?;
        self.mp_post(appid, "/wxa/commit", &request).await?;
        let snapshot = json!({
            "template_id": request["template_id"],
            "user_version": request["user_version"],
            "user_desc": request["user_desc"],
            "ext_json": request["ext_json"],
            "committed_at": unix_now(),
        });
        self.service
            .authorizers()
            .set_admin_attribute(appid, AdminAttribute::LastCommit, &snapshot.to_string())
            .await?;
        Ok(json!({ "committed": snapshot, "ext": fields["ext_json"]["ext"] }))
    }

    /// Whether the template library lists `template_id` as a standard template (template_type 1),
    /// whose ext_json takes only extAppid, ext and window. One it does not list is taken as a
    /// normal template: WeChat answers its commit (85014 when it does not exist).
    async fn is_standard_template(&self, template_id: i64) -> Result<bool, AdminError> {
        let standard = self
            .component_call("/wxa/gettemplatelist", None, &[("template_type", "1")])
            .await?;
        Ok(standard["template_list"].as_array().is_some_and(|list| {
            list.iter()
                .any(|t| t["template_id"].as_i64() == Some(template_id))
        }))
    }

    /// The validated fields of a state-changing call: what the action log records, and all that
    /// executing it reads (the raw body goes no further than here).
    async fn validated_fields(
        &self,
        op: Op,
        params: &HashMap<String, String>,
        body: &Value,
    ) -> Result<Value, AdminError> {
        let appid = params
            .get("appid")
            .map(|a| validate::appid(a))
            .transpose()?
            .unwrap_or_default();
        let path_int = |name: &'static str| {
            validate::positive_int(params.get(name).map(String::as_str).unwrap_or(""), name)
        };
        Ok(match op {
            Op::PutExt => json!({ "ext": validate::ext_settings(body)? }),
            Op::Domains => validate::domains(body)?,
            Op::WebviewDomains => validate::webview_domains(body)?,
            Op::AddTester => json!({ "wechatid": validate::wechatid(body)? }),
            Op::RemoveTester => {
                validate::tester(params.get("tester").map(String::as_str).unwrap_or(""))?
            }
            Op::Commit => {
                let stored = self
                    .authorizer_json(appid)
                    .await?
                    .ext_settings
                    .and_then(|e| serde_json::from_str::<Value>(&e).ok());
                validate::commit(body, appid, stored.as_ref())?
            }
            Op::SubmitAudit => validate::submit_audit(body)?,
            Op::SpeedupAudit => json!({ "auditid": path_int("auditid")? }),
            Op::Revert => match validate::app_version(body)? {
                Some(version) => json!({ "app_version": version }),
                None => json!({}),
            },
            Op::StartGrayRelease => validate::gray_release(body)?,
            Op::VisitStatus => validate::visit_status(body)?,
            Op::AddTemplate => validate::add_template(body)?,
            Op::DeleteTemplate => json!({ "template_id": path_int("template_id")? }),
            Op::UndoAudit | Op::Release | Op::CancelGrayRelease => json!({}),
            // Reads take nothing from the body.
            Op::ListAuthorizers
            | Op::GetAuthorizer
            | Op::ListTesters
            | Op::Qrcode
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
            | Op::Quota => json!({}),
        })
    }

    /// A state-changing call: validated (a refusal is recorded as such), recorded as started, and
    /// only then made; its record is completed with the outcome.
    async fn act(
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
            Ok(fields) => fields,
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
            .start(&action(fields.clone()))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, ?op, "action log unavailable: the call is not made");
                AdminError::ActionLog(e)
            })?;
        let result = self.route(op, params, query, &fields).await;
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

    async fn release(&self, appid: &str) -> Result<Value, AdminError> {
        let latest = self
            .sync_latest_audit(appid)
            .await?
            .map(|(_, record)| record);
        let Some(latest) = latest.filter(|a| a.status == AuditStatus::Passed) else {
            return Err(AdminError::Conflict(
                "the latest review has not passed: submit, wait for the result, then release"
                    .into(),
            ));
        };
        self.mp_post(appid, "/wxa/release", &json!({})).await?;
        let change = StatusChange {
            status: AuditStatus::Released,
            reason: None,
            screenshot: None,
            at: unix_now(),
        };
        self.audits
            .apply_status(appid, latest.auditid, &change)
            .await?;
        Ok(json!({ "released": latest.auditid, "user_version": latest.user_version }))
    }

    /// Runs a call; a state-changing one gets its validated fields (`validated_fields`), a read `{}`.
    async fn route(
        &self,
        op: Op,
        params: &HashMap<String, String>,
        query: &HashMap<String, String>,
        fields: &Value,
    ) -> Result<Answer, AdminError> {
        let appid = || {
            params
                .get("appid")
                .map(|a| validate::appid(a))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        let json = |value: Value| Ok(Answer::Json(value));
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
                let (page, next) = self
                    .service
                    .authorizers()
                    .authorizer_page(cursor, limit as i32)
                    .await?;
                json(
                    json!({ "authorizers": page.iter().map(|a| a.to_admin_json()).collect::<Vec<_>>(), "next_cursor": next }),
                )
            }
            Op::GetAuthorizer => {
                json(json!({ "authorizer": self.authorizer_json(appid()?).await?.to_admin_json() }))
            }
            Op::PutExt => {
                let appid = appid()?;
                let ext = &fields["ext"];
                if !self
                    .service
                    .authorizers()
                    .set_admin_attribute(appid, AdminAttribute::ExtSettings, &ext.to_string())
                    .await?
                {
                    return Err(AdminError::NotAuthorized(appid.to_owned()));
                }
                json(json!({ "ext": ext }))
            }
            Op::Domains => json(wechat_value(
                self.mp_post(appid()?, "/wxa/modify_domain", fields).await?,
            )),
            Op::WebviewDomains => json(wechat_value(
                self.mp_post(appid()?, "/wxa/setwebviewdomain", fields)
                    .await?,
            )),
            Op::ListTesters => json(wechat_value(
                self.mp_post(
                    appid()?,
                    "/wxa/memberauth",
                    &json!({ "action": "get_experiencer" }),
                )
                .await?,
            )),
            Op::AddTester => json(wechat_value(
                self.mp_post(appid()?, "/wxa/bind_tester", fields).await?,
            )),
            Op::RemoveTester => json(wechat_value(
                self.mp_post(appid()?, "/wxa/unbind_tester", fields).await?,
            )),
            Op::Commit => json(self.commit(appid()?, fields).await?),
            Op::Qrcode => {
                let appid = appid()?;
                let path = validate::qrcode_path(query.get("path").map(String::as_str))?;
                let client = self.service.component().client();
                let image = self
                    .with_authorizer_token(appid, |token| async move {
                        let mut q = vec![("access_token", token.expose_secret())];
                        if let Some(p) = path {
                            q.push(("path", p));
                        }
                        client.get_binary("/wxa/get_qrcode", &q).await
                    })
                    .await?;
                Ok(Answer::Image {
                    content_type: image.content_type,
                    bytes: image.bytes,
                })
            }
            Op::Categories => json(wechat_value(
                self.mp_get(appid()?, "/wxa/get_category", &[]).await?,
            )),
            Op::Pages => {
                let mut answer = wechat_value(self.mp_get(appid()?, "/wxa/get_page", &[]).await?);
                if let Some(pages) = answer.get_mut("page_list").and_then(Value::as_array_mut) {
                    let mut seen = std::collections::HashSet::new();
                    pages.retain(|p| seen.insert(p.to_string()));
                }
                json(answer)
            }
            Op::SubmitAudit => json(self.submit_audit(appid()?, fields).await?),
            Op::ListAudits => {
                let audits = self.audits.audits(appid()?, 50).await?;
                json(
                    json!({ "audits": audits.iter().map(AuditRecord::to_json).collect::<Vec<_>>() }),
                )
            }
            Op::LatestAudit => match self.sync_latest_audit(appid()?).await? {
                Some((wechat, record)) => {
                    json(json!({ "wechat": wechat, "audit": record.to_json() }))
                }
                None => Err(AdminError::NotFound {
                    method: "GET".into(),
                    path: "no audit yet".into(),
                }),
            },
            Op::GetAudit => {
                let appid = appid()?;
                let auditid = validate::positive_int(
                    params.get("auditid").map(String::as_str).unwrap_or(""),
                    "auditid",
                )?;
                let answer = self
                    .mp_post(
                        appid,
                        "/wxa/get_auditstatus",
                        &json!({ "auditid": auditid }),
                    )
                    .await?;
                if let Some(status) = answer["status"].as_i64().and_then(AuditStatus::from_wechat) {
                    self.apply(appid, auditid, status, &answer).await?;
                }
                let record = self.audits.audit(appid, auditid).await?;
                json(
                    json!({ "wechat": wechat_value(answer), "audit": record.map(|r| r.to_json()) }),
                )
            }
            Op::UndoAudit => {
                let appid = appid()?;
                self.mp_get(appid, "/wxa/undocodeaudit", &[]).await?;
                let undone = match self
                    .audits
                    .latest_audit(appid)
                    .await?
                    .filter(|a| a.status.is_open())
                {
                    Some(audit) => {
                        self.apply(appid, audit.auditid, AuditStatus::Withdrawn, &json!({}))
                            .await?;
                        Some(audit.auditid)
                    }
                    None => None,
                };
                json(json!({ "withdrawn": undone }))
            }
            Op::SpeedupAudit => json(wechat_value(
                self.mp_post(appid()?, "/wxa/speedupaudit", fields).await?,
            )),
            Op::Release => json(self.release(appid()?).await?),
            Op::Revert => {
                let version = fields["app_version"].as_i64().map(|v| v.to_string());
                let query: Vec<(&str, &str)> = version
                    .iter()
                    .map(|v| ("app_version", v.as_str()))
                    .collect();
                json(wechat_value(
                    self.mp_get(appid()?, "/wxa/revertcoderelease", &query)
                        .await?,
                ))
            }
            Op::Versions => json(wechat_value(
                self.mp_get(
                    appid()?,
                    "/wxa/revertcoderelease",
                    &[("action", "get_history_version")],
                )
                .await?,
            )),
            Op::StartGrayRelease => json(wechat_value(
                self.mp_post(appid()?, "/wxa/grayrelease", fields).await?,
            )),
            Op::GrayReleasePlan => json(wechat_value(
                self.mp_get(appid()?, "/wxa/getgrayreleaseplan", &[])
                    .await?,
            )),
            Op::CancelGrayRelease => json(wechat_value(
                self.mp_get(appid()?, "/wxa/revertgrayrelease", &[]).await?,
            )),
            Op::VisitStatus => json(wechat_value(
                self.mp_post(appid()?, "/wxa/change_visitstatus", fields)
                    .await?,
            )),
            Op::Actions => json(json!({ "actions": self.actions.actions(appid()?, 100).await? })),
            Op::TemplateDrafts => json(wechat_value(
                self.component_call("/wxa/gettemplatedraftlist", None, &[])
                    .await?,
            )),
            Op::AddTemplate => json(wechat_value(
                self.component_call("/wxa/addtotemplate", Some(fields), &[])
                    .await?,
            )),
            Op::ListTemplates => {
                let template_type = query
                    .get("template_type")
                    .filter(|t| matches!(t.as_str(), "0" | "1"));
                if query.contains_key("template_type") && template_type.is_none() {
                    return Err(invalid("template_type", "0 (normal) or 1 (standard)"));
                }
                let q: Vec<(&str, &str)> = template_type
                    .iter()
                    .map(|t| ("template_type", t.as_str()))
                    .collect();
                json(wechat_value(
                    self.component_call("/wxa/gettemplatelist", None, &q)
                        .await?,
                ))
            }
            Op::DeleteTemplate => json(wechat_value(
                self.component_call("/wxa/deletetemplate", Some(fields), &[])
                    .await?,
            )),
            Op::Quota => {
                let appid = query.get("appid").ok_or_else(|| {
                    invalid(
                        "appid",
                        "required: any authorized mini program (the quota is platform-wide)",
                    )
                })?;
                json(wechat_value(
                    self.mp_get(validate::appid(appid)?, "/wxa/queryquota", &[])
                        .await?,
                ))
            }
        }
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

fn json_answer(status: StatusCode, body: &Value) -> Response<Body> {
    shared::web::json_response(status, body).map(Body::from)
}

/// The Lambda handler for `/admin/...`.
pub async fn handle<S, A, U, L>(
    admin: &CodeAdmin<S, A, U, L>,
    request: Request,
) -> Result<Response<Body>, Error>
where
    S: ComponentTokenStore + TicketStore + AuthCodeStore + Sync,
    A: AuthorizerStore + Sync,
    U: AuditStore + Sync,
    L: ActionLog + Sync,
{
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let label = match admin.tokens.verify(authorization) {
        Ok(label) => label,
        Err(refusal) => return Ok(unauthorized(&method, &path, refusal)),
    };
    if request.body().len() > MAX_BODY_BYTES {
        // Refused before it is parsed or recorded: nothing of it is kept.
        let err = AdminError::BodyTooLarge {
            limit: MAX_BODY_BYTES,
        };
        tracing::warn!(
            label,
            method,
            path,
            bytes = request.body().len(),
            "admin call refused: body too large"
        );
        return Ok(json_answer(err.status(), &err.body()));
    }
    let Some((op, params)) = match_route(&method, &path) else {
        let err = AdminError::NotFound { method, path };
        return Ok(json_answer(err.status(), &err.body()));
    };
    let query: HashMap<String, String> = request
        .query_string_parameters()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let body = match request_body(&request) {
        Ok(body) => body,
        Err(err) => return Ok(json_answer(err.status(), &err.body())),
    };
    let result = if changes_state(&method) {
        admin.act(&label, op, &params, &query, &body).await
    } else {
        admin.route(op, &params, &query, &json!({})).await
    };
    Ok(match result {
        Ok(Answer::Json(value)) => {
            tracing::info!(
                label,
                ?op,
                appid = params.get("appid").map(String::as_str).unwrap_or("-"),
                "admin call"
            );
            json_answer(StatusCode::OK, &value)
        }
        Ok(Answer::Image {
            content_type,
            bytes,
        }) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::Binary(bytes))
            .expect("valid response"),
        Err(err) => {
            if err.status().is_server_error() {
                tracing::error!(label, ?op, error = %err, "admin call failed");
            } else {
                tracing::warn!(label, ?op, error = %err, status = err.status().as_u16(), "admin call refused");
            }
            json_answer(err.status(), &err.body())
        }
    })
}

/// 401 with `WWW-Authenticate: Bearer`; the token is never logged.
fn unauthorized(method: &str, path: &str, refusal: TokenRefusal) -> Response<Body> {
    let err = match refusal {
        TokenRefusal::TooWeak => AdminError::TokenTooWeak,
        TokenRefusal::Missing | TokenRefusal::Unknown => AdminError::Unauthorized,
    };
    tracing::warn!(
        method,
        path,
        ?refusal,
        "admin call refused: missing or invalid token"
    );
    let mut response = json_answer(err.status(), &err.body());
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        "Bearer".parse().expect("static header"),
    );
    response
}
