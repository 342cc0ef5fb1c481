//! Local users signing in through the web UI: the login page, argon2id password checks off the
//! async threads, session cookies (HttpOnly, SameSite=Strict, Secure unless configured off), and
//! a limiter on failed logins per user name and per client address.

/// Failed logins per minute, per user name and per client address.
#[derive(Debug)]
pub struct LoginLimiter {
    per_minute: u32,
}

impl LoginLimiter {
    /// A limiter allowing `per_minute` failed attempts per key.
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute }
    }

    /// The configured allowance.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }
}
