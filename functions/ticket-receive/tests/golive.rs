//! WeChat's go-live check ("全网发布接入检测说明"), run by the simulator as WeChat runs it against
//! ticket-receive served over HTTP (both URLs), on moto's tables: it passes for every group of
//! test accounts, the outcomes are stored, a retried QUERY_AUTH_CODE push sends nothing twice, and
//! a reply broken on purpose (by a test front between the simulator and the handler, never by the
//! production code) fails the report naming the case.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use devstack::apigw::{body_text, serve, Call, Served};
use devstack::sim::{Component, Setup};
use devstack::world::World;
use lambda_http::{Body, Response};
use serde_json::Value;
use shared::crypto::MessageCrypto;
use shared::go_live::{AccountKind, CaseName, TEST_ACCOUNTS};
use shared::push::Envelope;
use shared::store::{CaseOutcome, CaseStatus, GoLiveStore};
use ticket_receive::{handle, PlatformReceiver};

fn component() -> Component {
    Component::new("wxgolivecomponent1", "golive-secret", "golivetoken")
}

/// What stands between the simulator and the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    /// Nothing: the platform as deployed.
    AsIs,
    /// The text case is answered plain `success` instead of the platform's reply.
    TextAnsweredSuccess,
    /// The event case's reply reaches WeChat with its MsgSignature changed.
    EventSignatureBroken,
    /// QUERY_AUTH_CODE pushes reach the handler twice (WeChat's retry: the same request).
    ApiPushRetried,
}

struct Check {
    world: World,
    _served: Served,
}

devstack::deref_world!(Check);

/// A world of no mini programs (the simulator knows the test accounts) whose simulator pushes to
/// ticket-receive, behind `front`.
async fn start(test: &str, front: Front) -> Check {
    let world = Setup::new(&component()).start(test).await;
    let receiver = Arc::new(PlatformReceiver::from_platform(&world.platform).unwrap());
    let crypto = Arc::new(world.component.crypto());
    let served = serve(move |call| {
        let (receiver, crypto) = (receiver.clone(), crypto.clone());
        async move { answer(&receiver, front, &crypto, call).await }
    })
    .await;
    world.push_to(
        &served.url("/wechat/component/notify"),
        &served.url("/wechat/authorizer/$APPID$/notify"),
    );
    Check {
        world,
        _served: served,
    }
}

/// The decrypted push of a call ("" when it does not open: the handler refuses it).
fn plaintext(crypto: &MessageCrypto, call: &Call) -> String {
    let opened = Envelope::parse(&call.body).ok().and_then(|envelope| {
        let param = |name| call.param(name).unwrap_or("");
        crypto
            .open(
                param("msg_signature"),
                param("timestamp"),
                param("nonce"),
                &envelope.encrypt,
            )
            .ok()
    });
    opened.map(|(text, _)| text).unwrap_or_default()
}

async fn answer(
    receiver: &PlatformReceiver,
    front: Front,
    crypto: &MessageCrypto,
    call: Call,
) -> Response<Body> {
    let push = plaintext(crypto, &call);
    let handled = || async { handle(receiver, call.request()).await.unwrap() };
    match front {
        Front::TextAnsweredSuccess if push.contains("[TESTCOMPONENT_MSG_TYPE_TEXT]") => {
            ticket_receive::success()
        }
        Front::EventSignatureBroken if push.contains("[LOCATION]") => {
            let reply = body_text(&handled().await);
            let start = reply
                .find("<MsgSignature><![CDATA[")
                .expect("a signed reply")
                + 23;
            let broken = format!(
                "{}{}{}",
                &reply[..start],
                "0".repeat(40),
                &reply[start + 40..]
            );
            ticket_receive::passive_reply(broken)
        }
        Front::ApiPushRetried if push.contains("QUERY_AUTH_CODE:") => {
            let first = handled().await;
            assert_eq!(body_text(&first), "success", "the first delivery");
            handled().await
        }
        _ => handled().await,
    }
}

/// The report's cases that failed: (name, appid).
fn failed(report: &Value) -> Vec<(String, String)> {
    let cases = report["cases"].as_array().expect("cases");
    cases
        .iter()
        .filter(|c| c["passed"] != true)
        .map(|c| {
            let field = |name: &str| c[name].as_str().unwrap_or("").to_owned();
            (field("name"), field("appid"))
        })
        .collect()
}

/// The report's first case named `name`.
fn first_case<'a>(report: &'a Value, name: &str) -> &'a Value {
    let cases = report["cases"].as_array().expect("cases");
    let found = cases.iter().find(|c| c["name"] == name);
    found.unwrap_or_else(|| panic!("no case {name}: {report:#}"))
}

impl Check {
    async fn outcomes(&self) -> Vec<CaseOutcome> {
        let store = self.platform.ticket_store();
        store.go_live_cases(&self.component.appid).await.unwrap()
    }
}

#[tokio::test]
async fn the_check_passes_for_every_group_and_its_outcomes_are_stored() {
    let c = start("golive-all", Front::AsIs).await;
    for group in 0..5 {
        let report = c.ctl.go_live_check_of_group(group).await;
        assert_eq!(report["passed"], true, "group {group}: {report:#}");
        assert_eq!(report["cases"].as_array().unwrap().len(), 9, "{report}");
    }
    // One customer-service message per account, sent with its own token, and one exchange of
    // each code: the authorized push's and the QUERY_AUTH_CODE's.
    let messages = c.ctl.custom_messages().await;
    let mut senders: Vec<&str> = messages
        .iter()
        .map(|m| m["appid"].as_str().unwrap())
        .collect();
    senders.sort_unstable();
    let mut accounts: Vec<&str> = TEST_ACCOUNTS.iter().map(|a| a.appid).collect();
    accounts.sort_unstable();
    assert_eq!(senders, accounts);
    assert!(messages
        .iter()
        .all(|m| m["content"].as_str().unwrap().ends_with("_from_api")));
    assert_eq!(c.ctl.calls("send").await, 10);
    assert_eq!(c.ctl.calls("api_query_auth").await, 20);
    // Every case of every account stored as passed, with what was done.
    let outcomes = c.outcomes().await;
    assert_eq!(outcomes.len(), 30, "{outcomes:#?}");
    for account in TEST_ACCOUNTS {
        let cases: Vec<CaseName> = outcomes
            .iter()
            .filter(|o| o.appid == account.appid && o.status == CaseStatus::Passed)
            .map(|o| o.case)
            .collect();
        let all = vec![CaseName::Event, CaseName::Text, CaseName::QueryAuthCode];
        assert_eq!(cases, all, "{}", account.appid);
    }
    let api = outcomes
        .iter()
        .find(|o| o.case == CaseName::QueryAuthCode)
        .unwrap();
    assert!(api.detail.starts_with("code exchanged"), "{api:?}");
    // The accounts are stored as flagged authorizers, official accounts without MiniProgramInfo.
    for account in TEST_ACCOUNTS {
        let stored = c.authorizer(account.appid).await;
        assert!(stored.test_account, "{}", account.appid);
        assert_eq!(stored.user_name, account.original_id);
        let official = account.kind == AccountKind::OfficialAccount;
        assert_eq!(stored.mini_program_info.is_none(), official);
        assert_eq!(stored.service_type, Some(if official { 2 } else { 0 }));
        let item = c.authorizer_item(account.appid).await;
        assert_eq!(item["test_account"], AttributeValue::Bool(true));
    }
}

#[tokio::test]
async fn a_retried_query_auth_code_push_sends_the_message_once() {
    let c = start("golive-retry", Front::ApiPushRetried).await;
    let report = c.ctl.go_live_check_of_group(3).await;
    assert_eq!(report["passed"], true, "{report:#}");
    // Each QUERY_AUTH_CODE push was handled twice; the code was exchanged and the message sent
    // once per account.
    assert_eq!(c.ctl.custom_messages().await.len(), 2);
    assert_eq!(c.ctl.calls("send").await, 2);
    assert_eq!(c.ctl.calls("api_query_auth").await, 4);
    let api: Vec<CaseOutcome> = c
        .outcomes()
        .await
        .into_iter()
        .filter(|o| o.case == CaseName::QueryAuthCode)
        .collect();
    assert_eq!(api.len(), 2);
    // The retry changed nothing: the first delivery's outcome stands.
    assert!(api
        .iter()
        .all(|o| o.status == CaseStatus::Passed && o.detail.starts_with("code exchanged")));
}

#[tokio::test]
async fn a_text_case_answered_success_fails_the_report_naming_it() {
    let c = start("golive-text", Front::TextAnsweredSuccess).await;
    let report = c.ctl.go_live_check_of_group(0).await;
    assert_eq!(report["passed"], false, "{report:#}");
    let expected: Vec<(String, String)> = report["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| ("text".to_owned(), a.as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(failed(&report), expected, "{report:#}");
    assert_eq!(
        first_case(&report, "text")["detail"],
        "expected HTTP 200 with an encrypted passive text reply `TESTCOMPONENT_MSG_TYPE_TEXT_callback`; got HTTP 200 with `success`"
    );
}

#[tokio::test]
async fn a_reply_with_a_wrong_signature_fails_the_event_case() {
    let c = start("golive-signature", Front::EventSignatureBroken).await;
    let report = c.ctl.go_live_check_of_group(2).await;
    assert_eq!(report["passed"], false, "{report:#}");
    let failures = failed(&report);
    assert_eq!(failures.len(), 2, "{report:#}");
    assert!(
        failures.iter().all(|(name, _)| name == "event"),
        "{report:#}"
    );
    let detail = first_case(&report, "event")["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(
            "MsgSignature 0000000000000000000000000000000000000000 is not the signature"
        ),
        "{detail}"
    );
}
