//! The audit log, read: `GET /api/v1/audit` and the `/audit` page — newest first, narrowed by
//! action, actor or target, paged by id. Every viewer may read it (it holds no secret: the
//! store never writes one into it).

use super::api::page_size;
use crate::auth::Viewer;
use crate::error::{AdminError, ApiResult, PageResult};
use crate::overview::url_escape;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::{Deserialize, Serialize};
use tributary_store::admin::{AuditQuery, AuditRow};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// One recorded change.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Row id (newest is highest).
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: `user:<name>`, `token:<name>` or `cli:<os user>`.
    pub actor: String,
    /// What: `dead_letter.replay`, `dead_letter.discard`, `dead_letter.edit`, `source.pause`,
    /// `source.resume`, `user.create`, ...
    pub action: String,
    /// The one thing acted on, when one.
    pub target: Option<String>,
    /// The filter that chose what was acted on.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
    /// How many things changed.
    pub count: Option<i32>,
    /// Why.
    pub reason: Option<String>,
    /// Before.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// After.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id,
            at: row.at,
            actor: row.actor,
            action: row.action,
            target: row.target,
            filter: row.filter,
            count: row.count,
            reason: row.reason,
            before: row.before,
            after: row.after,
        }
    }
}

/// A page of the audit log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditEntry>,
    /// `after` for the next page, when there may be one.
    pub next: Option<i64>,
}

/// Which audit rows.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this action (`dead_letter.replay`, ...).
    pub action: Option<String>,
    /// Only this actor (`user:alice`, ...).
    pub actor: Option<String>,
    /// Only this target (`dead_letter:42`, `source:shop/*`, ...).
    pub target: Option<String>,
    /// Only rows older than this id (the `next` of the page before).
    pub after: Option<i64>,
    /// Same as `after`.
    pub before: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
}

/// Longest accepted action, actor or target filter.
const MAX_FIELD_CHARS: usize = 200;

impl AuditParams {
    fn query(&self) -> Result<AuditQuery, AdminError> {
        let text = |field: &'static str, value: &Option<String>| {
            let value = value.as_deref().map(str::trim).filter(|v| !v.is_empty());
            match value {
                Some(value) if value.chars().count() > MAX_FIELD_CHARS => {
                    Err(AdminError::BadRequest(format!(
                        "{field}: at most {MAX_FIELD_CHARS} characters"
                    )))
                }
                other => Ok(other.map(str::to_owned)),
            }
        };
        Ok(AuditQuery {
            action: text("action", &self.action)?,
            actor: text("actor", &self.actor)?,
            target: text("target", &self.target)?,
            before_id: self.after.or(self.before),
            limit: page_size(self.limit)?,
        })
    }
}

async fn read(state: &AppState, params: &AuditParams) -> Result<AuditPage, AdminError> {
    let query = params.query()?;
    let rows = state.store().audit_log(&query).await?;
    let next = (rows.len() as i64 == query.limit)
        .then(|| rows.last().map(|row| row.id))
        .flatten();
    Ok(AuditPage {
        items: rows.into_iter().map(AuditEntry::from).collect(),
        next,
    })
}

/// The JSON API routes.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_api))
}

/// The web UI routes.
pub fn ui_routes() -> Router<AppState> {
    Router::new().route("/audit", get(audit_page))
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses(
        (status = 200, description = "Audit rows", body = AuditPage),
        (status = 400, description = "A bad parameter (the message names it)"),
    ))]
async fn audit_api(
    State(state): State<AppState>,
    _viewer: Viewer,
    params: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<AuditPage> {
    let Query(params) =
        params.map_err(|rejection| AdminError::BadRequest(rejection.body_text()))?;
    Ok(Json(read(&state, &params).await?))
}

async fn audit_page(
    State(state): State<AppState>,
    Viewer(principal): Viewer,
    params: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let Query(params) =
        params.map_err(|rejection| AdminError::BadRequest(rejection.body_text()))?;
    let page = read(&state, &params).await?;
    let value = |field: &Option<String>| field.clone().unwrap_or_default();
    let body = html! {
        form.filters method="get" action="/audit" {
            label { "Action" input type="text" name="action" value=(value(&params.action)) placeholder="dead_letter.replay"; }
            label { "Actor" input type="text" name="actor" value=(value(&params.actor)) placeholder="user:alice"; }
            label { "Target" input type="text" name="target" value=(value(&params.target)) placeholder="dead_letter:42"; }
            button type="submit" { "Filter" }
            a href="/audit" { "Clear" }
        }
        @if page.items.is_empty() {
            p.muted { "No audit entry matches." }
        } @else {
            table #audit {
                thead { tr {
                    th { "When" } th { "Actor" } th { "Action" } th { "Target / filter" }
                    th.num { "Count" } th { "Reason" } th { "Before → after" }
                } }
                tbody { @for entry in &page.items {
                    tr id=(format!("audit-{}", entry.id)) {
                        td { (crate::ui::time(entry.at)) }
                        td { a href=(format!("/audit?actor={}", url_escape(&entry.actor))) { (entry.actor) } }
                        td { a href=(format!("/audit?action={}", url_escape(&entry.action))) { code { (entry.action) } } }
                        td {
                            @if let Some(target) = &entry.target { (target_link(target)) }
                            @if let Some(filter) = &entry.filter { div { code { (filter) } } }
                        }
                        td.num { @if let Some(count) = entry.count { (count) } }
                        td { (entry.reason.as_deref().unwrap_or("")) }
                        td { (before_after(entry)) }
                    }
                } }
            }
        }
        @if let Some(next) = page.next {
            div.pager {
                a href=(next_link(&params, next)) { "Older →" }
            }
        }
    };
    Ok(crate::ui::page("Audit log", "/audit", &principal, body))
}

/// A target as a link to what it names, when that has a page.
fn target_link(target: &str) -> Markup {
    let href = if let Some(id) = target.strip_prefix("dead_letter:") {
        Some(format!("/dead-letters/{}", url_escape(id)))
    } else if target.starts_with("source:") {
        Some("/sources".to_owned())
    } else {
        None
    };
    html! {
        @match href {
            Some(href) => a href=(href) { code { (target) } },
            None => code { (target) },
        }
    }
}

fn before_after(entry: &AuditEntry) -> Markup {
    // A payload edit's diff says more than two whole payloads.
    if entry.action == "dead_letter.edit" {
        if let Some(diff) = entry.after.as_ref().and_then(|after| after.get("diff")) {
            if let Ok(changes) = serde_json::from_value::<Vec<super::diff::Change>>(diff.clone()) {
                return html! { pre { (super::diff::render_text(&changes)) } };
            }
        }
    }
    html! {
        @if let Some(before) = &entry.before { div { span.muted { "before " } code { (short(before)) } } }
        @if let Some(after) = &entry.after { div { span.muted { "after " } code { (short(after)) } } }
    }
}

fn short(value: &serde_json::Value) -> String {
    super::diff::compact(Some(value))
}

fn next_link(params: &AuditParams, next: i64) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in [
        ("action", &params.action),
        ("actor", &params.actor),
        ("target", &params.target),
    ] {
        if let Some(value) = value.as_deref().filter(|value| !value.is_empty()) {
            query.append_pair(key, value);
        }
    }
    query.append_pair("after", &next.to_string());
    if let Some(limit) = params.limit {
        query.append_pair("limit", &limit.to_string());
    }
    format!("/audit?{}", query.finish())
}
