//! The one crate that holds SQL: migrations, the job ledger, checkpoints with the records they
//! cover, and dead letters.
//!
//! Hot-path writes are batched: ledger updates from many concurrent jobs are grouped into one
//! statement ([`Ledger`]), and a page of records is one statement in the same transaction as its
//! checkpoint advance. This crate knows nothing about AMQP.
//!
//! [`admin`] holds what queue-admin reads and changes (dead-letter browsing and replays, users,
//! tokens, the audit log). `schedules` holds scheduled ingestion: schedules, their slots (the
//! slot key) and the outbox jobs are published from. [`reconcile`] holds reconciliation's store
//! side: records per created-at window, marking records deleted, and the reports.

pub mod admin;
mod batcher;
mod dead_letters;
mod error;
mod ledger;
mod limits;
mod pages;
pub mod reconcile;
mod schedules;
mod stats;

pub use dead_letters::NewDeadLetter;
pub use error::StoreError;
pub use ledger::{BeginJob, FinishJob, JobStart, JobStatus, Ledger, NewJob};
pub use limits::{BreakerGate, BreakerPolicy, BreakerState, SourcePause, ALL_TENANTS};
pub use pages::{CommitOutcome, PageCommit, PageCounts, RunState, StreamKey};
pub use reconcile::{
    Finding, FindingKind, NewReport, RecordWindow, ReportDetail, ReportFilter, ReportPage,
    ReportStatus, ReportSummary, ReportWritten, StoredRecord,
};
pub use schedules::{
    Cadence, ClaimReport, EnqueuedSlot, MissedSlots, OutboxBacklog, OutboxBatch, OutboxFailure,
    OutboxRow, OverlapPolicy, PlannedJob, Schedule, ScheduleEdit, ScheduleError, ScheduleFilter,
    SchedulePause, ScheduleSpec, ScheduleSummary, SlotPlan, SlotPlanner, SlotRecord, SlotTime,
    SlotWithRun, MAX_BACKFILL_WINDOWS, MAX_DUE_SLOTS_PER_CLAIM, MISSED_COUNT_DAYS,
};
pub use stats::{DeadLetterRow, JobStatusCount, RecordCount};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// A connection pool to the Tributary database and the operations on it.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the connection settings: they hold a password.
        f.debug_struct("Store")
            .field("pool_size", &self.pool.status().max_size)
            .finish()
    }
}

/// Opening a connection (TCP, TLS, startup) gives up after this, unless the URL says otherwise
/// (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sent data unacknowledged this long closes the connection (Linux `TCP_USER_TIMEOUT`), unless
/// the URL says otherwise (`tcp_user_timeout`): a query to a server that vanished, or across a
/// link that drops everything, fails instead of waiting for the kernel's ~15 minutes.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// Keepalive probes on an idle-looking connection (waiting for a query's answer) start after
/// this, unless the URL says otherwise (`keepalives_idle`); with `TCP_USER_TIMEOUT`, unanswered
/// probes end a connection whose server died after taking the query.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);

/// Waiting for a free pooled connection gives up after this (every connection stuck, or the
/// database unreachable): the caller fails with a clear error instead of hanging.
const POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(60);

/// The client-side deadlines the URL did not set itself: the server's `statement_timeout`
/// cannot help when the server, or the path to it, is gone.
fn with_network_deadlines(config: &mut tokio_postgres::Config) {
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
    if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
        // tokio-postgres's default: two hours, the kernel's, far too long to notice anything.
        config.keepalives_idle(KEEPALIVE_IDLE);
    }
}

/// Arbitrary key for the migration advisory lock, so concurrent start-ups migrate once.
const MIGRATION_LOCK_KEY: i64 = 0x7472_6962_7574_6172; // "tributar"

impl Store {
    /// A pool of at most `max_connections` to `url` (a `postgres://` URL or key=value string).
    /// Connections are opened lazily; call [`Store::ping`] to fail fast.
    ///
    /// TLS follows the URL's `sslmode` (`disable`, `prefer` — the default —, `require`);
    /// certificates are verified against the system roots.
    pub fn connect(url: &str, max_connections: usize) -> Result<Self, StoreError> {
        Self::connect_with_ca(url, max_connections, None)
    }

    /// As [`Store::connect`], also trusting the PEM certificates in `ca_file` (a private CA).
    pub fn connect_with_ca(
        url: &str,
        max_connections: usize,
        ca_file: Option<&Path>,
    ) -> Result<Self, StoreError> {
        let mut config =
            tokio_postgres::Config::from_str(url).map_err(|error| StoreError::Config {
                message: format!("database.url is not a valid PostgreSQL URL: {error}"),
            })?;
        with_network_deadlines(&mut config);
        // tokio-postgres bounds only the TCP connect; the pool bounds the whole opening (TLS,
        // startup, authentication) so a server that accepts and never answers cannot hang it.
        let open_timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(CONNECT_TIMEOUT)
            + Duration::from_secs(5);
        let manager = Manager::from_config(
            config,
            tls_connector(ca_file)?,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT_TIMEOUT))
            .create_timeout(Some(open_timeout))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|error| StoreError::Config {
                message: format!("cannot build the connection pool: {error}"),
            })?;
        Ok(Self { pool })
    }

    /// The underlying pool (tests and benchmarks use it for ad-hoc queries).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(StoreError::from_pool)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(StoreError::db("pinging the database"))?;
        Ok(())
    }

    /// Applies pending migrations under an advisory lock; returns the names applied.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let mut client = self.client().await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
            .await
            .map_err(StoreError::db("taking the migration lock"))?;
        let client_ref: &mut tokio_postgres::Client = &mut client;
        let result = embedded::migrations::runner()
            .run_async(client_ref)
            .await
            .map(|report| {
                report
                    .applied_migrations()
                    .iter()
                    .map(|migration| migration.to_string())
                    .collect()
            })
            .map_err(|error| StoreError::Migration {
                message: error.to_string(),
            });
        let _ = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
            .await;
        result
    }
}

/// A rustls connector trusting the system roots and, if given, the certificates in `ca_file`.
fn tls_connector(
    ca_file: Option<&Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates only shrink the trust store; a private CA can still be
    // given explicitly.
    for certificate in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(certificate);
    }
    if let Some(ca_file) = ca_file {
        let certificates = CertificateDer::pem_file_iter(ca_file)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|error| StoreError::Config {
                message: format!(
                    "database.ca_file: cannot read PEM certificates from {}: {error}",
                    ca_file.display()
                ),
            })?;
        if certificates.is_empty() {
            return Err(StoreError::Config {
                message: format!("database.ca_file: no certificate in {}", ca_file.display()),
            });
        }
        for certificate in certificates {
            roots.add(certificate).map_err(|error| StoreError::Config {
                message: format!("database.ca_file: {error}"),
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| StoreError::Config {
            message: format!("cannot set up TLS: {error}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_deadlines_fill_in_what_the_url_leaves_unset() {
        let mut bare = tokio_postgres::Config::from_str("postgres://u@db/x").unwrap();
        with_network_deadlines(&mut bare);
        assert_eq!(bare.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(bare.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
        assert_eq!(bare.get_keepalives_idle(), KEEPALIVE_IDLE);
        assert!(bare.get_keepalives());

        let mut chosen = tokio_postgres::Config::from_str(
            "postgres://u@db/x?connect_timeout=3&tcp_user_timeout=7&keepalives_idle=20",
        )
        .unwrap();
        with_network_deadlines(&mut chosen);
        assert_eq!(chosen.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(chosen.get_tcp_user_timeout(), Some(&Duration::from_secs(7)));
        assert_eq!(chosen.get_keepalives_idle(), Duration::from_secs(20));
    }

    #[tokio::test]
    async fn an_unreachable_database_fails_within_the_connect_timeout() {
        // A listener that takes the connection and never answers the startup message.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let store = Store::connect(&format!("postgres://u@{addr}/x?connect_timeout=1"), 1).unwrap();
        let started = std::time::Instant::now();
        let error = store.ping().await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10), "{error}");
        drop(listener);
    }

    #[test]
    fn a_missing_ca_file_is_a_precise_config_error() {
        let error = Store::connect_with_ca(
            "postgres://u@127.0.0.1/x?sslmode=require",
            1,
            Some(Path::new("/nonexistent/ca.pem")),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with(
                "database.ca_file: cannot read PEM certificates from /nonexistent/ca.pem"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_bad_url_names_the_setting_without_echoing_it() {
        let error = Store::connect("postgres://u:secret@host:notaport/x", 1)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("database.url is not a valid PostgreSQL URL"),
            "{error}"
        );
        assert!(!error.contains("secret"), "{error}");
    }
}
