//! DynamoDB down while the public pages are asked for: both answer 503 with a fixed message and a
//! request id, never the SDK's error text (which names the endpoint's host and port).

use auth_callback::AuthCallback;
use auth_start::AuthStart;
use devstack::apigw::{body_text, get};
use devstack::sim::Component;
use lambda_http::http::StatusCode;
use serde_json::Value;
use shared::store::unix_now;

const APPID: &str = "wxoutagecomponent1";

fn assert_withholds_detail(status: StatusCode, body: &str, port: u16) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let json: Value = serde_json::from_str(body).unwrap();
    assert!(json["request_id"].is_string(), "{json}");
    for leaked in ["127.0.0.1", &port.to_string(), "dispatch", "io error"] {
        assert!(!body.contains(leaked), "{leaked} in {body}");
    }
}

#[tokio::test]
async fn the_public_pages_answer_an_outage_without_internal_detail() {
    // A port nothing listens on: every DynamoDB call is refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let platform = devstack::platform_with_dynamodb_at(
        &format!("http://127.0.0.1:{port}"),
        Component::new(APPID, "secret", "token").config(),
    )
    .await;

    let start = AuthStart::from_platform(&platform, "https://p.example.com/auth/callback".into());
    let response = auth_start::handle(&start, get("/auth/start", &[], true))
        .await
        .unwrap();
    assert_withholds_detail(response.status(), &body_text(&response), port);

    let callback = AuthCallback::from_platform(&platform);
    let state = platform.state_signer().issue(unix_now(), unix_now() + 600);
    let code = "queryauthcode@@@outage0000000000000000";
    let response = auth_callback::handle(
        &callback,
        get(
            "/auth/callback",
            &[
                ("state", &state),
                ("auth_code", code),
                ("expires_in", "600"),
            ],
            true,
        ),
    )
    .await
    .unwrap();
    assert_withholds_detail(response.status(), &body_text(&response), port);
}
