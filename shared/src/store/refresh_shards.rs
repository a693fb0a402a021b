//! Leases on the shards of the `token_expiry` index, in the tickets table
//! (`record = "refresh_shard#<n>"`): one scheduled run at a time refreshes a shard, so overlapping
//! runs do not call WeChat twice for the same authorizer.

use std::future::Future;

use super::lease::LeaseTerms;
use super::tickets::DynamoTicketStore;
use super::{lease, StoreError};

fn record(shard: i64) -> String {
    format!("refresh_shard#{shard:02}")
}

pub trait RefreshShardLease {
    fn lease_refresh_shard(
        &self,
        component_appid: &str,
        shard: i64,
        terms: LeaseTerms<'_>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn release_refresh_shard(
        &self,
        component_appid: &str,
        shard: i64,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl RefreshShardLease for DynamoTicketStore {
    async fn lease_refresh_shard(
        &self,
        component_appid: &str,
        shard: i64,
        terms: LeaseTerms<'_>,
    ) -> Result<bool, StoreError> {
        let key = Self::key(component_appid, &record(shard));
        lease::acquire(self.table(), key, terms).await
    }

    async fn release_refresh_shard(
        &self,
        component_appid: &str,
        shard: i64,
        owner: &str,
    ) -> Result<(), StoreError> {
        let key = Self::key(component_appid, &record(shard));
        lease::release(self.table(), key, owner).await
    }
}
