//! Schedules, their slots and the outbox: the SQL of scheduled ingestion.
//!
//! * **Managing schedules** ([`Store::create_schedule`], [`Store::edit_schedule`],
//!   [`Store::pause_schedule`], [`Store::resume_schedule`], [`Store::run_schedule_now`],
//!   [`Store::backfill_schedule`]): each change writes its `audit_log` row in its own
//!   transaction, for the CLI and queue-admin alike.
//! * **Claiming due slots** ([`Store::claim_due_slots`]): locks due schedules with
//!   `FOR UPDATE SKIP LOCKED`, so replicas share them without waiting on each other, then in
//!   one transaction records each slot under its slot key (a slot already decided inserts
//!   nothing and so creates no job), applies the overlap policy from the job ledger, records
//!   each new job in the ledger and the outbox, and advances the schedule.
//! * **The outbox relay's side** ([`Store::take_outbox`], [`OutboxBatch::finish`]): unsent rows
//!   are held with `FOR UPDATE SKIP LOCKED` while they are published; a relay that dies lets go
//!   of them with its connection, and another publishes them.
//!
//! The store knows no cron syntax, time zone or job envelope: everything about time and the shape
//! of a job comes from a [`SlotPlanner`] (the scheduler's), so this module only applies decisions.
//! Nothing here publishes.

use crate::admin::{write_audit, AuditEntry};
use crate::ledger::{insert_jobs_on, NewJob};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use tributary_connector::Window;
use uuid::Uuid;

/// Most slots one claim enqueues, skips or records per schedule. A schedule further behind is
/// continued by the next claim (which the scheduler runs at once), so one transaction stays short.
pub const MAX_DUE_SLOTS_PER_CLAIM: usize = 1_000;

/// Most windows one backfill may create: a typo in a date should not enqueue a million jobs.
pub const MAX_BACKFILL_WINDOWS: usize = 10_000;

/// Longest reason kept for a pause.
const MAX_REASON_CHARS: usize = 500;

/// Ledger statuses after which nothing more happens to a job (see `JobStatus::is_terminal`).
const TERMINAL_STATUSES: &str = "('succeeded', 'superseded', 'dead')";

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    /// A cron expression (5 fields, or 6 with seconds first), read in the schedule's time zone.
    Cron(String),
    /// A fixed interval: slots at every multiple of this many seconds since the Unix epoch.
    EverySeconds(i32),
}

/// What a due slot does while earlier runs of its schedule are unfinished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlapPolicy {
    /// No new run while one of this schedule's runs is unfinished: the slot is skipped.
    Skip,
    /// At most one run waiting behind the one in flight; further slots are skipped.
    BufferOne,
    /// Every slot runs. The stream lease still keeps two pulls of a stream from running at once.
    Allow,
}

impl OverlapPolicy {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OverlapPolicy::Skip => "skip",
            OverlapPolicy::BufferOne => "buffer_one",
            OverlapPolicy::Allow => "allow",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "skip" => Some(OverlapPolicy::Skip),
            "buffer_one" => Some(OverlapPolicy::BufferOne),
            "allow" => Some(OverlapPolicy::Allow),
            _ => None,
        }
    }

    /// Unfinished runs of the schedule that make a new slot skip (`None`: never skip).
    fn max_unfinished_runs(self) -> Option<i64> {
        match self {
            OverlapPolicy::Skip => Some(1),
            OverlapPolicy::BufferOne => Some(2),
            OverlapPolicy::Allow => None,
        }
    }
}

/// Everything that defines a schedule, as given when it is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleSpec {
    /// Whose data.
    pub tenant: String,
    /// The configured source instance.
    pub source: String,
    /// The stream to pull.
    pub stream: String,
    /// The connector kind (the work queue the jobs go to).
    pub connector: String,
    /// The job kind it enqueues (`pull`, ...).
    pub kind: String,
    /// When it fires.
    pub cadence: Cadence,
    /// IANA time zone name: the wall clock of a cron expression, and of backfill dates.
    pub time_zone: String,
    /// Each slot fires up to this many seconds late, by an amount fixed per (schedule, slot).
    pub jitter_seconds: i32,
    /// What a slot does while earlier runs are unfinished.
    pub overlap: OverlapPolicy,
    /// Slots older than this (plus the jitter) when the scheduler gets to them are missed.
    pub catch_up_seconds: i32,
    /// Whether it fires at all (a disabled schedule is configured but off; a paused one was
    /// stopped by someone, for a reason).
    pub enabled: bool,
}

/// Who paused a schedule, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchedulePause {
    /// Why (shown to operators).
    pub reason: String,
    /// Who, as the audit log names actors (`scheduler` when it paused itself on a bad schedule).
    pub by: String,
    /// Since when.
    pub at: DateTime<Utc>,
}

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    /// Its id.
    pub id: i64,
    /// What it is.
    #[serde(flatten)]
    pub spec: ScheduleSpec,
    /// Set while paused.
    pub paused: Option<SchedulePause>,
    /// The first slot not decided yet (`None`: the cadence has no future slot).
    pub next_slot_at: Option<DateTime<Utc>>,
    /// When that slot is due (its time plus its jitter).
    pub next_fire_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed (by a person or by a claim).
    pub updated_at: DateTime<Utc>,
}

/// A change to a schedule: each field given replaces the stored one. The identity (tenant,
/// source, stream, kind) cannot change: create another schedule instead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleEdit {
    /// New cadence.
    pub cadence: Option<Cadence>,
    /// New time zone.
    pub time_zone: Option<String>,
    /// New jitter.
    pub jitter_seconds: Option<i32>,
    /// New overlap policy.
    pub overlap: Option<OverlapPolicy>,
    /// New catch-up window.
    pub catch_up_seconds: Option<i32>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// New connector kind (a source moved to another connector).
    pub connector: Option<String>,
}

/// Which schedules to list.
#[derive(Debug, Clone, Default)]
pub struct ScheduleFilter {
    /// Only this tenant's.
    pub tenant: Option<String>,
    /// Only this source's.
    pub source: Option<String>,
}

/// A slot and when it fires (its time plus its jitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotTime {
    /// The slot's nominal time: its key.
    pub slot_at: DateTime<Utc>,
    /// When it is due.
    pub fire_at: DateTime<Utc>,
}

/// A run of consecutive slots that were too old to enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissedSlots {
    /// The first.
    pub first: DateTime<Utc>,
    /// The last.
    pub last: DateTime<Utc>,
    /// How many (`None`: too many to count).
    pub count: Option<i64>,
}

/// What to do about one schedule at one instant, as the planner decided.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlotPlan {
    /// Slots older than the catch-up window.
    pub missed: Option<MissedSlots>,
    /// Slots due now, oldest first (at most the `max_due` asked for).
    pub due: Vec<SlotTime>,
    /// The first slot not decided by this plan (`None`: no slot ever again).
    pub next: Option<SlotTime>,
}

/// A job ready to be recorded: its ledger row and its message body.
#[derive(Debug, Clone)]
pub struct PlannedJob {
    /// The ledger row.
    pub job: NewJob,
    /// The message body, published byte for byte from the outbox.
    pub body: Vec<u8>,
}

/// The time arithmetic and job building the store applies but does not know: cron syntax, time
/// zones, jitter, the job envelope. The scheduler implements it (`tributary_scheduler::Planner`);
/// queue-admin passes the same one.
pub trait SlotPlanner: Send + Sync {
    /// Every problem with `spec` (cadence, time zone, ids, job kind), each naming its field.
    fn problems(&self, spec: &ScheduleSpec) -> Vec<String>;

    /// The first slot of `schedule` at or after `from`, with its firing time.
    fn first_slot(
        &self,
        schedule: &Schedule,
        from: DateTime<Utc>,
    ) -> Result<Option<SlotTime>, String>;

    /// What to do at `now` about `schedule`, whose first undecided slot is its `next_slot_at`:
    /// the slots to record as missed, at most `max_due` slots due now, and the next slot.
    fn plan(
        &self,
        schedule: &Schedule,
        now: DateTime<Utc>,
        max_due: usize,
    ) -> Result<SlotPlan, String>;

    /// A new root job of `schedule` over `window` (open for a slot or a run now).
    fn job(&self, schedule: &Schedule, window: Window) -> Result<PlannedJob, String>;
}

/// Why a change to a schedule was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScheduleError {
    /// The request itself is wrong (a bad cron expression, a missing reason, ...).
    #[error("{0}")]
    Invalid(String),
    /// No such schedule.
    #[error("schedule {0} does not exist")]
    NotFound(i64),
    /// The current state forbids it (a duplicate schedule, resuming one that is not paused).
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One slot as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotRecord {
    /// The slot's nominal time (the first of a missed run).
    pub slot_at: DateTime<Utc>,
    /// `enqueued`, `skipped` or `missed`.
    pub outcome: String,
    /// The job it produced.
    pub job_id: Option<Uuid>,
    /// The last slot of a missed run.
    pub missed_through: Option<DateTime<Utc>>,
    /// Slots in a missed run.
    pub missed_count: Option<i64>,
    /// When the scheduler decided.
    pub decided_at: DateTime<Utc>,
}

/// A slot that became a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnqueuedSlot {
    /// Its schedule.
    pub schedule_id: i64,
    /// The slot.
    pub slot: SlotTime,
    /// The job.
    pub job_id: Uuid,
}

/// What one claim did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimReport {
    /// Due schedules this claim locked.
    pub schedules: usize,
    /// Slots that became jobs (in the ledger and the outbox, committed).
    pub enqueued: Vec<EnqueuedSlot>,
    /// Slots skipped by the overlap policy.
    pub skipped: u64,
    /// Slots recorded as missed (outside the catch-up window).
    pub missed: u64,
    /// Slots another claim had already decided (their keys existed): nothing was created.
    pub already_decided: u64,
    /// Schedules paused because they could not be planned: (id, reason).
    pub paused: Vec<(i64, String)>,
    /// More is due than this claim took: claim again at once.
    pub more: bool,
}

/// One unsent message of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// The job.
    pub job_id: Uuid,
    /// Its connector kind (the routing key).
    pub connector: String,
    /// The message body.
    pub envelope: Vec<u8>,
    /// When it was committed.
    pub created_at: DateTime<Utc>,
    /// Failed publishing attempts so far.
    pub attempts: i32,
}

/// A row the relay could not publish: kept, and retried from `retry_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxFailure {
    /// Row id.
    pub id: i64,
    /// What went wrong.
    pub error: String,
    /// When to try again.
    pub retry_at: DateTime<Utc>,
}

/// How far behind the relay is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxBacklog {
    /// Unsent rows.
    pub unsent: i64,
    /// When the oldest unsent row was committed.
    pub oldest: Option<DateTime<Utc>>,
}

/// Unsent outbox rows held by this relay (`FOR UPDATE SKIP LOCKED`) until [`OutboxBatch::finish`].
///
/// Dropped without finishing (the relay failed or was cancelled), it closes its connection
/// instead of returning it to the pool: the server rolls back and the rows are free for the
/// next relay, which publishes them.
pub struct OutboxBatch {
    client: Option<deadpool_postgres::Object>,
    rows: Vec<OutboxRow>,
}

impl std::fmt::Debug for OutboxBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxBatch")
            .field("rows", &self.rows.len())
            .finish()
    }
}

impl OutboxBatch {
    /// The rows held, oldest first.
    pub fn rows(&self) -> &[OutboxRow] {
        &self.rows
    }

    /// Marks `published` rows sent and `failed` rows refused (kept for later), and lets go of
    /// the rest, in one commit.
    pub async fn finish(
        mut self,
        published: &[i64],
        failed: &[OutboxFailure],
    ) -> Result<(), StoreError> {
        let client = self
            .client
            .as_ref()
            .expect("an unfinished batch holds its client");
        if !published.is_empty() {
            client
                .execute(
                    "UPDATE outbox SET published_at = clock_timestamp(), last_error = NULL
                     WHERE id = ANY($1)",
                    &[&published],
                )
                .await
                .map_err(StoreError::db("marking outbox rows sent"))?;
        }
        if !failed.is_empty() {
            let ids: Vec<i64> = failed.iter().map(|f| f.id).collect();
            let errors: Vec<&str> = failed.iter().map(|f| f.error.as_str()).collect();
            let retry_at: Vec<DateTime<Utc>> = failed.iter().map(|f| f.retry_at).collect();
            client
                .execute(
                    "UPDATE outbox o SET attempts = o.attempts + 1, last_error = f.error,
                                         next_attempt_at = f.retry_at
                     FROM unnest($1::bigint[], $2::text[], $3::timestamptz[])
                          AS f(id, error, retry_at)
                     WHERE o.id = f.id",
                    &[&ids, &errors, &retry_at],
                )
                .await
                .map_err(StoreError::db("recording outbox failures"))?;
        }
        client
            .batch_execute("COMMIT")
            .await
            .map_err(StoreError::db("committing the outbox batch"))?;
        // Committed: the connection is clean and may go back to the pool.
        drop(self.client.take());
        Ok(())
    }
}

impl Drop for OutboxBatch {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Still inside the transaction: never hand it to the pool. Closing the connection
            // makes the server roll back and release the rows.
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

const SCHEDULE_COLUMNS: &str = "id, tenant_id, source, stream, connector, kind, cron,
    every_seconds, time_zone, jitter_seconds, overlap, catch_up_seconds, enabled, paused_reason,
    paused_by, paused_at, next_slot_at, next_fire_at, created_at, updated_at";

fn schedule_from_row(row: &tokio_postgres::Row) -> Result<Schedule, StoreError> {
    let cron: Option<String> = row.get(6);
    let every: Option<i32> = row.get(7);
    let cadence = match (cron, every) {
        (Some(cron), _) => Cadence::Cron(cron),
        (None, Some(seconds)) => Cadence::EverySeconds(seconds),
        (None, None) => unreachable!("a CHECK constraint requires a cron or an interval"),
    };
    let overlap: String = row.get(10);
    let overlap = OverlapPolicy::parse(&overlap).ok_or_else(|| StoreError::Config {
        message: format!("unknown overlap policy {overlap:?} in schedules"),
    })?;
    let paused = match (row.get(13), row.get(14), row.get(15)) {
        (Some(reason), Some(by), Some(at)) => Some(SchedulePause { reason, by, at }),
        _ => None,
    };
    Ok(Schedule {
        id: row.get(0),
        spec: ScheduleSpec {
            tenant: row.get(1),
            source: row.get(2),
            stream: row.get(3),
            connector: row.get(4),
            kind: row.get(5),
            cadence,
            time_zone: row.get(8),
            jitter_seconds: row.get(9),
            overlap,
            catch_up_seconds: row.get(11),
            enabled: row.get(12),
        },
        paused,
        next_slot_at: row.get(16),
        next_fire_at: row.get(17),
        created_at: row.get(18),
        updated_at: row.get(19),
    })
}

fn to_json(schedule: &Schedule) -> serde_json::Value {
    serde_json::to_value(schedule).expect("a schedule always serializes")
}

fn target(id: i64) -> String {
    format!("schedule:{id}")
}

/// The problems the database would refuse anyway, said in the operator's terms.
fn basic_problems(spec: &ScheduleSpec) -> Vec<String> {
    let mut problems = Vec::new();
    for (field, value) in [
        ("tenant", &spec.tenant),
        ("source", &spec.source),
        ("stream", &spec.stream),
        ("connector", &spec.connector),
        ("kind", &spec.kind),
        ("time_zone", &spec.time_zone),
    ] {
        if value.trim().is_empty() {
            problems.push(format!("{field}: must not be empty"));
        }
    }
    if let Cadence::EverySeconds(seconds) = spec.cadence {
        if seconds <= 0 {
            problems.push("every: must be at least one second".to_owned());
        }
    }
    if spec.jitter_seconds < 0 {
        problems.push("jitter: must not be negative".to_owned());
    }
    if spec.catch_up_seconds < 0 {
        problems.push("catch_up: must not be negative".to_owned());
    }
    problems
}

fn checked(spec: &ScheduleSpec, planner: &dyn SlotPlanner) -> Result<(), ScheduleError> {
    let mut problems = basic_problems(spec);
    if problems.is_empty() {
        problems = planner.problems(spec);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ScheduleError::Invalid(problems.join("; ")))
    }
}

fn checked_reason(reason: &str) -> Result<&str, ScheduleError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ScheduleError::Invalid(
            "reason: required; say why (it is kept in the audit log)".into(),
        ));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(ScheduleError::Invalid(format!(
            "reason: at most {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(reason)
}

/// Reads a schedule for update in `transaction`.
async fn lock_schedule(
    transaction: &deadpool_postgres::Transaction<'_>,
    id: i64,
) -> Result<Schedule, ScheduleError> {
    let row = transaction
        .query_opt(
            &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1 FOR UPDATE"),
            &[&id],
        )
        .await
        .map_err(StoreError::db("reading a schedule"))?
        .ok_or(ScheduleError::NotFound(id))?;
    Ok(schedule_from_row(&row)?)
}

/// Writes every column a person may change, and the next slot; returns the stored row.
async fn store_schedule(
    transaction: &deadpool_postgres::Transaction<'_>,
    schedule: &Schedule,
) -> Result<Schedule, ScheduleError> {
    let (cron, every) = cadence_columns(&schedule.spec.cadence);
    let pause = schedule.paused.as_ref();
    let row = transaction
        .query_one(
            &format!(
                "UPDATE schedules SET connector = $2, cron = $3, every_seconds = $4,
                     time_zone = $5, jitter_seconds = $6, overlap = $7, catch_up_seconds = $8,
                     enabled = $9, paused_reason = $10, paused_by = $11, paused_at = $12,
                     next_slot_at = $13, next_fire_at = $14, updated_at = now()
                 WHERE id = $1 RETURNING {SCHEDULE_COLUMNS}"
            ),
            &[
                &schedule.id,
                &schedule.spec.connector,
                &cron,
                &every,
                &schedule.spec.time_zone,
                &schedule.spec.jitter_seconds,
                &schedule.spec.overlap.as_str(),
                &schedule.spec.catch_up_seconds,
                &schedule.spec.enabled,
                &pause.map(|p| p.reason.as_str()),
                &pause.map(|p| p.by.as_str()),
                &pause.map(|p| p.at),
                &schedule.next_slot_at,
                &schedule.next_fire_at,
            ],
        )
        .await
        .map_err(StoreError::db("updating a schedule"))?;
    Ok(schedule_from_row(&row)?)
}

fn cadence_columns(cadence: &Cadence) -> (Option<&str>, Option<i32>) {
    match cadence {
        Cadence::Cron(expression) => (Some(expression.as_str()), None),
        Cadence::EverySeconds(seconds) => (None, Some(*seconds)),
    }
}

/// Sets the schedule's next slot to its first at or after `now`.
fn restart_from(
    schedule: &mut Schedule,
    planner: &dyn SlotPlanner,
    now: DateTime<Utc>,
) -> Result<(), ScheduleError> {
    let next = planner
        .first_slot(schedule, now)
        .map_err(ScheduleError::Invalid)?;
    schedule.next_slot_at = next.map(|slot| slot.slot_at);
    schedule.next_fire_at = next.map(|slot| slot.fire_at);
    Ok(())
}

/// Records planned jobs in the ledger and the outbox, in `transaction`.
async fn enqueue_on(
    transaction: &deadpool_postgres::Transaction<'_>,
    jobs: &[PlannedJob],
) -> Result<(), StoreError> {
    for chunk in jobs.chunks(1_000) {
        let rows: Vec<NewJob> = chunk.iter().map(|planned| planned.job.clone()).collect();
        insert_jobs_on(&**transaction, &rows).await?;
        let ids: Vec<Uuid> = chunk.iter().map(|planned| planned.job.id).collect();
        let connectors: Vec<&str> = chunk
            .iter()
            .map(|planned| planned.job.connector.as_str())
            .collect();
        let bodies: Vec<&[u8]> = chunk
            .iter()
            .map(|planned| planned.body.as_slice())
            .collect();
        transaction
            .execute(
                "INSERT INTO outbox (job_id, connector, envelope)
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[])",
                &[&ids, &connectors, &bodies],
            )
            .await
            .map_err(StoreError::db("writing jobs to the outbox"))?;
    }
    Ok(())
}

/// The slot rows one claim inserts, column by column.
#[derive(Default)]
struct SlotColumns {
    schedule_id: Vec<i64>,
    slot_at: Vec<DateTime<Utc>>,
    outcome: Vec<&'static str>,
    job_id: Vec<Option<Uuid>>,
    missed_through: Vec<Option<DateTime<Utc>>>,
    missed_count: Vec<Option<i64>>,
}

impl SlotColumns {
    fn push(&mut self, schedule_id: i64, slot_at: DateTime<Utc>, outcome: &'static str) {
        self.schedule_id.push(schedule_id);
        self.slot_at.push(slot_at);
        self.outcome.push(outcome);
        self.job_id.push(None);
        self.missed_through.push(None);
        self.missed_count.push(None);
    }
}

impl Store {
    /// Creates a schedule; its first slot is the first at or after now.
    pub async fn create_schedule(
        &self,
        spec: &ScheduleSpec,
        planner: &dyn SlotPlanner,
        actor: &str,
    ) -> Result<Schedule, ScheduleError> {
        checked(spec, planner)?;
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a schedule transaction"))?;
        let (cron, every) = cadence_columns(&spec.cadence);
        let inserted = transaction
            .query_one(
                &format!(
                    "INSERT INTO schedules (tenant_id, source, stream, connector, kind, cron,
                         every_seconds, time_zone, jitter_seconds, overlap, catch_up_seconds,
                         enabled)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                     RETURNING {SCHEDULE_COLUMNS}"
                ),
                &[
                    &spec.tenant,
                    &spec.source,
                    &spec.stream,
                    &spec.connector,
                    &spec.kind,
                    &cron,
                    &every,
                    &spec.time_zone,
                    &spec.jitter_seconds,
                    &spec.overlap.as_str(),
                    &spec.catch_up_seconds,
                    &spec.enabled,
                ],
            )
            .await;
        let row = match inserted {
            Ok(row) => row,
            Err(error) if error.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                return Err(ScheduleError::Conflict(format!(
                    "a {} schedule for tenant {}, source {}, stream {} already exists; edit it instead",
                    spec.kind, spec.tenant, spec.source, spec.stream
                )))
            }
            Err(error) => return Err(StoreError::db("creating a schedule")(error).into()),
        };
        let mut schedule = schedule_from_row(&row)?;
        restart_from(&mut schedule, planner, Utc::now())?;
        let schedule = store_schedule(&transaction, &schedule).await?;
        write_audit(
            &transaction,
            &AuditEntry {
                actor,
                action: "schedule.create",
                target: Some(target(schedule.id)),
                after: Some(to_json(&schedule)),
                ..AuditEntry::default()
            },
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a new schedule"))?;
        Ok(schedule)
    }

    /// Changes a schedule. A new cadence, time zone or jitter, or enabling it, restarts it from
    /// the first slot at or after now (no catch-up of what it would have done before).
    pub async fn edit_schedule(
        &self,
        id: i64,
        edit: &ScheduleEdit,
        planner: &dyn SlotPlanner,
        actor: &str,
    ) -> Result<Schedule, ScheduleError> {
        if *edit == ScheduleEdit::default() {
            return Err(ScheduleError::Invalid(
                "nothing to change: give at least one setting".into(),
            ));
        }
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a schedule transaction"))?;
        let before = lock_schedule(&transaction, id).await?;
        let mut after = before.clone();
        let spec = &mut after.spec;
        if let Some(cadence) = &edit.cadence {
            spec.cadence = cadence.clone();
        }
        if let Some(time_zone) = &edit.time_zone {
            spec.time_zone = time_zone.clone();
        }
        if let Some(jitter) = edit.jitter_seconds {
            spec.jitter_seconds = jitter;
        }
        if let Some(overlap) = edit.overlap {
            spec.overlap = overlap;
        }
        if let Some(catch_up) = edit.catch_up_seconds {
            spec.catch_up_seconds = catch_up;
        }
        if let Some(enabled) = edit.enabled {
            spec.enabled = enabled;
        }
        if let Some(connector) = &edit.connector {
            spec.connector = connector.clone();
        }
        checked(&after.spec, planner)?;
        let timing_changed = after.spec.cadence != before.spec.cadence
            || after.spec.time_zone != before.spec.time_zone
            || after.spec.jitter_seconds != before.spec.jitter_seconds
            || (after.spec.enabled && !before.spec.enabled);
        if timing_changed {
            restart_from(&mut after, planner, Utc::now())?;
        }
        let after = store_schedule(&transaction, &after).await?;
        write_audit(
            &transaction,
            &AuditEntry {
                actor,
                action: "schedule.edit",
                target: Some(target(id)),
                before: Some(to_json(&before)),
                after: Some(to_json(&after)),
                ..AuditEntry::default()
            },
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a schedule edit"))?;
        Ok(after)
    }

    /// Pauses a schedule: it enqueues nothing until resumed. Pausing again replaces the reason
    /// (the audit row keeps the one before).
    pub async fn pause_schedule(
        &self,
        id: i64,
        reason: &str,
        actor: &str,
    ) -> Result<Schedule, ScheduleError> {
        let reason = checked_reason(reason)?;
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a schedule transaction"))?;
        let before = lock_schedule(&transaction, id).await?;
        let mut after = before.clone();
        after.paused = Some(SchedulePause {
            reason: reason.to_owned(),
            by: actor.to_owned(),
            at: Utc::now(),
        });
        let after = store_schedule(&transaction, &after).await?;
        write_audit(
            &transaction,
            &AuditEntry {
                actor,
                action: "schedule.pause",
                target: Some(target(id)),
                reason: Some(reason),
                before: Some(to_json(&before)),
                after: Some(to_json(&after)),
                ..AuditEntry::default()
            },
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a schedule pause"))?;
        Ok(after)
    }

    /// Resumes a paused schedule from its first slot at or after now: the slots of the pause
    /// are not caught up.
    pub async fn resume_schedule(
        &self,
        id: i64,
        planner: &dyn SlotPlanner,
        actor: &str,
    ) -> Result<Schedule, ScheduleError> {
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a schedule transaction"))?;
        let before = lock_schedule(&transaction, id).await?;
        if before.paused.is_none() {
            return Err(ScheduleError::Conflict(format!(
                "schedule {id} is not paused"
            )));
        }
        let mut after = before.clone();
        after.paused = None;
        checked(&after.spec, planner)?;
        restart_from(&mut after, planner, Utc::now())?;
        let after = store_schedule(&transaction, &after).await?;
        write_audit(
            &transaction,
            &AuditEntry {
                actor,
                action: "schedule.resume",
                target: Some(target(id)),
                before: Some(to_json(&before)),
                after: Some(to_json(&after)),
                ..AuditEntry::default()
            },
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a schedule resume"))?;
        Ok(after)
    }

    /// Enqueues one job of the schedule now, through the outbox, whatever its slots, pause or
    /// overlap policy say (someone asked for it). Returns the job id.
    pub async fn run_schedule_now(
        &self,
        id: i64,
        planner: &dyn SlotPlanner,
        actor: &str,
    ) -> Result<Uuid, ScheduleError> {
        let jobs = self
            .enqueue_for_schedule(id, &[Window::default()], planner, actor, "schedule.run_now")
            .await?;
        Ok(jobs[0])
    }

    /// Enqueues one job per window of the schedule's stream, through the outbox, in one
    /// transaction. Returns the job ids, in the order of `windows`.
    pub async fn backfill_schedule(
        &self,
        id: i64,
        windows: &[Window],
        planner: &dyn SlotPlanner,
        actor: &str,
    ) -> Result<Vec<Uuid>, ScheduleError> {
        if windows.is_empty() {
            return Err(ScheduleError::Invalid(
                "backfill: the range holds no window".into(),
            ));
        }
        if windows.len() > MAX_BACKFILL_WINDOWS {
            return Err(ScheduleError::Invalid(format!(
                "backfill: {} windows is more than {MAX_BACKFILL_WINDOWS}; use larger windows or a shorter range",
                windows.len()
            )));
        }
        self.enqueue_for_schedule(id, windows, planner, actor, "schedule.backfill")
            .await
    }

    async fn enqueue_for_schedule(
        &self,
        id: i64,
        windows: &[Window],
        planner: &dyn SlotPlanner,
        actor: &str,
        action: &str,
    ) -> Result<Vec<Uuid>, ScheduleError> {
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting an enqueue transaction"))?;
        let row = transaction
            .query_opt(
                &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(StoreError::db("reading a schedule"))?
            .ok_or(ScheduleError::NotFound(id))?;
        let schedule = schedule_from_row(&row)?;
        let mut jobs = Vec::with_capacity(windows.len());
        for window in windows {
            jobs.push(
                planner
                    .job(&schedule, *window)
                    .map_err(ScheduleError::Invalid)?,
            );
        }
        enqueue_on(&transaction, &jobs).await?;
        let ids: Vec<Uuid> = jobs.iter().map(|planned| planned.job.id).collect();
        let (first, last) = (windows[0], windows[windows.len() - 1]);
        write_audit(
            &transaction,
            &AuditEntry {
                actor,
                action,
                target: Some(target(id)),
                filter: (windows.len() > 1 || first != Window::default()).then(|| {
                    serde_json::json!({ "from": first.from, "to": last.to, "windows": windows.len() })
                }),
                count: Some(i32::try_from(ids.len()).unwrap_or(i32::MAX)),
                after: Some(serde_json::json!({ "jobs": ids.iter().take(100).collect::<Vec<_>>() })),
                ..AuditEntry::default()
            },
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing enqueued jobs"))?;
        Ok(ids)
    }

    /// Schedules, by id.
    pub async fn schedules(&self, filter: &ScheduleFilter) -> Result<Vec<Schedule>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {SCHEDULE_COLUMNS} FROM schedules
                     WHERE ($1::text IS NULL OR tenant_id = $1)
                       AND ($2::text IS NULL OR source = $2)
                     ORDER BY id"
                ),
                &[&filter.tenant, &filter.source],
            )
            .await
            .map_err(StoreError::db("listing schedules"))?;
        rows.iter().map(schedule_from_row).collect()
    }

    /// One schedule.
    pub async fn schedule(&self, id: i64) -> Result<Option<Schedule>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(StoreError::db("reading a schedule"))?;
        row.as_ref().map(schedule_from_row).transpose()
    }

    /// The newest `limit` slots of a schedule, newest first.
    pub async fn schedule_slots(&self, id: i64, limit: i64) -> Result<Vec<SlotRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT slot_at, outcome, job_id, missed_through, missed_count, decided_at
                 FROM schedule_slots WHERE schedule_id = $1 ORDER BY slot_at DESC LIMIT $2",
                &[&id, &limit],
            )
            .await
            .map_err(StoreError::db("reading schedule slots"))?;
        Ok(rows
            .iter()
            .map(|row| SlotRecord {
                slot_at: row.get(0),
                outcome: row.get(1),
                job_id: row.get(2),
                missed_through: row.get(3),
                missed_count: row.get(4),
                decided_at: row.get(5),
            })
            .collect())
    }

    /// Decides the due slots of at most `limit` due schedules, as of `now`, in one
    /// transaction: missed slots recorded, due slots skipped by the overlap policy or enqueued
    /// (ledger row + outbox row), each under its slot key, and each schedule advanced to its
    /// next undecided slot. Schedules another replica is claiming are skipped, not waited for.
    pub async fn claim_due_slots(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        planner: &dyn SlotPlanner,
    ) -> Result<ClaimReport, StoreError> {
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a claim"))?;
        let rows = transaction
            .query(
                &format!(
                    "SELECT {SCHEDULE_COLUMNS} FROM schedules
                     WHERE enabled AND paused_at IS NULL AND next_fire_at <= $1
                     ORDER BY next_fire_at LIMIT $2
                     FOR UPDATE SKIP LOCKED"
                ),
                &[&now, &limit],
            )
            .await
            .map_err(StoreError::db("claiming due schedules"))?;
        let schedules: Vec<Schedule> = rows
            .iter()
            .map(schedule_from_row)
            .collect::<Result<_, _>>()?;
        let mut report = ClaimReport {
            schedules: schedules.len(),
            more: i64::try_from(schedules.len()).unwrap_or(i64::MAX) >= limit,
            ..ClaimReport::default()
        };
        if schedules.is_empty() {
            return Ok(report);
        }

        // Unfinished runs per schedule, read once for the whole claim: from the unfinished jobs
        // (a small set, indexed) to the slots that started their runs.
        let overlapping: Vec<i64> = schedules
            .iter()
            .filter(|s| s.spec.overlap.max_unfinished_runs().is_some())
            .map(|s| s.id)
            .collect();
        let mut unfinished: HashMap<i64, i64> = HashMap::new();
        if !overlapping.is_empty() {
            let rows = transaction
                .query(
                    &format!(
                        "SELECT s.schedule_id, count(DISTINCT j.root_id)
                         FROM jobs j JOIN schedule_slots s ON s.job_id = j.root_id
                         WHERE s.schedule_id = ANY($1) AND j.status NOT IN {TERMINAL_STATUSES}
                         GROUP BY s.schedule_id"
                    ),
                    &[&overlapping],
                )
                .await
                .map_err(StoreError::db("counting unfinished scheduled runs"))?;
            for row in rows {
                unfinished.insert(row.get(0), row.get(1));
            }
        }

        let mut slots = SlotColumns::default();
        let mut planned: Vec<(i64, SlotTime, PlannedJob)> = Vec::new();
        let mut advance_id: Vec<i64> = Vec::new();
        let mut advance_slot: Vec<Option<DateTime<Utc>>> = Vec::new();
        let mut advance_fire: Vec<Option<DateTime<Utc>>> = Vec::new();
        for schedule in &schedules {
            let plan = match planner.plan(schedule, now, MAX_DUE_SLOTS_PER_CLAIM) {
                Ok(plan) => plan,
                Err(reason) => {
                    report.paused.push((schedule.id, reason));
                    continue;
                }
            };
            // Everything for this schedule is built aside first, so a job that cannot be built
            // pauses the schedule without recording half of its slots.
            let mut own_slots = SlotColumns::default();
            let mut own_jobs = Vec::new();
            let mut skipped = 0;
            let mut failed = None;
            if let Some(missed) = plan.missed {
                own_slots.push(schedule.id, missed.first, "missed");
                *own_slots.missed_through.last_mut().expect("just pushed") = Some(missed.last);
                *own_slots.missed_count.last_mut().expect("just pushed") = missed.count;
            }
            let cap = schedule.spec.overlap.max_unfinished_runs();
            let mut runs = unfinished.get(&schedule.id).copied().unwrap_or(0);
            for slot in &plan.due {
                if cap.is_some_and(|cap| runs >= cap) {
                    own_slots.push(schedule.id, slot.slot_at, "skipped");
                    skipped += 1;
                    continue;
                }
                match planner.job(schedule, Window::default()) {
                    Ok(job) => {
                        own_slots.push(schedule.id, slot.slot_at, "enqueued");
                        *own_slots.job_id.last_mut().expect("just pushed") = Some(job.job.id);
                        own_jobs.push((schedule.id, *slot, job));
                        runs += 1;
                    }
                    Err(reason) => {
                        failed = Some(reason);
                        break;
                    }
                }
            }
            if let Some(reason) = failed {
                report.paused.push((schedule.id, reason));
                continue;
            }
            if plan.due.len() >= MAX_DUE_SLOTS_PER_CLAIM {
                report.more = true;
            }
            report.skipped += skipped;
            report.missed += plan
                .missed
                .map_or(0, |missed| missed.count.unwrap_or(1).max(0) as u64);
            slots.schedule_id.append(&mut own_slots.schedule_id);
            slots.slot_at.append(&mut own_slots.slot_at);
            slots.outcome.append(&mut own_slots.outcome);
            slots.job_id.append(&mut own_slots.job_id);
            slots.missed_through.append(&mut own_slots.missed_through);
            slots.missed_count.append(&mut own_slots.missed_count);
            planned.append(&mut own_jobs);
            advance_id.push(schedule.id);
            advance_slot.push(plan.next.map(|next| next.slot_at));
            advance_fire.push(plan.next.map(|next| next.fire_at));
        }

        // The slot key decides: a slot whose row exists already was decided by someone else,
        // and its job is not created.
        let inserted: HashSet<(i64, DateTime<Utc>)> = transaction
            .query(
                "INSERT INTO schedule_slots (schedule_id, slot_at, outcome, job_id, missed_through,
                                             missed_count)
                 SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::uuid[],
                                      $5::timestamptz[], $6::bigint[])
                 ON CONFLICT (schedule_id, slot_at) DO NOTHING
                 RETURNING schedule_id, slot_at",
                &[
                    &slots.schedule_id,
                    &slots.slot_at,
                    &slots.outcome,
                    &slots.job_id,
                    &slots.missed_through,
                    &slots.missed_count,
                ],
            )
            .await
            .map_err(StoreError::db("recording schedule slots"))?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        report.already_decided = (slots.schedule_id.len() - inserted.len()) as u64;
        let mut jobs = Vec::with_capacity(planned.len());
        for (schedule_id, slot, job) in planned {
            if inserted.contains(&(schedule_id, slot.slot_at)) {
                report.enqueued.push(EnqueuedSlot {
                    schedule_id,
                    slot,
                    job_id: job.job.id,
                });
                jobs.push(job);
            }
        }
        enqueue_on(&transaction, &jobs).await?;
        transaction
            .execute(
                "UPDATE schedules s SET next_slot_at = u.next_slot, next_fire_at = u.next_fire,
                                        updated_at = now()
                 FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[])
                      AS u(id, next_slot, next_fire)
                 WHERE s.id = u.id",
                &[&advance_id, &advance_slot, &advance_fire],
            )
            .await
            .map_err(StoreError::db("advancing schedules"))?;
        for (id, reason) in &report.paused {
            pause_broken_schedule(&transaction, *id, reason).await?;
        }
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a claim"))?;
        Ok(report)
    }

    /// Holds up to `limit` unsent outbox rows due for (another) attempt, oldest first, skipping
    /// rows another relay holds.
    pub async fn take_outbox(&self, limit: i64) -> Result<OutboxBatch, StoreError> {
        let client = self.client().await?;
        client
            .batch_execute("BEGIN")
            .await
            .map_err(StoreError::db("starting an outbox batch"))?;
        // From here on a failure drops the batch, which closes the connection (see Drop).
        let mut batch = OutboxBatch {
            client: Some(client),
            rows: Vec::new(),
        };
        let rows = batch
            .client
            .as_ref()
            .expect("just set")
            .query(
                "SELECT id, job_id, connector, envelope, created_at, attempts FROM outbox
                 WHERE published_at IS NULL AND next_attempt_at <= now()
                 ORDER BY next_attempt_at, id LIMIT $1
                 FOR UPDATE SKIP LOCKED",
                &[&limit],
            )
            .await
            .map_err(StoreError::db("taking outbox rows"))?;
        batch.rows = rows
            .iter()
            .map(|row| OutboxRow {
                id: row.get(0),
                job_id: row.get(1),
                connector: row.get(2),
                envelope: row.get(3),
                created_at: row.get(4),
                attempts: row.get(5),
            })
            .collect();
        Ok(batch)
    }

    /// Unsent outbox rows and the age of the oldest.
    pub async fn outbox_backlog(&self) -> Result<OutboxBacklog, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*), min(created_at) FROM outbox WHERE published_at IS NULL",
                &[],
            )
            .await
            .map_err(StoreError::db("measuring the outbox backlog"))?;
        Ok(OutboxBacklog {
            unsent: row.get(0),
            oldest: row.get(1),
        })
    }
}

/// Pauses a schedule the planner cannot plan (say, a cron expression edited by hand in the
/// database), so it is not retried on every tick; an operator sees the reason and fixes it.
async fn pause_broken_schedule(
    transaction: &deadpool_postgres::Transaction<'_>,
    id: i64,
    reason: &str,
) -> Result<(), StoreError> {
    let reason: String = format!("cannot plan this schedule: {reason}")
        .chars()
        .take(MAX_REASON_CHARS)
        .collect();
    transaction
        .execute(
            "UPDATE schedules SET paused_reason = $2, paused_by = 'scheduler', paused_at = now(),
                                  updated_at = now()
             WHERE id = $1",
            &[&id, &reason],
        )
        .await
        .map_err(StoreError::db("pausing a schedule that cannot be planned"))?;
    write_audit(
        transaction,
        &AuditEntry {
            actor: "scheduler",
            action: "schedule.pause",
            target: Some(target(id)),
            reason: Some(&reason),
            ..AuditEntry::default()
        },
    )
    .await?;
    Ok(())
}

/// How far back a schedule's missed slots are counted for its summary: a week, so the count
/// says "is it missing slots lately", and reading it stays a short range of the slot key.
pub const MISSED_COUNT_DAYS: i32 = 7;

/// A schedule with what an operator scans a list for: its latest slot and recent misses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleSummary {
    /// The schedule.
    pub schedule: Schedule,
    /// Its newest decided slot.
    pub last_slot: Option<SlotRecord>,
    /// Slots missed in the last [`MISSED_COUNT_DAYS`] days (a run of uncounted misses counts 1).
    pub missed_recently: i64,
}

/// A slot with the state of the run it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotWithRun {
    /// The slot.
    pub slot: SlotRecord,
    /// The ledger status of the run's newest job (the slot's job or its latest continuation);
    /// `None` for a slot without a job.
    pub run_status: Option<String>,
}

impl Store {
    /// Schedules, by id, each with its newest slot and recent misses (one statement).
    pub async fn schedule_summaries(
        &self,
        filter: &ScheduleFilter,
    ) -> Result<Vec<ScheduleSummary>, StoreError> {
        let schedules = self.schedules(filter).await?;
        let ids: Vec<i64> = schedules.iter().map(|schedule| schedule.id).collect();
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT s.id, last.slot_at, last.outcome, last.job_id, last.missed_through,
                        last.missed_count, last.decided_at, COALESCE(missed.total, 0)::bigint
                 FROM unnest($1::bigint[]) AS s(id)
                 LEFT JOIN LATERAL (
                     SELECT slot_at, outcome, job_id, missed_through, missed_count, decided_at
                     FROM schedule_slots WHERE schedule_id = s.id
                     ORDER BY slot_at DESC LIMIT 1
                 ) AS last ON true
                 LEFT JOIN LATERAL (
                     SELECT sum(COALESCE(missed_count, 1)) AS total
                     FROM schedule_slots
                     WHERE schedule_id = s.id AND outcome = 'missed'
                       AND slot_at > now() - make_interval(days => $2)
                 ) AS missed ON true",
                &[&ids, &MISSED_COUNT_DAYS],
            )
            .await
            .map_err(StoreError::db("summarising schedule slots"))?;
        let mut by_id: HashMap<i64, (Option<SlotRecord>, i64)> = HashMap::new();
        for row in &rows {
            let last = row
                .get::<_, Option<DateTime<Utc>>>(1)
                .map(|slot_at| SlotRecord {
                    slot_at,
                    outcome: row.get(2),
                    job_id: row.get(3),
                    missed_through: row.get(4),
                    missed_count: row.get(5),
                    decided_at: row.get(6),
                });
            by_id.insert(row.get(0), (last, row.get(7)));
        }
        Ok(schedules
            .into_iter()
            .map(|schedule| {
                let (last_slot, missed_recently) = by_id.remove(&schedule.id).unwrap_or_default();
                ScheduleSummary {
                    schedule,
                    last_slot,
                    missed_recently,
                }
            })
            .collect())
    }

    /// The newest `limit` slots of a schedule, newest first, each with its run's status.
    pub async fn schedule_slot_runs(
        &self,
        id: i64,
        limit: i64,
    ) -> Result<Vec<SlotWithRun>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT sl.slot_at, sl.outcome, sl.job_id, sl.missed_through, sl.missed_count,
                        sl.decided_at, run.status
                 FROM schedule_slots sl
                 LEFT JOIN LATERAL (
                     SELECT status FROM jobs WHERE root_id = sl.job_id
                     ORDER BY enqueued_at DESC, id DESC LIMIT 1
                 ) AS run ON sl.job_id IS NOT NULL
                 WHERE sl.schedule_id = $1 ORDER BY sl.slot_at DESC LIMIT $2",
                &[&id, &limit],
            )
            .await
            .map_err(StoreError::db("reading schedule slots and their runs"))?;
        Ok(rows
            .iter()
            .map(|row| SlotWithRun {
                slot: SlotRecord {
                    slot_at: row.get(0),
                    outcome: row.get(1),
                    job_id: row.get(2),
                    missed_through: row.get(3),
                    missed_count: row.get(4),
                    decided_at: row.get(5),
                },
                run_status: row.get(6),
            })
            .collect())
    }
}
