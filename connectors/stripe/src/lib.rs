//! The `stripe` connector: pulls charges, customers and invoices from Stripe's list API
//! (`GET /v1/charges` etc.), one page at a time.
//!
//! It maps the list API onto the connector contract:
//!
//! * **Settings**: [`StripeSettings`], checked against their derived JSON Schema by the typed
//!   connector layer ([`TypedConnector`]), so every bad field is reported with its path; the
//!   key's prefix, the base URL and the API version are checked after, also all at once.
//! * **Pagination**: `limit` + `starting_after=<last id of the previous page>` + `has_more`.
//!   The [`Cursor`] is opaque to the runtime; the typed layer stores it as versioned JSON
//!   (`t1:{"stream":"charges","after":"ch_3Mml…","gte":1717000000,"lt":null}`), and a cursor
//!   made for another stream or window, or one that does not parse, is refused as
//!   cursor-invalid, which restarts the window, rather than skipping records. A page that says `has_more` but ends at the id
//!   it started after is a permanent "pagination loop" error.
//! * **Windows**: `window.from`/`window.to` become `created[gte]`/`created[lt]` (unix seconds,
//!   rounded up; see [`CreatedRange::from_window`]). Stripe lists newest first.
//! * **Records**: `external_id` is the object's `id`, `data` the object as Stripe sent it, and
//!   `updated_at` its **`created`** time: Stripe objects have no updated-at timestamp (a charge
//!   that is later refunded, an invoice later paid, keep their `created`). A window therefore
//!   selects by creation, and changes to old objects are seen only when their window is pulled
//!   again (reconciliation re-pulls; unchanged records cost nothing to re-ingest).
//! * **Errors**: Stripe's error bodies (`{"error": {"type", "code", "message", "param"}}`) and
//!   its `Stripe-Should-Retry` header decide the [`ConnectorError`] class; messages carry
//!   Stripe's type, code, message and `Request-Id`, and never the API key.
//! * **Tenancy**: one Stripe account per source. The tenant id is informational unless the
//!   settings say `"connect": true`, in which case it is sent as `Stripe-Account`.
//!
//! With the `mock` feature, the `mock` module is a local stand-in for the Stripe API that other
//! crates' tests can start. This crate knows nothing about queues or databases.
//!
//! [`Cursor`]: tributary_connector::Cursor
//! [`TypedConnector`]: tributary_connector::typed::TypedConnector
//! [`ConnectorError`]: tributary_connector::ConnectorError

mod connector;
mod cursor;
#[cfg(feature = "mock")]
pub mod mock;
mod response;
mod settings;
mod stream;

pub use connector::{build, StripeConnector};
pub use cursor::{CreatedRange, ListCursor};
pub use settings::{
    ApiKey, InvalidApiKey, StripeConfig, StripeSettings, DEFAULT_BASE_URL, DEFAULT_PAGE_SIZE,
    DEFAULT_TIMEOUT, MAX_PAGE_SIZE, MAX_TIMEOUT,
};
pub use stream::{StripeStream, UnknownStream};

/// The connector kind, as used in jobs, configuration and queue names.
pub const KIND: &str = "stripe";

/// The registry entry of the stripe connector.
pub fn spec() -> tributary_connector::ConnectorSpec {
    tributary_connector::typed::spec::<StripeConnector>()
}
