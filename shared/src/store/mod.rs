//! Storage behind small traits; the DynamoDB implementations live in their own modules, one type
//! per table ([`DynamoTicketStore`], [`DynamoAuthorizerStore`], [`DynamoAuditStore`],
//! [`DynamoActionLog`]), each over a `table::Table` (every request, and the one place where a
//! write refused by its condition is told apart from a failure), writing with the `expr` builders
//! and reading with [`attr::get`] and `attr::from_item!`.

pub mod actions;
pub mod attr;
pub mod audits;
pub mod auth_codes;
pub mod auth_states;
pub mod authorizers;
pub mod component_token;
pub mod events;
mod expr;
pub mod go_live;
pub mod lease;
pub mod nonces;
pub mod onboardings;
pub mod privacy_default;
pub mod refresh_runs;
pub mod refresh_shards;
pub mod registrations;
pub mod rollouts;
mod table;
pub mod tickets;
pub mod webhooks;

pub use actions::{Action, ActionKey, ActionLog, ActionOutcome, ActionStatus, DynamoActionLog};
pub use audits::{AuditRecord, AuditStore, DynamoAuditStore, StatusChange};
pub use auth_codes::{AuthCodeStore, ClaimState, ClaimStatus};
pub use auth_states::AuthStateStore;
pub use authorizers::{
    AdminAttribute, AuthorizerStore, DueAuthorizer, DynamoAuthorizerStore, EventOutcome,
    RefreshedTokens,
};
pub use component_token::{ComponentTokenStore, StoredComponentToken};
pub use events::{
    record_audit_event, record_platform_event, DynamoEventStore, EventFilter, EventPage,
    EventRecord, EventStatus, EventSummary,
};
pub use go_live::{CaseClaim, CaseOutcome, CasePush, CaseStatus, GoLiveStore};
pub use lease::LeaseTerms;
pub use nonces::{NonceOutcome, NonceStore, PushNonce};
pub use privacy_default::{PrivacyDefault, PrivacyDefaultStore};
pub use refresh_runs::{RefreshRun, RefreshRunStore};
pub use refresh_shards::RefreshShardLease;
pub use registrations::{
    RegistrationChange, RegistrationState, RegistrationStore, RegistrationTask,
};
pub use table::is_condition_failure;
pub use tickets::{
    DynamoTicketStore, PushOutcome, TicketOutcome, TicketStore, VerifyTicket, VerifyTicketRecord,
};
pub use webhooks::{
    unix_now_ms, AttemptOutcome, Claim, CreateClaim, Creation, Deletion, Delivery, DeliveryCursor,
    DeliveryState, Subscription, SubscriptionState, WebhookStore,
};

/// What the component's services need of the tickets table: its verify ticket and the component
/// access token. A bound `S: ComponentTokenStore + TicketStore + Sync` can be written
/// `S: ComponentRecords`.
pub trait ComponentRecords: ComponentTokenStore + TicketStore + Sync {}

impl<T: ComponentTokenStore + TicketStore + Sync> ComponentRecords for T {}

/// [`ComponentRecords`], the claims on authorization codes and the fast-registration tasks (which
/// end in an authorization): what authorizing, the callback, the token refresh and the admin API
/// need of the tickets table. A bound
/// `S: ComponentTokenStore + TicketStore + AuthCodeStore + RegistrationStore + Sync` can be
/// written `S: AuthorizationRecords` (`+ RefreshShardLease` in token-refresh).
pub trait AuthorizationRecords: ComponentRecords + AuthCodeStore + RegistrationStore {}

impl<T: ComponentRecords + AuthCodeStore + RegistrationStore> AuthorizationRecords for T {}

/// A storage failure. Callers answer WeChat with a 5xx so the push is retried.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB {operation} failed: {message}")]
    Backend {
        operation: &'static str,
        message: String,
    },
    #[error("stored item is malformed: {0}")]
    Malformed(String),
    #[error("{operation} gave up after {attempts} conflicting concurrent writes")]
    Contention {
        operation: &'static str,
        attempts: u32,
    },
}

impl StoreError {
    /// Wraps an SDK error with the full context chain (DisplayErrorContext), no request payload.
    pub fn backend<E: std::error::Error>(operation: &'static str, err: E) -> Self {
        Self::Backend {
            operation,
            message: aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string(),
        }
    }
}

/// Current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a caller bounded by the alias may call (compiled, not run).
    #[allow(dead_code)]
    async fn through_the_aliases<S: AuthorizationRecords + RefreshShardLease>(store: &S) {
        let _ = store.verify_ticket("c").await;
        let _ = store.stored_component_token("c").await;
        let _ = store.auth_code_claim("c", "code").await;
        let _ = store.release_refresh_shard("c", 0, "o").await;
    }

    #[test]
    fn the_ticket_store_meets_both_aliases() {
        fn component<S: ComponentRecords>() {}
        fn authorization<S: AuthorizationRecords>() {}
        component::<DynamoTicketStore>();
        authorization::<DynamoTicketStore>();
    }
}
