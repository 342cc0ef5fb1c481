//! The schedules JSON API: `GET /api/v1/schedules`, `GET /api/v1/schedules/{id}`, and for
//! operators `POST /api/v1/schedules` (create), `.../{id}/edit`, `.../{id}/pause`,
//! `.../{id}/resume`, `.../{id}/run-now` and `.../{id}/backfill`. A refused field answers 400
//! with every problem, each naming its field.

use super::wire::{
    Backfill, Enqueued, NewSchedule, PauseSchedule, ProblemsBody, ScheduleChanges, ScheduleDetail,
    ScheduleList, ScheduleView,
};
use super::Refusal;
use crate::auth::{Operator, Viewer};
use crate::error::{AdminError, ApiResult};
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_api, create_api))
        .routes(routes!(show_api))
        .routes(routes!(edit_api))
        .routes(routes!(pause_api))
        .routes(routes!(resume_api))
        .routes(routes!(run_now_api))
        .routes(routes!(backfill_api))
}

fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, Refusal> {
    body.map(|Json(body)| body)
        .map_err(|rejection| Refusal::Other(AdminError::BadRequest(rejection.body_text())))
}

/// Every schedule: state (enabled, disabled, paused with its reason), cadence, zone, next
/// slot, latest slot and the slots missed in the last seven days.
#[utoipa::path(get, path = "/api/v1/schedules", tag = "schedules",
    responses((status = 200, description = "Schedules, by id", body = ScheduleList)))]
async fn list_api(State(state): State<AppState>, _viewer: Viewer) -> ApiResult<ScheduleList> {
    Ok(Json(ScheduleList {
        items: super::list(&state).await?,
    }))
}

/// One schedule and its newest slots (enqueued, skipped, missed), each with its run's status.
#[utoipa::path(get, path = "/api/v1/schedules/{id}", tag = "schedules",
    params(("id" = i64, Path, description = "Schedule id")),
    responses(
        (status = 200, description = "The schedule", body = ScheduleDetail),
        (status = 404, description = "No such schedule"),
    ))]
async fn show_api(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path(id): Path<i64>,
) -> ApiResult<ScheduleDetail> {
    Ok(Json(super::detail(&state, id).await?))
}

/// Creates a schedule; it starts at its first slot from now.
#[utoipa::path(post, path = "/api/v1/schedules", tag = "schedules",
    request_body = NewSchedule,
    responses(
        (status = 201, description = "Created", body = ScheduleView),
        (status = 400, description = "Every refused field", body = ProblemsBody),
        (status = 403, description = "Not an operator"),
        (status = 409, description = "That tenant, source, stream and kind has a schedule"),
    ))]
async fn create_api(
    State(state): State<AppState>,
    Operator(principal): Operator,
    new: Result<Json<NewSchedule>, JsonRejection>,
) -> Result<(StatusCode, Json<ScheduleView>), Refusal> {
    let schedule = super::create(&state, &principal, &body(new)?).await?;
    Ok((StatusCode::CREATED, Json(ScheduleView::bare(schedule))))
}

/// Changes a schedule: each field given replaces the stored one. A new cadence, time zone or
/// jitter, or enabling it, restarts it from its first slot from now.
#[utoipa::path(post, path = "/api/v1/schedules/{id}/edit", tag = "schedules",
    params(("id" = i64, Path, description = "Schedule id")),
    request_body = ScheduleChanges,
    responses(
        (status = 200, description = "Changed", body = ScheduleView),
        (status = 400, description = "Every refused field", body = ProblemsBody),
        (status = 403, description = "Not an operator"),
        (status = 404, description = "No such schedule"),
    ))]
async fn edit_api(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<i64>,
    changes: Result<Json<ScheduleChanges>, JsonRejection>,
) -> Result<Json<ScheduleView>, Refusal> {
    let schedule = super::edit(&state, &principal, id, &body(changes)?).await?;
    Ok(Json(ScheduleView::bare(schedule)))
}

/// Pauses a schedule: it enqueues nothing until resumed. Pausing again replaces the reason.
#[utoipa::path(post, path = "/api/v1/schedules/{id}/pause", tag = "schedules",
    params(("id" = i64, Path, description = "Schedule id")),
    request_body = PauseSchedule,
    responses(
        (status = 200, description = "Paused", body = ScheduleView),
        (status = 400, description = "No reason", body = ProblemsBody),
        (status = 403, description = "Not an operator"),
        (status = 404, description = "No such schedule"),
    ))]
async fn pause_api(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<i64>,
    pause: Result<Json<PauseSchedule>, JsonRejection>,
) -> Result<Json<ScheduleView>, Refusal> {
    let pause = body(pause)?;
    let schedule = super::pause(&state, &principal, id, &pause.reason).await?;
    Ok(Json(ScheduleView::bare(schedule)))
}

/// Resumes a paused schedule from its first slot from now (the pause's slots are not caught
/// up).
#[utoipa::path(post, path = "/api/v1/schedules/{id}/resume", tag = "schedules",
    params(("id" = i64, Path, description = "Schedule id")),
    responses(
        (status = 200, description = "Resumed", body = ScheduleView),
        (status = 403, description = "Not an operator"),
        (status = 404, description = "No such schedule"),
        (status = 409, description = "Not paused"),
    ))]
async fn resume_api(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<i64>,
) -> Result<Json<ScheduleView>, Refusal> {
    let schedule = super::resume(&state, &principal, id).await?;
    Ok(Json(ScheduleView::bare(schedule)))
}

/// Enqueues one job of the schedule now, whatever its slots, pause or overlap policy say. The
/// job goes to the outbox; a running scheduler publishes it.
#[utoipa::path(post, path = "/api/v1/schedules/{id}/run-now", tag = "schedules",
    params(("id" = i64, Path, description = "Schedule id")),
    responses(
        (status = 202, description = "In the outbox", body = Enqueued),
        (status = 403, description = "Not an operator"),
        (status = 404, description = "No such schedule"),
    ))]
async fn run_now_api(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Enqueued>), Refusal> {
    let enqueued = super::run_now(&state, &principal, id).await?;
    Ok((StatusCode::ACCEPTED, Json(enqueued)))
}

/// Enqueues one job per window of a past range of the schedule's stream, in one transaction
/// (at most 10,000 windows). The jobs go to the outbox; a running scheduler publishes them.
#[utoipa::path(post, path = "/api/v1/schedules/{id}/backfill", tag = "schedules",
    params(("id" = i64, Path, description = "Schedule id")),
    request_body = Backfill,
    responses(
        (status = 202, description = "In the outbox", body = Enqueued),
        (status = 400, description = "Every refused field", body = ProblemsBody),
        (status = 403, description = "Not an operator"),
        (status = 404, description = "No such schedule"),
    ))]
async fn backfill_api(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(id): Path<i64>,
    range: Result<Json<Backfill>, JsonRejection>,
) -> Result<(StatusCode, Json<Enqueued>), Refusal> {
    let enqueued = super::backfill(&state, &principal, id, &body(range)?).await?;
    Ok((StatusCode::ACCEPTED, Json(enqueued)))
}
