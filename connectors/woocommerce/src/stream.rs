//! The three WooCommerce collections this connector pulls, and how each is listed: which
//! `orderby` it supports and whether the API can filter it by modification time.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A WooCommerce collection under `/wp-json/wc/v3/`; in cursors, its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WooStream {
    /// `GET /wp-json/wc/v3/orders`: orders of every status.
    Orders,
    /// `GET /wp-json/wc/v3/products`: products of every status.
    Products,
    /// `GET /wp-json/wc/v3/customers`: registered customers.
    Customers,
}

/// A stream name this connector does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStream(pub String);

impl fmt::Display for UnknownStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown stream `{}`; the woocommerce connector has orders, products and customers",
            self.0
        )
    }
}

impl std::error::Error for UnknownStream {}

impl WooStream {
    /// Every stream, in the order `streams()` lists them.
    pub const ALL: [WooStream; 3] = [WooStream::Orders, WooStream::Products, WooStream::Customers];

    /// The stream name, which is also the collection's path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            WooStream::Orders => "orders",
            WooStream::Products => "products",
            WooStream::Customers => "customers",
        }
    }

    /// One line for humans: what a record of this stream is.
    pub fn description(self) -> &'static str {
        match self {
            WooStream::Orders => {
                "An order with line items, billing and shipping addresses and totals."
            }
            WooStream::Products => "A product with its prices, stock and categories.",
            WooStream::Customers => "A registered customer with billing and shipping addresses.",
        }
    }

    /// Whether the collection accepts `modified_after`/`modified_before` and `orderby=modified`.
    /// Orders and products do; the customers endpoint has neither, so customers are listed by
    /// id and the window is applied to each record's `date_modified_gmt` here.
    pub fn filters_by_modified(self) -> bool {
        !matches!(self, WooStream::Customers)
    }

    /// The `orderby` value sent: `modified` where supported, else `id`.
    pub fn order_by(self) -> &'static str {
        if self.filters_by_modified() {
            "modified"
        } else {
            "id"
        }
    }
}

impl std::str::FromStr for WooStream {
    type Err = UnknownStream;
    fn from_str(name: &str) -> Result<Self, UnknownStream> {
        WooStream::ALL
            .into_iter()
            .find(|stream| stream.as_str() == name)
            .ok_or_else(|| UnknownStream(name.chars().take(64).collect()))
    }
}

impl fmt::Display for WooStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
