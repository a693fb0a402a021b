//! Authorizer access tokens, refreshed with conditional writes (a version check, and no live lease
//! of anyone else), so that overlapping runs or on-demand refreshes never replace a newer token with
//! an older one or drop a rotated refresh token (reference §4.6).
//!
//! * On demand (and reconcile): the item's lease, which returns the item, then the save: two
//!   requests, and concurrent callers make one WeChat call.
//! * Scheduled: the run leases whole index shards; the index carries the refresh token and version,
//!   so each authorizer costs the one conditional save.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use crate::authorization::AuthorizationService;
use crate::authorizer::AuthorizerStatus;
use crate::component::ComponentError;
use crate::store::{
    lease, unix_now, AuthCodeStore, AuthorizerStore, ComponentTokenStore, DueAuthorizer,
    RefreshedTokens, StoreError, TicketStore,
};
use crate::wechat::{Errcode, WechatError};

const LEASE_SECS: i64 = 30;
/// Attempts of one api_authorizer_token call on -1, 5xx and timeouts.
const ATTEMPTS: u32 = 3;

#[derive(Debug, Deserialize)]
struct AuthorizerTokenAnswer {
    authorizer_access_token: SecretString,
    expires_in: i64,
    authorizer_refresh_token: SecretString,
}

/// Why an authorizer was not refreshed (a skip is not a failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// Its token is valid beyond the margin (another run got there first).
    NotDue,
    /// Another instance holds the refresh lease.
    Leased,
    /// Unauthorized, reauthorization required, or unknown.
    NotAuthorized,
    /// Its token version changed under the lease (a new authorization): the newer state stands.
    Superseded,
}

/// The outcome of refreshing one authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    Refreshed {
        expires_at: i64,
    },
    Skipped(Skip),
    /// 61023: marked `reauthorization_required`.
    ReauthorizationRequired,
    /// Not refreshed this time; the reason is recorded on the item.
    Failed {
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// 45009: WeChat's daily quota of api_authorizer_token is used up; stop for now.
    #[error("WeChat's daily quota is exhausted (45009)")]
    QuotaExhausted,
    #[error("authorizer {0} is not authorized (or needs to authorize again)")]
    NotAuthorized(String),
    #[error("authorizer {appid}: {reason}")]
    RefreshFailed { appid: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn failure_reason(err: &ComponentError) -> String {
    match err.wechat() {
        Some(WechatError::Api { errcode, .. }) => format!("errcode_{}", errcode.code()),
        Some(WechatError::Http(status)) => format!("http_{status}"),
        Some(WechatError::Transport(_)) => "unreachable".into(),
        Some(WechatError::Decode(_)) => "bad_answer".into(),
        None => match err {
            ComponentError::NoTicket | ComponentError::TicketTooOld { .. } => {
                "no_component_token".into()
            }
            ComponentError::RefreshInProgress => "component_token_busy".into(),
            _ => "storage".into(),
        },
    }
}

impl<S, A> AuthorizationService<S, A>
where
    S: ComponentTokenStore + TicketStore + AuthCodeStore + Sync,
    A: AuthorizerStore + Sync,
{
    /// Refreshes `appid`'s access token if it expires within `margin` seconds, under the item's
    /// lease (on demand, reconcile): one request to lease and read, one to save.
    pub async fn refresh_authorizer(
        &self,
        appid: &str,
        margin: i64,
    ) -> Result<Refresh, TokenError> {
        let owner = lease::new_owner();
        let now = unix_now();
        let Some(current) = self
            .authorizers()
            .lease_authorizer(appid, &owner, now, now + LEASE_SECS)
            .await?
        else {
            return Ok(Refresh::Skipped(Skip::Leased));
        };
        let skip = if current.status != AuthorizerStatus::Authorized {
            Some(Skip::NotAuthorized)
        } else if current.access_token.is_some()
            && current
                .access_token_expires_at
                .is_some_and(|e| e > now + margin)
        {
            Some(Skip::NotDue)
        } else {
            None
        };
        if let Some(skip) = skip {
            self.authorizers()
                .release_authorizer_lease(appid, &owner, None)
                .await?;
            return Ok(Refresh::Skipped(skip));
        }
        self.refresh_from(
            appid,
            current.refresh_token,
            current.token_version,
            Some(&owner),
        )
        .await
    }

    /// Refreshes an authorizer found due in the `token_expiry` index (the scheduled run, which
    /// leases whole shards): one conditional write, refused if its version moved or someone holds
    /// its lease.
    pub async fn refresh_due(&self, due: &DueAuthorizer) -> Result<Refresh, TokenError> {
        if due.lease_until.is_some_and(|until| until >= unix_now()) {
            return Ok(Refresh::Skipped(Skip::Leased));
        }
        self.refresh_from(
            &due.appid,
            due.refresh_token.clone(),
            due.token_version,
            None,
        )
        .await
    }

    /// Calls api_authorizer_token and saves conditionally; `owner` is the item lease held, if any.
    async fn refresh_from(
        &self,
        appid: &str,
        refresh_token: Option<SecretString>,
        token_version: i64,
        owner: Option<&str>,
    ) -> Result<Refresh, TokenError> {
        let Some(refresh_token) = refresh_token else {
            return self.failed(appid, owner, "no_refresh_token".into()).await;
        };
        match self.call_authorizer_token(appid, &refresh_token).await {
            Ok(answer) => {
                let refreshed_at = unix_now();
                let tokens = RefreshedTokens {
                    access_token: answer.authorizer_access_token,
                    expires_at: refreshed_at + answer.expires_in,
                    refresh_token: answer.authorizer_refresh_token,
                    refreshed_at,
                };
                if self
                    .authorizers()
                    .save_tokens(appid, token_version, owner, &tokens)
                    .await?
                {
                    return Ok(Refresh::Refreshed {
                        expires_at: tokens.expires_at,
                    });
                }
                tracing::warn!(
                    appid,
                    "authorizer changed during the refresh; its newer state stands"
                );
                if let Some(owner) = owner {
                    self.authorizers()
                        .release_authorizer_lease(appid, owner, None)
                        .await?;
                }
                Ok(Refresh::Skipped(Skip::Superseded))
            }
            Err(e)
                if e.wechat().and_then(WechatError::errcode)
                    == Some(Errcode::RefreshTokenInvalid) =>
            {
                tracing::warn!(
                    appid,
                    "refresh token refused (61023): the owner must authorize again"
                );
                self.authorizers()
                    .mark_reauthorization_required(appid, unix_now())
                    .await?;
                Ok(Refresh::ReauthorizationRequired)
            }
            Err(e)
                if e.wechat().and_then(WechatError::errcode)
                    == Some(Errcode::DailyQuotaReached) =>
            {
                self.failed(appid, owner, "errcode_45009".into()).await?;
                Err(TokenError::QuotaExhausted)
            }
            Err(e) => {
                let reason = failure_reason(&e);
                tracing::error!(appid, error = %e, reason, "authorizer token not refreshed");
                self.failed(appid, owner, reason).await
            }
        }
    }

    /// Records a failed refresh (and frees the lease, if held); nothing else changes.
    async fn failed(
        &self,
        appid: &str,
        owner: Option<&str>,
        reason: String,
    ) -> Result<Refresh, TokenError> {
        match owner {
            Some(owner) => {
                self.authorizers()
                    .release_authorizer_lease(appid, owner, Some(&reason))
                    .await?
            }
            None => {
                self.authorizers()
                    .record_refresh_error(appid, &reason)
                    .await?
            }
        }
        Ok(Refresh::Failed { reason })
    }

    /// api_authorizer_token, retried with backoff on -1, 5xx and timeouts.
    async fn call_authorizer_token(
        &self,
        appid: &str,
        refresh_token: &SecretString,
    ) -> Result<AuthorizerTokenAnswer, ComponentError> {
        use secrecy::ExposeSecret;
        let body = json!({
            "component_appid": self.component().appid(),
            "authorizer_appid": appid,
            "authorizer_refresh_token": refresh_token.expose_secret(),
        });
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            match self
                .component()
                .post("/cgi-bin/component/api_authorizer_token", body.clone())
                .await
            {
                Err(e)
                    if attempt < ATTEMPTS && e.wechat().is_some_and(WechatError::is_transient) =>
                {
                    tracing::warn!(appid, attempt, error = %e, "api_authorizer_token failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The authorizer's access token for a call now (code-admin): the stored one while valid for
    /// another minute, else refreshed inline under the same lease and conditional write.
    pub async fn authorizer_access_token(&self, appid: &str) -> Result<SecretString, TokenError> {
        const MARGIN: i64 = 60;
        for _ in 0..50 {
            let stored = self
                .authorizers()
                .authorizer(appid)
                .await?
                .filter(|a| a.status == AuthorizerStatus::Authorized)
                .ok_or_else(|| TokenError::NotAuthorized(appid.to_owned()))?;
            if let (Some(token), Some(expires_at)) =
                (&stored.access_token, stored.access_token_expires_at)
            {
                if expires_at > unix_now() + MARGIN {
                    return Ok(token.clone());
                }
            }
            match self.refresh_authorizer(appid, MARGIN).await? {
                Refresh::Refreshed { .. }
                | Refresh::Skipped(Skip::NotDue)
                | Refresh::Skipped(Skip::Superseded) => {}
                Refresh::Skipped(Skip::Leased) => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Refresh::Skipped(Skip::NotAuthorized) | Refresh::ReauthorizationRequired => {
                    return Err(TokenError::NotAuthorized(appid.to_owned()))
                }
                Refresh::Failed { reason } => {
                    return Err(TokenError::RefreshFailed {
                        appid: appid.to_owned(),
                        reason,
                    })
                }
            }
        }
        Err(TokenError::RefreshFailed {
            appid: appid.to_owned(),
            reason: "refresh_lease_busy".into(),
        })
    }
}
