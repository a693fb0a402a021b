//! The simulator's control API (`/sim/…`) as tests use it: call counts, faults, the clock,
//! refresh-token rotation and what WeChat currently holds for an authorization.

use serde_json::{json, Value};

/// A client of one running simulator.
#[derive(Clone)]
pub struct SimControl {
    base: String,
    http: reqwest::Client,
}

impl SimControl {
    pub fn new(base_url: &str) -> Self {
        Self {
            base: base_url.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// POSTs `body` to a control path; panics unless it succeeds. Answers the JSON body (or null).
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("the simulator answers");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(Value::Null)
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("the simulator answers")
            .json()
            .await
            .expect("JSON")
    }

    /// How many times an endpoint (its last path segment) was called.
    pub async fn calls(&self, endpoint: &str) -> u64 {
        self.get("/sim/calls").await[endpoint].as_u64().unwrap_or(0)
    }

    /// Arms `fault` (the JSON of `/sim/faults`) for the next `count` calls of `endpoint`.
    pub async fn fault(&self, endpoint: &str, count: u32, fault: Value) {
        self.post(
            "/sim/faults",
            json!({ "endpoint": endpoint, "count": count, "fault": fault }),
        )
        .await;
    }

    pub async fn advance_clock(&self, seconds: i64) {
        self.post("/sim/clock/advance", json!({ "seconds": seconds }))
            .await;
    }

    /// From now on every api_authorizer_token answers a new refresh token; the replaced one is
    /// accepted for `replaced_valid_secs` more.
    pub async fn rotate_refresh_tokens(&self, replaced_valid_secs: i64) {
        self.post(
            "/sim/refresh-tokens",
            json!({ "rotate": true, "replaced_valid_secs": replaced_valid_secs }),
        )
        .await;
    }

    /// The refresh token WeChat holds as current for `appid` (None: not authorized).
    pub async fn current_refresh_token(&self, appid: &str) -> Option<String> {
        let authorizations = self.get("/sim/authorizations").await;
        let a = &authorizations[appid];
        (a["status"] == "authorized")
            .then(|| a["refresh_token"].as_str().map(str::to_owned))
            .flatten()
    }

    /// The owner revokes the authorization on WeChat's side.
    pub async fn revoke(&self, appid: &str) {
        self.post(&format!("/sim/authorizations/{appid}/revoke"), Value::Null)
            .await;
    }

    /// Pushes a ticket now; answers it.
    pub async fn push_ticket(&self) -> String {
        self.post("/sim/push/ticket", Value::Null).await["ticket"]
            .as_str()
            .expect("a ticket")
            .to_owned()
    }
}
