//! Fault points: the few instants where a crash is hardest to survive, named so the
//! fault-injection tests can kill a worker process exactly there. Compiled in always, inert
//! unless `TRIBUTARY_FAULT_POINT` is set — one environment read at the first hit, then an atomic
//! compare per hit.
//!
//! `TRIBUTARY_FAULT_POINT=<point>[:<n>]` aborts the process (`SIGABRT`, no unwinding, no
//! drain: as abrupt as `SIGKILL`, but at a chosen line) the `n`th time (default: the first)
//! the point is reached. The points:
//!
//! * `before_commit` — a page was pulled and is about to be committed with its cursor.
//! * `after_commit_before_ack` — a delivery's outcome is durable (ledger, dead letter or retry
//!   publish), its ack not yet sent.
//! * `after_retry_publish` — a failed job's copy was confirmed by a retry tier; the ledger does
//!   not know yet and the original delivery is unacknowledged, so two copies exist.
//!
//! The variable is outside every settings section, so configuration never sees it. It exists
//! for tests; nothing in production sets it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The environment variable that arms a fault point.
pub const FAULT_POINT_ENV: &str = "TRIBUTARY_FAULT_POINT";

/// A page is about to be committed.
pub const BEFORE_COMMIT: &str = "before_commit";
/// An outcome is durable; the ack is not sent.
pub const AFTER_COMMIT_BEFORE_ACK: &str = "after_commit_before_ack";
/// A retry copy is confirmed; the ledger and the ack are not written.
pub const AFTER_RETRY_PUBLISH: &str = "after_retry_publish";

/// The armed point and on which hit it fires, read once.
fn armed() -> Option<&'static (String, u32)> {
    static ARMED: OnceLock<Option<(String, u32)>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let value = std::env::var(FAULT_POINT_ENV).ok()?;
            let (name, nth) = match value.split_once(':') {
                Some((name, nth)) => (name, nth.parse().unwrap_or(1)),
                None => (value.as_str(), 1),
            };
            Some((name.to_owned(), nth.max(1)))
        })
        .as_ref()
}

/// Aborts the process if `name` is the armed point and this is its `n`th hit.
pub fn point(name: &'static str) {
    static HITS: AtomicU32 = AtomicU32::new(0);
    let Some((armed, nth)) = armed() else {
        return;
    };
    if armed != name {
        return;
    }
    if HITS.fetch_add(1, Ordering::SeqCst) + 1 == *nth {
        tracing::error!(
            point = name,
            hit = nth,
            "{FAULT_POINT_ENV} reached: aborting"
        );
        std::process::abort();
    }
}
