//! The component's own APIs ("令牌与授权" (ThirdParty/token)) and the component access token service.
//!
//! The token lives in the tickets table. A caller uses it while it is valid beyond a margin;
//! otherwise it takes a lease (conditional write with an expiry, so a crashed holder blocks nobody),
//! calls api_component_token with the newest ticket and stores the token conditionally. Concurrent
//! callers wait briefly and reread instead of calling WeChat. A call refused with 40001 / 40014 /
//! 42001 invalidates the stored token (only if it is still the one that failed), refreshes and
//! retries once.

use crate::store::LeaseTerms;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::config::ComponentConfig;
use crate::retry::{poll_until, Poll};
use crate::store::{lease, unix_now, ComponentRecords, StoreError};
use crate::wechat::component::{ComponentToken, CreatePreauthcode, StartPushTicket};
use crate::wechat::{Endpoint, TokenSource, WechatClient, WechatError};

/// A ticket older than this cannot buy a token ("验证票据" (component_verify_ticket): valid 12 hours).
pub const TICKET_LIFETIME_SECS: i64 = 12 * 3600;
const LEASE_SECS: i64 = 20;

#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error("no component_verify_ticket has been received yet; api_start_push_ticket was called")]
    NoTicket,
    #[error("the newest component_verify_ticket is {age_secs} s old (over 12 h); api_start_push_ticket was called")]
    TicketTooOld { age_secs: i64 },
    #[error("another instance is refreshing the component token and did not finish in time")]
    RefreshInProgress,
    #[error(transparent)]
    Wechat(#[from] WechatError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ComponentError {
    pub fn wechat(&self) -> Option<&WechatError> {
        match self {
            Self::Wechat(e) => Some(e),
            _ => None,
        }
    }
}

/// A pre_auth_code and its lifetime in seconds.
#[derive(Debug, Clone)]
pub struct PreAuthCode {
    pub code: String,
    pub expires_in: i64,
}

/// The component's settings and WeChat client, with the token kept in `store` (and the last one
/// seen cached in memory while it is valid beyond the margin, so a warm instance does not read
/// DynamoDB for every call).
pub struct ComponentService<S> {
    config: ComponentConfig,
    client: WechatClient,
    store: S,
    cached: std::sync::Mutex<Option<(SecretString, i64)>>,
    /// Refresh when the stored token expires within this many seconds (default 600).
    pub margin_secs: i64,
    /// How long a caller waits for another instance's refresh.
    pub wait: Duration,
}

impl<S: ComponentRecords> ComponentService<S> {
    pub fn new(config: ComponentConfig, client: WechatClient, store: S) -> Self {
        Self {
            config,
            client,
            store,
            cached: std::sync::Mutex::new(None),
            margin_secs: 600,
            wait: Duration::from_secs(5),
        }
    }

    pub fn appid(&self) -> &str {
        &self.config.appid
    }

    pub fn client(&self) -> &WechatClient {
        &self.client
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// A component access token valid for more than the margin.
    pub async fn token(&self) -> Result<SecretString, ComponentError> {
        self.token_with_margin(self.margin_secs).await
    }

    /// As [`ComponentService::token`] with another margin (token-refresh uses a wider one).
    pub async fn token_with_margin(&self, margin: i64) -> Result<SecretString, ComponentError> {
        Ok(self.token_with_expiry(margin).await?.0)
    }

    /// As [`ComponentService::token_with_margin`], with the token's expiry (Unix seconds): what
    /// the service gateway hands to internal services.
    pub async fn token_with_expiry(
        &self,
        margin: i64,
    ) -> Result<(SecretString, i64), ComponentError> {
        if let Some((token, expires_at)) = self.cached.lock().expect("cache lock").as_ref() {
            if *expires_at > unix_now() + margin {
                return Ok((token.clone(), *expires_at));
            }
        }
        // Boxed: the lease poll is a deep future, and it runs only on a cache miss.
        Box::pin(self.stored_or_refreshed(margin)).await
    }

    async fn stored_or_refreshed(
        &self,
        margin: i64,
    ) -> Result<(SecretString, i64), ComponentError> {
        let owner = lease::new_owner();
        let owner = owner.as_str();
        poll_until(self.wait, || async move {
            let now = unix_now();
            let stored = self
                .store
                .stored_component_token(&self.config.appid)
                .await?;
            if let Some(token) = stored.valid_for(now, margin) {
                self.remember(token, stored.expires_at);
                return Ok(Poll::Ready((token.clone(), stored.expires_at)));
            }
            if stored.leased_by_other(owner, now) {
                // Someone else is refreshing: a token that is still valid will do meanwhile.
                return Ok(match stored.valid_for(now, 0) {
                    Some(token) => Poll::Ready((token.clone(), stored.expires_at)),
                    None => Poll::Pending,
                });
            }
            if !self
                .store
                .lease_component_token(
                    &self.config.appid,
                    LeaseTerms::from_now(owner, now, LEASE_SECS),
                )
                .await?
            {
                return Ok(Poll::Pending);
            }
            // Another instance may have stored a token and let its lease go between our read
            // and our lease: read again under the lease, so that one token is bought, not two.
            let fresh = self
                .store
                .stored_component_token(&self.config.appid)
                .await?;
            if let Some(token) = fresh.valid_for(unix_now(), margin) {
                let token = token.clone();
                self.remember(&token, fresh.expires_at);
                self.store
                    .release_component_token_lease(&self.config.appid, owner)
                    .await?;
                return Ok(Poll::Ready((token, fresh.expires_at)));
            }
            let result = self.refresh(owner).await;
            if result.is_err() {
                self.store
                    .release_component_token_lease(&self.config.appid, owner)
                    .await?;
            }
            result.map(Poll::Ready)
        })
        .await?
        .ok_or(ComponentError::RefreshInProgress)
    }

    /// With the lease held: the newest ticket buys a token, stored conditionally.
    async fn refresh(&self, owner: &str) -> Result<(SecretString, i64), ComponentError> {
        let now = unix_now();
        let ticket = match self.store.verify_ticket(&self.config.appid).await? {
            None => {
                self.restart_ticket_push().await;
                return Err(ComponentError::NoTicket);
            }
            Some(record) if now - record.current.create_time > TICKET_LIFETIME_SECS => {
                self.restart_ticket_push().await;
                return Err(ComponentError::TicketTooOld {
                    age_secs: now - record.current.create_time,
                });
            }
            Some(record) => record.current.ticket,
        };
        let answer = self
            .client
            .call(
                None,
                &ComponentToken {
                    component_appid: &self.config.appid,
                    component_appsecret: &self.config.appsecret,
                    component_verify_ticket: &ticket,
                },
            )
            .await?;
        let token = answer.component_access_token;
        let expires_at = now + answer.expires_in;
        let stored = self
            .store
            .save_component_token(&self.config.appid, owner, &token, expires_at)
            .await?;
        tracing::info!(expires_at, stored, "component access token refreshed");
        Ok((token, expires_at))
    }

    fn remember(&self, token: &SecretString, expires_at: i64) {
        *self.cached.lock().expect("cache lock") = Some((token.clone(), expires_at));
    }

    fn forget(&self, token: &SecretString) {
        let mut cached = self.cached.lock().expect("cache lock");
        if cached
            .as_ref()
            .is_some_and(|(t, _)| t.expose_secret() == token.expose_secret())
        {
            *cached = None;
        }
    }

    /// Asks WeChat to push tickets again (best effort; logged).
    pub async fn restart_ticket_push(&self) {
        let result = self
            .client
            .call(
                None,
                &StartPushTicket {
                    component_appid: &self.config.appid,
                    component_secret: &self.config.appsecret,
                },
            )
            .await;
        match result {
            Ok(_) => {
                tracing::warn!("no usable component_verify_ticket: api_start_push_ticket called")
            }
            Err(e) => tracing::error!(error = %e, "api_start_push_ticket failed"),
        }
    }

    /// Calls a component endpoint with the component token (see [`crate::wechat::call`]: a refused
    /// token is invalidated, if still the one that failed, and the call retried once).
    pub async fn call<E: Endpoint>(&self, request: &E) -> Result<E::Answer, ComponentError> {
        crate::wechat::call(self, request).await
    }

    pub async fn create_preauthcode(&self) -> Result<PreAuthCode, ComponentError> {
        let answer = self
            .call(&CreatePreauthcode {
                component_appid: &self.config.appid,
            })
            .await?;
        Ok(PreAuthCode {
            code: answer.pre_auth_code,
            expires_in: answer.expires_in,
        })
    }
}

impl<S: ComponentRecords> TokenSource for ComponentService<S> {
    type Error = ComponentError;

    fn client(&self) -> &WechatClient {
        &self.client
    }

    async fn token(&self) -> Result<SecretString, ComponentError> {
        ComponentService::token(self).await
    }

    async fn refused(&self, token: &SecretString) -> Result<(), ComponentError> {
        self.forget(token);
        self.store
            .invalidate_component_token(&self.config.appid, token)
            .await?;
        Ok(())
    }
}
