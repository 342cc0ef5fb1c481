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
//! [`Cursor`]: tributary_connector::Cursor
//! [`RateLimitHint`]: tributary_connector::RateLimitHint
//! [`ConnectorError`]: tributary_connector::ConnectorError

mod connector;
mod response;
mod settings;

pub use connector::{build, DemoConnector};
pub use settings::{DemoSettings, DEFAULT_PAGE_SIZE, DEFAULT_TIMEOUT, MAX_PAGE_SIZE, MAX_TIMEOUT};

/// The connector kind, as used in jobs, configuration and queue names.
pub const KIND: &str = "demo";

/// The registry entry of the demo connector.
pub fn spec() -> tributary_connector::ConnectorSpec {
    tributary_connector::ConnectorSpec {
        kind: KIND,
        description:
            "Orders, customers and products from the bundled demo shop (offline demo and tests).",
        build,
    }
}
