//! A reconcile job: compare one (tenant, source, stream) between source and store per
//! created-at window, then repair what drifted — missing and stale records re-pulled by id
//! through the normal page commit, extra records marked deleted (never removed) — and write
//! one report per job.
//!
//! It runs under the same rules as a pull: the operator pause and breaker gate first, the
//! stream's lease for the whole run (a pull and a reconcile of one stream never overlap), and a
//! slot of the fleet-wide rate schedule before every request to the source. Requests grow with
//! the drift: one count per window, one more per split, manifests only of small windows,
//! fetches only of drifted ids. The comparison itself is in [`compare`]; this module does the
//! IO around it.

pub mod compare;
pub mod print;

use crate::limits::{self, Limiter, Wait};
use crate::pull::{Budget, PullFailure, PullProgress, SOURCE_PAUSED};
use crate::telemetry;
use chrono::{DateTime, Utc};
use compare::{Comparison, SourceSide, StoreEntry, StoreSide, Summary, Thresholds};
use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tributary_broker::JobEnvelope;
use tributary_connector::{
    Connector, ConnectorError, CreatedWindow, Cursor, ManifestEntry, RateLimitHint, RatePolicy,
};
use tributary_store::{
    BreakerGate, BreakerPolicy, CommitOutcome, Finding, FindingKind, NewReport, PageCommit,
    RecordWindow, ReportStatus, RunState, Store, StoreError, StreamKey,
};

/// Where an open-ended window starts: the Unix epoch, before any source's first record.
pub const HISTORY_START: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH;

/// Most manifest pages one window may take: a source that keeps paging is looping.
const MAX_MANIFEST_PAGES: u32 = 10_000;

/// What a reconcile run needs besides the job.
#[derive(Debug, Clone, Copy)]
pub struct ReconcileContext<'a> {
    /// The store (records, checkpoints, breakers, rate schedule, reports).
    pub store: &'a Store,
    /// This process's rate limiter (its schedule is shared fleet-wide).
    pub limiter: &'a Limiter,
    /// The source's connector.
    pub connector: &'a Arc<dyn Connector>,
    /// The source's request budget.
    pub rate_policy: RatePolicy,
    /// When the source's breaker opens.
    pub breaker: BreakerPolicy,
    /// Timeouts and the lease length, as for pulls.
    pub budget: Budget,
    /// How long a job of a paused source waits before it looks again.
    pub paused_recheck: Duration,
    /// When a window is small enough for manifests.
    pub thresholds: Thresholds,
}

/// How a reconcile run ended.
#[derive(Debug)]
pub enum ReconcileEnd {
    /// Not now (paused source, open breaker, busy stream, full rate schedule): snooze.
    Paused {
        /// When to come back.
        retry_after: Duration,
        /// As for pulls: `source_paused`, `breaker_open`, `stream_busy`, `rate_limited`.
        class: &'static str,
        /// For the ledger and logs.
        reason: String,
    },
    /// The report is written (by this delivery or an earlier one of the same job).
    Reported(ReportOutcome),
    /// A newer run took the stream, or another delivery of this job is committing.
    Superseded,
    /// A request to the source failed.
    Failed {
        /// Why.
        failure: PullFailure,
        /// What was spent before it failed.
        tally: telemetry::ReconcileTally,
    },
}

/// The report a run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOutcome {
    /// The report's row id.
    pub report_id: i64,
    /// `clean`, `drift` or `unsupported`.
    pub status: ReportStatus,
    /// What the run spent and found; zero when an earlier delivery wrote the report.
    pub tally: telemetry::ReconcileTally,
    /// `false` when an earlier delivery of the job had already written it.
    pub written: bool,
}

/// Why a request to the source did not happen or did not succeed.
enum Stop {
    Store(StoreError),
    Paused(Duration),
    Failed(PullFailure),
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Self {
        Stop::Store(error)
    }
}

/// The connector as the comparison sees it: every request rate limited and counted.
struct LimitedSource<'a> {
    context: ReconcileContext<'a>,
    job: &'a JobEnvelope,
    limiter_key: String,
    api_calls: u64,
}

impl LimitedSource<'_> {
    /// Waits for a slot of the shared schedule, then runs one request with the page timeout,
    /// a panic in the connector becoming a failure of this job.
    async fn request<T>(
        &mut self,
        call: impl Future<Output = Result<T, ConnectorError>>,
        hint: impl Fn(&T) -> Option<RateLimitHint>,
    ) -> Result<T, Stop> {
        match self
            .context
            .limiter
            .acquire(&self.limiter_key, self.context.rate_policy)
            .await
        {
            Ok(_) => {}
            Err(Wait::TooLong(retry_after)) => return Err(Stop::Paused(retry_after)),
            Err(Wait::Store(error)) => return Err(Stop::Store(error)),
        }
        self.api_calls += 1;
        let timeout = self.context.budget.page_timeout;
        let result =
            match tokio::time::timeout(timeout, AssertUnwindSafe(call).catch_unwind()).await {
                Err(_) => return Err(Stop::Failed(PullFailure::Timeout(timeout))),
                Ok(Err(panic)) => {
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "non-string panic payload".to_owned());
                    return Err(Stop::Failed(PullFailure::Panic(message)));
                }
                Ok(Ok(result)) => {
                    result.map_err(|error| Stop::Failed(PullFailure::Connector(error)))?
                }
            };
        if let Some(hint) = hint(&result) {
            self.context
                .limiter
                .apply_hint(&self.limiter_key, &hint)
                .await?;
        }
        Ok(result)
    }
}

impl SourceSide for LimitedSource<'_> {
    type Error = Stop;

    async fn summary(&mut self, window: &CreatedWindow) -> Result<Summary, Stop> {
        let connector = Arc::clone(self.context.connector);
        let job = self.job;
        let summary = self
            .request(
                connector.window_summary(&job.tenant, &job.stream, window),
                |summary| summary.rate_limit,
            )
            .await?;
        Ok(Summary {
            count: summary.count,
            digest: summary.digest,
        })
    }

    async fn manifest(&mut self, window: &CreatedWindow) -> Result<Vec<ManifestEntry>, Stop> {
        let connector = Arc::clone(self.context.connector);
        let job = self.job;
        let mut entries = Vec::new();
        let mut cursor: Option<Cursor> = None;
        for _ in 0..MAX_MANIFEST_PAGES {
            let page = self
                .request(
                    connector.manifest(&job.tenant, &job.stream, window, cursor.as_ref()),
                    |page| page.rate_limit,
                )
                .await?;
            entries.extend(page.entries);
            match page.next_cursor {
                None => return Ok(entries),
                Some(next) => cursor = Some(next),
            }
        }
        Err(Stop::Failed(PullFailure::Connector(
            ConnectorError::Permanent {
                status: None,
                message: format!(
                    "the manifest of one window did not end within {MAX_MANIFEST_PAGES} pages"
                ),
            },
        )))
    }
}

/// The created-at window a reconcile job checks: its envelope's window, an open start being
/// [`HISTORY_START`] and an open end `now`.
pub fn window_of(job: &JobEnvelope, now: DateTime<Utc>) -> CreatedWindow {
    CreatedWindow {
        from: job.window.from.unwrap_or(HISTORY_START),
        to: job.window.to.unwrap_or(now),
    }
}

/// Runs a reconcile job whose connector supports reconciliation. `Err` only for store
/// failures: the outcome cannot be recorded, so the delivery goes back to the broker.
pub async fn run(
    context: ReconcileContext<'_>,
    job: &JobEnvelope,
    started_at: DateTime<Utc>,
) -> Result<(ReconcileEnd, PullProgress), StoreError> {
    let store = context.store;
    let key = StreamKey {
        tenant: job.tenant.as_str(),
        source: job.source.as_str(),
        stream: job.stream.as_str(),
    };
    let run_id = job.root().as_uuid();
    let mut progress = PullProgress::default();

    // A redelivery of a job that already wrote its report only settles.
    if let Some(report) = store.reconcile_report_of_job(job.job_id.as_uuid()).await? {
        if report.status != Some(ReportStatus::Failed) {
            store.release_lease(key, run_id).await?;
            let outcome = ReportOutcome {
                report_id: report.id,
                status: report.status.unwrap_or(ReportStatus::Drift),
                tally: telemetry::ReconcileTally::default(),
                written: false,
            };
            return Ok((ReconcileEnd::Reported(outcome), progress));
        }
    }

    match store
        .breaker_gate(
            key.tenant,
            key.source,
            job.job_id.as_uuid(),
            context.breaker.probe_ttl,
        )
        .await?
    {
        BreakerGate::Closed | BreakerGate::Probe => {}
        BreakerGate::Paused { reason } => {
            let reason = format!("source paused by an operator: {reason}");
            let end = ReconcileEnd::Paused {
                retry_after: context.paused_recheck,
                class: SOURCE_PAUSED,
                reason,
            };
            return Ok((end, progress));
        }
        BreakerGate::Open {
            retry_after,
            reason,
        } => {
            let reason = format!("circuit breaker open for this source: {reason}");
            let end = ReconcileEnd::Paused {
                retry_after,
                class: "breaker_open",
                reason,
            };
            return Ok((end, progress));
        }
    }

    let budget = context.budget;
    let lease_ttl = budget.max_duration + budget.page_timeout + Duration::from_secs(30);
    match store.open_run(key, run_id, true, lease_ttl).await? {
        // A redelivery resumes after the batches an earlier delivery committed (read again
        // below, when the lease is renewed).
        RunState::Resume { .. } => {}
        // Finished without a report cannot happen (the report is written before the final
        // commit); a newer run owning the stream can.
        RunState::Finished | RunState::Superseded => {
            return Ok((ReconcileEnd::Superseded, progress))
        }
        RunState::Busy { retry_after } => {
            let end = ReconcileEnd::Paused {
                retry_after,
                class: "stream_busy",
                reason: "another run of this stream holds its lease".to_owned(),
            };
            return Ok((end, progress));
        }
    }

    let window = window_of(job, started_at);
    let connector = context.connector;
    let support = connector.reconciliation();
    let stored = store
        .reconcile_records(RecordWindow {
            tenant: key.tenant,
            connector: job.connector.as_str(),
            stream: key.stream,
            from: window.from,
            to: window.to,
        })
        .await?;
    let store_side = store_side(connector, job, stored, support.fingerprints).await;

    let mut source = LimitedSource {
        context,
        job,
        limiter_key: limits::key(key.tenant, key.source),
        api_calls: 0,
    };
    let compared = compare::compare(
        &mut source,
        &store_side,
        window,
        support.fingerprints,
        context.thresholds,
    )
    .await;
    let comparison = match compared {
        Ok(comparison) => comparison,
        Err(stop) => return stopped(stop, tally_of(&source, None), progress),
    };
    let mut tally = tally_of(&source, Some(&comparison));

    // The comparison may have taken a while: renew the lease before repairing.
    let mut cursor = match store.open_run(key, run_id, false, lease_ttl).await? {
        RunState::Resume { cursor } => cursor,
        _ => return Ok((ReconcileEnd::Superseded, progress)),
    };

    // Re-pull missing and stale records by id, through the page commit.
    let to_fetch: Vec<String> = comparison
        .findings
        .iter()
        .filter(|finding| finding.kind != FindingKind::Extra)
        .map(|finding| finding.external_id.clone())
        .collect();
    let mut repulled = 0u64;
    for (batch_number, ids) in to_fetch
        .chunks(connector.max_ids_per_fetch().max(1))
        .enumerate()
    {
        let fetched = match source
            .request(
                connector.fetch_by_ids(&job.tenant, &job.stream, ids),
                |fetched| fetched.rate_limit,
            )
            .await
        {
            Ok(fetched) => fetched,
            Err(stop) => {
                tally.api_calls = source.api_calls;
                return stopped(stop, tally, progress);
            }
        };
        let next = format!("reconcile/{run_id}/{batch_number}");
        match commit(
            store,
            job,
            key,
            run_id,
            cursor.as_deref(),
            Some(&next),
            &fetched.records,
            lease_ttl,
        )
        .await?
        {
            CommitOutcome::Applied(counts) => {
                telemetry::page_committed(job.connector.as_str(), counts);
                progress.pages += 1;
                progress.records += fetched.records.len() as u64;
                repulled += fetched.records.len() as u64;
                cursor = Some(next);
            }
            _ => return Ok((ReconcileEnd::Superseded, progress)),
        }
    }
    tally.api_calls = source.api_calls;

    let extra = comparison.ids(FindingKind::Extra);
    let marked_deleted = store
        .mark_records_deleted(key.tenant, job.connector.as_str(), key.stream, &extra)
        .await?;

    let status = if comparison.findings.is_empty() {
        ReportStatus::Clean
    } else {
        ReportStatus::Drift
    };
    let written = store
        .record_reconcile_report(&NewReport {
            job_id: job.job_id.as_uuid(),
            connector: job.connector.as_str(),
            tenant: key.tenant,
            source: key.source,
            stream: key.stream,
            window_from: window.from,
            window_to: window.to,
            status,
            message: None,
            windows_checked: comparison.windows_checked,
            api_calls: tally.api_calls as u32,
            repulled: repulled as u32,
            marked_deleted: marked_deleted as u32,
            started_at,
            findings: &comparison.findings,
        })
        .await?;

    // The final, empty commit finishes the run and releases the stream's lease.
    match commit(
        store,
        job,
        key,
        run_id,
        cursor.as_deref(),
        None,
        &[],
        lease_ttl,
    )
    .await?
    {
        CommitOutcome::Applied(_) | CommitOutcome::CursorMoved { .. } => {}
        CommitOutcome::Superseded => {}
    }
    let outcome = ReportOutcome {
        report_id: written.id,
        status,
        tally,
        written: written.written,
    };
    Ok((ReconcileEnd::Reported(outcome), progress))
}

/// Writes the report of a job whose connector offers no reconciliation.
pub async fn report_unsupported(
    store: &Store,
    job: &JobEnvelope,
    connector: &dyn Connector,
    started_at: DateTime<Utc>,
) -> Result<ReportOutcome, StoreError> {
    let missing = connector.reconciliation().missing().join(", ");
    let message = format!(
        "the `{}` connector does not offer reconciliation (missing: {missing})",
        job.connector
    );
    let window = window_of(job, started_at);
    let written = store
        .record_reconcile_report(&NewReport {
            job_id: job.job_id.as_uuid(),
            connector: job.connector.as_str(),
            tenant: job.tenant.as_str(),
            source: job.source.as_str(),
            stream: job.stream.as_str(),
            window_from: window.from,
            window_to: window.to,
            status: ReportStatus::Unsupported,
            message: Some(&message),
            windows_checked: 0,
            api_calls: 0,
            repulled: 0,
            marked_deleted: 0,
            started_at,
            findings: &[],
        })
        .await?;
    Ok(ReportOutcome {
        report_id: written.id,
        status: ReportStatus::Unsupported,
        tally: telemetry::ReconcileTally::default(),
        written: written.written,
    })
}

/// Writes the `failed` report of an attempt that could not finish (a later attempt of the job
/// replaces it).
pub async fn report_failed(
    store: &Store,
    job: &JobEnvelope,
    message: &str,
    tally: telemetry::ReconcileTally,
    started_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let window = window_of(job, started_at);
    store
        .record_reconcile_report(&NewReport {
            job_id: job.job_id.as_uuid(),
            connector: job.connector.as_str(),
            tenant: job.tenant.as_str(),
            source: job.source.as_str(),
            stream: job.stream.as_str(),
            window_from: window.from,
            window_to: window.to,
            status: ReportStatus::Failed,
            message: Some(message),
            windows_checked: tally.windows as u32,
            api_calls: tally.api_calls as u32,
            repulled: 0,
            marked_deleted: 0,
            started_at,
            findings: &[],
        })
        .await
        .map(drop)
}

#[allow(clippy::too_many_arguments)]
async fn commit(
    store: &Store,
    job: &JobEnvelope,
    key: StreamKey<'_>,
    run_id: uuid::Uuid,
    from_cursor: Option<&str>,
    next_cursor: Option<&str>,
    records: &[tributary_connector::Record],
    lease_ttl: Duration,
) -> Result<CommitOutcome, StoreError> {
    store
        .commit_page(PageCommit {
            key,
            connector: job.connector.as_str(),
            run_id,
            job_id: job.job_id.as_uuid(),
            from_cursor,
            next_cursor,
            records,
            lease_ttl,
        })
        .await
}

fn tally_of(
    source: &LimitedSource<'_>,
    comparison: Option<&Comparison>,
) -> telemetry::ReconcileTally {
    let count = |kind| {
        comparison.map_or(0, |comparison| {
            comparison
                .findings
                .iter()
                .filter(|finding: &&Finding| finding.kind == kind)
                .count() as u64
        })
    };
    telemetry::ReconcileTally {
        windows: comparison.map_or(0, |comparison| u64::from(comparison.windows_checked)),
        api_calls: source.api_calls,
        missing: count(FindingKind::Missing),
        extra: count(FindingKind::Extra),
        stale: count(FindingKind::Stale),
    }
}

fn stopped(
    stop: Stop,
    tally: telemetry::ReconcileTally,
    progress: PullProgress,
) -> Result<(ReconcileEnd, PullProgress), StoreError> {
    match stop {
        Stop::Store(error) => Err(error),
        Stop::Paused(retry_after) => {
            let reason = format!(
                "the fleet's request schedule for this source is full for {:.1} s",
                retry_after.as_secs_f64()
            );
            let end = ReconcileEnd::Paused {
                retry_after,
                class: "rate_limited",
                reason,
            };
            Ok((end, progress))
        }
        Stop::Failed(failure) => Ok((ReconcileEnd::Failed { failure, tally }, progress)),
    }
}

/// The store side in memory, fingerprinting each stored record's data with the connector off
/// the async threads (a database-side cost, not an API cost).
async fn store_side(
    connector: &Arc<dyn Connector>,
    job: &JobEnvelope,
    stored: Vec<tributary_store::StoredRecord>,
    with_fingerprints: bool,
) -> StoreSide {
    let connector = Arc::clone(connector);
    let stream = job.stream.clone();
    let build = move || {
        StoreSide::new(
            stored
                .into_iter()
                .map(|record| StoreEntry {
                    fingerprint: if with_fingerprints {
                        connector.fingerprint(&stream, &record.data)
                    } else {
                        None
                    },
                    external_id: record.external_id,
                    created_at: record.created_at,
                    updated_at: record.updated_at,
                })
                .collect(),
        )
    };
    // A panicking fingerprint leaves the store side without fingerprints: counts still work.
    tokio::task::spawn_blocking(build).await.unwrap_or_default()
}
