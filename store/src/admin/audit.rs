//! The audit log: who changed what, when, why, and what it looked like before and after. Rows
//! are written by [`write_audit`] inside the transaction of the change they describe, so a
//! change without its row (or a row without its change) cannot be committed. The table refuses
//! updates and deletes.

use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Most audit rows returned at once.
pub const MAX_AUDIT_PAGE: i64 = 500;

/// One change, to record.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry<'a> {
    /// Who: `user:<name>`, `token:<name>` or `cli:<os user>`.
    pub actor: &'a str,
    /// What, as `<thing>.<verb>`: `dead_letter.replay`, `source.pause`, `user.create`, ...
    pub action: &'a str,
    /// The one thing acted on, when there is one (`dead_letter:42`, `source:shop/acme`).
    pub target: Option<String>,
    /// The filter that chose the things acted on, when chosen by a filter.
    pub filter: Option<serde_json::Value>,
    /// How many things changed.
    pub count: Option<i32>,
    /// The reason given.
    pub reason: Option<&'a str>,
    /// State before (never a secret).
    pub before: Option<serde_json::Value>,
    /// State after (never a secret).
    pub after: Option<serde_json::Value>,
}

/// A recorded change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    /// Row id (newest is highest).
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: Option<String>,
    /// Chosen by which filter.
    pub filter: Option<serde_json::Value>,
    /// How many.
    pub count: Option<i32>,
    /// Why.
    pub reason: Option<String>,
    /// Before.
    pub before: Option<serde_json::Value>,
    /// After.
    pub after: Option<serde_json::Value>,
}

/// Which audit rows: newest first, optionally narrowed, paged by id.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this action.
    pub action: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only rows whose target is this.
    pub target: Option<String>,
    /// Only rows older than this id (the next page).
    pub before_id: Option<i64>,
    /// Page size (capped at [`MAX_AUDIT_PAGE`]).
    pub limit: i64,
}

/// Writes one audit row in `transaction`; returns its id.
pub(crate) async fn write_audit(
    transaction: &deadpool_postgres::Transaction<'_>,
    entry: &AuditEntry<'_>,
) -> Result<i64, StoreError> {
    let row = transaction
        .query_one(
            "INSERT INTO audit_log (actor, action, target, filter, count, reason, before, after)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                &entry.actor,
                &entry.action,
                &entry.target,
                &entry.filter,
                &entry.count,
                &entry.reason,
                &entry.before,
                &entry.after,
            ],
        )
        .await
        .map_err(StoreError::db("writing an audit row"))?;
    Ok(row.get(0))
}

impl Store {
    /// Audit rows, newest first.
    pub async fn audit_log(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        let client = self.client().await?;
        let limit = query.limit.clamp(1, MAX_AUDIT_PAGE);
        let rows = client
            .query(
                "SELECT id, at, actor, action, target, filter, count, reason, before, after
                 FROM audit_log
                 WHERE ($1::text IS NULL OR action = $1) AND ($2::text IS NULL OR actor = $2)
                   AND ($3::text IS NULL OR target = $3) AND ($4::bigint IS NULL OR id < $4)
                 ORDER BY id DESC LIMIT $5",
                &[
                    &query.action,
                    &query.actor,
                    &query.target,
                    &query.before_id,
                    &limit,
                ],
            )
            .await
            .map_err(StoreError::db("reading the audit log"))?;
        Ok(rows
            .iter()
            .map(|row| AuditRow {
                id: row.get(0),
                at: row.get(1),
                actor: row.get(2),
                action: row.get(3),
                target: row.get(4),
                filter: row.get(5),
                count: row.get(6),
                reason: row.get(7),
                before: row.get(8),
                after: row.get(9),
            })
            .collect())
    }
}
