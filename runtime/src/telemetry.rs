//! Telemetry every Tributary process shares: the tracing subscriber, the Prometheus recorder,
//! and the events of the shared machinery (broker connection, dead letters, the archiver).
//! Each event here both logs and counts, so logs and metrics agree. Metric names are
//! `tributary_<thing>[_<unit>][_total]`; labels come from small fixed sets (connector kinds,
//! classes) and never carry a job or tenant id.
//!
//! A process's own events live in its own telemetry module; this one knows no job outcome.

use crate::config::{LogFormat, LogSettings};
use metrics::{counter, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Seconds buckets for every `*_seconds` histogram (job durations, queue latency, waits):
/// 5 ms to 30 min, the span between a fast page and a long snooze.
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

/// Installs the tracing subscriber (text or JSON) on stderr. Safe to call more than once.
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

/// Broker connection state, for readiness and alerting.
pub fn broker_connected(connected: bool) {
    gauge!("tributary_broker_connected").set(if connected { 1.0 } else { 0.0 });
}

/// A message was stored as a dead letter (by a worker's decision or by the archiver).
/// `connector` must be a registered kind or `unknown`: a message can name anything.
pub fn dead_lettered(connector: &str, class: &'static str, reason: &str) {
    tracing::warn!(connector, class, reason, "job dead-lettered");
    counter!("tributary_dead_letters_total", "connector" => connector.to_owned(), "class" => class)
        .increment(1);
}

/// The archiver lost its broker connection; it reconnects with backoff.
pub fn archiver_disconnected(error: &anyhow::Error) {
    tracing::warn!(error = %format!("{error:#}"), "dead-letter archiver lost the broker; reconnecting");
}

/// A broker-side dead letter could not be stored; it goes back to the dead queue.
pub fn archive_failed(error: &tributary_store::StoreError) {
    tracing::error!(%error, "cannot archive a dead letter; handing it back");
    counter!("tributary_archive_failures_total").increment(1);
}
