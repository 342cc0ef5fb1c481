//! A local stand-in for Stripe's list API, for this crate's tests and for other crates' tests
//! that need a Stripe-shaped source (feature `mock`).
//!
//! It speaks Stripe's shapes: `GET /v1/charges|customers|invoices` with `limit` (1 to 100,
//! default 10), `starting_after`/`ending_before`, `created` and `created[gt|gte|lt|lte]`;
//! newest-first lists `{"object": "list", "url", "has_more", "data"}`; Bearer-key auth; error
//! bodies `{"error": {"type", "code", "message", "param", "doc_url", "request_log_url"}}`;
//! unknown parameters refused; and a `Request-Id` on every answer. The data is a deterministic
//! function of [`MockConfig::seed`]: realistic charges, customers and invoices (amounts in the
//! currency's smallest unit, nulls, nested objects, unicode metadata) that tests may add to,
//! change and delete.
//!
//! Tests can script faults for the next requests ([`MockFault`]: an error status with Stripe's
//! body and optional `Retry-After` / `Stripe-Should-Retry`, a truncated body, a raw body, a
//! hang), and read counters ([`MockStats`]) and a request log ([`MockRequest`]).
//!
//! Stripe Connect: requests without `Stripe-Account` read the platform account (configured by
//! the top-level [`MockConfig`] fields); [`MockConfig::connected_accounts`] adds accounts with
//! their own objects, read with `Stripe-Account: acct_…`; any other account id gets 403
//! `account_invalid`.
//!
//! Not modelled: Basic auth, `expand[]`, other filters (`customer`, `status`), search, object
//! retrieval, writes.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use tributary_connector_stripe::mock::{spawn, MockConfig, MockFault};
//! use tributary_connector_stripe::{CreatedRange, StripeStream};
//! let stripe = spawn(MockConfig::with_volume(250, 40, 80)).await?;
//! let connector = tributary_connector_stripe::build(&stripe.connector_settings()).unwrap();
//! stripe.script([MockFault::rate_limited(Some(2))]);
//! assert_eq!(stripe.count(StripeStream::Charges, CreatedRange::ALL), 250);
//! # let _ = connector; Ok(()) }
//! ```

mod data;
mod http;
mod state;

pub use data::MockDataError;

use crate::{CreatedRange, StripeStream};
use chrono::{DateTime, Utc};
use serde_json::Value;
use state::Shared;
use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tributary_connector::Window;

/// The key the mock accepts unless [`MockConfig::api_key`] says otherwise.
pub const DEFAULT_MOCK_API_KEY: &str = "sk_test_mock";
/// Seed used when none is given.
pub const DEFAULT_MOCK_SEED: u64 = 42;
/// The mock's "now", unless configured: 2024-06-01T00:00:00Z. Fixed, so data never depends on
/// when a test runs.
pub const DEFAULT_REFERENCE_UNIX: i64 = 1_717_200_000;
/// How many request-log entries are kept; older ones are dropped first.
pub const DEFAULT_REQUEST_LOG_CAPACITY: usize = 10_000;

/// Everything that shapes one mock account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockConfig {
    /// Seed of every generated object: the same seed gives the same ids and bytes.
    pub seed: u64,
    /// Charges generated, created in the 90 days before [`MockConfig::reference_time`].
    pub charges: usize,
    /// Customers generated, created 400 to 120 days before the reference time. Must be at
    /// least 1 when there are invoices (every invoice has a customer).
    pub customers: usize,
    /// Invoices generated, created in the 90 days before the reference time.
    pub invoices: usize,
    /// The only key accepted (`Authorization: Bearer <key>`); others get 401.
    pub api_key: String,
    /// The account's "now": every generated object is created before it.
    pub reference_time: DateTime<Utc>,
    /// Maximum number of entries kept in the request log.
    pub request_log_capacity: usize,
    /// Stripe Connect accounts, each with its own objects (none by default).
    pub connected_accounts: Vec<MockAccount>,
}

/// A connected account of the mock (Stripe Connect), read with `Stripe-Account: <id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockAccount {
    /// The account id, `acct_` followed by ASCII letters and digits.
    pub id: String,
    /// Charges generated.
    pub charges: usize,
    /// Customers generated (at least 1 when there are invoices).
    pub customers: usize,
    /// Invoices generated.
    pub invoices: usize,
    /// Fills every customer's metadata to Stripe's limits (50 keys of 500 characters, about
    /// 32 KB a customer), so one page of 100 customers is over 2 MiB.
    pub max_metadata: bool,
}

impl MockAccount {
    /// An account with these numbers of objects.
    pub fn new(id: impl Into<String>, charges: usize, customers: usize, invoices: usize) -> Self {
        Self {
            id: id.into(),
            charges,
            customers,
            invoices,
            max_metadata: false,
        }
    }

    /// An account with no objects at all.
    pub fn empty(id: impl Into<String>) -> Self {
        Self::new(id, 0, 0, 0)
    }

    /// The same account with customers' metadata at Stripe's limits.
    pub fn with_max_metadata(mut self) -> Self {
        self.max_metadata = true;
        self
    }
}

impl Default for MockConfig {
    /// 250 charges, 60 customers and 120 invoices; seed 42; key `sk_test_mock`.
    fn default() -> Self {
        Self {
            seed: DEFAULT_MOCK_SEED,
            charges: 250,
            customers: 60,
            invoices: 120,
            api_key: DEFAULT_MOCK_API_KEY.to_owned(),
            reference_time: DateTime::from_timestamp(DEFAULT_REFERENCE_UNIX, 0)
                .expect("the reference time is in range"),
            request_log_capacity: DEFAULT_REQUEST_LOG_CAPACITY,
            connected_accounts: Vec::new(),
        }
    }
}

impl MockConfig {
    /// The default account with these numbers of objects.
    pub fn with_volume(charges: usize, customers: usize, invoices: usize) -> Self {
        Self {
            charges,
            customers,
            invoices,
            ..Self::default()
        }
    }

    /// An account with no objects at all.
    pub fn empty() -> Self {
        Self::with_volume(0, 0, 0)
    }

    /// The same config with one more connected account.
    pub fn with_account(mut self, account: MockAccount) -> Self {
        self.connected_accounts.push(account);
        self
    }

    fn validate(&self) -> Result<(), String> {
        if self.invoices > 0 && self.customers == 0 {
            return Err(
                "every invoice has a customer: with invoices > 0, customers must be at least 1"
                    .into(),
            );
        }
        let mut ids = std::collections::HashSet::new();
        for account in &self.connected_accounts {
            let valid = account.id.starts_with("acct_")
                && account.id.len() > 5
                && crate::cursor::is_object_id(&account.id);
            if !valid {
                return Err(format!(
                    "connected account ids are acct_ followed by letters and digits, got {:?}",
                    account.id
                ));
            }
            if !ids.insert(&account.id) {
                return Err(format!("connected account {} is listed twice", account.id));
            }
            if account.invoices > 0 && account.customers == 0 {
                return Err(format!(
                    "connected account {}: with invoices > 0, customers must be at least 1",
                    account.id
                ));
            }
        }
        if self.api_key.is_empty() || !self.api_key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("api_key must be non-empty printable ASCII".into());
        }
        Ok(())
    }
}

/// One fault for exactly one upcoming list request, served first-in, first-out before the
/// request is otherwise looked at (so before authentication).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MockFault {
    /// Answer with an error status and Stripe's error body.
    Error(MockError),
    /// Answer 200 with the page's body cut in half: a connection lost mid-body.
    Malformed,
    /// Answer with exactly this status and body (as `application/json`): a wrong-shaped list,
    /// a proxy's HTML error page, a `has_more` loop.
    Raw {
        /// The HTTP status.
        status: u16,
        /// The body, verbatim.
        body: String,
    },
    /// Wait this long, then answer normally (lets a client's timeout fire first).
    Hang(Duration),
}

/// An error answer in Stripe's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockError {
    /// The HTTP status.
    pub status: u16,
    /// `error.type`: `api_error`, `invalid_request_error`, `rate_limit_error`, ...
    pub error_type: String,
    /// `error.code`, such as `rate_limit` or `lock_timeout`.
    pub code: Option<String>,
    /// `error.param`, the parameter at fault.
    pub param: Option<String>,
    /// `error.message`.
    pub message: String,
    /// Sent as `Retry-After: <seconds>` when set.
    pub retry_after_secs: Option<u64>,
    /// Sent as `Stripe-Should-Retry: true|false` when set.
    pub should_retry: Option<bool>,
}

impl MockFault {
    /// An error with the type, code and message Stripe gives that status: 401
    /// `authentication_error`, 402 `card_error`, 409 `lock_timeout`, 429 `rate_limit_error`,
    /// 5xx `api_error`, other statuses `invalid_request_error`.
    pub fn status(status: u16) -> Self {
        let (error_type, code, message) = match status {
            401 => ("authentication_error", None, "Invalid API Key provided: sk_test_****mock"),
            402 => ("card_error", Some("card_declined"), "Your card was declined."),
            403 => ("invalid_request_error", Some("secret_key_required"), "The provided key does not have the required permissions for this endpoint."),
            404 => ("invalid_request_error", Some("resource_missing"), "No such object."),
            409 => ("invalid_request_error", Some("lock_timeout"), "This object cannot be accessed right now because another API request or Stripe process is currently accessing it."),
            429 => ("rate_limit_error", Some("rate_limit"), "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits."),
            500..=599 => ("api_error", None, "Something went wrong on Stripe's end. We have already been notified of the problem."),
            _ => ("invalid_request_error", None, "Invalid request."),
        };
        Self::Error(MockError {
            status,
            error_type: error_type.to_owned(),
            code: code.map(str::to_owned),
            param: None,
            message: message.to_owned(),
            retry_after_secs: None,
            should_retry: None,
        })
    }

    /// A 429 `rate_limit_error`, with `Retry-After` when given.
    pub fn rate_limited(retry_after_secs: Option<u64>) -> Self {
        let mut fault = Self::status(429);
        if let Some(seconds) = retry_after_secs {
            fault = fault.with_retry_after(seconds);
        }
        fault
    }

    /// Adds `Stripe-Should-Retry: <should_retry>` to an error fault.
    ///
    /// # Panics
    /// If this is not an [`MockFault::Error`]: a mistake in the test that scripts it.
    pub fn with_should_retry(mut self, should_retry: bool) -> Self {
        self.error_mut("with_should_retry").should_retry = Some(should_retry);
        self
    }

    /// Adds `Retry-After: <seconds>` to an error fault.
    ///
    /// # Panics
    /// If this is not an [`MockFault::Error`].
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.error_mut("with_retry_after").retry_after_secs = Some(seconds);
        self
    }

    /// Replaces an error fault's message.
    ///
    /// # Panics
    /// If this is not an [`MockFault::Error`].
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.error_mut("with_message").message = message.into();
        self
    }

    fn error_mut(&mut self, method: &str) -> &mut MockError {
        match self {
            MockFault::Error(error) => error,
            other => panic!("MockFault::{method} applies to error faults, not {other:?}"),
        }
    }

    fn kind(&self) -> MockFaultKind {
        match self {
            MockFault::Error(_) => MockFaultKind::Error,
            MockFault::Malformed => MockFaultKind::Malformed,
            MockFault::Raw { .. } => MockFaultKind::Raw,
            MockFault::Hang(_) => MockFaultKind::Hang,
        }
    }
}

/// Which kind of scripted fault a request got, as the request log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MockFaultKind {
    /// [`MockFault::Error`].
    Error,
    /// [`MockFault::Malformed`].
    Malformed,
    /// [`MockFault::Raw`].
    Raw,
    /// [`MockFault::Hang`].
    Hang,
}

/// A count per stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerStream {
    /// Charges.
    pub charges: u64,
    /// Customers.
    pub customers: u64,
    /// Invoices.
    pub invoices: u64,
}

impl PerStream {
    /// The count of one stream.
    pub fn get(&self, stream: StripeStream) -> u64 {
        match stream {
            StripeStream::Charges => self.charges,
            StripeStream::Customers => self.customers,
            StripeStream::Invoices => self.invoices,
        }
    }

    /// The sum over the streams.
    pub fn total(&self) -> u64 {
        self.charges + self.customers + self.invoices
    }
}

/// A snapshot of the mock's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockStats {
    /// Requests received under `/v1`, faults and errors included.
    pub requests: u64,
    /// Well-formed 200 list pages served.
    pub pages: u64,
    /// Objects in well-formed 200 pages, per stream; serving an object again counts again.
    pub records: PerStream,
    /// Scripted faults served.
    pub faults: u64,
    /// Answers by HTTP status (499: the client gave up before the answer).
    pub responses_by_status: BTreeMap<u16, u64>,
}

/// One entry of the request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockRequest {
    /// When the request arrived (wall clock).
    pub at: DateTime<Utc>,
    /// The HTTP method.
    pub method: String,
    /// Path and query, as requested (`/v1/charges?limit=100&starting_after=ch_…`).
    pub path: String,
    /// The status answered; 499 if the client disconnected first.
    pub status: u16,
    /// The `Request-Id` sent back.
    pub request_id: String,
    /// The `Stripe-Account` header, if the request had one.
    pub stripe_account: Option<String>,
    /// The `Stripe-Version` header, if the request had one.
    pub stripe_version: Option<String>,
    /// The scripted fault this request got, if any.
    pub fault: Option<MockFaultKind>,
}

/// Starts a mock Stripe on `127.0.0.1` with an OS-chosen port, serving in a background task of
/// the current Tokio runtime. It stops when the handle is dropped or
/// [`MockStripe::shutdown`] is awaited. An invalid config is an `InvalidInput` error.
pub async fn spawn(config: MockConfig) -> io::Result<MockStripe> {
    config
        .validate()
        .map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
    let shared = Arc::new(Shared::new(config));
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let router = http::router(Arc::clone(&shared));
    let on_stop = Arc::clone(&shared);
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                // Resolves on `send` and also when the handle is dropped without sending.
                let _ = stopped.await;
                on_stop.begin_shutdown();
            })
            .await
    });
    Ok(MockStripe {
        shared,
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}

/// A mock Stripe serving in the background (see [`spawn`]). Dropping it stops the server.
#[derive(Debug)]
pub struct MockStripe {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl MockStripe {
    /// The base URL, such as `http://127.0.0.1:41234` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The key the mock accepts.
    pub fn api_key(&self) -> &str {
        &self.shared.config.api_key
    }

    /// Settings for the stripe connector pointing at this mock with the accepted key:
    /// `{"api_key": …, "base_url": …}`. Add fields (`page_size`, ...) as a test needs.
    pub fn connector_settings(&self) -> Value {
        serde_json::json!({ "api_key": self.api_key(), "base_url": self.url() })
    }

    /// [`MockStripe::connector_settings`] with `page_size`: what an end-to-end test registers.
    pub fn settings(&self, page_size: u32) -> Value {
        let mut settings = self.connector_settings();
        settings["page_size"] = page_size.into();
        settings
    }

    /// The platform ids a pull of `stream` within `window` must return, in Stripe's order;
    /// the window maps to `created` exactly as the connector maps it.
    pub fn expected_ids(&self, stream: StripeStream, window: &Window) -> Vec<String> {
        self.ids(stream, CreatedRange::from_window(window))
    }

    /// The account's fixed "now" (see [`MockConfig::reference_time`]).
    pub fn reference_time(&self) -> DateTime<Utc> {
        self.shared.config.reference_time
    }

    /// Queues one fault for each of the next list requests, in order.
    pub fn script(&self, faults: impl IntoIterator<Item = MockFault>) {
        self.shared.script(faults);
    }

    /// Scripted faults not yet served.
    pub fn scripted_remaining(&self) -> usize {
        self.shared.scripted_remaining()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> MockStats {
        self.shared.stats()
    }

    /// The request log, oldest first.
    pub fn request_log(&self) -> Vec<MockRequest> {
        self.shared.request_log()
    }

    /// Empties the request log (counters are kept).
    pub fn clear_request_log(&self) {
        self.shared.clear_request_log();
    }

    /// The platform account's objects: what requests without `Stripe-Account` read.
    pub fn platform(&self) -> MockAccountData<'_> {
        MockAccountData {
            shared: &self.shared,
            account: None,
        }
    }

    /// A connected account's objects, or `None` if the config did not list that account.
    pub fn connected(&self, account: &str) -> Option<MockAccountData<'_>> {
        self.shared.has_account(account).then(|| MockAccountData {
            shared: &self.shared,
            account: Some(account.to_owned()),
        })
    }

    /// The platform account's ids in `range`; see [`MockAccountData::ids`].
    pub fn ids(&self, stream: StripeStream, range: CreatedRange) -> Vec<String> {
        self.platform().ids(stream, range)
    }

    /// How many platform objects of `stream` are in `range`.
    pub fn count(&self, stream: StripeStream, range: CreatedRange) -> usize {
        self.platform().count(stream, range)
    }

    /// One platform object; see [`MockAccountData::object`].
    pub fn object(&self, stream: StripeStream, id: &str) -> Option<Value> {
        self.platform().object(stream, id)
    }

    /// Creates a platform object; see [`MockAccountData::add`].
    ///
    /// # Panics
    /// When adding an invoice to an account without customers.
    pub fn add(&self, stream: StripeStream, created: i64) -> String {
        self.platform().add(stream, created)
    }

    /// Adds a platform object as given; see [`MockAccountData::insert`].
    pub fn insert(&self, stream: StripeStream, object: Value) -> Result<(), MockDataError> {
        self.platform().insert(stream, object)
    }

    /// Changes a platform object; see [`MockAccountData::update`].
    pub fn update(
        &self,
        stream: StripeStream,
        id: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<(), MockDataError> {
        self.platform().update(stream, id, change)
    }

    /// Deletes a platform object; see [`MockAccountData::remove`].
    pub fn remove(&self, stream: StripeStream, id: &str) -> Result<Value, MockDataError> {
        self.platform().remove(stream, id)
    }

    /// Stops the server, cutting pending hangs short, and waits until in-flight requests are
    /// answered.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

/// The objects of one account of a running mock: the platform's ([`MockStripe::platform`]) or
/// a connected account's ([`MockStripe::connected`]). Changes are seen by the next request.
#[derive(Debug)]
pub struct MockAccountData<'a> {
    shared: &'a Shared,
    /// `None` for the platform account.
    account: Option<String>,
}

impl MockAccountData<'_> {
    fn read<T>(&self, read: impl FnOnce(&data::Dataset) -> T) -> T {
        self.shared
            .with_data(self.account.as_deref(), read)
            .expect("accounts are never removed from a running mock")
    }

    fn write<T>(&self, write: impl FnOnce(&mut data::Dataset) -> T) -> T {
        self.shared
            .with_data_mut(self.account.as_deref(), write)
            .expect("accounts are never removed from a running mock")
    }

    /// The ids a full pull of `stream` within `range` must return, in Stripe's order (newest
    /// first).
    pub fn ids(&self, stream: StripeStream, range: CreatedRange) -> Vec<String> {
        self.read(|data| data.ids(stream, range))
    }

    /// How many objects of `stream` are in `range`.
    pub fn count(&self, stream: StripeStream, range: CreatedRange) -> usize {
        self.ids(stream, range).len()
    }

    /// One object as the list API serves it.
    pub fn object(&self, stream: StripeStream, id: &str) -> Option<Value> {
        self.read(|data| data.get(stream, id))
    }

    /// Creates a new realistic object of `stream` created at `created` (unix seconds) and
    /// returns its id. Charges and invoices refer to the account's customers.
    ///
    /// # Panics
    /// When adding an invoice to an account without customers.
    pub fn add(&self, stream: StripeStream, created: i64) -> String {
        self.write(|data| data.add(stream, created))
    }

    /// Adds an object exactly as given; it needs a new `id` and an integer `created`.
    pub fn insert(&self, stream: StripeStream, object: Value) -> Result<(), MockDataError> {
        self.write(|data| data.insert(stream, object))
    }

    /// Changes an object in place (as a refund or a payment would); the id must stay, and a
    /// changed `created` moves it in the list.
    pub fn update(
        &self,
        stream: StripeStream,
        id: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<(), MockDataError> {
        self.write(|data| data.update(stream, id, change))
    }

    /// Deletes an object (as deleting a customer or a draft invoice does) and returns it.
    pub fn remove(&self, stream: StripeStream, id: &str) -> Result<Value, MockDataError> {
        self.write(|data| data.remove(stream, id))
    }
}

impl Drop for MockStripe {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
