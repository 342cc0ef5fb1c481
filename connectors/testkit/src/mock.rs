//! What a connector's mock server must offer the suite: settings pointing at it, a tenant with
//! known data, and one-shot fault injection; optionally an empty tenant, a huge page and a
//! record with odd values.

use std::time::Duration;
use tributary_connector::{StreamName, TenantId};

/// A fault the mock answers the **next data request** with, once. Later requests are served
/// normally again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// HTTP 429 (or the source's equivalent, such as a GraphQL `THROTTLED` error), with a
    /// `Retry-After` of `retry_after` when given (whole seconds).
    RateLimited {
        /// The delay the source asks for, if it asks.
        retry_after: Option<Duration>,
    },
    /// A server error: HTTP 500, 502, 503 or 504.
    ServerError {
        /// The status to answer with.
        status: u16,
    },
    /// Credentials refused: HTTP 401 or 403.
    Unauthorized {
        /// The status to answer with.
        status: u16,
    },
    /// A 2xx answer whose body cannot be parsed (cut in the middle, say).
    MalformedBody,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::RateLimited {
                retry_after: Some(delay),
            } => write!(f, "429 with Retry-After: {}", delay.as_secs()),
            Fault::RateLimited { retry_after: None } => f.write_str("429 without Retry-After"),
            Fault::ServerError { status } | Fault::Unauthorized { status } => {
                write!(f, "HTTP {status}")
            }
            Fault::MalformedBody => f.write_str("a malformed 2xx body"),
        }
    }
}

/// Where the mock serves a huge first page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HugePage {
    /// The tenant whose first page is huge.
    pub tenant: TenantId,
    /// The stream whose first page is huge.
    pub stream: StreamName,
}

/// A record whose values are awkward to carry, and where they must land in `Record.data`.
#[derive(Debug, Clone, PartialEq)]
pub struct OddRecord {
    /// The tenant holding the record.
    pub tenant: TenantId,
    /// The stream holding the record.
    pub stream: StreamName,
    /// The record's `external_id`.
    pub external_id: String,
    /// `(JSON pointer into Record.data, exact value expected there)`. Together they must
    /// include a string with non-ASCII characters, a `null`, a number sent as a string and a
    /// nested (non-empty) object.
    pub expect: Vec<(String, serde_json::Value)>,
}

/// A connector's mock server, as the conformance suite drives it.
///
/// Implement it next to the mock (in the connector crate's tests, or behind a `mock`
/// feature). All methods are synchronous: the mock runs in the test's process, so it can be
/// told things directly rather than over its admin API.
pub trait MockSource {
    /// The connector's JSON settings, pointing at this mock; passed to the spec's `build`.
    fn settings(&self) -> serde_json::Value;

    /// A tenant with data in every stream the connector lists, across at least two pages in
    /// at least one stream (with the page size the settings give).
    fn tenant(&self) -> TenantId;

    /// The `external_id`s `tenant` has in `stream` right now, in any order. The suite checks
    /// a full pagination returns exactly these.
    fn expected_ids(&self, tenant: &TenantId, stream: &StreamName) -> Vec<String>;

    /// Makes the next data request answer with `fault`, once. Returns `false` when this
    /// source cannot produce such a fault (a database has no 429); the check is then
    /// reported as skipped.
    fn inject(&self, fault: &Fault) -> bool;

    /// A tenant with no records in any stream. `None` skips the empty-source check.
    fn empty_tenant(&self) -> Option<TenantId> {
        None
    }

    /// A (tenant, stream) whose first page holds at least 1,000 records or 2 MiB of data.
    /// `None` skips the huge-page check.
    fn huge_page(&self) -> Option<HugePage> {
        None
    }

    /// A record with odd values and where they must land. `None` skips the odd-values check.
    fn odd_record(&self) -> Option<OddRecord> {
        None
    }
}

impl<M: MockSource + ?Sized> MockSource for &M {
    fn settings(&self) -> serde_json::Value {
        (**self).settings()
    }

    fn tenant(&self) -> TenantId {
        (**self).tenant()
    }

    fn expected_ids(&self, tenant: &TenantId, stream: &StreamName) -> Vec<String> {
        (**self).expected_ids(tenant, stream)
    }

    fn inject(&self, fault: &Fault) -> bool {
        (**self).inject(fault)
    }

    fn empty_tenant(&self) -> Option<TenantId> {
        (**self).empty_tenant()
    }

    fn huge_page(&self) -> Option<HugePage> {
        (**self).huge_page()
    }

    fn odd_record(&self) -> Option<OddRecord> {
        (**self).odd_record()
    }
}
