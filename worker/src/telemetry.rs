//! Telemetry in one place: each event here both logs and counts, so logs and metrics agree.
//! Metric names are `tributary_<thing>[_<unit>][_total]`; labels come from small fixed sets
//! (connector kinds, outcomes, classes, tiers) and never carry a job or tenant id.

use crate::config::{LogFormat, LogSettings};
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;
use tributary_store::PageCounts;

/// Seconds buckets shared by job durations and queue latency: 5 ms to 30 min.
const SECONDS_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0,
];

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder once per process and returns its handle.
pub fn prometheus() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
                .expect("static buckets are valid");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // A second recorder (another library in the same process) is not fatal: we still
            // render ours, it just will not receive events.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Installs the tracing subscriber (text or JSON). Safe to call more than once.
pub fn init_logging(settings: &LogSettings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

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

/// A job was snoozed because the source rate-limited us (no attempt spent).
pub fn snoozed(connector: &str, tier: &str, error: &str) {
    tracing::info!(connector, tier, error, "source rate limited; job snoozed");
    counter!("tributary_snoozes_total", "connector" => connector.to_owned()).increment(1);
}

/// A message was dead-lettered by this worker.
pub fn dead_lettered(connector: &str, class: &'static str, reason: &str) {
    tracing::warn!(connector, class, reason, "job dead-lettered");
    counter!("tributary_dead_letters_total", "connector" => connector.to_owned(), "class" => class)
        .increment(1);
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

/// Broker connection state for readiness and alerting.
pub fn broker_connected(connected: bool) {
    gauge!("tributary_broker_connected").set(if connected { 1.0 } else { 0.0 });
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
