//! The scheduler's events: each one logs and counts in one place, so logs and metrics agree.
//! Metric names are `tributary_scheduler_*`; labels come from small fixed sets (a failure
//! reason), never a schedule, tenant or job id.
//!
//! | metric | kind | what |
//! |---|---|---|
//! | `tributary_scheduler_slots_enqueued_total` | counter | slots that became jobs |
//! | `tributary_scheduler_slots_skipped_total` | counter | slots skipped by the overlap policy |
//! | `tributary_scheduler_slots_missed_total` | counter | slots outside their catch-up window |
//! | `tributary_scheduler_enqueue_lag_seconds` | histogram | firing time (slot + jitter) to outbox commit |
//! | `tributary_scheduler_schedules_paused_total` | counter | schedules paused because they could not be planned |
//! | `tributary_scheduler_claim_failures_total` | counter | claims that failed (database) |
//! | `tributary_scheduler_outbox_published_total` | counter | outbox rows published and marked sent |
//! | `tributary_scheduler_relay_publish_failures_total{reason}` | counter | rows not published: `unroutable`, `nacked`, `broker`, `timeout`, `malformed` |
//! | `tributary_scheduler_outbox_backlog` | gauge | unsent outbox rows |
//! | `tributary_scheduler_outbox_oldest_unsent_seconds` | gauge | age of the oldest unsent row |

use chrono::{DateTime, Utc};
use metrics::{counter, gauge, histogram};
use tributary_store::{ClaimReport, OutboxBacklog, StoreError};

/// A claim committed.
pub fn claimed(report: &ClaimReport, committed_at: DateTime<Utc>) {
    for slot in &report.enqueued {
        let lag = (committed_at - slot.slot.fire_at).num_milliseconds().max(0) as f64 / 1_000.0;
        histogram!("tributary_scheduler_enqueue_lag_seconds").record(lag);
        tracing::debug!(
            schedule = slot.schedule_id,
            slot = %slot.slot.slot_at,
            job_id = %slot.job_id,
            lag_seconds = lag,
            "slot enqueued"
        );
    }
    counter!("tributary_scheduler_slots_enqueued_total").increment(report.enqueued.len() as u64);
    counter!("tributary_scheduler_slots_skipped_total").increment(report.skipped);
    counter!("tributary_scheduler_slots_missed_total").increment(report.missed);
    if report.missed > 0 {
        // An operator should know (an outage, a paused scheduler fleet), not act on each one.
        tracing::warn!(
            missed = report.missed,
            "slots older than their catch-up window were recorded as missed"
        );
    }
    for (schedule, reason) in &report.paused {
        tracing::error!(
            schedule,
            reason,
            "paused a schedule that cannot be planned; fix and resume it"
        );
        counter!("tributary_scheduler_schedules_paused_total").increment(1);
    }
    if report.already_decided > 0 {
        tracing::info!(
            slots = report.already_decided,
            "slots were already decided (their slot keys exist); nothing created for them"
        );
    }
}

/// A claim failed; the next tick tries again.
pub fn claim_failed(error: &StoreError) {
    tracing::warn!(%error, "cannot claim due slots; trying again on the next tick");
    counter!("tributary_scheduler_claim_failures_total").increment(1);
}

/// Outbox rows were published and marked sent.
pub fn published(rows: usize) {
    counter!("tributary_scheduler_outbox_published_total").increment(rows as u64);
}

/// Rows could not be published; they stay in the outbox. `reason` is one of `unroutable`,
/// `nacked`, `broker`, `timeout`, `malformed`.
pub fn publish_failed(reason: &'static str, rows: usize, error: &str) {
    tracing::warn!(
        reason,
        rows,
        error,
        "cannot publish outbox rows; they stay and are retried"
    );
    counter!("tributary_scheduler_relay_publish_failures_total", "reason" => reason)
        .increment(rows as u64);
}

/// The relay could not reach the database.
pub fn relay_store_failed(error: &StoreError) {
    tracing::warn!(%error, "the outbox relay cannot reach the database; backing off");
}

/// The outbox backlog, as last measured.
pub fn backlog(backlog: &OutboxBacklog, now: DateTime<Utc>) {
    gauge!("tributary_scheduler_outbox_backlog").set(backlog.unsent as f64);
    let oldest = backlog.oldest.map_or(0.0, |oldest| {
        (now - oldest).num_milliseconds().max(0) as f64 / 1_000.0
    });
    gauge!("tributary_scheduler_outbox_oldest_unsent_seconds").set(oldest);
}
