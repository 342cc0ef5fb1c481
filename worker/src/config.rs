//! Worker configuration: defaults, then an optional TOML file, then `TRIBUTARY_` environment
//! variables (`__` separates levels: `TRIBUTARY_AMQP__URL`). Every field is documented here;
//! unknown fields are refused so a typo is an error, not a silently ignored setting.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// A secret setting (a URL with a password, a token). Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

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
            breaker_failure_threshold: 5,
            breaker_cooldown_seconds: 30,
            breaker_max_cooldown_seconds: 600,
            archive_dead_letters: true,
        }
    }
}

/// The RabbitMQ broker and the topology on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpSettings {
    /// `amqp://` or `amqps://` URL (TLS with `amqps`). Holds the password: never logged.
    pub url: Secret,
    /// Prefix of every exchange and queue name.
    pub prefix: String,
    /// Deliveries of one message before the broker dead-letters it (crash-loop guard).
    pub delivery_limit: u32,
    /// Delays of the retry tiers, e.g. `["5s", "30s", "2m", "10m", "1h"]`.
    pub retry_tiers: Vec<String>,
    /// The management API (used by queue-admin and `status`), e.g. `http://127.0.0.1:15672`.
    pub management_url: Option<String>,
    /// Management API user.
    pub management_user: Option<String>,
    /// Management API password.
    pub management_password: Option<Secret>,
}

impl Default for AmqpSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("amqp://127.0.0.1:5672/%2f"),
            prefix: "tributary".into(),
            delivery_limit: 20,
            retry_tiers: ["5s", "30s", "2m", "10m", "1h"].map(String::from).to_vec(),
            management_url: None,
            management_user: None,
            management_password: None,
        }
    }
}

/// The PostgreSQL database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `postgres://` URL. Holds the password: never logged.
    pub url: Secret,
    /// Connections in this process's pool.
    pub max_connections: usize,
    /// Apply pending migrations at start-up (under an advisory lock).
    pub migrate_on_start: bool,
    /// Extra CA certificates (PEM) to trust for TLS, besides the system roots. TLS itself is
    /// chosen by the URL's `sslmode` (`disable`, `prefer` (default), `require`).
    pub ca_file: Option<std::path::PathBuf>,
}

impl DatabaseSettings {
    /// Opens the pool these settings describe.
    pub fn store(
        &self,
        max_connections: usize,
    ) -> Result<tributary_store::Store, tributary_store::StoreError> {
        tributary_store::Store::connect_with_ca(
            self.url.expose(),
            max_connections,
            self.ca_file.as_deref(),
        )
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("postgres://tributary@127.0.0.1:5432/tributary"),
            max_connections: 16,
            migrate_on_start: true,
            ca_file: None,
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

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` for people, `json` for production log pipelines.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `info,tributary_worker=debug`.
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            // The database driver and the migration runner are chatty at info.
            filter: "info,tokio_postgres=warn,refinery_core=warn".into(),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
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
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(Env::prefixed("TRIBUTARY_").split("__").filter(|key| {
                // The key is not lowercased yet at this point.
                let section = key.as_str().split('.').next().unwrap_or("");
                SECTIONS
                    .iter()
                    .any(|known| known.eq_ignore_ascii_case(section))
            }))
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
        if self.amqp.retry_tiers.is_empty() {
            problems.push("amqp.retry_tiers: at least one tier is required".to_owned());
        }
        for (index, tier) in self.amqp.retry_tiers.iter().enumerate() {
            if let Err(error) = parse_duration(tier) {
                problems.push(format!("amqp.retry_tiers[{index}]: {error}"));
            }
        }
        if self.amqp.delivery_limit == 0 {
            problems.push("amqp.delivery_limit: must be at least 1".to_owned());
        }
        let url = self.amqp.url.expose();
        if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
            problems.push("amqp.url: must start with amqp:// or amqps://".to_owned());
        }
        let url = self.database.url.expose();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            problems.push("database.url: must start with postgres:// or postgresql://".to_owned());
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
        if self.database.max_connections == 0 {
            problems.push("database.max_connections: must be at least 1".to_owned());
        }
        problems
    }

    /// The retry tier delays (call after [`Settings::validate`] passed).
    pub fn retry_delays(&self) -> Vec<Duration> {
        self.amqp
            .retry_tiers
            .iter()
            .filter_map(|tier| parse_duration(tier).ok())
            .collect()
    }
}

/// Parses `250ms`, `5s`, `2m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit; use ms, s, m or h (e.g. \"30s\")"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a whole number"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number * 60),
        "h" => Duration::from_secs(number * 3600),
        _ => {
            return Err(format!(
                "{text:?} has unknown unit {unit:?}; use ms, s, m or h"
            ))
        }
    };
    if duration.is_zero() {
        return Err(format!("{text:?} must be longer than zero"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_refuse_garbage() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
        assert!(parse_duration("5d").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("0s").is_err());
    }

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
        settings.amqp.retry_tiers = vec!["5s".into(), "soon".into()];
        settings.amqp.url = Secret::new("http://x");
        let problems = settings.validate().join("\n");
        assert!(problems.contains("worker.prefetch"), "{problems}");
        assert!(problems.contains("amqp.retry_tiers[1]"), "{problems}");
        assert!(problems.contains("amqp.url"), "{problems}");
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
    fn unknown_fields_in_a_file_are_refused_with_their_path() {
        let dir = std::env::temp_dir().join(format!("tributary-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(&file, "[worker]\nconcurency = 3\n").unwrap();
        let error = Settings::load(Some(&file)).unwrap_err().to_string();
        assert!(error.contains("concurency"), "{error}");
    }
}
