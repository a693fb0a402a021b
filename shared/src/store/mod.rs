//! Storage behind small traits; the DynamoDB implementations live in their own modules, one type
//! per table ([`DynamoTicketStore`], [`DynamoAuthorizerStore`], [`DynamoAuditStore`],
//! [`DynamoActionLog`]), each over a `table::Table` (every request, and the one place where a
//! write refused by its condition is told apart from a failure), writing with the `expr` builders
//! and reading with [`attr::get`] and `attr::from_item!`.

pub mod actions;
pub mod attr;
pub mod audits;
pub mod auth_codes;
pub mod authorizers;
pub mod component_token;
mod expr;
pub mod lease;
pub mod nonces;
pub mod refresh_shards;
mod table;
pub mod tickets;

pub use actions::{Action, ActionKey, ActionLog, ActionOutcome, ActionStatus, DynamoActionLog};
pub use audits::{AuditRecord, AuditStore, DynamoAuditStore, StatusChange};
pub use auth_codes::{AuthCodeStore, ClaimState, ClaimStatus};
pub use authorizers::{
    AdminAttribute, AuthorizerStore, DueAuthorizer, DynamoAuthorizerStore, EventOutcome,
    RefreshedTokens,
};
pub use component_token::{ComponentTokenStore, StoredComponentToken};
pub use nonces::{NonceOutcome, NonceStore, PushNonce};
pub use refresh_shards::RefreshShardLease;
pub use table::is_condition_failure;
pub use tickets::{
    DynamoTicketStore, PushOutcome, PushStore, ReceivedPush, TicketOutcome, TicketStore,
    VerifyTicket, VerifyTicketRecord,
};

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
