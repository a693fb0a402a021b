//! The `tickets` table: per component appid (partition key `component_appid`, sort key `record`)
//!
//! * `record = "verify_ticket"`: the newest component_verify_ticket (`ticket`, `create_time`,
//!   `received_at`) and the one before it (`previous_*`);
//! * (pushes are kept in the events table, [`super::events`]; the `push#…` records of earlier
//!   versions expire by their TTL);
//! * `record = "nonce#<nonce>"`: the nonces of recent pushes (see [`super::nonces`]);
//! * `record = "registration#<id>"`: fast-registration tasks (see [`super::registrations`]).

use std::future::Future;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use secrecy::{ExposeSecret, SecretString};

use super::attr::{get, get_or_default, n, s, FromItem, Item};
use super::expr::{Condition, Update};
use super::table::Table;
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

impl VerifyTicket {
    /// `ticket`, `create_time`, `received_at`, each name after `prefix` (`previous_` for the
    /// ticket replaced).
    fn attributes(&self, prefix: &str) -> [(String, AttributeValue); 3] {
        [
            (format!("{prefix}ticket"), s(self.ticket.expose_secret())),
            (format!("{prefix}create_time"), n(self.create_time)),
            (format!("{prefix}received_at"), n(self.received_at)),
        ]
    }
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

/// What storing a push (an event) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Stored,
    /// Already stored (a retried push); nothing changed.
    Duplicate,
}

/// The `tickets` table: every record kind of this module and of [`super::component_token`],
/// [`super::auth_codes`], [`super::nonces`] and [`super::refresh_shards`], each behind its trait.
#[derive(Debug, Clone)]
pub struct DynamoTicketStore {
    table: Table,
}

impl DynamoTicketStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            table: Table::new(client, table),
        }
    }

    pub(super) fn table(&self) -> &Table {
        &self.table
    }

    pub(super) fn key(component_appid: &str, record: &str) -> Item {
        Item::from([
            (PK.to_owned(), s(component_appid)),
            (SK.to_owned(), s(record)),
        ])
    }

    /// The record `record` of `component_appid` (a strongly consistent read).
    pub(super) async fn read_record<T: FromItem>(
        &self,
        component_appid: &str,
        record: &str,
    ) -> Result<Option<T>, StoreError> {
        self.table.read(Self::key(component_appid, record)).await
    }

    /// Every record of `component_appid` whose key starts with `prefix` (strongly consistent).
    pub(super) async fn records_with_prefix(
        &self,
        component_appid: &str,
        prefix: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let query = self
            .table
            .query()
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(component_appid))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true);
        Table::query_all(query).await
    }

    /// Puts the record with `attributes` besides its key, if `condition` holds.
    pub(super) async fn put_record(
        &self,
        component_appid: &str,
        record: &str,
        attributes: impl IntoIterator<Item = (impl Into<String>, AttributeValue)>,
        condition: &Condition,
    ) -> Result<bool, StoreError> {
        let mut item = Self::key(component_appid, record);
        item.extend(
            attributes
                .into_iter()
                .map(|(name, value)| (name.into(), value)),
        );
        Ok(self.table.put(item, condition).await?.is_some())
    }

    /// Applies `update` to the record; false when its condition did not hold.
    pub(super) async fn update_record(
        &self,
        component_appid: &str,
        record: &str,
        update: &Update,
    ) -> Result<bool, StoreError> {
        let key = Self::key(component_appid, record);
        Ok(self.table.update(key, update).await?.is_some())
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
        let mut attributes = Vec::from(new.attributes(""));
        let condition = match seen {
            None => Condition::absent(PK),
            Some(seen) => {
                let before = &seen.current;
                let previous = if is_future_dated(before.create_time, new.received_at) {
                    seen.previous.as_ref()
                } else {
                    Some(before)
                };
                if let Some(previous) = previous {
                    attributes.extend(previous.attributes("previous_"));
                }
                Condition::new("#ticket = :seen_ticket AND #create_time = :seen_time")
                    .value(":seen_ticket", s(before.ticket.expose_secret()))
                    .value(":seen_time", n(before.create_time))
            }
        };
        self.put_record(
            component_appid,
            VERIFY_TICKET_RECORD,
            attributes,
            &condition,
        )
        .await
    }
}

impl TicketStore for DynamoTicketStore {
    async fn save_verify_ticket(
        &self,
        component_appid: &str,
        ticket: VerifyTicket,
    ) -> Result<TicketOutcome, StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            let seen: Option<VerifyTicketRecord> = self
                .read_record(component_appid, VERIFY_TICKET_RECORD)
                .await?;
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
        self.read_record(component_appid, VERIFY_TICKET_RECORD)
            .await
    }
}
