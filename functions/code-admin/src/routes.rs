//! The admin routes: one table, used by the handler and checked against openapi.yaml by a test.

use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    ListAuthorizers,
    GetAuthorizer,
    PutExt,
    Domains,
    WebviewDomains,
    ListTesters,
    AddTester,
    RemoveTester,
    Commit,
    Qrcode,
    ReviewScreenshot,
    Categories,
    Pages,
    SubmitAudit,
    ListAudits,
    LatestAudit,
    GetAudit,
    UndoAudit,
    SpeedupAudit,
    Release,
    Revert,
    Versions,
    StartGrayRelease,
    GrayReleasePlan,
    CancelGrayRelease,
    VisitStatus,
    Actions,
    TemplateDrafts,
    AddTemplate,
    ListTemplates,
    DeleteTemplate,
    Quota,
    GetPrivacy,
    SetPrivacy,
    UploadPrivacyFile,
    ApplyPrivacyDefault,
    PrivacyInterfaces,
    ApplyPrivacyInterface,
    Readiness,
    GetPrivacyDefault,
    SetPrivacyDefault,
    GoLiveReport,
    PlatformHealth,
    CreateRollout,
    ListRollouts,
    GetRollout,
    RolloutTargets,
    PauseRollout,
    ResumeRollout,
    CancelRollout,
    RetryTarget,
    CreateRegistration,
    ListRegistrations,
    GetRegistration,
    CreateWebhook,
    ListWebhooks,
    GetWebhook,
    DeleteWebhook,
    TestWebhook,
    WebhookDeliveries,
    CreateOnboarding,
    ListOnboardings,
    GetOnboarding,
    ResubmitOnboarding,
    ListPushes,
    GetPush,
}

const A: &str = "/admin/authorizers/{appid}";

/// Method, path pattern, operation. Literal segments come before `{param}` ones that could match them.
pub const ROUTES: &[(&str, &str, Op)] = &[
    ("GET", "/admin/authorizers", Op::ListAuthorizers),
    ("GET", A, Op::GetAuthorizer),
    ("PUT", "/admin/authorizers/{appid}/ext", Op::PutExt),
    ("POST", "/admin/authorizers/{appid}/domains", Op::Domains),
    (
        "POST",
        "/admin/authorizers/{appid}/webview-domains",
        Op::WebviewDomains,
    ),
    ("GET", "/admin/authorizers/{appid}/testers", Op::ListTesters),
    ("POST", "/admin/authorizers/{appid}/testers", Op::AddTester),
    (
        "DELETE",
        "/admin/authorizers/{appid}/testers/{tester}",
        Op::RemoveTester,
    ),
    ("POST", "/admin/authorizers/{appid}/commits", Op::Commit),
    ("GET", "/admin/authorizers/{appid}/qrcode", Op::Qrcode),
    (
        "GET",
        "/admin/authorizers/{appid}/categories",
        Op::Categories,
    ),
    ("GET", "/admin/authorizers/{appid}/pages", Op::Pages),
    ("POST", "/admin/authorizers/{appid}/audits", Op::SubmitAudit),
    ("GET", "/admin/authorizers/{appid}/audits", Op::ListAudits),
    (
        "GET",
        "/admin/authorizers/{appid}/audits/latest",
        Op::LatestAudit,
    ),
    (
        "POST",
        "/admin/authorizers/{appid}/audits/undo",
        Op::UndoAudit,
    ),
    (
        "GET",
        "/admin/authorizers/{appid}/audits/{auditid}",
        Op::GetAudit,
    ),
    (
        "POST",
        "/admin/authorizers/{appid}/audits/{auditid}/speedup",
        Op::SpeedupAudit,
    ),
    (
        "GET",
        "/admin/authorizers/{appid}/audits/{auditid}/screenshots/{media_id}",
        Op::ReviewScreenshot,
    ),
    ("POST", "/admin/authorizers/{appid}/release", Op::Release),
    ("POST", "/admin/authorizers/{appid}/revert", Op::Revert),
    ("GET", "/admin/authorizers/{appid}/versions", Op::Versions),
    (
        "POST",
        "/admin/authorizers/{appid}/gray-release",
        Op::StartGrayRelease,
    ),
    (
        "GET",
        "/admin/authorizers/{appid}/gray-release",
        Op::GrayReleasePlan,
    ),
    (
        "DELETE",
        "/admin/authorizers/{appid}/gray-release",
        Op::CancelGrayRelease,
    ),
    (
        "POST",
        "/admin/authorizers/{appid}/visit-status",
        Op::VisitStatus,
    ),
    ("GET", "/admin/authorizers/{appid}/actions", Op::Actions),
    ("GET", "/admin/template-drafts", Op::TemplateDrafts),
    ("POST", "/admin/templates", Op::AddTemplate),
    ("GET", "/admin/templates", Op::ListTemplates),
    (
        "DELETE",
        "/admin/templates/{template_id}",
        Op::DeleteTemplate,
    ),
    ("GET", "/admin/quota", Op::Quota),
    ("GET", "/admin/authorizers/{appid}/privacy", Op::GetPrivacy),
    ("PUT", "/admin/authorizers/{appid}/privacy", Op::SetPrivacy),
    (
        "POST",
        "/admin/authorizers/{appid}/privacy/file",
        Op::UploadPrivacyFile,
    ),
    (
        "POST",
        "/admin/authorizers/{appid}/privacy/default",
        Op::ApplyPrivacyDefault,
    ),
    (
        "GET",
        "/admin/authorizers/{appid}/privacy/interfaces",
        Op::PrivacyInterfaces,
    ),
    (
        "POST",
        "/admin/authorizers/{appid}/privacy/interfaces/{api_name}/apply",
        Op::ApplyPrivacyInterface,
    ),
    ("GET", "/admin/authorizers/{appid}/readiness", Op::Readiness),
    ("GET", "/admin/privacy-default", Op::GetPrivacyDefault),
    ("PUT", "/admin/privacy-default", Op::SetPrivacyDefault),
    ("GET", "/admin/go-live", Op::GoLiveReport),
    ("GET", "/admin/health", Op::PlatformHealth),
    ("POST", "/admin/rollouts", Op::CreateRollout),
    ("GET", "/admin/rollouts", Op::ListRollouts),
    ("GET", "/admin/rollouts/{id}", Op::GetRollout),
    ("GET", "/admin/rollouts/{id}/targets", Op::RolloutTargets),
    ("POST", "/admin/rollouts/{id}/pause", Op::PauseRollout),
    ("POST", "/admin/rollouts/{id}/resume", Op::ResumeRollout),
    ("POST", "/admin/rollouts/{id}/cancel", Op::CancelRollout),
    (
        "POST",
        "/admin/rollouts/{id}/targets/{appid}/retry",
        Op::RetryTarget,
    ),
    ("POST", "/admin/registrations", Op::CreateRegistration),
    ("GET", "/admin/registrations", Op::ListRegistrations),
    ("GET", "/admin/registrations/{id}", Op::GetRegistration),
    ("POST", "/admin/webhooks", Op::CreateWebhook),
    ("GET", "/admin/webhooks", Op::ListWebhooks),
    ("GET", "/admin/webhooks/{id}", Op::GetWebhook),
    ("DELETE", "/admin/webhooks/{id}", Op::DeleteWebhook),
    ("POST", "/admin/webhooks/{id}/test", Op::TestWebhook),
    (
        "GET",
        "/admin/webhooks/{id}/deliveries",
        Op::WebhookDeliveries,
    ),
    ("POST", "/admin/onboardings", Op::CreateOnboarding),
    ("GET", "/admin/onboardings", Op::ListOnboardings),
    ("GET", "/admin/onboardings/{id}", Op::GetOnboarding),
    (
        "POST",
        "/admin/onboardings/{id}/resubmit",
        Op::ResubmitOnboarding,
    ),
    ("GET", "/admin/pushes", Op::ListPushes),
    ("GET", "/admin/pushes/{id}", Op::GetPush),
];

/// The operation for `method path` and its path parameters.
pub fn match_route(method: &str, path: &str) -> Option<(Op, HashMap<String, String>)> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    ROUTES.iter().find_map(|(m, pattern, op)| {
        if !m.eq_ignore_ascii_case(method) {
            return None;
        }
        let parts: Vec<&str> = pattern.split('/').collect();
        if parts.len() != segments.len() {
            return None;
        }
        let mut params = HashMap::new();
        for (part, segment) in parts.iter().zip(&segments) {
            match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !segment.is_empty() => {
                    params.insert(name.to_owned(), (*segment).to_owned());
                }
                Some(_) => return None,
                None if part == segment => {}
                None => return None,
            }
        }
        Some((*op, params))
    })
}

impl Op {
    /// Calls that change a mini program's code or its review: a rollout holding the mini program
    /// refuses them.
    pub fn changes_code(self) -> bool {
        matches!(
            self,
            Op::Commit
                | Op::SubmitAudit
                | Op::UndoAudit
                | Op::Release
                | Op::Revert
                | Op::StartGrayRelease
                | Op::CancelGrayRelease
        )
    }
}

/// Calls that change something are recorded in the action log.
pub fn changes_state(method: &str) -> bool {
    !method.eq_ignore_ascii_case("GET")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_and_params_are_captured() {
        let (op, p) =
            match_route("GET", "/admin/authorizers/wx0123456789abcdef/audits/latest").unwrap();
        assert_eq!(
            (op, p["appid"].as_str()),
            (Op::LatestAudit, "wx0123456789abcdef")
        );
        let (op, p) =
            match_route("GET", "/admin/authorizers/wx0123456789abcdef/audits/42").unwrap();
        assert_eq!((op, p["auditid"].as_str()), (Op::GetAudit, "42"));
        assert_eq!(
            match_route("POST", "/admin/authorizers/wx0123456789abcdef/audits/undo")
                .unwrap()
                .0,
            Op::UndoAudit
        );
        assert_eq!(
            match_route("DELETE", "/admin/templates/7").unwrap().1["template_id"],
            "7"
        );
        assert!(match_route("PATCH", "/admin/templates").is_none());
        assert!(match_route("GET", "/admin/authorizers//pages").is_none());
        assert!(match_route("GET", "/admin/nothing").is_none());
    }
}
