//! The `woocommerce` connector: pulls orders, products and customers from a store's
//! WooCommerce REST API v3 (`GET {base_url}/wp-json/wc/v3/{stream}`), one page at a time.
//!
//! It maps the API onto the connector contract:
//!
//! * **Authentication**: HTTP Basic with the consumer key and secret (WooCommerce accepts it
//!   over HTTPS only, so the settings refuse plain http except for loopback hosts). The
//!   credentials never appear in `Debug` output or error messages.
//! * **Windows**: orders and products are listed with `dates_are_gmt=true`,
//!   `modified_after`/`modified_before`, `orderby=modified&order=asc`; the customers endpoint
//!   supports none of these, so customers are listed by id and filtered here by
//!   `date_modified_gmt`. An open window end is closed when the first page is requested.
//! * **Pagination**: `page` + `per_page`, ending at a short or empty page or at
//!   `X-WP-TotalPages`. Orders and products restart each page at the modification second of the
//!   last record served, so that a record modified during the run cannot shift an unread
//!   record onto a page already served. The [`Cursor`] format is documented in `cursor.rs`:
//!   the typed layer's `t1:` and the position as JSON (stream, window, keyset second, page,
//!   ids seen at that second).
//! * **Records**: `external_id` is the numeric `id` as a string, `updated_at` is
//!   `date_modified_gmt` (a customer that never changed: `date_created_gmt`), `data` the object.
//! * **Errors**: WordPress error bodies (`{"code", "message", "data": {"status"}}`) are quoted
//!   in messages; 401/403 are auth, 429 rate limited (with `Retry-After`), 5xx and network
//!   failures transient, 400/404 permanent; an HTML page (maintenance mode, served with 200)
//!   or any non-JSON body is malformed.
//!
//! It is written against the typed SDK ([`tributary_connector::typed::TypedConnector`]): the
//! settings are [`WooSettings`], checked against their JSON Schema (every bad field reported
//! with its path) and then for what the schema cannot say.
//!
//! With the `mock` feature, [`mock`] is a local stand-in for a WooCommerce store that other
//! crates' tests can start. This crate knows nothing about queues or databases.
//!
//! [`Cursor`]: tributary_connector::Cursor

mod connector;
mod cursor;
#[cfg(feature = "mock")]
pub mod mock;
mod response;
mod settings;
mod stream;

pub use connector::WooConnector;
pub use settings::{
    Credential, WooSettings, DEFAULT_PER_PAGE, DEFAULT_TIMEOUT, MAX_PER_PAGE, MAX_TIMEOUT,
};
pub use stream::{UnknownStream, WooStream};

use std::sync::Arc;
use tributary_connector::{ConfigError, Connector, ConnectorSpec};

/// The connector kind, as used in jobs, configuration and queue names.
pub const KIND: &str = "woocommerce";

/// The registry entry of the woocommerce connector (typed settings, see [`WooSettings`]).
pub fn spec() -> ConnectorSpec {
    tributary_connector::typed::spec::<WooConnector>()
}

/// The JSON Schema of the settings (for docs, UIs and `check-config`).
pub fn settings_schema() -> serde_json::Value {
    tributary_connector::typed::settings_schema::<WooConnector>()
}

/// Builds a woocommerce connector from JSON settings, as the registry does: every bad field is
/// reported with its path, and no message repeats a credential.
pub fn build(settings: &serde_json::Value) -> Result<Arc<dyn Connector>, ConfigError> {
    (spec().build)(settings)
}
