//! The dead-letter browsing API: `GET /api/v1/dead-letters`, `.../groups`, `.../{id}`. Filters
//! come from the query string through [`FilterQuery`], the parser the replay API uses too.

use super::filter_query::FilterQuery;
use super::wire::{DeadLetterPage, DeadLetterView, GroupList};
use crate::auth::Viewer;
use crate::error::ApiResult;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The filter parameters (documentation only: [`FilterQuery::parse`] reads them, so that
/// repeated `ids` and empty values work as they do in forms).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct FilterParams {
    /// `pending`, `replayed`, `discarded`, or `any` (the default: every state).
    status: Option<String>,
    /// Connector kind.
    connector: Option<String>,
    /// Tenant.
    tenant: Option<String>,
    /// Source instance.
    source: Option<String>,
    /// Failure class (`permanent`, `auth`, `exhausted`, `malformed_job`, ...).
    class: Option<String>,
    /// Error signature (a group's `signature`).
    signature: Option<String>,
    /// Full-text search over the error text, web-search syntax: words (all must match),
    /// `"a phrase"`, `-excluded`, `or`. At most 200 characters.
    q: Option<String>,
    /// Stored at or after: `2026-12-05` or RFC 3339.
    since: Option<String>,
    /// Stored before: `2026-12-05` or RFC 3339.
    until: Option<String>,
    /// At least this many attempts.
    min_attempts: Option<i32>,
    /// At most this many attempts.
    max_attempts: Option<i32>,
    /// Exactly these letters: repeat the key or separate ids with commas (at most 1000).
    ids: Option<String>,
}

/// Paging of the list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageParams {
    /// Keyset cursor: letters with a smaller id than this (the `next` of the previous page).
    after: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<i64>,
}

/// Size and order of the groups.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct GroupParams {
    /// `recent` (last seen first, the default) or `largest` (most letters first).
    sort: Option<String>,
    /// Most groups, 1 to 200 (default 50).
    limit: Option<i64>,
}

/// Dead letters under a filter, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/dead-letters", tag = "dead letters",
    params(FilterParams, PageParams),
    responses(
        (status = 200, description = "A page of letters; `next` is the cursor of the next page", body = DeadLetterPage),
        (status = 400, description = "A bad parameter; the message names it"),
    ))]
async fn list_api(
    State(state): State<AppState>,
    _viewer: Viewer,
    RawQuery(query): RawQuery,
) -> ApiResult<DeadLetterPage> {
    let query = FilterQuery::parse(query.as_deref().unwrap_or(""))?;
    Ok(Json(super::list(&state, &query).await?))
}

/// Dead letters under a filter, grouped by error signature (class + connector + normalised
/// reason), with counts and first/last seen.
#[utoipa::path(get, path = "/api/v1/dead-letters/groups", tag = "dead letters",
    params(FilterParams, GroupParams),
    responses(
        (status = 200, description = "The groups", body = GroupList),
        (status = 400, description = "A bad parameter; the message names it"),
    ))]
async fn groups_api(
    State(state): State<AppState>,
    _viewer: Viewer,
    RawQuery(query): RawQuery,
) -> ApiResult<GroupList> {
    let raw = query.as_deref().unwrap_or("");
    let order = super::group_order(raw)?;
    let query = FilterQuery::parse(raw)?;
    Ok(Json(super::groups(&state, &query, order).await?))
}

/// One dead letter in full: envelope, headers, payload, every attempt, lineage, edits, replay.
#[utoipa::path(get, path = "/api/v1/dead-letters/{id}", tag = "dead letters",
    params(("id" = i64, Path, description = "Dead letter id")),
    responses(
        (status = 200, description = "The letter", body = DeadLetterView),
        (status = 400, description = "The id is not a number"),
        (status = 404, description = "No such letter"),
    ))]
async fn detail_api(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path(id): Path<String>,
) -> ApiResult<DeadLetterView> {
    Ok(Json(super::detail(&state, &id).await?))
}

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_api))
        .routes(routes!(groups_api))
        .routes(routes!(detail_api))
}
