//! What the outbox tests and the benchmark share: ticket-receive serving both push URLs, a bus
//! whose rule routes every event of the platform to a queue, and a bus no request reaches.

#![allow(dead_code)]

use std::sync::Arc;

use aws_sdk_eventbridge::config::retry::RetryConfig;
use devstack::apigw::Served;
use devstack::bus::{create_bus, route_to_queue};
use devstack::event_source::{create_queue, unique_queue_name, LocalQueue, QueueOptions};
use devstack::world::World;
use event_publisher::EventBridgeBus;
use serde_json::json;
use shared::events::EVENT_SOURCE;
use ticket_receive::PlatformReceiver;

/// ticket-receive of the world's platform over HTTP, the simulator pushing to it (both URLs).
pub async fn serve_pushes(world: &World) -> Served {
    let receiver = Arc::new(PlatformReceiver::from_platform(&world.platform).unwrap());
    world
        .serve_push_urls(move |call| {
            let receiver = receiver.clone();
            async move {
                ticket_receive::handle(&receiver, call.request())
                    .await
                    .unwrap()
            }
        })
        .await
}

/// A fresh bus for `test` on `client` and the queue its rule sends every event of the platform
/// to: the bus's name and the queue.
pub async fn observed_bus(
    world: &World,
    client: &aws_sdk_eventbridge::Client,
    test: &str,
) -> (String, LocalQueue) {
    let bus = unique_queue_name(test);
    create_bus(client, &bus).await.unwrap();
    let observed = create_queue(
        &world.platform.sqs,
        &unique_queue_name(&format!("{test}-seen")),
        QueueOptions::default(),
    )
    .await
    .unwrap();
    let pattern = json!({ "source": [EVENT_SOURCE] });
    route_to_queue(client, &bus, "everything", &pattern, &observed.arn)
        .await
        .unwrap();
    (bus, observed)
}

/// The bus `bus` at an endpoint that refuses connections (no retries: each put fails fast).
pub async fn unreachable_bus(bus: &str) -> EventBridgeBus {
    let sdk = devstack::local_sdk_config().await;
    let config = aws_sdk_eventbridge::config::Builder::from(&sdk)
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(RetryConfig::disabled())
        .build();
    EventBridgeBus::new(aws_sdk_eventbridge::Client::from_conf(config), bus)
}
