//! ticket-receive end to end: API Gateway events → handler → moto's DynamoDB.
//! Pushes are the independent (wechatpy) vectors of ../shared/vectors and pushes made here. The
//! vectors are signed with fixed 2025 timestamps: they go through a receiver whose replay window
//! (the `PUSH_TIMESTAMP_WINDOW_SECS` setting) reaches back to them; pushes made here are signed
//! now and go through the default window.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use devstack::inbox::Received;
use devstack::sim::{Component, Setup};
use devstack::vectors::{push_crypto as vectors, Vector, VectorFile};
use devstack::world::World;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use secrecy::{ExposeSecret, SecretString};
use shared::authorizer::AuthorizerStatus;
use shared::config::map_lookup;
use shared::crypto::MessageCrypto;
use shared::push::{component_envelope_xml, verify_ticket_xml};
use shared::store::{
    unix_now, AuthorizerStore, DynamoAuditStore, DynamoEventStore, DynamoTicketStore, TicketStore,
    VerifyTicket, VerifyTicketRecord,
};
use ticket_receive::{handle, PlatformReceiver, ReceiveSettings, Receiver};

struct Harness {
    world: World,
    store: DynamoTicketStore,
    /// The default settings: pushes signed now.
    receiver: PlatformReceiver,
    /// A replay window reaching back to the vectors' timestamps.
    vector_receiver: PlatformReceiver,
    file: VectorFile,
}

devstack::deref_world!(Harness);

/// Fresh tables in moto, a WeChat simulator of the vectors' component, and the production receiver.
async fn harness(test: &str) -> Harness {
    let file = vectors();
    let component = Component::with_key(
        &file.component_appid,
        "vector-component-secret",
        &file.token,
        &file.encoding_aes_key,
    );
    let world = Setup::new(&component).start(test).await;
    let receiver = PlatformReceiver::from_platform(&world.platform).unwrap();
    let vector_receiver = PlatformReceiver::from_platform(&world.platform)
        .unwrap()
        .with_settings(vector_settings(&file));
    Harness {
        store: world.platform.ticket_store(),
        world,
        receiver,
        vector_receiver,
        file,
    }
}

impl Harness {
    /// The component's push crypto.
    fn crypto(&self) -> MessageCrypto {
        self.component.crypto()
    }

    /// The component's tickets as stored.
    async fn record(&self) -> VerifyTicketRecord {
        let stored = self.store.verify_ticket(&self.file.component_appid).await;
        stored.unwrap().expect("a ticket")
    }

    /// Every item the pushes may write: the tickets table's, then the events table's.
    async fn tickets(&self) -> Vec<HashMap<String, AttributeValue>> {
        let mut items = all_items(&self.platform.dynamo, &self.platform.tables.tickets).await;
        items.extend(self.events().await);
        items
    }

    /// Every item of the events table (each push kept as an event).
    async fn events(&self) -> Vec<HashMap<String, AttributeValue>> {
        all_items(&self.platform.dynamo, &self.platform.tables.events).await
    }

    /// The authorization pushes kept as events (tickets and the platform's own events aside):
    /// kind, appid and XML of each.
    async fn authorization_pushes(&self) -> Vec<(String, Option<String>, String)> {
        let text = |item: &HashMap<String, AttributeValue>, name: &str| {
            item.get(name).map(|v| v.as_s().unwrap().clone())
        };
        self.events()
            .await
            .iter()
            .filter_map(|item| {
                let kind = text(item, "kind").unwrap();
                let push =
                    kind.starts_with("component.") && kind != "component.component_verify_ticket";
                push.then(|| (kind, text(item, "appid"), text(item, "xml").unwrap()))
            })
            .collect()
    }
}

/// The setting that lets the vectors' old timestamps in (an hour more than the oldest's age).
fn vector_settings(file: &VectorFile) -> ReceiveSettings {
    let oldest: i64 = file
        .vectors
        .iter()
        .map(|v| v.query["timestamp"].parse::<i64>().unwrap())
        .min()
        .unwrap();
    let window = (unix_now() - oldest + 3600).to_string();
    let settings =
        std::collections::HashMap::from([("PUSH_TIMESTAMP_WINDOW_SECS", window.as_str())]);
    ReceiveSettings::from_lookup(map_lookup(&settings)).unwrap()
}

fn event(query: &[(&str, &str)], body: &str) -> lambda_http::Request {
    devstack::apigw::push(query, body)
}

fn vector_event(v: &Vector) -> lambda_http::Request {
    let query: Vec<(&str, &str)> = v
        .query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    event(&query, &v.body)
}

/// A push made here: `plaintext` encrypted and signed (`timestamp`, `nonce`) with the vectors'
/// component settings, as WeChat posts it.
fn signed_event(
    c: &MessageCrypto,
    plaintext: &str,
    timestamp: i64,
    nonce: &str,
) -> lambda_http::Request {
    Received::signed(c, plaintext, timestamp, nonce).request()
}

/// A ticket push signed now, its nonce named after the ticket.
fn signed_ticket_event(c: &MessageCrypto, create_time: i64, ticket: &str) -> lambda_http::Request {
    Received::signed_ticket(c, create_time, ticket).request()
}

use devstack::apigw::body_text;

/// The newest ticket's value and CreateTime.
fn newest(record: &VerifyTicketRecord) -> (&str, i64) {
    (
        record.current.ticket.expose_secret(),
        record.current.create_time,
    )
}

fn error_code(response: &Response<Body>) -> String {
    assert_eq!(response.headers()["content-type"], "application/json");
    let json: serde_json::Value = serde_json::from_str(&body_text(response)).unwrap();
    json["error"].as_str().unwrap().to_owned()
}

/// The handler's answer: its status, and the error code (or `success`).
async fn answer(
    receiver: &PlatformReceiver,
    request: lambda_http::Request,
) -> (StatusCode, String) {
    let response = handle(receiver, request).await.unwrap();
    let text = if response.status().is_success() {
        body_text(&response)
    } else {
        error_code(&response)
    };
    (response.status(), text)
}

fn refused(status: StatusCode, code: &str) -> (StatusCode, String) {
    (status, code.to_owned())
}

fn success() -> (StatusCode, String) {
    (StatusCode::OK, "success".to_owned())
}

async fn all_items(client: &Client, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    client
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

#[tokio::test]
async fn independent_pushes_are_stored_and_refused_ones_are_not() {
    let h = harness("vectors").await;
    for v in &h.file.vectors {
        let before = h.tickets().await.len();
        let response = handle(&h.vector_receiver, vector_event(v)).await.unwrap();
        if v.expect == "reject" {
            assert!(
                response.status().is_client_error(),
                "{}: {}",
                v.name,
                response.status()
            );
            assert!(
                matches!(
                    error_code(&response).as_str(),
                    "bad_signature" | "foreign_appid"
                ),
                "{}",
                v.name
            );
            assert_eq!(
                h.tickets().await.len(),
                before,
                "{} stored something",
                v.name
            );
        } else {
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "{}: {}",
                v.name,
                body_text(&response)
            );
            assert_eq!(body_text(&response), "success");
        }
    }
    // The newest ticket (ticket-unicode, CreateTime 1763700400) replaced the first one and kept it.
    let record = h.record().await;
    assert_eq!(record.current.ticket.expose_secret(), "票据-中文-ticket");
    assert_eq!(record.current.create_time, 1763700400);
    let previous = record.previous.unwrap();
    assert_eq!(previous.create_time, 1763700000);
    assert!(previous
        .ticket
        .expose_secret()
        .starts_with("ticket@@@pUbL1c"));
    // The three authorization pushes are kept as events, with their plaintext (the
    // authorization codes redacted).
    let pushes = h.authorization_pushes().await;
    let mut kinds: Vec<&str> = pushes.iter().map(|p| p.0.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "component.authorized",
            "component.unauthorized",
            "component.updateauthorized"
        ]
    );
    for (kind, appid, xml) in &pushes {
        assert_eq!(appid.as_deref(), Some("wxauth00000000001"));
        let vector = h
            .file
            .vectors
            .iter()
            .find(|v| format!("component.{}", v.expect) == *kind)
            .unwrap();
        assert_eq!(*xml, shared::events::redact_xml(&vector.plaintext));
        assert!(!xml.contains("queryauthcode@@@"), "{xml}");
    }
    // Acting on them: the vectors' tickets are a year old, so no component token can be had and the
    // codes cannot be exchanged (recorded as failed, answered success: a retry cannot help);
    // unauthorized is applied.
    let items = h.tickets().await;
    let status_of = |info_type: &str| {
        let item = items
            .iter()
            .find(|i| i.get("kind") == Some(&AttributeValue::S(format!("component.{info_type}"))))
            .unwrap();
        (
            item["status"].as_s().unwrap().clone(),
            item.get("status_detail").map(|d| d.as_s().unwrap().clone()),
        )
    };
    for info_type in ["authorized", "updateauthorized"] {
        let (status, detail) = status_of(info_type);
        assert_eq!(status, "failed", "{info_type}");
        assert!(detail.unwrap().contains("over 12 h"), "{info_type}");
    }
    assert_eq!(status_of("unauthorized").0, "processed");
    let revoked = h
        .platform
        .authorizer_store()
        .authorizer("wxauth00000000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.status, AuthorizerStatus::Unauthorized);
    assert_eq!(revoked.unauthorized_at, Some(1763700300));
    // The revocation is also the platform's own event, once.
    let platform: Vec<_> = h
        .events()
        .await
        .into_iter()
        .filter(|i| i["kind"].as_s().unwrap().starts_with("platform."))
        .map(|i| {
            (
                i["kind"].as_s().unwrap().clone(),
                i["appid"].as_s().unwrap().clone(),
            )
        })
        .collect();
    assert_eq!(
        platform,
        [(
            "platform.authorizer.unauthorized".to_owned(),
            "wxauth00000000001".to_owned()
        )]
    );
}

#[tokio::test]
async fn an_older_ticket_never_replaces_a_newer_one() {
    let h = harness("order").await;
    let c = h.crypto();
    let t0 = unix_now() - 3000;
    for (create_time, ticket) in [(t0 + 1000, "t-2000"), (t0, "t-1000"), (t0 + 500, "t-1500")] {
        let response = handle(&h.receiver, signed_ticket_event(&c, create_time, ticket))
            .await
            .unwrap();
        assert_eq!(body_text(&response), "success");
    }
    let record = h.record().await;
    assert_eq!(newest(&record), ("t-2000", t0 + 1000));
    assert!(
        record.previous.is_none(),
        "older pushes must not become the previous ticket either"
    );

    handle(&h.receiver, signed_ticket_event(&c, t0 + 1600, "t-2600"))
        .await
        .unwrap();
    let record = h.record().await;
    assert_eq!(record.current.ticket.expose_secret(), "t-2600");
    let previous = record.previous.unwrap();
    assert_eq!(
        (previous.ticket.expose_secret(), previous.create_time),
        ("t-2000", t0 + 1000)
    );
}

#[tokio::test]
async fn a_retried_push_is_answered_success_and_changes_nothing() {
    let h = harness("retry").await;
    let ticket = h.file.vector("ticket");
    let authorized = h
        .file
        .vectors
        .iter()
        .find(|v| v.name == "authorized")
        .unwrap();
    for v in [ticket, authorized] {
        assert_eq!(
            body_text(&handle(&h.vector_receiver, vector_event(v)).await.unwrap()),
            "success"
        );
    }
    let items_before = h.tickets().await;
    // The retries come a second later: anything they rewrote (received_at) would differ.
    devstack::wait::until_after_second(unix_now()).await;
    for v in [ticket, authorized] {
        let response = handle(&h.vector_receiver, vector_event(v)).await.unwrap();
        assert_eq!(
            (response.status(), body_text(&response).as_str()),
            (StatusCode::OK, "success")
        );
    }
    let items_after = h.tickets().await;
    // The ticket, the component token record its action created (no token: the vectors' ticket
    // is too old), the two nonces, and the two pushes kept as events (the ticket's redacted).
    assert_eq!(items_before.len(), 6);
    assert_eq!(
        items_before, items_after,
        "received_at and everything else unchanged"
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_nothing_is_stored() {
    let h = harness("bad").await;
    let v = h.file.vector("ticket");
    let q = |name: &str| v.query[name].as_str();
    let full = [
        ("timestamp", q("timestamp")),
        ("nonce", q("nonce")),
        ("encrypt_type", "aes"),
        ("msg_signature", q("msg_signature")),
    ];
    let appid = &h.file.component_appid;
    let encrypt = v
        .body
        .split("<Encrypt><![CDATA[")
        .nth(1)
        .unwrap()
        .split("]]>")
        .next()
        .unwrap()
        .to_owned();
    let cases: Vec<(&str, lambda_http::Request, StatusCode, &str)> = vec![
        (
            "no msg_signature",
            event(&full[..3], &v.body),
            StatusCode::BAD_REQUEST,
            "missing_parameter",
        ),
        (
            "no timestamp",
            event(&full[1..], &v.body),
            StatusCode::BAD_REQUEST,
            "missing_parameter",
        ),
        (
            "no nonce",
            event(&[full[0], full[2], full[3]], &v.body),
            StatusCode::BAD_REQUEST,
            "missing_parameter",
        ),
        (
            "plain mode",
            event(
                &[full[0], full[1], ("encrypt_type", "raw"), full[3]],
                &v.body,
            ),
            StatusCode::BAD_REQUEST,
            "unsupported_encrypt_type",
        ),
        (
            "too large",
            event(&full, &"x".repeat(64 * 1024 + 1)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            "not xml",
            event(&full, "ticket=1"),
            StatusCode::BAD_REQUEST,
            "bad_envelope",
        ),
        (
            "doctype",
            event(
                &full,
                &format!("<!DOCTYPE xml [<!ENTITY x \"y\">]>{}", v.body),
            ),
            StatusCode::BAD_REQUEST,
            "bad_envelope",
        ),
        (
            "empty Encrypt",
            event(&full, &component_envelope_xml(appid, "")),
            StatusCode::BAD_REQUEST,
            "undecryptable",
        ),
        (
            "foreign envelope AppId",
            event(
                &full,
                &component_envelope_xml("wx9999999999999999", &encrypt),
            ),
            StatusCode::FORBIDDEN,
            "foreign_appid",
        ),
        (
            "authorizer envelope on the component URL",
            event(
                &full,
                &format!("<xml><ToUserName>gh_1</ToUserName><Encrypt>{encrypt}</Encrypt></xml>"),
            ),
            StatusCode::BAD_REQUEST,
            "bad_envelope",
        ),
        (
            "tampered ciphertext",
            event(
                &full,
                &component_envelope_xml(appid, &format!("A{}", &encrypt[1..])),
            ),
            StatusCode::UNAUTHORIZED,
            "bad_signature",
        ),
    ];
    for (name, request, status, code) in cases {
        let response = handle(&h.receiver, request).await.unwrap();
        assert_eq!(
            response.status(),
            status,
            "{name}: {}",
            body_text(&response)
        );
        assert_eq!(error_code(&response), code, "{name}");
    }
    // Correctly signed but undecryptable: not base64, and valid base64 of the wrong length.
    let c = h.crypto();
    let now = unix_now().to_string();
    for (name, garbage) in [("bad base64", "!!!!"), ("wrong length", "QUJDREVGR0g=")] {
        let signature = c.msg_signature(&now, "n", garbage);
        let request = event(
            &[
                ("timestamp", &now),
                ("nonce", "n"),
                ("msg_signature", &signature),
            ],
            &component_envelope_xml(appid, garbage),
        );
        let response = handle(&h.receiver, request).await.unwrap();
        assert_eq!(
            (response.status(), error_code(&response).as_str()),
            (StatusCode::BAD_REQUEST, "undecryptable"),
            "{name}"
        );
    }
    assert_eq!(h.tickets().await.len(), 0);
}

#[tokio::test]
async fn pushes_encrypted_with_the_previous_key_are_accepted_after_rotation() {
    let h = harness("rotation").await;
    let rotated = Receiver::new(
        crypto_with_new_key(&h.file),
        (
            DynamoTicketStore::new(h.platform.dynamo.clone(), &h.platform.tables.tickets),
            h.platform.event_store(),
        ),
        h.platform.authorization_service(),
        DynamoAuditStore::new(h.platform.dynamo.clone(), &h.platform.tables.audits),
        h.platform.authorizer_store(),
    )
    .with_settings(vector_settings(&h.file));
    let v = h.file.vector("ticket");
    assert_eq!(
        body_text(&handle(&rotated, vector_event(v)).await.unwrap()),
        "success"
    );
    assert!(h
        .store
        .verify_ticket(&h.file.component_appid)
        .await
        .unwrap()
        .is_some());
}

fn crypto_with_new_key(file: &VectorFile) -> MessageCrypto {
    MessageCrypto::new(
        SecretString::from(file.token.as_str()),
        &file.component_appid,
        "Z0123456789abcdefghijklmnopqrstuvwxyzABCDEF",
        Some(&file.encoding_aes_key),
    )
    .unwrap()
}

#[tokio::test]
async fn storage_failure_is_a_5xx_so_wechat_retries() {
    let h = harness("outage").await;
    let broken = Receiver::new(
        h.crypto(),
        (
            DynamoTicketStore::new(h.platform.dynamo.clone(), "no-such-table"),
            DynamoEventStore::new(h.platform.dynamo.clone(), "no-such-table"),
        ),
        h.platform.authorization_service(),
        DynamoAuditStore::new(h.platform.dynamo.clone(), &h.platform.tables.audits),
        h.platform.authorizer_store(),
    )
    .with_settings(vector_settings(&h.file));
    for v in h.file.vectors.iter().filter(|v| v.expect != "reject") {
        let response = handle(&broken, vector_event(v)).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            v.name
        );
        assert_eq!(error_code(&response), "storage_unavailable");
        assert_ne!(body_text(&response), "success");
    }
}

#[tokio::test]
async fn concurrent_pushes_keep_the_newest_ticket_and_the_one_before() {
    let h = harness("race").await;
    let c = h.crypto();
    let t0 = unix_now() - 1000;
    let requests: Vec<_> = (1..=12)
        .map(|i| signed_ticket_event(&c, t0 + i, &format!("t-{i}")))
        .collect();
    let results =
        futures::future::join_all(requests.into_iter().map(|r| handle(&h.receiver, r))).await;
    for response in results {
        assert_eq!(body_text(&response.unwrap()), "success");
    }
    let record = h.record().await;
    assert_eq!(newest(&record), ("t-12", t0 + 12));
    // The one before, if the newest replaced one (when t-12 happens to be stored first, every
    // other push is older and stale, and there is none): older, and the ticket of its own push.
    if let Some(previous) = record.previous {
        assert!(previous.create_time < t0 + 12, "previous {previous:?}");
        assert_eq!(
            previous.ticket.expose_secret(),
            &format!("t-{}", previous.create_time - t0)
        );
    }
}

#[tokio::test]
async fn timestamps_outside_the_replay_window_are_refused() {
    let h = harness("window").await;
    let c = h.crypto();
    // The vectors, signed in 2025, are replays to the default window.
    for v in h.file.vectors.iter().filter(|v| v.expect != "reject") {
        assert_eq!(
            answer(&h.receiver, vector_event(v)).await,
            refused(StatusCode::UNAUTHORIZED, "stale_timestamp"),
            "{}",
            v.name
        );
    }
    let now = unix_now();
    let ticket = verify_ticket_xml(c.appid(), now, "t-window");
    for (name, timestamp) in [
        ("from 2001", 1_000_000_000),
        ("six minutes ago", now - 360),
        ("six minutes ahead", now + 360),
    ] {
        assert_eq!(
            answer(&h.receiver, signed_event(&c, &ticket, timestamp, name)).await,
            refused(StatusCode::UNAUTHORIZED, "stale_timestamp"),
            "{name}"
        );
    }
    // Signed, but not a number.
    let encrypt = c.encrypt(&ticket).unwrap();
    let signature = c.msg_signature("soon", "n-soon", &encrypt);
    let request = event(
        &[
            ("timestamp", "soon"),
            ("nonce", "n-soon"),
            ("msg_signature", &signature),
        ],
        &component_envelope_xml(c.appid(), &encrypt),
    );
    assert_eq!(
        answer(&h.receiver, request).await,
        refused(StatusCode::BAD_REQUEST, "bad_timestamp")
    );
    assert_eq!(h.tickets().await.len(), 0);
    // Within the window (a retry some seconds later, a clock a little behind) is accepted.
    assert_eq!(
        answer(
            &h.receiver,
            signed_event(&c, &ticket, now - 200, "in-window")
        )
        .await,
        success()
    );
}

#[tokio::test]
async fn a_reused_nonce_is_refused_and_a_retry_of_the_same_push_is_not() {
    let h = harness("nonce").await;
    let c = h.crypto();
    let now = unix_now();
    let first = verify_ticket_xml(c.appid(), now - 10, "t-first");
    let push = Received::signed(&c, &first, now, "nonce-1");
    assert_eq!(answer(&h.receiver, push.request()).await, success());
    let items = h.tickets().await;
    // WeChat's retry is the same request (same timestamp, nonce, msg_signature): success,
    // nothing changes.
    assert_eq!(answer(&h.receiver, push.request()).await, success());
    assert_eq!(h.tickets().await, items);
    // The same nonce on another push (a newer ticket): refused, nothing stored.
    let other = verify_ticket_xml(c.appid(), now, "t-other");
    assert_eq!(
        answer(&h.receiver, signed_event(&c, &other, now, "nonce-1")).await,
        refused(StatusCode::UNAUTHORIZED, "replayed_nonce")
    );
    assert_eq!(h.tickets().await, items);
    let record = h.record().await;
    assert_eq!(record.current.ticket.expose_secret(), "t-first");
    // The nonce is kept until the push's timestamp leaves the window, then purged by TTL.
    let nonce = items
        .iter()
        .find(|i| i["record"].as_s().unwrap() == "nonce#nonce-1")
        .expect("the nonce item");
    assert_eq!(nonce["purge_at"].as_n().unwrap(), &(now + 300).to_string());
}

#[tokio::test]
async fn a_ticket_dated_in_the_future_is_refused_and_never_freezes_the_ticket() {
    let h = harness("future").await;
    let c = h.crypto();
    let appid = h.file.component_appid.clone();
    let now = unix_now();
    for (name, create_time) in [
        ("milliseconds", now * 1000),
        ("six minutes ahead", now + 360),
        ("thirteen hours before its signature", now - 13 * 3600),
    ] {
        assert_eq!(
            answer(&h.receiver, signed_ticket_event(&c, create_time, name)).await,
            refused(StatusCode::BAD_REQUEST, "bad_create_time"),
            "{name}"
        );
    }
    assert_eq!(h.tickets().await.len(), 0);
    // A future-dated ticket stored before CreateTime was bounded wins nothing: the next genuine
    // ticket replaces it, and it is not kept as the previous one.
    h.store
        .save_verify_ticket(
            &appid,
            VerifyTicket {
                ticket: SecretString::from("t-future"),
                create_time: now * 1000,
                received_at: now - 60,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        answer(&h.receiver, signed_ticket_event(&c, now, "t-now")).await,
        success()
    );
    let record = h.record().await;
    assert_eq!(newest(&record), ("t-now", now));
    assert!(record.previous.is_none(), "{:?}", record.previous);
}

#[tokio::test]
async fn different_pushes_of_the_same_second_are_both_stored() {
    let h = harness("same-second").await;
    let c = h.crypto();
    let now = unix_now();
    let unknown = |task: &str| {
        format!(
            "<xml><AppId><![CDATA[{}]]></AppId><CreateTime>{now}</CreateTime><InfoType><![CDATA[notify_3rd_wxa_auth]]></InfoType><taskid><![CDATA[{task}]]></taskid></xml>",
            c.appid()
        )
    };
    for task in ["task-1", "task-2"] {
        assert_eq!(
            answer(&h.receiver, signed_event(&c, &unknown(task), now, task)).await,
            success(),
            "{task}"
        );
    }
    let mut stored: Vec<String> = h
        .authorization_pushes()
        .await
        .into_iter()
        .map(|p| p.2)
        .collect();
    stored.sort();
    assert_eq!(stored, [unknown("task-1"), unknown("task-2")]);
}
