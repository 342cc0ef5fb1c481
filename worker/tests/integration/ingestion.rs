//! Exact counts: every record the source holds lands once, continuations included, and
//! re-ingesting unchanged data rewrites nothing.

use crate::helpers::TestApp;
use std::time::Duration;
use tributary_demo_shop::ShopConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingestion_lands_exactly_the_sources_records_and_reingestion_changes_nothing() {
    let mut app = TestApp::new(ShopConfig::with_volume(1_730, 240, 95)).await;
    app.start_worker().await;

    let jobs: Vec<_> = ["orders", "customers", "products"]
        .iter()
        .flat_map(|stream| ["acme", "globex"].map(|tenant| app.pull_job(tenant, stream)))
        .collect();
    let roots: Vec<_> = jobs.iter().map(|job| job.job_id.as_uuid()).collect();
    app.enqueue(&jobs).await;
    app.wait_for_runs(&roots, Duration::from_secs(60)).await;

    for tenant in ["acme", "globex"] {
        for stream in ["orders", "customers", "products"] {
            assert_eq!(
                app.stored(tenant, stream).await,
                app.at_source(tenant, stream),
                "{tenant}/{stream}"
            );
        }
    }
    // 1,730 orders at 100 per page and 5 pages per job: the orders runs needed continuations.
    let continuations = app
        .scalar_i64("SELECT count(*) FROM jobs WHERE parent_id IS NOT NULL")
        .await;
    assert!(
        continuations >= 6,
        "expected continuations, got {continuations}"
    );
    let inserted = app
        .scalar_i64("SELECT sum(records_inserted)::bigint FROM jobs")
        .await;
    assert_eq!(inserted, 2 * (1_730 + 240 + 95));

    // Again: everything is unchanged, nothing is rewritten.
    let jobs: Vec<_> = ["orders", "customers", "products"]
        .iter()
        .map(|stream| app.pull_job("acme", stream))
        .collect();
    let roots: Vec<_> = jobs.iter().map(|job| job.job_id.as_uuid()).collect();
    app.enqueue(&jobs).await;
    app.wait_for_runs(&roots, Duration::from_secs(60)).await;
    let counts = app.store.job_status_counts(Some(&roots)).await.unwrap();
    let sum = |f: fn(&tributary_store::JobStatusCount) -> i64| counts.iter().map(f).sum::<i64>();
    assert_eq!(sum(|c| c.inserted), 0);
    assert_eq!(sum(|c| c.updated), 0);
    assert_eq!(sum(|c| c.unchanged), 1_730 + 240 + 95);

    // After a mutation epoch the changed records (and only those) are updated.
    app.shop.shop().bump_epoch();
    let job = app.pull_job("acme", "products");
    app.enqueue(std::slice::from_ref(&job)).await;
    app.wait_for_runs(&[job.job_id.as_uuid()], Duration::from_secs(60))
        .await;
    let counts = app
        .store
        .job_status_counts(Some(&[job.job_id.as_uuid()]))
        .await
        .unwrap();
    let updated: i64 = counts.iter().map(|c| c.updated).sum();
    let unchanged: i64 = counts.iter().map(|c| c.unchanged).sum();
    assert!(updated > 0 && updated < 95, "updated {updated}");
    assert_eq!(updated + unchanged, 95);
    assert_eq!(app.stored("acme", "products").await, 95);
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_deliveries_of_a_job_are_harmless() {
    let mut app = TestApp::new(ShopConfig::with_volume(300, 50, 20)).await;
    let job = app.pull_job("acme", "orders");
    // The same message three times (a publisher retry, a redelivery, a double click).
    app.enqueue(std::slice::from_ref(&job)).await;
    app.enqueue(std::slice::from_ref(&job)).await;
    app.enqueue(std::slice::from_ref(&job)).await;
    app.start_worker().await;
    app.wait_for_runs(&[job.job_id.as_uuid()], Duration::from_secs(30))
        .await;
    // Every copy is delivered and claimed; at most one applies each page.
    crate::helpers::wait_for(
        "all three copies to be delivered",
        Duration::from_secs(30),
        || async {
            let deliveries = app
                .scalar_i64(&format!(
                    "SELECT deliveries::bigint FROM jobs WHERE id = '{}'",
                    job.job_id
                ))
                .await;
            (deliveries == 3).then_some(())
        },
    )
    .await;
    assert_eq!(app.stored("acme", "orders").await, 300);
    assert_eq!(
        app.scalar_i64("SELECT sum(records_inserted)::bigint FROM jobs")
            .await,
        300,
        "no page was applied twice"
    );
    app.stop_workers().await;
    assert_eq!(
        app.work_queue_ready().await,
        0,
        "every copy was acknowledged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noop_jobs_go_through_the_ledger() {
    let mut app = TestApp::new(ShopConfig::with_volume(0, 0, 0)).await;
    app.start_worker().await;
    let jobs: Vec<_> = (0..200)
        .map(|_| {
            let mut job = app.pull_job("acme", "orders");
            job.kind = tributary_broker::JobKind::Noop;
            job
        })
        .collect();
    let roots: Vec<_> = jobs.iter().map(|job| job.job_id.as_uuid()).collect();
    app.enqueue(&jobs).await;
    app.wait_for_runs(&roots, Duration::from_secs(30)).await;
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM jobs WHERE status = 'succeeded'")
            .await,
        200
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM job_attempts WHERE outcome = 'succeeded'")
            .await,
        200
    );
    app.stop_workers().await;
    assert_eq!(
        app.work_queue_ready().await,
        0,
        "every delivery was acknowledged"
    );
}
