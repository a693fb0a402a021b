//! Webhook subscriptions (README, "Webhooks"): `POST /admin/webhooks` (the signing secret
//! answered once), `GET /admin/webhooks`, `GET|DELETE /admin/webhooks/{id}`,
//! `POST /admin/webhooks/{id}/test` and `GET /admin/webhooks/{id}/deliveries`.
//!
//! A subscription is a record (`shared::store::webhooks`), a secret in Secrets Manager, and a
//! rule on the platform's bus targeting the webhook queue. Created in that order (the record
//! `creating`, then the secret, the rule, the record `active`) and deleted in the reverse one
//! (the record `deleting`, the rule, the secret, the record), each step idempotent: a rule never
//! exists without its record, and a create or delete cut short is finished by sending it again.

use std::collections::HashMap;

use aws_sdk_eventbridge::types::{InputTransformer, RuleState, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shared::code_release::CodeError;
use shared::events::{KindPattern, PlatformEvent};
use shared::store::{
    unix_now, unix_now_ms, ActionLog, AuthorizerStore, CreateClaim, Creation, Deletion,
    DeliveryCursor, Subscription, SubscriptionState, WebhookStore,
};
use shared::webhook::{self, TargetPolicy, WebhookMessage};

use crate::errors::{invalid, AdminError};
use crate::routes::Op;
use crate::validate;
use crate::{Answer, CodeAdmin};

/// Where the webhooks' parts are: the bus, the queue, the secrets' name prefix.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub bus_name: String,
    pub queue_url: String,
    pub queue_arn: String,
    /// e.g. `<stack>/webhooks/`: a subscription's secret is named this and its id.
    pub secret_prefix: String,
    pub policy: TargetPolicy,
}

impl WebhookSettings {
    /// `EVENT_BUS_NAME`, `WEBHOOK_QUEUE_URL`, `WEBHOOK_QUEUE_ARN`, `WEBHOOK_SECRET_PREFIX`,
    /// `WEBHOOK_ALLOW_LOOPBACK`; None when the bus is not set (the routes answer 503).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let get = |name: &str| get(name).filter(|v| !v.is_empty());
        Some(Self {
            bus_name: get("EVENT_BUS_NAME")?,
            queue_url: get("WEBHOOK_QUEUE_URL")?,
            queue_arn: get("WEBHOOK_QUEUE_ARN")?,
            secret_prefix: get("WEBHOOK_SECRET_PREFIX")?,
            policy: TargetPolicy::from_lookup(get),
        })
    }
}

/// The AWS side of webhooks: the store, EventBridge, Secrets Manager and the queue.
#[derive(Debug, Clone)]
pub struct WebhookAdmin {
    pub store: WebhookStore,
    pub events: aws_sdk_eventbridge::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub settings: WebhookSettings,
}

/// An EventBridge, Secrets Manager or SQS failure: 503, its detail logged only.
fn backend<E: std::error::Error>(what: &'static str, err: E) -> AdminError {
    AdminError::Webhooks(format!(
        "{what}: {}",
        aws_sdk_eventbridge::error::DisplayErrorContext(err)
    ))
}

/// `POST /admin/webhooks`. Unknown fields are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    url: Option<String>,
    events: Option<Vec<String>>,
    appids: Option<Vec<String>>,
}

/// create's validated fields (what the action log records: no secret).
#[derive(Debug, Clone, Serialize)]
pub struct WebhookFields {
    pub url: String,
    /// Sorted, without repeats.
    pub events: Vec<String>,
    pub appids: Vec<String>,
}

/// How long a create holds its subscription against another call's taking it over.
const CREATE_CLAIM_MS: i64 = 60_000;

const MAX_URL_CHARS: usize = 2048;
const MAX_PATTERNS: usize = 20;
const MAX_APPIDS: usize = 100;

fn sorted(mut list: Vec<String>) -> Vec<String> {
    list.sort();
    list.dedup();
    list
}

impl<L: ActionLog + Sync> CodeAdmin<L> {
    fn webhooks(&self) -> Result<&WebhookAdmin, AdminError> {
        self.webhooks.as_ref().ok_or(AdminError::WebhooksOff)
    }

    /// create's body checked: an https URL to public addresses, known event patterns, appids of
    /// this platform's authorizers. Nothing is written before all of it passes.
    pub(crate) async fn validate_webhook(
        &self,
        request: WebhookRequest,
    ) -> Result<WebhookFields, AdminError> {
        let policy = self.webhooks()?.settings.policy;
        let url = request.url.unwrap_or_default();
        if url.is_empty() || url.chars().count() > MAX_URL_CHARS {
            return Err(invalid(
                "url",
                format!("required: an https URL of at most {MAX_URL_CHARS} characters"),
            ));
        }
        let url = webhook::check_url(&url, policy)
            .await
            .map_err(|e| invalid("url", e.to_string()))?
            .to_string();
        let events = sorted(request.events.unwrap_or_default());
        if events.is_empty() || events.len() > MAX_PATTERNS {
            return Err(invalid(
                "events",
                format!("required: 1 to {MAX_PATTERNS} event patterns"),
            ));
        }
        if let Some(unknown) = events.iter().find(|p| KindPattern::parse(p).is_none()) {
            return Err(invalid(
                "events",
                format!(
                    "unknown event pattern {unknown:?}: a kind (message.text, \
                     event.subscribe_msg_popup_event, component.unauthorized, \
                     platform.audit.passed…), a family and .* (message.*), or *"
                ),
            ));
        }
        let appids = sorted(request.appids.unwrap_or_default());
        if appids.len() > MAX_APPIDS {
            return Err(invalid("appids", format!("at most {MAX_APPIDS} appids")));
        }
        let authorizers = self.code.authorization().authorizers();
        for appid in &appids {
            validate::appid(appid).map_err(|_| invalid("appids", "appids of the form wx…"))?;
            if authorizers.authorizer(appid).await?.is_none() {
                return Err(invalid(
                    "appids",
                    format!("{appid} is not an authorizer of this platform"),
                ));
            }
        }
        Ok(WebhookFields {
            url,
            events,
            appids,
        })
    }

    /// Creates the subscription (or finishes one a create cut short): its secret, answered once.
    pub(crate) async fn create_webhook(
        &self,
        label: &str,
        fields: &WebhookFields,
    ) -> Result<Answer, AdminError> {
        let hooks = self.webhooks()?;
        let id = webhook::subscription_id(&fields.url, &fields.events, &fields.appids);
        let now_ms = unix_now_ms();
        let new = Subscription {
            id: id.clone(),
            url: fields.url.clone(),
            events: fields.events.join(","),
            appids: fields.appids.join(","),
            state: SubscriptionState::Creating,
            created_by: label.to_owned(),
            created_at_ms: now_ms,
        };
        // Longer than this call may run (29 s): a create cut short is taken over only once the
        // call that started it has ended.
        let claim = CreateClaim {
            token: format!("{:016x}", rand::random::<u64>()),
            until: now_ms + CREATE_CLAIM_MS,
        };
        let mut sub = match hooks.store.claim_creation(&new, &claim, now_ms).await? {
            Creation::New => new,
            Creation::Resumed(sub) => sub,
            Creation::Busy => {
                return Err(AdminError::Refused(CodeError::Conflict(format!(
                    "webhook {id} is being created by another call: try again in a minute"
                ))))
            }
            Creation::Exists(sub) => {
                return Err(AdminError::Refused(CodeError::Conflict(format!(
                    "webhook {} with this url, events and appids is {}{}",
                    sub.id,
                    sub.state.as_str(),
                    match sub.state {
                        SubscriptionState::Deleting => ": DELETE it again to finish",
                        _ => ": DELETE it first to make it anew (its secret is shown only once)",
                    }
                ))))
            }
        };
        let secret = webhook::new_secret();
        hooks.put_secret(&id, &secret).await?;
        hooks.put_rule(&id, fields).await?;
        if !hooks.store.activate(&id, &claim.token).await? {
            return Err(AdminError::Refused(CodeError::Conflict(format!(
                "webhook {id} was taken over or deleted while it was being created"
            ))));
        }
        sub.state = SubscriptionState::Active;
        Ok(Answer::Json(
            json!({ "webhook": sub.to_json(), "secret": secret }),
        ))
    }

    /// Deletes the subscription: nothing more is delivered once its rule is gone.
    pub(crate) async fn delete_webhook(&self, id: &str) -> Result<Answer, AdminError> {
        let hooks = self.webhooks()?;
        match hooks.store.begin_delete(id, unix_now_ms()).await? {
            Deletion::Started => {}
            Deletion::Absent => return Err(not_found(id)),
            Deletion::Creating => {
                return Err(AdminError::Refused(CodeError::Conflict(format!(
                    "webhook {id} is being created by another call: try again in a minute"
                ))))
            }
        }
        hooks.delete_rule(id).await?;
        hooks.delete_secret(id).await?;
        hooks.store.remove(id).await?;
        Ok(Answer::Json(json!({ "deleted": id })))
    }

    /// Sends a test event to the subscription through the queue (the same delivery as any event).
    pub(crate) async fn test_webhook(&self, id: &str) -> Result<Answer, AdminError> {
        let hooks = self.webhooks()?;
        let sub = hooks
            .store
            .subscription(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if sub.state != SubscriptionState::Active {
            return Err(AdminError::Refused(CodeError::Conflict(format!(
                "webhook {id} is {}",
                sub.state.as_str()
            ))));
        }
        let event = PlatformEvent {
            id: format!("test_{:016x}", rand::random::<u64>()),
            kind: webhook::TEST_KIND.to_owned(),
            appid: None,
            create_time: unix_now(),
            fields: json!({ "test": true }),
        };
        let message = WebhookMessage {
            subscription: id.to_owned(),
            detail: event.clone(),
        };
        let body = serde_json::to_string(&message).expect("a message serializes");
        let send = hooks
            .sqs
            .send_message()
            .queue_url(&hooks.settings.queue_url);
        send.message_body(body)
            .send()
            .await
            .map_err(|e| backend("SendMessage", e))?;
        Ok(Answer::Json(json!({ "event_id": event.id, "webhook": id })))
    }

    /// The reads: every subscription, one, or a page of one's deliveries.
    pub(crate) async fn read_webhooks(
        &self,
        op: Op,
        params: &HashMap<String, String>,
        query: &HashMap<String, String>,
    ) -> Result<Answer, AdminError> {
        let hooks = self.webhooks()?;
        if op == Op::ListWebhooks {
            let subs = hooks.store.subscriptions().await?;
            let subs: Vec<Value> = subs.iter().map(Subscription::to_json).collect();
            return Ok(Answer::Json(json!({ "webhooks": subs })));
        }
        let id = webhook_id(params)?;
        let sub = hooks
            .store
            .subscription(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if op == Op::GetWebhook {
            return Ok(Answer::Json(json!({ "webhook": sub.to_json() })));
        }
        let limit = query
            .get("limit")
            .map(|l| validate::positive_int(l, "limit"))
            .transpose()?
            .unwrap_or(50)
            .min(200);
        let cursor = query
            .get("cursor")
            .map(|c| DeliveryCursor::parse(c).ok_or_else(|| invalid("cursor", "a next_cursor")))
            .transpose()?;
        let (page, next) = hooks
            .store
            .deliveries(id, limit as i32, cursor.as_ref())
            .await?;
        let page: Vec<Value> = page.iter().map(|d| d.to_json()).collect();
        Ok(Answer::Json(json!({
            "deliveries": page,
            "next_cursor": next.map(|c| c.to_string()),
        })))
    }
}

impl<L> CodeAdmin<L> {
    /// One event's deliveries to every subscription (the push detail page): state, attempts,
    /// last status and error of each.
    pub async fn event_deliveries(&self, event_id: &str) -> Result<Vec<Value>, AdminError> {
        let hooks = self.webhooks.as_ref().ok_or(AdminError::WebhooksOff)?;
        let deliveries = hooks.store.event_deliveries(event_id).await?;
        Ok(deliveries.iter().map(|d| d.to_json()).collect())
    }
}

/// The path's `{id}`, checked.
pub(crate) fn webhook_id(params: &HashMap<String, String>) -> Result<&str, AdminError> {
    let id = params.get("id").map(String::as_str).unwrap_or_default();
    if !webhook::is_subscription_id(id) {
        return Err(invalid("id", "wh_ followed by 16 hexadecimal digits"));
    }
    Ok(id)
}

/// EventBridge's answer for a rule (or target) that does not exist.
fn gone<E, R>(err: &aws_sdk_eventbridge::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_eventbridge::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ResourceNotFoundException")
}

fn not_found(id: &str) -> AdminError {
    AdminError::NotFound {
        method: "webhook".into(),
        path: id.to_owned(),
    }
}

impl WebhookAdmin {
    fn secret_name(&self, id: &str) -> String {
        format!("{}{id}", self.settings.secret_prefix)
    }

    /// The secret of `id`: created, or (a create cut short before) replaced.
    async fn put_secret(&self, id: &str, secret: &str) -> Result<(), AdminError> {
        let name = self.secret_name(id);
        let create = self.secrets.create_secret().name(&name);
        match create
            .description("Webhook signing secret")
            .secret_string(secret)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_exists_exception()) =>
            {
                let put = self.secrets.put_secret_value().secret_id(&name);
                put.secret_string(secret)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| backend("PutSecretValue", e))
            }
            Err(e) => Err(backend("CreateSecret", e)),
        }
    }

    async fn delete_secret(&self, id: &str) -> Result<(), AdminError> {
        let delete = self.secrets.delete_secret().secret_id(self.secret_name(id));
        match delete.force_delete_without_recovery(true).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(backend("DeleteSecret", e)),
        }
    }

    /// The rule (put again as it is when it exists) and its one target, the webhook queue, with
    /// the input transformer that wraps each event with the subscription's id.
    async fn put_rule(&self, id: &str, fields: &WebhookFields) -> Result<(), AdminError> {
        let patterns: Vec<KindPattern> = fields
            .events
            .iter()
            .filter_map(|p| KindPattern::parse(p))
            .collect();
        let pattern = webhook::event_pattern(&patterns, &fields.appids);
        let name = webhook::rule_name(id);
        let bus = &self.settings.bus_name;
        let rule = self.events.put_rule().name(&name).event_bus_name(bus);
        rule.event_pattern(pattern.to_string())
            .state(RuleState::Enabled)
            .description(format!("Webhook {id}"))
            .send()
            .await
            .map_err(|e| backend("PutRule", e))?;
        let (path_name, path) = webhook::INPUT_PATH_DETAIL;
        let transformer = InputTransformer::builder()
            .input_paths_map(path_name, path)
            .input_template(webhook::input_template(id))
            .build()
            .map_err(|e| backend("InputTransformer", e))?;
        let target = Target::builder()
            .id(webhook::TARGET_ID)
            .arn(&self.settings.queue_arn)
            .input_transformer(transformer)
            .build()
            .map_err(|e| backend("Target", e))?;
        let out = self.events.put_targets().rule(&name).event_bus_name(bus);
        let out = out
            .targets(target)
            .send()
            .await
            .map_err(|e| backend("PutTargets", e))?;
        if out.failed_entry_count > 0 {
            return Err(AdminError::Webhooks(format!(
                "PutTargets refused the webhook queue for {name}: {:?}",
                out.failed_entries()
            )));
        }
        Ok(())
    }

    /// The rule and its target, if they exist.
    async fn delete_rule(&self, id: &str) -> Result<(), AdminError> {
        let name = webhook::rule_name(id);
        let bus = &self.settings.bus_name;
        let remove = self.events.remove_targets().rule(&name).event_bus_name(bus);
        match remove.ids(webhook::TARGET_ID).send().await {
            Ok(_) => {}
            Err(e) if gone(&e) => {}
            Err(e) => return Err(backend("RemoveTargets", e)),
        }
        let delete = self.events.delete_rule().name(&name).event_bus_name(bus);
        match delete.send().await {
            Ok(_) => Ok(()),
            Err(e) if gone(&e) => Ok(()),
            Err(e) => Err(backend("DeleteRule", e)),
        }
    }
}
