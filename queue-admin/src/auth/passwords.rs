//! Passwords of local users: the policy (long enough, bounded), argon2id hashing and checking
//! (off the async threads: each costs tens of milliseconds of CPU on purpose), generated
//! passwords, and the user-name rule. Only PHC strings leave this module; clear passwords are
//! never logged, stored or put in a `Debug`.

use crate::error::AdminError;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::Rng;
use std::sync::OnceLock;

/// Fewest characters a password may have. Length is what makes a password hard to guess; no
/// composition rules on top (they push people towards predictable patterns).
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Most characters a password may have: enough for any passphrase or manager-generated
/// password, small enough that nobody makes the server hash megabytes.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Length of generated passwords: 24 characters from 62 is about 143 bits.
pub const GENERATED_PASSWORD_CHARS: usize = 24;

/// Longest user name (the table checks the same rule).
pub const MAX_USERNAME_CHARS: usize = 64;

/// Refuses a password the policy does not allow, saying why.
pub fn check_policy(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(format!(
            "password: must have at least {MIN_PASSWORD_CHARS} characters (it has {chars})"
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(format!(
            "password: must have at most {MAX_PASSWORD_CHARS} characters"
        ));
    }
    Ok(())
}

/// Refuses a user name the table would refuse: 1 to 64 of `A-Z a-z 0-9 . _ @ -`.
pub fn check_username(username: &str) -> Result<(), String> {
    let valid_chars = username
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'@' | b'-'));
    if username.is_empty() || username.len() > MAX_USERNAME_CHARS || !valid_chars {
        return Err(format!(
            "username: must be 1 to {MAX_USERNAME_CHARS} characters among letters, digits and . _ @ -"
        ));
    }
    Ok(())
}

/// A random password of [`GENERATED_PASSWORD_CHARS`] letters and digits (easy to copy, no
/// character a shell or a URL treats specially).
pub fn generate() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(GENERATED_PASSWORD_CHARS)
        .map(char::from)
        .collect()
}

/// The argon2id (v19, default parameters) PHC string of `password`, with a fresh random salt.
/// Blocking: call it through [`hash_off_thread`] from async code.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let phc = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|error| anyhow::anyhow!("cannot hash a password: {error}"))?;
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `phc`. An unparsable hash matches nothing.
/// Blocking: call it through [`verify_off_thread`] from async code.
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A hash of a password nobody knows, checked when the user name is unknown (or disabled) so
/// that a wrong name takes as long to refuse as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash(&generate()).expect("hashing a generated password cannot fail"))
}

/// [`hash`] on the blocking pool.
pub async fn hash_off_thread(password: String) -> Result<String, AdminError> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|error| AdminError::Internal(anyhow::anyhow!("password hashing failed: {error}")))?
        .map_err(AdminError::Internal)
}

/// [`verify`] on the blocking pool; with no hash (unknown user) it checks against a dummy hash
/// and returns false, spending the same time.
pub async fn verify_off_thread(password: String, phc: Option<String>) -> Result<bool, AdminError> {
    tokio::task::spawn_blocking(move || match phc {
        Some(phc) => verify(&password, &phc),
        None => {
            let _ = verify(&password, dummy_hash());
            false
        }
    })
    .await
    .map_err(|error| AdminError::Internal(anyhow::anyhow!("password check failed: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let first = hash("correct horse battery").unwrap();
        let second = hash("correct horse battery").unwrap();
        assert!(first.starts_with("$argon2id$v=19$"), "{first}");
        assert_ne!(first, second, "each hash has its own salt");
        assert!(verify("correct horse battery", &first));
        assert!(!verify("correct horse batterY", &first));
        assert!(!verify("correct horse battery", "not a hash"));
    }

    #[test]
    fn the_policy_counts_characters() {
        assert!(check_policy("elevenchars").is_err());
        assert!(check_policy("twelve chars").is_ok());
        // Twelve characters, more bytes: characters are what count.
        assert!(check_policy("ééééééééééé").is_err());
        assert!(check_policy(&"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
    }

    #[test]
    fn generated_passwords_pass_the_policy_and_differ() {
        let first = generate();
        assert_eq!(first.len(), GENERATED_PASSWORD_CHARS);
        assert!(check_policy(&first).is_ok());
        assert!(first.bytes().all(|byte| byte.is_ascii_alphanumeric()));
        assert_ne!(first, generate());
    }

    #[test]
    fn user_names_follow_the_table_rule() {
        assert!(check_username("alice.smith@example-1_x").is_ok());
        assert!(check_username("").is_err());
        assert!(check_username("with space").is_err());
        assert!(check_username("<script>").is_err());
        assert!(check_username(&"a".repeat(65)).is_err());
    }

    #[tokio::test]
    async fn an_unknown_user_is_refused() {
        let accepted = verify_off_thread("anything at all".into(), None)
            .await
            .unwrap();
        assert!(!accepted);
    }
}
