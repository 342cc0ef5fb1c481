//! Gauges for alerting, refreshed every `admin.metrics_refresh_seconds`: dead letters pending
//! by class, the oldest pending dead letter's age, replays by outcome, waiting jobs per
//! connector, and per-queue depth, unacknowledged and consumers taken from the broker's
//! management API — so queue-depth alerts work without the broker's Prometheus plugin.
//! Labels are classes, outcomes, connectors and queue names: small fixed sets.

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
    Ok(())
}
