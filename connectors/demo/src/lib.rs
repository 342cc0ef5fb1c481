//! The `demo` connector: pulls orders, customers and products from the demo shop
//! (`tributary-demo-shop`) over HTTP, one cursor page at a time.
//!
//! It maps the shop's API onto the connector contract: `window.from`/`window.to` become
//! `updated_since`/`updated_before`, the shop's opaque `next_cursor` becomes the [`Cursor`]
//! (versioned and loop-checked by `tributary-connector-http`'s token paginator), the
//! `X-RateLimit-*` headers become a [`RateLimitHint`], and every failure is classified into a
//! [`ConnectorError`] the runtime can act on. Everything generic about HTTP (statuses,
//! `Retry-After`, timeouts, bodies that do not parse, redaction) is the shared HTTP crate's;
//! this crate holds only what is specific to the shop. It knows nothing about queues or
//! databases.
//!
//! It is written against the typed SDK ([`tributary_connector::typed::TypedConnector`]): the
//! settings are [`DemoSettings`], checked against their JSON Schema (every bad field reported
//! with its path), and the cursor is the token paginator's, wrapped by the typed layer.
//!
//! [`Cursor`]: tributary_connector::Cursor
//! [`RateLimitHint`]: tributary_connector::RateLimitHint
//! [`ConnectorError`]: tributary_connector::ConnectorError

mod connector;
mod response;
mod settings;

pub use connector::DemoConnector;
pub use settings::{DemoSettings, DEFAULT_PAGE_SIZE, DEFAULT_TIMEOUT, MAX_PAGE_SIZE, MAX_TIMEOUT};

use std::sync::Arc;
use tributary_connector::{ConfigError, Connector, ConnectorSpec};

/// The connector kind, as used in jobs, configuration and queue names.
pub const KIND: &str = "demo";

/// The registry entry of the demo connector (typed settings, see [`DemoSettings`]).
pub fn spec() -> ConnectorSpec {
    tributary_connector::typed::spec::<DemoConnector>()
}

/// The JSON Schema of the settings (for docs, UIs and `check-config`).
pub fn settings_schema() -> serde_json::Value {
    tributary_connector::typed::settings_schema::<DemoConnector>()
}

/// Builds a demo connector from JSON settings, as the registry does: every bad field is
/// reported with its path.
pub fn build(settings: &serde_json::Value) -> Result<Arc<dyn Connector>, ConfigError> {
    (spec().build)(settings)
}
