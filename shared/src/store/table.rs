//! One DynamoDB table: the requests every store makes, and the one place where a write refused by
//! its condition is told apart from a failure.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder;
use aws_sdk_dynamodb::operation::scan::ScanOutput;
use aws_sdk_dynamodb::Client;

use super::attr::{FromItem, Item};
use super::expr::{Condition, Update};
use super::StoreError;

/// True when a write was refused by its condition (someone else wrote first).
pub fn is_condition_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// A conditional write's answer: Some when written, None when its condition refused it; any other
/// error is a failure.
fn accepted<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    operation: &'static str,
) -> Result<Option<T>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e) if is_condition_failure(&e) => Ok(None),
        Err(e) => Err(StoreError::backend(operation, e)),
    }
}

/// What a conditional write did: Some(the attributes it answered with, empty if none) when
/// written, None when its condition refused it.
pub type Written = Result<Option<Item>, StoreError>;

/// How often a batch's unprocessed part is sent again, and how long to wait between.
const UNPROCESSED_ATTEMPTS: u32 = 5;
const UNPROCESSED_BACKOFF: crate::retry::Backoff = crate::retry::Backoff::new(
    UNPROCESSED_ATTEMPTS,
    std::time::Duration::from_millis(50),
    2,
);

#[derive(Debug, Clone)]
pub struct Table {
    client: Client,
    name: String,
}

impl Table {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    // Every request's future is boxed: the SDK's is some 5 KiB, and it would otherwise be part of
    // every store method's future, of every caller's, and of the temporaries of each call site
    // (a debug build keeps them all on the stack: a test thread has 2 MiB). One allocation per
    // request, beside a network round trip.

    /// The item at `key` (a strongly consistent read).
    pub async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let request = self.client.get_item().table_name(&self.name);
        let request = request.set_key(Some(key)).consistent_read(true);
        let out = Box::pin(request.send())
            .await
            .map_err(|e| StoreError::backend("GetItem", e))?;
        Ok(out.item)
    }

    /// The item at `key` read as a `T` (a strongly consistent read).
    pub async fn read<T: FromItem>(&self, key: Item) -> Result<Option<T>, StoreError> {
        self.get(key).await?.as_ref().map(T::try_from).transpose()
    }

    /// Puts `item` if `condition` holds: Some(the attributes asked for with
    /// [`Condition::returning`], empty if none) when written, None when refused.
    pub async fn put(&self, item: Item, condition: &Condition) -> Written {
        let request = self.client.put_item().table_name(&self.name);
        let result = Box::pin(condition.put(request.set_item(Some(item))).send()).await;
        Ok(accepted(result, "PutItem")?.map(|out| out.attributes.unwrap_or_default()))
    }

    /// Applies `update` to the item at `key`: Some(the attributes asked for with
    /// [`Update::returning`], empty if none) when written, None when refused.
    pub async fn update(&self, key: Item, update: &Update) -> Written {
        let request = self.client.update_item().table_name(&self.name);
        let result = Box::pin(update.apply(request.set_key(Some(key))).send()).await;
        Ok(accepted(result, "UpdateItem")?.map(|out| out.attributes.unwrap_or_default()))
    }

    /// Deletes the item at `key` if `condition` holds; false when it did not.
    pub async fn delete(&self, key: Item, condition: &Condition) -> Result<bool, StoreError> {
        let request = self.client.delete_item().table_name(&self.name);
        let result = Box::pin(condition.delete(request.set_key(Some(key))).send()).await;
        Ok(accepted(result, "DeleteItem")?.is_some())
    }

    /// Puts every item, 25 to a BatchWriteItem request (DynamoDB's limit), sending again what
    /// DynamoDB left unprocessed (throttling) with backoff; an error if some remain after that.
    /// Unconditional: for items no one else writes yet (a rollout's new targets).
    pub async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        for chunk in items.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder()
                        .set_item(Some(item.clone()))
                        .build()
                        .map_err(|e| StoreError::backend("BatchWriteItem", e))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<_, StoreError>>()?;
            for attempt in 1..=UNPROCESSED_ATTEMPTS {
                let request = self
                    .client
                    .batch_write_item()
                    .request_items(&self.name, pending);
                let out = Box::pin(request.send())
                    .await
                    .map_err(|e| StoreError::backend("BatchWriteItem", e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut left| left.remove(&self.name))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt == UNPROCESSED_ATTEMPTS {
                    return Err(StoreError::Contention {
                        operation: "BatchWriteItem",
                        attempts: attempt,
                    });
                }
                tokio::time::sleep(UNPROCESSED_BACKOFF.delay(attempt)).await;
            }
        }
        Ok(())
    }

    /// The items at `keys` (at most 100: DynamoDB's limit for one BatchGetItem), strongly
    /// consistent, in no particular order; what DynamoDB left unprocessed is asked again.
    pub async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        debug_assert!(keys.len() <= 100, "BatchGetItem takes at most 100 keys");
        let mut found = Vec::new();
        let mut pending = keys;
        for attempt in 1..=UNPROCESSED_ATTEMPTS {
            let wanted = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::backend("BatchGetItem", e))?;
            let request = self
                .client
                .batch_get_item()
                .request_items(&self.name, wanted);
            let out = Box::pin(request.send())
                .await
                .map_err(|e| StoreError::backend("BatchGetItem", e))?;
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.name))
                    .unwrap_or_default(),
            );
            pending = out
                .unprocessed_keys
                .and_then(|mut left| left.remove(&self.name))
                .map(|k| k.keys)
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(found);
            }
            tokio::time::sleep(UNPROCESSED_BACKOFF.delay(attempt)).await;
        }
        Err(StoreError::Contention {
            operation: "BatchGetItem",
            attempts: UNPROCESSED_ATTEMPTS,
        })
    }

    /// How many items `query` matches (`Select COUNT`, page after page: no items are read out).
    pub async fn count(&self, query: QueryFluentBuilder) -> Result<i64, StoreError> {
        let mut total = 0i64;
        let mut start = None;
        loop {
            let page = query
                .clone()
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send();
            let page = Box::pin(page)
                .await
                .map_err(|e| StoreError::backend("Query", e))?;
            total += i64::from(page.count);
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(total);
            }
        }
    }

    /// A query on this table, to be completed by the caller.
    pub fn query(&self) -> QueryFluentBuilder {
        self.client.query().table_name(&self.name)
    }

    /// A scan of this table, to be completed by the caller.
    pub fn scan(&self) -> ScanFluentBuilder {
        self.client.scan().table_name(&self.name)
    }

    /// One page of `query` (as many items as its limit).
    pub async fn query_page(query: QueryFluentBuilder) -> Result<QueryOutput, StoreError> {
        Box::pin(query.send())
            .await
            .map_err(|e| StoreError::backend("Query", e))
    }

    /// One page of `scan` (as many items as its limit).
    pub async fn scan_page(scan: ScanFluentBuilder) -> Result<ScanOutput, StoreError> {
        Box::pin(scan.send())
            .await
            .map_err(|e| StoreError::backend("Scan", e))
    }

    /// Every item `query` finds, page after page.
    pub async fn query_all(query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
        let items = query.into_paginator().items().send();
        let items = Box::pin(items.collect::<Result<Vec<_>, _>>()).await;
        items.map_err(|e| StoreError::backend("Query", e))
    }

    /// Every item `scan` finds, page after page.
    pub async fn scan_all(scan: ScanFluentBuilder) -> Result<Vec<Item>, StoreError> {
        let items = scan.into_paginator().items().send();
        let items = Box::pin(items.collect::<Result<Vec<_>, _>>()).await;
        items.map_err(|e| StoreError::backend("Scan", e))
    }
}
