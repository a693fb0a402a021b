//! The one retry policy (exponential backoff with jitter, so that Lambdas that failed together do
//! not retry together) and the one deadline-bounded poll (waiting for another instance's lease:
//! a token refresh, an authorization code exchange).

use std::future::Future;
use std::time::Duration;

/// Attempts and delays of a retried operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The delay before the second attempt; each later one is `factor` times the one before.
    pub first_delay: Duration,
    pub factor: u32,
}

impl Backoff {
    pub const fn new(attempts: u32, first_delay: Duration, factor: u32) -> Self {
        Self {
            attempts,
            first_delay,
            factor,
        }
    }

    /// The delay after failed attempt `attempt` (1-based): "equal jitter", half fixed and half
    /// random, so that a retry never comes at once and concurrent ones spread out.
    pub fn delay(&self, attempt: u32) -> Duration {
        let full = self
            .first_delay
            .saturating_mul(self.factor.saturating_pow(attempt.saturating_sub(1)));
        let half = full / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    /// Runs `operation` until it succeeds, fails with an error `retryable` refuses, or the
    /// attempts are spent (the last error is returned). Each retry is logged with `what`.
    pub async fn retry<T, E, F, Fut>(
        &self,
        what: &str,
        retryable: impl Fn(&E) -> bool,
        mut operation: F,
    ) -> Result<T, E>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 1;
        loop {
            match operation().await {
                Err(e) if attempt < self.attempts && retryable(&e) => {
                    let delay = self.delay(attempt);
                    tracing::warn!(what, attempt, delay_ms = delay.as_millis() as u64, error = %e, "failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// What one look at a lease-guarded item found.
pub enum Poll<T> {
    Ready(T),
    /// Someone else holds it: look again shortly.
    Pending,
    /// It changed under our hands (our own refresh stored a token): look again at once.
    Again,
}

/// How often [`poll_until`] looks again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Runs `look` until it is ready or `wait` has passed (then `Ok(None)`: the caller says "in
/// progress"). Errors end the poll at once.
pub async fn poll_until<T, E, F, Fut>(wait: Duration, look: F) -> Result<Option<T>, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, E>>,
{
    poll_every(wait, POLL_INTERVAL, look).await
}

/// [`poll_until`], looking again every `every` (a look that costs a WeChat call waits longer).
pub async fn poll_every<T, E, F, Fut>(
    wait: Duration,
    every: Duration,
    mut look: F,
) -> Result<Option<T>, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, E>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let pause = match look().await? {
            Poll::Ready(found) => return Ok(Some(found)),
            Poll::Pending => true,
            Poll::Again => false,
        };
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        if pause {
            tokio::time::sleep(every).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn delays_grow_and_are_jittered_within_half() {
        let backoff = Backoff::new(3, Duration::from_millis(200), 4);
        for _ in 0..50 {
            let first = backoff.delay(1);
            assert!((Duration::from_millis(100)..=Duration::from_millis(200)).contains(&first));
            let second = backoff.delay(2);
            assert!((Duration::from_millis(400)..=Duration::from_millis(800)).contains(&second));
        }
    }

    /// Retries an operation that always fails with `error`; returns the calls made.
    async fn calls_failing_with(error: &str) -> u32 {
        let backoff = Backoff::new(3, Duration::from_millis(10), 2);
        let calls = AtomicU32::new(0);
        let result: Result<(), String> = backoff
            .retry(
                "test",
                |e: &String| e == "busy",
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(error.to_owned())
                },
            )
            .await;
        assert_eq!(result, Err(error.to_owned()), "the last error is returned");
        calls.load(Ordering::SeqCst)
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_what_is_retryable_and_at_most_the_attempts() {
        assert_eq!(calls_failing_with("busy").await, 3);
        assert_eq!(calls_failing_with("refused").await, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_poll_ends_when_ready_or_at_its_deadline() {
        let looks = AtomicU32::new(0);
        let found: Result<Option<u32>, ()> = poll_until(Duration::from_secs(5), || async {
            let n = looks.fetch_add(1, Ordering::SeqCst);
            Ok(if n == 3 {
                Poll::Ready(n)
            } else {
                Poll::Pending
            })
        })
        .await;
        assert_eq!(found, Ok(Some(3)));
        let never: Result<Option<u32>, ()> =
            poll_until(Duration::from_secs(1), || async { Ok(Poll::Pending) }).await;
        assert_eq!(never, Ok(None));
    }
}
