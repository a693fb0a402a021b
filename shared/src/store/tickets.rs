//! The `tickets` table: per component appid (partition key `component_appid`, sort key `record`)
//!
//! * `record = "verify_ticket"`: the newest component_verify_ticket (`ticket`, `create_time`,
//!   `received_at`) and the one before it (`previous_*`);
//! * `record = "push#<InfoType>#<authorizer appid or ->#<CreateTime>#<digest>"`: every other
//!   authorization push as received (idempotent: one item per push), purged by TTL (`purge_at`)
//!   after 90 days;
//! * `record = "nonce#<nonce>"`: the nonces of recent pushes (see [`super::nonces`]).

use std::future::Future;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::attr::{from_item, get, get_or_default, n, s, Item};
use super::conditional;
use super::StoreError;
use crate::push::is_future_dated;

pub const PK: &str = "component_appid";
pub const SK: &str = "record";
pub const VERIFY_TICKET_RECORD: &str = "verify_ticket";
pub const PUSH_RETENTION_SECS: i64 = 90 * 24 * 3600;
const MAX_ATTEMPTS: u32 = 8;

/// One component_verify_ticket.
#[derive(Clone)]
pub struct VerifyTicket {
    pub ticket: SecretString,
    /// CreateTime of the push (WeChat's clock), the order of tickets.
    pub create_time: i64,
    /// When we stored it (our clock).
    pub received_at: i64,
}

impl std::fmt::Debug for VerifyTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyTicket")
            .field("create_time", &self.create_time)
            .field("received_at", &self.received_at)
            .finish_non_exhaustive()
    }
}

/// The newest ticket and the one before it.
#[derive(Debug, Clone)]
pub struct VerifyTicketRecord {
    pub current: VerifyTicket,
    pub previous: Option<VerifyTicket>,
}

impl TryFrom<&Item> for VerifyTicketRecord {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let previous = match get(item, "previous_ticket")? {
            Some(ticket) => Some(VerifyTicket {
                ticket,
                create_time: get(item, "previous_create_time")?,
                // Not written by the first versions.
                received_at: get_or_default(item, "previous_received_at")?,
            }),
            None => None,
        };
        Ok(Self {
            current: VerifyTicket {
                ticket: get(item, "ticket")?,
                create_time: get(item, "create_time")?,
                received_at: get(item, "received_at")?,
            },
            previous,
        })
    }
}

/// What saving a ticket did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketOutcome {
    /// It is now the newest ticket.
    Stored,
    /// The same ticket was already the newest one (a retried push).
    Duplicate,
    /// A ticket at least as new is already stored; nothing changed.
    Stale { newest_create_time: i64 },
}

pub trait TicketStore {
    /// Stores `ticket` as the newest unless a newer one is there (a stored ticket dated in the
    /// future counts as none); keeps the one it replaces.
    fn save_verify_ticket(
        &self,
        component_appid: &str,
        ticket: VerifyTicket,
    ) -> impl Future<Output = Result<TicketOutcome, StoreError>> + Send;

    fn verify_ticket(
        &self,
        component_appid: &str,
    ) -> impl Future<Output = Result<Option<VerifyTicketRecord>, StoreError>> + Send;
}

/// An authorization push kept as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedPush {
    pub component_appid: String,
    pub info_type: String,
    pub authorizer_appid: Option<String>,
    pub create_time: i64,
    pub received_at: i64,
    /// The decrypted XML.
    pub plaintext: String,
}

impl ReceivedPush {
    /// One key per push: WeChat's de-duplication key (AppId + InfoType + CreateTime), the
    /// authorizer, and the first 64 bits of the plaintext's SHA-256, so that two different pushes
    /// of the same second (two fast-registration results) are two items while a retry (the same
    /// plaintext, however re-encrypted) is the same one.
    pub fn record_key(&self) -> String {
        let digest = Sha256::digest(self.plaintext.as_bytes());
        let digest: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "push#{}#{}#{}#{digest}",
            self.info_type,
            self.authorizer_appid.as_deref().unwrap_or("-"),
            self.create_time
        )
    }
}

from_item! { ReceivedPush {
    component_appid = PK, info_type, authorizer_appid, create_time, received_at, plaintext
} }

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Stored,
    /// Already stored (a retried push); nothing changed.
    Duplicate,
}

pub trait PushStore {
    fn record_push(
        &self,
        push: &ReceivedPush,
    ) -> impl Future<Output = Result<PushOutcome, StoreError>> + Send;

    fn received_pushes(
        &self,
        component_appid: &str,
    ) -> impl Future<Output = Result<Vec<ReceivedPush>, StoreError>> + Send;

    /// Records what acting on the push did: `processed`, or `failed` with the reason.
    fn set_push_status(
        &self,
        push: &ReceivedPush,
        status: &str,
        detail: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The DynamoDB implementation of [`TicketStore`] and [`PushStore`].
#[derive(Debug, Clone)]
pub struct DynamoTicketStore {
    client: Client,
    table: String,
}

impl DynamoTicketStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn table(&self) -> &str {
        &self.table
    }

    pub(crate) fn key(component_appid: &str, record: &str) -> Item {
        Item::from([
            (PK.to_owned(), s(component_appid)),
            (SK.to_owned(), s(record)),
        ])
    }

    async fn read_ticket_item(&self, component_appid: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(component_appid, VERIFY_TICKET_RECORD)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::backend("GetItem", e))?;
        Ok(out.item)
    }

    /// Writes `new` as the newest ticket, conditional on the item still being as read
    /// (`seen`: None = absent), keeping the replaced one as `previous_*` (unless it was dated in
    /// the future: then the one before it stays). Returns false when another writer got there
    /// first.
    async fn put_ticket_if_unchanged(
        &self,
        component_appid: &str,
        new: &VerifyTicket,
        seen: Option<&VerifyTicketRecord>,
    ) -> Result<bool, StoreError> {
        let mut item = Self::key(component_appid, VERIFY_TICKET_RECORD);
        item.insert("ticket".into(), s(new.ticket.expose_secret()));
        item.insert("create_time".into(), n(new.create_time));
        item.insert("received_at".into(), n(new.received_at));
        let mut request = self.client.put_item().table_name(&self.table);
        match seen {
            None => {
                request = request
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", PK);
            }
            Some(seen) => {
                let before = &seen.current;
                let previous = if is_future_dated(before.create_time, new.received_at) {
                    seen.previous.as_ref()
                } else {
                    Some(before)
                };
                if let Some(previous) = previous {
                    item.insert("previous_ticket".into(), s(previous.ticket.expose_secret()));
                    item.insert("previous_create_time".into(), n(previous.create_time));
                    item.insert("previous_received_at".into(), n(previous.received_at));
                }
                request = request
                    .condition_expression("#ticket = :seen_ticket AND create_time = :seen_time")
                    .expression_attribute_names("#ticket", "ticket")
                    .expression_attribute_values(":seen_ticket", s(before.ticket.expose_secret()))
                    .expression_attribute_values(":seen_time", n(before.create_time));
            }
        }
        conditional(request.set_item(Some(item)).send().await, "PutItem")
    }
}

/// True when a write was refused by its condition (someone else wrote first).
pub fn is_condition_failure<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

impl TicketStore for DynamoTicketStore {
    async fn save_verify_ticket(
        &self,
        component_appid: &str,
        ticket: VerifyTicket,
    ) -> Result<TicketOutcome, StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            let seen = self
                .read_ticket_item(component_appid)
                .await?
                .as_ref()
                .map(VerifyTicketRecord::try_from)
                .transpose()?;
            // A stored ticket dated in the future (ticket-receive refuses those now; an older
            // version stored them) wins nothing: any ticket replaces it.
            if let Some(seen) = seen
                .as_ref()
                .filter(|seen| !is_future_dated(seen.current.create_time, ticket.received_at))
            {
                let newest = &seen.current;
                if newest.create_time == ticket.create_time
                    && newest.ticket.expose_secret() == ticket.ticket.expose_secret()
                {
                    return Ok(TicketOutcome::Duplicate);
                }
                if newest.create_time >= ticket.create_time {
                    return Ok(TicketOutcome::Stale {
                        newest_create_time: newest.create_time,
                    });
                }
            }
            if self
                .put_ticket_if_unchanged(component_appid, &ticket, seen.as_ref())
                .await?
            {
                return Ok(TicketOutcome::Stored);
            }
        }
        Err(StoreError::Contention {
            operation: "save_verify_ticket",
            attempts: MAX_ATTEMPTS,
        })
    }

    async fn verify_ticket(
        &self,
        component_appid: &str,
    ) -> Result<Option<VerifyTicketRecord>, StoreError> {
        self.read_ticket_item(component_appid)
            .await?
            .as_ref()
            .map(VerifyTicketRecord::try_from)
            .transpose()
    }
}

impl PushStore for DynamoTicketStore {
    async fn record_push(&self, push: &ReceivedPush) -> Result<PushOutcome, StoreError> {
        let mut item = Self::key(&push.component_appid, &push.record_key());
        item.insert("info_type".into(), s(&push.info_type));
        if let Some(appid) = &push.authorizer_appid {
            item.insert("authorizer_appid".into(), s(appid));
        }
        item.insert("create_time".into(), n(push.create_time));
        item.insert("received_at".into(), n(push.received_at));
        item.insert("plaintext".into(), s(&push.plaintext));
        item.insert("status".into(), s("received"));
        item.insert("purge_at".into(), n(push.received_at + PUSH_RETENTION_SECS));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#sk)")
            .expression_attribute_names("#sk", SK)
            .send()
            .await;
        Ok(if conditional(result, "PutItem")? {
            PushOutcome::Stored
        } else {
            PushOutcome::Duplicate
        })
    }

    async fn set_push_status(
        &self,
        push: &ReceivedPush,
        status: &str,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&push.component_appid, &push.record_key())))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status))
            .expression_attribute_values(":now", n(super::unix_now()));
        request = match detail {
            Some(detail) => request
                .update_expression(
                    "SET #status = :status, status_detail = :detail, processed_at = :now",
                )
                .expression_attribute_values(":detail", s(detail)),
            None => request.update_expression(
                "SET #status = :status, processed_at = :now REMOVE status_detail",
            ),
        };
        // A retried push that ends the same way (same status) changes nothing.
        let result = request
            .condition_expression("attribute_not_exists(processed_at) OR #status <> :status")
            .send()
            .await;
        conditional(result, "UpdateItem").map(|_| ())
    }

    async fn received_pushes(
        &self,
        component_appid: &str,
    ) -> Result<Vec<ReceivedPush>, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(component_appid))
            .expression_attribute_values(":prefix", AttributeValue::S("push#".into()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| StoreError::backend("Query", e))?;
        items.iter().map(ReceivedPush::try_from).collect()
    }
}
