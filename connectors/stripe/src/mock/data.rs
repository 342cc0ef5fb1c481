//! The mock account's objects: generated deterministically from a seed, then kept in memory in
//! Stripe's list order (newest `created` first, ties by id, descending) so tests can add,
//! change and delete them. Knows nothing about HTTP.

use crate::{CreatedRange, StripeStream};
use serde_json::{json, Value};
use std::collections::HashSet;

/// Why an object could not be added, changed or removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MockDataError {
    /// No object of that stream has that id.
    #[error("no {stream} object has id {id:?}")]
    NotFound {
        /// The stream looked in.
        stream: StripeStream,
        /// The id looked for.
        id: String,
    },
    /// An object with that id already exists in the stream.
    #[error("a {stream} object with id {id:?} already exists")]
    Duplicate {
        /// The stream.
        stream: StripeStream,
        /// The id that is taken.
        id: String,
    },
    /// The object lacks what every Stripe object has.
    #[error("invalid {stream} object: {why}")]
    Invalid {
        /// The stream.
        stream: StripeStream,
        /// What is missing or wrong.
        why: String,
    },
}

/// A list request the dataset could not answer: the cursor object does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NoSuchObject {
    pub(crate) id: String,
}

/// One stored object and its sort key.
#[derive(Debug, Clone)]
struct Stored {
    id: String,
    created: i64,
    object: Value,
}

impl Stored {
    /// Stripe's list order: newest first; ties by id, descending.
    fn sorts_before(&self, created: i64, id: &str) -> bool {
        (self.created, self.id.as_str()) > (created, id)
    }
}

/// One page as the dataset answers it.
#[derive(Debug)]
pub(crate) struct ListPage {
    pub(crate) objects: Vec<Value>,
    pub(crate) has_more: bool,
}

/// Where a list request starts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Position<'a> {
    /// The newest object.
    Start,
    /// Just after (older than) this object.
    After(&'a str),
    /// Just before (newer than) this object, the `limit` closest to it.
    Before(&'a str),
}

/// All objects of one mock account.
#[derive(Debug)]
pub(crate) struct Dataset {
    seed: u64,
    /// Unix seconds; generated objects are created before it.
    reference: i64,
    lists: [Vec<Stored>; 3],
    /// The generator index of the next object `add` creates, per stream.
    next_index: [u64; 3],
    /// Customers that charges and invoices refer to: (id, name, email).
    customers: Vec<(String, String, String)>,
    /// Every id in `lists`, per stream, for quick uniqueness checks.
    taken: [HashSet<String>; 3],
    /// Fill customers' metadata to Stripe's limits (see [`max_metadata`]).
    max_metadata: bool,
}

fn slot(stream: StripeStream) -> usize {
    match stream {
        StripeStream::Charges => 0,
        StripeStream::Customers => 1,
        StripeStream::Invoices => 2,
    }
}

const DAY: i64 = 86_400;

impl Dataset {
    /// Generates `counts` (charges, customers, invoices) objects. Customers are created 400 to
    /// 120 days before `reference`, charges and invoices in the 90 days before it; about one
    /// object in nine shares its `created` second with the previous one, as busy accounts do.
    pub(crate) fn generate(
        seed: u64,
        reference: i64,
        charges: usize,
        customers: usize,
        invoices: usize,
        max_metadata: bool,
    ) -> Self {
        let mut dataset = Self {
            seed,
            reference,
            lists: [Vec::new(), Vec::new(), Vec::new()],
            next_index: [0; 3],
            customers: Vec::new(),
            taken: [HashSet::new(), HashSet::new(), HashSet::new()],
            max_metadata,
        };
        for (stream, count, span) in [
            (
                StripeStream::Customers,
                customers,
                (reference - 400 * DAY, reference - 120 * DAY),
            ),
            (
                StripeStream::Charges,
                charges,
                (reference - 90 * DAY, reference),
            ),
            (
                StripeStream::Invoices,
                invoices,
                (reference - 90 * DAY, reference),
            ),
        ] {
            let mut previous = None;
            for index in 0..count as u64 {
                let mut rng = Rng::for_object(seed, stream, index ^ 0x0c12_ea7e);
                let created = match previous {
                    Some(previous) if index % 9 == 4 => previous,
                    _ => span.0 + rng.below((span.1 - span.0) as u64) as i64,
                };
                previous = Some(created);
                dataset.add(stream, created);
            }
        }
        dataset
    }

    /// Creates a new realistic object created at `created` and returns its id.
    pub(crate) fn add(&mut self, stream: StripeStream, created: i64) -> String {
        // A 14-to-23-character random id repeats practically never; skip the index if it does.
        let object = loop {
            let index = self.next_index[slot(stream)];
            self.next_index[slot(stream)] += 1;
            let object = self.render(stream, index, created);
            if !self.taken[slot(stream)].contains(object["id"].as_str().unwrap_or_default()) {
                break object;
            }
        };
        let id = object["id"].as_str().unwrap_or_default().to_owned();
        if stream == StripeStream::Customers {
            self.customers.push((
                id.clone(),
                object["name"].as_str().unwrap_or_default().to_owned(),
                object["email"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        self.place(
            stream,
            Stored {
                id: id.clone(),
                created,
                object,
            },
        );
        id
    }

    /// Adds `object` as given; it must have a string `id` not yet used and an integer `created`.
    pub(crate) fn insert(
        &mut self,
        stream: StripeStream,
        object: Value,
    ) -> Result<(), MockDataError> {
        let (id, created) = key_of(stream, &object)?;
        if self.taken[slot(stream)].contains(&id) {
            return Err(MockDataError::Duplicate { stream, id });
        }
        self.place(
            stream,
            Stored {
                id,
                created,
                object,
            },
        );
        Ok(())
    }

    /// Changes an object in place; its `id` must stay the same, its `created` may change.
    pub(crate) fn update(
        &mut self,
        stream: StripeStream,
        id: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<(), MockDataError> {
        let index = self
            .position(stream, id)
            .ok_or_else(|| MockDataError::NotFound {
                stream,
                id: id.to_owned(),
            })?;
        let mut object = self.lists[slot(stream)][index].object.clone();
        change(&mut object);
        let (new_id, created) = key_of(stream, &object)?;
        if new_id != id {
            return Err(MockDataError::Invalid {
                stream,
                why: format!("an update may not change the id ({id:?} became {new_id:?})"),
            });
        }
        self.lists[slot(stream)].remove(index);
        self.place(
            stream,
            Stored {
                id: new_id,
                created,
                object,
            },
        );
        Ok(())
    }

    /// Deletes an object and returns it.
    pub(crate) fn remove(
        &mut self,
        stream: StripeStream,
        id: &str,
    ) -> Result<Value, MockDataError> {
        let index = self
            .position(stream, id)
            .ok_or_else(|| MockDataError::NotFound {
                stream,
                id: id.to_owned(),
            })?;
        self.taken[slot(stream)].remove(id);
        Ok(self.lists[slot(stream)].remove(index).object)
    }

    /// One object, by id.
    pub(crate) fn get(&self, stream: StripeStream, id: &str) -> Option<Value> {
        let index = self.position(stream, id)?;
        Some(self.lists[slot(stream)][index].object.clone())
    }

    /// The ids in `range`, in list order (newest first).
    pub(crate) fn ids(&self, stream: StripeStream, range: CreatedRange) -> Vec<String> {
        self.lists[slot(stream)]
            .iter()
            .filter(|stored| range.contains(stored.created))
            .map(|stored| stored.id.clone())
            .collect()
    }

    /// One list page: up to `limit` objects in `range` from `position`, and whether more follow
    /// in the direction of travel.
    pub(crate) fn list(
        &self,
        stream: StripeStream,
        limit: usize,
        position: Position<'_>,
        range: CreatedRange,
    ) -> Result<ListPage, NoSuchObject> {
        let list = &self.lists[slot(stream)];
        let find = |id: &str| {
            self.position(stream, id)
                .ok_or_else(|| NoSuchObject { id: id.to_owned() })
        };
        let matching = |stored: &&Stored| range.contains(stored.created);
        match position {
            Position::Start | Position::After(_) => {
                let start = match position {
                    Position::After(id) => find(id)? + 1,
                    _ => 0,
                };
                let mut candidates = list[start..].iter().filter(matching);
                let objects: Vec<Value> = candidates
                    .by_ref()
                    .take(limit)
                    .map(|stored| stored.object.clone())
                    .collect();
                let has_more = candidates.next().is_some();
                Ok(ListPage { objects, has_more })
            }
            Position::Before(id) => {
                let end = find(id)?;
                let newer: Vec<&Stored> = list[..end].iter().filter(matching).collect();
                let first = newer.len().saturating_sub(limit);
                Ok(ListPage {
                    objects: newer[first..]
                        .iter()
                        .map(|stored| stored.object.clone())
                        .collect(),
                    has_more: first > 0,
                })
            }
        }
    }

    fn position(&self, stream: StripeStream, id: &str) -> Option<usize> {
        self.lists[slot(stream)]
            .iter()
            .position(|stored| stored.id == id)
    }

    fn place(&mut self, stream: StripeStream, stored: Stored) {
        self.taken[slot(stream)].insert(stored.id.clone());
        let list = &mut self.lists[slot(stream)];
        let at = list.partition_point(|other| other.sorts_before(stored.created, &stored.id));
        list.insert(at, stored);
    }

    /// The generated object `index` of `stream`, created at `created`.
    fn render(&self, stream: StripeStream, index: u64, created: i64) -> Value {
        let mut rng = Rng::for_object(self.seed, stream, index);
        match stream {
            StripeStream::Customers => {
                let mut customer = customer(&mut rng, index, created);
                if self.max_metadata {
                    customer["metadata"] = max_metadata(index);
                }
                customer
            }
            StripeStream::Charges => {
                let customer = self.pick_customer(&mut rng);
                charge(&mut rng, created, customer)
            }
            StripeStream::Invoices => {
                let customer = self
                    .pick_customer(&mut rng)
                    .expect("the mock has customers whenever it has invoices");
                invoice(&mut rng, created, customer, self.reference)
            }
        }
    }

    fn pick_customer(&self, rng: &mut Rng) -> Option<&(String, String, String)> {
        if self.customers.is_empty() {
            return None;
        }
        Some(&self.customers[rng.below(self.customers.len() as u64) as usize])
    }
}

fn key_of(stream: StripeStream, object: &Value) -> Result<(String, i64), MockDataError> {
    let invalid = |why: &str| MockDataError::Invalid {
        stream,
        why: why.to_owned(),
    };
    let id = object
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| crate::cursor::is_object_id(id))
        .ok_or_else(|| invalid("`id` must be a string of ASCII letters, digits and '_'"))?;
    let created = object
        .get("created")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("`created` must be an integer (unix seconds)"))?;
    Ok((id.to_owned(), created))
}

/// SplitMix64: a tiny, seedable, reproducible generator; keeps `rand` out of the build.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(mix64(seed ^ 0x5354_5249_5045))
    }

    fn for_object(seed: u64, stream: StripeStream, index: u64) -> Self {
        Self::new(mix64(seed ^ mix64(slot(stream) as u64 + 1)) ^ mix64(index))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// Uniform in `0..bound` (`bound > 0`).
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound.max(1))) >> 64) as u64
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn percent(&mut self, chance: u64) -> bool {
        self.below(100) < chance
    }

    /// `len` random ASCII letters and digits, as in Stripe ids.
    pub(crate) fn alphanumeric(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }

    fn upper_hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap_or('0'))
            .collect::<String>()
            .to_uppercase()
    }
}

/// Names with the accents, scripts and apostrophes real customer lists have; with an ASCII
/// e-mail local part each.
const PEOPLE: &[(&str, &str)] = &[
    ("Zoë Müller", "zoe.mueller"),
    ("José Álvarez", "jose.alvarez"),
    ("Łukasz Nowak", "lukasz.nowak"),
    ("佐藤 花子", "hanako.sato"),
    ("Ana-María O'Brien", "ana.obrien"),
    ("Søren Kierkegaard", "soren.k"),
    ("Nguyễn Văn An", "an.nguyen"),
    ("Émilie Dubois", "emilie.dubois"),
    ("Ömer Yılmaz", "omer.yilmaz"),
    ("John Smith", "john.smith"),
    ("Priya Patel", "priya.patel"),
    ("Олег Иванов", "oleg.ivanov"),
    ("محمد علي", "mohamed.ali"),
    ("Chloé \"Coco\" Martin", "chloe.martin"),
];

/// (city, country, postal code, state)
const PLACES: &[(&str, &str, &str, Option<&str>)] = &[
    ("Berlin", "DE", "10115", None),
    ("München", "DE", "80331", None),
    ("San Francisco", "US", "94103", Some("CA")),
    ("New York", "US", "10001", Some("NY")),
    ("São Paulo", "BR", "01310-100", Some("SP")),
    ("Zürich", "CH", "8001", None),
    ("東京", "JP", "100-0001", None),
    ("Kraków", "PL", "31-001", None),
    ("London", "GB", "EC1A 1BB", None),
];

const STREETS: &[&str] = &[
    "Unter den Linden 1",
    "1 Market Street",
    "Rua Augusta 1500",
    "Bahnhofstrasse 12",
    "Floriańska 3",
    "221B Baker Street",
    "丸の内1-1",
];

const CURRENCIES: &[&str] = &["usd", "usd", "usd", "eur", "eur", "gbp", "jpy", "chf"];

/// Metadata as merchants use it: often empty, sometimes with free text in any language.
fn metadata(rng: &mut Rng, index: u64) -> Value {
    match rng.below(6) {
        0 | 1 => json!({}),
        2 => json!({ "order_id": (6000 + index).to_string() }),
        3 => {
            json!({ "order_id": (6000 + index).to_string(), "note": "Größe: XL — merci 🙏", "gift": "true" })
        }
        4 => json!({ "crm_id": format!("CRM-{}", 1000 + rng.below(9000)), "segment": "ÉLITE" }),
        _ => json!({ "note": "配送は午前中希望", "source": "checkout" }),
    }
}

/// Metadata at Stripe's limits: 50 keys, each value 500 characters (about 32 KB of JSON), so a
/// page of 100 customers is over 2 MiB.
fn max_metadata(index: u64) -> Value {
    const FILLER: &str = "Größe XL — ✓ 配送 ";
    let value: String = FILLER.chars().cycle().take(500).collect();
    let map = (0..50)
        .map(|key| {
            (
                format!("field_{key:02}_{index}"),
                Value::from(value.as_str()),
            )
        })
        .collect();
    Value::Object(map)
}

fn address(rng: &mut Rng) -> Value {
    let (city, country, postal_code, state) = rng.pick(PLACES);
    json!({
        "city": city,
        "country": country,
        "line1": rng.pick(STREETS),
        "line2": if rng.percent(20) { json!("Apt. 4") } else { Value::Null },
        "postal_code": postal_code,
        "state": state,
    })
}

fn customer(rng: &mut Rng, index: u64, created: i64) -> Value {
    let (name, local) = rng.pick(PEOPLE);
    let id = format!("cus_{}", rng.alphanumeric(14));
    let has_address = rng.percent(70);
    let address = if has_address {
        address(rng)
    } else {
        Value::Null
    };
    json!({
        "id": id,
        "object": "customer",
        "address": address,
        "balance": if rng.percent(10) { -(rng.below(5000) as i64) } else { 0 },
        "created": created,
        "currency": if rng.percent(80) { json!(rng.pick(CURRENCIES)) } else { Value::Null },
        "default_source": Value::Null,
        "delinquent": rng.percent(5),
        "description": if rng.percent(25) { json!("VIP seit 2019 — bitte bevorzugt behandeln") } else { Value::Null },
        "discount": Value::Null,
        "email": format!("{local}+{index}@example.com"),
        "invoice_prefix": rng.upper_hex(8),
        "invoice_settings": {
            "custom_fields": Value::Null,
            "default_payment_method": if rng.percent(60) { json!(format!("pm_1{}", rng.alphanumeric(23))) } else { Value::Null },
            "footer": Value::Null,
            "rendering_options": Value::Null,
        },
        "livemode": false,
        "metadata": metadata(rng, index),
        "name": name,
        "next_invoice_sequence": 1 + rng.below(20),
        "phone": if rng.percent(50) { json!(format!("+49 30 {}", 1_000_000 + rng.below(8_999_999))) } else { Value::Null },
        "preferred_locales": if rng.percent(50) { json!(["de", "en"]) } else { json!([]) },
        "shipping": if has_address && rng.percent(40) {
            json!({ "address": address, "name": name, "phone": Value::Null })
        } else {
            Value::Null
        },
        "tax_exempt": if rng.percent(5) { "exempt" } else { "none" },
        "test_clock": Value::Null,
    })
}

fn charge(rng: &mut Rng, created: i64, customer: Option<&(String, String, String)>) -> Value {
    let id = format!("ch_3{}", rng.alphanumeric(23));
    let currency = rng.pick(CURRENCIES);
    let amount = if currency == "jpy" {
        100 + rng.below(50_000) as i64
    } else {
        50 + rng.below(250_000) as i64
    };
    let status = match rng.below(100) {
        0..=84 => "succeeded",
        85..=94 => "failed",
        _ => "pending",
    };
    let succeeded = status == "succeeded";
    let amount_refunded = match rng.below(100) {
        _ if !succeeded => 0,
        0..=7 => amount,
        8..=12 => amount / 3,
        _ => 0,
    };
    let (customer_id, name, email) = match customer {
        Some((id, name, email)) if rng.percent(85) => (json!(id), json!(name), json!(email)),
        _ => (Value::Null, Value::Null, Value::Null),
    };
    let brand = rng.pick(&["visa", "mastercard", "amex", "visa"]);
    let outcome = match status {
        "failed" => json!({
            "network_status": "declined_by_network",
            "reason": "generic_decline",
            "risk_level": "normal",
            "risk_score": rng.below(100),
            "seller_message": "The bank did not return any further details with this decline.",
            "type": "issuer_declined",
        }),
        _ => json!({
            "network_status": "approved_by_network",
            "reason": Value::Null,
            "risk_level": if rng.percent(5) { "elevated" } else { "normal" },
            "risk_score": rng.below(100),
            "seller_message": "Payment complete.",
            "type": "authorized",
        }),
    };
    let payment_method_details = json!({
        "card": {
            "amount_authorized": if status == "failed" { Value::Null } else { json!(amount) },
            "brand": brand,
            "checks": { "address_line1_check": Value::Null, "address_postal_code_check": "pass", "cvc_check": "pass" },
            "country": rng.pick(&["US", "DE", "GB", "FR", "JP"]),
            "exp_month": 1 + rng.below(12),
            "exp_year": 2025 + rng.below(6),
            "funding": rng.pick(&["credit", "debit", "prepaid"]),
            "last4": rng.pick(&["4242", "0005", "4444", "1881", "0341"]),
            "network": brand,
            "three_d_secure": Value::Null,
            "wallet": Value::Null,
        },
        "type": "card",
    });
    let billing_details = json!({
        "address": address(rng),
        "email": email,
        "name": name,
        "phone": Value::Null,
    });
    let mut charge = json!({
        "id": id,
        "object": "charge",
        "amount": amount,
        "amount_captured": if succeeded { amount } else { 0 },
        "amount_refunded": amount_refunded,
        "application": Value::Null,
        "application_fee": Value::Null,
        "application_fee_amount": Value::Null,
        "balance_transaction": if succeeded { json!(format!("txn_3{}", rng.alphanumeric(23))) } else { Value::Null },
        "billing_details": billing_details,
        "calculated_statement_descriptor": "TRIBUTARY DEMO",
        "captured": succeeded,
        "created": created,
        "currency": currency,
        "customer": customer_id,
        "description": if rng.percent(40) { json!(format!("Bestellung #{} — Café & Co.", 1000 + rng.below(9000))) } else { Value::Null },
    });
    // Two halves: one `json!` this size exceeds the macro recursion limit.
    merge(
        &mut charge,
        json!({
        "disputed": succeeded && rng.percent(2),
        "failure_balance_transaction": Value::Null,
        "failure_code": if status == "failed" { json!("card_declined") } else { Value::Null },
        "failure_message": if status == "failed" { json!("Your card was declined.") } else { Value::Null },
        "fraud_details": {},
        "invoice": Value::Null,
        "livemode": false,
        "metadata": metadata(rng, created as u64 % 997),
        "on_behalf_of": Value::Null,
        "outcome": outcome,
        "paid": succeeded,
        "payment_intent": format!("pi_3{}", rng.alphanumeric(23)),
        "payment_method": format!("pm_1{}", rng.alphanumeric(23)),
        "payment_method_details": payment_method_details,
        "receipt_email": email,
        "receipt_number": Value::Null,
        "receipt_url": format!("https://pay.stripe.com/receipts/payment/{}", rng.alphanumeric(40)),
        "refunded": succeeded && amount_refunded == amount,
        "review": Value::Null,
        "shipping": Value::Null,
        "source": Value::Null,
        "source_transfer": Value::Null,
        "statement_descriptor": Value::Null,
        "statement_descriptor_suffix": Value::Null,
        "status": status,
        "transfer_data": Value::Null,
        "transfer_group": Value::Null,
        }),
    );
    charge
}

/// Adds `more`'s fields to `object` (both JSON objects).
fn merge(object: &mut Value, more: Value) {
    if let (Some(object), Value::Object(more)) = (object.as_object_mut(), more) {
        object.extend(more);
    }
}

fn invoice(
    rng: &mut Rng,
    created: i64,
    customer: &(String, String, String),
    reference: i64,
) -> Value {
    let (customer_id, customer_name, customer_email) = customer;
    let id = format!("in_1{}", rng.alphanumeric(23));
    let currency = rng.pick(&["usd", "usd", "eur", "gbp"]);
    let status = match rng.below(100) {
        0..=69 => "paid",
        70..=84 => "open",
        85..=89 => "draft",
        90..=94 => "void",
        _ => "uncollectible",
    };
    let subscription = rng.percent(70);
    let period_start = created - 30 * DAY;
    let line_count = 1 + rng.below(3);
    let mut lines = Vec::new();
    let mut subtotal = 0i64;
    for line in 0..line_count {
        let quantity = 1 + rng.below(4) as i64;
        let unit_amount = rng.pick(&[900i64, 2500, 4900, 9900, 19_900]);
        let amount = quantity * unit_amount;
        subtotal += amount;
        let recurring = subscription && line == 0;
        lines.push(json!({
            "id": format!("il_1{}", rng.alphanumeric(23)),
            "object": "line_item",
            "amount": amount,
            "currency": currency,
            "description": if recurring {
                format!("{quantity} × Pro plan (at {:.2} / month)", unit_amount as f64 / 100.0)
            } else {
                format!("{quantity} × Einrichtungsgebühr — Ünïcödé add-on")
            },
            "discountable": true,
            "livemode": false,
            "metadata": {},
            "period": { "end": created, "start": if recurring { period_start } else { created } },
            "price": {
                "id": format!("price_1{}", rng.alphanumeric(23)),
                "object": "price",
                "currency": currency,
                "product": format!("prod_{}", rng.alphanumeric(14)),
                "recurring": if recurring { json!({ "interval": "month", "interval_count": 1 }) } else { Value::Null },
                "unit_amount": unit_amount,
            },
            "proration": false,
            "quantity": quantity,
            "type": if recurring { "subscription" } else { "invoiceitem" },
        }));
    }
    let tax = if rng.percent(50) {
        json!(subtotal * 19 / 100)
    } else {
        Value::Null
    };
    let total = subtotal + tax.as_i64().unwrap_or(0);
    let paid = status == "paid";
    let finalized = status != "draft";
    let finalized_at = (created + 3600).min(reference - 1);
    let send_invoice = rng.percent(25);
    let prefix = rng.upper_hex(8);
    json!({
        "id": id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Tributary Demo",
        "amount_due": total,
        "amount_paid": if paid { total } else { 0 },
        "amount_remaining": if paid || status == "void" { 0 } else { total },
        "attempt_count": if paid || status == "uncollectible" { 1 + rng.below(3) } else { 0 },
        "attempted": paid || status == "uncollectible",
        "auto_advance": !matches!(status, "paid" | "void" | "uncollectible"),
        "billing_reason": if subscription { rng.pick(&["subscription_cycle", "subscription_create"]) } else { "manual" },
        "charge": if paid && !send_invoice { json!(format!("ch_3{}", rng.alphanumeric(23))) } else { Value::Null },
        "collection_method": if send_invoice { "send_invoice" } else { "charge_automatically" },
        "created": created,
        "currency": currency,
        "customer": customer_id,
        "customer_email": customer_email,
        "customer_name": customer_name,
        "default_payment_method": Value::Null,
        "description": Value::Null,
        "discount": Value::Null,
        "due_date": if send_invoice { json!(created + 30 * DAY) } else { Value::Null },
        "ending_balance": if finalized { json!(0) } else { Value::Null },
        "footer": Value::Null,
        "hosted_invoice_url": if finalized { json!(format!("https://invoice.stripe.com/i/acct_1Tributary/test_{}", rng.alphanumeric(40))) } else { Value::Null },
        "invoice_pdf": if finalized { json!(format!("https://pay.stripe.com/invoice/acct_1Tributary/test_{}/pdf", rng.alphanumeric(40))) } else { Value::Null },
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": false,
            "total_count": line_count,
            "url": format!("/v1/invoices/{id}/lines"),
        },
        "livemode": false,
        "metadata": metadata(rng, created as u64 % 991),
        "number": if finalized { json!(format!("{prefix}-{:04}", 1 + rng.below(40))) } else { Value::Null },
        "paid": paid,
        "period_end": created,
        "period_start": if subscription { period_start } else { created },
        "starting_balance": 0,
        "status": status,
        "status_transitions": {
            "finalized_at": if finalized { json!(finalized_at) } else { Value::Null },
            "marked_uncollectible_at": if status == "uncollectible" { json!(finalized_at) } else { Value::Null },
            "paid_at": if paid { json!(finalized_at) } else { Value::Null },
            "voided_at": if status == "void" { json!(finalized_at) } else { Value::Null },
        },
        "subscription": if subscription { json!(format!("sub_1{}", rng.alphanumeric(23))) } else { Value::Null },
        "subtotal": subtotal,
        "tax": tax,
        "total": total,
        "webhooks_delivered_at": if finalized { json!(finalized_at) } else { Value::Null },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFERENCE: i64 = 1_717_200_000;

    #[test]
    fn generation_is_deterministic_ordered_and_unique() {
        let first = Dataset::generate(7, REFERENCE, 300, 40, 90, false);
        let again = Dataset::generate(7, REFERENCE, 300, 40, 90, false);
        let other = Dataset::generate(8, REFERENCE, 300, 40, 90, false);
        for stream in StripeStream::ALL {
            let ids = first.ids(stream, CreatedRange::ALL);
            assert_eq!(ids, again.ids(stream, CreatedRange::ALL));
            assert_ne!(ids, other.ids(stream, CreatedRange::ALL));
            let unique: HashSet<_> = ids.iter().collect();
            assert_eq!(unique.len(), ids.len());
            let list = &first.lists[slot(stream)];
            assert!(list
                .windows(2)
                .all(|pair| pair[0].sorts_before(pair[1].created, &pair[1].id)));
            assert!(list
                .iter()
                .all(|stored| stored.object["id"] == stored.id.as_str()
                    && stored.object["created"] == stored.created
                    && stored.object["object"] == stream.object_name()));
        }
        let charges = &first.lists[slot(StripeStream::Charges)];
        assert!(
            charges
                .windows(2)
                .any(|pair| pair[0].created == pair[1].created),
            "some charges share a created second"
        );
        assert!(charges
            .iter()
            .all(|c| c.id.starts_with("ch_3") && c.id.len() == 27));
        assert!(charges
            .iter()
            .all(|c| (REFERENCE - 90 * DAY..REFERENCE).contains(&c.created)));
    }

    #[test]
    fn max_metadata_customers_are_at_stripes_limits() {
        let dataset = Dataset::generate(1, REFERENCE, 0, 2, 0, true);
        let customer = &dataset.lists[slot(StripeStream::Customers)][0].object;
        let metadata = customer["metadata"].as_object().unwrap();
        assert_eq!(metadata.len(), 50);
        assert!(metadata
            .values()
            .all(|value| value.as_str().unwrap().chars().count() == 500));
        assert!(serde_json::to_vec(customer).unwrap().len() > 30_000);
    }

    #[test]
    fn pages_walk_the_list_in_both_directions() {
        let dataset = Dataset::generate(1, REFERENCE, 25, 5, 0, false);
        let all = dataset.ids(StripeStream::Charges, CreatedRange::ALL);
        let ids = |page: &ListPage| -> Vec<String> {
            page.objects
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned())
                .collect()
        };
        let first = dataset
            .list(
                StripeStream::Charges,
                10,
                Position::Start,
                CreatedRange::ALL,
            )
            .unwrap();
        assert_eq!(ids(&first), all[..10]);
        assert!(first.has_more);
        let last = dataset
            .list(
                StripeStream::Charges,
                10,
                Position::After(&all[14]),
                CreatedRange::ALL,
            )
            .unwrap();
        assert_eq!(ids(&last), all[15..]);
        assert!(!last.has_more);
        let before = dataset
            .list(
                StripeStream::Charges,
                3,
                Position::Before(&all[10]),
                CreatedRange::ALL,
            )
            .unwrap();
        assert_eq!(ids(&before), all[7..10]);
        assert!(before.has_more);
        assert_eq!(
            dataset
                .list(
                    StripeStream::Charges,
                    3,
                    Position::After("ch_nope"),
                    CreatedRange::ALL
                )
                .unwrap_err(),
            NoSuchObject {
                id: "ch_nope".into()
            }
        );
    }

    #[test]
    fn objects_can_be_added_changed_and_removed() {
        let mut dataset = Dataset::generate(1, REFERENCE, 5, 2, 3, false);
        let id = dataset.add(StripeStream::Invoices, REFERENCE + 10);
        assert_eq!(
            dataset.ids(StripeStream::Invoices, CreatedRange::ALL)[0],
            id
        );
        dataset
            .update(StripeStream::Invoices, &id, |object| {
                object["created"] = json!(1);
                object["status"] = json!("void");
            })
            .unwrap();
        assert_eq!(
            dataset
                .ids(StripeStream::Invoices, CreatedRange::ALL)
                .last(),
            Some(&id)
        );
        assert_eq!(
            dataset.get(StripeStream::Invoices, &id).unwrap()["status"],
            "void"
        );
        let error = dataset
            .update(StripeStream::Invoices, &id, |object| {
                object["id"] = json!("in_other")
            })
            .unwrap_err();
        assert!(matches!(error, MockDataError::Invalid { .. }), "{error}");
        let error = dataset
            .insert(StripeStream::Invoices, json!({"id": id, "created": 5}))
            .unwrap_err();
        assert!(matches!(error, MockDataError::Duplicate { .. }), "{error}");
        assert!(dataset
            .insert(
                StripeStream::Charges,
                json!({"id": "ch_x", "created": "soon"})
            )
            .is_err());
        dataset.remove(StripeStream::Invoices, &id).unwrap();
        assert!(dataset.get(StripeStream::Invoices, &id).is_none());
        assert!(matches!(
            dataset.remove(StripeStream::Invoices, &id),
            Err(MockDataError::NotFound { .. })
        ));
    }
}
