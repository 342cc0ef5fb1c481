//! The [`WooConnector`]: one page per `pull`, over HTTP with the shared [`HttpClient`], Basic
//! auth and WooCommerce's [`Classifier`](tributary_connector_http::Classifier). It only fetches,
//! filters and classifies; the runtime owns the page loop, retries and timing.

use crate::cursor::{Listed, PagePosition};
use crate::response::{classifier, format_gmt, parse_list, total_pages};
use crate::settings::WooSettings;
use crate::WooStream;
use chrono::Utc;
use std::fmt;
use std::time::Duration;
use tributary_connector::typed::{TypedConnector, TypedPage, TypedPull};
use tributary_connector::{
    async_trait, ConfigError, ConnectorError, RatePolicy, Record, StreamInfo, StreamName, TenantId,
};
use tributary_connector_http::{redact_url, HeaderMap, HttpClient, Url};

/// Longest wait for a TCP + TLS connection, whatever the request timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Pulls from one WooCommerce store. Cheap to share: the HTTP client pools connections.
pub struct WooConnector {
    /// The store's checked base URL.
    base_url: Url,
    /// Records per page.
    per_page: u32,
    /// Sends `Authorization: Basic …` (marked sensitive) with every request, classifies every
    /// failure with WooCommerce's rules and scrubs the key and secret from messages.
    client: HttpClient,
}

impl fmt::Debug for WooConnector {
    /// The redacted base URL and the page size; never the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WooConnector")
            .field("base_url", &redact_url(&self.base_url))
            .field("per_page", &self.per_page)
            .finish_non_exhaustive()
    }
}

/// Standard base64 with padding, for the `Authorization` header.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (index, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if index <= chunk.len() {
                out.push(ALPHABET[(n >> shift) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl WooConnector {
    /// `{base_url}/wp-json/wc/v3/{collection}`, keeping any path prefix of the base URL.
    fn collection_url(&self, collection: &str) -> Result<Url, ConnectorError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| ConnectorError::Config {
                message: "the base URL cannot have a path".to_owned(),
            })?
            .pop_if_empty()
            .extend(["wp-json", "wc", "v3", collection]);
        Ok(url)
    }

    /// GETs one list page and parses it: its records, what pagination needs of each, and the
    /// headers. `None` when the store answers that the page is past the end of the list.
    async fn list(
        &self,
        url: Url,
        query: &[(&str, String)],
    ) -> Result<Option<(Vec<(Record, Listed)>, HeaderMap)>, ConnectorError> {
        let answer = match self.client.get_bytes(url, query, HeaderMap::new()).await {
            Ok(answer) => answer,
            // Only `classifier()` makes this class, for the past-the-end 400.
            Err(ConnectorError::CursorInvalid { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        // The body is read here, not by the client's JSON parser, to tell an HTML page served
        // with 200 (maintenance mode, a login or firewall page) from broken JSON.
        let listed = parse_list(&answer.headers, &answer.body, &answer.request)
            .map_err(|error| self.client.scrub(error))?;
        Ok(Some((listed, answer.headers)))
    }

    /// Fetches the page at `position` and turns it into records and the next cursor.
    async fn fetch_page(
        &self,
        position: &PagePosition,
    ) -> Result<TypedPage<PagePosition>, ConnectorError> {
        let stream = position.stream;
        let url = self.collection_url(stream.as_str())?;
        let per_page = self.per_page;
        let mut query: Vec<(&str, String)> = vec![
            ("page", position.page.to_string()),
            ("per_page", per_page.to_string()),
            ("orderby", stream.order_by().to_owned()),
            ("order", "asc".to_owned()),
        ];
        if stream.filters_by_modified() {
            // WordPress date queries are exclusive at both ends: `modified_after = after - 1`
            // asks for `modified >= after`. Records outside are dropped by `keeps` anyway.
            query.push(("dates_are_gmt", "true".to_owned()));
            if let Some(after) = position.after {
                query.push(("modified_after", format_gmt(after - 1)));
            }
            query.push(("modified_before", format_gmt(position.to)));
        }
        let Some((listed, headers)) = self.list(url, &query).await? else {
            // A page past the end: the listing is exhausted.
            return Ok(TypedPage {
                records: Vec::new(),
                next_cursor: None,
                rate_limit: None,
            });
        };
        let positions: Vec<_> = listed.iter().map(|(_, listed)| *listed).collect();
        let next = position.next(&positions, per_page, total_pages(&headers))?;
        let records = listed
            .into_iter()
            .filter(|(_, listed)| position.keeps(*listed))
            .map(|(record, _)| record)
            .collect();
        Ok(TypedPage {
            records,
            next_cursor: next,
            // WooCommerce's REST API sends no rate-limit headers.
            rate_limit: None,
        })
    }
}

#[async_trait]
impl TypedConnector for WooConnector {
    const KIND: &'static str = crate::KIND;
    const DESCRIPTION: &'static str =
        "Orders, products and customers from a WooCommerce store's REST API v3.";
    type Settings = WooSettings;
    /// Keyset (orders, products) or page number (customers) within a closed window; see
    /// `cursor.rs`.
    type Cursor = PagePosition;

    /// Checks the URL and the credentials (every fault at once, never repeating a secret) and
    /// builds the client with Basic auth.
    fn from_settings(settings: WooSettings) -> Result<Self, ConfigError> {
        let config_error = |message: String| ConfigError {
            kind: Self::KIND.to_owned(),
            message,
        };
        let checked = settings
            .check()
            .map_err(|problems| config_error(problems.join("; ")))?;
        let key = checked.consumer_key.expose_secret();
        let secret = checked.consumer_secret.expose_secret();
        let authorization = format!("Basic {}", base64(format!("{key}:{secret}").as_bytes()));
        let timeout = settings.timeout();
        let client = HttpClient::builder(concat!(
            "tributary-connector-woocommerce/",
            env!("CARGO_PKG_VERSION")
        ))
        .timeout(timeout)
        .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
        // Marked sensitive; the header value and its token are scrubbed from messages, and so
        // are the key and the secret themselves, should a plugin or proxy echo them back.
        .secret_header("authorization", &authorization)
        .secret(key)
        .secret(secret)
        .classifier(classifier())
        .build()
        .map_err(|error| config_error(error.to_string()))?;
        Ok(Self {
            base_url: checked.base_url,
            per_page: settings.per_page,
            client,
        })
    }

    fn streams(&self) -> Vec<StreamInfo> {
        WooStream::ALL
            .iter()
            .map(|stream| StreamInfo {
                name: StreamName::new(stream.as_str())
                    .expect("the woocommerce stream names are valid"),
                description: stream.description().to_owned(),
            })
            .collect()
    }

    /// Lists one order (`per_page=1`): proves the URL, TLS, the credentials and their read
    /// permission, and that the answer is JSON, at the cost of the cheapest list request.
    /// (`system_status` would also do, but it computes a whole diagnostics report.)
    async fn check(&self, _tenant: &TenantId) -> Result<(), ConnectorError> {
        let url = self.collection_url(WooStream::Orders.as_str())?;
        let query = [("per_page", "1".to_owned())];
        // Past the end on the first page would be an empty store: fine too.
        self.list(url, &query).await.map(drop)
    }

    /// WooCommerce has no global API rate limit: each store is a WordPress site whose capacity
    /// is its hosting (often shared, PHP workers in single digits, a WAF that answers 429 or
    /// 503 when hammered). 10 requests/s with bursts of 10 keeps a list page of 100 orders per
    /// request well within what a small store serves, and leaves its PHP workers to shoppers.
    fn rate_policy(&self) -> RatePolicy {
        RatePolicy {
            requests_per_second: 10.0,
            burst: 10,
        }
    }

    async fn pull(
        &self,
        request: TypedPull<'_, PagePosition>,
    ) -> Result<TypedPage<PagePosition>, ConnectorError> {
        let stream: WooStream =
            request
                .stream
                .as_str()
                .parse()
                .map_err(|error: crate::UnknownStream| ConnectorError::Config {
                    message: error.to_string(),
                })?;
        let position = match request.cursor {
            Some(cursor) => cursor.resume(stream, request.window)?,
            None => PagePosition::start(stream, request.window, Utc::now()),
        };
        self.fetch_page(&position).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(base_url: &str) -> WooConnector {
        let settings = serde_json::from_value(serde_json::json!({
            "base_url": base_url,
            "consumer_key": "ck_test_key_1234",
            "consumer_secret": "cs_test_secret_5678",
        }))
        .unwrap();
        WooConnector::from_settings(settings).unwrap()
    }

    #[test]
    fn collection_urls_keep_the_base_path() {
        for (base, expected) in [
            (
                "https://shop.example.com",
                "https://shop.example.com/wp-json/wc/v3/orders",
            ),
            (
                "https://shop.example.com/",
                "https://shop.example.com/wp-json/wc/v3/orders",
            ),
            (
                "https://example.com/shop",
                "https://example.com/shop/wp-json/wc/v3/orders",
            ),
            (
                "https://example.com/shop/",
                "https://example.com/shop/wp-json/wc/v3/orders",
            ),
        ] {
            let url = connector(base).collection_url("orders").unwrap();
            assert_eq!(url.as_str(), expected);
        }
    }

    #[test]
    fn scrubbing_removes_echoed_credentials() {
        let connector = connector("https://shop.example.com");
        let error = connector.client.scrub(ConnectorError::Auth {
            status: Some(401),
            message: "key ck_test_key_1234 with cs_test_secret_5678 refused".to_owned(),
        });
        let text = error.to_string();
        assert!(
            !text.contains("ck_test_key_1234") && !text.contains("cs_test_secret_5678"),
            "{text}"
        );
        let debug = format!("{connector:?} {:?}", connector.client);
        assert!(
            !debug.contains("test_key_1234") && !debug.contains("test_secret_5678"),
            "{debug}"
        );
    }
}
