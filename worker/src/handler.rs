//! One unit of work: a delivery in, an [`Outcome`] out. The outcome is durably recorded (ledger,
//! dead letter, retry publish) *before* this returns; the consume loop only settles with the
//! broker. Tests call [`Handler::handle`] directly.

use crate::limits::{self, Limiter};
use crate::pull::{self, Budget, PullContext, PullEnd, PullFailure, PullProgress};
use crate::reconcile;
use crate::telemetry;
use chrono::Utc;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary_broker::lapin::BasicProperties;
use tributary_broker::{properties_json, JobEnvelope, JobKind, PublishError, Publisher, Topology};
use tributary_connector::{Connector, ConnectorError, ErrorClass, JobId, RatePolicy};
use tributary_store::{
    BreakerPolicy, FinishJob, JobStart, JobStatus, Ledger, NewDeadLetter, NewJob, Store, StreamKey,
};

/// How a delivery ended. Every variant but `Requeue` means "acknowledge": the outcome is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The job finished its run.
    Succeeded,
    /// The job spent its budget and handed over to this continuation.
    Continued(JobId),
    /// A newer run of the same stream took over; nothing left to do.
    Superseded,
    /// A delivery of a job the ledger already settled.
    Duplicate,
    /// Failed transiently; sent to a retry tier. `attempt` is the failed-attempt count.
    Retried {
        /// Tier name.
        tier: String,
        /// Failed attempts so far.
        attempt: u32,
    },
    /// Rate limited; sent to a retry tier without spending an attempt.
    Snoozed {
        /// Tier name.
        tier: String,
    },
    /// Stored as a dead letter with this class.
    DeadLettered {
        /// The dead-letter class.
        class: &'static str,
    },
    /// The outcome could not be recorded (database or broker unavailable): hand the delivery
    /// back to the broker, unsettled work is never acknowledged.
    Requeue {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// A small fixed label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Continued(_) => "continued",
            Outcome::Superseded => "superseded",
            Outcome::Duplicate => "duplicate",
            Outcome::Retried { .. } => "retried",
            Outcome::Snoozed { .. } => "snoozed",
            Outcome::DeadLettered { .. } => "dead_lettered",
            Outcome::Requeue { .. } => "requeued",
        }
    }
}

/// A received message, as the handler needs it.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The body, byte for byte.
    pub body: &'a [u8],
    /// AMQP properties and headers.
    pub properties: &'a BasicProperties,
    /// The routing key (the connector kind for work messages).
    pub routing_key: &'a str,
    /// The queue it came from.
    pub queue: &'a str,
}

/// A configured source: its connector instance.
#[derive(Debug, Clone)]
pub struct Source {
    /// The connector kind it was built as.
    pub kind: String,
    /// The instance.
    pub connector: Arc<dyn Connector>,
    /// Its request budget (the settings' override, else the connector's own policy).
    pub rate_policy: RatePolicy,
}

/// Everything a delivery needs, shared by all in-flight jobs of a process.
#[derive(Debug)]
pub struct Handler {
    /// This process's name in the ledger.
    pub worker_name: String,
    /// The broker topology (retry tiers, work exchange).
    pub topology: Topology,
    /// The ledger writer.
    pub ledger: Ledger,
    /// The store.
    pub store: Store,
    /// The confirm-mode publisher (retries, continuations).
    pub publisher: Arc<Publisher>,
    /// Configured sources by id.
    pub sources: BTreeMap<String, Source>,
    /// Registered connector kinds (for "unknown connector" messages).
    pub known_connectors: Vec<&'static str>,
    /// Largest accepted message body.
    pub max_message_bytes: usize,
    /// Failed attempts before dead-lettering.
    pub max_attempts: u32,
    /// Per-job budget.
    pub budget: Budget,
    /// This process's rate limiter (its schedule is shared fleet-wide).
    pub limiter: Limiter,
    /// When a source's circuit breaker opens.
    pub breaker: BreakerPolicy,
    /// How long a job of a paused source waits before it looks again.
    pub paused_recheck: Duration,
    /// When a reconcile window is small enough to compare manifests.
    pub reconcile_thresholds: reconcile::compare::Thresholds,
}

/// The ledger row of a job envelope.
pub fn ledger_row(job: &JobEnvelope) -> NewJob {
    NewJob {
        id: job.job_id.as_uuid(),
        root_id: job.root().as_uuid(),
        parent_id: job.lineage.parent.map(|id| id.as_uuid()),
        replay_of: job.lineage.replay_of.map(|id| id.as_uuid()),
        kind: job.kind.as_str().to_owned(),
        connector: job.connector.to_string(),
        tenant: job.tenant.to_string(),
        source: job.source.to_string(),
        stream: job.stream.to_string(),
        envelope: serde_json::to_value(job).expect("an envelope always serializes"),
    }
}

/// What went wrong with a job, on its way to an outcome.
struct Failure {
    class: &'static str,
    message: String,
    http_status: Option<u16>,
}

impl Failure {
    /// A run paused by a limit or a breaker rather than by the source answering an error.
    fn paused(class: &'static str, message: String) -> Self {
        Failure {
            class,
            message,
            http_status: None,
        }
    }
}

impl Handler {
    /// Handles one delivery and records its outcome.
    pub async fn handle(&self, incoming: Incoming<'_>) -> Outcome {
        let started = Instant::now();
        let outcome = self.handle_unmeasured(incoming).await;
        telemetry::job_finished(
            &self.connector_label(incoming.routing_key),
            outcome.label(),
            started.elapsed(),
        );
        outcome
    }

    async fn handle_unmeasured(&self, incoming: Incoming<'_>) -> Outcome {
        let started_at = Utc::now();
        let connector_label = self.connector_label(incoming.routing_key);

        if incoming.body.len() > self.max_message_bytes {
            let reason = format!(
                "message body is {} bytes; the limit is {} (worker.max_message_bytes)",
                incoming.body.len(),
                self.max_message_bytes
            );
            return self
                .dead_letter_unparsed(incoming, "oversized", &reason, &connector_label)
                .await;
        }
        let job = match JobEnvelope::parse(incoming.body) {
            Ok(job) => job,
            Err(error) => {
                return self
                    .dead_letter_unparsed(
                        incoming,
                        "malformed_job",
                        &error.to_string(),
                        &connector_label,
                    )
                    .await
            }
        };
        let connector_label = self.connector_label(job.connector.as_str());
        if !self.known_connectors.contains(&job.connector.as_str()) {
            let reason = format!(
                "unknown connector kind `{}`; known kinds: {}",
                job.connector,
                self.known_connectors.join(", ")
            );
            return self
                .dead_letter_job(
                    incoming,
                    &job,
                    "unknown_connector",
                    &reason,
                    None,
                    0,
                    started_at,
                )
                .await;
        }
        let source = match self.sources.get(job.source.as_str()) {
            Some(source) if source.kind == job.connector.as_str() => source,
            Some(source) => {
                let reason = format!(
                    "source `{}` is a `{}` source, but the job names connector `{}`",
                    job.source, source.kind, job.connector
                );
                return self
                    .dead_letter_job(incoming, &job, "config", &reason, None, 0, started_at)
                    .await;
            }
            None => {
                let configured: Vec<&str> = self.sources.keys().map(String::as_str).collect();
                let reason = format!(
                    "source `{}` is not configured on this worker; configured sources: {}",
                    job.source,
                    if configured.is_empty() {
                        "none".to_owned()
                    } else {
                        configured.join(", ")
                    }
                );
                return self
                    .dead_letter_job(
                        incoming,
                        &job,
                        "unknown_source",
                        &reason,
                        None,
                        0,
                        started_at,
                    )
                    .await;
            }
        };

        let start = match self.ledger.begin(ledger_row(&job)).await {
            Ok(start) => start,
            Err(error) => return self.requeue(&connector_label, error.to_string()),
        };
        if start.status.is_terminal() {
            return Outcome::Duplicate;
        }
        telemetry::job_started(
            &connector_label,
            (Utc::now() - job.enqueued_at).to_std().unwrap_or_default(),
        );
        if let Some(continuation) = start.continuation_id {
            // A redelivery of a job that already handed over: publish the same continuation
            // again (a duplicate of it is harmless) and settle.
            let continuation = job.continuation(JobId::from_uuid(continuation));
            return self
                .hand_over(&job, continuation, started_at, PullProgress::default())
                .await;
        }

        match job.kind {
            JobKind::Noop => {
                self.finish(
                    &job,
                    JobStatus::Succeeded,
                    "succeeded",
                    None,
                    0,
                    started_at,
                    PullProgress::default(),
                    Outcome::Succeeded,
                )
                .await
            }
            JobKind::Pull => {
                self.run_pull(incoming, &job, source, start, started_at)
                    .await
            }
            JobKind::Reconcile => {
                self.run_reconcile(incoming, &job, source, start, started_at)
                    .await
            }
        }
    }

    async fn run_reconcile(
        &self,
        incoming: Incoming<'_>,
        job: &JobEnvelope,
        source: &Source,
        start: JobStart,
        started_at: chrono::DateTime<Utc>,
    ) -> Outcome {
        let connector = job.connector.as_str();
        if !source.connector.reconciliation().is_usable() {
            // Not a failure: the report says so, and the schedule keeps running harmlessly.
            return match reconcile::report_unsupported(
                &self.store,
                job,
                source.connector.as_ref(),
                started_at,
            )
            .await
            {
                Ok(report) => {
                    if report.written {
                        telemetry::reconcile_finished(connector, "unsupported", report.tally);
                    }
                    self.finish_succeeded(job, started_at, PullProgress::default())
                        .await
                }
                Err(error) => self.requeue(connector, error.to_string()),
            };
        }
        let context = reconcile::ReconcileContext {
            store: &self.store,
            limiter: &self.limiter,
            connector: &source.connector,
            rate_policy: source.rate_policy,
            breaker: self.breaker,
            budget: self.budget,
            paused_recheck: self.paused_recheck,
            thresholds: self.reconcile_thresholds,
        };
        let (end, progress) = match reconcile::run(context, job, started_at).await {
            Ok(result) => result,
            Err(error) => return self.requeue(connector, error.to_string()),
        };
        match end {
            reconcile::ReconcileEnd::Reported(report) => {
                if report.written {
                    telemetry::reconcile_finished(connector, report.status.as_str(), report.tally);
                }
                self.finish_succeeded(job, started_at, progress).await
            }
            reconcile::ReconcileEnd::Superseded => {
                self.finish_superseded(job, started_at, progress).await
            }
            reconcile::ReconcileEnd::Paused {
                retry_after,
                class,
                reason,
            } => {
                let failure = Failure::paused(class, reason);
                self.snooze(
                    incoming,
                    job,
                    retry_after,
                    &failure,
                    start,
                    started_at,
                    progress,
                )
                .await
            }
            reconcile::ReconcileEnd::Failed { failure, tally } => {
                let message = failure.to_string();
                if let Err(error) =
                    reconcile::report_failed(&self.store, job, &message, tally, started_at).await
                {
                    return self.requeue(connector, error.to_string());
                }
                let outcome = self
                    .failed(incoming, job, failure, start, started_at, progress)
                    .await;
                // A run has failed when it gives up, not on an attempt that will be retried:
                // `failed` is what the TributaryReconcileFailing alert counts.
                if matches!(outcome, Outcome::DeadLettered { .. }) {
                    telemetry::reconcile_finished(connector, "failed", tally);
                }
                outcome
            }
        }
    }

    async fn finish_succeeded(
        &self,
        job: &JobEnvelope,
        started_at: chrono::DateTime<Utc>,
        progress: PullProgress,
    ) -> Outcome {
        self.finish(
            job,
            JobStatus::Succeeded,
            "succeeded",
            None,
            0,
            started_at,
            progress,
            Outcome::Succeeded,
        )
        .await
    }

    async fn finish_superseded(
        &self,
        job: &JobEnvelope,
        started_at: chrono::DateTime<Utc>,
        progress: PullProgress,
    ) -> Outcome {
        self.finish(
            job,
            JobStatus::Superseded,
            "superseded",
            None,
            0,
            started_at,
            progress,
            Outcome::Superseded,
        )
        .await
    }

    async fn run_pull(
        &self,
        incoming: Incoming<'_>,
        job: &JobEnvelope,
        source: &Source,
        start: JobStart,
        started_at: chrono::DateTime<Utc>,
    ) -> Outcome {
        let (end, progress) = match pull::run(
            PullContext {
                store: &self.store,
                limiter: &self.limiter,
                connector: &source.connector,
                rate_policy: source.rate_policy,
                breaker: self.breaker,
                budget: self.budget,
                paused_recheck: self.paused_recheck,
            },
            job,
        )
        .await
        {
            Ok(result) => result,
            Err(error) => return self.requeue(job.connector.as_str(), error.to_string()),
        };
        match end {
            PullEnd::Completed => self.finish_succeeded(job, started_at, progress).await,
            PullEnd::Superseded => self.finish_superseded(job, started_at, progress).await,
            PullEnd::BudgetExhausted => {
                let candidate = JobId::new();
                let assigned = match self
                    .store
                    .assign_continuation(job.job_id.as_uuid(), candidate.as_uuid())
                    .await
                {
                    Ok(id) => JobId::from_uuid(id),
                    Err(error) => return self.requeue(job.connector.as_str(), error.to_string()),
                };
                self.hand_over(job, job.continuation(assigned), started_at, progress)
                    .await
            }
            PullEnd::Paused {
                retry_after,
                class,
                reason,
            } => {
                let failure = Failure::paused(class, reason);
                self.snooze(
                    incoming,
                    job,
                    retry_after,
                    &failure,
                    start,
                    started_at,
                    progress,
                )
                .await
            }
            PullEnd::Failed(failure) => {
                self.failed(incoming, job, failure, start, started_at, progress)
                    .await
            }
        }
    }

    /// Records and publishes the continuation, then settles this job.
    async fn hand_over(
        &self,
        job: &JobEnvelope,
        continuation: JobEnvelope,
        started_at: chrono::DateTime<Utc>,
        progress: PullProgress,
    ) -> Outcome {
        if let Err(error) = self.store.insert_jobs(&[ledger_row(&continuation)]).await {
            return self.requeue(job.connector.as_str(), error.to_string());
        }
        if let Err(error) = self
            .publisher
            .publish_job(&self.topology, &continuation)
            .await
        {
            return self.requeue(job.connector.as_str(), error.to_string());
        }
        self.finish(
            job,
            JobStatus::Succeeded,
            "continued",
            None,
            0,
            started_at,
            progress,
            Outcome::Continued(continuation.job_id),
        )
        .await
    }

    async fn failed(
        &self,
        incoming: Incoming<'_>,
        job: &JobEnvelope,
        failure: PullFailure,
        start: JobStart,
        started_at: chrono::DateTime<Utc>,
        progress: PullProgress,
    ) -> Outcome {
        let connector = job.connector.as_str();
        let message = failure.to_string();
        let (class, http_status, transient, retry_after) = match &failure {
            PullFailure::Panic(_) => ("panic", None, true, None),
            PullFailure::Timeout(_) => ("timeout", None, true, None),
            PullFailure::Connector(error) => {
                let retry_after = match error {
                    ConnectorError::RateLimited { retry_after, .. } => {
                        Some(retry_after.unwrap_or(Duration::from_secs(5)))
                    }
                    _ => None,
                };
                (
                    error.class().as_str(),
                    error.http_status(),
                    error.class() == ErrorClass::Transient
                        || error.class() == ErrorClass::CursorInvalid,
                    retry_after,
                )
            }
        };
        let failure = Failure {
            class,
            message,
            http_status,
        };

        let limiter_key = limits::key(job.tenant.as_str(), job.source.as_str());
        if transient || retry_after.is_some() {
            // Both count towards the source's breaker; a 429 also pauses the source fleet-wide.
            if let Some(delay) = retry_after {
                if let Err(error) = self.limiter.pause(&limiter_key, delay).await {
                    return self.requeue(connector, error.to_string());
                }
            }
            match self
                .store
                .breaker_failure(
                    job.tenant.as_str(),
                    job.source.as_str(),
                    connector,
                    &failure.message,
                    self.breaker,
                )
                .await
            {
                Ok(Some(cooldown)) => {
                    telemetry::breaker_opened(connector, cooldown, &failure.message)
                }
                Ok(None) => {}
                Err(error) => return self.requeue(connector, error.to_string()),
            }
        }

        if let Some(delay) = retry_after {
            return self
                .snooze(incoming, job, delay, &failure, start, started_at, progress)
                .await;
        }

        if transient {
            let attempt = start.attempts.max(0) as u32 + 1;
            if attempt >= self.max_attempts {
                let reason = format!(
                    "gave up after {attempt} failed attempts (worker.max_attempts = {}); last error ({}): {}",
                    self.max_attempts, failure.class, failure.message
                );
                return self
                    .dead_letter_job(
                        incoming,
                        job,
                        "retries_exhausted",
                        &reason,
                        failure.http_status,
                        attempt as i32,
                        started_at,
                    )
                    .await;
            }
            let tier = self.topology.tier_for_attempt(attempt).clone();
            if let Err(error) = self
                .publish_to_tier(incoming, &tier, "retry", attempt)
                .await
            {
                return self.requeue(connector, error.to_string());
            }
            crate::fault::point(crate::fault::AFTER_RETRY_PUBLISH);
            telemetry::retried(connector, &tier.name, attempt, &failure.message);
            return self
                .finish(
                    job,
                    JobStatus::Retrying,
                    "retried",
                    Some(&failure),
                    1,
                    started_at,
                    progress,
                    Outcome::Retried {
                        tier: tier.name,
                        attempt,
                    },
                )
                .await;
        }

        let class: &'static str = match failure.class {
            "auth" => "auth",
            "config" => "config",
            "malformed_response" => "malformed_response",
            _ => "permanent",
        };
        if matches!(class, "auth" | "config") {
            // The source needs a human; say so where operators look.
            let reason = format!("needs attention ({class}): {}", failure.message);
            if let Err(error) = self
                .store
                .mark_attention(job.tenant.as_str(), job.source.as_str(), connector, &reason)
                .await
            {
                return self.requeue(connector, error.to_string());
            }
            tracing::warn!(connector, tenant = %job.tenant, source = %job.source, reason,
                "source needs attention");
        }
        self.dead_letter_job(
            incoming,
            job,
            class,
            &failure.message,
            failure.http_status,
            start.attempts,
            started_at,
        )
        .await
    }

    /// Sends the job to wait in the tier covering `delay`, without spending an attempt.
    #[allow(clippy::too_many_arguments)]
    async fn snooze(
        &self,
        incoming: Incoming<'_>,
        job: &JobEnvelope,
        delay: Duration,
        failure: &Failure,
        start: JobStart,
        started_at: chrono::DateTime<Utc>,
        progress: PullProgress,
    ) -> Outcome {
        let connector = job.connector.as_str();
        let tier = self.topology.tier_at_least(delay).clone();
        if let Err(error) = self
            .publish_to_tier(incoming, &tier, "snooze", start.attempts.max(0) as u32)
            .await
        {
            return self.requeue(connector, error.to_string());
        }
        if failure.class == pull::SOURCE_PAUSED {
            telemetry::job_paused(connector, &tier.name, &failure.message);
        } else {
            telemetry::snoozed(connector, &tier.name, &failure.message);
        }
        self.finish(
            job,
            JobStatus::Snoozed,
            "snoozed",
            Some(failure),
            0,
            started_at,
            progress,
            Outcome::Snoozed { tier: tier.name },
        )
        .await
    }

    async fn publish_to_tier(
        &self,
        incoming: Incoming<'_>,
        tier: &tributary_broker::RetryTier,
        reason: &str,
        attempt: u32,
    ) -> Result<(), PublishError> {
        self.publisher
            .publish_to_tier(
                &self.topology,
                tier,
                tributary_broker::Received {
                    routing_key: incoming.routing_key,
                    body: incoming.body,
                    properties: incoming.properties,
                },
                reason,
                attempt,
            )
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        job: &JobEnvelope,
        status: JobStatus,
        outcome_label: &'static str,
        failure: Option<&Failure>,
        attempts_delta: i32,
        started_at: chrono::DateTime<Utc>,
        progress: PullProgress,
        outcome: Outcome,
    ) -> Outcome {
        let result = self
            .ledger
            .finish(FinishJob {
                id: job.job_id.as_uuid(),
                status,
                outcome: outcome_label,
                attempts_delta,
                error_class: failure.map(|f| f.class.to_owned()),
                error: failure.map(|f| f.message.clone()),
                http_status: failure.and_then(|f| f.http_status).map(i32::from),
                started_at,
                pages: progress.pages as i32,
                records: progress.records as i64,
            })
            .await;
        match result {
            Ok(()) => outcome,
            Err(error) => self.requeue(job.connector.as_str(), error.to_string()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn dead_letter_job(
        &self,
        incoming: Incoming<'_>,
        job: &JobEnvelope,
        class: &'static str,
        reason: &str,
        http_status: Option<u16>,
        attempts: i32,
        started_at: chrono::DateTime<Utc>,
    ) -> Outcome {
        if matches!(job.kind, JobKind::Pull | JobKind::Reconcile) {
            // The run gives up: let the next run of this stream start without waiting for the
            // lease to expire.
            let key = StreamKey {
                tenant: job.tenant.as_str(),
                source: job.source.as_str(),
                stream: job.stream.as_str(),
            };
            if let Err(error) = self.store.release_lease(key, job.root().as_uuid()).await {
                return self.requeue(job.connector.as_str(), error.to_string());
            }
        }
        let letter = NewDeadLetter {
            dedup_key: format!("job:{}", job.job_id),
            job_id: Some(job.job_id.as_uuid()),
            connector: Some(job.connector.as_str()),
            tenant: Some(job.tenant.as_str()),
            source: Some(job.source.as_str()),
            stream: Some(job.stream.as_str()),
            class,
            reason,
            origin: "worker",
            attempts,
            http_status: http_status.map(i32::from),
            payload: incoming.body,
            envelope: serde_json::to_value(job).ok(),
            headers: properties_json(incoming.properties),
            queue: Some(incoming.queue),
            routing_key: Some(incoming.routing_key),
            worker: Some(&self.worker_name),
            started_at,
        };
        self.store_dead_letter(&letter, class, job.connector.as_str())
            .await
    }

    async fn dead_letter_unparsed(
        &self,
        incoming: Incoming<'_>,
        class: &'static str,
        reason: &str,
        connector_label: &str,
    ) -> Outcome {
        let dedup_key = match incoming.properties.message_id() {
            Some(id) => format!("message:{}", id.as_str()),
            None => format!("sha256:{:x}", Sha256::digest(incoming.body)),
        };
        let letter = NewDeadLetter {
            dedup_key,
            job_id: None,
            connector: None,
            tenant: None,
            source: None,
            stream: None,
            class,
            reason,
            origin: "worker",
            attempts: 0,
            http_status: None,
            payload: incoming.body,
            envelope: None,
            headers: properties_json(incoming.properties),
            queue: Some(incoming.queue),
            routing_key: Some(incoming.routing_key),
            worker: Some(&self.worker_name),
            started_at: Utc::now(),
        };
        self.store_dead_letter(&letter, class, connector_label)
            .await
    }

    async fn store_dead_letter(
        &self,
        letter: &NewDeadLetter<'_>,
        class: &'static str,
        connector_label: &str,
    ) -> Outcome {
        match self.store.insert_dead_letter(letter).await {
            Ok(_) => {
                telemetry::dead_lettered(connector_label, class, letter.reason);
                Outcome::DeadLettered { class }
            }
            Err(error) => self.requeue(connector_label, error.to_string()),
        }
    }

    fn requeue(&self, connector: &str, reason: String) -> Outcome {
        telemetry::requeued(connector, &reason);
        Outcome::Requeue { reason }
    }

    /// A metric label for a connector name taken from a message: only registered kinds pass,
    /// so a flood of garbage routing keys cannot blow up label cardinality.
    fn connector_label(&self, name: &str) -> String {
        if self.known_connectors.contains(&name) {
            name.to_owned()
        } else {
            "unknown".to_owned()
        }
    }
}
