//! Fleet-wide rate limiting (GCRA, one row per key, one atomic statement per request), the
//! per-source circuit breaker, and the pauses operators put on sources. All are shared by every
//! worker process through PostgreSQL. Pauses are only read here: queue-admin writes them.

use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::time::Duration;
use uuid::Uuid;

/// The `source_pauses.tenant_id` of a pause that covers every tenant of its source.
pub const ALL_TENANTS: &str = "*";

fn pg_interval(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

fn seconds_to_duration(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds.max(0.0))
}

/// What the breaker says about a source right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakerGate {
    /// Healthy: go ahead.
    Closed,
    /// Cooling down is over: this job is the one probe allowed through.
    Probe,
    /// Open (or another job is probing): come back after `retry_after`.
    Open {
        /// How long to stay away.
        retry_after: Duration,
        /// Why the breaker opened.
        reason: String,
    },
    /// An operator paused the source, for this tenant or for all of them: pull nothing until
    /// the pause is lifted. Takes precedence over the breaker (a paused source takes no probe).
    Paused {
        /// Why, as the operator wrote it (the tenant's own pause if both exist).
        reason: String,
    },
}

/// A source an operator paused, for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePause {
    /// The source id.
    pub source: String,
    /// The paused tenant, or [`ALL_TENANTS`] (`*`) when the pause covers every tenant of the
    /// source.
    pub tenant: String,
    /// Why, as the operator wrote it.
    pub reason: String,
    /// Who paused it.
    pub paused_by: String,
    /// When.
    pub paused_at: DateTime<Utc>,
}

/// When the breaker opens and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BreakerPolicy {
    /// Consecutive failed jobs (transient or rate limited) that open the breaker.
    pub failure_threshold: i32,
    /// First cool-down; doubles on each consecutive opening.
    pub cooldown: Duration,
    /// Longest cool-down.
    pub max_cooldown: Duration,
    /// How long a probe may take before another job may probe instead.
    pub probe_ttl: Duration,
}

/// A breaker's state, for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerState {
    /// Tenant.
    pub tenant: String,
    /// Source.
    pub source: String,
    /// `closed`, `open` or `half_open`.
    pub state: String,
    /// Why it opened.
    pub reason: Option<String>,
    /// Consecutive openings.
    pub trips: i32,
}

impl Store {
    /// Reserves the next request slot of `key` under GCRA with emission `interval` and burst
    /// `tolerance`; returns how long to wait before sending. Every process shares the schedule.
    pub async fn rate_reserve(
        &self,
        key: &str,
        interval: Duration,
        tolerance: Duration,
    ) -> Result<Duration, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "INSERT INTO rate_limits AS r (key, tat)
                 VALUES ($1, clock_timestamp() + make_interval(secs => $2))
                 ON CONFLICT (key) DO UPDATE SET
                     tat = greatest(r.tat, clock_timestamp()) + make_interval(secs => $2),
                     updated_at = clock_timestamp()
                 RETURNING extract(epoch FROM r.tat - make_interval(secs => $2 + $3)
                                              - clock_timestamp())::float8",
                &[&key, &pg_interval(interval), &pg_interval(tolerance)],
            )
            .await
            .map_err(StoreError::db("reserving a rate-limit slot"))?;
        Ok(seconds_to_duration(row.get(0)))
    }

    /// Pushes `key`'s schedule out so no request is sent for `pause` (the source said its
    /// budget is spent until then).
    pub async fn rate_pause(&self, key: &str, pause: Duration) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO rate_limits AS r (key, tat)
                 VALUES ($1, clock_timestamp() + make_interval(secs => $2))
                 ON CONFLICT (key) DO UPDATE SET
                     tat = greatest(r.tat, clock_timestamp() + make_interval(secs => $2)),
                     updated_at = clock_timestamp()",
                &[&key, &pg_interval(pause)],
            )
            .await
            .map_err(StoreError::db("pausing a rate limit"))?;
        Ok(())
    }

    /// Asks whether `job` of (tenant, source) may pull now: not while an operator paused the
    /// source (for this tenant or every tenant), nor while its breaker is open. One round trip
    /// in the common case, a second only to take the probe.
    pub async fn breaker_gate(
        &self,
        tenant: &str,
        source: &str,
        job: Uuid,
        probe_ttl: Duration,
    ) -> Result<BreakerGate, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT pause.reason, b.state, b.reason,
                        extract(epoch FROM b.open_until - clock_timestamp())::float8,
                        b.probe_job,
                        extract(epoch FROM b.probe_until - clock_timestamp())::float8
                 FROM (VALUES (1)) AS one (always)
                 LEFT JOIN LATERAL (
                     SELECT reason FROM source_pauses
                     WHERE source = $2 AND tenant_id IN ($1, $3)
                     -- The tenant's own pause says more than the source-wide one.
                     ORDER BY tenant_id = $3
                     LIMIT 1
                 ) AS pause ON true
                 LEFT JOIN source_breakers AS b ON b.tenant_id = $1 AND b.source = $2",
                &[&tenant, &source, &ALL_TENANTS],
            )
            .await
            .map_err(StoreError::db(
                "reading a source's pause and circuit breaker",
            ))?;
        if let Some(reason) = row.get::<_, Option<String>>(0) {
            return Ok(BreakerGate::Paused { reason });
        }
        let Some(state) = row.get::<_, Option<&str>>(1) else {
            return Ok(BreakerGate::Closed);
        };
        let reason: String = row.get::<_, Option<String>>(2).unwrap_or_default();
        let open_left: Option<f64> = row.get(3);
        let probe_job: Option<Uuid> = row.get(4);
        let probe_left: Option<f64> = row.get(5);
        match state {
            "closed" => Ok(BreakerGate::Closed),
            "open" if open_left.unwrap_or(0.0) > 0.0 => Ok(BreakerGate::Open {
                retry_after: seconds_to_duration(open_left.unwrap_or(0.0)),
                reason,
            }),
            "half_open" if probe_job == Some(job) => Ok(BreakerGate::Probe),
            "half_open" if probe_left.unwrap_or(0.0) > 0.0 => Ok(BreakerGate::Open {
                retry_after: seconds_to_duration(probe_left.unwrap_or(0.0)),
                reason,
            }),
            _ => {
                // Cool-down over (or the probe vanished): try to become the probe.
                let taken = client
                    .execute(
                        "UPDATE source_breakers SET state = 'half_open', probe_job = $3,
                                probe_until = clock_timestamp() + make_interval(secs => $4),
                                updated_at = clock_timestamp()
                         WHERE tenant_id = $1 AND source = $2
                           AND ((state = 'open' AND open_until <= clock_timestamp())
                             OR (state = 'half_open' AND probe_until <= clock_timestamp()))",
                        &[&tenant, &source, &job, &pg_interval(probe_ttl)],
                    )
                    .await
                    .map_err(StoreError::db("taking the breaker probe"))?;
                Ok(if taken == 1 {
                    BreakerGate::Probe
                } else {
                    BreakerGate::Open {
                        retry_after: probe_ttl,
                        reason,
                    }
                })
            }
        }
    }

    /// A job of (tenant, source) succeeded: close the breaker if it was not closed. Returns
    /// whether it changed.
    pub async fn breaker_success(&self, tenant: &str, source: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE source_breakers SET state = 'closed', failures = 0, trips = 0,
                        probe_job = NULL, probe_until = NULL, open_until = NULL,
                        attention = NULL, attention_at = NULL,
                        updated_at = clock_timestamp()
                 WHERE tenant_id = $1 AND source = $2
                   AND (state <> 'closed' OR failures > 0 OR attention IS NOT NULL)",
                &[&tenant, &source],
            )
            .await
            .map_err(StoreError::db("closing a circuit breaker"))?;
        Ok(changed > 0)
    }

    /// A job of (tenant, source) failed transiently or was rate limited. Opens the breaker on
    /// the threshold (or when the probe failed); returns the cool-down when it opened.
    pub async fn breaker_failure(
        &self,
        tenant: &str,
        source: &str,
        connector: &str,
        reason: &str,
        policy: BreakerPolicy,
    ) -> Result<Option<Duration>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "INSERT INTO source_breakers AS b (tenant_id, source, connector, failures, reason)
                 VALUES ($1, $2, $3, 1, $4)
                 ON CONFLICT (tenant_id, source) DO UPDATE SET
                     failures = b.failures + 1, reason = $4, updated_at = clock_timestamp()
                 RETURNING state, failures",
                &[&tenant, &source, &connector, &reason],
            )
            .await
            .map_err(StoreError::db("counting a source failure"))?;
        let state: &str = row.get(0);
        let failures: i32 = row.get(1);
        let must_open =
            state == "half_open" || (state == "closed" && failures >= policy.failure_threshold);
        if !must_open {
            return Ok(None);
        }
        let row = client
            .query_one(
                "UPDATE source_breakers SET state = 'open', trips = trips + 1, failures = 0,
                        opened_at = clock_timestamp(), probe_job = NULL, probe_until = NULL,
                        open_until = clock_timestamp() + make_interval(secs =>
                            least($3 * power(2, trips), $4)),
                        updated_at = clock_timestamp()
                 WHERE tenant_id = $1 AND source = $2
                 RETURNING extract(epoch FROM open_until - clock_timestamp())::float8",
                &[
                    &tenant,
                    &source,
                    &pg_interval(policy.cooldown),
                    &pg_interval(policy.max_cooldown),
                ],
            )
            .await
            .map_err(StoreError::db("opening a circuit breaker"))?;
        Ok(Some(seconds_to_duration(row.get(0))))
    }

    /// Marks (tenant, source) as needing attention (credentials refused, bad configuration),
    /// with the reason; the next success clears it.
    pub async fn mark_attention(
        &self,
        tenant: &str,
        source: &str,
        connector: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO source_breakers AS b (tenant_id, source, connector, attention,
                                                   attention_at)
                 VALUES ($1, $2, $3, $4, clock_timestamp())
                 ON CONFLICT (tenant_id, source) DO UPDATE SET
                     attention = $4, attention_at = clock_timestamp(),
                     updated_at = clock_timestamp()",
                &[&tenant, &source, &connector, &reason],
            )
            .await
            .map_err(StoreError::db("marking a source as needing attention"))?;
        Ok(())
    }

    /// Every source whose breaker is not closed or that needs attention.
    pub async fn open_breakers(&self) -> Result<Vec<BreakerState>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT tenant_id, source, state,
                        COALESCE(attention || CASE WHEN state <> 'closed'
                                                   THEN '; breaker: ' || reason ELSE '' END,
                                 reason),
                        trips
                 FROM source_breakers
                 WHERE state <> 'closed' OR attention IS NOT NULL ORDER BY tenant_id, source",
                &[],
            )
            .await
            .map_err(StoreError::db("listing circuit breakers"))?;
        Ok(rows
            .iter()
            .map(|row| BreakerState {
                tenant: row.get(0),
                source: row.get(1),
                state: row.get(2),
                reason: row.get(3),
                trips: row.get(4),
            })
            .collect())
    }

    /// Every paused source, by source then tenant (a pause of every tenant first).
    pub async fn source_pauses(&self) -> Result<Vec<SourcePause>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT source, tenant_id, reason, paused_by, paused_at FROM source_pauses
                 ORDER BY source, tenant_id <> $1, tenant_id",
                &[&ALL_TENANTS],
            )
            .await
            .map_err(StoreError::db("listing paused sources"))?;
        Ok(rows
            .iter()
            .map(|row| SourcePause {
                source: row.get(0),
                tenant: row.get(1),
                reason: row.get(2),
                paused_by: row.get(3),
                paused_at: row.get(4),
            })
            .collect())
    }
}
