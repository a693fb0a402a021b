//! Leases on DynamoDB items: a conditional write of `lease_owner` and `lease_until`, so that one
//! Lambda instance at a time refreshes a token, and a crashed holder blocks nobody past its expiry.

use aws_sdk_dynamodb::Client;

use super::attr::{n, s, Item};
use super::conditional;
use super::StoreError;

/// Takes the lease on the item at `key` (creating the item if needed) unless another owner holds
/// an unexpired one. Returns whether `owner` now holds it.
pub async fn acquire(
    client: &Client,
    table: &str,
    key: Item,
    owner: &str,
    now: i64,
    until: i64,
) -> Result<bool, StoreError> {
    let result = client
        .update_item()
        .table_name(table)
        .set_key(Some(key))
        .update_expression("SET lease_owner = :owner, lease_until = :until")
        .condition_expression(
            "attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner",
        )
        .expression_attribute_values(":owner", s(owner))
        .expression_attribute_values(":until", n(until))
        .expression_attribute_values(":now", n(now))
        .send()
        .await;
    conditional(result, "UpdateItem")
}

/// Gives the lease back, if `owner` still holds it.
pub async fn release(
    client: &Client,
    table: &str,
    key: Item,
    owner: &str,
) -> Result<(), StoreError> {
    let result = client
        .update_item()
        .table_name(table)
        .set_key(Some(key))
        .update_expression("REMOVE lease_owner, lease_until")
        .condition_expression("lease_owner = :owner")
        .expression_attribute_values(":owner", s(owner))
        .send()
        .await;
    conditional(result, "UpdateItem").map(|_| ())
}

/// A random owner id for one lease attempt.
pub fn new_owner() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 20)
}
