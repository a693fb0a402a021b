//! A push receiver for tests: records every push WeChat (the simulator) sends, answers `success`
//! (or fails the next N on purpose), and can open them with the component's crypto.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use shared::crypto::MessageCrypto;
use shared::push::{component_envelope_xml, message_envelope_xml, verify_ticket_xml, Envelope};
use shared::store::unix_now;

/// One push as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `/component`, or `/mp/<appid>` for the message URL.
    pub path: String,
    pub query: HashMap<String, String>,
    pub body: String,
    pub plaintext: String,
}

impl Received {
    /// A push made here, as WeChat posts it to the authorization event URL: `plaintext`
    /// encrypted and signed (`timestamp`, `nonce`) with `crypto`.
    pub fn signed(crypto: &MessageCrypto, plaintext: &str, timestamp: i64, nonce: &str) -> Self {
        let encrypt = crypto.encrypt(plaintext).expect("encrypted");
        let body = component_envelope_xml(crypto.appid(), &encrypt);
        Self::signed_envelope(
            crypto,
            "/component".into(),
            &encrypt,
            body,
            plaintext,
            timestamp,
            nonce,
        )
    }

    /// A push made here, as WeChat posts it to the message URL of `appid`, whose original id
    /// (`gh_…`) is `original_id`.
    pub fn signed_message(
        crypto: &MessageCrypto,
        (appid, original_id): (&str, &str),
        plaintext: &str,
        timestamp: i64,
        nonce: &str,
    ) -> Self {
        let encrypt = crypto.encrypt(plaintext).expect("encrypted");
        let body = message_envelope_xml(original_id, &encrypt);
        let path = format!("/mp/{appid}");
        Self::signed_envelope(crypto, path, &encrypt, body, plaintext, timestamp, nonce)
    }

    /// A component_verify_ticket push of `ticket` (CreateTime `create_time`) signed now, its
    /// nonce named after the ticket.
    pub fn signed_ticket(crypto: &MessageCrypto, create_time: i64, ticket: &str) -> Self {
        let plaintext = verify_ticket_xml(crypto.appid(), create_time, ticket);
        Self::signed(crypto, &plaintext, unix_now(), &format!("nonce-{ticket}"))
    }

    fn signed_envelope(
        crypto: &MessageCrypto,
        path: String,
        encrypt: &str,
        body: String,
        plaintext: &str,
        timestamp: i64,
        nonce: &str,
    ) -> Self {
        let timestamp = timestamp.to_string();
        let signature = crypto.msg_signature(&timestamp, nonce, encrypt);
        let query = [
            ("timestamp", timestamp),
            ("nonce", nonce.to_owned()),
            ("encrypt_type", "aes".to_owned()),
            ("msg_signature", signature),
        ];
        Self {
            path,
            query: query.map(|(k, v)| (k.to_owned(), v)).into(),
            body,
            plaintext: plaintext.to_owned(),
        }
    }

    /// The query as pairs, for replaying the push elsewhere.
    pub fn query_pairs(&self) -> Vec<(&str, &str)> {
        self.query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The push as API Gateway hands it to ticket-receive: to the authorization event URL, or to
    /// the message URL of its mini program.
    pub fn request(&self) -> lambda_http::Request {
        match self.path.strip_prefix("/mp/") {
            Some(appid) => crate::apigw::message_push(appid, &self.query_pairs(), &self.body),
            None => crate::apigw::push(&self.query_pairs(), &self.body),
        }
    }
}

#[derive(Clone)]
pub struct Inbox {
    crypto: MessageCrypto,
    pushes: Arc<Mutex<Vec<Received>>>,
    fail_next: Arc<Mutex<u32>>,
    pub addr: SocketAddr,
}

impl Inbox {
    /// Serves on a free loopback port: `/component` and `/mp/{appid}`; pushes are verified and
    /// decrypted with `crypto` (a push that does not open panics the test).
    pub async fn start(crypto: MessageCrypto) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let inbox = Self {
            crypto,
            pushes: Arc::default(),
            fail_next: Arc::default(),
            addr: listener.local_addr().expect("local addr"),
        };
        let app = Router::new()
            .route("/component", post(receive))
            .route("/mp/{appid}", post(receive))
            .with_state(inbox.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("inbox server") });
        inbox
    }

    pub fn component_url(&self) -> String {
        format!("http://{}/component", self.addr)
    }

    /// The message URL with WeChat's `$APPID$` placeholder.
    pub fn message_url(&self) -> String {
        format!("http://{}/mp/$APPID$", self.addr)
    }

    /// Answers the next `n` pushes with HTTP 500.
    pub fn fail_next(&self, n: u32) {
        *self.fail_next.lock().unwrap() = n;
    }

    pub fn all(&self) -> Vec<Received> {
        self.pushes.lock().unwrap().clone()
    }

    pub fn containing(&self, needle: &str) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|p| p.plaintext.contains(needle))
            .collect()
    }

    /// Waits (up to [`crate::wait::deadline`]) for the newest push whose plaintext contains
    /// `needle`.
    pub async fn wait_for(&self, needle: &str) -> Received {
        self.wait_for_count(needle, 1)
            .await
            .pop()
            .expect("one push")
    }

    /// Waits (up to [`crate::wait::deadline`]) until `count` pushes containing `needle` arrived;
    /// returns them all, oldest first.
    pub async fn wait_for_count(&self, needle: &str, count: usize) -> Vec<Received> {
        let found = crate::wait::poll(|| async {
            let pushes = self.containing(needle);
            (pushes.len() >= count).then_some(pushes)
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "fewer than {count} pushes containing {needle:?}; got {:?}",
                self.all()
            )
        })
    }
}

async fn receive(
    State(inbox): State<Inbox>,
    path: Option<Path<String>>,
    Query(query): Query<HashMap<String, String>>,
    body: String,
) -> (StatusCode, &'static str) {
    {
        let mut fail = inbox.fail_next.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return (StatusCode::INTERNAL_SERVER_ERROR, "try again");
        }
    }
    let envelope = Envelope::parse(&body).expect("a push envelope");
    let (plaintext, _) = inbox
        .crypto
        .open(
            &query["msg_signature"],
            &query["timestamp"],
            &query["nonce"],
            &envelope.encrypt,
        )
        .expect("the push opens with the component's key");
    let signature = inbox.crypto.signature(&query["timestamp"], &query["nonce"]);
    assert!(
        shared::crypto::signatures_match(&signature, &query["signature"]),
        "plain signature"
    );
    let path = path
        .map(|Path(appid)| format!("/mp/{appid}"))
        .unwrap_or_else(|| "/component".into());
    inbox.pushes.lock().unwrap().push(Received {
        path,
        query,
        body,
        plaintext,
    });
    (StatusCode::OK, "success")
}
