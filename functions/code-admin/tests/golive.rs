//! The go-live check from the operator's side: `GET /admin/go-live` shows each test account's
//! newest outcome per case as ticket-receive stored it (and whether all passed), and WeChat's
//! test accounts, once authorized, never get code.

use code_admin::PlatformCodeAdmin;
use devstack::sim::{shop, template, Component, MiniProgramBuilder, Setup};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};
use shared::go_live::{CaseName, TEST_ACCOUNTS};
use shared::store::{unix_now, CasePush, CaseStatus, GoLiveStore};

mod common;

const APPID: &str = "wxgolivereportcomp";

#[tokio::test]
async fn the_report_shows_each_cases_newest_outcome_and_test_accounts_get_no_code() {
    let account = TEST_ACCOUNTS
        .iter()
        .find(|a| a.appid == "wxd101a85aa106f53e")
        .unwrap();
    let world = Setup::new(&Component::new(APPID, "golive-report", "golivereport"))
        .mini_programs([shop(account.appid).original_id(account.original_id)])
        .configure(|c| c.templates = vec![template(1, "1.0.0", "shop", 0)])
        .authorized()
        .start("golive-report")
        .await;
    let admin = PlatformCodeAdmin::from_platform(&world.platform, common::ops_tokens());

    let empty = common::call(&admin, "GET", "/admin/go-live", Value::Null).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(
        empty.body,
        json!({ "passed": false, "cases": [] }),
        "no check yet"
    );

    // What ticket-receive records for three pushes of the check: the text case failed once,
    // then passed on a later push; the event case failed.
    let store = world.platform.ticket_store();
    let record = |case, plaintext: &'static str, status, detail: &'static str, at| {
        let store = store.clone();
        async move {
            let push = CasePush {
                component_appid: APPID,
                appid: account.appid,
                case,
                plaintext,
            };
            store
                .record_go_live_case(&push, status, detail, at)
                .await
                .unwrap();
        }
    };
    let now = unix_now();
    record(
        CaseName::Text,
        "<xml>1</xml>",
        CaseStatus::Failed,
        "no reply",
        now - 60,
    )
    .await;
    record(
        CaseName::Text,
        "<xml>2</xml>",
        CaseStatus::Passed,
        "replied",
        now,
    )
    .await;
    record(
        CaseName::Event,
        "<xml>3</xml>",
        CaseStatus::Failed,
        "storage unavailable",
        now,
    )
    .await;
    let report = common::call(&admin, "GET", "/admin/go-live", Value::Null).await;
    assert_eq!(report.body["passed"], false, "{}", report.body);
    let cases = report.body["cases"].as_array().unwrap();
    let case = |name: &str| {
        cases
            .iter()
            .find(|c| c["case"] == name)
            .unwrap_or_else(|| panic!("no {name} case: {cases:?}"))
    };
    assert_eq!(cases.len(), 2, "the newest outcome per case: {cases:?}");
    assert_eq!(
        (
            case("text")["status"].as_str(),
            case("text")["detail"].as_str()
        ),
        (Some("passed"), Some("replied"))
    );
    assert_eq!(case("event")["detail"], "storage unavailable");
    assert_eq!(case("event")["appid"], account.appid);

    // The test account is stored flagged, and code is never deployed to it.
    let path = format!("/admin/authorizers/{}", account.appid);
    let stored = common::call(&admin, "GET", &path, Value::Null).await;
    assert_eq!(
        stored.body["authorizer"]["test_account"], true,
        "{}",
        stored.body
    );
    let commit = json!({ "template_id": 1, "user_version": "1.0.0" });
    let refused = common::call(&admin, "POST", &format!("{path}/commits"), commit).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.body["error"], "test_account");
    assert_eq!(world.ctl.calls("commit").await, 0, "WeChat was called");
}
