//! What one pull asks for and what it returns: cursors, windows, records, pages, hints.

use crate::{StreamName, TenantId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// An opaque position in a stream, meaningful only to the connector that produced it.
/// Stored by the runtime in the checkpoint table, never in the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    /// Wraps a connector-specific position.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw position.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A half-open time window `[from, to)` on the source's updated-at clock. `None` ends are open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Inclusive start; `None` means from the beginning of time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Exclusive end; `None` means up to now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
}

/// One page request.
#[derive(Debug, Clone, Copy)]
pub struct PullRequest<'a> {
    /// Whose data.
    pub tenant: &'a TenantId,
    /// Which stream.
    pub stream: &'a StreamName,
    /// Where to continue; `None` starts at the beginning of the window.
    pub cursor: Option<&'a Cursor>,
    /// Which slice of the source's timeline.
    pub window: &'a Window,
}

/// One record as the source returned it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The source's own id; unique within (tenant, connector, stream).
    pub external_id: String,
    /// When the source last changed it, if the source says.
    pub updated_at: Option<DateTime<Utc>>,
    /// When the source created it, if the source says. Reconciliation compares sources and
    /// store per created-at window; records without it are outside every window.
    pub created_at: Option<DateTime<Utc>>,
    /// The record itself.
    pub data: serde_json::Value,
}

/// What a source told us about its remaining budget, parsed from response headers or bodies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitHint {
    /// Requests (or cost points) left in the current window.
    pub remaining: Option<u64>,
    /// Size of the window's budget.
    pub limit: Option<u64>,
    /// When the budget refills.
    pub reset_after: Option<Duration>,
}

/// The result of one successful pull.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The records of this page, in source order.
    pub records: Vec<Record>,
    /// Where the next page starts; `None` when the window is exhausted.
    pub next_cursor: Option<Cursor>,
    /// Rate-limit information from the response, if any.
    pub rate_limit: Option<RateLimitHint>,
}
