//! The conformance suite every Tributary connector runs against its mock server, in a few
//! lines:
//!
//! ```text
//! #[tokio::test]
//! async fn conforms() {
//!     let mock = MyMock::start().await; // implements `MockSource`
//!     tributary_connector_testkit::Conformance::new(my_connector::spec(), &mock)
//!         .run()
//!         .await;
//! }
//! ```
//!
//! It builds the connector from the mock's settings, then checks what the runtime relies on
//! (see [`Check`] for the list): every stream paginates to the end with exactly the expected
//! ids; resuming from every intermediate cursor gives exactly the remainder; a re-pull is
//! identical; 429 (with and without `Retry-After`) is rate limited, 5xx transient, 401/403
//! auth, a broken body malformed; an empty source, a huge page and odd values are handled;
//! unknown streams and foreign cursors are refused with the right class. `run` prints a
//! report and panics naming the connector and every failed check.
//!
//! This crate depends on the connector contract alone: it knows nothing about HTTP, queues,
//! databases or any particular connector. A connector's mock implements [`MockSource`].

mod mock;
mod report;
mod suite;

pub use mock::{Fault, HugePage, MockSource, OddRecord};
pub use report::{Check, CheckResult, Outcome, Report};
pub use suite::{Conformance, DEFAULT_PULL_TIMEOUT, HUGE_PAGE_MIN_BYTES, HUGE_PAGE_MIN_RECORDS};
