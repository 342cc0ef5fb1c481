//! The stripe connector's settings: [`StripeSettings`] is the JSON shape, checked against its
//! derived JSON Schema by the typed connector layer (every bad field reported with its path);
//! [`StripeSettings::validate`] adds the rules a schema cannot say (the key's prefix, the base
//! URL, the API version's characters), also reporting every problem, never the API key.

use serde::Deserialize;
use std::fmt;
use std::time::Duration;
use tributary_connector::schemars::JsonSchema;
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

/// Settings of one Stripe source (one Stripe account, or one Connect platform), as JSON:
/// `{"api_key": "sk_test_…", "base_url": "https://api.stripe.com", "page_size": 100,
///   "timeout_ms": 30000, "connect": false, "api_version": "2024-06-20"}`.
/// Only `api_key` is required, and unknown fields are refused.
#[derive(Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[schemars(crate = "tributary_connector::schemars")]
#[serde(deny_unknown_fields)]
pub struct StripeSettings {
    /// A Stripe secret (`sk_test_…`, `sk_live_…`) or restricted (`rk_test_…`, `rk_live_…`)
    /// key, sent as `Authorization: Bearer <key>`; never logged.
    pub api_key: String,
    /// The API's base URL (http or https, with a host, no query or fragment); lists are
    /// fetched from `{base_url}/v1/{stream}`, keeping any path prefix. Tests point it at the
    /// mock.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Records per page (Stripe's `limit`).
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 100))]
    pub page_size: u32,
    /// Total time allowed for one request, connect and body included, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    #[schemars(range(min = 1, max = 300_000))]
    pub timeout_ms: u64,
    /// Stripe Connect: when true, every request carries `Stripe-Account: <tenant id>`, so the
    /// tenant id must be the connected account's id (`acct_…`). When false the key's own
    /// account is read and the tenant id is informational only.
    #[serde(default)]
    pub connect: bool,
    /// Sent as `Stripe-Version` when set (such as `2024-06-20`: ASCII letters, digits, `-`,
    /// `.`, `_`), so record shapes do not change when the account's default API version is
    /// upgraded. Unset uses the account's default version.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub api_version: Option<String>,
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

impl fmt::Debug for StripeSettings {
    /// Never the API key (only its mode prefix, once valid) nor a password in the base URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let api_key = ApiKey::new(self.api_key.as_str())
            .map(|key| format!("{key:?}"))
            .unwrap_or_else(|_| "[REDACTED]".to_owned());
        let base_url = Url::parse(&self.base_url)
            .map(|url| redact_url(&url).to_string())
            .unwrap_or_else(|_| "[unparseable]".to_owned());
        f.debug_struct("StripeSettings")
            .field("api_key", &format_args!("{api_key}"))
            .field("base_url", &base_url)
            .field("page_size", &self.page_size)
            .field("timeout_ms", &self.timeout_ms)
            .field("connect", &self.connect)
            .field("api_version", &self.api_version)
            .finish()
    }
}

/// Checked settings of one Stripe source, as the connector uses them.
#[derive(Clone, PartialEq, Eq)]
pub struct StripeConfig {
    /// The secret or restricted key, sent as `Authorization: Bearer <key>`.
    pub api_key: ApiKey,
    /// The API's base URL; lists are fetched from `{base_url}/v1/{stream}`.
    pub base_url: Url,
    /// Records per page, 1 to 100 (Stripe's `limit`).
    pub page_size: u32,
    /// Total time allowed for one request, connect and body included.
    pub timeout: Duration,
    /// Stripe Connect: send the tenant id as `Stripe-Account`.
    pub connect: bool,
    /// Sent as `Stripe-Version` when set.
    pub api_version: Option<String>,
}

impl fmt::Debug for StripeConfig {
    /// Redacts the API key and any password embedded in the base URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("api_key", &self.api_key)
            .field("base_url", &redact_url(&self.base_url))
            .field("page_size", &self.page_size)
            .field("timeout", &self.timeout)
            .field("connect", &self.connect)
            .field("api_version", &self.api_version)
            .finish()
    }
}

impl StripeSettings {
    /// The rules the schema cannot say, on settings that passed the schema. Reports every
    /// problem as `$.field: why`; none repeats the API key.
    pub(crate) fn validate(self) -> Result<StripeConfig, ConfigError> {
        let mut problems = Vec::new();
        let api_key = ApiKey::new(self.api_key)
            .map_err(|why| problems.push(format!("$.api_key: {why}")))
            .ok();
        let base_url = match Url::parse(&self.base_url) {
            Err(error) => {
                problems.push(format!("$.base_url: not a valid URL ({error})"));
                None
            }
            Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                problems.push(format!(
                    "$.base_url: must be an http or https URL, not `{}:`",
                    url.scheme()
                ));
                None
            }
            Ok(url) if url.cannot_be_a_base() || url.host().is_none() => {
                problems.push("$.base_url: must have a host".to_owned());
                None
            }
            Ok(url) if url.query().is_some() || url.fragment().is_some() => {
                problems.push("$.base_url: must not have a query or a fragment".to_owned());
                None
            }
            Ok(url) => Some(url),
        };
        if let Some(version) = &self.api_version {
            if !version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
            {
                problems.push(format!(
                    "$.api_version: must look like \"2024-06-20\" (ASCII letters, digits, '-', '.', '_'), got {:?}",
                    version.chars().take(80).collect::<String>()
                ));
            }
        }
        match (api_key, base_url, problems.is_empty()) {
            (Some(api_key), Some(base_url), true) => Ok(StripeConfig {
                api_key,
                base_url,
                page_size: self.page_size,
                timeout: Duration::from_millis(self.timeout_ms),
                connect: self.connect,
                api_version: self.api_version,
            }),
            _ => Err(ConfigError {
                kind: crate::KIND.to_owned(),
                message: problems.join("; "),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "sk_test_51Hsecretsecretsecret";

    /// Settings through the schema, serde and [`StripeSettings::validate`], as the typed layer
    /// runs them.
    fn parse(settings: serde_json::Value) -> StripeConfig {
        let schema = tributary_connector::typed::settings_schema::<crate::StripeConnector>();
        let problems = tributary_connector::schema_problems(&schema, &settings);
        assert!(problems.is_empty(), "{problems:?}");
        serde_json::from_value::<StripeSettings>(settings)
            .unwrap()
            .validate()
            .unwrap()
    }

    fn error(settings: serde_json::Value) -> String {
        let error = crate::build(&settings).unwrap_err();
        assert_eq!(error.kind, "stripe");
        error.message
    }

    #[test]
    fn defaults_fill_everything_but_the_key() {
        let settings = parse(json!({ "api_key": KEY }));
        assert_eq!(settings.api_key, ApiKey::new(KEY).unwrap());
        assert_eq!(settings.base_url.as_str(), "https://api.stripe.com/");
        assert_eq!(settings.page_size, 100);
        assert_eq!(settings.timeout, Duration::from_secs(30));
        assert!(!settings.connect);
        assert_eq!(settings.api_version, None);
        assert!(!settings.api_key.is_live());

        let settings = parse(json!({
            "api_key": "rk_live_abc123",
            "base_url": "http://127.0.0.1:4010/stripe/",
            "page_size": 1,
            "timeout_ms": 1500,
            "connect": true,
            "api_version": "2024-09-30.acacia",
        }));
        assert_eq!(settings.page_size, 1);
        assert_eq!(settings.timeout, Duration::from_millis(1500));
        assert!(settings.connect);
        assert_eq!(settings.api_version.as_deref(), Some("2024-09-30.acacia"));
        assert!(settings.api_key.is_live());
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({}), "$.api_key: missing (required)"),
            (
                json!({"api_key": 5}),
                "$.api_key: expected string, found integer 5",
            ),
            (
                json!({"api_key": ""}),
                "$.api_key: must be a Stripe secret key",
            ),
            (
                json!({"api_key": "sk_test_"}),
                "$.api_key: must be a Stripe secret key",
            ),
            (
                json!({"api_key": "pk_test_abc"}),
                "$.api_key: is a publishable key",
            ),
            (
                json!({"api_key": "sk_test_abc\n"}),
                "$.api_key: must be printable ASCII",
            ),
            (
                json!({"api_key": KEY, "base_url": 5}),
                "$.base_url: expected string, found integer 5",
            ),
            (
                json!({"api_key": KEY, "base_url": "not a url"}),
                "$.base_url: not a valid URL",
            ),
            (
                json!({"api_key": KEY, "base_url": "ftp://x"}),
                "$.base_url: must be an http or https URL",
            ),
            (
                json!({"api_key": KEY, "base_url": "http://x/?a=b"}),
                "$.base_url: must not have a query",
            ),
            (
                json!({"api_key": KEY, "page_size": 0}),
                "$.page_size: 0 is below the minimum 1",
            ),
            (
                json!({"api_key": KEY, "page_size": 101}),
                "$.page_size: 101 is above the maximum 100",
            ),
            (
                json!({"api_key": KEY, "page_size": "ten"}),
                "$.page_size: expected integer, found a string of 3 characters",
            ),
            (
                json!({"api_key": KEY, "timeout_ms": 0}),
                "$.timeout_ms: 0 is below the minimum 1",
            ),
            (
                json!({"api_key": KEY, "timeout_ms": 300_001}),
                "$.timeout_ms: 300001 is above the maximum 300000",
            ),
            (json!({"api_key": KEY, "timeout_ms": -1}), "$.timeout_ms"),
            (
                json!({"api_key": KEY, "connect": "yes"}),
                "$.connect: expected boolean",
            ),
            (
                json!({"api_key": KEY, "api_version": "2024 06"}),
                "$.api_version: must look like",
            ),
            (
                json!({"api_key": KEY, "api_version": ""}),
                "$.api_version: must be at least 1 characters",
            ),
            (
                json!({"api_key": KEY, "apikey": KEY}),
                "$.apikey: unknown field",
            ),
        ];
        for (settings, expected) in cases {
            let message = error(settings.clone());
            assert!(message.contains(expected), "{settings}: {message}");
            assert!(!message.contains(KEY), "{message}");
            assert!(!message.contains("secretsecret"), "{message}");
            assert!(!message.contains("sk_test_abc"), "{message}");
        }
        assert!(error(json!(KEY)).contains("$: expected object"));
        assert!(!error(json!(KEY)).contains("secretsecret"));
    }

    #[test]
    fn every_bad_field_is_reported_with_its_path() {
        // Schema problems: all at once, each with its path.
        let message = error(json!({
            "api_key": 5,
            "page_size": 0,
            "timeout_ms": 900_000,
            "colour": "blue",
        }));
        for expected in [
            "$.api_key: expected string",
            "$.page_size: 0 is below the minimum 1",
            "$.timeout_ms: 900000 is above the maximum 300000",
            "$.colour: unknown field",
        ] {
            assert!(message.contains(expected), "{message}");
        }
        // Format problems the schema cannot say: all at once too, and never the key.
        let message = error(json!({
            "api_key": "pk_test_S3cretKey42",
            "base_url": "ftp://x",
            "api_version": "2024 06",
        }));
        for expected in [
            "$.api_key: is a publishable key",
            "$.base_url: must be an http or https URL",
            "$.api_version: must look like",
        ] {
            assert!(message.contains(expected), "{message}");
        }
        assert!(!message.contains("S3cretKey42"), "{message}");
    }

    #[test]
    fn debug_never_shows_the_key_or_a_url_password() {
        let json = json!({
            "api_key": KEY,
            "base_url": "http://user:hunter2@127.0.0.1:1",
        });
        let settings = parse(json.clone());
        let raw: StripeSettings = serde_json::from_value(json).unwrap();
        let unchecked: StripeSettings =
            serde_json::from_value(json!({"api_key": "sk_test_secret\n"})).unwrap();
        for debug in [
            format!("{settings:?}"),
            format!("{raw:?}"),
            format!("{unchecked:?}"),
        ] {
            assert!(!debug.contains(KEY), "{debug}");
            assert!(!debug.contains("secret"), "{debug}");
            assert!(!debug.contains("hunter2"), "{debug}");
        }
        let debug = format!("{settings:?}");
        assert!(debug.contains("ApiKey(sk_test_[REDACTED])"), "{debug}");
        assert!(debug.contains("REDACTED@127.0.0.1"), "{debug}");
        let debug = format!("{raw:?}");
        assert!(debug.contains("ApiKey(sk_test_[REDACTED])"), "{debug}");
        assert!(debug.contains("REDACTED@127.0.0.1"), "{debug}");
    }
}
