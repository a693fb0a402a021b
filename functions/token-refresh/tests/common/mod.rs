//! What the token-refresh tests and the benchmark share: a refresher of a test's platform.

#![allow(dead_code)]

use serde_json::{json, Value};
use shared::platform::Platform;
use shared::store::{DynamoAuthorizerStore, DynamoTicketStore};
use token_refresh::{RefreshSettings, Refresher, Summary};

/// Every token is due with this margin (tokens live 7200 s).
pub const ALL_DUE: i64 = 7300;

/// A scheduled run over `platform`: tokens expiring within `margin_secs` are due, `concurrency`
/// refreshed at once; the component token and ticket watchdog at their defaults (1800 s).
pub fn refresher(
    platform: &Platform,
    margin_secs: i64,
    concurrency: usize,
) -> Refresher<DynamoTicketStore, DynamoAuthorizerStore> {
    let settings = RefreshSettings {
        margin_secs,
        component_margin_secs: 1800,
        concurrency,
        ticket_watchdog_secs: 1800,
    };
    Refresher::from_platform(platform, settings)
}

/// The Lambda handler of token-refresh over `platform` (margin [`ALL_DUE`], 4 at once) with
/// `event`; answers the summary it returns as JSON.
pub async fn handle(platform: &Platform, event: Value) -> Summary {
    let value = token_refresh::handle(&refresher(platform, ALL_DUE, 4), event)
        .await
        .unwrap();
    serde_json::from_value(value).unwrap()
}

/// A reconcile run (`{"mode": "reconcile"}`) over `platform`.
pub async fn reconcile(platform: &Platform) -> Summary {
    handle(platform, json!({ "mode": "reconcile" })).await
}

/// Asserts what a reconcile run found: authorizers WeChat listed, restored, and stored but not
/// listed.
#[track_caller]
pub fn assert_reconciled(summary: &Summary, listed: u64, restored: u64, not_listed: u64) {
    assert_eq!(
        (summary.listed, summary.restored, summary.not_listed),
        (Some(listed), Some(restored), Some(not_listed)),
        "{summary:?}"
    );
}
