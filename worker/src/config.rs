//! Worker configuration: defaults, then an optional TOML file, then `TRIBUTARY_` environment
//! variables (`__` separates levels: `TRIBUTARY_AMQP__URL`). The worker's own sections
//! (`worker`, `http`, `sources`) are documented here, the shared ones (`amqp`, `database`,
//! `log`) in `tributary_runtime::config`; unknown fields are refused so a typo is an error, not
//! a silently ignored setting.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

// The sections every process shares are defined once, in the runtime crate.
pub use tributary_runtime::config::{
    parse_duration, AmqpSettings, AmqpUrls, DatabaseSettings, LogFormat, LogSettings, Secret,
};

/// Everything the worker can be told.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// How this process consumes and runs jobs.
    pub worker: WorkerSettings,
    /// The RabbitMQ broker and the topology on it.
    pub amqp: AmqpSettings,
    /// The PostgreSQL database (the system of record).
    pub database: DatabaseSettings,
    /// The HTTP endpoint for health checks and metrics.
    pub http: HttpSettings,
    /// Logging.
    pub log: LogSettings,
    /// Configured source instances, by source id: which connector, with which settings.
    pub sources: BTreeMap<String, SourceSettings>,
}

/// How this process consumes and runs jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    /// Name in the ledger, logs and broker connection names. Default: `worker-<host>-<pid>`.
    pub name: Option<String>,
    /// Jobs run at once by this process.
    pub concurrency: usize,
    /// Unacknowledged deliveries the broker may push ahead (per channel). At least
    /// `concurrency`, so a finished job's slot is refilled without a round trip.
    pub prefetch: u16,
    /// Largest message body accepted; bigger ones are dead-lettered as `oversized`.
    pub max_message_bytes: usize,
    /// Failed attempts (transient errors) before a job is dead-lettered.
    pub max_attempts: u32,
    /// Pages one job pulls before handing over to a continuation job.
    pub job_max_pages: u32,
    /// Seconds one job runs before handing over to a continuation job. Keep it well inside the
    /// broker's `consumer_timeout`.
    pub job_max_seconds: u64,
    /// Seconds one page request may take before it counts as a transient failure.
    pub page_timeout_seconds: u64,
    /// On SIGTERM: seconds to let in-flight jobs finish before handing them back to the broker.
    pub shutdown_grace_seconds: u64,
    /// Seconds a publish (continuation, retry, dead letter's hand-off) waits for the broker's
    /// confirm. A broker alarm blocks publishers; past this the job is handed back to the
    /// broker and tried again, instead of holding its slot until the alarm clears.
    pub publish_timeout_seconds: u64,
    /// Consecutive failed jobs (transient errors or 429s) of one (tenant, source) that open its
    /// circuit breaker: its jobs are then snoozed, spending no attempts.
    pub breaker_failure_threshold: u32,
    /// First cool-down of an open breaker, in seconds; doubles on each consecutive opening.
    pub breaker_cooldown_seconds: u64,
    /// Longest cool-down of an open breaker, in seconds.
    pub breaker_max_cooldown_seconds: u64,
    /// Also drain the broker's dead queue into the `dead_letters` table (any number of
    /// processes may do it; each letter is stored once).
    pub archive_dead_letters: bool,
    /// Seconds before a job of a paused source (see `source_pauses`) is looked at again. It
    /// waits in the shortest retry tier at least this long, spending no attempt; resuming the
    /// source takes effect within about this long.
    pub paused_recheck_seconds: u64,
    /// Reconciliation compares id manifests of a created-at window once it holds at most this
    /// many records (source or store side); bigger windows whose counts differ are split.
    pub reconcile_manifest_max_records: u64,
    /// Reconciliation never splits a window shorter than this many milliseconds: its
    /// manifest is compared whatever its size.
    pub reconcile_min_window_ms: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            name: None,
            concurrency: 32,
            prefetch: 64,
            max_message_bytes: 1024 * 1024,
            max_attempts: 5,
            job_max_pages: 40,
            job_max_seconds: 60,
            page_timeout_seconds: 30,
            shutdown_grace_seconds: 25,
            publish_timeout_seconds: 30,
            breaker_failure_threshold: 5,
            breaker_cooldown_seconds: 30,
            breaker_max_cooldown_seconds: 600,
            archive_dead_letters: true,
            paused_recheck_seconds: 30,
            reconcile_manifest_max_records: 500,
            reconcile_min_window_ms: 1_000,
        }
    }
}

/// The HTTP endpoint: `/livez`, `/readyz`, `/metrics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Listen address; port 0 picks a free port.
    pub listen: SocketAddr,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
        }
    }
}

/// One configured source instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// The connector kind, e.g. `demo`.
    pub connector: String,
    /// The connector's own settings, validated by the connector.
    #[serde(default)]
    pub settings: serde_json::Value,
    /// Overrides the connector's request budget for this source (fleet-wide, per tenant).
    #[serde(default)]
    pub rate_limit: Option<RateLimitSettings>,
}

/// A request budget: sustained rate and burst.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Sustained requests per second, across every worker process.
    pub requests_per_second: f64,
    /// Requests that may go back to back after an idle period.
    pub burst: u32,
}

/// The top-level sections; environment variables outside them (such as the dev script's
/// `TRIBUTARY_DEV_*`) belong to other programs and are not ours to refuse.
const SECTIONS: [&str; 6] = ["worker", "amqp", "database", "http", "log", "sources"];

impl Settings {
    /// Loads defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        tributary_runtime::config::layered(Settings::default(), file, &SECTIONS)
            .extract()
            .map_err(Box::new)
    }

    /// Checks what serde cannot: ranges and cross-field rules. Returns every problem, each
    /// naming its field.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.worker.concurrency == 0 {
            problems.push("worker.concurrency: must be at least 1".to_owned());
        }
        if usize::from(self.worker.prefetch) < self.worker.concurrency {
            problems.push(format!(
                "worker.prefetch: {} is below worker.concurrency ({}); slots would sit idle",
                self.worker.prefetch, self.worker.concurrency
            ));
        }
        if self.worker.max_attempts == 0 {
            problems.push("worker.max_attempts: must be at least 1".to_owned());
        }
        if self.worker.job_max_pages == 0 {
            problems.push("worker.job_max_pages: must be at least 1".to_owned());
        }
        if self.worker.max_message_bytes < 1024 {
            problems.push("worker.max_message_bytes: must be at least 1024".to_owned());
        }
        if self.worker.breaker_failure_threshold == 0 {
            problems.push("worker.breaker_failure_threshold: must be at least 1".to_owned());
        }
        for (id, source) in &self.sources {
            if let Some(limit) = source.rate_limit {
                if !(limit.requests_per_second > 0.0 && limit.requests_per_second.is_finite()) {
                    problems.push(format!(
                        "sources.{id}.rate_limit.requests_per_second: must be a positive number"
                    ));
                }
                if limit.burst == 0 {
                    problems.push(format!("sources.{id}.rate_limit.burst: must be at least 1"));
                }
            }
        }
        if self.worker.paused_recheck_seconds == 0 {
            problems.push("worker.paused_recheck_seconds: must be at least 1".to_owned());
        }
        if self.worker.publish_timeout_seconds == 0 {
            problems.push("worker.publish_timeout_seconds: must be at least 1".to_owned());
        }
        problems.extend(self.amqp.problems());
        problems.extend(self.database.problems());
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let mut settings = Settings::default();
        settings.database.url = Secret::new("postgres://u:hunter2@db/x");
        let debug = format!("{settings:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("Secret(***)"));
    }

    #[test]
    fn validation_names_each_bad_field() {
        let mut settings = Settings::default();
        settings.worker.concurrency = 100;
        settings.worker.prefetch = 10;
        settings.worker.paused_recheck_seconds = 0;
        settings.worker.publish_timeout_seconds = 0;
        settings.amqp.retry_tiers = vec!["5s".into(), "soon".into()];
        settings.amqp.url = AmqpUrls::one("http://x");
        settings.database.max_connections = 0;
        let problems = settings.validate().join("\n");
        assert!(problems.contains("worker.prefetch"), "{problems}");
        assert!(
            problems.contains("worker.paused_recheck_seconds"),
            "{problems}"
        );
        assert!(
            problems.contains("worker.publish_timeout_seconds: must be at least 1"),
            "{problems}"
        );
        assert!(problems.contains("amqp.retry_tiers[1]"), "{problems}");
        assert!(problems.contains("amqp.url"), "{problems}");
        assert!(problems.contains("database.max_connections"), "{problems}");
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(Settings::default().validate(), Vec::<String>::new());
    }

    #[test]
    // `Jail::expect_with` fixes the closure's error type to `figment::Error`.
    #[allow(clippy::result_large_err)]
    fn environment_overrides_nested_settings_and_ignores_other_programs() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TRIBUTARY_DATABASE__URL", "postgres://u:p@db:6543/x");
            jail.set_env("TRIBUTARY_WORKER__CONCURRENCY", "7");
            jail.set_env("TRIBUTARY_SOURCES__SHOP__CONNECTOR", "demo");
            jail.set_env(
                "TRIBUTARY_SOURCES__SHOP__SETTINGS__BASE_URL",
                "http://127.0.0.1:1",
            );
            jail.set_env("TRIBUTARY_DEV_BROKER_PROMETHEUS_URL", "http://x");
            let settings = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(settings.database.url.expose(), "postgres://u:p@db:6543/x");
            assert_eq!(settings.worker.concurrency, 7);
            assert_eq!(settings.sources["shop"].connector, "demo");
            assert_eq!(
                settings.sources["shop"].settings["base_url"],
                "http://127.0.0.1:1"
            );
            jail.set_env("TRIBUTARY_WORKER__CONCURENCY", "7");
            let error = Settings::load(None).unwrap_err().to_string();
            assert!(error.contains("concurency"), "{error}");
            Ok(())
        });
    }

    #[test]
    // `Jail::expect_with` fixes the closure's error type to `figment::Error`.
    #[allow(clippy::result_large_err)]
    fn a_file_shared_with_queue_admin_loads_with_only_our_sections() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "shared.toml",
                "[worker]\nconcurrency = 3\n[admin]\nlisten = \"127.0.0.1:8181\"\n",
            )?;
            let settings =
                Settings::load(Some(Path::new("shared.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(settings.worker.concurrency, 3);
            Ok(())
        });
    }

    #[test]
    fn unknown_fields_in_a_file_are_refused_with_their_path() {
        let dir = std::env::temp_dir().join(format!("tributary-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(&file, "[worker]\nconcurency = 3\n").unwrap();
        let error = Settings::load(Some(&file)).unwrap_err().to_string();
        assert!(error.contains("concurency"), "{error}");
    }
}
