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
use shared::push::Envelope;

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
    /// The query as pairs, for replaying the push elsewhere.
    pub fn query_pairs(&self) -> Vec<(&str, &str)> {
        self.query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
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
