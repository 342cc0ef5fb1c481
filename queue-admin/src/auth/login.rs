//! Local users signing in through the web UI: the login page, argon2id password checks off the
//! async threads, session cookies (HttpOnly, SameSite=Strict, Secure unless configured off), and
//! a limiter on failed logins per user name and per client address.
//!
//! The session cookie holds 32 random bytes (hex); the database keeps only their SHA-256, with
//! the session's CSRF token and its sliding expiry. A wrong user name, a wrong password and a
//! disabled user get the same answer after the same work (an unknown name is checked against a
//! dummy hash).

use super::passwords;
use super::{CsrfForm, Principal, Role, SessionInfo};
use crate::error::{AdminError, PageError};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use maud::{html, Markup};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tributary_store::admin::NewSession;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "tributary_session";

/// Keys a limiter remembers before it forgets the ones that are full again (bounds the memory
/// an attacker can make it use by trying many user names or addresses).
const LIMITER_KEYS_BEFORE_CLEANUP: usize = 10_000;

/// Failed logins per minute, per user name and per client address. A failure spends one of the
/// allowance of both its user name and its address (governor's keyed GCRA limiters); the failure
/// that finds an allowance spent blocks that key until it has room again, and while a key is
/// blocked every attempt — even with the right password — is refused before any argon2 work, so
/// a blocked guesser learns nothing. Successful logins cost nothing: a team signing in from
/// behind one address in the morning is not refused.
pub struct LoginLimiter {
    per_minute: u32,
    by_user: DefaultKeyedRateLimiter<String>,
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    /// Keys refused until the given time. (governor cannot say "would this be refused" without
    /// spending a cell, so the refusal it reports on a failure is remembered here.)
    blocked: Mutex<HashMap<LimitedKey, Instant>>,
}

/// What a login allowance belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LimitedKey {
    User(String),
    Address(IpAddr),
}

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimiter")
            .field("per_minute", &self.per_minute)
            .finish_non_exhaustive()
    }
}

impl LoginLimiter {
    /// A limiter allowing `per_minute` failures per key (a burst of that many, then one every
    /// `60 / per_minute` seconds).
    pub fn new(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        Self {
            per_minute,
            by_user: DefaultKeyedRateLimiter::keyed(quota),
            by_address: DefaultKeyedRateLimiter::keyed(quota),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    /// The configured allowance.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    fn user_key(username: &str) -> String {
        username
            .chars()
            .take(passwords::MAX_USERNAME_CHARS)
            .collect()
    }

    /// Before checking a password: refuses, with the time to wait, while the user name or the
    /// address is blocked.
    pub fn check(&self, username: &str, address: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let blocked = self
            .blocked
            .lock()
            .expect("the limiter lock is never poisoned");
        let keys = [
            LimitedKey::User(Self::user_key(username)),
            LimitedKey::Address(address),
        ];
        let wait = keys
            .iter()
            .filter_map(|key| blocked.get(key))
            .map(|until| until.saturating_duration_since(now))
            .max()
            .unwrap_or(Duration::ZERO);
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait)
        }
    }

    /// After a wrong password: spends one failure of the user name and of the address; refuses,
    /// with the time to wait, when either had none left (that key is blocked from now on).
    pub fn record_failure(&self, username: &str, address: IpAddr) -> Result<(), Duration> {
        if self.by_user.len() > LIMITER_KEYS_BEFORE_CLEANUP
            || self.by_address.len() > LIMITER_KEYS_BEFORE_CLEANUP
        {
            self.by_user.retain_recent();
            self.by_address.retain_recent();
        }
        let user_key = Self::user_key(username);
        let user_wait = self
            .by_user
            .check_key(&user_key)
            .err()
            .map(|not_until| not_until.wait_time_from(self.by_user.clock().now()));
        let address_wait = self
            .by_address
            .check_key(&address)
            .err()
            .map(|not_until| not_until.wait_time_from(self.by_address.clock().now()));
        if user_wait.is_none() && address_wait.is_none() {
            return Ok(());
        }
        let now = Instant::now();
        let mut blocked = self
            .blocked
            .lock()
            .expect("the limiter lock is never poisoned");
        if blocked.len() > LIMITER_KEYS_BEFORE_CLEANUP {
            blocked.retain(|_, until| *until > now);
        }
        for (key, wait) in [
            (LimitedKey::User(user_key), user_wait),
            (LimitedKey::Address(address), address_wait),
        ] {
            if let Some(wait) = wait {
                // At least a second, so a refusal is never answered "try again in 0 s".
                blocked.insert(key, now + wait.max(Duration::from_secs(1)));
            }
        }
        Err(user_wait
            .into_iter()
            .chain(address_wait)
            .max()
            .unwrap_or_default()
            .max(Duration::from_secs(1)))
    }
}

/// The session token in the request's `Cookie` headers, if there is a well-formed one.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())?;
    let well_formed = value.len() == 64 && value.bytes().all(|byte| byte.is_ascii_hexdigit());
    well_formed.then_some(value)
}

/// What the database keeps of a session token.
pub fn session_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// How long a session lasts without activity.
pub fn session_lifetime(state: &AppState) -> Duration {
    Duration::from_secs(state.settings().admin.session_hours.saturating_mul(3600))
}

/// The `Set-Cookie` value carrying `token` for the configured session lifetime.
pub fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
    cookie_header(state, token, session_lifetime(state).as_secs())
}

/// The `Set-Cookie` value that makes the browser forget its session cookie.
pub fn expired_session_cookie(state: &AppState) -> HeaderValue {
    cookie_header(state, "", 0)
}

fn cookie_header(state: &AppState, value: &str, max_age_seconds: u64) -> HeaderValue {
    let secure = if state.settings().admin.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age_seconds}; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("a hex token makes a valid header")
}

/// The principal of the request's session cookie, if it names a live session of an enabled
/// user. Slides the session's expiry.
pub async fn principal_from_cookie(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Principal>, AdminError> {
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    let Some(found) = state
        .store()
        .session_principal(&session_hash(token), session_lifetime(state))
        .await?
    else {
        return Ok(None);
    };
    let role = Role::parse(&found.role)
        .map_err(|message| AdminError::Internal(anyhow::anyhow!(message)))?;
    Ok(Some(Principal {
        actor: format!("user:{}", found.username),
        role,
        session: Some(SessionInfo {
            username: found.username,
            csrf_token: found.csrf_token,
        }),
    }))
}

/// Refuses a login posted from another site (login CSRF: signing a victim into the attacker's
/// account). Modern browsers say where a request comes from in `Sec-Fetch-Site`, whatever the
/// referrer policy; only `same-origin` (and `none`: typed or bookmarked) are accepted. Without
/// it, an `Origin` that names a site must name this host. A browser sending neither header, or
/// only `Origin: null` (what our `Referrer-Policy: no-referrer` makes older browsers send for
/// our own form), is let through: refusing it would lock those browsers out.
fn check_same_origin(headers: &HeaderMap) -> Result<(), AdminError> {
    let refused = || {
        AdminError::Forbidden(
            "this sign-in form was posted from another site; open the login page of this \
             queue-admin and sign in there"
                .into(),
        )
    };
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => Ok(()),
            _ => Err(refused()),
        };
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    if origin.as_bytes() == b"null" {
        return Ok(());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .ok_or_else(refused)?;
    let authority = origin
        .to_str()
        .ok()
        .and_then(|origin| {
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
        })
        .ok_or_else(refused)?;
    if authority.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(refused())
    }
}

/// The login form's fields.
#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

fn login_form(message: Option<&str>, username: &str) -> Markup {
    crate::ui::bare_page(
        "Sign in",
        html! {
            @if let Some(message) = message {
                (crate::ui::flash(message, true))
            }
            form method="post" action="/login" {
                p { label { "User name"
                    input #username type="text" name="username" value=(username)
                        autocomplete="username" maxlength="64" required autofocus;
                } }
                p { label { "Password"
                    input #password type="password" name="password"
                        autocomplete="current-password" required;
                } }
                p { button #sign-in type="submit" { "Sign in" } }
            }
        },
    )
}

/// `GET /login`: the form (or the overview, when already signed in).
pub async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match principal_from_cookie(&state, &headers).await {
        Ok(Some(_)) => redirect("/"),
        Ok(None) => login_form(None, "").into_response(),
        Err(error) => PageError(error).into_response(),
    }
}

/// `POST /login`: checks the password and starts a session.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match try_login(&state, client.ip(), &headers, &body).await {
        Ok(response) => response,
        Err(error) => PageError(error).into_response(),
    }
}

async fn try_login(
    state: &AppState,
    client: IpAddr,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, AdminError> {
    check_same_origin(headers)?;
    let form: LoginForm = serde_urlencoded::from_bytes(body)
        .map_err(|error| AdminError::BadRequest(format!("the login form is not valid: {error}")))?;
    let username = form.username.trim();
    if let Err(retry_after) = state.login_limiter().check(username, client) {
        tracing::warn!(%client, username, "sign-in refused: too many failed attempts");
        return Ok(too_many_attempts(username, retry_after));
    }
    let user = if passwords::check_username(username).is_ok() {
        state.store().login_user(username).await?
    } else {
        None
    };
    let usable_hash = user
        .as_ref()
        .filter(|user| !user.disabled)
        .map(|user| user.password_hash.clone());
    let password_ok = form.password.chars().count() <= passwords::MAX_PASSWORD_CHARS
        && passwords::verify_off_thread(form.password, usable_hash).await?;
    let Some(user) = user.filter(|_| password_ok) else {
        tracing::info!(%client, username, "sign-in refused: wrong user name or password");
        if let Err(retry_after) = state.login_limiter().record_failure(username, client) {
            tracing::warn!(%client, username, "too many failed sign-ins: blocking");
            return Ok(too_many_attempts(username, retry_after));
        }
        return Ok(login_form(Some("Wrong user name or password."), username).into_response());
    };
    let token = random_hex();
    let csrf_token = random_hex();
    state
        .store()
        .create_session(&NewSession {
            token_hash: &session_hash(&token),
            user_id: user.id,
            csrf_token: &csrf_token,
            idle_lifetime: session_lifetime(state),
        })
        .await?;
    tracing::info!(%client, username = %user.username, role = %user.role, "signed in");
    let mut response = redirect("/");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(state, &token));
    Ok(response)
}

/// The answer while a user name or address is blocked: 429, `Retry-After`, and the form with
/// a message saying how long to wait.
fn too_many_attempts(username: &str, retry_after: Duration) -> Response {
    let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let message = format!(
        "Too many failed sign-ins for this user name or from this address. \
         Try again in {seconds} s."
    );
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        login_form(Some(&message), username),
    )
        .into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&seconds.to_string()).expect("digits"),
    );
    response
}

/// The logout form carries nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// `POST /logout`: ends the session and forgets the cookie.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Response {
    if let Some(token) = session_token(&headers) {
        if let Err(error) = state.store().delete_session(&session_hash(token)).await {
            return PageError(error.into()).into_response();
        }
    }
    let mut response = redirect("/login");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, expired_session_cookie(&state));
    response
}

/// 32 random bytes as hex (session tokens and CSRF tokens).
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn redirect(to: &'static str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, HeaderValue::from_static(to))],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let token = "ab".repeat(32);
        let map = headers(&[
            ("cookie", "theme=dark"),
            ("cookie", &format!("a=b; {SESSION_COOKIE}={token}; c=d")),
        ]);
        assert_eq!(session_token(&map), Some(token.as_str()));
    }

    #[test]
    fn a_malformed_session_cookie_is_ignored() {
        for value in ["", "abc", &"zz".repeat(32), &"ab".repeat(33)] {
            let map = headers(&[("cookie", &format!("{SESSION_COOKIE}={value}"))]);
            assert_eq!(session_token(&map), None, "{value:?}");
        }
        let prefixed = headers(&[("cookie", &format!("x{SESSION_COOKIE}={}", "ab".repeat(32)))]);
        assert_eq!(session_token(&prefixed), None);
    }

    #[test]
    fn a_login_from_another_origin_is_refused() {
        let host = ("host", "127.0.0.1:8080");
        for accepted in [
            vec![host, ("origin", "http://127.0.0.1:8080")],
            vec![host],
            vec![host, ("origin", "null")],
            vec![host, ("origin", "null"), ("sec-fetch-site", "same-origin")],
            vec![host, ("sec-fetch-site", "none")],
        ] {
            assert!(
                check_same_origin(&headers(&accepted)).is_ok(),
                "{accepted:?}"
            );
        }
        for refused in [
            vec![host, ("origin", "https://evil.example")],
            vec![host, ("origin", "http://127.0.0.1:8081")],
            vec![host, ("sec-fetch-site", "cross-site")],
            // Another port of the same host is the same site, not the same origin.
            vec![
                host,
                ("origin", "http://127.0.0.1:8080"),
                ("sec-fetch-site", "same-site"),
            ],
        ] {
            assert!(
                check_same_origin(&headers(&refused)).is_err(),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn the_limiter_counts_failures_per_name_and_per_address() {
        let limiter = LoginLimiter::new(2);
        let home: IpAddr = "10.0.0.1".parse().unwrap();
        let away: IpAddr = "10.0.0.2".parse().unwrap();
        // Checks alone (what a successful login does) spend nothing.
        for _ in 0..10 {
            assert!(limiter.check("alice", home).is_ok());
        }
        assert!(limiter.record_failure("alice", home).is_ok());
        assert!(limiter.record_failure("alice", away).is_ok());
        assert!(limiter.check("alice", "10.0.0.3".parse().unwrap()).is_ok());
        // The third failure finds alice's allowance spent: alice is blocked, from anywhere.
        let wait = limiter
            .record_failure("alice", "10.0.0.3".parse().unwrap())
            .unwrap_err();
        assert!(
            wait >= Duration::from_secs(1) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(limiter.check("alice", "10.0.0.4".parse().unwrap()).is_err());
        // home has one failure left (alice's first): bob's uses it, carol's is refused, and
        // then home is blocked whatever the name.
        assert!(limiter.check("bob", home).is_ok());
        assert!(limiter.record_failure("bob", home).is_ok());
        assert!(limiter.record_failure("carol", home).is_err());
        assert!(limiter.check("dave", home).is_err());
        assert!(limiter.check("dave", away).is_ok());
    }
}
