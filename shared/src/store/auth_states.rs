//! The states of authorization links, in the tickets table (`record = "auth_state#<nonce>"`): a
//! state is bound to the first authorization code it comes back with, so that one link (one
//! throttled `/auth/start`) can cost at most one exchange, while the owner may reload the page.

use std::future::Future;

use super::attr::{n, s};
use super::auth_codes::claim_record;
use super::expr::Condition;
use super::tickets::{DynamoTicketStore, SK};
use super::StoreError;

pub trait AuthStateStore {
    /// Binds the state `nonce` to `auth_code` unless it is bound to another code already; true
    /// when `auth_code` is (now) its code. The record is purged at `purge_at`.
    fn bind_auth_state(
        &self,
        component_appid: &str,
        nonce: &str,
        auth_code: &str,
        purge_at: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

impl AuthStateStore for DynamoTicketStore {
    async fn bind_auth_state(
        &self,
        component_appid: &str,
        nonce: &str,
        auth_code: &str,
        purge_at: i64,
    ) -> Result<bool, StoreError> {
        let code = claim_record(auth_code);
        let attributes = [("code_record", s(&code)), ("purge_at", n(purge_at))];
        let condition = Condition::new(format!(
            "attribute_not_exists(#{SK}) OR #code_record = :code"
        ))
        .value(":code", s(&code));
        let record = format!("auth_state#{nonce}");
        self.put_record(component_appid, &record, attributes, &condition)
            .await
    }
}
