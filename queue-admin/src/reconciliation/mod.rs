//! Reconciliation reports in queue-admin, read-only: the list (newest first, narrowed by tenant,
//! source, stream and status, keyset-paged) with what each run checked, spent, found and
//! repaired, and one report with its findings by kind (missing, extra, stale) — as JSON API
//! ([`api`]), web pages ([`pages`]) and, through the API, the CLI. Every viewer may read them.
//!
//! The query parameters are checked here once for both (bounded lengths, a known status, a page
//! size in range), so a bad one is a 400 naming it. The reports are written by the reconcile
//! jobs; this module changes nothing, holds no SQL and knows no connector.

pub mod api;
pub mod pages;
pub mod wire;

use crate::error::AdminError;
use crate::state::AppState;
use axum::Router;
use serde::Deserialize;
use tributary_store::reconcile::{ReportFilter, ReportStatus, MAX_REPORTS_PER_PAGE};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use wire::{Findings, ReportDetailView, ReportList, ReportView};

/// Most findings of each kind shown with a report (the totals are always exact).
pub const MAX_FINDINGS_SHOWN: usize = 1_000;
/// Longest tenant, source or stream filter accepted.
pub const MAX_FILTER_CHARS: usize = 128;

/// The JSON API routes.
pub fn api_routes() -> OpenApiRouter<AppState> {
    api::routes()
}

/// The web UI routes.
pub fn ui_routes() -> Router<AppState> {
    pages::routes()
}

/// Which reports, as the query string says (the list page's form and the API share it).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Only this source.
    pub source: Option<String>,
    /// Only this stream.
    pub stream: Option<String>,
    /// Only this status: `clean`, `drift`, `unsupported` or `failed`.
    pub status: Option<String>,
    /// Only reports older than this id (the `next_before` of the page before).
    pub before: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

fn narrowing(field: &str, value: &Option<String>) -> Result<Option<String>, AdminError> {
    let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > MAX_FILTER_CHARS {
        return Err(AdminError::BadRequest(format!(
            "{field}: at most {MAX_FILTER_CHARS} characters"
        )));
    }
    Ok(Some(value.to_owned()))
}

impl ReportQuery {
    /// The store's filter, or a 400 naming the bad parameter.
    pub fn filter(&self) -> Result<ReportFilter, AdminError> {
        let status = match self.status.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(ReportStatus::parse(name).ok_or_else(|| {
                AdminError::BadRequest(format!(
                    "status: {:?} is not clean, drift, unsupported or failed",
                    name.chars().take(40).collect::<String>()
                ))
            })?),
        };
        if let Some(limit) = self.limit {
            if !(1..=MAX_REPORTS_PER_PAGE).contains(&limit) {
                return Err(AdminError::BadRequest(format!(
                    "limit: must be 1 to {MAX_REPORTS_PER_PAGE}"
                )));
            }
        }
        Ok(ReportFilter {
            tenant: narrowing("tenant", &self.tenant)?,
            source: narrowing("source", &self.source)?,
            stream: narrowing("stream", &self.stream)?,
            status,
            before: self.before,
            limit: self.limit,
        })
    }
}

/// One page of reports under `query`.
pub async fn list(state: &AppState, query: &ReportQuery) -> Result<ReportList, AdminError> {
    let page = state.store().reconcile_reports(&query.filter()?).await?;
    Ok(ReportList {
        items: page.reports.into_iter().map(ReportView::from).collect(),
        next_before: page.next_before,
    })
}

/// One report with its findings by kind.
pub async fn detail(state: &AppState, id: i64) -> Result<ReportDetailView, AdminError> {
    let detail = state
        .store()
        .reconcile_report(id, MAX_FINDINGS_SHOWN as i64)
        .await?
        .ok_or_else(|| {
            AdminError::NotFound(format!("reconciliation report {id} does not exist"))
        })?;
    Ok(ReportDetailView {
        findings: Findings::grouped(&detail),
        report: detail.report.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_are_named() {
        let bad = |query: ReportQuery| query.filter().unwrap_err().to_string();
        assert!(bad(ReportQuery {
            status: Some("dirty".into()),
            ..ReportQuery::default()
        })
        .starts_with("status:"));
        assert!(bad(ReportQuery {
            limit: Some(0),
            ..ReportQuery::default()
        })
        .starts_with("limit:"));
        assert!(bad(ReportQuery {
            tenant: Some("t".repeat(129)),
            ..ReportQuery::default()
        })
        .starts_with("tenant:"));
        let empty = ReportQuery {
            tenant: Some(" ".into()),
            status: Some(String::new()),
            ..ReportQuery::default()
        };
        assert_eq!(empty.filter().unwrap(), ReportFilter::default());
    }
}
