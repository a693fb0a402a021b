//! The control API under /sim/ for tests and demos: clock, token expiry, faults, call counts,
//! review scripts, pushes on demand, revocation, and a look at the state.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{RefreshTokenSettings, ReviewScript};
use crate::state::{AuthorizationStatus, Fault, FaultKind, TokenOwner};
use crate::Sim;

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": "bad_request", "message": message })),
    )
        .into_response()
}

fn not_found(what: String) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not_found", "message": what })),
    )
        .into_response()
}

pub async fn clock(State(sim): State<Sim>) -> Json<Value> {
    Json(json!({ "now": sim.state().now() }))
}

#[derive(Deserialize)]
pub struct Advance {
    seconds: i64,
}

/// Moves the simulated clock forward; reviews that are now due end (and push) at once.
pub async fn advance_clock(State(sim): State<Sim>, Json(advance): Json<Advance>) -> Response {
    if advance.seconds < 0 {
        return bad_request("seconds must be >= 0");
    }
    sim.state().clock.advance(advance.seconds);
    sim.resolve_due_reviews();
    sim.resolve_due_registrations();
    clock(State(sim)).await.into_response()
}

#[derive(Deserialize)]
pub struct Expire {
    /// Expire the component tokens.
    #[serde(default)]
    component: bool,
    /// Expire the access tokens of this authorizer.
    #[serde(default)]
    appid: Option<String>,
}

pub async fn expire_tokens(State(sim): State<Sim>, Json(expire): Json<Expire>) -> Json<Value> {
    let mut state = sim.state();
    let mut expired = 0;
    if expire.component {
        expired += state.expire_tokens(&TokenOwner::Component);
    }
    if let Some(appid) = expire.appid {
        expired += state.expire_tokens(&TokenOwner::Authorizer(appid));
    }
    Json(json!({ "expired": expired }))
}

#[derive(Deserialize)]
pub struct FaultRequest {
    /// The endpoint's last path segment, e.g. `api_component_token` or `commit`.
    endpoint: String,
    #[serde(default = "one")]
    count: u32,
    fault: FaultKind,
}

fn one() -> u32 {
    1
}

pub async fn add_fault(State(sim): State<Sim>, Json(request): Json<FaultRequest>) -> Response {
    if request.count == 0 {
        return bad_request("count must be >= 1");
    }
    sim.state()
        .faults
        .entry(request.endpoint)
        .or_default()
        .push_back(Fault {
            kind: request.fault,
            remaining: request.count,
        });
    StatusCode::NO_CONTENT.into_response()
}

pub async fn clear_faults(State(sim): State<Sim>) -> StatusCode {
    sim.state().faults.clear();
    StatusCode::NO_CONTENT
}

pub async fn calls(State(sim): State<Sim>) -> Json<Value> {
    Json(json!(sim.state().calls))
}

#[derive(Deserialize)]
pub struct ReviewRequest {
    appid: String,
    #[serde(flatten)]
    script: ReviewScript,
}

/// Scripts the outcome of this mini program's next review.
pub async fn script_review(State(sim): State<Sim>, Json(request): Json<ReviewRequest>) -> Response {
    let mut state = sim.state();
    if state.mini_program(&request.appid).is_none() {
        return not_found(format!("no mini program {}", request.appid));
    }
    state
        .code_state(&request.appid)
        .scripted_reviews
        .push_back(request.script);
    StatusCode::NO_CONTENT.into_response()
}

/// Sets how api_authorizer_token treats refresh tokens from now on (rotation, grace period).
pub async fn refresh_tokens(
    State(sim): State<Sim>,
    Json(settings): Json<RefreshTokenSettings>,
) -> Json<Value> {
    sim.state().config.refresh_tokens = settings.clone();
    Json(json!(settings))
}

pub async fn push_ticket(State(sim): State<Sim>) -> Json<Value> {
    Json(json!({ "ticket": sim.push_ticket() }))
}

/// The owner revokes the authorization: tokens die, the refresh token dies, `unauthorized` is pushed.
pub async fn revoke(State(sim): State<Sim>, Path(appid): Path<String>) -> Response {
    {
        let mut state = sim.state();
        match state.authorizations.get_mut(&appid) {
            Some(a) if a.status == AuthorizationStatus::Authorized => {
                a.status = AuthorizationStatus::Unauthorized
            }
            _ => return not_found(format!("{appid} is not authorized")),
        }
        state
            .tokens
            .retain(|_, t| t.owner != TokenOwner::Authorizer(appid.clone()));
    }
    sim.push_authorization_event("unauthorized", &appid, None);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
pub struct Bulk {
    /// Appids are this prefix and a zero-padded number, 18 characters in all.
    prefix: String,
    count: usize,
}

/// Creates `count` mini programs already authorized (with permission sets 17 and 18), for scale
/// tests and benchmarks; answers their appids and refresh tokens.
pub async fn bulk_authorize(State(sim): State<Sim>, Json(bulk): Json<Bulk>) -> Response {
    let width = 18usize.saturating_sub(bulk.prefix.len());
    if width == 0 || bulk.count == 0 || bulk.count > 1_000_000 {
        return bad_request("prefix shorter than 18, count 1..=1000000");
    }
    let mut state = sim.state();
    let now = state.now();
    let mut created = Vec::with_capacity(bulk.count);
    for i in 0..bulk.count {
        let appid = format!("{}{:0width$}", bulk.prefix, i);
        if state.mini_program(&appid).is_none() {
            state.config.mini_programs.push(crate::config::MiniProgram {
                appid: appid.clone(),
                original_id: format!("gh_{}", &appid[2..]),
                nickname: format!("Bulk {i}"),
                principal_name: String::new(),
                head_img: String::new(),
                categories: Vec::new(),
                pages: Vec::new(),
                testers_limit: 15,
                permission_sets: vec![17, 18],
                review: crate::config::ReviewScript::Pass { after_secs: 5 },
            });
        }
        let authorization = crate::state::Authorization::new(&appid, vec![17, 18], now);
        let refresh_token = authorization.refresh_token.clone();
        state.authorizations.insert(appid.clone(), authorization);
        created.push(json!({ "appid": appid, "refresh_token": refresh_token }));
    }
    Json(json!({ "authorizers": created })).into_response()
}

pub async fn authorizations(State(sim): State<Sim>) -> Json<Value> {
    Json(json!(sim.state().authorizations))
}

pub async fn pushes(State(sim): State<Sim>) -> Json<Value> {
    Json(json!(sim.state().deliveries))
}

/// What WeChat holds for a mini program: its code state, `privacy` included (applications settled).
pub async fn mini_program_state(State(sim): State<Sim>, Path(appid): Path<String>) -> Response {
    let mut state = sim.state();
    if state.mini_program(&appid).is_none() && !state.code.contains_key(&appid) {
        return not_found(format!("no mini program {appid}"));
    }
    crate::privacy::settled(&mut state, &appid);
    Json(json!(state.code_state(&appid))).into_response()
}

#[derive(Deserialize)]
pub struct ScanSecs {
    seconds: i64,
}

/// How long the privacy scan of every later commit runs, in simulated seconds.
pub async fn privacy_scan_secs(State(sim): State<Sim>, Json(scan): Json<ScanSecs>) -> Response {
    if scan.seconds < 0 {
        return bad_request("seconds must be >= 0");
    }
    sim.state().config.privacy.scan_secs = scan.seconds;
    Json(json!({ "scan_secs": scan.seconds })).into_response()
}

/// Ends a pending privacy-interface application now (approved, or rejected with a fail_reason),
/// or scripts how the next one of that API ends; answers `{"resolved": true}` for the former.
pub async fn script_application(
    State(sim): State<Sim>,
    Json(script): Json<crate::privacy::ScriptApplication>,
) -> Response {
    let appid = script.appid.clone();
    match sim.script_application(script) {
        Some(resolved) => Json(json!({ "resolved": resolved })).into_response(),
        None => not_found(format!("no mini program {appid}")),
    }
}

#[derive(Deserialize)]
pub struct JsCodeRequest {
    appid: String,
    /// Who logs in (the same user has the same openid in a mini program); default `user`.
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    unionid: Option<String>,
}

/// A js_code, as wx.login gives it to the mini program: `{js_code, openid, expires_in}`.
pub async fn mint_js_code(State(sim): State<Sim>, Json(request): Json<JsCodeRequest>) -> Response {
    let user = request.user.as_deref().unwrap_or("user");
    match sim.mint_js_code(&request.appid, user, request.unionid) {
        Some((js_code, openid)) => Json(json!({ "js_code": js_code, "openid": openid, "expires_in": crate::platform::JS_CODE_LIFETIME })).into_response(),
        None => not_found(format!("no mini program {}", request.appid)),
    }
}
