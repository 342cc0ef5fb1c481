//! The JSON shapes of the dead-letter browsing API (and what the CLI decodes). A compatibility
//! promise: fields are added as optional, never renamed or removed.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tributary_store::admin::{
    AttemptRecord, DeadLetterDetail, DeadLetterGroup, DeadLetterSummary, LineageStep, PayloadEdit,
    ReplayRecord,
};
use utoipa::ToSchema;
use uuid::Uuid;

/// One dead letter in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterItem {
    /// Row id; also the keyset cursor (`after`).
    pub id: i64,
    /// The job, when the message parsed far enough to name one.
    pub job_id: Option<Uuid>,
    /// Connector kind, when known.
    pub connector: Option<String>,
    /// Tenant, when known.
    pub tenant: Option<String>,
    /// Source, when known.
    pub source: Option<String>,
    /// Stream, when known.
    pub stream: Option<String>,
    /// Failure class (`permanent`, `auth`, `exhausted`, `malformed_job`, ...).
    pub class: String,
    /// The reason; in lists cut to 300 characters (see `reason_truncated`).
    pub reason: String,
    /// Whether `reason` was cut (the detail has all of it).
    pub reason_truncated: bool,
    /// `worker` (decided by a worker) or `broker` (delivery limit, archived from the dead queue).
    pub origin: String,
    /// Failed attempts spent.
    pub attempts: i32,
    /// HTTP status behind the failure, if any.
    pub http_status: Option<i32>,
    /// `pending`, `replayed` or `discarded`.
    #[schema(example = "pending")]
    pub status: String,
    /// How many replays of replays led to this letter (0: an original failure).
    pub replay_generation: i32,
    /// At or past the configured loop limit (`admin.replay_loop_limit`): replaying it again is
    /// probably pointless.
    pub looping: bool,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it last arrived.
    pub last_seen_at: DateTime<Utc>,
    /// Times it arrived (redeliveries of the same message).
    pub deliveries: i32,
    /// Error signature: its group (use as the `signature` filter).
    pub signature: String,
}

impl DeadLetterItem {
    /// The wire form of a stored summary; `loop_limit` decides `looping`.
    pub fn from_summary(summary: DeadLetterSummary, loop_limit: i32) -> Self {
        Self {
            id: summary.id,
            job_id: summary.job_id,
            connector: summary.connector,
            tenant: summary.tenant,
            source: summary.source,
            stream: summary.stream,
            class: summary.class,
            reason: summary.reason,
            reason_truncated: summary.reason_truncated,
            origin: summary.origin,
            attempts: summary.attempts,
            http_status: summary.http_status,
            status: summary.status.as_str().to_owned(),
            looping: summary.replay_generation >= loop_limit,
            replay_generation: summary.replay_generation,
            created_at: summary.created_at,
            last_seen_at: summary.last_seen_at,
            deliveries: summary.deliveries,
            signature: summary.signature,
        }
    }
}

/// A page of dead letters, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterPage {
    /// The letters.
    pub items: Vec<DeadLetterItem>,
    /// Pass as `after` for the next (older) page; `null` on the last page.
    pub next: Option<i64>,
}

/// Dead letters with one error signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupItem {
    /// The group key; filter letters with `signature=<this>`.
    pub signature: String,
    /// Failure class.
    pub class: String,
    /// Connector kind, when known.
    pub connector: Option<String>,
    /// The reason with its variable parts replaced (`<n>`, `<id>`, `<hex>`, `<url>`, `<value>`).
    pub signature_text: String,
    /// Letters in the group under the filter.
    pub count: i64,
    /// When the oldest was stored.
    pub first_seen: DateTime<Utc>,
    /// When the latest arrived.
    pub last_seen: DateTime<Utc>,
    /// The newest letter of the group.
    pub sample_id: i64,
    /// Its reason (cut to 300 characters).
    pub sample_reason: String,
}

impl From<DeadLetterGroup> for GroupItem {
    fn from(group: DeadLetterGroup) -> Self {
        Self {
            signature: group.signature,
            class: group.class,
            connector: group.connector,
            signature_text: group.signature_text,
            count: group.count,
            first_seen: group.first_seen,
            last_seen: group.last_seen,
            sample_id: group.sample_id,
            sample_reason: group.sample_reason,
        }
    }
}

/// Groups of dead letters by error signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupList {
    /// The groups, in the requested order.
    pub items: Vec<GroupItem>,
    /// Whether more groups match than were returned (raise `limit` or narrow the filter).
    pub more: bool,
    /// The order used: `recent` (last seen first) or `largest` (most letters first).
    #[schema(example = "recent")]
    pub sort: String,
}

/// One delivery of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    /// The job it was a delivery of.
    pub job_id: Uuid,
    /// The dead letter that job became: this letter, one it was replayed from, or the letter
    /// its replay became; none for a replay job that has not died.
    pub dead_letter_id: Option<i64>,
    /// The worker that handled it.
    pub worker: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How long it ran, in milliseconds.
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

impl From<AttemptRecord> for Attempt {
    fn from(attempt: AttemptRecord) -> Self {
        Self {
            job_id: attempt.job_id,
            dead_letter_id: attempt.dead_letter_id,
            worker: attempt.worker,
            started_at: attempt.started_at,
            finished_at: attempt.finished_at,
            duration_ms: attempt.duration_ms,
            outcome: attempt.outcome,
            error_class: attempt.error_class,
            error: attempt.error,
            http_status: attempt.http_status,
            pages: attempt.pages,
            records: attempt.records,
        }
    }
}

/// A replay of a dead letter and how far its job got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Replay {
    /// The replay batch (one replay request).
    pub batch_id: i64,
    /// The new job.
    pub job_id: Uuid,
    /// `pending` (not yet published) or `published`.
    pub state: String,
    /// The payload edit replayed, if any.
    pub edit_id: Option<i64>,
    /// When the replay was requested.
    pub created_at: DateTime<Utc>,
    /// When it was published.
    pub published_at: Option<DateTime<Utc>>,
    /// The new job's status in the ledger (`queued`, `running`, `succeeded`, `dead`, ...).
    pub job_status: Option<String>,
}

impl From<ReplayRecord> for Replay {
    fn from(replay: ReplayRecord) -> Self {
        Self {
            batch_id: replay.batch_id,
            job_id: replay.job_id,
            state: replay.state,
            edit_id: replay.edit_id,
            created_at: replay.created_at,
            published_at: replay.published_at,
            job_status: replay.job_status,
        }
    }
}

/// One step of a lineage: a letter and its replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LineageItem {
    /// Relative to the letter asked about: negative for the letters it was replayed from, 0
    /// for itself, positive for the letters its replays became.
    pub depth: i32,
    /// The letter.
    pub dead_letter_id: i64,
    /// Its job.
    pub job_id: Option<Uuid>,
    /// `pending`, `replayed` or `discarded`.
    pub status: String,
    /// Failure class.
    pub class: String,
    /// Reason (cut to 300 characters).
    pub reason: String,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// Its replay generation.
    pub replay_generation: i32,
    /// Its replay, if replayed; on the last step, where the lineage stands now.
    pub replay: Option<Replay>,
}

impl From<LineageStep> for LineageItem {
    fn from(step: LineageStep) -> Self {
        Self {
            depth: step.depth,
            dead_letter_id: step.dead_letter_id,
            job_id: step.job_id,
            status: step.status.as_str().to_owned(),
            class: step.class,
            reason: step.reason,
            created_at: step.created_at,
            replay_generation: step.replay_generation,
            replay: step.replay.map(Replay::from),
        }
    }
}

/// A payload edited before replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Edit {
    /// Edit id.
    pub id: i64,
    /// 1, 2, ... per letter.
    pub version: i32,
    /// Who edited.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// What changed.
    #[schema(value_type = Object)]
    pub diff: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<PayloadEdit> for Edit {
    fn from(edit: PayloadEdit) -> Self {
        Self {
            id: edit.id,
            version: edit.version,
            actor: edit.actor,
            reason: edit.reason,
            diff: edit.diff,
            created_at: edit.created_at,
        }
    }
}

/// How `payload` is written in [`DeadLetterView`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayloadEncoding {
    /// The payload is valid UTF-8 and given as is.
    Utf8,
    /// The payload is not UTF-8; standard base64 of its bytes.
    Base64,
}

/// One dead letter in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterView {
    /// The list fields (with the whole reason).
    #[serde(flatten)]
    pub letter: DeadLetterItem,
    /// What deduplicates redeliveries (job id, message id or payload hash).
    pub dedup_key: String,
    /// The original message body: text when `payload_encoding` is `utf8`, else base64.
    pub payload: String,
    /// How `payload` is written.
    pub payload_encoding: PayloadEncoding,
    /// The body's size in bytes.
    pub payload_bytes: usize,
    /// The parsed job envelope, when the body parsed.
    #[schema(value_type = Option<Object>)]
    pub envelope: Option<serde_json::Value>,
    /// The message's AMQP properties and headers.
    #[schema(value_type = Object)]
    pub headers: serde_json::Value,
    /// The queue it was consumed from.
    pub queue: Option<String>,
    /// Its routing key.
    pub routing_key: Option<String>,
    /// The worker that decided (none for broker-side dead letters).
    pub worker: Option<String>,
    /// The normalised reason (the group's text).
    pub signature_text: String,
    /// When it was replayed or discarded.
    pub resolved_at: Option<DateTime<Utc>>,
    /// By whom.
    pub resolved_by: Option<String>,
    /// Why (discards).
    pub resolution_reason: Option<String>,
    /// Every attempt of its job and of the jobs of the letters it was replayed from (each
    /// labelled with its job and letter), and of its replay job, oldest first. (`attempts` is
    /// the count, as in lists.)
    pub attempt_log: Vec<Attempt>,
    /// Original → replays, oldest first; this letter is the step with depth 0.
    pub lineage: Vec<LineageItem>,
    /// Payload edits, oldest first.
    pub edits: Vec<Edit>,
    /// Its replay, if it was replayed.
    pub replay: Option<Replay>,
}

impl DeadLetterView {
    /// The wire form of a stored letter; `loop_limit` decides `looping`.
    pub fn from_detail(detail: DeadLetterDetail, loop_limit: i32) -> Self {
        let payload_bytes = detail.payload.len();
        let (payload, payload_encoding) = match String::from_utf8(detail.payload) {
            Ok(text) => (text, PayloadEncoding::Utf8),
            Err(error) => (
                base64::engine::general_purpose::STANDARD.encode(error.as_bytes()),
                PayloadEncoding::Base64,
            ),
        };
        Self {
            letter: DeadLetterItem::from_summary(detail.summary, loop_limit),
            dedup_key: detail.dedup_key,
            payload,
            payload_encoding,
            payload_bytes,
            envelope: detail.envelope,
            headers: detail.headers,
            queue: detail.queue,
            routing_key: detail.routing_key,
            worker: detail.worker,
            signature_text: detail.signature_text,
            resolved_at: detail.resolved_at,
            resolved_by: detail.resolved_by,
            resolution_reason: detail.resolution_reason,
            attempt_log: detail.attempts.into_iter().map(Attempt::from).collect(),
            lineage: detail.lineage.into_iter().map(LineageItem::from).collect(),
            edits: detail.edits.into_iter().map(Edit::from).collect(),
            replay: detail.replay.map(Replay::from),
        }
    }

    /// The payload's bytes, decoded from the wire form.
    pub fn decode_payload(&self) -> Result<Vec<u8>, base64::DecodeError> {
        match self.payload_encoding {
            PayloadEncoding::Utf8 => Ok(self.payload.clone().into_bytes()),
            PayloadEncoding::Base64 => {
                base64::engine::general_purpose::STANDARD.decode(&self.payload)
            }
        }
    }
}
