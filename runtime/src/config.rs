//! The settings sections every Tributary process reads the same way: `amqp`, `database` and
//! `log`, the `Secret` type that keeps passwords out of logs, and the layering (defaults, then
//! an optional TOML file, then `TRIBUTARY_` environment variables with `__` between levels).
//! Each process owns its settings struct and adds its own sections; the shared ones are spelled
//! once here, so the worker and queue-admin cannot drift apart on what `amqp.url` means.
//!
//! Knows no connector and no process-specific section (`worker`, `sources`, `http`, ...).

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tributary_broker::{Nodes, Topology};
use tributary_connector::ConnectorKind;

/// A secret setting (a URL with a password, a token). Its `Debug` never shows it, and it has no
/// `Display`.
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

/// Settings that cannot work: every problem found, each naming its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {}", .problems.join("; "))]
pub struct InvalidSettings {
    /// One line per problem, starting with the field's path (`amqp.retry_tiers[1]: ...`).
    pub problems: Vec<String>,
}

/// Every top-level section any Tributary process reads. One file may hold them all (each process
/// takes its own); a section outside this list is a typo and refused.
pub const ALL_SECTIONS: [&str; 8] = [
    "admin",
    "amqp",
    "database",
    "http",
    "log",
    "scheduler",
    "sources",
    "worker",
];

/// Defaults, then `file` if given (only its `sections`), then the `TRIBUTARY_*` environment
/// restricted to `sections`.
///
/// Environment variables outside `sections` (such as the dev script's `TRIBUTARY_DEV_*`, or
/// another process's sections) belong to other programs and are not ours to refuse; everything
/// inside them is checked by the caller's `deny_unknown_fields`, so a typo is an error. The same
/// holds for the file's sections, except that a section no process knows is refused.
pub fn layered(defaults: impl Serialize, file: Option<&Path>, sections: &[&str]) -> Figment {
    let mut figment = Figment::from(Serialized::defaults(defaults));
    let sections: Vec<String> = sections
        .iter()
        .map(|section| (*section).to_owned())
        .collect();
    if let Some(file) = file {
        figment = figment.merge(OnlySections {
            file: Toml::file_exact(file),
            sections: sections.clone(),
        });
    }
    figment.merge(Env::prefixed("TRIBUTARY_").split("__").filter(move |key| {
        // The key is not lowercased yet at this point.
        let section = key.as_str().split('.').next().unwrap_or("");
        sections
            .iter()
            .any(|known| known.eq_ignore_ascii_case(section))
    }))
}

/// A TOML file seen through a filter: only the caller's sections, and an error for a section
/// that no Tributary process reads.
struct OnlySections {
    file: figment::providers::Data<Toml>,
    sections: Vec<String>,
}

impl figment::Provider for OnlySections {
    fn metadata(&self) -> figment::Metadata {
        self.file.metadata()
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut data = self.file.data()?;
        for dict in data.values_mut() {
            if let Some(unknown) = dict
                .keys()
                .find(|key| !ALL_SECTIONS.contains(&key.as_str()))
            {
                return Err(figment::Error::from(format!(
                    "unknown section [{unknown}]; the sections are {}",
                    ALL_SECTIONS.join(", ")
                )));
            }
            dict.retain(|key, _| self.sections.iter().any(|section| section == key));
        }
        Ok(data)
    }
}

/// The broker's node URLs: one per node of a cluster, or a single one. Written either as a TOML
/// list (`url = ["amqp://…@mq1:5672/%2f", "amqp://…@mq2:5672/%2f"]`) or as one string with the
/// URLs separated by commas (`TRIBUTARY_AMQP__URL=amqp://…@mq1,amqp://…@mq2`, like Celery's
/// failover list; a comma inside a password is then written `%2C`). Every URL holds a password:
/// `Debug` shows none of them and there is no `Display`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpUrls(Vec<Secret>);

impl AmqpUrls {
    /// One node.
    pub fn one(url: impl Into<String>) -> Self {
        Self(vec![Secret::new(url)])
    }

    /// Several nodes, in order.
    pub fn new<S: Into<String>>(urls: impl IntoIterator<Item = S>) -> Self {
        Self(urls.into_iter().map(Secret::new).collect())
    }

    /// URLs separated by commas, read as `TRIBUTARY_AMQP__URL` is.
    pub fn joined(urls: &str) -> Self {
        Self::new(urls.split(','))
    }

    /// Each node's URL, in order.
    pub fn entries(&self) -> &[Secret] {
        &self.0
    }

    /// The URLs joined with commas, as `TRIBUTARY_AMQP__URL` takes them. A secret: pass it on
    /// (to a child process's environment), never log it.
    pub fn expose_joined(&self) -> String {
        self.0
            .iter()
            .map(Secret::expose)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Serialize for AmqpUrls {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for AmqpUrls {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            /// One string: a URL, or several separated by commas.
            Joined(String),
            /// A list: one URL per entry (not split further).
            List(Vec<String>),
        }
        // The message must not quote the value: it holds passwords.
        match Written::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "expected an AMQP URL, several separated by commas, or a list of URLs",
            )
        })? {
            Written::Joined(joined) => Ok(Self::joined(&joined)),
            Written::List(list) => Ok(Self::new(list)),
        }
    }
}

/// The RabbitMQ broker and the topology on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpSettings {
    /// The broker's nodes: one `amqp://` or `amqps://` URL (TLS with `amqps`) per node of the
    /// cluster, as a list or comma-separated (see [`AmqpUrls`]). Connections try the nodes in
    /// turn from a rotating start, so a fleet spreads over the cluster and fails over when a
    /// node goes away. Hold passwords: never logged.
    pub url: AmqpUrls,
    /// How long one node may take to accept a connection and finish the AMQP handshake before
    /// the next node is tried, e.g. `"10s"`: a node that is down or cut off cannot hang a
    /// (re)connect.
    pub connect_timeout: String,
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
            url: AmqpUrls::one("amqp://127.0.0.1:5672/%2f"),
            connect_timeout: "10s".into(),
            prefix: "tributary".into(),
            delivery_limit: 20,
            retry_tiers: ["5s", "30s", "2m", "10m", "1h"].map(String::from).to_vec(),
            management_url: None,
            management_user: None,
            management_password: None,
        }
    }
}

impl AmqpSettings {
    /// Checks what serde cannot. Returns every problem, each naming its field under `amqp.`.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.topology_problems();
        if let Err(node_problems) = self.parse_nodes() {
            problems.extend(node_problems);
        }
        problems
    }

    /// `url` and `connect_timeout`, parsed once: the nodes, or every problem with either, each
    /// naming its field (`amqp.url[i]` when there are several URLs).
    fn parse_nodes(&self) -> Result<Nodes, Vec<String>> {
        let nodes = Nodes::parse(self.url.entries().iter().map(Secret::expose));
        let timeout = parse_duration(&self.connect_timeout);
        match (nodes, timeout) {
            (Ok(nodes), Ok(timeout)) => Ok(nodes.with_connect_timeout(timeout)),
            (nodes, timeout) => {
                let single = self.url.entries().len() <= 1;
                let mut problems: Vec<String> = nodes
                    .err()
                    .into_iter()
                    .flat_map(|error| error.problems)
                    .map(|problem| {
                        if single {
                            format!("amqp.url: {}", problem.problem)
                        } else {
                            format!("amqp.url[{}]: {}", problem.index, problem.problem)
                        }
                    })
                    .collect();
                if let Err(error) = timeout {
                    problems.push(format!("amqp.connect_timeout: {error}"));
                }
                Err(problems)
            }
        }
    }

    /// The broker's nodes with the configured connect timeout, for
    /// [`tributary_broker::connect`] and [`tributary_broker::Publisher`]. Refuses what
    /// [`AmqpSettings::problems`] refuses about `url` and `connect_timeout`.
    pub fn nodes(&self) -> Result<Nodes, InvalidSettings> {
        self.parse_nodes()
            .map_err(|problems| InvalidSettings { problems })
    }

    /// The problems that would make [`AmqpSettings::topology`] wrong (the URL plays no part).
    fn topology_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.retry_tiers.is_empty() {
            problems.push("amqp.retry_tiers: at least one tier is required".to_owned());
        }
        for (index, tier) in self.retry_tiers.iter().enumerate() {
            if let Err(error) = parse_duration(tier) {
                problems.push(format!("amqp.retry_tiers[{index}]: {error}"));
            }
        }
        if self.delivery_limit == 0 {
            problems.push("amqp.delivery_limit: must be at least 1".to_owned());
        }
        problems
    }

    /// The retry tier delays that parse (call after [`AmqpSettings::problems`] came back
    /// empty, or use [`AmqpSettings::topology`], which checks).
    pub fn retry_delays(&self) -> Vec<Duration> {
        self.retry_tiers
            .iter()
            .filter_map(|tier| parse_duration(tier).ok())
            .collect()
    }

    /// The broker topology these settings describe, with a work queue for each of
    /// `connectors`. Every process builds it here, so they agree on every name and argument.
    pub fn topology(&self, connectors: Vec<ConnectorKind>) -> Result<Topology, InvalidSettings> {
        let problems = self.topology_problems();
        if !problems.is_empty() {
            return Err(InvalidSettings { problems });
        }
        Ok(Topology::new(
            self.prefix.clone(),
            connectors,
            &self.retry_delays(),
            self.delivery_limit,
        ))
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
    pub ca_file: Option<PathBuf>,
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

    /// Checks what serde cannot. Returns every problem, each naming its field under
    /// `database.`.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let url = self.url.expose();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            problems.push("database.url: must start with postgres:// or postgresql://".to_owned());
        }
        if self.max_connections == 0 {
            problems.push("database.max_connections: must be at least 1".to_owned());
        }
        problems
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
        let database = DatabaseSettings {
            url: Secret::new("postgres://u:hunter2@db/x"),
            ..DatabaseSettings::default()
        };
        let amqp = AmqpSettings {
            url: AmqpUrls::new(["amqp://u:hunter3@mq/x", "amqp://u:hunter5@mq2/x"]),
            management_password: Some(Secret::new("hunter4")),
            ..AmqpSettings::default()
        };
        let debug = format!("{database:?} {amqp:?}");
        for secret in ["hunter2", "hunter3", "hunter4", "hunter5"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("Secret(***)"));
    }

    #[test]
    fn the_defaults_have_no_problems() {
        assert_eq!(AmqpSettings::default().problems(), Vec::<String>::new());
        assert_eq!(DatabaseSettings::default().problems(), Vec::<String>::new());
    }

    #[test]
    fn problems_name_each_bad_field() {
        let amqp = AmqpSettings {
            url: AmqpUrls::one("http://x"),
            retry_tiers: vec!["5s".into(), "soon".into()],
            delivery_limit: 0,
            ..AmqpSettings::default()
        };
        let problems = amqp.problems().join("\n");
        assert!(problems.contains("amqp.url"), "{problems}");
        assert!(problems.contains("amqp.retry_tiers[1]"), "{problems}");
        assert!(problems.contains("amqp.delivery_limit"), "{problems}");
        assert!(!problems.contains("http://x"), "{problems}");

        let database = DatabaseSettings {
            url: Secret::new("mysql://u:hunter2@db/x"),
            max_connections: 0,
            ..DatabaseSettings::default()
        };
        let problems = database.problems().join("\n");
        assert!(problems.contains("database.url"), "{problems}");
        assert!(problems.contains("database.max_connections"), "{problems}");
        assert!(!problems.contains("hunter2"), "{problems}");
    }

    #[test]
    fn the_topology_follows_the_settings_and_refuses_missing_tiers() {
        let amqp = AmqpSettings {
            prefix: "p".into(),
            retry_tiers: vec!["30s".into(), "5s".into()],
            delivery_limit: 7,
            ..AmqpSettings::default()
        };
        let demo = ConnectorKind::new("demo").unwrap();
        let topology = amqp.topology(vec![demo.clone()]).unwrap();
        assert_eq!(topology.prefix(), "p");
        assert_eq!(topology.connectors(), std::slice::from_ref(&demo));
        assert_eq!(topology.delivery_limit(), 7);
        let tiers: Vec<Duration> = topology.tiers().iter().map(|tier| tier.delay).collect();
        assert_eq!(tiers, [Duration::from_secs(5), Duration::from_secs(30)]);

        let no_tiers = AmqpSettings {
            retry_tiers: Vec::new(),
            ..AmqpSettings::default()
        };
        let error = no_tiers.topology(vec![demo]).unwrap_err();
        assert_eq!(
            error.problems,
            ["amqp.retry_tiers: at least one tier is required"]
        );
    }

    #[derive(Debug, Deserialize)]
    struct OnlyAmqp {
        amqp: AmqpSettings,
    }

    #[derive(Debug, Serialize, Default)]
    struct OnlyAmqpDefaults {
        amqp: AmqpSettings,
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn several_nodes_come_as_a_toml_list_or_a_comma_separated_variable() {
        figment::Jail::expect_with(|jail| {
            // `ops/dev env` exports the dev broker's URL; this test sets its own.
            jail.clear_env();
            jail.create_file(
                "list.toml",
                "[amqp]\nurl = [\"amqp://u:p@mq1:5672/%2f\", \"amqp://u:p@mq2:5672/%2f\"]\n\
                 connect_timeout = \"3s\"\n",
            )?;
            let from_file: OnlyAmqp = layered(
                OnlyAmqpDefaults::default(),
                Some(Path::new("list.toml")),
                &["amqp"],
            )
            .extract()?;
            let nodes = from_file.amqp.nodes().expect("valid nodes");
            assert_eq!(nodes.addresses(), ["mq1:5672", "mq2:5672"]);
            assert_eq!(nodes.connect_timeout(), Duration::from_secs(3));

            jail.set_env(
                "TRIBUTARY_AMQP__URL",
                "amqp://u:p@mq1:5672/%2f,amqp://u:p@mq2:5672/%2f,amqp://u:p@mq3:5672/%2f",
            );
            let from_env: OnlyAmqp = layered(
                OnlyAmqpDefaults::default(),
                Some(Path::new("list.toml")),
                &["amqp"],
            )
            .extract()?;
            assert_eq!(
                from_env.amqp.nodes().expect("valid nodes").addresses(),
                ["mq1:5672", "mq2:5672", "mq3:5672"],
                "the variable overrides the file's list"
            );
            assert_eq!(
                AmqpUrls::joined(&from_env.amqp.url.expose_joined()),
                from_env.amqp.url,
                "joined and split again, the list is the same"
            );

            jail.set_env("TRIBUTARY_AMQP__URL", "amqp://127.0.0.1:5672/%2f");
            let single: OnlyAmqp =
                layered(OnlyAmqpDefaults::default(), None, &["amqp"]).extract()?;
            assert_eq!(single.amqp.url.entries().len(), 1);
            Ok(())
        });
    }

    #[test]
    fn every_bad_node_and_the_connect_timeout_are_named() {
        let amqp = AmqpSettings {
            url: AmqpUrls::joined(
                "amqp://u:hunter2@mq1:5672/%2f,,http://u:hunter2@mq2/%2f,amqp://u:hunter2@mq1:5672/%2f",
            ),
            connect_timeout: "soon".into(),
            ..AmqpSettings::default()
        };
        let problems = amqp.problems();
        let fields: Vec<&str> = problems
            .iter()
            .map(|problem| problem.split_once(": ").unwrap().0)
            .collect();
        assert_eq!(
            fields,
            [
                "amqp.url[1]",
                "amqp.url[2]",
                "amqp.url[3]",
                "amqp.connect_timeout"
            ],
            "{problems:?}"
        );
        assert!(!problems.join("\n").contains("hunter2"), "{problems:?}");
        let refused = amqp.nodes().unwrap_err();
        assert_eq!(
            refused.problems, problems,
            "nodes() refuses with the same problems"
        );

        let one_bad = AmqpSettings {
            url: AmqpUrls::one("amqp:/mq"),
            ..AmqpSettings::default()
        };
        assert_eq!(
            one_bad.problems(),
            ["amqp.url: must start with amqp:// or amqps:// (a comma inside a password must be written %2C)"]
        );
    }

    #[test]
    // `Jail::expect_with` fixes the closure's error type to `figment::Error`.
    #[allow(clippy::result_large_err)]
    fn layering_takes_only_the_named_sections_from_the_environment() {
        #[derive(Debug, Default, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        struct Shared {
            amqp: AmqpSettings,
            database: DatabaseSettings,
            log: LogSettings,
        }
        figment::Jail::expect_with(|jail| {
            jail.set_env("TRIBUTARY_AMQP__PREFIX", "from-env");
            jail.set_env("TRIBUTARY_LOG__FORMAT", "json");
            // Another process's section, and the dev script's variables: not ours.
            jail.set_env("TRIBUTARY_WORKER__CONCURRENCY", "7");
            jail.set_env("TRIBUTARY_DEV_BROKER_PROMETHEUS_URL", "http://x");
            jail.create_file("shared.toml", "[database]\nmax_connections = 3\n")?;
            let shared: Shared = layered(
                Shared::default(),
                Some(Path::new("shared.toml")),
                &["amqp", "database", "log"],
            )
            .extract()?;
            assert_eq!(shared.amqp.prefix, "from-env");
            assert_eq!(shared.log.format, LogFormat::Json);
            assert_eq!(shared.database.max_connections, 3);

            jail.set_env("TRIBUTARY_AMQP__PERFIX", "typo");
            let error = layered(Shared::default(), None, &["amqp", "database", "log"])
                .extract::<Shared>()
                .unwrap_err()
                .to_string();
            assert!(error.contains("perfix"), "{error}");
            Ok(())
        });
    }
}
