//! The reconciliation reports JSON API: `GET /api/v1/reconciliation/reports` (filtered,
//! newest first, keyset-paged) and `GET /api/v1/reconciliation/reports/{id}` (with findings).

use super::wire::{ReportDetailView, ReportList};
use super::ReportQuery;
use crate::auth::Viewer;
use crate::error::{AdminError, ApiResult};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_api))
        .routes(routes!(show_api))
}

/// Reconciliation reports, newest first: per run the window checked, windows compared, API
/// calls spent, missing / extra / stale counts, what was repaired, and how long it took.
#[utoipa::path(get, path = "/api/v1/reconciliation/reports", tag = "reconciliation",
    params(ReportQuery),
    responses(
        (status = 200, description = "One page of reports", body = ReportList),
        (status = 400, description = "A bad parameter, named"),
    ))]
async fn list_api(
    State(state): State<AppState>,
    _viewer: Viewer,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> ApiResult<ReportList> {
    let Query(query) = query.map_err(|rejection| AdminError::BadRequest(rejection.body_text()))?;
    Ok(Json(super::list(&state, &query).await?))
}

/// One report with its findings by kind (at most 1,000 of each kind listed; the totals are
/// exact).
#[utoipa::path(get, path = "/api/v1/reconciliation/reports/{id}", tag = "reconciliation",
    params(("id" = i64, Path, description = "Report id")),
    responses(
        (status = 200, description = "The report", body = ReportDetailView),
        (status = 404, description = "No such report"),
    ))]
async fn show_api(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path(id): Path<i64>,
) -> ApiResult<ReportDetailView> {
    Ok(Json(super::detail(&state, id).await?))
}
