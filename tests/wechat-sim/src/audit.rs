//! Mini-program code management, part 2 ("代码管理": submit_audit … query_quota): review, release, rollback, grey
//! release, visit status, speed-up and quota. Reviews end on the simulated clock as scripted
//! (per mini program, or per /sim/reviews), and their results are pushed to the message URL.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use serde_json::{json, Value};

use crate::code::{with_mini_program, Params};
use crate::config::ReviewScript;
use crate::privacy;
use crate::state::{audit_status, Audit, CodeState, GrayPlan, Release, SimState};
use crate::wx::{int_field, json_body, ok, WxError};
use crate::Sim;

const UNDO_PER_DAY: usize = 5;
const UNDO_PER_MONTH: usize = 10;

fn check_item(
    item: &Value,
    pages: &[String],
    categories: &[crate::config::Category],
) -> Result<(), WxError> {
    let Some(item) = item.as_object().filter(|o| !o.is_empty()) else {
        return Err(WxError::new(85010, "item_list has an empty item"));
    };
    if let Some(address) = item.get("address").and_then(Value::as_str) {
        if !pages.iter().any(|p| p == address) {
            return Err(WxError::new(
                85007,
                format!("page {address} is not in the committed code"),
            ));
        }
    }
    if let Some(title) = item.get("title").and_then(Value::as_str) {
        if title.chars().count() > 32 {
            return Err(WxError::new(85011, "title longer than 32"));
        }
    }
    if let Some(tag) = item.get("tag").and_then(Value::as_str) {
        let tags: Vec<&str> = tag.split(' ').filter(|t| !t.is_empty()).collect();
        if tags.len() > 10 || tags.iter().any(|t| t.chars().count() > 20) {
            return Err(WxError::new(85006, "tag is invalid"));
        }
    }
    let id = |name: &str| item.get(name).and_then(Value::as_i64);
    let (first, second) = (id("first_id"), id("second_id"));
    if categories.is_empty() {
        return Err(WxError::new(
            85008,
            "the mini program has no approved category",
        ));
    }
    if !categories
        .iter()
        .any(|c| Some(c.first_id) == first && Some(c.second_id) == second)
    {
        return Err(WxError::new(85077, "category is invalid"));
    }
    Ok(())
}

pub async fn submit_audit(State(sim): State<Sim>, Query(params): Params, body: Bytes) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let mp = state
            .mini_program(appid)
            .cloned()
            .ok_or_else(|| WxError::new(40013, "invalid appid"))?;
        let code = state.code_state(appid);
        let commit = code
            .commit
            .clone()
            .ok_or_else(|| WxError::new(85086, "must commit code before submitting"))?;
        if code.audits.iter().any(Audit::pending) {
            return Err(WxError::new(85009, "a version is already under review"));
        }
        let items = body
            .get("item_list")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !(1..=5).contains(&items.len()) {
            return Err(WxError::new(85023, "item_list must have 1 to 5 items"));
        }
        for item in &items {
            check_item(item, &commit.pages, &mp.categories)?;
        }
        // The privacy scan must be done and its interfaces approved (61039, 61040); code that
        // collects user information its guideline does not list is accepted, then rejected.
        let privacy_api_not_use = body
            .get("privacy_api_not_use")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let now = state.now();
        let uncovered = privacy::settled(state, appid).check_submit(now, privacy_api_not_use)?;
        if state.submits_used >= state.config.limits.submit_quota {
            return Err(WxError::new(85085, "submit audit quota reached"));
        }
        state.submits_used += 1;
        let now = state.now();
        let auditid = state.next_auditid;
        state.next_auditid += 1;
        let script = match uncovered {
            // The scripted outcome stays for the next review.
            Some(uncovered) => ReviewScript::Reject {
                after_secs: state.next_review_after_secs(appid, &mp.review),
                reason: uncovered.reason(),
                screenshot: String::new(),
            },
            None => state.take_review_script(appid, &mp.review),
        };
        let resolves_at = now + script.after_secs();
        state
            .due_reviews
            .insert((resolves_at, auditid, appid.to_owned()));
        let code = state.code_state(appid);
        code.audits.push(Audit {
            auditid,
            status: audit_status::UNDER_REVIEW,
            reason: String::new(),
            screenshot: String::new(),
            submit_time: now,
            resolves_at,
            script,
            commit,
            released: false,
            sped_up: false,
            item_list: Value::Array(items),
        });
        ok(json!({ "auditid": auditid }))
    })
}

fn audit_json(audit: &Audit) -> Value {
    json!({
        "auditid": audit.auditid,
        "status": audit.status,
        "reason": audit.reason,
        "screenshot": audit.screenshot,
        "ScreenShot": audit.screenshot,
        "user_version": audit.commit.user_version,
        "user_desc": audit.commit.user_desc,
        "submit_audit_time": audit.submit_time,
    })
}

pub async fn get_auditstatus(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let auditid = int_field(&body, "auditid")?;
        let code = state.code_state(appid);
        let audit = code
            .audits
            .iter()
            .find(|a| a.auditid == auditid)
            .ok_or_else(|| WxError::new(85012, "invalid audit id"))?;
        ok(
            json!({ "status": audit.status, "reason": audit.reason, "screenshot": audit.screenshot }),
        )
    })
}

pub async fn get_latest_auditstatus(State(sim): State<Sim>, Query(params): Params) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let code = state.code_state(appid);
        let audit = code
            .latest_audit()
            .ok_or_else(|| WxError::new(85058, "no valid audit id exists"))?;
        ok(audit_json(audit))
    })
}

pub async fn undocodeaudit(State(sim): State<Sim>, Query(params): Params) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let now = state.now();
        let code = state.code_state(appid);
        let today = code
            .undo_times
            .iter()
            .filter(|t| now - **t < 86_400)
            .count();
        let month = code
            .undo_times
            .iter()
            .filter(|t| now - **t < 30 * 86_400)
            .count();
        if today >= UNDO_PER_DAY || month >= UNDO_PER_MONTH {
            return Err(WxError::new(87013, "undo quota reached"));
        }
        let audit = code
            .latest_audit_mut()
            .filter(|a| a.pending())
            .ok_or_else(|| WxError::new(85019, "no version under review"))?;
        audit.status = audit_status::WITHDRAWN;
        code.undo_times.push(now);
        ok(json!({}))
    })
}

pub async fn release(State(sim): State<Sim>, Query(params): Params, body: Bytes) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        json_body(&body)?;
        let code = state.code_state(appid);
        let audit = code
            .latest_audit()
            .ok_or_else(|| WxError::new(85019, "no version in audit"))?;
        if audit.status != audit_status::PASSED {
            return Err(WxError::new(85020, "audit status does not allow release"));
        }
        if audit.released {
            return Err(WxError::new(85052, "app is already released"));
        }
        let commit = audit.commit.clone();
        let app_version = code.releases.last().map_or(1, |r| r.app_version + 1);
        code.releases.push(Release {
            app_version,
            user_version: commit.user_version,
            user_desc: commit.user_desc,
            commit_time: commit.commit_time,
        });
        code.online = Some(code.releases.len() - 1);
        code.privacy.on_release();
        code.rolled_back = false;
        // Releasing ends a running phased release ("分阶段发布": status 3, 执行完毕); a plan
        // reverted (4) stays as it was.
        if let Some(plan) = code.gray.as_mut().filter(|g| g.status == 1) {
            plan.status = 3;
        }
        if let Some(audit) = code.latest_audit_mut() {
            audit.released = true;
        }
        ok(json!({}))
    })
}

pub async fn revertcoderelease(State(sim): State<Sim>, Query(params): Params) -> Response {
    let action = params.get("action").cloned();
    let wanted = params
        .get("app_version")
        .and_then(|v| v.parse::<i64>().ok());
    with_mini_program(&sim, &params, |state, appid| {
        let code = state.code_state(appid);
        // Only the last 5 released versions are kept.
        let kept_from = code.releases.len().saturating_sub(5);
        if action.as_deref() == Some("get_history_version") {
            let list: Vec<Value> = code.releases[kept_from..]
                .iter()
                .rev()
                .map(|r| json!({ "app_version": r.app_version, "user_version": r.user_version, "user_desc": r.user_desc, "commit_time": r.commit_time }))
                .collect();
            return ok(json!({ "version_list": list }));
        }
        if code.gray.as_ref().is_some_and(|g| g.status == 1) {
            return Err(WxError::new(87011, "grey release in progress"));
        }
        let online = code
            .online
            .ok_or_else(|| WxError::new(87012, "no version to roll back to"))?;
        if code.rolled_back {
            return Err(WxError::new(87012, "already rolled back"));
        }
        let target = match wanted {
            Some(v) => code.releases[kept_from..online]
                .iter()
                .position(|r| r.app_version == v)
                .map(|i| i + kept_from),
            None => online.checked_sub(1).filter(|i| *i >= kept_from),
        }
        .ok_or_else(|| WxError::new(87012, "version cannot be rolled back to"))?;
        code.online = Some(target);
        code.rolled_back = true;
        ok(json!({}))
    })
}

pub async fn grayrelease(State(sim): State<Sim>, Query(params): Params, body: Bytes) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let percentage = int_field(&body, "gray_percentage")?;
        let flag = |name: &str| body.get(name).and_then(Value::as_bool).unwrap_or(false);
        let (experiencer, debuger) = (
            flag("support_experiencer_first"),
            flag("support_debuger_first"),
        );
        let now = state.now();
        let code = state.code_state(appid);
        if code.online.is_none() {
            return Err(WxError::new(85079, "no online version"));
        }
        if !code
            .latest_audit()
            .is_some_and(|a| a.status == audit_status::PASSED && !a.released)
        {
            return Err(WxError::new(85080, "audit not passed"));
        }
        if !(0..=100).contains(&percentage) || (percentage == 0 && !experiencer && !debuger) {
            return Err(WxError::new(85081, "invalid gray percentage"));
        }
        if let Some(plan) = code.gray.as_ref().filter(|g| g.status == 1) {
            if percentage <= plan.gray_percentage {
                return Err(WxError::new(
                    85082,
                    "gray percentage must be higher than the current one",
                ));
            }
        }
        code.gray = Some(GrayPlan {
            status: 1,
            create_timestamp: now,
            gray_percentage: percentage,
            support_experiencer_first: experiencer,
            support_debuger_first: debuger,
        });
        ok(json!({}))
    })
}

pub async fn revertgrayrelease(State(sim): State<Sim>, Query(params): Params) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        match state
            .code_state(appid)
            .gray
            .as_mut()
            .filter(|g| g.status == 1)
        {
            Some(plan) => plan.status = 4,
            None => return Err(WxError::new(85079, "no grey release to revert")),
        }
        ok(json!({}))
    })
}

pub async fn getgrayreleaseplan(State(sim): State<Sim>, Query(params): Params) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        ok(json!({ "gray_release_plan": gray_plan(state.code_state(appid)) }))
    })
}

/// The phased-release plan as getgrayreleaseplan answers it: status 0 (initial) before any.
pub fn gray_plan(code: &CodeState) -> GrayPlan {
    code.gray.clone().unwrap_or(GrayPlan {
        status: 0,
        create_timestamp: 0,
        gray_percentage: 0,
        support_experiencer_first: false,
        support_debuger_first: false,
    })
}

pub async fn change_visitstatus(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let close = match body.get("action").and_then(Value::as_str) {
            Some("close") => true,
            Some("open") => false,
            _ => return Err(WxError::new(85022, "invalid action")),
        };
        let code = state.code_state(appid);
        if code.online.is_none() || code.visit_closed == close {
            return Err(WxError::new(85021, "status not allowed"));
        }
        code.visit_closed = close;
        ok(json!({}))
    })
}

pub async fn getvisitstatus(
    State(sim): State<Sim>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        json_body(&body)?;
        ok(json!({ "status": if state.code_state(appid).visit_closed { 0 } else { 1 } }))
    })
}

pub async fn speedupaudit(State(sim): State<Sim>, Query(params): Params, body: Bytes) -> Response {
    with_mini_program(&sim, &params, |state, appid| {
        let body = json_body(&body)?;
        let auditid = int_field(&body, "auditid")?;
        let quota_left = state.config.limits.speedup_quota - state.speedups_used;
        let audit = state
            .code_state(appid)
            .audits
            .iter_mut()
            .find(|a| a.auditid == auditid && a.status == audit_status::UNDER_REVIEW)
            .ok_or_else(|| WxError::new(89402, "not in the pending queue"))?;
        if audit.sped_up {
            return Err(WxError::new(89404, "already sped up"));
        }
        if quota_left <= 0 {
            return Err(WxError::new(89405, "speed-up quota exhausted"));
        }
        audit.sped_up = true;
        state.speedups_used += 1;
        ok(json!({}))
    })
}

pub async fn queryquota(State(sim): State<Sim>, Query(params): Params) -> Response {
    with_mini_program(&sim, &params, |state, _| ok(quota_json(state)))
}

/// The platform's review quotas as queryquota answers them ("查询服务商审核额度" (query_quota)):
/// shared by all its mini programs.
pub fn quota_json(state: &SimState) -> Value {
    let limits = &state.config.limits;
    json!({
        "rest": limits.submit_quota - state.submits_used,
        "limit": limits.submit_quota,
        "speedup_rest": limits.speedup_quota - state.speedups_used,
        "speedup_limit": limits.speedup_quota,
    })
}

/// A review's end as pushed to the message URL: the event and its fields.
type AuditEvent = (String, &'static str, Vec<(&'static str, String)>);

/// Ends `audit` as its script says at `now`; answers its event and, for a delay that later
/// passes, when to look again.
fn end_review(
    audit: &mut Audit,
    now: i64,
) -> (&'static str, Vec<(&'static str, String)>, Option<i64>) {
    if audit.status == audit_status::DELAYED {
        audit.status = audit_status::PASSED;
        audit.reason = String::new();
        return (
            "weapp_audit_success",
            vec![("SuccTime", now.to_string())],
            None,
        );
    }
    match &audit.script {
        ReviewScript::Pass { .. } => {
            audit.status = audit_status::PASSED;
            (
                "weapp_audit_success",
                vec![("SuccTime", now.to_string())],
                None,
            )
        }
        ReviewScript::Reject {
            reason, screenshot, ..
        } => {
            audit.status = audit_status::REJECTED;
            audit.reason = reason.clone();
            audit.screenshot = screenshot.clone();
            (
                "weapp_audit_fail",
                vec![
                    ("Reason", reason.clone()),
                    ("FailTime", now.to_string()),
                    ("ScreenShot", screenshot.clone()),
                ],
                None,
            )
        }
        ReviewScript::Delay {
            reason,
            then_pass_after_secs,
            ..
        } => {
            audit.status = audit_status::DELAYED;
            audit.reason = reason.clone();
            (
                "weapp_audit_delay",
                vec![("Reason", reason.clone()), ("DelayTime", now.to_string())],
                then_pass_after_secs.map(|secs| audit.resolves_at + secs),
            )
        }
    }
}

impl Sim {
    /// Ends every review whose time has come on the simulated clock and pushes its result. Only
    /// the due reviews are visited (`due_reviews`, by time), so the state is held briefly however
    /// many mini programs there are.
    pub fn resolve_due_reviews(&self) {
        let mut events: Vec<AuditEvent> = Vec::new();
        {
            let mut state = self.state();
            let now = state.now();
            while state.due_reviews.first().is_some_and(|(at, ..)| *at <= now) {
                let Some((_, auditid, appid)) = state.due_reviews.pop_first() else {
                    break;
                };
                let Some(audit) = state
                    .code
                    .get_mut(&appid)
                    .and_then(|code| code.audits.iter_mut().rev().find(|a| a.auditid == auditid))
                else {
                    continue;
                };
                let delayed_then_passes = audit.status == audit_status::DELAYED
                    && matches!(
                        audit.script,
                        ReviewScript::Delay {
                            then_pass_after_secs: Some(_),
                            ..
                        }
                    );
                // Withdrawn (undocodeaudit) or ended already: nothing to do.
                if audit.status != audit_status::UNDER_REVIEW && !delayed_then_passes {
                    continue;
                }
                let (event, fields, again_at) = end_review(audit, now);
                if let Some(at) = again_at {
                    audit.resolves_at = at;
                    state.due_reviews.insert((at, auditid, appid.clone()));
                }
                events.push((appid, event, fields));
            }
        }
        for (appid, event, fields) in events {
            self.push_audit_event(&appid, event, &fields);
        }
        self.push_privacy_applications();
    }
}
