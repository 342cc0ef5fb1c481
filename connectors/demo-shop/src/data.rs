//! Deterministic record generation: every order, customer and product is a pure function of
//! (seed, tenant, stream, index, epoch), computed on demand in O(1) — nothing is pre-built.
//!
//! The timeline: each seed fixes a *reference time* (a date in 2024/25, never the wall clock).
//! Original records were last updated during the day before it. Mutation epoch `e` (see
//! [`Catalog::revision`]) rewrites ~10% of each stream and stamps them inside the hour
//! `[reference + (e-1) h, reference + e h)`, so a window starting at the reference time selects
//! exactly the records changed by later epochs. This module knows nothing about HTTP.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use std::fmt;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// 2024-06-01T00:00:00Z; the seed adds up to a year to it.
const REFERENCE_BASE_MS: i64 = 1_717_200_000_000;
/// Share of each stream rewritten by one mutation epoch, in per mille.
const MUTATED_PER_MILLE: u64 = 100;

/// One of the shop's record streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// Orders with line items, totals and a shipping address.
    Orders,
    /// Customers with contact details and a default address.
    Customers,
    /// Products with prices and inventory.
    Products,
}

impl Stream {
    /// Every stream, in the order the shop lists them.
    pub const ALL: [Stream; 3] = [Stream::Orders, Stream::Customers, Stream::Products];

    /// The stream's name in URLs: `orders`, `customers` or `products`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Orders => "orders",
            Stream::Customers => "customers",
            Stream::Products => "products",
        }
    }

    /// The prefix of the stream's record ids.
    fn id_prefix(self) -> &'static str {
        match self {
            Stream::Orders => "ord",
            Stream::Customers => "cus",
            Stream::Products => "prd",
        }
    }

    /// Separates the random streams of the three record kinds.
    pub(crate) fn salt(self) -> u64 {
        match self {
            Stream::Orders => 0x6f72_6465_7273_0001,
            Stream::Customers => 0x6375_7374_6f6d_0002,
            Stream::Products => 0x7072_6f64_7563_0003,
        }
    }

    pub(crate) fn position(self) -> usize {
        match self {
            Stream::Orders => 0,
            Stream::Customers => 1,
            Stream::Products => 2,
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stream name the shop does not serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown stream `{0}`; the shop serves orders, customers and products")]
pub struct UnknownStream(pub String);

impl std::str::FromStr for Stream {
    type Err = UnknownStream;
    fn from_str(name: &str) -> Result<Self, UnknownStream> {
        match name {
            "orders" => Ok(Stream::Orders),
            "customers" => Ok(Stream::Customers),
            "products" => Ok(Stream::Products),
            other => Err(UnknownStream(other.to_owned())),
        }
    }
}

/// A half-open filter `[since, before)` on records' `updated_at`, as the `updated_since` and
/// `updated_before` query parameters give it. `None` ends are open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdatedRange {
    /// Inclusive lower bound.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub before: Option<DateTime<Utc>>,
}

impl UpdatedRange {
    /// No filter: every record.
    pub fn all() -> Self {
        Self::default()
    }

    pub(crate) fn is_open(&self) -> bool {
        self.since.is_none() && self.before.is_none()
    }

    /// The same range in whole milliseconds, the precision of record timestamps:
    /// `t >= since` ⇔ `t_ms >= ceil(since)`, and `t < before` ⇔ `t_ms < ceil(before)`.
    pub(crate) fn to_millis(self) -> MillisRange {
        fn ceil_millis(at: DateTime<Utc>) -> i64 {
            let floor = at.timestamp_millis();
            if at.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
                floor
            } else {
                floor + 1
            }
        }
        MillisRange {
            since: self.since.map(ceil_millis).unwrap_or(i64::MIN),
            before: self.before.map(ceil_millis).unwrap_or(i64::MAX),
        }
    }
}

/// [`UpdatedRange`] in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MillisRange {
    since: i64,
    before: i64,
}

impl MillisRange {
    pub(crate) fn contains(&self, at_ms: i64) -> bool {
        self.since <= at_ms && at_ms < self.before
    }
}

/// The SplitMix64 finalizer: a fast, well-mixed 64-bit hash of one word.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hashes two words into one (order matters).
pub(crate) fn combine(a: u64, b: u64) -> u64 {
    mix64(a ^ mix64(b.wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

/// SplitMix64: a tiny, seedable, reproducible generator. Good enough for test data and fault
/// draws, and it keeps `rand` out of the dependency tree.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// Uniform in `0..bound` (`bound > 0`), by multiply-shift.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn per_mille(&mut self, chance: u64) -> bool {
        self.below(1000) < chance
    }

    fn range_i64(&mut self, bound: i64) -> i64 {
        self.below(bound.max(1) as u64) as i64
    }
}

/// FNV-1a, to turn a tenant name into a word.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Milliseconds since the Unix epoch, serialized as RFC 3339 UTC with milliseconds
/// (`2024-06-01T12:34:56.789Z`) without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timestamp(pub(crate) i64);

/// Days since 1970-01-01 to a (year, month, day) civil date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.div_euclid(1000);
        let millis = self.0.rem_euclid(1000);
        let second_of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            second_of_day / 3600,
            second_of_day % 3600 / 60,
            second_of_day % 60
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An amount in minor units (cents), serialized as a decimal string (`"12.50"`), the way
/// e-commerce APIs send money to avoid floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Money(i64);

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let cents = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", cents / 100, cents % 100)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// How often a record has been rewritten by mutation epochs, and by which epoch last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Revision {
    /// Number of epochs (up to the current one) that rewrote the record.
    pub(crate) count: u32,
    /// The latest epoch that rewrote it; 0 when never rewritten.
    pub(crate) last_epoch: u64,
}

/// Per-tenant constants derived from the tenant's name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tenant {
    key: u64,
    currency: &'static str,
    tax_basis_points: i64,
}

impl Tenant {
    /// The tenant's hash, which seeds all of its records and its cursors.
    pub(crate) fn key(&self) -> u64 {
        self.key
    }
}

/// The generator for one shop: seed, volume and timeline. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Catalog {
    seed: u64,
    counts: [u64; 3],
    reference_ms: i64,
}

impl Catalog {
    pub(crate) fn new(seed: u64, orders: u64, customers: u64, products: u64) -> Self {
        let day_offset = (mix64(seed ^ 0x7265_6665_7265_6e63) % 365) as i64;
        Self {
            seed,
            counts: [orders, customers, products],
            reference_ms: REFERENCE_BASE_MS + day_offset * DAY_MS,
        }
    }

    /// The shop's fixed "now": every original record was updated in the day before it.
    pub(crate) fn reference_time(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.reference_ms).unwrap_or_default()
    }

    /// Number of records in a stream (the same for every tenant).
    pub(crate) fn len(&self, stream: Stream) -> u64 {
        self.counts[stream.position()]
    }

    pub(crate) fn tenant(&self, name: &str) -> Tenant {
        let key = combine(self.seed, fnv1a(name.as_bytes()));
        let mut rng = SplitMix64::new(combine(key, 0x7465_6e61_6e74));
        Tenant {
            key,
            currency: rng.pick(CURRENCIES),
            tax_basis_points: rng.pick(&[1900, 2000, 800, 2500, 770, 2100]),
        }
    }

    /// The record's own random stream seed, fixed for its whole life.
    fn record_seed(tenant: &Tenant, stream: Stream, index: u64) -> u64 {
        combine(tenant.key ^ stream.salt(), index)
    }

    /// Which epochs rewrote record `index`, as of `epoch`. About 10% of a stream per epoch,
    /// chosen by hashing the index with the epoch. O(epoch).
    pub(crate) fn revision(
        &self,
        tenant: &Tenant,
        stream: Stream,
        index: u64,
        epoch: u64,
    ) -> Revision {
        let seed = Self::record_seed(tenant, stream, index);
        let mut revision = Revision {
            count: 0,
            last_epoch: 0,
        };
        for candidate in 1..=epoch {
            if combine(seed, candidate ^ 0x6570_6f63_6800_0000) % 1000 < MUTATED_PER_MILLE {
                revision.count += 1;
                revision.last_epoch = candidate;
            }
        }
        revision
    }

    /// When the record was created; depends only on the index (never on epochs).
    pub(crate) fn created_at_ms(&self, tenant: &Tenant, stream: Stream, index: u64) -> i64 {
        let count = self.len(stream).max(1);
        // Orders arrive over the day before the reference time; customers and products were
        // created over the previous years. Creation time grows with the index, like real ids.
        let span_ms: i64 = match stream {
            Stream::Orders => 23 * HOUR_MS,
            Stream::Customers => 730 * DAY_MS,
            Stream::Products => 1095 * DAY_MS,
        };
        let start = self.reference_ms - HOUR_MS - span_ms;
        let slot = span_ms / count as i64;
        let mut rng = SplitMix64::new(combine(Self::record_seed(tenant, stream, index), 1));
        start
            + (i128::from(span_ms) * i128::from(index) / i128::from(count)) as i64
            + rng.range_i64(slot)
    }

    /// When the record last changed, as of `epoch`.
    pub(crate) fn updated_at_ms(
        &self,
        tenant: &Tenant,
        stream: Stream,
        index: u64,
        epoch: u64,
    ) -> i64 {
        let revision = self.revision(tenant, stream, index, epoch);
        self.updated_at_for(tenant, stream, index, revision)
    }

    fn updated_at_for(
        &self,
        tenant: &Tenant,
        stream: Stream,
        index: u64,
        revision: Revision,
    ) -> i64 {
        let seed = Self::record_seed(tenant, stream, index);
        if revision.last_epoch > 0 {
            let mut rng = SplitMix64::new(combine(seed, revision.last_epoch ^ 0x7570_6461_7465));
            let hour_start = self.reference_ms + (revision.last_epoch as i64 - 1) * HOUR_MS;
            return hour_start + rng.range_i64(HOUR_MS);
        }
        let created = self.created_at_ms(tenant, stream, index);
        let mut rng = SplitMix64::new(combine(seed, 2));
        let day_start = self.reference_ms - DAY_MS;
        if created >= day_start {
            // Created during the last day: last touched within an hour of creation. Creation
            // ends an hour before the reference time, so this stays before it.
            created + rng.range_i64(HOUR_MS)
        } else {
            day_start + rng.range_i64(DAY_MS - HOUR_MS)
        }
    }

    /// The record's id, such as `ord_000123`.
    pub(crate) fn external_id(stream: Stream, index: u64) -> String {
        format!("{}_{:06}", stream.id_prefix(), index + 1)
    }

    /// The index of the record with id `external_id` in `stream` (the inverse of
    /// [`Catalog::external_id`]), or `None` when it is not an id of that stream.
    pub(crate) fn index_of(stream: Stream, external_id: &str) -> Option<u64> {
        let digits = external_id
            .strip_prefix(stream.id_prefix())?
            .strip_prefix('_')?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let index = digits.parse::<u64>().ok()?.checked_sub(1)?;
        // Only the canonical spelling: "ord_1" and "ord_0000001" are not ids.
        (Self::external_id(stream, index) == external_id).then_some(index)
    }

    /// Appends record `index` of `stream`, as of `epoch`, to `out` as one JSON object.
    pub(crate) fn write_record(
        &self,
        out: &mut Vec<u8>,
        tenant: &Tenant,
        stream: Stream,
        index: u64,
        epoch: u64,
    ) {
        let revision = self.revision(tenant, stream, index, epoch);
        let written = match stream {
            Stream::Orders => {
                serde_json::to_writer(&mut *out, &self.order(tenant, index, revision))
            }
            Stream::Customers => {
                serde_json::to_writer(&mut *out, &self.customer(tenant, index, revision))
            }
            Stream::Products => {
                serde_json::to_writer(&mut *out, &self.product(tenant, index, revision))
            }
        };
        // Writing plain structs into a Vec cannot fail: no maps with non-string keys, no IO.
        written.expect("serializing a generated record into memory cannot fail");
    }

    fn customer_basics(&self, tenant: &Tenant, index: u64) -> CustomerBasics {
        let mut rng = SplitMix64::new(Self::record_seed(tenant, Stream::Customers, index));
        let (first_name, first_slug) = rng.pick(FIRST_NAMES);
        let (last_name, last_slug) = rng.pick(LAST_NAMES);
        let domain = rng.pick(EMAIL_DOMAINS);
        let place = rng.pick(PLACES);
        let street = rng.pick(place.streets);
        let house_number = 1 + rng.below(180);
        let postal_code = digits(&mut rng, place.postal_digits);
        let apartment = rng
            .per_mille(250)
            .then(|| format!("Apt {}", 1 + rng.below(40)));
        CustomerBasics {
            first_name,
            last_name,
            email: format!("{first_slug}.{last_slug}.{}@{domain}", index + 1),
            address: Address {
                name: format!("{first_name} {last_name}"),
                line1: format!("{street} {house_number}"),
                line2: apartment,
                city: place.city,
                postal_code,
                country_code: place.country_code,
            },
            locale: place.locale,
            rng,
        }
    }

    fn product_basics(&self, tenant: &Tenant, index: u64) -> ProductBasics {
        let mut rng = SplitMix64::new(Self::record_seed(tenant, Stream::Products, index));
        let (adjective, adjective_slug) = rng.pick(ADJECTIVES);
        let (material, material_slug) = rng.pick(MATERIALS);
        let (noun, noun_slug, product_type) = rng.pick(NOUNS);
        let (color, color_slug) = rng.pick(COLORS);
        let price = 299 + rng.below(24_700) as i64;
        ProductBasics {
            title: format!("{adjective} {material} {noun} — {color}"),
            handle: format!(
                "{adjective_slug}-{material_slug}-{noun_slug}-{color_slug}-{}",
                index + 1
            ),
            sku: format!(
                "{}-{:05}",
                noun_slug.to_ascii_uppercase().replace('-', ""),
                index + 1
            ),
            product_type,
            price,
            rng,
        }
    }

    fn order(&self, tenant: &Tenant, index: u64, revision: Revision) -> Order {
        let seed = Self::record_seed(tenant, Stream::Orders, index);
        let mut rng = SplitMix64::new(combine(seed, 3));
        let customer_index = rng.below(self.len(Stream::Customers));
        let customer = self.customer_basics(tenant, customer_index);
        let order_id = Self::external_id(Stream::Orders, index);
        let item_count = 1 + rng.below(5);
        let mut line_items = Vec::with_capacity(item_count as usize);
        let mut subtotal = 0;
        for position in 0..item_count {
            let product_index = rng.below(self.len(Stream::Products));
            let product = self.product_basics(tenant, product_index);
            let quantity = 1 + rng.below(4) as u32;
            let total = product.price * i64::from(quantity);
            subtotal += total;
            line_items.push(LineItem {
                id: format!("li_{:06}_{}", index + 1, position + 1),
                product_id: Self::external_id(Stream::Products, product_index),
                sku: product.sku,
                title: product.title,
                quantity,
                unit_price: Money(product.price),
                total: Money(total),
            });
        }
        let discount = if rng.per_mille(150) { subtotal / 10 } else { 0 };
        let shipping = if subtotal - discount >= 10_000 {
            0
        } else {
            495
        };
        let tax = (subtotal - discount) * tenant.tax_basis_points / 10_000;
        let shipping_address = if rng.per_mille(850) {
            customer.address
        } else {
            // Shipped as a gift to another customer's address.
            self.customer_basics(tenant, rng.below(self.len(Stream::Customers)))
                .address
        };

        // The lifecycle moves one step per rewrite; terminal states stay.
        let initial_stage = rng.below(100);
        let status = match initial_stage {
            0..=4 => "cancelled",
            5..=9 => "refunded",
            stage => {
                let start = match stage {
                    10..=19 => 0,
                    20..=44 => 1,
                    45..=84 => 2,
                    _ => 3,
                };
                ORDER_LIFECYCLE[(start + revision.count as usize).min(ORDER_LIFECYCLE.len() - 1)]
            }
        };
        let financial_status = match status {
            "pending" => "pending",
            "cancelled" => "voided",
            "refunded" => "refunded",
            _ => "paid",
        };
        let fulfillment_status = matches!(status, "fulfilled" | "delivered").then_some("fulfilled");
        let mut revision_rng = SplitMix64::new(combine(seed, u64::from(revision.count) + 100));
        let note = revision_rng
            .per_mille(200)
            .then(|| revision_rng.pick(ORDER_NOTES));
        let mut tags = Vec::new();
        if revision_rng.per_mille(300) {
            tags.push(revision_rng.pick(ORDER_TAGS));
        }
        Order {
            id: order_id,
            number: 1001 + index,
            created_at: Timestamp(self.created_at_ms(tenant, Stream::Orders, index)),
            updated_at: Timestamp(self.updated_at_for(tenant, Stream::Orders, index, revision)),
            customer_id: Self::external_id(Stream::Customers, customer_index),
            email: customer.email,
            status,
            financial_status,
            fulfillment_status,
            currency: tenant.currency,
            line_items,
            subtotal_price: Money(subtotal),
            total_discount: Money(discount),
            shipping_price: Money(shipping),
            total_tax: Money(tax),
            total_price: Money(subtotal - discount + shipping + tax),
            shipping_address,
            note,
            tags,
            revision: revision.count,
        }
    }

    fn customer(&self, tenant: &Tenant, index: u64, revision: Revision) -> Customer {
        let mut basics = self.customer_basics(tenant, index);
        let rng = &mut basics.rng;
        let phone = format!(
            "+{} {} {}",
            rng.pick(&[33, 34, 44, 46, 47, 48, 49, 354, 41]),
            10 + rng.below(90),
            digits(rng, 7)
        );
        let base_orders = rng.below(12);
        let base_spent = rng.below(150_000) as i64;
        let state = match rng.below(100) {
            0..=89 => "enabled",
            90..=95 => "invited",
            _ => "disabled",
        };
        let mut revision_rng = SplitMix64::new(combine(
            Self::record_seed(tenant, Stream::Customers, index),
            u64::from(revision.count) + 100,
        ));
        let extra_orders = u64::from(revision.count) * (1 + revision_rng.below(3));
        let mut tags = Vec::new();
        for tag in CUSTOMER_TAGS {
            if revision_rng.per_mille(120) {
                tags.push(*tag);
            }
        }
        Customer {
            id: Self::external_id(Stream::Customers, index),
            email: basics.email,
            first_name: basics.first_name,
            last_name: basics.last_name,
            phone,
            state,
            locale: basics.locale,
            accepts_marketing: revision_rng.per_mille(400),
            currency: tenant.currency,
            orders_count: base_orders + extra_orders,
            total_spent: Money(base_spent + extra_orders as i64 * 4_250),
            tags,
            default_address: basics.address,
            created_at: Timestamp(self.created_at_ms(tenant, Stream::Customers, index)),
            updated_at: Timestamp(self.updated_at_for(tenant, Stream::Customers, index, revision)),
            revision: revision.count,
        }
    }

    fn product(&self, tenant: &Tenant, index: u64, revision: Revision) -> Product {
        let mut basics = self.product_basics(tenant, index);
        let rng = &mut basics.rng;
        let vendor = rng.pick(VENDORS);
        let status = match rng.below(100) {
            0..=84 => "active",
            85..=94 => "draft",
            _ => "archived",
        };
        let weight_grams = 50 + rng.below(2_500);
        let mut revision_rng = SplitMix64::new(combine(
            Self::record_seed(tenant, Stream::Products, index),
            u64::from(revision.count) + 100,
        ));
        // A rewrite restocks or sells down, and sometimes reprices by -10%..+10%.
        let price = if revision.count > 0 && revision_rng.per_mille(300) {
            basics.price * (90 + revision_rng.below(21) as i64) / 100
        } else {
            basics.price
        };
        let compare_at_price = revision_rng.per_mille(200).then(|| Money(price * 5 / 4));
        let mut tags = Vec::new();
        for tag in PRODUCT_TAGS {
            if revision_rng.per_mille(150) {
                tags.push(*tag);
            }
        }
        Product {
            id: Self::external_id(Stream::Products, index),
            title: basics.title,
            handle: basics.handle,
            sku: basics.sku,
            vendor,
            product_type: basics.product_type,
            status,
            price: Money(price),
            compare_at_price,
            currency: tenant.currency,
            inventory_quantity: revision_rng.below(500),
            weight_grams,
            tags,
            created_at: Timestamp(self.created_at_ms(tenant, Stream::Products, index)),
            updated_at: Timestamp(self.updated_at_for(tenant, Stream::Products, index, revision)),
            revision: revision.count,
        }
    }
}

fn digits(rng: &mut SplitMix64, count: usize) -> String {
    (0..count)
        .map(|_| char::from(b'0' + rng.below(10) as u8))
        .collect()
}

struct CustomerBasics {
    first_name: &'static str,
    last_name: &'static str,
    email: String,
    address: Address,
    locale: &'static str,
    /// Continues the customer's random stream for the fields only the customer record has.
    rng: SplitMix64,
}

struct ProductBasics {
    title: String,
    handle: String,
    sku: String,
    product_type: &'static str,
    price: i64,
    /// Continues the product's random stream for the fields only the product record has.
    rng: SplitMix64,
}

#[derive(Serialize)]
struct Address {
    name: String,
    line1: String,
    line2: Option<String>,
    city: &'static str,
    postal_code: String,
    country_code: &'static str,
}

#[derive(Serialize)]
struct LineItem {
    id: String,
    product_id: String,
    sku: String,
    title: String,
    quantity: u32,
    unit_price: Money,
    total: Money,
}

#[derive(Serialize)]
struct Order {
    id: String,
    number: u64,
    created_at: Timestamp,
    updated_at: Timestamp,
    customer_id: String,
    email: String,
    status: &'static str,
    financial_status: &'static str,
    fulfillment_status: Option<&'static str>,
    currency: &'static str,
    line_items: Vec<LineItem>,
    subtotal_price: Money,
    total_discount: Money,
    shipping_price: Money,
    total_tax: Money,
    total_price: Money,
    shipping_address: Address,
    note: Option<&'static str>,
    tags: Vec<&'static str>,
    revision: u32,
}

#[derive(Serialize)]
struct Customer {
    id: String,
    email: String,
    first_name: &'static str,
    last_name: &'static str,
    phone: String,
    state: &'static str,
    locale: &'static str,
    accepts_marketing: bool,
    currency: &'static str,
    orders_count: u64,
    total_spent: Money,
    tags: Vec<&'static str>,
    default_address: Address,
    created_at: Timestamp,
    updated_at: Timestamp,
    revision: u32,
}

#[derive(Serialize)]
struct Product {
    id: String,
    title: String,
    handle: String,
    sku: String,
    vendor: &'static str,
    product_type: &'static str,
    status: &'static str,
    price: Money,
    compare_at_price: Option<Money>,
    currency: &'static str,
    inventory_quantity: u64,
    weight_grams: u64,
    tags: Vec<&'static str>,
    created_at: Timestamp,
    updated_at: Timestamp,
    revision: u32,
}

const ORDER_LIFECYCLE: [&str; 4] = ["pending", "paid", "fulfilled", "delivered"];
const CURRENCIES: &[&str] = &["EUR", "USD", "GBP", "SEK", "CHF", "PLN", "DKK", "NOK"];
const EMAIL_DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
];
const ORDER_NOTES: &[&str] = &[
    "Bitte beim Nachbarn abgeben.",
    "Gift wrap, please — it's a surprise!",
    "Laissez le colis devant la porte.",
    "Leave at the back door.",
    "Por favor, entregar por la tarde.",
    "Ring twice 🔔",
];
const ORDER_TAGS: &[&str] = &[
    "gift",
    "priority",
    "wholesale",
    "first-order",
    "subscription",
];
const CUSTOMER_TAGS: &[&str] = &["vip", "newsletter", "returning", "b2b", "wholesale"];
const PRODUCT_TAGS: &[&str] = &["summer", "bestseller", "eco", "limited", "gift-idea"];

/// (display name, ASCII slug for e-mail addresses)
const FIRST_NAMES: &[(&str, &str)] = &[
    ("Zoë", "zoe"),
    ("José", "jose"),
    ("Björn", "bjorn"),
    ("Åsa", "asa"),
    ("François", "francois"),
    ("Łukasz", "lukasz"),
    ("Søren", "soren"),
    ("Chloé", "chloe"),
    ("Mónica", "monica"),
    ("Jürgen", "jurgen"),
    ("Siobhán", "siobhan"),
    ("Þóra", "thora"),
    ("Zeynep", "zeynep"),
    ("Raphaël", "raphael"),
    ("Małgorzata", "malgorzata"),
    ("Hiroshi", "hiroshi"),
    ("Yuki", "yuki"),
    ("Amélie", "amelie"),
    ("Ingrid", "ingrid"),
    ("Mateo", "mateo"),
    ("Aisha", "aisha"),
    ("Wei", "wei"),
    ("Priya", "priya"),
    ("Olamide", "olamide"),
    ("Emma", "emma"),
    ("Liam", "liam"),
    ("Olivia", "olivia"),
    ("Noah", "noah"),
];
/// (display name, ASCII slug for e-mail addresses)
const LAST_NAMES: &[(&str, &str)] = &[
    ("Müller", "mueller"),
    ("Ångström", "angstrom"),
    ("García", "garcia"),
    ("Núñez", "nunez"),
    ("Dvořák", "dvorak"),
    ("O'Brien", "obrien"),
    ("Kowalski", "kowalski"),
    ("Johansson", "johansson"),
    ("Nguyễn", "nguyen"),
    ("Øberg", "oberg"),
    ("Lefèvre", "lefevre"),
    ("Rossi", "rossi"),
    ("Schäfer", "schaefer"),
    ("Yılmaz", "yilmaz"),
    ("田中", "tanaka"),
    ("Wójcik", "wojcik"),
    ("Brontë", "bronte"),
    ("Jónsdóttir", "jonsdottir"),
    ("Papadopoulos", "papadopoulos"),
    ("Fernández", "fernandez"),
    ("Dubois", "dubois"),
    ("Ivanova", "ivanova"),
    ("Patel", "patel"),
    ("Okafor", "okafor"),
    ("Smith", "smith"),
    ("Kim", "kim"),
    ("Lindqvist", "lindqvist"),
];

#[derive(Clone, Copy)]
struct Place {
    city: &'static str,
    country_code: &'static str,
    locale: &'static str,
    streets: &'static [&'static str],
    postal_digits: usize,
}

const PLACES: &[Place] = &[
    Place {
        city: "München",
        country_code: "DE",
        locale: "de-DE",
        streets: &["Hauptstraße", "Schillerstraße", "Am Gärtnerplatz"],
        postal_digits: 5,
    },
    Place {
        city: "Berlin",
        country_code: "DE",
        locale: "de-DE",
        streets: &["Torstraße", "Kastanienallee", "Straße des 17. Juni"],
        postal_digits: 5,
    },
    Place {
        city: "Zürich",
        country_code: "CH",
        locale: "de-CH",
        streets: &["Bahnhofstrasse", "Löwenstrasse"],
        postal_digits: 4,
    },
    Place {
        city: "Malmö",
        country_code: "SE",
        locale: "sv-SE",
        streets: &["Södra Förstadsgatan", "Storgatan"],
        postal_digits: 5,
    },
    Place {
        city: "Kraków",
        country_code: "PL",
        locale: "pl-PL",
        streets: &["ulica Floriańska", "ulica Długa"],
        postal_digits: 5,
    },
    Place {
        city: "São Paulo",
        country_code: "BR",
        locale: "pt-BR",
        streets: &["Avenida Paulista", "Rua Augusta"],
        postal_digits: 8,
    },
    Place {
        city: "Reykjavík",
        country_code: "IS",
        locale: "is-IS",
        streets: &["Laugavegur", "Skólavörðustígur"],
        postal_digits: 3,
    },
    Place {
        city: "Paris",
        country_code: "FR",
        locale: "fr-FR",
        streets: &["Rue de Rivoli", "Boulevard Saint-Germain", "Rue de la Paix"],
        postal_digits: 5,
    },
    Place {
        city: "Madrid",
        country_code: "ES",
        locale: "es-ES",
        streets: &["Calle de Alcalá", "Gran Vía"],
        postal_digits: 5,
    },
    Place {
        city: "København",
        country_code: "DK",
        locale: "da-DK",
        streets: &["Strøget", "Nørrebrogade"],
        postal_digits: 4,
    },
    Place {
        city: "Oslo",
        country_code: "NO",
        locale: "nb-NO",
        streets: &["Karl Johans gate", "Øvre Slottsgate"],
        postal_digits: 4,
    },
    Place {
        city: "İstanbul",
        country_code: "TR",
        locale: "tr-TR",
        streets: &["İstiklal Caddesi", "Bağdat Caddesi"],
        postal_digits: 5,
    },
    Place {
        city: "東京",
        country_code: "JP",
        locale: "ja-JP",
        streets: &["銀座", "渋谷"],
        postal_digits: 7,
    },
    Place {
        city: "New York",
        country_code: "US",
        locale: "en-US",
        streets: &["Broadway", "5th Avenue"],
        postal_digits: 5,
    },
    Place {
        city: "London",
        country_code: "GB",
        locale: "en-GB",
        streets: &["Baker Street", "Abbey Road"],
        postal_digits: 5,
    },
];

/// (display word, URL slug)
const ADJECTIVES: &[(&str, &str)] = &[
    ("Classic", "classic"),
    ("Organic", "organic"),
    ("Vintage", "vintage"),
    ("Everyday", "everyday"),
    ("Premium", "premium"),
    ("Recycled", "recycled"),
    ("Handmade", "handmade"),
    ("Lightweight", "lightweight"),
    ("Nordic", "nordic"),
    ("Café", "cafe"),
];
/// (display word, URL slug)
const MATERIALS: &[(&str, &str)] = &[
    ("Cotton", "cotton"),
    ("Linen", "linen"),
    ("Wool", "wool"),
    ("Leather", "leather"),
    ("Ceramic", "ceramic"),
    ("Bamboo", "bamboo"),
    ("Steel", "steel"),
    ("Merino", "merino"),
    ("Oak", "oak"),
    ("Glass", "glass"),
];
/// (display word, URL slug, product type)
const NOUNS: &[(&str, &str, &str)] = &[
    ("T-Shirt", "t-shirt", "Apparel"),
    ("Scarf", "scarf", "Apparel"),
    ("Beanie", "beanie", "Apparel"),
    ("Sneakers", "sneakers", "Footwear"),
    ("Mug", "mug", "Kitchen"),
    ("Water Bottle", "water-bottle", "Kitchen"),
    ("Backpack", "backpack", "Bags"),
    ("Tote Bag", "tote-bag", "Bags"),
    ("Notebook", "notebook", "Stationery"),
    ("Lamp", "lamp", "Home"),
    ("Candle", "candle", "Home"),
    ("Chair", "chair", "Furniture"),
];
/// (display word, URL slug)
const COLORS: &[(&str, &str)] = &[
    ("Indigo", "indigo"),
    ("Crème", "creme"),
    ("Forest Green", "forest-green"),
    ("Charcoal", "charcoal"),
    ("Sand", "sand"),
    ("Bordeaux", "bordeaux"),
    ("Ivory", "ivory"),
    ("Ocean Blue", "ocean-blue"),
    ("Saffron", "saffron"),
    ("Graphite", "graphite"),
];
const VENDORS: &[&str] = &[
    "Nordlicht & Co.",
    "Atelier Ébène",
    "Kōbō Works",
    "Casa Olé",
    "Bright Harbor",
    "Fjordhus",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn record(catalog: &Catalog, tenant: &str, stream: Stream, index: u64, epoch: u64) -> Vec<u8> {
        let tenant = catalog.tenant(tenant);
        let mut out = Vec::new();
        catalog.write_record(&mut out, &tenant, stream, index, epoch);
        out
    }

    #[test]
    fn timestamps_match_chrono() {
        let mut rng = SplitMix64::new(7);
        for _ in 0..2_000 {
            let ms = rng.range_i64(4_102_444_800_000); // 1970..2100
            let ours = Timestamp(ms).to_string();
            let chrono = DateTime::from_timestamp_millis(ms)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            assert_eq!(ours, chrono);
        }
    }

    #[test]
    fn money_prints_minor_units_as_decimals() {
        assert_eq!(Money(1250).to_string(), "12.50");
        assert_eq!(Money(5).to_string(), "0.05");
        assert_eq!(Money(-199).to_string(), "-1.99");
    }

    #[test]
    fn same_seed_and_tenant_give_the_same_bytes() {
        let first = Catalog::new(42, 100, 50, 20);
        let second = Catalog::new(42, 100, 50, 20);
        for stream in Stream::ALL {
            for index in [0, 7, 19] {
                assert_eq!(
                    record(&first, "acme", stream, index, 0),
                    record(&second, "acme", stream, index, 0)
                );
            }
        }
        assert_ne!(
            record(&first, "acme", Stream::Orders, 3, 0),
            record(&first, "globex", Stream::Orders, 3, 0)
        );
        let other_seed = Catalog::new(43, 100, 50, 20);
        assert_ne!(
            record(&first, "acme", Stream::Orders, 3, 0),
            record(&other_seed, "acme", Stream::Orders, 3, 0)
        );
    }

    #[test]
    fn records_are_realistic_json() {
        let catalog = Catalog::new(42, 100, 50, 20);
        let order: serde_json::Value =
            serde_json::from_slice(&record(&catalog, "acme", Stream::Orders, 122 % 100, 0))
                .unwrap();
        assert_eq!(order["id"], "ord_000023");
        let items = order["line_items"].as_array().unwrap();
        assert!((1..=5).contains(&items.len()));
        let customer_id = order["customer_id"].as_str().unwrap();
        assert!(customer_id.starts_with("cus_"));
        for item in items {
            assert!(item["product_id"].as_str().unwrap().starts_with("prd_"));
            assert!(item["unit_price"].as_str().unwrap().contains('.'));
        }
        let created = DateTime::parse_from_rfc3339(order["created_at"].as_str().unwrap()).unwrap();
        let updated = DateTime::parse_from_rfc3339(order["updated_at"].as_str().unwrap()).unwrap();
        assert!(created <= updated);
        assert!(updated < catalog.reference_time());
        assert!(updated >= catalog.reference_time() - chrono::Duration::days(1));
    }

    #[test]
    fn updated_at_never_precedes_created_at() {
        let catalog = Catalog::new(9, 500, 500, 500);
        let tenant = catalog.tenant("acme");
        for stream in Stream::ALL {
            for index in 0..500 {
                for epoch in [0, 3] {
                    let created = catalog.created_at_ms(&tenant, stream, index);
                    let updated = catalog.updated_at_ms(&tenant, stream, index, epoch);
                    assert!(created <= updated, "{stream} {index} epoch {epoch}");
                }
            }
        }
    }

    #[test]
    fn each_epoch_rewrites_about_a_tenth() {
        let catalog = Catalog::new(42, 0, 8_000, 1);
        let tenant = catalog.tenant("acme");
        let mut changed = 0;
        for index in 0..8_000 {
            let before = record(&catalog, "acme", Stream::Customers, index, 1);
            let after = record(&catalog, "acme", Stream::Customers, index, 2);
            if before != after {
                changed += 1;
                let updated = catalog.updated_at_ms(&tenant, Stream::Customers, index, 2);
                let reference = catalog.reference_time().timestamp_millis();
                assert!((reference + HOUR_MS..reference + 2 * HOUR_MS).contains(&updated));
            }
        }
        assert!((640..=960).contains(&changed), "{changed} of 8000 changed");
    }

    #[test]
    fn ranges_are_half_open_at_millisecond_precision() {
        let at = DateTime::from_timestamp_millis(1_000).unwrap();
        let range = UpdatedRange {
            since: Some(at),
            before: Some(at + chrono::Duration::milliseconds(2)),
        }
        .to_millis();
        assert!(!range.contains(999));
        assert!(range.contains(1_000));
        assert!(range.contains(1_001));
        assert!(!range.contains(1_002));
        let just_after = UpdatedRange {
            since: Some(at + chrono::Duration::nanoseconds(1)),
            before: None,
        }
        .to_millis();
        assert!(!just_after.contains(1_000));
        assert!(just_after.contains(1_001));
    }
}
