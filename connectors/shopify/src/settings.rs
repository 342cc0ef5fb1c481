//! The Shopify connector's settings: parsed from JSON once, with errors that name the field.
//!
//! The access token lives in [`AccessToken`], whose `Debug` is redacted and which has no
//! `Display`: it can reach the `X-Shopify-Access-Token` header and nothing else.

use reqwest::Url;
use serde::{de::Error as _, Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;
use tributary_connector::ConfigError;

/// Largest `first:` Shopify accepts on a connection.
pub const MAX_PAGE_SIZE: u32 = 250;
/// Page size when the settings do not say. An orders page costs about `page_size + 2` points of
/// a 1,000-point bucket; 100 keeps one page well inside the bucket of every plan.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Admin API version when the settings do not say. Shopify supports a version for a year.
pub const DEFAULT_API_VERSION: &str = "2025-01";
/// Request timeout when the settings do not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest timeout accepted: a pull must finish well inside the broker's consumer timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// Shopify's Admin API domain: API calls must go to the shop's `*.myshopify.com` host, never to
/// a custom storefront domain.
const MYSHOPIFY_SUFFIX: &str = ".myshopify.com";

/// An Admin API access token (`shpat_…`). `Debug` prints `AccessToken(REDACTED)`; there is no
/// `Display`, so the token cannot end up in a formatted message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token. Refuses an empty token or one that cannot be an HTTP header value.
    pub fn new(token: impl Into<String>) -> Result<Self, ConfigError> {
        let token = token.into();
        if token.trim().is_empty() {
            return Err(config_error("field `access_token`: must not be empty"));
        }
        if !token.bytes().all(|byte| byte.is_ascii_graphic()) {
            // Say why without echoing the value.
            return Err(config_error(
                "field `access_token`: may contain only visible ASCII characters",
            ));
        }
        Ok(Self(token))
    }

    /// The token itself, for the request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(REDACTED)")
    }
}

/// Validated settings of one Shopify source.
///
/// As JSON: `{"shop": "acme.myshopify.com", "access_token": "shpat_…", "api_version":
/// "2025-01", "page_size": 100, "timeout_ms": 30000}`. Exactly one of `shop` and `base_url`
/// (for tests against the mock) is required, as is `access_token`; unknown fields are refused.
#[derive(Clone, PartialEq, Eq)]
pub struct ShopifySettings {
    /// Where the Admin API lives: `https://{shop}` or the test `base_url`. Requests go to
    /// `{base_url}/admin/api/{api_version}/graphql.json`.
    pub base_url: Url,
    /// The Admin API access token, sent as `X-Shopify-Access-Token`.
    pub access_token: AccessToken,
    /// The Admin API version, `YYYY-MM` (or `unstable`).
    pub api_version: String,
    /// Records per page (`first:`), 1 to 250.
    pub page_size: u32,
    /// Total time allowed for one request, connect and body included.
    pub timeout: Duration,
}

impl fmt::Debug for ShopifySettings {
    /// Everything but the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopifySettings")
            .field("base_url", &self.base_url.as_str())
            .field("access_token", &self.access_token)
            .field("api_version", &self.api_version)
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
    #[serde(default, deserialize_with = "shop_field")]
    shop: Option<String>,
    #[serde(default, deserialize_with = "base_url_field")]
    base_url: Option<String>,
    #[serde(default, deserialize_with = "access_token_field")]
    access_token: Option<String>,
    #[serde(
        default = "default_api_version",
        deserialize_with = "api_version_field"
    )]
    api_version: String,
    #[serde(default = "default_page_size", deserialize_with = "page_size_field")]
    page_size: u32,
    #[serde(default = "default_timeout_ms", deserialize_with = "timeout_ms_field")]
    timeout_ms: u64,
}

fn default_api_version() -> String {
    DEFAULT_API_VERSION.to_owned()
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

fn shop_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    named(deserializer, "shop")
}

fn base_url_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    named(deserializer, "base_url")
}

/// Type errors only: serde's message for a wrong type never contains the value of a string.
fn access_token_field<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    named(deserializer, "access_token")
}

fn api_version_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    named(deserializer, "api_version")
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

impl ShopifySettings {
    /// Parses and validates settings from JSON. Every error names the field at fault and none
    /// repeats the access token.
    pub fn from_json(settings: &serde_json::Value) -> Result<Self, ConfigError> {
        if !settings.is_object() {
            return Err(config_error(
                "settings must be a JSON object such as {\"shop\": \"acme.myshopify.com\", \"access_token\": \"shpat_…\"}",
            ));
        }
        let raw =
            RawSettings::deserialize(settings).map_err(|error| config_error(error.to_string()))?;

        let base_url =
            match (raw.shop, raw.base_url) {
                (Some(shop), None) => shop_url(&shop)?,
                (None, Some(base_url)) => test_base_url(&base_url)?,
                (Some(_), Some(_)) => return Err(config_error(
                    "fields `shop` and `base_url`: give one, not both (`base_url` is for tests)",
                )),
                (None, None) => {
                    return Err(config_error(
                        "field `shop`: missing (the shop's host, such as \"acme.myshopify.com\")",
                    ))
                }
            };
        let access_token = match raw.access_token {
            Some(token) => AccessToken::new(token)?,
            None => return Err(config_error("field `access_token`: missing")),
        };
        if !is_api_version(&raw.api_version) {
            return Err(config_error(format!(
                "field `api_version`: must look like \"{DEFAULT_API_VERSION}\" (YYYY-MM) or be \"unstable\", got {:?}",
                raw.api_version
            )));
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
            access_token,
            api_version: raw.api_version,
            page_size: raw.page_size,
            timeout,
        })
    }

    /// `{base_url}/admin/api/{api_version}/graphql.json`, keeping any path prefix of the base.
    pub fn graphql_url(&self) -> Url {
        let mut url = self.base_url.clone();
        // Cannot fail: both constructors refuse URLs that cannot be a base.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(["admin", "api", &self.api_version, "graphql.json"]);
        }
        url
    }
}

/// `acme.myshopify.com` into `https://acme.myshopify.com/`. Only a bare `*.myshopify.com` host
/// is accepted: no scheme, port or path, lowercase letters, digits and hyphens.
fn shop_url(shop: &str) -> Result<Url, ConfigError> {
    let refuse = |why: &str| {
        config_error(format!(
            "field `shop`: {why}; expected the shop's host, such as \"acme.myshopify.com\", got {shop:?}"
        ))
    };
    if shop.contains(['/', ':', '?', '#', '@']) {
        return Err(refuse("must be a bare host (no scheme, port or path)"));
    }
    let Some(name) = shop.strip_suffix(MYSHOPIFY_SUFFIX) else {
        return Err(refuse("must end in `.myshopify.com`"));
    };
    let valid_name = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    if !valid_name {
        return Err(refuse(
            "the shop name may contain only lowercase letters, digits and inner hyphens",
        ));
    }
    Url::parse(&format!("https://{shop}/")).map_err(|error| refuse(&error.to_string()))
}

/// The test-only `base_url`: an http(s) URL without query or fragment.
fn test_base_url(base_url: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(base_url)
        .map_err(|error| config_error(format!("field `base_url`: not a valid URL ({error})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(config_error(format!(
            "field `base_url`: must be an http or https URL, not `{}:`",
            url.scheme()
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(config_error(
            "field `base_url`: must not have a query or a fragment",
        ));
    }
    if url.password().is_some() || !url.username().is_empty() {
        return Err(config_error(
            "field `base_url`: must not carry credentials; use `access_token`",
        ));
    }
    Ok(url)
}

/// `YYYY-MM` with a plausible month, or `unstable`.
fn is_api_version(version: &str) -> bool {
    if version == "unstable" {
        return true;
    }
    let bytes = version.as_bytes();
    bytes.len() == 7
        && bytes[4] == b'-'
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[5..].iter().all(u8::is_ascii_digit)
        && matches!(version[5..].parse::<u8>(), Ok(1..=12))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TOKEN: &str = "shpat_0123456789abcdef_secret";

    fn error(settings: serde_json::Value) -> String {
        let error = ShopifySettings::from_json(&settings).unwrap_err();
        assert_eq!(error.kind, "shopify");
        assert!(!error.message.contains(TOKEN), "{}", error.message);
        error.message
    }

    #[test]
    fn defaults_fill_everything_but_shop_and_token() {
        let settings = ShopifySettings::from_json(
            &json!({"shop": "acme.myshopify.com", "access_token": TOKEN}),
        )
        .unwrap();
        assert_eq!(settings.base_url.as_str(), "https://acme.myshopify.com/");
        assert_eq!(settings.api_version, "2025-01");
        assert_eq!(settings.page_size, 100);
        assert_eq!(settings.timeout, Duration::from_secs(30));
        assert_eq!(
            settings.graphql_url().as_str(),
            "https://acme.myshopify.com/admin/api/2025-01/graphql.json"
        );
        let settings = ShopifySettings::from_json(&json!({
            "base_url": "http://127.0.0.1:9/prefix/", "access_token": TOKEN,
            "api_version": "2024-10", "page_size": 250, "timeout_ms": 1500,
        }))
        .unwrap();
        assert_eq!(
            settings.graphql_url().as_str(),
            "http://127.0.0.1:9/prefix/admin/api/2024-10/graphql.json"
        );
        assert_eq!(settings.page_size, 250);
        assert_eq!(settings.timeout, Duration::from_millis(1500));
    }

    #[test]
    fn errors_name_the_field() {
        let shop = "acme.myshopify.com";
        let cases = [
            (json!({"access_token": TOKEN}), "field `shop`: missing"),
            (json!({"shop": shop}), "field `access_token`: missing"),
            (
                json!({"shop": shop, "access_token": ""}),
                "field `access_token`: must not be empty",
            ),
            (
                json!({"shop": shop, "access_token": 7}),
                "field `access_token`: invalid type",
            ),
            (
                json!({"shop": "https://acme.myshopify.com", "access_token": TOKEN}),
                "field `shop`: must be a bare host",
            ),
            (
                json!({"shop": "acme.example.com", "access_token": TOKEN}),
                "field `shop`",
            ),
            (
                json!({"shop": "Ac me.myshopify.com", "access_token": TOKEN}),
                "field `shop`: the shop name",
            ),
            (
                json!({"shop": shop, "base_url": "http://x", "access_token": TOKEN}),
                "give one, not both",
            ),
            (
                json!({"base_url": "not a url", "access_token": TOKEN}),
                "field `base_url`: not a valid URL",
            ),
            (
                json!({"base_url": "http://u:p@x", "access_token": TOKEN}),
                "field `base_url`: must not carry credentials",
            ),
            (
                json!({"shop": shop, "access_token": TOKEN, "api_version": "2025-13"}),
                "field `api_version`",
            ),
            (
                json!({"shop": shop, "access_token": TOKEN, "page_size": 0}),
                "field `page_size`: must be from 1 to 250, got 0",
            ),
            (
                json!({"shop": shop, "access_token": TOKEN, "page_size": 251}),
                "field `page_size`: must be from 1 to 250, got 251",
            ),
            (
                json!({"shop": shop, "access_token": TOKEN, "timeout_ms": 0}),
                "field `timeout_ms`: must be from 1",
            ),
            (
                json!({"shop": shop, "access_token": TOKEN, "pagesize": 3}),
                "unknown field `pagesize`",
            ),
        ];
        for (settings, expected) in cases {
            let message = error(settings.clone());
            assert!(message.contains(expected), "{settings}: {message}");
        }
        assert!(error(json!("acme.myshopify.com")).contains("JSON object"));
    }

    #[test]
    fn the_token_never_appears_in_debug_or_errors() {
        let settings = ShopifySettings::from_json(
            &json!({"shop": "acme.myshopify.com", "access_token": TOKEN}),
        )
        .unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains(TOKEN), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
        // A token with a space is refused without being echoed.
        let message = error(json!({"shop": "acme.myshopify.com", "access_token": "shpat_a b"}));
        assert!(!message.contains("shpat_a b"), "{message}");
    }
}
