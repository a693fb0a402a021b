//! The component access token, kept in the tickets table (`record = "component_token"`) with the
//! lease that lets one Lambda instance at a time refresh it.

use std::future::Future;

use secrecy::{ExposeSecret, SecretString};

use super::attr::{from_item, n, s};
use super::conditional;
use super::tickets::DynamoTicketStore;
use super::{lease, StoreError};

pub const COMPONENT_TOKEN_RECORD: &str = "component_token";

/// The stored token (if any) and the lease on refreshing it.
#[derive(Debug, Clone, Default)]
pub struct StoredComponentToken {
    pub token: Option<SecretString>,
    pub expires_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
}

impl StoredComponentToken {
    /// The token if it is valid for more than `margin` seconds after `now`.
    pub fn valid_for(&self, now: i64, margin: i64) -> Option<&SecretString> {
        self.token
            .as_ref()
            .filter(|_| self.expires_at > now + margin)
    }

    /// Whether another instance is refreshing it now.
    pub fn leased_by_other(&self, owner: &str, now: i64) -> bool {
        self.lease_until.is_some_and(|until| until >= now)
            && self.lease_owner.as_deref() != Some(owner)
    }
}

from_item! { StoredComponentToken { token, lease_owner, lease_until; default: expires_at } }

pub trait ComponentTokenStore {
    fn stored_component_token(
        &self,
        component_appid: &str,
    ) -> impl Future<Output = Result<StoredComponentToken, StoreError>> + Send;

    /// Takes the refresh lease unless another owner holds an unexpired one.
    fn lease_component_token(
        &self,
        component_appid: &str,
        owner: &str,
        now: i64,
        until: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a new token and frees the lease; never replaces a token that expires later.
    fn save_component_token(
        &self,
        component_appid: &str,
        owner: &str,
        token: &SecretString,
        expires_at: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn release_component_token_lease(
        &self,
        component_appid: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks `failed` expired, only if it is still the stored token.
    fn invalidate_component_token(
        &self,
        component_appid: &str,
        failed: &SecretString,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

impl ComponentTokenStore for DynamoTicketStore {
    async fn stored_component_token(
        &self,
        component_appid: &str,
    ) -> Result<StoredComponentToken, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(Self::key(component_appid, COMPONENT_TOKEN_RECORD)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::backend("GetItem", e))?;
        out.item
            .as_ref()
            .map(StoredComponentToken::try_from)
            .transpose()
            .map(Option::unwrap_or_default)
    }

    async fn lease_component_token(
        &self,
        component_appid: &str,
        owner: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        lease::acquire(
            self.client(),
            self.table(),
            Self::key(component_appid, COMPONENT_TOKEN_RECORD),
            owner,
            now,
            until,
        )
        .await
    }

    async fn save_component_token(
        &self,
        component_appid: &str,
        owner: &str,
        token: &SecretString,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(Self::key(component_appid, COMPONENT_TOKEN_RECORD)))
            .update_expression(
                "SET #token = :token, expires_at = :expires REMOVE lease_owner, lease_until",
            )
            .condition_expression(
                "lease_owner = :owner OR attribute_not_exists(expires_at) OR expires_at < :expires",
            )
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", s(token.expose_secret()))
            .expression_attribute_values(":expires", n(expires_at))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        conditional(result, "UpdateItem")
    }

    async fn release_component_token_lease(
        &self,
        component_appid: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        lease::release(
            self.client(),
            self.table(),
            Self::key(component_appid, COMPONENT_TOKEN_RECORD),
            owner,
        )
        .await
    }

    async fn invalidate_component_token(
        &self,
        component_appid: &str,
        failed: &SecretString,
    ) -> Result<bool, StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(Self::key(component_appid, COMPONENT_TOKEN_RECORD)))
            .update_expression("SET expires_at = :zero")
            .condition_expression("#token = :failed")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":failed", s(failed.expose_secret()))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        conditional(result, "UpdateItem")
    }
}
