//! Completing an authorization: exchanging the authorization code exactly once (whether the owner's
//! callback or the `authorized` push comes first), storing the tokens at once and the account's
//! details after; applying `unauthorized`. Authorization events are ordered on WeChat's clock only
//! ([`EventTime`]).

use crate::store::LeaseTerms;
use std::time::Duration;

use crate::auth_state::VerifiedState;
use crate::authorizer::Authorizer;
use crate::component::{ComponentError, ComponentService};
use crate::push::{AuthorizationEvent, AuthorizationPush};
use crate::retry::{poll_until, Backoff, Poll};
use crate::store::{
    lease, unix_now, AuthStateStore, AuthorizationRecords, AuthorizerStore, ClaimState,
    ComponentRecords, EventOutcome, StoreError,
};
use crate::wechat::component::{GetAuthorizerInfo, QueryAuth};
use crate::wechat::{Errcode, WechatError};

const CLAIM_SECS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the authorization code is invalid, expired or already used ({reason})")]
    InvalidCode { reason: String },
    #[error("the authorization code is being exchanged by another request; try again shortly")]
    InProgress,
    #[error("the code was exchanged but the authorizer {0} is not stored")]
    Missing(String),
    #[error(transparent)]
    Component(#[from] ComponentError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    /// Worth retrying (WeChat's retry of a push, the owner reloading): our side or WeChat busy.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::InvalidCode { .. } | Self::Missing(_) => false,
            Self::InProgress | Self::Store(_) => true,
            Self::Component(ComponentError::Wechat(e)) => e.is_transient(),
            Self::Component(
                ComponentError::Store(_)
                | ComponentError::RefreshInProgress
                | ComponentError::NoTicket,
            ) => true,
            Self::Component(_) => false,
        }
    }
}

/// When an authorization event happened. Events are ordered by `last_event_time`, and only
/// times on WeChat's clock are ever compared: our clock may be off from WeChat's by any amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTime {
    /// A push's CreateTime (WeChat's clock).
    Pushed(i64),
    /// The owner's callback, which carries no time. It stands for "WeChat's now", read from the
    /// newest component_verify_ticket: its CreateTime plus the time elapsed since we stored it.
    /// Only an interval of our clock enters, so an offset between the clocks cancels out; what
    /// is left is the ticket's delivery delay (seconds, and early rather than late). The callback
    /// thus applies only if no push WeChat created after that moment is stored, and a push
    /// created after the authorization (an `unauthorized`) is never taken for an older one.
    Callback,
}

/// The result of [`AuthorizationService::complete`].
#[derive(Debug, Clone)]
pub struct Completed {
    pub authorizer: Authorizer,
    /// False when the other path (callback or push) had already exchanged the code.
    pub exchanged_now: bool,
}

pub struct AuthorizationService<S, A> {
    component: ComponentService<S>,
    authorizers: A,
    /// Where authorizations and revocations are recorded as platform events (none: not recorded).
    events: Option<crate::store::DynamoEventStore>,
    /// How long to wait for the other path's exchange before answering "in progress".
    pub wait: Duration,
}

impl<S, A> AuthorizationService<S, A>
where
    S: AuthorizationRecords,
    A: AuthorizerStore + Sync,
{
    pub fn new(component: ComponentService<S>, authorizers: A) -> Self {
        Self {
            component,
            authorizers,
            events: None,
            wait: Duration::from_secs(5),
        }
    }

    /// Records authorizations and revocations in the events table.
    pub fn with_events(self, events: crate::store::DynamoEventStore) -> Self {
        Self {
            events: Some(events),
            ..self
        }
    }

    /// The events table, when the platform's events are recorded.
    pub fn events(&self) -> Option<&crate::store::DynamoEventStore> {
        self.events.as_ref()
    }

    /// The platform event of an authorizer's change (idempotent: `key` names the change).
    async fn authorizer_event(
        &self,
        kind: &str,
        appid: &str,
        key: &str,
        fields: serde_json::Value,
    ) -> Result<(), StoreError> {
        match &self.events {
            Some(events) => {
                crate::store::record_platform_event(events, kind, Some(appid), key, fields)
                    .await
                    .map(|_| ())
            }
            None => Ok(()),
        }
    }

    pub fn component(&self) -> &ComponentService<S> {
        &self.component
    }

    pub fn authorizers(&self) -> &A {
        &self.authorizers
    }

    /// Exchanges `auth_code` (or finds it exchanged) and returns the stored authorizer.
    pub async fn complete(
        &self,
        auth_code: &str,
        event_time: EventTime,
    ) -> Result<Completed, AuthError> {
        let store = self.component.store();
        let appid = self.component.appid();
        let owner = lease::new_owner();
        let owner = owner.as_str();
        let completed = poll_until(self.wait, || async move {
            let now = unix_now();
            if store
                .claim_auth_code(
                    appid,
                    auth_code,
                    LeaseTerms::from_now(owner, now, CLAIM_SECS),
                )
                .await?
            {
                return self
                    .exchange(auth_code, owner, event_time)
                    .await
                    .map(Poll::Ready);
            }
            match store.auth_code_claim(appid, auth_code).await? {
                Some(ClaimState::Done { authorizer_appid }) => {
                    let authorizer = self
                        .authorizers
                        .authorizer(&authorizer_appid)
                        .await?
                        .ok_or(AuthError::Missing(authorizer_appid))?;
                    Ok(Poll::Ready(Completed {
                        authorizer,
                        exchanged_now: false,
                    }))
                }
                Some(ClaimState::Failed { reason }) => Err(AuthError::InvalidCode { reason }),
                Some(ClaimState::Exchanging { .. }) | None => Ok(Poll::Pending),
            }
        })
        .await?
        .ok_or(AuthError::InProgress)?;
        // Whichever path exchanged the code (this one or the other, before a retry), the
        // authorization's event: one per code, the same when written again.
        if completed.authorizer.status == crate::authorizer::AuthorizerStatus::Authorized {
            let fields =
                serde_json::json!({ "permission_sets": completed.authorizer.permission_sets });
            self.authorizer_event(
                "platform.authorizer.authorized",
                &completed.authorizer.appid,
                &format!("code#{auth_code}"),
                fields,
            )
            .await?;
        }
        Ok(completed)
    }

    /// Now on WeChat's clock (see [`EventTime::Callback`]); 0 without a ticket, which cannot
    /// happen once a component token exists (it is bought with a ticket).
    async fn wechat_now(&self) -> Result<i64, StoreError> {
        let component = &self.component;
        Ok(
            match component.store().verify_ticket(component.appid()).await? {
                Some(record) => {
                    record.current.create_time + (unix_now() - record.current.received_at).max(0)
                }
                None => {
                    tracing::warn!("no component_verify_ticket stored: the callback cannot be placed on WeChat's clock");
                    0
                }
            },
        )
    }

    async fn exchange(
        &self,
        auth_code: &str,
        owner: &str,
        event_time: EventTime,
    ) -> Result<Completed, AuthError> {
        let store = self.component.store();
        let appid = self.component.appid();
        let event_time = match event_time {
            EventTime::Pushed(create_time) => create_time,
            EventTime::Callback => match self.wechat_now().await {
                Ok(now) => now,
                Err(e) => {
                    store.release_auth_code(appid, auth_code, owner).await?;
                    return Err(e.into());
                }
            },
        };
        let answer = self
            .component
            .call(&QueryAuth {
                component_appid: appid,
                authorization_code: auth_code,
            })
            .await;
        let auth = match answer {
            Ok(answer) => answer.authorization_info,
            Err(ComponentError::Wechat(WechatError::Api { errcode, errmsg }))
                if matches!(errcode, Errcode::InvalidCode | Errcode::CodeExpired) =>
            {
                let reason = format!("errcode {}: {errmsg}", errcode.code());
                store
                    .finish_auth_code(
                        appid,
                        auth_code,
                        owner,
                        &ClaimState::Failed {
                            reason: reason.clone(),
                        },
                    )
                    .await?;
                return Err(AuthError::InvalidCode { reason });
            }
            Err(e) => {
                store.release_auth_code(appid, auth_code, owner).await?;
                return Err(e.into());
            }
        };
        // The code is spent now: the tokens are stored at once, in one conditional write, before
        // anything else (a slow api_get_authorizer_info, the Lambda's timeout) can lose them.
        let authorizer = Authorizer::authorized(auth, unix_now(), event_time);
        let authorizer_appid = authorizer.appid.clone();
        let outcome = self.save_with_retries(&authorizer).await?;
        store
            .finish_auth_code(
                appid,
                auth_code,
                owner,
                &ClaimState::Done {
                    authorizer_appid: authorizer_appid.clone(),
                },
            )
            .await?;
        tracing::info!(
            authorizer_appid,
            permission_sets = ?authorizer.permission_sets,
            missing = ?authorizer.missing_permission_sets(),
            ?outcome,
            "authorization code exchanged"
        );
        // Then the details: without them the authorization still works (reconcile adds them).
        if outcome == EventOutcome::Applied {
            if let Err(e) = self.add_details(&authorizer_appid, false).await {
                tracing::warn!(authorizer_appid, error = %e, "api_get_authorizer_info failed; the tokens are stored without the details");
            }
        }
        let stored = self
            .authorizers
            .authorizer(&authorizer_appid)
            .await?
            .unwrap_or(authorizer);
        Ok(Completed {
            authorizer: stored,
            exchanged_now: true,
        })
    }

    /// True the first time the result of `auth_code` is to be shown to the owner, false on a
    /// replayed callback URL: the authorizer's details are shown once (the URL lives on in
    /// browser history and logs).
    pub async fn first_showing(&self, auth_code: &str) -> Result<bool, StoreError> {
        self.component
            .store()
            .mark_auth_code_shown(self.component.appid(), auth_code, unix_now())
            .await
    }

    /// Fetches the account's details (api_get_authorizer_info) and stores them; with
    /// `with_permission_sets`, also the permission sets WeChat holds now (for authorizers restored
    /// from WeChat's list, which carries none). False when the authorizer is not authorized.
    pub async fn add_details(
        &self,
        authorizer_appid: &str,
        with_permission_sets: bool,
    ) -> Result<bool, AuthError> {
        let answer = self
            .component
            .call(&GetAuthorizerInfo {
                component_appid: self.component.appid(),
                authorizer_appid,
            })
            .await?;
        let permission_sets = answer
            .authorization_info
            .as_ref()
            .filter(|_| with_permission_sets)
            .map(|a| a.permission_sets());
        Ok(self
            .authorizers
            .save_details(
                authorizer_appid,
                &answer.authorizer_info,
                permission_sets.as_deref(),
            )
            .await?)
    }

    /// The one write after the exchange, retried briefly: nothing precedes it, so the retries fit
    /// well inside the function's timeout.
    async fn save_with_retries(&self, authorizer: &Authorizer) -> Result<EventOutcome, StoreError> {
        const SAVE: Backoff = Backoff::new(3, Duration::from_millis(100), 4);
        SAVE.retry(
            "storing the exchanged authorizer",
            |_| true,
            || self.authorizers.save_authorization(authorizer),
        )
        .await
    }

    /// Applies an `unauthorized` push: status unauthorized, tokens removed, history kept.
    pub async fn revoke(
        &self,
        authorizer_appid: &str,
        event_time: i64,
    ) -> Result<EventOutcome, AuthError> {
        let outcome = self
            .authorizers
            .mark_unauthorized(authorizer_appid, event_time)
            .await?;
        tracing::info!(authorizer_appid, ?outcome, "authorization revoked");
        // Applied now, or by an earlier try of this push whose event write failed.
        let applied = outcome == EventOutcome::Applied
            || self
                .authorizers
                .authorizer(authorizer_appid)
                .await?
                .is_some_and(|a| a.unauthorized_at == Some(event_time));
        if applied {
            self.authorizer_event(
                "platform.authorizer.unauthorized",
                authorizer_appid,
                &format!("unauthorized#{event_time}"),
                serde_json::json!({ "unauthorized_at": event_time }),
            )
            .await?;
        }
        Ok(outcome)
    }
}

impl<S, A> AuthorizationService<S, A>
where
    S: ComponentRecords + AuthStateStore,
{
    /// Binds a verified callback state to `auth_code` (its first code); false when the state came
    /// with another code before.
    pub async fn bind_state(
        &self,
        state: &VerifiedState,
        auth_code: &str,
    ) -> Result<bool, StoreError> {
        self.component
            .store()
            .bind_auth_state(
                self.component.appid(),
                &state.nonce,
                auth_code,
                state.purge_at(),
            )
            .await
    }
}

/// What acting on an authorization push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushAction {
    /// authorized / updateauthorized: the code is exchanged (now, or earlier by the callback).
    Exchanged {
        authorizer_appid: String,
        exchanged_now: bool,
    },
    /// unauthorized applied (or older than what is stored).
    Revoked {
        authorizer_appid: String,
        outcome: EventOutcome,
    },
    /// notify_third_fasteregister: the task it ended (None: no stored task matched), WeChat's
    /// status, the registered mini program (its code exchanged, now or before), and whether the
    /// task was changed now (false on a retried push).
    FastRegistration {
        registration: Option<String>,
        status: i64,
        authorizer_appid: Option<String>,
        linked: bool,
    },
    /// The push cannot be acted on and retrying will not help (e.g. the code expired).
    Failed { reason: String },
    /// Nothing to do for this InfoType.
    Nothing,
}

/// Acting on a stored authorization push (ticket-receive).
pub trait PushActions {
    fn act_on_push(
        &self,
        push: &AuthorizationPush,
    ) -> impl std::future::Future<Output = Result<PushAction, AuthError>> + Send;
}

impl<S, A> PushActions for AuthorizationService<S, A>
where
    S: AuthorizationRecords,
    A: AuthorizerStore + Sync,
{
    async fn act_on_push(&self, push: &AuthorizationPush) -> Result<PushAction, AuthError> {
        match &push.event {
            AuthorizationEvent::Authorized(grant) | AuthorizationEvent::UpdateAuthorized(grant) => {
                match self
                    .complete(
                        &grant.authorization_code,
                        EventTime::Pushed(push.create_time),
                    )
                    .await
                {
                    Ok(done) => Ok(PushAction::Exchanged {
                        authorizer_appid: done.authorizer.appid,
                        exchanged_now: done.exchanged_now,
                    }),
                    Err(e) if !e.is_transient() => Ok(PushAction::Failed {
                        reason: e.to_string(),
                    }),
                    Err(e) => Err(e),
                }
            }
            AuthorizationEvent::Unauthorized { authorizer_appid } => Ok(PushAction::Revoked {
                authorizer_appid: authorizer_appid.clone(),
                outcome: self.revoke(authorizer_appid, push.create_time).await?,
            }),
            AuthorizationEvent::FastRegister { .. } => self.act_on_fast_registration(push).await,
            _ => Ok(PushAction::Nothing),
        }
    }
}
