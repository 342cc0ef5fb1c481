//! PostgreSQL failures into the connector's error classes, with secrets scrubbed.

use tributary_connector::ConnectorError;

/// What a SQLSTATE means for the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Transient,
    Auth,
    Config,
    Permanent,
}

/// Classifies a SQLSTATE:
///
/// * transient: connection exceptions (`08…`), serialization failures and deadlocks (`40001`,
///   `40P01`), insufficient resources (`53…`, too many connections), `57014` statement
///   timeout or cancel, `57P01`–`57P03` shutdowns and a server not accepting connections yet,
///   `55P03` lock not available;
/// * auth: `28000`/`28P01` (credentials refused) and `42501` insufficient privilege (the
///   database's "403": the role lost `SELECT`);
/// * config: `42P01` undefined table, `42703` undefined column, `3D000` unknown database,
///   `3F000` unknown schema;
/// * everything else permanent.
pub(crate) fn class_of(code: &str) -> Class {
    match code {
        "40001" | "40P01" | "57014" | "57P01" | "57P02" | "57P03" | "55P03" => Class::Transient,
        code if code.starts_with("08") || code.starts_with("53") => Class::Transient,
        "28000" | "28P01" | "42501" => Class::Auth,
        "42P01" | "42703" | "3D000" | "3F000" => Class::Config,
        _ => Class::Permanent,
    }
}

/// Removes `secret` (the URL's password) from `text`, should the server or a library echo it.
pub(crate) fn scrub(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if !secret.is_empty() => text.replace(secret, "***"),
        _ => text.to_owned(),
    }
}

/// A `tokio_postgres` error while `doing` something, classified; `secret` is scrubbed.
pub(crate) fn classify(
    error: &tokio_postgres::Error,
    doing: &str,
    secret: Option<&str>,
) -> ConnectorError {
    let (class, text) = match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; {detail}"));
            }
            (class_of(db.code().code()), text)
        }
        None => {
            let io = std::error::Error::source(error)
                .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some());
            // A closed connection, a reset, a refused connect, a TLS handshake cut short:
            // nothing a retry cannot fix.
            let class = if error.is_closed()
                || io
                || error.to_string().contains("connect")
                || error.to_string().contains("TLS")
            {
                Class::Transient
            } else {
                Class::Permanent
            };
            (class, error.to_string())
        }
    };
    let message = scrub(&format!("{doing}: {text}"), secret);
    match class {
        Class::Transient => ConnectorError::Transient {
            status: None,
            message,
        },
        Class::Auth => ConnectorError::Auth {
            status: None,
            message,
        },
        Class::Config => ConnectorError::Config { message },
        Class::Permanent => ConnectorError::Permanent {
            status: None,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_the_classes() {
        for code in [
            "08006", "08001", "40001", "40P01", "53300", "57014", "57P01", "57P03",
        ] {
            assert_eq!(class_of(code), Class::Transient, "{code}");
        }
        for code in ["28P01", "28000", "42501"] {
            assert_eq!(class_of(code), Class::Auth, "{code}");
        }
        for code in ["42P01", "42703", "3D000"] {
            assert_eq!(class_of(code), Class::Config, "{code}");
        }
        for code in ["22P02", "42601", "XX000", "23505"] {
            assert_eq!(class_of(code), Class::Permanent, "{code}");
        }
    }

    #[test]
    fn secrets_are_scrubbed() {
        assert_eq!(scrub("a hunter2 b", Some("hunter2")), "a *** b");
        assert_eq!(scrub("a b", Some("")), "a b");
        assert_eq!(scrub("a b", None), "a b");
    }
}
