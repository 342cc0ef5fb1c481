//! The mock store's records: orders, products and customers generated from a seed, shaped like
//! WooCommerce's v3 JSON (money as decimal strings, site-local and `_gmt` times, nulls where
//! WooCommerce has them, unicode names). Same seed, same records.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::{json, Value};

/// The store's timezone offset: the site-local fields (`date_modified`) are this far ahead of
/// the `_gmt` ones, as on a store set to Europe/Berlin in summer.
pub(crate) const SITE_OFFSET_HOURS: i64 = 2;

/// A small deterministic generator (SplitMix64): stable across platforms and crate versions.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const FIRST_NAMES: [&str; 12] = [
    "Zoë",
    "José",
    "Łukasz",
    "Søren",
    "Françoise",
    "Đorđe",
    "美咲",
    "Oğuz",
    "Nguyễn",
    "Ana",
    "Björk",
    "Chloé",
];
const LAST_NAMES: [&str; 10] = [
    "Müller",
    "García",
    "Kowalski",
    "Ångström",
    "Dvořák",
    "O'Brien",
    "田中",
    "Şahin",
    "Lefèvre",
    "Smith",
];
const CITIES: [(&str, &str, &str); 5] = [
    ("Berlin", "DE", "10115"),
    ("Kraków", "PL", "30-001"),
    ("Malmö", "SE", "211 20"),
    ("Zürich", "CH", "8001"),
    ("São Paulo", "BR", "01000-000"),
];
const STATUSES: [&str; 7] = [
    "processing",
    "completed",
    "completed",
    "on-hold",
    "pending",
    "cancelled",
    "refunded",
];
const PRODUCTS: [&str; 8] = [
    "Café au lait mug",
    "Crème brûlée torch",
    "Smørrebrød board",
    "Jalapeño sauce",
    "Matcha 抹茶 tin",
    "Piñata",
    "Gruyère knife",
    "Hoodie – navy",
];

/// Formats a UTC time as WooCommerce's naive `2024-06-01T10:00:00`.
pub(crate) fn naive(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Parses a naive WooCommerce time (or RFC 3339) as UTC.
pub(crate) fn parse_naive(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .map(|naive| naive.and_utc())
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|at| at.with_timezone(&Utc))
        })
}

fn local(at: DateTime<Utc>) -> String {
    naive(at + Duration::hours(SITE_OFFSET_HOURS))
}

fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn address(rng: &mut Rng, first: &str, last: &str, with_contact: bool) -> Value {
    let (city, country, postcode) = CITIES[rng.below(CITIES.len() as u64) as usize];
    let mut address = json!({
        "first_name": first,
        "last_name": last,
        "company": if rng.below(4) == 0 { "Ørsted & Söhne GmbH" } else { "" },
        "address_1": format!("{} Hauptstraße", 1 + rng.below(200)),
        "address_2": "",
        "city": city,
        "state": "",
        "postcode": postcode,
        "country": country,
    });
    if with_contact {
        address["email"] = json!(format!("customer{}@example.com", rng.below(100_000)));
        address["phone"] = json!(format!("+49 30 {}", 1_000_000 + rng.below(8_999_999)));
    }
    address
}

/// `count` customers; ids from 1. One in four was never modified: `date_modified(_gmt)` null.
pub(crate) fn customers(rng: &mut Rng, count: usize, now: DateTime<Utc>) -> Vec<Value> {
    (1..=count as u64)
        .map(|id| {
            let created = now - Duration::seconds(86_400 * 30 + rng.below(86_400 * 300) as i64);
            let modified =
                (rng.below(4) != 0).then(|| now - Duration::seconds(rng.below(86_400 * 30) as i64));
            let (first, last) = (rng.pick(&FIRST_NAMES), rng.pick(&LAST_NAMES));
            json!({
                "id": id,
                "date_created": local(created),
                "date_created_gmt": naive(created),
                "date_modified": modified.map(local),
                "date_modified_gmt": modified.map(naive),
                "email": format!("customer{id}@example.com"),
                "first_name": first,
                "last_name": last,
                "role": "customer",
                "username": format!("customer{id}"),
                "billing": address(rng, first, last, true),
                "shipping": address(rng, first, last, false),
                "is_paying_customer": rng.below(2) == 0,
                "avatar_url": "https://secure.gravatar.com/avatar/?s=96&d=mm&r=g",
                "meta_data": [],
            })
        })
        .collect()
}

/// `count` products; ids from 1001. Products are bulk-edited in groups of twelve, so each group
/// shares one modification second: the ties a keyset paginator must survive.
pub(crate) fn products(rng: &mut Rng, count: usize, now: DateTime<Utc>) -> Vec<Value> {
    let mut group_time = now;
    (0..count as u64)
        .map(|index| {
            if index % 12 == 0 {
                group_time = now - Duration::seconds(rng.below(86_400 * 30) as i64);
            }
            let id = 1_001 + index;
            let created = group_time - Duration::days(1 + rng.below(200) as i64);
            let price = 199 + rng.below(20_000);
            let on_sale = rng.below(5) == 0;
            let stock = (rng.below(3) != 0).then(|| rng.below(500));
            json!({
                "id": id,
                "name": format!("{} #{id}", rng.pick(&PRODUCTS)),
                "slug": format!("product-{id}"),
                "permalink": format!("https://shop.example.com/product/product-{id}/"),
                "date_created": local(created),
                "date_created_gmt": naive(created),
                "date_modified": local(group_time),
                "date_modified_gmt": naive(group_time),
                "type": "simple",
                "status": if rng.below(10) == 0 { "draft" } else { "publish" },
                "sku": format!("SKU-{id}"),
                "price": money(if on_sale { price * 8 / 10 } else { price }),
                "regular_price": money(price),
                "sale_price": if on_sale { money(price * 8 / 10) } else { String::new() },
                "date_on_sale_from": Value::Null,
                "on_sale": on_sale,
                "manage_stock": stock.is_some(),
                "stock_quantity": stock,
                "stock_status": "instock",
                "categories": [{"id": 15, "name": "Küche", "slug": "kuche"}],
                "meta_data": [],
            })
        })
        .collect()
}

/// `count` orders; ids from 5001. Every fifth order shares its predecessor's modification
/// second (orders created in the same second by a busy checkout).
pub(crate) fn orders(
    rng: &mut Rng,
    count: usize,
    now: DateTime<Utc>,
    products: &[Value],
    customers: usize,
) -> Vec<Value> {
    let mut previous = now;
    (0..count as u64)
        .map(|index| {
            let id = 5_001 + index;
            let modified = if index % 5 == 4 {
                previous
            } else {
                now - Duration::seconds(rng.below(86_400 * 30) as i64)
            };
            previous = modified;
            let created = modified - Duration::seconds(rng.below(86_400 * 3) as i64);
            let status = rng.pick(&STATUSES);
            let paid = matches!(status, "processing" | "completed" | "refunded");
            let (first, last) = (rng.pick(&FIRST_NAMES), rng.pick(&LAST_NAMES));
            let mut subtotal = 0;
            let line_items: Vec<Value> = (0..1 + rng.below(4))
                .map(|line| {
                    let product = &products[rng.below(products.len() as u64) as usize];
                    let quantity = 1 + rng.below(3);
                    let unit: f64 = product["price"].as_str().unwrap_or("0").parse().unwrap_or(0.0);
                    let cents = (unit * 100.0).round() as u64 * quantity;
                    subtotal += cents;
                    json!({
                        "id": id * 10 + line,
                        "name": product["name"],
                        "product_id": product["id"],
                        "variation_id": 0,
                        "quantity": quantity,
                        "tax_class": "",
                        "subtotal": money(cents),
                        "subtotal_tax": money(cents * 19 / 100),
                        "total": money(cents),
                        "total_tax": money(cents * 19 / 100),
                        "taxes": [],
                        "meta_data": [],
                        "sku": product["sku"],
                        "price": unit,
                    })
                })
                .collect();
            let shipping = 490;
            let tax = subtotal * 19 / 100;
            let mut order = json!({
                "id": id,
                "parent_id": 0,
                "number": id.to_string(),
                "order_key": format!("wc_order_{:013x}", rng.next() >> 12),
                "created_via": "checkout",
                "version": "8.9.3",
                "status": status,
                "currency": "EUR",
                "date_created": local(created),
                "date_created_gmt": naive(created),
                "date_modified": local(modified),
                "date_modified_gmt": naive(modified),
                "discount_total": "0.00",
                "discount_tax": "0.00",
                "shipping_total": money(shipping),
                "shipping_tax": "0.00",
                "cart_tax": money(tax),
                "total": money(subtotal + tax + shipping),
                "total_tax": money(tax),
                "prices_include_tax": false,
            });
            // Two macro calls: one `json!` of every field exceeds the macro recursion limit.
            let rest = json!({
                "customer_id": if rng.below(3) == 0 { 0 } else { 1 + rng.below(customers.max(1) as u64) },
                "customer_ip_address": "203.0.113.7",
                "customer_note": if rng.below(6) == 0 { "Bitte nicht klingeln – Hund schläft 🐕" } else { "" },
                "billing": address(rng, first, last, true),
                "shipping": address(rng, first, last, false),
                "payment_method": if paid { "stripe" } else { "bacs" },
                "payment_method_title": if paid { "Kreditkarte" } else { "Überweisung" },
                "transaction_id": if paid { format!("ch_{:016x}", rng.next()) } else { String::new() },
                "date_paid": if paid { json!(local(created)) } else { Value::Null },
                "date_paid_gmt": if paid { json!(naive(created)) } else { Value::Null },
                "date_completed": if status == "completed" { json!(local(modified)) } else { Value::Null },
                "date_completed_gmt": if status == "completed" { json!(naive(modified)) } else { Value::Null },
                "cart_hash": "",
                "meta_data": [],
                "line_items": line_items,
                "tax_lines": [],
                "shipping_lines": [{"id": id * 10 + 9, "method_title": "DHL Paket", "method_id": "flat_rate", "total": money(shipping), "total_tax": "0.00", "taxes": []}],
                "fee_lines": [],
                "coupon_lines": [],
                "refunds": [],
            });
            if let (Some(order), Value::Object(rest)) = (order.as_object_mut(), rest) {
                order.extend(rest);
            }
            order
        })
        .collect()
}
