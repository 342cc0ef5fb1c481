//! The woocommerce connector's settings: parsed from JSON once, with errors that name the field
//! and never repeat the consumer key or secret.

use serde::{de::Error as _, Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;
use tributary_connector::ConfigError;
use tributary_connector_http::{redact_url, Url};

/// Largest page WooCommerce serves (`per_page` is 1 to 100; above it the API answers 400).
pub const MAX_PER_PAGE: u32 = 100;
/// Page size when the settings do not say: the largest, to minimise requests.
pub const DEFAULT_PER_PAGE: u32 = 100;
/// Request timeout when the settings do not say. WordPress on shared hosting can take seconds
/// to render 100 orders with their line items; 30 s leaves room for that.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest timeout accepted. A pull must finish well inside the broker's consumer timeout, so
/// one request may not wait longer than five minutes.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// A WooCommerce REST credential (consumer key `ck_…` or consumer secret `cs_…`).
///
/// Its `Debug` shows only which of the two it is; the only way to the value is
/// [`Credential::expose_secret`], used for the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    /// Validates a credential that must start with `prefix` (`ck_` or `cs_`): printable ASCII
    /// without spaces. The error says what is wrong, never what the value was.
    pub fn new(value: impl Into<String>, prefix: &'static str) -> Result<Self, &'static str> {
        let value = value.into();
        if !(value.len() > prefix.len() && value.starts_with(prefix)) {
            return Err(if prefix == "ck_" {
                "must be a WooCommerce consumer key (ck_…)"
            } else {
                "must be a WooCommerce consumer secret (cs_…)"
            });
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be printable ASCII without spaces (is there a stray newline?)");
        }
        Ok(Self(value))
    }

    /// The value itself. Only for the `Authorization` header; never log or format it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({}…[REDACTED])", &self.0[..3])
    }
}

/// Validated settings of one WooCommerce store.
///
/// As JSON: `{"base_url": "https://shop.example.com", "consumer_key": "ck_…",
/// "consumer_secret": "cs_…", "per_page": 100, "timeout_ms": 30000}`; `per_page` and
/// `timeout_ms` are optional, unknown fields are refused.
#[derive(Clone, PartialEq, Eq)]
pub struct WooSettings {
    /// The WordPress site (https; http only for loopback hosts, because WooCommerce accepts
    /// Basic auth only over TLS and the secret would otherwise cross the network in clear).
    /// A path prefix (WordPress in a subdirectory) is kept: `{base_url}/wp-json/wc/v3/...`.
    pub base_url: Url,
    /// The REST API consumer key (`ck_…`), sent as the Basic auth user name.
    pub consumer_key: Credential,
    /// The REST API consumer secret (`cs_…`), sent as the Basic auth password.
    pub consumer_secret: Credential,
    /// Records per page, 1 to 100.
    pub per_page: u32,
    /// Total time allowed for one request, connect and body included.
    pub timeout: Duration,
}

impl fmt::Debug for WooSettings {
    /// Redacts the credentials and any user info or secret query value in the base URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WooSettings")
            .field("base_url", &redact_url(&self.base_url).as_str())
            .field("consumer_key", &self.consumer_key)
            .field("consumer_secret", &self.consumer_secret)
            .field("per_page", &self.per_page)
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
    #[serde(deserialize_with = "consumer_key_field")]
    consumer_key: String,
    #[serde(deserialize_with = "consumer_secret_field")]
    consumer_secret: String,
    #[serde(default = "default_per_page", deserialize_with = "per_page_field")]
    per_page: u32,
    #[serde(default = "default_timeout_ms", deserialize_with = "timeout_ms_field")]
    timeout_ms: u64,
}

fn default_per_page() -> u32 {
    DEFAULT_PER_PAGE
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

/// A credential of the wrong JSON type: say so without echoing the value serde saw.
fn secret_named<'de, D: Deserializer<'de>>(
    deserializer: D,
    field: &str,
) -> Result<String, D::Error> {
    String::deserialize(deserializer)
        .map_err(|_| D::Error::custom(format_args!("field `{field}`: must be a string")))
}

fn base_url_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    named(deserializer, "base_url")
}

fn consumer_key_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    secret_named(deserializer, "consumer_key")
}

fn consumer_secret_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    secret_named(deserializer, "consumer_secret")
}

fn per_page_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    named(deserializer, "per_page")
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

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl WooSettings {
    /// Parses and validates settings from JSON. Every error names the field at fault and none
    /// repeats a credential.
    pub fn from_json(settings: &serde_json::Value) -> Result<Self, ConfigError> {
        if !settings.is_object() {
            return Err(config_error(
                "settings must be a JSON object such as {\"base_url\": \"https://shop.example.com\", \"consumer_key\": \"ck_…\", \"consumer_secret\": \"cs_…\"}",
            ));
        }
        let raw =
            RawSettings::deserialize(settings).map_err(|error| config_error(error.to_string()))?;

        let base_url = Url::parse(&raw.base_url).map_err(|error| {
            config_error(format!("field `base_url`: not a valid URL ({error})"))
        })?;
        match base_url.scheme() {
            "https" => {}
            "http" if is_loopback(&base_url) => {}
            "http" => {
                return Err(config_error(
                    "field `base_url`: must be https (WooCommerce accepts Basic auth only over TLS; http is allowed for localhost only)",
                ))
            }
            other => {
                return Err(config_error(format!(
                    "field `base_url`: must be an https URL, not `{other}:`"
                )))
            }
        }
        if base_url.query().is_some() || base_url.fragment().is_some() {
            return Err(config_error(
                "field `base_url`: must not have a query or a fragment",
            ));
        }
        let consumer_key = Credential::new(raw.consumer_key, "ck_")
            .map_err(|why| config_error(format!("field `consumer_key`: {why}")))?;
        let consumer_secret = Credential::new(raw.consumer_secret, "cs_")
            .map_err(|why| config_error(format!("field `consumer_secret`: {why}")))?;
        if !(1..=MAX_PER_PAGE).contains(&raw.per_page) {
            return Err(config_error(format!(
                "field `per_page`: must be from 1 to {MAX_PER_PAGE}, got {}",
                raw.per_page
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
            consumer_key,
            consumer_secret,
            per_page: raw.per_page,
            timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "ck_0123456789abcdef0123456789abcdef01234567";
    const SECRET: &str = "cs_fedcba9876543210fedcba9876543210fedcba98";

    fn valid() -> serde_json::Value {
        json!({"base_url": "https://shop.example.com", "consumer_key": KEY, "consumer_secret": SECRET})
    }

    fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
        let mut settings = valid();
        settings[field] = value;
        settings
    }

    fn error(settings: serde_json::Value) -> String {
        let error = WooSettings::from_json(&settings).unwrap_err();
        assert_eq!(error.kind, "woocommerce");
        error.message
    }

    #[test]
    fn defaults_fill_page_size_and_timeout() {
        let settings = WooSettings::from_json(&valid()).unwrap();
        assert_eq!(settings.per_page, 100);
        assert_eq!(settings.timeout, Duration::from_secs(30));
        assert_eq!(settings.consumer_key.expose_secret(), KEY);
        let settings = WooSettings::from_json(&json!({
            "base_url": "http://127.0.0.1:8080/blog/", "consumer_key": KEY,
            "consumer_secret": SECRET, "per_page": 7, "timeout_ms": 1500
        }))
        .unwrap();
        assert_eq!(settings.per_page, 7);
        assert_eq!(settings.timeout, Duration::from_millis(1500));
        assert!(WooSettings::from_json(&with("base_url", json!("http://localhost:80"))).is_ok());
        assert!(WooSettings::from_json(&with("base_url", json!("http://[::1]:80"))).is_ok());
    }

    #[test]
    fn errors_name_the_field() {
        let mut missing_key = valid();
        missing_key.as_object_mut().unwrap().remove("consumer_key");
        let cases = [
            (missing_key, "`consumer_key`"),
            (with("base_url", json!(5)), "field `base_url`: invalid type"),
            (
                with("base_url", json!("not a url")),
                "field `base_url`: not a valid URL",
            ),
            (
                with("base_url", json!("ftp://x.example")),
                "field `base_url`: must be an https URL",
            ),
            (
                with("base_url", json!("http://shop.example.com")),
                "field `base_url`: must be https",
            ),
            (
                with("base_url", json!("https://x.example/?a=b")),
                "field `base_url`: must not have a query",
            ),
            (
                with("consumer_key", json!("cs_abc")),
                "field `consumer_key`: must be a WooCommerce consumer key",
            ),
            (
                with("consumer_key", json!(12)),
                "field `consumer_key`: must be a string",
            ),
            (
                with("consumer_secret", json!("ck_abc")),
                "field `consumer_secret`: must be a WooCommerce consumer secret",
            ),
            (
                with("consumer_secret", json!("cs_abc\n")),
                "field `consumer_secret`: must be printable ASCII",
            ),
            (
                with("per_page", json!(0)),
                "field `per_page`: must be from 1 to 100, got 0",
            ),
            (
                with("per_page", json!(101)),
                "field `per_page`: must be from 1 to 100, got 101",
            ),
            (
                with("per_page", json!("ten")),
                "field `per_page`: invalid type",
            ),
            (
                with("timeout_ms", json!(0)),
                "field `timeout_ms`: must be from 1",
            ),
            (with("timeout_ms", json!(-1)), "field `timeout_ms`"),
            (with("perpage", json!(3)), "unknown field `perpage`"),
        ];
        for (settings, expected) in cases {
            let message = error(settings.clone());
            assert!(message.contains(expected), "{settings}: {message}");
        }
        assert!(error(json!("https://x")).contains("JSON object"));
    }

    #[test]
    fn errors_never_repeat_a_credential() {
        for settings in [
            with("consumer_key", json!("cs_not_a_key_but_secret")),
            with("consumer_secret", json!("ck_secret_value_here")),
            with("consumer_secret", json!("cs_has a space")),
        ] {
            let message = error(settings);
            for secret in ["not_a_key_but_secret", "secret_value_here", "has a space"] {
                assert!(!message.contains(secret), "{message}");
            }
        }
    }

    #[test]
    fn debug_redacts_credentials_and_url_passwords() {
        let settings = WooSettings::from_json(&with(
            "base_url",
            json!("https://admin:hunter2@shop.example.com/"),
        ))
        .unwrap();
        let debug = format!("{settings:?}");
        for secret in [KEY, SECRET, &KEY[3..], &SECRET[3..], "hunter2", "admin"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("REDACTED"), "{debug}");
    }
}
