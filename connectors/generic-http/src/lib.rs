//! The `http_json` connector: pulls records from a paginated JSON API described entirely by
//! its settings (a URL template, the streams, the pagination style, where the records and
//! their ids are), so a simple source needs no code.
//!
//! It is written against the typed SDK ([`tributary_connector::typed::TypedConnector`]) and
//! builds on `tributary-connector-http` for the client, the paginators and error classes.

mod connector;
mod settings;
mod template;

pub use connector::GenericHttp;
pub use settings::{AuthSettings, GenericHttpSettings, Pagination, RateLimitSettings};

use tributary_connector::ConnectorSpec;

/// The registry entry: one line in `worker/src/connectors.rs` lists it.
pub fn spec() -> ConnectorSpec {
    tributary_connector::typed::spec::<GenericHttp>()
}

/// The JSON Schema of the settings (for docs, UIs and `check-config`).
pub fn settings_schema() -> serde_json::Value {
    tributary_connector::typed::settings_schema::<GenericHttp>()
}
