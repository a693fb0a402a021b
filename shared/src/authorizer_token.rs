//! Authorizer access tokens, refreshed with conditional writes (a version check, and no live lease
//! of anyone else), so that overlapping runs or on-demand refreshes never replace a newer token with
//! an older one or drop a rotated refresh token ("获取/刷新接口调用令牌" (api_authorizer_token)).
//!
//! * On demand (and reconcile): the item's lease, which returns the item, then the save: two
//!   requests, and concurrent callers make one WeChat call.
//! * Scheduled: the run leases whole index shards; the index carries the refresh token and version,
//!   so each authorizer costs the one conditional save.

use crate::store::LeaseTerms;
use std::time::Duration;

use secrecy::SecretString;

use crate::authorization::AuthorizationService;
use crate::authorizer::AuthorizerStatus;
use crate::component::ComponentError;
use crate::retry::{poll_until, Backoff, Poll};
use crate::store::{
    lease, unix_now, AuthorizationRecords, AuthorizerStore, DueAuthorizer, RefreshedTokens,
    StoreError,
};
use crate::wechat::component::{AuthorizerToken, AuthorizerTokenAnswer};
use crate::wechat::{Errcode, WechatError};

const LEASE_SECS: i64 = 30;
/// Attempts of one api_authorizer_token call on -1, 5xx and timeouts.
const ATTEMPTS: u32 = 3;

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

/// When a stored access token is still good enough not to refresh.
#[derive(Clone, Copy)]
enum Due<'a> {
    /// It expires within this many seconds.
    Within(i64),
    /// WeChat refused this one: any other token valid for another minute stands.
    Replacing(&'a SecretString),
}

impl Due<'_> {
    /// The stored token of `current` does (no refresh needed).
    fn is_met_by(self, current: &crate::authorizer::Authorizer, now: i64) -> bool {
        let (margin, refused) = match self {
            Self::Within(margin) => (margin, None),
            Self::Replacing(refused) => (MIN_VALIDITY, Some(refused)),
        };
        current.access_token.as_ref().is_some_and(|token| {
            !refused.is_some_and(|r| same_secret(r, token))
                && current
                    .access_token_expires_at
                    .is_some_and(|e| e > now + margin)
        })
    }
}

/// An authorizer access token and when it expires (Unix seconds).
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: SecretString,
    pub expires_at: i64,
}

/// A token handed out for a call now is valid for at least this long.
const MIN_VALIDITY: i64 = 60;

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

/// Compares two tokens (not secret from each other: both are ours).
fn same_secret(a: &SecretString, b: &SecretString) -> bool {
    use secrecy::ExposeSecret;
    a.expose_secret() == b.expose_secret()
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
    S: AuthorizationRecords,
    A: AuthorizerStore + Sync,
{
    /// Refreshes `appid`'s access token if it expires within `margin` seconds, under the item's
    /// lease (on demand, reconcile): one request to lease and read, one to save.
    pub async fn refresh_authorizer(
        &self,
        appid: &str,
        margin: i64,
    ) -> Result<Refresh, TokenError> {
        self.refresh_leased(appid, Due::Within(margin)).await
    }

    /// WeChat refused `refused` (40001 / 42001): refreshes under the item's lease unless the
    /// stored token is already another one, valid for another minute (a concurrent caller's
    /// refresh replaced it): callers refused at once make one WeChat call between them.
    pub async fn refresh_refused(
        &self,
        appid: &str,
        refused: &SecretString,
    ) -> Result<Refresh, TokenError> {
        self.refresh_leased(appid, Due::Replacing(refused)).await
    }

    async fn refresh_leased(&self, appid: &str, due: Due<'_>) -> Result<Refresh, TokenError> {
        let owner = lease::new_owner();
        let now = unix_now();
        let Some(current) = self
            .authorizers()
            .lease_authorizer(appid, LeaseTerms::from_now(&owner, now, LEASE_SECS))
            .await?
        else {
            return Ok(Refresh::Skipped(Skip::Leased));
        };
        let skip = if current.status != AuthorizerStatus::Authorized {
            Some(Skip::NotAuthorized)
        } else if due.is_met_by(&current, now) {
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
        let Some(mut sent) = refresh_token else {
            return self.failed(appid, owner, "no_refresh_token".into()).await;
        };
        let mut version = token_version;
        // A refused refresh token is replaced by the one WeChat lists at most once per refresh.
        let mut may_take_listed = true;
        loop {
            let error = match self.call_authorizer_token(appid, &sent).await {
                Ok(answer) => return self.save_answer(appid, &sent, version, owner, answer).await,
                Err(e) => e,
            };
            match error.wechat().and_then(WechatError::errcode) {
                Some(Errcode::RefreshTokenInvalid) if may_take_listed => {
                    may_take_listed = false;
                    // 61023: our refresh token is dead, but WeChat may hold another one for this
                    // authorizer (rotated behind our back, or lost by an older writer): its list
                    // is the authority. Only when it lists none other is the owner asked again.
                    let listed = match self.listed_refresh_token(appid).await {
                        Ok(listed) => listed,
                        Err(e) => {
                            tracing::error!(appid, error = %e, "refresh token refused (61023) and WeChat's list is unavailable; status left as is");
                            return self
                                .failed(appid, owner, "errcode_61023_list_unavailable".into())
                                .await;
                        }
                    };
                    match listed {
                        Some(listed) if !same_secret(&listed, &sent) => {
                            match self
                                .authorizers()
                                .adopt_refresh_token(appid, Some(&sent), &listed, unix_now())
                                .await?
                            {
                                Some(next_version) => {
                                    tracing::warn!(appid, "refresh token refused (61023); WeChat lists another one: taken, refreshing with it");
                                    sent = listed;
                                    version = next_version;
                                }
                                None => return self.superseded(appid, owner).await,
                            }
                        }
                        _ => return self.reauthorization_required(appid, &sent, owner).await,
                    }
                }
                Some(Errcode::RefreshTokenInvalid) => {
                    return self.reauthorization_required(appid, &sent, owner).await
                }
                Some(Errcode::DailyQuotaReached) => {
                    self.failed(appid, owner, "errcode_45009".into()).await?;
                    return Err(TokenError::QuotaExhausted);
                }
                _ => {
                    let reason = failure_reason(&error);
                    tracing::error!(appid, error = %error, reason, "authorizer token not refreshed");
                    return self.failed(appid, owner, reason).await;
                }
            }
        }
    }

    /// Saves what api_authorizer_token answered, conditionally on the version read before the call.
    async fn save_answer(
        &self,
        appid: &str,
        sent: &SecretString,
        token_version: i64,
        owner: Option<&str>,
        answer: AuthorizerTokenAnswer,
    ) -> Result<Refresh, TokenError> {
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
        let outcome = self.keep_rotated_token(appid, sent, &tokens).await?;
        if let Some(owner) = owner {
            self.authorizers()
                .release_authorizer_lease(appid, owner, None)
                .await?;
        }
        Ok(outcome)
    }

    /// After a save refused because the item changed while WeChat answered (another refresh saved
    /// first, or someone took the lease after the scheduled run read the index).
    ///
    /// If WeChat answered the refresh token it was given, dropping the answer loses nothing: the
    /// stored state stands. If it answered a new one (a rotation: the old one then works only a few
    /// minutes, "获取/刷新接口调用令牌" (api_authorizer_token)), that token must not be dropped:
    /// * the stored refresh token is still the one we sent: ours was derived from it, so it is
    ///   newer; store ours, conditionally on the stored one being still the one we sent;
    /// * the stored one is ours: nothing to do;
    /// * it is a third one: two refreshes with the same token both got a rotated answer, and only
    ///   WeChat knows which it issued last (the one that keeps working). Its list says: the listed
    ///   token is taken if it differs from the stored one. A refresh still in flight resolves its
    ///   own answer the same way afterwards, so all converge on WeChat's current token; if the
    ///   list is unavailable now, the 61023 path consults it when the stored token dies.
    async fn keep_rotated_token(
        &self,
        appid: &str,
        sent: &SecretString,
        tokens: &RefreshedTokens,
    ) -> Result<Refresh, TokenError> {
        if same_secret(&tokens.refresh_token, sent) {
            tracing::warn!(
                appid,
                "authorizer changed during the refresh; its newer state stands"
            );
            return Ok(Refresh::Skipped(Skip::Superseded));
        }
        for _ in 0..3 {
            let Some(stored) = self
                .authorizers()
                .authorizer(appid)
                .await?
                .filter(|a| a.status == AuthorizerStatus::Authorized)
            else {
                // Revoked (or gone) meanwhile: its tokens are dead with it.
                return Ok(Refresh::Skipped(Skip::Superseded));
            };
            match &stored.refresh_token {
                Some(token) if same_secret(token, &tokens.refresh_token) => {
                    return Ok(Refresh::Skipped(Skip::Superseded))
                }
                Some(token) if same_secret(token, sent) => {
                    if self
                        .authorizers()
                        .save_rotated_tokens(appid, sent, tokens)
                        .await?
                    {
                        tracing::info!(
                            appid,
                            "refresh token rotated by WeChat kept after a refused save"
                        );
                        return Ok(Refresh::Refreshed {
                            expires_at: tokens.expires_at,
                        });
                    }
                    // Changed again between the read and the write: read again.
                }
                stored_token => {
                    let stored_token = stored_token.as_ref();
                    match self.listed_refresh_token(appid).await {
                        Ok(Some(listed))
                            if !stored_token.is_some_and(|t| same_secret(t, &listed)) =>
                        {
                            if self
                                .authorizers()
                                .adopt_refresh_token(appid, stored_token, &listed, unix_now())
                                .await?
                                .is_some()
                            {
                                tracing::warn!(
                                    appid,
                                    "two rotated refresh tokens competed: WeChat's listed one taken"
                                );
                            }
                        }
                        Ok(_) => {}
                        Err(e) => tracing::error!(
                            appid,
                            error = %e,
                            "two rotated refresh tokens competed and WeChat's list is unavailable; the stored one stands"
                        ),
                    }
                    return Ok(Refresh::Skipped(Skip::Superseded));
                }
            }
        }
        Ok(Refresh::Skipped(Skip::Superseded))
    }

    /// The refresh token WeChat lists for `appid` (None: not listed, or listed without one).
    async fn listed_refresh_token(
        &self,
        appid: &str,
    ) -> Result<Option<SecretString>, ComponentError> {
        Ok(self
            .component()
            .listed_authorizer(appid)
            .await?
            .and_then(|listed| listed.refresh_token))
    }

    /// 61023 and no other token listed: the owner must authorize again (unless the stored token
    /// changed meanwhile, then the newer state stands).
    async fn reauthorization_required(
        &self,
        appid: &str,
        refused: &SecretString,
        owner: Option<&str>,
    ) -> Result<Refresh, TokenError> {
        if self
            .authorizers()
            .mark_reauthorization_required(appid, refused, unix_now())
            .await?
        {
            tracing::warn!(
                appid,
                "refresh token refused (61023) and not replaced in WeChat's list: the owner must authorize again"
            );
            return Ok(Refresh::ReauthorizationRequired);
        }
        self.superseded(appid, owner).await
    }

    async fn superseded(&self, appid: &str, owner: Option<&str>) -> Result<Refresh, TokenError> {
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
        let request = AuthorizerToken {
            component_appid: self.component().appid(),
            authorizer_appid: appid,
            authorizer_refresh_token: refresh_token,
        };
        const CALL: Backoff = Backoff::new(ATTEMPTS, Duration::from_millis(200), 4);
        CALL.retry(
            "api_authorizer_token",
            |e: &ComponentError| e.wechat().is_some_and(WechatError::is_transient),
            || self.component().call(&request),
        )
        .await
    }

    /// The authorizer's access token for a call now (code-admin): the stored one while valid for
    /// another minute, else refreshed inline under the same lease and conditional write.
    pub async fn authorizer_access_token(&self, appid: &str) -> Result<SecretString, TokenError> {
        Ok(self
            .authorizer_token(appid, MIN_VALIDITY, None)
            .await?
            .token)
    }

    /// The authorizer's access token, valid for another `margin` seconds and not `refused` (one
    /// WeChat refused, when a call is retried), with its expiry: the stored one when it is, else
    /// refreshed by the leased path ([`Self::refresh_authorizer`], [`Self::refresh_refused`]).
    /// A caller that finds another holding the lease waits for (and reads) its token.
    pub async fn authorizer_token(
        &self,
        appid: &str,
        margin: i64,
        refused: Option<&SecretString>,
    ) -> Result<AccessToken, TokenError> {
        // Another instance's refresh lease is waited for, as long as a component token's.
        const WAIT: Duration = Duration::from_secs(5);
        let due = match refused {
            Some(refused) => Due::Replacing(refused),
            None => Due::Within(margin),
        };
        // After our own refresh any valid token stands, even one equal to the refused one.
        let refreshed = std::sync::atomic::AtomicBool::new(false);
        let refreshed = &refreshed;
        let token = poll_until(WAIT, || async move {
            let stored = self
                .authorizers()
                .authorizer(appid)
                .await?
                .filter(|a| a.status == AuthorizerStatus::Authorized)
                .ok_or_else(|| TokenError::NotAuthorized(appid.to_owned()))?;
            let due = match refreshed.load(std::sync::atomic::Ordering::Relaxed) {
                true => Due::Within(MIN_VALIDITY),
                false => due,
            };
            let now = unix_now();
            if due.is_met_by(&stored, now) {
                if let (Some(token), Some(expires_at)) =
                    (stored.access_token, stored.access_token_expires_at)
                {
                    return Ok(Poll::Ready(AccessToken { token, expires_at }));
                }
            }
            // Another refresh holds the lease: wait for its token rather than ask for the lease.
            if stored.lease_until.is_some_and(|until| until >= now) {
                return Ok(Poll::Pending);
            }
            match self.refresh_leased(appid, due).await? {
                Refresh::Refreshed { .. } => {
                    refreshed.store(true, std::sync::atomic::Ordering::Relaxed);
                    Ok(Poll::Again)
                }
                // Read again: the token stored now is the one to use.
                Refresh::Skipped(Skip::NotDue) | Refresh::Skipped(Skip::Superseded) => {
                    Ok(Poll::Again)
                }
                Refresh::Skipped(Skip::Leased) => Ok(Poll::Pending),
                Refresh::Skipped(Skip::NotAuthorized) | Refresh::ReauthorizationRequired => {
                    Err(TokenError::NotAuthorized(appid.to_owned()))
                }
                Refresh::Failed { reason } => Err(TokenError::RefreshFailed {
                    appid: appid.to_owned(),
                    reason,
                }),
            }
        })
        .await?;
        token.ok_or_else(|| TokenError::RefreshFailed {
            appid: appid.to_owned(),
            reason: "refresh_lease_busy".into(),
        })
    }
}
