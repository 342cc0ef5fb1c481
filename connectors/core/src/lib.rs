//! The connector contract: what a Tributary source implements, and nothing about how it is run.
//!
//! A connector pulls **one page** of records from an opaque cursor and returns the records, the
//! next cursor and any rate-limit hints the source gave. The runtime (the worker) owns the page
//! loop, transactions, retries and timing. This crate must not know about RabbitMQ or PostgreSQL:
//! a connector author depends on it alone.

mod error;
mod ids;
mod page;
pub mod reconcile;
mod registry;
mod schema;
pub mod typed;

pub use async_trait::async_trait;
pub use error::{ConnectorError, ErrorClass};
pub use ids::{ConnectorKind, IdError, JobId, SourceId, StreamName, TenantId};
pub use page::{Cursor, Page, PullRequest, RateLimitHint, Record, Window};
pub use reconcile::{
    CreatedWindow, FetchedRecords, ManifestEntry, ManifestPage, ReconcileSupport, WindowSummary,
};
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

    /// What this connector offers for reconciliation. The default offers nothing: a reconcile
    /// job of this source ends with an `unsupported` report.
    fn reconciliation(&self) -> ReconcileSupport {
        ReconcileSupport::default()
    }

    /// The count (and, with fingerprints, the digest) of `stream`'s records created in
    /// `window`. One cheap request.
    async fn window_summary(
        &self,
        _tenant: &TenantId,
        _stream: &StreamName,
        _window: &CreatedWindow,
    ) -> Result<WindowSummary, ConnectorError> {
        Err(unsupported("window counts"))
    }

    /// One page of the manifest of `stream`'s records created in `window`.
    async fn manifest(
        &self,
        _tenant: &TenantId,
        _stream: &StreamName,
        _window: &CreatedWindow,
        _cursor: Option<&Cursor>,
    ) -> Result<ManifestPage, ConnectorError> {
        Err(unsupported("id manifests"))
    }

    /// Most ids [`Connector::fetch_by_ids`] takes in one request.
    fn max_ids_per_fetch(&self) -> usize {
        50
    }

    /// The records of `stream` with these ids (at most [`Connector::max_ids_per_fetch`]), as
    /// `pull` would return them. Ids the source no longer has are left out.
    async fn fetch_by_ids(
        &self,
        _tenant: &TenantId,
        _stream: &StreamName,
        _ids: &[String],
    ) -> Result<FetchedRecords, ConnectorError> {
        Err(unsupported("fetch by id"))
    }

    /// A stored record's fingerprint, computed from its `data` exactly as the source computes
    /// it for manifests and digests; `None` when the connector offers no fingerprints.
    fn fingerprint(&self, _stream: &StreamName, _data: &serde_json::Value) -> Option<String> {
        None
    }
}

/// The error of a reconciliation method a connector does not offer. Permanent: asking again
/// will not help; the worker checks [`Connector::reconciliation`] first and never gets here.
pub(crate) fn unsupported(what: &str) -> ConnectorError {
    ConnectorError::Permanent {
        status: None,
        message: format!("this connector does not offer {what} for reconciliation"),
    }
}
