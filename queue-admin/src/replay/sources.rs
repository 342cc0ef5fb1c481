//! Sources: the list of every (source, tenant) Tributary has seen, with its circuit breaker,
//! pending dead letters and pause; pausing (reason required) and resuming, for one tenant or
//! every tenant (`*`). JSON API (`/api/v1/sources...`) and the `/sources` page.

use super::api::json_error;
use crate::auth::{CsrfForm, Operator, Viewer};
use crate::error::{AdminError, ApiResult, PageError, PageResult};
use crate::overview::url_escape;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use maud::html;
use serde::{Deserialize, Serialize};
use tributary_store::admin::KnownSource;
use tributary_store::{SourcePause, ALL_TENANTS};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// One (source, tenant).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Source {
    /// Source id.
    pub source: String,
    /// Tenant, or `*` for a pause of every tenant.
    pub tenant: String,
    /// Circuit breaker: `closed`, `open`, `half_open`, or absent (never tripped).
    pub breaker_state: Option<String>,
    /// Why the breaker opened, or why the source needs attention.
    pub breaker_reason: Option<String>,
    /// Whether a pause holds it (its own or the source-wide one).
    pub paused: bool,
    /// The pause that holds it.
    pub pause: Option<Pause>,
    /// Pending dead letters.
    pub pending_dead_letters: i64,
    /// When its newest checkpoint moved.
    pub last_checkpoint_at: Option<DateTime<Utc>>,
}

/// A pause.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Pause {
    /// Source id.
    pub source: String,
    /// The paused tenant, or `*` for every tenant.
    pub tenant: String,
    /// Why.
    pub reason: String,
    /// Who.
    pub paused_by: String,
    /// When.
    pub paused_at: DateTime<Utc>,
}

impl From<SourcePause> for Pause {
    fn from(pause: SourcePause) -> Self {
        Self {
            source: pause.source,
            tenant: pause.tenant,
            reason: pause.reason,
            paused_by: pause.paused_by,
            paused_at: pause.paused_at,
        }
    }
}

impl From<KnownSource> for Source {
    fn from(source: KnownSource) -> Self {
        Self {
            source: source.source,
            tenant: source.tenant,
            breaker_state: source.breaker_state,
            breaker_reason: source.breaker_reason,
            paused: source.pause.is_some(),
            pause: source.pause.map(Pause::from),
            pending_dead_letters: source.pending_dead_letters,
            last_checkpoint_at: source.last_checkpoint_at,
        }
    }
}

/// Known sources.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SourceList {
    /// By source, then tenant (`*` first).
    pub items: Vec<Source>,
}

/// A pause to make.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseBody {
    /// The tenant; absent or `*`: every tenant of the source.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Why (required; shown to operators and in the paused jobs' errors).
    pub reason: String,
}

/// A pause to lift.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeBody {
    /// The tenant; absent or `*`: the source-wide pause.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Why (optional).
    #[serde(default)]
    pub reason: Option<String>,
}

/// The JSON API routes.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sources_api))
        .routes(routes!(pause_api))
        .routes(routes!(resume_api))
}

/// The web UI routes.
pub fn ui_routes() -> Router<AppState> {
    Router::new()
        .route("/sources", get(sources_page))
        .route("/sources/pause", post(pause_named_form))
        .route("/sources/{source}/pause", post(pause_form))
        .route("/sources/{source}/resume", post(resume_form))
}

/// Every (source, tenant) with a checkpoint, a breaker, a pending dead letter or a pause.
#[utoipa::path(get, path = "/api/v1/sources", tag = "sources",
    responses((status = 200, description = "Known sources", body = SourceList)))]
async fn sources_api(State(state): State<AppState>, _viewer: Viewer) -> ApiResult<SourceList> {
    let items = state.store().known_sources().await?;
    Ok(Json(SourceList {
        items: items.into_iter().map(Source::from).collect(),
    }))
}

/// Pauses a source for one tenant or all: workers pull nothing for it and snooze its jobs
/// (spending no attempt) until it is resumed. Pausing again replaces the reason.
#[utoipa::path(post, path = "/api/v1/sources/{source}/pause", tag = "sources",
    params(("source" = String, Path, description = "Source id")),
    request_body = PauseBody,
    responses(
        (status = 200, description = "Paused", body = Pause),
        (status = 400, description = "No reason, or not a source or tenant id"),
        (status = 403, description = "Not an operator"),
    ))]
async fn pause_api(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(source): Path<String>,
    body: Result<Json<PauseBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Pause> {
    let Json(body) = body.map_err(json_error)?;
    let pause = super::pause(
        &state,
        &principal,
        &source,
        body.tenant.as_deref(),
        &body.reason,
    )
    .await?;
    Ok(Json(pause.into()))
}

/// Lifts a pause; answers with the pause lifted.
#[utoipa::path(post, path = "/api/v1/sources/{source}/resume", tag = "sources",
    params(("source" = String, Path, description = "Source id")),
    request_body = ResumeBody,
    responses(
        (status = 200, description = "Resumed: the pause lifted", body = Pause),
        (status = 403, description = "Not an operator"),
        (status = 404, description = "Not paused (for that tenant)"),
    ))]
async fn resume_api(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(source): Path<String>,
    body: Option<Json<ResumeBody>>,
) -> ApiResult<Pause> {
    let body = body.map(|Json(body)| body).unwrap_or_default();
    let lifted = super::resume(
        &state,
        &principal,
        &source,
        body.tenant.as_deref(),
        body.reason.as_deref(),
    )
    .await?;
    Ok(Json(lifted.into()))
}

/// What the redirect after a change reports (fixed sentences, so a crafted link cannot put
/// arbitrary text on the page).
#[derive(Debug, Default, Deserialize)]
struct Done {
    done: Option<String>,
    source: Option<String>,
    tenant: Option<String>,
}

impl Done {
    fn message(&self) -> Option<String> {
        let source = self.source.as_deref().unwrap_or("");
        let scope = match self.tenant.as_deref() {
            None | Some(ALL_TENANTS) => "every tenant".to_owned(),
            Some(tenant) => format!("tenant {tenant}"),
        };
        match self.done.as_deref()? {
            "paused" => Some(format!("Paused {source} for {scope}.")),
            "resumed" => Some(format!("Resumed {source} for {scope}.")),
            _ => None,
        }
    }
}

async fn sources_page(
    State(state): State<AppState>,
    Viewer(principal): Viewer,
    Query(done): Query<Done>,
) -> PageResult {
    let sources = state.store().known_sources().await?;
    let operator = principal.role >= crate::auth::Role::Operator;
    let csrf = crate::ui::csrf_field(&principal);
    let body = html! {
        @if let Some(message) = done.message() { (crate::ui::flash(&message, false)) }
        p.muted {
            "Every source and tenant with a checkpoint, a circuit breaker, a pending dead letter or a pause. "
            "A paused source pulls nothing: its jobs wait without spending attempts until it is resumed."
        }
        @if sources.is_empty() {
            p.muted { "No source has run yet." }
        } @else {
            table #sources {
                thead { tr {
                    th { "Source" } th { "Tenant" } th { "Breaker" } th { "Paused" }
                    th.num { "Pending dead letters" } th { "Last checkpoint" }
                    @if operator { th { "Actions" } }
                } }
                tbody { @for row in &sources {
                    @let path = format!("/sources/{}", url_escape(&row.source));
                    tr {
                        td { code { (row.source) } }
                        td { @if row.tenant == ALL_TENANTS { span.badge { "every tenant" } } @else { (row.tenant) } }
                        td {
                            @match row.breaker_state.as_deref() {
                                None => span.muted { "—" },
                                Some("closed") => span.badge.ok { "closed" },
                                Some(other) => span.badge.bad { (other) },
                            }
                            @if let Some(reason) = &row.breaker_reason { " " span.muted { (reason) } }
                        }
                        td {
                            @if let Some(pause) = &row.pause {
                                span.badge.warn { "paused" }
                                @if pause.tenant == ALL_TENANTS && row.tenant != ALL_TENANTS { " (every tenant)" }
                                " " (pause.reason) " — " (pause.paused_by) ", " (crate::ui::time(pause.paused_at))
                            } @else { span.muted { "no" } }
                        }
                        td.num {
                            @if row.pending_dead_letters > 0 && row.tenant != ALL_TENANTS {
                                a href=(format!("/dead-letters?status=pending&source={}&tenant={}",
                                    url_escape(&row.source), url_escape(&row.tenant))) { (row.pending_dead_letters) }
                            } @else { (row.pending_dead_letters) }
                        }
                        td { @if let Some(at) = row.last_checkpoint_at { (crate::ui::time(at)) } @else { span.muted { "—" } } }
                        @if operator {
                            td { div.actions {
                                @let own_pause = row.pause.as_ref().is_some_and(|pause| pause.tenant == row.tenant);
                                @if own_pause {
                                    form method="post" action=(format!("{path}/resume")) {
                                        (csrf)
                                        input type="hidden" name="tenant" value=(row.tenant);
                                        label { "Reason (optional)" input type="text" name="reason" maxlength="1000"; }
                                        button.secondary type="submit" { "Resume" }
                                    }
                                } @else {
                                    form method="post" action=(format!("{path}/pause")) {
                                        (csrf)
                                        input type="hidden" name="tenant" value=(row.tenant);
                                        label { "Reason" input type="text" name="reason" required maxlength="1000"; }
                                        button.danger type="submit" {
                                            @if row.tenant == ALL_TENANTS { "Pause every tenant" } @else { "Pause" }
                                        }
                                    }
                                }
                            } }
                        }
                    }
                } }
            }
        }
        @if operator {
            h2 { "Pause a source" }
            form.filters method="post" action="/sources/pause" {
                (csrf)
                label { "Source" input type="text" name="source" required maxlength="128"; }
                label { "Tenant (empty: every tenant)" input type="text" name="tenant" maxlength="128"; }
                label { "Reason" input type="text" name="reason" required maxlength="1000"; }
                button.danger type="submit" { "Pause" }
            }
        }
    };
    Ok(crate::ui::page("Sources", "/sources", &principal, body))
}

/// A pause or resume form.
#[derive(Debug, Deserialize)]
struct SourceForm {
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

fn done_redirect(what: &str, pause: &SourcePause) -> Response {
    let location = format!(
        "/sources?done={what}&source={}&tenant={}",
        url_escape(&pause.source),
        url_escape(&pause.tenant)
    );
    let location = HeaderValue::from_str(&location).unwrap_or(HeaderValue::from_static("/sources"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

async fn pause_form(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(source): Path<String>,
    CsrfForm(form): CsrfForm<SourceForm>,
) -> Result<Response, PageError> {
    let pause = super::pause(
        &state,
        &principal,
        &source,
        form.tenant.as_deref(),
        form.reason.as_deref().unwrap_or(""),
    )
    .await?;
    Ok(done_redirect("paused", &pause))
}

/// The free-form pause at the bottom of the page: the source is named in the form.
async fn pause_named_form(
    State(state): State<AppState>,
    Operator(principal): Operator,
    CsrfForm(form): CsrfForm<SourceForm>,
) -> Result<Response, PageError> {
    let source = form.source.as_deref().unwrap_or("").trim();
    if source.is_empty() {
        return Err(AdminError::BadRequest("source: required".into()).into());
    }
    let pause = super::pause(
        &state,
        &principal,
        source,
        form.tenant.as_deref(),
        form.reason.as_deref().unwrap_or(""),
    )
    .await?;
    Ok(done_redirect("paused", &pause))
}

async fn resume_form(
    State(state): State<AppState>,
    Operator(principal): Operator,
    Path(source): Path<String>,
    CsrfForm(form): CsrfForm<SourceForm>,
) -> Result<Response, PageError> {
    let lifted = super::resume(
        &state,
        &principal,
        &source,
        form.tenant.as_deref(),
        form.reason.as_deref(),
    )
    .await?;
    Ok(done_redirect("resumed", &lifted))
}
