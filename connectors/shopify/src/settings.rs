//! The Shopify connector's settings: [`ShopifySettings`] is the JSON shape, checked against its
//! derived JSON Schema by the typed connector layer (every bad field reported with its path);
//! [`ShopifySettings::validate`] adds the rules a schema cannot say (the shop's host, the test
//! base URL, the API version's shape, `shop` xor `base_url`), also reporting every problem.
//!
//! The access token lives in [`AccessToken`], whose `Debug` is redacted and which has no
//! `Display`: it can reach the `X-Shopify-Access-Token` header and nothing else.

use reqwest::Url;
use serde::Deserialize;
use std::fmt;
use std::time::Duration;
use tributary_connector::schemars::JsonSchema;
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
    /// Wraps a token. Refuses a blank token or one that cannot be an HTTP header value; the
    /// reason never repeats the token.
    pub fn new(token: impl Into<String>) -> Result<Self, &'static str> {
        let token = token.into();
        if token.trim().is_empty() {
            return Err("must not be empty");
        }
        if !token.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err("may contain only visible ASCII characters");
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

/// Settings of one Shopify source, as JSON: `{"shop": "acme.myshopify.com", "access_token":
/// "shpat_…", "api_version": "2025-01", "page_size": 100, "timeout_ms": 30000}`. Exactly one
/// of `shop` and `base_url` (for tests against the mock) is required, as is `access_token`;
/// unknown fields are refused.
#[derive(Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[schemars(crate = "tributary_connector::schemars")]
#[serde(deny_unknown_fields)]
pub struct ShopifySettings {
    /// The shop's host, such as `acme.myshopify.com` (a bare `*.myshopify.com` host: no
    /// scheme, port or path). Requests go to `https://{shop}/admin/api/{api_version}/graphql.json`.
    #[serde(default)]
    pub shop: Option<String>,
    /// Instead of `shop`, for tests against the mock: an http(s) URL without query, fragment
    /// or credentials; requests go to `{base_url}/admin/api/{api_version}/graphql.json`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The Admin API access token (`shpat_…`), sent as `X-Shopify-Access-Token`; never logged.
    #[schemars(length(min = 1))]
    pub access_token: String,
    /// The Admin API version, `YYYY-MM` (or `unstable`).
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Records per page (`first:`).
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 250))]
    pub page_size: u32,
    /// Total time allowed for one request, connect and body included, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    #[schemars(range(min = 1, max = 300_000))]
    pub timeout_ms: u64,
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

impl fmt::Debug for ShopifySettings {
    /// Everything but the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopifySettings")
            .field("shop", &self.shop)
            .field("base_url", &self.base_url.as_ref().map(|_| "[set]"))
            .field("access_token", &format_args!("REDACTED"))
            .field("api_version", &self.api_version)
            .field("page_size", &self.page_size)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// Checked settings of one Shopify source, as the connector uses them.
#[derive(Clone, PartialEq, Eq)]
pub struct ShopifyConfig {
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

impl fmt::Debug for ShopifyConfig {
    /// Everything but the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopifyConfig")
            .field("base_url", &self.base_url.as_str())
            .field("access_token", &self.access_token)
            .field("api_version", &self.api_version)
            .field("page_size", &self.page_size)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ShopifySettings {
    /// The rules the schema cannot say, on settings that passed the schema. Reports every
    /// problem as `$.field: why`; none repeats the access token.
    pub(crate) fn validate(self) -> Result<ShopifyConfig, ConfigError> {
        let mut problems = Vec::new();
        let base_url = match (&self.shop, &self.base_url) {
            (Some(shop), None) => shop_url(shop).map_err(|why| problems.push(why)).ok(),
            (None, Some(base_url)) => test_base_url(base_url)
                .map_err(|why| problems.push(why))
                .ok(),
            (Some(_), Some(_)) => {
                problems.push(
                    "$.shop, $.base_url: give one, not both (`base_url` is for tests)".to_owned(),
                );
                None
            }
            (None, None) => {
                problems.push(
                    "$.shop: missing (the shop's host, such as \"acme.myshopify.com\")".to_owned(),
                );
                None
            }
        };
        let access_token = AccessToken::new(self.access_token)
            .map_err(|why| problems.push(format!("$.access_token: {why}")))
            .ok();
        if !is_api_version(&self.api_version) {
            problems.push(format!(
                "$.api_version: must look like \"{DEFAULT_API_VERSION}\" (YYYY-MM) or be \"unstable\", got {:?}",
                self.api_version.chars().take(32).collect::<String>()
            ));
        }
        match (base_url, access_token, problems.is_empty()) {
            (Some(base_url), Some(access_token), true) => Ok(ShopifyConfig {
                base_url,
                access_token,
                api_version: self.api_version,
                page_size: self.page_size,
                timeout: Duration::from_millis(self.timeout_ms),
            }),
            _ => Err(ConfigError {
                kind: crate::KIND.to_owned(),
                message: problems.join("; "),
            }),
        }
    }
}

impl ShopifyConfig {
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
fn shop_url(shop: &str) -> Result<Url, String> {
    let refuse = |why: &str| {
        format!(
            "$.shop: {why}; expected the shop's host, such as \"acme.myshopify.com\", got {:?}",
            shop.chars().take(80).collect::<String>()
        )
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
fn test_base_url(base_url: &str) -> Result<Url, String> {
    let url =
        Url::parse(base_url).map_err(|error| format!("$.base_url: not a valid URL ({error})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(format!(
            "$.base_url: must be an http or https URL, not `{}:`",
            url.scheme()
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("$.base_url: must not have a query or a fragment".to_owned());
    }
    if url.password().is_some() || !url.username().is_empty() {
        return Err("$.base_url: must not carry credentials; use `access_token`".to_owned());
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

    /// Settings through the schema, serde and [`ShopifySettings::validate`], as the typed
    /// layer runs them.
    fn parse(settings: serde_json::Value) -> ShopifyConfig {
        let schema = tributary_connector::typed::settings_schema::<crate::ShopifyConnector>();
        let problems = tributary_connector::schema_problems(&schema, &settings);
        assert!(problems.is_empty(), "{problems:?}");
        serde_json::from_value::<ShopifySettings>(settings)
            .unwrap()
            .validate()
            .unwrap()
    }

    fn error(settings: serde_json::Value) -> String {
        let error = crate::build(&settings).unwrap_err();
        assert_eq!(error.kind, "shopify");
        assert!(!error.message.contains(TOKEN), "{}", error.message);
        assert!(!error.message.contains("secret"), "{}", error.message);
        error.message
    }

    #[test]
    fn defaults_fill_everything_but_shop_and_token() {
        let settings = parse(json!({"shop": "acme.myshopify.com", "access_token": TOKEN}));
        assert_eq!(settings.base_url.as_str(), "https://acme.myshopify.com/");
        assert_eq!(settings.api_version, "2025-01");
        assert_eq!(settings.page_size, 100);
        assert_eq!(settings.timeout, Duration::from_secs(30));
        assert_eq!(
            settings.graphql_url().as_str(),
            "https://acme.myshopify.com/admin/api/2025-01/graphql.json"
        );
        let settings = parse(json!({
            "base_url": "http://127.0.0.1:9/prefix/", "access_token": TOKEN,
            "api_version": "2024-10", "page_size": 250, "timeout_ms": 1500,
        }));
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
            (json!({"access_token": TOKEN}), "$.shop: missing"),
            (json!({"shop": shop}), "$.access_token: missing (required)"),
            (
                json!({"shop": shop, "access_token": ""}),
                "$.access_token: must be at least 1 characters",
            ),
            (
                json!({"shop": shop, "access_token": "  "}),
                "$.access_token: must not be empty",
            ),
            (
                json!({"shop": shop, "access_token": 7}),
                "$.access_token: expected string, found integer 7",
            ),
            (
                json!({"shop": "https://acme.myshopify.com", "access_token": TOKEN}),
                "$.shop: must be a bare host",
            ),
            (
                json!({"shop": "acme.example.com", "access_token": TOKEN}),
                "$.shop",
            ),
            (
                json!({"shop": "Ac me.myshopify.com", "access_token": TOKEN}),
                "$.shop: the shop name",
            ),
            (
                json!({"shop": shop, "base_url": "http://x", "access_token": TOKEN}),
                "give one, not both",
            ),
            (
                json!({"base_url": "not a url", "access_token": TOKEN}),
                "$.base_url: not a valid URL",
            ),
            (
                json!({"base_url": "http://u:p@x", "access_token": TOKEN}),
                "$.base_url: must not carry credentials",
            ),
            (
                json!({"shop": shop, "access_token": TOKEN, "api_version": "2025-13"}),
                "$.api_version",
            ),
            (
                json!({"shop": shop, "access_token": TOKEN, "page_size": 0}),
                "$.page_size: 0 is below the minimum 1",
            ),
            (
                json!({"shop": shop, "access_token": TOKEN, "page_size": 251}),
                "$.page_size: 251 is above the maximum 250",
            ),
            (
                json!({"shop": shop, "access_token": TOKEN, "timeout_ms": 0}),
                "$.timeout_ms: 0 is below the minimum 1",
            ),
            (
                json!({"shop": shop, "access_token": TOKEN, "pagesize": 3}),
                "$.pagesize: unknown field",
            ),
        ];
        for (settings, expected) in cases {
            let message = error(settings.clone());
            assert!(message.contains(expected), "{settings}: {message}");
        }
        assert!(error(json!("acme.myshopify.com")).contains("$: expected object"));
    }

    #[test]
    fn every_bad_field_is_reported_with_its_path() {
        // Schema problems: all at once, each with its path.
        let message = error(json!({
            "shop": "acme.myshopify.com",
            "page_size": 0,
            "timeout_ms": "fast",
            "colour": "blue",
        }));
        for expected in [
            "$.access_token: missing (required)",
            "$.page_size: 0 is below the minimum 1",
            "$.timeout_ms: expected integer",
            "$.colour: unknown field",
        ] {
            assert!(message.contains(expected), "{message}");
        }
        // Format problems the schema cannot say: all at once too, and never the token.
        let message = error(json!({
            "shop": "acme.example.com",
            "access_token": "shpat_a secret",
            "api_version": "2025-13",
        }));
        for expected in [
            "$.shop: must end in `.myshopify.com`",
            "$.access_token: may contain only visible ASCII",
            "$.api_version: must look like",
        ] {
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn the_token_never_appears_in_debug_or_errors() {
        let json = json!({"shop": "acme.myshopify.com", "access_token": TOKEN});
        let settings = parse(json.clone());
        let raw: ShopifySettings = serde_json::from_value(json).unwrap();
        for debug in [format!("{settings:?}"), format!("{raw:?}")] {
            assert!(!debug.contains(TOKEN), "{debug}");
            assert!(debug.contains("REDACTED"), "{debug}");
        }
        // A token with a space is refused without being echoed.
        let message = error(json!({"shop": "acme.myshopify.com", "access_token": "shpat_a b"}));
        assert!(!message.contains("shpat_a b"), "{message}");
    }
}
