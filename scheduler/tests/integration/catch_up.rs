//! Catch-up at a fixed instant: a schedule far behind enqueues exactly the slots within its
//! catch-up window, records the older ones as one missed run, and moves on; a slot already
//! decided (its key exists) is never enqueued again.

use crate::helpers::TestWorld;
use chrono::{DateTime, TimeDelta, Utc};
use tributary_scheduler::Planner;
use tributary_store::{Cadence, OverlapPolicy, SlotRecord};

/// Now, down to a multiple of ten seconds: a slot of every schedule below, so the expected
/// slots are exact.
fn round_now() -> DateTime<Utc> {
    let now = Utc::now().timestamp();
    DateTime::from_timestamp(now - now % 10, 0).unwrap()
}

fn times(slots: &[SlotRecord], outcome: &str) -> Vec<DateTime<Utc>> {
    slots
        .iter()
        .filter(|slot| slot.outcome == outcome)
        .map(|slot| slot.slot_at)
        .collect()
}

#[tokio::test]
async fn catch_up_enqueues_exactly_the_slots_within_its_window() {
    let world = TestWorld::new().await;
    let now = round_now();
    let mut every_second =
        TestWorld::spec("orders", Cadence::EverySeconds(1), OverlapPolicy::Allow);
    every_second.catch_up_seconds = 10;
    let every_second = world.create(&every_second).await;
    let mut every_five = TestWorld::spec(
        "customers",
        Cadence::Cron("*/5 * * * * *".into()),
        OverlapPolicy::Allow,
    );
    every_five.catch_up_seconds = 30;
    let every_five = world.create(&every_five).await;
    let mut skipping = TestWorld::spec("products", Cadence::EverySeconds(1), OverlapPolicy::Skip);
    skipping.catch_up_seconds = 10;
    let skipping = world.create(&skipping).await;
    // As if the scheduler fleet had been down for an hour.
    let hour_ago = now - TimeDelta::hours(1);
    for schedule in [&every_second, &every_five, &skipping] {
        world.set_next_slot(schedule.id, hour_ago).await;
    }

    let report = world
        .store
        .claim_due_slots(now, 10, &Planner)
        .await
        .unwrap();
    assert_eq!(report.schedules, 3);
    assert!(!report.more);

    let seconds = |from: i64, to: i64, step: i64| -> Vec<DateTime<Utc>> {
        (from..=to)
            .step_by(step as usize)
            .map(|offset| now + TimeDelta::seconds(offset))
            .collect()
    };
    // Every second, 10 s of catch-up: now-10 s ..= now run; the hour before is one missed run.
    let slots = world.slots(every_second.id).await;
    assert_eq!(times(&slots, "enqueued"), seconds(-10, 0, 1));
    assert_eq!(times(&slots, "missed"), [hour_ago]);
    let missed = &slots[0];
    assert_eq!(missed.missed_through, Some(now - TimeDelta::seconds(11)));
    assert_eq!(missed.missed_count, Some(3_600 - 10));

    // Every 5 s by cron, 30 s of catch-up: the slots of the last 30 s.
    let slots = world.slots(every_five.id).await;
    let expected: Vec<DateTime<Utc>> = seconds(-30, 0, 1)
        .into_iter()
        .filter(|slot| slot.timestamp() % 5 == 0)
        .collect();
    assert_eq!(times(&slots, "enqueued"), expected);
    assert_eq!(times(&slots, "missed"), [hour_ago]);
    assert_eq!(slots[0].missed_count, Some((3_600 - 30) / 5));

    // Under `skip` the catch-up window still bounds what is decided; one run, the rest skipped.
    let slots = world.slots(skipping.id).await;
    assert_eq!(times(&slots, "enqueued"), [now - TimeDelta::seconds(10)]);
    assert_eq!(times(&slots, "skipped"), seconds(-9, 0, 1));

    assert_eq!(report.enqueued.len(), 11 + expected.len() + 1);
    assert_eq!(report.skipped, 10);
    assert_eq!(report.missed, 3_590 + 714 + 3_590);
    assert_eq!(
        world
            .scalar_i64("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .await,
        report.enqueued.len() as i64,
        "every enqueued slot's job waits in the outbox"
    );
    let advanced = world
        .store
        .schedule(every_second.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(advanced.next_slot_at, Some(now + TimeDelta::seconds(1)));

    // The same instant again: nothing is due any more.
    let again = world
        .store
        .claim_due_slots(now, 10, &Planner)
        .await
        .unwrap();
    assert_eq!(again.schedules, 0);

    // A schedule pointed back at slots it already decided (a stale replica, an edit) creates
    // nothing for them: the slot key decides.
    world
        .set_next_slot(every_second.id, now - TimeDelta::seconds(5))
        .await;
    let replay = world
        .store
        .claim_due_slots(now, 10, &Planner)
        .await
        .unwrap();
    assert!(replay.enqueued.is_empty(), "{replay:?}");
    assert_eq!(replay.already_decided, 6);
    assert_eq!(
        world.scalar_i64("SELECT count(*) FROM outbox").await,
        report.enqueued.len() as i64
    );
}
