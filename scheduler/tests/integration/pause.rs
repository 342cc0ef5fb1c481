//! A paused schedule enqueues nothing while the others run on; resumed, it starts from its next
//! slot without catching up the pause. Both changes are audited.

use crate::helpers::{wait_for, TestWorld, ACTOR};
use chrono::Utc;
use std::time::Duration;
use tributary_scheduler::Planner;
use tributary_store::admin::AuditQuery;
use tributary_store::{Cadence, OverlapPolicy};

#[tokio::test]
async fn a_paused_schedule_enqueues_nothing_until_resumed() {
    let mut world = TestWorld::new().await;
    let running = world
        .create(&TestWorld::spec(
            "orders",
            Cadence::EverySeconds(1),
            OverlapPolicy::Allow,
        ))
        .await;
    let paused = world
        .create(&TestWorld::spec(
            "customers",
            Cadence::EverySeconds(1),
            OverlapPolicy::Allow,
        ))
        .await;
    world
        .store
        .pause_schedule(paused.id, "source maintenance", ACTOR)
        .await
        .unwrap();
    world.start_replica().await;
    // The running schedule is the clock: three of its slots pass while the other is paused.
    wait_for(
        "three slots of the running schedule",
        Duration::from_secs(30),
        || async { (world.enqueued(running.id).await >= 3).then_some(()) },
    )
    .await;
    assert!(
        world.slots(paused.id).await.is_empty(),
        "a paused schedule decides no slot"
    );
    assert_eq!(
        world
            .scalar_i64("SELECT count(*) FROM jobs WHERE stream = 'customers'")
            .await,
        0
    );

    let resumed_at = Utc::now();
    let resumed = world
        .store
        .resume_schedule(paused.id, &Planner, ACTOR)
        .await
        .unwrap();
    assert!(resumed.paused.is_none());
    wait_for(
        "a slot of the resumed schedule",
        Duration::from_secs(30),
        || async { (world.enqueued(paused.id).await >= 1).then_some(()) },
    )
    .await;
    world.stop_replicas().await;
    let slots = world.slots(paused.id).await;
    assert!(
        slots[0].slot_at >= resumed_at && slots.iter().all(|slot| slot.outcome == "enqueued"),
        "the pause is not caught up: {slots:?}"
    );

    let audit = world
        .store
        .audit_log(&AuditQuery {
            target: Some(format!("schedule:{}", paused.id)),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<(&str, &str, Option<&str>)> = audit
        .iter()
        .map(|row| {
            (
                row.action.as_str(),
                row.actor.as_str(),
                row.reason.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("schedule.resume", ACTOR, None),
            ("schedule.pause", ACTOR, Some("source maintenance")),
            ("schedule.create", ACTOR, None),
        ]
    );
}
