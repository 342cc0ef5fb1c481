//! queue-admin configuration: the same layered file and `TRIBUTARY_` environment as the worker
//! (`[amqp]`, `[database]`, `[log]` are shared sections), plus its own `[admin]` section. Every
//! field is documented here; unknown fields are refused.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;
use tributary_runtime::{AmqpSettings, DatabaseSettings, LogSettings};

/// Everything queue-admin can be told.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The admin service itself.
    pub admin: AdminSettings,
    /// The RabbitMQ broker (replays are published to its work exchange; the management API
    /// feeds the queue overview).
    pub amqp: AmqpSettings,
    /// The PostgreSQL database.
    pub database: DatabaseSettings,
    /// Logging.
    pub log: LogSettings,
}

/// The admin service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    /// Where the web UI and the JSON API listen. Put TLS in front (a reverse proxy) whenever
    /// this is not loopback.
    pub listen: SocketAddr,
    /// Where `/livez`, `/readyz` and `/metrics` listen (unauthenticated, so keep it internal).
    pub ops_listen: SocketAddr,
    /// Mark session cookies `Secure` (sent over HTTPS only). Turn off only for plain-HTTP
    /// loopback development.
    pub cookie_secure: bool,
    /// Hours a browser session lasts without activity.
    pub session_hours: u64,
    /// Failed logins allowed per minute, per user name and per client address.
    pub login_attempts_per_minute: u32,
    /// Replayed jobs published per second at most (a big replay must not flood a source).
    pub replay_per_second: u32,
    /// A letter whose job is this many replays deep is flagged as looping and is not replayed
    /// again unless forced.
    pub replay_loop_limit: i32,
    /// Seconds between refreshes of the dead-letter and queue gauges on `/metrics`.
    pub metrics_refresh_seconds: u64,
    /// Also drain the broker's dead queue into the `dead_letters` table (workers do it too;
    /// each letter is stored once).
    pub archive_dead_letters: bool,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            ops_listen: SocketAddr::from(([127, 0, 0, 1], 9190)),
            cookie_secure: true,
            session_hours: 12,
            login_attempts_per_minute: 5,
            replay_per_second: 200,
            replay_loop_limit: 3,
            metrics_refresh_seconds: 15,
            archive_dead_letters: true,
        }
    }
}

/// The sections this process reads; other processes' sections in a shared file and their
/// variables (`TRIBUTARY_WORKER__*`, ...) are skipped.
const SECTIONS: [&str; 4] = ["admin", "amqp", "database", "log"];

impl Settings {
    /// Defaults, then `file` (if given; it may be shared with the worker), then `TRIBUTARY_*`
    /// environment variables.
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
        if self.admin.session_hours == 0 {
            problems.push("admin.session_hours: must be at least 1".to_owned());
        }
        if self.admin.login_attempts_per_minute == 0 {
            problems.push("admin.login_attempts_per_minute: must be at least 1".to_owned());
        }
        if self.admin.replay_per_second == 0 {
            problems.push("admin.replay_per_second: must be at least 1".to_owned());
        }
        if self.admin.replay_loop_limit < 1 {
            problems.push("admin.replay_loop_limit: must be at least 1".to_owned());
        }
        if self.admin.metrics_refresh_seconds == 0 {
            problems.push("admin.metrics_refresh_seconds: must be at least 1".to_owned());
        }
        if !self.admin.cookie_secure && !self.admin.listen.ip().is_loopback() {
            problems.push(format!(
                "admin.cookie_secure: must be true when listening on {} (not loopback): \
                 session cookies would travel in clear",
                self.admin.listen
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    // `Jail::expect_with` fixes the closure's error type to `figment::Error`.
    #[allow(clippy::result_large_err)]
    fn a_file_shared_with_the_worker_loads_and_admin_typos_are_refused() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "tributary.toml",
                r#"
                [worker]
                concurrency = 4
                [sources.shop]
                connector = "demo"
                [admin]
                listen = "127.0.0.1:8181"
                replay_per_second = 50
                [amqp]
                prefix = "prod"
                "#,
            )?;
            jail.set_env("TRIBUTARY_ADMIN__REPLAY_LOOP_LIMIT", "5");
            jail.set_env("TRIBUTARY_WORKER__CONCURRENCY", "9");
            let settings = Settings::load(Some(Path::new("tributary.toml"))).unwrap();
            assert_eq!(settings.admin.listen.port(), 8181);
            assert_eq!(settings.admin.replay_per_second, 50);
            assert_eq!(settings.admin.replay_loop_limit, 5);
            assert_eq!(settings.amqp.prefix, "prod");

            jail.create_file("typo.toml", "[admin]\nreplay_per_secnd = 5\n")?;
            let error = Settings::load(Some(Path::new("typo.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("replay_per_secnd"), "{error}");

            jail.create_file("section.toml", "[admn]\nlisten = \"127.0.0.1:1\"\n")?;
            let error = Settings::load(Some(Path::new("section.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("unknown section [admn]"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn insecure_cookies_are_refused_off_loopback() {
        let mut settings = Settings::default();
        assert!(settings.validate().is_empty(), "{:?}", settings.validate());
        settings.admin.cookie_secure = false;
        assert!(settings.validate().is_empty());
        settings.admin.listen = "0.0.0.0:8080".parse().unwrap();
        let problems = settings.validate();
        assert!(
            problems[0].starts_with("admin.cookie_secure: must be true"),
            "{problems:?}"
        );
    }
}
