//! The schedules pages: `/schedules` (every schedule with its state, cadence, next slot, latest
//! slot and recent misses), `/schedules/{id}` (settings, recent slots with their runs, and for
//! operators the pause, resume, run-now and backfill forms), `/schedules/new` and
//! `/schedules/{id}/edit`. A refused form is shown again with what was typed and each field's
//! message next to it; nothing is stored. Every value is interpolated by maud, which escapes it.

use super::wire::{
    Backfill, NewSchedule, Problem, ScheduleChanges, ScheduleDetail, ScheduleView, Span,
};
use super::Refusal;
use crate::auth::{CsrfForm, Operator, Principal, Role, Viewer};
use crate::error::{PageError, PageResult};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/schedules", get(list_page).post(create_form))
        .route("/schedules/new", get(new_page))
        .route("/schedules/{id}", get(detail_page))
        .route("/schedules/{id}/edit", get(edit_page).post(edit_form))
        .route("/schedules/{id}/pause", post(pause_form))
        .route("/schedules/{id}/resume", post(resume_form))
        .route("/schedules/{id}/run-now", post(run_now_form))
        .route("/schedules/{id}/backfill", post(backfill_form))
}

/// What the redirect after a change reports (fixed sentences, so a crafted link cannot put
/// arbitrary text on the page).
#[derive(Debug, Default, Deserialize)]
struct Done {
    done: Option<String>,
    count: Option<u32>,
}

impl Done {
    fn message(&self) -> Option<String> {
        Some(match self.done.as_deref()? {
            "created" => "Created. It starts at its first slot from now.".to_owned(),
            "changed" => "Changed.".to_owned(),
            "paused" => "Paused: it enqueues nothing until resumed.".to_owned(),
            "resumed" => "Resumed from its next slot.".to_owned(),
            "run_now" => "One job is in the outbox; a running scheduler publishes it.".to_owned(),
            "backfilled" => format!(
                "{} jobs are in the outbox; a running scheduler publishes them.",
                self.count.unwrap_or(0)
            ),
            _ => return None,
        })
    }
}

fn redirect(id: i64, done: &str, count: Option<usize>) -> Response {
    let location = match count {
        Some(count) => format!("/schedules/{id}?done={done}&count={count}"),
        None => format!("/schedules/{id}?done={done}"),
    };
    let location =
        HeaderValue::from_str(&location).unwrap_or(HeaderValue::from_static("/schedules"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

fn state_badge(schedule: &ScheduleView) -> Markup {
    html! {
        @match schedule.state.as_str() {
            "paused" => span.badge.warn { "paused" },
            "disabled" => span.badge { "disabled" },
            _ => span.badge.ok { "enabled" },
        }
    }
}

fn outcome_badge(outcome: &str) -> Markup {
    html! {
        @match outcome {
            "enqueued" => span.badge.ok { (outcome) },
            "missed" => span.badge.bad { (outcome) },
            _ => span.badge.warn { (outcome) },
        }
    }
}

fn optional_time(at: Option<chrono::DateTime<chrono::Utc>>) -> Markup {
    html! { @if let Some(at) = at { (crate::ui::time(at)) } @else { span.muted { "—" } } }
}

async fn list_page(State(state): State<AppState>, Viewer(principal): Viewer) -> PageResult {
    let schedules = super::list(&state).await?;
    let operator = principal.role >= Role::Operator;
    let body = html! {
        p.muted {
            "When each stream is pulled. A paused schedule enqueues nothing until resumed; a slot "
            "older than the schedule's catch-up window is missed, not enqueued. Missed counts the "
            "last seven days."
        }
        @if operator { p { a href="/schedules/new" { "New schedule" } } }
        @if schedules.is_empty() {
            p.muted { "No schedule yet." }
        } @else {
            table #schedules {
                thead { tr {
                    th { "#" } th { "Tenant / source / stream" } th { "State" } th { "Cadence" }
                    th { "Zone" } th { "Next slot" } th { "Last slot" } th.num { "Missed" }
                } }
                tbody { @for schedule in &schedules {
                    tr {
                        td { a href=(format!("/schedules/{}", schedule.id)) { (schedule.id) } }
                        td {
                            a href=(format!("/schedules/{}", schedule.id)) {
                                (schedule.tenant) " / " (schedule.source) " / " (schedule.stream)
                            }
                            " " span.muted { (schedule.kind) " via " (schedule.connector) }
                        }
                        td {
                            (state_badge(schedule))
                            @if let Some(pause) = &schedule.paused {
                                " " (pause.reason) " " span.muted { "— " (pause.by) }
                            }
                        }
                        td { code { @if let Some(cron) = &schedule.cron { (cron) } @else if let Some(every) = &schedule.every { "every " (every) } } }
                        td { (schedule.time_zone) }
                        td { (optional_time(schedule.next_slot_at)) }
                        td {
                            @if let Some(slot) = &schedule.last_slot {
                                (outcome_badge(&slot.outcome)) " " (crate::ui::time(slot.slot_at))
                            } @else { span.muted { "none yet" } }
                        }
                        td.num.bad[schedule.missed_recently > 0] { (schedule.missed_recently) }
                    }
                } }
            }
        }
    };
    Ok(crate::ui::page("Schedules", "/schedules", &principal, body))
}

/// What was typed into the detail page's forms, and what was wrong with it.
#[derive(Debug, Default)]
struct DetailForms {
    reason: String,
    from: String,
    to: String,
    window: String,
    problems: Vec<Problem>,
}

fn problem_for<'a>(problems: &'a [Problem], field: &str) -> Option<&'a str> {
    problems
        .iter()
        .find(|problem| problem.field == field)
        .map(|problem| problem.message.as_str())
}

fn field_message(problems: &[Problem], field: &str) -> Markup {
    html! {
        @if let Some(message) = problem_for(problems, field) {
            span.bad.problem data-field=(field) { (message) }
        }
    }
}

/// Problems not shown next to one of `fields`: shown on top.
fn other_problems(problems: &[Problem], fields: &[&str]) -> Markup {
    html! {
        @for problem in problems.iter().filter(|p| !fields.contains(&p.field.as_str())) {
            (crate::ui::flash(&problem.to_string(), true))
        }
    }
}

fn detail_markup(
    principal: &Principal,
    detail: &ScheduleDetail,
    done: Option<String>,
    forms: &DetailForms,
) -> Markup {
    let schedule = &detail.schedule;
    let operator = principal.role >= Role::Operator;
    let csrf = crate::ui::csrf_field(principal);
    let path = format!("/schedules/{}", schedule.id);
    let problems = &forms.problems;
    html! {
        @if let Some(message) = done { (crate::ui::flash(&message, false)) }
        (other_problems(problems, &["reason", "from", "to", "window"]))
        table.settings {
            tbody {
                tr { th { "Tenant" } td { (schedule.tenant) } }
                tr { th { "Source" } td { code { (schedule.source) } } }
                tr { th { "Stream" } td { (schedule.stream) } }
                tr { th { "Connector" } td { (schedule.connector) } }
                tr { th { "Job kind" } td { (schedule.kind) } }
                tr { th { "State" } td {
                    (state_badge(schedule))
                    @if let Some(pause) = &schedule.paused {
                        " " (pause.reason) " — " (pause.by) ", " (crate::ui::time(pause.at))
                    }
                } }
                tr { th { "Cadence" } td { code { (schedule.cadence_text()) } } }
                tr { th { "Time zone" } td { (schedule.time_zone) } }
                tr { th { "Jitter" } td { (tributary_scheduler::cli::format_span(schedule.jitter_seconds)) } }
                tr { th { "Overlap" } td { (schedule.overlap) } }
                tr { th { "Catch-up" } td { (tributary_scheduler::cli::format_span(schedule.catch_up_seconds)) } }
                tr { th { "Next slot" } td { (optional_time(schedule.next_slot_at))
                    @if let Some(fire) = schedule.next_fire_at { " " span.muted { "fires " (fire.format("%H:%M:%S%.3f UTC")) } } } }
                tr { th { "Created" } td { (crate::ui::time(schedule.created_at)) } }
                tr { th { "Changed" } td { (crate::ui::time(schedule.updated_at)) } }
            }
        }
        @if operator {
            div.actions {
                a href=(format!("{path}/edit")) { "Edit" }
                @if schedule.paused.is_some() {
                    form method="post" action=(format!("{path}/resume")) {
                        (csrf)
                        button type="submit" { "Resume" }
                    }
                } @else {
                    form method="post" action=(format!("{path}/pause")) {
                        (csrf)
                        label { "Reason" input type="text" name="reason" required maxlength=(super::MAX_REASON_CHARS) value=(forms.reason); (field_message(problems, "reason")) }
                        button.danger type="submit" { "Pause" }
                    }
                }
                form method="post" action=(format!("{path}/run-now")) {
                    (csrf)
                    button.secondary type="submit" { "Run now" }
                }
            }
            h2 { "Backfill a range" }
            form.filters method="post" action=(format!("{path}/backfill")) {
                (csrf)
                label { "From (date or RFC 3339)" input type="text" name="from" required maxlength=(super::MAX_SPAN_CHARS) placeholder="2026-11-01" value=(forms.from); (field_message(problems, "from")) }
                label { "To, excluded" input type="text" name="to" required maxlength=(super::MAX_SPAN_CHARS) placeholder="2026-11-08" value=(forms.to); (field_message(problems, "to")) }
                label { "Window" input type="text" name="window" maxlength=(super::MAX_SPAN_CHARS) placeholder="1d" value=(forms.window); (field_message(problems, "window")) }
                button type="submit" { "Backfill" }
            }
        }
        h2 { "Recent slots" }
        @if detail.slots.is_empty() {
            p.muted { "No slot decided yet." }
        } @else {
            table #slots {
                thead { tr { th { "Slot" } th { "Outcome" } th { "Job" } th { "Run" } th { "Decided" } } }
                tbody { @for slot in &detail.slots {
                    tr {
                        td { (crate::ui::time(slot.slot_at)) }
                        td {
                            (outcome_badge(&slot.outcome))
                            @if let Some(through) = slot.missed_through {
                                " through " (through.format("%Y-%m-%d %H:%M:%S UTC"))
                                " (" @if let Some(count) = slot.missed_count { (count) " slots" } @else { "uncounted" } ")"
                            }
                        }
                        td { @if let Some(job) = slot.job_id { code { (job) } } @else { span.muted { "—" } } }
                        td { @if let Some(status) = &slot.job_status { (status) } @else { span.muted { "—" } } }
                        td { (crate::ui::time(slot.decided_at)) }
                    }
                } }
            }
        }
        p { a href="/schedules" { "All schedules" } " · "
            a href=(format!("/audit?target={}", crate::overview::url_escape(&format!("schedule:{}", schedule.id)))) { "Audit log" } }
    }
}

fn detail_title(schedule: &ScheduleView) -> String {
    format!(
        "Schedule #{}: {} / {} / {}",
        schedule.id, schedule.tenant, schedule.source, schedule.stream
    )
}

async fn detail_page(
    State(state): State<AppState>,
    Viewer(principal): Viewer,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> PageResult {
    let detail = super::detail(&state, id).await?;
    Ok(crate::ui::page(
        &detail_title(&detail.schedule),
        "/schedules",
        &principal,
        detail_markup(&principal, &detail, done.message(), &DetailForms::default()),
    ))
}

/// The detail page again, with what was typed and each field's problem; a refusal that is not
/// about fields becomes an error page.
async fn refused_detail(
    state: &AppState,
    principal: &Principal,
    id: i64,
    refusal: Refusal,
    mut forms: DetailForms,
) -> Result<Response, PageError> {
    let problems = match refusal {
        Refusal::Invalid(problems) => problems,
        Refusal::Other(error) => return Err(PageError(error)),
    };
    forms.problems = problems;
    let detail = super::detail(state, id).await?;
    let page = crate::ui::page(
        &detail_title(&detail.schedule),
        "/schedules",
        principal,
        detail_markup(principal, &detail, None, &forms),
    );
    Ok((StatusCode::BAD_REQUEST, page).into_response())
}

/// The fields of the create and edit forms, as typed.
#[derive(Debug, Default, Deserialize)]
struct ScheduleForm {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    stream: String,
    #[serde(default)]
    connector: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    cron: String,
    #[serde(default)]
    every: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    jitter: String,
    #[serde(default)]
    overlap: String,
    #[serde(default)]
    catch_up: String,
    #[serde(default)]
    enabled: String,
}

fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn given_span(text: &str) -> Option<Span> {
    given(text).map(Span::Text)
}

impl ScheduleForm {
    fn from_view(schedule: &ScheduleView) -> Self {
        Self {
            tenant: schedule.tenant.clone(),
            source: schedule.source.clone(),
            stream: schedule.stream.clone(),
            connector: schedule.connector.clone(),
            kind: schedule.kind.clone(),
            cron: schedule.cron.clone().unwrap_or_default(),
            every: schedule.every.clone().unwrap_or_default(),
            time_zone: schedule.time_zone.clone(),
            jitter: tributary_scheduler::cli::format_span(schedule.jitter_seconds),
            overlap: schedule.overlap.clone(),
            catch_up: tributary_scheduler::cli::format_span(schedule.catch_up_seconds),
            enabled: if schedule.enabled { "yes" } else { "no" }.to_owned(),
        }
    }

    fn new_schedule(&self) -> NewSchedule {
        NewSchedule {
            tenant: self.tenant.clone(),
            source: self.source.clone(),
            stream: self.stream.clone(),
            connector: self.connector.clone(),
            kind: given(&self.kind),
            cron: given(&self.cron),
            every: given_span(&self.every),
            time_zone: given(&self.time_zone),
            jitter: given_span(&self.jitter),
            overlap: given(&self.overlap),
            catch_up: given_span(&self.catch_up),
            enabled: Some(self.enabled != "no"),
        }
    }

    /// The changes against `current`: only what differs from the form as it was shown, so an
    /// unchanged field neither restarts the schedule nor shows in the audit row.
    fn changes(&self, current: &ScheduleView) -> ScheduleChanges {
        let shown = ScheduleForm::from_view(current);
        let changed = |typed: &str, shown: &str| {
            let typed = typed.trim();
            (typed != shown.trim()).then(|| typed.to_owned())
        };
        // The cadence is the pair: one box filled, the other empty. Switching from an interval
        // to a cron expression means emptying one box and filling the other.
        let cadence_changed =
            self.cron.trim() != shown.cron.trim() || self.every.trim() != shown.every.trim();
        let (cron, every) = match (given(&self.cron), given_span(&self.every)) {
            _ if !cadence_changed => (None, None),
            (None, None) => (Some(String::new()), None),
            (cron, every) => (cron, every),
        };
        ScheduleChanges {
            cron,
            every,
            time_zone: changed(&self.time_zone, &shown.time_zone),
            jitter: changed(&self.jitter, &shown.jitter).map(Span::Text),
            overlap: changed(&self.overlap, &shown.overlap),
            catch_up: changed(&self.catch_up, &shown.catch_up).map(Span::Text),
            connector: changed(&self.connector, &shown.connector),
            enabled: changed(&self.enabled, &shown.enabled).map(|enabled| enabled != "no"),
        }
    }
}

fn schedule_form_markup(
    principal: &Principal,
    action: &str,
    form: &ScheduleForm,
    problems: &[Problem],
    editing: bool,
) -> Markup {
    let fields = [
        "tenant",
        "source",
        "stream",
        "connector",
        "kind",
        "cron",
        "every",
        "time_zone",
        "jitter",
        "overlap",
        "catch_up",
        "enabled",
    ];
    let name_max = super::MAX_NAME_CHARS;
    let span_max = super::MAX_SPAN_CHARS;
    html! {
        (other_problems(problems, &fields))
        @if !problems.is_empty() {
            (crate::ui::flash("Nothing was saved: correct the fields marked below.", true))
        }
        form.schedule method="post" action=(action) {
            (crate::ui::csrf_field(principal))
            @if editing {
                p.muted { (form.tenant) " / " (form.source) " / " (form.stream) " (" (form.kind) "): "
                    "the identity of a schedule cannot change; create another instead." }
            } @else {
                label { "Tenant" input type="text" name="tenant" required maxlength=(name_max) value=(form.tenant); (field_message(problems, "tenant")) }
                label { "Source" input type="text" name="source" required maxlength=(name_max) value=(form.source); (field_message(problems, "source")) }
                label { "Stream" input type="text" name="stream" required maxlength=(name_max) value=(form.stream); (field_message(problems, "stream")) }
                label { "Job kind" input type="text" name="kind" maxlength=(name_max) placeholder="pull" value=(form.kind); (field_message(problems, "kind")) }
            }
            label { "Connector" input type="text" name="connector" required maxlength=(name_max) value=(form.connector); (field_message(problems, "connector")) }
            label { "Cron expression (5 fields, or 6 with seconds first)" input type="text" name="cron" maxlength=(super::MAX_CRON_CHARS) placeholder="0 3 * * *" value=(form.cron); (field_message(problems, "cron")) }
            label { "… or every (30s, 15m, 1h, 1d)" input type="text" name="every" maxlength=(span_max) value=(form.every); (field_message(problems, "every")) }
            label { "Time zone (IANA)" input type="text" name="time_zone" maxlength=(super::MAX_ZONE_CHARS) placeholder="UTC" value=(form.time_zone); (field_message(problems, "time_zone")) }
            label { "Jitter" input type="text" name="jitter" maxlength=(span_max) placeholder="0" value=(form.jitter); (field_message(problems, "jitter")) }
            label { "Overlap"
                select name="overlap" {
                    @for (value, text) in [("skip", "skip while a run is unfinished"), ("buffer_one", "buffer one run"), ("allow", "allow every slot")] {
                        option value=(value) selected[form.overlap == value] { (text) }
                    }
                }
                (field_message(problems, "overlap"))
            }
            label { "Catch-up window" input type="text" name="catch_up" maxlength=(span_max) placeholder="1h" value=(form.catch_up); (field_message(problems, "catch_up")) }
            label { "Enabled"
                select name="enabled" {
                    option value="yes" selected[form.enabled != "no"] { "yes" }
                    option value="no" selected[form.enabled == "no"] { "no" }
                }
            }
            button type="submit" { @if editing { "Save" } @else { "Create" } }
        }
    }
}

async fn new_page(Operator(principal): Operator) -> PageResult {
    let form = ScheduleForm {
        time_zone: "UTC".into(),
        jitter: "0".into(),
        overlap: "skip".into(),
        catch_up: "1h".into(),
        enabled: "yes".into(),
        kind: "pull".into(),
        ..ScheduleForm::default()
    };
    Ok(crate::ui::page(
        "New schedule",
        "/schedules",
        &principal,
        schedule_form_markup(&principal, "/schedules", &form, &[], false),
    ))
}

async fn create_form(
    State(state): State<AppState>,
    Operator(principal): Operator,
    CsrfForm(form): CsrfForm<ScheduleForm>,
) -> Result<Response, PageError> {
    match super::create(&state, &principal, &form.new_schedule()).await {
        Ok(schedule) => Ok(redirect(schedule.id, "created", None)),
        Err(Refusal::Invalid(problems)) => {
            let page = crate::ui::page(
                "New schedule",
                "/schedules",
                &principal,
                schedule_form_markup(&principal, "/schedules", &form, &problems, false),
            );
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(Refusal::Other(error)) => Err(PageError(error)),
    }
}

async fn edit_page(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<i64>,
) -> PageResult {
    let detail = super::detail(&state, id).await?;
    let form = ScheduleForm::from_view(&detail.schedule);
    Ok(crate::ui::page(
        &format!("Edit schedule #{id}"),
        "/schedules",
        &principal,
        schedule_form_markup(
            &principal,
            &format!("/schedules/{id}/edit"),
            &form,
            &[],
            true,
        ),
    ))
}

async fn edit_form(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<i64>,
    CsrfForm(mut form): CsrfForm<ScheduleForm>,
) -> Result<Response, PageError> {
    let current = super::detail(&state, id).await?.schedule;
    let changes = form.changes(&current);
    match super::edit(&state, &principal, id, &changes).await {
        Ok(_) => Ok(redirect(id, "changed", None)),
        Err(Refusal::Invalid(problems)) => {
            // The identity is not in the form; show it as stored.
            form.tenant = current.tenant;
            form.source = current.source;
            form.stream = current.stream;
            form.kind = current.kind;
            let page = crate::ui::page(
                &format!("Edit schedule #{id}"),
                "/schedules",
                &principal,
                schedule_form_markup(
                    &principal,
                    &format!("/schedules/{id}/edit"),
                    &form,
                    &problems,
                    true,
                ),
            );
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(Refusal::Other(error)) => Err(PageError(error)),
    }
}

/// The pause form.
#[derive(Debug, Deserialize)]
struct PauseForm {
    #[serde(default)]
    reason: String,
}

async fn pause_form(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<i64>,
    CsrfForm(form): CsrfForm<PauseForm>,
) -> Result<Response, PageError> {
    match super::pause(&state, &principal, id, &form.reason).await {
        Ok(_) => Ok(redirect(id, "paused", None)),
        Err(refusal) => {
            let forms = DetailForms {
                reason: form.reason.chars().take(super::MAX_REASON_CHARS).collect(),
                ..DetailForms::default()
            };
            refused_detail(&state, &principal, id, refusal, forms).await
        }
    }
}

/// A form with no field but the CSRF token.
#[derive(Debug, Deserialize)]
struct EmptyForm {}

async fn resume_form(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<i64>,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Result<Response, PageError> {
    match super::resume(&state, &principal, id).await {
        Ok(_) => Ok(redirect(id, "resumed", None)),
        Err(refusal) => {
            refused_detail(&state, &principal, id, refusal, DetailForms::default()).await
        }
    }
}

async fn run_now_form(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<i64>,
    CsrfForm(EmptyForm {}): CsrfForm<EmptyForm>,
) -> Result<Response, PageError> {
    match super::run_now(&state, &principal, id).await {
        Ok(_) => Ok(redirect(id, "run_now", None)),
        Err(refusal) => {
            refused_detail(&state, &principal, id, refusal, DetailForms::default()).await
        }
    }
}

/// The backfill form.
#[derive(Debug, Deserialize)]
struct BackfillForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    window: String,
}

async fn backfill_form(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<i64>,
    CsrfForm(form): CsrfForm<BackfillForm>,
) -> Result<Response, PageError> {
    let range = Backfill {
        from: form.from.clone(),
        to: form.to.clone(),
        window: given_span(&form.window),
    };
    match super::backfill(&state, &principal, id, &range).await {
        Ok(enqueued) => Ok(redirect(id, "backfilled", Some(enqueued.count))),
        Err(refusal) => {
            let bounded = |text: &str| text.chars().take(super::MAX_SPAN_CHARS).collect();
            let forms = DetailForms {
                from: bounded(&form.from),
                to: bounded(&form.to),
                window: bounded(&form.window),
                ..DetailForms::default()
            };
            refused_detail(&state, &principal, id, refusal, forms).await
        }
    }
}
