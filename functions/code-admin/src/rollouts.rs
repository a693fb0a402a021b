//! Rollouts through the admin API: `POST /admin/rollouts` (validated here, the targets resolved
//! and checked against the stored authorizers before anything is enqueued), the reads, pause,
//! resume, cancel and a target's retry. The work itself is `shared::rollout` and the worker.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use shared::authorizer::{Authorizer, AuthorizerStatus};
use shared::rollout::{
    PlatformRollouts, ReleasePolicy, Rollout, RolloutError, RolloutSpec, Target, TargetState,
};
use shared::store::{unix_now, ActionLog, AuthorizerStore};
use shared::wechat::templates::GetTemplateList;

use crate::errors::{invalid, AdminError};
use crate::routes::Op;
use crate::validate;
use crate::{Answer, CodeAdmin};

/// The most targets one rollout lists by appid.
const MAX_APPIDS: usize = 100_000;
/// The most gray steps.
const MAX_GRAY_STEPS: usize = 10;
/// The longest hold between gray steps: a week.
const MAX_HOLD_SECS: i64 = 7 * 86_400;

/// Which mini programs a rollout ships to: every eligible one, a list, or those whose stored
/// fields match.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsRequest {
    all: Option<bool>,
    appids: Option<Vec<String>>,
    #[serde(rename = "where")]
    matching: Option<Where>,
}

/// Stored fields a target must have (all given ones).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Where {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service_type: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verify_type: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    principal_name: Option<String>,
}

impl Where {
    fn matches(&self, a: &Authorizer) -> bool {
        self.service_type.is_none_or(|t| a.service_type == Some(t))
            && self.verify_type.is_none_or(|t| a.verify_type == Some(t))
            && self
                .principal_name
                .as_ref()
                .is_none_or(|p| &a.principal_name == p)
    }
}

/// The targets as validated: resolved against the stored authorizers when the call is made.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetSelector {
    All,
    Appids(Vec<String>),
    Where(Where),
}

/// `POST /admin/rollouts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutRequest {
    name: Option<String>,
    template_id: Option<i64>,
    user_version: Option<String>,
    user_desc: Option<String>,
    targets: Option<TargetsRequest>,
    ext: Option<Map<String, Value>>,
    release: Option<ReleasePolicy>,
    concurrency: Option<i64>,
    /// Resolve and check the targets, answer them, and create nothing (the console's preview).
    dry_run: Option<bool>,
}

/// A rollout's validated fields (what the action log records).
#[derive(Debug, Clone, Serialize)]
pub struct RolloutFields {
    pub spec: RolloutSpec,
    pub targets: TargetSelector,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

impl RolloutRequest {
    pub fn validate(self) -> Result<RolloutFields, AdminError> {
        let template_id = self
            .template_id
            .filter(|t| *t > 0)
            .ok_or_else(|| invalid("template_id", "required: a template of the library"))?;
        let user_version = self
            .user_version
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty() && v.chars().count() <= 64)
            .ok_or_else(|| invalid("user_version", "required: at most 64 characters"))?;
        let user_desc = self.user_desc.unwrap_or_default();
        if user_desc.chars().count() > 1024 {
            return Err(invalid("user_desc", "at most 1024 characters"));
        }
        let name = self
            .name
            .unwrap_or_else(|| format!("template {template_id} as {user_version}"));
        if name.trim().is_empty() || name.chars().count() > 100 {
            return Err(invalid("name", "1 to 100 characters"));
        }
        let ext = self.ext.unwrap_or_default();
        if Value::Object(ext.clone()).to_string().len() > validate::MAX_EXT_SETTINGS_BYTES {
            return Err(invalid(
                "ext",
                format!("at most {} bytes as JSON", validate::MAX_EXT_SETTINGS_BYTES),
            ));
        }
        let release = self.release.ok_or_else(|| {
            invalid(
                "release",
                "required: \"manual\", \"auto\" or {\"gray\": [10, 50, 100], \"hold_secs\": N}",
            )
        })?;
        if let ReleasePolicy::Gray { gray, hold_secs } = &release {
            let increasing = gray.windows(2).all(|w| w[0] < w[1]);
            if gray.is_empty()
                || gray.len() > MAX_GRAY_STEPS
                || !increasing
                || gray.iter().any(|p| !(1..=100).contains(p))
            {
                return Err(invalid(
                    "release.gray",
                    format!("1 to {MAX_GRAY_STEPS} increasing percentages from 1 to 100"),
                ));
            }
            if !(0..=MAX_HOLD_SECS).contains(hold_secs) {
                return Err(invalid(
                    "release.hold_secs",
                    format!("seconds from 0 to {MAX_HOLD_SECS}"),
                ));
            }
        }
        let concurrency = self.concurrency.unwrap_or(10);
        if !(1..=100).contains(&concurrency) {
            return Err(invalid("concurrency", "an integer from 1 to 100"));
        }
        let targets = targets(self.targets)?;
        Ok(RolloutFields {
            spec: RolloutSpec {
                name,
                template_id,
                user_version,
                user_desc,
                ext,
                standard_template: false,
                release,
                concurrency,
            },
            targets,
            dry_run: self.dry_run.unwrap_or(false),
        })
    }
}

fn targets(request: Option<TargetsRequest>) -> Result<TargetSelector, AdminError> {
    let rule = "exactly one of {\"all\": true}, {\"appids\": [...]} or {\"where\": {...}}";
    let request = request.ok_or_else(|| invalid("targets", format!("required: {rule}")))?;
    match (request.all, request.appids, request.matching) {
        (Some(true), None, None) => Ok(TargetSelector::All),
        (None, Some(appids), None) => {
            if appids.is_empty() || appids.len() > MAX_APPIDS {
                return Err(invalid(
                    "targets.appids",
                    format!("1 to {MAX_APPIDS} appids"),
                ));
            }
            let mut seen = HashSet::new();
            for (i, appid) in appids.iter().enumerate() {
                let at = |rule: String| AdminError::Invalid {
                    field: format!("targets.appids[{i}]").into(),
                    rule,
                };
                validate::appid(appid)
                    .map_err(|_| at("wx followed by 16 letters or digits".into()))?;
                if !seen.insert(appid.as_str()) {
                    return Err(at(format!("{appid} is listed twice")));
                }
            }
            Ok(TargetSelector::Appids(appids))
        }
        (None, None, Some(matching)) if matching != Where::default() => {
            Ok(TargetSelector::Where(matching))
        }
        _ => Err(invalid("targets", rule)),
    }
}

/// Why a mini program cannot be a target (None: it can).
fn ineligible(a: &Authorizer) -> Option<&'static str> {
    if a.status != AuthorizerStatus::Authorized {
        Some("not authorized (or must authorize again)")
    } else if !a.has_code_management() {
        Some("permission set 18 (code management) not granted")
    } else if a.test_account {
        Some("one of WeChat's go-live test accounts")
    } else {
        None
    }
}

impl From<RolloutError> for AdminError {
    fn from(err: RolloutError) -> Self {
        match err {
            RolloutError::Store(e) => Self::Store(e),
            RolloutError::Conflict { appid, rollout_id } => {
                Self::RolloutConflict { appid, rollout_id }
            }
            RolloutError::Queue(e) => Self::Component(format!("queue: {e}")),
            RolloutError::Transient(e) => e.into(),
        }
    }
}

fn rollout_json(rollout: &Rollout) -> Value {
    json!(rollout)
}

fn target_json(target: &Target) -> Value {
    let mut value = json!(target);
    if let Some(code) = target.errcode {
        value["meaning"] = json!(shared::wechat::Errcode::from_code(code).meaning());
    }
    value
}

fn state_of(query: &HashMap<String, String>) -> Result<Option<TargetState>, AdminError> {
    query
        .get("state")
        .map(|s| {
            TargetState::parse(s).ok_or_else(|| {
                let states: Vec<&str> = TargetState::ALL.iter().map(|s| s.as_str()).collect();
                invalid("state", format!("one of {}", states.join(", ")))
            })
        })
        .transpose()
}

impl<L: ActionLog + Sync> CodeAdmin<L> {
    fn rollouts(&self) -> Result<&PlatformRollouts, AdminError> {
        self.rollouts.as_ref().ok_or_else(|| {
            AdminError::Component("rollouts are not configured (ROLLOUT_QUEUE_URL)".into())
        })
    }

    fn rollout_id(params: &HashMap<String, String>) -> Result<&str, AdminError> {
        params
            .get("id")
            .map(String::as_str)
            .filter(|id| id.len() <= 40 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
            .ok_or_else(|| invalid("id", "a rollout id"))
    }

    async fn found(&self, id: &str) -> Result<Rollout, AdminError> {
        self.rollouts()?
            .store()
            .rollout(id)
            .await?
            .ok_or_else(|| AdminError::NotFound {
                method: "GET".into(),
                path: format!("/admin/rollouts/{id}"),
            })
    }

    /// The mini programs `selector` names, each checked: a listed one that cannot be a target
    /// is refused naming it; `all` and `where` take the eligible ones.
    async fn resolve(&self, selector: &TargetSelector) -> Result<Vec<String>, AdminError> {
        let authorizers = self.code.authorization().authorizers();
        // Mini programs whose onboarding's ICP filing is not approved: no release would pass.
        let unfiled = self.unfiled_appids().await?;
        if let TargetSelector::Appids(appids) = selector {
            for (i, appid) in appids.iter().enumerate() {
                let why = match authorizers.authorizer(appid).await? {
                    None => Some("no such authorizer"),
                    Some(_) if unfiled.contains(appid) => {
                        Some("ICP filing not approved: its onboarding must reach ready first")
                    }
                    Some(a) => ineligible(&a),
                };
                if let Some(why) = why {
                    return Err(AdminError::Invalid {
                        field: format!("targets.appids[{i}]").into(),
                        rule: format!("{appid}: {why}"),
                    });
                }
            }
            return Ok(appids.clone());
        }
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, next) = authorizers.authorizer_page(after.as_deref(), 500).await?;
            found.extend(
                page.iter()
                    .filter(|a| ineligible(a).is_none() && !unfiled.contains(&a.appid))
                    .filter(|a| match selector {
                        TargetSelector::Where(w) => w.matches(a),
                        _ => true,
                    })
                    .map(|a| a.appid.clone()),
            );
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        found.sort();
        if found.is_empty() {
            return Err(invalid(
                "targets",
                "no authorized mini program with permission set 18 matches",
            ));
        }
        Ok(found)
    }

    pub(crate) async fn create_rollout(
        &self,
        fields: RolloutFields,
        label: &str,
    ) -> Result<Answer, AdminError> {
        let rollouts = self.rollouts()?;
        let library = self
            .code
            .template_call(&GetTemplateList {
                template_type: None,
            })
            .await?;
        let template_id = fields.spec.template_id;
        if !library
            .template_list
            .iter()
            .any(|t| t.template_id == template_id)
        {
            return Err(invalid(
                "template_id",
                format!("template {template_id} is not in the template library"),
            ));
        }
        let spec = RolloutSpec {
            standard_template: self.code.is_standard_template(template_id).await?,
            ..fields.spec
        };
        let appids = self.resolve(&fields.targets).await?;
        let shown = 1000.min(appids.len());
        if fields.dry_run {
            return Ok(Answer::Json(json!({
                "dry_run": true,
                "target_count": appids.len(),
                "targets": &appids[..shown],
                "targets_truncated": appids.len() > shown,
            })));
        }
        let rollout = rollouts.create(spec, &appids, label).await?;
        Ok(Answer::Json(json!({
            "rollout": rollout_json(&rollout),
            "targets": &appids[..shown],
            "targets_truncated": appids.len() > shown,
        })))
    }

    /// A rollout with its targets counted per state, the submissions it used and what is left.
    async fn rollout_report(&self, id: &str) -> Result<Value, AdminError> {
        let rollout = self.found(id).await?;
        let store = self.rollouts()?.store();
        let mut counts = BTreeMap::new();
        for state in TargetState::ALL {
            counts.insert(state.as_str(), store.count_in_state(id, state).await?);
        }
        let submitted: i64 = [
            TargetState::Submitted,
            TargetState::Passed,
            TargetState::Gray,
            TargetState::Released,
            TargetState::Rejected,
        ]
        .iter()
        .map(|s| counts[s.as_str()])
        .sum();
        // From the targets themselves, not the rollout's running count.
        let done: i64 = TargetState::ALL
            .iter()
            .filter(|s| rollout.has_ended(**s))
            .map(|s| counts[s.as_str()])
            .sum();
        let left = rollout.target_count - done;
        let elapsed = unix_now() - rollout.created_at;
        let estimated_remaining_secs = (done > 0 && left > 0).then(|| elapsed * left / done);
        Ok(json!({
            "rollout": rollout_json(&rollout),
            "counts": counts,
            "quota_used": submitted,
            "done": done,
            "remaining": left,
            "estimated_remaining_secs": estimated_remaining_secs,
        }))
    }

    pub(crate) async fn read_rollouts(
        &self,
        op: Op,
        params: &HashMap<String, String>,
        query: &HashMap<String, String>,
    ) -> Result<Answer, AdminError> {
        let store = self.rollouts()?.store();
        let answer = match op {
            Op::ListRollouts => {
                let mut all = Vec::new();
                for status in shared::rollout::RolloutStatus::ALL {
                    all.extend(store.rollouts_with_status(status).await?);
                }
                all.sort_by(|a, b| b.id.cmp(&a.id));
                let all: Vec<Value> = all.iter().map(rollout_json).collect();
                json!({ "rollouts": all })
            }
            Op::GetRollout => self.rollout_report(Self::rollout_id(params)?).await?,
            _ => {
                let id = Self::rollout_id(params)?;
                self.found(id).await?;
                let limit = query
                    .get("limit")
                    .map(|l| validate::positive_int(l, "limit"))
                    .transpose()?
                    .unwrap_or(100)
                    .min(500) as i32;
                // The cursor is `<state>:<appid>`: pages go through the states in order.
                let (mut state, mut after) = match query.get("cursor") {
                    Some(c) => {
                        let (s, a) = c
                            .split_once(':')
                            .ok_or_else(|| invalid("cursor", "a cursor this route answered"))?;
                        let s = TargetState::parse(s)
                            .ok_or_else(|| invalid("cursor", "a cursor this route answered"))?;
                        (s, (!a.is_empty()).then(|| a.to_owned()))
                    }
                    None => (state_of(query)?.unwrap_or(TargetState::Pending), None),
                };
                let only = state_of(query)?;
                let mut targets = Vec::new();
                let next = loop {
                    let room = limit - targets.len() as i32;
                    let (page, next) = store
                        .targets_in_state(id, state, room, after.as_deref())
                        .await?;
                    targets.extend(page.iter().map(target_json));
                    let full = targets.len() as i32 >= limit;
                    match (next, full) {
                        (Some(n), true) => break Some(format!("{}:{n}", state.as_str())),
                        (Some(n), false) => after = Some(n),
                        (None, _) if only.is_some() => break None,
                        (None, full) => {
                            let at = TargetState::ALL
                                .iter()
                                .position(|s| *s == state)
                                .unwrap_or(0);
                            match TargetState::ALL.get(at + 1) {
                                Some(s) if full => break Some(format!("{}:", s.as_str())),
                                Some(s) => {
                                    state = *s;
                                    after = None;
                                }
                                None => break None,
                            }
                        }
                    }
                };
                json!({ "targets": targets, "next_cursor": next })
            }
        };
        Ok(Answer::Json(answer))
    }

    pub(crate) async fn change_rollout(
        &self,
        op: Op,
        params: &HashMap<String, String>,
        withdraw: bool,
    ) -> Result<Answer, AdminError> {
        let rollouts = self.rollouts()?;
        let id = Self::rollout_id(params)?;
        let current = self.found(id).await?;
        let moved = match op {
            Op::PauseRollout => rollouts.pause(id).await?,
            Op::ResumeRollout => rollouts.resume(id).await?,
            Op::CancelRollout => rollouts.cancel(id, withdraw).await?,
            _ => {
                let appid = params.get("appid").map(String::as_str).unwrap_or("");
                let target = rollouts.retry(id, appid).await?.ok_or_else(|| {
                    AdminError::Refused(shared::code_release::CodeError::Conflict(format!(
                        "{appid} is not a rejected, failed or cancelled target of rollout {id}"
                    )))
                })?;
                return Ok(Answer::Json(json!({ "target": target_json(&target) })));
            }
        };
        let moved = moved.ok_or_else(|| {
            AdminError::Refused(shared::code_release::CodeError::Conflict(format!(
                "rollout {id} is {}: {op:?} does not apply",
                current.status.as_str()
            )))
        })?;
        Ok(Answer::Json(json!({ "rollout": rollout_json(&moved) })))
    }
}

/// `POST /admin/rollouts/{id}/cancel`: `withdraw` withdraws reviews under way (undocodeaudit).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    withdraw: Option<bool>,
}

impl CancelRequest {
    pub fn validate(self) -> Result<bool, AdminError> {
        Ok(self.withdraw.unwrap_or(false))
    }
}
