//! Managing schedules the way the CLI does: create, edit, pause, resume, run now and backfill,
//! each audited as its actor; refusals that say what is wrong; run-now and backfill jobs leave
//! through the outbox.

use crate::helpers::{TestWorld, ACTOR};
use clap::Parser;
use std::time::Duration;
use tributary_scheduler::cli::{self, SchedulesCommand};
use tributary_store::admin::AuditQuery;
use uuid::Uuid;

#[derive(Debug, Parser)]
struct Line {
    #[command(subcommand)]
    command: SchedulesCommand,
}

/// Runs one `tributary-scheduler schedules ...` line as [`ACTOR`]; what it printed, or the error.
async fn schedules(world: &TestWorld, line: &str) -> Result<String, String> {
    let mut words = vec!["schedules".to_owned()];
    words.extend(split(line));
    let command = Line::try_parse_from(words)
        .map_err(|error| error.to_string())?
        .command;
    cli::execute(&world.store, command, ACTOR)
        .await
        .map_err(|error| format!("{error:#}"))
}

/// Splits on spaces, keeping "quoted words" together.
fn split(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    for (index, part) in line.split('"').enumerate() {
        if index % 2 == 1 {
            words.push(part.to_owned());
        } else {
            words.extend(part.split_whitespace().map(str::to_owned));
        }
    }
    words
}

#[tokio::test]
async fn schedules_are_managed_from_the_cli_audited_and_their_jobs_published() {
    let mut world = TestWorld::new().await;
    let received = world.consume().await;
    let created = schedules(
        &world,
        r#"create --tenant acme --source shop --stream orders --connector demo --cron "0 9 * * MON-FRI" --timezone Europe/Berlin --jitter 30s --overlap buffer-one --catch-up 2h"#,
    )
    .await
    .unwrap();
    assert!(
        created.starts_with("created #1 acme/shop/orders (pull via demo): cron \"0 9 * * MON-FRI\" Europe/Berlin, enabled, next slot 20"),
        "{created}"
    );

    let duplicate = schedules(
        &world,
        "create --tenant acme --source shop --stream orders --connector demo --every 15m",
    )
    .await
    .unwrap_err();
    assert!(duplicate.contains("already exists"), "{duplicate}");
    let bad = schedules(
        &world,
        r#"create --tenant acme --source shop --stream refunds --connector demo --cron "0 25 * * *" --timezone Mars/Olympus"#,
    )
    .await
    .unwrap_err();
    assert!(
        bad.contains("cron: ") && bad.contains("time_zone: "),
        "{bad}"
    );

    let edited = schedules(&world, "edit 1 --every 15m --overlap skip")
        .await
        .unwrap();
    assert!(edited.contains("every 15m"), "{edited}");
    let schedule = world.store.schedule(1).await.unwrap().unwrap();
    assert_eq!(
        schedule.next_slot_at.unwrap().timestamp() % 900,
        0,
        "a new cadence restarts from its next slot"
    );
    assert!(schedules(&world, "edit 1")
        .await
        .unwrap_err()
        .contains("nothing to change"));
    assert!(schedules(&world, "pause 1 --reason \" \"")
        .await
        .unwrap_err()
        .contains("reason: required"));
    schedules(&world, r#"pause 1 --reason "rotating credentials""#)
        .await
        .unwrap();
    let shown = schedules(&world, "show 1").await.unwrap();
    assert!(shown.contains("paused by cli:tester"), "{shown}");
    schedules(&world, "resume 1").await.unwrap();
    assert!(schedules(&world, "resume 1")
        .await
        .unwrap_err()
        .contains("not paused"));
    assert!(schedules(&world, "resume 99")
        .await
        .unwrap_err()
        .contains("does not exist"));

    let ran = schedules(&world, "run-now 1").await.unwrap();
    let job: Uuid = ran
        .split_whitespace()
        .nth(1)
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no job id in {ran:?}"));
    let backfilled = schedules(
        &world,
        "backfill 1 --from 2025-03-29 --to 2025-04-01 --window 1d",
    )
    .await
    .unwrap();
    assert!(
        backfilled
            .starts_with("3 jobs are in the outbox, 2025-03-28T23:00:00Z to 2025-03-31T22:00:00Z"),
        "backfill days are the schedule's local days: {backfilled}"
    );
    assert!(
        schedules(&world, "backfill 1 --from 2025-04-01 --to 2025-03-01")
            .await
            .unwrap_err()
            .contains("--from must be before --to")
    );

    let listed = schedules(&world, "list --tenant acme").await.unwrap();
    assert_eq!(listed.lines().count(), 1, "{listed}");

    let audit = world
        .store
        .audit_log(&AuditQuery {
            target: Some("schedule:1".into()),
            limit: 20,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().rev().map(|row| row.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "schedule.create",
            "schedule.edit",
            "schedule.pause",
            "schedule.resume",
            "schedule.run_now",
            "schedule.backfill"
        ]
    );
    assert!(audit.iter().all(|row| row.actor == ACTOR));
    let edit = audit
        .iter()
        .find(|row| row.action == "schedule.edit")
        .unwrap();
    assert_eq!(
        edit.before.as_ref().unwrap()["cadence"]["cron"],
        "0 9 * * MON-FRI"
    );
    assert_eq!(
        edit.after.as_ref().unwrap()["cadence"]["every_seconds"],
        900
    );
    let backfill = audit
        .iter()
        .find(|row| row.action == "schedule.backfill")
        .unwrap();
    assert_eq!(backfill.count, Some(3));

    // A running scheduler publishes what the CLI put in the outbox.
    world.start_replica().await;
    received.wait_for_ids(&[job], Duration::from_secs(15)).await;
    crate::helpers::wait_for("the backfill jobs", Duration::from_secs(15), || async {
        (received
            .jobs()
            .iter()
            .filter(|job| job.window.from.is_some())
            .count()
            == 3)
            .then_some(())
    })
    .await;
    world.stop_replicas().await;
    let windows: Vec<_> = received
        .jobs()
        .iter()
        .filter_map(|job| job.window.from)
        .collect();
    assert_eq!(windows.len(), 3);
}
