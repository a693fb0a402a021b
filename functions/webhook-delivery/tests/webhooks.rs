//! Webhooks end to end through moto: `POST /admin/webhooks` (code-admin) makes the subscription's
//! secret and its rule on the bus; an event put on the bus in the contract's shape reaches the
//! webhook queue through the rule, and the queue's event source (as Lambda's) drives
//! webhook-delivery, which POSTs it signed to a local receiver. Also: the receiver down for a
//! while, SQS delivering a message again, refused input, a delete, a create cut short, and a
//! delivery given up after its window.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use code_admin::webhooks::{WebhookAdmin, WebhookSettings};
use code_admin::PlatformCodeAdmin;
use devstack::event_source::{self, unique_queue_name, EventSource, QueueOptions, SourceOptions};
use devstack::sim::{mini_program, Component, Setup};
use devstack::wait::poll;
use devstack::webhooks::{create_webhooks, event, LocalWebhooks, NotListening, WebhookReceiver};
use devstack::world::World;
use lambda_http::http::StatusCode;
use serde_json::{json, Value};
use shared::store::{
    unix_now_ms, ActionLog, CreateClaim, Creation, Deletion, DynamoActionLog, Subscription,
    SubscriptionState, WebhookStore,
};
use shared::webhook::{self, TargetPolicy};
use webhook_delivery::{Delivery, RetryPolicy, Settings};

#[path = "../../code-admin/tests/common/mod.rs"]
mod common;

const COMPONENT: &str = "wxhookcomponent001";
const MP: &str = "wxhookminiprog0001";

struct Hooks {
    world: World,
    admin: PlatformCodeAdmin,
    local: LocalWebhooks,
    store: WebhookStore,
    delivery: Arc<Delivery>,
    receiver: WebhookReceiver,
}

devstack::deref_world!(Hooks);

/// Retries 1 s apart, for an hour unless `max_age_secs` says otherwise.
fn retry(max_age_secs: i64) -> RetryPolicy {
    RetryPolicy {
        base_secs: 1,
        max_delay_secs: 1,
        max_age_secs,
    }
}

async fn world(test: &str, retry: RetryPolicy) -> Hooks {
    let world = Setup::new(&Component::new(COMPONENT, "hook-secret", "hooktoken"))
        .mini_program(mini_program(MP))
        .authorized()
        .start(test)
        .await;
    let platform = &world.platform;
    let options = QueueOptions {
        visibility_timeout_secs: 2,
        max_receive_count: 100,
    };
    let local = create_webhooks(&platform.sqs, &unique_queue_name(test), options)
        .await
        .unwrap_or_else(|e| panic!("creating the bus and queue of {test}: {e}"));
    let store = WebhookStore::new(
        platform.dynamo.clone(),
        &platform.tables.webhooks,
        &platform.tables.webhook_deliveries,
    );
    // Plain http to loopback: what `make dev` and the tests allow (WEBHOOK_ALLOW_LOOPBACK).
    let policy = TargetPolicy {
        allow_loopback: true,
    };
    let hooks = WebhookAdmin {
        store: store.clone(),
        events: local.events.clone(),
        secrets: local.secrets.clone(),
        sqs: platform.sqs.clone(),
        settings: WebhookSettings {
            bus_name: local.bus_name.clone(),
            queue_url: local.queue.url.clone(),
            queue_arn: local.queue.arn.clone(),
            secret_prefix: local.secret_prefix.clone(),
            policy,
        },
    };
    let admin =
        PlatformCodeAdmin::from_platform(platform, common::ops_tokens()).with_webhooks(Some(hooks));
    let settings = Settings {
        queue_url: local.queue.url.clone(),
        dlq_url: local.queue.dlq_url.clone(),
        secret_prefix: local.secret_prefix.clone(),
        policy,
        retry,
        timeout: Duration::from_secs(3),
        busy_secs: 1,
    };
    let delivery = Delivery::new(
        store.clone(),
        local.secrets.clone(),
        platform.sqs.clone(),
        settings,
    )
    .expect("an HTTP client");
    Hooks {
        world,
        admin,
        local,
        store,
        delivery: Arc::new(delivery),
        receiver: WebhookReceiver::start().await,
    }
}

impl Hooks {
    async fn call(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let answer = common::call(&self.admin, method, path, body).await;
        (answer.status, answer.body)
    }

    /// POST /admin/webhooks of `url` for `events` of [`MP`]: the id and the secret.
    async fn create(&self, url: &str, events: &[&str]) -> (String, String) {
        let body = json!({ "url": url, "events": events, "appids": [MP] });
        let (status, answer) = self.call("POST", "/admin/webhooks", body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["webhook"]["state"], "active", "{answer}");
        let secret = answer["secret"].as_str().expect("the secret").to_owned();
        assert!(secret.starts_with("whsec_"), "{answer}");
        (answer["webhook"]["id"].as_str().unwrap().to_owned(), secret)
    }

    /// The queue's event source driving the delivery, as Lambda's does.
    fn source(&self) -> EventSource {
        let delivery = self.delivery.clone();
        let options = SourceOptions {
            concurrency: 2,
            ..SourceOptions::default()
        };
        event_source::start(&self.local.queue, options, move |batch| {
            let delivery = delivery.clone();
            async move { Ok::<_, Infallible>(delivery.handle_batch(batch).await) }
        })
    }

    /// GET /admin/webhooks/{id}/deliveries (every page).
    async fn deliveries(&self, id: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", "2")];
            if let Some(c) = &cursor {
                query.push(("cursor", c.as_str()));
            }
            let path = format!("/admin/webhooks/{id}/deliveries");
            let answer = common::call_with(&self.admin, "GET", &path, &query, Value::Null).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            all.extend(
                answer.body["deliveries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .cloned(),
            );
            match answer.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return all,
            }
        }
    }

    /// The delivery of `event_id` to `id` once `done` holds for it.
    async fn delivery_when(
        &self,
        id: &str,
        event_id: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let found = poll(|| async {
            let deliveries = self.deliveries(id).await;
            deliveries
                .into_iter()
                .find(|d| d["event_id"] == event_id && done(d))
        })
        .await;
        match found {
            Some(d) => d,
            None => {
                let seen = self.deliveries(id).await;
                panic!("the delivery of {event_id} never got there: {seen:?}")
            }
        }
    }

    async fn drained(&self) {
        let limit = devstack::wait::deadline();
        let queue = &self.local.queue;
        queue.wait_drained(limit).await.expect("the queue drains");
    }

    async fn platform_actions(&self) -> Vec<Value> {
        let log = DynamoActionLog::new(self.platform.dynamo.clone(), &self.platform.tables.actions);
        log.actions("platform", 100).await.unwrap()
    }
}

#[tokio::test]
async fn an_event_on_the_bus_is_delivered_signed_with_the_secret_shown_once() {
    let w = world("hook_delivered", retry(3600)).await;
    let _source = w.source();
    let (id, secret) = w.create(&w.receiver.url("/hook"), &["message.*"]).await;
    for path in [
        "/admin/webhooks".to_owned(),
        format!("/admin/webhooks/{id}"),
    ] {
        let (status, answer) = w.call("GET", &path, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(!answer.to_string().contains(&secret), "{answer}");
        assert!(answer.to_string().contains(&id), "{answer}");
    }
    assert_eq!(w.local.rules().await, [webhook::rule_name(&id)]);
    w.receiver.set_secret(&secret);

    let text = event("evt_text_1", "message.text", Some(MP));
    w.local.put_event(&text).await;
    // Neither of these matches the subscription: another kind, another mini program.
    w.local
        .put_event(&event(
            "evt_popup_1",
            "event.subscribe_msg_popup_event",
            Some(MP),
        ))
        .await;
    w.local
        .put_event(&event(
            "evt_other_1",
            "message.text",
            Some("wxsomeoneelse0001"),
        ))
        .await;

    let d = w
        .delivery_when(&id, "evt_text_1", |d| d["state"] == "delivered")
        .await;
    assert_eq!(
        (d["attempts"].as_i64(), d["last_status"].as_i64()),
        (Some(1), Some(200)),
        "{d}"
    );
    w.drained().await;
    let hits = w.receiver.hits();
    assert_eq!(hits.len(), 1, "{hits:?}");
    let hit = &hits[0];
    assert_eq!(hit.verified, Some(true), "{hit:?}");
    assert_eq!(hit.status, 200);
    assert_eq!(hit.json(), serde_json::to_value(&text).unwrap());
    assert_eq!(hit.header(webhook::KIND_HEADER), Some("message.text"));
    assert_eq!(hit.header(webhook::SUBSCRIPTION_HEADER), Some(id.as_str()));
    assert_eq!(hit.header("content-type"), Some("application/json"));

    // The same create again makes nothing new, and never shows the secret again.
    let again = json!({ "url": w.receiver.url("/hook"), "events": ["message.*"], "appids": [MP] });
    let (status, answer) = w.call("POST", "/admin/webhooks", again).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::CONFLICT, Some("conflict")),
        "{answer}"
    );
    assert!(!answer.to_string().contains(&secret));

    // The test route sends through the same queue and delivery.
    let (status, answer) = w
        .call("POST", &format!("/admin/webhooks/{id}/test"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let test_id = answer["event_id"].as_str().unwrap().to_owned();
    w.delivery_when(&id, &test_id, |d| d["state"] == "delivered")
        .await;
    let tested = w.receiver.delivered(&test_id);
    assert_eq!(tested.len(), 1);
    assert_eq!(tested[0].verified, Some(true));
    assert_eq!(
        tested[0].header(webhook::KIND_HEADER),
        Some(webhook::TEST_KIND)
    );

    // The push detail page's view: one event's deliveries across subscriptions.
    let across = w.admin.event_deliveries("evt_text_1").await.unwrap();
    assert_eq!(across.len(), 1);
    assert_eq!(across[0]["subscription"], id.as_str());

    let actions = w.platform_actions().await;
    let names: Vec<(&str, &str)> = actions
        .iter()
        .map(|a| (a["action"].as_str().unwrap(), a["status"].as_str().unwrap()))
        .collect();
    assert!(names.contains(&("CreateWebhook", "succeeded")), "{names:?}");
    assert!(names.contains(&("CreateWebhook", "failed")), "{names:?}");
    assert!(names.contains(&("TestWebhook", "succeeded")), "{names:?}");
    assert!(!Value::Array(actions).to_string().contains(&secret));
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_every_event_later_once() {
    let w = world("hook_down", retry(3600)).await;
    // A port nothing listens on yet: the receiver is unreachable.
    let down = NotListening::new();
    let (id, secret) = w.create(&down.url("/hook"), &["message.text"]).await;
    let _source = w.source();
    let ids = ["evt_down_1", "evt_down_2", "evt_down_3"];
    for event_id in ids {
        w.local
            .put_event(&event(event_id, "message.text", Some(MP)))
            .await;
    }
    for event_id in ids {
        let d = w
            .delivery_when(&id, event_id, |d| d["attempts"].as_i64() >= Some(2))
            .await;
        assert_eq!(d["state"], "pending", "{d}");
        assert_eq!(d["last_error"], "could not connect", "{d}");
        assert!(d["last_status"].is_null(), "{d}");
    }
    // Up again, but answering 500 to its first three POSTs.
    let receiver = down.listen();
    receiver.set_secret(&secret);
    receiver.fail_next(3);

    for event_id in ids {
        w.delivery_when(&id, event_id, |d| d["state"] == "delivered")
            .await;
    }
    w.drained().await;
    let hits = receiver.hits();
    assert_eq!(
        hits.iter().filter(|h| h.status == 500).count(),
        3,
        "{hits:?}"
    );
    assert!(hits.iter().all(|h| h.verified == Some(true)), "{hits:?}");
    let deliveries = w.deliveries(&id).await;
    assert_eq!(deliveries.len(), 3, "{deliveries:?}");
    for event_id in ids {
        assert_eq!(
            receiver.delivered(event_id).len(),
            1,
            "{event_id}: {hits:?}"
        );
    }
    // Each: two refused connections at least and its success; and the three 500s.
    let attempts: i64 = deliveries
        .iter()
        .map(|d| d["attempts"].as_i64().unwrap())
        .sum();
    assert!(attempts >= 3 * 3 + 3, "{deliveries:?}");
    assert!(
        deliveries.iter().all(|d| d["last_status"] == 200),
        "{deliveries:?}"
    );
}

#[tokio::test]
async fn a_message_sqs_delivers_again_is_not_sent_twice() {
    let w = world("hook_redelivered", retry(3600)).await;
    let (id, secret) = w.create(&w.receiver.url("/hook"), &["*"]).await;
    w.receiver.set_secret(&secret);
    w.local
        .put_event(&event("evt_again_1", "message.text", Some(MP)))
        .await;
    // The message as Lambda's event source would hand it over, handed over three times: twice
    // at once, then once more.
    let queue = &w.local.queue;
    let out = queue
        .client
        .receive_message()
        .queue_url(&queue.url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let messages = out.messages();
    assert_eq!(messages.len(), 1);
    let batch = event_source::sqs_event(messages, queue);
    let (first, second) = tokio::join!(
        w.delivery.handle_batch(batch.clone()),
        w.delivery.handle_batch(batch.clone())
    );
    let failed = first.batch_item_failures.len() + second.batch_item_failures.len();
    // One of the two at once was sent; the other found the delivery held (retried later).
    assert!(failed <= 1, "{first:?} {second:?}");
    let third = w.delivery.handle_batch(batch).await;
    assert!(third.batch_item_failures.is_empty(), "{third:?}");
    assert_eq!(w.receiver.hits().len(), 1, "{:?}", w.receiver.hits());
    assert_eq!(w.receiver.delivered("evt_again_1").len(), 1);
    let d = w
        .delivery_when(&id, "evt_again_1", |d| d["state"] == "delivered")
        .await;
    assert_eq!(d["attempts"], 1, "{d}");
}

#[tokio::test]
async fn bad_webhooks_are_refused_naming_the_field_and_nothing_is_made() {
    let w = world("hook_refused", retry(3600)).await;
    let ok_url = w.receiver.url("/hook");
    let cases = [
        (
            json!({ "url": "http://10.0.0.8/hook", "events": ["*"] }),
            "url",
            "private",
        ),
        (
            json!({ "url": "https://192.168.1.20/hook", "events": ["*"] }),
            "url",
            "private",
        ),
        (
            json!({ "url": "https://169.254.169.254/latest/meta-data", "events": ["*"] }),
            "url",
            "metadata",
        ),
        (
            json!({ "url": "https://[fd00:ec2::254]/", "events": ["*"] }),
            "url",
            "metadata",
        ),
        (
            json!({ "url": "https://100.64.0.9/", "events": ["*"] }),
            "url",
            "CGNAT",
        ),
        (
            json!({ "url": "https://169.254.10.10/", "events": ["*"] }),
            "url",
            "link-local",
        ),
        (
            json!({ "url": "http://93.184.216.34/hook", "events": ["*"] }),
            "url",
            "https",
        ),
        (
            json!({ "url": "ftp://93.184.216.34/hook", "events": ["*"] }),
            "url",
            "https",
        ),
        (json!({ "events": ["*"] }), "url", "required"),
        (
            json!({ "url": ok_url, "events": ["message.nothing"] }),
            "events",
            "unknown event pattern",
        ),
        (
            json!({ "url": ok_url, "events": ["messages.*"] }),
            "events",
            "unknown event pattern",
        ),
        (json!({ "url": ok_url, "events": [] }), "events", "required"),
        (
            json!({ "url": ok_url, "events": ["*"], "appids": ["wxnotours000000001"] }),
            "appids",
            "not an authorizer",
        ),
        (
            json!({ "url": ok_url, "events": ["*"], "appids": ["nope"] }),
            "appids",
            "wx",
        ),
        (
            json!({ "url": ok_url, "events": ["*"], "secret": "mine" }),
            "secret",
            "unknown field",
        ),
    ];
    for (body, field, rule) in cases {
        let (status, answer) = w.call("POST", "/admin/webhooks", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
        let said = answer["rule"].as_str().unwrap_or_default();
        assert!(said.contains(rule), "{body}: {answer}");
    }
    let (_, list) = w.call("GET", "/admin/webhooks", Value::Null).await;
    assert_eq!(list["webhooks"], json!([]), "{list}");
    assert!(w.local.rules().await.is_empty());
    let refused = w
        .platform_actions()
        .await
        .iter()
        .filter(|a| a["action"] == "CreateWebhook" && a["status"] == "refused")
        .count();
    assert_eq!(refused, 15);
}

#[tokio::test]
async fn a_deleted_webhook_gets_nothing_more() {
    let w = world("hook_deleted", retry(3600)).await;
    let _source = w.source();
    let (id, secret) = w.create(&w.receiver.url("/hook"), &["message.*"]).await;
    w.receiver.set_secret(&secret);
    w.local
        .put_event(&event("evt_before_1", "message.text", Some(MP)))
        .await;
    w.delivery_when(&id, "evt_before_1", |d| d["state"] == "delivered")
        .await;

    let (status, answer) = w
        .call("DELETE", &format!("/admin/webhooks/{id}"), Value::Null)
        .await;
    assert_eq!(
        (status, &answer["deleted"]),
        (StatusCode::OK, &json!(id)),
        "{answer}"
    );
    assert!(w.local.rules().await.is_empty());
    assert!(!w.local.secret_exists(&id).await);
    let (status, _) = w
        .call("GET", &format!("/admin/webhooks/{id}"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = w
        .call("DELETE", &format!("/admin/webhooks/{id}"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    w.local
        .put_event(&event("evt_after_1", "message.text", Some(MP)))
        .await;
    w.drained().await;
    assert_eq!(w.local.queue.depth().await.visible, 0);
    assert!(w.receiver.delivered("evt_after_1").is_empty());
    assert_eq!(w.receiver.hits().len(), 1);

    // A message already queued for it when it was deleted is dropped, not sent.
    let message = webhook::WebhookMessage {
        subscription: id.clone(),
        detail: event("evt_queued_1", "message.text", Some(MP)),
    };
    w.local
        .queue
        .send(&serde_json::to_string(&message).unwrap())
        .await;
    w.drained().await;
    assert_eq!(w.receiver.hits().len(), 1);
    assert_eq!(w.local.queue.dead_letter_depth().await.visible, 0);
}

#[tokio::test]
async fn a_create_or_delete_cut_short_is_finished_by_sending_it_again() {
    let w = world("hook_cut_short", retry(3600)).await;
    let url = w.receiver.url("/hook");
    let events = vec!["message.text".to_owned()];
    let id = webhook::subscription_id(&url, &events, &[MP.to_owned()]);
    // A create that stopped after its record: no secret, no rule.
    let half = Subscription {
        id: id.clone(),
        url: url.clone(),
        events: events.join(","),
        appids: MP.to_owned(),
        state: SubscriptionState::Creating,
        created_by: "ops".into(),
        created_at_ms: 1,
    };
    // Its call ended long ago (its claim ran out).
    let ended = CreateClaim {
        token: "ended".into(),
        until: 0,
    };
    let made = w.store.claim_creation(&half, &ended, unix_now_ms()).await;
    assert_eq!(made.unwrap(), Creation::New);
    let (status, answer) = w
        .call("GET", &format!("/admin/webhooks/{id}"), Value::Null)
        .await;
    assert_eq!(
        (status, &answer["webhook"]["state"]),
        (StatusCode::OK, &json!("creating"))
    );
    let (again, secret) = w.create(&url, &["message.text"]).await;
    assert_eq!(again, id);
    assert_eq!(w.local.rules().await, [webhook::rule_name(&id)]);
    assert!(w.local.secret_exists(&id).await);

    // A delete that stopped after marking it: sent again, it removes the rule, the secret and
    // the record.
    let started = w.store.begin_delete(&id, unix_now_ms()).await.unwrap();
    assert_eq!(started, Deletion::Started);
    let (status, _) = w
        .call("DELETE", &format!("/admin/webhooks/{id}"), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(w.local.rules().await.is_empty());
    assert!(!w.local.secret_exists(&id).await);
    assert_eq!(w.store.subscription(&id).await.unwrap(), None);
    drop(secret);

    // A create under way (its call holds the subscription) is not deleted under it.
    let other = Subscription {
        id: webhook::subscription_id(&url, &["*".to_owned()], &[]),
        events: "*".into(),
        appids: String::new(),
        ..half
    };
    let live = CreateClaim {
        token: "live".into(),
        until: unix_now_ms() + 60_000,
    };
    let made = w.store.claim_creation(&other, &live, unix_now_ms()).await;
    assert_eq!(made.unwrap(), Creation::New);
    let path = format!("/admin/webhooks/{}", other.id);
    let (status, answer) = w.call("DELETE", &path, Value::Null).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let kept = w.store.subscription(&other.id).await.unwrap().unwrap();
    assert_eq!(kept.state, SubscriptionState::Creating);
}

#[tokio::test]
async fn a_delivery_failing_past_its_window_is_dead_lettered_and_shown_dead() {
    let w = world("hook_dead", retry(2)).await;
    let _source = w.source();
    let (id, secret) = w.create(&w.receiver.url("/hook"), &["message.text"]).await;
    w.receiver.set_secret(&secret);
    w.receiver.fail_next(u32::MAX);
    w.local
        .put_event(&event("evt_dead_1", "message.text", Some(MP)))
        .await;
    let d = w
        .delivery_when(&id, "evt_dead_1", |d| d["state"] == "dead")
        .await;
    assert_eq!(d["last_status"], 500, "{d}");
    assert!(d["attempts"].as_i64() >= Some(2), "{d}");
    w.drained().await;
    let letters = w.local.queue.take_dead_letters().await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter: webhook::WebhookMessage = serde_json::from_str(&letters[0].body).unwrap();
    assert_eq!(
        (letter.subscription.as_str(), letter.detail.id.as_str()),
        (id.as_str(), "evt_dead_1")
    );
    assert!(w.receiver.delivered("evt_dead_1").is_empty());
}

#[tokio::test]
async fn two_creates_at_once_make_one_subscription_whose_secret_signs() {
    let w = world("hook_twice", retry(3600)).await;
    let _source = w.source();
    let body = json!({ "url": w.receiver.url("/hook"), "events": ["*"], "appids": [MP] });
    let (a, b) = tokio::join!(
        w.call("POST", "/admin/webhooks", body.clone()),
        w.call("POST", "/admin/webhooks", body)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{} {}",
        a.1,
        b.1
    );
    let made = if a.0 == StatusCode::OK { &a.1 } else { &b.1 };
    let (id, secret) = (
        made["webhook"]["id"].as_str().unwrap(),
        made["secret"].as_str().unwrap(),
    );
    w.receiver.set_secret(secret);
    assert_eq!(w.local.rules().await, [webhook::rule_name(id)]);
    w.local
        .put_event(&event("evt_twice_1", "message.text", Some(MP)))
        .await;
    w.delivery_when(id, "evt_twice_1", |d| d["state"] == "delivered")
        .await;
    assert_eq!(w.receiver.delivered("evt_twice_1")[0].verified, Some(true));
}
