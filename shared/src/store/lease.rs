//! Leases on DynamoDB items: a conditional write of `lease_owner` and `lease_until`, so that one
//! Lambda instance at a time refreshes a token, and a crashed holder blocks nobody past its expiry.

use super::attr::{n, s, Item};
use super::expr::Update;
use super::table::Table;
use super::StoreError;

/// The condition of taking a lease: nobody else holds an unexpired one (with
/// [`Update::take_lease`], which binds its placeholders).
pub(crate) const FREE: &str = "attribute_not_exists(#lease_until) OR #lease_until < :lease_now \
                               OR #lease_owner = :lease_owner";

/// The condition that `:owner` holds the lease (with [`Update::free_lease`], which binds it).
pub(crate) const HELD: &str = "#lease_owner = :owner";

/// What taking a lease asks for: `owner` holds it from `now` until `until` (Unix seconds).
#[derive(Debug, Clone, Copy)]
pub struct LeaseTerms<'a> {
    pub owner: &'a str,
    pub now: i64,
    pub until: i64,
}

impl<'a> LeaseTerms<'a> {
    /// `owner`'s lease from now for `secs`.
    pub fn from_now(owner: &'a str, now: i64, secs: i64) -> Self {
        Self {
            owner,
            now,
            until: now + secs,
        }
    }
}

impl Update {
    /// Sets the lease per `terms`; the condition [`FREE`] compares it with `terms.now`.
    pub(crate) fn take_lease(self, terms: LeaseTerms<'_>) -> Self {
        self.set("lease_owner", s(terms.owner))
            .set("lease_until", n(terms.until))
            .value(":lease_now", n(terms.now))
    }

    /// Removes the lease; the condition [`HELD`] checks that `owner` held it.
    pub(crate) fn free_lease(self, owner: &str) -> Self {
        self.remove_all(&["lease_owner", "lease_until"])
            .value(":owner", s(owner))
    }
}

/// Takes the lease on the item at `key` (creating the item if needed) unless another owner holds
/// an unexpired one. Returns whether `terms.owner` now holds it.
pub(crate) async fn acquire(
    table: &Table,
    key: Item,
    terms: LeaseTerms<'_>,
) -> Result<bool, StoreError> {
    let update = Update::new().take_lease(terms).condition(FREE);
    Ok(table.update(key, &update).await?.is_some())
}

/// Gives the lease back, if `owner` still holds it.
pub(crate) async fn release(table: &Table, key: Item, owner: &str) -> Result<(), StoreError> {
    let update = Update::new().free_lease(owner).condition(HELD);
    table.update(key, &update).await.map(|_| ())
}

/// A random owner id for one lease attempt.
pub fn new_owner() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 20)
}
