//! The overlap policies against the job ledger: under `skip` no slot is enqueued while an
//! earlier run of its schedule (root job or continuation) is unfinished; under `buffer_one` at
//! most one earlier run is unfinished when a slot is enqueued.

use crate::helpers::{wait_for, TestWorld};
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tributary_broker::JobEnvelope;
use tributary_connector::JobId;
use tributary_store::{Cadence, FinishJob, JobStatus, Ledger, NewJob, OverlapPolicy, Store};

/// How long the stand-in worker takes over one run (root job, then its continuation).
const RUN: Duration = Duration::from_millis(2_500);

fn ledger_row(job: &JobEnvelope) -> NewJob {
    NewJob {
        id: job.job_id.as_uuid(),
        root_id: job.root().as_uuid(),
        parent_id: job.lineage.parent.map(|id| id.as_uuid()),
        replay_of: None,
        kind: job.kind.as_str().into(),
        connector: job.connector.to_string(),
        tenant: job.tenant.to_string(),
        source: job.source.to_string(),
        stream: job.stream.to_string(),
        envelope: serde_json::to_value(job).unwrap(),
    }
}

fn succeeded(job: &JobEnvelope, started_at: DateTime<Utc>) -> FinishJob {
    FinishJob {
        id: job.job_id.as_uuid(),
        status: JobStatus::Succeeded,
        outcome: "succeeded",
        attempts_delta: 0,
        error_class: None,
        error: None,
        http_status: None,
        started_at,
        pages: 1,
        records: 0,
    }
}

/// A stand-in for the worker fleet, moving each job through the ledger as a worker would: the
/// root job runs, hands over to a continuation half way (so the run outlives its root job),
/// and the continuation finishes the run. Jobs run concurrently, as on a fleet.
async fn stand_in_workers(store: Store, mut jobs: UnboundedReceiver<JobEnvelope>) {
    let ledger = Ledger::new(store.clone(), "stand-in".into());
    while let Some(job) = jobs.recv().await {
        let ledger = ledger.clone();
        let store = store.clone();
        tokio::spawn(async move {
            let started = Utc::now();
            ledger.begin(ledger_row(&job)).await.unwrap();
            tokio::time::sleep(RUN / 2).await; // the first half of the pull
            let continuation = job.continuation(JobId::new());
            store
                .insert_jobs(&[ledger_row(&continuation)])
                .await
                .unwrap();
            ledger.finish(succeeded(&job, started)).await.unwrap();
            let started = Utc::now();
            ledger.begin(ledger_row(&continuation)).await.unwrap();
            tokio::time::sleep(RUN / 2).await; // the second half
            ledger
                .finish(succeeded(&continuation, started))
                .await
                .unwrap();
        });
    }
}

/// Each enqueued slot of `schedule`, oldest first: when it was decided, and when its run
/// (every job sharing its root) finished (`None`: not finished).
async fn runs(world: &TestWorld, schedule: i64) -> Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let client = world.store.pool().get().await.unwrap();
    client
        .query(
            "SELECT s.decided_at,
                    CASE WHEN bool_and(j.status IN ('succeeded', 'superseded', 'dead'))
                         THEN max(j.finished_at) END
             FROM schedule_slots s JOIN jobs j ON j.root_id = s.job_id
             WHERE s.schedule_id = $1 AND s.outcome = 'enqueued'
             GROUP BY s.slot_at, s.decided_at ORDER BY s.slot_at",
            &[&schedule],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// For each run after the first: how many earlier runs were unfinished when it was decided.
fn unfinished_before_each(runs: &[(DateTime<Utc>, Option<DateTime<Utc>>)]) -> Vec<usize> {
    (1..runs.len())
        .map(|k| {
            let decided = runs[k].0;
            runs[..k]
                .iter()
                .filter(|(_, finished)| finished.is_none_or(|finished| finished > decided))
                .count()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_never_enqueues_beside_an_unfinished_run_and_buffer_one_keeps_one_waiting() {
    let mut world = TestWorld::new().await;
    let received = world.consume().await;
    tokio::spawn(stand_in_workers(
        world.store.clone(),
        received.take_stream(),
    ));
    let skip = world
        .create(&TestWorld::spec(
            "orders",
            Cadence::EverySeconds(1),
            OverlapPolicy::Skip,
        ))
        .await;
    let buffer_one = world
        .create(&TestWorld::spec(
            "customers",
            Cadence::EverySeconds(1),
            OverlapPolicy::BufferOne,
        ))
        .await;
    world.start_replica().await;
    world.start_replica().await;
    wait_for(
        "runs of both schedules",
        Duration::from_secs(60),
        || async {
            (world.enqueued(skip.id).await >= 3 && world.enqueued(buffer_one.id).await >= 4)
                .then_some(())
        },
    )
    .await;
    world.stop_replicas().await;

    let skipped = |schedule: i64| {
        let world = &world;
        async move {
            world
                .slots(schedule)
                .await
                .iter()
                .filter(|slot| slot.outcome == "skipped")
                .count()
        }
    };
    assert!(
        skipped(skip.id).await > 0,
        "the runs outlast the interval, so slots were skipped"
    );
    assert!(skipped(buffer_one.id).await > 0);

    let overlaps = unfinished_before_each(&runs(&world, skip.id).await);
    assert!(
        overlaps.iter().all(|&unfinished| unfinished == 0),
        "skip enqueued beside an unfinished run: {overlaps:?}"
    );
    let waiting = unfinished_before_each(&runs(&world, buffer_one.id).await);
    assert!(
        waiting.iter().all(|&unfinished| unfinished <= 1),
        "buffer_one let more than one run wait: {waiting:?}"
    );
    assert!(
        waiting.contains(&1),
        "buffer_one buffered a run behind one in flight at least once: {waiting:?}"
    );
}
