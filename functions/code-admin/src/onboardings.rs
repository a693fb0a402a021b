//! Onboardings of new mini programs (README, "Onboarding"): `POST /admin/onboardings {appid |
//! registration_id, profile}` (validated here: the profile's rules, then WeChat's own checks that
//! change nothing, "微信认证名称检测" (checkwxverifynickname) and the service-type dictionary,
//! before anything is stored), `GET /admin/onboardings`, `GET /admin/onboardings/{id}` (as
//! stored, no WeChat call) and `POST /admin/onboardings/{id}/resubmit {profile}` (the operator's
//! fix of the parts named).

use std::collections::HashMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shared::code_release::CodeError;
use shared::onboarding::{
    self, CategoryProfile, CertificateProfile, FilingMedia, FilingProfile, Media, NameProfile,
    OnboardingError, Profile, ProfilePatch,
};
use shared::store::{ActionLog, RegistrationState};
use shared::wechat::basic_info::{CheckNickname, GetAllCategories};
use shared::wechat::icp::QueryServiceContentTypes;
use shared::wechat::WechatError;

use crate::errors::{invalid, AdminError};
use crate::routes::Op;
use crate::validate;
use crate::{Answer, CodeAdmin};

/// The largest file (decoded) a profile carries: the whole admin body is capped at 64 KB.
pub const MAX_MEDIA_BYTES: usize = 40 * 1024;
const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/bmp"];

fn owned(field: String, rule: impl Into<String>) -> AdminError {
    AdminError::Invalid {
        field: field.into(),
        rule: rule.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaRequest {
    file_name: Option<String>,
    content_type: Option<String>,
    base64: Option<String>,
}

impl MediaRequest {
    fn validate(self, field: &str, video: bool) -> Result<Media, AdminError> {
        let file_name = self
            .file_name
            .filter(|n| (1..=100).contains(&n.chars().count()) && !n.contains(['"', '\r', '\n']))
            .ok_or_else(|| {
                owned(
                    format!("{field}.file_name"),
                    "required: 1 to 100 characters",
                )
            })?;
        let content_type = self
            .content_type
            .filter(|t| IMAGE_TYPES.contains(&t.as_str()) || (video && t == "video/mp4"))
            .ok_or_else(|| {
                owned(
                    format!("{field}.content_type"),
                    "image/jpeg, image/png, image/gif or image/bmp",
                )
            })?;
        let base64 = self.base64.unwrap_or_default();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&base64)
            .map_err(|_| owned(format!("{field}.base64"), "required: the file in base64"))?;
        if bytes.is_empty() {
            return Err(owned(
                format!("{field}.base64"),
                "required: the file in base64",
            ));
        }
        if bytes.len() > MAX_MEDIA_BYTES {
            return Err(owned(
                format!("{field}.base64"),
                format!("at most {MAX_MEDIA_BYTES} bytes"),
            ));
        }
        Ok(Media {
            file_name,
            content_type,
            base64,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameRequest {
    nick_name: Option<String>,
    license: Option<MediaRequest>,
    #[serde(default)]
    naming_other_stuff: Vec<MediaRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateRequest {
    key: Option<String>,
    media: Option<MediaRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryRequest {
    first: Option<i64>,
    second: Option<i64>,
    #[serde(default)]
    certificates: Vec<CertificateRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilingMediaRequest {
    icp_order_field: Option<String>,
    media_type: Option<String>,
    certificate_type: Option<i64>,
    media: Option<MediaRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilingRequest {
    icp_subject: Option<Value>,
    icp_applets: Option<Value>,
    icp_materials: Option<Value>,
    #[serde(default)]
    media: Vec<FilingMediaRequest>,
}

/// The profile (every part optional: an absent part is a step skipped, or, when resubmitting,
/// left as it was).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    nickname: Option<NameRequest>,
    avatar: Option<MediaRequest>,
    signature: Option<String>,
    categories: Option<Vec<CategoryRequest>>,
    filing: Option<FilingRequest>,
}

/// The profile's parts, validated.
#[derive(Debug, Clone, Default)]
pub struct ProfileFields {
    nickname: Option<NameProfile>,
    avatar: Option<Media>,
    signature: Option<String>,
    categories: Option<Vec<CategoryProfile>>,
    filing: Option<FilingProfile>,
}

fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

impl NameRequest {
    fn validate(self) -> Result<NameProfile, AdminError> {
        let nick_name = self
            .nick_name
            .map(|n| n.trim().to_owned())
            .unwrap_or_default();
        // "设置名称": 4 to 30 characters (checkwxverifynickname's 53010 otherwise).
        if !(4..=30).contains(&nick_name.chars().count()) || nick_name.chars().any(char::is_control)
        {
            return Err(invalid(
                "profile.nickname.nick_name",
                "required: 4 to 30 characters",
            ));
        }
        let license = self
            .license
            .ok_or_else(|| {
                invalid(
                    "profile.nickname.license",
                    "required: the business licence image (an organization names itself with it)",
                )
            })?
            .validate("profile.nickname.license", false)?;
        if self.naming_other_stuff.len() > 2 {
            return Err(invalid(
                "profile.nickname.naming_other_stuff",
                "at most 2 materials",
            ));
        }
        let naming_other_stuff = self
            .naming_other_stuff
            .into_iter()
            .enumerate()
            .map(|(i, m)| m.validate(&format!("profile.nickname.naming_other_stuff[{i}]"), false))
            .collect::<Result<_, _>>()?;
        Ok(NameProfile {
            nick_name,
            license,
            naming_other_stuff,
        })
    }
}

impl FilingRequest {
    /// §"申请小程序备案": the subject and the mini program as objects, 1 to 5 service types, the
    /// pre-approval (`nrlx`) answer, a comment of 20 to 200 characters, media for fields of the
    /// order. Whether the service types are level 2 is WeChat's dictionary's to say (checked by
    /// the caller).
    fn validate(self) -> Result<FilingProfile, AdminError> {
        let icp_subject = self.icp_subject.filter(Value::is_object).ok_or_else(|| {
            invalid(
                "profile.filing.icp_subject",
                "required: an object (base_info, principal_info, …)",
            )
        })?;
        let icp_applets = self.icp_applets.filter(Value::is_object).ok_or_else(|| {
            invalid(
                "profile.filing.icp_applets",
                "required: an object (base_info, principal_info)",
            )
        })?;
        let types = at(&icp_applets, "base_info.service_content_types")
            .and_then(Value::as_array)
            .filter(|t| (1..=5).contains(&t.len()) && t.iter().all(|v| v.as_i64().is_some()));
        if types.is_none() {
            return Err(invalid(
                "profile.filing.icp_applets.base_info.service_content_types",
                "required: 1 to 5 level-2 service content type ids",
            ));
        }
        let nrlx = at(&icp_applets, "base_info.nrlx_details").and_then(Value::as_array);
        if nrlx.is_none_or(|n| n.is_empty()) {
            return Err(invalid(
                "profile.filing.icp_applets.base_info.nrlx_details",
                "required: the pre-approval answer (以上都不涉及 when none applies)",
            ));
        }
        let comment = at(&icp_applets, "base_info.comment")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !(20..=200).contains(&comment.chars().count()) {
            return Err(invalid(
                "profile.filing.icp_applets.base_info.comment",
                "required: 20 to 200 characters",
            ));
        }
        if self.icp_materials.as_ref().is_some_and(|m| !m.is_object()) {
            return Err(invalid("profile.filing.icp_materials", "an object"));
        }
        let media = self
            .media
            .into_iter()
            .enumerate()
            .map(|(i, m)| {
                let field = format!("profile.filing.media[{i}]");
                let order_field = m.icp_order_field.unwrap_or_default();
                let known = ["icp_subject.", "icp_applets.", "icp_materials."]
                    .iter()
                    .any(|p| order_field.starts_with(p));
                if !known || order_field.contains(['\r', '\n']) {
                    return Err(owned(format!("{field}.icp_order_field"), "required: the order field the media is for, e.g. icp_subject.principal_info.certificate_photo_front"));
                }
                let media_type = m.media_type.unwrap_or_default();
                if media_type != "image" && media_type != "video" {
                    return Err(owned(format!("{field}.media_type"), "image or video"));
                }
                let media = m
                    .media
                    .ok_or_else(|| owned(format!("{field}.media"), "required: the file"))?
                    .validate(&format!("{field}.media"), media_type == "video")?;
                Ok(FilingMedia {
                    icp_order_field: order_field,
                    media_type,
                    certificate_type: m.certificate_type,
                    media,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FilingProfile {
            icp_subject,
            icp_applets,
            icp_materials: self.icp_materials,
            media,
        })
    }
}

impl ProfileRequest {
    pub fn validate(self) -> Result<ProfileFields, AdminError> {
        let nickname = self.nickname.map(NameRequest::validate).transpose()?;
        let avatar = self
            .avatar
            .map(|m| m.validate("profile.avatar", false))
            .transpose()?;
        let signature = match self.signature {
            None => None,
            Some(s) => {
                let s = s.trim().to_owned();
                if !(4..=120).contains(&s.chars().count()) {
                    return Err(invalid("profile.signature", "4 to 120 characters"));
                }
                Some(s)
            }
        };
        let categories = match self.categories {
            None => None,
            Some(list) => {
                if list.len() > 5 {
                    return Err(invalid("profile.categories", "at most 5 categories"));
                }
                let mut out = Vec::new();
                for (i, c) in list.into_iter().enumerate() {
                    let field = format!("profile.categories[{i}]");
                    let (Some(first), Some(second)) =
                        (c.first.filter(|v| *v > 0), c.second.filter(|v| *v > 0))
                    else {
                        return Err(owned(field, "first and second: positive category ids"));
                    };
                    let certificates = c
                        .certificates
                        .into_iter()
                        .enumerate()
                        .map(|(j, cert)| {
                            let cf = format!("{field}.certificates[{j}]");
                            let key = cert
                                .key
                                .filter(|k| !k.trim().is_empty())
                                .ok_or_else(|| owned(format!("{cf}.key"), "required"))?;
                            let media = cert
                                .media
                                .ok_or_else(|| owned(format!("{cf}.media"), "required"))?
                                .validate(&format!("{cf}.media"), false)?;
                            Ok(CertificateProfile { key, media })
                        })
                        .collect::<Result<Vec<_>, AdminError>>()?;
                    out.push(CategoryProfile {
                        first,
                        second,
                        certificates,
                    });
                }
                Some(out)
            }
        };
        let filing = self.filing.map(FilingRequest::validate).transpose()?;
        Ok(ProfileFields {
            nickname,
            avatar,
            signature,
            categories,
            filing,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnboardingRequest {
    appid: Option<String>,
    registration_id: Option<String>,
    profile: Option<ProfileRequest>,
}

/// create's validated fields. The action log records them with each file as its size only.
#[derive(Debug, Clone)]
pub struct OnboardingFields {
    pub appid: Option<String>,
    pub registration_id: Option<String>,
    pub profile: ProfileFields,
}

fn profile_json(p: &ProfileFields) -> Value {
    let mut value = json!({
        "nickname": p.nickname,
        "avatar": p.avatar,
        "signature": p.signature,
        "categories": p.categories,
        "filing": p.filing,
    });
    onboarding::strip_media(&mut value);
    value
}

impl Serialize for OnboardingFields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        json!({ "appid": self.appid, "registration_id": self.registration_id, "profile": profile_json(&self.profile) })
            .serialize(serializer)
    }
}

/// resubmit's validated fields.
#[derive(Debug, Clone)]
pub struct ResubmitFields(pub ProfileFields);

impl Serialize for ResubmitFields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        json!({ "profile": profile_json(&self.0) }).serialize(serializer)
    }
}

fn registration_id(id: &str) -> Result<(), AdminError> {
    let ok =
        id.len() == 20 && id.starts_with("reg_") && id[4..].bytes().all(|b| b.is_ascii_hexdigit());
    ok.then_some(())
        .ok_or_else(|| invalid("registration_id", "reg_ followed by 16 hexadecimal digits"))
}

impl OnboardingRequest {
    pub fn validate(self) -> Result<OnboardingFields, AdminError> {
        match (&self.appid, &self.registration_id) {
            (Some(appid), None) => {
                validate::appid(appid)?;
            }
            (None, Some(id)) => registration_id(id)?,
            _ => return Err(invalid("appid", "exactly one of appid and registration_id")),
        }
        let profile = self
            .profile
            .ok_or_else(|| {
                invalid(
                    "profile",
                    "required: the name, avatar, introduction, categories and filing",
                )
            })?
            .validate()?;
        Ok(OnboardingFields {
            appid: self.appid,
            registration_id: self.registration_id,
            profile,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResubmitRequest {
    profile: Option<ProfileRequest>,
}

impl ResubmitRequest {
    pub fn validate(self) -> Result<ResubmitFields, AdminError> {
        let profile = match self.profile {
            Some(p) => p.validate()?,
            None => ProfileFields::default(),
        };
        Ok(ResubmitFields(profile))
    }
}

fn onboarding_id(params: &HashMap<String, String>) -> Result<&str, AdminError> {
    let id = params.get("id").map(String::as_str).unwrap_or_default();
    let ok =
        id.len() == 20 && id.starts_with("onb_") && id[4..].bytes().all(|b| b.is_ascii_hexdigit());
    ok.then_some(id)
        .ok_or_else(|| invalid("id", "onb_ followed by 16 hexadecimal digits"))
}

impl From<OnboardingError> for AdminError {
    fn from(err: OnboardingError) -> Self {
        match err {
            OnboardingError::NotFound(id) => Self::NotFound {
                method: "GET".into(),
                path: format!("/admin/onboardings/{id}"),
            },
            OnboardingError::Running { appid, id } => Self::Refused(CodeError::Conflict(format!(
                "{appid} has onboarding {id}, which has not ended"
            ))),
            OnboardingError::Invalid { field, rule } => Self::Invalid {
                field: field.into(),
                rule,
            },
            OnboardingError::Conflict(message) => Self::Refused(CodeError::Conflict(message)),
            OnboardingError::Code(e) => e.into(),
            OnboardingError::Store(e) => Self::Store(e),
            OnboardingError::Malformed(m) => Self::Component(m),
        }
    }
}

/// WeChat's refusal of a name check, as the field it concerns (53010 format, 53012 forbidden).
fn name_refusal(error: CodeError) -> AdminError {
    match &error {
        CodeError::Wechat(WechatError::Api { errcode, .. })
            if matches!(errcode.code(), 53010..=53019) =>
        {
            invalid(
                "profile.nickname.nick_name",
                format!("WeChat refused the name (errcode {})", errcode.code()),
            )
        }
        _ => error.into(),
    }
}

impl<L: ActionLog + Sync> CodeAdmin<L> {
    fn onboarding_service(&self) -> Result<&shared::platform::PlatformOnboardings, AdminError> {
        self.onboardings
            .as_ref()
            .ok_or_else(|| AdminError::Component("this deployment has no onboardings table".into()))
    }

    /// WeChat's checks that change nothing: the name (checkwxverifynickname), the categories
    /// (getallcategories) and that the service types are level 2 (the dictionary).
    async fn check_profile(&self, appid: &str, profile: &ProfileFields) -> Result<(), AdminError> {
        if let Some(nickname) = &profile.nickname {
            self.code
                .call(
                    appid,
                    &CheckNickname {
                        nick_name: &nickname.nick_name,
                    },
                )
                .await
                .map_err(name_refusal)?;
        }
        if let Some(categories) = profile.categories.as_ref().filter(|c| !c.is_empty()) {
            let all = self.code.call(appid, &GetAllCategories {}).await?;
            if let Some(i) = categories
                .iter()
                .position(|c| !all.knows(c.first, c.second))
            {
                return Err(owned(
                    format!("profile.categories[{i}]"),
                    "not a category of getallcategories (second under first)",
                ));
            }
        }
        if let Some(filing) = &profile.filing {
            let dictionary = self.code.call(appid, &QueryServiceContentTypes {}).await?;
            let chosen = at(&filing.icp_applets, "base_info.service_content_types")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (i, t) in chosen.iter().enumerate() {
                let level2 = dictionary
                    .items
                    .iter()
                    .any(|d| Some(d.kind) == t.as_i64() && d.parent_type != 0);
                if !level2 {
                    return Err(owned(
                        format!("profile.filing.icp_applets.base_info.service_content_types[{i}]"),
                        "not a level-2 service content type (query_icp_service_content_types)",
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn create_onboarding(
        &self,
        fields: &OnboardingFields,
    ) -> Result<Answer, AdminError> {
        let service = self.onboarding_service()?;
        let appid = match (&fields.appid, &fields.registration_id) {
            (Some(appid), _) => appid.clone(),
            (None, Some(id)) => {
                let task = self.code.authorization().registration(id).await?;
                match (task.state, task.appid) {
                    (RegistrationState::Succeeded, Some(appid)) => appid,
                    (state, _) => {
                        return Err(invalid(
                            "registration_id",
                            format!(
                                "the registration is {}: only a succeeded one has a mini program",
                                state.as_str()
                            ),
                        ))
                    }
                }
            }
            (None, None) => {
                return Err(invalid("appid", "exactly one of appid and registration_id"))
            }
        };
        if let Some(id) = service.store().running_for(&appid).await? {
            return Err(OnboardingError::Running { appid, id }.into());
        }
        self.check_profile(&appid, &fields.profile).await?;
        let p = fields.profile.clone();
        let profile = Profile {
            nickname: p.nickname,
            avatar: p.avatar,
            signature: p.signature,
            categories: p.categories.unwrap_or_default(),
            filing: p.filing,
        };
        let o = service
            .create(&appid, fields.registration_id.clone(), profile)
            .await?;
        Ok(Answer::Json(
            json!({ "onboarding": onboarding::to_json(&o) }),
        ))
    }

    pub(crate) async fn resubmit_onboarding(
        &self,
        params: &HashMap<String, String>,
        fields: &ResubmitFields,
    ) -> Result<Answer, AdminError> {
        let service = self.onboarding_service()?;
        let id = onboarding_id(params)?;
        let current = service.get(id).await?;
        self.check_profile(&current.appid, &fields.0).await?;
        let p = fields.0.clone();
        let patch = ProfilePatch {
            nickname: p.nickname,
            avatar: p.avatar,
            signature: p.signature,
            categories: p.categories,
            filing: p.filing,
        };
        let o = service.resubmit(id, patch).await?;
        Ok(Answer::Json(
            json!({ "onboarding": onboarding::to_json(&o) }),
        ))
    }

    pub(crate) async fn read_onboardings(
        &self,
        op: Op,
        params: &HashMap<String, String>,
    ) -> Result<Answer, AdminError> {
        let service = self.onboarding_service()?;
        if op == Op::ListOnboardings {
            let all: Vec<Value> = service
                .list()
                .await?
                .iter()
                .map(onboarding::to_json)
                .collect();
            return Ok(Answer::Json(json!({ "onboardings": all })));
        }
        let o = service.get(onboarding_id(params)?).await?;
        Ok(Answer::Json(
            json!({ "onboarding": onboarding::to_json(&o) }),
        ))
    }

    /// The mini programs whose newest onboarding is not filed (rollouts leave them out).
    pub(crate) async fn unfiled_appids(
        &self,
    ) -> Result<std::collections::HashSet<String>, AdminError> {
        let Some(service) = &self.onboardings else {
            return Ok(Default::default());
        };
        let mut filed = std::collections::HashSet::new();
        let mut unfiled = std::collections::HashSet::new();
        // Newest first: a mini program's newest onboarding decides.
        for o in service.list().await? {
            if filed.contains(&o.appid) || unfiled.contains(&o.appid) {
                continue;
            }
            if o.filed() {
                filed.insert(o.appid);
            } else {
                unfiled.insert(o.appid);
            }
        }
        Ok(unfiled)
    }

    /// Why a release of `appid` must wait: its onboarding's filing is not approved.
    pub(crate) async fn filing_block(&self, appid: &str) -> Result<Option<AdminError>, AdminError> {
        let Some(service) = &self.onboardings else {
            return Ok(None);
        };
        Ok(service
            .filing_block(appid)
            .await?
            .map(|reason| AdminError::Refused(CodeError::Conflict(reason))))
    }
}

impl<L: ActionLog + Sync> CodeAdmin<L> {
    /// Readiness's `icp_filing` check, for a mini program that has an onboarding: "ICP filing not
    /// approved" until it is filed (a mini program without one was filed before it came here).
    pub(crate) async fn add_filing_to_readiness(
        &self,
        appid: &str,
        readiness: &mut Value,
    ) -> Result<(), AdminError> {
        let Some(service) = &self.onboardings else {
            return Ok(());
        };
        if service.store().newest_for(appid).await?.is_none() {
            return Ok(());
        }
        let block = service.filing_block(appid).await?;
        let check = json!({
            "name": "icp_filing",
            "ok": block.is_none(),
            "detail": block.clone().unwrap_or_else(|| "ICP filing approved".into()),
        });
        if let Some(checks) = readiness["checks"].as_array_mut() {
            checks.push(check);
        }
        if block.is_some() {
            readiness["ready"] = json!(false);
        }
        Ok(())
    }
}
