//! Gauges for alerting, refreshed every `admin.metrics_refresh_seconds`: dead letters pending
//! by class, the oldest pending dead letter's age, replays by outcome, waiting jobs per
//! connector, and per-queue depth, unacknowledged and consumers taken from the broker's
//! management API — so queue-depth alerts work without the broker's Prometheus plugin — and,
//! per source (connector kind and source id, never a tenant: tenants are aggregated, the
//! stalest or the longest-open counts), data freshness, the scheduled period and circuit
//! breakers, for the "source stale" and "breaker open too long" alerts.
//! Labels are classes, outcomes, connectors, sources and queue names: small fixed sets.
//! `docs/metrics.md` lists every metric; a test in `tests/ops` keeps it honest.

use crate::state::AppState;
use metrics::gauge;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::watch;

/// Refreshes the gauges until `stop` turns true.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_secs(state.settings().admin.metrics_refresh_seconds);
    let mut seen = SeenGauges::default();
    loop {
        if let Err(error) = refresh(&state, &mut seen).await {
            tracing::warn!(error = %format!("{error:#}"), "cannot refresh the queue-admin gauges");
        }
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return,
            _ = tokio::time::sleep(period) => {}
        }
    }
}

/// Label values set before, so a class or queue that disappeared is reset to zero rather than
/// frozen at its last value.
#[derive(Debug, Default)]
pub struct SeenGauges {
    classes: BTreeSet<String>,
    outcomes: BTreeSet<String>,
    connectors: BTreeSet<String>,
    queues: BTreeSet<String>,
    fresh_sources: BTreeSet<(String, String)>,
    scheduled_sources: BTreeSet<(String, String)>,
    breaker_sources: BTreeSet<(String, String)>,
}

/// One refresh of every gauge.
pub async fn refresh(state: &AppState, seen: &mut SeenGauges) -> anyhow::Result<()> {
    let store = state.store();
    let pending = store.pending_dead_letters().await?;
    let mut classes = BTreeSet::new();
    let mut oldest: f64 = 0.0;
    for row in &pending {
        gauge!("tributary_dead_letters_pending", "class" => row.class.clone())
            .set(row.letters as f64);
        oldest = oldest.max(row.oldest_seconds);
        classes.insert(row.class.clone());
    }
    for gone in seen.classes.difference(&classes) {
        gauge!("tributary_dead_letters_pending", "class" => gone.clone()).set(0.0);
    }
    seen.classes.extend(classes);
    gauge!("tributary_dead_letter_oldest_age_seconds").set(oldest);

    let mut outcomes = BTreeSet::new();
    for row in store.replay_outcomes().await? {
        gauge!("tributary_replays", "outcome" => row.outcome.clone()).set(row.replays as f64);
        outcomes.insert(row.outcome);
    }
    for gone in seen.outcomes.difference(&outcomes) {
        gauge!("tributary_replays", "outcome" => gone.clone()).set(0.0);
    }
    seen.outcomes.extend(outcomes);

    let mut connectors = BTreeSet::new();
    for row in store.waiting_jobs().await? {
        gauge!("tributary_jobs_waiting", "connector" => row.connector.clone()).set(row.jobs as f64);
        gauge!("tributary_jobs_waiting_oldest_age_seconds", "connector" => row.connector.clone())
            .set(row.oldest_seconds);
        connectors.insert(row.connector);
    }
    for gone in seen.connectors.difference(&connectors) {
        gauge!("tributary_jobs_waiting", "connector" => gone.clone()).set(0.0);
        gauge!("tributary_jobs_waiting_oldest_age_seconds", "connector" => gone.clone()).set(0.0);
    }
    seen.connectors.extend(connectors);

    if let Some(management) = state.management() {
        match management
            .queues(&format!("{}.", state.topology().prefix()))
            .await
        {
            Ok(queues) => {
                gauge!("tributary_broker_up").set(1.0);
                let mut names = BTreeSet::new();
                for queue in queues {
                    let name = queue.name.clone();
                    gauge!("tributary_queue_messages_ready", "queue" => name.clone())
                        .set(queue.ready as f64);
                    gauge!("tributary_queue_messages_unacked", "queue" => name.clone())
                        .set(queue.unacked as f64);
                    gauge!("tributary_queue_consumers", "queue" => name.clone())
                        .set(queue.consumers as f64);
                    names.insert(name);
                }
                for gone in seen.queues.difference(&names) {
                    gauge!("tributary_queue_messages_ready", "queue" => gone.clone()).set(0.0);
                    gauge!("tributary_queue_messages_unacked", "queue" => gone.clone()).set(0.0);
                    gauge!("tributary_queue_consumers", "queue" => gone.clone()).set(0.0);
                }
                seen.queues.extend(names);
            }
            Err(error) => {
                gauge!("tributary_broker_up").set(0.0);
                tracing::warn!(error = %format!("{error:#}"), "the broker's management API did not answer");
            }
        }
    }
    // Last: the broker's gauges above stay fresh even when these queries fail.
    refresh_sources(state, seen).await
}

/// The per-source gauges. A source that is gone (paused, its schedule disabled) gets NaN for
/// its timestamps and periods — not 0, which would read as "stale since 1970" — and 0 open
/// breakers.
async fn refresh_sources(state: &AppState, seen: &mut SeenGauges) -> anyhow::Result<()> {
    let store = state.store();

    let mut fresh = BTreeSet::new();
    for row in store.source_freshness().await? {
        gauge!("tributary_source_last_success_timestamp_seconds",
            "connector" => row.connector.clone(), "source" => row.source.clone())
        .set(row.last_success_unix);
        gauge!("tributary_source_streams",
            "connector" => row.connector.clone(), "source" => row.source.clone())
        .set(row.streams as f64);
        fresh.insert((row.connector, row.source));
    }
    for (connector, source) in seen.fresh_sources.difference(&fresh) {
        gauge!("tributary_source_last_success_timestamp_seconds",
            "connector" => connector.clone(), "source" => source.clone())
        .set(f64::NAN);
        gauge!("tributary_source_streams",
            "connector" => connector.clone(), "source" => source.clone())
        .set(0.0);
    }
    seen.fresh_sources.extend(fresh);

    let mut scheduled = BTreeSet::new();
    for row in store.source_schedule_periods().await? {
        gauge!("tributary_source_schedule_period_seconds",
            "connector" => row.connector.clone(), "source" => row.source.clone())
        .set(row.period_seconds);
        scheduled.insert((row.connector, row.source));
    }
    for (connector, source) in seen.scheduled_sources.difference(&scheduled) {
        gauge!("tributary_source_schedule_period_seconds",
            "connector" => connector.clone(), "source" => source.clone())
        .set(f64::NAN);
    }
    seen.scheduled_sources.extend(scheduled);

    let mut breakers = BTreeSet::new();
    for row in store.source_breakers().await? {
        gauge!("tributary_breakers_open",
            "connector" => row.connector.clone(), "source" => row.source.clone())
        .set(row.open as f64);
        gauge!("tributary_breaker_open_seconds",
            "connector" => row.connector.clone(), "source" => row.source.clone())
        .set(row.open_seconds);
        breakers.insert((row.connector, row.source));
    }
    for (connector, source) in seen.breaker_sources.difference(&breakers) {
        gauge!("tributary_breakers_open",
            "connector" => connector.clone(), "source" => source.clone())
        .set(0.0);
        gauge!("tributary_breaker_open_seconds",
            "connector" => connector.clone(), "source" => source.clone())
        .set(0.0);
    }
    seen.breaker_sources.extend(breakers);
    Ok(())
}
