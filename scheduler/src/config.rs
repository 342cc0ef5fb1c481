//! Scheduler configuration: the shared `[amqp]`, `[database]` and `[log]` sections from
//! `tributary-runtime`, plus the scheduler's own `[scheduler]` section. The same file may hold
//! every process's sections; each takes its own. Unknown fields are refused.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;
use tributary_runtime::{AmqpSettings, DatabaseSettings, LogSettings};

pub use tributary_runtime::Secret;

/// Everything the scheduler can be told.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The scheduler itself.
    pub scheduler: SchedulerSettings,
    /// The broker jobs are published to (the work exchange, routing key = connector).
    pub amqp: AmqpSettings,
    /// The database holding schedules, slots, the outbox and the job ledger.
    pub database: DatabaseSettings,
    /// Logging.
    pub log: LogSettings,
}

/// The `[scheduler]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerSettings {
    /// This replica's name in logs and broker connection names (default: `scheduler-<host>-<pid>`).
    pub name: Option<String>,
    /// How often due slots are claimed. A slot is enqueued at most this late (plus the
    /// claim's own time); lower it for second-granularity schedules.
    pub tick_interval_ms: u64,
    /// Due schedules locked per claim transaction. A claim that fills it is followed by
    /// another at once.
    pub claim_batch: u32,
    /// Outbox rows held and published per relay round (one pipelined batch of confirms).
    pub relay_batch: u32,
    /// How often the relay looks for rows other replicas (or the CLI) committed; rows this
    /// replica commits wake it at once.
    pub relay_interval_ms: u64,
    /// Jobs published per second at most (a large backfill must not flood the broker).
    pub relay_per_second: u32,
    /// Longest wait before publishing a refused row again (unroutable or nacked; the wait
    /// doubles from one second), and the longest back-off after a broker failure.
    pub relay_retry_max_seconds: u64,
    /// A publish not confirmed within this many seconds counts as failed; its rows stay in the
    /// outbox and are published again.
    pub publish_timeout_seconds: u64,
    /// Seconds between refreshes of the outbox backlog gauges.
    pub backlog_refresh_seconds: u64,
    /// Where `/livez`, `/readyz` and `/metrics` listen.
    pub ops_listen: SocketAddr,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            name: None,
            tick_interval_ms: 1_000,
            claim_batch: 100,
            relay_batch: 200,
            relay_interval_ms: 1_000,
            relay_per_second: 1_000,
            relay_retry_max_seconds: 300,
            publish_timeout_seconds: 30,
            backlog_refresh_seconds: 15,
            ops_listen: SocketAddr::from(([127, 0, 0, 1], 9290)),
        }
    }
}

/// The sections this process reads; other processes' sections in a shared file and their
/// variables (`TRIBUTARY_WORKER__*`, ...) are skipped.
const SECTIONS: [&str; 4] = ["amqp", "database", "log", "scheduler"];

impl Settings {
    /// Defaults, then `file` (if given; it may be shared with the other processes), then
    /// `TRIBUTARY_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        tributary_runtime::config::layered(Settings::default(), file, &SECTIONS)
            .extract()
            .map_err(Box::new)
    }

    /// Every problem with these settings, each naming its field.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        problems.extend(self.amqp.problems());
        problems.extend(self.database.problems());
        let scheduler = &self.scheduler;
        for (field, value) in [
            ("tick_interval_ms", scheduler.tick_interval_ms),
            ("claim_batch", u64::from(scheduler.claim_batch)),
            ("relay_batch", u64::from(scheduler.relay_batch)),
            ("relay_interval_ms", scheduler.relay_interval_ms),
            ("relay_per_second", u64::from(scheduler.relay_per_second)),
            ("relay_retry_max_seconds", scheduler.relay_retry_max_seconds),
            ("publish_timeout_seconds", scheduler.publish_timeout_seconds),
            ("backlog_refresh_seconds", scheduler.backlog_refresh_seconds),
        ] {
            if value == 0 {
                problems.push(format!("scheduler.{field}: must be at least 1"));
            }
        }
        problems
    }

    /// This replica's name.
    pub fn name(&self) -> String {
        self.scheduler.name.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME")
                .ok()
                .filter(|host| !host.is_empty())
                .unwrap_or_else(|| "localhost".into());
            format!("scheduler-{host}-{}", std::process::id())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    // `Jail::expect_with` fixes the closure's error type to `figment::Error`.
    #[allow(clippy::result_large_err)]
    fn a_shared_file_loads_and_scheduler_typos_are_refused() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "tributary.toml",
                r#"
                [worker]
                concurrency = 4
                [scheduler]
                tick_interval_ms = 250
                [amqp]
                prefix = "prod"
                "#,
            )?;
            jail.set_env("TRIBUTARY_SCHEDULER__RELAY_PER_SECOND", "50");
            jail.set_env("TRIBUTARY_WORKER__CONCURRENCY", "9");
            let settings = Settings::load(Some(Path::new("tributary.toml"))).unwrap();
            assert_eq!(settings.scheduler.tick_interval_ms, 250);
            assert_eq!(settings.scheduler.relay_per_second, 50);
            assert_eq!(settings.amqp.prefix, "prod");
            assert!(settings.validate().is_empty(), "{:?}", settings.validate());

            jail.create_file("typo.toml", "[scheduler]\ntick_intervl_ms = 5\n")?;
            let error = Settings::load(Some(Path::new("typo.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("tick_intervl_ms"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn zeros_are_refused_by_name() {
        let mut settings = Settings::default();
        settings.scheduler.relay_per_second = 0;
        settings.scheduler.tick_interval_ms = 0;
        let problems = settings.validate().join("\n");
        assert!(
            problems.contains("scheduler.relay_per_second"),
            "{problems}"
        );
        assert!(
            problems.contains("scheduler.tick_interval_ms"),
            "{problems}"
        );
    }
}
