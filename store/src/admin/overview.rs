//! The numbers behind queue-admin's overview and its gauges: waiting jobs per connector with the
//! oldest one's age (from the ledger, exact even where the broker cannot tell message ages),
//! pending dead letters per class with the oldest one's age, replays by outcome, and per source
//! (connector kind, source id; never a tenant) its data freshness, its schedule's period and its
//! circuit breakers.

use crate::{Store, StoreError};
use serde::Serialize;

/// Jobs waiting (queued, retrying or snoozed) for one connector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitingJobs {
    /// Connector kind.
    pub connector: String,
    /// Jobs waiting.
    pub jobs: i64,
    /// Seconds since the oldest of them was enqueued.
    pub oldest_seconds: f64,
}

/// Pending dead letters of one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingDeadLetters {
    /// Failure class.
    pub class: String,
    /// Letters pending.
    pub letters: i64,
    /// Seconds since the oldest of them was stored.
    pub oldest_seconds: f64,
}

/// Replay jobs by where they ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayOutcome {
    /// `succeeded`, `dead`, `in_flight` (published, not finished) or `unpublished`.
    pub outcome: String,
    /// Replays.
    pub replays: i64,
}

/// How fresh one source's data is, over all its tenants and streams.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceFreshness {
    /// Connector kind.
    pub connector: String,
    /// Source id.
    pub source: String,
    /// Unix seconds of the stalest stream's last success: the stream (of any tenant) whose
    /// last committed page or finished run is the oldest. Streams of paused sources are left out.
    pub last_success_unix: f64,
    /// Streams (tenant, stream) counted.
    pub streams: i64,
}

/// How often one source is scheduled to run, as its enabled pull schedules say.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceSchedulePeriod {
    /// Connector kind.
    pub connector: String,
    /// Source id.
    pub source: String,
    /// The longest period between two slots of its schedules, in seconds: `every_seconds`, or
    /// for a cron schedule the gap between its last decided slot and its next one.
    pub period_seconds: f64,
}

/// The circuit breakers of one source, over all its tenants.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceBreakers {
    /// Connector kind.
    pub connector: String,
    /// Source id.
    pub source: String,
    /// Breakers (one per tenant) not closed: open, or half-open with a probe job out.
    pub open: i64,
    /// Seconds since the longest-open of them opened (its current opening), 0 when none is.
    pub open_seconds: f64,
}

impl Store {
    /// Data freshness per (connector, source), from `checkpoints` (one row per tenant and
    /// stream, so this stays cheap however long the ledger grows); the connector comes from the
    /// run's root job (a primary-key lookup).
    ///
    /// A stream's last success is its last page commit or run finish (`updated_at`). Opening a
    /// run resets `updated_at` without pulling anything, so for a run that has committed no page
    /// yet the run's start is used: the previous run finished before it, so the age is
    /// understated by at most the gap between two runs, which staleness thresholds allow for.
    pub async fn source_freshness(&self) -> Result<Vec<SourceFreshness>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT j.connector, c.source,
                        extract(epoch FROM min(CASE WHEN c.finished OR c.pages > 0
                                                    THEN c.updated_at
                                                    ELSE c.run_started_at END))::float8,
                        count(*)
                 FROM checkpoints c JOIN jobs j ON j.id = c.run_id
                 WHERE NOT EXISTS (SELECT 1 FROM source_pauses p
                                   WHERE p.source = c.source AND p.tenant_id IN (c.tenant_id, '*'))
                 GROUP BY 1, 2 ORDER BY 1, 2",
                &[],
            )
            .await
            .map_err(StoreError::db("measuring source freshness"))?;
        Ok(rows
            .iter()
            .map(|row| SourceFreshness {
                connector: row.get(0),
                source: row.get(1),
                last_success_unix: row.get(2),
                streams: row.get(3),
            })
            .collect())
    }

    /// The scheduled period per (connector, source), from its enabled, unpaused pull schedules.
    /// A cron schedule with no decided slot yet has no known period and is left out.
    pub async fn source_schedule_periods(&self) -> Result<Vec<SourceSchedulePeriod>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT connector, source, period FROM (
                     SELECT s.connector, s.source,
                            max(COALESCE(s.every_seconds::float8,
                                         extract(epoch FROM s.next_slot_at - last.slot_at)::float8))
                                AS period
                     FROM schedules s
                     LEFT JOIN LATERAL (
                         SELECT COALESCE(missed_through, slot_at) AS slot_at
                         FROM schedule_slots WHERE schedule_id = s.id
                         ORDER BY schedule_slots.slot_at DESC LIMIT 1
                     ) last ON true
                     WHERE s.enabled AND s.paused_at IS NULL AND s.kind = 'pull'
                     GROUP BY 1, 2
                 ) periods
                 WHERE period > 0 ORDER BY 1, 2",
                &[],
            )
            .await
            .map_err(StoreError::db("reading schedule periods"))?;
        Ok(rows
            .iter()
            .map(|row| SourceSchedulePeriod {
                connector: row.get(0),
                source: row.get(1),
                period_seconds: row.get(2),
            })
            .collect())
    }

    /// Circuit breakers per (connector, source): how many tenants' breakers are not closed and
    /// how long the longest-open one has been open.
    pub async fn source_breakers(&self) -> Result<Vec<SourceBreakers>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT connector, source,
                        count(*) FILTER (WHERE state <> 'closed'),
                        COALESCE(extract(epoch FROM clock_timestamp()
                                     - min(opened_at) FILTER (WHERE state <> 'closed')), 0)::float8
                 FROM source_breakers GROUP BY 1, 2 ORDER BY 1, 2",
                &[],
            )
            .await
            .map_err(StoreError::db("counting open circuit breakers"))?;
        Ok(rows
            .iter()
            .map(|row| SourceBreakers {
                connector: row.get(0),
                source: row.get(1),
                open: row.get(2),
                open_seconds: row.get(3),
            })
            .collect())
    }

    /// Waiting jobs per connector, from the ledger.
    pub async fn waiting_jobs(&self) -> Result<Vec<WaitingJobs>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT connector, count(*),
                        COALESCE(extract(epoch FROM now() - min(enqueued_at)), 0)::float8
                 FROM jobs WHERE status IN ('queued', 'retrying', 'snoozed')
                 GROUP BY connector ORDER BY connector",
                &[],
            )
            .await
            .map_err(StoreError::db("counting waiting jobs"))?;
        Ok(rows
            .iter()
            .map(|row| WaitingJobs {
                connector: row.get(0),
                jobs: row.get(1),
                oldest_seconds: row.get(2),
            })
            .collect())
    }

    /// Pending dead letters per class, most first.
    pub async fn pending_dead_letters(&self) -> Result<Vec<PendingDeadLetters>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT class, count(*),
                        COALESCE(extract(epoch FROM now() - min(created_at)), 0)::float8
                 FROM dead_letters WHERE status = 'pending'
                 GROUP BY class ORDER BY 2 DESC, 1",
                &[],
            )
            .await
            .map_err(StoreError::db("counting pending dead letters"))?;
        Ok(rows
            .iter()
            .map(|row| PendingDeadLetters {
                class: row.get(0),
                letters: row.get(1),
                oldest_seconds: row.get(2),
            })
            .collect())
    }

    /// Replays by outcome (the replay job's status in the ledger).
    pub async fn replay_outcomes(&self) -> Result<Vec<ReplayOutcome>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT CASE WHEN r.state = 'pending' THEN 'unpublished'
                             WHEN j.status = 'succeeded' OR j.status = 'superseded' THEN 'succeeded'
                             WHEN j.status = 'dead' THEN 'dead'
                             ELSE 'in_flight' END AS outcome,
                        count(*)
                 FROM replays r LEFT JOIN jobs j ON j.id = r.job_id
                 GROUP BY 1 ORDER BY 1",
                &[],
            )
            .await
            .map_err(StoreError::db("counting replays by outcome"))?;
        Ok(rows
            .iter()
            .map(|row| ReplayOutcome {
                outcome: row.get(0),
                replays: row.get(1),
            })
            .collect())
    }
}
