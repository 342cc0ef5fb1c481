//! Fleet-wide limits and source health: several worker processes together stay under a
//! source's request budget; a failing source trips its breaker while others keep flowing, and
//! recovers when the source does; one stream never has two active runs.

use crate::helpers::{terminate, wait_for, wait_for_exit, TestApp, SOURCE};
use std::collections::BTreeMap;
use std::time::Duration;
use tributary_demo_shop::{Faults, RateBudget, ShopConfig};
use tributary_worker::config::{RateLimitSettings, SourceSettings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_stay_under_the_sources_rate_limit() {
    const LIMIT: u64 = 20;
    let mut shop = ShopConfig::with_volume(1_500, 600, 300);
    shop.rate_budget = RateBudget {
        limit: LIMIT,
        window: Duration::from_secs(1),
        enforce: true,
    };
    let mut app = TestApp::new(shop).await;
    app.settings.worker.concurrency = 8;
    app.settings.worker.job_max_pages = 1_000;
    let mut env = app.worker_env();
    let source = SOURCE.to_uppercase();
    env.insert(
        format!("TRIBUTARY_SOURCES__{source}__SETTINGS__PAGE_SIZE"),
        "25".into(),
    );
    // The policy matches the source with 10% headroom: the shop counts fixed windows that
    // start at a request's arrival, so scheduling jitter on a busy 2-core machine must not
    // squeeze an extra request into a window.
    env.insert(
        format!("TRIBUTARY_SOURCES__{source}__RATE_LIMIT__REQUESTS_PER_SECOND"),
        (LIMIT as f64 * 0.9).to_string(),
    );
    env.insert(
        format!("TRIBUTARY_SOURCES__{source}__RATE_LIMIT__BURST"),
        "1".into(),
    );
    let mut workers: Vec<_> = (0..3)
        .map(|_| app.spawn_worker_process_with(&env))
        .collect();

    let jobs: Vec<_> = ["orders", "customers", "products"]
        .iter()
        .map(|stream| app.pull_job("acme", stream))
        .collect();
    let roots: Vec<_> = jobs.iter().map(|job| job.job_id.as_uuid()).collect();
    app.enqueue(&jobs).await;
    app.wait_for_runs(&roots, Duration::from_secs(120)).await;
    for worker in &workers {
        terminate(worker);
    }
    for worker in &mut workers {
        wait_for_exit(worker, Duration::from_secs(30)).await;
    }

    for stream in ["orders", "customers", "products"] {
        assert_eq!(
            app.stored("acme", stream).await,
            app.at_source("acme", stream)
        );
    }
    let log = app.shop.shop().request_log();
    assert!(
        log.len() >= 96,
        "(1500 + 600 + 300) / 25 pages: {}",
        log.len()
    );
    let rate_limited = log.iter().filter(|entry| entry.status == 429).count();
    assert_eq!(rate_limited, 0, "no 429 once the policy matches the source");
    let mut per_second: BTreeMap<u64, u64> = BTreeMap::new();
    for entry in &log {
        *per_second.entry(entry.at.as_secs()).or_default() += 1;
    }
    let busiest = per_second.values().max().copied().unwrap_or(0);
    assert!(
        busiest as f64 <= LIMIT as f64 * 1.1,
        "busiest second had {busiest} requests; the limit is {LIMIT}/s: {per_second:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_source_trips_its_breaker_others_flow_and_it_recovers() {
    let mut app = TestApp::new(ShopConfig::with_volume(200, 10, 10)).await;
    let healthy_shop = tributary_demo_shop::spawn(ShopConfig::with_volume(300, 10, 10))
        .await
        .unwrap();
    app.settings.sources.insert(
        "healthy_shop".into(),
        SourceSettings {
            connector: "demo".into(),
            settings: serde_json::json!({"base_url": healthy_shop.url(), "page_size": 100}),
            rate_limit: Some(RateLimitSettings {
                requests_per_second: 1_000.0,
                burst: 100,
            }),
        },
    );
    app.settings.worker.max_attempts = 20;
    app.settings.worker.breaker_failure_threshold = 2;
    app.settings.worker.breaker_cooldown_seconds = 1;
    app.shop
        .set_faults(Faults {
            p5xx: 1.0,
            ..Faults::default()
        })
        .unwrap();
    app.start_worker().await;

    let failing = app.pull_job("acme", "orders");
    let mut healthy = app.pull_job("globex", "orders");
    healthy.source = "healthy_shop".parse().unwrap();
    app.enqueue(&[failing.clone(), healthy.clone()]).await;

    // The failing source's breaker opens, with its reason recorded.
    let reason = wait_for("the breaker to open", Duration::from_secs(30), || async {
        let client = app.store.pool().get().await.unwrap();
        client
            .query_opt(
                "SELECT reason FROM source_breakers WHERE source = $1 AND state = 'open'",
                &[&SOURCE],
            )
            .await
            .unwrap()
            .map(|row| row.get::<_, String>(0))
    })
    .await;
    assert!(reason.contains("HTTP 503"), "{reason}");
    // Visible to operators, with the reason.
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
    // Open, or half-open if the cool-down just ended: either way paused, with its reason.
    assert!(stdout.contains(&format!("acme/{SOURCE}: ")), "{stdout}");
    assert!(stdout.contains("HTTP 503"), "{stdout}");
    // The other source keeps flowing meanwhile.
    app.wait_for_runs(&[healthy.job_id.as_uuid()], Duration::from_secs(30))
        .await;
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM records WHERE tenant_id = 'globex'")
            .await,
        300
    );
    // While open, the failing source's job is snoozed without spending attempts.
    wait_for("a breaker snooze", Duration::from_secs(30), || async {
        let snoozes = app
            .scalar_i64(
                "SELECT count(*) FROM job_attempts WHERE error_class = 'breaker_open' AND outcome = 'snoozed'",
            )
            .await;
        (snoozes > 0).then_some(())
    })
    .await;

    // The source recovers: a probe goes through, the breaker closes, the job completes.
    app.shop.set_faults(Faults::default()).unwrap();
    app.wait_for_runs(&[failing.job_id.as_uuid()], Duration::from_secs(60))
        .await;
    assert_eq!(
        app.job_status(failing.job_id.as_uuid()).await.as_deref(),
        Some("succeeded")
    );
    let attempts = app
        .scalar_i64(&format!(
            "SELECT attempts::bigint FROM jobs WHERE id = '{}'",
            failing.job_id
        ))
        .await;
    assert!(attempts < 20, "snoozes spent no attempts: {attempts}");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM source_breakers WHERE state <> 'closed'")
            .await,
        0
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM records").await,
        300 + 200
    );
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stream_never_has_two_active_runs() {
    let mut shop = ShopConfig::with_volume(600, 10, 10);
    shop.faults.latency = Duration::from_millis(30);
    let mut app = TestApp::new(shop).await;
    app.settings.worker.job_max_pages = 100;
    app.start_worker().await;
    // Two root jobs of the same stream at once: the second waits for the first run's lease.
    let first = app.pull_job("acme", "orders");
    let second = app.pull_job("acme", "orders");
    app.enqueue(&[first.clone(), second.clone()]).await;
    app.wait_for_runs(
        &[first.job_id.as_uuid(), second.job_id.as_uuid()],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        app.job_status(first.job_id.as_uuid()).await.as_deref(),
        Some("succeeded")
    );
    assert_eq!(
        app.job_status(second.job_id.as_uuid()).await.as_deref(),
        Some("succeeded")
    );
    let busy = app
        .scalar_i64("SELECT count(*) FROM job_attempts WHERE error_class = 'stream_busy'")
        .await;
    assert!(busy >= 1, "the second run waited for the first");
    // Both runs pulled the whole stream, one after the other: 600 inserted, then 600 unchanged.
    let counts = app.store.job_status_counts(None).await.unwrap();
    assert_eq!(counts.iter().map(|c| c.inserted).sum::<i64>(), 600);
    assert_eq!(counts.iter().map(|c| c.unchanged).sum::<i64>(), 600);
    app.stop_workers().await;
}
