//! Changing dead letters: replays (a dry run, then one transaction that fixes the new jobs'
//! ids, records them in the ledger and marks the letters replayed), the publisher's side of a
//! replay (claiming committed replays, marking them published), payload edits (versioned, the
//! original kept, the diff stored) and discards. Every change writes its audit row in its own
//! transaction.
//!
//! This module never parses a job envelope (the broker crate owns that wire): the caller passes
//! a function that turns a letter's payload into the new job's ledger row.
//!
//! Double replays are refused three times over: the letters are locked `FOR UPDATE` in id order
//! (a concurrent request waits, then sees them replayed and is refused with the batch that took
//! them), only `pending` letters are taken, and `replays.dead_letter_id` is unique.

use super::filter::{DeadLetterFilter, FILTER_PARAMS, FILTER_SQL};
use super::{write_audit, AuditEntry};
use crate::ledger::{insert_jobs_on, NewJob};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt::Write as _;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

/// Most letters one replay or discard takes. One request is one transaction that locks every
/// letter it takes and writes a job row and a replay row for each: 50,000 keeps that under a
/// few seconds and a few tens of MiB, and is more than any single incident has produced. A
/// bigger backlog is replayed in slices (by time range, say), each with its own dry run.
pub const MAX_LETTERS_PER_ACTION: i64 = 50_000;

/// Longest accepted reason, in characters.
pub const MAX_REASON_CHARS: usize = 1_000;

/// Most letters a dry run shows as a sample.
pub const MAX_PREVIEW_SAMPLE: i64 = 200;

/// Most replays a created batch lists in its answer (the rest are in the batch's progress).
const LISTED_REPLAYS: usize = 100;

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The request itself is wrong (a missing reason, too many letters, an unchanged payload).
    #[error("{0}")]
    Invalid(String),
    /// The thing to change does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The current state forbids it (already replayed, nothing pending, edited meanwhile).
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the dry run of a replay found: how the matching letters split, and a sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayPreview {
    /// Letters matching the filter (any status the filter allows).
    pub matching: i64,
    /// Pending letters a replay would take.
    pub replayable: i64,
    /// Pending letters replayed `loop_limit` times or more without success: taken only when
    /// forced.
    pub looping: i64,
    /// Pending letters whose payload is not a job envelope and was not edited: never taken
    /// (edit the payload first).
    pub unparseable: i64,
    /// Letters already replayed.
    pub already_replayed: i64,
    /// Letters discarded.
    pub discarded: i64,
    /// The loop guard's limit used.
    pub loop_limit: i32,
    /// Most letters one replay takes ([`MAX_LETTERS_PER_ACTION`]).
    pub max_letters: i64,
    /// The newest matching letters, with what a replay would do with each.
    pub sample: Vec<PreviewLetter>,
}

/// What a replay would do with one letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LetterVerdict {
    /// It would be replayed.
    Replayable,
    /// Looping: replayed only when forced.
    Looping,
    /// Not a job envelope and not edited: edit the payload first.
    Unparseable,
    /// Already replayed.
    Replayed,
    /// Discarded.
    Discarded,
}

impl LetterVerdict {
    fn parse(text: &str) -> Self {
        match text {
            "replayable" => LetterVerdict::Replayable,
            "looping" => LetterVerdict::Looping,
            "unparseable" => LetterVerdict::Unparseable,
            "replayed" => LetterVerdict::Replayed,
            _ => LetterVerdict::Discarded,
        }
    }

    /// A short label for humans.
    pub fn as_str(self) -> &'static str {
        match self {
            LetterVerdict::Replayable => "replayable",
            LetterVerdict::Looping => "looping",
            LetterVerdict::Unparseable => "unparseable",
            LetterVerdict::Replayed => "replayed",
            LetterVerdict::Discarded => "discarded",
        }
    }
}

/// One letter of a dry run's sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewLetter {
    /// Letter id.
    pub id: i64,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// Connector kind.
    pub connector: Option<String>,
    /// Tenant.
    pub tenant: Option<String>,
    /// Source.
    pub source: Option<String>,
    /// Stream.
    pub stream: Option<String>,
    /// Failure class.
    pub class: String,
    /// Why it failed.
    pub reason: String,
    /// Failed attempts.
    pub attempts: i32,
    /// Replays of replays that led to it.
    pub replay_generation: i32,
    /// Whether its payload was edited.
    pub edited: bool,
    /// What a replay would do with it.
    pub verdict: LetterVerdict,
}

/// A replay to create.
#[derive(Debug, Clone, Copy)]
pub struct ReplayRequest<'a> {
    /// Which letters (only pending ones are taken).
    pub filter: &'a DeadLetterFilter,
    /// Who asks (the audit actor).
    pub actor: &'a str,
    /// Why (optional for replays).
    pub reason: Option<&'a str>,
    /// Also take looping letters.
    pub force_looping: bool,
    /// The loop guard: letters at or past this replay generation are looping.
    pub loop_limit: i32,
    /// Refuse when more pending letters than this match (normally
    /// [`MAX_LETTERS_PER_ACTION`]).
    pub max_letters: i64,
}

/// A letter about to be replayed, as the caller needs it to build the new job.
#[derive(Debug, Clone, Copy)]
pub struct ReplayLetter<'a> {
    /// Letter id.
    pub dead_letter_id: i64,
    /// The job that died, when the payload named one.
    pub job_id: Option<Uuid>,
    /// The payload to replay: the latest edit's, else the original message body.
    pub payload: &'a [u8],
    /// The edit that payload comes from, if any.
    pub edit_id: Option<i64>,
}

/// One letter replayed: which job replays it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayedLetter {
    /// Letter id.
    pub dead_letter_id: i64,
    /// The new job's id.
    pub job_id: Uuid,
}

/// A created replay batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreatedReplay {
    /// The batch (its progress: [`Store::replay_batch`]).
    pub batch_id: i64,
    /// Letters replayed.
    pub total: i64,
    /// Pending letters left out because they are looping (not forced).
    pub skipped_looping: i64,
    /// Pending letters left out because their payload is not a job envelope: (id, why).
    pub skipped_unparseable: Vec<(i64, String)>,
    /// The first replays (at most 100).
    pub replays: Vec<ReplayedLetter>,
}

/// A replay batch and how far it got.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayBatch {
    /// Batch id.
    pub id: i64,
    /// Who asked.
    pub actor: String,
    /// The filter that chose the letters.
    pub filter: serde_json::Value,
    /// Why.
    pub reason: Option<String>,
    /// Letters replayed.
    pub total: i32,
    /// Replays published so far.
    pub published: i32,
    /// `publishing` or `done` (every replay published).
    pub state: String,
    /// The latest publishing failure, while not done.
    pub last_error: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its last replay was published.
    pub finished_at: Option<DateTime<Utc>>,
    /// Where its replay jobs are.
    pub outcomes: ReplayOutcomes,
}

/// Where the replay jobs of a batch are, from the ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReplayOutcomes {
    /// Not yet published.
    pub unpublished: i64,
    /// Of those, how many failed to publish at least once (see `last_error`).
    pub failing: i64,
    /// Published, not finished.
    pub in_flight: i64,
    /// Succeeded (or superseded by a newer run of the stream).
    pub succeeded: i64,
    /// Dead again (a new dead letter).
    pub dead: i64,
}

/// One replay of a batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchReplay {
    /// The letter.
    pub dead_letter_id: i64,
    /// The replay job.
    pub job_id: Uuid,
    /// `pending` or `published`.
    pub state: String,
    /// The job's ledger status.
    pub job_status: Option<String>,
    /// Failed publishing attempts.
    pub publish_attempts: i32,
    /// The latest publishing failure.
    pub last_error: Option<String>,
    /// When it was published.
    pub published_at: Option<DateTime<Utc>>,
}

/// A committed replay waiting to be published.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingReplay {
    /// Replay row id.
    pub id: i64,
    /// Its batch.
    pub batch_id: i64,
    /// Its letter.
    pub dead_letter_id: i64,
    /// The job to publish.
    pub job_id: Uuid,
    /// The job's envelope, as the ledger holds it.
    pub envelope: serde_json::Value,
    /// Failed publishing attempts so far.
    pub publish_attempts: i32,
}

/// Pending replays claimed by one publisher: locked (`FOR UPDATE SKIP LOCKED`, so several
/// queue-admin replicas share the work) in an open transaction until [`ReplayClaim::finish`]
/// commits what was published. Dropped unfinished, its connection is closed rather than
/// returned to the pool, which rolls the transaction back.
pub struct ReplayClaim {
    client: Option<deadpool_postgres::Object>,
    replays: Vec<PendingReplay>,
}

impl std::fmt::Debug for ReplayClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayClaim")
            .field("replays", &self.replays.len())
            .finish()
    }
}

/// An edit of a letter's payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetterEdit {
    /// Edit id.
    pub id: i64,
    /// The letter.
    pub dead_letter_id: i64,
    /// 1 for the first edit, then 2, ...
    pub version: i32,
    /// The payload as edited.
    pub payload: Vec<u8>,
    /// What changed against the version before.
    pub diff: serde_json::Value,
    /// Why.
    pub reason: String,
    /// Who.
    pub actor: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// An edit to make.
#[derive(Debug, Clone, Copy)]
pub struct EditRequest<'a> {
    /// The letter.
    pub dead_letter_id: i64,
    /// The new payload.
    pub payload: &'a [u8],
    /// Who.
    pub actor: &'a str,
    /// Why (required).
    pub reason: &'a str,
    /// The version the editor started from (0: the original); a newer one refuses the edit,
    /// so nobody overwrites an edit they did not see.
    pub base_version: Option<i32>,
}

/// A letter's payload as a replay would send it.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentPayload {
    /// The letter.
    pub dead_letter_id: i64,
    /// `pending`, `replayed` or `discarded`.
    pub status: String,
    /// The original message body.
    pub original: Vec<u8>,
    /// The latest edit's payload, else the original.
    pub current: Vec<u8>,
    /// The latest edit's version, 0 when never edited.
    pub version: i32,
}

/// What a discard did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discarded {
    /// Letters discarded.
    pub count: i64,
    /// The first of them (at most 100).
    pub ids: Vec<i64>,
}

/// The verdict of `dead_letters d` for a replay; `$13` is the loop limit.
const VERDICT_SQL: &str = "CASE WHEN d.status <> 'pending' THEN d.status
         WHEN d.envelope IS NULL AND NOT EXISTS
              (SELECT 1 FROM dead_letter_edits e WHERE e.dead_letter_id = d.id) THEN 'unparseable'
         WHEN d.replay_generation >= $13 THEN 'looping'
         ELSE 'replayable' END";

/// Checks a reason: trimmed, at most [`MAX_REASON_CHARS`], present when `required`.
pub fn checked_reason(reason: Option<&str>, required: bool) -> Result<Option<&str>, ChangeError> {
    let reason = reason.map(str::trim).filter(|reason| !reason.is_empty());
    match reason {
        None if required => Err(ChangeError::Invalid(
            "reason: required; say why (it is kept in the audit log)".into(),
        )),
        Some(reason) if reason.chars().count() > MAX_REASON_CHARS => Err(ChangeError::Invalid(
            format!("reason: at most {MAX_REASON_CHARS} characters"),
        )),
        other => Ok(other),
    }
}

fn filter_json(filter: &DeadLetterFilter) -> serde_json::Value {
    serde_json::to_value(filter).expect("a filter always serializes")
}

/// The letters' statuses' verdict counts over `filter` (on `client`): (verdict, letters).
async fn verdict_counts(
    client: &impl tokio_postgres::GenericClient,
    filter: &DeadLetterFilter,
    loop_limit: i32,
) -> Result<Vec<(String, i64)>, StoreError> {
    let params = filter.params();
    let rows = client
        .query(
            &format!(
                "SELECT verdict, count(*) FROM
                     (SELECT {VERDICT_SQL} AS verdict FROM dead_letters d WHERE {FILTER_SQL}) v
                 GROUP BY verdict"
            ),
            &params.with(&[&loop_limit]),
        )
        .await
        .map_err(StoreError::db("counting letters for a replay"))?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

impl Store {
    /// The dry run of a replay of `filter`: counts by what a replay would do, and the newest
    /// `sample` letters (at most [`MAX_PREVIEW_SAMPLE`]). Reads only.
    pub async fn replay_preview(
        &self,
        filter: &DeadLetterFilter,
        loop_limit: i32,
        sample: i64,
    ) -> Result<ReplayPreview, StoreError> {
        let client = self.client().await?;
        let mut preview = ReplayPreview {
            matching: 0,
            replayable: 0,
            looping: 0,
            unparseable: 0,
            already_replayed: 0,
            discarded: 0,
            loop_limit,
            max_letters: MAX_LETTERS_PER_ACTION,
            sample: Vec::new(),
        };
        for (verdict, letters) in verdict_counts(&**client, filter, loop_limit).await? {
            preview.matching += letters;
            match LetterVerdict::parse(&verdict) {
                LetterVerdict::Replayable => preview.replayable += letters,
                LetterVerdict::Looping => preview.looping += letters,
                LetterVerdict::Unparseable => preview.unparseable += letters,
                LetterVerdict::Replayed => preview.already_replayed += letters,
                LetterVerdict::Discarded => preview.discarded += letters,
            }
        }
        let sample = sample.clamp(0, MAX_PREVIEW_SAMPLE);
        let params = filter.params();
        let rows = client
            .query(
                &format!(
                    "SELECT d.id, d.created_at, d.connector, d.tenant_id, d.source, d.stream,
                            d.class, d.reason, d.attempts, d.replay_generation,
                            EXISTS (SELECT 1 FROM dead_letter_edits e WHERE e.dead_letter_id = d.id),
                            {VERDICT_SQL}
                     FROM dead_letters d WHERE {FILTER_SQL}
                     ORDER BY d.id DESC LIMIT $14"
                ),
                &params.with(&[&loop_limit, &sample]),
            )
            .await
            .map_err(StoreError::db("sampling letters for a replay"))?;
        preview.sample = rows
            .iter()
            .map(|row| PreviewLetter {
                id: row.get(0),
                created_at: row.get(1),
                connector: row.get(2),
                tenant: row.get(3),
                source: row.get(4),
                stream: row.get(5),
                class: row.get(6),
                reason: row.get(7),
                attempts: row.get(8),
                replay_generation: row.get(9),
                edited: row.get(10),
                verdict: LetterVerdict::parse(row.get(11)),
            })
            .collect();
        Ok(preview)
    }

    /// Replays the pending letters matching the request's filter, in one transaction: each
    /// gets a new job (built by `new_job` from its latest payload), a ledger row (queued), a
    /// `replays` row (pending publication) in one new batch; the letters become `replayed`;
    /// one audit row (`dead_letter.replay`) says who, why, which filter and how many. Looping
    /// letters are left out unless forced, and letters whose payload `new_job` refuses are left
    /// out (counted, with why). Nothing to replay is a [`ChangeError::Conflict`] saying
    /// precisely why (already replayed by which batch, discarded, looping, not a job).
    ///
    /// Publishing is not done here: the replay publisher takes the committed replays.
    pub async fn create_replay<F>(
        &self,
        request: &ReplayRequest<'_>,
        mut new_job: F,
    ) -> Result<CreatedReplay, ChangeError>
    where
        F: FnMut(&ReplayLetter<'_>) -> Result<NewJob, String> + Send,
    {
        let reason = checked_reason(request.reason, false)?;
        let filter = request.filter;
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a replay transaction"))?;
        // Lock first, in id order (concurrent requests over overlapping letters queue up
        // instead of deadlocking); a request that waited re-checks `status` on the committed
        // row and so skips letters the other one just replayed.
        let limit = request.max_letters.max(1) + 1;
        let params = filter.params();
        let locked: Vec<i64> = transaction
            .query(
                &format!(
                    "SELECT d.id FROM dead_letters d
                     WHERE {FILTER_SQL} AND d.status = 'pending'
                     ORDER BY d.id LIMIT $13 FOR UPDATE"
                ),
                &params.with(&[&limit]),
            )
            .await
            .map_err(StoreError::db("locking letters to replay"))?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if locked.len() as i64 > request.max_letters {
            return Err(ChangeError::Invalid(format!(
                "filter: more than {} pending letters match; one replay takes at most {}: narrow \
                 the filter (a time range, a class, a tenant) and replay in slices",
                request.max_letters, request.max_letters
            )));
        }
        // Read payloads after locking, so an edit committed while this request waited is the
        // one replayed (an edit locks its letter too).
        let rows = transaction
            .query(
                "SELECT d.id, d.job_id, d.replay_generation, e.id, COALESCE(e.payload, d.payload)
                 FROM dead_letters d
                 LEFT JOIN LATERAL (
                     SELECT id, payload FROM dead_letter_edits
                     WHERE dead_letter_id = d.id ORDER BY version DESC LIMIT 1
                 ) e ON true
                 WHERE d.id = ANY($1) ORDER BY d.id",
                &[&locked],
            )
            .await
            .map_err(StoreError::db("reading letters to replay"))?;
        let mut jobs = Vec::with_capacity(rows.len());
        let mut letter_ids = Vec::with_capacity(rows.len());
        let mut edit_ids: Vec<Option<i64>> = Vec::with_capacity(rows.len());
        let mut skipped_looping = 0;
        let mut skipped_unparseable = Vec::new();
        for row in &rows {
            let letter = ReplayLetter {
                dead_letter_id: row.get(0),
                job_id: row.get(1),
                payload: row.get(4),
                edit_id: row.get(3),
            };
            let generation: i32 = row.get(2);
            if generation >= request.loop_limit && !request.force_looping {
                skipped_looping += 1;
                continue;
            }
            match new_job(&letter) {
                Ok(job) => {
                    jobs.push(job);
                    letter_ids.push(letter.dead_letter_id);
                    edit_ids.push(letter.edit_id);
                }
                Err(why) => skipped_unparseable.push((letter.dead_letter_id, why)),
            }
        }
        if jobs.is_empty() {
            let why = explain_nothing_to_replay(
                &transaction,
                request,
                skipped_looping,
                &skipped_unparseable,
            )
            .await?;
            return Err(ChangeError::Conflict(why));
        }
        insert_jobs_on(&*transaction, &jobs).await?;
        let total = jobs.len() as i32;
        let batch_id: i64 = transaction
            .query_one(
                "INSERT INTO replay_batches (actor, filter, reason, total)
                 VALUES ($1, $2, $3, $4) RETURNING id",
                &[&request.actor, &filter_json(filter), &reason, &total],
            )
            .await
            .map_err(StoreError::db("recording a replay batch"))?
            .get(0);
        let job_ids: Vec<Uuid> = jobs.iter().map(|job| job.id).collect();
        transaction
            .execute(
                "INSERT INTO replays (dead_letter_id, batch_id, job_id, edit_id)
                 SELECT letter, $2, job, edit
                 FROM unnest($1::bigint[], $3::uuid[], $4::bigint[]) AS r (letter, job, edit)",
                &[&letter_ids, &batch_id, &job_ids, &edit_ids],
            )
            .await
            .map_err(|error| {
                if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                    // Unreachable while the lock above holds; the index is the last guard.
                    ChangeError::Conflict(
                        "one of these letters was replayed meanwhile; run the dry run again".into(),
                    )
                } else {
                    StoreError::db("recording replays")(error).into()
                }
            })?;
        transaction
            .execute(
                "UPDATE dead_letters SET status = 'replayed', resolved_at = now(),
                        resolved_by = $2, resolution_reason = $3
                 WHERE id = ANY($1)",
                &[&letter_ids, &request.actor, &reason],
            )
            .await
            .map_err(StoreError::db("marking letters replayed"))?;
        let replays: Vec<ReplayedLetter> = letter_ids
            .iter()
            .zip(&job_ids)
            .take(LISTED_REPLAYS)
            .map(|(&dead_letter_id, &job_id)| ReplayedLetter {
                dead_letter_id,
                job_id,
            })
            .collect();
        write_audit(
            &transaction,
            &AuditEntry {
                actor: request.actor,
                action: "dead_letter.replay",
                target: (letter_ids.len() == 1).then(|| format!("dead_letter:{}", letter_ids[0])),
                filter: Some(filter_json(filter)),
                count: Some(total),
                reason,
                before: None,
                after: Some(serde_json::json!({
                    "batch_id": batch_id,
                    "forced": request.force_looping,
                    "skipped_looping": skipped_looping,
                    "skipped_unparseable": skipped_unparseable.len(),
                    "replays": replays,
                })),
            },
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a replay"))?;
        Ok(CreatedReplay {
            batch_id,
            total: total.into(),
            skipped_looping,
            skipped_unparseable,
            replays,
        })
    }

    /// Claims up to `limit` committed replays due for publishing, oldest first, skipping those
    /// another publisher holds. Finish the claim with [`ReplayClaim::finish`].
    pub async fn claim_replays(&self, limit: i64) -> Result<ReplayClaim, StoreError> {
        let client = self.client().await?;
        client
            .batch_execute("BEGIN")
            .await
            .map_err(StoreError::db("starting a replay claim"))?;
        let mut claim = ReplayClaim {
            client: Some(client),
            replays: Vec::new(),
        };
        let rows = claim
            .connection()
            .query(
                "SELECT r.id, r.batch_id, r.dead_letter_id, r.job_id, j.envelope,
                        r.publish_attempts
                 FROM replays r JOIN jobs j ON j.id = r.job_id
                 WHERE r.state = 'pending' AND r.next_attempt_at <= now()
                 ORDER BY r.id LIMIT $1
                 FOR UPDATE OF r SKIP LOCKED",
                &[&limit.max(1)],
            )
            .await
            .map_err(StoreError::db("claiming replays to publish"))?;
        claim.replays = rows
            .iter()
            .map(|row| PendingReplay {
                id: row.get(0),
                batch_id: row.get(1),
                dead_letter_id: row.get(2),
                job_id: row.get(3),
                envelope: row.get(4),
                publish_attempts: row.get(5),
            })
            .collect();
        if claim.replays.is_empty() {
            claim.abandon().await;
            return Ok(ReplayClaim {
                client: None,
                replays: Vec::new(),
            });
        }
        Ok(claim)
    }

    /// One replay batch with its progress, if it exists.
    pub async fn replay_batch(&self, id: i64) -> Result<Option<ReplayBatch>, StoreError> {
        Ok(self.replay_batches_where(Some(id), None, 1).await?.pop())
    }

    /// Replay batches, newest first, older than `before_id` when given.
    pub async fn replay_batches(
        &self,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ReplayBatch>, StoreError> {
        self.replay_batches_where(None, before_id, limit.clamp(1, 200))
            .await
    }

    async fn replay_batches_where(
        &self,
        id: Option<i64>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ReplayBatch>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT b.id, b.actor, b.filter, b.reason, b.total, b.published, b.state,
                        b.last_error, b.created_at, b.finished_at,
                        o.unpublished, o.failing, o.in_flight, o.succeeded, o.dead
                 FROM replay_batches b
                 CROSS JOIN LATERAL (
                     SELECT count(*) FILTER (WHERE r.state = 'pending') AS unpublished,
                            count(*) FILTER (WHERE r.state = 'pending' AND r.publish_attempts > 0)
                                AS failing,
                            count(*) FILTER (WHERE r.state = 'published' AND j.status NOT IN
                                ('succeeded', 'superseded', 'dead')) AS in_flight,
                            count(*) FILTER (WHERE r.state = 'published' AND j.status IN
                                ('succeeded', 'superseded')) AS succeeded,
                            count(*) FILTER (WHERE r.state = 'published' AND j.status = 'dead')
                                AS dead
                     FROM replays r LEFT JOIN jobs j ON j.id = r.job_id
                     WHERE r.batch_id = b.id
                 ) o
                 WHERE ($1::bigint IS NULL OR b.id = $1) AND ($2::bigint IS NULL OR b.id < $2)
                 ORDER BY b.id DESC LIMIT $3",
                &[&id, &before_id, &limit],
            )
            .await
            .map_err(StoreError::db("reading replay batches"))?;
        Ok(rows
            .iter()
            .map(|row| ReplayBatch {
                id: row.get(0),
                actor: row.get(1),
                filter: row.get(2),
                reason: row.get(3),
                total: row.get(4),
                published: row.get(5),
                state: row.get(6),
                last_error: row.get(7),
                created_at: row.get(8),
                finished_at: row.get(9),
                outcomes: ReplayOutcomes {
                    unpublished: row.get(10),
                    failing: row.get(11),
                    in_flight: row.get(12),
                    succeeded: row.get(13),
                    dead: row.get(14),
                },
            })
            .collect())
    }

    /// The replays of a batch, by letter id, at most `limit`.
    pub async fn batch_replays(
        &self,
        batch_id: i64,
        limit: i64,
    ) -> Result<Vec<BatchReplay>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT r.dead_letter_id, r.job_id, r.state, j.status, r.publish_attempts,
                        r.last_error, r.published_at
                 FROM replays r LEFT JOIN jobs j ON j.id = r.job_id
                 WHERE r.batch_id = $1 ORDER BY r.dead_letter_id LIMIT $2",
                &[&batch_id, &limit.clamp(1, 1_000)],
            )
            .await
            .map_err(StoreError::db("reading a batch's replays"))?;
        Ok(rows
            .iter()
            .map(|row| BatchReplay {
                dead_letter_id: row.get(0),
                job_id: row.get(1),
                state: row.get(2),
                job_status: row.get(3),
                publish_attempts: row.get(4),
                last_error: row.get(5),
                published_at: row.get(6),
            })
            .collect())
    }

    /// Discards the pending letters matching `filter` (a reason is required): they stay stored,
    /// marked `discarded` with who and why, and one audit row (`dead_letter.discard`) is written.
    /// Nothing pending is a [`ChangeError::Conflict`].
    pub async fn discard_dead_letters(
        &self,
        filter: &DeadLetterFilter,
        actor: &str,
        reason: &str,
        max_letters: i64,
    ) -> Result<Discarded, ChangeError> {
        let reason = checked_reason(Some(reason), true)?;
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a discard transaction"))?;
        let limit = max_letters.max(1) + 1;
        let params = filter.params();
        let ids: Vec<i64> = transaction
            .query(
                &format!(
                    "SELECT d.id FROM dead_letters d
                     WHERE {FILTER_SQL} AND d.status = 'pending'
                     ORDER BY d.id LIMIT $13 FOR UPDATE"
                ),
                &params.with(&[&limit]),
            )
            .await
            .map_err(StoreError::db("locking letters to discard"))?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if ids.len() as i64 > max_letters {
            return Err(ChangeError::Invalid(format!(
                "filter: more than {max_letters} pending letters match; one discard takes at \
                 most {max_letters}: narrow the filter"
            )));
        }
        if ids.is_empty() {
            let why = explain_nothing_pending(&transaction, filter, "discard").await?;
            return Err(ChangeError::Conflict(why));
        }
        transaction
            .execute(
                "UPDATE dead_letters SET status = 'discarded', resolved_at = now(),
                        resolved_by = $2, resolution_reason = $3
                 WHERE id = ANY($1)",
                &[&ids, &actor, &reason],
            )
            .await
            .map_err(StoreError::db("discarding letters"))?;
        let listed: Vec<i64> = ids.iter().copied().take(LISTED_REPLAYS).collect();
        write_audit(
            &transaction,
            &AuditEntry {
                actor,
                action: "dead_letter.discard",
                target: (ids.len() == 1).then(|| format!("dead_letter:{}", ids[0])),
                filter: Some(filter_json(filter)),
                count: Some(ids.len() as i32),
                reason,
                before: Some(serde_json::json!({"status": "pending"})),
                after: Some(serde_json::json!({"status": "discarded", "ids": listed})),
            },
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a discard"))?;
        Ok(Discarded {
            count: ids.len() as i64,
            ids: listed,
        })
    }

    /// A letter's original and current payload (what a replay would send), if it exists.
    pub async fn dead_letter_payload(
        &self,
        dead_letter_id: i64,
    ) -> Result<Option<CurrentPayload>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT d.status, d.payload, COALESCE(e.payload, d.payload),
                        COALESCE(e.version, 0)
                 FROM dead_letters d
                 LEFT JOIN LATERAL (
                     SELECT payload, version FROM dead_letter_edits
                     WHERE dead_letter_id = d.id ORDER BY version DESC LIMIT 1
                 ) e ON true
                 WHERE d.id = $1",
                &[&dead_letter_id],
            )
            .await
            .map_err(StoreError::db("reading a letter's payload"))?;
        Ok(row.map(|row| CurrentPayload {
            dead_letter_id,
            status: row.get(0),
            original: row.get(1),
            current: row.get(2),
            version: row.get(3),
        }))
    }

    /// Stores a new version of a pending letter's payload. `diff` receives the current payload
    /// (inside the transaction, with the letter locked) and returns what changed, or why the
    /// edit is refused (say, nothing changed). The original stays in `dead_letters.payload`;
    /// one audit row (`dead_letter.edit`) keeps the payload before and after.
    pub async fn edit_dead_letter<F>(
        &self,
        request: &EditRequest<'_>,
        diff: F,
    ) -> Result<DeadLetterEdit, ChangeError>
    where
        F: FnOnce(&[u8]) -> Result<serde_json::Value, String> + Send,
    {
        let reason = checked_reason(Some(request.reason), true)?.unwrap_or_default();
        let id = request.dead_letter_id;
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting an edit transaction"))?;
        let row = transaction
            .query_opt(
                "SELECT d.status, r.batch_id, d.resolved_by
                 FROM dead_letters d LEFT JOIN replays r ON r.dead_letter_id = d.id
                 WHERE d.id = $1 FOR UPDATE OF d",
                &[&id],
            )
            .await
            .map_err(StoreError::db("locking a letter to edit"))?
            .ok_or_else(|| ChangeError::NotFound(format!("no dead letter {id}")))?;
        let status: String = row.get(0);
        match status.as_str() {
            "pending" => {}
            "replayed" => {
                let batch: Option<i64> = row.get(1);
                return Err(ChangeError::Conflict(format!(
                    "dead letter {id} was already replayed (batch {}); only pending letters can \
                     be edited",
                    batch.map_or_else(|| "?".to_owned(), |batch| batch.to_string())
                )));
            }
            other => {
                let by: Option<String> = row.get(2);
                return Err(ChangeError::Conflict(format!(
                    "dead letter {id} was {other} by {}; only pending letters can be edited",
                    by.as_deref().unwrap_or("someone")
                )));
            }
        }
        let current = transaction
            .query_one(
                "SELECT COALESCE(e.payload, d.payload), COALESCE(e.version, 0)
                 FROM dead_letters d
                 LEFT JOIN LATERAL (
                     SELECT payload, version FROM dead_letter_edits
                     WHERE dead_letter_id = d.id ORDER BY version DESC LIMIT 1
                 ) e ON true
                 WHERE d.id = $1",
                &[&id],
            )
            .await
            .map_err(StoreError::db("reading a letter's payload"))?;
        let current_payload: Vec<u8> = current.get(0);
        let current_version: i32 = current.get(1);
        if let Some(base) = request.base_version {
            if base != current_version {
                return Err(ChangeError::Conflict(format!(
                    "dead letter {id} was edited meanwhile (now at version {current_version}, \
                     you started from version {base}); reload and edit again"
                )));
            }
        }
        let diff = diff(&current_payload).map_err(ChangeError::Invalid)?;
        let version = current_version + 1;
        let row = transaction
            .query_one(
                "INSERT INTO dead_letter_edits (dead_letter_id, version, payload, diff, reason,
                                                actor)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, created_at",
                &[
                    &id,
                    &version,
                    &request.payload,
                    &diff,
                    &reason,
                    &request.actor,
                ],
            )
            .await
            .map_err(StoreError::db("storing an edit"))?;
        write_audit(
            &transaction,
            &AuditEntry {
                actor: request.actor,
                action: "dead_letter.edit",
                target: Some(format!("dead_letter:{id}")),
                filter: None,
                count: Some(1),
                reason: Some(reason),
                before: Some(payload_json(&current_payload, current_version)),
                after: Some(serde_json::json!({
                    "version": version,
                    "payload": payload_value(request.payload),
                    "diff": diff,
                })),
            },
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing an edit"))?;
        Ok(DeadLetterEdit {
            id: row.get(0),
            dead_letter_id: id,
            version,
            payload: request.payload.to_vec(),
            diff,
            reason: reason.to_owned(),
            actor: request.actor.to_owned(),
            created_at: row.get(1),
        })
    }

    /// Every edit of a letter, newest first.
    pub async fn dead_letter_edits(
        &self,
        dead_letter_id: i64,
    ) -> Result<Vec<DeadLetterEdit>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, version, payload, diff, reason, actor, created_at
                 FROM dead_letter_edits WHERE dead_letter_id = $1 ORDER BY version DESC",
                &[&dead_letter_id],
            )
            .await
            .map_err(StoreError::db("reading a letter's edits"))?;
        Ok(rows
            .iter()
            .map(|row| DeadLetterEdit {
                id: row.get(0),
                dead_letter_id,
                version: row.get(1),
                payload: row.get(2),
                diff: row.get(3),
                reason: row.get(4),
                actor: row.get(5),
                created_at: row.get(6),
            })
            .collect())
    }
}

impl ReplayClaim {
    /// The claimed replays, oldest first (empty: nothing is due).
    pub fn replays(&self) -> &[PendingReplay] {
        &self.replays
    }

    fn connection(&self) -> &tokio_postgres::Client {
        let wrapper = self
            .client
            .as_deref()
            .expect("an unfinished claim holds its connection");
        wrapper
    }

    /// Commits the outcome: `published` replays are marked published (their batches' counters
    /// advance; a batch whose every replay is out is done); each of `failed` (replay id, why)
    /// is retried after a delay growing with its failures (1 s, 2 s, 4 s, ... at most 60 s),
    /// and its batch shows why. Replays in neither list are released untouched.
    pub async fn finish(
        mut self,
        published: &[i64],
        failed: &[(i64, String)],
    ) -> Result<(), StoreError> {
        if self.client.is_none() {
            return Ok(());
        }
        let connection = self.connection();
        if !published.is_empty() {
            connection
                .execute(
                    "WITH published AS (
                         UPDATE replays SET state = 'published', published_at = now(),
                                last_error = NULL
                         WHERE id = ANY($1) AND state = 'pending' RETURNING batch_id
                     ), counts AS (
                         SELECT batch_id, count(*)::int AS n FROM published GROUP BY batch_id
                     )
                     UPDATE replay_batches b SET
                         published = b.published + counts.n,
                         state = CASE WHEN b.published + counts.n >= b.total
                                      THEN 'done' ELSE b.state END,
                         finished_at = CASE WHEN b.published + counts.n >= b.total
                                            THEN now() ELSE b.finished_at END,
                         last_error = CASE WHEN b.published + counts.n >= b.total
                                           THEN NULL ELSE b.last_error END
                     FROM counts WHERE b.id = counts.batch_id",
                    &[&published],
                )
                .await
                .map_err(StoreError::db("marking replays published"))?;
        }
        if !failed.is_empty() {
            let ids: Vec<i64> = failed.iter().map(|(id, _)| *id).collect();
            let errors: Vec<&str> = failed.iter().map(|(_, error)| error.as_str()).collect();
            connection
                .execute(
                    "WITH failed AS (
                         UPDATE replays r SET
                             publish_attempts = r.publish_attempts + 1,
                             last_error = f.error,
                             next_attempt_at = now() + make_interval(
                                 secs => least(60, power(2, least(r.publish_attempts, 10))))
                         FROM unnest($1::bigint[], $2::text[]) AS f (id, error)
                         WHERE r.id = f.id AND r.state = 'pending'
                         RETURNING r.batch_id, f.error
                     )
                     UPDATE replay_batches b SET last_error = failed.error
                     FROM failed WHERE b.id = failed.batch_id",
                    &[&ids, &errors],
                )
                .await
                .map_err(StoreError::db("recording replay publishing failures"))?;
        }
        let connection = self.connection();
        connection
            .batch_execute("COMMIT")
            .await
            .map_err(StoreError::db("committing published replays"))?;
        // Committed: the connection is clean and may go back to the pool.
        drop(self.client.take());
        Ok(())
    }

    /// Releases the claim without recording anything (the replays stay pending).
    pub async fn abandon(mut self) {
        if let Some(client) = self.client.take() {
            if client.batch_execute("ROLLBACK").await.is_err() {
                // Unknown state: never hand this connection to anyone else.
                let _ = deadpool_postgres::Object::take(client);
            }
        }
    }
}

impl Drop for ReplayClaim {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Dropped mid-transaction (a panic, a cancelled task): close the connection, which
            // rolls back, instead of returning an open transaction to the pool.
            let _ = deadpool_postgres::Object::take(client);
        }
    }
}

/// A payload as JSON for the audit log: the JSON itself when it is JSON, else its text.
fn payload_value(payload: &[u8]) -> serde_json::Value {
    serde_json::from_slice(payload)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(payload).into()))
}

fn payload_json(payload: &[u8], version: i32) -> serde_json::Value {
    serde_json::json!({"version": version, "payload": payload_value(payload)})
}

/// Says precisely why a replay of `request` found nothing to replay.
async fn explain_nothing_to_replay(
    transaction: &deadpool_postgres::Transaction<'_>,
    request: &ReplayRequest<'_>,
    skipped_looping: i64,
    skipped_unparseable: &[(i64, String)],
) -> Result<String, StoreError> {
    // Look past the filter's status: "already replayed" is the answer most often wanted.
    let any_status = DeadLetterFilter {
        status: None,
        ..request.filter.clone()
    };
    if let Some(ids) = &request.filter.ids {
        if ids.len() <= 10 {
            return explain_ids(transaction, &any_status, ids, request, skipped_unparseable).await;
        }
    }
    let counts = verdict_counts(&**transaction, &any_status, request.loop_limit).await?;
    let count = |verdict: &str| {
        counts
            .iter()
            .find(|(name, _)| name == verdict)
            .map_or(0, |(_, letters)| *letters)
    };
    let matching: i64 = counts.iter().map(|(_, letters)| letters).sum();
    if matching == 0 {
        return Ok("nothing to replay: no dead letter matches the filter".into());
    }
    let mut parts = Vec::new();
    for (verdict, label) in [("replayed", "already replayed"), ("discarded", "discarded")] {
        if count(verdict) > 0 {
            parts.push(format!("{} {label}", count(verdict)));
        }
    }
    if skipped_looping > 0 {
        parts.push(format!(
            "{skipped_looping} looping (replayed {} times or more without success; force to \
             replay them anyway)",
            request.loop_limit
        ));
    }
    let unparseable = skipped_unparseable.len() as i64;
    if unparseable > 0 {
        parts.push(format!(
            "{unparseable} not a job envelope (edit the payload first)"
        ));
    }
    Ok(format!(
        "nothing to replay: of the {matching} letters matching the filter (any status), {}",
        if parts.is_empty() {
            "none is pending".to_owned()
        } else {
            parts.join(", ")
        }
    ))
}

/// The reason, letter by letter, a few explicitly selected letters cannot be replayed.
async fn explain_ids(
    transaction: &deadpool_postgres::Transaction<'_>,
    any_status: &DeadLetterFilter,
    ids: &[i64],
    request: &ReplayRequest<'_>,
    skipped_unparseable: &[(i64, String)],
) -> Result<String, StoreError> {
    let params = any_status.params();
    let rows = transaction
        .query(
            &format!(
                "SELECT d.id, d.status, d.replay_generation, d.resolved_by,
                        d.resolution_reason, r.job_id, r.batch_id
                 FROM dead_letters d LEFT JOIN replays r ON r.dead_letter_id = d.id
                 WHERE {FILTER_SQL} ORDER BY d.id"
            ),
            &params.with(&[]),
        )
        .await
        .map_err(StoreError::db("explaining a refused replay"))?;
    let mut reasons = Vec::new();
    for &id in ids {
        let Some(row) = rows.iter().find(|row| row.get::<_, i64>(0) == id) else {
            reasons.push(if any_status == &only_ids(ids) {
                format!("dead letter {id} does not exist")
            } else {
                format!("dead letter {id} does not exist or does not match the filter")
            });
            continue;
        };
        let status: &str = row.get(1);
        let generation: i32 = row.get(2);
        let resolved_by: Option<&str> = row.get(3);
        let resolution: Option<&str> = row.get(4);
        let job: Option<Uuid> = row.get(5);
        let batch: Option<i64> = row.get(6);
        let mut reason = String::new();
        match status {
            "replayed" => {
                let _ = write!(reason, "dead letter {id} was already replayed");
                if let (Some(job), Some(batch)) = (job, batch) {
                    let _ = write!(reason, " (job {job}, batch {batch})");
                }
            }
            "discarded" => {
                let _ = write!(
                    reason,
                    "dead letter {id} was discarded by {}",
                    resolved_by.unwrap_or("someone")
                );
                if let Some(resolution) = resolution {
                    let _ = write!(reason, ": {resolution}");
                }
            }
            _ => {
                if let Some((_, why)) = skipped_unparseable.iter().find(|(letter, _)| *letter == id)
                {
                    let _ = write!(
                        reason,
                        "dead letter {id} cannot be replayed as stored ({why}): edit the payload \
                         first"
                    );
                } else if generation >= request.loop_limit && !request.force_looping {
                    let _ = write!(
                        reason,
                        "dead letter {id} is looping: its job was replayed {generation} times \
                         without success (limit {}); force to replay it anyway",
                        request.loop_limit
                    );
                } else {
                    let _ = write!(reason, "dead letter {id} is pending but not selected");
                }
            }
        }
        reasons.push(reason);
    }
    Ok(reasons.join("; "))
}

fn only_ids(ids: &[i64]) -> DeadLetterFilter {
    DeadLetterFilter {
        ids: Some(ids.to_vec()),
        ..Default::default()
    }
}

/// Says why a change found no pending letter to act on.
async fn explain_nothing_pending(
    transaction: &deadpool_postgres::Transaction<'_>,
    filter: &DeadLetterFilter,
    action: &str,
) -> Result<String, StoreError> {
    let any_status = DeadLetterFilter {
        status: None,
        ..filter.clone()
    };
    let params = any_status.params();
    let rows = transaction
        .query(
            &format!(
                "SELECT d.status, count(*), min(d.id) FROM dead_letters d WHERE {FILTER_SQL}
                 GROUP BY d.status"
            ),
            &params.with(&[]),
        )
        .await
        .map_err(StoreError::db("explaining a refused change"))?;
    if rows.is_empty() {
        return Ok(format!(
            "nothing to {action}: no dead letter matches the filter"
        ));
    }
    let parts: Vec<String> = rows
        .iter()
        .map(|row| {
            let status: &str = row.get(0);
            let letters: i64 = row.get(1);
            let first: i64 = row.get(2);
            if letters == 1 {
                format!("dead letter {first} is {status}")
            } else {
                format!("{letters} are {status}")
            }
        })
        .collect();
    Ok(format!(
        "nothing to {action}: no matching letter is pending ({})",
        parts.join(", ")
    ))
}

// The statements above number their own parameters from `$13`.
const _: () = assert!(FILTER_PARAMS == 12);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_trimmed_bounded_and_required_where_asked() {
        assert!(matches!(
            checked_reason(Some("   "), true),
            Err(ChangeError::Invalid(message)) if message.starts_with("reason: required")
        ));
        assert_eq!(checked_reason(Some("  "), false).unwrap(), None);
        assert_eq!(checked_reason(None, false).unwrap(), None);
        assert_eq!(
            checked_reason(Some(" shop fixed "), true).unwrap(),
            Some("shop fixed")
        );
        let long = "x".repeat(MAX_REASON_CHARS + 1);
        assert!(matches!(
            checked_reason(Some(&long), false),
            Err(ChangeError::Invalid(message)) if message.starts_with("reason: at most")
        ));
    }

    #[test]
    fn audit_payloads_are_json_when_they_can_be() {
        assert_eq!(payload_value(br#"{"a":1}"#), serde_json::json!({"a": 1}));
        assert_eq!(payload_value(b"{broken"), serde_json::json!("{broken"));
    }
}
