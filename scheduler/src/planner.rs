//! The scheduler's side of the store's [`SlotPlanner`]: which slots of a schedule are missed,
//! due or next at an instant (the catch-up rule), the jitter of each, and the job a slot, a run
//! now or a backfill window becomes. Pure: the store applies what this decides, in its claim
//! transaction, together with the overlap policy (which needs the job ledger).
//!
//! The catch-up rule: at `now`, a slot whose time is older than `now - catch_up - jitter` is
//! missed (recorded, not enqueued); a younger one is enqueued once its firing time (slot +
//! jitter) has come. Measuring from the end of the slot's jitter band keeps a slot from being
//! missed because of its own jitter, and keeps missed slots contiguous (one record per run).

use crate::cadence::{self, Cadence};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use tributary_broker::{JobEnvelope, JobKind};
use tributary_connector::{ConnectorKind, SourceId, StreamName, TenantId, Window};
use tributary_store::{
    MissedSlots, NewJob, PlannedJob, Schedule, ScheduleSpec, SlotPlan, SlotPlanner, SlotTime,
};

/// The planner the store is handed by the scheduler, its CLI and queue-admin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Planner;

/// Longest jitter accepted: a day (more is a typo, or a job that wants another cadence).
pub const MAX_JITTER_SECONDS: i32 = 86_400;

impl SlotPlanner for Planner {
    fn problems(&self, spec: &ScheduleSpec) -> Vec<String> {
        let mut problems = Vec::new();
        // Each part on its own, so a bad cron expression and a bad time zone are both reported.
        if let Err(error) = cadence::parse_time_zone(&spec.time_zone) {
            problems.push(error);
        }
        match &spec.cadence {
            tributary_store::Cadence::Cron(expression) => {
                if let Err(error) = cadence::parse_cron(expression) {
                    problems.push(error);
                }
            }
            tributary_store::Cadence::EverySeconds(seconds) => {
                if *seconds <= 0 {
                    problems.push("every: must be at least one second".into());
                }
            }
        }
        if let Err(error) = TenantId::new(spec.tenant.clone()) {
            problems.push(format!("tenant: {error}"));
        }
        if let Err(error) = SourceId::new(spec.source.clone()) {
            problems.push(format!("source: {error}"));
        }
        if let Err(error) = StreamName::new(spec.stream.clone()) {
            problems.push(format!("stream: {error}"));
        }
        if let Err(error) = ConnectorKind::new(spec.connector.clone()) {
            problems.push(format!("connector: {error}"));
        }
        if let Err(error) = job_kind(&spec.kind) {
            problems.push(error);
        }
        if spec.jitter_seconds > MAX_JITTER_SECONDS {
            problems.push(format!(
                "jitter: at most {MAX_JITTER_SECONDS} seconds (a day)"
            ));
        }
        problems
    }

    fn first_slot(
        &self,
        schedule: &Schedule,
        from: DateTime<Utc>,
    ) -> Result<Option<SlotTime>, String> {
        let cadence = Cadence::parse(&schedule.spec.cadence, &schedule.spec.time_zone)?;
        Ok(cadence
            .first_at_or_after(from)
            .map(|slot| slot_time(schedule, slot)))
    }

    fn plan(
        &self,
        schedule: &Schedule,
        now: DateTime<Utc>,
        max_due: usize,
    ) -> Result<SlotPlan, String> {
        let cadence = Cadence::parse(&schedule.spec.cadence, &schedule.spec.time_zone)?;
        Ok(plan_slots(&cadence, schedule, now, max_due))
    }

    /// A slot's or a run-now's job has an open window: for a pull, the source's whole
    /// timeline; for a reconcile, the whole created-at history up to the moment it runs. A
    /// backfill's windows are updated-at windows for pulls and created-at windows for
    /// reconciles.
    fn job(&self, schedule: &Schedule, window: Window) -> Result<PlannedJob, String> {
        let spec = &schedule.spec;
        let envelope = JobEnvelope::new_root(
            job_kind(&spec.kind)?,
            ConnectorKind::new(spec.connector.clone()).map_err(|e| format!("connector: {e}"))?,
            TenantId::new(spec.tenant.clone()).map_err(|e| format!("tenant: {e}"))?,
            SourceId::new(spec.source.clone()).map_err(|e| format!("source: {e}"))?,
            StreamName::new(spec.stream.clone()).map_err(|e| format!("stream: {e}"))?,
            window,
        );
        Ok(PlannedJob {
            job: ledger_row(&envelope),
            body: envelope.to_bytes(),
        })
    }
}

/// The job kind named `kind` (`pull`, ...), as the envelope spells it.
fn job_kind(kind: &str) -> Result<JobKind, String> {
    serde_json::from_value(serde_json::Value::String(kind.to_owned())).map_err(|_| {
        format!("kind: {kind:?} is not a job kind this scheduler knows (pull, noop, reconcile)")
    })
}

/// The ledger row of a new job, as the worker would write it on delivery.
fn ledger_row(job: &JobEnvelope) -> NewJob {
    NewJob {
        id: job.job_id.as_uuid(),
        root_id: job.root().as_uuid(),
        parent_id: None,
        replay_of: None,
        kind: job.kind.as_str().to_owned(),
        connector: job.connector.to_string(),
        tenant: job.tenant.to_string(),
        source: job.source.to_string(),
        stream: job.stream.to_string(),
        envelope: serde_json::to_value(job).expect("an envelope always serializes"),
    }
}

fn slot_time(schedule: &Schedule, slot: DateTime<Utc>) -> SlotTime {
    SlotTime {
        slot_at: slot,
        fire_at: slot + cadence::jitter(schedule.id, slot, schedule.spec.jitter_seconds),
    }
}

/// The catch-up rule (see the module docs) applied to `schedule` at `now`.
pub fn plan_slots(
    cadence: &Cadence,
    schedule: &Schedule,
    now: DateTime<Utc>,
    max_due: usize,
) -> SlotPlan {
    let Some(mut slot) = schedule.next_slot_at else {
        return SlotPlan::default();
    };
    let cutoff = now
        - TimeDelta::seconds(i64::from(schedule.spec.catch_up_seconds))
        - TimeDelta::seconds(i64::from(schedule.spec.jitter_seconds));
    let mut plan = SlotPlan::default();
    if slot < cutoff {
        let (last, count, resume) = cadence.span_before(slot, cutoff);
        plan.missed = Some(MissedSlots {
            first: slot,
            last,
            count,
        });
        match resume {
            Some(resume) => slot = resume,
            None => return plan,
        }
    }
    loop {
        let next = slot_time(schedule, slot);
        if next.fire_at > now || plan.due.len() >= max_due {
            plan.next = Some(next);
            return plan;
        }
        plan.due.push(next);
        match cadence.next_after(slot) {
            Some(after) => slot = after,
            None => return plan,
        }
    }
}

/// One end of a backfill range: a date (midnight in the schedule's time zone) or an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeBound {
    /// Midnight of this date in the schedule's time zone.
    Date(NaiveDate),
    /// This instant.
    Instant(DateTime<Utc>),
}

impl std::str::FromStr for RangeBound {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Ok(date) = text.parse::<NaiveDate>() {
            return Ok(RangeBound::Date(date));
        }
        text.parse::<DateTime<Utc>>()
            .map(RangeBound::Instant)
            .map_err(|_| {
                format!("{text:?} is neither a date (2025-01-31) nor an RFC 3339 instant (2025-01-31T12:00:00Z)")
            })
    }
}

/// The windows `[from, to)` is cut into, `window_seconds` each (the last one may be shorter).
/// With a date as `from` and whole days as the length, windows run from local midnight to local
/// midnight in `time_zone`, however long DST makes a day.
pub fn backfill_windows(
    from: RangeBound,
    to: RangeBound,
    window_seconds: u32,
    time_zone: &str,
) -> Result<Vec<Window>, String> {
    let zone = cadence::parse_time_zone(time_zone)?;
    let resolve = |bound: RangeBound| match bound {
        RangeBound::Date(date) => cadence::local_midnight(date, zone),
        RangeBound::Instant(at) => at,
    };
    let (start, end) = (resolve(from), resolve(to));
    if start >= end {
        return Err("backfill: --from must be before --to".into());
    }
    if window_seconds == 0 {
        return Err("backfill: the window must be longer than zero".into());
    }
    let whole_days = window_seconds
        .is_multiple_of(86_400)
        .then_some(window_seconds / 86_400);
    let mut windows = Vec::new();
    let mut window_start = start;
    let mut day = match from {
        RangeBound::Date(date) => Some(date),
        RangeBound::Instant(_) => None,
    };
    while window_start < end {
        let window_end = match (whole_days, day) {
            (Some(days), Some(date)) => {
                let next = date + chrono::Days::new(u64::from(days));
                day = Some(next);
                cadence::local_midnight(next, zone)
            }
            _ => window_start + TimeDelta::seconds(i64::from(window_seconds)),
        }
        .min(end);
        windows.push(Window {
            from: Some(window_start),
            to: Some(window_end),
        });
        if windows.len() > tributary_store::MAX_BACKFILL_WINDOWS {
            return Err(format!(
                "backfill: more than {} windows; use larger windows or a shorter range",
                tributary_store::MAX_BACKFILL_WINDOWS
            ));
        }
        window_start = window_end;
    }
    Ok(windows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_store::{Cadence as StoredCadence, OverlapPolicy};

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn schedule(cadence: StoredCadence, catch_up: i32, jitter: i32) -> Schedule {
        Schedule {
            id: 42,
            spec: ScheduleSpec {
                tenant: "acme".into(),
                source: "shop".into(),
                stream: "orders".into(),
                connector: "demo".into(),
                kind: "pull".into(),
                cadence,
                time_zone: "UTC".into(),
                jitter_seconds: jitter,
                overlap: OverlapPolicy::Allow,
                catch_up_seconds: catch_up,
                enabled: true,
            },
            paused: None,
            next_slot_at: None,
            next_fire_at: None,
            created_at: utc("2025-01-01T00:00:00Z"),
            updated_at: utc("2025-01-01T00:00:00Z"),
        }
    }

    fn slots(plan: &SlotPlan) -> Vec<DateTime<Utc>> {
        plan.due.iter().map(|slot| slot.slot_at).collect()
    }

    #[test]
    fn slots_within_the_catch_up_window_are_due_and_older_ones_missed_as_one_run() {
        let mut every_minute = schedule(StoredCadence::EverySeconds(60), 180, 0);
        every_minute.next_slot_at = Some(utc("2025-01-01T00:00:00Z"));
        let plan = Planner
            .plan(&every_minute, utc("2025-01-01T01:00:30Z"), 100)
            .unwrap();
        assert_eq!(
            plan.missed,
            Some(MissedSlots {
                first: utc("2025-01-01T00:00:00Z"),
                last: utc("2025-01-01T00:57:00Z"),
                count: Some(58),
            })
        );
        assert_eq!(
            slots(&plan),
            [
                utc("2025-01-01T00:58:00Z"),
                utc("2025-01-01T00:59:00Z"),
                utc("2025-01-01T01:00:00Z"),
            ]
        );
        assert_eq!(
            plan.next.map(|next| next.slot_at),
            Some(utc("2025-01-01T01:01:00Z"))
        );
    }

    #[test]
    fn a_slot_waits_for_its_jitter_and_is_never_missed_because_of_it() {
        let mut jittered = schedule(StoredCadence::EverySeconds(3_600), 0, 600);
        let slot = utc("2025-01-01T01:00:00Z");
        jittered.next_slot_at = Some(slot);
        let fire = slot + cadence::jitter(42, slot, 600);
        assert!(
            fire > slot,
            "the pinned schedule has a non-zero jitter here"
        );
        let before = Planner
            .plan(&jittered, fire - TimeDelta::milliseconds(1), 10)
            .unwrap();
        assert!(before.due.is_empty() && before.missed.is_none());
        assert_eq!(
            before.next,
            Some(SlotTime {
                slot_at: slot,
                fire_at: fire
            })
        );
        // With no catch-up at all, a slot claimed at the end of its jitter band still runs.
        let late = Planner
            .plan(&jittered, slot + TimeDelta::seconds(600), 10)
            .unwrap();
        assert_eq!(slots(&late), [slot]);
        assert!(late.missed.is_none());
    }

    #[test]
    fn a_schedule_far_behind_is_continued_in_bounded_claims() {
        let mut every_second = schedule(StoredCadence::EverySeconds(1), 3_600, 0);
        every_second.next_slot_at = Some(utc("2025-01-01T00:00:00Z"));
        let plan = Planner
            .plan(&every_second, utc("2025-01-01T00:30:00Z"), 1_000)
            .unwrap();
        assert_eq!(plan.due.len(), 1_000);
        assert_eq!(
            plan.next,
            Some(SlotTime {
                slot_at: utc("2025-01-01T00:16:40Z"),
                fire_at: utc("2025-01-01T00:16:40Z"),
            }),
            "the next claim starts where this one stopped, already due"
        );
    }

    #[test]
    fn a_schedule_without_a_next_slot_plans_nothing() {
        let plan = Planner
            .plan(
                &schedule(StoredCadence::EverySeconds(1), 60, 0),
                utc("2025-01-01T00:00:00Z"),
                10,
            )
            .unwrap();
        assert_eq!(plan, SlotPlan::default());
    }

    #[test]
    fn problems_name_each_bad_field() {
        let mut spec = schedule(StoredCadence::Cron("nope".into()), 60, 0).spec;
        spec.tenant = "bad tenant".into();
        spec.kind = "reconcile-everything".into();
        spec.jitter_seconds = MAX_JITTER_SECONDS + 1;
        let problems = Planner.problems(&spec).join("\n");
        for field in ["cron:", "tenant:", "kind:", "jitter:"] {
            assert!(problems.contains(field), "{field} missing from {problems}");
        }
        assert!(Planner
            .problems(&schedule(StoredCadence::EverySeconds(60), 60, 0).spec)
            .is_empty());
    }

    #[test]
    fn a_job_is_a_root_pull_of_the_schedule_s_stream() {
        let window = Window {
            from: Some(utc("2025-01-01T00:00:00Z")),
            to: Some(utc("2025-01-02T00:00:00Z")),
        };
        let planned = Planner
            .job(&schedule(StoredCadence::EverySeconds(60), 60, 0), window)
            .unwrap();
        let envelope = JobEnvelope::parse(&planned.body).unwrap();
        assert_eq!(envelope.job_id.as_uuid(), planned.job.id);
        assert_eq!(planned.job.root_id, planned.job.id);
        assert_eq!(envelope.kind, JobKind::Pull);
        assert_eq!(envelope.window, window);
        assert_eq!(
            (planned.job.tenant.as_str(), planned.job.stream.as_str()),
            ("acme", "orders")
        );
    }

    #[test]
    fn a_reconcile_schedule_plans_reconcile_jobs_over_the_whole_history() {
        let mut reconcile = schedule(StoredCadence::Cron("0 3 * * *".into()), 3_600, 0);
        reconcile.spec.kind = "reconcile".into();
        assert_eq!(Planner.problems(&reconcile.spec), Vec::<String>::new());
        let planned = Planner.job(&reconcile, Window::default()).unwrap();
        let envelope = JobEnvelope::parse(&planned.body).unwrap();
        assert_eq!(envelope.kind, JobKind::Reconcile);
        assert_eq!(planned.job.kind, "reconcile");
        assert_eq!(envelope.window, Window::default());
        reconcile.spec.kind = "reconcile_all".into();
        assert!(Planner.problems(&reconcile.spec)[0].contains("pull, noop, reconcile"));
    }

    #[test]
    fn backfill_days_run_from_local_midnight_to_local_midnight_across_dst() {
        let windows = backfill_windows(
            "2025-03-29".parse().unwrap(),
            "2025-04-01".parse().unwrap(),
            86_400,
            "Europe/Berlin",
        )
        .unwrap();
        let bounds: Vec<(DateTime<Utc>, DateTime<Utc>)> = windows
            .iter()
            .map(|w| (w.from.unwrap(), w.to.unwrap()))
            .collect();
        assert_eq!(
            bounds,
            [
                (utc("2025-03-28T23:00:00Z"), utc("2025-03-29T23:00:00Z")),
                (utc("2025-03-29T23:00:00Z"), utc("2025-03-30T22:00:00Z")),
                (utc("2025-03-30T22:00:00Z"), utc("2025-03-31T22:00:00Z")),
            ],
            "the DST day is 23 hours long"
        );
        let hours = backfill_windows(
            "2025-01-01T00:00:00Z".parse().unwrap(),
            "2025-01-01T05:00:00Z".parse().unwrap(),
            7_200,
            "UTC",
        )
        .unwrap();
        assert_eq!(hours.len(), 3);
        assert_eq!(
            hours[2].to,
            Some(utc("2025-01-01T05:00:00Z")),
            "the last is cut at --to"
        );
        assert!(backfill_windows(
            "2025-01-02".parse().unwrap(),
            "2025-01-01".parse().unwrap(),
            86_400,
            "UTC"
        )
        .is_err());
    }
}
