//! Failure classes end where DESIGN.md says: transient → retried and succeeds; exhausted →
//! dead letter; 429 → snoozed without spending an attempt; permanent and auth → dead letter at
//! once; a SIGKILLed worker leaves exactly the source's records after a restart.

use crate::helpers::{wait_for, TestApp};
use std::time::Duration;
use tributary_demo_shop::{ScriptedFault, ShopConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_retried_through_a_tier_and_succeed() {
    let mut app = TestApp::new(ShopConfig::with_volume(250, 10, 10)).await;
    // Three 503s exhaust the in-process quick retries (1 + 2) of the first page, so the job
    // takes one trip through a retry tier, then succeeds.
    app.shop.script([
        ScriptedFault::status(503),
        ScriptedFault::status(503),
        ScriptedFault::status(503),
    ]);
    app.start_worker().await;
    let job = app.pull_job("acme", "orders");
    app.enqueue(std::slice::from_ref(&job)).await;
    app.wait_for_runs(&[job.job_id.as_uuid()], Duration::from_secs(30))
        .await;

    assert_eq!(
        app.job_status(job.job_id.as_uuid()).await.as_deref(),
        Some("succeeded")
    );
    assert_eq!(app.stored("acme", "orders").await, 250);
    let retried = app
        .scalar_i64("SELECT count(*) FROM job_attempts WHERE outcome = 'retried' AND error_class = 'transient'")
        .await;
    assert_eq!(retried, 1);
    assert_eq!(app.scalar_i64("SELECT attempts::bigint FROM jobs").await, 1);
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_end_as_a_dead_letter() {
    let mut app = TestApp::new(ShopConfig::with_volume(50, 10, 10)).await;
    app.settings.worker.max_attempts = 2;
    app.shop
        .script(std::iter::repeat_n(ScriptedFault::status(500), 100));
    app.start_worker().await;
    let job = app.pull_job("acme", "orders");
    app.enqueue(std::slice::from_ref(&job)).await;
    let (class, reason) = app
        .wait_for_dead_letter(Some(job.job_id.as_uuid()), Duration::from_secs(30))
        .await;
    assert_eq!(class, "retries_exhausted");
    assert!(
        reason.contains("gave up after 2 failed attempts"),
        "{reason}"
    );
    assert!(reason.contains("HTTP 500"), "{reason}");
    assert_eq!(
        app.job_status(job.job_id.as_uuid()).await.as_deref(),
        Some("dead")
    );
    // The original message is stored byte for byte.
    let payload_matches = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM dead_letters WHERE job_id = '{}' AND envelope->>'job_id' = '{}' AND length(payload) > 0",
            job.job_id, job.job_id
        ))
        .await;
    assert_eq!(payload_matches, 1);
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_snooze_without_spending_an_attempt() {
    let mut app = TestApp::new(ShopConfig::with_volume(120, 10, 10)).await;
    app.settings.worker.max_attempts = 1; // any spent attempt would dead-letter the job
    app.shop.script([
        ScriptedFault::Status {
            status: 429,
            retry_after_secs: Some(1),
        },
        ScriptedFault::Status {
            status: 429,
            retry_after_secs: Some(1),
        },
    ]);
    app.start_worker().await;
    let job = app.pull_job("acme", "orders");
    app.enqueue(std::slice::from_ref(&job)).await;
    app.wait_for_runs(&[job.job_id.as_uuid()], Duration::from_secs(30))
        .await;
    assert_eq!(
        app.job_status(job.job_id.as_uuid()).await.as_deref(),
        Some("succeeded")
    );
    assert_eq!(app.scalar_i64("SELECT attempts::bigint FROM jobs").await, 0);
    let snoozes = app
        .scalar_i64("SELECT count(*) FROM job_attempts WHERE outcome = 'snoozed' AND error_class = 'rate_limited'")
        .await;
    assert_eq!(snoozes, 2);
    assert_eq!(app.stored("acme", "orders").await, 120);
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_and_auth_errors_dead_letter_at_once() {
    let mut app = TestApp::new(ShopConfig::with_volume(50, 10, 10)).await;
    app.start_worker().await;
    let locked = app.pull_job("locked-acme", "orders");
    app.enqueue(std::slice::from_ref(&locked)).await;
    let (class, reason) = app
        .wait_for_dead_letter(Some(locked.job_id.as_uuid()), Duration::from_secs(30))
        .await;
    assert_eq!(class, "auth");
    assert!(reason.contains("HTTP 401"), "{reason}");
    // The source is marked as needing attention, with the reason (and is not paused).
    let marked = app
        .scalar_i64(
            "SELECT count(*) FROM source_breakers WHERE tenant_id = 'locked-acme'
               AND state = 'closed' AND attention LIKE 'needs attention (auth)%HTTP 401%'",
        )
        .await;
    assert_eq!(marked, 1);

    app.shop.script([ScriptedFault::status(400)]);
    let bad = app.pull_job("acme", "customers");
    app.enqueue(std::slice::from_ref(&bad)).await;
    let (class, reason) = app
        .wait_for_dead_letter(Some(bad.job_id.as_uuid()), Duration::from_secs(30))
        .await;
    assert_eq!(class, "permanent");
    assert!(reason.contains("HTTP 400"), "{reason}");
    // Neither spent a retry.
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM job_attempts WHERE outcome = 'retried'")
            .await,
        0
    );
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_leaves_exactly_the_sources_records() {
    let mut shop = ShopConfig::with_volume(3_000, 10, 10);
    shop.faults.latency = Duration::from_millis(40);
    let mut app = TestApp::new(shop).await;
    app.settings.worker.job_max_pages = 100;
    let mut worker = app.spawn_worker_process();
    let job = app.pull_job("acme", "orders");
    app.enqueue(std::slice::from_ref(&job)).await;
    // Kill it once some, but not all, pages are committed.
    wait_for(
        "a few pages to be committed",
        Duration::from_secs(30),
        || async {
            let pages = app
                .scalar_i64("SELECT COALESCE(sum(pages), 0)::bigint FROM checkpoints")
                .await;
            (pages >= 3).then_some(())
        },
    )
    .await;
    worker.kill().expect("SIGKILL the worker");
    worker.wait().expect("reap the worker");
    let stored_at_kill = app.stored("acme", "orders").await;
    assert!(
        stored_at_kill > 0 && stored_at_kill < 3_000,
        "killed mid-job: {stored_at_kill}"
    );

    let mut restarted = app.spawn_worker_process();
    app.wait_for_runs(&[job.job_id.as_uuid()], Duration::from_secs(60))
        .await;
    assert_eq!(app.stored("acme", "orders").await, 3_000);
    assert_eq!(
        app.scalar_i64("SELECT sum(records_inserted)::bigint FROM jobs")
            .await,
        3_000,
        "no page was applied twice"
    );
    assert!(app.scalar_i64("SELECT deliveries::bigint FROM jobs").await >= 2);
    crate::helpers::terminate(&restarted);
    crate::helpers::wait_for_exit(&mut restarted, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_the_delivery_limit_is_archived_as_a_broker_dead_letter() {
    use tributary_broker::lapin::options::{BasicGetOptions, BasicNackOptions};
    let mut app = TestApp::new(ShopConfig::with_volume(10, 10, 10)).await;
    let job = app.pull_job("acme", "orders");
    app.enqueue(std::slice::from_ref(&job)).await;
    // A consumer that keeps handing the job back, as a crash-looping worker would.
    let connection = tributary_broker::connect(&app.settings.amqp.nodes().unwrap(), "crash loop")
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let queue = app
        .topology
        .work_queue(&tributary_connector::ConnectorKind::new("demo").unwrap());
    let mut handed_back = 0;
    while let Some(message) = channel
        .basic_get(queue.clone().into(), BasicGetOptions::default())
        .await
        .unwrap()
    {
        message
            .delivery
            .acker
            .nack(BasicNackOptions {
                multiple: false,
                requeue: true,
            })
            .await
            .unwrap();
        handed_back += 1;
        assert!(handed_back <= 30, "the delivery limit never kicked in");
    }
    assert!(handed_back >= app.settings.amqp.delivery_limit as usize);
    let _ = connection.close(200, "done".into()).await;

    // The worker's archiver moves it from the dead queue into Postgres, with its reason.
    app.start_worker().await;
    let (class, reason) = app
        .wait_for_dead_letter(Some(job.job_id.as_uuid()), Duration::from_secs(30))
        .await;
    assert_eq!(class, "delivery_limit");
    assert!(reason.contains("delivery limit"), "{reason}");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM dead_letters WHERE origin = 'broker'")
            .await,
        1
    );
    app.stop_workers().await;
}
