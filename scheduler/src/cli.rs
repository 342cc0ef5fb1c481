//! The `schedules` commands of `tributary-scheduler`: arguments (clap) and what each prints.
//! Each change goes through the store's schedule operations, which write the audit row in the
//! same transaction, with the actor `cli:<os user>`. Nothing here publishes: run-now and
//! backfill jobs go to the outbox, and a running scheduler publishes them.

use crate::cadence::parse_span;
use crate::planner::{backfill_windows, Planner, RangeBound};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use std::fmt::Write as _;
use tributary_store::{
    Cadence, OverlapPolicy, Schedule, ScheduleEdit, ScheduleFilter, ScheduleSpec, Store,
};

/// `tributary-scheduler schedules ...`
#[derive(Debug, Subcommand)]
pub enum SchedulesCommand {
    /// List schedules.
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this source's.
        #[arg(long)]
        source: Option<String>,
    },
    /// One schedule and its latest slots.
    Show {
        /// Schedule id.
        id: i64,
        /// How many of the latest slots to show.
        #[arg(long, default_value_t = 20)]
        slots: i64,
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
        /// Why (kept in the audit log, shown with the schedule).
        #[arg(long)]
        reason: String,
    },
    /// Resume a paused schedule from its next slot (the slots of the pause are not caught up).
    Resume {
        /// Schedule id.
        id: i64,
    },
    /// Enqueue one job of the schedule now (ignores its pause and overlap policy).
    RunNow {
        /// Schedule id.
        id: i64,
    },
    /// Enqueue jobs over a past range, one per window (the job's window).
    Backfill {
        /// Schedule id.
        id: i64,
        /// Start: a date (midnight in the schedule's time zone) or an RFC 3339 instant.
        #[arg(long)]
        from: RangeBound,
        /// End, excluded: a date or an RFC 3339 instant.
        #[arg(long)]
        to: RangeBound,
        /// Window length (`6h`, `1d`; whole days run midnight to midnight).
        #[arg(long, default_value = "1d")]
        window: String,
    },
}

/// When a schedule fires: at most one of a cron expression and an interval. One is required,
/// except for `--kind reconcile`, which defaults to [`DEFAULT_RECONCILE_CRON`].
#[derive(Debug, Args)]
#[group(required = false, multiple = false)]
pub struct CadenceArgs {
    /// Cron expression, 5 fields or 6 with seconds first (`0 */15 * * * *`), in --timezone.
    #[arg(long)]
    pub cron: Option<String>,
    /// Interval (`30s`, `15m`, `1h`, `1d`), slots at its multiples since the Unix epoch.
    #[arg(long)]
    pub every: Option<String>,
}

/// The cadence of a reconcile schedule created without one: daily at 03:00 in the schedule's
/// time zone (a quiet hour for most sources, after the night's ingestion).
pub const DEFAULT_RECONCILE_CRON: &str = "0 3 * * *";

/// The cadence `schedules create` stores: the one given, or for a reconcile schedule the daily
/// default.
fn create_cadence(kind: &str, cadence_args: CadenceArgs) -> anyhow::Result<Cadence> {
    match cadence(cadence_args.cron, cadence_args.every)? {
        Some(cadence) => Ok(cadence),
        None if kind == "reconcile" => Ok(Cadence::Cron(DEFAULT_RECONCILE_CRON.to_owned())),
        None => {
            anyhow::bail!("give --cron or --every (only --kind reconcile has a default: daily)")
        }
    }
}

/// `schedules create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Tenant to pull for.
    #[arg(long)]
    pub tenant: String,
    /// Configured source id.
    #[arg(long)]
    pub source: String,
    /// Stream to pull.
    #[arg(long)]
    pub stream: String,
    /// Connector kind of the source (its work queue).
    #[arg(long)]
    pub connector: String,
    /// Job kind to enqueue.
    #[arg(long, default_value = "pull")]
    pub kind: String,
    /// When it fires. Required, except for `--kind reconcile` (default: daily, `0 3 * * *` in
    /// --timezone).
    #[command(flatten)]
    pub cadence: CadenceArgs,
    /// IANA time zone of the cron expression (and of backfill dates).
    #[arg(long, default_value = "UTC")]
    pub timezone: String,
    /// Fire each slot up to this much later, fixed per slot (spreads many schedules out).
    #[arg(long, default_value = "0")]
    pub jitter: String,
    /// What a slot does while an earlier run is unfinished.
    #[arg(long, value_enum, default_value = "skip")]
    pub overlap: OverlapArg,
    /// Slots older than this when the scheduler gets to them are missed, not enqueued.
    #[arg(long, default_value = "1h")]
    pub catch_up: String,
    /// Create it disabled.
    #[arg(long)]
    pub disabled: bool,
}

/// `schedules edit`: each option given replaces the stored one.
#[derive(Debug, Args)]
pub struct EditArgs {
    /// New cron expression.
    #[arg(long, conflicts_with = "every")]
    pub cron: Option<String>,
    /// New interval.
    #[arg(long)]
    pub every: Option<String>,
    /// New time zone.
    #[arg(long)]
    pub timezone: Option<String>,
    /// New jitter.
    #[arg(long)]
    pub jitter: Option<String>,
    /// New overlap policy.
    #[arg(long, value_enum)]
    pub overlap: Option<OverlapArg>,
    /// New catch-up window.
    #[arg(long)]
    pub catch_up: Option<String>,
    /// New connector kind.
    #[arg(long)]
    pub connector: Option<String>,
    /// Enable it (it restarts from now).
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Disable it.
    #[arg(long)]
    pub disable: bool,
}

impl EditArgs {
    /// `--enable` / `--disable` as the change to store: `None` when neither was given.
    pub fn enabled(&self) -> Option<bool> {
        match (self.enable, self.disable) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

/// The overlap policy, as typed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OverlapArg {
    /// No new run while one is unfinished.
    Skip,
    /// At most one run waiting behind the one in flight.
    BufferOne,
    /// Every slot runs (the stream lease still serialises pulls).
    Allow,
}

impl From<OverlapArg> for OverlapPolicy {
    fn from(value: OverlapArg) -> Self {
        match value {
            OverlapArg::Skip => OverlapPolicy::Skip,
            OverlapArg::BufferOne => OverlapPolicy::BufferOne,
            OverlapArg::Allow => OverlapPolicy::Allow,
        }
    }
}

/// The audit log's name for whoever runs the CLI: `cli:<os user>`.
pub fn cli_actor() -> String {
    format!("cli:{}", os_user())
}

/// `$USER` (or `$LOGNAME`), else the name of the process's uid in `/etc/passwd` (services and
/// containers often set neither variable), else `uid-<n>`.
fn os_user() -> String {
    use std::os::unix::fs::MetadataExt;
    if let Some(user) = ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|user| !user.is_empty()))
    {
        return user;
    }
    let Ok(uid) = std::fs::metadata("/proc/self").map(|meta| meta.uid()) else {
        return "unknown".into();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
            })
        })
        .unwrap_or_else(|| format!("uid-{uid}"))
}

fn span(field: &str, text: &str) -> anyhow::Result<i32> {
    let seconds = parse_span(text).map_err(|error| anyhow::anyhow!("--{field}: {error}"))?;
    Ok(i32::try_from(seconds).expect("parse_span keeps spans within i32"))
}

fn cadence(cron: Option<String>, every: Option<String>) -> anyhow::Result<Option<Cadence>> {
    Ok(match (cron, every) {
        (Some(cron), _) => Some(Cadence::Cron(cron)),
        (None, Some(every)) => {
            let seconds = span("every", &every)?;
            anyhow::ensure!(seconds > 0, "--every: must be longer than zero");
            Some(Cadence::EverySeconds(seconds))
        }
        (None, None) => None,
    })
}

/// Runs one `schedules` command as `actor`; returns what to print.
pub async fn execute(
    store: &Store,
    command: SchedulesCommand,
    actor: &str,
) -> anyhow::Result<String> {
    let mut out = String::new();
    match command {
        SchedulesCommand::List { tenant, source } => {
            let schedules = store.schedules(&ScheduleFilter { tenant, source }).await?;
            if schedules.is_empty() {
                out.push_str("no schedules\n");
            }
            for schedule in schedules {
                writeln!(out, "{}", summary(&schedule))?;
            }
        }
        SchedulesCommand::Show { id, slots } => {
            let schedule = store
                .schedule(id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("schedule {id} does not exist"))?;
            writeln!(out, "{}", summary(&schedule))?;
            writeln!(
                out,
                "  jitter {}, catch-up {}, overlap {}",
                format_span(schedule.spec.jitter_seconds),
                format_span(schedule.spec.catch_up_seconds),
                schedule.spec.overlap.as_str()
            )?;
            if let Some(pause) = &schedule.paused {
                writeln!(
                    out,
                    "  paused by {} at {}: {}",
                    pause.by,
                    time(pause.at),
                    pause.reason
                )?;
            }
            writeln!(out, "  latest slots:")?;
            for slot in store.schedule_slots(id, slots).await? {
                let detail = match (slot.job_id, slot.missed_through, slot.missed_count) {
                    (Some(job), _, _) => format!("job {job}"),
                    (None, Some(through), count) => format!(
                        "through {} ({} slots)",
                        time(through),
                        count.map_or("uncounted".into(), |count| count.to_string())
                    ),
                    _ => String::new(),
                };
                writeln!(
                    out,
                    "    {}  {:<8}  {detail}",
                    time(slot.slot_at),
                    slot.outcome
                )?;
            }
        }
        SchedulesCommand::Create(args) => {
            let cadence = create_cadence(&args.kind, args.cadence)?;
            let spec = ScheduleSpec {
                tenant: args.tenant,
                source: args.source,
                stream: args.stream,
                connector: args.connector,
                kind: args.kind,
                cadence,
                time_zone: args.timezone,
                jitter_seconds: span("jitter", &args.jitter)?,
                overlap: args.overlap.into(),
                catch_up_seconds: span("catch-up", &args.catch_up)?,
                enabled: !args.disabled,
            };
            let schedule = store.create_schedule(&spec, &Planner, actor).await?;
            writeln!(out, "created {}", summary(&schedule))?;
        }
        SchedulesCommand::Edit { id, changes } => {
            let enabled = changes.enabled();
            let edit = ScheduleEdit {
                cadence: cadence(changes.cron, changes.every)?,
                time_zone: changes.timezone,
                jitter_seconds: changes.jitter.map(|j| span("jitter", &j)).transpose()?,
                overlap: changes.overlap.map(Into::into),
                catch_up_seconds: changes.catch_up.map(|c| span("catch-up", &c)).transpose()?,
                enabled,
                connector: changes.connector,
            };
            let schedule = store.edit_schedule(id, &edit, &Planner, actor).await?;
            writeln!(out, "changed {}", summary(&schedule))?;
        }
        SchedulesCommand::Pause { id, reason } => {
            let schedule = store.pause_schedule(id, &reason, actor).await?;
            writeln!(out, "paused {}", summary(&schedule))?;
        }
        SchedulesCommand::Resume { id } => {
            let schedule = store.resume_schedule(id, &Planner, actor).await?;
            writeln!(out, "resumed {}", summary(&schedule))?;
        }
        SchedulesCommand::RunNow { id } => {
            let job = store.run_schedule_now(id, &Planner, actor).await?;
            writeln!(
                out,
                "job {job} is in the outbox; a running scheduler publishes it"
            )?;
        }
        SchedulesCommand::Backfill {
            id,
            from,
            to,
            window,
        } => {
            let schedule = store
                .schedule(id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("schedule {id} does not exist"))?;
            let window = span("window", &window)?;
            let windows = backfill_windows(
                from,
                to,
                u32::try_from(window).unwrap_or(0),
                &schedule.spec.time_zone,
            )
            .map_err(|error| anyhow::anyhow!(error))?;
            let jobs = store
                .backfill_schedule(id, &windows, &Planner, actor)
                .await?;
            writeln!(
                out,
                "{} jobs are in the outbox, {} to {}; a running scheduler publishes them",
                jobs.len(),
                windows
                    .first()
                    .and_then(|w| w.from)
                    .map(time)
                    .unwrap_or_default(),
                windows
                    .last()
                    .and_then(|w| w.to)
                    .map(time)
                    .unwrap_or_default(),
            )?;
        }
    }
    Ok(out)
}

/// One line per schedule: id, what, when, state, next slot.
pub fn summary(schedule: &Schedule) -> String {
    let spec = &schedule.spec;
    let cadence = match &spec.cadence {
        Cadence::Cron(expression) => format!("cron {expression:?} {}", spec.time_zone),
        Cadence::EverySeconds(seconds) => format!("every {}", format_span(*seconds)),
    };
    let state = match (&schedule.paused, spec.enabled) {
        (Some(pause), _) => format!("paused ({})", pause.reason),
        (None, false) => "disabled".into(),
        (None, true) => "enabled".into(),
    };
    let next = schedule.next_slot_at.map_or("none".into(), time);
    format!(
        "#{} {}/{}/{} ({} via {}): {cadence}, {state}, next slot {next}",
        schedule.id, spec.tenant, spec.source, spec.stream, spec.kind, spec.connector
    )
}

/// `90` → `90s`, `900` → `15m`, `86400` → `1d`: the largest unit that divides it.
pub fn format_span(seconds: i32) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds != 0 && seconds % size == 0 {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(subcommand)]
        command: SchedulesCommand,
    }

    #[test]
    fn create_needs_exactly_one_cadence() {
        let base = [
            "x",
            "create",
            "--tenant",
            "acme",
            "--source",
            "shop",
            "--stream",
            "orders",
            "--connector",
            "demo",
        ];
        let Wrapper {
            command: SchedulesCommand::Create(args),
        } = Wrapper::try_parse_from(base).unwrap()
        else {
            panic!("not a create");
        };
        let error = create_cadence(&args.kind, args.cadence).unwrap_err();
        assert!(
            error.to_string().contains("give --cron or --every"),
            "{error}"
        );
        let both = [&base[..], &["--cron", "* * * * *", "--every", "1m"]].concat();
        assert!(Wrapper::try_parse_from(both).is_err());
        let every = [&base[..], &["--every", "15m", "--overlap", "buffer-one"]].concat();
        let Wrapper {
            command: SchedulesCommand::Create(args),
        } = Wrapper::try_parse_from(every).unwrap()
        else {
            panic!("not a create");
        };
        assert_eq!(
            cadence(args.cadence.cron, args.cadence.every).unwrap(),
            Some(Cadence::EverySeconds(900))
        );
        assert_eq!(OverlapPolicy::from(args.overlap), OverlapPolicy::BufferOne);
    }

    #[test]
    fn reconcile_schedules_are_daily_by_default() {
        let reconcile = [
            "x",
            "create",
            "--tenant",
            "acme",
            "--source",
            "shop",
            "--stream",
            "orders",
            "--connector",
            "demo",
            "--kind",
            "reconcile",
        ];
        let Wrapper {
            command: SchedulesCommand::Create(args),
        } = Wrapper::try_parse_from(reconcile).unwrap()
        else {
            panic!("not a create");
        };
        assert_eq!(
            create_cadence(&args.kind, args.cadence).unwrap(),
            Cadence::Cron("0 3 * * *".into())
        );
        let hourly = [&reconcile[..], &["--every", "1h"]].concat();
        let Wrapper {
            command: SchedulesCommand::Create(args),
        } = Wrapper::try_parse_from(hourly).unwrap()
        else {
            panic!("not a create");
        };
        assert_eq!(
            create_cadence(&args.kind, args.cadence).unwrap(),
            Cadence::EverySeconds(3600)
        );
    }

    #[test]
    fn the_actor_names_an_os_user() {
        let actor = cli_actor();
        assert!(actor.starts_with("cli:") && actor.len() > 4, "{actor}");
        assert_ne!(actor, "cli:unknown");
    }

    #[test]
    fn spans_print_in_their_largest_unit() {
        assert_eq!(format_span(0), "0s");
        assert_eq!(format_span(90), "90s");
        assert_eq!(format_span(900), "15m");
        assert_eq!(format_span(7_200), "2h");
        assert_eq!(format_span(86_400), "1d");
    }
}
