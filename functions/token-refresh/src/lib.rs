//! token-refresh: on an EventBridge schedule, keeps the component token and every authorizer's
//! access token fresh; `{"mode":"reconcile"}` compares the authorizers with WeChat's list.
//!
//! * ticket watchdog: no ticket, the newest older than `TICKET_WATCHDOG_SECS` or dated in the
//!   future → api_start_push_ticket (the pushed ticket replaces a future-dated one);
//! * the component token, when it expires within `COMPONENT_REFRESH_MARGIN_SECS`, by the leased path;
//! * every authorizer whose token expires within `REFRESH_MARGIN_SECS`, found by a Query on the
//!   `token_expiry` index (16 shards), refreshed `REFRESH_CONCURRENCY` at a time, each under a lease
//!   with a conditional write; 45009 stops the run, 61023 marks the authorizer;
//! * a JSON summary, logged (the line `token refresh summary`) and returned.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures::stream::{self, StreamExt};
use lambda_runtime::Error;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::authorization::AuthorizationService;
use shared::authorizer::{Authorizer, AuthorizerStatus};
use shared::authorizer_list::ListedAuthorizer;
use shared::authorizer_token::{Refresh, Skip, TokenError};
use shared::config::{whole_number, ConfigError};
use shared::platform::Platform;
use shared::push::is_future_dated;
use shared::store::authorizers::TOKEN_SHARDS;
use shared::store::LeaseTerms;
use shared::store::{
    lease, unix_now, AuthorizationRecords, AuthorizerStore, DueAuthorizer, DynamoAuthorizerStore,
    DynamoTicketStore, RefreshRun, RefreshRunStore, RefreshShardLease, StoreError,
};

/// The run's settings, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshSettings {
    pub margin_secs: i64,
    pub component_margin_secs: i64,
    pub concurrency: usize,
    pub ticket_watchdog_secs: i64,
}

impl RefreshSettings {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let number = |name, default, min| whole_number(&get, name, default, min);
        Ok(Self {
            margin_secs: number("REFRESH_MARGIN_SECS", 1800, 60)?,
            component_margin_secs: number("COMPONENT_REFRESH_MARGIN_SECS", 1800, 60)?,
            concurrency: number("REFRESH_CONCURRENCY", 16, 1)? as usize,
            ticket_watchdog_secs: number("TICKET_WATCHDOG_SECS", 1800, 60)?,
        })
    }
}

/// Which run: the scheduled refresh, or the daily reconcile against WeChat's list.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Refresh,
    Reconcile,
}

/// The event EventBridge sends: `{"mode":"reconcile"}`, or anything else for a refresh.
#[derive(Debug, Default, Deserialize)]
struct Event {
    #[serde(default)]
    mode: Mode,
}

/// What the ticket watchdog found.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// Not looked at (reconcile).
    #[default]
    Unchecked,
    /// A ticket recent enough.
    Ok,
    /// None, too old or dated in the future: api_start_push_ticket was called.
    Restarted { newest_age_secs: Option<i64> },
    /// The tickets table could not be read.
    Unknown { error: String },
}

/// Whether the run had a component token (authorizer tokens are bought with it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ComponentTokenState {
    #[default]
    Unchecked,
    Valid,
    Failed {
        error: String,
    },
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    pub mode: Mode,
    pub ticket: TicketState,
    pub component_token: ComponentTokenState,
    pub due: u64,
    pub refreshed: u64,
    pub reauthorization_required: u64,
    pub skipped: BTreeMap<String, u64>,
    pub failed: BTreeMap<String, u64>,
    pub quota_exhausted: bool,
    /// Reconcile mode: authorizers WeChat lists, refresh tokens restored (WeChat's listed one
    /// taken), ours not listed, authorizers whose details and permission sets were fetched again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_listed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<u64>,
    pub duration_ms: u64,
}

impl Summary {
    pub fn failures(&self) -> u64 {
        self.failed.values().sum()
    }
}

fn skip_name(skip: Skip) -> &'static str {
    match skip {
        Skip::NotDue => "not_due",
        Skip::Leased => "leased",
        Skip::NotAuthorized => "not_authorized",
        Skip::Superseded => "superseded",
    }
}

/// A shard lease lasts one schedule interval; a run that dies blocks its shards no longer.
const SHARD_LEASE_SECS: i64 = 600;

/// One authorizer to refresh: found in the index (scheduled), or by appid under its own lease.
enum Work {
    Due(DueAuthorizer),
    Leased(String),
}

pub struct Refresher<S, A> {
    service: AuthorizationService<S, A>,
    settings: RefreshSettings,
}

impl Refresher<DynamoTicketStore, DynamoAuthorizerStore> {
    pub fn from_platform(platform: &Platform, settings: RefreshSettings) -> Self {
        Self::new(platform.authorization_service(), settings)
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = RefreshSettings::from_lookup(|name| std::env::var(name).ok())?;
        Ok(Self::from_platform(&Platform::from_env().await?, settings))
    }
}

impl<S, A> Refresher<S, A>
where
    S: AuthorizationRecords + RefreshShardLease,
    A: AuthorizerStore + Sync,
{
    pub fn new(service: AuthorizationService<S, A>, settings: RefreshSettings) -> Self {
        Self { service, settings }
    }

    /// Restarts ticket pushing when the newest ticket is older than the watchdog allows, or dated
    /// in the future (stored before ticket-receive bounded CreateTime; the ticket store lets the
    /// next pushed ticket replace it).
    async fn ticket_watchdog(&self) -> Result<TicketState, StoreError> {
        let component = self.service.component();
        let newest = component.store().verify_ticket(component.appid()).await?;
        let now = unix_now();
        let age = newest.map(|t| now - t.current.create_time);
        match age {
            Some(age)
                if age <= self.settings.ticket_watchdog_secs
                    && !is_future_dated(now - age, now) =>
            {
                Ok(TicketState::Ok)
            }
            _ => {
                tracing::warn!(age_secs = ?age, "component_verify_ticket is missing or stale; restarting ticket pushes");
                component.restart_ticket_push().await;
                Ok(TicketState::Restarted {
                    newest_age_secs: age,
                })
            }
        }
    }

    /// Leases every shard of the index not leased by an overlapping run and reads what is due in
    /// them; returns the due authorizers and the shards held.
    async fn lease_and_read_due(
        &self,
        owner: &str,
        summary: &mut Summary,
    ) -> Result<(Vec<DueAuthorizer>, Vec<i64>), StoreError> {
        let component = self.service.component();
        let now = unix_now();
        let mut held = Vec::new();
        for shard in 0..TOKEN_SHARDS as i64 {
            if component
                .store()
                .lease_refresh_shard(
                    component.appid(),
                    shard,
                    LeaseTerms::from_now(owner, now, SHARD_LEASE_SECS),
                )
                .await?
            {
                held.push(shard);
            } else {
                *summary
                    .skipped
                    .entry("shard_leased_by_another_run".into())
                    .or_default() += 1;
            }
        }
        let until = now + self.settings.margin_secs;
        let reads = held
            .iter()
            .map(|shard| self.service.authorizers().due_authorizers(*shard, until));
        let mut due = Vec::new();
        for shard in futures::future::join_all(reads).await {
            due.extend(shard?);
        }
        Ok((due, held))
    }

    async fn release_shards(&self, owner: &str, held: &[i64]) {
        let component = self.service.component();
        for shard in held {
            if let Err(e) = component
                .store()
                .release_refresh_shard(component.appid(), *shard, owner)
                .await
            {
                tracing::warn!(shard, error = %e, "shard lease not released; it expires by itself");
            }
        }
    }

    /// Refreshes each one, `concurrency` at a time; stops starting new ones after a 45009.
    async fn refresh_each(&self, work: Vec<Work>, summary: &mut Summary) {
        let stop = AtomicBool::new(false);
        let margin = self.settings.margin_secs;
        let results: Vec<Result<Refresh, TokenError>> = stream::iter(work)
            .map(|work| {
                let stop = &stop;
                async move {
                    if stop.load(Ordering::Relaxed) {
                        return Err(TokenError::QuotaExhausted);
                    }
                    let result = match &work {
                        Work::Due(due) => self.service.refresh_due(due).await,
                        Work::Leased(appid) => self.service.refresh_authorizer(appid, margin).await,
                    };
                    let appid = match &work {
                        Work::Due(due) => due.appid.as_str(),
                        Work::Leased(appid) => appid.as_str(),
                    };
                    self.record_refresh_event(appid, &result).await;
                    if matches!(result, Err(TokenError::QuotaExhausted)) {
                        stop.store(true, Ordering::Relaxed);
                    }
                    result
                }
            })
            .buffer_unordered(self.settings.concurrency)
            .collect()
            .await;
        for result in results {
            match result {
                Ok(Refresh::Refreshed { .. }) => summary.refreshed += 1,
                Ok(Refresh::Skipped(skip)) => {
                    *summary.skipped.entry(skip_name(skip).into()).or_default() += 1
                }
                Ok(Refresh::ReauthorizationRequired) => summary.reauthorization_required += 1,
                Ok(Refresh::Failed { reason }) => *summary.failed.entry(reason).or_default() += 1,
                Err(TokenError::QuotaExhausted) => {
                    summary.quota_exhausted = true;
                    *summary.skipped.entry("quota_exhausted".into()).or_default() += 1;
                }
                Err(e) => *summary.failed.entry(error_reason(&e)).or_default() += 1,
            }
        }
    }

    /// The platform event of a refresh that needs someone: the owner must authorize again, or the
    /// refresh failed (the business's services hear of it on the bus, README "Events"). Keyed by
    /// the authorizer and the 10-minute run, so a retried write is the same event; a failure to
    /// record it is logged and changes nothing else.
    async fn record_refresh_event(&self, appid: &str, result: &Result<Refresh, TokenError>) {
        let Some(events) = self.service.events() else {
            return;
        };
        let run = unix_now() / SHARD_LEASE_SECS;
        let (kind, key, fields) = match result {
            Ok(Refresh::ReauthorizationRequired) => (
                "platform.authorizer.reauthorization_required",
                format!("{appid}#reauthorization_required#{run}"),
                serde_json::json!({ "errcode": 61023 }),
            ),
            Ok(Refresh::Failed { reason }) => (
                "platform.token_refresh.failed",
                format!("{appid}#{reason}#{run}"),
                serde_json::json!({ "reason": reason }),
            ),
            Err(TokenError::QuotaExhausted) | Ok(_) => return,
            Err(e) => {
                let reason = error_reason(e);
                let key = format!("{appid}#{reason}#{run}");
                (
                    "platform.token_refresh.failed",
                    key,
                    serde_json::json!({ "reason": reason }),
                )
            }
        };
        if let Err(e) =
            shared::store::record_platform_event(events, kind, Some(appid), &key, fields).await
        {
            tracing::warn!(appid, kind, error = %e, "platform event not recorded");
        }
    }

    /// The scheduled run.
    pub async fn refresh_all(&self) -> Summary {
        let started = Instant::now();
        let mut summary = Summary {
            mode: Mode::Refresh,
            ..Summary::default()
        };
        summary.ticket = self
            .ticket_watchdog()
            .await
            .unwrap_or_else(|e| TicketState::Unknown {
                error: e.to_string(),
            });
        match self
            .service
            .component()
            .token_with_margin(self.settings.component_margin_secs)
            .await
        {
            Ok(_) => summary.component_token = ComponentTokenState::Valid,
            Err(e) => {
                tracing::error!(error = %e, "no component token: authorizer tokens cannot be refreshed this run");
                summary.component_token = ComponentTokenState::Failed {
                    error: e.to_string(),
                };
            }
        }
        let owner = lease::new_owner();
        match self.lease_and_read_due(&owner, &mut summary).await {
            Ok((due, held)) => {
                summary.due = due.len() as u64;
                if summary.component_token == ComponentTokenState::Valid {
                    self.refresh_each(due.into_iter().map(Work::Due).collect(), &mut summary)
                        .await;
                } else if !due.is_empty() {
                    summary
                        .failed
                        .insert("no_component_token".into(), due.len() as u64);
                }
                self.release_shards(&owner, &held).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "due authorizers could not be read");
                summary.failed.insert("storage".into(), 1);
            }
        }
        finish(summary, started)
    }

    /// Reconcile mode: WeChat's list against ours. Wherever WeChat lists a refresh token other
    /// than the stored one (or we lack the authorizer), WeChat's is taken and the authorizer
    /// refreshed at once; restored authorizers, and any without details or permission sets, get
    /// them from api_get_authorizer_info; authorizers WeChat no longer lists are flagged, never
    /// deleted.
    pub async fn reconcile(&self) -> Summary {
        let started = Instant::now();
        let mut summary = Summary {
            mode: Mode::Reconcile,
            ..Summary::default()
        };
        let listed = match self.service.component().authorizer_list().await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::error!(error = %e, "api_get_authorizer_list failed");
                summary.failed.insert("authorizer_list".into(), 1);
                return finish(summary, started);
            }
        };
        let ours = match self.service.authorizers().all_authorizers().await {
            Ok(ours) => ours,
            Err(e) => {
                tracing::error!(error = %e, "authorizers could not be read");
                summary.failed.insert("storage".into(), 1);
                return finish(summary, started);
            }
        };
        let plan = match self.compare(&listed, &ours).await {
            Ok(plan) => plan,
            Err(e) => {
                tracing::error!(error = %e, "reconcile could not write");
                summary.failed.insert("storage".into(), 1);
                return finish(summary, started);
            }
        };
        summary.listed = Some(listed.len() as u64);
        summary.restored = Some(plan.to_refresh.len() as u64);
        summary.not_listed = Some(plan.not_listed);
        summary.due = plan.to_refresh.len() as u64;
        self.refresh_each(
            plan.to_refresh.into_iter().map(Work::Leased).collect(),
            &mut summary,
        )
        .await;
        let mut details = 0;
        for appid in &plan.need_details {
            match self.service.add_details(appid, true).await {
                Ok(true) => details += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(appid, error = %e, "details not fetched");
                    *summary.failed.entry("authorizer_info".into()).or_default() += 1;
                }
            }
        }
        summary.details = Some(details);
        finish(summary, started)
    }

    /// Applies WeChat's list to ours: refresh tokens taken, unknown authorizers created, ours
    /// missing from the list flagged.
    async fn compare(
        &self,
        listed: &HashMap<String, ListedAuthorizer>,
        ours: &[Authorizer],
    ) -> Result<ReconcilePlan, StoreError> {
        let store = self.service.authorizers();
        let now = unix_now();
        let mut plan = ReconcilePlan::default();
        // Reauthorization-required authorizers WeChat still lists with another token were marked
        // on a token WeChat had replaced: they come back too.
        for authorizer in ours.iter().filter(|a| {
            matches!(
                a.status,
                AuthorizerStatus::Authorized | AuthorizerStatus::ReauthorizationRequired
            )
        }) {
            let appid = &authorizer.appid;
            let Some(entry) = listed.get(appid) else {
                if authorizer.status == AuthorizerStatus::Authorized {
                    tracing::warn!(appid, "authorizer not listed by WeChat any more");
                    store.flag_not_listed(appid, now).await?;
                    plan.not_listed += 1;
                }
                continue;
            };
            let stored = authorizer.refresh_token.as_ref();
            let mut authorized = authorizer.status == AuthorizerStatus::Authorized;
            if let Some(token) = entry
                .refresh_token
                .as_ref()
                .filter(|listed| stored.is_none_or(|s| s.expose_secret() != listed.expose_secret()))
            {
                if store
                    .adopt_refresh_token(appid, stored, token, now)
                    .await?
                    .is_some()
                {
                    tracing::info!(appid, "refresh token taken from WeChat's list");
                    plan.to_refresh.push(appid.clone());
                    plan.need_details.push(appid.clone());
                    authorized = true;
                    continue;
                }
            }
            if authorized
                && (authorizer.permission_sets.is_empty() || authorizer.user_name.is_empty())
            {
                plan.need_details.push(appid.clone());
            }
        }
        let known: HashSet<&str> = ours.iter().map(|a| a.appid.as_str()).collect();
        for entry in listed
            .values()
            .filter(|l| !known.contains(l.authorizer_appid.as_str()))
        {
            let Some(token) = &entry.refresh_token else {
                tracing::warn!(
                    appid = entry.authorizer_appid,
                    "WeChat lists an authorizer we never stored, without a refresh token"
                );
                continue;
            };
            let record = Authorizer::listed(
                entry.authorizer_appid.clone(),
                token.clone(),
                entry.auth_time.unwrap_or(now),
            );
            store.save_authorization(&record).await?;
            tracing::info!(
                appid = entry.authorizer_appid,
                "authorizer we never stored restored from WeChat's list"
            );
            plan.to_refresh.push(entry.authorizer_appid.clone());
            plan.need_details.push(entry.authorizer_appid.clone());
        }
        Ok(plan)
    }
}

/// What reconcile does after comparing the lists.
#[derive(Debug, Default)]
struct ReconcilePlan {
    /// Refresh tokens taken from WeChat's list (or authorizers created): refreshed now.
    to_refresh: Vec<String>,
    /// Restored, or stored without details or permission sets: api_get_authorizer_info.
    need_details: Vec<String>,
    not_listed: u64,
}

fn error_reason(err: &TokenError) -> String {
    match err {
        TokenError::Store(_) => "storage".into(),
        TokenError::NotAuthorized(_) => "not_authorized".into(),
        TokenError::RefreshFailed { reason, .. } => reason.clone(),
        TokenError::QuotaExhausted => "errcode_45009".into(),
    }
}

fn finish(mut summary: Summary, started: Instant) -> Summary {
    summary.duration_ms = started.elapsed().as_millis() as u64;
    let json = serde_json::to_string(&summary).unwrap_or_default();
    if summary.failures() > 0
        || summary.quota_exhausted
        || matches!(summary.component_token, ComponentTokenState::Failed { .. })
    {
        tracing::warn!(summary = %json, failures = summary.failures(), "token refresh summary");
    } else {
        tracing::info!(summary = %json, failures = 0, "token refresh summary");
    }
    summary
}

/// The Lambda handler: `{"mode":"reconcile"}` reconciles; anything else refreshes.
pub async fn handle<S, A>(refresher: &Refresher<S, A>, event: Value) -> Result<Value, Error>
where
    S: AuthorizationRecords + RefreshShardLease + RefreshRunStore,
    A: AuthorizerStore + Sync,
{
    let mode = serde_json::from_value::<Event>(event)
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "event not understood: refreshing");
            Event::default()
        })
        .mode;
    let summary = match mode {
        Mode::Reconcile => refresher.reconcile().await,
        Mode::Refresh => refresher.refresh_all().await,
    };
    refresher.record_run(&summary).await;
    Ok(serde_json::to_value(summary)?)
}

impl Summary {
    /// What the platform-health route shows: the counts and the reasons' names; the errors' text
    /// (which may hold WeChat's or AWS's messages) stays in the logs.
    pub fn for_operators(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        for field in ["ticket", "component_token"] {
            if let Some(Value::Object(state)) = value.get_mut(field) {
                for detail in state.values_mut() {
                    if let Value::Object(inner) = detail {
                        inner.remove("error");
                    }
                }
            }
        }
        value
    }
}

impl<S, A> Refresher<S, A>
where
    S: AuthorizationRecords + RefreshShardLease + RefreshRunStore,
    A: AuthorizerStore + Sync,
{
    /// Keeps the run for the platform-health route; a failure to keep it fails nothing else.
    async fn record_run(&self, summary: &Summary) {
        let component = self.service.component();
        let run = RefreshRun {
            finished_at: unix_now(),
            summary: summary.for_operators(),
        };
        if let Err(e) = component
            .store()
            .save_refresh_run(component.appid(), &run)
            .await
        {
            tracing::warn!(error = %e, "the run's summary was not kept for the platform-health route");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_have_defaults_and_are_checked() {
        let defaults = RefreshSettings::from_lookup(|_| None).unwrap();
        assert_eq!(
            defaults,
            RefreshSettings {
                margin_secs: 1800,
                component_margin_secs: 1800,
                concurrency: 16,
                ticket_watchdog_secs: 1800
            }
        );
        let err =
            RefreshSettings::from_lookup(|n| (n == "REFRESH_CONCURRENCY").then(|| "0".into()))
                .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "REFRESH_CONCURRENCY",
                ..
            }
        ));
        let err =
            RefreshSettings::from_lookup(|n| (n == "REFRESH_MARGIN_SECS").then(|| "soon".into()))
                .unwrap_err();
        assert!(err.to_string().contains("REFRESH_MARGIN_SECS"));
    }
}
