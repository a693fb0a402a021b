//! Waiting in tests: poll a condition until a deadline, never sleep a fixed time and hope.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a test waits for something that should happen "soon" (a push delivered, a retry
/// made). Generous, because a loaded 2-core CI machine can be slow; a passing test returns as soon
/// as the condition holds. `TEST_WAIT_SECS` overrides it.
pub fn deadline() -> Duration {
    let secs = std::env::var("TEST_WAIT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// Polls `probe` every 50 ms until it yields `Some`, for up to [`deadline`]; `None` if it never
/// did.
pub async fn poll<T, F, Fut>(probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    poll_within(deadline(), probe).await
}

/// [`poll`] for up to `limit`: for a test whose condition must hold before something else ends
/// (a delayed answer, a timeout), whatever [`deadline`] says.
pub async fn poll_within<T, F, Fut>(limit: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = Instant::now() + limit;
    loop {
        if let Some(found) = probe().await {
            return Some(found);
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (up to [`deadline`]) until the clock's Unix second is past `second`: a retry made
/// after this is dated later than anything written at `second`.
pub async fn until_after_second(second: i64) {
    let later = poll(|| async { (shared::store::unix_now() > second).then_some(()) }).await;
    later.expect("the clock moved on");
}
