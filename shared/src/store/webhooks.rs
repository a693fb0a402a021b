//! Webhook subscriptions (`webhooks` table, key `id`) and their deliveries (`webhookdeliveries`
//! table, key `subscription` + `event_id`; index `recent` by `queued_at` for a subscription's
//! page, newest first; index `by_event` by `event_id` for one event across subscriptions).
//!
//! A subscription is written `creating` before its secret and its rule exist and `active` once
//! both do; `deleting` before they are removed, and the record itself last. So a rule never
//! exists without its record, and a record that is not `active` is visibly half-made, finished by
//! a create sent again or cleared by a delete.
//!
//! A delivery is claimed before each attempt (a lease, conditional on it being neither delivered,
//! dead nor leased by another attempt), then completed once: a redelivered SQS message of an
//! event already delivered to a subscription is not sent again.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;

use super::attr::{from_item, n, s, text_enum, Item};
use super::expr::{Condition, Update};
use super::table::Table;
use super::tickets::PUSH_RETENTION_SECS;
use super::StoreError;

/// Where a subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionState {
    /// The record is written; its secret and rule may not be yet.
    Creating,
    /// Secret and rule exist: events are delivered.
    Active,
    /// Being removed: nothing more is delivered.
    Deleting,
}

impl SubscriptionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Active => "active",
            Self::Deleting => "deleting",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Creating, Self::Active, Self::Deleting]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Where one event's delivery to one subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not delivered yet: being tried, or to be tried again.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up after the retry window: in the dead-letter queue.
    Dead,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Dead]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

text_enum!(SubscriptionState, DeliveryState);

/// One subscription as stored (never its secret: that is in Secrets Manager).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub url: String,
    /// The kind patterns, comma-separated as stored.
    pub events: String,
    /// The appids, comma-separated; empty for every authorizer.
    pub appids: String,
    pub state: SubscriptionState,
    pub created_by: String,
    /// Milliseconds; also tells the secrets of two subscriptions of the same id apart.
    pub created_at_ms: i64,
}

from_item! { Subscription { id, url, events, appids, state, created_by, created_at_ms } }

impl Subscription {
    pub fn event_list(&self) -> Vec<String> {
        split(&self.events)
    }

    pub fn appid_list(&self) -> Vec<String> {
        split(&self.appids)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "url": self.url,
            "events": self.event_list(),
            "appids": self.appid_list(),
            "state": self.state.as_str(),
            "created_by": self.created_by,
            "created_at_ms": self.created_at_ms,
        })
    }
}

fn split(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One event's delivery to one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub subscription: String,
    pub event_id: String,
    pub kind: String,
    pub state: DeliveryState,
    pub attempts: i64,
    /// The receiver's last HTTP status (none when it could not be reached).
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    /// Milliseconds: first queued (the order of a subscription's page), last attempt.
    pub queued_at: i64,
    pub last_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
    /// Milliseconds: an attempt under way holds the delivery until then.
    pub lease_until: Option<i64>,
}

from_item! { Delivery {
    subscription, event_id, kind, state, queued_at, last_status, last_error, last_attempt_at,
    delivered_at, lease_until;
    default: attempts
} }

impl Delivery {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "subscription": self.subscription,
            "event_id": self.event_id,
            "kind": self.kind,
            "state": self.state.as_str(),
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "queued_at_ms": self.queued_at,
            "last_attempt_at_ms": self.last_attempt_at,
            "delivered_at_ms": self.delivered_at,
        })
    }
}

/// The call making a subscription, and until when (milliseconds) no other call takes it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateClaim {
    pub token: String,
    pub until: i64,
}

/// The answer to [`WebhookStore::claim_creation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Creation {
    /// A new record: this call makes the rest.
    New,
    /// A create cut short, taken over: this call finishes it.
    Resumed(Subscription),
    /// Another call is making it now.
    Busy,
    /// Already made (active) or being deleted.
    Exists(Subscription),
}

/// The answer to [`WebhookStore::begin_delete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Marked `deleting`: the caller removes the rule, the secret, then the record.
    Started,
    /// A create holds it now: try again once that call has ended.
    Creating,
    /// No such subscription.
    Absent,
}

/// Milliseconds since the Unix epoch.
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This attempt holds the delivery: the attempts made before it.
    Claimed { attempts: i64, queued_at: i64 },
    /// Already delivered or dead: nothing to send.
    Done(DeliveryState),
    /// Another attempt holds it now.
    Busy,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered { status: i64 },
    Failed { status: Option<i64>, error: String },
    Dead { status: Option<i64>, error: String },
}

#[derive(Debug, Clone)]
pub struct WebhookStore {
    subscriptions: Table,
    deliveries: Table,
}

fn key(id: &str) -> Item {
    Item::from([("id".to_owned(), s(id))])
}

fn delivery_key(subscription: &str, event_id: &str) -> Item {
    Item::from([
        ("subscription".to_owned(), s(subscription)),
        ("event_id".to_owned(), s(event_id)),
    ])
}

impl WebhookStore {
    pub fn new(client: Client, subscriptions: &str, deliveries: &str) -> Self {
        Self {
            subscriptions: Table::new(client.clone(), subscriptions),
            deliveries: Table::new(client, deliveries),
        }
    }

    /// Claims the making of `sub` for `claim`: a new record (`creating`), or one a create cut short
    /// left `creating` whose claim has run out; otherwise the subscription as it stands.
    pub async fn claim_creation(
        &self,
        sub: &Subscription,
        claim: &CreateClaim,
        now_ms: i64,
    ) -> Result<Creation, StoreError> {
        let item = Item::from([
            ("id".to_owned(), s(&sub.id)),
            ("url".to_owned(), s(&sub.url)),
            ("events".to_owned(), s(&sub.events)),
            ("appids".to_owned(), s(&sub.appids)),
            ("state".to_owned(), s(SubscriptionState::Creating.as_str())),
            ("created_by".to_owned(), s(&sub.created_by)),
            ("created_at_ms".to_owned(), n(sub.created_at_ms)),
            ("create_token".to_owned(), s(&claim.token)),
            ("create_until".to_owned(), n(claim.until)),
        ]);
        if self
            .subscriptions
            .put(item, &Condition::absent("id"))
            .await?
            .is_some()
        {
            return Ok(Creation::New);
        }
        let take_over = Update::new()
            .set("create_token", s(&claim.token))
            .set("create_until", n(claim.until))
            .condition("#state = :creating AND #create_until < :now")
            .value(":creating", s(SubscriptionState::Creating.as_str()))
            .value(":now", n(now_ms))
            .returning(ReturnValue::AllNew);
        if let Some(item) = self.subscriptions.update(key(&sub.id), &take_over).await? {
            return Ok(Creation::Resumed(Subscription::try_from(&item)?));
        }
        Ok(match self.subscription(&sub.id).await? {
            Some(sub) if sub.state == SubscriptionState::Creating => Creation::Busy,
            Some(sub) => Creation::Exists(sub),
            // Deleted in between: the caller may try again.
            None => Creation::Busy,
        })
    }

    /// Makes the subscription `active`, if `token` still holds its creation.
    pub async fn activate(&self, id: &str, token: &str) -> Result<bool, StoreError> {
        let update = Update::new()
            .set("state", s(SubscriptionState::Active.as_str()))
            .remove_all(&["create_token", "create_until"])
            .condition("#state = :creating AND #create_token = :token")
            .value(":creating", s(SubscriptionState::Creating.as_str()))
            .value(":token", s(token));
        Ok(self.subscriptions.update(key(id), &update).await?.is_some())
    }

    pub async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        self.subscriptions.read(key(id)).await
    }

    /// Marks the subscription `deleting` (nothing more is delivered for it), unless a create
    /// still holds it.
    pub async fn begin_delete(&self, id: &str, now_ms: i64) -> Result<Deletion, StoreError> {
        let update = Update::new()
            .set("state", s(SubscriptionState::Deleting.as_str()))
            .condition(
                "attribute_exists(#id) AND \
                 (attribute_not_exists(#create_until) OR #create_until < :now)",
            )
            .value(":now", n(now_ms));
        if self.subscriptions.update(key(id), &update).await?.is_some() {
            return Ok(Deletion::Started);
        }
        Ok(match self.subscription(id).await? {
            Some(_) => Deletion::Creating,
            None => Deletion::Absent,
        })
    }

    /// Removes the record (the last step of a delete); false when it was not `deleting`.
    pub async fn remove(&self, id: &str) -> Result<bool, StoreError> {
        let condition = Condition::new("#state = :deleting")
            .value(":deleting", s(SubscriptionState::Deleting.as_str()));
        self.subscriptions.delete(key(id), &condition).await
    }

    /// Every subscription (a platform has few).
    pub async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        let items = Table::scan_all(self.subscriptions.scan().consistent_read(true)).await?;
        let mut subs = items
            .iter()
            .map(Subscription::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        subs.sort_by_key(|s| std::cmp::Reverse(s.created_at_ms));
        Ok(subs)
    }

    /// Claims the delivery of `event_id` to `subscription` for an attempt until `lease_until`
    /// (milliseconds), creating its record on the first one.
    pub async fn claim(
        &self,
        subscription: &str,
        event_id: &str,
        kind: &str,
        now_ms: i64,
        lease_until: i64,
    ) -> Result<Claim, StoreError> {
        let update = Update::new()
            .set("lease_until", n(lease_until))
            .set_if_absent("state", s(DeliveryState::Pending.as_str()))
            .set_if_absent("kind", s(kind))
            .set_if_absent("queued_at", n(now_ms))
            .set_if_absent("purge_at", n(now_ms / 1000 + PUSH_RETENTION_SECS))
            .condition(
                "attribute_not_exists(#state) OR (#state = :pending AND \
                 (attribute_not_exists(#lease_until) OR #lease_until < :now))",
            )
            .value(":pending", s(DeliveryState::Pending.as_str()))
            .value(":now", n(now_ms))
            .returning(ReturnValue::AllNew);
        let key = delivery_key(subscription, event_id);
        if let Some(item) = self.deliveries.update(key.clone(), &update).await? {
            let delivery = Delivery::try_from(&item)?;
            return Ok(Claim::Claimed {
                attempts: delivery.attempts,
                queued_at: delivery.queued_at,
            });
        }
        match self.deliveries.read::<Delivery>(key).await? {
            Some(d) if d.state != DeliveryState::Pending => Ok(Claim::Done(d.state)),
            _ => Ok(Claim::Busy),
        }
    }

    /// Completes the attempt that holds the lease until `lease_until`; false when it no longer
    /// held it (its lease ran out and another attempt took the delivery).
    pub async fn complete(
        &self,
        subscription: &str,
        event_id: &str,
        lease_until: i64,
        now_ms: i64,
        outcome: &AttemptOutcome,
    ) -> Result<bool, StoreError> {
        let (state, status, error) = match outcome {
            AttemptOutcome::Delivered { status } => (DeliveryState::Delivered, Some(*status), None),
            AttemptOutcome::Failed { status, error } => {
                (DeliveryState::Pending, *status, Some(error))
            }
            AttemptOutcome::Dead { status, error } => (DeliveryState::Dead, *status, Some(error)),
        };
        let mut update = Update::new()
            .set("state", s(state.as_str()))
            .increment("attempts", 1)
            .set("last_attempt_at", n(now_ms))
            .set_or_remove("last_status", status.map(n))
            .set_or_remove("last_error", error.map(|e| s(e.as_str())))
            .remove("lease_until")
            .condition("#lease_until = :mine")
            .value(":mine", n(lease_until));
        if state == DeliveryState::Delivered {
            update = update.set("delivered_at", n(now_ms));
        }
        let key = delivery_key(subscription, event_id);
        Ok(self.deliveries.update(key, &update).await?.is_some())
    }

    /// A subscription's deliveries, newest first: a page of `limit` and the cursor of the next.
    pub async fn deliveries(
        &self,
        subscription: &str,
        limit: i32,
        cursor: Option<&DeliveryCursor>,
    ) -> Result<(Vec<Delivery>, Option<DeliveryCursor>), StoreError> {
        let start = cursor.map(|c| {
            Item::from([
                ("subscription".to_owned(), s(subscription)),
                ("event_id".to_owned(), s(&c.event_id)),
                ("queued_at".to_owned(), n(c.queued_at)),
            ])
        });
        let query = self
            .deliveries
            .query()
            .index_name("recent")
            .key_condition_expression("#subscription = :subscription")
            .expression_attribute_names("#subscription", "subscription")
            .expression_attribute_values(":subscription", s(subscription))
            .scan_index_forward(false)
            .set_exclusive_start_key(start)
            .limit(limit);
        let out = Table::query_page(query).await?;
        let page = out
            .items()
            .iter()
            .map(Delivery::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next = match (&out.last_evaluated_key, page.last()) {
            (Some(_), Some(last)) => Some(DeliveryCursor {
                queued_at: last.queued_at,
                event_id: last.event_id.clone(),
            }),
            _ => None,
        };
        Ok((page, next))
    }

    /// One event's deliveries, to every subscription it went to (the push detail page).
    pub async fn event_deliveries(&self, event_id: &str) -> Result<Vec<Delivery>, StoreError> {
        let query = self
            .deliveries
            .query()
            .index_name("by_event")
            .key_condition_expression("#event_id = :event_id")
            .expression_attribute_names("#event_id", "event_id")
            .expression_attribute_values(":event_id", AttributeValue::S(event_id.to_owned()));
        Table::query_all(query)
            .await?
            .iter()
            .map(Delivery::try_from)
            .collect()
    }
}

/// Where a page of deliveries goes on: `<queued_at ms>.<event id>` as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCursor {
    pub queued_at: i64,
    pub event_id: String,
}

impl DeliveryCursor {
    pub fn parse(text: &str) -> Option<Self> {
        let (at, event_id) = text.split_once('.')?;
        let event_id = event_id.to_owned();
        let well_formed = !event_id.is_empty()
            && event_id.len() <= 128
            && event_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        well_formed.then_some(Self {
            queued_at: at.parse().ok()?,
            event_id,
        })
    }
}

impl std::fmt::Display for DeliveryCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.queued_at, self.event_id)
    }
}
