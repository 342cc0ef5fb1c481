//! The error classes of a pull, each carrying the decision the runtime must take.

use std::time::Duration;

/// Why a pull failed. The variant *is* the decision: the runtime maps each one to an action
/// (snooze, retry, dead letter, restart the window) without looking at the message text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The source asked us to slow down (HTTP 429, `Retry-After`, a throttled GraphQL body).
    /// Snoozed until the hint; **does not spend an attempt**.
    #[error("rate limited by the source{}: {message}", retry_after_text(.retry_after))]
    RateLimited {
        /// When the source said to come back, if it said.
        retry_after: Option<Duration>,
        /// What the source said.
        message: String,
    },
    /// Worth retrying later: 5xx, timeouts, connection resets.
    #[error("transient source error{}: {message}", status_text(.status))]
    Transient {
        /// The HTTP status, when there was one.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
    /// Credentials refused (401/403). Retrying will not help; a human must act.
    #[error("source refused our credentials{}: {message}", status_text(.status))]
    Auth {
        /// The HTTP status, when there was one.
        status: Option<u16>,
        /// What the source said.
        message: String,
    },
    /// The source configuration is wrong (bad shop URL, unknown stream).
    #[error("invalid source configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// The cursor is no longer accepted (expired page token). The runtime restarts the window.
    #[error("cursor no longer valid: {message}")]
    CursorInvalid {
        /// What the source said.
        message: String,
    },
    /// The request can never succeed (400/404, schema change, a pagination loop).
    #[error("permanent source error{}: {message}", status_text(.status))]
    Permanent {
        /// The HTTP status, when there was one.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
    /// The source answered with a body we cannot understand.
    #[error("malformed response from the source: {message}")]
    Malformed {
        /// What could not be parsed, and where.
        message: String,
    },
}

fn status_text(status: &Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    retry_after
        .map(|d| format!(" (retry after {} ms)", d.as_millis()))
        .unwrap_or_default()
}

/// The class of a failure, as stored in the ledger and dead letters and used as a metric label.
///
/// A small fixed set: it is safe as a Prometheus label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// See [`ConnectorError::RateLimited`].
    RateLimited,
    /// See [`ConnectorError::Transient`].
    Transient,
    /// See [`ConnectorError::Auth`].
    Auth,
    /// See [`ConnectorError::Config`].
    Config,
    /// See [`ConnectorError::CursorInvalid`].
    CursorInvalid,
    /// See [`ConnectorError::Permanent`].
    Permanent,
    /// See [`ConnectorError::Malformed`].
    Malformed,
}

impl ErrorClass {
    /// The stable snake_case name used in storage and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Transient => "transient",
            ErrorClass::Auth => "auth",
            ErrorClass::Config => "config",
            ErrorClass::CursorInvalid => "cursor_invalid",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Malformed => "malformed_response",
        }
    }
}

impl ConnectorError {
    /// The class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            ConnectorError::RateLimited { .. } => ErrorClass::RateLimited,
            ConnectorError::Transient { .. } => ErrorClass::Transient,
            ConnectorError::Auth { .. } => ErrorClass::Auth,
            ConnectorError::Config { .. } => ErrorClass::Config,
            ConnectorError::CursorInvalid { .. } => ErrorClass::CursorInvalid,
            ConnectorError::Permanent { .. } => ErrorClass::Permanent,
            ConnectorError::Malformed { .. } => ErrorClass::Malformed,
        }
    }

    /// The HTTP status behind this error, when there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ConnectorError::Transient { status, .. }
            | ConnectorError::Auth { status, .. }
            | ConnectorError::Permanent { status, .. } => *status,
            ConnectorError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// Classifies an HTTP error status the way DESIGN.md's failure table does:
    /// 401/403 auth, 408/5xx transient, 429 rate limited, other 4xx permanent.
    pub fn from_http_status(status: u16, retry_after: Option<Duration>, body: &str) -> Self {
        let message: String = body.chars().take(512).collect();
        match status {
            401 | 403 => ConnectorError::Auth {
                status: Some(status),
                message,
            },
            429 => ConnectorError::RateLimited {
                retry_after,
                message,
            },
            408 | 500..=599 => ConnectorError::Transient {
                status: Some(status),
                message,
            },
            _ => ConnectorError::Permanent {
                status: Some(status),
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_map_to_the_design_classes() {
        let class = |s| ConnectorError::from_http_status(s, None, "").class();
        assert_eq!(class(401), ErrorClass::Auth);
        assert_eq!(class(403), ErrorClass::Auth);
        assert_eq!(class(429), ErrorClass::RateLimited);
        assert_eq!(class(408), ErrorClass::Transient);
        assert_eq!(class(503), ErrorClass::Transient);
        assert_eq!(class(400), ErrorClass::Permanent);
        assert_eq!(class(404), ErrorClass::Permanent);
    }

    #[test]
    fn messages_say_status_and_hint() {
        let err = ConnectorError::from_http_status(429, Some(Duration::from_secs(2)), "slow down");
        assert_eq!(
            err.to_string(),
            "rate limited by the source (retry after 2000 ms): slow down"
        );
        let err = ConnectorError::from_http_status(502, None, "bad gateway");
        assert_eq!(
            err.to_string(),
            "transient source error (HTTP 502): bad gateway"
        );
    }
}
