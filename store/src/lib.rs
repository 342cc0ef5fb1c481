//! The one crate that holds SQL: migrations, the job ledger, checkpoints with the records they
//! cover, and dead letters.
//!
//! Hot-path writes are batched: ledger updates from many concurrent jobs are grouped into one
//! statement ([`Ledger`]), and a page of records is one statement in the same transaction as its
//! checkpoint advance. This crate knows nothing about AMQP.

mod batcher;
mod dead_letters;
mod error;
mod ledger;
mod pages;
mod stats;

pub use dead_letters::NewDeadLetter;
pub use error::StoreError;
pub use ledger::{BeginJob, FinishJob, JobStart, JobStatus, Ledger, NewJob};
pub use pages::{CommitOutcome, PageCommit, PageCounts, RunState, StreamKey};
pub use stats::{DeadLetterRow, JobStatusCount, RecordCount};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::str::FromStr;

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

/// Arbitrary key for the migration advisory lock, so concurrent start-ups migrate once.
const MIGRATION_LOCK_KEY: i64 = 0x7472_6962_7574_6172; // "tributar"

impl Store {
    /// A pool of at most `max_connections` to `url` (a `postgres://` URL or key=value string).
    /// Connections are opened lazily; call [`Store::ping`] to fail fast.
    pub fn connect(url: &str, max_connections: usize) -> Result<Self, StoreError> {
        let config = tokio_postgres::Config::from_str(url).map_err(|error| StoreError::Config {
            message: format!("database.url is not a valid PostgreSQL URL: {error}"),
        })?;
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
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
