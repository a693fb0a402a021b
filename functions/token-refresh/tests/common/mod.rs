//! What the token-refresh tests and the benchmark share: a refresher of a test's platform.

#![allow(dead_code)]

use shared::platform::Platform;
use shared::store::{DynamoAuthorizerStore, DynamoTicketStore};
use token_refresh::{RefreshSettings, Refresher};

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
