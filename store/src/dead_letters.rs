//! Dead letters: jobs that retrying will not fix, stored with the original message byte for
//! byte, together with the ledger's verdict, in one transaction.

use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A dead letter to store.
#[derive(Debug, Clone)]
pub struct NewDeadLetter<'a> {
    /// Deduplicates redeliveries: the job id, else the message id, else a payload hash.
    pub dedup_key: String,
    /// The job, when the body parsed far enough to name one.
    pub job_id: Option<Uuid>,
    /// Connector kind, when known.
    pub connector: Option<&'a str>,
    /// Tenant, when known.
    pub tenant: Option<&'a str>,
    /// Source, when known.
    pub source: Option<&'a str>,
    /// Stream, when known.
    pub stream: Option<&'a str>,
    /// The failure class (`permanent`, `auth`, `malformed_job`, `exhausted`, ...).
    pub class: &'a str,
    /// The precise reason, for humans.
    pub reason: &'a str,
    /// `worker` (decided by a worker) or `broker` (delivery limit, archived).
    pub origin: &'a str,
    /// Failed attempts spent.
    pub attempts: i32,
    /// HTTP status behind the failure, if any.
    pub http_status: Option<i32>,
    /// The original message body.
    pub payload: &'a [u8],
    /// The parsed envelope, when the body parsed.
    pub envelope: Option<serde_json::Value>,
    /// The message's AMQP properties and headers, as JSON.
    pub headers: serde_json::Value,
    /// The queue it was consumed from.
    pub queue: Option<&'a str>,
    /// Its routing key.
    pub routing_key: Option<&'a str>,
    /// The worker that decided.
    pub worker: Option<&'a str>,
    /// When the delivery that failed started (for the attempt log).
    pub started_at: DateTime<Utc>,
}

impl Store {
    /// Stores a dead letter and marks its job dead, atomically. Returns `false` when this dead
    /// letter was already stored (a redelivery of a message already dead-lettered); its
    /// `deliveries` count goes up instead.
    pub async fn insert_dead_letter(&self, letter: &NewDeadLetter<'_>) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a dead-letter transaction"))?;
        let inserted: bool = transaction
            .query_one(
                "INSERT INTO dead_letters (dedup_key, job_id, connector, tenant_id, source, stream,
                     class, reason, origin, attempts, http_status, payload, envelope, headers,
                     queue, routing_key, worker, replay_generation)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                     -- A replay that failed again: one generation past the letter it replayed.
                     -- A replay's continuations carry no replay_of of their own, so the run's
                     -- root job is asked too.
                     COALESCE((SELECT max(replayed.replay_generation) + 1
                               FROM jobs
                               JOIN jobs run ON run.id IN (jobs.id, jobs.root_id)
                               JOIN dead_letters replayed ON replayed.job_id = run.replay_of
                               WHERE jobs.id = $2), 0))
                 ON CONFLICT (dedup_key) DO UPDATE SET
                     deliveries = dead_letters.deliveries + 1, last_seen_at = now()
                 RETURNING (xmax = 0)",
                &[
                    &letter.dedup_key,
                    &letter.job_id,
                    &letter.connector,
                    &letter.tenant,
                    &letter.source,
                    &letter.stream,
                    &letter.class,
                    &letter.reason,
                    &letter.origin,
                    &letter.attempts,
                    &letter.http_status,
                    &letter.payload,
                    &letter.envelope,
                    &letter.headers,
                    &letter.queue,
                    &letter.routing_key,
                    &letter.worker,
                ],
            )
            .await
            .map_err(StoreError::db("storing a dead letter"))?
            .get(0);
        if let Some(job_id) = letter.job_id {
            let updated = transaction
                .execute(
                    "UPDATE jobs SET status = 'dead', last_error_class = $2, last_error = $3,
                            finished_at = now(), heartbeat_at = now()
                     WHERE id = $1",
                    &[&job_id, &letter.class, &letter.reason],
                )
                .await
                .map_err(StoreError::db("marking a job dead"))?;
            if updated == 1 {
                transaction
                    .execute(
                        "INSERT INTO job_attempts (job_id, worker, started_at, outcome,
                                                   error_class, error, http_status)
                         VALUES ($1, $2, $3, 'dead', $4, $5, $6)",
                        &[
                            &job_id,
                            &letter.worker.unwrap_or("broker"),
                            &letter.started_at,
                            &letter.class,
                            &letter.reason,
                            &letter.http_status,
                        ],
                    )
                    .await
                    .map_err(StoreError::db("logging a dead attempt"))?;
            }
        }
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a dead letter"))?;
        Ok(inserted)
    }
}
