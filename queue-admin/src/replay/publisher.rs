//! The replay publisher: publishes committed, pending replays with confirms (and `mandatory`)
//! at the configured rate, marks them published, and picks up where it left off after a crash.
//!
//! One round ([`publish_round`]) claims a chunk of due replays in a transaction (skipping rows
//! another queue-admin replica holds), waits for the rate limiter, publishes, and commits
//! "published" in the same transaction. A crash between the broker's confirm and the commit
//! publishes the same job ids again next time; the worker's ledger makes such copies harmless.
//! A replay the broker will not take (no queue bound for its connector, a nack) is put back
//! with a growing delay and its batch shows why, so it holds up nothing behind it. A broken
//! connection or database rolls the round back and the loop backs off.

use crate::state::AppState;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::Duration;
use tokio::sync::watch;
use tributary_broker::{JobEnvelope, PublishError};

/// Most replays claimed (and published as one pipelined batch) per round.
const MAX_CHUNK: u32 = 100;
/// How often to look for due replays when nobody wakes the publisher (replays created by
/// another replica, replays whose retry delay ran out).
const POLL_EVERY: Duration = Duration::from_secs(2);
/// First and longest wait after a round failed as a whole (broker or database unreachable).
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// How one round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Nothing was due.
    Idle,
    /// A chunk was handled.
    Worked {
        /// Replays claimed.
        claimed: usize,
        /// Published and committed.
        published: usize,
        /// Refused by the broker; retried later.
        failed: usize,
    },
}

/// Runs until `stop` turns true.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let rate = NonZeroU32::new(state.settings().admin.replay_per_second).unwrap_or(NonZeroU32::MIN);
    // The limiter's burst is one second's worth; a chunk never asks for more than that.
    let limiter = RateLimiter::direct(Quota::per_second(rate));
    let chunk = rate.get().min(MAX_CHUNK);
    let mut backoff = BACKOFF_FIRST;
    loop {
        if *stop.borrow() {
            break;
        }
        let wait = match publish_round(&state, &limiter, chunk).await {
            Ok(Round::Worked { claimed, .. }) if claimed as u32 == chunk => {
                // A full chunk: more may be due right away.
                backoff = BACKOFF_FIRST;
                continue;
            }
            Ok(_) => {
                backoff = BACKOFF_FIRST;
                POLL_EVERY
            }
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), retry_in = ?backoff,
                    "replay publishing failed; retrying");
                let wait = backoff;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                wait
            }
        };
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { break },
            () = state.replay_wakeup().notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Claims up to `chunk` due replays, publishes them at the limiter's pace, and commits the
/// outcome. Fails (having recorded nothing) when the broker or the database cannot be used.
pub async fn publish_round(
    state: &AppState,
    limiter: &DefaultDirectRateLimiter,
    chunk: u32,
) -> anyhow::Result<Round> {
    let claim = state.store().claim_replays(i64::from(chunk)).await?;
    if claim.replays().is_empty() {
        return Ok(Round::Idle);
    }
    let claimed = claim.replays().len();
    let mut failed: Vec<(i64, String)> = Vec::new();
    let mut jobs: Vec<(i64, JobEnvelope)> = Vec::with_capacity(claimed);
    for replay in claim.replays() {
        match serde_json::from_value::<JobEnvelope>(replay.envelope.clone()) {
            Ok(job) if job.job_id.as_uuid() == replay.job_id => jobs.push((replay.id, job)),
            Ok(job) => failed.push((
                replay.id,
                format!(
                    "the ledger row of job {} holds the envelope of job {}",
                    replay.job_id, job.job_id
                ),
            )),
            Err(error) => failed.push((
                replay.id,
                format!(
                    "the ledger's envelope of job {} is not a job envelope: {error}",
                    replay.job_id
                ),
            )),
        }
    }
    if let Some(count) = NonZeroU32::new(jobs.len() as u32) {
        limiter
            .until_n_ready(count)
            .await
            .expect("a chunk is never larger than the limiter's burst");
    }
    let envelopes: Vec<JobEnvelope> = jobs.iter().map(|(_, job)| job.clone()).collect();
    let mut published: Vec<i64> = Vec::with_capacity(jobs.len());
    let publisher = state.publisher();
    let topology = state.topology();
    match publisher.publish_jobs(topology, &envelopes).await {
        Ok(()) => published.extend(jobs.iter().map(|(id, _)| *id)),
        Err(PublishError::Unroutable { .. } | PublishError::Nacked { .. }) => {
            // Some message of the chunk was refused, and the batch API does not say which:
            // publish one at a time to find out. The ones already routed go out twice; the
            // worker's ledger makes the copy harmless.
            for (id, job) in &jobs {
                match publisher.publish_job(topology, job).await {
                    Ok(()) => published.push(*id),
                    Err(
                        error @ (PublishError::Unroutable { .. } | PublishError::Nacked { .. }),
                    ) => failed.push((*id, error.to_string())),
                    Err(error) => {
                        // Keep what is known to be out; the rest stays pending untouched.
                        claim.finish(&published, &failed).await?;
                        return Err(error.into());
                    }
                }
            }
        }
        Err(error) => {
            claim.abandon().await;
            return Err(anyhow::Error::new(error).context("cannot publish replays"));
        }
    }
    for (id, error) in &failed {
        tracing::warn!(replay = id, %error, "a replay could not be published; retrying later");
    }
    claim.finish(&published, &failed).await?;
    if !published.is_empty() {
        tracing::info!(published = published.len(), "replays published");
    }
    Ok(Round::Worked {
        claimed,
        published: published.len(),
        failed: failed.len(),
    })
}
