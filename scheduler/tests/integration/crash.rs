//! A replica that dies after its claim committed, before its relay published: nothing is lost,
//! another replica publishes the committed jobs. The same for a relay that dies holding rows.

use crate::helpers::{wait_for, TestWorld};
use chrono::Utc;
use std::time::Duration;
use tributary_scheduler::Scheduler;
use tributary_store::{Cadence, ClaimReport, OverlapPolicy};
use uuid::Uuid;

/// Ticks `replica` until a claim enqueues something.
async fn claim_something(replica: &Scheduler) -> ClaimReport {
    wait_for("a due slot", Duration::from_secs(10), || async {
        let report = replica.tick(Utc::now()).await.expect("a claim");
        (!report.enqueued.is_empty()).then_some(report)
    })
    .await
}

async fn unsent(world: &TestWorld, jobs: &[Uuid]) -> i64 {
    let client = world.store.pool().get().await.unwrap();
    client
        .query_one(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL AND job_id = ANY($1)",
            &[&jobs],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_slot_committed_by_a_replica_that_dies_before_publishing_is_published_by_another() {
    let mut world = TestWorld::new().await;
    let received = world.consume().await;
    world
        .create(&TestWorld::spec(
            "orders",
            Cadence::EverySeconds(1),
            OverlapPolicy::Allow,
        ))
        .await;

    // A replica claims a slot, then dies before its relay ever runs.
    let dying = world.build_replica().await;
    let claimed = claim_something(&dying).await;
    drop(dying);
    let jobs: Vec<Uuid> = claimed.enqueued.iter().map(|slot| slot.job_id).collect();
    assert_eq!(
        unsent(&world, &jobs).await,
        jobs.len() as i64,
        "committed to the outbox"
    );
    assert_eq!(
        world
            .scalar_i64("SELECT count(*) FROM jobs WHERE status = 'queued'")
            .await,
        jobs.len() as i64,
        "and to the ledger"
    );
    assert!(
        received.ids().is_empty(),
        "no relay ran, so nothing was published"
    );

    world.start_replica().await;
    received.wait_for_ids(&jobs, Duration::from_secs(15)).await;
    wait_for("the rows marked sent", Duration::from_secs(10), || async {
        (unsent(&world, &jobs).await == 0).then_some(())
    })
    .await;
    world.stop_replicas().await;
}

#[tokio::test]
async fn rows_held_by_a_relay_that_dies_mid_round_are_released_and_published_by_another() {
    let mut world = TestWorld::new().await;
    let received = world.consume().await;
    world
        .create(&TestWorld::spec(
            "orders",
            Cadence::EverySeconds(1),
            OverlapPolicy::Allow,
        ))
        .await;
    let claimer = world.build_replica().await;
    let claimed = claim_something(&claimer).await;
    drop(claimer);
    let jobs: Vec<Uuid> = claimed.enqueued.iter().map(|slot| slot.job_id).collect();

    // A relay takes the rows, and dies before confirming them.
    let held = world.store.take_outbox(100).await.unwrap();
    let held_jobs: Vec<Uuid> = held.rows().iter().map(|row| row.job_id).collect();
    assert_eq!(held_jobs, jobs);
    let meanwhile = world.store.take_outbox(100).await.unwrap();
    assert!(
        meanwhile.rows().is_empty(),
        "held rows are skipped by other relays, not taken twice"
    );
    meanwhile.finish(&[], &[]).await.unwrap();
    drop(held);

    wait_for(
        "the dead relay's rows to be free again",
        Duration::from_secs(10),
        || async {
            let batch = world.store.take_outbox(100).await.unwrap();
            let free = batch.rows().len() == jobs.len();
            batch.finish(&[], &[]).await.unwrap();
            free.then_some(())
        },
    )
    .await;
    world.start_replica().await;
    received.wait_for_ids(&jobs, Duration::from_secs(15)).await;
    world.stop_replicas().await;
    assert_eq!(unsent(&world, &jobs).await, 0);
}
