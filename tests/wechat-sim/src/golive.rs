//! WeChat's go-live check ("全网发布接入检测说明" (releases_instructions)) as WeChat runs it, and the
//! customer-service message API it watches ("客服消息" (custom/send)).
//!
//! `POST /sim/go-live-check` picks a group of test accounts (one official account and one mini
//! program; `{"group": 0..=4}`, `{"appid": "wx…"}` for one account, or a random group), then:
//! pushes a component_verify_ticket (case 1: answered `success`); authorizes each account to the
//! platform as the owner's confirmation does (the `authorized` push, whose code the platform must
//! exchange); and pushes to each account's message URL an event (case 2: the encrypted passive
//! reply `LOCATIONfrom_callback`), the text `TESTCOMPONENT_MSG_TYPE_TEXT` (case 3:
//! `TESTCOMPONENT_MSG_TYPE_TEXT_callback`) and `QUERY_AUTH_CODE:<fresh code>` (case 4: an empty
//! answer or `success`, then within WeChat's patience a customer-service message
//! `<code>_from_api` to the push's sender, sent with that account's token). It answers
//! `{"passed", "group", "accounts", "cases": [{"name", "appid", "passed", "detail"}]}`.
//!
//! The ten accounts are WeChat's own list, kept here independently of the platform's copy
//! (shared::go_live): a wrong original id there fails the check as it would on WeChat.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::{MiniProgram, ReviewScript};
use crate::push::{Answer, Recipient};
use crate::state::random_id;
use crate::wx::{json_body, ok, respond, WxError};
use crate::Sim;

/// The kind of a test account: what api_get_authorizer_info says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    OfficialAccount,
    MiniProgram,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct TestAccount {
    pub appid: &'static str,
    pub original_id: &'static str,
    pub kind: AccountKind,
}

/// WeChat's official test accounts; group `g` is the `g`-th of each.
pub const OFFICIAL_ACCOUNTS: [TestAccount; 5] = [
    official("wx570bc396a51b8ff8", "gh_3c884a361561"),
    official("wx9252c5e0bb1836fc", "gh_c0f28a78b318"),
    official("wx8e1097c5bc82cde9", "gh_3f222ed8d140"),
    official("wx14550af28c71a144", "gh_26128078e9ab"),
    official("wxa35b9c23cfe664eb", "gh_2b3713f184a6"),
];

/// WeChat's mini-program test accounts.
pub const MINI_PROGRAMS: [TestAccount; 5] = [
    mini_program("wxd101a85aa106f53e", "gh_8dad206e9538"),
    mini_program("wxc39235c15087f6f3", "gh_905ae9d01059"),
    mini_program("wx7720d01d4b2a4500", "gh_393666f1fdf4"),
    mini_program("wx05d483572dcd5d8b", "gh_39abb5d4e1b7"),
    mini_program("wx5910277cae6fd970", "gh_7818dcb60240"),
];

const fn official(appid: &'static str, original_id: &'static str) -> TestAccount {
    TestAccount {
        appid,
        original_id,
        kind: AccountKind::OfficialAccount,
    }
}

const fn mini_program(appid: &'static str, original_id: &'static str) -> TestAccount {
    TestAccount {
        appid,
        original_id,
        kind: AccountKind::MiniProgram,
    }
}

pub const GROUPS: usize = 5;

/// Group `group` (< [`GROUPS`]): its official account, then its mini program.
pub fn group(group: usize) -> [&'static TestAccount; 2] {
    [&OFFICIAL_ACCOUNTS[group], &MINI_PROGRAMS[group]]
}

pub fn test_account(appid: &str) -> Option<&'static TestAccount> {
    OFFICIAL_ACCOUNTS
        .iter()
        .chain(&MINI_PROGRAMS)
        .find(|a| a.appid == appid)
}

impl TestAccount {
    /// The permission sets the check grants: message management and more for an official
    /// account, the mini-program sets (code management included) for a mini program.
    fn permission_sets(&self) -> Vec<i64> {
        match self.kind {
            AccountKind::OfficialAccount => vec![1, 2, 3, 4, 6, 7, 11],
            AccountKind::MiniProgram => vec![17, 18, 19, 25, 30, 31],
        }
    }

    /// `authorizer_info` of api_get_authorizer_info: a mini program's like any configured one
    /// (no domains, no categories), an official account's without `MiniProgramInfo` and the
    /// mini-program fields, and a service account (`service_type_info` 2).
    pub fn authorizer_info(&self) -> Value {
        let account = MiniProgram {
            appid: self.appid.to_owned(),
            original_id: self.original_id.to_owned(),
            nickname: format!("全网发布测试 {}", self.original_id),
            principal_name: "腾讯测试".to_owned(),
            head_img: format!("http://wx.qlogo.cn/mmopen/{}/0", self.original_id),
            categories: Vec::new(),
            pages: Vec::new(),
            testers_limit: 0,
            permission_sets: self.permission_sets(),
            review: ReviewScript::Pass { after_secs: 5 },
        };
        let mut info = crate::component::authorizer_info(&account, None);
        if self.kind == AccountKind::OfficialAccount {
            let fields = info.as_object_mut().expect("an object");
            for name in [
                "MiniProgramInfo",
                "register_type",
                "account_status",
                "basic_config",
            ] {
                fields.remove(name);
            }
            info["service_type_info"] = json!({ "id": 2 });
        }
        info
    }
}

/// A customer-service message WeChat accepted.
#[derive(Debug, Clone, Serialize)]
pub struct CustomMessage {
    /// The account whose token sent it.
    pub appid: String,
    pub touser: String,
    pub msgtype: String,
    /// The text of a text message.
    pub content: Option<String>,
    pub at: i64,
}

/// What the check leaves in WeChat's state.
#[derive(Debug, Default)]
pub struct GoLiveState {
    /// Per account, the users (OpenIDs) who wrote to it: custom/send reaches only them.
    pub users: HashMap<String, BTreeSet<String>>,
    pub custom_messages: Vec<CustomMessage>,
}

/// The kinds of customer-service message custom/send knows ("客服消息").
const MSG_TYPES: &[&str] = &[
    "text",
    "image",
    "voice",
    "video",
    "music",
    "news",
    "mpnews",
    "mpnewsarticle",
    "msgmenu",
    "wxcard",
    "miniprogrampage",
    "link",
];

/// `POST /cgi-bin/message/custom/send?access_token=<authorizer token>`: 41001/40001/42001 for the
/// token (a component token is 40001), 44002 empty body, 47001 not JSON, 40003 no `touser`,
/// 40008 an unknown `msgtype`, 44004 a text without content, 45015 a user who has not written to
/// the account.
pub async fn custom_send(
    State(sim): State<Sim>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let mut state = sim.state();
    respond((|| {
        let appid =
            state.require_authorizer_token(params.get("access_token").map(String::as_str))?;
        let body = json_body(&body)?;
        let field = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or("");
        let touser = field("touser");
        if touser.is_empty() {
            return Err(WxError::new(40003, "invalid openid"));
        }
        let msgtype = field("msgtype");
        if !MSG_TYPES.contains(&msgtype) {
            return Err(WxError::new(40008, "invalid message type"));
        }
        let content = body["text"]["content"].as_str().map(str::to_owned);
        if msgtype == "text" && content.as_deref().is_none_or(str::is_empty) {
            return Err(WxError::new(44004, "empty content"));
        }
        let wrote = state
            .go_live
            .users
            .get(&appid)
            .is_some_and(|users| users.contains(touser));
        if !wrote {
            return Err(WxError::new(
                45015,
                "response out of time limit or subscription is canceled",
            ));
        }
        let message = CustomMessage {
            appid,
            touser: touser.to_owned(),
            msgtype: msgtype.to_owned(),
            content,
            at: state.now(),
        };
        state.go_live.custom_messages.push(message);
        ok(json!({}))
    })())
}

/// `GET /sim/custom-messages`: every customer-service message received, oldest first.
pub async fn custom_messages(State(sim): State<Sim>) -> Json<Value> {
    Json(json!(sim.state().go_live.custom_messages))
}

/// The body of `/sim/go-live-check` (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The group 0..=4 (default: one at random).
    group: Option<usize>,
    /// One test account instead of a group.
    appid: Option<String>,
    /// How long to wait for the customer-service message of case 4 (default 10 000 ms, WeChat's
    /// patience).
    custom_message_wait_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub name: &'static str,
    /// The test account (None for the ticket).
    pub appid: Option<&'static str>,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub passed: bool,
    pub group: Option<usize>,
    pub accounts: Vec<&'static str>,
    pub cases: Vec<CaseReport>,
}

fn bad_request(message: String) -> Response {
    let body = json!({ "error": "bad_request", "message": message });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// `POST /sim/go-live-check`: runs the check now against the configured push URLs.
pub async fn go_live_check(State(sim): State<Sim>, body: Bytes) -> Response {
    let request: CheckRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CheckRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(e) => return bad_request(format!("body: {e}")),
        }
    };
    let (group, accounts) = match (request.group, request.appid.as_deref()) {
        (Some(_), Some(_)) => return bad_request("name a group or an appid, not both".into()),
        (Some(g), None) if g < GROUPS => (Some(g), group(g).to_vec()),
        (Some(g), None) => return bad_request(format!("group must be 0..=4, not {g}")),
        (None, Some(appid)) => match test_account(appid) {
            Some(account) => (None, vec![account]),
            None => return bad_request(format!("{appid} is not a go-live test account")),
        },
        (None, None) => {
            let g = rand::random_range(0..GROUPS);
            (Some(g), group(g).to_vec())
        }
    };
    {
        let state = sim.state();
        let push = &state.config.push;
        if push.authorization_event_url.is_none() || push.message_url.is_none() {
            let body = json!({ "error": "no_push_urls", "message": "the check needs both push URLs (SIM_AUTHORIZATION_EVENT_URL, SIM_MESSAGE_URL)" });
            return (StatusCode::CONFLICT, Json(body)).into_response();
        }
    }
    let wait = Duration::from_millis(request.custom_message_wait_ms.unwrap_or(10_000));
    let report = sim.go_live(group, &accounts, wait).await;
    Json(report).into_response()
}

/// A short, printable excerpt of an answer.
fn excerpt(text: &str) -> String {
    let text: String = text.chars().take(200).collect();
    if text.is_empty() {
        "an empty body".into()
    } else {
        format!("`{text}`")
    }
}

/// What an answer was, for a detail.
fn described(answer: &Answer) -> String {
    match (answer.status, &answer.error) {
        (Some(status), _) => format!("HTTP {status} with {}", excerpt(answer.body.trim())),
        (None, Some(error)) => format!("no answer ({error})"),
        (None, None) => "no answer".into(),
    }
}

fn acknowledgement(answer: &Answer, expected: &str) -> Result<String, String> {
    if answer.acknowledged() {
        Ok(format!("answered {}", excerpt(answer.body.trim())))
    } else {
        Err(format!(
            "expected HTTP 200 with `success` (or an empty body) {expected}; got {}",
            described(answer)
        ))
    }
}

impl Sim {
    async fn go_live(
        &self,
        group: Option<usize>,
        accounts: &[&'static TestAccount],
        wait: Duration,
    ) -> Report {
        let mut cases = Vec::new();
        let mut case = |name, appid, result: Result<String, String>| {
            let passed = result.is_ok();
            let detail = result.unwrap_or_else(|e| e);
            cases.push(CaseReport {
                name,
                appid,
                passed,
                detail,
            });
        };
        case("component_verify_ticket", None, self.ticket_case().await);
        for account in accounts {
            let appid = Some(account.appid);
            case("authorized", appid, self.authorize_case(account).await);
            let openid = random_id("o").chars().take(28).collect::<String>();
            self.state()
                .go_live
                .users
                .entry(account.appid.to_owned())
                .or_default()
                .insert(openid.clone());
            let message = |body: &str| {
                let now = self.state().now();
                format!(
                    "<xml><ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{now}</CreateTime>{body}</xml>",
                    account.original_id
                )
            };
            let event = message("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[LOCATION]]></Event><Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision>");
            let result = self
                .reply_case(account, &openid, &event, "LOCATIONfrom_callback")
                .await;
            case("event", appid, result);
            let text = message(&text_body("TESTCOMPONENT_MSG_TYPE_TEXT"));
            let result = self
                .reply_case(
                    account,
                    &openid,
                    &text,
                    "TESTCOMPONENT_MSG_TYPE_TEXT_callback",
                )
                .await;
            case("text", appid, result);
            let (code, _) = self.state().issue_auth_code(account.appid);
            let api = message(&text_body(&format!("QUERY_AUTH_CODE:{code}")));
            let result = self.api_case(account, &openid, &api, &code, wait).await;
            case("query_auth_code", appid, result);
        }
        Report {
            passed: cases.iter().all(|c| c.passed),
            group,
            accounts: accounts.iter().map(|a| a.appid).collect(),
            cases,
        }
    }

    /// One delivery of `plaintext`, waited for (within the push timeout).
    async fn deliver_now(
        &self,
        recipient: &Recipient,
        kind: &str,
        plaintext: &str,
        openid: &str,
    ) -> Result<Answer, String> {
        let prepared = self
            .prepare(recipient, plaintext, openid)
            .ok_or("no push URL configured")?;
        let id = self.log_delivery(&prepared, kind);
        Ok(self.post_once(&prepared, id, 0).await)
    }

    async fn ticket_case(&self) -> Result<String, String> {
        let (_, xml) = self.new_ticket();
        let kind = "component_verify_ticket";
        let answer = self
            .deliver_now(&Recipient::Component, kind, &xml, "")
            .await?;
        acknowledgement(&answer, "to the ticket push")
    }

    /// Authorizes `account` as its owner would, pushes `authorized` and checks the code was
    /// exchanged.
    async fn authorize_case(&self, account: &TestAccount) -> Result<String, String> {
        let grant = self.state().grant(account.appid, account.permission_sets());
        let code = Some((grant.auth_code.as_str(), grant.expires_at));
        let xml = self.authorization_event_xml(grant.info_type, account.appid, code);
        let recipient = Recipient::Component;
        let answer = self
            .deliver_now(&recipient, grant.info_type, &xml, "")
            .await?;
        let answered = acknowledgement(&answer, &format!("to the {} push", grant.info_type))?;
        let exchanged = self
            .state()
            .auth_codes
            .get(&grant.auth_code)
            .is_some_and(|c| c.used);
        if !exchanged {
            return Err(format!(
                "{answered} to the {} push, but never exchanged its authorization code (api_query_auth)",
                grant.info_type
            ));
        }
        Ok(format!(
            "{answered} to the {} push; its code was exchanged",
            grant.info_type
        ))
    }

    async fn reply_case(
        &self,
        account: &TestAccount,
        openid: &str,
        plaintext: &str,
        expected: &str,
    ) -> Result<String, String> {
        let recipient = Recipient::MiniProgram {
            appid: account.appid.to_owned(),
            original_id: account.original_id.to_owned(),
        };
        let answer = self
            .deliver_now(&recipient, expected, plaintext, openid)
            .await?;
        self.check_reply(&answer, openid, account.original_id, expected)
    }

    /// A passive reply as WeChat checks it: the envelope signed (MsgSignature over the token,
    /// TimeStamp, Nonce and Encrypt), the ciphertext opening with the component key and appid, a
    /// text message back to the sender with the expected content.
    fn check_reply(
        &self,
        answer: &Answer,
        openid: &str,
        original_id: &str,
        expected: &str,
    ) -> Result<String, String> {
        let wanted = format!("an encrypted passive text reply `{expected}`");
        let body = answer.body.trim();
        if answer.status != Some(200) || matches!(body, "" | "success") {
            return Err(format!(
                "expected HTTP 200 with {wanted}; got {}",
                described(answer)
            ));
        }
        let envelope = shared::xml::parse(body).map_err(|e| {
            format!(
                "expected {wanted}; the answer is not XML ({e}): {}",
                excerpt(body)
            )
        })?;
        let field = |name: &'static str| {
            envelope
                .text_of(name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("the reply envelope has no <{name}>: {}", excerpt(body)))
        };
        let (encrypt, signature) = (field("Encrypt")?, field("MsgSignature")?);
        let (timestamp, nonce) = (field("TimeStamp")?, field("Nonce")?);
        let crypto = self.crypto();
        crypto
            .verify_msg_signature(signature, timestamp, nonce, encrypt)
            .map_err(|_| {
                format!("MsgSignature {signature} is not the signature of the token, TimeStamp {timestamp}, Nonce {nonce} and Encrypt")
            })?;
        let (plain, _) = crypto.decrypt(encrypt).map_err(|e| {
            format!("Encrypt does not open with the component's key and appid: {e}")
        })?;
        let reply = shared::xml::parse(&plain)
            .map_err(|e| format!("the decrypted reply is not XML ({e}): {}", excerpt(&plain)))?;
        let got = |name: &str| reply.text_of(name).unwrap_or("").to_owned();
        for (name, want) in [
            ("ToUserName", openid),
            ("FromUserName", original_id),
            ("MsgType", "text"),
            ("Content", expected),
        ] {
            let found = got(name);
            if found != want {
                return Err(format!(
                    "the reply's {name} is `{found}`, expected `{want}`"
                ));
            }
        }
        Ok(format!("{wanted}, signed and addressed back to the sender"))
    }

    async fn api_case(
        &self,
        account: &TestAccount,
        openid: &str,
        plaintext: &str,
        code: &str,
        wait: Duration,
    ) -> Result<String, String> {
        let recipient = Recipient::MiniProgram {
            appid: account.appid.to_owned(),
            original_id: account.original_id.to_owned(),
        };
        let answer = self
            .deliver_now(&recipient, "QUERY_AUTH_CODE", plaintext, openid)
            .await?;
        let answered = acknowledgement(&answer, "at once to QUERY_AUTH_CODE")?;
        let expected = format!("{code}_from_api");
        let until = Instant::now() + wait;
        loop {
            let sent: Vec<CustomMessage> = {
                let state = self.state();
                state
                    .go_live
                    .custom_messages
                    .iter()
                    .filter(|m| m.appid == account.appid && m.touser == openid)
                    .cloned()
                    .collect()
            };
            if let Some(message) = sent.first() {
                return match message.content.as_deref() {
                    Some(content) if content == expected => Ok(format!(
                        "{answered}; the customer-service message `<code>_from_api` came with the account's token"
                    )),
                    other => Err(format!(
                        "the customer-service message to {openid} is a {} with `{}`, expected the text `<code>_from_api`",
                        message.msgtype,
                        other.unwrap_or("")
                    )),
                };
            }
            if Instant::now() >= until {
                let used = self.state().auth_codes.get(code).is_some_and(|c| c.used);
                let exchange = if used {
                    "the code was exchanged"
                } else {
                    "the code was never exchanged (api_query_auth)"
                };
                return Err(format!(
                    "{answered}, but no customer-service message to {openid} came with {}'s token within {} ms ({exchange})",
                    account.appid,
                    wait.as_millis()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn text_body(content: &str) -> String {
    format!(
        "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content><MsgId>{}</MsgId>",
        rand::random_range(1_000_000_000_000_000i64..9_000_000_000_000_000)
    )
}
