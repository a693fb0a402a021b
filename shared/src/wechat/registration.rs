//! Fast registration of enterprise mini programs, called with the component token
//! ("快速注册企业小程序" (fastregisterweapp): `action=create` starts a task, `action=search` asks
//! for its state; the result is pushed as `notify_third_fasteregister`).

use serde::{Serialize, Serializer};

use super::endpoint::{endpoint, Done};

/// 企业代码类型: 1 统一社会信用代码 (18 characters), 2 组织机构代码 (9: `xxxxxxxx-x`),
/// 3 营业执照注册号 (15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeType {
    UnifiedSocialCreditCode,
    OrganizationCode,
    BusinessLicenseNumber,
}

impl CodeType {
    pub fn from_wechat(value: i64) -> Option<Self> {
        match value {
            1 => Some(Self::UnifiedSocialCreditCode),
            2 => Some(Self::OrganizationCode),
            3 => Some(Self::BusinessLicenseNumber),
            _ => None,
        }
    }

    pub fn wechat(self) -> i64 {
        match self {
            Self::UnifiedSocialCreditCode => 1,
            Self::OrganizationCode => 2,
            Self::BusinessLicenseNumber => 3,
        }
    }

    /// Whether `code` has this type's shape (WeChat answers a mismatch with a bare 89247).
    pub fn fits(self, code: &str) -> bool {
        let alnum = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
        match self {
            Self::UnifiedSocialCreditCode => code.len() == 18 && alnum(code),
            Self::OrganizationCode => {
                code.len() == 10
                    && code.as_bytes()[8] == b'-'
                    && alnum(&code[..8])
                    && alnum(&code[9..])
            }
            Self::BusinessLicenseNumber => code.len() == 15 && alnum(code),
        }
    }
}

impl Serialize for CodeType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.wechat())
    }
}

/// A WeChat id as the legal person's must be (WeChat answers another with 86004 "invalid wechat"):
/// 6 to 20 letters, digits, `_` or `-`, starting with a letter.
pub fn is_wechat_id(id: &str) -> bool {
    (6..=20).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `action=create`: the enterprise and its legal person, who then confirms on their phone.
#[derive(Debug, Clone, Serialize)]
pub struct FastRegisterCreate<'a> {
    pub name: &'a str,
    pub code: &'a str,
    pub code_type: CodeType,
    pub legal_persona_wechat: &'a str,
    pub legal_persona_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_phone: Option<&'a str>,
}

endpoint!(FastRegisterCreate<'_>, Post "/cgi-bin/component/fastregisterweapp?action=create", Component => Done);

/// `action=search`: the task of these three fields. Its state is the errcode: 0 done, 89250 not
/// found, 89251 awaiting the legal person's face check, 89252 checking the information.
#[derive(Debug, Clone, Serialize)]
pub struct FastRegisterSearch<'a> {
    pub name: &'a str,
    pub legal_persona_wechat: &'a str,
    pub legal_persona_name: &'a str,
}

endpoint!(FastRegisterSearch<'_>, Post "/cgi-bin/component/fastregisterweapp?action=search", Component => Done);
