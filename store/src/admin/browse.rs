//! Reading dead letters: a filtered list (newest first, keyset-paginated), groups by error
//! signature with counts and first/last seen, and one letter in full — its payload, every
//! attempt of its job and of the jobs it was replayed from, its lineage (original → replays),
//! its payload edits and its replay.
//!
//! Every filtered query goes through [`FILTER_SQL`], so a page shows exactly what a replay of
//! the same filter would take. Every query here is served by an index (see V5) and stays fast
//! on 100,000 letters: the list walks `id DESC` under the filter and stops at the page size,
//! the groups aggregate only the narrow signature/time columns and fetch each group's text
//! from one sample row, the detail reads by primary and foreign keys.

use super::filter::{DeadLetterFilter, DeadLetterStatus, FILTER_PARAMS, FILTER_SQL};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// Characters of a reason shown in lists (the detail shows all of it).
pub const LIST_REASON_CHARS: i32 = 300;
/// Most letters in one list page.
pub const MAX_LIST_LIMIT: i64 = 200;
/// Most groups in one answer.
pub const MAX_GROUP_LIMIT: i64 = 500;
/// How far lineage is followed in each direction. A chain this long is a replay loop the loop
/// guard should have stopped long before; the bound only keeps a corrupt cycle from spinning.
pub const MAX_LINEAGE_DEPTH: i32 = 100;

/// One dead letter in a list: everything but the payload, with the reason cut to
/// [`LIST_REASON_CHARS`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetterSummary {
    /// Row id (the keyset cursor).
    pub id: i64,
    /// The job, when the body parsed far enough to name one.
    pub job_id: Option<Uuid>,
    /// Connector kind, when known.
    pub connector: Option<String>,
    /// Tenant, when known.
    pub tenant: Option<String>,
    /// Source, when known.
    pub source: Option<String>,
    /// Stream, when known.
    pub stream: Option<String>,
    /// Failure class.
    pub class: String,
    /// The reason, at most [`LIST_REASON_CHARS`] characters.
    pub reason: String,
    /// Whether `reason` was cut.
    pub reason_truncated: bool,
    /// `worker` or `broker`.
    pub origin: String,
    /// Failed attempts spent.
    pub attempts: i32,
    /// HTTP status behind the failure, if any.
    pub http_status: Option<i32>,
    /// Where the letter is in its life.
    pub status: DeadLetterStatus,
    /// How many replays of replays led to this letter (0: an original failure).
    pub replay_generation: i32,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it last arrived (redeliveries of the same letter).
    pub last_seen_at: DateTime<Utc>,
    /// Times it arrived.
    pub deliveries: i32,
    /// Error signature (the group key).
    pub signature: String,
}

/// How to order groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupOrder {
    /// Most recently seen first.
    #[default]
    Recent,
    /// Most letters first.
    Largest,
}

impl GroupOrder {
    /// The name used in query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupOrder::Recent => "recent",
            GroupOrder::Largest => "largest",
        }
    }

    /// Parses `recent` or `largest`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "recent" => Some(GroupOrder::Recent),
            "largest" => Some(GroupOrder::Largest),
            _ => None,
        }
    }

    fn order_by(self) -> &'static str {
        match self {
            GroupOrder::Recent => "last_seen DESC, letters DESC, signature",
            GroupOrder::Largest => "letters DESC, last_seen DESC, signature",
        }
    }
}

/// Dead letters sharing one error signature (class + connector + normalised reason).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetterGroup {
    /// The group key (use it as the `signature` filter).
    pub signature: String,
    /// Failure class.
    pub class: String,
    /// Connector kind, when known.
    pub connector: Option<String>,
    /// The reason with its variable parts replaced (`<n>`, `<id>`, `<url>`, ...).
    pub signature_text: String,
    /// Letters in the group (under the filter).
    pub count: i64,
    /// When the oldest was stored.
    pub first_seen: DateTime<Utc>,
    /// When the latest arrived.
    pub last_seen: DateTime<Utc>,
    /// The newest letter of the group.
    pub sample_id: i64,
    /// Its reason, at most [`LIST_REASON_CHARS`] characters.
    pub sample_reason: String,
}

/// One delivery of a job as the ledger logged it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRecord {
    /// The job it was a delivery of.
    pub job_id: Uuid,
    /// The dead letter that job became, if it died (labels attempts of other generations).
    pub dead_letter_id: Option<i64>,
    /// Which worker handled it.
    pub worker: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// `finished_at - started_at`, in milliseconds.
    pub duration_ms: i64,
    /// How it ended (`succeeded`, `retry`, `snoozed`, `dead`, ...).
    pub outcome: String,
    /// Failure class, when it failed.
    pub error_class: Option<String>,
    /// Error text, when it failed.
    pub error: Option<String>,
    /// HTTP status behind the failure, if any.
    pub http_status: Option<i32>,
    /// Pages committed.
    pub pages: i32,
    /// Records committed.
    pub records: i64,
}

/// A replay of a dead letter: the job it created and how far that got.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayRecord {
    /// The replay batch (one replay request).
    pub batch_id: i64,
    /// The new job.
    pub job_id: Uuid,
    /// `pending` (not yet published) or `published`.
    pub state: String,
    /// The payload edit it replayed, if any.
    pub edit_id: Option<i64>,
    /// When the replay was requested.
    pub created_at: DateTime<Utc>,
    /// When it was published.
    pub published_at: Option<DateTime<Utc>>,
    /// The new job's status in the ledger (`queued`, `running`, `succeeded`, `dead`, ...), once
    /// it has a ledger row.
    pub job_status: Option<String>,
}

/// One step of a lineage: a dead letter and, when it was replayed, that replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineageStep {
    /// Position relative to the letter asked about: negative for the letters it was replayed
    /// from, 0 for itself, positive for letters its replays became.
    pub depth: i32,
    /// The letter at this step.
    pub dead_letter_id: i64,
    /// Its job, when known.
    pub job_id: Option<Uuid>,
    /// Its state.
    pub status: DeadLetterStatus,
    /// Its failure class.
    pub class: String,
    /// Its reason, at most [`LIST_REASON_CHARS`] characters.
    pub reason: String,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// Its replay generation.
    pub replay_generation: i32,
    /// Its replay, if it was replayed. The last step's replay, when its job has not died, is
    /// where the lineage currently ends (`job_status` says whether it succeeded).
    pub replay: Option<ReplayRecord>,
}

/// A payload edited before replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PayloadEdit {
    /// Edit row id.
    pub id: i64,
    /// 1 for the first edit of a letter, then 2, ...
    pub version: i32,
    /// Who edited.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// What changed (as the editor recorded it).
    pub diff: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// One dead letter in full.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetterDetail {
    /// The list fields (with the whole reason, `reason_truncated` false).
    pub summary: DeadLetterSummary,
    /// What deduplicates redeliveries.
    pub dedup_key: String,
    /// The original message body, byte for byte.
    pub payload: Vec<u8>,
    /// The parsed envelope, when the body parsed.
    pub envelope: Option<serde_json::Value>,
    /// The message's AMQP properties and headers.
    pub headers: serde_json::Value,
    /// The queue it was consumed from.
    pub queue: Option<String>,
    /// Its routing key.
    pub routing_key: Option<String>,
    /// The worker that decided (none for broker-side dead letters).
    pub worker: Option<String>,
    /// The normalised reason (what the group shows).
    pub signature_text: String,
    /// When it was replayed or discarded.
    pub resolved_at: Option<DateTime<Utc>>,
    /// By whom.
    pub resolved_by: Option<String>,
    /// Why (discards).
    pub resolution_reason: Option<String>,
    /// Every attempt of its job and of the jobs of the letters it was replayed from (and of its
    /// replay jobs), oldest first, each labelled with its job and that job's letter.
    pub attempts: Vec<AttemptRecord>,
    /// Original → replays, oldest first; includes this letter at depth 0.
    pub lineage: Vec<LineageStep>,
    /// Payload edits, oldest first.
    pub edits: Vec<PayloadEdit>,
    /// Its replay, if it was replayed.
    pub replay: Option<ReplayRecord>,
}

/// The summary columns, in the order [`summary_from_row`] reads them; `$reason_chars` is the
/// parameter holding the reason length to cut at.
fn summary_columns(reason_chars: &str) -> String {
    format!(
        "d.id, d.job_id, d.connector, d.tenant_id, d.source, d.stream, d.class,
         left(d.reason, {reason_chars}), char_length(d.reason) > {reason_chars},
         d.origin, d.attempts, d.http_status, d.status, d.replay_generation, d.created_at,
         d.last_seen_at, d.deliveries, d.signature"
    )
}

/// How many columns [`summary_columns`] yields.
const SUMMARY_COLUMNS: usize = 18;

fn status_from(text: &str) -> DeadLetterStatus {
    // The table's CHECK constraint admits only the three names parse() knows.
    DeadLetterStatus::parse(text).unwrap_or(DeadLetterStatus::Pending)
}

fn summary_from_row(row: &tokio_postgres::Row) -> DeadLetterSummary {
    DeadLetterSummary {
        id: row.get(0),
        job_id: row.get(1),
        connector: row.get(2),
        tenant: row.get(3),
        source: row.get(4),
        stream: row.get(5),
        class: row.get(6),
        reason: row.get(7),
        reason_truncated: row.get(8),
        origin: row.get(9),
        attempts: row.get(10),
        http_status: row.get(11),
        status: status_from(row.get(12)),
        replay_generation: row.get(13),
        created_at: row.get(14),
        last_seen_at: row.get(15),
        deliveries: row.get(16),
        signature: row.get(17),
    }
}

fn replay_from_row(row: &tokio_postgres::Row, first: usize) -> Option<ReplayRecord> {
    let batch_id: Option<i64> = row.get(first);
    Some(ReplayRecord {
        batch_id: batch_id?,
        job_id: row.get(first + 1),
        state: row.get(first + 2),
        edit_id: row.get(first + 3),
        created_at: row.get(first + 4),
        published_at: row.get(first + 5),
        job_status: row.get(first + 6),
    })
}

/// The replay columns read by [`replay_from_row`], over `replays r LEFT JOIN jobs rj`.
const REPLAY_COLUMNS: &str =
    "r.batch_id, r.job_id, r.state, r.edit_id, r.created_at, r.published_at, rj.status";

impl Store {
    /// Dead letters matching `filter`, newest first (by id), at most `limit` (capped at
    /// [`MAX_LIST_LIMIT`]); `after` is the keyset cursor: only letters with a smaller id. The
    /// filter should have been validated ([`DeadLetterFilter::validate`]).
    pub async fn list_dead_letters(
        &self,
        filter: &DeadLetterFilter,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<DeadLetterSummary>, StoreError> {
        let client = self.client().await?;
        let limit = limit.clamp(1, MAX_LIST_LIMIT);
        let sql = format!(
            "SELECT {columns} FROM dead_letters d
             WHERE {FILTER_SQL} AND (${after}::bigint IS NULL OR d.id < ${after})
             ORDER BY d.id DESC LIMIT ${limit}",
            columns = summary_columns(&LIST_REASON_CHARS.to_string()),
            after = FILTER_PARAMS + 1,
            limit = FILTER_PARAMS + 2,
        );
        let params = filter.params();
        let rows = client
            .query(&sql, &params.with(&[&after, &limit]))
            .await
            .map_err(StoreError::db("listing dead letters"))?;
        Ok(rows.iter().map(summary_from_row).collect())
    }

    /// Groups of dead letters matching `filter` by error signature, in `order`, at most `limit`
    /// (capped at [`MAX_GROUP_LIMIT`]).
    pub async fn dead_letter_groups(
        &self,
        filter: &DeadLetterFilter,
        order: GroupOrder,
        limit: i64,
    ) -> Result<Vec<DeadLetterGroup>, StoreError> {
        let client = self.client().await?;
        let limit = limit.clamp(1, MAX_GROUP_LIMIT);
        // Aggregate only the narrow columns; the wide text of each group (class, connector,
        // normalised reason, a sample reason) comes from its newest letter, one row per group.
        let sql = format!(
            "WITH groups AS (
                 SELECT d.signature, count(*) AS letters, min(d.created_at) AS first_seen,
                        max(d.last_seen_at) AS last_seen, max(d.id) AS sample_id
                 FROM dead_letters d
                 WHERE {FILTER_SQL}
                 GROUP BY d.signature
                 ORDER BY {order} LIMIT ${limit})
             SELECT g.signature, s.class, s.connector, s.signature_text, g.letters, g.first_seen,
                    g.last_seen, g.sample_id, left(s.reason, {LIST_REASON_CHARS})
             FROM groups g JOIN dead_letters s ON s.id = g.sample_id
             ORDER BY {order}",
            order = order.order_by(),
            limit = FILTER_PARAMS + 1,
        );
        let params = filter.params();
        let rows = client
            .query(&sql, &params.with(&[&limit]))
            .await
            .map_err(StoreError::db("grouping dead letters"))?;
        Ok(rows
            .iter()
            .map(|row| DeadLetterGroup {
                signature: row.get(0),
                class: row.get(1),
                connector: row.get(2),
                signature_text: row.get(3),
                count: row.get(4),
                first_seen: row.get(5),
                last_seen: row.get(6),
                sample_id: row.get(7),
                sample_reason: row.get(8),
            })
            .collect())
    }

    /// One dead letter in full, with its attempts, lineage, edits and replay; `None` when there
    /// is no letter `id`. Read in one repeatable-read transaction, so the parts agree.
    pub async fn dead_letter(&self, id: i64) -> Result<Option<DeadLetterDetail>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(StoreError::db("starting a dead-letter read"))?;
        let sql = format!(
            "SELECT {columns}, d.dedup_key, d.payload, d.envelope, d.headers, d.queue,
                    d.routing_key, d.worker, d.signature_text, d.resolved_at, d.resolved_by,
                    d.resolution_reason
             FROM dead_letters d WHERE d.id = $1",
            // No cut: i32::MAX characters is the whole reason.
            columns = summary_columns(&i32::MAX.to_string()),
        );
        let Some(row) = transaction
            .query_opt(&sql, &[&id])
            .await
            .map_err(StoreError::db("reading a dead letter"))?
        else {
            return Ok(None);
        };
        let base = SUMMARY_COLUMNS;
        let mut detail = DeadLetterDetail {
            summary: summary_from_row(&row),
            dedup_key: row.get(base),
            payload: row.get(base + 1),
            envelope: row.get(base + 2),
            headers: row.get(base + 3),
            queue: row.get(base + 4),
            routing_key: row.get(base + 5),
            worker: row.get(base + 6),
            signature_text: row.get(base + 7),
            resolved_at: row.get(base + 8),
            resolved_by: row.get(base + 9),
            resolution_reason: row.get(base + 10),
            attempts: Vec::new(),
            lineage: Vec::new(),
            edits: Vec::new(),
            replay: None,
        };

        detail.lineage = lineage(&transaction, id, detail.summary.job_id).await?;
        detail.replay = detail
            .lineage
            .iter()
            .find(|step| step.depth == 0)
            .and_then(|step| step.replay.clone());

        // Attempts of this letter's job and of the jobs of the letters it was replayed from
        // (each labelled with its letter), and of this letter's replay job (how the replay is
        // going). Later generations have their own letters and pages.
        let mut jobs: Vec<Uuid> = Vec::new();
        let mut letters: Vec<Option<i64>> = Vec::new();
        for step in detail.lineage.iter().filter(|step| step.depth <= 0) {
            if let Some(job) = step.job_id {
                jobs.push(job);
                letters.push(Some(step.dead_letter_id));
            }
        }
        if let Some(replay) = &detail.replay {
            if !jobs.contains(&replay.job_id) {
                // Labelled with its own letter if the replay died too.
                let letter = detail
                    .lineage
                    .iter()
                    .find(|step| step.depth == 1 && step.job_id == Some(replay.job_id))
                    .map(|step| step.dead_letter_id);
                jobs.push(replay.job_id);
                letters.push(letter);
            }
        }
        if !jobs.is_empty() {
            let rows = transaction
                .query(
                    "SELECT a.job_id, l.letter_id, a.worker, a.started_at, a.finished_at,
                            (extract(epoch FROM a.finished_at - a.started_at) * 1000)::bigint,
                            a.outcome, a.error_class, a.error, a.http_status, a.pages, a.records
                     FROM unnest($1::uuid[], $2::bigint[]) AS l(job_id, letter_id)
                     JOIN job_attempts a ON a.job_id = l.job_id
                     ORDER BY a.started_at, a.id",
                    &[&jobs, &letters],
                )
                .await
                .map_err(StoreError::db("reading a dead letter's attempts"))?;
            detail.attempts = rows
                .iter()
                .map(|row| AttemptRecord {
                    job_id: row.get(0),
                    dead_letter_id: row.get(1),
                    worker: row.get(2),
                    started_at: row.get(3),
                    finished_at: row.get(4),
                    duration_ms: row.get(5),
                    outcome: row.get(6),
                    error_class: row.get(7),
                    error: row.get(8),
                    http_status: row.get(9),
                    pages: row.get(10),
                    records: row.get(11),
                })
                .collect();
        }

        let rows = transaction
            .query(
                "SELECT id, version, actor, reason, diff, created_at FROM dead_letter_edits
                 WHERE dead_letter_id = $1 ORDER BY version",
                &[&id],
            )
            .await
            .map_err(StoreError::db("reading a dead letter's edits"))?;
        detail.edits = rows
            .iter()
            .map(|row| PayloadEdit {
                id: row.get(0),
                version: row.get(1),
                actor: row.get(2),
                reason: row.get(3),
                diff: row.get(4),
                created_at: row.get(5),
            })
            .collect();
        transaction
            .commit()
            .await
            .map_err(StoreError::db("ending a dead-letter read"))?;
        Ok(Some(detail))
    }
}

/// The letters `id` was replayed from (oldest first), itself, and the letters its replays
/// became, each with its replay.
///
/// Upwards: a letter's job, or the job its run continued from (`parent_id`), names the job it
/// replays in `replay_of`; that job's letter is the previous step. Downwards: a letter's
/// replay (`replays`) names the new job; the letter of that job, or of a job continuing its run
/// (`root_id`), is the next step.
async fn lineage(
    transaction: &deadpool_postgres::Transaction<'_>,
    id: i64,
    job_id: Option<Uuid>,
) -> Result<Vec<LineageStep>, StoreError> {
    let sql = format!(
        "WITH RECURSIVE
         up(job_id, hop, generation_step) AS (
             SELECT $2::uuid, 0, 0
           UNION ALL
             SELECT COALESCE(j.replay_of, j.parent_id), up.hop + 1,
                    up.generation_step + (j.replay_of IS NOT NULL)::int
             FROM up JOIN jobs j ON j.id = up.job_id
             WHERE COALESCE(j.replay_of, j.parent_id) IS NOT NULL AND up.hop < $3 * 50),
         ancestors AS (
             SELECT DISTINCT ON (up.generation_step) -up.generation_step AS depth, d.id
             FROM up JOIN dead_letters d ON d.job_id = up.job_id
             WHERE up.generation_step > 0
             ORDER BY up.generation_step, up.hop, d.id),
         down(depth, id) AS (
             SELECT 0, $1::bigint
           UNION ALL
             SELECT down.depth + 1, next.id
             FROM down JOIN replays r ON r.dead_letter_id = down.id
             CROSS JOIN LATERAL (
                 -- Two index lookups; an OR of the two made PostgreSQL scan every letter.
                 SELECT x.id FROM (
                     SELECT d.id FROM dead_letters d WHERE d.job_id = r.job_id
                     UNION ALL
                     SELECT d.id FROM jobs c JOIN dead_letters d ON d.job_id = c.id
                     WHERE c.root_id = r.job_id) x
                 ORDER BY x.id LIMIT 1) next
             WHERE down.depth < $3),
         steps AS (
             SELECT depth, id FROM ancestors WHERE depth >= -$3
             UNION ALL SELECT depth, id FROM down)
         SELECT s.depth, d.id, d.job_id, d.status, d.class, left(d.reason, {LIST_REASON_CHARS}),
                d.created_at, d.replay_generation, {REPLAY_COLUMNS}
         FROM steps s JOIN dead_letters d ON d.id = s.id
         LEFT JOIN replays r ON r.dead_letter_id = d.id
         LEFT JOIN jobs rj ON rj.id = r.job_id
         ORDER BY s.depth"
    );
    let rows = transaction
        .query(&sql, &[&id, &job_id, &MAX_LINEAGE_DEPTH])
        .await
        .map_err(StoreError::db("reading a dead letter's lineage"))?;
    Ok(rows
        .iter()
        .map(|row| LineageStep {
            depth: row.get(0),
            dead_letter_id: row.get(1),
            job_id: row.get(2),
            status: status_from(row.get(3)),
            class: row.get(4),
            reason: row.get(5),
            created_at: row.get(6),
            replay_generation: row.get(7),
            replay: replay_from_row(row, 8),
        })
        .collect())
}
