//! A DynamoDB that accepts connections and never answers: with the production SDK configuration
//! (`shared::config::aws_sdk_config`) a push fails fast with 503, inside WeChat's 5 s, so that
//! WeChat retries it instead of giving up on a hung request.

use std::time::{Duration, Instant};

use devstack::inbox::Received;
use devstack::sim::Component;
use lambda_http::http::StatusCode;
use shared::push::verify_ticket_xml;
use shared::store::unix_now;
use ticket_receive::{handle, PlatformReceiver};

const APPID: &str = "wxfrozencomponent1";

#[tokio::test]
async fn a_frozen_dynamodb_is_answered_503_within_wechats_five_seconds() {
    // Accepts TCP connections, reads nothing, answers nothing.
    let frozen = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = frozen.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in frozen.incoming() {
            held.push(stream);
        }
    });
    let component = Component::new(APPID, "secret", "frozentoken");
    let platform =
        devstack::platform_with_dynamodb_at(&format!("http://{address}"), component.config()).await;
    let receiver = PlatformReceiver::from_platform(&platform).unwrap();

    let now = unix_now();
    let ticket = verify_ticket_xml(APPID, now, "ticket@@@frozen");
    let request =
        Received::signed(&component.crypto(), &ticket, now, &format!("frozen{now}")).request();

    let started = Instant::now();
    // Bounded here too, so that without the SDK's timeouts this test fails instead of hanging.
    let response = tokio::time::timeout(Duration::from_secs(20), handle(&receiver, request))
        .await
        .expect("the push hung on a frozen DynamoDB")
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        devstack::apigw::body_text(&response)
    );
    // The caller learns nothing of the backend: no host, port or SDK text; a request id instead.
    let body: serde_json::Value =
        serde_json::from_str(&devstack::apigw::body_text(&response)).unwrap();
    assert_eq!(body["error"], "storage_unavailable");
    assert!(body["request_id"].is_string(), "{body}");
    let text = body.to_string();
    assert!(
        !text.contains(&address.port().to_string()) && !text.contains("127.0.0.1"),
        "{text}"
    );
    assert!(
        elapsed < Duration::from_millis(4500),
        "answered after {elapsed:?}: WeChat gives up after 5 s"
    );
}
