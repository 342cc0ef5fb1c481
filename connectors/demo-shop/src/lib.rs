//! A local mock e-commerce API (orders, customers, products per tenant) for Tributary's offline
//! demo, its tests and its benchmarks. It speaks the shape real shop APIs do: opaque cursor
//! pagination, `updated_since` windows, rate-limit headers, JSON error bodies; and it can
//! misbehave on purpose (latency, 429, 5xx, truncated bodies, hangs), randomly from a seed or
//! exactly as a test scripts it.
//!
//! Data is generated on the fly from (seed, tenant, stream, index, epoch): nothing is stored,
//! the same seed always serves the same bytes, and a page costs O(page size).
//!
//! Three tenant name prefixes shape a tenant: `locked…` is always refused with 401
//! ([`LOCKED_TENANT_PREFIX`]), `empty…` has no records ([`EMPTY_TENANT_PREFIX`]), and
//! `huge…` has records padded to ~32 KiB each ([`HUGE_TENANT_PREFIX`]).
//!
//! This crate knows nothing about Tributary's connector contract; the `demo` connector is the
//! client. Start one in a test with [`spawn`]:
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use tributary_demo_shop::{spawn, ScriptedFault, ShopConfig, Stream};
//! let shop = spawn(ShopConfig::with_volume(1_000, 200, 50)).await?;
//! shop.script([ScriptedFault::status(503)]);
//! let url = format!("{}/v1/tenants/acme/orders?limit=250", shop.url());
//! assert_eq!(shop.total("acme", Stream::Orders), 1_000);
//! # let _ = url; Ok(()) }
//! ```

mod config;
mod cursor;
mod data;
mod drift;
mod http;
mod server;
mod shop;

pub use config::{
    Faults, InvalidConfig, RateBudget, ScriptedFault, ShopConfig, DEFAULT_CUSTOMERS,
    DEFAULT_ORDERS, DEFAULT_PRODUCTS, DEFAULT_REQUEST_LOG_CAPACITY, DEFAULT_SEED,
};
pub use data::{Stream, UnknownStream, UpdatedRange};
pub use http::{DEFAULT_PAGE_LIMIT, LOCKED_TENANT_PREFIX, MAX_IDS, MAX_PAGE_LIMIT};
pub use server::{spawn, ShopHandle, ShopServer};
pub use shop::{
    ApiCalls, FaultCounts, FaultKind, RequestLogEntry, Shop, Stats, StreamCounts, Totals,
    EMPTY_TENANT_PREFIX, HUGE_RECORD_PADDING_BYTES, HUGE_TENANT_PREFIX,
};
