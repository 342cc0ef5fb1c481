//! Managing users and API tokens, the same way from the web UI and from the CLI: input checked
//! here (user names, the password policy, token names, expiries), passwords hashed off the async
//! threads, store outcomes turned into errors that say what to do. The store writes the audit
//! rows.

use super::passwords;
use super::tokens::{self, GeneratedToken};
use super::Role;
use crate::error::AdminError;
use chrono::Utc;
use tributary_store::admin::{NewToken, NewUser, TokenRevoke, UserChange};
use tributary_store::Store;

/// Longest token name.
pub const MAX_TOKEN_NAME_CHARS: usize = 64;

/// Longest token lifetime that may be asked for, in days (ten years; omit it for no expiry).
pub const MAX_TOKEN_DAYS: u32 = 3650;

/// A password to set: given by the person, or generated here (and shown to them once).
#[derive(Clone)]
pub enum NewPassword {
    /// Typed in or read from standard input; checked against the policy.
    Given(String),
    /// Generate one.
    Generate,
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NewPassword::Given(_) => f.write_str("Given(***)"),
            NewPassword::Generate => f.write_str("Generate"),
        }
    }
}

impl NewPassword {
    /// An empty text means "generate one".
    pub fn from_field(text: String) -> Self {
        if text.is_empty() {
            NewPassword::Generate
        } else {
            NewPassword::Given(text)
        }
    }

    /// The clear password (checked against the policy) and whether it was generated.
    fn resolve(self) -> Result<(String, bool), AdminError> {
        match self {
            NewPassword::Given(password) => {
                passwords::check_policy(&password).map_err(AdminError::BadRequest)?;
                Ok((password, false))
            }
            NewPassword::Generate => Ok((passwords::generate(), true)),
        }
    }
}

/// A password that was generated, to show once. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedPassword(pub String);

impl std::fmt::Debug for GeneratedPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GeneratedPassword(***)")
    }
}

/// Creates a user; returns the generated password, if one was generated.
pub async fn create_user(
    store: &Store,
    username: &str,
    role: Role,
    password: NewPassword,
    actor: &str,
) -> Result<Option<GeneratedPassword>, AdminError> {
    passwords::check_username(username).map_err(AdminError::BadRequest)?;
    let (password, generated) = password.resolve()?;
    let password_hash = passwords::hash_off_thread(password.clone()).await?;
    let created = store
        .create_user(
            &NewUser {
                username,
                password_hash: &password_hash,
                role: role.as_str(),
            },
            actor,
        )
        .await?;
    if created.is_none() {
        return Err(AdminError::Conflict(format!(
            "a user named {username:?} already exists"
        )));
    }
    Ok(generated.then_some(GeneratedPassword(password)))
}

/// Sets a user's password (ending their sessions); returns the generated one, if generated.
pub async fn set_password(
    store: &Store,
    username: &str,
    password: NewPassword,
    actor: &str,
) -> Result<Option<GeneratedPassword>, AdminError> {
    let (password, generated) = password.resolve()?;
    let password_hash = passwords::hash_off_thread(password.clone()).await?;
    let change = store
        .set_user_password(username, &password_hash, actor)
        .await?;
    changed(username, change)?;
    Ok(generated.then_some(GeneratedPassword(password)))
}

/// Gives a user another role (ending their sessions); whether anything changed.
pub async fn set_role(
    store: &Store,
    username: &str,
    role: Role,
    actor: &str,
) -> Result<bool, AdminError> {
    let change = store.set_user_role(username, role.as_str(), actor).await?;
    changed(username, change)
}

/// Disables (ending their sessions) or enables a user; whether anything changed.
pub async fn set_disabled(
    store: &Store,
    username: &str,
    disabled: bool,
    actor: &str,
) -> Result<bool, AdminError> {
    let change = store.set_user_disabled(username, disabled, actor).await?;
    changed(username, change)
}

fn changed(username: &str, change: UserChange) -> Result<bool, AdminError> {
    match change {
        UserChange::Changed => Ok(true),
        UserChange::Unchanged => Ok(false),
        UserChange::NotFound => Err(AdminError::NotFound(format!(
            "no user is named {username:?}"
        ))),
        UserChange::LastAdmin => Err(AdminError::Conflict(format!(
            "{username} is the last enabled admin; make another user admin first"
        ))),
    }
}

/// Refuses a token name that is empty, too long, or has control characters.
pub fn check_token_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_TOKEN_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(format!(
            "name: must be 1 to {MAX_TOKEN_NAME_CHARS} characters, without control characters"
        ));
    }
    Ok(())
}

/// Creates an API token; returns its id and the token (to show once).
pub async fn create_token(
    store: &Store,
    name: &str,
    role: Role,
    expires_days: Option<u32>,
    actor: &str,
) -> Result<(i64, GeneratedToken), AdminError> {
    check_token_name(name).map_err(AdminError::BadRequest)?;
    let expires_at = match expires_days {
        None => None,
        Some(days) if (1..=MAX_TOKEN_DAYS).contains(&days) => {
            Some(Utc::now() + chrono::TimeDelta::days(i64::from(days)))
        }
        Some(_) => {
            return Err(AdminError::BadRequest(format!(
                "expires_days: must be between 1 and {MAX_TOKEN_DAYS} (omit it for a token that does not expire)"
            )))
        }
    };
    let token = tokens::generate();
    let id = store
        .create_token(
            &NewToken {
                name,
                prefix: &token.prefix,
                token_hash: &token.hash,
                role: role.as_str(),
                expires_at,
            },
            actor,
        )
        .await?;
    Ok((id, token))
}

/// Revokes an API token; whether it was live until now.
pub async fn revoke_token(store: &Store, id: i64, actor: &str) -> Result<bool, AdminError> {
    match store.revoke_token(id, actor).await? {
        TokenRevoke::Revoked => Ok(true),
        TokenRevoke::AlreadyRevoked => Ok(false),
        TokenRevoke::NotFound => Err(AdminError::NotFound(format!("no token has id {id}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names_are_bounded() {
        assert!(check_token_name("ci").is_ok());
        assert!(check_token_name("").is_err());
        assert!(check_token_name("a\nb").is_err());
        assert!(check_token_name(&"x".repeat(MAX_TOKEN_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn passwords_do_not_show_in_debug() {
        let given = NewPassword::Given("hunter2hunter2".into());
        assert!(!format!("{given:?}").contains("hunter2"));
        let generated = GeneratedPassword("s3cret-s3cret".into());
        assert!(!format!("{generated:?}").contains("s3cret"));
    }

    #[test]
    fn a_short_password_is_refused_and_an_empty_one_generated() {
        assert!(matches!(
            NewPassword::from_field("short".into()).resolve(),
            Err(AdminError::BadRequest(_))
        ));
        let (password, generated) = NewPassword::from_field(String::new()).resolve().unwrap();
        assert!(generated);
        assert!(passwords::check_policy(&password).is_ok());
    }
}
