//! The [`WooConnector`]: one page per `pull`, over HTTP with `reqwest` and Basic auth. It only
//! fetches, filters and classifies; the runtime owns the page loop, retries and timing.

use crate::cursor::{PagePosition, MAX_PAGE};
use crate::response::{format_gmt, http_error, parse_list, retry_after, total_pages};
use crate::settings::WooSettings;
use crate::WooStream;
use chrono::Utc;
use reqwest::header::HeaderMap;
use reqwest::Url;
use std::fmt;
use std::sync::Arc;
use tributary_connector::{
    async_trait, ConfigError, Connector, ConnectorError, ConnectorKind, Page, PullRequest,
    RatePolicy, StreamInfo, StreamName, TenantId,
};

/// Pulls from one WooCommerce store. Cheap to share: the HTTP client pools connections.
pub struct WooConnector {
    kind: ConnectorKind,
    settings: WooSettings,
    client: reqwest::Client,
}

impl fmt::Debug for WooConnector {
    /// Kind and settings only; the settings' `Debug` redacts the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WooConnector")
            .field("kind", &self.kind)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Builds a woocommerce connector from JSON settings; the factory in [`crate::spec`].
pub fn build(settings: &serde_json::Value) -> Result<Arc<dyn Connector>, ConfigError> {
    let connector = WooConnector::new(WooSettings::from_json(settings)?)?;
    Ok(Arc::new(connector))
}

/// An answer with a status, before classification.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl WooConnector {
    /// A connector for these settings, with its own connection pool.
    pub fn new(settings: WooSettings) -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(std::time::Duration::from_secs(10)))
            .user_agent(concat!(
                "tributary-connector-woocommerce/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|error| ConfigError {
                kind: crate::KIND.to_owned(),
                message: format!("could not build the HTTP client: {error}"),
            })?;
        Ok(Self {
            kind: ConnectorKind::new(crate::KIND).expect("`woocommerce` is a valid connector kind"),
            settings,
            client,
        })
    }

    /// The settings this connector was built with.
    pub fn settings(&self) -> &WooSettings {
        &self.settings
    }

    /// `{base_url}/wp-json/wc/v3/{collection}`, keeping any path prefix of the base URL.
    fn collection_url(&self, collection: &str) -> Result<Url, ConnectorError> {
        let mut url = self.settings.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| ConnectorError::Config {
                message: "the base URL cannot have a path".to_owned(),
            })?
            .pop_if_empty()
            .extend(["wp-json", "wc", "v3", collection]);
        Ok(url)
    }

    /// Removes the credentials from a message built from the store's answers, in case a
    /// plugin or proxy echoes them back.
    fn scrub(&self, error: ConnectorError) -> ConnectorError {
        let clean = |message: String| {
            [&self.settings.consumer_secret, &self.settings.consumer_key]
                .into_iter()
                .fold(message, |message, secret| {
                    message.replace(secret.expose_secret(), "REDACTED")
                })
        };
        match error {
            ConnectorError::RateLimited {
                retry_after,
                message,
            } => ConnectorError::RateLimited {
                retry_after,
                message: clean(message),
            },
            ConnectorError::Transient { status, message } => ConnectorError::Transient {
                status,
                message: clean(message),
            },
            ConnectorError::Auth { status, message } => ConnectorError::Auth {
                status,
                message: clean(message),
            },
            ConnectorError::Permanent { status, message } => ConnectorError::Permanent {
                status,
                message: clean(message),
            },
            ConnectorError::Config { message } => ConnectorError::Config {
                message: clean(message),
            },
            ConnectorError::CursorInvalid { message } => ConnectorError::CursorInvalid {
                message: clean(message),
            },
            ConnectorError::Malformed { message } => ConnectorError::Malformed {
                message: clean(message),
            },
        }
    }

    /// Sends one authenticated GET and reads the whole answer.
    async fn get(
        &self,
        url: Url,
        query: &[(&str, String)],
        what: &str,
    ) -> Result<Answer, ConnectorError> {
        let response = self
            .client
            .get(url)
            .basic_auth(
                self.settings.consumer_key.expose_secret(),
                Some(self.settings.consumer_secret.expose_secret()),
            )
            .query(query)
            .send()
            .await
            .map_err(|error| transport_error(what, error))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|error| transport_error(what, error))?;
        Ok(Answer {
            status,
            headers,
            body: body.to_vec(),
        })
    }

    /// Fetches the page at `position` and turns it into records and the next cursor.
    async fn fetch_page(&self, position: &PagePosition) -> Result<Page, ConnectorError> {
        let stream = position.stream;
        let url = self.collection_url(stream.as_str())?;
        let what = format!("GET {}", url.path());
        let per_page = self.settings.per_page;
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
        let answer = self.get(url, &query, &what).await?;
        if !(200..300).contains(&answer.status) {
            let delay = retry_after(&answer.headers, Utc::now());
            return match http_error(answer.status, delay, &answer.body, &what) {
                Some(error) => Err(self.scrub(error)),
                // A page past the end: the listing is exhausted.
                None => Ok(Page {
                    records: Vec::new(),
                    next_cursor: None,
                    rate_limit: None,
                }),
            };
        }
        let listed = parse_list(&answer.headers, &answer.body, &what).map_err(|e| self.scrub(e))?;
        let positions: Vec<_> = listed.iter().map(|(_, listed)| *listed).collect();
        let next = position.next(&positions, per_page, total_pages(&answer.headers))?;
        let records = listed
            .into_iter()
            .filter(|(_, listed)| position.keeps(*listed))
            .map(|(record, _)| record)
            .collect();
        Ok(Page {
            records,
            next_cursor: next.map(|next| next.encode()),
            // WooCommerce's REST API sends no rate-limit headers.
            rate_limit: None,
        })
    }
}

/// A request that got no HTTP answer: connect refused, timeout, reset mid-body. Worth retrying.
/// The URL is stripped from reqwest's message (the credentials travel in a header, but a
/// base URL may carry user info).
fn transport_error(what: &str, error: reqwest::Error) -> ConnectorError {
    let happened = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "failed while reading the body"
    } else {
        "failed"
    };
    let error = error.without_url();
    let mut message = format!("{what}: request {happened}: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ConnectorError::Transient {
        status: None,
        message,
    }
}

#[async_trait]
impl Connector for WooConnector {
    fn kind(&self) -> &ConnectorKind {
        &self.kind
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
        let what = format!("GET {}", url.path());
        let query = [("per_page", "1".to_owned())];
        let answer = self.get(url, &query, &what).await?;
        if !(200..300).contains(&answer.status) {
            let delay = retry_after(&answer.headers, Utc::now());
            if let Some(error) = http_error(answer.status, delay, &answer.body, &what) {
                return Err(self.scrub(error));
            }
        }
        parse_list(&answer.headers, &answer.body, &what)
            .map(drop)
            .map_err(|error| self.scrub(error))
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

    async fn pull(&self, request: PullRequest<'_>) -> Result<Page, ConnectorError> {
        let stream: WooStream =
            request
                .stream
                .as_str()
                .parse()
                .map_err(|error: crate::UnknownStream| ConnectorError::Config {
                    message: error.to_string(),
                })?;
        let position = match request.cursor {
            Some(cursor) => PagePosition::decode(cursor, stream, request.window)?,
            None => PagePosition::start(stream, request.window, Utc::now()),
        };
        if position.page > MAX_PAGE {
            return Err(ConnectorError::CursorInvalid {
                message: "page number out of range".to_owned(),
            });
        }
        self.fetch_page(&position).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(base_url: &str) -> WooConnector {
        let settings = WooSettings::from_json(&serde_json::json!({
            "base_url": base_url,
            "consumer_key": "ck_test_key_1234",
            "consumer_secret": "cs_test_secret_5678",
        }))
        .unwrap();
        WooConnector::new(settings).unwrap()
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
        let error = connector.scrub(ConnectorError::Auth {
            status: Some(401),
            message: "key ck_test_key_1234 with cs_test_secret_5678 refused".to_owned(),
        });
        let text = error.to_string();
        assert!(
            !text.contains("ck_test_key_1234") && !text.contains("cs_test_secret_5678"),
            "{text}"
        );
        let debug = format!("{connector:?}");
        assert!(
            !debug.contains("test_key_1234") && !debug.contains("test_secret_5678"),
            "{debug}"
        );
    }
}
