//! The checks themselves, and [`Conformance`], which runs them in order against one connector
//! and its mock and reports (or panics with) the verdict.
//!
//! The suite drives the connector exactly as the runtime does: one `pull` per page, the
//! cursor of one page fed to the next, errors judged by their class alone. Faults are injected
//! one at a time and each fault check ends with a pull that must succeed, so a fault never
//! leaks into the next check.

use crate::mock::{Fault, MockSource};
use crate::report::{Check, CheckResult, Outcome, Report};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary_connector::{
    Connector, ConnectorError, ConnectorSpec, Cursor, ErrorClass, Page, PullRequest, Record,
    StreamName, TenantId, Window,
};

/// How long one `pull` or `check` may take before the suite calls it hung. Generous: a debug
/// build parsing a several-MiB page on a busy 2-core CI machine takes well under a second.
pub const DEFAULT_PULL_TIMEOUT: Duration = Duration::from_secs(30);

/// The smallest page the huge-page check accepts as huge: this many records…
pub const HUGE_PAGE_MIN_RECORDS: usize = 1_000;
/// …or this many bytes of record data (the JSON of every `Record.data`, summed).
pub const HUGE_PAGE_MIN_BYTES: usize = 2 * 1024 * 1024;

/// The `Retry-After` the rate-limit check injects, and how far the connector's hint may be
/// from it (an HTTP-date `Retry-After` loses up to a second to rounding).
const INJECTED_RETRY_AFTER: Duration = Duration::from_secs(7);
const RETRY_AFTER_TOLERANCE: Duration = Duration::from_secs(1);

/// A stream name no connector lists.
const UNKNOWN_STREAM: &str = "tributary-conformance-no-such-stream";
/// A cursor no connector writes.
const FOREIGN_CURSOR: &str = "tributary-conformance-foreign-cursor";

/// Runs the conformance suite for one connector against its mock.
///
/// ```no_run
/// # struct MyMock;
/// # impl tributary_connector_testkit::MockSource for MyMock {
/// #     fn settings(&self) -> serde_json::Value { serde_json::json!({}) }
/// #     fn tenant(&self) -> tributary_connector::TenantId { tributary_connector::TenantId::new("acme").unwrap() }
/// #     fn expected_ids(&self, _: &tributary_connector::TenantId, _: &tributary_connector::StreamName) -> Vec<String> { vec![] }
/// #     fn inject(&self, _: &tributary_connector_testkit::Fault) -> bool { false }
/// # }
/// # fn spec() -> tributary_connector::ConnectorSpec { tributary_connector_demo_like_spec() }
/// # fn tributary_connector_demo_like_spec() -> tributary_connector::ConnectorSpec {
/// #     fn build(_: &serde_json::Value) -> Result<std::sync::Arc<dyn tributary_connector::Connector>, tributary_connector::ConfigError> {
/// #         Err(tributary_connector::ConfigError { kind: "mine".into(), message: "example".into() })
/// #     }
/// #     tributary_connector::ConnectorSpec { kind: "mine", description: "example", build }
/// # }
/// # async fn example() {
/// let mock = MyMock; // started on a loopback port
/// tributary_connector_testkit::Conformance::new(spec(), &mock).run().await;
/// # }
/// ```
pub struct Conformance<M> {
    spec: ConnectorSpec,
    mock: M,
    page_budget: Option<usize>,
    pull_timeout: Duration,
    require_every_check: bool,
}

impl<M> fmt::Debug for Conformance<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conformance")
            .field("connector", &self.spec.kind)
            .field("page_budget", &self.page_budget)
            .field("pull_timeout", &self.pull_timeout)
            .field("require_every_check", &self.require_every_check)
            .finish_non_exhaustive()
    }
}

impl<M: MockSource> Conformance<M> {
    /// The suite for the connector `spec` builds, against `mock`.
    pub fn new(spec: ConnectorSpec, mock: M) -> Self {
        Self {
            spec,
            mock,
            page_budget: None,
            pull_timeout: DEFAULT_PULL_TIMEOUT,
            require_every_check: false,
        }
    }

    /// The most pages one pagination may take before it counts as endless. By default, one
    /// more than a page per expected record, plus one: any connector that makes progress
    /// fits, and one that loops is caught.
    pub fn page_budget(mut self, pages: usize) -> Self {
        self.page_budget = Some(pages);
        self
    }

    /// How long one `pull` or `check` may take; [`DEFAULT_PULL_TIMEOUT`] unless set.
    pub fn pull_timeout(mut self, timeout: Duration) -> Self {
        self.pull_timeout = timeout;
        self
    }

    /// Makes a skipped check (the mock lacks an empty tenant, a huge page, an odd record or a
    /// kind of fault) fail the run, for connectors that promise the full suite.
    pub fn require_every_check(mut self) -> Self {
        self.require_every_check = true;
        self
    }

    /// Runs every check, prints the report, and panics if a check failed (or was skipped
    /// under [`Conformance::require_every_check`]), naming the connector and each check.
    pub async fn run(self) -> Report {
        let require_every_check = self.require_every_check;
        let report = self.evaluate().await;
        println!("{report}");
        let problems: Vec<String> = report
            .results
            .iter()
            .filter_map(|result| match &result.outcome {
                Outcome::Failed(why) => Some(format!("`{}`: {why}", result.check)),
                Outcome::Skipped(why) if require_every_check => Some(format!(
                    "`{}` was skipped, but every check is required: {why}",
                    result.check
                )),
                _ => None,
            })
            .collect();
        if !problems.is_empty() {
            panic!(
                "connector `{}` failed {} conformance check(s):\n  - {}\n\n{report}",
                report.connector,
                problems.len(),
                problems.join("\n  - ")
            );
        }
        report
    }

    /// Runs every check and returns the report without panicking.
    pub async fn evaluate(self) -> Report {
        let mut results = Vec::new();
        let kind = self.spec.kind.to_owned();
        let mut record = |check: Check, outcome: Outcome| {
            results.push(CheckResult { check, outcome });
        };

        let connector = match build(&self.spec, &self.mock) {
            Ok((connector, detail)) => {
                record(Check::Build, Outcome::Passed(detail));
                connector
            }
            Err(why) => {
                record(Check::Build, Outcome::Failed(why));
                for check in &Check::ALL[1..] {
                    record(
                        *check,
                        Outcome::Skipped("the connector could not be built".to_owned()),
                    );
                }
                return Report {
                    connector: kind,
                    results,
                };
            }
        };
        let mut run = Run {
            connector,
            mock: &self.mock,
            tenant: self.mock.tenant(),
            page_budget: self.page_budget,
            pull_timeout: self.pull_timeout,
            walks: Vec::new(),
        };
        for check in &Check::ALL[1..] {
            let outcome = run.check(*check).await;
            record(*check, outcome);
        }
        Report {
            connector: kind,
            results,
        }
    }
}

fn build<M: MockSource>(
    spec: &ConnectorSpec,
    mock: &M,
) -> Result<(Arc<dyn Connector>, String), String> {
    let connector = (spec.build)(&mock.settings())
        .map_err(|error| format!("the spec refused the mock's settings: {error}"))?;
    if connector.kind().as_str() != spec.kind {
        return Err(format!(
            "the spec is for kind `{}` but built a connector of kind `{}`",
            spec.kind,
            connector.kind()
        ));
    }
    let streams: Vec<String> = connector
        .streams()
        .into_iter()
        .map(|stream| stream.name.to_string())
        .collect();
    if streams.is_empty() {
        return Err("the connector lists no streams".to_owned());
    }
    let unique: HashSet<&String> = streams.iter().collect();
    if unique.len() != streams.len() {
        return Err(format!("the connector lists a stream twice: {streams:?}"));
    }
    Ok((connector, format!("streams: {}", streams.join(", "))))
}

/// Why a pull gave no page.
enum PullError {
    Connector(ConnectorError),
    TimedOut(Duration),
}

impl fmt::Display for PullError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PullError::Connector(error) => write!(f, "{} error: {error}", error.class().as_str()),
            PullError::TimedOut(after) => write!(f, "no answer within {after:?}"),
        }
    }
}

/// One pagination from a start cursor to `next_cursor == None`.
#[derive(Default)]
struct Walk {
    records: Vec<Record>,
    /// After each page but the last: the next cursor, and how many records came before it.
    cursors: Vec<(Cursor, usize)>,
    pages: usize,
}

impl Walk {
    fn ids(&self) -> Vec<&str> {
        self.records
            .iter()
            .map(|record| record.external_id.as_str())
            .collect()
    }
}

/// The state of one run, shared by the checks.
struct Run<'m, M> {
    connector: Arc<dyn Connector>,
    mock: &'m M,
    tenant: TenantId,
    page_budget: Option<usize>,
    pull_timeout: Duration,
    /// The first full pagination of each stream that passed `paginate_to_end`.
    walks: Vec<(StreamName, Walk)>,
}

impl<M: MockSource> Run<'_, M> {
    async fn check(&mut self, check: Check) -> Outcome {
        let result = match check {
            Check::Build => return Outcome::Passed("built above".to_owned()),
            Check::CheckSucceeds => self.check_succeeds().await,
            Check::PaginateToEnd => self.paginate_to_end().await,
            Check::ResumeFromEveryCursor => self.resume_from_every_cursor().await,
            Check::IdempotentRepull => self.idempotent_repull().await,
            Check::EmptySource => self.empty_source().await,
            Check::HugePage => self.huge_page().await,
            Check::OddValues => self.odd_values().await,
            Check::UnknownStream => self.unknown_stream().await,
            Check::ForeignCursor => self.foreign_cursor().await,
            Check::RateLimitedWithRetryAfter => self.rate_limited(true).await,
            Check::RateLimitedWithoutRetryAfter => self.rate_limited(false).await,
            Check::ServerErrorIsTransient => self.server_errors().await,
            Check::UnauthorizedIsAuth => self.unauthorized().await,
            Check::MalformedBody => self.malformed_body().await,
        };
        match result {
            Ok(outcome) => outcome,
            Err(why) => Outcome::Failed(why),
        }
    }

    fn streams(&self) -> Vec<StreamName> {
        self.connector
            .streams()
            .into_iter()
            .map(|stream| stream.name)
            .collect()
    }

    fn first_stream(&self) -> StreamName {
        self.streams()
            .into_iter()
            .next()
            .expect("build checked that there are streams")
    }

    async fn pull(
        &self,
        tenant: &TenantId,
        stream: &StreamName,
        cursor: Option<&Cursor>,
    ) -> Result<Page, PullError> {
        let window = Window::default();
        let request = PullRequest {
            tenant,
            stream,
            cursor,
            window: &window,
        };
        match tokio::time::timeout(self.pull_timeout, self.connector.pull(request)).await {
            Ok(result) => result.map_err(PullError::Connector),
            Err(_) => Err(PullError::TimedOut(self.pull_timeout)),
        }
    }

    async fn check_tenant(&self, tenant: &TenantId) -> Result<(), PullError> {
        match tokio::time::timeout(self.pull_timeout, self.connector.check(tenant)).await {
            Ok(result) => result.map_err(PullError::Connector),
            Err(_) => Err(PullError::TimedOut(self.pull_timeout)),
        }
    }

    fn budget(&self, expected_records: usize) -> usize {
        self.page_budget.unwrap_or(expected_records + 2)
    }

    /// Pulls from `start` until `next_cursor == None`, within `budget` pages.
    async fn walk(
        &self,
        tenant: &TenantId,
        stream: &StreamName,
        start: Option<Cursor>,
        budget: usize,
    ) -> Result<Walk, String> {
        let mut walk = Walk::default();
        let mut cursor = start;
        loop {
            if walk.pages >= budget {
                return Err(format!(
                    "`{stream}` did not reach `next_cursor == None` within {budget} pages (the page budget); the last cursor was {}",
                    show_cursor(cursor.as_ref())
                ));
            }
            let page = self
                .pull(tenant, stream, cursor.as_ref())
                .await
                .map_err(|error| {
                    format!(
                        "`{stream}` page {} (cursor {}) failed: {error}",
                        walk.pages + 1,
                        show_cursor(cursor.as_ref())
                    )
                })?;
            walk.pages += 1;
            walk.records.extend(page.records);
            let Some(next) = page.next_cursor else {
                return Ok(walk);
            };
            if cursor.as_ref() == Some(&next) {
                return Err(format!(
                    "`{stream}` page {} returned the cursor it was pulled from as its next cursor: the pagination would never end",
                    walk.pages
                ));
            }
            walk.cursors.push((next.clone(), walk.records.len()));
            cursor = Some(next);
        }
    }

    async fn check_succeeds(&self) -> Result<Outcome, String> {
        self.check_tenant(&self.tenant)
            .await
            .map_err(|error| format!("check() failed for tenant `{}`: {error}", self.tenant))?;
        Ok(Outcome::Passed(format!("tenant `{}`", self.tenant)))
    }

    async fn paginate_to_end(&mut self) -> Result<Outcome, String> {
        let mut problems = Vec::new();
        let mut summaries = Vec::new();
        for stream in self.streams() {
            let expected = self.mock.expected_ids(&self.tenant, &stream);
            if expected.is_empty() {
                problems.push(format!(
                    "the mock's tenant `{}` has no `{stream}` records; the suite needs data in every stream (an empty source is checked with `empty_tenant`)",
                    self.tenant
                ));
                continue;
            }
            let walk = match self
                .walk(&self.tenant, &stream, None, self.budget(expected.len()))
                .await
            {
                Ok(walk) => walk,
                Err(why) => {
                    problems.push(why);
                    continue;
                }
            };
            match compare_ids(&stream, &walk.ids(), &expected) {
                Ok(()) => {
                    summaries.push(format!(
                        "{stream}: {} in {}",
                        counted(walk.records.len(), "record"),
                        counted(walk.pages, "page")
                    ));
                    self.walks.push((stream, walk));
                }
                Err(why) => problems.push(why),
            }
        }
        if problems.is_empty() {
            Ok(Outcome::Passed(summaries.join("; ")))
        } else {
            Err(problems.join("; "))
        }
    }

    async fn resume_from_every_cursor(&self) -> Result<Outcome, String> {
        if self.walks.is_empty() {
            return Ok(Outcome::Skipped(
                "needs a stream that passed paginate_to_end".to_owned(),
            ));
        }
        let mut resumed = 0;
        for (stream, walk) in &self.walks {
            let all = walk.ids();
            for (number, (cursor, offset)) in walk.cursors.iter().enumerate() {
                let rest = &all[*offset..];
                let again = self
                    .walk(
                        &self.tenant,
                        stream,
                        Some(cursor.clone()),
                        self.budget(rest.len()),
                    )
                    .await
                    .map_err(|why| format!("resuming from cursor #{} failed: {why}", number + 1))?;
                let got = again.ids();
                if got != rest {
                    return Err(format!(
                        "resuming `{stream}` from cursor #{} {} (after {offset} records) returned {} records where {} remain; {}",
                        number + 1,
                        show_cursor(Some(cursor)),
                        got.len(),
                        rest.len(),
                        first_id_difference(&got, rest)
                    ));
                }
                resumed += 1;
            }
        }
        if resumed == 0 {
            return Err(
                "no stream needed more than one page, so no cursor could be resumed from: give the mock's tenant more records than one page holds (or lower the page size in the mock's settings)"
                    .to_owned(),
            );
        }
        Ok(Outcome::Passed(format!(
            "{resumed} intermediate cursors, each gave exactly the remainder"
        )))
    }

    async fn idempotent_repull(&self) -> Result<Outcome, String> {
        if self.walks.is_empty() {
            return Ok(Outcome::Skipped(
                "needs a stream that passed paginate_to_end".to_owned(),
            ));
        }
        let mut compared = 0;
        for (stream, first) in &self.walks {
            let second = self
                .walk(&self.tenant, stream, None, self.budget(first.records.len()))
                .await
                .map_err(|why| format!("the second pull failed: {why}"))?;
            if second.ids() != first.ids() {
                return Err(format!(
                    "a second pull of `{stream}` returned different ids; {}",
                    first_id_difference(&second.ids(), &first.ids())
                ));
            }
            for (again, before) in second.records.iter().zip(&first.records) {
                if again.updated_at != before.updated_at {
                    return Err(format!(
                        "a second pull of `{stream}` changed the updated_at of `{}`: {:?} then {:?}",
                        before.external_id, before.updated_at, again.updated_at
                    ));
                }
                if again.data != before.data {
                    return Err(format!(
                        "a second pull of `{stream}` changed the data of `{}` at {}",
                        before.external_id,
                        first_value_difference(&before.data, &again.data, String::new())
                            .unwrap_or_else(|| "an unknown place".to_owned())
                    ));
                }
            }
            compared += first.records.len();
        }
        Ok(Outcome::Passed(format!(
            "{compared} records identical on a second pull"
        )))
    }

    async fn empty_source(&self) -> Result<Outcome, String> {
        let Some(empty) = self.mock.empty_tenant() else {
            return Ok(Outcome::Skipped(
                "the mock offers no empty tenant".to_owned(),
            ));
        };
        self.check_tenant(&empty)
            .await
            .map_err(|error| format!("check() failed for the empty tenant `{empty}`: {error}"))?;
        let streams = self.streams();
        for stream in &streams {
            let expected = self.mock.expected_ids(&empty, stream);
            if !expected.is_empty() {
                return Err(format!(
                    "the mock's empty tenant `{empty}` is not empty: {} `{stream}` records",
                    expected.len()
                ));
            }
            let page = self.pull(&empty, stream, None).await.map_err(|error| {
                format!("the first `{stream}` page of the empty tenant `{empty}` failed: {error}")
            })?;
            if !page.records.is_empty() || page.next_cursor.is_some() {
                return Err(format!(
                    "the first `{stream}` page of the empty tenant `{empty}` had {} records and next cursor {}; expected none and `None`",
                    page.records.len(),
                    show_cursor(page.next_cursor.as_ref())
                ));
            }
        }
        Ok(Outcome::Passed(format!(
            "tenant `{empty}`: check() ok, {} with zero records and no next cursor",
            counted(streams.len(), "stream")
        )))
    }

    async fn huge_page(&self) -> Result<Outcome, String> {
        let Some(huge) = self.mock.huge_page() else {
            return Ok(Outcome::Skipped("the mock offers no huge page".to_owned()));
        };
        let started = Instant::now();
        let page = self
            .pull(&huge.tenant, &huge.stream, None)
            .await
            .map_err(|error| {
                format!(
                    "the huge first page of `{}` for tenant `{}` failed: {error}",
                    huge.stream, huge.tenant
                )
            })?;
        let elapsed = started.elapsed();
        let bytes: usize = page
            .records
            .iter()
            .map(|record| serde_json::to_vec(&record.data).map_or(0, |json| json.len()))
            .sum();
        let records = page.records.len();
        if records < HUGE_PAGE_MIN_RECORDS && bytes < HUGE_PAGE_MIN_BYTES {
            return Err(format!(
                "the mock's huge page is not huge: {records} records, {bytes} bytes of record data (the check needs at least {HUGE_PAGE_MIN_RECORDS} records or {HUGE_PAGE_MIN_BYTES} bytes)"
            ));
        }
        let ids: Vec<&str> = page
            .records
            .iter()
            .map(|record| record.external_id.as_str())
            .collect();
        let expected = self.mock.expected_ids(&huge.tenant, &huge.stream);
        let known: HashSet<&str> = expected.iter().map(String::as_str).collect();
        if let Some(stranger) = ids.iter().find(|id| !known.contains(**id)) {
            return Err(format!(
                "the huge page holds `{stranger}`, which the mock does not expect"
            ));
        }
        if let Some(twice) = duplicates(&ids).first() {
            return Err(format!("the huge page holds `{twice}` twice"));
        }
        Ok(Outcome::Passed(format!(
            "{records} records, {:.1} MiB of record data in one page, in {} ms",
            bytes as f64 / (1024.0 * 1024.0),
            elapsed.as_millis()
        )))
    }

    async fn odd_values(&self) -> Result<Outcome, String> {
        let Some(odd) = self.mock.odd_record() else {
            return Ok(Outcome::Skipped("the mock offers no odd record".to_owned()));
        };
        let missing = missing_coverage(&odd.expect);
        if !missing.is_empty() {
            return Err(format!(
                "the mock's odd record must exercise a non-ASCII string, a null, a number sent as a string and a nested object; its expectations lack {}",
                missing.join(", ")
            ));
        }
        let reused = self
            .walks
            .iter()
            .find(|(stream, _)| odd.tenant == self.tenant && *stream == odd.stream)
            .map(|(_, walk)| walk);
        let walked;
        let walk = match reused {
            Some(walk) => walk,
            None => {
                let expected = self.mock.expected_ids(&odd.tenant, &odd.stream).len();
                walked = self
                    .walk(&odd.tenant, &odd.stream, None, self.budget(expected))
                    .await?;
                &walked
            }
        };
        let record = walk
            .records
            .iter()
            .find(|record| record.external_id == odd.external_id)
            .ok_or_else(|| {
                format!(
                    "the odd record `{}` is not among the {} `{}` records of tenant `{}`",
                    odd.external_id,
                    walk.records.len(),
                    odd.stream,
                    odd.tenant
                )
            })?;
        for (pointer, expected) in &odd.expect {
            match record.data.pointer(pointer) {
                Some(found) if found == expected => {}
                Some(found) => {
                    return Err(format!(
                        "`{}` at {pointer}: expected {expected}, found {found}",
                        odd.external_id
                    ))
                }
                None => {
                    return Err(format!(
                        "`{}` has nothing at {pointer}; expected {expected}",
                        odd.external_id
                    ))
                }
            }
        }
        let pointers: Vec<&str> = odd.expect.iter().map(|(p, _)| p.as_str()).collect();
        Ok(Outcome::Passed(format!(
            "`{}`: {} survived unchanged",
            odd.external_id,
            pointers.join(", ")
        )))
    }

    async fn unknown_stream(&self) -> Result<Outcome, String> {
        let stream = StreamName::new(UNKNOWN_STREAM).expect("a valid stream name");
        if self.streams().contains(&stream) {
            return Ok(Outcome::Skipped(format!(
                "the connector lists a stream named `{UNKNOWN_STREAM}`"
            )));
        }
        match self.pull(&self.tenant, &stream, None).await {
            Err(PullError::Connector(error)) if error.class() == ErrorClass::Config => Ok(
                Outcome::Passed(format!("`{UNKNOWN_STREAM}` refused: {error}")),
            ),
            Err(other) => Err(format!(
                "a stream the connector does not list must be a config error, got {other}"
            )),
            Ok(page) => Err(format!(
                "a stream the connector does not list returned a page of {} records",
                page.records.len()
            )),
        }
    }

    async fn foreign_cursor(&self) -> Result<Outcome, String> {
        let stream = self.first_stream();
        let cursor = Cursor::new(FOREIGN_CURSOR);
        match self.pull(&self.tenant, &stream, Some(&cursor)).await {
            Err(PullError::Connector(error)) if error.class() == ErrorClass::CursorInvalid => {
                Ok(Outcome::Passed(format!("{error}")))
            }
            Err(other) => Err(format!(
                "a cursor the connector never wrote must be `cursor_invalid` (so the runtime restarts the window), got {other}"
            )),
            Ok(page) => Err(format!(
                "a cursor the connector never wrote returned a page of {} records; version your cursors so foreign ones are refused",
                page.records.len()
            )),
        }
    }

    /// Injects `fault`, pulls the first page of the first stream, judges the error with
    /// `judge`, then pulls again, which must succeed.
    async fn with_fault(
        &self,
        fault: &Fault,
        judge: impl Fn(&ConnectorError) -> Result<(), String>,
    ) -> Result<Option<String>, String> {
        if !self.mock.inject(fault) {
            return Ok(None);
        }
        let stream = self.first_stream();
        let verdict = match self.pull(&self.tenant, &stream, None).await {
            Ok(page) => Err(format!(
                "after {fault}, the pull returned a page of {} records: the connector must surface the failure, not retry or ignore it (the runtime owns retries)",
                page.records.len()
            )),
            Err(PullError::TimedOut(after)) => {
                Err(format!("after {fault}, the pull gave no answer within {after:?}"))
            }
            Err(PullError::Connector(error)) => judge(&error)
                .map(|()| error.to_string())
                .map_err(|why| format!("after {fault}: {why}")),
        };
        // Always pull once more: it proves recovery, and it consumes the fault should the
        // connector not have sent a request at all.
        let recovery = self.pull(&self.tenant, &stream, None).await;
        let message = verdict?;
        recovery.map_err(|error| {
            format!(
                "the pull after {fault} failed too ({error}); faults are one-shot, so the connector must not remember a failure"
            )
        })?;
        Ok(Some(message))
    }

    async fn rate_limited(&self, with_retry_after: bool) -> Result<Outcome, String> {
        let fault = Fault::RateLimited {
            retry_after: with_retry_after.then_some(INJECTED_RETRY_AFTER),
        };
        let judged = self
            .with_fault(&fault, |error| match error {
                ConnectorError::RateLimited { retry_after, .. } if with_retry_after => {
                    let low = INJECTED_RETRY_AFTER - RETRY_AFTER_TOLERANCE;
                    let high = INJECTED_RETRY_AFTER + RETRY_AFTER_TOLERANCE;
                    match retry_after {
                        Some(delay) if (low..=high).contains(delay) => Ok(()),
                        other => Err(format!(
                            "rate limited, but with retry_after {other:?} instead of about {INJECTED_RETRY_AFTER:?}"
                        )),
                    }
                }
                ConnectorError::RateLimited { .. } => Ok(()),
                other => Err(format!(
                    "expected `rate_limited`, got `{}`: {other}",
                    other.class().as_str()
                )),
            })
            .await?;
        Ok(fault_outcome(&fault, judged))
    }

    async fn server_errors(&self) -> Result<Outcome, String> {
        let mut seen = Vec::new();
        for status in [500, 502, 503, 504] {
            let fault = Fault::ServerError { status };
            let judged = self
                .with_fault(&fault, |error| {
                    expect_class(error, ErrorClass::Transient, status)
                })
                .await?;
            match judged {
                Some(_) => seen.push(status.to_string()),
                None => return Ok(fault_outcome(&fault, None)),
            }
        }
        Ok(Outcome::Passed(format!(
            "HTTP {} all transient",
            seen.join(", ")
        )))
    }

    async fn unauthorized(&self) -> Result<Outcome, String> {
        for status in [401, 403] {
            let fault = Fault::Unauthorized { status };
            if self
                .with_fault(&fault, |error| {
                    expect_class(error, ErrorClass::Auth, status)
                })
                .await?
                .is_none()
            {
                return Ok(fault_outcome(&fault, None));
            }
        }
        let fault = Fault::Unauthorized { status: 401 };
        if !self.mock.inject(&fault) {
            return Ok(fault_outcome(&fault, None));
        }
        let verdict = match self.check_tenant(&self.tenant).await {
            Ok(()) => Err(format!(
                "check() succeeded while the source answered {fault}: check() must make a request that proves access"
            )),
            Err(PullError::Connector(error)) => expect_class(&error, ErrorClass::Auth, 401)
                .map_err(|why| format!("check() after {fault}: {why}")),
            Err(timeout) => Err(format!("check() after {fault}: {timeout}")),
        };
        // Consume the fault should check() not have sent a request.
        let recovery = self.check_tenant(&self.tenant).await;
        verdict?;
        recovery.map_err(|error| {
            format!("check() after {fault} failed again ({error}); faults are one-shot")
        })?;
        Ok(Outcome::Passed(
            "HTTP 401 and 403 are auth errors from pull() and check()".to_owned(),
        ))
    }

    async fn malformed_body(&self) -> Result<Outcome, String> {
        let fault = Fault::MalformedBody;
        let judged = self
            .with_fault(&fault, |error| match error.class() {
                ErrorClass::Malformed => Ok(()),
                other => Err(format!(
                    "expected `malformed_response`, got `{}`: {error}",
                    other.as_str()
                )),
            })
            .await?;
        Ok(fault_outcome(&fault, judged))
    }
}

fn fault_outcome(fault: &Fault, judged: Option<String>) -> Outcome {
    match judged {
        Some(message) => Outcome::Passed(message),
        None => Outcome::Skipped(format!("the mock cannot produce {fault}")),
    }
}

fn expect_class(error: &ConnectorError, class: ErrorClass, status: u16) -> Result<(), String> {
    if error.class() != class {
        return Err(format!(
            "expected `{}`, got `{}`: {error}",
            class.as_str(),
            error.class().as_str()
        ));
    }
    match error.http_status() {
        Some(reported) if reported != status => Err(format!(
            "`{}` as expected, but reporting HTTP {reported} instead of {status}",
            class.as_str()
        )),
        _ => Ok(()),
    }
}

/// Exactly the expected ids, each once: or which are duplicated, missing, unexpected.
fn compare_ids(stream: &StreamName, got: &[&str], expected: &[String]) -> Result<(), String> {
    let twice = duplicates(got);
    if !twice.is_empty() {
        return Err(format!(
            "`{stream}` returned {} ids more than once: {}",
            twice.len(),
            sample(&twice)
        ));
    }
    let got_set: HashSet<&str> = got.iter().copied().collect();
    let expected_set: HashSet<&str> = expected.iter().map(String::as_str).collect();
    let mut missing: Vec<&str> = expected_set.difference(&got_set).copied().collect();
    let mut extra: Vec<&str> = got_set.difference(&expected_set).copied().collect();
    if let Some(empty) = got.iter().find(|id| id.is_empty()) {
        extra.push(empty);
    }
    if missing.is_empty() && extra.is_empty() {
        return Ok(());
    }
    missing.sort_unstable();
    extra.sort_unstable();
    Err(format!(
        "`{stream}` returned {} records where {} were expected: {} missing ({}), {} unexpected ({})",
        got.len(),
        expected.len(),
        missing.len(),
        sample(&missing),
        extra.len(),
        sample(&extra)
    ))
}

fn duplicates<'a>(ids: &[&'a str]) -> Vec<&'a str> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in ids {
        *counts.entry(id).or_default() += 1;
    }
    let mut twice: Vec<&str> = counts
        .into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(id, _)| id)
        .collect();
    twice.sort_unstable();
    twice
}

/// The first few items, for messages.
fn sample(ids: &[&str]) -> String {
    const SHOWN: usize = 5;
    let mut text = ids
        .iter()
        .take(SHOWN)
        .map(|id| format!("`{id}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > SHOWN {
        text.push_str(&format!(", … {} more", ids.len() - SHOWN));
    }
    text
}

fn first_id_difference(got: &[&str], expected: &[&str]) -> String {
    let position = got
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(expected.len()));
    format!(
        "the first difference is at position {position}: got {:?}, expected {:?}",
        got.get(position),
        expected.get(position)
    )
}

/// The JSON pointer of the first place two values differ.
fn first_value_difference(
    a: &serde_json::Value,
    b: &serde_json::Value,
    at: String,
) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(left), Value::Object(right)) => {
            let mut keys: Vec<&String> = left.keys().chain(right.keys()).collect();
            keys.sort_unstable();
            keys.dedup();
            keys.into_iter().find_map(|key| {
                let path = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                match (left.get(key), right.get(key)) {
                    (Some(l), Some(r)) => first_value_difference(l, r, path),
                    _ => Some(path),
                }
            })
        }
        (Value::Array(left), Value::Array(right)) if left.len() == right.len() => left
            .iter()
            .zip(right)
            .enumerate()
            .find_map(|(index, (l, r))| first_value_difference(l, r, format!("{at}/{index}"))),
        _ if a == b => None,
        _ if at.is_empty() => Some("the root".to_owned()),
        _ => Some(at),
    }
}

/// Which odd kinds of value the expectations do not exercise.
fn missing_coverage(expect: &[(String, serde_json::Value)]) -> Vec<&'static str> {
    #[derive(Default)]
    struct Seen {
        non_ascii: bool,
        null: bool,
        numeric_string: bool,
        nested_object: bool,
    }
    fn scan(value: &serde_json::Value, seen: &mut Seen) {
        use serde_json::Value;
        match value {
            Value::Null => seen.null = true,
            Value::String(text) => {
                seen.non_ascii |= !text.is_ascii();
                seen.numeric_string |=
                    text.bytes().any(|b| b.is_ascii_digit()) && text.trim().parse::<f64>().is_ok();
            }
            Value::Object(map) => {
                seen.nested_object |= !map.is_empty();
                map.values().for_each(|value| scan(value, seen));
            }
            Value::Array(items) => items.iter().for_each(|value| scan(value, seen)),
            Value::Bool(_) | Value::Number(_) => {}
        }
    }
    let mut seen = Seen::default();
    for (_, value) in expect {
        scan(value, &mut seen);
    }
    let mut missing = Vec::new();
    if !seen.non_ascii {
        missing.push("a non-ASCII string");
    }
    if !seen.null {
        missing.push("a null");
    }
    if !seen.numeric_string {
        missing.push("a number sent as a string");
    }
    if !seen.nested_object {
        missing.push("a nested object");
    }
    missing
}

/// `1 page`, `3 pages`.
fn counted(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

fn show_cursor(cursor: Option<&Cursor>) -> String {
    const MAX: usize = 60;
    match cursor {
        None => "None".to_owned(),
        Some(cursor) => {
            let text = cursor.as_str();
            if text.len() <= MAX {
                return format!("{text:?}");
            }
            let mut end = MAX;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!("{:?}…", &text[..end])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differences_are_located_by_pointer() {
        let a = json!({"id": "x", "address": {"city": "Zürich", "lines": ["a", "b"]}, "a/b": 1});
        let cases = [
            (
                json!({"id": "x", "address": {"city": "Zürich", "lines": ["a", "b"]}, "a/b": 1}),
                None,
            ),
            (
                json!({"id": "x", "address": {"city": "Zurich", "lines": ["a", "b"]}, "a/b": 1}),
                Some("/address/city"),
            ),
            (
                json!({"id": "x", "address": {"city": "Zürich", "lines": ["a", "c"]}, "a/b": 1}),
                Some("/address/lines/1"),
            ),
            (
                json!({"id": "x", "address": {"city": "Zürich", "lines": ["a"]}, "a/b": 1}),
                Some("/address/lines"),
            ),
            (
                json!({"id": "x", "address": {"city": "Zürich", "lines": ["a", "b"]}, "a/b": 2}),
                Some("/a~1b"),
            ),
            (json!({"id": "x"}), Some("/a~1b")),
            (json!([1]), Some("the root")),
        ];
        for (b, expected) in cases {
            assert_eq!(
                first_value_difference(&a, &b, String::new()).as_deref(),
                expected,
                "{b}"
            );
        }
    }

    #[test]
    fn coverage_names_what_is_missing() {
        let full = vec![
            ("/name".to_owned(), json!("Zoë")),
            ("/note".to_owned(), json!(null)),
            ("/total".to_owned(), json!("12.50")),
            ("/address".to_owned(), json!({"city": "x"})),
        ];
        assert!(missing_coverage(&full).is_empty());
        let nested_only = vec![(
            "/address".to_owned(),
            json!({"city": "Zürich", "line2": null, "zip": "8001"}),
        )];
        assert!(missing_coverage(&nested_only).is_empty());
        assert_eq!(
            missing_coverage(&[
                ("/n".to_owned(), json!("NaN")),
                ("/e".to_owned(), json!({}))
            ]),
            [
                "a non-ASCII string",
                "a null",
                "a number sent as a string",
                "a nested object"
            ]
        );
    }

    #[test]
    fn id_comparison_reports_duplicates_missing_and_extra() {
        let stream = StreamName::new("orders").unwrap();
        let expected: Vec<String> = ["a", "b", "c"].map(str::to_owned).to_vec();
        assert!(compare_ids(&stream, &["c", "a", "b"], &expected).is_ok());
        let error = compare_ids(&stream, &["a", "a", "b", "c"], &expected).unwrap_err();
        assert!(error.contains("more than once: `a`"), "{error}");
        let error = compare_ids(&stream, &["a", "d"], &expected).unwrap_err();
        assert!(
            error.contains("2 missing (`b`, `c`), 1 unexpected (`d`)"),
            "{error}"
        );
        let many: Vec<String> = (0..9).map(|i| format!("id{i}")).collect();
        let error = compare_ids(&stream, &[], &many).unwrap_err();
        assert!(error.contains("… 4 more"), "{error}");
    }
}
