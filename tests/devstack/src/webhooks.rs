//! Webhooks locally: the platform's bus and the webhook queue in moto ([`create_webhooks`]), an
//! event put on the bus in the contract's shape ([`LocalWebhooks::put_event`]: source
//! `wechat-component`, detail-type the kind, detail the `PlatformEvent`), and a receiver
//! ([`WebhookReceiver`]) that records every POST, checks its signature, and answers 2xx (or fails
//! the next N on purpose).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use shared::events::{PlatformEvent, EVENT_SOURCE};
use shared::store::unix_now;
use shared::webhook;

use crate::event_source::{create_queue, LocalQueue, QueueOptions};
use crate::StackError;

/// The SDK configuration of a local client of `service`: its own endpoint variable, or else the
/// DynamoDB one (one moto serves every service locally).
async fn local_config(endpoint_var: &str) -> aws_config::SdkConfig {
    let sdk = crate::local_sdk_config().await;
    match std::env::var(endpoint_var).or_else(|_| std::env::var("AWS_ENDPOINT_URL_DYNAMODB")) {
        Ok(url) => sdk.into_builder().endpoint_url(url).build(),
        Err(_) => sdk,
    }
}

/// An EventBridge client for the local endpoint (`AWS_ENDPOINT_URL_EVENTBRIDGE`, else moto's).
pub async fn local_events_client() -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::new(&local_config("AWS_ENDPOINT_URL_EVENTBRIDGE").await)
}

/// A Secrets Manager client for the local endpoint (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, else
/// moto's).
pub async fn local_secrets_client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&local_config("AWS_ENDPOINT_URL_SECRETS_MANAGER").await)
}

fn events_error<E: std::error::Error>(err: E) -> StackError {
    StackError::Events(aws_sdk_eventbridge::error::DisplayErrorContext(err).to_string())
}

/// A bus and a webhook queue (with its dead-letter queue), as template.yaml's `EventBus` and
/// `WebhookQueue`.
#[derive(Debug, Clone)]
pub struct LocalWebhooks {
    pub events: aws_sdk_eventbridge::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub bus_name: String,
    pub queue: LocalQueue,
    /// The secrets' name prefix (`<name>/webhooks/`).
    pub secret_prefix: String,
}

/// Creates the bus `name-events` and the queue `name-webhooks` (and `name-webhooks-dlq`).
pub async fn create_webhooks(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    options: QueueOptions,
) -> Result<LocalWebhooks, StackError> {
    let events = local_events_client().await;
    let bus_name = format!("{name}-events");
    match events.create_event_bus().name(&bus_name).send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_already_exists_exception()) => {}
        Err(e) => return Err(events_error(e)),
    }
    let queue = create_queue(sqs, &format!("{name}-webhooks"), options).await?;
    Ok(LocalWebhooks {
        events,
        secrets: local_secrets_client().await,
        bus_name,
        queue,
        secret_prefix: format!("{name}/webhooks/"),
    })
}

impl LocalWebhooks {
    /// Puts `event` on the bus as the platform's publisher does (the contract of
    /// `shared::events`).
    pub async fn put_event(&self, event: &PlatformEvent) {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(EVENT_SOURCE)
            .detail_type(&event.kind)
            .detail(serde_json::to_string(event).expect("an event serializes"))
            .build();
        let out = self.events.put_events().entries(entry).send().await;
        let out = out.expect("EventBridge answers");
        assert_eq!(out.failed_entry_count, 0, "PutEvents refused {event:?}");
    }

    /// The names of the bus's rules.
    pub async fn rules(&self) -> Vec<String> {
        let list = self.events.list_rules().event_bus_name(&self.bus_name);
        let out = list.send().await.expect("EventBridge answers");
        out.rules()
            .iter()
            .filter_map(|r| r.name().map(str::to_owned))
            .collect()
    }

    /// Whether the secret of subscription `id` exists.
    pub async fn secret_exists(&self, id: &str) -> bool {
        let name = format!("{}{id}", self.secret_prefix);
        let describe = self.secrets.describe_secret().secret_id(name);
        match describe.send().await {
            Ok(out) => out.deleted_date.is_none(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                false
            }
            Err(e) => panic!(
                "Secrets Manager: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            ),
        }
    }
}

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub status: u16,
    /// The signature checked with the secret, when the receiver has one.
    pub verified: Option<bool>,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn event_id(&self) -> Option<&str> {
        self.header(webhook::EVENT_ID_HEADER)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct ReceiverState {
    hits: Mutex<Vec<Hit>>,
    fail_next: Mutex<u32>,
    secret: Mutex<Option<String>>,
    print: bool,
}

/// A webhook receiver on loopback: `POST` anywhere is recorded; answered 200, or 500 while
/// [`WebhookReceiver::fail_next`] lasts.
#[derive(Clone)]
pub struct WebhookReceiver {
    state: Arc<ReceiverState>,
    pub addr: SocketAddr,
}

/// How far a signature's time may be from the receiver's clock.
pub const TOLERANCE_SECS: i64 = 300;

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let headers: HashMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let verified = state.secret.lock().unwrap().as_ref().map(|secret| {
        let signature = headers
            .get(webhook::SIGNATURE_HEADER)
            .map_or("", String::as_str);
        webhook::verify_signature(secret, signature, &body, unix_now(), TOLERANCE_SECS)
    });
    let status = {
        let mut fail = state.fail_next.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            StatusCode::INTERNAL_SERVER_ERROR
        } else if verified == Some(false) {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        }
    };
    if state.print {
        let verdict = match verified {
            Some(true) => "signature ok",
            Some(false) => "SIGNATURE INVALID",
            None => "signature not checked (no --secret)",
        };
        println!(
            "webhook {} {} ({verdict}) -> {}\n  {}",
            headers
                .get(webhook::KIND_HEADER)
                .map_or("?", String::as_str),
            headers
                .get(webhook::EVENT_ID_HEADER)
                .map_or("?", String::as_str),
            status.as_u16(),
            String::from_utf8_lossy(&body)
        );
    }
    state.hits.lock().unwrap().push(Hit {
        headers,
        body: body.to_vec(),
        status: status.as_u16(),
        verified,
    });
    status
}

impl WebhookReceiver {
    /// Serves on a free loopback port.
    pub async fn start() -> Self {
        Self::start_at("127.0.0.1:0".parse().unwrap(), false).await
    }

    /// Serves on `addr`; `print` writes a line per POST to stdout (`devstack webhook-receiver`).
    pub async fn start_at(addr: SocketAddr, print: bool) -> Self {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("binding {addr}: {e}"));
        Self::serve(listener, print)
    }

    fn serve(listener: tokio::net::TcpListener, print: bool) -> Self {
        let addr = listener.local_addr().expect("bound");
        let state = Arc::new(ReceiverState {
            print,
            ..ReceiverState::default()
        });
        let app = Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { state, addr }
    }

    /// The URL of `path` here (plain http to loopback: allowed under `make dev` and the tests).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Signatures are checked with `secret` from now on (a bad one is answered 401).
    pub fn set_secret(&self, secret: &str) {
        *self.state.secret.lock().unwrap() = Some(secret.to_owned());
    }

    /// The next `n` POSTs are answered 500.
    pub fn fail_next(&self, n: u32) {
        *self.state.fail_next.lock().unwrap() = n;
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    /// The POSTs of `event_id` answered 2xx.
    pub fn delivered(&self, event_id: &str) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.event_id() == Some(event_id) && (200..300).contains(&h.status))
            .collect()
    }
}

/// A loopback port held for a receiver not up yet: bound but not listening, so a connection to
/// it is refused (the receiver unreachable) and no one else takes the port meanwhile.
pub struct NotListening {
    socket: tokio::net::TcpSocket,
    pub addr: SocketAddr,
}

impl NotListening {
    pub fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.1:0".parse().unwrap())
            .expect("a loopback port");
        let addr = socket.local_addr().expect("bound");
        Self { socket, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The receiver comes up on the port.
    pub fn listen(self) -> WebhookReceiver {
        let listener = self.socket.listen(1024).expect("listening");
        WebhookReceiver::serve(listener, false)
    }
}

impl Default for NotListening {
    fn default() -> Self {
        Self::new()
    }
}

/// `devstack webhook-receiver`: serves until killed, printing each POST and its signature check.
pub async fn serve_and_print(addr: SocketAddr, secret: Option<&str>) {
    let receiver = WebhookReceiver::start_at(addr, true).await;
    if let Some(secret) = secret {
        receiver.set_secret(secret);
    }
    eprintln!(
        "devstack webhook-receiver: POST {} (signatures {})",
        receiver.url("/"),
        if secret.is_some() {
            "checked"
        } else {
            "not checked: give --secret"
        }
    );
    std::future::pending::<()>().await
}

/// `"kind": "text"` and the other fields of a test event for `appid`, id `id`.
pub fn event(id: &str, kind: &str, appid: Option<&str>) -> PlatformEvent {
    PlatformEvent {
        id: id.to_owned(),
        kind: kind.to_owned(),
        appid: appid.map(str::to_owned),
        create_time: unix_now(),
        fields: serde_json::json!({ "Content": "hello", "MsgId": id }),
    }
}
