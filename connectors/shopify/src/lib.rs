//! The `shopify` connector: pulls orders, products and customers from the Shopify Admin GraphQL
//! API (`POST /admin/api/{version}/graphql.json`), one connection page per pull.
//!
//! It maps the API onto the connector contract: a [`Window`] becomes an `updated_at` search
//! filter with `sortKey: UPDATED_AT`; `pageInfo.endCursor` becomes a [`Cursor`] (the typed
//! connector layer stores it versioned, `t1:{"after":"<endCursor>"}`); the cost-based throttle in `extensions.cost` becomes a
//! [`RateLimitHint`]; and every failure, including the `THROTTLED` and `ACCESS_DENIED` errors
//! Shopify sends with HTTP 200, is classified into a [`ConnectorError`]. It knows nothing about
//! queues or databases. Settings are [`ShopifySettings`], checked against their derived JSON
//! Schema by the typed connector layer ([`TypedConnector`]), so every bad field is reported
//! with its path.
//!
//! With the `mock` feature (and in this crate's own tests), [`mock`] is a small in-process
//! Shopify: deterministic data, the cost bucket, token check and scripted faults.
//!
//! [`Window`]: tributary_connector::Window
//! [`Cursor`]: tributary_connector::Cursor
//! [`RateLimitHint`]: tributary_connector::RateLimitHint
//! [`ConnectorError`]: tributary_connector::ConnectorError
//! [`TypedConnector`]: tributary_connector::typed::TypedConnector

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
pub use query::{ShopifyCursor, ShopifyStream};
pub use settings::{
    AccessToken, ShopifyConfig, ShopifySettings, DEFAULT_API_VERSION, DEFAULT_PAGE_SIZE,
    DEFAULT_TIMEOUT, MAX_PAGE_SIZE, MAX_TIMEOUT,
};

/// The connector kind, as used in jobs, configuration and queue names.
pub const KIND: &str = "shopify";

/// The registry entry of the Shopify connector.
pub fn spec() -> tributary_connector::ConnectorSpec {
    tributary_connector::typed::spec::<ShopifyConnector>()
}
