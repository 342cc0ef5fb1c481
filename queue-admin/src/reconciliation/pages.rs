//! The reconciliation pages: `/reconciliation` (a GET filter form, the reports newest first, a
//! keyset pager) and `/reconciliation/{id}` (one report: what was checked, spent, repaired, and
//! its findings by kind). Read-only. Every value is interpolated by maud, which escapes it, so
//! a source's record ids and error messages cannot inject markup.

use super::wire::{FindingsOfKind, ReportView};
use super::{ReportQuery, MAX_FILTER_CHARS, MAX_FINDINGS_SHOWN};
use crate::auth::Viewer;
use crate::error::{AdminError, PageResult};
use crate::overview::url_escape;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use tributary_store::reconcile::FindingKind;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/reconciliation", get(list_page))
        .route("/reconciliation/{id}", get(detail_page))
}

fn status_badge(status: &str) -> Markup {
    html! {
        @match status {
            "clean" => span.badge.ok { (status) },
            "drift" | "failed" => span.badge.bad { (status) },
            _ => span.badge.warn { (status) },
        }
    }
}

fn window(report: &ReportView) -> String {
    format!(
        "{} – {}",
        report.window_from.format("%Y-%m-%d %H:%M"),
        report.window_to.format("%Y-%m-%d %H:%M UTC")
    )
}

fn duration(report: &ReportView) -> String {
    let ms = report.duration_ms.max(0);
    if ms < 10_000 {
        format!("{:.1} s", ms as f64 / 1_000.0)
    } else {
        crate::ui::age(chrono::TimeDelta::milliseconds(ms))
    }
}

/// The query string of `query`'s narrowing (not its paging), for the pager's links.
fn narrowing_query(query: &ReportQuery) -> String {
    [
        ("tenant", &query.tenant),
        ("source", &query.source),
        ("stream", &query.stream),
        ("status", &query.status),
    ]
    .iter()
    .filter_map(|(name, value)| {
        let value = value.as_deref()?.trim();
        (!value.is_empty()).then(|| format!("{name}={}", url_escape(value)))
    })
    .collect::<Vec<_>>()
    .join("&")
}

async fn list_page(
    State(state): State<AppState>,
    Viewer(principal): Viewer,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> PageResult {
    let Query(query) = query.map_err(|rejection| AdminError::BadRequest(rejection.body_text()))?;
    let page = super::list(&state, &query).await?;
    let value = |text: &Option<String>| text.clone().unwrap_or_default();
    let status = query.status.clone().unwrap_or_default();
    let narrowing = narrowing_query(&query);
    let body = html! {
        p.muted {
            "Each reconcile run compares a created-at window of one stream with its source: counts "
            "first, then id manifests of the windows that differ. Missing and stale records are "
            "re-pulled by id; extra records (deleted at the source) are marked deleted, never removed."
        }
        form.filters method="get" action="/reconciliation" {
            label { "Tenant" input type="text" name="tenant" maxlength=(MAX_FILTER_CHARS) value=(value(&query.tenant)); }
            label { "Source" input type="text" name="source" maxlength=(MAX_FILTER_CHARS) value=(value(&query.source)); }
            label { "Stream" input type="text" name="stream" maxlength=(MAX_FILTER_CHARS) value=(value(&query.stream)); }
            label { "Status"
                select name="status" {
                    option value="" selected[status.is_empty()] { "any" }
                    @for option in ["clean", "drift", "unsupported", "failed"] {
                        option value=(option) selected[status == option] { (option) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        @if page.items.is_empty() {
            p.muted { "No reconciliation report" @if !narrowing.is_empty() { " matches" } "." }
        } @else {
            table #reports {
                thead { tr {
                    th { "#" } th { "Tenant / source / stream" } th { "Window" } th { "Status" }
                    th.num { "Windows" } th.num { "API calls" } th.num { "Missing" } th.num { "Extra" }
                    th.num { "Stale" } th.num { "Re-pulled" } th.num { "Marked deleted" }
                    th { "Took" } th { "Finished" }
                } }
                tbody { @for report in &page.items {
                    tr {
                        td { a href=(format!("/reconciliation/{}", report.id)) { (report.id) } }
                        td { a href=(format!("/reconciliation/{}", report.id)) {
                            (report.tenant) " / " (report.source) " / " (report.stream)
                        } " " span.muted { (report.connector) } }
                        td { (window(report)) }
                        td { (status_badge(&report.status))
                            @if let Some(message) = &report.message { " " span.muted { (message) } } }
                        td.num { (report.windows_checked) }
                        td.num { (report.api_calls) }
                        td.num.bad[report.missing > 0] { (report.missing) }
                        td.num.bad[report.extra > 0] { (report.extra) }
                        td.num.bad[report.stale > 0] { (report.stale) }
                        td.num { (report.repulled) }
                        td.num { (report.marked_deleted) }
                        td { (duration(report)) }
                        td { (crate::ui::time(report.finished_at)) }
                    }
                } }
            }
        }
        div.pager {
            @if query.before.is_some() {
                a href=(format!("/reconciliation?{narrowing}")) { "← Newest" }
            }
            @if let Some(next) = page.next_before {
                @let separator = if narrowing.is_empty() { "" } else { "&" };
                a href=(format!("/reconciliation?{narrowing}{separator}before={next}")) { "Older →" }
            }
        }
    };
    Ok(crate::ui::page(
        "Reconciliation",
        "/reconciliation",
        &principal,
        body,
    ))
}

fn findings_table(kind: FindingKind, findings: &FindingsOfKind) -> Markup {
    let (title, explanation) = match kind {
        FindingKind::Missing => (
            "Missing",
            "At the source, not in the store: re-pulled by id.",
        ),
        FindingKind::Extra => (
            "Extra",
            "In the store, deleted at the source: marked deleted, never removed.",
        ),
        FindingKind::Stale => (
            "Stale",
            "Newer at the source than in the store: re-pulled by id.",
        ),
    };
    html! {
        h2 id=(kind.as_str()) { (title) " (" (findings.total) ")" }
        p.muted { (explanation) }
        @if findings.total == 0 {
            p.muted { "None." }
        } @else {
            @if findings.items.len() < findings.total {
                p.muted { "The first " (findings.items.len()) " by id." }
            }
            table.findings data-kind=(kind.as_str()) {
                thead { tr { th { "Record id" } th { "Updated at the source" } th { "Updated in the store" } } }
                tbody { @for finding in &findings.items {
                    tr {
                        td { code { (finding.external_id) } }
                        td { @if let Some(at) = finding.source_updated_at { (at.to_rfc3339()) } @else { span.muted { "—" } } }
                        td { @if let Some(at) = finding.store_updated_at { (at.to_rfc3339()) } @else { span.muted { "—" } } }
                    }
                } }
            }
        }
    }
}

async fn detail_page(
    State(state): State<AppState>,
    Viewer(principal): Viewer,
    Path(id): Path<i64>,
) -> PageResult {
    let detail = super::detail(&state, id).await?;
    let report = &detail.report;
    let body = html! {
        table.settings { tbody {
            tr { th { "Tenant" } td { (report.tenant) } }
            tr { th { "Source" } td { code { (report.source) } } }
            tr { th { "Stream" } td { (report.stream) } }
            tr { th { "Connector" } td { (report.connector) } }
            tr { th { "Window (created at)" } td { (window(report)) } }
            tr { th { "Status" } td { (status_badge(&report.status))
                @if let Some(message) = &report.message { " " (message) } } }
            tr { th { "Drift" } td {
                a href="#missing" { (report.missing) " missing" } ", "
                a href="#extra" { (report.extra) " extra" } ", "
                a href="#stale" { (report.stale) " stale" }
            } }
            tr { th { "Repaired" } td { (report.repulled) " re-pulled, " (report.marked_deleted) " marked deleted" } }
            tr { th { "Windows checked" } td { (report.windows_checked) } }
            tr { th { "API calls" } td { (report.api_calls) } }
            tr { th { "Started" } td { (crate::ui::time(report.started_at)) } }
            tr { th { "Took" } td { (duration(report)) } }
            tr { th { "Job" } td { code { (report.job_id) } } }
        } }
        @for kind in FindingKind::ALL {
            (findings_table(kind, detail.findings.of_kind(kind)))
        }
        p.muted { "At most " (MAX_FINDINGS_SHOWN) " findings of each kind are listed." }
        p { a href="/reconciliation" { "All reports" } }
    };
    Ok(crate::ui::page(
        &format!(
            "Reconciliation report #{}: {} / {} / {}",
            report.id, report.tenant, report.source, report.stream
        ),
        "/reconciliation",
        &principal,
        body,
    ))
}
