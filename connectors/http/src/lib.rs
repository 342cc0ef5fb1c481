//! HTTP helpers every Tributary HTTP connector reuses, so that each source crate holds only
//! what is specific to its API.
//!
//! * [`classify()`]: a non-2xx answer into a [`ConnectorError`] class (401/403 auth, 408/5xx
//!   transient, 429 rate limited with `Retry-After`, other 4xx permanent), overridable per
//!   source with a [`Classifier`];
//! * [`parse_retry_after`]: delay-seconds or an HTTP date, relative to a given "now";
//! * [`parse_link_header`] / [`next_link`]: RFC 8288 `Link` headers;
//! * [`rate_limit_hint`]: `X-RateLimit-*`, IETF `RateLimit*` and Shopify's call limit into a
//!   [`RateLimitHint`];
//! * paginators ([`PageNumberPaginator`], [`OffsetPaginator`], [`TokenPaginator`],
//!   [`StartingAfterPaginator`], [`LinkPaginator`]) that turn (request cursor, response) into
//!   the next [`Cursor`], with versioned opaque cursors and loop detection;
//! * [`HttpClient`]: a `reqwest` client with timeouts and a User-Agent whose `get_json` /
//!   `post_json` classify every failure, and never put a credential in a message (and whose
//!   `get_bytes` does the same but leaves a 2xx body unparsed, for a connector that must
//!   inspect it first).
//!
//! It depends on the connector contract only: it knows nothing about RabbitMQ, PostgreSQL or
//! the worker, and it never retries (the runtime owns retries and their timing).
//!
//! [`ConnectorError`]: tributary_connector::ConnectorError
//! [`RateLimitHint`]: tributary_connector::RateLimitHint
//! [`Cursor`]: tributary_connector::Cursor

mod classify;
mod client;
mod link;
mod paginate;
mod rate_limit;
mod redact;
mod retry_after;

pub use classify::{class_for_status, classify, Classifier, ErrorResponse, MAX_SNIPPET_CHARS};
pub use client::{
    parse_json_body, transport_error, with_context, BuildError, BytesResponse, HttpClient,
    HttpClientBuilder, JsonResponse, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_TIMEOUT,
};
pub use link::{links, next_link, parse_link_header, Link};
pub use paginate::{
    LinkPaginator, OffsetPaginator, PageFacts, PageNumberPaginator, StartingAfterPaginator,
    TokenPaginator,
};
pub use rate_limit::{
    rate_limit_hint, reset_value, EPOCH_MILLIS_THRESHOLD, EPOCH_SECONDS_THRESHOLD,
};
pub use redact::{describe_request, redact_url, REDACTED};
pub use retry_after::{parse_http_date, parse_retry_after, retry_after, MAX_RETRY_AFTER};

/// The `reqwest` types that appear in this crate's API, so a connector needs no direct
/// `reqwest` dependency (and cannot drift to another version of it).
pub use reqwest::{
    header::{HeaderMap, HeaderName, HeaderValue},
    Method, StatusCode, Url,
};
