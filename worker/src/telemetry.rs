//! Telemetry in one place: each event here both logs and counts, so logs and metrics agree.
//! Metric names are `tributary_<thing>[_<unit>][_total]`; labels come from small fixed sets
//! (connector kinds, outcomes, classes, tiers) and never carry a job or tenant id. The
//! recorder, the subscriber and the events every process shares come from
//! `tributary_runtime::telemetry`.

use metrics::{counter, gauge, histogram};
use std::time::Duration;
use tributary_store::PageCounts;

// Events every process shares (and the recorder and subscriber themselves) live in the runtime
// crate, so the archiver and a worker's own dead letters count into the same series.
pub use tributary_runtime::telemetry::{broker_connected, dead_lettered, init_logging, prometheus};

/// A job delivery ended with `outcome` after `elapsed`.
pub fn job_finished(connector: &str, outcome: &'static str, elapsed: Duration) {
    counter!("tributary_jobs_total", "connector" => connector.to_owned(), "outcome" => outcome)
        .increment(1);
    histogram!("tributary_job_duration_seconds", "connector" => connector.to_owned(), "outcome" => outcome)
        .record(elapsed.as_secs_f64());
}

/// A job waited `latency` between enqueue and start.
pub fn job_started(connector: &str, latency: Duration) {
    histogram!("tributary_queue_latency_seconds", "connector" => connector.to_owned())
        .record(latency.as_secs_f64());
}

/// Jobs currently running in this process.
pub fn in_flight(jobs: usize) {
    gauge!("tributary_jobs_in_flight").set(jobs as f64);
}

/// A page was committed.
pub fn page_committed(connector: &str, counts: PageCounts) {
    counter!("tributary_pages_total", "connector" => connector.to_owned()).increment(1);
    for (operation, value) in [
        ("inserted", counts.inserted),
        ("updated", counts.updated),
        ("unchanged", counts.unchanged),
    ] {
        counter!("tributary_records_total", "connector" => connector.to_owned(), "operation" => operation)
            .increment(value);
    }
}

/// A job was sent to a retry tier after a transient failure.
pub fn retried(connector: &str, tier: &str, attempt: u32, error: &str) {
    tracing::warn!(
        connector,
        tier,
        attempt,
        error,
        "job failed transiently; retrying later"
    );
    counter!("tributary_retries_total", "connector" => connector.to_owned(), "tier" => tier.to_owned())
        .increment(1);
}

/// A job was snoozed because the source rate-limited us, its breaker is open or its stream is
/// busy (no attempt spent).
pub fn snoozed(connector: &str, tier: &str, error: &str) {
    tracing::info!(connector, tier, error, "source rate limited; job snoozed");
    counter!("tributary_snoozes_total", "connector" => connector.to_owned()).increment(1);
}

/// A job was snoozed because an operator paused its source (no attempt spent, the source not
/// called). Info, not warn: nothing is wrong, someone decided this.
pub fn job_paused(connector: &str, tier: &str, reason: &str) {
    tracing::info!(connector, tier, reason, "source paused; job snoozed");
    counter!("tributary_jobs_paused_total", "connector" => connector.to_owned()).increment(1);
}

/// A delivery could not be settled because a dependency is down; it goes back to the broker.
pub fn requeued(connector: &str, error: &str) {
    tracing::error!(
        connector,
        error,
        "cannot record the outcome; handing the job back"
    );
    counter!("tributary_requeues_total", "connector" => connector.to_owned()).increment(1);
}

/// A connector page request was retried in-process after a transient error.
pub fn page_retried(connector: &str, error: &str) {
    tracing::debug!(connector, error, "page request failed; retrying in-process");
    counter!("tributary_page_retries_total", "connector" => connector.to_owned()).increment(1);
}

/// Time a page request waited for its rate-limit slot.
pub fn rate_limit_wait(waited: Duration) {
    histogram!("tributary_rate_limit_wait_seconds").record(waited.as_secs_f64());
}

/// A source's circuit breaker opened.
pub fn breaker_opened(connector: &str, cooldown: Duration, reason: &str) {
    tracing::warn!(
        connector,
        cooldown_s = cooldown.as_secs_f64(),
        reason,
        "circuit breaker opened: pausing this source's jobs"
    );
    counter!("tributary_breaker_transitions_total", "connector" => connector.to_owned(), "to" => "open")
        .increment(1);
}

/// A source's circuit breaker closed again.
pub fn breaker_closed(connector: &str) {
    tracing::info!(connector, "circuit breaker closed: the source recovered");
    counter!("tributary_breaker_transitions_total", "connector" => connector.to_owned(), "to" => "closed")
        .increment(1);
}

/// What one reconcile run spent and found, for [`reconcile_finished`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileTally {
    /// Windows compared.
    pub windows: u64,
    /// Requests sent to the source.
    pub api_calls: u64,
    /// Records at the source, not in the store.
    pub missing: u64,
    /// Records in the store, deleted at the source.
    pub extra: u64,
    /// Records newer at the source.
    pub stale: u64,
}

/// A reconcile run ended with `outcome` (`clean`, `drift`, `unsupported` or `failed`).
pub fn reconcile_finished(connector: &str, outcome: &'static str, tally: ReconcileTally) {
    let drift = tally.missing + tally.extra + tally.stale;
    if outcome == "failed" {
        tracing::warn!(
            connector,
            windows = tally.windows,
            api_calls = tally.api_calls,
            "reconciliation failed"
        );
    } else {
        tracing::info!(
            connector,
            outcome,
            windows = tally.windows,
            api_calls = tally.api_calls,
            missing = tally.missing,
            extra = tally.extra,
            stale = tally.stale,
            drift,
            "reconciliation finished"
        );
    }
    counter!("tributary_reconcile_runs_total", "connector" => connector.to_owned(), "outcome" => outcome)
        .increment(1);
    for (kind, value) in [
        ("missing", tally.missing),
        ("extra", tally.extra),
        ("stale", tally.stale),
    ] {
        counter!("tributary_reconcile_findings_total", "connector" => connector.to_owned(), "kind" => kind)
            .increment(value);
    }
    counter!("tributary_reconcile_api_calls_total", "connector" => connector.to_owned())
        .increment(tally.api_calls);
    counter!("tributary_reconcile_windows_total", "connector" => connector.to_owned())
        .increment(tally.windows);
}
