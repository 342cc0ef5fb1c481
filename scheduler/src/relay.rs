//! The outbox relay: one round takes unsent rows (held with `FOR UPDATE SKIP LOCKED`, so
//! replicas never publish the same rows at once), publishes them with confirms and `mandatory`,
//! and marks the confirmed ones sent in the same transaction. The loop around it (pacing,
//! back-off, waking up) lives in `app`.
//!
//! Nothing is lost: a row leaves the outbox only once the broker confirmed it. A relay that
//! dies mid-round releases its rows with its database connection and another replica publishes
//! them again — the same job id, which the worker's ledger makes harmless. A row the broker
//! refuses (no queue bound for its connector, a nack) stays, with its error, and is retried with
//! a doubling delay while the rows behind it go ahead.

use chrono::{TimeDelta, Utc};
use std::collections::BTreeMap;
use std::time::Duration;
use tributary_broker::{JobEnvelope, PublishError, Publisher, Topology};
use tributary_store::{OutboxFailure, OutboxRow, Store, StoreError};

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayRound {
    /// Rows taken.
    pub taken: usize,
    /// Rows confirmed by the broker and marked sent.
    pub published: usize,
    /// Rows the broker refused (unroutable, nacked) or that do not parse: kept, retried later.
    pub refused: usize,
}

/// Why a round stopped early. Rows not yet confirmed stay in the outbox.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker connection failed or did not confirm in time.
    #[error("the broker did not confirm: {0}")]
    Broker(String),
}

/// How a round behaves.
#[derive(Debug, Clone, Copy)]
pub struct RelayPolicy {
    /// Rows per round.
    pub batch: i64,
    /// Longest delay before a refused row is tried again.
    pub max_retry_delay: Duration,
}

/// Takes, publishes and settles one batch of outbox rows.
pub async fn relay_once(
    store: &Store,
    publisher: &Publisher,
    topology: &Topology,
    policy: &RelayPolicy,
) -> Result<RelayRound, RelayError> {
    let batch = store.take_outbox(policy.batch).await?;
    let mut round = RelayRound {
        taken: batch.rows().len(),
        ..RelayRound::default()
    };
    let mut published: Vec<i64> = Vec::new();
    let mut failed: Vec<OutboxFailure> = Vec::new();
    let mut broker_error = None;

    // One pipelined publish per connector: a refusal (say, no queue for that connector) is then
    // known to concern exactly that group's rows.
    let mut groups: BTreeMap<&str, Vec<(&OutboxRow, JobEnvelope)>> = BTreeMap::new();
    for row in batch.rows() {
        match JobEnvelope::parse(&row.envelope) {
            Ok(envelope) => groups
                .entry(row.connector.as_str())
                .or_default()
                .push((row, envelope)),
            Err(error) => {
                crate::telemetry::publish_failed("malformed", 1, &error.to_string());
                failed.push(failure(row, format!("not a job envelope: {error}"), policy));
            }
        }
    }
    for (_, group) in groups {
        if broker_error.is_some() {
            break;
        }
        let envelopes: Vec<JobEnvelope> =
            group.iter().map(|(_, envelope)| envelope.clone()).collect();
        // The publisher gives up after its confirm timeout (`scheduler.publish_timeout_seconds`).
        match publisher.publish_jobs(topology, &envelopes).await {
            Ok(()) => published.extend(group.iter().map(|(row, _)| row.id)),
            Err(error @ (PublishError::Unroutable { .. } | PublishError::Nacked { .. })) => {
                let reason = match error {
                    PublishError::Unroutable { .. } => "unroutable",
                    _ => "nacked",
                };
                crate::telemetry::publish_failed(reason, group.len(), &error.to_string());
                for (row, _) in &group {
                    failed.push(failure(row, error.to_string(), policy));
                }
            }
            Err(error) => {
                let reason = match error {
                    PublishError::TimedOut(_) => "timeout",
                    _ => "broker",
                };
                crate::telemetry::publish_failed(reason, group.len(), &error.to_string());
                broker_error = Some(error.to_string());
            }
        }
    }
    round.published = published.len();
    round.refused = failed.len();
    batch.finish(&published, &failed).await?;
    crate::telemetry::published(round.published);
    match broker_error {
        Some(error) => Err(RelayError::Broker(error)),
        None => Ok(round),
    }
}

/// A refused row: kept, with a delay doubling from one second per failed attempt.
fn failure(row: &OutboxRow, error: String, policy: &RelayPolicy) -> OutboxFailure {
    let attempts = u32::try_from(row.attempts).unwrap_or(0).min(20);
    let delay = Duration::from_secs(1u64 << attempts).min(policy.max_retry_delay);
    OutboxFailure {
        id: row.id,
        error,
        retry_at: Utc::now() + TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX),
    }
}
