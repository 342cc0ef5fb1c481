//! The shop's shared state and its Rust API: epoch, fault plan, per-tenant budgets, counters,
//! the request log, and page rendering.
//!
//! Everything here is synchronous and quick; locks are `std` mutexes held for a few
//! instructions and never across an `.await`. HTTP parsing and responses live in `http`.

use crate::config::{Faults, InvalidConfig, RateBudget, ScriptedFault, ShopConfig};
use crate::cursor;
use crate::data::{Catalog, SplitMix64, Stream, Tenant, Timestamp, UpdatedRange};
use crate::drift::{self, Added, Drift};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Tenants whose name starts with this have no records in any stream: an empty source, for
/// clients that must handle a first page with nothing on it.
pub const EMPTY_TENANT_PREFIX: &str = "empty";

/// Tenants whose name starts with this get records padded with a `bulk_text` field of about
/// [`HUGE_RECORD_PADDING_BYTES`] of multilingual text, so that a page of 100 records is a body
/// of over 3 MiB: for clients that must handle huge pages.
pub const HUGE_TENANT_PREFIX: &str = "huge";

/// The approximate size of a huge tenant's `bulk_text`, in bytes of UTF-8.
pub const HUGE_RECORD_PADDING_BYTES: usize = 32 * 1024;

/// The `bulk_text` of every record of a huge tenant: built once, the same for every record.
fn bulk_text() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        const SENTENCE: &str =
            "Größenordnung — 大きなページ — Μεγάλη σελίδα — большая страница — 🦀📦 \"quoted\" \\ tab\t; ";
        let mut text = String::with_capacity(HUGE_RECORD_PADDING_BYTES + SENTENCE.len());
        while text.len() < HUGE_RECORD_PADDING_BYTES {
            text.push_str(SENTENCE);
        }
        text
    })
}

/// Once this many tenants have budget windows, expired windows are swept on the next charge,
/// so a long benchmark over many tenants does not grow the map without bound.
const BUDGET_SWEEP_THRESHOLD: usize = 10_000;

/// A running (or ready-to-run) demo shop: generated data, fault plan, counters.
///
/// Cheap to clone (an `Arc`); every clone is the same shop. Get one from
/// [`Shop::new`], or from a [`ShopServer`](crate::ShopServer) / [`ShopHandle`](crate::ShopHandle).
#[derive(Clone)]
pub struct Shop {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Shop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shop")
            .field("config", &self.inner.config)
            .field("epoch", &self.epoch())
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: ShopConfig,
    catalog: Catalog,
    /// The mutation epoch; bumped by `POST /_admin/epoch`. Read once per request.
    epoch: AtomicU64,
    faults: Mutex<Faults>,
    script: Mutex<VecDeque<ScriptedFault>>,
    /// Seeded from the shop seed so random faults are reproducible run to run.
    fault_rng: Mutex<SplitMix64>,
    budgets: Mutex<HashMap<String, BudgetWindow>>,
    counters: Counters,
    statuses: Mutex<BTreeMap<u16, u64>>,
    log: Mutex<VecDeque<RequestLogEntry>>,
    started: Instant,
    /// Flips to `true` when the server stops, so hangs and latency end early.
    shutdown: watch::Sender<bool>,
    /// Test drift per (tenant, stream); absent for untouched streams (the common case).
    drift: Mutex<HashMap<(String, Stream), Arc<Drift>>>,
    /// Requests per data endpoint, indexed by [`Endpoint`].
    calls: [AtomicU64; 4],
}

/// Locks a mutex, ignoring poisoning: every critical section here leaves the data consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    pages: AtomicU64,
    records: [AtomicU64; 3],
    faults: [AtomicU64; FaultKind::ALL.len()],
}

/// What kind of fault a data request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// A 429 from the fault plan (random or scripted).
    RateLimited,
    /// A 5xx from the fault plan.
    ServerError,
    /// Any other scripted status (400, 401, ...).
    OtherStatus,
    /// A 200 with a truncated JSON body.
    Malformed,
    /// A deliberate delay before answering.
    Hang,
    /// A 429 because the enforced per-tenant budget was spent.
    BudgetExhausted,
}

impl FaultKind {
    const ALL: [FaultKind; 6] = [
        FaultKind::RateLimited,
        FaultKind::ServerError,
        FaultKind::OtherStatus,
        FaultKind::Malformed,
        FaultKind::Hang,
        FaultKind::BudgetExhausted,
    ];

    fn position(self) -> usize {
        self as usize
    }
}

/// Records served per stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StreamCounts {
    /// Orders.
    pub orders: u64,
    /// Customers.
    pub customers: u64,
    /// Products.
    pub products: u64,
}

impl StreamCounts {
    /// The count of one stream.
    pub fn get(&self, stream: Stream) -> u64 {
        match stream {
            Stream::Orders => self.orders,
            Stream::Customers => self.customers,
            Stream::Products => self.products,
        }
    }

    /// The sum over all streams.
    pub fn total(&self) -> u64 {
        self.orders + self.customers + self.products
    }
}

/// Faults injected so far, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FaultCounts {
    /// 429s from the fault plan.
    pub rate_limited: u64,
    /// 5xx from the fault plan.
    pub server_error: u64,
    /// Other scripted statuses.
    pub other_status: u64,
    /// Truncated bodies.
    pub malformed: u64,
    /// Hangs.
    pub hang: u64,
    /// 429s from the enforced budget.
    pub budget_exhausted: u64,
}

impl FaultCounts {
    /// The sum over all kinds.
    pub fn total(&self) -> u64 {
        self.rate_limited
            + self.server_error
            + self.other_status
            + self.malformed
            + self.hang
            + self.budget_exhausted
    }
}

/// A snapshot of the shop's counters, as `GET /_admin/stats` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// The current mutation epoch.
    pub epoch: u64,
    /// Requests that reached the data API (`/v1/...` and unknown routes), faults included.
    pub requests_total: u64,
    /// Well-formed 200 pages served.
    pub pages_served: u64,
    /// Records returned in well-formed 200 pages, per stream; re-serves count again.
    pub records_served: StreamCounts,
    /// Data API responses by HTTP status (499 = the client gave up before the answer).
    pub responses_by_status: BTreeMap<u16, u64>,
    /// Faults injected, by kind.
    pub faults: FaultCounts,
}

/// One entry of the in-memory request log (data API only, never `/_admin`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestLogEntry {
    /// When the request arrived, measured from the shop's start (monotonic clock).
    #[serde(rename = "at_ms", with = "crate::config::duration_ms")]
    pub at: Duration,
    /// The HTTP method.
    pub method: String,
    /// Path and query, as requested.
    pub path: String,
    /// The status answered; 499 if the client disconnected first.
    pub status: u16,
    /// The fault injected into this request, if any.
    pub fault: Option<FaultKind>,
}

/// The per-tenant budget as it stood after charging one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BudgetSnapshot {
    pub(crate) limit: u64,
    pub(crate) remaining: u64,
    /// Whole seconds until the window refills (rounded up, at least 1).
    pub(crate) reset_secs: u64,
    /// The budget is enforced and this request went over it.
    pub(crate) exhausted: bool,
}

struct BudgetWindow {
    started: Instant,
    used: u64,
}

/// The total records of each stream for one tenant, as `GET /_admin/totals` returns them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// The tenant asked about.
    pub tenant: String,
    /// The epoch the counts are for.
    pub epoch: u64,
    /// Orders matching the filter.
    pub orders: u64,
    /// Customers matching the filter.
    pub customers: u64,
    /// Products matching the filter.
    pub products: u64,
}

/// A cursor that is not one of ours, or no longer valid for this stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidCursor;

/// The data API's endpoints, for [`Shop::api_calls`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `GET /v1/tenants/{tenant}/{stream}` (pages).
    List = 0,
    /// `GET /v1/tenants/{tenant}/{stream}?ids=…` (records by id).
    Fetch = 1,
    /// `GET /v1/tenants/{tenant}/{stream}/count`.
    Count = 2,
    /// `GET /v1/tenants/{tenant}/{stream}/manifest`.
    Manifest = 3,
}

/// Requests per data endpoint, faults and errors included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ApiCalls {
    /// Pages of a stream (`GET …/{stream}`).
    pub list: u64,
    /// Records by id (`GET …/{stream}?ids=`).
    pub fetch: u64,
    /// Window counts and digests (`GET …/{stream}/count`).
    pub count: u64,
    /// Window manifests (`GET …/{stream}/manifest`).
    pub manifest: u64,
}

impl ApiCalls {
    /// Requests of every endpoint.
    pub fn total(&self) -> u64 {
        self.list + self.fetch + self.count + self.manifest
    }

    /// Requests reconciliation makes (everything but pages).
    pub fn reconciliation(&self) -> u64 {
        self.fetch + self.count + self.manifest
    }
}

/// One (tenant, stream) as one request sees it: generated records with the drift overlay.
struct View {
    catalog: Catalog,
    tenant: Tenant,
    huge: bool,
    stream: Stream,
    epoch: u64,
    /// Generated records; indexes from here to `end` are added ones.
    base_len: u64,
    end: u64,
    drift: Option<Arc<Drift>>,
}

impl View {
    fn exists(&self, index: u64) -> bool {
        index < self.end
            && !self
                .drift
                .as_ref()
                .is_some_and(|drift| drift.is_deleted(index))
    }

    fn added(&self, index: u64) -> Option<Added> {
        let position = index.checked_sub(self.base_len)?;
        self.drift.as_ref()?.added.get(position as usize).copied()
    }

    fn updated_at_ms(&self, index: u64) -> i64 {
        match self.added(index) {
            Some(added) => added.updated_ms,
            None => self
                .catalog
                .updated_at_ms(&self.tenant, self.stream, index, self.epoch),
        }
    }

    fn created_at_ms(&self, index: u64) -> i64 {
        match self.added(index) {
            Some(added) => added.created_ms,
            None => self.catalog.created_at_ms(&self.tenant, self.stream, index),
        }
    }

    /// Appends record `index` as the data API serves it: drift applied, padded for huge
    /// tenants.
    fn write(&self, out: &mut Vec<u8>, index: u64) {
        let start = out.len();
        self.catalog
            .write_record(out, &self.tenant, self.stream, index, self.epoch);
        if let Some(drift) = &self.drift {
            let mut record = out.split_off(start);
            drift.apply(self.base_len, index, &mut record);
            out.extend_from_slice(&record);
        }
        if self.huge {
            // A record is one JSON object: reopen it and add the padding as its last field.
            debug_assert_eq!(out.last(), Some(&b'}'));
            out.pop();
            out.extend_from_slice(b",\"bulk_text\":");
            serde_json::to_writer(&mut *out, bulk_text())
                .expect("serializing a string into memory cannot fail");
            out.push(b'}');
        }
    }
}

/// One page, serialized.
#[derive(Debug)]
pub(crate) struct RenderedPage {
    pub(crate) body: Vec<u8>,
    pub(crate) records: usize,
}

impl Shop {
    /// A shop with this configuration, ready to be served (see [`Shop::router`]).
    pub fn new(config: ShopConfig) -> Result<Self, InvalidConfig> {
        config.validate()?;
        let catalog = Catalog::new(
            config.seed,
            config.orders,
            config.customers,
            config.products,
        );
        let fault_rng = SplitMix64::new(config.seed ^ 0x6661_756c_7473);
        let (shutdown, _) = watch::channel(false);
        Ok(Self {
            inner: Arc::new(Inner {
                faults: Mutex::new(config.faults.clone()),
                config,
                catalog,
                epoch: AtomicU64::new(0),
                script: Mutex::new(VecDeque::new()),
                fault_rng: Mutex::new(fault_rng),
                budgets: Mutex::new(HashMap::new()),
                counters: Counters::default(),
                statuses: Mutex::new(BTreeMap::new()),
                log: Mutex::new(VecDeque::new()),
                started: Instant::now(),
                shutdown,
                drift: Mutex::new(HashMap::new()),
                calls: Default::default(),
            }),
        })
    }

    /// The configuration the shop was built with (faults as initially configured).
    pub fn config(&self) -> &ShopConfig {
        &self.inner.config
    }

    /// The shop's fixed "now", derived from the seed (never the wall clock). Every original
    /// record was last updated in the day before it; epoch `e` stamps its rewrites within
    /// `[reference + (e-1) h, reference + e h)`.
    pub fn reference_time(&self) -> DateTime<Utc> {
        self.inner.catalog.reference_time()
    }

    /// The current mutation epoch (0 at start).
    pub fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::SeqCst)
    }

    /// Starts the next mutation epoch: about 10% of each stream's records (chosen by hashing
    /// the index) change content and get a newer `updated_at`. Returns the new epoch.
    pub fn bump_epoch(&self) -> u64 {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The random fault settings in force.
    pub fn faults(&self) -> Faults {
        lock(&self.inner.faults).clone()
    }

    /// Replaces the random fault settings. Scripted faults are unaffected.
    pub fn set_faults(&self, faults: Faults) -> Result<(), InvalidConfig> {
        faults.validate()?;
        *lock(&self.inner.faults) = faults;
        Ok(())
    }

    /// Queues faults for the next data requests, one each, in order, before any random fault.
    pub fn script(&self, faults: impl IntoIterator<Item = ScriptedFault>) {
        lock(&self.inner.script).extend(faults);
    }

    /// How many scripted faults are still queued.
    pub fn scripted_remaining(&self) -> usize {
        lock(&self.inner.script).len()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let counters = &self.inner.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let fault = |kind: FaultKind| load(&counters.faults[kind.position()]);
        Stats {
            epoch: self.epoch(),
            requests_total: load(&counters.requests),
            pages_served: load(&counters.pages),
            records_served: StreamCounts {
                orders: load(&counters.records[Stream::Orders.position()]),
                customers: load(&counters.records[Stream::Customers.position()]),
                products: load(&counters.records[Stream::Products.position()]),
            },
            responses_by_status: lock(&self.inner.statuses).clone(),
            faults: FaultCounts {
                rate_limited: fault(FaultKind::RateLimited),
                server_error: fault(FaultKind::ServerError),
                other_status: fault(FaultKind::OtherStatus),
                malformed: fault(FaultKind::Malformed),
                hang: fault(FaultKind::Hang),
                budget_exhausted: fault(FaultKind::BudgetExhausted),
            },
        }
    }

    /// How many records `stream` has for `tenant`: the configured volume, less the records
    /// deleted and plus the records added by test drift (see [`Shop::delete_records`]).
    pub fn total(&self, tenant: &str, stream: Stream) -> u64 {
        let base = self.base_len(tenant, stream);
        match self.drift(tenant, stream) {
            None => base,
            Some(drift) => base - drift.deleted.len() as u64 + drift.added.len() as u64,
        }
    }

    /// Generated records of `stream` for `tenant`, before drift.
    fn base_len(&self, tenant: &str, stream: Stream) -> u64 {
        if tenant.starts_with(EMPTY_TENANT_PREFIX) {
            return 0;
        }
        self.inner.catalog.len(stream)
    }

    /// The drift overlay of (tenant, stream), if a test made any.
    fn drift(&self, tenant: &str, stream: Stream) -> Option<Arc<Drift>> {
        lock(&self.inner.drift)
            .get(&(tenant.to_owned(), stream))
            .cloned()
    }

    /// Changes the drift overlay of (tenant, stream), copy on write.
    fn change_drift<T>(
        &self,
        tenant: &str,
        stream: Stream,
        change: impl FnOnce(&mut Drift) -> T,
    ) -> T {
        let mut overlays = lock(&self.inner.drift);
        let entry = overlays.entry((tenant.to_owned(), stream)).or_default();
        change(Arc::make_mut(entry))
    }

    /// One record as the data API would serve it now (current epoch, drift applied), or `None`
    /// when `external_id` (such as `cus_000042`) is not a record of `stream` for `tenant`. A
    /// test oracle: compare what a client stored with what the shop holds.
    pub fn record(
        &self,
        tenant: &str,
        stream: Stream,
        external_id: &str,
    ) -> Option<serde_json::Value> {
        let view = self.view(tenant, stream);
        let index = Catalog::index_of(stream, external_id)?;
        if !view.exists(index) {
            return None;
        }
        let mut out = Vec::new();
        view.write(&mut out, index);
        serde_json::from_slice(&out).ok()
    }

    /// A snapshot of (tenant, stream) for serving one request.
    fn view(&self, tenant_name: &str, stream: Stream) -> View {
        let drift = self.drift(tenant_name, stream);
        let base_len = self.base_len(tenant_name, stream);
        View {
            catalog: self.inner.catalog,
            tenant: self.inner.catalog.tenant(tenant_name),
            huge: tenant_name.starts_with(HUGE_TENANT_PREFIX),
            stream,
            epoch: self.epoch(),
            base_len,
            end: base_len + drift.as_ref().map_or(0, |drift| drift.added.len() as u64),
            drift,
        }
    }

    /// How many records of `stream` a client paginating with these `updated_since` /
    /// `updated_before` filters would receive right now (current epoch). O(records).
    pub fn count(&self, tenant: &str, stream: Stream, range: UpdatedRange) -> u64 {
        if range.is_open() {
            return self.total(tenant, stream);
        }
        self.matching_indexes(tenant, stream, range).count() as u64
    }

    /// The ids of the records [`Shop::count`] counts, in serving order.
    pub fn external_ids(&self, tenant: &str, stream: Stream, range: UpdatedRange) -> Vec<String> {
        self.matching_indexes(tenant, stream, range)
            .map(|index| Catalog::external_id(stream, index))
            .collect()
    }

    /// Totals of every stream for `tenant` under `range`, as `GET /_admin/totals` reports.
    pub fn totals(&self, tenant: &str, range: UpdatedRange) -> Totals {
        Totals {
            tenant: tenant.to_owned(),
            epoch: self.epoch(),
            orders: self.count(tenant, Stream::Orders, range),
            customers: self.count(tenant, Stream::Customers, range),
            products: self.count(tenant, Stream::Products, range),
        }
    }

    /// The request log, oldest first (at most `request_log_capacity` entries).
    pub fn request_log(&self) -> Vec<RequestLogEntry> {
        lock(&self.inner.log).iter().cloned().collect()
    }

    /// Empties the request log (counters are kept).
    pub fn clear_request_log(&self) {
        lock(&self.inner.log).clear();
    }

    /// Test drift: deletes these records of (tenant, stream) at the source. Returns how many
    /// existed and are now gone; unknown ids are ignored.
    pub fn delete_records(&self, tenant: &str, stream: Stream, external_ids: &[&str]) -> usize {
        let view = self.view(tenant, stream);
        let indexes: Vec<u64> = external_ids
            .iter()
            .filter_map(|id| Catalog::index_of(stream, id))
            .filter(|index| view.exists(*index))
            .collect();
        self.change_drift(tenant, stream, |drift| {
            indexes
                .iter()
                .filter(|index| drift.deleted.insert(**index))
                .count()
        })
    }

    /// Test drift: adds a record "behind the cursor", created at `created_at` and last updated
    /// a minute later (both in the past), so a pull of recent changes never sees it. Returns
    /// its id.
    pub fn add_record_behind(
        &self,
        tenant: &str,
        stream: Stream,
        created_at: DateTime<Utc>,
    ) -> String {
        let base_len = self.base_len(tenant, stream);
        let created_ms = created_at.timestamp_millis();
        let position = self.change_drift(tenant, stream, |drift| {
            drift.added.push(Added {
                created_ms,
                updated_ms: created_ms + 60_000,
            });
            drift.added.len() as u64 - 1
        });
        Catalog::external_id(stream, base_len + position)
    }

    /// Test drift: changes these records' content (a tag is added) without touching their
    /// `updated_at`, as a source with a lazy change clock does. Returns how many it changed.
    pub fn edit_records_silently(
        &self,
        tenant: &str,
        stream: Stream,
        external_ids: &[&str],
    ) -> usize {
        let view = self.view(tenant, stream);
        let indexes: Vec<u64> = external_ids
            .iter()
            .filter_map(|id| Catalog::index_of(stream, id))
            .filter(|index| view.exists(*index))
            .collect();
        self.change_drift(tenant, stream, |drift| {
            for index in &indexes {
                *drift.edited.entry(*index).or_default() += 1;
            }
            indexes.len()
        })
    }

    /// Requests per data endpoint so far (faults included), so tests can assert what a client
    /// spent.
    pub fn api_calls(&self) -> ApiCalls {
        let load = |endpoint: Endpoint| self.inner.calls[endpoint as usize].load(Ordering::Relaxed);
        ApiCalls {
            list: load(Endpoint::List),
            fetch: load(Endpoint::Fetch),
            count: load(Endpoint::Count),
            manifest: load(Endpoint::Manifest),
        }
    }

    pub(crate) fn count_call(&self, endpoint: Endpoint) {
        self.inner.calls[endpoint as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn matching_indexes(
        &self,
        tenant: &str,
        stream: Stream,
        range: UpdatedRange,
    ) -> impl Iterator<Item = u64> {
        let view = self.view(tenant, stream);
        let millis = range.to_millis();
        (0..view.end)
            .filter(move |&index| view.exists(index) && millis.contains(view.updated_at_ms(index)))
    }

    /// Serializes one page: records in index order from the cursor, filtered by `range`.
    ///
    /// Without a filter or drift this is O(limit). Otherwise it scans indexes from the cursor
    /// and stops at the first match after the page, which becomes the next cursor: a whole
    /// pagination scans each index once, however sparse the window.
    pub(crate) fn render_page(
        &self,
        tenant_name: &str,
        stream: Stream,
        limit: usize,
        cursor: Option<&str>,
        range: UpdatedRange,
    ) -> Result<RenderedPage, InvalidCursor> {
        let view = self.view(tenant_name, stream);
        let len = view.end;
        let start = match cursor {
            None => 0,
            Some(text) => cursor::decode(view.tenant.key(), stream, text)
                .filter(|index| *index <= len)
                .ok_or(InvalidCursor)?,
        };
        let filtered = !range.is_open() || view.drift.is_some();
        let millis = range.to_millis();
        let matches = |index: u64| {
            !filtered || (view.exists(index) && millis.contains(view.updated_at_ms(index)))
        };

        // Orders are ~1 KiB of JSON each; reserving that avoids most regrowth.
        let padding = if view.huge {
            HUGE_RECORD_PADDING_BYTES
        } else {
            0
        };
        let mut body = Vec::with_capacity(64 + limit * (1024 + padding));
        body.extend_from_slice(b"{\"data\":[");
        let mut records = 0;
        let mut index = start;
        while index < len && records < limit {
            if matches(index) {
                if records > 0 {
                    body.push(b',');
                }
                view.write(&mut body, index);
                records += 1;
            }
            index += 1;
        }
        while filtered && index < len && !matches(index) {
            index += 1;
        }
        if index < len {
            body.extend_from_slice(b"],\"has_more\":true,\"next_cursor\":\"");
            // Cursors are ASCII letters, digits and '_': nothing to escape.
            body.extend_from_slice(cursor::encode(view.tenant.key(), stream, index).as_bytes());
            body.extend_from_slice(b"\"}");
        } else {
            body.extend_from_slice(b"],\"has_more\":false,\"next_cursor\":null}");
        }
        Ok(RenderedPage { body, records })
    }

    /// Serializes the records with these ids, in the order asked, as a page with no next
    /// cursor; ids that are not (or no longer) records are left out.
    pub(crate) fn render_by_ids(
        &self,
        tenant_name: &str,
        stream: Stream,
        ids: &[&str],
    ) -> RenderedPage {
        let view = self.view(tenant_name, stream);
        let mut body = Vec::with_capacity(64 + ids.len() * 1024);
        body.extend_from_slice(b"{\"data\":[");
        let mut records = 0;
        for id in ids {
            let Some(index) = Catalog::index_of(stream, id).filter(|index| view.exists(*index))
            else {
                continue;
            };
            if records > 0 {
                body.push(b',');
            }
            view.write(&mut body, index);
            records += 1;
        }
        body.extend_from_slice(b"],\"has_more\":false,\"next_cursor\":null}");
        RenderedPage { body, records }
    }

    /// `{"count", "digest"}` of the records created in `range`. O(records), fingerprinting
    /// every record in the window.
    pub(crate) fn render_count(
        &self,
        tenant_name: &str,
        stream: Stream,
        range: UpdatedRange,
    ) -> Vec<u8> {
        let view = self.view(tenant_name, stream);
        let millis = range.to_millis();
        let mut fingerprints = Vec::new();
        let mut record = Vec::with_capacity(1024);
        for index in 0..view.end {
            if view.exists(index) && millis.contains(view.created_at_ms(index)) {
                record.clear();
                view.write(&mut record, index);
                fingerprints.push(drift::fingerprint(&record));
            }
        }
        let body = serde_json::json!({
            "count": fingerprints.len(),
            "digest": drift::digest(fingerprints.iter().map(String::as_str)),
        });
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// One page of the manifest of the records created in `range`: `{"data": [{"id",
    /// "updated_at", "fingerprint"}], "has_more", "next_cursor"}`, cursors as for pages.
    pub(crate) fn render_manifest(
        &self,
        tenant_name: &str,
        stream: Stream,
        limit: usize,
        cursor: Option<&str>,
        range: UpdatedRange,
    ) -> Result<Vec<u8>, InvalidCursor> {
        let view = self.view(tenant_name, stream);
        let len = view.end;
        let start = match cursor {
            None => 0,
            Some(text) => cursor::decode(view.tenant.key(), stream, text)
                .filter(|index| *index <= len)
                .ok_or(InvalidCursor)?,
        };
        let millis = range.to_millis();
        let matches = |index: u64| view.exists(index) && millis.contains(view.created_at_ms(index));
        let mut entries = Vec::new();
        let mut record = Vec::with_capacity(1024);
        let mut index = start;
        while index < len && entries.len() < limit {
            if matches(index) {
                record.clear();
                view.write(&mut record, index);
                entries.push(serde_json::json!({
                    "id": Catalog::external_id(stream, index),
                    "updated_at": Timestamp(view.updated_at_ms(index)).to_string(),
                    "fingerprint": drift::fingerprint(&record),
                }));
            }
            index += 1;
        }
        while index < len && !matches(index) {
            index += 1;
        }
        let next_cursor = (index < len).then(|| cursor::encode(view.tenant.key(), stream, index));
        let body = serde_json::json!({
            "data": entries,
            "has_more": next_cursor.is_some(),
            "next_cursor": next_cursor,
        });
        Ok(serde_json::to_vec(&body).unwrap_or_default())
    }

    /// Counts a data request and charges the tenant's budget.
    pub(crate) fn charge_budget(&self, tenant: &str) -> BudgetSnapshot {
        let RateBudget {
            limit,
            window,
            enforce,
        } = self.inner.config.rate_budget;
        let now = Instant::now();
        let mut budgets = lock(&self.inner.budgets);
        if budgets.len() >= BUDGET_SWEEP_THRESHOLD && !budgets.contains_key(tenant) {
            budgets.retain(|_, budget| now.duration_since(budget.started) < window);
        }
        let budget = budgets.entry(tenant.to_owned()).or_insert(BudgetWindow {
            started: now,
            used: 0,
        });
        let mut elapsed = now.duration_since(budget.started);
        if elapsed >= window {
            budget.started = now;
            budget.used = 0;
            elapsed = Duration::ZERO;
        }
        budget.used += 1;
        let until_reset = window - elapsed;
        BudgetSnapshot {
            limit,
            remaining: limit.saturating_sub(budget.used),
            reset_secs: until_reset.as_secs() + u64::from(until_reset.subsec_nanos() > 0),
            exhausted: enforce && budget.used > limit,
        }
    }

    /// The latency to add and the fault (scripted first, else drawn) for one data request.
    pub(crate) fn plan_fault(&self) -> (Duration, Option<ScriptedFault>) {
        let faults = self.faults();
        if let Some(scripted) = lock(&self.inner.script).pop_front() {
            return (faults.latency, Some(scripted));
        }
        if !faults.any_random() {
            return (faults.latency, None);
        }
        let draw = lock(&self.inner.fault_rng).unit();
        let fault = if draw < faults.p429 {
            Some(ScriptedFault::rate_limited(faults.retry_after_secs))
        } else if draw < faults.p429 + faults.p5xx {
            Some(ScriptedFault::status(503))
        } else if draw < faults.p429 + faults.p5xx + faults.pmalformed {
            Some(ScriptedFault::Malformed)
        } else {
            None
        };
        (faults.latency, fault)
    }

    pub(crate) fn count_fault(&self, kind: FaultKind) {
        self.inner.counters.faults[kind.position()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_page(&self, stream: Stream, records: usize) {
        let counters = &self.inner.counters;
        counters.pages.fetch_add(1, Ordering::Relaxed);
        counters.records[stream.position()].fetch_add(records as u64, Ordering::Relaxed);
    }

    /// Starts the log entry of a data request; it is written when the recorder drops.
    pub(crate) fn begin_request(&self, method: &str, path: &str) -> RequestRecorder {
        self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        RequestRecorder {
            shop: self.clone(),
            at: self.inner.started.elapsed(),
            method: method.to_owned(),
            path: path.to_owned(),
            status: None,
            fault: None,
        }
    }

    fn finish_request(&self, entry: RequestLogEntry) {
        *lock(&self.inner.statuses).entry(entry.status).or_default() += 1;
        let capacity = self.inner.config.request_log_capacity;
        if capacity == 0 {
            return;
        }
        let mut log = lock(&self.inner.log);
        while log.len() >= capacity {
            log.pop_front();
        }
        log.push_back(entry);
    }

    /// Waits `duration`, or less if the server is stopping. Returns `false` when cut short.
    pub(crate) async fn pause(&self, duration: Duration) -> bool {
        if duration.is_zero() {
            return true;
        }
        let mut stopping = self.inner.shutdown.subscribe();
        tokio::select! {
            () = tokio::time::sleep(duration) => true,
            _ = stopping.wait_for(|stopping| *stopping) => false,
        }
    }

    /// Ends pending hangs and latency so a graceful shutdown does not wait for them.
    pub(crate) fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }
}

/// Writes a request's log entry and status count when dropped, so requests abandoned by the
/// client mid-hang are still logged (as 499).
pub(crate) struct RequestRecorder {
    shop: Shop,
    at: Duration,
    method: String,
    path: String,
    status: Option<u16>,
    fault: Option<FaultKind>,
}

impl RequestRecorder {
    pub(crate) fn set_status(&mut self, status: u16) {
        self.status = Some(status);
    }

    /// Marks the request as faulted and counts the fault.
    pub(crate) fn set_fault(&mut self, kind: FaultKind) {
        self.shop.count_fault(kind);
        self.fault = Some(kind);
    }
}

impl Drop for RequestRecorder {
    fn drop(&mut self) {
        self.shop.finish_request(RequestLogEntry {
            at: self.at,
            method: std::mem::take(&mut self.method),
            path: std::mem::take(&mut self.path),
            status: self.status.unwrap_or(499),
            fault: self.fault,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(orders: u64) -> Shop {
        Shop::new(ShopConfig::with_volume(orders, 40, 30)).unwrap()
    }

    fn ids(page: &RenderedPage) -> (Vec<String>, Option<String>) {
        let value: serde_json::Value = serde_json::from_slice(&page.body).unwrap();
        let ids = value["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|record| record["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            value["has_more"].as_bool().unwrap(),
            !value["next_cursor"].is_null()
        );
        (ids, value["next_cursor"].as_str().map(str::to_owned))
    }

    fn paginate(
        shop: &Shop,
        stream: Stream,
        limit: usize,
        range: UpdatedRange,
    ) -> (Vec<String>, usize) {
        let mut all = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = shop
                .render_page("acme", stream, limit, cursor.as_deref(), range)
                .unwrap();
            pages += 1;
            let (ids, next) = ids(&page);
            assert_eq!(ids.len(), page.records);
            all.extend(ids);
            match next {
                Some(next) => cursor = Some(next),
                None => return (all, pages),
            }
        }
    }

    #[test]
    fn pages_end_exactly_at_the_last_record() {
        // 500 is a multiple of 250: the last full page must say has_more = false, with no
        // empty page after it.
        let (ids, pages) = paginate(&shop(500), Stream::Orders, 250, UpdatedRange::all());
        assert_eq!((ids.len(), pages), (500, 2));
        assert_eq!(ids[0], "ord_000001");
        assert_eq!(ids[499], "ord_000500");
        let (ids, pages) = paginate(&shop(501), Stream::Orders, 250, UpdatedRange::all());
        assert_eq!((ids.len(), pages), (501, 3));
        let (ids, pages) = paginate(&shop(0), Stream::Orders, 100, UpdatedRange::all());
        assert_eq!((ids.len(), pages), (0, 1));
    }

    #[test]
    fn filtered_pages_match_the_count_and_stay_in_index_order() {
        let shop = shop(2_000);
        let reference = shop.reference_time();
        let range = UpdatedRange {
            since: Some(reference - chrono::Duration::hours(7)),
            before: Some(reference - chrono::Duration::hours(3)),
        };
        let (ids, _) = paginate(&shop, Stream::Orders, 37, range);
        assert_eq!(ids, shop.external_ids("acme", Stream::Orders, range));
        assert_eq!(ids.len() as u64, shop.count("acme", Stream::Orders, range));
        assert!(ids.len() > 100 && ids.len() < 1_000, "{}", ids.len());
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn an_epoch_moves_its_rewrites_after_the_reference_time() {
        let shop = shop(4_000);
        let since_reference = UpdatedRange {
            since: Some(shop.reference_time()),
            before: None,
        };
        assert_eq!(shop.count("acme", Stream::Orders, since_reference), 0);
        shop.bump_epoch();
        let changed = shop.count("acme", Stream::Orders, since_reference);
        assert!((300..=500).contains(&changed), "{changed} of 4000");
        let (ids, _) = paginate(&shop, Stream::Orders, 250, since_reference);
        assert_eq!(ids.len() as u64, changed);
    }

    #[test]
    fn cursors_past_the_end_or_from_elsewhere_are_refused() {
        let shop = shop(10);
        let page = shop
            .render_page("acme", Stream::Orders, 4, None, UpdatedRange::all())
            .unwrap();
        let (_, next) = ids(&page);
        let next = next.unwrap();
        assert!(shop
            .render_page("acme", Stream::Orders, 4, Some(&next), UpdatedRange::all())
            .is_ok());
        for (tenant, stream, cursor) in [
            ("globex", Stream::Orders, next.as_str()),
            ("acme", Stream::Customers, next.as_str()),
            ("acme", Stream::Orders, "not-a-cursor"),
        ] {
            assert_eq!(
                shop.render_page(tenant, stream, 4, Some(cursor), UpdatedRange::all())
                    .unwrap_err(),
                InvalidCursor
            );
        }
        let beyond = cursor::encode(shop.inner.catalog.tenant("acme").key(), Stream::Orders, 11);
        assert!(shop
            .render_page(
                "acme",
                Stream::Orders,
                4,
                Some(&beyond),
                UpdatedRange::all()
            )
            .is_err());
    }

    #[test]
    fn empty_tenants_have_nothing_and_huge_tenants_have_big_records() {
        let shop = shop(300);
        let empty = shop
            .render_page("empty-acme", Stream::Orders, 100, None, UpdatedRange::all())
            .unwrap();
        assert_eq!(ids(&empty), (vec![], None));
        assert_eq!(shop.total("empty-acme", Stream::Customers), 0);
        assert_eq!(shop.totals("empty-acme", UpdatedRange::all()).orders, 0);
        assert_eq!(
            shop.record("empty-acme", Stream::Orders, "ord_000001"),
            None
        );

        let huge = shop
            .render_page("huge-acme", Stream::Orders, 100, None, UpdatedRange::all())
            .unwrap();
        assert_eq!(huge.records, 100);
        assert!(
            huge.body.len() > 3 * 1024 * 1024,
            "{} bytes",
            huge.body.len()
        );
        let (huge_ids, next) = ids(&huge);
        assert!(next.is_some());
        let normal = shop
            .render_page("acme", Stream::Orders, 100, None, UpdatedRange::all())
            .unwrap();
        assert_eq!(ids(&normal).0, huge_ids, "same records, only bigger");
        assert!(
            normal.body.len() < 200 * 1024,
            "{} bytes",
            normal.body.len()
        );

        let value: serde_json::Value = serde_json::from_slice(&huge.body).unwrap();
        let text = value["data"][0]["bulk_text"].as_str().unwrap();
        assert!(text.len() >= HUGE_RECORD_PADDING_BYTES);
        assert!(text.contains("大きなページ") && text.contains("\"quoted\""));
    }

    #[test]
    fn record_returns_what_the_page_serves() {
        let shop = shop(30);
        shop.bump_epoch();
        for tenant in ["acme", "huge-acme"] {
            let page = shop
                .render_page(tenant, Stream::Customers, 40, None, UpdatedRange::all())
                .unwrap();
            let value: serde_json::Value = serde_json::from_slice(&page.body).unwrap();
            for served in value["data"].as_array().unwrap() {
                let id = served["id"].as_str().unwrap();
                assert_eq!(
                    shop.record(tenant, Stream::Customers, id).as_ref(),
                    Some(served)
                );
            }
        }
        for missing in [
            "cus_000041",
            "cus_000000",
            "cus_1",
            "cus_0000001",
            "ord_000001x",
            "",
        ] {
            assert_eq!(
                shop.record("acme", Stream::Customers, missing),
                None,
                "{missing}"
            );
        }
        assert!(shop.record("acme", Stream::Orders, "cus_000001").is_none());
    }

    #[test]
    fn scripted_faults_come_first_and_in_order() {
        let shop = shop(10);
        shop.script([ScriptedFault::status(503), ScriptedFault::Malformed]);
        assert_eq!(shop.plan_fault().1, Some(ScriptedFault::status(503)));
        assert_eq!(shop.plan_fault().1, Some(ScriptedFault::Malformed));
        assert_eq!(shop.plan_fault().1, None);
    }

    #[test]
    fn random_faults_are_reproducible_from_the_seed() {
        let draws = || {
            let shop = shop(10);
            shop.set_faults(Faults {
                p429: 0.2,
                p5xx: 0.2,
                pmalformed: 0.1,
                ..Faults::default()
            })
            .unwrap();
            (0..200).map(|_| shop.plan_fault().1).collect::<Vec<_>>()
        };
        let first = draws();
        assert_eq!(first, draws());
        let faulted = first.iter().filter(|fault| fault.is_some()).count();
        assert!((60..=140).contains(&faulted), "{faulted} of 200");
    }

    #[test]
    fn the_budget_counts_down_and_can_be_enforced() {
        let shop = Shop::new(ShopConfig {
            rate_budget: RateBudget {
                limit: 2,
                window: Duration::from_secs(30),
                enforce: true,
            },
            ..ShopConfig::with_volume(1, 1, 1)
        })
        .unwrap();
        let first = shop.charge_budget("acme");
        assert_eq!(
            (first.limit, first.remaining, first.exhausted),
            (2, 1, false)
        );
        assert!((1..=30).contains(&first.reset_secs));
        assert!(!shop.charge_budget("acme").exhausted);
        assert!(shop.charge_budget("acme").exhausted);
        assert!(
            !shop.charge_budget("globex").exhausted,
            "budgets are per tenant"
        );
    }

    #[test]
    fn the_request_log_keeps_the_newest_entries() {
        let shop = Shop::new(ShopConfig {
            request_log_capacity: 3,
            ..ShopConfig::with_volume(1, 1, 1)
        })
        .unwrap();
        for n in 0..5 {
            let mut request = shop.begin_request("GET", &format!("/v1/{n}"));
            request.set_status(200);
        }
        drop(shop.begin_request("GET", "/v1/abandoned"));
        let paths: Vec<_> = shop
            .request_log()
            .into_iter()
            .map(|e| (e.path, e.status))
            .collect();
        assert_eq!(
            paths,
            vec![
                ("/v1/3".to_owned(), 200),
                ("/v1/4".to_owned(), 200),
                ("/v1/abandoned".to_owned(), 499)
            ]
        );
        assert_eq!(shop.stats().requests_total, 6);
    }
}
