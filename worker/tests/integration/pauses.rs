//! Operator pauses: while a `source_pauses` row matches, a source's jobs wait (snoozed, no
//! attempt spent, the source never called) and other sources keep flowing; once the row is
//! deleted the jobs complete. The rows are written with SQL here: queue-admin owns the writes.

use crate::helpers::{wait_for, TestApp, SOURCE};
use std::time::Duration;
use tributary_demo_shop::{ShopConfig, Stream};
use tributary_worker::config::{RateLimitSettings, SourceSettings};
use uuid::Uuid;

const OTHER_SOURCE: &str = "other_shop";

/// Pauses `source` for `tenant` (`None`: every tenant), as an operator would.
async fn pause_source(app: &TestApp, source: &str, tenant: Option<&str>, reason: &str) {
    let client = app.store.pool().get().await.unwrap();
    client
        .execute(
            "INSERT INTO source_pauses (source, tenant_id, reason, paused_by)
             VALUES ($1, COALESCE($2, '*'), $3, 'user:test')",
            &[&source, &tenant, &reason],
        )
        .await
        .unwrap();
}

/// Lifts every pause.
async fn resume_all_sources(app: &TestApp) {
    let client = app.store.pool().get().await.unwrap();
    client
        .execute("DELETE FROM source_pauses", &[])
        .await
        .unwrap();
}

/// (snoozes for the pause, any other attempt) recorded for `job`.
async fn attempts_of(app: &TestApp, job: Uuid) -> (i64, i64) {
    let client = app.store.pool().get().await.unwrap();
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE outcome = 'snoozed' AND error_class = 'source_paused'),
                    count(*) FILTER (WHERE outcome <> 'snoozed' OR error_class <> 'source_paused')
             FROM job_attempts WHERE job_id = $1",
            &[&job],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// The newest error recorded for `job`.
async fn last_error(app: &TestApp, job: Uuid) -> String {
    let client = app.store.pool().get().await.unwrap();
    client
        .query_one(
            "SELECT error FROM job_attempts WHERE job_id = $1 ORDER BY id DESC LIMIT 1",
            &[&job],
        )
        .await
        .unwrap()
        .get(0)
}

async fn failed_attempts(app: &TestApp, job: Uuid) -> i64 {
    app.scalar_i64(&format!(
        "SELECT attempts::bigint FROM jobs WHERE id = '{job}'"
    ))
    .await
}

async fn records_of(app: &TestApp, tenant: &str) -> i64 {
    app.scalar_i64(&format!(
        "SELECT count(*) FROM records WHERE tenant_id = '{tenant}'"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_source_waits_without_spending_attempts_and_completes_once_resumed() {
    let mut app = TestApp::new(ShopConfig::with_volume(200, 10, 10)).await;
    let other_shop = tributary_demo_shop::spawn(ShopConfig::with_volume(300, 10, 10))
        .await
        .unwrap();
    app.settings.sources.insert(
        OTHER_SOURCE.into(),
        SourceSettings {
            connector: "demo".into(),
            settings: serde_json::json!({"base_url": other_shop.url(), "page_size": 100}),
            rate_limit: Some(RateLimitSettings {
                requests_per_second: 1_000.0,
                burst: 100,
            }),
        },
    );
    app.settings.worker.paused_recheck_seconds = 1;
    // Every tenant of one source; a single tenant of the other.
    pause_source(&app, SOURCE, None, "maintenance window at the shop").await;
    pause_source(&app, OTHER_SOURCE, Some("initech"), "contract ended").await;
    let http = app.start_worker().await;

    let whole_source_paused = app.pull_job("acme", "orders");
    let mut tenant_paused = app.pull_job("initech", "orders");
    tenant_paused.source = OTHER_SOURCE.parse().unwrap();
    let mut flowing = app.pull_job("globex", "orders");
    flowing.source = OTHER_SOURCE.parse().unwrap();
    app.enqueue(&[
        whole_source_paused.clone(),
        tenant_paused.clone(),
        flowing.clone(),
    ])
    .await;
    let paused = [
        whole_source_paused.job_id.as_uuid(),
        tenant_paused.job_id.as_uuid(),
    ];

    // Another tenant of a partly paused source flows meanwhile.
    app.wait_for_runs(&[flowing.job_id.as_uuid()], Duration::from_secs(30))
        .await;
    assert_eq!(
        records_of(&app, "globex").await,
        other_shop.shop().total("globex", Stream::Orders) as i64
    );

    // The paused jobs come back after each recheck and are snoozed again, every time.
    for job in paused {
        wait_for(
            "a paused job to be rechecked twice",
            Duration::from_secs(30),
            || async {
                let (snoozes, _) = attempts_of(&app, job).await;
                (snoozes >= 2).then_some(())
            },
        )
        .await;
    }
    assert!(
        last_error(&app, paused[0])
            .await
            .contains("maintenance window at the shop"),
        "the tenant-wide pause's reason is recorded"
    );
    assert!(
        last_error(&app, paused[1]).await.contains("contract ended"),
        "the tenant's pause's reason is recorded"
    );
    for job in paused {
        let (_, other_attempts) = attempts_of(&app, job).await;
        assert_eq!(other_attempts, 0, "nothing but pause snoozes for {job}");
        assert_eq!(failed_attempts(&app, job).await, 0, "no attempt spent");
        let status = app.job_status(job).await.unwrap();
        // `running` only for the moment of a recheck.
        assert!(
            matches!(status.as_str(), "snoozed" | "running"),
            "{job}: {status}"
        );
    }
    assert!(
        app.shop.shop().request_log().is_empty(),
        "a source paused for every tenant is never called"
    );
    assert_eq!(records_of(&app, "acme").await, 0);
    assert_eq!(records_of(&app, "initech").await, 0);
    let metrics = reqwest::get(format!("http://{http}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"tributary_jobs_paused_total{connector="demo"}"#),
        "{metrics}"
    );

    // Operators see both pauses.
    let pauses = app.store.source_pauses().await.unwrap();
    let listed: Vec<(&str, &str, &str)> = pauses
        .iter()
        .map(|pause| {
            (
                pause.source.as_str(),
                pause.tenant.as_str(),
                pause.paused_by.as_str(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (SOURCE, tributary_store::ALL_TENANTS, "user:test"),
            (OTHER_SOURCE, "initech", "user:test")
        ]
    );

    let status = std::process::Command::new(env!("CARGO_BIN_EXE_tributary-worker"))
        .arg("status")
        .env_clear()
        .env(
            "TRIBUTARY_DATABASE__URL",
            app.settings.database.url.expose(),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(
        stdout.contains(&format!("*/{SOURCE} (every tenant): by user:test since ")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("initech/{OTHER_SOURCE}: by user:test")),
        "{stdout}"
    );
    assert!(stdout.contains("contract ended"), "{stdout}");

    // Resumed: both jobs complete within a recheck, still without a spent attempt.
    resume_all_sources(&app).await;
    app.wait_for_runs(&paused, Duration::from_secs(30)).await;
    for job in paused {
        assert_eq!(app.job_status(job).await.as_deref(), Some("succeeded"));
        assert_eq!(failed_attempts(&app, job).await, 0);
    }
    assert_eq!(
        records_of(&app, "acme").await,
        app.at_source("acme", "orders")
    );
    assert_eq!(
        records_of(&app, "initech").await,
        other_shop.shop().total("initech", Stream::Orders) as i64
    );
    app.stop_workers().await;
}
