//! Store errors: what failed, while doing what. Cloneable so one batch failure reaches every
//! caller in the batch.

use std::sync::Arc;

/// A store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error (or the connection broke) during an operation.
    #[error("database error while {context}: {source}")]
    Database {
        /// What we were doing.
        context: &'static str,
        /// What the database said.
        #[source]
        source: Arc<tokio_postgres::Error>,
    },
    /// No connection could be had from the pool.
    #[error("cannot get a database connection: {message}")]
    Pool {
        /// Why.
        message: String,
    },
    /// Bad settings.
    #[error("{message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// A migration failed.
    #[error("migration failed: {message}")]
    Migration {
        /// Why.
        message: String,
    },
    /// The batching task is gone (the process is shutting down).
    #[error("the ledger writer has stopped")]
    Stopped,
}

impl StoreError {
    pub(crate) fn db(context: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
        move |source| StoreError::Database {
            context,
            source: Arc::new(source),
        }
    }

    pub(crate) fn from_pool(error: deadpool_postgres::PoolError) -> StoreError {
        // The pool's own message hides the cause ("error connecting to server"); spell out the
        // whole chain so an operator sees "connection refused" or "password authentication".
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        StoreError::Pool { message }
    }
}
