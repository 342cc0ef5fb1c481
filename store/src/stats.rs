//! Read-side summaries for the CLI, the demo and tests.

use crate::{Store, StoreError};
use uuid::Uuid;

/// Records stored per (tenant, connector, stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCount {
    /// Tenant.
    pub tenant: String,
    /// Connector kind.
    pub connector: String,
    /// Stream.
    pub stream: String,
    /// Rows.
    pub records: i64,
}

/// Jobs per status, with their record counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatusCount {
    /// Status name.
    pub status: String,
    /// Jobs in it.
    pub jobs: i64,
    /// Pages committed by those jobs.
    pub pages: i64,
    /// Records inserted by those jobs.
    pub inserted: i64,
    /// Records updated by those jobs.
    pub updated: i64,
    /// Records seen unchanged by those jobs.
    pub unchanged: i64,
}

/// A stored dead letter, summarised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRow {
    /// Row id.
    pub id: i64,
    /// The job, when known.
    pub job_id: Option<Uuid>,
    /// Failure class.
    pub class: String,
    /// Reason.
    pub reason: String,
    /// `worker` or `broker`.
    pub origin: String,
    /// Attempts spent.
    pub attempts: i32,
    /// Size of the stored original message.
    pub payload_bytes: i64,
}

impl Store {
    /// Records per (tenant, connector, stream).
    pub async fn record_counts(&self) -> Result<Vec<RecordCount>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT tenant_id, connector, stream, count(*) FROM records
                 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                &[],
            )
            .await
            .map_err(StoreError::db("counting records"))?;
        Ok(rows
            .iter()
            .map(|row| RecordCount {
                tenant: row.get(0),
                connector: row.get(1),
                stream: row.get(2),
                records: row.get(3),
            })
            .collect())
    }

    /// Jobs per status among the runs rooted at `roots` (all jobs when `roots` is `None`).
    pub async fn job_status_counts(
        &self,
        roots: Option<&[Uuid]>,
    ) -> Result<Vec<JobStatusCount>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT status, count(*), COALESCE(sum(pages), 0)::bigint,
                        COALESCE(sum(records_inserted), 0)::bigint,
                        COALESCE(sum(records_updated), 0)::bigint,
                        COALESCE(sum(records_unchanged), 0)::bigint
                 FROM jobs WHERE $1::uuid[] IS NULL OR root_id = ANY($1)
                 GROUP BY status ORDER BY status",
                &[&roots],
            )
            .await
            .map_err(StoreError::db("counting jobs"))?;
        Ok(rows
            .iter()
            .map(|row| JobStatusCount {
                status: row.get(0),
                jobs: row.get(1),
                pages: row.get(2),
                inserted: row.get(3),
                updated: row.get(4),
                unchanged: row.get(5),
            })
            .collect())
    }

    /// Dead letters per class, most first.
    pub async fn dead_letter_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT class, count(*) FROM dead_letters GROUP BY class ORDER BY 2 DESC, 1",
                &[],
            )
            .await
            .map_err(StoreError::db("counting dead letters"))?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// Dead letters, newest first, at most `limit`.
    pub async fn dead_letters(&self, limit: i64) -> Result<Vec<DeadLetterRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, job_id, class, reason, origin, attempts, length(payload)::bigint
                 FROM dead_letters ORDER BY id DESC LIMIT $1",
                &[&limit],
            )
            .await
            .map_err(StoreError::db("listing dead letters"))?;
        Ok(rows
            .iter()
            .map(|row| DeadLetterRow {
                id: row.get(0),
                job_id: row.get(1),
                class: row.get(2),
                reason: row.get(3),
                origin: row.get(4),
                attempts: row.get(5),
                payload_bytes: row.get(6),
            })
            .collect())
    }
}
