//! Reconciliation's SQL: the store side of a comparison (records per created-at window, with
//! their data so the connector can fingerprint them), marking records deleted at the source,
//! and the reports with their findings — written once per reconcile job, read by the CLI and
//! queue-admin through [`Store::reconcile_reports`] and [`Store::reconcile_report`].
//!
//! Records are marked (`deleted_at`), never deleted. This module knows no connector and no
//! comparison logic: the worker decides what drifted, this only stores and reads.

use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::fmt;
use uuid::Uuid;

/// Most reports one page of [`Store::reconcile_reports`] returns.
pub const MAX_REPORTS_PER_PAGE: u32 = 500;
/// Reports per page when the filter does not say.
pub const DEFAULT_REPORTS_PER_PAGE: u32 = 50;

/// How a reconcile run ended; the `outcome` label of `tributary_reconcile_runs_total` too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportStatus {
    /// Source and store agree in every window checked.
    Clean,
    /// Something drifted; the findings say what, and the run repaired it.
    Drift,
    /// The connector offers no reconciliation; nothing was compared.
    Unsupported,
    /// The run could not finish (the message says why); a retry may replace this report.
    Failed,
}

impl ReportStatus {
    /// The stable name stored in `reconcile_reports.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Clean => "clean",
            ReportStatus::Drift => "drift",
            ReportStatus::Unsupported => "unsupported",
            ReportStatus::Failed => "failed",
        }
    }

    /// The status of a stored name, `None` for a name this build does not know.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "clean" => Some(ReportStatus::Clean),
            "drift" => Some(ReportStatus::Drift),
            "unsupported" => Some(ReportStatus::Unsupported),
            "failed" => Some(ReportStatus::Failed),
            _ => None,
        }
    }
}

impl fmt::Display for ReportStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of drift a finding is; the `kind` label of `tributary_reconcile_findings_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// At the source, not in the store (or marked deleted there).
    Missing,
    /// In the store, no longer at the source: deleted there.
    Extra,
    /// In both, but newer at the source (later updated-at, or a different fingerprint).
    Stale,
}

impl FindingKind {
    /// Every kind, in report order.
    pub const ALL: [FindingKind; 3] =
        [FindingKind::Missing, FindingKind::Extra, FindingKind::Stale];

    /// The stable name stored in `reconcile_findings.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Missing => "missing",
            FindingKind::Extra => "extra",
            FindingKind::Stale => "stale",
        }
    }

    /// The kind of a stored name, `None` for a name this build does not know.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "missing" => Some(FindingKind::Missing),
            "extra" => Some(FindingKind::Extra),
            "stale" => Some(FindingKind::Stale),
            _ => None,
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One drifted record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What drifted.
    pub kind: FindingKind,
    /// The record's id at the source.
    pub external_id: String,
    /// The source's updated-at (missing, stale), when it says.
    pub source_updated_at: Option<DateTime<Utc>>,
    /// The store's updated-at (extra, stale), when it has one.
    pub store_updated_at: Option<DateTime<Utc>>,
}

/// A report to write: one per reconcile job.
#[derive(Debug, Clone)]
pub struct NewReport<'a> {
    /// The reconcile job; a second report for it is not written.
    pub job_id: Uuid,
    /// Connector kind.
    pub connector: &'a str,
    /// Tenant.
    pub tenant: &'a str,
    /// Source id.
    pub source: &'a str,
    /// Stream.
    pub stream: &'a str,
    /// The created-at window checked, `[from, to)`.
    pub window_from: DateTime<Utc>,
    /// See `window_from`.
    pub window_to: DateTime<Utc>,
    /// How the run ended.
    pub status: ReportStatus,
    /// Why it is `unsupported` or `failed`; `None` otherwise.
    pub message: Option<&'a str>,
    /// Windows compared (counts and manifests).
    pub windows_checked: u32,
    /// Requests sent to the source.
    pub api_calls: u32,
    /// Missing and stale records re-pulled by id and upserted.
    pub repulled: u32,
    /// Extra records newly marked deleted.
    pub marked_deleted: u32,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// What drifted.
    pub findings: &'a [Finding],
}

/// A stored report, without its findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSummary {
    /// Row id: what `reconcile report <id>` and the keyset take.
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
    /// The created-at window checked, `[from, to)`.
    pub window_from: DateTime<Utc>,
    /// See `window_from`.
    pub window_to: DateTime<Utc>,
    /// How the run ended (`None` for a status written by a newer build).
    pub status: Option<ReportStatus>,
    /// Why it is `unsupported` or `failed`.
    pub message: Option<String>,
    /// Windows compared.
    pub windows_checked: i32,
    /// Requests sent to the source.
    pub api_calls: i32,
    /// Missing records found.
    pub missing: i32,
    /// Extra records found.
    pub extra: i32,
    /// Stale records found.
    pub stale: i32,
    /// Records re-pulled by id.
    pub repulled: i32,
    /// Records newly marked deleted.
    pub marked_deleted: i32,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When the report was written.
    pub finished_at: DateTime<Utc>,
}

impl ReportSummary {
    /// Findings of every kind.
    pub fn drift(&self) -> i64 {
        i64::from(self.missing) + i64::from(self.extra) + i64::from(self.stale)
    }

    /// How long the run took.
    pub fn duration(&self) -> chrono::Duration {
        self.finished_at - self.started_at
    }
}

/// A report with (the first of) its findings, ordered by kind then id; the report's counts are
/// the totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportDetail {
    /// The report.
    pub report: ReportSummary,
    /// What drifted.
    pub findings: Vec<Finding>,
}

/// Which reports to list, newest first. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFilter {
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Only this source.
    pub source: Option<String>,
    /// Only this stream.
    pub stream: Option<String>,
    /// Only this status.
    pub status: Option<ReportStatus>,
    /// Keyset: only reports with an id below this (the previous page's `next_before`).
    pub before: Option<i64>,
    /// Page size; `None` is [`DEFAULT_REPORTS_PER_PAGE`], capped at [`MAX_REPORTS_PER_PAGE`].
    pub limit: Option<u32>,
}

/// One page of reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPage {
    /// Newest first.
    pub reports: Vec<ReportSummary>,
    /// Pass as [`ReportFilter::before`] for the next page; `None` on the last page.
    pub next_before: Option<i64>,
}

/// What [`Store::record_reconcile_report`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportWritten {
    /// The report's row id (the existing one when nothing was written).
    pub id: i64,
    /// `false` when the job already had a report that was not `failed`: nothing was written.
    pub written: bool,
}

/// A stored record as reconciliation compares it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// The source's id.
    pub external_id: String,
    /// When the source created it.
    pub created_at: DateTime<Utc>,
    /// When the source last changed it, as last pulled.
    pub updated_at: Option<DateTime<Utc>>,
    /// The record, for the connector's fingerprint.
    pub data: serde_json::Value,
}

/// Which stored records: one (tenant, connector, stream) and a created-at window `[from, to)`.
#[derive(Debug, Clone, Copy)]
pub struct RecordWindow<'a> {
    /// Tenant.
    pub tenant: &'a str,
    /// Connector kind (records are keyed by connector, not source).
    pub connector: &'a str,
    /// Stream.
    pub stream: &'a str,
    /// Inclusive start.
    pub from: DateTime<Utc>,
    /// Exclusive end.
    pub to: DateTime<Utc>,
}

const SUMMARY_COLUMNS: &str = "id, job_id, connector, tenant_id, source, stream, window_from, \
     window_to, status, message, windows_checked, api_calls, missing, extra, stale, repulled, \
     marked_deleted, started_at, finished_at";

fn summary(row: &tokio_postgres::Row) -> ReportSummary {
    ReportSummary {
        id: row.get(0),
        job_id: row.get(1),
        connector: row.get(2),
        tenant: row.get(3),
        source: row.get(4),
        stream: row.get(5),
        window_from: row.get(6),
        window_to: row.get(7),
        status: ReportStatus::parse(row.get(8)),
        message: row.get(9),
        windows_checked: row.get(10),
        api_calls: row.get(11),
        missing: row.get(12),
        extra: row.get(13),
        stale: row.get(14),
        repulled: row.get(15),
        marked_deleted: row.get(16),
        started_at: row.get(17),
        finished_at: row.get(18),
    }
}

fn count_of(findings: &[Finding], kind: FindingKind) -> i32 {
    findings.iter().filter(|f| f.kind == kind).count() as i32
}

impl Store {
    /// The stored, not-deleted records of a created-at window, oldest first, with their data.
    /// Records without a created-at are in no window.
    pub async fn reconcile_records(
        &self,
        window: RecordWindow<'_>,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT external_id, source_created_at, source_updated_at, data FROM records
                 WHERE tenant_id = $1 AND connector = $2 AND stream = $3
                   AND source_created_at >= $4 AND source_created_at < $5
                   AND deleted_at IS NULL
                 ORDER BY source_created_at, external_id",
                &[
                    &window.tenant,
                    &window.connector,
                    &window.stream,
                    &window.from,
                    &window.to,
                ],
            )
            .await
            .map_err(StoreError::db("reading the records of a reconcile window"))?;
        Ok(rows
            .iter()
            .map(|row| StoredRecord {
                external_id: row.get(0),
                created_at: row.get(1),
                updated_at: row.get(2),
                data: row.get(3),
            })
            .collect())
    }

    /// Marks these records deleted at the source (never removes them); returns how many were
    /// newly marked. Already-marked and unknown ids are left alone.
    pub async fn mark_records_deleted(
        &self,
        tenant: &str,
        connector: &str,
        stream: &str,
        external_ids: &[String],
    ) -> Result<u64, StoreError> {
        if external_ids.is_empty() {
            return Ok(0);
        }
        let client = self.client().await?;
        client
            .execute(
                "UPDATE records SET deleted_at = now(), last_changed_at = now()
                 WHERE tenant_id = $1 AND connector = $2 AND stream = $3
                   AND external_id = ANY($4) AND deleted_at IS NULL",
                &[&tenant, &connector, &stream, &external_ids],
            )
            .await
            .map_err(StoreError::db("marking records deleted"))
    }

    /// Writes a reconcile job's report and its findings in one transaction. A job writes one
    /// report: when it already has one, nothing is written — unless that one is `failed`, which
    /// a later attempt of the same job replaces.
    pub async fn record_reconcile_report(
        &self,
        report: &NewReport<'_>,
    ) -> Result<ReportWritten, StoreError> {
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a report transaction"))?;
        let written = transaction
            .query_opt(
                "INSERT INTO reconcile_reports AS r (job_id, connector, tenant_id, source, stream,
                     window_from, window_to, status, message, windows_checked, api_calls,
                     missing, extra, stale, repulled, marked_deleted, started_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                 ON CONFLICT (job_id) DO UPDATE SET
                     status = EXCLUDED.status, message = EXCLUDED.message,
                     window_from = EXCLUDED.window_from, window_to = EXCLUDED.window_to,
                     windows_checked = EXCLUDED.windows_checked, api_calls = EXCLUDED.api_calls,
                     missing = EXCLUDED.missing, extra = EXCLUDED.extra, stale = EXCLUDED.stale,
                     repulled = EXCLUDED.repulled, marked_deleted = EXCLUDED.marked_deleted,
                     started_at = EXCLUDED.started_at, finished_at = now()
                 WHERE r.status = 'failed'
                 RETURNING id",
                &[
                    &report.job_id,
                    &report.connector,
                    &report.tenant,
                    &report.source,
                    &report.stream,
                    &report.window_from,
                    &report.window_to,
                    &report.status.as_str(),
                    &report.message,
                    &(report.windows_checked as i32),
                    &(report.api_calls as i32),
                    &count_of(report.findings, FindingKind::Missing),
                    &count_of(report.findings, FindingKind::Extra),
                    &count_of(report.findings, FindingKind::Stale),
                    &(report.repulled as i32),
                    &(report.marked_deleted as i32),
                    &report.started_at,
                ],
            )
            .await
            .map_err(StoreError::db("writing a reconcile report"))?;
        let Some(row) = written else {
            let existing = transaction
                .query_one(
                    "SELECT id FROM reconcile_reports WHERE job_id = $1",
                    &[&report.job_id],
                )
                .await
                .map_err(StoreError::db("reading an existing reconcile report"))?;
            return Ok(ReportWritten {
                id: existing.get(0),
                written: false,
            });
        };
        let id: i64 = row.get(0);
        transaction
            .execute(
                "DELETE FROM reconcile_findings WHERE report_id = $1",
                &[&id],
            )
            .await
            .map_err(StoreError::db("replacing a failed report's findings"))?;
        if !report.findings.is_empty() {
            let kinds: Vec<&str> = report.findings.iter().map(|f| f.kind.as_str()).collect();
            let ids: Vec<&str> = report
                .findings
                .iter()
                .map(|f| f.external_id.as_str())
                .collect();
            let source_updated: Vec<Option<DateTime<Utc>>> = report
                .findings
                .iter()
                .map(|f| f.source_updated_at)
                .collect();
            let store_updated: Vec<Option<DateTime<Utc>>> =
                report.findings.iter().map(|f| f.store_updated_at).collect();
            transaction
                .execute(
                    "INSERT INTO reconcile_findings
                         (report_id, kind, external_id, source_updated_at, store_updated_at)
                     SELECT $1, kind, external_id, source_updated_at, store_updated_at
                     FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
                         AS f(kind, external_id, source_updated_at, store_updated_at)
                     ON CONFLICT DO NOTHING",
                    &[&id, &kinds, &ids, &source_updated, &store_updated],
                )
                .await
                .map_err(StoreError::db("writing reconcile findings"))?;
        }
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a reconcile report"))?;
        Ok(ReportWritten { id, written: true })
    }

    /// The report a reconcile job wrote, if any.
    pub async fn reconcile_report_of_job(
        &self,
        job_id: Uuid,
    ) -> Result<Option<ReportSummary>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {SUMMARY_COLUMNS} FROM reconcile_reports WHERE job_id = $1"),
                &[&job_id],
            )
            .await
            .map_err(StoreError::db("reading a job's reconcile report"))?;
        Ok(row.as_ref().map(summary))
    }

    /// One page of reports, newest first, narrowed by `filter`; keyset-paged by id.
    pub async fn reconcile_reports(&self, filter: &ReportFilter) -> Result<ReportPage, StoreError> {
        let limit = filter
            .limit
            .unwrap_or(DEFAULT_REPORTS_PER_PAGE)
            .clamp(1, MAX_REPORTS_PER_PAGE);
        let client = self.client().await?;
        let status = filter.status.map(ReportStatus::as_str);
        let rows = client
            .query(
                &format!(
                    "SELECT {SUMMARY_COLUMNS} FROM reconcile_reports
                     WHERE ($1::text IS NULL OR tenant_id = $1)
                       AND ($2::text IS NULL OR source = $2)
                       AND ($3::text IS NULL OR stream = $3)
                       AND ($4::text IS NULL OR status = $4)
                       AND ($5::bigint IS NULL OR id < $5)
                     ORDER BY id DESC
                     LIMIT $6"
                ),
                &[
                    &filter.tenant,
                    &filter.source,
                    &filter.stream,
                    &status,
                    &filter.before,
                    &(i64::from(limit) + 1),
                ],
            )
            .await
            .map_err(StoreError::db("listing reconcile reports"))?;
        let mut reports: Vec<ReportSummary> = rows.iter().map(summary).collect();
        let next_before = if reports.len() > limit as usize {
            reports.truncate(limit as usize);
            reports.last().map(|report| report.id)
        } else {
            None
        };
        Ok(ReportPage {
            reports,
            next_before,
        })
    }

    /// One report with the first `per_kind` findings of each kind (ordered by kind, then id),
    /// or `None` when there is no report with that id. The report's counts give the totals: a
    /// run that found a whole stream drifted must not load every finding to show a page.
    pub async fn reconcile_report(
        &self,
        id: i64,
        per_kind: i64,
    ) -> Result<Option<ReportDetail>, StoreError> {
        let client = self.client().await?;
        let Some(row) = client
            .query_opt(
                &format!("SELECT {SUMMARY_COLUMNS} FROM reconcile_reports WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(StoreError::db("reading a reconcile report"))?
        else {
            return Ok(None);
        };
        let rows = client
            .query(
                "SELECT f.kind, f.external_id, f.source_updated_at, f.store_updated_at
                 FROM unnest(ARRAY['missing', 'extra', 'stale']) WITH ORDINALITY AS k (kind, n)
                 CROSS JOIN LATERAL (
                     SELECT * FROM reconcile_findings
                     WHERE report_id = $1 AND kind = k.kind
                     ORDER BY external_id LIMIT $2
                 ) f
                 ORDER BY k.n, f.external_id",
                &[&id, &per_kind.max(0)],
            )
            .await
            .map_err(StoreError::db("reading reconcile findings"))?;
        let findings = rows
            .iter()
            .filter_map(|row| {
                Some(Finding {
                    kind: FindingKind::parse(row.get(0))?,
                    external_id: row.get(1),
                    source_updated_at: row.get(2),
                    store_updated_at: row.get(3),
                })
            })
            .collect();
        Ok(Some(ReportDetail {
            report: summary(&row),
            findings,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for status in [
            ReportStatus::Clean,
            ReportStatus::Drift,
            ReportStatus::Unsupported,
            ReportStatus::Failed,
        ] {
            assert_eq!(ReportStatus::parse(status.as_str()), Some(status));
        }
        for kind in FindingKind::ALL {
            assert_eq!(FindingKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ReportStatus::parse("other"), None);
        assert_eq!(FindingKind::parse("other"), None);
    }
}
