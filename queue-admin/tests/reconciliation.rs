//! Reconciliation reports in queue-admin against the real stack: reports written as a reconcile
//! job writes them are listed (filtered, paged) and shown with their findings by kind through
//! the API, the pages and the CLI; every viewer may read them, nobody without credentials;
//! a bad parameter is a 400 naming it; record ids from a source are shown escaped.

mod support;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use support::TestAdmin;
use tributary_queue_admin::auth::Role;
use tributary_store::reconcile::{Finding, FindingKind, NewReport, ReportStatus};
use uuid::Uuid;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn finding(kind: FindingKind, id: &str) -> Finding {
    Finding {
        kind,
        external_id: id.to_owned(),
        source_updated_at: Some(at("2026-12-01T10:00:00Z")),
        store_updated_at: (kind != FindingKind::Missing).then(|| at("2026-11-30T09:00:00Z")),
    }
}

/// Writes a report as a reconcile job would; returns its id.
async fn report(
    admin: &TestAdmin,
    tenant: &str,
    stream: &str,
    status: ReportStatus,
    findings: &[Finding],
) -> i64 {
    let started = Utc::now() - TimeDelta::seconds(3);
    admin
        .store()
        .record_reconcile_report(&NewReport {
            job_id: Uuid::now_v7(),
            connector: "demo",
            tenant,
            source: "demo_shop",
            stream,
            window_from: at("2026-12-01T00:00:00Z"),
            window_to: at("2026-12-02T00:00:00Z"),
            status,
            message: (status == ReportStatus::Failed).then_some("the source answered 503"),
            windows_checked: 7,
            api_calls: 12,
            repulled: findings
                .iter()
                .filter(|f| f.kind != FindingKind::Extra)
                .count() as u32,
            marked_deleted: findings
                .iter()
                .filter(|f| f.kind == FindingKind::Extra)
                .count() as u32,
            started_at: started,
            findings,
        })
        .await
        .expect("write a report")
        .id
}

fn ids(findings: &Value) -> Vec<&str> {
    findings["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["external_id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn reports_are_listed_filtered_paged_and_shown_with_their_findings_by_kind() {
    let admin = TestAdmin::start().await;
    let viewer = admin.token(Role::Viewer).await;
    let clean = report(&admin, "acme", "orders", ReportStatus::Clean, &[]).await;
    let drift = report(
        &admin,
        "acme",
        "customers",
        ReportStatus::Drift,
        &[
            finding(FindingKind::Stale, "c-9"),
            finding(FindingKind::Missing, "c-2"),
            finding(FindingKind::Missing, "c-1"),
            finding(FindingKind::Extra, "c-5"),
        ],
    )
    .await;
    let failed = report(&admin, "globex", "orders", ReportStatus::Failed, &[]).await;

    let (status, list) = admin
        .api_get(&viewer, "/api/v1/reconciliation/reports")
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let listed: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, [failed, drift, clean], "newest first");
    assert!(list["next_before"].is_null());
    let item = &list["items"][1];
    assert_eq!(item["status"], "drift");
    assert_eq!(
        (&item["missing"], &item["extra"], &item["stale"]),
        (&Value::from(2), &Value::from(1), &Value::from(1))
    );
    assert_eq!(item["windows_checked"], 7);
    assert_eq!(item["api_calls"], 12);
    assert_eq!(item["repulled"], 3);
    assert_eq!(item["marked_deleted"], 1);
    assert!(item["duration_ms"].as_i64().unwrap() >= 3_000, "{item}");
    assert_eq!(list["items"][0]["message"], "the source answered 503");

    // Narrowed, and paged.
    for (query, expected) in [
        ("?tenant=acme", vec![drift, clean]),
        ("?status=drift", vec![drift]),
        ("?tenant=acme&stream=orders", vec![clean]),
        ("?source=elsewhere", vec![]),
    ] {
        let (status, list) = admin
            .api_get(&viewer, &format!("/api/v1/reconciliation/reports{query}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {list}");
        let listed: Vec<i64> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_i64().unwrap())
            .collect();
        assert_eq!(listed, expected, "{query}");
    }
    let (_, first) = admin
        .api_get(&viewer, "/api/v1/reconciliation/reports?limit=2")
        .await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let next = first["next_before"].as_i64().expect("a next page");
    let (_, second) = admin
        .api_get(
            &viewer,
            &format!("/api/v1/reconciliation/reports?limit=2&before={next}"),
        )
        .await;
    assert_eq!(second["items"][0]["id"], clean);
    assert!(second["next_before"].is_null());

    // Bad parameters are 400s naming them.
    for (query, named) in [
        ("?status=dirty", "status:"),
        ("?limit=0", "limit:"),
        ("?limit=501", "limit:"),
        ("?before=yesterday", "before"),
    ] {
        let (status, answer) = admin
            .api_get(&viewer, &format!("/api/v1/reconciliation/reports{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(named),
            "{query}: {answer}"
        );
    }
    let long = "t".repeat(200);
    let (status, _) = admin
        .api_get(
            &viewer,
            &format!("/api/v1/reconciliation/reports?tenant={long}"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // One report, findings by kind, each kind by id.
    let (status, detail) = admin
        .api_get(&viewer, &format!("/api/v1/reconciliation/reports/{drift}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["report"]["id"], drift);
    assert_eq!(detail["findings"]["missing"]["total"], 2);
    assert_eq!(ids(&detail["findings"]["missing"]), ["c-1", "c-2"]);
    assert_eq!(ids(&detail["findings"]["extra"]), ["c-5"]);
    assert_eq!(ids(&detail["findings"]["stale"]), ["c-9"]);
    assert_eq!(
        detail["findings"]["stale"]["items"][0]["store_updated_at"],
        "2026-11-30T09:00:00Z"
    );
    let (status, _) = admin
        .api_get(&viewer, "/api/v1/reconciliation/reports/999999")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Nobody without credentials.
    for path in [
        "/api/v1/reconciliation/reports".to_owned(),
        format!("/api/v1/reconciliation/reports/{drift}"),
    ] {
        let response = admin
            .http
            .get(format!("{}{path}", admin.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn a_large_report_shows_its_first_findings_of_each_kind_and_every_total() {
    let admin = TestAdmin::start().await;
    let viewer = admin.token(Role::Viewer).await;
    let shown = tributary_queue_admin::reconciliation::MAX_FINDINGS_SHOWN;
    let findings: Vec<Finding> = (0..shown + 5)
        .map(|i| finding(FindingKind::Missing, &format!("m-{i:05}")))
        .chain((0..2).map(|i| finding(FindingKind::Stale, &format!("s-{i}"))))
        .collect();
    let id = report(&admin, "acme", "orders", ReportStatus::Drift, &findings).await;

    let (status, detail) = admin
        .api_get(&viewer, &format!("/api/v1/reconciliation/reports/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let missing = &detail["findings"]["missing"];
    assert_eq!(missing["total"], shown + 5);
    let listed = ids(missing);
    assert_eq!(listed.len(), shown);
    assert_eq!(
        (listed[0], listed[shown - 1]),
        ("m-00000", &*format!("m-{:05}", shown - 1))
    );
    assert_eq!(detail["findings"]["extra"]["total"], 0);
    assert_eq!(detail["findings"]["stale"]["total"], 2);
    assert_eq!(ids(&detail["findings"]["stale"]), ["s-0", "s-1"]);
}

#[tokio::test]
async fn the_pages_show_reports_and_findings_escaped() {
    let admin = TestAdmin::start().await;
    let hostile = "<img src=x onerror=alert(1)>";
    let drift = report(
        &admin,
        "acme",
        "orders",
        ReportStatus::Drift,
        &[
            finding(FindingKind::Missing, hostile),
            finding(FindingKind::Stale, "o-7"),
        ],
    )
    .await;
    let clean = report(&admin, "globex", "orders", ReportStatus::Clean, &[]).await;
    let session = admin.session(Role::Viewer).await;

    let (status, html) = admin.page(&session, "/reconciliation").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("href=\"/reconciliation\""),
        "the navigation links it"
    );
    assert!(
        html.contains(&format!("href=\"/reconciliation/{drift}\"")),
        "{html}"
    );
    assert!(
        html.contains(&format!("href=\"/reconciliation/{clean}\"")),
        "{html}"
    );
    assert!(html.contains("acme / demo_shop / orders"), "{html}");
    let (status, html) = admin
        .page(&session, "/reconciliation?status=clean&tenant=globex")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!("/reconciliation/{clean}\"")),
        "{html}"
    );
    assert!(
        !html.contains(&format!("/reconciliation/{drift}\"")),
        "{html}"
    );
    let (status, html) = admin.page(&session, "/reconciliation?status=dirty").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("status:"), "{html}");

    let (status, html) = admin
        .page(&session, &format!("/reconciliation/{drift}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Missing (1)"), "{html}");
    assert!(html.contains("Extra (0)"), "{html}");
    assert!(html.contains("Stale (1)"), "{html}");
    assert!(html.contains("o-7"), "{html}");
    assert!(!html.contains(hostile), "{html}");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    let (status, _) = admin.page(&session, "/reconciliation/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The anonymous are sent to sign in.
    for path in [
        "/reconciliation".to_owned(),
        format!("/reconciliation/{drift}"),
    ] {
        let response = admin
            .http
            .get(format!("{}{path}", admin.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()[reqwest::header::LOCATION], "/login");
    }
}

async fn cli(admin: &TestAdmin, token: &str, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_queue-admin"))
        .arg("reconcile")
        .args(args)
        .env("TRIBUTARY_ADMIN_URL", &admin.base_url)
        .env("TRIBUTARY_ADMIN_TOKEN", token)
        .env_remove("TRIBUTARY_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run queue-admin");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_reads_reports_through_the_api() {
    let admin = TestAdmin::start().await;
    let viewer = admin.token(Role::Viewer).await;
    let (ok, out, err) = cli(&admin, &viewer, &["reports"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "no reconciliation reports\n");

    let drift = report(
        &admin,
        "acme",
        "orders",
        ReportStatus::Drift,
        &[
            finding(FindingKind::Extra, "o-3"),
            finding(FindingKind::Missing, "o-1"),
        ],
    )
    .await;
    let clean = report(&admin, "acme", "customers", ReportStatus::Clean, &[]).await;

    let (ok, out, err) = cli(&admin, &viewer, &["reports"]).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[1].trim_start().starts_with(&clean.to_string()),
        "{out}"
    );
    assert!(
        lines[2].contains("acme/demo_shop/orders") && lines[2].contains("drift"),
        "{out}"
    );
    let (ok, out, err) = cli(
        &admin,
        &viewer,
        &["reports", "--status", "drift", "--limit", "1"],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    let (ok, _, err) = cli(&admin, &viewer, &["reports", "--status", "dirty"]).await;
    assert!(!ok);
    assert!(err.contains("400") && err.contains("status:"), "{err}");

    let (ok, out, err) = cli(&admin, &viewer, &["report", &drift.to_string()]).await;
    assert!(ok, "{err}");
    assert!(out.contains("drift 1 missing, 1 extra, 0 stale"), "{out}");
    assert!(out.contains("  missing: 1\n    o-1"), "{out}");
    assert!(out.contains("  extra: 1\n    o-3"), "{out}");
    assert!(out.contains("  stale: 0\n"), "{out}");
    let (ok, out, err) = cli(&admin, &viewer, &["--json", "report", &drift.to_string()]).await;
    assert!(ok, "{err}");
    let detail: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        detail["findings"]["extra"]["items"][0]["external_id"],
        "o-3"
    );
    let (ok, _, err) = cli(&admin, &viewer, &["report", "999999"]).await;
    assert!(!ok);
    assert!(err.contains("404"), "{err}");
}
