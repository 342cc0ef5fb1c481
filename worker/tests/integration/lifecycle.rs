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
    let connection = tributary_broker::connect(app.settings.amqp.url.expose(), "test")
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
