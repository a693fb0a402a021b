//! Fast registration of enterprise mini programs ("快速注册企业小程序" (fastregisterweapp)):
//! `POST /admin/registrations` (validated here before WeChat is called), `GET
//! /admin/registrations` (as stored, no WeChat call) and `GET /admin/registrations/{id}` (an open
//! task is refreshed with WeChat's search answer first, one call).
//!
//! The legal person's WeChat id and name and the contact phone are personal data: WeChat needs
//! them (create, search) and the push echoes them, so they are stored; they are never logged,
//! never written to the action log, and answered masked (`张***`, `le***`, `***3388`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shared::registration::{Enterprise, RegistrationError};
use shared::store::{ActionLog, AuthorizerStore, RegistrationTask};
use shared::wechat::registration::{is_wechat_id, CodeType};
use shared::wechat::Errcode;

use crate::errors::{invalid, AdminError};
use crate::routes::Op;
use crate::{Answer, CodeAdmin};

/// create's validated fields. The action log records the enterprise only (`name`, `code`,
/// `code_type`), never the legal person or the phone.
#[derive(Debug, Clone, Serialize)]
pub struct RegistrationFields {
    pub name: String,
    pub code: String,
    pub code_type: i64,
    #[serde(skip_serializing)]
    pub legal_persona_wechat: String,
    #[serde(skip_serializing)]
    pub legal_persona_name: String,
    #[serde(skip_serializing)]
    pub component_phone: Option<String>,
    #[serde(skip_serializing)]
    code_kind: CodeType,
}

impl RegistrationFields {
    fn enterprise(&self) -> Enterprise {
        Enterprise {
            name: self.name.clone(),
            code: self.code.clone(),
            code_type: self.code_kind,
            legal_persona_wechat: self.legal_persona_wechat.clone(),
            legal_persona_name: self.legal_persona_name.clone(),
            component_phone: self.component_phone.clone(),
        }
    }
}

/// A required string, trimmed, of 1..=`max` characters without control characters.
fn text(value: Option<String>, field: &'static str, max: usize) -> Result<String, AdminError> {
    let value = value.unwrap_or_default();
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("required: a string of 1 to {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// 5 to 20 digits, optionally a leading `+`, `-` or spaces between them.
fn phone(phone: &str) -> Result<String, AdminError> {
    let phone = phone.trim();
    let digits = phone.bytes().filter(u8::is_ascii_digit).count();
    let ok = (5..=20).contains(&digits)
        && phone.len() <= 24
        && phone
            .trim_start_matches('+')
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b' ');
    if !ok {
        return Err(invalid(
            "component_phone",
            "a phone number: 5 to 20 digits, optionally a leading +, - or spaces",
        ));
    }
    Ok(phone.to_owned())
}

/// `POST /admin/registrations`: the enterprise of §2 of fastregisterweapp (create). Unknown
/// fields are refused: a misspelt optional field would otherwise be silently dropped.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRequest {
    name: Option<String>,
    code: Option<String>,
    code_type: Option<i64>,
    legal_persona_wechat: Option<String>,
    legal_persona_name: Option<String>,
    component_phone: Option<String>,
}

impl RegistrationRequest {
    /// Checks create's body against every rule WeChat documents (code_type 1|2|3, the code's
    /// shape for its type, a WeChat id's form), so nothing WeChat would refuse as malformed is
    /// sent.
    pub fn validate(self) -> Result<RegistrationFields, AdminError> {
        // 企业名: as registered with the market regulator (个体户 + the legal person's name for a
        // sole trader without one).
        let name = text(self.name, "name", 100)?;
        let code_kind = self
            .code_type
            .and_then(CodeType::from_wechat)
            .ok_or_else(|| {
                invalid(
                    "code_type",
                    "required: 1 (统一社会信用代码), 2 (组织机构代码) or 3 (营业执照注册号)",
                )
            })?;
        let code = text(self.code, "code", 18)?;
        if !code_kind.fits(&code) {
            return Err(invalid(
                "code",
                match code_kind {
                    CodeType::UnifiedSocialCreditCode => "18 letters or digits for code_type 1",
                    CodeType::OrganizationCode => "xxxxxxxx-x (8, a hyphen, 1) for code_type 2",
                    CodeType::BusinessLicenseNumber => "15 letters or digits for code_type 3",
                },
            ));
        }
        let legal_persona_wechat = text(self.legal_persona_wechat, "legal_persona_wechat", 20)?;
        if !is_wechat_id(&legal_persona_wechat) {
            return Err(invalid(
                "legal_persona_wechat",
                "a WeChat id: 6 to 20 letters, digits, _ or -, starting with a letter",
            ));
        }
        let legal_persona_name = text(self.legal_persona_name, "legal_persona_name", 50)?;
        let component_phone = self.component_phone.as_deref().map(phone).transpose()?;
        Ok(RegistrationFields {
            name,
            code,
            code_type: code_kind.wechat(),
            legal_persona_wechat,
            legal_persona_name,
            component_phone,
            code_kind,
        })
    }
}

/// The first `keep` characters (never all of them), then `***`.
fn mask(value: &str, keep: usize) -> String {
    let keep = keep.min(value.chars().count().saturating_sub(1));
    format!("{}***", value.chars().take(keep).collect::<String>())
}

/// `***` and the last 4 characters.
fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    let last: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("***{last}")
}

fn errcode_json(errcode: i64, errmsg: Option<&str>) -> Value {
    json!({
        "errcode": errcode,
        "errmsg": errmsg,
        "meaning": Errcode::from_code(errcode).meaning(),
    })
}

/// A task as the admin API answers it: the legal person and the phone masked.
fn task_json(t: &RegistrationTask) -> Value {
    json!({
        "id": t.id,
        "state": t.state.as_str(),
        "name": t.name,
        "code": t.code,
        "code_type": t.code_type,
        "legal_persona_wechat": mask(&t.legal_persona_wechat, 2),
        "legal_persona_name": mask(&t.legal_persona_name, 1),
        "component_phone": t.component_phone.as_deref().map(mask_phone),
        "create_refused": t.errcode.map(|c| errcode_json(c, t.errmsg.as_deref())),
        "search": t.search_errcode.map(|c| {
            let mut search = errcode_json(c, None);
            search["searched_at"] = json!(t.searched_at);
            search
        }),
        "push": t.push_status.map(|status| json!({
            "status": status,
            "msg": t.push_msg,
            "create_time": t.pushed_at,
        })),
        "appid": t.appid,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
    })
}

impl From<RegistrationError> for AdminError {
    fn from(err: RegistrationError) -> Self {
        match err {
            RegistrationError::Refused { error, .. } => Self::Wechat(error),
            RegistrationError::NotFound(id) => Self::NotFound {
                method: "GET".into(),
                path: format!("/admin/registrations/{id}"),
            },
            RegistrationError::Component(e) => e.into(),
            RegistrationError::Store(e) => Self::Store(e),
        }
    }
}

impl<L: ActionLog + Sync> CodeAdmin<L> {
    /// `POST /admin/registrations` with its validated fields: the task as stored after WeChat's
    /// answer (a refusal is stored too, and answered as WeChat's errcode).
    pub(crate) async fn create_registration(
        &self,
        fields: &RegistrationFields,
    ) -> Result<Answer, AdminError> {
        let service = self.code.authorization();
        let task = service.create_registration(&fields.enterprise()).await?;
        Ok(Answer::Json(json!({ "registration": task_json(&task) })))
    }

    /// `GET /admin/registrations` and `GET /admin/registrations/{id}` (with the linked
    /// authorizer once registered).
    pub(crate) async fn read_registrations(
        &self,
        op: Op,
        params: &HashMap<String, String>,
    ) -> Result<Answer, AdminError> {
        let service = self.code.authorization();
        if op == Op::ListRegistrations {
            let tasks = service.registrations().await?;
            let tasks: Vec<Value> = tasks.iter().map(task_json).collect();
            return Ok(Answer::Json(json!({ "registrations": tasks })));
        }
        let id = params.get("id").map(String::as_str).unwrap_or_default();
        let well_formed = id.len() == 20
            && id.starts_with("reg_")
            && id[4..].bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return Err(invalid("id", "reg_ followed by 16 hexadecimal digits"));
        }
        let task = service.refreshed_registration(id).await?;
        let authorizer = match &task.appid {
            Some(appid) => service
                .authorizers()
                .authorizer(appid)
                .await?
                .map(|a| a.to_admin_json()),
            None => None,
        };
        Ok(Answer::Json(
            json!({ "registration": task_json(&task), "authorizer": authorizer }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_little() {
        assert_eq!(mask("张三", 1), "张***");
        assert_eq!(mask("legal_wx01", 2), "le***");
        assert_eq!(mask("a", 2), "***");
        assert_eq!(mask_phone("0755-86013388"), "***3388");
        assert_eq!(mask_phone("12"), "***12");
    }
}
