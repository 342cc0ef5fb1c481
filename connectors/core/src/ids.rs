//! Validated identifiers shared by every layer: parse once at the edge, then pass the type.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a string was refused as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {why}")]
pub struct IdError {
    what: &'static str,
    value: String,
    why: &'static str,
}

/// Longest identifier we accept. Identifiers become queue names and index keys; 128 bytes keeps
/// queue names well under AMQP's 255-byte short-string limit.
const MAX_ID_LEN: usize = 128;

fn validate(what: &'static str, value: &str, allow_dot: bool) -> Result<(), IdError> {
    let error = |why| IdError {
        what,
        value: value.chars().take(MAX_ID_LEN + 8).collect(),
        why,
    };
    if value.is_empty() {
        return Err(error("must not be empty"));
    }
    if value.len() > MAX_ID_LEN {
        return Err(error("is longer than 128 bytes"));
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || (allow_dot && c == '.');
    if !value.chars().all(ok) {
        return Err(error(if allow_dot {
            "may contain only ASCII letters, digits, '_', '-' and '.'"
        } else {
            "may contain only ASCII letters, digits, '_' and '-'"
        }));
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, allow_dot = $dot:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and validates.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                validate($what, &value, $dot)?;
                Ok(Self(value))
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A connector kind, such as `demo` or `shopify`. Names a work queue, so no dots.
    ConnectorKind, "connector kind", allow_dot = false
);
string_id!(
    /// The tenant a job pulls for: one customer of the platform running Tributary.
    TenantId, "tenant id", allow_dot = true
);
string_id!(
    /// A configured source instance (a connector kind plus its settings), such as `demo-shop`.
    SourceId, "source id", allow_dot = true
);
string_id!(
    /// A stream of one source, such as `orders`.
    StreamName, "stream name", allow_dot = true
);

/// A job's identity: a UUIDv7 assigned at enqueue, used as the AMQP `message_id` and the
/// ledger's primary key. Time-ordered, so ledger inserts stay at the right edge of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(uuid::Uuid);

impl JobId {
    /// A fresh, time-ordered id.
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    /// Wraps an existing UUID (from the database or a message).
    pub fn from_uuid(id: uuid::Uuid) -> Self {
        Self(id)
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::str::FromStr for JobId {
    type Err = uuid::Error;
    fn from_str(value: &str) -> Result<Self, uuid::Error> {
        uuid::Uuid::parse_str(value).map(Self)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_kind_refuses_dots_and_empty() {
        assert!(ConnectorKind::new("demo").is_ok());
        let err = ConnectorKind::new("a.b").unwrap_err().to_string();
        assert!(err.contains("connector kind"), "{err}");
        assert!(ConnectorKind::new("").is_err());
        assert!(ConnectorKind::new("x".repeat(129)).is_err());
    }

    #[test]
    fn ids_round_trip_through_json_and_refuse_bad_values() {
        let tenant: TenantId = serde_json::from_str("\"acme.eu\"").unwrap();
        assert_eq!(tenant.as_str(), "acme.eu");
        assert_eq!(serde_json::to_string(&tenant).unwrap(), "\"acme.eu\"");
        let bad = serde_json::from_str::<TenantId>("\"has space\"").unwrap_err();
        assert!(bad.to_string().contains("tenant id"), "{bad}");
    }

    #[test]
    fn job_ids_are_time_ordered() {
        let first = JobId::new();
        let second = JobId::new();
        assert!(first < second);
        assert_eq!(first.to_string().parse::<JobId>().unwrap(), first);
    }
}
