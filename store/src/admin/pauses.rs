//! Pausing and resuming sources (the `source_pauses` rows workers read before each job), and
//! the list of sources queue-admin knows of: every (source, tenant) that has a checkpoint, a
//! circuit breaker, pending dead letters or a pause, with its breaker state and whether it is
//! paused. Each pause and resume writes its audit row (`source.pause`, `source.resume`, with
//! the pause before and after) in its own transaction.

use super::replay::{checked_reason, ChangeError};
use super::{write_audit, AuditEntry};
use crate::limits::{SourcePause, ALL_TENANTS};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};

/// One (source, tenant) as the sources page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownSource {
    /// The source id.
    pub source: String,
    /// The tenant, or [`ALL_TENANTS`] for a pause of every tenant.
    pub tenant: String,
    /// The circuit breaker: `closed`, `open` or `half_open` (`None`: never tripped or marked).
    pub breaker_state: Option<String>,
    /// Why the breaker opened, or why the source needs attention.
    pub breaker_reason: Option<String>,
    /// The pause that holds this (source, tenant): its own, else the source-wide one.
    pub pause: Option<SourcePause>,
    /// Pending dead letters of this (source, tenant).
    pub pending_dead_letters: i64,
    /// When its newest checkpoint moved (the last sign of ingestion).
    pub last_checkpoint_at: Option<DateTime<Utc>>,
}

fn pause_json(pause: &SourcePause) -> serde_json::Value {
    serde_json::json!({
        "paused": true,
        "reason": pause.reason,
        "paused_by": pause.paused_by,
        "paused_at": pause.paused_at,
    })
}

fn target(source: &str, tenant: &str) -> String {
    format!("source:{source}/{tenant}")
}

impl Store {
    /// Every (source, tenant) with a checkpoint, a breaker, a pending dead letter or a pause,
    /// by source then tenant (a pause of every tenant first).
    pub async fn known_sources(&self) -> Result<Vec<KnownSource>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "WITH keys AS (
                     SELECT source, tenant_id FROM checkpoints
                     UNION SELECT source, tenant_id FROM source_breakers
                     UNION SELECT source, tenant_id FROM source_pauses
                     UNION SELECT source, tenant_id FROM dead_letters
                           WHERE status = 'pending' AND source IS NOT NULL
                             AND tenant_id IS NOT NULL
                 )
                 SELECT k.source, k.tenant_id, b.state,
                        COALESCE(b.attention || CASE WHEN b.state <> 'closed'
                                                     THEN '; breaker: ' || b.reason ELSE '' END,
                                 b.reason),
                        p.tenant_id, p.reason, p.paused_by, p.paused_at,
                        (SELECT count(*) FROM dead_letters d
                         WHERE d.status = 'pending' AND d.source = k.source
                           AND d.tenant_id = k.tenant_id),
                        (SELECT max(c.updated_at) FROM checkpoints c
                         WHERE c.source = k.source AND c.tenant_id = k.tenant_id)
                 FROM keys k
                 LEFT JOIN source_breakers b ON b.source = k.source AND b.tenant_id = k.tenant_id
                 LEFT JOIN LATERAL (
                     SELECT tenant_id, reason, paused_by, paused_at FROM source_pauses sp
                     WHERE sp.source = k.source AND sp.tenant_id IN (k.tenant_id, $1)
                     ORDER BY sp.tenant_id = $1 LIMIT 1
                 ) p ON true
                 ORDER BY k.source, k.tenant_id <> $1, k.tenant_id",
                &[&ALL_TENANTS],
            )
            .await
            .map_err(StoreError::db("listing known sources"))?;
        Ok(rows
            .iter()
            .map(|row| KnownSource {
                source: row.get(0),
                tenant: row.get(1),
                breaker_state: row.get(2),
                breaker_reason: row.get(3),
                pause: row.get::<_, Option<String>>(4).map(|tenant| SourcePause {
                    source: row.get(0),
                    tenant,
                    reason: row.get(5),
                    paused_by: row.get(6),
                    paused_at: row.get(7),
                }),
                pending_dead_letters: row.get(8),
                last_checkpoint_at: row.get(9),
            })
            .collect())
    }

    /// Pauses `source` for `tenant` ([`ALL_TENANTS`]: every tenant) with a required reason.
    /// Pausing again replaces the reason (the audit row keeps the one before).
    pub async fn pause_source(
        &self,
        source: &str,
        tenant: &str,
        reason: &str,
        actor: &str,
    ) -> Result<SourcePause, ChangeError> {
        let reason = checked_reason(Some(reason), true)?.unwrap_or_default();
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a pause transaction"))?;
        let before = transaction
            .query_opt(
                "SELECT reason, paused_by, paused_at FROM source_pauses
                 WHERE source = $1 AND tenant_id = $2 FOR UPDATE",
                &[&source, &tenant],
            )
            .await
            .map_err(StoreError::db("reading a pause"))?
            .map(|row| SourcePause {
                source: source.to_owned(),
                tenant: tenant.to_owned(),
                reason: row.get(0),
                paused_by: row.get(1),
                paused_at: row.get(2),
            });
        let row = transaction
            .query_one(
                "INSERT INTO source_pauses (source, tenant_id, reason, paused_by)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (source, tenant_id) DO UPDATE SET
                     reason = EXCLUDED.reason, paused_by = EXCLUDED.paused_by, paused_at = now()
                 RETURNING paused_at",
                &[&source, &tenant, &reason, &actor],
            )
            .await
            .map_err(StoreError::db("pausing a source"))?;
        let pause = SourcePause {
            source: source.to_owned(),
            tenant: tenant.to_owned(),
            reason: reason.to_owned(),
            paused_by: actor.to_owned(),
            paused_at: row.get(0),
        };
        write_audit(
            &transaction,
            &AuditEntry {
                actor,
                action: "source.pause",
                target: Some(target(source, tenant)),
                filter: None,
                count: Some(1),
                reason: Some(reason),
                before: Some(
                    before
                        .as_ref()
                        .map_or_else(|| serde_json::json!({"paused": false}), pause_json),
                ),
                after: Some(pause_json(&pause)),
            },
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a pause"))?;
        Ok(pause)
    }

    /// Lifts the pause of `source` for `tenant` ([`ALL_TENANTS`]: the source-wide pause);
    /// returns the pause lifted. Not paused is [`ChangeError::NotFound`].
    pub async fn resume_source(
        &self,
        source: &str,
        tenant: &str,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<SourcePause, ChangeError> {
        let reason = checked_reason(reason, false)?;
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a resume transaction"))?;
        let lifted = transaction
            .query_opt(
                "DELETE FROM source_pauses WHERE source = $1 AND tenant_id = $2
                 RETURNING reason, paused_by, paused_at",
                &[&source, &tenant],
            )
            .await
            .map_err(StoreError::db("resuming a source"))?
            .map(|row| SourcePause {
                source: source.to_owned(),
                tenant: tenant.to_owned(),
                reason: row.get(0),
                paused_by: row.get(1),
                paused_at: row.get(2),
            });
        let Some(lifted) = lifted else {
            let other: Vec<String> = transaction
                .query(
                    "SELECT tenant_id FROM source_pauses WHERE source = $1 ORDER BY tenant_id",
                    &[&source],
                )
                .await
                .map_err(StoreError::db("reading pauses"))?
                .iter()
                .map(|row| row.get(0))
                .collect();
            let scope = if tenant == ALL_TENANTS {
                "for every tenant".to_owned()
            } else {
                format!("for tenant {tenant}")
            };
            let hint = if other.is_empty() {
                String::new()
            } else {
                format!(
                    " (it is paused for: {})",
                    other
                        .iter()
                        .map(|tenant| if tenant == ALL_TENANTS {
                            "every tenant".to_owned()
                        } else {
                            format!("tenant {tenant}")
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            return Err(ChangeError::NotFound(format!(
                "source {source} is not paused {scope}{hint}"
            )));
        };
        write_audit(
            &transaction,
            &AuditEntry {
                actor,
                action: "source.resume",
                target: Some(target(source, tenant)),
                filter: None,
                count: Some(1),
                reason,
                before: Some(pause_json(&lifted)),
                after: Some(serde_json::json!({"paused": false})),
            },
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a resume"))?;
        Ok(lifted)
    }
}
