//! A job the broker refuses (no queue is bound for its connector) stays in the outbox with its
//! error and is retried later, while the jobs behind it are published.

use crate::helpers::{wait_for, TestWorld};
use std::time::Duration;
use tributary_store::{Cadence, OverlapPolicy};

#[tokio::test]
async fn an_unroutable_job_stays_in_the_outbox_without_holding_up_the_others() {
    let mut world = TestWorld::new().await;
    let received = world.consume().await;
    let mut nowhere = TestWorld::spec("orders", Cadence::EverySeconds(3_600), OverlapPolicy::Allow);
    // No worker declared a queue for this connector on this broker.
    nowhere.connector = "stripe".into();
    let nowhere = world.create(&nowhere).await;
    let routable = world
        .create(&TestWorld::spec(
            "customers",
            Cadence::EverySeconds(3_600),
            OverlapPolicy::Allow,
        ))
        .await;
    let stuck = world
        .store
        .run_schedule_now(nowhere.id, &tributary_scheduler::Planner, "cli:tester")
        .await
        .unwrap();
    let ops = world.start_replica().await;
    let published = world
        .store
        .run_schedule_now(routable.id, &tributary_scheduler::Planner, "cli:tester")
        .await
        .unwrap();
    received
        .wait_for_ids(&[published], Duration::from_secs(15))
        .await;
    let (attempts, error) = wait_for(
        "the refused row to record its failure",
        Duration::from_secs(15),
        || async {
            let client = world.store.pool().get().await.unwrap();
            let row = client
                .query_one(
                    "SELECT attempts, last_error, published_at IS NULL FROM outbox WHERE job_id = $1",
                    &[&stuck],
                )
                .await
                .unwrap();
            assert!(row.get::<_, bool>(2), "an unroutable job is never marked sent");
            let attempts: i32 = row.get(0);
            (attempts >= 1).then(|| (attempts, row.get::<_, Option<String>>(1)))
        },
    )
    .await;
    assert!(attempts >= 1);
    let error = error.unwrap_or_default();
    assert!(error.contains("unroutable"), "{error}");
    let metrics = world.get(ops, "/metrics").await;
    assert!(
        metrics.contains("tributary_scheduler_relay_publish_failures_total{reason=\"unroutable\"}"),
        "{metrics}"
    );
    world.stop_replicas().await;
    assert!(!received.ids().contains(&stuck));
}
