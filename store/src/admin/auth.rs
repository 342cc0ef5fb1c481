//! Who may use queue-admin: API tokens (stored as SHA-256 hashes), and — in the rest of this
//! module — local users and their browser sessions. Every change writes its audit row in the
//! same transaction.

use super::audit::{write_audit, AuditEntry};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};

/// The identity behind a valid API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPrincipal {
    /// Token row id.
    pub id: i64,
    /// Its name (the actor in audit rows is `token:<name>`).
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
}

/// A token to store. The token itself never reaches this crate: only its hash and a short
/// prefix for humans to tell tokens apart.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    /// A name for humans (`ci`, `pager-bot`).
    pub name: &'a str,
    /// The first characters of the token, shown in listings.
    pub prefix: &'a str,
    /// SHA-256 of the whole token.
    pub token_hash: &'a [u8],
    /// `viewer`, `operator` or `admin`.
    pub role: &'a str,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Stores a new API token (and its audit row, by `actor`); returns its id.
    pub async fn create_token(&self, token: &NewToken<'_>, actor: &str) -> Result<i64, StoreError> {
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a token transaction"))?;
        let id: i64 = transaction
            .query_one(
                "INSERT INTO admin_tokens (name, prefix, token_hash, role, created_by, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &token.name,
                    &token.prefix,
                    &token.token_hash,
                    &token.role,
                    &actor,
                    &token.expires_at,
                ],
            )
            .await
            .map_err(StoreError::db("storing a token"))?
            .get(0);
        write_audit(
            &transaction,
            &AuditEntry {
                actor,
                action: "token.create",
                target: Some(format!("token:{}", token.name)),
                count: Some(1),
                after: Some(serde_json::json!({
                    "id": id, "name": token.name, "prefix": token.prefix, "role": token.role,
                    "expires_at": token.expires_at,
                })),
                ..Default::default()
            },
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a token"))?;
        Ok(id)
    }

    /// The principal of a token hash, if the token exists, is not revoked and has not expired.
    /// Records its use.
    pub async fn token_principal(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<TokenPrincipal>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "UPDATE admin_tokens SET last_used_at = now()
                 WHERE token_hash = $1 AND revoked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > now())
                 RETURNING id, name, role",
                &[&token_hash],
            )
            .await
            .map_err(StoreError::db("looking up a token"))?;
        Ok(row.map(|row| TokenPrincipal {
            id: row.get(0),
            name: row.get(1),
            role: row.get(2),
        }))
    }
}
