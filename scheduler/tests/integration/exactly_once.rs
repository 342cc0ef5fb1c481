//! Three replicas over second-granularity schedules (an interval and a cron expression): every
//! slot is decided once, becomes one job, and that job is published once — no gap, no
//! duplicate.

use crate::helpers::{wait_for, TestWorld};
use std::collections::HashSet;
use std::time::Duration;
use tributary_store::{Cadence, OverlapPolicy};
use uuid::Uuid;

/// Slots each schedule must reach while three replicas compete (about as many seconds).
const SLOTS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_enqueue_and_publish_every_slot_exactly_once() {
    let mut world = TestWorld::new().await;
    let received = world.consume().await;
    let interval = world
        .create(&TestWorld::spec(
            "orders",
            Cadence::EverySeconds(1),
            OverlapPolicy::Allow,
        ))
        .await;
    let cron = world
        .create(&TestWorld::spec(
            "customers",
            Cadence::Cron("* * * * * *".into()),
            OverlapPolicy::Allow,
        ))
        .await;
    let mut ops = Vec::new();
    for _ in 0..3 {
        ops.push(world.start_replica().await);
    }
    wait_for(
        "each schedule to reach its slots",
        Duration::from_secs(90),
        || async {
            (world.enqueued(interval.id).await >= SLOTS && world.enqueued(cron.id).await >= SLOTS)
                .then_some(())
        },
    )
    .await;
    let metrics = world.get(ops[0], "/metrics").await;
    world.stop_replicas().await;

    let mut all_jobs: Vec<Uuid> = Vec::new();
    for schedule in [&interval, &cron] {
        let slots = world.slots(schedule.id).await;
        assert!(slots.len() >= SLOTS);
        assert!(
            slots.iter().all(|slot| slot.outcome == "enqueued"),
            "schedule {}: every slot runs under `allow`: {slots:?}",
            schedule.id
        );
        assert_eq!(
            Some(slots[0].slot_at),
            schedule.next_slot_at,
            "schedule {}: the first slot is the one set at creation",
            schedule.id
        );
        for pair in slots.windows(2) {
            assert_eq!(
                (pair[1].slot_at - pair[0].slot_at).num_seconds(),
                1,
                "schedule {}: a gap or a repeat between {} and {}",
                schedule.id,
                pair[0].slot_at,
                pair[1].slot_at
            );
        }
        all_jobs.extend(
            slots
                .iter()
                .map(|slot| slot.job_id.expect("an enqueued slot has a job")),
        );
    }
    let unique: HashSet<Uuid> = all_jobs.iter().copied().collect();
    assert_eq!(unique.len(), all_jobs.len(), "a job id serves two slots");

    received
        .wait_for_ids(&all_jobs, Duration::from_secs(30))
        .await;
    let consumed = received.ids();
    let consumed_unique: HashSet<Uuid> = consumed.iter().copied().collect();
    assert_eq!(
        consumed_unique.len(),
        consumed.len(),
        "a job was published twice"
    );
    assert_eq!(consumed_unique, unique, "published jobs and slots differ");
    assert_eq!(
        world
            .scalar_i64("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .await,
        0
    );
    assert_eq!(
        world.scalar_i64("SELECT count(*) FROM jobs").await,
        all_jobs.len() as i64,
        "every slot's job is in the ledger, and nothing else"
    );
    assert!(
        metrics.contains("tributary_scheduler_slots_enqueued_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tributary_scheduler_enqueue_lag_seconds"),
        "{metrics}"
    );
}
