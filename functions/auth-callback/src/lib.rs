//! `GET /auth/callback?state=…&auth_code=…&expires_in=…`: where WeChat sends the owner after
//! authorizing.
//!
//! Accepts only a code that looks like WeChat's and comes with a `state` issued by /auth/start
//! (nothing is written and WeChat is not called otherwise). Exchanges the code (api_query_auth)
//! unless the `authorized` push already did, fetches the account's details, stores the authorizer,
//! and tells the owner, once, what was authorized and which needed permission sets are missing
//! (HTML, or JSON for `Accept: application/json`); a replayed URL shows no details.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde_json::json;
use shared::auth_state::{is_plausible_auth_code, StateSigner};
use shared::authorization::{AuthError, AuthorizationService, Completed, EventTime};
use shared::config::ConfigError;
use shared::platform::Platform;
use shared::store::{unix_now, AuthStateStore, AuthorizationRecords};
use shared::store::{AuthorizerStore, DynamoAuthorizerStore, DynamoTicketStore};
use shared::web::{escape_html, html_page, json_error, json_failure, json_response, wants_json};

pub struct AuthCallback<S, A> {
    service: AuthorizationService<S, A>,
    states: StateSigner,
}

impl<S, A> AuthCallback<S, A> {
    pub fn new(service: AuthorizationService<S, A>, states: StateSigner) -> Self {
        Self { service, states }
    }
}

impl AuthCallback<DynamoTicketStore, DynamoAuthorizerStore> {
    pub fn from_platform(platform: &Platform) -> Self {
        Self::new(platform.authorization_service(), platform.state_signer())
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        Ok(Self::from_platform(&Platform::from_env().await?))
    }
}

fn error_answer(
    json: bool,
    status: StatusCode,
    code: &str,
    title: &str,
    message: &str,
) -> Response<String> {
    if json {
        json_error(status, code, message)
    } else {
        html_page(
            status,
            title,
            &format!(
                "<h1>{}</h1><p>{}</p><p><a class=\"button\" href=\"start\">重新授权 / Start again</a></p>",
                escape_html(title),
                escape_html(message)
            ),
        )
    }
}

/// A replayed callback URL: the authorization is complete, and its details were shown before.
fn already_shown_answer(json: bool) -> Response<String> {
    const MESSAGE: &str = "This authorization is complete; its details were shown once. To see them again, authorize again from the start page.";
    if json {
        return json_response(
            StatusCode::OK,
            &json!({ "status": "already_shown", "message": MESSAGE }),
        );
    }
    html_page(
        StatusCode::OK,
        "授权已完成",
        &format!(
            "<h1>授权已完成 / Authorization complete</h1><p id=\"already-shown\">授权结果只显示一次。<br>{MESSAGE}</p>\
             <p><a class=\"button\" href=\"start\">重新授权 / Authorize again</a></p>"
        ),
    )
}

fn success_answer(json: bool, done: &Completed) -> Response<String> {
    let a = &done.authorizer;
    let missing = a.missing_permission_sets();
    if json {
        return json_response(
            StatusCode::OK,
            &json!({
                "authorizer_appid": a.appid,
                "nick_name": a.nick_name,
                "principal_name": a.principal_name,
                "status": a.status.as_str(),
                "permission_sets": a.permission_sets,
                "missing_permission_sets": missing,
                "has_code_management": a.has_code_management(),
                "exchanged_now": done.exchanged_now,
            }),
        );
    }
    let sets: Vec<String> = a.permission_sets.iter().map(i64::to_string).collect();
    let warning = if missing.is_empty() {
        "<p>平台可以为这个小程序管理代码、提交审核和发布。<br>The platform can now manage this mini program's code, reviews and releases.</p>".to_owned()
    } else {
        let missing: Vec<String> = missing.iter().map(i64::to_string).collect();
        format!(
            "<p class=\"warning\" id=\"missing\">缺少权限集 {} （小程序开发管理）：平台无法管理此小程序的代码。请重新授权并勾选该权限。<br>\
             Permission set {} (code management) was not granted: the platform cannot manage this mini program's code. \
             Authorize again and keep it checked.</p><p><a class=\"button\" href=\"start\">重新授权 / Authorize again</a></p>",
            missing.join(", "),
            missing.join(", ")
        )
    };
    html_page(
        StatusCode::OK,
        "授权成功",
        &format!(
            "<h1>授权成功 / Authorized</h1><p><strong id=\"nick\">{}</strong> ({}){}</p><p>已授权权限集 / Permission sets: {}</p>{}",
            escape_html(&a.nick_name),
            escape_html(&a.appid),
            if a.principal_name.is_empty() { String::new() } else { format!(" · {}", escape_html(&a.principal_name)) },
            sets.join(", "),
            warning
        ),
    )
}

fn retry_after(answer: &mut Response<String>) {
    answer
        .headers_mut()
        .insert("retry-after", "3".parse().expect("static header"));
}

/// What an owner refused for the state should know: WeChat's own notification completes an
/// authorization that was confirmed, whatever happens to this page.
const STATE_HELP: &str = "If you have just confirmed the authorization in WeChat, it is completed from WeChat's notification: ask the platform whether your mini program is listed. Otherwise start again from the platform's start page.";

const NOT_YET: &str = "暂时无法完成授权 / Not completed yet";

/// A failure of ours or WeChat's (5xx): a fixed page, or JSON with a request id under which
/// `detail` is logged (never shown: it may name hosts and ports).
fn failure_answer(json: bool, status: StatusCode, detail: &str, message: &str) -> Response<String> {
    let mut answer = if json {
        json_failure(status, "authorization_incomplete", detail)
    } else {
        error_answer(false, status, "authorization_incomplete", NOT_YET, message)
    };
    if status == StatusCode::SERVICE_UNAVAILABLE {
        retry_after(&mut answer);
    }
    answer
}

fn unavailable_answer(json: bool, detail: &str) -> Response<String> {
    failure_answer(
        json,
        StatusCode::SERVICE_UNAVAILABLE,
        detail,
        "The authorization is still being processed or WeChat is busy. Reload this page in a few seconds.",
    )
}

/// The Lambda handler.
pub async fn handle<S, A>(
    app: &AuthCallback<S, A>,
    request: Request,
) -> Result<Response<Body>, Error>
where
    S: AuthorizationRecords + AuthStateStore,
    A: AuthorizerStore + Sync,
{
    let json = wants_json(request.headers());
    let params = request.query_string_parameters();
    let refuse = |status, code, title, message| {
        Ok(error_answer(json, status, code, title, message).map(Body::from))
    };
    let Some(code) = params.first("auth_code").filter(|c| !c.is_empty()) else {
        tracing::warn!("callback without auth_code");
        return refuse(
            StatusCode::BAD_REQUEST,
            "missing_auth_code",
            "缺少授权码 / No authorization code",
            "auth_code is missing: open this page through WeChat's authorization page.",
        );
    };
    if !is_plausible_auth_code(code) {
        tracing::warn!(len = code.len(), "callback with an implausible auth_code");
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_auth_code",
            "授权码无效 / Invalid authorization code",
            "auth_code is not an authorization code: open this page through WeChat's authorization page.",
        );
    }
    // Past this point WeChat is called and claims are written: only for a state this platform
    // signed, bound to this one code.
    const STATE_REFUSED: &str =
        "授权链接无效或已过期 / This authorization link is invalid, expired or used";
    let state = match app.states.verify(params.first("state"), unix_now()) {
        Ok(state) => state,
        Err(refusal) => {
            tracing::warn!(%refusal, "callback refused: state");
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_state",
                STATE_REFUSED,
                &format!("{refusal}. {STATE_HELP}"),
            );
        }
    };
    match app.service.bind_state(&state, code).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!("callback refused: the state was used with another code");
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_state",
                STATE_REFUSED,
                &format!("state was already used for another authorization. {STATE_HELP}"),
            );
        }
        Err(err) => {
            tracing::error!(error = %err, "the state could not be bound to the code");
            return Ok(unavailable_answer(json, &err.to_string()).map(Body::from));
        }
    }
    let answer = match app.service.complete(code, EventTime::Callback).await {
        Ok(done) => match app.service.first_showing(code).await {
            Ok(true) => {
                tracing::info!(
                    authorizer_appid = done.authorizer.appid,
                    exchanged_now = done.exchanged_now,
                    "authorization completed"
                );
                success_answer(json, &done)
            }
            Ok(false) => {
                tracing::info!(
                    authorizer_appid = done.authorizer.appid,
                    "callback replayed: details not shown again"
                );
                already_shown_answer(json)
            }
            Err(err) => {
                tracing::error!(error = %err, "could not record that the result was shown");
                unavailable_answer(json, &err.to_string())
            }
        },
        Err(err @ AuthError::InvalidCode { .. }) => {
            tracing::warn!(error = %err, "callback with an unusable authorization code");
            error_answer(
                json,
                StatusCode::BAD_REQUEST,
                "invalid_auth_code",
                "授权码已失效 / This authorization link has expired",
                "The authorization code is invalid, expired or already used. Start the authorization again.",
            )
        }
        Err(err) if err.is_transient() => {
            tracing::error!(error = %err, "authorization not completed yet");
            unavailable_answer(json, &err.to_string())
        }
        Err(err) => {
            tracing::error!(error = %err, "authorization not completed");
            failure_answer(
                json,
                StatusCode::BAD_GATEWAY,
                &err.to_string(),
                "WeChat refused to complete the authorization. Start it again; if it keeps failing, contact the platform.",
            )
        }
    };
    Ok(answer.map(Body::from))
}
