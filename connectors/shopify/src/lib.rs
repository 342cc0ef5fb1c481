//! The `shopify` connector: pulls orders, products and customers from the Shopify Admin GraphQL
//! API (`POST /admin/api/{version}/graphql.json`), one connection page per pull.
//!
//! It maps the API onto the connector contract: a [`Window`] becomes an `updated_at` search
//! filter with `sortKey: UPDATED_AT`; `pageInfo.endCursor` becomes a versioned [`Cursor`]
//! (`v1:<endCursor>`); the cost-based throttle in `extensions.cost` becomes a
//! [`RateLimitHint`]; and every failure, including the `THROTTLED` and `ACCESS_DENIED` errors
//! Shopify sends with HTTP 200, is classified into a [`ConnectorError`]. It knows nothing about
//! queues or databases.
//!
//! With the `mock` feature (and in this crate's own tests), [`mock`] is a small in-process
//! Shopify: deterministic data, the cost bucket, token check and scripted faults.
//!
//! [`Window`]: tributary_connector::Window
//! [`Cursor`]: tributary_connector::Cursor
//! [`RateLimitHint`]: tributary_connector::RateLimitHint
//! [`ConnectorError`]: tributary_connector::ConnectorError

mod connector;
mod query;
mod response;
mod settings;

#[cfg(any(test, feature = "mock"))]
pub mod mock;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

pub use connector::{build, ShopifyConnector, ACCESS_TOKEN_HEADER};
pub use query::ShopifyStream;
pub use settings::{
    AccessToken, ShopifySettings, DEFAULT_API_VERSION, DEFAULT_PAGE_SIZE, DEFAULT_TIMEOUT,
    MAX_PAGE_SIZE, MAX_TIMEOUT,
};

/// The connector kind, as used in jobs, configuration and queue names.
pub const KIND: &str = "shopify";

/// The registry entry of the Shopify connector.
pub fn spec() -> tributary_connector::ConnectorSpec {
    tributary_connector::ConnectorSpec {
        kind: KIND,
        description: "Orders, products and customers from a shop's Shopify Admin GraphQL API.",
        build,
    }
}
