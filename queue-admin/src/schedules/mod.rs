//! Schedules in queue-admin: list them with their state (enabled, disabled, paused with the
//! reason), cadence, next slot, latest slot and recent misses; show one with its recent slots
//! and their runs; create, edit, pause (reason required), resume, run now and backfill a range
//! — behind the JSON API ([`api`]), the web pages ([`pages`]) and, through the API, the CLI.
//!
//! The operations here turn what a person sent into the store's types, checking every field
//! first (bounded lengths, spans, the overlap policy, then the scheduler's own
//! `Planner::problems`) so that each refusal names its field; atomicity and the audit row
//! (actor `user:<name>` or `token:<name>`) are the store's. Time arithmetic (cron, zones,
//! backfill windows) is `tributary-scheduler`'s: this module holds none, and no SQL.

pub mod api;
pub mod pages;
pub mod wire;

use crate::auth::Principal;
use crate::error::{AdminError, ApiError};
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use tributary_scheduler::cadence::parse_span;
use tributary_scheduler::cli::DEFAULT_RECONCILE_CRON;
use tributary_scheduler::planner::{backfill_windows, RangeBound};
use tributary_scheduler::Planner;
use tributary_store::{
    Cadence, OverlapPolicy, Schedule, ScheduleEdit, ScheduleError, ScheduleFilter, ScheduleSpec,
    SlotPlanner, StoreError,
};
use utoipa_axum::router::OpenApiRouter;
use wire::{
    Backfill, Enqueued, NewSchedule, Problem, ProblemsBody, ProblemsError, ScheduleChanges,
    ScheduleDetail, ScheduleView, Span,
};

/// Slots shown with a schedule.
pub const SLOTS_SHOWN: i64 = 50;
/// Longest tenant, source, stream, connector or job kind accepted.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest cron expression accepted.
pub const MAX_CRON_CHARS: usize = 200;
/// Longest time zone name accepted (the longest IANA name is 32 characters).
pub const MAX_ZONE_CHARS: usize = 64;
/// Longest span (`15m`) or backfill bound (`2026-11-01T00:00:00+01:00`) accepted.
pub const MAX_SPAN_CHARS: usize = 40;
/// Longest pause reason accepted (the store keeps at most this).
pub const MAX_REASON_CHARS: usize = 500;

/// The JSON API routes.
pub fn api_routes() -> OpenApiRouter<AppState> {
    api::routes()
}

/// The web UI routes.
pub fn ui_routes() -> Router<AppState> {
    pages::routes()
}

/// Why a schedule operation was refused: fields that are wrong (each named), or anything else.
#[derive(Debug)]
pub enum Refusal {
    /// The request's fields: a 400 listing each problem.
    Invalid(Vec<Problem>),
    /// Not found, not allowed, a conflict, or our fault.
    Other(AdminError),
}

impl Refusal {
    /// One problem with one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Refusal::Invalid(vec![Problem::new(field, message)])
    }

    /// The refusal as an [`AdminError`] (the problems joined into one message).
    pub fn into_admin_error(self) -> AdminError {
        match self {
            Refusal::Invalid(problems) => AdminError::BadRequest(joined(&problems)),
            Refusal::Other(error) => error,
        }
    }
}

fn joined(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl<E: Into<AdminError>> From<E> for Refusal {
    fn from(error: E) -> Self {
        Refusal::Other(error.into())
    }
}

impl From<ScheduleError> for Refusal {
    fn from(error: ScheduleError) -> Self {
        match error {
            // The store joins the planner's `field: message` problems with "; ".
            ScheduleError::Invalid(message) => Refusal::Invalid(
                message
                    .split("; ")
                    .map(|text| Problem::parse(text, "schedule"))
                    .collect(),
            ),
            ScheduleError::NotFound(id) => Refusal::Other(AdminError::NotFound(format!(
                "schedule {id} does not exist"
            ))),
            ScheduleError::Conflict(message) => Refusal::Other(AdminError::Conflict(message)),
            ScheduleError::Store(error) => Refusal::Other(error.into()),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Invalid(problems) => (
                StatusCode::BAD_REQUEST,
                Json(ProblemsBody {
                    error: ProblemsError {
                        status: StatusCode::BAD_REQUEST.as_u16(),
                        message: joined(&problems),
                        problems,
                    },
                }),
            )
                .into_response(),
            Refusal::Other(error) => ApiError(error).into_response(),
        }
    }
}

/// Collects the problems of one request.
#[derive(Debug, Default)]
struct Checks {
    problems: Vec<Problem>,
}

impl Checks {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.problems.push(Problem::new(field, message));
    }

    /// `text` trimmed, or a problem when it is longer than `max` characters.
    fn bounded(&mut self, field: &str, text: &str, max: usize) -> String {
        let text = text.trim();
        if text.chars().count() > max {
            self.add(field, format!("at most {max} characters"));
            return String::new();
        }
        text.to_owned()
    }

    /// A span in seconds, or a problem.
    fn span(&mut self, field: &str, span: &Span) -> Option<i32> {
        let seconds = match span {
            Span::Seconds(seconds) => Ok(*seconds),
            Span::Text(text) if text.chars().count() > MAX_SPAN_CHARS => {
                Err(format!("at most {MAX_SPAN_CHARS} characters"))
            }
            Span::Text(text) => parse_span(text),
        };
        match seconds.map(i32::try_from) {
            Ok(Ok(seconds)) => Some(seconds),
            Ok(Err(_)) => {
                self.add(field, "too long");
                None
            }
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    fn overlap(&mut self, text: &str) -> Option<OverlapPolicy> {
        let policy = OverlapPolicy::parse(text.trim());
        if policy.is_none() {
            self.add(
                "overlap",
                format!("{:?} is not skip, buffer_one or allow", bounded_echo(text)),
            );
        }
        policy
    }

    /// The cadence from exactly one of `cron` and `every` (`None` and no problem: neither).
    fn cadence(&mut self, cron: Option<&str>, every: Option<&Span>) -> Option<Cadence> {
        match (cron, every) {
            (Some(_), Some(_)) => {
                self.add("every", "give either cron or every, not both");
                None
            }
            (Some(cron), None) if cron.trim().is_empty() => {
                self.add("cron", "give a cron expression or an interval (every)");
                None
            }
            (Some(cron), None) => {
                let cron = self.bounded("cron", cron, MAX_CRON_CHARS);
                (!cron.is_empty()).then_some(Cadence::Cron(cron))
            }
            (None, Some(every)) => match self.span("every", every)? {
                0 => {
                    self.add("every", "must be at least one second");
                    None
                }
                seconds => Some(Cadence::EverySeconds(seconds)),
            },
            (None, None) => None,
        }
    }

    /// Adds the planner's problems with `spec` (each names its field), unless there are
    /// problems already (a spec built from bad fields would only repeat them).
    fn planner(&mut self, spec: &ScheduleSpec) {
        if self.problems.is_empty() {
            self.problems.extend(
                Planner
                    .problems(spec)
                    .iter()
                    .map(|text| Problem::parse(text, "schedule")),
            );
        }
    }

    fn finish(self) -> Result<(), Refusal> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Invalid(self.problems))
        }
    }
}

/// At most 60 characters of what someone typed, for quoting it back.
fn bounded_echo(text: &str) -> String {
    text.chars().take(60).collect()
}

/// Every schedule with its latest slot and recent misses.
pub async fn list(state: &AppState) -> Result<Vec<ScheduleView>, AdminError> {
    let summaries = state
        .store()
        .schedule_summaries(&ScheduleFilter::default())
        .await?;
    Ok(summaries.into_iter().map(ScheduleView::from).collect())
}

/// One schedule with its newest slots and their runs.
pub async fn detail(state: &AppState, id: i64) -> Result<ScheduleDetail, AdminError> {
    let schedule = state
        .store()
        .schedule(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("schedule {id} does not exist")))?;
    let slots = state.store().schedule_slot_runs(id, SLOTS_SHOWN).await?;
    let mut view = ScheduleView::bare(schedule);
    view.last_slot = slots.first().cloned().map(Into::into);
    Ok(ScheduleDetail {
        schedule: view,
        slots: slots.into_iter().map(Into::into).collect(),
    })
}

/// The schedule `new` describes, or every problem with it.
pub fn new_spec(new: &NewSchedule) -> Result<ScheduleSpec, Refusal> {
    let mut checks = Checks::default();
    let mut name = |field: &str, value: &str| {
        let value = checks.bounded(field, value, MAX_NAME_CHARS);
        if value.is_empty() && !checks.problems.iter().any(|p| p.field == field) {
            checks.add(field, "required");
        }
        value
    };
    let tenant = name("tenant", &new.tenant);
    let source = name("source", &new.source);
    let stream = name("stream", &new.stream);
    let connector = name("connector", &new.connector);
    let kind = name("kind", new.kind.as_deref().unwrap_or("pull"));
    let mut cadence = checks.cadence(new.cron.as_deref(), new.every.as_ref());
    let cadence_given = cadence.is_some()
        || checks
            .problems
            .iter()
            .any(|p| p.field == "cron" || p.field == "every");
    if !cadence_given && kind == "reconcile" {
        // As `tributary-scheduler schedules create --kind reconcile`: daily, at a quiet hour.
        cadence = Some(Cadence::Cron(DEFAULT_RECONCILE_CRON.to_owned()));
    } else if !cadence_given {
        checks.add("cron", "give a cron expression or an interval (every)");
    }
    let time_zone = checks.bounded(
        "time_zone",
        new.time_zone.as_deref().unwrap_or("UTC"),
        MAX_ZONE_CHARS,
    );
    let jitter = checks.span("jitter", new.jitter.as_ref().unwrap_or(&Span::Seconds(0)));
    let overlap = checks.overlap(new.overlap.as_deref().unwrap_or("skip"));
    let catch_up = checks.span(
        "catch_up",
        new.catch_up.as_ref().unwrap_or(&Span::Seconds(3_600)),
    );
    let (Some(cadence), Some(jitter_seconds), Some(overlap), Some(catch_up_seconds)) =
        (cadence, jitter, overlap, catch_up)
    else {
        checks.finish()?;
        unreachable!("a missing part always comes with its problem");
    };
    let spec = ScheduleSpec {
        tenant,
        source,
        stream,
        connector,
        kind,
        cadence,
        time_zone,
        jitter_seconds,
        overlap,
        catch_up_seconds,
        enabled: new.enabled.unwrap_or(true),
    };
    checks.planner(&spec);
    checks.finish()?;
    Ok(spec)
}

/// The store's edit for `changes`, checked against `current` (the schedule as it would be
/// after the change must pass the planner), or every problem with it.
pub fn edit_of(current: &Schedule, changes: &ScheduleChanges) -> Result<ScheduleEdit, Refusal> {
    let mut checks = Checks::default();
    let cadence = checks.cadence(changes.cron.as_deref(), changes.every.as_ref());
    let time_zone = changes
        .time_zone
        .as_deref()
        .map(|zone| checks.bounded("time_zone", zone, MAX_ZONE_CHARS));
    let jitter_seconds = changes
        .jitter
        .as_ref()
        .and_then(|jitter| checks.span("jitter", jitter));
    let overlap = changes
        .overlap
        .as_deref()
        .and_then(|overlap| checks.overlap(overlap));
    let catch_up_seconds = changes
        .catch_up
        .as_ref()
        .and_then(|catch_up| checks.span("catch_up", catch_up));
    let connector = changes
        .connector
        .as_deref()
        .map(|connector| checks.bounded("connector", connector, MAX_NAME_CHARS));
    let edit = ScheduleEdit {
        cadence,
        time_zone,
        jitter_seconds,
        overlap,
        catch_up_seconds,
        enabled: changes.enabled,
        connector,
    };
    let mut after = current.spec.clone();
    if let Some(cadence) = &edit.cadence {
        after.cadence = cadence.clone();
    }
    if let Some(time_zone) = &edit.time_zone {
        after.time_zone = time_zone.clone();
    }
    if let Some(jitter) = edit.jitter_seconds {
        after.jitter_seconds = jitter;
    }
    if let Some(connector) = &edit.connector {
        after.connector = connector.clone();
    }
    checks.planner(&after);
    checks.finish()?;
    if edit == ScheduleEdit::default() {
        return Err(Refusal::field(
            "schedule",
            "nothing to change: give at least one setting",
        ));
    }
    Ok(edit)
}

/// Creates a schedule as `principal`.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    new: &NewSchedule,
) -> Result<Schedule, Refusal> {
    let spec = new_spec(new)?;
    Ok(state
        .store()
        .create_schedule(&spec, &Planner, &principal.actor)
        .await?)
}

async fn current(state: &AppState, id: i64) -> Result<Schedule, Refusal> {
    state
        .store()
        .schedule(id)
        .await
        .map_err(|error: StoreError| Refusal::from(error))?
        .ok_or_else(|| {
            Refusal::Other(AdminError::NotFound(format!(
                "schedule {id} does not exist"
            )))
        })
}

/// Changes a schedule as `principal`.
pub async fn edit(
    state: &AppState,
    principal: &Principal,
    id: i64,
    changes: &ScheduleChanges,
) -> Result<Schedule, Refusal> {
    let edit = edit_of(&current(state, id).await?, changes)?;
    Ok(state
        .store()
        .edit_schedule(id, &edit, &Planner, &principal.actor)
        .await?)
}

/// Pauses a schedule as `principal`; the reason is required.
pub async fn pause(
    state: &AppState,
    principal: &Principal,
    id: i64,
    reason: &str,
) -> Result<Schedule, Refusal> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Refusal::field(
            "reason",
            "required; say why (it is shown with the schedule and kept in the audit log)",
        ));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(Refusal::field(
            "reason",
            format!("at most {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok(state
        .store()
        .pause_schedule(id, reason, &principal.actor)
        .await?)
}

/// Resumes a paused schedule as `principal`, from its first slot from now.
pub async fn resume(state: &AppState, principal: &Principal, id: i64) -> Result<Schedule, Refusal> {
    Ok(state
        .store()
        .resume_schedule(id, &Planner, &principal.actor)
        .await?)
}

/// Enqueues one job of the schedule now, as `principal` (through the outbox).
pub async fn run_now(
    state: &AppState,
    principal: &Principal,
    id: i64,
) -> Result<Enqueued, Refusal> {
    let job = state
        .store()
        .run_schedule_now(id, &Planner, &principal.actor)
        .await?;
    Ok(Enqueued {
        schedule_id: id,
        count: 1,
        jobs: vec![job],
        from: None,
        to: None,
    })
}

/// Enqueues one job per window of `range`, as `principal` (through the outbox).
pub async fn backfill(
    state: &AppState,
    principal: &Principal,
    id: i64,
    range: &Backfill,
) -> Result<Enqueued, Refusal> {
    let mut checks = Checks::default();
    let mut bound = |field: &str, text: &str| -> Option<RangeBound> {
        let text = checks.bounded(field, text, MAX_SPAN_CHARS);
        if text.is_empty() {
            if !checks.problems.iter().any(|p| p.field == field) {
                checks.add(
                    field,
                    "required: a date (2026-11-01) or an RFC 3339 instant",
                );
            }
            return None;
        }
        text.parse::<RangeBound>()
            .map_err(|message| checks.add(field, message))
            .ok()
    };
    let from = bound("from", &range.from);
    let to = bound("to", &range.to);
    let window = checks.span(
        "window",
        range.window.as_ref().unwrap_or(&Span::Seconds(86_400)),
    );
    let (Some(from), Some(to), Some(window)) = (from, to, window) else {
        checks.finish()?;
        unreachable!("a missing part always comes with its problem");
    };
    let schedule = current(state, id).await?;
    let windows = backfill_windows(
        from,
        to,
        u32::try_from(window).unwrap_or(0),
        &schedule.spec.time_zone,
    )
    .map_err(|message| {
        // The planner speaks of the CLI's flags; name the fields of the request instead.
        let message = message.replace("--from", "from").replace("--to", "to");
        let field = if message.contains("window") && !message.contains("windows") {
            "window"
        } else if message.contains("from must be before") {
            "to"
        } else {
            "window"
        };
        Refusal::field(field, message.trim_start_matches("backfill: ").to_owned())
    })?;
    let jobs = state
        .store()
        .backfill_schedule(id, &windows, &Planner, &principal.actor)
        .await?;
    Ok(Enqueued {
        schedule_id: id,
        count: jobs.len(),
        jobs,
        from: windows.first().and_then(|window| window.from),
        to: windows.last().and_then(|window| window.to),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_schedule() -> NewSchedule {
        NewSchedule {
            tenant: "acme".into(),
            source: "demo_shop".into(),
            stream: "orders".into(),
            connector: "demo".into(),
            every: Some(Span::Text("15m".into())),
            ..NewSchedule::default()
        }
    }

    fn fields(refusal: Refusal) -> Vec<String> {
        match refusal {
            Refusal::Invalid(problems) => problems.into_iter().map(|p| p.field).collect(),
            Refusal::Other(error) => panic!("not a field problem: {error}"),
        }
    }

    #[test]
    fn a_good_schedule_gets_the_defaults() {
        let spec = new_spec(&new_schedule()).unwrap();
        assert_eq!(spec.cadence, Cadence::EverySeconds(900));
        assert_eq!(spec.time_zone, "UTC");
        assert_eq!(spec.kind, "pull");
        assert_eq!(spec.overlap, OverlapPolicy::Skip);
        assert_eq!(spec.catch_up_seconds, 3_600);
        assert!(spec.enabled);
    }

    #[test]
    fn each_bad_field_is_named() {
        let bad = NewSchedule {
            cron: Some("61 * * * *".into()),
            every: None,
            time_zone: Some("Mars/Olympus".into()),
            ..new_schedule()
        };
        assert_eq!(fields(new_spec(&bad).unwrap_err()), ["time_zone", "cron"]);
        let bad = NewSchedule {
            every: Some(Span::Text("15 minutes".into())),
            overlap: Some("sometimes".into()),
            jitter: Some(Span::Text("x".repeat(1_000))),
            tenant: "a".repeat(129),
            ..new_schedule()
        };
        assert_eq!(
            fields(new_spec(&bad).unwrap_err()),
            ["tenant", "every", "jitter", "overlap"]
        );
        let neither = NewSchedule {
            every: None,
            ..new_schedule()
        };
        assert_eq!(fields(new_spec(&neither).unwrap_err()), ["cron"]);
        let both = NewSchedule {
            cron: Some("* * * * *".into()),
            ..new_schedule()
        };
        assert_eq!(fields(new_spec(&both).unwrap_err()), ["every"]);
        let zero = NewSchedule {
            every: Some(Span::Seconds(0)),
            ..new_schedule()
        };
        assert_eq!(fields(new_spec(&zero).unwrap_err()), ["every"]);
        let empty = NewSchedule {
            source: " ".into(),
            ..new_schedule()
        };
        assert_eq!(fields(new_spec(&empty).unwrap_err()), ["source"]);
    }

    #[test]
    fn problems_read_their_field_from_the_planners_text() {
        assert_eq!(
            Problem::parse("time_zone: \"x\" is not an IANA time zone name", "schedule").field,
            "time_zone"
        );
        assert_eq!(
            Problem::parse("no field here", "schedule").field,
            "schedule"
        );
        assert_eq!(Problem::parse("A: b", "schedule").field, "schedule");
    }
}
