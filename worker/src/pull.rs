//! The page loop of a pull job: open (or resume) the run, then pull a page, commit it with its
//! checkpoint, repeat — until the window is exhausted, the job's budget is spent, or a page
//! fails. The connector pulls; this loop owns transactions, quick retries, timeouts and panics.

use crate::limits::{self, Limiter, Wait};
use crate::telemetry;
use backon::{ExponentialBuilder, Retryable};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary_broker::JobEnvelope;
use tributary_connector::{Connector, ConnectorError, Cursor, Page, PullRequest, RatePolicy};
use tributary_store::{
    BreakerGate, BreakerPolicy, CommitOutcome, PageCommit, RunState, Store, StoreError, StreamKey,
};

/// How much one job may do before handing over to a continuation.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Pages per job.
    pub max_pages: u32,
    /// Wall time per job.
    pub max_duration: Duration,
    /// Wall time per page request.
    pub page_timeout: Duration,
}

/// Why a page could not be pulled.
#[derive(Debug, thiserror::Error)]
pub enum PullFailure {
    /// The connector classified the failure.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// The connector panicked. Classed transient: the bug may depend on data that changes.
    #[error("connector panicked: {0}")]
    Panic(String),
    /// The page request took longer than the page timeout. Classed transient.
    #[error("page request timed out after {0:?}")]
    Timeout(Duration),
}

impl PullFailure {
    fn is_transient(&self) -> bool {
        match self {
            PullFailure::Connector(error) => {
                error.class() == tributary_connector::ErrorClass::Transient
            }
            PullFailure::Panic(_) | PullFailure::Timeout(_) => true,
        }
    }
}

/// The [`PullEnd::Paused`] class of a job whose source an operator paused.
pub const SOURCE_PAUSED: &str = "source_paused";

/// How the loop ended.
#[derive(Debug)]
pub enum PullEnd {
    /// Not now, through no fault of the job: an operator paused the source, the source's
    /// breaker is open, another run holds the stream's lease, or the shared rate-limit schedule
    /// is full. Snooze without spending an attempt.
    Paused {
        /// When to come back.
        retry_after: Duration,
        /// [`SOURCE_PAUSED`], `breaker_open`, `stream_busy` or `rate_limited`.
        class: &'static str,
        /// For the ledger and logs.
        reason: String,
    },
    /// The window is exhausted: the run is complete.
    Completed,
    /// The budget is spent and more remains: hand over to a continuation.
    BudgetExhausted,
    /// A newer run took over the stream.
    Superseded,
    /// A page failed (after in-process quick retries for transient errors).
    Failed(PullFailure),
}

/// What the loop did.
#[derive(Debug, Default, Clone, Copy)]
pub struct PullProgress {
    /// Pages committed.
    pub pages: u32,
    /// Records committed (inserted + updated + unchanged).
    pub records: u64,
}

/// What the page loop needs besides the job.
#[derive(Debug, Clone, Copy)]
pub struct PullContext<'a> {
    /// The store (checkpoints, records, breakers, rate schedule).
    pub store: &'a Store,
    /// This process's rate limiter.
    pub limiter: &'a Limiter,
    /// The source's connector.
    pub connector: &'a Arc<dyn Connector>,
    /// The source's request budget.
    pub rate_policy: RatePolicy,
    /// When the source's breaker opens.
    pub breaker: BreakerPolicy,
    /// The job's budget.
    pub budget: Budget,
    /// How long a job of a paused source waits before it looks again.
    pub paused_recheck: Duration,
}

/// Runs the page loop for `job`. `Err` only for store failures: the outcome cannot be recorded,
/// so the delivery must go back to the broker.
pub async fn run(
    context: PullContext<'_>,
    job: &JobEnvelope,
) -> Result<(PullEnd, PullProgress), StoreError> {
    let PullContext {
        store,
        limiter,
        connector,
        rate_policy,
        breaker,
        budget,
        paused_recheck,
    } = context;
    let started = Instant::now();
    let key = StreamKey {
        tenant: job.tenant.as_str(),
        source: job.source.as_str(),
        stream: job.stream.as_str(),
    };
    let run_id = job.root().as_uuid();
    let mut progress = PullProgress::default();
    match store
        .breaker_gate(
            key.tenant,
            key.source,
            job.job_id.as_uuid(),
            breaker.probe_ttl,
        )
        .await?
    {
        BreakerGate::Closed | BreakerGate::Probe => {}
        BreakerGate::Paused { reason } => {
            // Checked before the lease and the rate schedule: a paused source costs nothing
            // but this one query per job and recheck.
            let reason = format!("source paused by an operator: {reason}");
            return Ok((
                PullEnd::Paused {
                    retry_after: paused_recheck,
                    class: SOURCE_PAUSED,
                    reason,
                },
                progress,
            ));
        }
        BreakerGate::Open {
            retry_after,
            reason,
        } => {
            let reason = format!("circuit breaker open for this source: {reason}");
            return Ok((
                PullEnd::Paused {
                    retry_after,
                    class: "breaker_open",
                    reason,
                },
                progress,
            ));
        }
    }
    // The lease outlives one job's budget, so a run's continuation finds it still held.
    let lease_ttl = budget.max_duration + budget.page_timeout + Duration::from_secs(30);
    let mut cursor = match store
        .open_run(key, run_id, !job.is_continuation(), lease_ttl)
        .await?
    {
        RunState::Finished => return Ok((PullEnd::Completed, progress)),
        RunState::Superseded => return Ok((PullEnd::Superseded, progress)),
        RunState::Busy { retry_after } => {
            let reason = "another run of this stream holds its lease".to_owned();
            return Ok((
                PullEnd::Paused {
                    retry_after,
                    class: "stream_busy",
                    reason,
                },
                progress,
            ));
        }
        RunState::Resume { cursor } => cursor,
    };
    let limiter_key = limits::key(key.tenant, key.source);
    let mut source_healthy = false;
    let mut restarted_window = false;
    loop {
        if progress.pages >= budget.max_pages || started.elapsed() >= budget.max_duration {
            return Ok((PullEnd::BudgetExhausted, progress));
        }
        match limiter.acquire(&limiter_key, rate_policy).await {
            Ok(_) => {}
            Err(Wait::TooLong(retry_after)) => {
                let reason = format!(
                    "the fleet's request schedule for this source is full for {:.1} s",
                    retry_after.as_secs_f64()
                );
                return Ok((
                    PullEnd::Paused {
                        retry_after,
                        class: "rate_limited",
                        reason,
                    },
                    progress,
                ));
            }
            Err(Wait::Store(error)) => return Err(error),
        }
        let page = match pull_page(connector, job, cursor.as_deref(), budget.page_timeout).await {
            Ok(page) => page,
            Err(PullFailure::Connector(ConnectorError::CursorInvalid { message }))
                if !restarted_window =>
            {
                tracing::warn!(job = %job.job_id, message, "cursor refused; restarting the window");
                store.restart_window(key, run_id).await?;
                restarted_window = true;
                cursor = None;
                continue;
            }
            Err(failure) => return Ok((PullEnd::Failed(failure), progress)),
        };
        if let Some(hint) = &page.rate_limit {
            limiter.apply_hint(&limiter_key, hint).await?;
        }
        let next_cursor = page.next_cursor.as_ref().map(Cursor::as_str);
        if let Some(stuck) = cursor.as_deref().filter(|from| next_cursor == Some(*from)) {
            // Committing would change nothing and the next pull would return the same page:
            // the run would loop until every budget and continuation is spent. Whatever the
            // connector, this is a bug in it or in the source, not something a retry fixes.
            return Ok((PullEnd::Failed(stuck_cursor(job, stuck)), progress));
        }
        crate::fault::point(crate::fault::BEFORE_COMMIT);
        let commit = store
            .commit_page(PageCommit {
                key,
                connector: job.connector.as_str(),
                run_id,
                job_id: job.job_id.as_uuid(),
                from_cursor: cursor.as_deref(),
                next_cursor,
                records: &page.records,
                lease_ttl,
            })
            .await?;
        match commit {
            CommitOutcome::Applied(counts) => {
                telemetry::page_committed(job.connector.as_str(), counts);
                if !source_healthy {
                    source_healthy = true;
                    if store.breaker_success(key.tenant, key.source).await? {
                        telemetry::breaker_closed(job.connector.as_str());
                    }
                }
                progress.pages += 1;
                progress.records += page.records.len() as u64;
                match page.next_cursor {
                    None => return Ok((PullEnd::Completed, progress)),
                    Some(next) => cursor = Some(next.as_str().to_owned()),
                }
            }
            CommitOutcome::CursorMoved { finished: true, .. } => {
                return Ok((PullEnd::Completed, progress))
            }
            CommitOutcome::CursorMoved { current, .. } => {
                // Another delivery of this run got there first; carry on from where it is.
                tracing::info!(job = %job.job_id, "checkpoint moved under us; continuing from it");
                cursor = current;
            }
            CommitOutcome::Superseded => return Ok((PullEnd::Superseded, progress)),
        }
    }
}

/// The failure of a page whose next cursor is the cursor it was pulled from.
fn stuck_cursor(job: &JobEnvelope, cursor: &str) -> PullFailure {
    const SHOWN: usize = 80;
    let shown: String = cursor.chars().take(SHOWN).collect();
    let ellipsis = if cursor.chars().count() > SHOWN {
        "…"
    } else {
        ""
    };
    PullFailure::Connector(ConnectorError::Permanent {
        status: None,
        message: format!(
            "stuck cursor: connector `{}` returned the cursor it was given (`{shown}{ellipsis}`) \
             as the next cursor; the stream would loop forever",
            job.connector
        ),
    })
}

/// One page, with quick in-process retries (jittered exponential backoff) for transient
/// failures, so a blip costs milliseconds instead of a trip through a retry tier.
async fn pull_page(
    connector: &Arc<dyn Connector>,
    job: &JobEnvelope,
    cursor: Option<&str>,
    timeout: Duration,
) -> Result<Page, PullFailure> {
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_millis(500))
        .with_max_times(2)
        .with_jitter();
    (|| pull_page_once(connector, job, cursor, timeout))
        .retry(backoff)
        .when(PullFailure::is_transient)
        .notify(|failure, _| telemetry::page_retried(job.connector.as_str(), &failure.to_string()))
        .await
}

/// One page request in its own task, so a panicking connector fails this job, not the process,
/// and a hanging one is cut off at the timeout.
async fn pull_page_once(
    connector: &Arc<dyn Connector>,
    job: &JobEnvelope,
    cursor: Option<&str>,
    timeout: Duration,
) -> Result<Page, PullFailure> {
    let connector = Arc::clone(connector);
    let tenant = job.tenant.clone();
    let stream = job.stream.clone();
    let window = job.window;
    let cursor = cursor.map(Cursor::new);
    let mut task = tokio::spawn(async move {
        connector
            .pull(PullRequest {
                tenant: &tenant,
                stream: &stream,
                cursor: cursor.as_ref(),
                window: &window,
            })
            .await
    });
    match tokio::time::timeout(timeout, &mut task).await {
        Err(_) => {
            task.abort();
            Err(PullFailure::Timeout(timeout))
        }
        Ok(Err(join_error)) if join_error.is_panic() => {
            let panic = join_error.into_panic();
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            Err(PullFailure::Panic(message))
        }
        Ok(Err(join_error)) => Err(PullFailure::Panic(join_error.to_string())),
        Ok(Ok(result)) => result.map_err(PullFailure::Connector),
    }
}
