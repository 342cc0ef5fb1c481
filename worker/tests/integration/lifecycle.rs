//! Start-up, shutdown and reconnection: a conflicting topology refuses to start; SIGTERM
//! drains in-flight work; the worker recovers after a broker restart.

use crate::helpers::{terminate, wait_for, wait_for_exit, TestApp};
use std::time::Duration;
use tributary_broker::lapin::options::QueueDeclareOptions;
use tributary_broker::lapin::types::FieldTable;
use tributary_connector::ConnectorKind;
use tributary_demo_shop::ShopConfig;
use tributary_worker::Worker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_queue_stops_start_up_with_a_clear_message() {
    let app = TestApp::new(ShopConfig::with_volume(0, 0, 0)).await;
    // Someone created the work queue as a classic queue without our dead-lettering.
    let connection = tributary_broker::connect(&app.settings.amqp.nodes().unwrap(), "test")
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let queue = app
        .topology
        .work_queue(&ConnectorKind::new("demo").unwrap());
    channel
        .queue_delete(queue.clone().into(), Default::default())
        .await
        .unwrap();
    channel
        .queue_declare(
            queue.clone().into(),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    let error = Worker::build(app.settings.clone()).await.unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains(&format!("queue `{queue}` already exists")),
        "{message}"
    );
    assert!(message.contains("inequivalent arg"), "{message}");
    assert!(message.contains("Refusing to start"), "{message}");
    channel
        .queue_delete(queue.into(), Default::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_work_before_exiting() {
    let mut shop = ShopConfig::with_volume(1_000, 10, 10);
    shop.faults.latency = Duration::from_millis(300);
    let mut app = TestApp::new(shop).await;
    app.settings.worker.job_max_pages = 100;
    app.settings.worker.shutdown_grace_seconds = 20;
    let mut worker = app.spawn_worker_process();
    let job = app.pull_job("acme", "orders");
    app.enqueue(std::slice::from_ref(&job)).await;
    wait_for("the job to be running", Duration::from_secs(30), || async {
        let pages = app
            .scalar_i64("SELECT COALESCE(sum(pages), 0)::bigint FROM checkpoints")
            .await;
        (pages >= 1).then_some(())
    })
    .await;
    assert_eq!(
        app.job_status(job.job_id.as_uuid()).await.as_deref(),
        Some("running")
    );
    terminate(&worker);
    let status = wait_for_exit(&mut worker, Duration::from_secs(30)).await;
    assert!(status.success(), "graceful exit: {status:?}");
    // The job in flight at SIGTERM was finished (10 pages of 300 ms fit the grace period),
    // settled in the ledger and acknowledged: the queue is empty.
    assert_eq!(
        app.job_status(job.job_id.as_uuid()).await.as_deref(),
        Some("succeeded")
    );
    assert_eq!(app.stored("acme", "orders").await, 1_000);
    assert_eq!(
        app.scalar_i64("SELECT deliveries::bigint FROM jobs").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_worker_recovers_after_the_broker_restarts() {
    let mut app = TestApp::new(ShopConfig::with_volume(400, 10, 10)).await;
    app.start_worker().await;
    let before = app.pull_job("acme", "customers");
    app.enqueue(std::slice::from_ref(&before)).await;
    app.wait_for_runs(&[before.job_id.as_uuid()], Duration::from_secs(30))
        .await;

    let status = std::process::Command::new(TestApp::dev_script())
        .args(["broker", "restart"])
        .status()
        .expect("run ops/dev broker restart");
    assert!(status.success(), "broker restart failed");

    // The test's own publisher reconnects on its next publish; the worker reconnects by itself.
    let after = app.pull_job("acme", "orders");
    wait_for(
        "the publisher to reconnect",
        Duration::from_secs(60),
        || async {
            let rows = [tributary_worker::handler::ledger_row(&after)];
            app.store.insert_jobs(&rows).await.unwrap();
            app.publisher.publish_job(&app.topology, &after).await.ok()
        },
    )
    .await;
    app.wait_for_runs(&[after.job_id.as_uuid()], Duration::from_secs(60))
        .await;
    assert_eq!(app.stored("acme", "orders").await, 400);
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_endpoints_tell_the_truth() {
    let mut app = TestApp::new(ShopConfig::with_volume(120, 10, 10)).await;
    let http = app.start_worker().await;
    let client = reqwest::Client::new();
    let get = |path: &'static str| {
        let client = client.clone();
        async move {
            let response = client
                .get(format!("http://{http}{path}"))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(get("/livez").await.0, 200);
    wait_for("readiness", Duration::from_secs(10), || async {
        (get("/readyz").await.0 == 200).then_some(())
    })
    .await;

    let job = app.pull_job("acme", "orders");
    app.enqueue(std::slice::from_ref(&job)).await;
    app.wait_for_runs(&[job.job_id.as_uuid()], Duration::from_secs(30))
        .await;
    let (status, metrics) = get("/metrics").await;
    assert_eq!(status, 200);
    for expected in [
        r#"tributary_jobs_total{connector="demo",outcome="succeeded"} 1"#,
        r#"tributary_records_total{connector="demo",operation="inserted"} 120"#,
        r#"tributary_pages_total{connector="demo"} 2"#,
        "tributary_queue_latency_seconds_bucket",
        "tributary_job_duration_seconds_bucket",
        "tributary_broker_connected 1",
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected} in:\n{metrics}"
        );
    }
    assert!(
        !metrics.contains(&job.job_id.to_string()),
        "no job id in labels"
    );
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_reports_every_problem_with_its_path() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tributary-worker"))
        .arg("check-config")
        .env_clear()
        .env("TRIBUTARY_WORKER__CONCURRENCY", "0")
        .env("TRIBUTARY_AMQP__RETRY_TIERS", r#"["5s","soon"]"#)
        .env("TRIBUTARY_DATABASE__URL", "mysql://nope")
        .env("TRIBUTARY_SOURCES__SHOP__CONNECTOR", "demo")
        .env("TRIBUTARY_SOURCES__SHOP__SETTINGS__BASE_URL", "not a url")
        .env("TRIBUTARY_SOURCES__OTHER__CONNECTOR", "sendgrid")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "worker.concurrency",
        "amqp.retry_tiers[1]",
        "database.url",
        "sources.shop:",
        "base_url",
        "sources.other: unknown connector kind `sendgrid`; known kinds: demo, stripe, shopify, woocommerce, http_json, postgres",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tributary-worker"))
        .arg("check-config")
        .env_clear()
        .env("TRIBUTARY_WORKER__CONCURENCY", "3")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("concurency"), "{stderr}");
}
