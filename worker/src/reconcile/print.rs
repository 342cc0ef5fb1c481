//! Reports as the CLI prints them (`tributary-worker reconcile reports` and `report <id>`):
//! plain text, one report per line in listings, findings grouped by kind in a report.

use std::fmt::Write as _;
use tributary_store::{FindingKind, ReportDetail, ReportPage, ReportSummary};

const TIME: &str = "%Y-%m-%d %H:%M:%S";

fn status(report: &ReportSummary) -> &'static str {
    report.status.map_or("unknown", |status| status.as_str())
}

/// One line per report, newest first, and how to get the next page.
pub fn reports(page: &ReportPage) -> String {
    let mut out = String::new();
    if page.reports.is_empty() {
        out.push_str("no reconcile reports\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>8}  {:<19}  {:<32}  {:<11}  {:>7}  {:>7}  {:>5}  {:>5}  {:>5}  {:>8}",
        "id",
        "finished (UTC)",
        "tenant/source/stream",
        "status",
        "windows",
        "calls",
        "miss",
        "extra",
        "stale",
        "seconds"
    );
    for report in &page.reports {
        let stream = format!("{}/{}/{}", report.tenant, report.source, report.stream);
        let _ = writeln!(
            out,
            "{:>8}  {:<19}  {:<32}  {:<11}  {:>7}  {:>7}  {:>5}  {:>5}  {:>5}  {:>8.1}",
            report.id,
            report.finished_at.format(TIME),
            stream,
            status(report),
            report.windows_checked,
            report.api_calls,
            report.missing,
            report.extra,
            report.stale,
            report.duration().num_milliseconds() as f64 / 1000.0
        );
    }
    if let Some(before) = page.next_before {
        let _ = writeln!(out, "more: --before {before}");
    }
    out
}

/// A report and its findings, grouped by kind.
pub fn report(detail: &ReportDetail) -> String {
    let report = &detail.report;
    let mut out = String::new();
    let _ = writeln!(out, "reconcile report {}", report.id);
    let _ = writeln!(out, "  job:       {}", report.job_id);
    let _ = writeln!(
        out,
        "  stream:    {}/{}/{} ({})",
        report.tenant, report.source, report.stream, report.connector
    );
    let _ = writeln!(
        out,
        "  window:    created {} to {} (UTC)",
        report.window_from.format(TIME),
        report.window_to.format(TIME)
    );
    let _ = writeln!(out, "  status:    {}", status(report));
    if let Some(message) = &report.message {
        let _ = writeln!(out, "  message:   {message}");
    }
    let _ = writeln!(
        out,
        "  ran:       {} for {:.1} s",
        report.started_at.format(TIME),
        report.duration().num_milliseconds() as f64 / 1000.0
    );
    let _ = writeln!(
        out,
        "  spent:     {} windows checked, {} API calls",
        report.windows_checked, report.api_calls
    );
    let _ = writeln!(
        out,
        "  drift:     {} missing, {} extra, {} stale",
        report.missing, report.extra, report.stale
    );
    let _ = writeln!(
        out,
        "  repaired:  {} re-pulled, {} marked deleted",
        report.repulled, report.marked_deleted
    );
    for kind in FindingKind::ALL {
        let findings: Vec<_> = detail
            .findings
            .iter()
            .filter(|finding| finding.kind == kind)
            .collect();
        if findings.is_empty() {
            continue;
        }
        let total = match kind {
            FindingKind::Missing => report.missing,
            FindingKind::Extra => report.extra,
            FindingKind::Stale => report.stale,
        };
        let shown = findings.len();
        let _ = writeln!(out, "{kind} ({total}):");
        for finding in findings {
            let time = |at: Option<chrono::DateTime<chrono::Utc>>| {
                at.map_or("-".to_owned(), |at| at.format(TIME).to_string())
            };
            let _ = writeln!(
                out,
                "  {:<40}  source updated {}  store updated {}",
                finding.external_id,
                time(finding.source_updated_at),
                time(finding.store_updated_at)
            );
        }
        let more = usize::try_from(total).unwrap_or(0).saturating_sub(shown);
        if more > 0 {
            let _ = writeln!(out, "  ... and {more} more (--findings N lists more)");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use tributary_store::{Finding, ReportStatus};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn summary() -> ReportSummary {
        ReportSummary {
            id: 7,
            job_id: uuid::Uuid::nil(),
            connector: "demo".into(),
            tenant: "acme".into(),
            source: "shop".into(),
            stream: "orders".into(),
            window_from: at("1970-01-01T00:00:00Z"),
            window_to: at("2025-01-02T03:00:00Z"),
            status: Some(ReportStatus::Drift),
            message: None,
            windows_checked: 12,
            api_calls: 15,
            missing: 1,
            extra: 0,
            stale: 1,
            repulled: 2,
            marked_deleted: 0,
            started_at: at("2025-01-02T03:00:00Z"),
            finished_at: at("2025-01-02T03:00:02.500Z"),
        }
    }

    #[test]
    fn a_report_lists_its_findings_by_kind() {
        let text = report(&ReportDetail {
            report: summary(),
            findings: vec![
                Finding {
                    kind: FindingKind::Missing,
                    external_id: "ord_1".into(),
                    source_updated_at: Some(at("2025-01-01T00:00:00Z")),
                    store_updated_at: None,
                },
                Finding {
                    kind: FindingKind::Stale,
                    external_id: "ord_2".into(),
                    source_updated_at: None,
                    store_updated_at: None,
                },
            ],
        });
        assert!(text.contains("status:    drift"), "{text}");
        assert!(text.contains("12 windows checked, 15 API calls"), "{text}");
        assert!(text.contains("for 2.5 s"), "{text}");
        let missing = text.find("missing (1):\n  ord_1").expect(&text);
        let stale = text.find("stale (1):\n  ord_2").expect(&text);
        assert!(missing < stale);
        assert!(!text.contains("extra ("), "{text}");
        assert!(!text.contains("more"), "{text}");
    }

    #[test]
    fn a_capped_report_says_how_many_findings_it_left_out() {
        let mut capped = summary();
        capped.missing = 1_250;
        let text = report(&ReportDetail {
            report: capped,
            findings: vec![Finding {
                kind: FindingKind::Missing,
                external_id: "ord_1".into(),
                source_updated_at: None,
                store_updated_at: None,
            }],
        });
        assert!(
            text.contains("missing (1250):\n  ord_1 ") && text.contains("... and 1249 more"),
            "{text}"
        );
    }

    #[test]
    fn listings_say_how_to_continue() {
        let text = reports(&ReportPage {
            reports: vec![summary()],
            next_before: Some(7),
        });
        assert!(text.contains("acme/shop/orders"), "{text}");
        assert!(text.ends_with("more: --before 7\n"), "{text}");
        assert_eq!(
            reports(&ReportPage {
                reports: vec![],
                next_before: None
            }),
            "no reconcile reports\n"
        );
    }
}
