//! The woocommerce connector's settings. The typed layer checks the JSON against the schema
//! derived here first, reporting every bad field with its path (and never echoing a string);
//! the rules the schema cannot say (the base URL's scheme and shape, the credentials' form)
//! are [`WooSettings::check`]'s, also all at once, and never repeat the key or the secret.

use serde::Deserialize;
use std::fmt;
use std::time::Duration;
use tributary_connector::schemars::JsonSchema;
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

/// Settings of one WooCommerce store, as JSON:
/// `{"base_url": "https://shop.example.com", "consumer_key": "ck_…", "consumer_secret": "cs_…",
/// "per_page": 100, "timeout_ms": 30000}`; `per_page` and `timeout_ms` are optional, unknown
/// fields are refused.
#[derive(Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[schemars(crate = "tributary_connector::schemars")]
#[serde(deny_unknown_fields)]
pub struct WooSettings {
    /// The WordPress site (https; http only for loopback hosts, because WooCommerce accepts
    /// Basic auth only over TLS and the secret would otherwise cross the network in clear), with
    /// no query or fragment. A path prefix (WordPress in a subdirectory) is kept:
    /// `{base_url}/wp-json/wc/v3/...`.
    pub base_url: String,
    /// The REST API consumer key (`ck_…`), sent as the Basic auth user name. A secret: never
    /// in `Debug`, logs or errors.
    pub consumer_key: String,
    /// The REST API consumer secret (`cs_…`), sent as the Basic auth password. A secret: never
    /// in `Debug`, logs or errors.
    pub consumer_secret: String,
    /// Records per page, 1 to 100 (above it the API answers 400).
    #[serde(default = "default_per_page")]
    #[schemars(range(min = 1, max = 100))]
    pub per_page: u32,
    /// Total time allowed for one request, connect and body included, in milliseconds
    /// (1 to 300000, five minutes).
    #[serde(default = "default_timeout_ms")]
    #[schemars(range(min = 1, max = 300_000))]
    pub timeout_ms: u64,
}

fn default_per_page() -> u32 {
    DEFAULT_PER_PAGE
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT.as_millis() as u64
}

impl fmt::Debug for WooSettings {
    /// Redacts the credentials and any user info or secret query value in the base URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base_url = match Url::parse(&self.base_url) {
            Ok(url) => redact_url(&url),
            Err(_) => "[not a URL]".to_owned(),
        };
        f.debug_struct("WooSettings")
            .field("base_url", &base_url)
            .field("consumer_key", &"[REDACTED]")
            .field("consumer_secret", &"[REDACTED]")
            .field("per_page", &self.per_page)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// What [`WooSettings::check`] makes of the strings: a usable URL and two credentials.
pub(crate) struct Checked {
    pub base_url: Url,
    pub consumer_key: Credential,
    pub consumer_secret: Credential,
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

/// Every reason `text` is not a usable store URL, with its path; none repeats the URL.
fn base_url(text: &str) -> Result<Url, Vec<String>> {
    let url =
        Url::parse(text).map_err(|error| vec![format!("$.base_url: not a valid URL ({error})")])?;
    let mut problems = Vec::new();
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => problems.push(
            "$.base_url: must be https (WooCommerce accepts Basic auth only over TLS; http is allowed for localhost only)"
                .to_owned(),
        ),
        other => problems.push(format!("$.base_url: must be an https URL, not `{other}:`")),
    }
    if url.query().is_some() || url.fragment().is_some() {
        problems.push("$.base_url: must not have a query or a fragment".to_owned());
    }
    if problems.is_empty() {
        Ok(url)
    } else {
        Err(problems)
    }
}

impl WooSettings {
    /// The rules the schema cannot say: every one these settings break, with its path. No
    /// message repeats a credential or the URL.
    pub(crate) fn check(&self) -> Result<Checked, Vec<String>> {
        let mut problems = Vec::new();
        let base_url = base_url(&self.base_url).map_err(|found| problems.extend(found));
        let consumer_key = Credential::new(self.consumer_key.as_str(), "ck_")
            .map_err(|why| problems.push(format!("$.consumer_key: {why}")));
        let consumer_secret = Credential::new(self.consumer_secret.as_str(), "cs_")
            .map_err(|why| problems.push(format!("$.consumer_secret: {why}")));
        match (base_url, consumer_key, consumer_secret) {
            (Ok(base_url), Ok(consumer_key), Ok(consumer_secret)) => Ok(Checked {
                base_url,
                consumer_key,
                consumer_secret,
            }),
            _ => Err(problems),
        }
    }

    /// The request timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
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

    fn settings(settings: serde_json::Value) -> WooSettings {
        serde_json::from_value(settings).unwrap()
    }

    fn builds(settings: serde_json::Value) -> bool {
        (crate::spec().build)(&settings).is_ok()
    }

    /// The message of building a connector from `settings`, which must fail.
    fn error(settings: serde_json::Value) -> String {
        let error = (crate::spec().build)(&settings).unwrap_err();
        assert_eq!(error.kind, "woocommerce");
        error.message
    }

    #[test]
    fn defaults_fill_page_size_and_timeout() {
        let defaults = settings(valid());
        assert_eq!(defaults.per_page, 100);
        assert_eq!(defaults.timeout(), Duration::from_secs(30));
        let checked = defaults.check().unwrap();
        assert_eq!(checked.consumer_key.expose_secret(), KEY);
        assert_eq!(checked.consumer_secret.expose_secret(), SECRET);
        let set = settings(json!({
            "base_url": "http://127.0.0.1:8080/blog/", "consumer_key": KEY,
            "consumer_secret": SECRET, "per_page": 7, "timeout_ms": 1500
        }));
        assert_eq!(set.per_page, 7);
        assert_eq!(set.timeout(), Duration::from_millis(1500));
        assert!(set.check().is_ok());
        assert!(builds(valid()));
        assert!(builds(with("base_url", json!("http://localhost:80"))));
        assert!(builds(with("base_url", json!("http://[::1]:80"))));
    }

    #[test]
    fn errors_name_the_field() {
        let mut missing_key = valid();
        missing_key.as_object_mut().unwrap().remove("consumer_key");
        let cases = [
            (missing_key, "$.consumer_key: missing (required)"),
            (
                with("base_url", json!(5)),
                "$.base_url: expected string, found integer 5",
            ),
            (
                with("base_url", json!("not a url")),
                "$.base_url: not a valid URL",
            ),
            (
                with("base_url", json!("ftp://x.example")),
                "$.base_url: must be an https URL",
            ),
            (
                with("base_url", json!("http://shop.example.com")),
                "$.base_url: must be https",
            ),
            (
                with("base_url", json!("https://x.example/?a=b")),
                "$.base_url: must not have a query",
            ),
            (
                with("consumer_key", json!("cs_abc")),
                "$.consumer_key: must be a WooCommerce consumer key",
            ),
            (
                with("consumer_key", json!(12)),
                "$.consumer_key: expected string, found integer 12",
            ),
            (
                with("consumer_secret", json!("ck_abc")),
                "$.consumer_secret: must be a WooCommerce consumer secret",
            ),
            (
                with("consumer_secret", json!("cs_abc\n")),
                "$.consumer_secret: must be printable ASCII",
            ),
            (
                with("per_page", json!(0)),
                "$.per_page: 0 is below the minimum 1",
            ),
            (
                with("per_page", json!(101)),
                "$.per_page: 101 is above the maximum 100",
            ),
            (
                with("per_page", json!("ten")),
                "$.per_page: expected integer, found a string",
            ),
            (
                with("timeout_ms", json!(0)),
                "$.timeout_ms: 0 is below the minimum 1",
            ),
            (
                with("timeout_ms", json!(300_001)),
                "$.timeout_ms: 300001 is above the maximum 300000",
            ),
            (
                with("timeout_ms", json!(-1)),
                "$.timeout_ms: -1 is below the minimum 1",
            ),
            (with("perpage", json!(3)), "$.perpage: unknown field"),
        ];
        for (settings, expected) in cases {
            let message = error(settings.clone());
            assert!(message.contains(expected), "{settings}: {message}");
        }
        assert!(error(json!("https://x")).contains("$: expected object"));
    }

    #[test]
    fn every_bad_field_is_reported_with_its_path() {
        // Three fields the schema refuses: all three, each with its path.
        let mut settings = with("per_page", json!(0));
        settings["timeout_ms"] = json!("soon");
        settings["consumer_secret"] = json!(["cs_secret_in_a_list"]);
        let message = error(settings);
        for expected in [
            "$.per_page: 0 is below the minimum 1",
            "$.timeout_ms: expected integer, found a string",
            "$.consumer_secret: expected string, found an array",
        ] {
            assert!(message.contains(expected), "{expected:?} in {message}");
        }
        assert!(!message.contains("secret_in_a_list"), "{message}");

        // Three fields the schema accepts but `check` refuses: all three too.
        let mut settings = with("base_url", json!("http://shop.example.com/?a=b"));
        settings["consumer_key"] = json!("cs_not_a_key_but_secret");
        settings["consumer_secret"] = json!("cs_has a space");
        let message = error(settings);
        for expected in [
            "$.base_url: must be https",
            "$.base_url: must not have a query",
            "$.consumer_key: must be a WooCommerce consumer key",
            "$.consumer_secret: must be printable ASCII",
        ] {
            assert!(message.contains(expected), "{expected:?} in {message}");
        }
    }

    #[test]
    fn errors_never_repeat_a_credential() {
        for settings in [
            with("consumer_key", json!("cs_not_a_key_but_secret")),
            with("consumer_secret", json!("ck_secret_value_here")),
            with("consumer_secret", json!("cs_has a space")),
            with("consumer_key", json!({"value": "not_a_key_but_secret"})),
            with("consumer_secret", json!(["secret_value_here"])),
        ] {
            let message = error(settings);
            for secret in ["not_a_key_but_secret", "secret_value_here", "has a space"] {
                assert!(!message.contains(secret), "{message}");
            }
        }
    }

    #[test]
    fn debug_redacts_credentials_and_url_passwords() {
        let settings = settings(with(
            "base_url",
            json!("https://admin:hunter2@shop.example.com/"),
        ));
        let connector = (crate::spec().build)(&with(
            "base_url",
            json!("https://admin:hunter2@shop.example.com/"),
        ))
        .unwrap();
        let debug = format!("{settings:?} {connector:?}");
        for secret in [KEY, SECRET, &KEY[3..], &SECRET[3..], "hunter2", "admin"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("REDACTED"), "{debug}");
    }
}
