//! The numbers behind queue-admin's overview and its gauges: waiting jobs per connector with the
//! oldest one's age (from the ledger, exact even where the broker cannot tell message ages),
//! pending dead letters per class with the oldest one's age, and replays by outcome.

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

impl Store {
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
