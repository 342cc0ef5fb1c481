//! The mock shop's records, generated from (seed, stream, index): nothing is stored, the same
//! seed always serves the same JSON, and record `i` is always updated before record `i + 1`, so
//! index order is `sortKey: UPDATED_AT` order.
//!
//! The shapes follow the Admin API's: `gid://shopify/...` ids, money as decimal strings with a
//! currency, `UnsignedInt64` as strings, nullable fields that are sometimes null, and text that
//! is not all ASCII.

use chrono::{DateTime, Duration as TimeDelta, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::query::ShopifyStream;

/// Where every stream's timeline starts: 2024-01-01T00:00:00Z.
const EPOCH_SECONDS: i64 = 1_704_067_200;

/// Seconds between consecutive records' `updatedAt`, per stream. The jitter added to each is
/// below the spacing, so timestamps strictly increase with the index.
fn spacing_seconds(stream: ShopifyStream) -> i64 {
    match stream {
        ShopifyStream::Orders => 600,
        ShopifyStream::Products => 7_200,
        ShopifyStream::Customers => 3_600,
    }
}

/// The numeric part of record ids, per stream, so gids look like Shopify's.
fn id_base(stream: ShopifyStream) -> u64 {
    match stream {
        ShopifyStream::Orders => 5_500_000_000_000,
        ShopifyStream::Products => 8_100_000_000_000,
        ShopifyStream::Customers => 7_200_000_000_000,
    }
}

fn type_name(stream: ShopifyStream) -> &'static str {
    match stream {
        ShopifyStream::Orders => "Order",
        ShopifyStream::Products => "Product",
        ShopifyStream::Customers => "Customer",
    }
}

/// SplitMix64 over the inputs: a small, well-mixed, dependency-free hash.
fn mix(seed: u64, parts: &[u64]) -> u64 {
    let mut state = seed;
    for part in parts {
        state = state
            .wrapping_add(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(*part);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        state = z ^ (z >> 31);
    }
    state
}

fn pick<'a>(options: &[&'a str], value: u64) -> &'a str {
    options[(value % options.len() as u64) as usize]
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn money(cents: u64, currency: &str) -> Value {
    json!({ "amount": format!("{}.{:02}", cents / 100, cents % 100), "currencyCode": currency })
}

const FIRST_NAMES: [&str; 8] = [
    "Zoë", "José", "Ørjan", "Aiko", "Renée", "Łukasz", "Siobhán", "Björn",
];
const LAST_NAMES: [&str; 8] = [
    "Ångström",
    "Müller",
    "Núñez",
    "山田",
    "O'Brien",
    "Dvořák",
    "Ξενάκης",
    "Smith",
];
const PRODUCT_NAMES: [&str; 8] = [
    "Café Crème Mug",
    "Ünïcödé T-Shirt",
    "抹茶 Matcha Tin",
    "Crème Brûlée Torch",
    "Smørrebrød Board",
    "Piñata 🎉",
    "Plain Socks",
    "Straße Map",
];
const CURRENCIES: [&str; 3] = ["EUR", "USD", "CAD"];

/// The generator of one mock shop's data.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    seed: u64,
    orders: u64,
    products: u64,
    customers: u64,
}

impl Catalog {
    pub(crate) fn new(seed: u64, orders: u64, products: u64, customers: u64) -> Self {
        Self {
            seed,
            orders,
            products,
            customers,
        }
    }

    /// Records in `stream`.
    pub(crate) fn len(&self, stream: ShopifyStream) -> u64 {
        match stream {
            ShopifyStream::Orders => self.orders,
            ShopifyStream::Products => self.products,
            ShopifyStream::Customers => self.customers,
        }
    }

    fn hash(&self, stream: ShopifyStream, index: u64, salt: u64) -> u64 {
        mix(self.seed, &[stream as u64, index, salt])
    }

    /// `updatedAt` of record `index`: strictly increasing with the index.
    pub(crate) fn updated_at(&self, stream: ShopifyStream, index: u64) -> DateTime<Utc> {
        let spacing = spacing_seconds(stream);
        let jitter = (self.hash(stream, index, 0) % spacing as u64) as i64;
        let seconds = EPOCH_SECONDS + index as i64 * spacing + jitter;
        DateTime::from_timestamp(seconds, 0).expect("mock timestamps are in range")
    }

    /// The gid of record `index`.
    pub(crate) fn gid(&self, stream: ShopifyStream, index: u64) -> String {
        format!(
            "gid://shopify/{}/{}",
            type_name(stream),
            id_base(stream) + index
        )
    }

    fn created_at(&self, stream: ShopifyStream, index: u64) -> DateTime<Utc> {
        let days_before = (self.hash(stream, index, 1) % 30) as i64;
        self.updated_at(stream, index) - TimeDelta::days(days_before)
    }

    /// The node of record `index`, as the connector's selection would return it.
    pub(crate) fn node(&self, stream: ShopifyStream, index: u64) -> Value {
        match stream {
            ShopifyStream::Orders => self.order(index),
            ShopifyStream::Products => self.product(index),
            ShopifyStream::Customers => self.customer(index),
        }
    }

    fn person(&self, stream: ShopifyStream, index: u64) -> (&'static str, &'static str) {
        let hash = self.hash(stream, index, 2);
        (pick(&FIRST_NAMES, hash), pick(&LAST_NAMES, hash >> 8))
    }

    fn order(&self, index: u64) -> Value {
        let stream = ShopifyStream::Orders;
        let hash = self.hash(stream, index, 3);
        let currency = pick(&CURRENCIES, hash);
        let created_at = timestamp(self.created_at(stream, index));
        // Every fifth order is a guest checkout: no customer.
        let customer_index =
            (self.customers > 0 && !hash.is_multiple_of(5)).then(|| (hash >> 4) % self.customers);
        let email = customer_index.and_then(|customer| self.email(customer));
        let mut subtotal_cents = 0;
        let mut edges = Vec::new();
        let line_count = if self.products == 0 { 0 } else { 1 + hash % 3 };
        for line in 0..line_count {
            let line_hash = self.hash(stream, index, 100 + line);
            let product = line_hash % self.products;
            let quantity = 1 + (line_hash >> 8) % 4;
            let unit_cents = self.price_cents(product);
            subtotal_cents += unit_cents * quantity;
            edges.push(json!({ "node": {
                "id": format!("gid://shopify/LineItem/{}", 13_000_000_000_000 + index * 10 + line),
                "title": pick(&PRODUCT_NAMES, product),
                "quantity": quantity,
                "sku": if product.is_multiple_of(4) { Value::Null } else { json!(format!("SKU-{product:05}")) },
                "originalUnitPriceSet": { "shopMoney": money(unit_cents, currency) },
            }}));
        }
        let shipping_cents = if hash.is_multiple_of(3) { 0 } else { 490 };
        let cancelled = hash.is_multiple_of(13);
        json!({
            "id": self.gid(stream, index),
            "name": format!("#{}", 1001 + index),
            "email": email,
            "createdAt": created_at,
            "updatedAt": timestamp(self.updated_at(stream, index)),
            "cancelledAt": if cancelled { json!(timestamp(self.updated_at(stream, index))) } else { Value::Null },
            "processedAt": created_at,
            "currencyCode": currency,
            "displayFinancialStatus": if cancelled { "REFUNDED" } else { pick(&["PAID", "PAID", "PENDING"], hash >> 12) },
            "displayFulfillmentStatus": pick(&["FULFILLED", "UNFULFILLED"], hash >> 16),
            "tags": if hash.is_multiple_of(7) { json!(["vip", "gift 🎁"]) } else { json!([]) },
            "note": if hash.is_multiple_of(4) { json!("Bitte nicht klingeln — Paket beim Nachbarn ✓") } else { Value::Null },
            "totalPriceSet": { "shopMoney": money(subtotal_cents + shipping_cents, currency) },
            "subtotalPriceSet": { "shopMoney": money(subtotal_cents, currency) },
            "customer": customer_index.map(|customer| json!({ "id": self.gid(ShopifyStream::Customers, customer) })),
            "lineItems": { "edges": edges },
        })
    }

    fn price_cents(&self, product: u64) -> u64 {
        199 + self.hash(ShopifyStream::Products, product, 4) % 20_000
    }

    fn email(&self, customer: u64) -> Option<String> {
        // Every sixth customer has no email (phone-only accounts).
        if customer % 6 == 5 {
            return None;
        }
        Some(format!("customer{customer}@example.com"))
    }

    fn product(&self, index: u64) -> Value {
        let stream = ShopifyStream::Products;
        let hash = self.hash(stream, index, 5);
        let title = format!("{} #{index}", pick(&PRODUCT_NAMES, index));
        json!({
            "id": self.gid(stream, index),
            "title": title,
            "handle": format!("product-{index}"),
            "status": pick(&["ACTIVE", "ACTIVE", "DRAFT", "ARCHIVED"], hash),
            "vendor": pick(&["Acme", "Ärzte & Co", "東京 Goods"], hash >> 4),
            "productType": if hash.is_multiple_of(5) { Value::Null } else { json!("Homeware") },
            "tags": if hash.is_multiple_of(2) { json!(["new"]) } else { json!([]) },
            "createdAt": timestamp(self.created_at(stream, index)),
            "updatedAt": timestamp(self.updated_at(stream, index)),
            "totalInventory": (hash >> 8) % 500,
        })
    }

    fn customer(&self, index: u64) -> Value {
        let stream = ShopifyStream::Customers;
        let hash = self.hash(stream, index, 6);
        let (first_name, last_name) = self.person(stream, index);
        json!({
            "id": self.gid(stream, index),
            "firstName": first_name,
            "lastName": if hash.is_multiple_of(9) { Value::Null } else { json!(last_name) },
            "email": self.email(index),
            "phone": if hash.is_multiple_of(3) { json!(format!("+4930{:07}", hash % 10_000_000)) } else { Value::Null },
            "state": pick(&["ENABLED", "ENABLED", "DISABLED", "INVITED"], hash >> 4),
            "tags": [],
            "createdAt": timestamp(self.created_at(stream, index)),
            "updatedAt": timestamp(self.updated_at(stream, index)),
            // `UnsignedInt64` is a string in the Admin API.
            "numberOfOrders": ((hash >> 8) % 20).to_string(),
            "amountSpent": money((hash >> 12) % 500_000, "EUR"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_deterministic_and_ordered_by_update() {
        let catalog = Catalog::new(7, 50, 10, 20);
        let again = Catalog::new(7, 50, 10, 20);
        for stream in ShopifyStream::ALL {
            for index in 0..catalog.len(stream) {
                assert_eq!(catalog.node(stream, index), again.node(stream, index));
                if index > 0 {
                    assert!(
                        catalog.updated_at(stream, index - 1) < catalog.updated_at(stream, index)
                    );
                }
            }
        }
        let order = catalog.node(ShopifyStream::Orders, 3);
        assert_eq!(order["id"], "gid://shopify/Order/5500000000003");
        assert!(order["lineItems"]["edges"]
            .as_array()
            .is_some_and(|edges| !edges.is_empty()));
        assert!(order["totalPriceSet"]["shopMoney"]["amount"].is_string());
        assert_ne!(
            Catalog::new(8, 50, 10, 20).node(ShopifyStream::Orders, 3),
            order
        );
    }
}
