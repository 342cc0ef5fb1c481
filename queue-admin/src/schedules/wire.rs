//! The JSON shapes of the schedules API: what is read (a schedule with its state and latest
//! slot, its recent slots with their runs) and what is sent (a new schedule, a change, a pause,
//! a backfill range). Compatibility promises: add optional fields, never rename. Spans are
//! sent as the CLI types them (`30s`, `15m`, `1d`) or as whole seconds, and read back in both.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tributary_scheduler::cli::format_span;
use tributary_store::{Cadence, Schedule, ScheduleSummary, SlotRecord, SlotWithRun};
use utoipa::ToSchema;
use uuid::Uuid;

/// A span of time: `"15m"` (s, m, h or d) or a number of seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Span {
    /// Whole seconds.
    Seconds(u32),
    /// `30s`, `15m`, `2h`, `1d`.
    Text(String),
}

/// Who paused a schedule, when, and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PauseView {
    /// Why.
    pub reason: String,
    /// Who (`user:<name>`, `token:<name>`, `cli:<os user>`, or `scheduler` for a schedule it
    /// could not plan).
    pub by: String,
    /// Since when.
    pub at: DateTime<Utc>,
}

/// One decided slot.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SlotView {
    /// The slot's nominal time (the first of a run of missed slots).
    pub slot_at: DateTime<Utc>,
    /// `enqueued`, `skipped` (the overlap policy) or `missed` (older than the catch-up window).
    pub outcome: String,
    /// The job an enqueued slot became.
    pub job_id: Option<Uuid>,
    /// The ledger status of that run's newest job (`queued`, `running`, `succeeded`, `dead`,
    /// ...); absent in the list, and for slots without a job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status: Option<String>,
    /// The last slot of a run of missed slots.
    pub missed_through: Option<DateTime<Utc>>,
    /// Slots in that run (absent: too many to count).
    pub missed_count: Option<i64>,
    /// When the scheduler decided.
    pub decided_at: DateTime<Utc>,
}

impl SlotView {
    fn new(slot: SlotRecord, job_status: Option<String>) -> Self {
        Self {
            slot_at: slot.slot_at,
            outcome: slot.outcome,
            job_id: slot.job_id,
            job_status,
            missed_through: slot.missed_through,
            missed_count: slot.missed_count,
            decided_at: slot.decided_at,
        }
    }
}

impl From<SlotWithRun> for SlotView {
    fn from(slot: SlotWithRun) -> Self {
        SlotView::new(slot.slot, slot.run_status)
    }
}

/// A schedule, as listed and shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    /// Its id.
    pub id: i64,
    /// Whose data.
    pub tenant: String,
    /// The source instance.
    pub source: String,
    /// The stream it pulls.
    pub stream: String,
    /// The connector kind (its work queue).
    pub connector: String,
    /// The job kind it enqueues.
    pub kind: String,
    /// Its cron expression (or absent: an interval).
    pub cron: Option<String>,
    /// Its interval, as typed (`15m`) (or absent: a cron expression).
    pub every: Option<String>,
    /// Its interval in seconds.
    pub every_seconds: Option<i32>,
    /// IANA time zone of the cron expression and of backfill dates.
    pub time_zone: String,
    /// Most each slot fires late, in seconds.
    pub jitter_seconds: i32,
    /// `skip`, `buffer_one` or `allow`.
    pub overlap: String,
    /// Slots older than this (plus the jitter) when the scheduler gets to them are missed.
    pub catch_up_seconds: i32,
    /// Whether it is switched on at all.
    pub enabled: bool,
    /// `enabled`, `disabled` or `paused`.
    pub state: String,
    /// The pause, while paused.
    pub paused: Option<PauseView>,
    /// Its first undecided slot (absent: none ever again).
    pub next_slot_at: Option<DateTime<Utc>>,
    /// When that slot is due (its time plus its jitter).
    pub next_fire_at: Option<DateTime<Utc>>,
    /// Its newest decided slot.
    pub last_slot: Option<SlotView>,
    /// Slots missed in the last seven days.
    pub missed_recently: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl ScheduleView {
    /// A schedule with no slot information (after a change).
    pub fn bare(schedule: Schedule) -> Self {
        Self::new(schedule, None, 0)
    }

    fn new(schedule: Schedule, last_slot: Option<SlotView>, missed_recently: i64) -> Self {
        let spec = schedule.spec;
        let (cron, every_seconds) = match spec.cadence {
            Cadence::Cron(expression) => (Some(expression), None),
            Cadence::EverySeconds(seconds) => (None, Some(seconds)),
        };
        let state = match (&schedule.paused, spec.enabled) {
            (Some(_), _) => "paused",
            (None, false) => "disabled",
            (None, true) => "enabled",
        };
        Self {
            id: schedule.id,
            tenant: spec.tenant,
            source: spec.source,
            stream: spec.stream,
            connector: spec.connector,
            kind: spec.kind,
            cron,
            every: every_seconds.map(format_span),
            every_seconds,
            time_zone: spec.time_zone,
            jitter_seconds: spec.jitter_seconds,
            overlap: spec.overlap.as_str().to_owned(),
            catch_up_seconds: spec.catch_up_seconds,
            enabled: spec.enabled,
            state: state.to_owned(),
            paused: schedule.paused.map(|pause| PauseView {
                reason: pause.reason,
                by: pause.by,
                at: pause.at,
            }),
            next_slot_at: schedule.next_slot_at,
            next_fire_at: schedule.next_fire_at,
            last_slot,
            missed_recently,
            created_at: schedule.created_at,
            updated_at: schedule.updated_at,
        }
    }

    /// `cron "0 3 * * *" in Europe/Berlin` or `every 15m`.
    pub fn cadence_text(&self) -> String {
        match (&self.cron, &self.every) {
            (Some(cron), _) => format!("cron {cron:?} in {}", self.time_zone),
            (None, Some(every)) => format!("every {every}"),
            (None, None) => "—".to_owned(),
        }
    }
}

impl From<ScheduleSummary> for ScheduleView {
    fn from(summary: ScheduleSummary) -> Self {
        ScheduleView::new(
            summary.schedule,
            summary.last_slot.map(|slot| SlotView::new(slot, None)),
            summary.missed_recently,
        )
    }
}

/// Schedules, by id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleList {
    /// The schedules.
    pub items: Vec<ScheduleView>,
}

/// One schedule and its recent slots.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleDetail {
    /// The schedule.
    pub schedule: ScheduleView,
    /// Its newest slots, newest first, each with its run's status.
    pub slots: Vec<SlotView>,
}

/// A schedule to create. Exactly one of `cron` and `every`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    /// Tenant to pull for.
    pub tenant: String,
    /// Source id.
    pub source: String,
    /// Stream to pull.
    pub stream: String,
    /// Connector kind of the source (its work queue).
    pub connector: String,
    /// Job kind to enqueue (default `pull`).
    #[serde(default)]
    pub kind: Option<String>,
    /// Cron expression, 5 fields or 6 with seconds first, read in `time_zone`.
    #[serde(default)]
    pub cron: Option<String>,
    /// Interval: slots at its multiples since the Unix epoch.
    #[serde(default)]
    pub every: Option<Span>,
    /// IANA time zone (default `UTC`).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Most each slot fires late, fixed per slot (default 0).
    #[serde(default)]
    pub jitter: Option<Span>,
    /// `skip` (default), `buffer_one` or `allow`.
    #[serde(default)]
    pub overlap: Option<String>,
    /// Catch-up window (default `1h`).
    #[serde(default)]
    pub catch_up: Option<Span>,
    /// Whether it fires (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A change: each field given replaces the stored one. Giving `cron` turns an interval
/// schedule into a cron one, and `every` the other way. A new cadence, time zone or jitter, or
/// enabling it, restarts the schedule from its first slot from now.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleChanges {
    /// New cron expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// New interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Span>,
    /// New time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// New jitter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Span>,
    /// New overlap policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<String>,
    /// New catch-up window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<Span>,
    /// New connector kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    /// Enable or disable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// A pause to make.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseSchedule {
    /// Why (required; shown with the schedule and kept in the audit log).
    pub reason: String,
}

/// A past range to enqueue, one job per window.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Backfill {
    /// Start: a date (`2026-11-01`, midnight in the schedule's time zone) or an RFC 3339 instant.
    pub from: String,
    /// End, excluded: a date or an RFC 3339 instant.
    pub to: String,
    /// Window length (default `1d`; whole days run midnight to midnight).
    #[serde(default)]
    pub window: Option<Span>,
}

/// Jobs put in the outbox (a running scheduler publishes them).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Enqueued {
    /// The schedule.
    pub schedule_id: i64,
    /// How many jobs.
    pub count: usize,
    /// The jobs, in window order.
    pub jobs: Vec<Uuid>,
    /// The start of the first window (absent: an open window, a run now).
    pub from: Option<DateTime<Utc>>,
    /// The end of the last window.
    pub to: Option<DateTime<Utc>>,
}

/// One refused field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// The field (`cron`, `time_zone`, `every`, `reason`, ...).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl Problem {
    /// A problem with `field`.
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// Reads `field: message` (how the planner names its fields) into a problem; text without
    /// a field prefix is filed under `fallback`.
    pub fn parse(text: &str, fallback: &str) -> Self {
        match text.split_once(": ") {
            Some((field, message))
                if !field.is_empty()
                    && field
                        .bytes()
                        .all(|byte| byte.is_ascii_lowercase() || byte == b'_') =>
            {
                Problem::new(field, message)
            }
            _ => Problem::new(fallback, text),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The body of a 400 for a refused request: every problem, each naming its field.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProblemsBody {
    /// `{"status": 400, "message": "...", "problems": [{"field", "message"}]}`.
    pub error: ProblemsError,
}

/// See [`ProblemsBody`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProblemsError {
    /// 400.
    pub status: u16,
    /// Every problem in one line.
    pub message: String,
    /// Every problem.
    pub problems: Vec<Problem>,
}
