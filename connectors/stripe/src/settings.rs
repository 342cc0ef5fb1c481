//! The stripe connector's settings: parsed from JSON once, with errors that name the field and
//! never repeat the API key.

use serde::{de::Error as _, Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;
use tributary_connector::ConfigError;
use tributary_connector_http::{redact_url, Url};

/// Stripe's API, used when the settings give no `base_url`.
pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";
/// Largest page Stripe's list API serves (`limit` is 1 to 100).
pub const MAX_PAGE_SIZE: u32 = 100;
/// Page size when the settings do not say: the largest, to minimise requests.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Request timeout when the settings do not say. Stripe's list calls answer in well under a
/// second; 30 s leaves room for a slow page of 100 expanded objects.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest timeout accepted. A pull must finish well inside the broker's consumer timeout, so
/// one request may not wait longer than five minutes.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a string was refused as an [`ApiKey`]. Says what is wrong, never what the key was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidApiKey(&'static str);

/// A Stripe secret (`sk_…`) or restricted (`rk_…`) API key.
///
/// Its `Debug` shows only the mode prefix (`sk_test_…`), and nothing in this crate puts it in
/// an error message: the only way to the key is [`ApiKey::expose_secret`], used to build the
/// `Authorization` header (which is marked sensitive).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Validates a key: a secret or restricted key (`sk_test_`, `sk_live_`, `rk_test_`,
    /// `rk_live_`), printable ASCII without spaces. The error never repeats the key.
    pub fn new(key: impl Into<String>) -> Result<Self, InvalidApiKey> {
        let key = key.into();
        if key.starts_with("pk_") {
            return Err(InvalidApiKey("is a publishable key (pk_…); the list API needs a secret key (sk_…) or a restricted key (rk_…)"));
        }
        let prefix_ok = ["sk_test_", "sk_live_", "rk_test_", "rk_live_"]
            .iter()
            .any(|prefix| key.len() > prefix.len() && key.starts_with(prefix));
        if !prefix_ok {
            return Err(InvalidApiKey("must be a Stripe secret key (sk_test_… or sk_live_…) or restricted key (rk_test_… or rk_live_…)"));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidApiKey(
                "must be printable ASCII without spaces (is there a stray newline?)",
            ));
        }
        Ok(Self(key))
    }

    /// The key itself. Only for the `Authorization` header; never log or format it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// `sk_test_`, `sk_live_`, `rk_test_` or `rk_live_`: says which mode, reveals nothing secret.
    pub fn prefix(&self) -> &str {
        // Validated in `new`: the key starts with one of the four 8-byte ASCII prefixes.
        &self.0[..8]
    }

    /// Whether this is a live-mode key (real money).
    pub fn is_live(&self) -> bool {
        self.prefix().ends_with("live_")
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}[REDACTED])", self.prefix())
    }
}

/// Validated settings of one Stripe source (one Stripe account, or one Connect platform).
///
/// As JSON:
/// `{"api_key": "sk_test_…", "base_url": "https://api.stripe.com", "page_size": 100,
///   "timeout_ms": 30000, "connect": false, "api_version": "2024-06-20"}`;
/// only `api_key` is required, and unknown fields are refused.
#[derive(Clone, PartialEq, Eq)]
pub struct StripeSettings {
    /// The secret or restricted key, sent as `Authorization: Bearer <key>`.
    pub api_key: ApiKey,
    /// The API's base URL (http or https, no query or fragment); lists are fetched from
    /// `{base_url}/v1/{stream}`, keeping any path prefix. Tests point it at the mock.
    pub base_url: Url,
    /// Records per page, 1 to 100 (Stripe's `limit`).
    pub page_size: u32,
    /// Total time allowed for one request, connect and body included.
    pub timeout: Duration,
    /// Stripe Connect: when true, every request carries `Stripe-Account: <tenant id>`, so the
    /// tenant id must be the connected account's id (`acct_…`). When false (the default) the
    /// key's own account is read and the tenant id is informational only.
    pub connect: bool,
    /// Sent as `Stripe-Version` when set, so record shapes do not change when the account's
    /// default API version is upgraded. `None` uses the account's default version.
    pub api_version: Option<String>,
}

impl fmt::Debug for StripeSettings {
    /// Redacts the API key and any password embedded in the base URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeSettings")
            .field("api_key", &self.api_key)
            .field("base_url", &redact_url(&self.base_url))
            .field("page_size", &self.page_size)
            .field("timeout", &self.timeout)
            .field("connect", &self.connect)
            .field("api_version", &self.api_version)
            .finish()
    }
}

/// The JSON shape, before validation. Each field's deserializer prefixes errors with the
/// field's name, because serde's own type errors do not say which field they are about.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(deserialize_with = "api_key_field")]
    api_key: String,
    #[serde(default = "default_base_url", deserialize_with = "base_url_field")]
    base_url: String,
    #[serde(default = "default_page_size", deserialize_with = "page_size_field")]
    page_size: u32,
    #[serde(default = "default_timeout_ms", deserialize_with = "timeout_ms_field")]
    timeout_ms: u64,
    #[serde(default, deserialize_with = "connect_field")]
    connect: bool,
    #[serde(default, deserialize_with = "api_version_field")]
    api_version: Option<String>,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
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

/// Serde's type errors quote the value they refused; for the key, say only what was expected.
fn api_key_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    String::deserialize(deserializer)
        .map_err(|_| D::Error::custom("field `api_key`: must be a string such as \"sk_test_…\""))
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

fn connect_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    named(deserializer, "connect")
}

fn api_version_field<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    named(deserializer, "api_version")
}

fn config_error(message: impl Into<String>) -> ConfigError {
    ConfigError {
        kind: crate::KIND.to_owned(),
        message: message.into(),
    }
}

impl StripeSettings {
    /// Settings for `api_key` with every other field at its default.
    pub fn new(api_key: ApiKey) -> Self {
        Self {
            api_key,
            base_url: Url::parse(DEFAULT_BASE_URL).expect("the default base URL is valid"),
            page_size: DEFAULT_PAGE_SIZE,
            timeout: DEFAULT_TIMEOUT,
            connect: false,
            api_version: None,
        }
    }

    /// Parses and validates settings from JSON. Every error names the field at fault, and
    /// none repeats the API key.
    pub fn from_json(settings: &serde_json::Value) -> Result<Self, ConfigError> {
        if !settings.is_object() {
            return Err(config_error(
                "settings must be a JSON object such as {\"api_key\": \"sk_test_…\"}",
            ));
        }
        let raw =
            RawSettings::deserialize(settings).map_err(|error| config_error(error.to_string()))?;

        let api_key = ApiKey::new(raw.api_key)
            .map_err(|why| config_error(format!("field `api_key`: {why}")))?;
        let base_url = Url::parse(&raw.base_url).map_err(|error| {
            config_error(format!("field `base_url`: not a valid URL ({error})"))
        })?;
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(config_error(format!(
                "field `base_url`: must be an http or https URL, not `{}:`",
                base_url.scheme()
            )));
        }
        if base_url.cannot_be_a_base() || base_url.host().is_none() {
            return Err(config_error("field `base_url`: must have a host"));
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
        if let Some(version) = &raw.api_version {
            let valid = !version.is_empty()
                && version.len() <= 64
                && version
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
            if !valid {
                return Err(config_error(format!(
                    "field `api_version`: must look like \"2024-06-20\" (ASCII letters, digits, '-', '.', '_'; at most 64), got {:?}",
                    version.chars().take(80).collect::<String>()
                )));
            }
        }
        Ok(Self {
            api_key,
            base_url,
            page_size: raw.page_size,
            timeout,
            connect: raw.connect,
            api_version: raw.api_version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "sk_test_51Hsecretsecretsecret";

    fn error(settings: serde_json::Value) -> String {
        let error = StripeSettings::from_json(&settings).unwrap_err();
        assert_eq!(error.kind, "stripe");
        error.message
    }

    #[test]
    fn defaults_fill_everything_but_the_key() {
        let settings = StripeSettings::from_json(&json!({ "api_key": KEY })).unwrap();
        assert_eq!(settings, StripeSettings::new(ApiKey::new(KEY).unwrap()));
        assert_eq!(settings.base_url.as_str(), "https://api.stripe.com/");
        assert_eq!(settings.page_size, 100);
        assert_eq!(settings.timeout, Duration::from_secs(30));
        assert!(!settings.connect);
        assert_eq!(settings.api_version, None);
        assert!(!settings.api_key.is_live());

        let settings = StripeSettings::from_json(&json!({
            "api_key": "rk_live_abc123",
            "base_url": "http://127.0.0.1:4010/stripe/",
            "page_size": 1,
            "timeout_ms": 1500,
            "connect": true,
            "api_version": "2024-09-30.acacia",
        }))
        .unwrap();
        assert_eq!(settings.page_size, 1);
        assert_eq!(settings.timeout, Duration::from_millis(1500));
        assert!(settings.connect);
        assert_eq!(settings.api_version.as_deref(), Some("2024-09-30.acacia"));
        assert!(settings.api_key.is_live());
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({}), "missing field `api_key`"),
            (json!({"api_key": 5}), "field `api_key`: must be a string"),
            (
                json!({"api_key": ""}),
                "field `api_key`: must be a Stripe secret key",
            ),
            (
                json!({"api_key": "sk_test_"}),
                "field `api_key`: must be a Stripe secret key",
            ),
            (
                json!({"api_key": "pk_test_abc"}),
                "field `api_key`: is a publishable key",
            ),
            (
                json!({"api_key": "sk_test_abc\n"}),
                "field `api_key`: must be printable ASCII",
            ),
            (
                json!({"api_key": KEY, "base_url": 5}),
                "field `base_url`: invalid type",
            ),
            (
                json!({"api_key": KEY, "base_url": "not a url"}),
                "field `base_url`: not a valid URL",
            ),
            (
                json!({"api_key": KEY, "base_url": "ftp://x"}),
                "field `base_url`: must be an http or https URL",
            ),
            (
                json!({"api_key": KEY, "base_url": "http://x/?a=b"}),
                "field `base_url`: must not have a query",
            ),
            (
                json!({"api_key": KEY, "page_size": 0}),
                "field `page_size`: must be from 1 to 100, got 0",
            ),
            (
                json!({"api_key": KEY, "page_size": 101}),
                "field `page_size`: must be from 1 to 100, got 101",
            ),
            (
                json!({"api_key": KEY, "page_size": "ten"}),
                "field `page_size`: invalid type",
            ),
            (
                json!({"api_key": KEY, "timeout_ms": 0}),
                "field `timeout_ms`: must be from 1 to 300000",
            ),
            (
                json!({"api_key": KEY, "timeout_ms": -1}),
                "field `timeout_ms`",
            ),
            (
                json!({"api_key": KEY, "connect": "yes"}),
                "field `connect`: invalid type",
            ),
            (
                json!({"api_key": KEY, "api_version": "2024 06"}),
                "field `api_version`: must look like",
            ),
            (
                json!({"api_key": KEY, "apikey": KEY}),
                "unknown field `apikey`",
            ),
        ];
        for (settings, expected) in cases {
            let message = error(settings.clone());
            assert!(message.contains(expected), "{settings}: {message}");
            assert!(!message.contains(KEY), "{message}");
            assert!(!message.contains("sk_test_abc"), "{message}");
        }
        assert!(error(json!(KEY)).contains("JSON object"));
    }

    #[test]
    fn debug_never_shows_the_key_or_a_url_password() {
        let settings = StripeSettings::from_json(&json!({
            "api_key": KEY,
            "base_url": "http://user:hunter2@127.0.0.1:1",
        }))
        .unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains(KEY), "{debug}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("ApiKey(sk_test_[REDACTED])"), "{debug}");
        assert!(debug.contains("REDACTED@127.0.0.1"), "{debug}");
    }
}
