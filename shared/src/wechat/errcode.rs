//! WeChat errcodes ("全局返回码说明" and the code management pages' errcodes) as typed variants.

/// An errcode WeChat answered. Codes the platform acts on have their own variant; the rest keep
/// their number in `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Errcode {
    SystemBusy,
    InvalidCredential,
    InvalidAppid,
    InvalidAccessToken,
    InvalidCode,
    InvalidAppsecret,
    AccessTokenMissing,
    AccessTokenExpired,
    EmptyPostData,
    DailyQuotaReached,
    TooFrequent,
    DataFormatError,
    ApiUnauthorized,
    ComponentNotAuthorized,
    IpNotWhitelisted,
    TicketExpired,
    TicketInvalid,
    PermissionSetMissing,
    CodeExpired,
    RefreshTokenInvalid,
    AuditPending,
    TemplateNotFound,
    NothingToRelease,
    ReleaseNotAllowed,
    AlreadyReleased,
    MustCommitFirst,
    PrivacyScanPending,
    PrivacyApiUndeclared,
    PrivacyOwnerSettingMissing,
    PrivacyVersionInvalid,
    PrivacyExpiryInvalid,
    PrivacyNoOnlineVersion,
    InvalidParameter,
    LegalPersonMismatch,
    InvalidWechatId,
    RegistrationInnerError,
    InvalidCodeType,
    RegistrationRunning,
    RegistrationNotFound,
    AwaitingLegalPersonCheck,
    LegalPersonInfoChecking,
    RegistrationParamsMissing,
    PlatformPermissionSetsIncomplete,
    Other(i64),
}

const TABLE: &[(i64, Errcode, &str)] = &[
    (-1, Errcode::SystemBusy, "system busy, retry later"),
    (
        40001,
        Errcode::InvalidCredential,
        "invalid credential: token invalid or not the latest",
    ),
    (40013, Errcode::InvalidAppid, "invalid appid"),
    (40014, Errcode::InvalidAccessToken, "invalid access_token"),
    (40029, Errcode::InvalidCode, "invalid code"),
    (40125, Errcode::InvalidAppsecret, "invalid appsecret"),
    (41001, Errcode::AccessTokenMissing, "access_token missing"),
    (42001, Errcode::AccessTokenExpired, "access_token expired"),
    (44002, Errcode::EmptyPostData, "empty POST body"),
    (45009, Errcode::DailyQuotaReached, "daily API quota reached"),
    (45011, Errcode::TooFrequent, "API called too frequently"),
    (47001, Errcode::DataFormatError, "JSON/XML parse error"),
    (
        48001,
        Errcode::ApiUnauthorized,
        "API unauthorized for this account",
    ),
    (
        61003,
        Errcode::ComponentNotAuthorized,
        "component not authorized by this account",
    ),
    (
        61004,
        Errcode::IpNotWhitelisted,
        "caller IP not registered in the platform's whitelist",
    ),
    (
        61005,
        Errcode::TicketExpired,
        "component_verify_ticket expired",
    ),
    (
        61006,
        Errcode::TicketInvalid,
        "component_verify_ticket invalid",
    ),
    (
        61007,
        Errcode::PermissionSetMissing,
        "API not authorized to the component (permission set missing)",
    ),
    (61010, Errcode::CodeExpired, "authorization code expired"),
    (
        61023,
        Errcode::RefreshTokenInvalid,
        "refresh_token invalid: the owner must authorize again",
    ),
    (
        85009,
        Errcode::AuditPending,
        "a version is already under review",
    ),
    (
        85014,
        Errcode::TemplateNotFound,
        "invalid or nonexistent template_id",
    ),
    (85019, Errcode::NothingToRelease, "no version in audit"),
    (
        85020,
        Errcode::ReleaseNotAllowed,
        "audit status does not allow release",
    ),
    (85052, Errcode::AlreadyReleased, "app already released"),
    (
        85086,
        Errcode::MustCommitFirst,
        "must commit code before submitting",
    ),
    (
        61039,
        Errcode::PrivacyScanPending,
        "the privacy API scan of the committed code has not finished: retry in about a minute",
    ),
    (
        61040,
        Errcode::PrivacyApiUndeclared,
        "the code uses location APIs that are not declared or not permitted",
    ),
    // "设置小程序用户隐私保护指引" (setprivacysetting)'s errcodes.
    (
        86069,
        Errcode::PrivacyOwnerSettingMissing,
        "owner_setting, its notice_method or every contact is missing",
    ),
    (
        86071,
        Errcode::PrivacyVersionInvalid,
        "privacy_ver is not 1 or 2",
    ),
    (
        86072,
        Errcode::PrivacyExpiryInvalid,
        "store_expire_timestamp is invalid",
    ),
    (
        86074,
        Errcode::PrivacyNoOnlineVersion,
        "no online privacy guideline exists: set the development version (privacy_ver 2)",
    ),
    (40097, Errcode::InvalidParameter, "invalid parameter"),
    // "快速注册企业小程序" (fastregisterweapp)'s errcodes.
    (
        61070,
        Errcode::LegalPersonMismatch,
        "the legal person's name does not match the WeChat id",
    ),
    (86004, Errcode::InvalidWechatId, "invalid WeChat id"),
    (
        89247,
        Errcode::RegistrationInnerError,
        "WeChat inner error (also answered when code does not fit code_type); retry later",
    ),
    (
        89248,
        Errcode::InvalidCodeType,
        "invalid enterprise code type",
    ),
    (
        89249,
        Errcode::RegistrationRunning,
        "a task for this enterprise is running; retry 24 h after the last one",
    ),
    (
        89250,
        Errcode::RegistrationNotFound,
        "fast-registration task not found",
    ),
    (
        89251,
        Errcode::AwaitingLegalPersonCheck,
        "awaiting the legal person's face check",
    ),
    (
        89252,
        Errcode::LegalPersonInfoChecking,
        "checking the legal person and enterprise information",
    ),
    (
        89253,
        Errcode::RegistrationParamsMissing,
        "missing parameters",
    ),
    (
        89254,
        Errcode::PlatformPermissionSetsIncomplete,
        "the platform lacks permission sets fast registration needs",
    ),
];

impl Errcode {
    pub fn from_code(code: i64) -> Self {
        TABLE
            .iter()
            .find(|(c, _, _)| *c == code)
            .map_or(Self::Other(code), |(_, e, _)| *e)
    }

    pub fn code(self) -> i64 {
        match self {
            Self::Other(code) => code,
            known => TABLE
                .iter()
                .find(|(_, e, _)| *e == known)
                .map_or(0, |(c, _, _)| *c),
        }
    }

    /// The reference's meaning of the code, when it is one the platform knows.
    pub fn meaning(self) -> Option<&'static str> {
        TABLE
            .iter()
            .find(|(_, e, _)| *e == self)
            .map(|(_, _, m)| *m)
    }

    /// 40001 / 40014 / 42001: the token was refused; refresh it and retry once (wechatpy's "_handle_result"; WeChat's "全局返回码说明").
    pub fn is_token_invalid(self) -> bool {
        matches!(
            self,
            Self::InvalidCredential | Self::InvalidAccessToken | Self::AccessTokenExpired
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_ones_are_kept() {
        for (code, errcode, _) in TABLE {
            assert_eq!(Errcode::from_code(*code), *errcode);
            assert_eq!(errcode.code(), *code);
        }
        assert_eq!(Errcode::from_code(89999), Errcode::Other(89999));
        assert_eq!(Errcode::Other(89999).code(), 89999);
        assert!(Errcode::from_code(42001).is_token_invalid());
        assert!(!Errcode::from_code(61023).is_token_invalid());
    }
}
