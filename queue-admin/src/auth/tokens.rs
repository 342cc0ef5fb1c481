//! API tokens: `trb_` followed by 64 random hex digits, shown once at creation, stored as a
//! SHA-256 hash. A token carries a role of its own.

use super::{Principal, Role};
use crate::error::AdminError;
use crate::state::AppState;
use axum::http::{header, HeaderMap};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every token starts with this, so a leaked one is easy to grep for.
pub const TOKEN_PREFIX: &str = "trb_";

/// A freshly generated token: the secret (to show once) and what is stored.
pub struct GeneratedToken {
    /// The token itself. Shown to the user once, never stored.
    pub secret: String,
    /// Its SHA-256.
    pub hash: Vec<u8>,
    /// The first characters, for listings.
    pub prefix: String,
}

impl std::fmt::Debug for GeneratedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedToken")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Generates a token from the operating system's random source.
pub fn generate() -> GeneratedToken {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    GeneratedToken {
        hash: hash(&secret),
        prefix: secret[..TOKEN_PREFIX.len() + 8].to_owned(),
        secret,
    }
}

/// The stored form of a token.
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The principal of an `Authorization: Bearer trb_...` header, if the token is valid.
pub async fn principal_from_bearer(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Principal>, AdminError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let Some(token) = value
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return Ok(None);
    };
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Ok(None);
    }
    let Some(found) = state.store().token_principal(&hash(token)).await? else {
        return Ok(None);
    };
    let role = Role::parse(&found.role)
        .map_err(|message| AdminError::Internal(anyhow::anyhow!(message)))?;
    Ok(Some(Principal {
        actor: format!("token:{}", found.name),
        role,
        session: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let first = generate();
        let second = generate();
        assert_ne!(first.secret, second.secret);
        assert!(first.secret.starts_with(TOKEN_PREFIX));
        assert_eq!(first.secret.len(), TOKEN_PREFIX.len() + 64);
        assert_eq!(first.hash, hash(&first.secret));
        assert!(!format!("{first:?}").contains(&first.secret));
    }
}
