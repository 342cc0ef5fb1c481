//! The connector contract: what a Tributary source implements, and nothing about how it is run.
//!
//! A connector pulls **one page** of records from an opaque cursor and returns the records, the
//! next cursor and any rate-limit hints the source gave. The runtime (the worker) owns the page
//! loop, transactions, retries and timing. This crate must not know about RabbitMQ or PostgreSQL:
//! a connector author depends on it alone.

mod error;
mod ids;
mod page;
mod registry;
mod schema;
pub mod typed;

pub use async_trait::async_trait;
pub use error::{ConnectorError, ErrorClass};
pub use ids::{ConnectorKind, IdError, JobId, SourceId, StreamName, TenantId};
pub use page::{Cursor, Page, PullRequest, RateLimitHint, Record, Window};
pub use registry::{ConfigError, ConnectorFactory, ConnectorSpec, Registry, RegistryError};
pub use schema::problems as schema_problems;
pub use schemars;

/// One stream a connector can pull (for example `orders`), as listed by [`Connector::streams`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// The stream's name, as used in jobs and in the `records.stream` column.
    pub name: StreamName,
    /// One line for humans: what a record of this stream is.
    pub description: String,
}

/// The request budget a source allows, held fleet-wide by the runtime: N workers together
/// send at most `requests_per_second`, with bursts of at most `burst` requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatePolicy {
    /// Sustained requests per second.
    pub requests_per_second: f64,
    /// Requests that may be sent back to back after an idle period.
    pub burst: u32,
}

impl Default for RatePolicy {
    /// A conservative default for sources that do not say: 5 requests/s, bursts of 5.
    fn default() -> Self {
        Self {
            requests_per_second: 5.0,
            burst: 5,
        }
    }
}

/// A configured source of records. Object-safe: the worker holds `Arc<dyn Connector>`.
///
/// Implementations must be cheap to share across tasks; the runtime calls `pull` concurrently
/// for different (tenant, stream) pairs, never for the same one.
#[async_trait]
pub trait Connector: Send + Sync + std::fmt::Debug + 'static {
    /// The kind this connector was built as (for example `demo`).
    fn kind(&self) -> &ConnectorKind;

    /// The streams this connector can pull.
    fn streams(&self) -> Vec<StreamInfo>;

    /// Verifies that the source is reachable and the configuration is accepted.
    async fn check(&self, tenant: &TenantId) -> Result<(), ConnectorError>;

    /// How fast this source may be called, per (tenant, source credential), across the
    /// whole fleet. Operators can override it per source in the worker's settings.
    fn rate_policy(&self) -> RatePolicy {
        RatePolicy::default()
    }

    /// Pulls one page. `request.cursor == None` means "from the start of the window".
    ///
    /// Returning `next_cursor == None` means the window is exhausted.
    async fn pull(&self, request: PullRequest<'_>) -> Result<Page, ConnectorError>;
}
