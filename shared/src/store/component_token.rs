//! The component access token, kept in the tickets table (`record = "component_token"`) with the
//! lease that lets one Lambda instance at a time refresh it.

use std::future::Future;

use secrecy::{ExposeSecret, SecretString};

use super::attr::{from_item, n, s};
use super::expr::Update;
use super::lease::LeaseTerms;
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
        terms: LeaseTerms<'_>,
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
        let stored = self
            .read_record(component_appid, COMPONENT_TOKEN_RECORD)
            .await?;
        Ok(stored.unwrap_or_default())
    }

    async fn lease_component_token(
        &self,
        component_appid: &str,
        terms: LeaseTerms<'_>,
    ) -> Result<bool, StoreError> {
        let key = Self::key(component_appid, COMPONENT_TOKEN_RECORD);
        lease::acquire(self.table(), key, terms).await
    }

    async fn save_component_token(
        &self,
        component_appid: &str,
        owner: &str,
        token: &SecretString,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let update = Update::new()
            .set("token", s(token.expose_secret()))
            .set("expires_at", n(expires_at))
            .free_lease(owner)
            .condition(format!(
                "{} OR attribute_not_exists(#expires_at) OR #expires_at < :expires_at",
                lease::HELD
            ));
        self.update_record(component_appid, COMPONENT_TOKEN_RECORD, &update)
            .await
    }

    async fn release_component_token_lease(
        &self,
        component_appid: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        let key = Self::key(component_appid, COMPONENT_TOKEN_RECORD);
        lease::release(self.table(), key, owner).await
    }

    async fn invalidate_component_token(
        &self,
        component_appid: &str,
        failed: &SecretString,
    ) -> Result<bool, StoreError> {
        let update = Update::new()
            .set("expires_at", n(0))
            .condition("#token = :failed")
            .value(":failed", s(failed.expose_secret()));
        self.update_record(component_appid, COMPONENT_TOKEN_RECORD, &update)
            .await
    }
}
