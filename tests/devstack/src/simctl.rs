//! The simulator's control API (`/sim/…`) as tests use it: call counts, faults, the clock, token
//! expiry, review scripts (one mini program's, or by fraction for many), the submit quota,
//! refresh-token rotation, revocation, bulk authorizations, pushes on demand, fast registrations,
//! the go-live check and what WeChat currently holds. Every test reaches the control API through
//! this client.

use reqwest::StatusCode;
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

    /// POSTs `body` to a control path, whatever the answer: its status and JSON body (or null).
    pub async fn send(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("the simulator answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POSTs `body` to a control path; panics unless it succeeds. Answers the JSON body (or null).
    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.post_status(path, body).await.1
    }

    /// [`Self::post`], answering the (successful) status too.
    async fn post_status(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (status, answer) = self.send(path, body).await;
        assert!(status.is_success(), "{path}: {status} {answer}");
        (status, answer)
    }

    /// GETs a control path's JSON.
    pub async fn get(&self, path: &str) -> Value {
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
        self.all_calls().await[endpoint].as_u64().unwrap_or(0)
    }

    /// Every endpoint's call count (`/sim/calls`).
    pub async fn all_calls(&self) -> Value {
        self.get("/sim/calls").await
    }

    /// Arms `fault` (the JSON of `/sim/faults`) for the next `count` calls of `endpoint`; answers
    /// the (successful) status.
    pub async fn fault(&self, endpoint: &str, count: u32, fault: Value) -> StatusCode {
        let request = json!({ "endpoint": endpoint, "count": count, "fault": fault });
        self.post_status("/sim/faults", request).await.0
    }

    /// Moves WeChat's clock forward; answers its new time.
    pub async fn advance_clock(&self, seconds: i64) -> i64 {
        let clock = self
            .post("/sim/clock/advance", json!({ "seconds": seconds }))
            .await;
        clock["now"].as_i64().expect("the clock's time")
    }

    /// WeChat drops every component access token now.
    pub async fn expire_component_tokens(&self) {
        self.post("/sim/tokens/expire", json!({ "component": true }))
            .await;
    }

    /// WeChat drops the access tokens of `appid` now.
    pub async fn expire_tokens_of(&self, appid: &str) {
        self.post("/sim/tokens/expire", json!({ "appid": appid }))
            .await;
    }

    /// WeChat forgets the access tokens of `appid` now: they answer 40001 (not 42001).
    pub async fn forget_tokens_of(&self, appid: &str) {
        self.post(
            "/sim/tokens/expire",
            json!({ "appid": appid, "forget": true }),
        )
        .await;
    }

    /// Scripts the next review's outcome (the JSON of `/sim/reviews`), whatever the answer.
    pub async fn script_review(&self, script: Value) -> StatusCode {
        self.send("/sim/reviews", script).await.0
    }

    /// Every later review of a mini program with no script of its own ends by fraction (the JSON
    /// of `/sim/reviews` without an appid: `reject_fraction`, `delay_fraction`, `after_secs`,
    /// `reason`, `delay_reason`, `delay_then_pass_after_secs`, `prefix`); panics unless accepted.
    /// Answers `{population, rejected, delayed, after_secs}`: the appids whose next review is
    /// rejected or delayed.
    pub async fn script_reviews_by_fraction(&self, script: Value) -> Value {
        self.post("/sim/reviews", script).await
    }

    /// A `fraction` of the mini programs `prefix…` have their next review rejected, every review
    /// ending `after_secs` after its submission; answers the appids rejected.
    pub async fn reject_reviews_by_fraction(
        &self,
        prefix: &str,
        fraction: f64,
        after_secs: i64,
    ) -> Vec<String> {
        let script =
            json!({ "prefix": prefix, "reject_fraction": fraction, "after_secs": after_secs });
        let answer = self.script_reviews_by_fraction(script).await;
        let rejected = answer["rejected"].as_array().expect("rejected appids");
        let appid = |a: &Value| a.as_str().expect("an appid").to_owned();
        rejected.iter().map(appid).collect()
    }

    /// Drops the review script by fraction: each mini program's own review outcome again.
    pub async fn clear_reviews_by_fraction(&self) {
        let url = format!("{}/sim/reviews", self.base);
        let response = self
            .http
            .delete(url)
            .send()
            .await
            .expect("the simulator answers");
        assert!(response.status().is_success(), "{}", response.status());
    }

    /// The platform's submit quota (queryquota's `limit`) and what is left of it (`rest`; 0:
    /// submit_audit answers 85085); answers the quota as queryquota does.
    pub async fn set_submit_quota(&self, limit: i64, rest: i64) -> Value {
        self.post("/sim/quota", json!({ "limit": limit, "rest": rest }))
            .await
    }

    /// What is left of the submit quota, its limit unchanged; answers the quota.
    pub async fn set_submit_quota_rest(&self, rest: i64) -> Value {
        self.post("/sim/quota", json!({ "rest": rest })).await
    }

    /// From now on every api_authorizer_token answers a new refresh token; the replaced one is
    /// accepted for `replaced_valid_secs` more. Answers the settings now in force.
    pub async fn rotate_refresh_tokens(&self, replaced_valid_secs: i64) -> Value {
        self.post(
            "/sim/refresh-tokens",
            json!({ "rotate": true, "replaced_valid_secs": replaced_valid_secs }),
        )
        .await
    }

    /// What WeChat holds for every authorization (`/sim/authorizations`).
    pub async fn authorizations(&self) -> Value {
        self.get("/sim/authorizations").await
    }

    /// The refresh token WeChat holds as current for `appid` (None: not authorized).
    pub async fn current_refresh_token(&self, appid: &str) -> Option<String> {
        let authorizations = self.authorizations().await;
        let a = &authorizations[appid];
        (a["status"] == "authorized")
            .then(|| a["refresh_token"].as_str().map(str::to_owned))
            .flatten()
    }

    /// The owner revokes the authorization on WeChat's side; answers the (successful) status.
    pub async fn revoke(&self, appid: &str) -> StatusCode {
        let path = format!("/sim/authorizations/{appid}/revoke");
        self.post_status(&path, Value::Null).await.0
    }

    /// `count` mini programs `prefix…` (zero-padded to 18 characters) authorized at once with
    /// permission sets 17 and 18, each ready for code management (a shop of the tools category
    /// with two pages: commit, submit_audit, release and grey release work): their (appid,
    /// refresh token).
    pub async fn bulk_authorize(&self, prefix: &str, count: usize) -> Vec<(String, String)> {
        let bulk = self
            .post(
                "/sim/authorizations/bulk",
                json!({ "prefix": prefix, "count": count }),
            )
            .await;
        let field = |a: &Value, name: &str| a[name].as_str().expect(name).to_owned();
        bulk["authorizers"]
            .as_array()
            .expect("authorizers")
            .iter()
            .map(|a| (field(a, "appid"), field(a, "refresh_token")))
            .collect()
    }

    /// Pushes a ticket now; answers it.
    pub async fn push_ticket(&self) -> String {
        self.post("/sim/push/ticket", Value::Null).await["ticket"]
            .as_str()
            .expect("a ticket")
            .to_owned()
    }

    /// Every push the simulator made and how its delivery went (`/sim/pushes`).
    pub async fn pushes(&self) -> Value {
        self.get("/sim/pushes").await
    }

    /// Runs WeChat's go-live check (`/sim/go-live-check`; `request` names a `group`, an `appid`
    /// or neither, and may shorten `custom_message_wait_ms`): its status and report.
    pub async fn go_live_check(&self, request: Value) -> (StatusCode, Value) {
        self.send("/sim/go-live-check", request).await
    }

    /// The go-live check of `group`; panics unless the simulator ran it. Answers the report.
    pub async fn go_live_check_of_group(&self, group: usize) -> Value {
        self.post("/sim/go-live-check", json!({ "group": group }))
            .await
    }

    /// Every customer-service message WeChat received (`/sim/custom-messages`).
    pub async fn custom_messages(&self) -> Vec<Value> {
        let messages = self.get("/sim/custom-messages").await;
        messages.as_array().expect("a list").clone()
    }

    /// The code state WeChat holds for a mini program (`/sim/mini-programs/{appid}`), with its
    /// `online_release` and `gray_release_plan`.
    pub async fn mini_program(&self, appid: &str) -> Value {
        self.get(&format!("/sim/mini-programs/{appid}")).await
    }

    /// The user_version users of `appid` get (None before its first release).
    pub async fn online_version(&self, appid: &str) -> Option<String> {
        let state = self.mini_program(appid).await;
        state["online_release"]["user_version"]
            .as_str()
            .map(str::to_owned)
    }

    /// Every fast-registration task WeChat holds (`/sim/registrations`), oldest first.
    pub async fn registrations(&self) -> Vec<Value> {
        let tasks = self.get("/sim/registrations").await;
        tasks.as_array().expect("a list of tasks").clone()
    }

    /// The taskid of the newest fast-registration task.
    pub async fn newest_registration(&self) -> String {
        let tasks = self.registrations().await;
        let task = tasks.last().expect("a fast-registration task");
        task["taskid"].as_str().expect("taskid").to_owned()
    }

    /// WeChat refuses the next fast-registration create with `errcode`.
    pub async fn refuse_next_registration(&self, errcode: i64) {
        let script = json!({ "refuse_create": { "errcode": errcode } });
        self.post("/sim/registrations/outcome", script).await;
    }

    /// The next fast-registration task created ends with this push (`status` 0: registered).
    pub async fn next_registration_push(&self, status: i64, msg: &str) {
        let script = json!({ "push": { "status": status, "msg": msg } });
        self.post("/sim/registrations/outcome", script).await;
    }

    /// The legal person confirms the task now: WeChat pushes notify_third_fasteregister.
    pub async fn confirm_registration(&self, taskid: &str) {
        let path = format!("/sim/registrations/{taskid}/confirm");
        self.post(&path, Value::Null).await;
    }

    /// WeChat pushes the task's result again, unchanged (its retry).
    pub async fn push_registration_again(&self, taskid: &str) {
        let path = format!("/sim/registrations/{taskid}/push-again");
        self.post(&path, Value::Null).await;
    }

    /// The privacy state WeChat holds for a mini program: its guideline versions, the scan of
    /// its committed code and its interface applications.
    pub async fn privacy_of(&self, appid: &str) -> Value {
        self.mini_program(appid).await["privacy"].clone()
    }

    /// The privacy scan of every later commit runs `seconds` on WeChat's clock (61039 meanwhile).
    pub async fn privacy_scan_secs(&self, seconds: i64) {
        self.post("/sim/privacy/scan-secs", json!({ "seconds": seconds }))
            .await;
    }

    /// `appid`'s pending application of `api_name` is approved now, or (none pending) its next
    /// one will be. Answers whether one was pending.
    pub async fn approve_interface(&self, appid: &str, api_name: &str) -> bool {
        self.script_interface(appid, api_name, json!({ "outcome": "approved" }))
            .await
    }

    /// Like [`Self::approve_interface`], but rejected with `fail_reason`.
    pub async fn reject_interface(&self, appid: &str, api_name: &str, fail_reason: &str) -> bool {
        let outcome = json!({ "outcome": "rejected", "fail_reason": fail_reason });
        self.script_interface(appid, api_name, outcome).await
    }

    async fn script_interface(&self, appid: &str, api_name: &str, mut outcome: Value) -> bool {
        outcome["appid"] = json!(appid);
        outcome["api_name"] = json!(api_name);
        self.post("/sim/privacy/interfaces", outcome).await["resolved"]
            .as_bool()
            .expect("resolved")
    }

    /// Every subscribe message WeChat accepted (`/sim/subscribe-messages`), oldest first.
    pub async fn subscribe_messages(&self) -> Vec<Value> {
        let messages = self.get("/sim/subscribe-messages").await;
        messages.as_array().expect("a list").clone()
    }

    /// A js_code of `user` in mini program `appid` (what wx.login gives it): (js_code, openid).
    pub async fn js_code(&self, appid: &str, user: &str) -> (String, String) {
        let minted = self
            .post("/sim/js-codes", json!({ "appid": appid, "user": user }))
            .await;
        let field = |name: &str| minted[name].as_str().expect(name).to_owned();
        (field("js_code"), field("openid"))
    }

    /// `POST /sim/messages`: a message-URL push on demand (wechat-sim's `messages` module),
    /// answering the simulator's report (`delivery`, `plaintext`, `answers`); panics unless the
    /// simulator could send it.
    pub async fn send_message(&self, request: Value) -> Value {
        self.post("/sim/messages", request).await
    }
}

/// The faults `/sim/faults` arms (the simulator's `FaultKind` as JSON).
pub mod fault {
    use serde_json::{json, Value};

    /// WeChat answers `errcode`.
    pub fn errcode(errcode: i64) -> Value {
        json!({ "errcode": { "errcode": errcode } })
    }

    /// WeChat answers this HTTP status (a gateway error, say).
    pub fn http_status(status: u16) -> Value {
        json!({ "http_status": { "status": status } })
    }

    /// WeChat answers `ms` milliseconds late.
    pub fn delay_ms(ms: u64) -> Value {
        json!({ "delay_ms": { "ms": ms } })
    }
}
