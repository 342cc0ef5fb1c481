//! Who may use queue-admin: API tokens (stored as SHA-256 hashes), and — in the rest of this
//! module — local users and their browser sessions. Every change writes its audit row in the
//! same transaction.

use super::audit::{write_audit, AuditEntry};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;

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

/// An API token as listed: never its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRow {
    /// Row id (what `tokens revoke` takes).
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The first characters of the token.
    pub prefix: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last accepted.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What revoking a token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRevoke {
    /// Revoked now.
    Revoked,
    /// It was revoked before; nothing changed (and nothing was audited).
    AlreadyRevoked,
    /// No token has that id.
    NotFound,
}

/// A local user to create. The password reaches this crate only as an argon2id PHC string.
#[derive(Clone)]
pub struct NewUser<'a> {
    /// `[A-Za-z0-9._@-]{1,64}` (the table checks it).
    pub username: &'a str,
    /// `$argon2id$...`.
    pub password_hash: &'a str,
    /// `viewer`, `operator` or `admin`.
    pub role: &'a str,
}

impl std::fmt::Debug for NewUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A local user as listed: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRow {
    /// Row id.
    pub id: i64,
    /// The name they sign in with.
    pub username: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// Disabled users cannot sign in and have no session.
    pub disabled: bool,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed (role, password, disabled).
    pub updated_at: DateTime<Utc>,
    /// Sessions that have not expired.
    pub sessions: i64,
}

/// What a login check needs. Its `Debug` hides the hash.
#[derive(Clone)]
pub struct LoginUser {
    /// Row id (sessions point at it).
    pub id: i64,
    /// The name.
    pub username: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// A disabled user must be refused even with the right password.
    pub disabled: bool,
    /// The argon2id PHC string to verify against.
    pub password_hash: String,
}

impl std::fmt::Debug for LoginUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// What a change to a user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    /// Changed (and audited); the user's sessions were ended.
    Changed,
    /// It already was so; nothing changed and nothing was audited.
    Unchanged,
    /// No user has that name.
    NotFound,
    /// Refused: it would leave no enabled admin, and nobody could manage users any more from
    /// the web UI.
    LastAdmin,
}

/// A browser session to store. The cookie value never reaches this crate: only its SHA-256.
#[derive(Clone)]
pub struct NewSession<'a> {
    /// SHA-256 of the cookie value.
    pub token_hash: &'a [u8],
    /// The signed-in user.
    pub user_id: i64,
    /// The session's CSRF token (forms carry it; it is compared, so it is kept as is).
    pub csrf_token: &'a str,
    /// How long the session lasts without activity.
    pub idle_lifetime: std::time::Duration,
}

impl std::fmt::Debug for NewSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("user_id", &self.user_id)
            .field("idle_lifetime", &self.idle_lifetime)
            .finish_non_exhaustive()
    }
}

/// The user behind a live session.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionPrincipal {
    /// The signed-in user's name.
    pub username: String,
    /// Their role now (a role change applies at once).
    pub role: String,
    /// The session's CSRF token.
    pub csrf_token: String,
}

impl std::fmt::Debug for SessionPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionPrincipal")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The target of audit rows about a user.
fn user_target(username: &str) -> Option<String> {
    Some(format!("user:{username}"))
}

/// A user row locked for a change: (id, role, disabled).
async fn lock_user(
    transaction: &deadpool_postgres::Transaction<'_>,
    username: &str,
) -> Result<Option<(i64, String, bool)>, StoreError> {
    let row = transaction
        .query_opt(
            "SELECT id, role, disabled FROM admin_users WHERE username = $1 FOR UPDATE",
            &[&username],
        )
        .await
        .map_err(StoreError::db("locking a user"))?;
    Ok(row.map(|row| (row.get(0), row.get(1), row.get(2))))
}

/// Whether an enabled admin other than `user_id` remains. Locks every enabled admin row, so two
/// admins demoting each other at once cannot both succeed.
async fn another_admin_remains(
    transaction: &deadpool_postgres::Transaction<'_>,
    user_id: i64,
) -> Result<bool, StoreError> {
    let rows = transaction
        .query(
            "SELECT id FROM admin_users WHERE role = 'admin' AND NOT disabled FOR UPDATE",
            &[],
        )
        .await
        .map_err(StoreError::db("counting admins"))?;
    Ok(rows.iter().any(|row| row.get::<_, i64>(0) != user_id))
}

/// Ends every session of a user; returns how many.
async fn end_sessions(
    transaction: &deadpool_postgres::Transaction<'_>,
    user_id: i64,
) -> Result<u64, StoreError> {
    transaction
        .execute("DELETE FROM admin_sessions WHERE user_id = $1", &[&user_id])
        .await
        .map_err(StoreError::db("ending a user's sessions"))
}

impl Store {
    /// Every API token, newest first, without hashes.
    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, name, prefix, role, created_by, created_at, expires_at, last_used_at,
                        revoked_at
                 FROM admin_tokens ORDER BY id DESC",
                &[],
            )
            .await
            .map_err(StoreError::db("listing tokens"))?;
        Ok(rows
            .iter()
            .map(|row| TokenRow {
                id: row.get(0),
                name: row.get(1),
                prefix: row.get(2),
                role: row.get(3),
                created_by: row.get(4),
                created_at: row.get(5),
                expires_at: row.get(6),
                last_used_at: row.get(7),
                revoked_at: row.get(8),
            })
            .collect())
    }

    /// Revokes a token (audited as `token.revoke` by `actor`).
    pub async fn revoke_token(&self, id: i64, actor: &str) -> Result<TokenRevoke, StoreError> {
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a token revocation"))?;
        let Some(row) = transaction
            .query_opt(
                "SELECT name, revoked_at IS NOT NULL FROM admin_tokens WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(StoreError::db("locking a token"))?
        else {
            return Ok(TokenRevoke::NotFound);
        };
        let name: String = row.get(0);
        if row.get::<_, bool>(1) {
            return Ok(TokenRevoke::AlreadyRevoked);
        }
        let revoked_at: DateTime<Utc> = transaction
            .query_one(
                "UPDATE admin_tokens SET revoked_at = now() WHERE id = $1 RETURNING revoked_at",
                &[&id],
            )
            .await
            .map_err(StoreError::db("revoking a token"))?
            .get(0);
        write_audit(
            &transaction,
            &AuditEntry {
                actor,
                action: "token.revoke",
                target: Some(format!("token:{name}")),
                count: Some(1),
                before: Some(serde_json::json!({"id": id, "revoked_at": null})),
                after: Some(serde_json::json!({"id": id, "revoked_at": revoked_at})),
                ..Default::default()
            },
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a token revocation"))?;
        Ok(TokenRevoke::Revoked)
    }

    /// Creates a local user (audited as `user.create` by `actor`); `None` when the name is
    /// taken.
    pub async fn create_user(
        &self,
        user: &NewUser<'_>,
        actor: &str,
    ) -> Result<Option<i64>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a user creation"))?;
        let Some(row) = transaction
            .query_opt(
                "INSERT INTO admin_users (username, password_hash, role) VALUES ($1, $2, $3)
                 ON CONFLICT (username) DO NOTHING RETURNING id",
                &[&user.username, &user.password_hash, &user.role],
            )
            .await
            .map_err(StoreError::db("creating a user"))?
        else {
            return Ok(None);
        };
        let id: i64 = row.get(0);
        write_audit(
            &transaction,
            &AuditEntry {
                actor,
                action: "user.create",
                target: user_target(user.username),
                count: Some(1),
                after: Some(serde_json::json!({
                    "id": id, "username": user.username, "role": user.role, "disabled": false,
                })),
                ..Default::default()
            },
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a user creation"))?;
        Ok(Some(id))
    }

    /// Every local user, by name, with their live session count; never a password hash.
    pub async fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT u.id, u.username, u.role, u.disabled, u.created_at, u.updated_at,
                        (SELECT count(*) FROM admin_sessions s
                         WHERE s.user_id = u.id AND s.expires_at > now())
                 FROM admin_users u ORDER BY u.username",
                &[],
            )
            .await
            .map_err(StoreError::db("listing users"))?;
        Ok(rows
            .iter()
            .map(|row| UserRow {
                id: row.get(0),
                username: row.get(1),
                role: row.get(2),
                disabled: row.get(3),
                created_at: row.get(4),
                updated_at: row.get(5),
                sessions: row.get(6),
            })
            .collect())
    }

    /// What a login check needs about `username`, if such a user exists.
    pub async fn login_user(&self, username: &str) -> Result<Option<LoginUser>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id, username, role, disabled, password_hash FROM admin_users
                 WHERE username = $1",
                &[&username],
            )
            .await
            .map_err(StoreError::db("looking up a user"))?;
        Ok(row.map(|row| LoginUser {
            id: row.get(0),
            username: row.get(1),
            role: row.get(2),
            disabled: row.get(3),
            password_hash: row.get(4),
        }))
    }

    /// Gives a user another role (audited as `user.role`) and ends their sessions. Refuses to
    /// demote the last enabled admin.
    pub async fn set_user_role(
        &self,
        username: &str,
        role: &str,
        actor: &str,
    ) -> Result<UserChange, StoreError> {
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a role change"))?;
        let Some((id, old_role, disabled)) = lock_user(&transaction, username).await? else {
            return Ok(UserChange::NotFound);
        };
        if old_role == role {
            return Ok(UserChange::Unchanged);
        }
        if old_role == "admin" && !disabled && !another_admin_remains(&transaction, id).await? {
            return Ok(UserChange::LastAdmin);
        }
        transaction
            .execute(
                "UPDATE admin_users SET role = $2, updated_at = now() WHERE id = $1",
                &[&id, &role],
            )
            .await
            .map_err(StoreError::db("changing a role"))?;
        let sessions = end_sessions(&transaction, id).await?;
        write_audit(
            &transaction,
            &AuditEntry {
                actor,
                action: "user.role",
                target: user_target(username),
                count: Some(1),
                before: Some(serde_json::json!({"role": old_role})),
                after: Some(serde_json::json!({"role": role, "sessions_ended": sessions})),
                ..Default::default()
            },
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a role change"))?;
        Ok(UserChange::Changed)
    }

    /// Disables (ending every session) or enables a user, audited as `user.disable` or
    /// `user.enable`. Refuses to disable the last enabled admin.
    pub async fn set_user_disabled(
        &self,
        username: &str,
        disabled: bool,
        actor: &str,
    ) -> Result<UserChange, StoreError> {
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a user status change"))?;
        let Some((id, role, was_disabled)) = lock_user(&transaction, username).await? else {
            return Ok(UserChange::NotFound);
        };
        if was_disabled == disabled {
            return Ok(UserChange::Unchanged);
        }
        if disabled && role == "admin" && !another_admin_remains(&transaction, id).await? {
            return Ok(UserChange::LastAdmin);
        }
        transaction
            .execute(
                "UPDATE admin_users SET disabled = $2, updated_at = now() WHERE id = $1",
                &[&id, &disabled],
            )
            .await
            .map_err(StoreError::db("changing a user's status"))?;
        let sessions = end_sessions(&transaction, id).await?;
        write_audit(
            &transaction,
            &AuditEntry {
                actor,
                action: if disabled {
                    "user.disable"
                } else {
                    "user.enable"
                },
                target: user_target(username),
                count: Some(1),
                before: Some(serde_json::json!({"disabled": was_disabled})),
                after: Some(serde_json::json!({"disabled": disabled, "sessions_ended": sessions})),
                ..Default::default()
            },
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a user status change"))?;
        Ok(UserChange::Changed)
    }

    /// Replaces a user's password hash (audited as `user.password`, without either hash) and
    /// ends their sessions.
    pub async fn set_user_password(
        &self,
        username: &str,
        password_hash: &str,
        actor: &str,
    ) -> Result<UserChange, StoreError> {
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a password change"))?;
        let Some((id, _, _)) = lock_user(&transaction, username).await? else {
            return Ok(UserChange::NotFound);
        };
        transaction
            .execute(
                "UPDATE admin_users SET password_hash = $2, updated_at = now() WHERE id = $1",
                &[&id, &password_hash],
            )
            .await
            .map_err(StoreError::db("changing a password"))?;
        let sessions = end_sessions(&transaction, id).await?;
        write_audit(
            &transaction,
            &AuditEntry {
                actor,
                action: "user.password",
                target: user_target(username),
                count: Some(1),
                after: Some(serde_json::json!({"sessions_ended": sessions})),
                ..Default::default()
            },
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a password change"))?;
        Ok(UserChange::Changed)
    }

    /// Stores a new browser session (and forgets expired ones).
    pub async fn create_session(&self, session: &NewSession<'_>) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM admin_sessions WHERE expires_at <= now()", &[])
            .await
            .map_err(StoreError::db("forgetting expired sessions"))?;
        client
            .execute(
                "INSERT INTO admin_sessions (token_hash, user_id, csrf_token, expires_at)
                 VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
                &[
                    &session.token_hash,
                    &session.user_id,
                    &session.csrf_token,
                    &session.idle_lifetime.as_secs_f64(),
                ],
            )
            .await
            .map_err(StoreError::db("storing a session"))?;
        Ok(())
    }

    /// The user behind a session hash, if the session has not expired and the user is not
    /// disabled. Slides the session's expiry to `idle_lifetime` from now.
    pub async fn session_principal(
        &self,
        token_hash: &[u8],
        idle_lifetime: std::time::Duration,
    ) -> Result<Option<SessionPrincipal>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "UPDATE admin_sessions s
                 SET last_seen_at = now(), expires_at = now() + make_interval(secs => $2)
                 FROM admin_users u
                 WHERE s.token_hash = $1 AND s.user_id = u.id AND s.expires_at > now()
                   AND NOT u.disabled
                 RETURNING u.username, u.role, s.csrf_token",
                &[&token_hash, &idle_lifetime.as_secs_f64()],
            )
            .await
            .map_err(StoreError::db("looking up a session"))?;
        Ok(row.map(|row| SessionPrincipal {
            username: row.get(0),
            role: row.get(1),
            csrf_token: row.get(2),
        }))
    }

    /// Ends one session (signing out); whether it existed.
    pub async fn delete_session(&self, token_hash: &[u8]) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let deleted = client
            .execute(
                "DELETE FROM admin_sessions WHERE token_hash = $1",
                &[&token_hash],
            )
            .await
            .map_err(StoreError::db("ending a session"))?;
        Ok(deleted > 0)
    }
}
