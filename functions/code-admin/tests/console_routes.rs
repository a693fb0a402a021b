//! The read routes the operator console needs, through the handler into moto and the simulator:
//! platform health, the filtered authorizer listing, the rollout preview.

use aws_sdk_dynamodb::types::AttributeValue;
use code_admin::PlatformCodeAdmin;
use devstack::sim::{shop, template, Component, MiniProgramBuilder, Setup};
use devstack::world::World;
use lambda_http::http::StatusCode;
use serde_json::{json, Value};
use shared::store::{unix_now, RefreshRun, RefreshRunStore};

mod common;

const APPID: &str = "wxconsoleroutes001";

fn mp(i: usize) -> String {
    format!("wxconsoleroute{i:04}")
}

async fn world(test: &str) -> (World, PlatformCodeAdmin) {
    let world = Setup::new(&Component::new(
        APPID,
        "console-routes-secret",
        "routestoken",
    ))
    .mini_programs((0..6).map(|i| {
        let name = if i % 2 == 0 { "面包店" } else { "咖啡店" };
        shop(&mp(i))
            .named(&format!("{name} {i}"), "示例有限公司")
            .sets(&[17, 18])
    }))
    .configure(|config| config.templates = vec![template(1, "1.0.0", "shop", 0)])
    .authorized()
    .start(test)
    .await;
    let admin = PlatformCodeAdmin::from_platform(&world.platform, common::ops_tokens());
    (world, admin)
}

async fn call(
    admin: &PlatformCodeAdmin,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Value,
) -> (StatusCode, Value) {
    let answer = common::call_with(admin, method, path, query, body).await;
    (answer.status, answer.body)
}

fn appids(page: &Value) -> Vec<String> {
    page["authorizers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["appid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn health_shows_the_ticket_the_component_token_and_the_last_refresh_run() {
    let (w, admin) = world("consolehealth").await;
    let (status, health) = call(&admin, "GET", "/admin/health", &[], Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["ticket"]["state"], "fresh");
    assert!(health["ticket"]["age_secs"].as_i64().unwrap() < 600);
    assert_eq!(health["component_token"]["valid"], true);
    assert!(
        health["component_token"]["expires_in_secs"]
            .as_i64()
            .unwrap()
            > 3600
    );
    assert_eq!(health["last_refresh"], Value::Null);

    let store = w.platform.component_service().store().clone();
    let run = RefreshRun {
        finished_at: unix_now(),
        summary: json!({ "due": 3, "refreshed": 3, "failed": {} }),
    };
    store.save_refresh_run(APPID, &run).await.unwrap();
    let (_, health) = call(&admin, "GET", "/admin/health", &[], Value::Null).await;
    assert_eq!(health["last_refresh"]["summary"]["refreshed"], 3);
    assert_eq!(health["last_refresh"]["finished_at"], run.finished_at);
    // Nothing secret: no token, no ticket.
    let text = health.to_string();
    assert!(!text.contains("access_token\":\"") && !text.contains("ticket\":\"t"));
}

#[tokio::test]
async fn the_listing_filters_by_status_test_account_and_search_and_pages_through_all() {
    let (w, admin) = world("consolefilter").await;
    w.update_authorizer(&mp(1), "SET #s = :u")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":u", AttributeValue::S("unauthorized".into()))
        .send()
        .await
        .unwrap();
    w.update_authorizer(&mp(2), "SET test_account = :t")
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .send()
        .await
        .unwrap();

    let list = |query: Vec<(&'static str, String)>| {
        let admin = &admin;
        async move {
            let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, page) =
                call(admin, "GET", "/admin/authorizers", &pairs, Value::Null).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            page
        }
    };
    let unauthorized = list(vec![("status", "unauthorized".into())]).await;
    assert_eq!(appids(&unauthorized), vec![mp(1)]);
    let tests = list(vec![("test_account", "true".into())]).await;
    assert_eq!(appids(&tests), vec![mp(2)]);
    let cafes = list(vec![("q", "咖啡".into()), ("status", "authorized".into())]).await;
    let mut found = appids(&cafes);
    found.sort();
    assert_eq!(
        found,
        vec![mp(3), mp(5)],
        "mp(1) is a café but unauthorized"
    );
    let by_appid = list(vec![("q", mp(4))]).await;
    assert_eq!(appids(&by_appid), vec![mp(4)]);

    // Pages of 2 through the filtered listing: every match once, in order, then no cursor.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("status", "authorized".into()), ("limit", "2".into())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let page = list(query).await;
        seen.extend(appids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut want: Vec<String> = [0, 2, 3, 4, 5].iter().map(|i| mp(*i)).collect();
    want.sort();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, want, "each authorized one once: {seen:?}");

    for (field, value) in [
        ("status", "gone"),
        ("test_account", "maybe"),
        ("q", &"x".repeat(65)),
    ] {
        let (status, body) = call(
            &admin,
            "GET",
            "/admin/authorizers",
            &[(field, value)],
            Value::Null,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["field"], field);
    }
}

#[tokio::test]
async fn a_rollout_preview_counts_the_targets_and_creates_nothing() {
    let (w, admin) = world("consolepreview").await;
    let rollout = json!({
        "template_id": 1, "user_version": "1.1.0", "targets": {"all": true},
        "release": "manual", "dry_run": true,
    });
    let (status, preview) = call(&admin, "POST", "/admin/rollouts", &[], rollout).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["dry_run"], true);
    assert_eq!(preview["target_count"], 6);
    assert_eq!(preview["targets"].as_array().unwrap().len(), 6);
    let (_, all) = call(&admin, "GET", "/admin/rollouts", &[], Value::Null).await;
    assert_eq!(all["rollouts"], json!([]), "nothing created");
    assert_eq!(w.ctl.calls("commit").await, 0);
}
