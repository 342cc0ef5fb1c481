//! The job ledger: one row per job id, written at enqueue, claimed at delivery, settled at the
//! end. Begin and finish are group-committed across concurrent jobs (see `batcher`).

use crate::batcher::Batcher;
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use uuid::Uuid;

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Enqueued, not yet started.
    Queued,
    /// A worker is on it.
    Running,
    /// Failed transiently; waiting in a retry tier.
    Retrying,
    /// Rate limited; waiting in a retry tier without spending an attempt.
    Snoozed,
    /// Done (possibly by handing over to a continuation).
    Succeeded,
    /// Its run was taken over by a newer run of the same stream; nothing left to do.
    Superseded,
    /// Dead-lettered.
    Dead,
}

impl JobStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Retrying => "retrying",
            JobStatus::Snoozed => "snoozed",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Superseded => "superseded",
            JobStatus::Dead => "dead",
        }
    }

    fn parse(value: &str) -> Result<Self, StoreError> {
        Ok(match value {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "retrying" => JobStatus::Retrying,
            "snoozed" => JobStatus::Snoozed,
            "succeeded" => JobStatus::Succeeded,
            "superseded" => JobStatus::Superseded,
            "dead" => JobStatus::Dead,
            other => {
                return Err(StoreError::Config {
                    message: format!("unknown job status {other:?} in the ledger"),
                })
            }
        })
    }

    /// Whether nothing more will happen to the job.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Superseded | JobStatus::Dead
        )
    }
}

/// A job as the ledger first learns of it.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The job id.
    pub id: Uuid,
    /// The run's first job (its own id for a root job).
    pub root_id: Uuid,
    /// The job that handed over to this one.
    pub parent_id: Option<Uuid>,
    /// The dead-lettered job this one replays.
    pub replay_of: Option<Uuid>,
    /// `pull`, `noop`, ...
    pub kind: String,
    /// Connector kind.
    pub connector: String,
    /// Tenant.
    pub tenant: String,
    /// Source instance.
    pub source: String,
    /// Stream.
    pub stream: String,
    /// The full envelope, for inspection and replay.
    pub envelope: serde_json::Value,
}

/// A delivered job being claimed by this worker.
pub type BeginJob = NewJob;

/// What the ledger knew when a delivery was claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobStart {
    /// The status after claiming: `Running`, or the terminal status of a duplicate delivery.
    pub status: JobStatus,
    /// Failed attempts so far (not counting this delivery).
    pub attempts: i32,
    /// Deliveries so far, this one included.
    pub deliveries: i32,
    /// The continuation this job already handed over to, if it did.
    pub continuation_id: Option<Uuid>,
}

/// How a delivery ended, for the ledger and the attempt log.
#[derive(Debug, Clone)]
pub struct FinishJob {
    /// The job.
    pub id: Uuid,
    /// Its new status.
    pub status: JobStatus,
    /// `succeeded`, `retry`, `snoozed`, `duplicate`, `superseded`, ... (attempt log).
    pub outcome: &'static str,
    /// 1 when this delivery spent an attempt, else 0.
    pub attempts_delta: i32,
    /// Error class, when it failed.
    pub error_class: Option<String>,
    /// Error text, when it failed.
    pub error: Option<String>,
    /// HTTP status behind the error, if any.
    pub http_status: Option<i32>,
    /// When this delivery started.
    pub started_at: DateTime<Utc>,
    /// Pages committed during this delivery.
    pub pages: i32,
    /// Records seen during this delivery.
    pub records: i64,
}

/// Largest group commit. Bounded so one statement's arrays stay small and a batch's latency
/// stays in the low milliseconds.
const MAX_BATCH: usize = 512;

/// The ledger writer of one worker process.
#[derive(Debug, Clone)]
pub struct Ledger {
    store: Store,
    begin: Batcher<BeginJob, JobStart>,
    finish: Batcher<FinishJob, ()>,
}

impl Ledger {
    /// Starts the batching tasks. `worker` names this process in the ledger and attempt log.
    pub fn new(store: Store, worker: String) -> Self {
        let begin_store = store.clone();
        let begin_worker = worker.clone();
        let begin = Batcher::spawn(MAX_BATCH, move |batch| {
            let store = begin_store.clone();
            let worker = begin_worker.clone();
            async move { begin_in_unique_rounds(&store, &worker, batch).await }
        });
        let finish_store = store.clone();
        let finish = Batcher::spawn(MAX_BATCH, move |batch| {
            let store = finish_store.clone();
            let worker = worker.clone();
            async move { finish_batch(&store, &worker, batch).await }
        });
        Self {
            store,
            begin,
            finish,
        }
    }

    /// Claims a delivered job (creating its ledger row if the publisher did not).
    pub async fn begin(&self, job: BeginJob) -> Result<JobStart, StoreError> {
        self.begin.submit(job).await
    }

    /// Settles a delivery in the ledger and the attempt log.
    pub async fn finish(&self, finish: FinishJob) -> Result<(), StoreError> {
        self.finish.submit(finish).await
    }

    /// The store behind this ledger.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl Store {
    /// Records jobs at enqueue time (before publishing). Existing ids are left alone.
    pub async fn insert_jobs(&self, jobs: &[NewJob]) -> Result<(), StoreError> {
        let client = self.client().await?;
        insert_jobs_on(&**client, jobs).await
    }

    /// Assigns `candidate` as the job's continuation unless it already has one; returns the one
    /// that holds. Called before publishing, so a redelivered job re-publishes the same id.
    pub async fn assign_continuation(
        &self,
        job_id: Uuid,
        candidate: Uuid,
    ) -> Result<Uuid, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "UPDATE jobs SET continuation_id = COALESCE(continuation_id, $2)
                 WHERE id = $1 RETURNING continuation_id",
                &[&job_id, &candidate],
            )
            .await
            .map_err(StoreError::db("assigning a continuation"))?;
        Ok(row.get(0))
    }

    /// The envelope of a job as the ledger holds it.
    pub async fn job_envelope(
        &self,
        job_id: Uuid,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT envelope FROM jobs WHERE id = $1", &[&job_id])
            .await
            .map_err(StoreError::db("reading a job envelope"))?;
        Ok(row.map(|row| row.get(0)))
    }
}

/// [`Store::insert_jobs`] on a given connection or transaction, so that a change creating jobs
/// (a replay) records them in its own transaction.
pub(crate) async fn insert_jobs_on(
    client: &impl tokio_postgres::GenericClient,
    jobs: &[NewJob],
) -> Result<(), StoreError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let columns = Columns::of(jobs);
    client
        .execute(
            "INSERT INTO jobs (id, root_id, parent_id, replay_of, kind, connector, tenant_id,
                               source, stream, envelope, status)
             SELECT *, 'queued' FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[],
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[])
             ON CONFLICT (id) DO NOTHING",
            &[
                &columns.id,
                &columns.root_id,
                &columns.parent_id,
                &columns.replay_of,
                &columns.kind,
                &columns.connector,
                &columns.tenant,
                &columns.source,
                &columns.stream,
                &columns.envelope,
            ],
        )
        .await
        .map_err(StoreError::db("recording enqueued jobs"))?;
    Ok(())
}

struct Columns {
    id: Vec<Uuid>,
    root_id: Vec<Uuid>,
    parent_id: Vec<Option<Uuid>>,
    replay_of: Vec<Option<Uuid>>,
    kind: Vec<String>,
    connector: Vec<String>,
    tenant: Vec<String>,
    source: Vec<String>,
    stream: Vec<String>,
    envelope: Vec<serde_json::Value>,
}

impl Columns {
    fn of(jobs: &[NewJob]) -> Self {
        Self {
            id: jobs.iter().map(|j| j.id).collect(),
            root_id: jobs.iter().map(|j| j.root_id).collect(),
            parent_id: jobs.iter().map(|j| j.parent_id).collect(),
            replay_of: jobs.iter().map(|j| j.replay_of).collect(),
            kind: jobs.iter().map(|j| j.kind.clone()).collect(),
            connector: jobs.iter().map(|j| j.connector.clone()).collect(),
            tenant: jobs.iter().map(|j| j.tenant.clone()).collect(),
            source: jobs.iter().map(|j| j.source.clone()).collect(),
            stream: jobs.iter().map(|j| j.stream.clone()).collect(),
            envelope: jobs.iter().map(|j| j.envelope.clone()).collect(),
        }
    }
}

/// `INSERT .. ON CONFLICT DO UPDATE` cannot touch one row twice in a statement, so a batch
/// holding two deliveries of one job (a duplicate in flight) is split into rounds of unique ids.
async fn begin_in_unique_rounds(
    store: &Store,
    worker: &str,
    batch: Vec<BeginJob>,
) -> Result<Vec<JobStart>, StoreError> {
    let mut results: Vec<Option<JobStart>> = vec![None; batch.len()];
    let mut remaining: Vec<usize> = (0..batch.len()).collect();
    while !remaining.is_empty() {
        let mut seen = HashSet::new();
        let (round, later): (Vec<usize>, Vec<usize>) = remaining
            .iter()
            .partition(|&&index| seen.insert(batch[index].id));
        let jobs: Vec<NewJob> = round.iter().map(|&index| batch[index].clone()).collect();
        let starts = begin_batch(store, worker, &jobs).await?;
        for (index, start) in round.into_iter().zip(starts) {
            results[index] = Some(start);
        }
        remaining = later;
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every job has a result"))
        .collect())
}

async fn begin_batch(
    store: &Store,
    worker: &str,
    jobs: &[NewJob],
) -> Result<Vec<JobStart>, StoreError> {
    let client = store.client().await?;
    let columns = Columns::of(jobs);
    let rows = client
        .query(
            "INSERT INTO jobs AS j (id, root_id, parent_id, replay_of, kind, connector, tenant_id,
                                    source, stream, envelope, status, deliveries, worker,
                                    started_at, heartbeat_at)
             SELECT t.*, 'running', 1, $11, now(), now()
             FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[],
                         $7::text[], $8::text[], $9::text[], $10::jsonb[]) AS t
             ON CONFLICT (id) DO UPDATE SET
                 deliveries = j.deliveries + 1,
                 status = CASE WHEN j.status IN ('succeeded', 'superseded', 'dead')
                               THEN j.status ELSE 'running' END,
                 worker = EXCLUDED.worker,
                 started_at = COALESCE(j.started_at, now()),
                 heartbeat_at = now()
             RETURNING id, status, attempts, deliveries, continuation_id",
            &[
                &columns.id,
                &columns.root_id,
                &columns.parent_id,
                &columns.replay_of,
                &columns.kind,
                &columns.connector,
                &columns.tenant,
                &columns.source,
                &columns.stream,
                &columns.envelope,
                &worker,
            ],
        )
        .await
        .map_err(StoreError::db("claiming delivered jobs"))?;
    let mut by_id = std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        let id: Uuid = row.get(0);
        let status: &str = row.get(1);
        by_id.insert(
            id,
            JobStart {
                status: JobStatus::parse(status)?,
                attempts: row.get(2),
                deliveries: row.get(3),
                continuation_id: row.get(4),
            },
        );
    }
    jobs.iter()
        .map(|job| {
            by_id.get(&job.id).copied().ok_or(StoreError::Config {
                message: format!("job {} was not returned by the claim", job.id),
            })
        })
        .collect()
}

async fn finish_batch(
    store: &Store,
    worker: &str,
    batch: Vec<FinishJob>,
) -> Result<Vec<()>, StoreError> {
    let client = store.client().await?;
    let id: Vec<Uuid> = batch.iter().map(|f| f.id).collect();
    let status: Vec<&str> = batch.iter().map(|f| f.status.as_str()).collect();
    let outcome: Vec<&str> = batch.iter().map(|f| f.outcome).collect();
    let attempts_delta: Vec<i32> = batch.iter().map(|f| f.attempts_delta).collect();
    let error_class: Vec<Option<&str>> = batch.iter().map(|f| f.error_class.as_deref()).collect();
    let error: Vec<Option<&str>> = batch.iter().map(|f| f.error.as_deref()).collect();
    let http_status: Vec<Option<i32>> = batch.iter().map(|f| f.http_status).collect();
    let started_at: Vec<DateTime<Utc>> = batch.iter().map(|f| f.started_at).collect();
    let pages: Vec<i32> = batch.iter().map(|f| f.pages).collect();
    let records: Vec<i64> = batch.iter().map(|f| f.records).collect();
    client
        .execute(
            "WITH f AS (
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::text[],
                                      $6::text[], $7::int[], $8::timestamptz[], $9::int[],
                                      $10::bigint[])
                     AS f(id, status, outcome, attempts_delta, error_class, error, http_status,
                          started_at, pages, records)
             ), settled AS (
                 UPDATE jobs j SET
                     status = f.status,
                     attempts = j.attempts + f.attempts_delta,
                     last_error_class = COALESCE(f.error_class, j.last_error_class),
                     last_error = COALESCE(f.error, j.last_error),
                     heartbeat_at = now(),
                     finished_at = CASE WHEN f.status IN ('succeeded', 'superseded', 'dead')
                                        THEN now() ELSE j.finished_at END
                 FROM f WHERE j.id = f.id
                 RETURNING j.id
             )
             INSERT INTO job_attempts (job_id, worker, started_at, outcome, error_class, error,
                                       http_status, pages, records)
             SELECT f.id, $11, f.started_at, f.outcome, f.error_class, f.error, f.http_status,
                    f.pages, f.records
             FROM f WHERE EXISTS (SELECT 1 FROM settled s WHERE s.id = f.id)",
            &[
                &id,
                &status,
                &outcome,
                &attempts_delta,
                &error_class,
                &error,
                &http_status,
                &started_at,
                &pages,
                &records,
                &worker,
            ],
        )
        .await
        .map_err(StoreError::db("settling jobs in the ledger"))?;
    Ok(vec![(); batch.len()])
}
