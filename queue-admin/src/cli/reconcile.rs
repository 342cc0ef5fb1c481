//! `queue-admin reconcile reports | report`: reconciliation reports from a terminal, through the
//! JSON API with a token (any role may read them).

use super::ApiClient;
use crate::reconciliation::wire::{ReportDetailView, ReportList, ReportView};
use std::fmt::Write as _;
use std::process::ExitCode;
use tributary_store::reconcile::FindingKind;

/// The commands.
#[derive(Debug, clap::Subcommand)]
pub enum ReconcileCommand {
    /// Reports, newest first: what each run checked, spent, found and repaired.
    Reports {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Only this stream.
        #[arg(long)]
        stream: Option<String>,
        /// Only this status: clean, drift, unsupported or failed.
        #[arg(long)]
        status: Option<String>,
        /// Only reports older than this id (the "more" hint of the page before).
        #[arg(long)]
        before: Option<i64>,
        /// How many (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One report with its findings by kind (missing, extra, stale).
    Report {
        /// Report id.
        id: i64,
    },
}

/// Runs one.
pub async fn run(client: &ApiClient, command: ReconcileCommand) -> anyhow::Result<ExitCode> {
    match command {
        ReconcileCommand::Reports {
            tenant,
            source,
            stream,
            status,
            before,
            limit,
        } => {
            let mut query: Vec<(&str, String)> = vec![("limit", limit.to_string())];
            for (name, value) in [
                ("tenant", tenant),
                ("source", source),
                ("stream", stream),
                ("status", status),
            ] {
                if let Some(value) = value {
                    query.push((name, value));
                }
            }
            if let Some(before) = before {
                query.push(("before", before.to_string()));
            }
            let list: ReportList = client.get("/api/v1/reconciliation/reports", &query).await?;
            if client.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print!("{}", render_list(&list));
            }
        }
        ReconcileCommand::Report { id } => {
            let detail: ReportDetailView = client
                .get(&format!("/api/v1/reconciliation/reports/{id}"), &[])
                .await?;
            if client.json {
                println!("{}", serde_json::to_string_pretty(&detail)?);
            } else {
                print!("{}", render_detail(&detail));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn window(report: &ReportView) -> String {
    format!(
        "{}..{}",
        report.window_from.format("%Y-%m-%dT%H:%M:%SZ"),
        report.window_to.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

/// The reports as a table.
pub fn render_list(list: &ReportList) -> String {
    let mut out = String::new();
    if list.items.is_empty() {
        out.push_str("no reconciliation reports\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>6}  {:<36}  {:<41}  {:<11}  {:>7}  {:>5}  {:>7}  {:>5}  {:>5}",
        "ID",
        "TENANT/SOURCE/STREAM",
        "WINDOW",
        "STATUS",
        "WINDOWS",
        "CALLS",
        "MISSING",
        "EXTRA",
        "STALE"
    );
    for report in &list.items {
        let _ = writeln!(
            out,
            "{:>6}  {:<36}  {:<41}  {:<11}  {:>7}  {:>5}  {:>7}  {:>5}  {:>5}",
            report.id,
            format!("{}/{}/{}", report.tenant, report.source, report.stream),
            window(report),
            report.status,
            report.windows_checked,
            report.api_calls,
            report.missing,
            report.extra,
            report.stale
        );
    }
    if let Some(next) = list.next_before {
        let _ = writeln!(out, "more: --before {next}");
    }
    out
}

/// One report and its findings.
pub fn render_detail(detail: &ReportDetailView) -> String {
    let report = &detail.report;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "report #{} {}/{}/{} ({}), window {}: {}{}",
        report.id,
        report.tenant,
        report.source,
        report.stream,
        report.connector,
        window(report),
        report.status,
        report
            .message
            .as_deref()
            .map(|message| format!(" ({message})"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "  {} windows checked, {} API calls, {} ms; drift {} missing, {} extra, {} stale; \
         {} re-pulled, {} marked deleted",
        report.windows_checked,
        report.api_calls,
        report.duration_ms,
        report.missing,
        report.extra,
        report.stale,
        report.repulled,
        report.marked_deleted
    );
    for kind in FindingKind::ALL {
        let findings = detail.findings.of_kind(kind);
        let _ = writeln!(out, "  {kind}: {}", findings.total);
        for finding in &findings.items {
            let _ = writeln!(
                out,
                "    {}  source {}  store {}",
                finding.external_id,
                finding
                    .source_updated_at
                    .map_or("-".into(), |at| at.to_rfc3339()),
                finding
                    .store_updated_at
                    .map_or("-".into(), |at| at.to_rfc3339())
            );
        }
        if findings.items.len() < findings.total {
            let _ = writeln!(
                out,
                "    … {} more (the first {} by id are listed)",
                findings.total - findings.items.len(),
                findings.items.len()
            );
        }
    }
    out
}
