//! A mini program's ICP filing ("小程序备案"), called with its authorizer token: "获取小程序备案状态
//! 及驳回原因" (get_icp_entrance_info), "获取小程序服务内容类型" (query_icp_service_content_types),
//! "上传小程序备案媒体材料" (upload_icp_media), "发起小程序管理员人脸核身" (create_icp_verifytask),
//! "查询人脸核身任务状态" (query_icp_verifytask) and "申请小程序备案" (apply_icp_filing), whose
//! refusals name the fields at fault (`hints`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::endpoint::{decode_json, endpoint, Answer, FilePart, Upload};
use super::{Errcode, WechatError};
use crate::json_answers;

/// The filing status get_icp_entrance_info answers and `notify_apply_icpfiling_result` pushes
/// (`beian_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilingStatus {
    /// 2: the platform reviews.
    PlatformReview,
    /// 3: the platform rejected (reasons in `audit_data`).
    PlatformRejected,
    /// 4: the authority (管局) reviews; it verifies by SMS.
    AuthorityReview,
    /// 5: the authority rejected.
    AuthorityRejected,
    /// 6: filed.
    Filed,
    /// 1024: never filed.
    NotFiled,
    Other(i64),
}

impl FilingStatus {
    pub fn from_wechat(code: i64) -> Self {
        match code {
            2 => Self::PlatformReview,
            3 => Self::PlatformRejected,
            4 => Self::AuthorityReview,
            5 => Self::AuthorityRejected,
            6 => Self::Filed,
            1024 => Self::NotFiled,
            other => Self::Other(other),
        }
    }

    /// May apply now (with `available = 1`).
    pub fn may_apply(self) -> bool {
        matches!(
            self,
            Self::NotFiled | Self::PlatformRejected | Self::AuthorityRejected
        )
    }

    pub fn in_review(self) -> bool {
        matches!(self, Self::PlatformReview | Self::AuthorityReview)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::PlatformReview => "platform review",
            Self::PlatformRejected => "rejected by the platform",
            Self::AuthorityReview => "authority review (the authority verifies by SMS)",
            Self::AuthorityRejected => "rejected by the authority",
            Self::Filed => "filed",
            Self::NotFiled => "not filed",
            Self::Other(_) => "unknown filing status",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GetIcpEntranceInfo {}

/// One reason of a rejection: the field (`key_name`), what is wrong, what to do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditDatum {
    pub key_name: String,
    pub error: String,
    pub suggest: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EntranceInfo {
    pub status: i64,
    pub audit_data: Vec<AuditDatum>,
    /// 1: may apply.
    pub available: i64,
    pub sms_verify_status: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Entrance {
    pub info: EntranceInfo,
}
endpoint!(GetIcpEntranceInfo, Get "/wxa/icp/get_icp_entrance_info", Authorizer => Entrance);

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct QueryServiceContentTypes {}

/// A service content type; level 1 has `parent_type` 0 (only level 2 may be chosen).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceContentType {
    #[serde(rename = "type")]
    pub kind: i64,
    pub parent_type: i64,
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceContentTypes {
    pub items: Vec<ServiceContentType>,
}
endpoint!(QueryServiceContentTypes, Get "/wxa/icp/query_icp_service_content_types", Authorizer => ServiceContentTypes);

/// upload_icp_media: one image or video for the field of the order it goes in.
#[derive(Debug, Clone)]
pub struct UploadIcpMedia {
    /// `image` or `video`.
    pub media_type: String,
    pub certificate_type: Option<i64>,
    /// Where the media id goes, e.g. `icp_subject.principal_info.certificate_photo_front`.
    pub icp_order_field: String,
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Serialize for UploadIcpMedia {
    /// Nothing goes in the query; the fields and the file are the body ([`Upload`]).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit_struct("UploadIcpMedia")
    }
}

impl Upload for UploadIcpMedia {
    fn file(&self) -> FilePart<'_> {
        FilePart {
            field: "media",
            file_name: &self.file_name,
            content_type: &self.content_type,
            bytes: &self.bytes,
        }
    }

    fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("type", self.media_type.clone()),
            ("icp_order_field", self.icp_order_field.clone()),
        ];
        if let Some(certificate_type) = self.certificate_type {
            fields.push(("certificate_type", certificate_type.to_string()));
        }
        fields
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IcpMediaUploaded {
    pub media_id: String,
}
endpoint!(UploadIcpMedia, Upload "/wxa/icp/upload_icp_media", Authorizer => IcpMediaUploaded);

/// create_icp_verifytask: the administrator gets a face-verification notice (valid 24 h).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CreateIcpVerifyTask {
    pub along_with_auth: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifyTaskCreated {
    pub task_id: String,
}
endpoint!(CreateIcpVerifyTask, Post "/wxa/icp/create_icp_verifytask", Authorizer => VerifyTaskCreated);

#[derive(Debug, Clone, Serialize)]
pub struct QueryIcpVerifyTask<'a> {
    pub task_id: &'a str,
}

/// `face_status`: 0 not started, 1 waiting, 2 failed, 3 passed; final only when `is_finish`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifyTaskState {
    pub is_finish: bool,
    pub face_status: i64,
}

pub const FACE_PASSED: i64 = 3;
endpoint!(QueryIcpVerifyTask<'_>, Post "/wxa/icp/query_icp_verifytask", Authorizer => VerifyTaskState);

/// apply_icp_filing's body: the subject, the mini program and the materials, media ids and the
/// verify task id in place.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyIcpFiling {
    pub icp_subject: Value,
    pub icp_applets: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icp_materials: Option<Value>,
}

/// A field WeChat found at fault.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hint {
    pub errcode: i64,
    pub errmsg: String,
    pub err_field: String,
}

/// apply_icp_filing's answer: accepted, or refused with the fields at fault (an errcode without
/// `hints` is a [`WechatError`] like any other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilingApplied {
    Accepted,
    Refused {
        errcode: Errcode,
        errmsg: String,
        hints: Vec<Hint>,
    },
}

impl Answer for FilingApplied {
    fn decode(_: &str, bytes: &[u8]) -> Result<Self, WechatError> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            errcode: i64,
            #[serde(default)]
            errmsg: String,
            #[serde(default)]
            hints: Vec<Hint>,
        }
        let raw: Raw =
            serde_json::from_slice(bytes).map_err(|e| WechatError::Decode(e.to_string()))?;
        if raw.errcode != 0 && !raw.hints.is_empty() {
            return Ok(Self::Refused {
                errcode: Errcode::from_code(raw.errcode),
                errmsg: raw.errmsg,
                hints: raw.hints,
            });
        }
        decode_json::<super::endpoint::Done>(bytes).map(|_| Self::Accepted)
    }
}
endpoint!(ApplyIcpFiling, Post "/wxa/icp/apply_icp_filing", Authorizer => FilingApplied);

json_answers!(
    Entrance,
    ServiceContentTypes,
    IcpMediaUploaded,
    VerifyTaskCreated,
    VerifyTaskState
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_with_hints_names_the_fields() {
        let body = br#"{"errcode":86202,"errmsg":"invalid","hints":[{"errcode":86202,"errmsg":"bad phone","err_field":"icp_subject.principal_info.mobile"}]}"#;
        match FilingApplied::decode("application/json", body).unwrap() {
            FilingApplied::Refused { hints, .. } => {
                assert_eq!(hints[0].err_field, "icp_subject.principal_info.mobile")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            FilingApplied::decode("application/json", br#"{"errcode":0,"errmsg":"ok"}"#).unwrap(),
            FilingApplied::Accepted
        );
        assert!(FilingApplied::decode("application/json", br#"{"errcode":-1}"#).is_err());
    }
}
