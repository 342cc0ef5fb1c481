//! The demo connector's settings. The typed layer checks the JSON against the schema derived
//! here first, reporting every bad field with its path; the rules the schema cannot say (the
//! base URL must parse, be http(s) and carry no query) are [`DemoSettings::base_url`]'s.

use serde::Deserialize;
use std::fmt;
use std::time::Duration;
use tributary_connector::schemars::JsonSchema;
use tributary_connector_http::Url;

/// Largest page the demo shop serves.
pub const MAX_PAGE_SIZE: u32 = 250;
/// Page size when the settings do not say: the largest, to minimise requests.
pub const DEFAULT_PAGE_SIZE: u32 = 250;
/// Request timeout when the settings do not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest timeout accepted. A pull must finish well inside the broker's consumer timeout, so
/// one request may not wait longer than five minutes.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// Settings of one demo source, as JSON:
/// `{"base_url": "http://127.0.0.1:8089", "page_size": 250, "timeout_ms": 10000}`; only
/// `base_url` is required, and unknown fields are refused.
#[derive(Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[schemars(crate = "tributary_connector::schemars")]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    /// The shop's base URL (http or https, no query or fragment). A path prefix is kept:
    /// pages are fetched from `{base_url}/v1/tenants/{tenant}/{stream}`.
    pub base_url: String,
    /// Records per page, 1 to 250.
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 250))]
    pub page_size: u32,
    /// Total time allowed for one request, connect and body included, in milliseconds
    /// (1 to 300000, five minutes).
    #[serde(default = "default_timeout_ms")]
    #[schemars(range(min = 1, max = 300_000))]
    pub timeout_ms: u64,
}

fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT.as_millis() as u64
}

impl fmt::Debug for DemoSettings {
    /// Redacts any password embedded in the base URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base_url = match Url::parse(&self.base_url) {
            Ok(url) => tributary_connector_http::redact_url(&url),
            Err(_) => "[not a URL]".to_owned(),
        };
        f.debug_struct("DemoSettings")
            .field("base_url", &base_url)
            .field("page_size", &self.page_size)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl DemoSettings {
    /// The base URL, or every reason it is not a usable one (with its path).
    pub(crate) fn base_url(&self) -> Result<Url, Vec<String>> {
        let url = Url::parse(&self.base_url)
            .map_err(|error| vec![format!("$.base_url: not a valid URL ({error})")])?;
        let mut problems = Vec::new();
        if !matches!(url.scheme(), "http" | "https") {
            problems.push(format!(
                "$.base_url: must be an http or https URL, not `{}:`",
                url.scheme()
            ));
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

    /// The request timeout.
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The message of building a connector from `settings`, which must fail.
    fn error(settings: serde_json::Value) -> String {
        let error = (crate::spec().build)(&settings).unwrap_err();
        assert_eq!(error.kind, "demo");
        error.message
    }

    fn settings(settings: serde_json::Value) -> DemoSettings {
        serde_json::from_value(settings).unwrap()
    }

    #[test]
    fn defaults_fill_everything_but_the_url() {
        let defaults = settings(json!({"base_url": "http://127.0.0.1:8089"}));
        assert_eq!(defaults.page_size, 250);
        assert_eq!(defaults.timeout(), Duration::from_secs(10));
        let set = settings(
            json!({"base_url": "https://shop.example.com/api/", "page_size": 10, "timeout_ms": 1500}),
        );
        assert_eq!(set.page_size, 10);
        assert_eq!(set.timeout(), Duration::from_millis(1500));
        assert!(set.base_url().is_ok());
        assert!((crate::spec().build)(&json!({"base_url": "http://127.0.0.1:8089"})).is_ok());
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({}), "$.base_url: missing (required)"),
            (
                json!({"base_url": 5}),
                "$.base_url: expected string, found integer 5",
            ),
            (
                json!({"base_url": "not a url"}),
                "$.base_url: not a valid URL",
            ),
            (
                json!({"base_url": "ftp://example.com"}),
                "$.base_url: must be an http or https URL",
            ),
            (
                json!({"base_url": "http://example.com/?a=b"}),
                "$.base_url: must not have a query",
            ),
            (
                json!({"base_url": "http://x", "page_size": 0}),
                "$.page_size: 0 is below the minimum 1",
            ),
            (
                json!({"base_url": "http://x", "page_size": 251}),
                "$.page_size: 251 is above the maximum 250",
            ),
            (
                json!({"base_url": "http://x", "page_size": "ten"}),
                "$.page_size: expected integer, found a string",
            ),
            (
                json!({"base_url": "http://x", "timeout_ms": 0}),
                "$.timeout_ms: 0 is below the minimum 1",
            ),
            (
                json!({"base_url": "http://x", "timeout_ms": 300_001}),
                "$.timeout_ms: 300001 is above the maximum 300000",
            ),
            (
                json!({"base_url": "http://x", "timeout_ms": -1}),
                "$.timeout_ms: -1 is below the minimum 1",
            ),
            (
                json!({"base_url": "http://x", "pagesize": 3}),
                "$.pagesize: unknown field",
            ),
        ];
        for (settings, expected) in cases {
            let message = error(settings.clone());
            assert!(message.contains(expected), "{settings}: {message}");
        }
        assert!(error(json!("http://x")).contains("$: expected object"));
    }

    #[test]
    fn every_bad_field_is_reported_with_its_path() {
        let message = error(json!({"base_url": 5, "page_size": 0, "timeout_ms": "soon"}));
        for expected in [
            "$.base_url: expected string",
            "$.page_size: 0 is below the minimum 1",
            "$.timeout_ms: expected integer",
        ] {
            assert!(message.contains(expected), "{expected:?} in {message}");
        }
        // A URL with several faults reports each of them.
        let message = error(json!({"base_url": "ftp://example.com/?a=b"}));
        assert!(
            message.contains("must be an http or https URL")
                && message.contains("must not have a query"),
            "{message}"
        );
    }

    #[test]
    fn debug_redacts_a_password_in_the_url() {
        let settings = settings(json!({"base_url": "http://user:hunter2@127.0.0.1:8089"}));
        let debug = format!("{settings:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
    }
}
