//! Fleet-wide rate limiting and source health, as the page loop sees them.
//!
//! Before each page request: an in-process limiter (governor) smooths this process's bursts,
//! then a slot is reserved in PostgreSQL's GCRA schedule for the (tenant, source) key, shared by
//! every worker process, so N workers together stay under the source's budget. Live hints from
//! responses (remaining = 0 until reset, `Retry-After`) push the shared schedule out; a 429 is
//! the backstop, not the plan.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tributary_connector::{RateLimitHint, RatePolicy};
use tributary_store::{Store, StoreError};

/// Longest wait for a rate-limit slot inside a job. Beyond it the job is snoozed instead of
/// holding a concurrency slot idle.
pub const MAX_INLINE_WAIT: Duration = Duration::from_secs(10);

/// Why a request may not be sent now.
#[derive(Debug)]
pub enum Wait {
    /// The shared schedule is this far out: snooze the job rather than sleep.
    TooLong(Duration),
    /// The database could not be asked.
    Store(StoreError),
}

/// The rate limiter of one worker process.
#[derive(Debug)]
pub struct Limiter {
    store: Store,
    local: Mutex<HashMap<String, (RatePolicy, Arc<DefaultDirectRateLimiter>)>>,
}

/// The limiter key of a (tenant, source) pair: one budget per source credential.
pub fn key(tenant: &str, source: &str) -> String {
    format!("{source}/{tenant}")
}

impl Limiter {
    /// A limiter sharing its schedule through `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            local: Mutex::new(HashMap::new()),
        }
    }

    fn local_limiter(&self, key: &str, policy: RatePolicy) -> Arc<DefaultDirectRateLimiter> {
        let mut local = self
            .local
            .lock()
            .expect("the limiter map is never poisoned");
        if let Some((known, limiter)) = local.get(key) {
            if *known == policy {
                return Arc::clone(limiter);
            }
        }
        let burst = NonZeroU32::new(policy.burst.max(1)).expect("at least one");
        let period = Duration::from_secs_f64(1.0 / policy.requests_per_second.max(0.001));
        let quota = Quota::with_period(period)
            .expect("a positive period")
            .allow_burst(burst);
        let limiter = Arc::new(RateLimiter::direct(quota));
        local.insert(key.to_owned(), (policy, Arc::clone(&limiter)));
        limiter
    }

    /// Waits until a request to `key` may be sent under `policy`, fleet-wide.
    pub async fn acquire(&self, key: &str, policy: RatePolicy) -> Result<Duration, Wait> {
        let started = std::time::Instant::now();
        self.local_limiter(key, policy).until_ready().await;
        let interval = Duration::from_secs_f64(1.0 / policy.requests_per_second.max(0.001));
        let tolerance = interval * policy.burst.saturating_sub(1);
        let wait = self
            .store
            .rate_reserve(key, interval, tolerance)
            .await
            .map_err(Wait::Store)?;
        if wait > MAX_INLINE_WAIT {
            return Err(Wait::TooLong(wait));
        }
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let waited = started.elapsed();
        crate::telemetry::rate_limit_wait(waited);
        Ok(waited)
    }

    /// Applies what a response said about the remaining budget: when it is spent, nobody in
    /// the fleet sends to `key` until it refills.
    pub async fn apply_hint(&self, key: &str, hint: &RateLimitHint) -> Result<(), StoreError> {
        if let (Some(0), Some(reset)) = (hint.remaining, hint.reset_after) {
            self.store
                .rate_pause(key, reset.min(Duration::from_secs(3600)))
                .await?;
        }
        Ok(())
    }

    /// The source answered 429: pause `key` fleet-wide for `retry_after`.
    pub async fn pause(&self, key: &str, retry_after: Duration) -> Result<(), StoreError> {
        self.store
            .rate_pause(key, retry_after.min(Duration::from_secs(3600)))
            .await
    }
}
