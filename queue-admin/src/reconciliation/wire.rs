//! The JSON shapes of the reconciliation reports API: a report's summary (what was checked, what
//! it cost, what drifted, what was repaired) and a report with its findings grouped by kind.
//! Compatibility promises: add optional fields, never rename.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tributary_store::reconcile::{Finding, FindingKind, ReportDetail, ReportSummary};
use utoipa::ToSchema;
use uuid::Uuid;

/// One reconcile run's report, without its findings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportView {
    /// Report id.
    pub id: i64,
    /// The reconcile job that wrote it.
    pub job_id: Uuid,
    /// Connector kind.
    pub connector: String,
    /// Tenant.
    pub tenant: String,
    /// Source id.
    pub source: String,
    /// Stream.
    pub stream: String,
    /// The created-at window checked, from (inclusive).
    pub window_from: DateTime<Utc>,
    /// The created-at window checked, to (exclusive).
    pub window_to: DateTime<Utc>,
    /// `clean`, `drift`, `unsupported`, `failed` (or `unknown`, written by a newer build).
    pub status: String,
    /// Why it is `unsupported` or `failed`.
    pub message: Option<String>,
    /// Windows compared (counts and manifests).
    pub windows_checked: i32,
    /// Requests sent to the source.
    pub api_calls: i32,
    /// Records at the source, not in the store.
    pub missing: i32,
    /// Records in the store, deleted at the source.
    pub extra: i32,
    /// Records newer at the source.
    pub stale: i32,
    /// Missing and stale records re-pulled by id.
    pub repulled: i32,
    /// Extra records marked deleted (never removed).
    pub marked_deleted: i32,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When the report was written.
    pub finished_at: DateTime<Utc>,
    /// How long the run took, in milliseconds.
    pub duration_ms: i64,
}

impl From<ReportSummary> for ReportView {
    fn from(report: ReportSummary) -> Self {
        let duration_ms = report.duration().num_milliseconds();
        Self {
            id: report.id,
            job_id: report.job_id,
            connector: report.connector,
            tenant: report.tenant,
            source: report.source,
            stream: report.stream,
            window_from: report.window_from,
            window_to: report.window_to,
            status: report
                .status
                .map_or("unknown", |status| status.as_str())
                .to_owned(),
            message: report.message,
            windows_checked: report.windows_checked,
            api_calls: report.api_calls,
            missing: report.missing,
            extra: report.extra,
            stale: report.stale,
            repulled: report.repulled,
            marked_deleted: report.marked_deleted,
            started_at: report.started_at,
            finished_at: report.finished_at,
            duration_ms,
        }
    }
}

impl ReportView {
    /// Findings of every kind.
    pub fn drift(&self) -> i64 {
        i64::from(self.missing) + i64::from(self.extra) + i64::from(self.stale)
    }
}

/// One page of reports, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportList {
    /// The reports.
    pub items: Vec<ReportView>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

/// One drifted record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FindingView {
    /// The record's id at the source.
    pub external_id: String,
    /// The source's updated-at, when it says (missing, stale).
    pub source_updated_at: Option<DateTime<Utc>>,
    /// The store's updated-at, when it has one (extra, stale).
    pub store_updated_at: Option<DateTime<Utc>>,
}

impl From<&Finding> for FindingView {
    fn from(finding: &Finding) -> Self {
        Self {
            external_id: finding.external_id.clone(),
            source_updated_at: finding.source_updated_at,
            store_updated_at: finding.store_updated_at,
        }
    }
}

/// The findings of one kind, at most [`super::MAX_FINDINGS_SHOWN`] of them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct FindingsOfKind {
    /// How many the report holds.
    pub total: usize,
    /// The first of them, by id.
    pub items: Vec<FindingView>,
}

impl FindingsOfKind {
    fn of_total(total: usize) -> Self {
        Self {
            total,
            items: Vec::new(),
        }
    }
}

/// The findings by kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Findings {
    /// At the source, not in the store (re-pulled).
    pub missing: FindingsOfKind,
    /// In the store, deleted at the source (marked deleted).
    pub extra: FindingsOfKind,
    /// Newer at the source (re-pulled).
    pub stale: FindingsOfKind,
}

impl Findings {
    /// Groups a report's findings by kind; the totals are the report's counts (the store reads
    /// only the first findings of each kind).
    pub fn grouped(detail: &ReportDetail) -> Self {
        let report = &detail.report;
        let total = |count: i32| usize::try_from(count).unwrap_or(0);
        let mut grouped = Findings {
            missing: FindingsOfKind::of_total(total(report.missing)),
            extra: FindingsOfKind::of_total(total(report.extra)),
            stale: FindingsOfKind::of_total(total(report.stale)),
        };
        for finding in &detail.findings {
            grouped.of_kind_mut(finding.kind).items.push(finding.into());
        }
        grouped
    }

    fn of_kind_mut(&mut self, kind: FindingKind) -> &mut FindingsOfKind {
        match kind {
            FindingKind::Missing => &mut self.missing,
            FindingKind::Extra => &mut self.extra,
            FindingKind::Stale => &mut self.stale,
        }
    }

    /// The findings of `kind`.
    pub fn of_kind(&self, kind: FindingKind) -> &FindingsOfKind {
        match kind {
            FindingKind::Missing => &self.missing,
            FindingKind::Extra => &self.extra,
            FindingKind::Stale => &self.stale,
        }
    }
}

/// A report with its findings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportDetailView {
    /// The report.
    pub report: ReportView,
    /// What drifted, by kind.
    pub findings: Findings,
}
