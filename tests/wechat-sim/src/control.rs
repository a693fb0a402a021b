//! The control API under /sim/ for tests and demos: clock, token expiry, faults, call counts,
//! review scripts (one mini program's, or by fraction for many), the submit quota, pushes on
//! demand, revocation, bulk authorizations, and a look at the state.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{Category, MiniProgram};
use crate::config::{RefreshTokenSettings, ReviewScript};
use crate::review_rule::{FractionScript, ReviewRule};
use crate::state::{Authorization, AuthorizationStatus, Fault, FaultKind, TokenOwner};
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
    /// Forget them instead: WeChat then answers 40001 (invalid, or not the latest), as after a
    /// refresh made elsewhere, rather than 42001.
    #[serde(default)]
    forget: bool,
}

pub async fn expire_tokens(State(sim): State<Sim>, Json(expire): Json<Expire>) -> Json<Value> {
    let mut state = sim.state();
    let mut expired = 0;
    let mut owners = Vec::new();
    if expire.component {
        owners.push(TokenOwner::Component);
    }
    if let Some(appid) = expire.appid {
        owners.push(TokenOwner::Authorizer(appid));
    }
    for owner in &owners {
        expired += match expire.forget {
            true => state.forget_tokens(owner),
            false => state.expire_tokens(owner),
        };
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

/// A refused control request: 400 with its message.
pub struct BadRequest(String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        bad_request(&self.0)
    }
}

/// `body` as `T`; refused naming the field otherwise.
fn parse<T: serde::de::DeserializeOwned>(body: Value, what: &str) -> Result<T, BadRequest> {
    serde_json::from_value(body).map_err(|e| BadRequest(format!("{what}: {e}")))
}

#[derive(Deserialize)]
pub struct ReviewRequest {
    appid: String,
    #[serde(flatten)]
    script: ReviewScript,
}

/// With an `appid`: scripts the outcome of this mini program's next review (queued, used before
/// anything else). Without: the outcomes of every later review by fraction
/// ([`crate::review_rule`]); answers which mini programs it rejects and delays.
pub async fn script_review(
    State(sim): State<Sim>,
    Json(body): Json<Value>,
) -> Result<Response, BadRequest> {
    if body.get("appid").is_some() {
        let request: ReviewRequest = parse(body, "a review script of one mini program")?;
        let mut state = sim.state();
        if state.mini_program(&request.appid).is_none() {
            return Ok(not_found(format!("no mini program {}", request.appid)));
        }
        state
            .code_state(&request.appid)
            .scripted_reviews
            .push_back(request.script);
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let script: FractionScript = parse(body, "a review script by fraction (no appid)")?;
    script.check().map_err(BadRequest)?;
    let mut state = sim.state();
    let appids = state.config.mini_programs.iter().map(|m| m.appid.as_str());
    let rule = ReviewRule::new(script, appids);
    let summary = rule.summary();
    state.review_rule = Some(rule);
    Ok(Json(summary).into_response())
}

/// Drops the review script by fraction: each mini program's configured review again.
pub async fn clear_review_rule(State(sim): State<Sim>) -> StatusCode {
    sim.state().review_rule = None;
    StatusCode::NO_CONTENT
}

/// `POST /sim/quota`: the platform's monthly submit quota ("查询服务商审核额度" (query_quota)).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaRequest {
    /// Submissions left this month (0: submit_audit answers 85085).
    #[serde(default)]
    rest: Option<i64>,
    /// Submissions a month.
    #[serde(default)]
    limit: Option<i64>,
}

/// Sets the submit quota's `limit` and/or `rest` now; answers the quota as queryquota does.
pub async fn set_quota(
    State(sim): State<Sim>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, BadRequest> {
    let request: QuotaRequest = parse(body, "a submit quota")?;
    let mut state = sim.state();
    let limit = request.limit.unwrap_or(state.config.limits.submit_quota);
    if limit < 0 {
        return Err(BadRequest("limit must be >= 0".into()));
    }
    let used = match request.rest {
        Some(rest) if !(0..=limit).contains(&rest) => {
            return Err(BadRequest("rest must be between 0 and limit".into()))
        }
        Some(rest) => limit - rest,
        None => state.submits_used.min(limit),
    };
    state.config.limits.submit_quota = limit;
    state.submits_used = used;
    Ok(Json(crate::audit::quota_json(&state)))
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

/// A mini program of a bulk authorization, ready for code management: a shop of the tools
/// category (工具 › 效率, 287 › 612) with an index and an about page, reviews passing after 5
/// simulated seconds (unless scripted), permission sets 17 and 18.
fn bulk_mini_program(appid: &str, n: usize) -> MiniProgram {
    MiniProgram {
        appid: appid.to_owned(),
        original_id: format!("gh_{}", &appid[2..]),
        nickname: format!("Bulk {n}"),
        principal_name: String::new(),
        head_img: String::new(),
        categories: vec![Category {
            first_class: "工具".into(),
            second_class: "效率".into(),
            third_class: None,
            first_id: 287,
            second_id: 612,
            third_id: None,
        }],
        pages: vec!["pages/index/index".into(), "pages/about/about".into()],
        testers_limit: 15,
        permission_sets: BULK_SETS.to_vec(),
        review: ReviewScript::Pass { after_secs: 5 },
    }
}

/// Account management (17) and development management (18, code management).
const BULK_SETS: [i64; 2] = [17, 18];

/// Creates `count` mini programs already authorized (permission sets 17 and 18), for scale tests,
/// rollouts and benchmarks ([`bulk_mini_program`]); answers their appids and refresh tokens.
/// An appid that exists keeps its mini program and gets a new authorization.
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
        state.add_mini_program(bulk_mini_program(&appid, i));
        let authorization = Authorization::new(&appid, BULK_SETS.to_vec(), now);
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

/// What WeChat holds for a mini program: its code state, `privacy` included (applications
/// settled), and two views of it: `online_release`, the version users get (null before the
/// first release), and `gray_release_plan`, as getgrayreleaseplan answers it (with the
/// `user_version` being phased in while one runs).
pub async fn mini_program_state(State(sim): State<Sim>, Path(appid): Path<String>) -> Response {
    let mut state = sim.state();
    if state.mini_program(&appid).is_none() && !state.code.contains_key(&appid) {
        return not_found(format!("no mini program {appid}"));
    }
    crate::privacy::settled(&mut state, &appid);
    let code = state.code_state(&appid);
    let mut answer = json!(code);
    answer["online_release"] = json!(code.online.map(|i| &code.releases[i]));
    let mut plan = json!(crate::audit::gray_plan(code));
    if code.gray.as_ref().is_some_and(|g| g.status == 1) {
        plan["user_version"] = json!(code.latest_audit().map(|a| &a.commit.user_version));
    }
    answer["gray_release_plan"] = plan;
    Json(answer).into_response()
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
