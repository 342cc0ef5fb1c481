//! `queue-admin schedules list | show | create | edit | pause | resume | run-now | backfill`:
//! the schedules API from a terminal, with a token (the same checks, roles and audit rows as the
//! web UI; the audit actor is the token's). The create and edit flags are
//! `tributary-scheduler schedules`'s own (that CLI works on the database directly instead).

use super::ApiClient;
use crate::schedules::wire::{
    Backfill, Enqueued, NewSchedule, ScheduleChanges, ScheduleDetail, ScheduleList, ScheduleView,
    Span,
};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use std::fmt::Write as _;
use std::process::ExitCode;
use tributary_scheduler::cli::{format_span, CreateArgs, EditArgs};
use tributary_store::OverlapPolicy;

/// The commands.
#[derive(Debug, Subcommand)]
pub enum SchedulesCommand {
    /// Every schedule: state, cadence, next slot, latest slot, recent misses.
    List,
    /// One schedule and its recent slots with their runs.
    Show {
        /// Schedule id.
        id: i64,
    },
    /// Create a schedule (it starts at its first slot from now).
    Create(CreateArgs),
    /// Change a schedule. A new cadence, time zone or jitter restarts it from now.
    Edit {
        /// Schedule id.
        id: i64,
        /// What to change.
        #[command(flatten)]
        changes: EditArgs,
    },
    /// Pause a schedule: it enqueues nothing until resumed.
    Pause {
        /// Schedule id.
        id: i64,
        /// Why (required; shown with the schedule and kept in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Resume a paused schedule from its next slot (the pause's slots are not caught up).
    Resume {
        /// Schedule id.
        id: i64,
    },
    /// Enqueue one job of the schedule now (ignores its pause and overlap policy).
    RunNow {
        /// Schedule id.
        id: i64,
    },
    /// Enqueue jobs over a past range, one per window.
    Backfill {
        /// Schedule id.
        id: i64,
        /// Start: a date (midnight in the schedule's time zone) or an RFC 3339 instant.
        #[arg(long)]
        from: String,
        /// End, excluded: a date or an RFC 3339 instant.
        #[arg(long)]
        to: String,
        /// Window length (`6h`, `1d`; whole days run midnight to midnight).
        #[arg(long, default_value = "1d")]
        window: String,
    },
}

fn print_or_json<T: serde::Serialize>(
    client: &ApiClient,
    value: &T,
    text: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    if client.json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", text(value));
    }
    Ok(())
}

/// Runs one.
pub async fn run(client: &ApiClient, command: SchedulesCommand) -> anyhow::Result<ExitCode> {
    match command {
        SchedulesCommand::List => {
            let list: ScheduleList = client.get("/api/v1/schedules", &[]).await?;
            print_or_json(client, &list, render_list)?;
        }
        SchedulesCommand::Show { id } => {
            let detail: ScheduleDetail =
                client.get(&format!("/api/v1/schedules/{id}"), &[]).await?;
            print_or_json(client, &detail, render_detail)?;
        }
        SchedulesCommand::Create(args) => {
            let new = NewSchedule {
                tenant: args.tenant,
                source: args.source,
                stream: args.stream,
                connector: args.connector,
                kind: Some(args.kind),
                cron: args.cadence.cron,
                every: args.cadence.every.map(Span::Text),
                time_zone: Some(args.timezone),
                jitter: Some(Span::Text(args.jitter)),
                overlap: Some(OverlapPolicy::from(args.overlap).as_str().to_owned()),
                catch_up: Some(Span::Text(args.catch_up)),
                enabled: Some(!args.disabled),
            };
            let schedule: ScheduleView = client.post("/api/v1/schedules", &new).await?;
            print_or_json(client, &schedule, |s| format!("created {}\n", summary(s)))?;
        }
        SchedulesCommand::Edit { id, changes } => {
            let enabled = changes.enabled();
            let changes = ScheduleChanges {
                cron: changes.cron,
                every: changes.every.map(Span::Text),
                time_zone: changes.timezone,
                jitter: changes.jitter.map(Span::Text),
                overlap: changes
                    .overlap
                    .map(|overlap| OverlapPolicy::from(overlap).as_str().to_owned()),
                catch_up: changes.catch_up.map(Span::Text),
                connector: changes.connector,
                enabled,
            };
            let schedule: ScheduleView = client
                .post(&format!("/api/v1/schedules/{id}/edit"), &changes)
                .await?;
            print_or_json(client, &schedule, |s| format!("changed {}\n", summary(s)))?;
        }
        SchedulesCommand::Pause { id, reason } => {
            let schedule: ScheduleView = client
                .post(
                    &format!("/api/v1/schedules/{id}/pause"),
                    &serde_json::json!({ "reason": reason }),
                )
                .await?;
            print_or_json(client, &schedule, |s| format!("paused {}\n", summary(s)))?;
        }
        SchedulesCommand::Resume { id } => {
            let schedule: ScheduleView = client
                .post(
                    &format!("/api/v1/schedules/{id}/resume"),
                    &serde_json::json!({}),
                )
                .await?;
            print_or_json(client, &schedule, |s| format!("resumed {}\n", summary(s)))?;
        }
        SchedulesCommand::RunNow { id } => {
            let enqueued: Enqueued = client
                .post(
                    &format!("/api/v1/schedules/{id}/run-now"),
                    &serde_json::json!({}),
                )
                .await?;
            print_or_json(client, &enqueued, |enqueued| {
                format!(
                    "job {} is in the outbox; a running scheduler publishes it\n",
                    enqueued
                        .jobs
                        .first()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                )
            })?;
        }
        SchedulesCommand::Backfill {
            id,
            from,
            to,
            window,
        } => {
            let enqueued: Enqueued = client
                .post(
                    &format!("/api/v1/schedules/{id}/backfill"),
                    &Backfill {
                        from,
                        to,
                        window: Some(Span::Text(window)),
                    },
                )
                .await?;
            print_or_json(client, &enqueued, |enqueued| {
                format!(
                    "{} jobs are in the outbox, {} to {}; a running scheduler publishes them\n",
                    enqueued.count,
                    enqueued.from.map(time).unwrap_or_default(),
                    enqueued.to.map(time).unwrap_or_default(),
                )
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn state(schedule: &ScheduleView) -> String {
    match &schedule.paused {
        Some(pause) => format!("paused ({}, by {})", pause.reason, pause.by),
        None => schedule.state.clone(),
    }
}

/// One line: id, what, when, state, next slot.
pub fn summary(schedule: &ScheduleView) -> String {
    format!(
        "#{} {}/{}/{} ({} via {}): {}, {}, next slot {}",
        schedule.id,
        schedule.tenant,
        schedule.source,
        schedule.stream,
        schedule.kind,
        schedule.connector,
        schedule.cadence_text(),
        state(schedule),
        schedule.next_slot_at.map_or("none".into(), time)
    )
}

/// The schedules as a table.
pub fn render_list(list: &ScheduleList) -> String {
    let mut out = String::new();
    if list.items.is_empty() {
        out.push_str("no schedules\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>4}  {:<40}  {:<9}  {:<24}  {:<20}  {:<30}  {:>6}",
        "ID", "TENANT/SOURCE/STREAM", "STATE", "CADENCE", "NEXT SLOT", "LAST SLOT", "MISSED"
    );
    for schedule in &list.items {
        let cadence = match (&schedule.cron, &schedule.every) {
            (Some(cron), _) => format!("{cron} {}", schedule.time_zone),
            (None, Some(every)) => format!("every {every}"),
            (None, None) => "-".into(),
        };
        let last = schedule.last_slot.as_ref().map_or("-".into(), |slot| {
            format!("{} {}", slot.outcome, time(slot.slot_at))
        });
        let _ = writeln!(
            out,
            "{:>4}  {:<40}  {:<9}  {:<24}  {:<20}  {:<30}  {:>6}",
            schedule.id,
            format!(
                "{}/{}/{}",
                schedule.tenant, schedule.source, schedule.stream
            ),
            schedule.state,
            cadence,
            schedule.next_slot_at.map_or("none".into(), time),
            last,
            schedule.missed_recently
        );
        if let Some(pause) = &schedule.paused {
            let _ = writeln!(out, "      paused by {}: {}", pause.by, pause.reason);
        }
    }
    out
}

/// One schedule and its slots.
pub fn render_detail(detail: &ScheduleDetail) -> String {
    let schedule = &detail.schedule;
    let mut out = String::new();
    let _ = writeln!(out, "{}", summary(schedule));
    let _ = writeln!(
        out,
        "  jitter {}, catch-up {}, overlap {}",
        format_span(schedule.jitter_seconds),
        format_span(schedule.catch_up_seconds),
        schedule.overlap
    );
    let _ = writeln!(out, "  latest slots:");
    if detail.slots.is_empty() {
        let _ = writeln!(out, "    none yet");
    }
    for slot in &detail.slots {
        let what = match (slot.job_id, slot.missed_through) {
            (Some(job), _) => format!(
                "job {job} ({})",
                slot.job_status.as_deref().unwrap_or("unknown")
            ),
            (None, Some(through)) => format!(
                "through {} ({} slots)",
                time(through),
                slot.missed_count
                    .map_or("uncounted".into(), |count| count.to_string())
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "    {}  {:<8}  {what}",
            time(slot.slot_at),
            slot.outcome
        );
    }
    out
}
