//! The outbox end to end, on moto and the simulator: WeChat's pushes (the simulator's
//! `/sim/messages`) reach ticket-receive over HTTP, are stored in the events table, and the
//! table's stream (devstack's stream source, as Lambda's event source mapping) drives
//! event-publisher onto a custom bus, whose rule routes every event to an SQS queue the test
//! reads. Each test proves what the bus received, by event id: a redelivery or a retry never
//! shows up as a second event. "Nothing more" is proven with a sentinel: the stream is ordered,
//! so once a later push's event is on the bus, anything before it would be too.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use devstack::apigw::Served;
use devstack::bus::{local_eventbridge_client, take_messages};
use devstack::event_source::LocalQueue;
use devstack::sim::{mini_program, Component, Setup};
use devstack::stream_source::{self, local_streams_client, StreamOptions, StreamSource};
use devstack::world::World;
use event_publisher::{EventBridgeBus, PlatformPublisher, Publisher};
use serde_json::{json, Value};
use shared::events::EVENT_SOURCE;
use shared::store::{unix_now, AuditRecord, AuditStore, DynamoAuditStore, EventFilter};
use shared::stream::{StreamBatchResponse, StreamEvent};

mod common;

const MP: &str = "wxeventsminiprog01";

struct Outbox {
    world: World,
    _served: Served,
    bus: String,
    /// Where the bus's rule sends every event of the platform.
    observed: LocalQueue,
    /// Every event the queue has given so far (the EventBridge envelopes).
    seen: Mutex<Vec<Value>>,
    publisher: Arc<PlatformPublisher>,
    stream_arn: String,
}

devstack::deref_world!(Outbox);

/// A mini program authorized, ticket-receive serving both push URLs, a bus routing to a queue,
/// and the production publisher on that bus. Nothing publishes until a test starts the source.
async fn outbox(test: &str) -> Outbox {
    let component = Component::new("wxeventscomponent1", "events-secret", "eventstoken");
    let world = Setup::new(&component)
        .mini_program(mini_program(MP))
        .authorized()
        .start(test)
        .await;
    let served = common::serve_pushes(&world).await;
    let events = local_eventbridge_client().await;
    let (bus, observed) = common::observed_bus(&world, &events, test).await;
    let publisher = Arc::new(Publisher::new(
        world.platform.event_store(),
        EventBridgeBus::new(events, &bus),
    ));
    let stream_arn =
        stream_source::table_stream(&world.platform.dynamo, &world.platform.tables.events)
            .await
            .unwrap();
    Outbox {
        world,
        _served: served,
        bus,
        observed,
        seen: Mutex::new(Vec::new()),
        publisher,
        stream_arn,
    }
}

impl Outbox {
    /// The stream source driving `handler`, as the event source mapping would.
    async fn source<H, Fut>(&self, handler: H) -> StreamSource
    where
        H: Fn(StreamEvent) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<StreamBatchResponse, String>> + Send + 'static,
    {
        let options = StreamOptions {
            on_failure_queue_url: Some(self.observed.dlq_url.clone()),
            ..StreamOptions::default()
        };
        stream_source::start(
            local_streams_client().await,
            self.platform.sqs.clone(),
            &self.stream_arn,
            options,
            handler,
        )
        .await
        .unwrap()
    }

    /// The production publisher behind the stream source.
    async fn publishing(&self) -> StreamSource {
        let publisher = self.publisher.clone();
        self.source(move |event| {
            let publisher = publisher.clone();
            async move { Ok(publisher.handle(event).await) }
        })
        .await
    }

    /// Sends a message-URL push from the simulator; panics unless every delivery was answered
    /// `success`.
    async fn push(&self, request: Value) -> Value {
        let report = self.ctl.send_message(request).await;
        for answer in report["answers"].as_array().unwrap() {
            assert_eq!(answer["acknowledged"], true, "{report}");
        }
        report
    }

    /// Every event seen on the bus so far.
    async fn seen(&self) -> Vec<Value> {
        let new = take_messages(&self.platform.sqs, &self.observed.url).await;
        let mut seen = self.seen.lock().unwrap();
        seen.extend(
            new.iter()
                .map(|body| serde_json::from_str::<Value>(body).unwrap()),
        );
        seen.clone()
    }

    /// Waits until an event of `kind` whose fields satisfy `matches` is on the bus; answers it.
    async fn wait_for(&self, kind: &str, matches: impl Fn(&Value) -> bool) -> Value {
        devstack::wait::poll(|| async {
            self.seen()
                .await
                .into_iter()
                .find(|e| e["detail-type"] == kind && matches(&e["detail"]))
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "no {kind} event on {}: {:?}",
                self.bus,
                self.seen.lock().unwrap()
            )
        })
    }

    /// A customer's text to the mini program, answered `success`; then its event on the bus.
    async fn sentinel(&self, content: &str) -> Value {
        self.push(json!({ "appid": MP, "msg_type": "text", "fields": { "Content": content } }))
            .await;
        self.wait_for("message.text", |d| d["fields"]["Content"] == content)
            .await
    }

    /// How many events on the bus so far carry `id`.
    async fn published_with_id(&self, id: &str) -> usize {
        self.seen()
            .await
            .iter()
            .filter(|e| e["detail"]["id"] == id)
            .count()
    }

    /// The stored events of a kind (the admin listing's query).
    async fn stored(&self, kind: &str) -> Vec<String> {
        let filter = EventFilter {
            kind: Some(kind.to_owned()),
            ..EventFilter::default()
        };
        let store = self.platform.event_store();
        let page = store.list(&filter, None, 100, unix_now()).await.unwrap();
        page.unwrap().events.into_iter().map(|e| e.id).collect()
    }
}

#[tokio::test]
async fn a_customer_message_is_stored_then_published_once_with_its_fields() {
    let o = outbox("customer-text").await;
    let report = o
        .push(json!({
            "appid": MP, "msg_type": "text", "from": "o-customer-1",
            "fields": { "Content": "我想退货 (order 42)" }
        }))
        .await;
    // Stored before it was answered: in the table while nothing publishes yet.
    let stored = o.stored("message.text").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    let record = o
        .platform
        .event_store()
        .event(&stored[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.event.xml.as_deref(), report["plaintext"].as_str());
    assert_eq!(record.published_at, None);

    let source = o.publishing().await;
    let event = o.wait_for("message.text", |_| true).await;
    assert_eq!(event["source"], EVENT_SOURCE);
    let detail = &event["detail"];
    assert_eq!(detail["id"], stored[0].as_str());
    assert_eq!(detail["kind"], "message.text");
    assert_eq!(detail["appid"], MP);
    assert_eq!(detail["fields"]["Content"], "我想退货 (order 42)");
    assert_eq!(detail["fields"]["FromUserName"], "o-customer-1");
    assert_eq!(detail["fields"]["ToUserName"], mini_program(MP).original_id);
    assert!(detail["fields"]["MsgId"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert_eq!(
        detail["create_time"].as_i64(),
        detail["fields"]["CreateTime"]
            .as_str()
            .and_then(|t| t.parse().ok())
    );
    o.sentinel("after").await;
    assert_eq!(o.published_with_id(&stored[0]).await, 1);
    let record = o
        .platform
        .event_store()
        .event(&stored[0])
        .await
        .unwrap()
        .unwrap();
    assert!(record.published_at.is_some(), "marked published");
    source.stop().await;
}

#[tokio::test]
async fn wechat_retrying_a_push_stores_and_publishes_nothing_new() {
    let o = outbox("retried-push").await;
    let source = o.publishing().await;
    // WeChat's three tries of one subscribe-message popup event: the same request each time.
    let fields = json!({ "SubscribeMsgPopupEvent": { "List": [
        { "TemplateId": "tmpl-1", "SubscribeStatusString": "accept", "PopupScene": "0" },
        { "TemplateId": "tmpl-2", "SubscribeStatusString": "reject", "PopupScene": "0" }
    ] } });
    let report = o
        .push(json!({ "appid": MP, "event": "subscribe_msg_popup_event", "fields": fields, "deliveries": 3 }))
        .await;
    assert_eq!(report["answers"].as_array().unwrap().len(), 3);
    let event = o
        .wait_for("event.subscribe_msg_popup_event", |_| true)
        .await;
    let list = &event["detail"]["fields"]["SubscribeMsgPopupEvent"]["List"];
    assert_eq!(list[1]["TemplateId"], "tmpl-2");
    assert_eq!(list[1]["SubscribeStatusString"], "reject");
    o.sentinel("after the retries").await;
    let id = event["detail"]["id"].as_str().unwrap();
    assert_eq!(o.published_with_id(id).await, 1);
    assert_eq!(o.stored("event.subscribe_msg_popup_event").await, [id]);
    let popups = o
        .seen()
        .await
        .iter()
        .filter(|e| e["detail-type"] == "event.subscribe_msg_popup_event")
        .count();
    assert_eq!(popups, 1);
    source.stop().await;
}

#[tokio::test]
async fn a_publisher_failing_to_put_publishes_on_redelivery_once_with_the_same_id() {
    let o = outbox("put-fails").await;
    let stored_before = o
        .push(json!({ "appid": MP, "msg_type": "text", "fields": { "Content": "while the bus is down" } }))
        .await;
    assert!(stored_before["plaintext"].as_str().is_some());
    let id = o.stored("message.text").await.remove(0);
    // The first two invocations cannot reach EventBridge; the mapping retries the batch.
    let broken = Arc::new(Publisher::new(
        o.platform.event_store(),
        common::unreachable_bus(&o.bus).await,
    ));
    let good = o.publisher.clone();
    let invocations = Arc::new(AtomicU32::new(0));
    let counted = invocations.clone();
    let source = o
        .source(move |event| {
            let (broken, good) = (broken.clone(), good.clone());
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(if n < 2 {
                    broken.handle(event).await
                } else {
                    good.handle(event).await
                })
            }
        })
        .await;
    let event = o
        .wait_for("message.text", |d| {
            d["fields"]["Content"] == "while the bus is down"
        })
        .await;
    assert_eq!(event["detail"]["id"], id.as_str());
    assert!(invocations.load(Ordering::SeqCst) >= 3);
    assert!(source.counts().failed_batches >= 2, "{:?}", source.counts());
    o.sentinel("after the outage").await;
    assert_eq!(o.published_with_id(&id).await, 1);
    assert!(
        o.observed.dead_letter_depth().await.is_empty(),
        "nothing given up on"
    );
    source.stop().await;
}

#[tokio::test]
async fn a_batch_not_acknowledged_after_publishing_is_not_published_again() {
    let o = outbox("not-acknowledged").await;
    o.push(json!({ "appid": MP, "msg_type": "text", "fields": { "Content": "one" } }))
        .await;
    o.push(json!({ "appid": MP, "event": "wxa_nickname_audit",
        "fields": { "ret": "3", "nickname": "Shop", "reason": "" } }))
        .await;
    // The first invocation publishes, then dies before answering (the mapping sees an error and
    // delivers the batch again); later ones answer.
    let publisher = o.publisher.clone();
    let invocations = Arc::new(AtomicU32::new(0));
    let counted = invocations.clone();
    let source = o
        .source(move |event| {
            let publisher = publisher.clone();
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                let answer = publisher.handle(event).await;
                if n == 0 {
                    return Err("killed before answering".to_owned());
                }
                Ok(answer)
            }
        })
        .await;
    let nickname = o.wait_for("event.wxa_nickname_audit", |_| true).await;
    assert_eq!(nickname["detail"]["fields"]["ret"], "3");
    o.sentinel("after the redelivery").await;
    assert!(
        invocations.load(Ordering::SeqCst) >= 2,
        "the batch was delivered again"
    );
    for kind in ["event.wxa_nickname_audit"] {
        for id in o.stored(kind).await {
            assert_eq!(o.published_with_id(&id).await, 1, "{kind}");
        }
    }
    let texts = o.stored("message.text").await;
    assert_eq!(texts.len(), 2);
    for id in texts {
        assert_eq!(o.published_with_id(&id).await, 1);
    }
    source.stop().await;
}

#[tokio::test]
async fn an_audit_passing_publishes_its_platform_event_once() {
    let o = outbox("audit-passed").await;
    let audits = DynamoAuditStore::new(o.platform.dynamo.clone(), &o.platform.tables.audits);
    let submitted = unix_now() - 60;
    let record = AuditRecord::submitted(
        MP,
        4242,
        None,
        Some("1.0.0".into()),
        None,
        None,
        Some(submitted),
    );
    assert!(audits.save_submission(&record).await.unwrap());
    let source = o.publishing().await;
    // WeChat's result, tried twice (the same request).
    o.push(json!({ "appid": MP, "event": "weapp_audit_success",
        "fields": { "SuccTime": unix_now() }, "deliveries": 2 }))
        .await;
    let passed = o.wait_for("platform.audit.passed", |_| true).await;
    let detail = &passed["detail"];
    assert_eq!(detail["appid"], MP);
    assert_eq!(detail["fields"]["auditid"], 4242);
    assert_eq!(detail["fields"]["status"], "passed");
    o.wait_for("event.weapp_audit_success", |_| true).await;
    o.sentinel("after the result").await;
    let platform = o
        .seen()
        .await
        .iter()
        .filter(|e| e["detail-type"] == "platform.audit.passed")
        .count();
    assert_eq!(platform, 1);
    assert_eq!(o.stored("platform.audit.passed").await.len(), 1);
    let latest = audits.latest_audit(MP).await.unwrap().unwrap();
    assert_eq!(latest.status.as_str(), "passed");
    source.stop().await;
}
