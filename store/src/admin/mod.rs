//! What queue-admin reads and changes: dead letters (filtered, searched, grouped, edited,
//! replayed, discarded), source pauses, users, sessions and API tokens, and the append-only
//! audit log that every change here writes in its own transaction.
//!
//! Nothing in this module publishes: a replay creates its job rows and `replays` rows here, and
//! queue-admin publishes them afterwards (the job id is fixed first, so publishing twice is
//! harmless).

mod audit;
mod auth;
mod browse;
mod filter;
mod overview;
mod pauses;
mod replay;

pub use audit::{AuditEntry, AuditQuery, AuditRow};
#[allow(unused_imports)]
pub use auth::*;
#[allow(unused_imports)]
pub use browse::*;
pub use filter::{
    DeadLetterFilter, DeadLetterStatus, FilterError, MAX_FILTER_VALUE_CHARS, MAX_SEARCH_CHARS,
    MAX_SELECTED_IDS,
};
pub use overview::{
    PendingDeadLetters, ReplayOutcome, SourceBreakers, SourceFreshness, SourceSchedulePeriod,
    WaitingJobs,
};
#[allow(unused_imports)]
pub use pauses::*;
#[allow(unused_imports)]
pub use replay::*;

pub(crate) use audit::write_audit;
