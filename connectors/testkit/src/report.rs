//! The suite's verdict: which checks passed, which were skipped and why, which failed and how.

use std::fmt;

/// One conformance check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// The spec builds a connector from the mock's settings, of the spec's kind, with streams.
    Build,
    /// `check()` succeeds for the mock's tenant.
    CheckSucceeds,
    /// Every stream paginates to `next_cursor == None` within the page budget, returning
    /// exactly the expected ids, each once.
    PaginateToEnd,
    /// Resuming from every intermediate cursor returns exactly the remainder, in order.
    ResumeFromEveryCursor,
    /// A second full pull returns the same records: ids, `updated_at` and data.
    IdempotentRepull,
    /// An empty tenant: `check()` succeeds; each stream's first page has no records and no
    /// next cursor.
    EmptySource,
    /// A page of 1,000+ records or 2+ MiB is pulled whole, within the pull timeout.
    HugePage,
    /// Non-ASCII text, nulls, numbers sent as strings and nested objects land unchanged in
    /// `Record.data`.
    OddValues,
    /// A stream the connector does not list is refused as a configuration error.
    UnknownStream,
    /// A cursor the connector never wrote is `CursorInvalid` (the runtime restarts the window).
    ForeignCursor,
    /// A 429 with `Retry-After` is `RateLimited` carrying the delay.
    RateLimitedWithRetryAfter,
    /// A 429 without `Retry-After` is `RateLimited`.
    RateLimitedWithoutRetryAfter,
    /// 500, 502, 503 and 504 are `Transient`.
    ServerErrorIsTransient,
    /// 401 and 403 are `Auth`, from `pull` and from `check`.
    UnauthorizedIsAuth,
    /// A 2xx body that does not parse is `Malformed`.
    MalformedBody,
}

impl Check {
    /// Every check, in the order the suite runs them.
    pub const ALL: [Check; 15] = [
        Check::Build,
        Check::CheckSucceeds,
        Check::PaginateToEnd,
        Check::ResumeFromEveryCursor,
        Check::IdempotentRepull,
        Check::EmptySource,
        Check::HugePage,
        Check::OddValues,
        Check::UnknownStream,
        Check::ForeignCursor,
        Check::RateLimitedWithRetryAfter,
        Check::RateLimitedWithoutRetryAfter,
        Check::ServerErrorIsTransient,
        Check::UnauthorizedIsAuth,
        Check::MalformedBody,
    ];

    /// The check's name in reports and panic messages.
    pub fn name(self) -> &'static str {
        match self {
            Check::Build => "build",
            Check::CheckSucceeds => "check_succeeds",
            Check::PaginateToEnd => "paginate_to_end",
            Check::ResumeFromEveryCursor => "resume_from_every_cursor",
            Check::IdempotentRepull => "idempotent_repull",
            Check::EmptySource => "empty_source",
            Check::HugePage => "huge_page",
            Check::OddValues => "odd_values",
            Check::UnknownStream => "unknown_stream",
            Check::ForeignCursor => "foreign_cursor",
            Check::RateLimitedWithRetryAfter => "rate_limited_with_retry_after",
            Check::RateLimitedWithoutRetryAfter => "rate_limited_without_retry_after",
            Check::ServerErrorIsTransient => "server_error_is_transient",
            Check::UnauthorizedIsAuth => "unauthorized_is_auth",
            Check::MalformedBody => "malformed_body",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How one check went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It held; what was verified, briefly.
    Passed(String),
    /// It did not run; why.
    Skipped(String),
    /// It did not hold; what went wrong, precisely.
    Failed(String),
}

/// The verdict of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// Which check.
    pub check: Check,
    /// How it went.
    pub outcome: Outcome,
}

/// The verdict of a whole run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The connector kind under test.
    pub connector: String,
    /// One result per check, in the order they ran.
    pub results: Vec<CheckResult>,
}

impl Report {
    fn with(&self, keep: impl Fn(&Outcome) -> bool) -> Vec<Check> {
        self.results
            .iter()
            .filter(|result| keep(&result.outcome))
            .map(|result| result.check)
            .collect()
    }

    /// The checks that passed.
    pub fn passed(&self) -> Vec<Check> {
        self.with(|outcome| matches!(outcome, Outcome::Passed(_)))
    }

    /// The checks that were skipped.
    pub fn skipped(&self) -> Vec<Check> {
        self.with(|outcome| matches!(outcome, Outcome::Skipped(_)))
    }

    /// The checks that failed.
    pub fn failed(&self) -> Vec<Check> {
        self.with(|outcome| matches!(outcome, Outcome::Failed(_)))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "conformance of connector `{}`: {} passed, {} skipped, {} failed",
            self.connector,
            self.passed().len(),
            self.skipped().len(),
            self.failed().len()
        )?;
        for result in &self.results {
            let (mark, text) = match &result.outcome {
                Outcome::Passed(text) => ("pass", text),
                Outcome::Skipped(text) => ("skip", text),
                Outcome::Failed(text) => ("FAIL", text),
            };
            writeln!(f, "  {mark} {:<32} {text}", result.check.name())?;
        }
        Ok(())
    }
}
