//! What we ask Shopify: the GraphQL documents of each stream, the search filter of a window and
//! the cursor. Pure text, so every query is unit-testable without a server.
//!
//! Values travel as GraphQL variables, never spliced into the document, so a cursor or a
//! timestamp cannot change the query's shape.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tributary_connector::{ConnectorError, Window};

/// A stream of the Shopify connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShopifyStream {
    /// `orders`, sorted by `UPDATED_AT`.
    Orders,
    /// `products`, sorted by `UPDATED_AT`.
    Products,
    /// `customers`, sorted by `UPDATED_AT`.
    Customers,
}

impl ShopifyStream {
    /// Every stream, in the order `streams()` lists them.
    pub const ALL: [ShopifyStream; 3] = [
        ShopifyStream::Orders,
        ShopifyStream::Products,
        ShopifyStream::Customers,
    ];

    /// The stream's name, which is also the root field of its connection query.
    pub fn name(self) -> &'static str {
        match self {
            ShopifyStream::Orders => "orders",
            ShopifyStream::Products => "products",
            ShopifyStream::Customers => "customers",
        }
    }

    /// The stream named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|stream| stream.name() == name)
    }

    /// One line for humans.
    pub(crate) fn description(self) -> &'static str {
        match self {
            ShopifyStream::Orders => {
                "An order with its line items, money amounts and customer reference."
            }
            ShopifyStream::Products => "A product with its status, vendor, tags and inventory.",
            ShopifyStream::Customers => "A customer with contact details and lifetime spend.",
        }
    }

    /// The root field of the stream's count query (`ordersCount`, ...).
    pub(crate) fn count_field(self) -> &'static str {
        match self {
            ShopifyStream::Orders => "ordersCount",
            ShopifyStream::Products => "productsCount",
            ShopifyStream::Customers => "customersCount",
        }
    }

    /// The fields selected on each node. `lineItems` are capped at their first 50 edges.
    fn selection(self) -> &'static str {
        match self {
            ShopifyStream::Orders => {
                "id name email createdAt updatedAt cancelledAt processedAt currencyCode \
                 displayFinancialStatus displayFulfillmentStatus tags note \
                 totalPriceSet { shopMoney { amount currencyCode } } \
                 subtotalPriceSet { shopMoney { amount currencyCode } } \
                 customer { id } \
                 lineItems(first: 50) { edges { node { id title quantity sku \
                 originalUnitPriceSet { shopMoney { amount currencyCode } } } } }"
            }
            ShopifyStream::Products => {
                "id title handle status vendor productType tags createdAt updatedAt totalInventory"
            }
            ShopifyStream::Customers => {
                "id firstName lastName email phone state tags createdAt updatedAt numberOfOrders \
                 amountSpent { amount currencyCode }"
            }
        }
    }

    /// Only orders hide cancelled and archived records unless asked for `status:any`.
    fn base_filter(self) -> Option<&'static str> {
        match self {
            ShopifyStream::Orders => Some("status:any"),
            ShopifyStream::Products | ShopifyStream::Customers => None,
        }
    }
}

/// The document of one page of `stream`. Variables: `$first`, `$after`, `$query`.
pub(crate) fn page_document(stream: ShopifyStream) -> String {
    format!(
        "query TributaryPage($first: Int!, $after: String, $query: String) {{ \
         {root}(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {{ \
         pageInfo {{ hasNextPage endCursor }} nodes {{ {selection} }} }} }}",
        root = stream.name(),
        selection = stream.selection(),
    )
}

/// The document counting `stream` in a window. `limit: null` lifts the default cap of 10,000.
pub(crate) fn count_document(stream: ShopifyStream) -> String {
    format!(
        "query TributaryCount($query: String) {{ {root}(query: $query, limit: null) {{ count precision }} }}",
        root = stream.count_field(),
    )
}

/// The document of `check`: the cheapest query that proves the token works for this shop.
pub(crate) const CHECK_DOCUMENT: &str = "query TributaryCheck { shop { name } }";

/// Shopify search syntax for a window: `status:any updated_at:>='…' updated_at:<'…'`.
pub(crate) fn search_filter(stream: ShopifyStream, window: &Window) -> String {
    let mut terms: Vec<String> = stream
        .base_filter()
        .map(str::to_owned)
        .into_iter()
        .collect();
    if let Some(from) = window.from {
        terms.push(format!("updated_at:>='{}'", timestamp(from)));
    }
    if let Some(to) = window.to {
        terms.push(format!("updated_at:<'{}'", timestamp(to)));
    }
    terms.join(" ")
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Where a stream continues: Shopify's `endCursor`, verbatim. The typed connector layer stores
/// it as versioned JSON (`t1:{"after":"<endCursor>"}`); a cursor it cannot read restarts the
/// window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopifyCursor {
    /// The `endCursor` of the page before.
    pub(crate) after: String,
}

impl ShopifyCursor {
    /// Shopify's `endCursor` out of our cursor. An empty one is [`ConnectorError::CursorInvalid`].
    pub(crate) fn end_cursor(&self) -> Result<&str, ConnectorError> {
        if self.after.is_empty() {
            return Err(ConnectorError::CursorInvalid {
                message: "not a Shopify connector cursor: its `endCursor` is empty".to_owned(),
            });
        }
        Ok(&self.after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn windows_become_search_filters() {
        let window = Window {
            from: Some(at("2024-01-01T00:00:00Z")),
            to: Some(at("2024-02-01T12:30:00.250Z")),
        };
        assert_eq!(
            search_filter(ShopifyStream::Orders, &window),
            "status:any updated_at:>='2024-01-01T00:00:00Z' updated_at:<'2024-02-01T12:30:00.250Z'"
        );
        assert_eq!(
            search_filter(ShopifyStream::Products, &Window::default()),
            ""
        );
        let open_end = Window {
            from: Some(at("2024-01-01T00:00:00Z")),
            to: None,
        };
        assert_eq!(
            search_filter(ShopifyStream::Customers, &open_end),
            "updated_at:>='2024-01-01T00:00:00Z'"
        );
    }

    #[test]
    fn documents_use_variables_and_the_root_field() {
        let document = page_document(ShopifyStream::Orders);
        assert!(document
            .contains("orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query)"));
        assert!(document.contains("pageInfo { hasNextPage endCursor }"));
        assert!(count_document(ShopifyStream::Orders).contains("ordersCount(query: $query"));
    }

    #[test]
    fn cursors_round_trip_and_refuse_other_formats() {
        let cursor = ShopifyCursor {
            after: "eyJsYXN0X2lkIjo0Mn0=".to_owned(),
        };
        let text = serde_json::to_string(&cursor).unwrap();
        assert_eq!(text, r#"{"after":"eyJsYXN0X2lkIjo0Mn0="}"#);
        let read: ShopifyCursor = serde_json::from_str(&text).unwrap();
        assert_eq!(read.end_cursor().unwrap(), "eyJsYXN0X2lkIjo0Mn0=");
        for bad in ["eyJsYXN0", r#""v1:abc""#, r#"{"after":"a","v":2}"#] {
            assert!(serde_json::from_str::<ShopifyCursor>(bad).is_err(), "{bad}");
        }
        let empty: ShopifyCursor = serde_json::from_str(r#"{"after":""}"#).unwrap();
        assert_eq!(
            empty.end_cursor().unwrap_err().class(),
            tributary_connector::ErrorClass::CursorInvalid
        );
    }
}
