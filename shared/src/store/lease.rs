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

impl Update {
    /// Sets the lease to `owner` until `until`; the condition [`FREE`] compares it with `now`.
    pub(crate) fn take_lease(self, owner: &str, now: i64, until: i64) -> Self {
        self.set("lease_owner", s(owner))
            .set("lease_until", n(until))
            .value(":lease_now", n(now))
    }

    /// Removes the lease; the condition [`HELD`] checks that `owner` held it.
    pub(crate) fn free_lease(self, owner: &str) -> Self {
        self.remove_all(&["lease_owner", "lease_until"])
            .value(":owner", s(owner))
    }
}

/// Takes the lease on the item at `key` (creating the item if needed) unless another owner holds
/// an unexpired one. Returns whether `owner` now holds it.
pub(crate) async fn acquire(
    table: &Table,
    key: Item,
    owner: &str,
    now: i64,
    until: i64,
) -> Result<bool, StoreError> {
    let update = Update::new().take_lease(owner, now, until).condition(FREE);
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
