//! The demo connector's settings: parsed from JSON once, with errors that name the field.

use serde::{de::Error as _, Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;
use tributary_connector::ConfigError;
use tributary_connector_http::{redact_url, Url};

/// Largest page the demo shop serves.
pub const MAX_PAGE_SIZE: u32 = 250;
/// Page size when the settings do not say: the largest, to minimise requests.
pub const DEFAULT_PAGE_SIZE: u32 = 250;
/// Request timeout when the settings do not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest timeout accepted. A pull must finish well inside the broker's consumer timeout, so
/// one request may not wait longer than five minutes.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// Validated settings of one demo source.
///
/// As JSON: `{"base_url": "http://127.0.0.1:8089", "page_size": 250, "timeout_ms": 10000}`;
/// only `base_url` is required, and unknown fields are refused.
#[derive(Clone, PartialEq, Eq)]
pub struct DemoSettings {
    /// The shop's base URL (http or https, no query or fragment). A path prefix is kept:
    /// pages are fetched from `{base_url}/v1/tenants/{tenant}/{stream}`.
    pub base_url: Url,
    /// Records per page, 1 to 250.
    pub page_size: u32,
    /// Total time allowed for one request, connect and body included.
    pub timeout: Duration,
}

impl fmt::Debug for DemoSettings {
    /// Redacts any password embedded in the base URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoSettings")
            .field("base_url", &redact_url(&self.base_url))
            .field("page_size", &self.page_size)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The JSON shape, before validation. Each field's deserializer prefixes errors with the
/// field's name, because serde's own type errors do not say which field they are about.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(deserialize_with = "base_url_field")]
    base_url: String,
    #[serde(default = "default_page_size", deserialize_with = "page_size_field")]
    page_size: u32,
    #[serde(default = "default_timeout_ms", deserialize_with = "timeout_ms_field")]
    timeout_ms: u64,
}

fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT.as_millis() as u64
}

fn named<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
    field: &str,
) -> Result<T, D::Error> {
    T::deserialize(deserializer)
        .map_err(|error| D::Error::custom(format_args!("field `{field}`: {error}")))
}

fn base_url_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    named(deserializer, "base_url")
}

fn page_size_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    named(deserializer, "page_size")
}

fn timeout_ms_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    named(deserializer, "timeout_ms")
}

fn config_error(message: impl Into<String>) -> ConfigError {
    ConfigError {
        kind: crate::KIND.to_owned(),
        message: message.into(),
    }
}

impl DemoSettings {
    /// Parses and validates settings from JSON. Every error names the field at fault.
    pub fn from_json(settings: &serde_json::Value) -> Result<Self, ConfigError> {
        if !settings.is_object() {
            return Err(config_error(
                "settings must be a JSON object such as {\"base_url\": \"http://127.0.0.1:8089\"}",
            ));
        }
        let raw =
            RawSettings::deserialize(settings).map_err(|error| config_error(error.to_string()))?;

        let base_url = Url::parse(&raw.base_url).map_err(|error| {
            config_error(format!("field `base_url`: not a valid URL ({error})"))
        })?;
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(config_error(format!(
                "field `base_url`: must be an http or https URL, not `{}:`",
                base_url.scheme()
            )));
        }
        if base_url.query().is_some() || base_url.fragment().is_some() {
            return Err(config_error(
                "field `base_url`: must not have a query or a fragment",
            ));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&raw.page_size) {
            return Err(config_error(format!(
                "field `page_size`: must be from 1 to {MAX_PAGE_SIZE}, got {}",
                raw.page_size
            )));
        }
        let timeout = Duration::from_millis(raw.timeout_ms);
        if timeout.is_zero() || timeout > MAX_TIMEOUT {
            return Err(config_error(format!(
                "field `timeout_ms`: must be from 1 to {}, got {}",
                MAX_TIMEOUT.as_millis(),
                raw.timeout_ms
            )));
        }
        Ok(Self {
            base_url,
            page_size: raw.page_size,
            timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(settings: serde_json::Value) -> String {
        let error = DemoSettings::from_json(&settings).unwrap_err();
        assert_eq!(error.kind, "demo");
        error.message
    }

    #[test]
    fn defaults_fill_everything_but_the_url() {
        let settings =
            DemoSettings::from_json(&json!({"base_url": "http://127.0.0.1:8089"})).unwrap();
        assert_eq!(settings.page_size, 250);
        assert_eq!(settings.timeout, Duration::from_secs(10));
        let settings = DemoSettings::from_json(
            &json!({"base_url": "https://shop.example.com/api/", "page_size": 10, "timeout_ms": 1500}),
        )
        .unwrap();
        assert_eq!(settings.page_size, 10);
        assert_eq!(settings.timeout, Duration::from_millis(1500));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({}), "`base_url`"),
            (json!({"base_url": 5}), "field `base_url`: invalid type"),
            (
                json!({"base_url": "not a url"}),
                "field `base_url`: not a valid URL",
            ),
            (
                json!({"base_url": "ftp://example.com"}),
                "field `base_url`: must be an http or https URL",
            ),
            (
                json!({"base_url": "http://example.com/?a=b"}),
                "field `base_url`: must not have a query",
            ),
            (
                json!({"base_url": "http://x", "page_size": 0}),
                "field `page_size`: must be from 1 to 250, got 0",
            ),
            (
                json!({"base_url": "http://x", "page_size": 251}),
                "field `page_size`: must be from 1 to 250, got 251",
            ),
            (
                json!({"base_url": "http://x", "page_size": "ten"}),
                "field `page_size`: invalid type",
            ),
            (
                json!({"base_url": "http://x", "timeout_ms": 0}),
                "field `timeout_ms`: must be from 1",
            ),
            (
                json!({"base_url": "http://x", "timeout_ms": -1}),
                "field `timeout_ms`",
            ),
            (
                json!({"base_url": "http://x", "pagesize": 3}),
                "unknown field `pagesize`",
            ),
        ];
        for (settings, expected) in cases {
            let message = error(settings.clone());
            assert!(message.contains(expected), "{settings}: {message}");
        }
        assert!(error(json!("http://x")).contains("JSON object"));
    }

    #[test]
    fn debug_redacts_a_password_in_the_url() {
        let settings =
            DemoSettings::from_json(&json!({"base_url": "http://user:hunter2@127.0.0.1:8089"}))
                .unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
    }
}
