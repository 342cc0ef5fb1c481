//! The settings of an `http_json` source: everything the connector knows about the API.
//!
//! The typed layer checks the JSON against the schema derived here first (every bad field is
//! reported with its path); rules the schema cannot say (placeholders, JSON pointers, header
//! names, stream names) are checked by [`GenericHttpSettings::problems`], also all at once.

use serde::Deserialize;
use std::fmt;
use tributary_connector::schemars::JsonSchema;
use tributary_connector::StreamName;
use tributary_connector_http::{HeaderName, HeaderValue};

/// Settings, as JSON:
/// `{"url_template": "https://api.example.com/v2/{tenant}/{stream}", "streams": ["tickets"],
/// "pagination": {"style": "page_number"}, "records_path": "/data", "id_field": "/id"}`.
#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "tributary_connector::schemars")]
#[serde(deny_unknown_fields)]
pub struct GenericHttpSettings {
    /// The URL of one stream's records for one tenant, such as
    /// `https://api.example.com/v2/{tenant}/{stream}`. The placeholders `{tenant}` and
    /// `{stream}` (and no others) are replaced by the escaped tenant id and stream name. Put
    /// credentials in `auth`, not here.
    #[schemars(length(min = 1))]
    pub url_template: String,
    /// The stream names this source offers; a job for any other stream is refused.
    pub streams: Vec<String>,
    /// A credential header sent with every request; its value is never logged.
    #[serde(default)]
    #[schemars(with = "AuthSettings")]
    pub auth: Option<AuthSettings>,
    /// How the API pages through a stream.
    pub pagination: Pagination,
    /// JSON pointer to the array of records in a response body, such as `/data`; the empty
    /// pointer `""` means the body itself is the array.
    pub records_path: String,
    /// JSON pointer to a record's id within the record, such as `/id`; numbers become strings.
    pub id_field: String,
    /// JSON pointer to a record's last-modified time within the record, such as
    /// `/updated_at`: an RFC 3339 string or unix seconds (a number or a string of digits).
    #[serde(default)]
    pub updated_at_field: Option<String>,
    /// Query parameter carrying the window's start (inclusive), as RFC 3339. Without it the
    /// API is not asked to filter; records outside the window are then dropped when
    /// `updated_at_field` is set.
    #[serde(default)]
    pub updated_since_param: Option<String>,
    /// Query parameter carrying the window's end (exclusive), as RFC 3339.
    #[serde(default)]
    pub updated_before_param: Option<String>,
    /// The request budget the API allows, fleet-wide; 5 requests/s, bursts of 5 if unset.
    #[serde(default)]
    #[schemars(with = "RateLimitSettings")]
    pub rate_limit: Option<RateLimitSettings>,
    /// Time allowed for one request, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    #[schemars(range(min = 1, max = 600_000))]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    30_000
}

impl fmt::Debug for GenericHttpSettings {
    /// The auth value is never printed (see [`AuthSettings`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenericHttpSettings")
            .field("url_template", &self.url_template)
            .field("streams", &self.streams)
            .field("auth", &self.auth)
            .field("pagination", &self.pagination)
            .field("records_path", &self.records_path)
            .field("id_field", &self.id_field)
            .field("updated_at_field", &self.updated_at_field)
            .field("updated_since_param", &self.updated_since_param)
            .field("updated_before_param", &self.updated_before_param)
            .field("rate_limit", &self.rate_limit)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// A credential header: `{"header": "Authorization", "value": "Bearer …"}`.
#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "tributary_connector::schemars")]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The header's name, such as `Authorization` or `X-Api-Key`.
    #[schemars(length(min = 1))]
    pub header: String,
    /// The header's value, such as `Bearer …`. A secret: never in `Debug`, logs or errors.
    #[schemars(length(min = 1))]
    pub value: String,
}

impl fmt::Debug for AuthSettings {
    /// The header's name only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSettings")
            .field("header", &self.header)
            .field("value", &"[redacted]")
            .finish()
    }
}

/// How the API pages, by `style`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[schemars(crate = "tributary_connector::schemars")]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pagination {
    /// `?page=N&per_page=M`; the last page is short or empty (or the last by
    /// `X-Total-Pages` / `X-WP-TotalPages`).
    PageNumber {
        /// The page number parameter.
        #[serde(default = "default_page_param")]
        page_param: String,
        /// The page size parameter.
        #[serde(default = "default_size_param")]
        size_param: String,
        /// Records per page; never more than the API's maximum (a capped page looks short).
        #[serde(default = "default_page_size")]
        #[schemars(range(min = 1, max = 10_000))]
        page_size: u64,
        /// The number of the first page (0 for zero-based APIs).
        #[serde(default = "default_first_page")]
        first_page: u64,
    },
    /// `?offset=N&limit=M`; the last page is short or empty.
    Offset {
        /// The offset parameter.
        #[serde(default = "default_offset_param")]
        offset_param: String,
        /// The page size parameter.
        #[serde(default = "default_limit_param")]
        limit_param: String,
        /// Records per page; never more than the API's maximum.
        #[serde(default = "default_page_size")]
        #[schemars(range(min = 1, max = 10_000))]
        page_size: u64,
    },
    /// An opaque token in the body, sent back as a query parameter; no token (missing,
    /// `null` or `""`) ends the stream.
    Cursor {
        /// The query parameter the token is sent as.
        #[serde(default = "default_cursor_param")]
        cursor_param: String,
        /// JSON pointer to the next token in the body, such as `/meta/next`.
        next_cursor_path: String,
    },
    /// The RFC 8288 `Link: <…>; rel="next"` header (GitHub, Shopify REST).
    LinkHeader,
}

fn default_page_param() -> String {
    "page".to_owned()
}
fn default_size_param() -> String {
    "per_page".to_owned()
}
fn default_page_size() -> u64 {
    100
}
fn default_first_page() -> u64 {
    1
}
fn default_offset_param() -> String {
    "offset".to_owned()
}
fn default_limit_param() -> String {
    "limit".to_owned()
}
fn default_cursor_param() -> String {
    "cursor".to_owned()
}

/// The API's request budget: `{"requests_per_second": 2.5, "burst": 10}`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[schemars(crate = "tributary_connector::schemars")]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Sustained requests per second, across the fleet.
    #[schemars(range(min = 0.001, max = 10_000.0))]
    pub requests_per_second: f64,
    /// Requests that may be sent back to back after an idle period.
    #[schemars(range(min = 1, max = 10_000))]
    pub burst: u32,
}

/// A JSON pointer: empty, or `/`-separated tokens.
fn pointer_problem(path: &str, pointer: &str) -> Option<String> {
    (!pointer.is_empty() && !pointer.starts_with('/')).then(|| {
        format!("{path}: {pointer:?} is not a JSON pointer (it must be empty or start with `/`)")
    })
}

/// A query parameter name: non-empty.
fn param_problem(path: &str, name: &str) -> Option<String> {
    name.is_empty()
        .then(|| format!("{path}: a query parameter name must not be empty"))
}

impl GenericHttpSettings {
    /// Every rule the schema cannot express that these settings break, with its path. The
    /// URL template is checked by [`crate::template`].
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut found = Vec::new();
        if self.streams.is_empty() {
            found.push("$.streams: list at least one stream".to_owned());
        }
        for (index, name) in self.streams.iter().enumerate() {
            if let Err(error) = StreamName::new(name.as_str()) {
                found.push(format!("$.streams[{index}]: {error}"));
            }
            if self.streams[..index].contains(name) {
                found.push(format!("$.streams[{index}]: `{name}` is listed twice"));
            }
        }
        if let Some(auth) = &self.auth {
            if HeaderName::from_bytes(auth.header.as_bytes()).is_err() {
                found.push(format!(
                    "$.auth.header: `{}` is not a valid header name",
                    auth.header
                ));
            }
            // The value is a secret: say what is wrong with it, never what it is.
            if HeaderValue::from_str(&auth.value).is_err() {
                found.push(
                    "$.auth.value: not a valid header value (control characters or non-ASCII)"
                        .to_owned(),
                );
            }
        }
        found.extend(pointer_problem("$.records_path", &self.records_path));
        found.extend(pointer_problem("$.id_field", &self.id_field));
        if self.id_field.is_empty() {
            found.push("$.id_field: must point inside the record, such as `/id`".to_owned());
        }
        if let Some(field) = &self.updated_at_field {
            found.extend(pointer_problem("$.updated_at_field", field));
        }
        if let Some(param) = &self.updated_since_param {
            found.extend(param_problem("$.updated_since_param", param));
        }
        if let Some(param) = &self.updated_before_param {
            found.extend(param_problem("$.updated_before_param", param));
        }
        match &self.pagination {
            Pagination::PageNumber {
                page_param,
                size_param,
                ..
            } => {
                found.extend(param_problem("$.pagination.page_param", page_param));
                found.extend(param_problem("$.pagination.size_param", size_param));
            }
            Pagination::Offset {
                offset_param,
                limit_param,
                ..
            } => {
                found.extend(param_problem("$.pagination.offset_param", offset_param));
                found.extend(param_problem("$.pagination.limit_param", limit_param));
            }
            Pagination::Cursor {
                cursor_param,
                next_cursor_path,
            } => {
                found.extend(param_problem("$.pagination.cursor_param", cursor_param));
                found.extend(pointer_problem(
                    "$.pagination.next_cursor_path",
                    next_cursor_path,
                ));
            }
            Pagination::LinkHeader => {}
        }
        found
    }
}
