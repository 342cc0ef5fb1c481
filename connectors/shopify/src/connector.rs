//! The [`ShopifyConnector`]: one GraphQL `POST` per `pull`, with `reqwest`. It only fetches and
//! classifies; the runtime owns the page loop, retries and timing.

use crate::query::{
    count_document, page_document, search_filter, ShopifyCursor, ShopifyStream, CHECK_DOCUMENT,
};
use crate::response::{parse_count, parse_page, read_response, GraphqlData};
use crate::settings::{ShopifyConfig, ShopifySettings};
use chrono::Utc;
use reqwest::header::HeaderValue;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tributary_connector::typed::{TypedConnector, TypedPage, TypedPull};
use tributary_connector::{
    async_trait, ConfigError, Connector, ConnectorError, RatePolicy, StreamInfo, StreamName,
    TenantId, Window,
};

/// The header carrying the Admin API access token.
pub const ACCESS_TOKEN_HEADER: &str = "X-Shopify-Access-Token";

/// Pulls from one shop's Admin GraphQL API. Cheap to share: the client pools connections.
pub struct ShopifyConnector {
    settings: ShopifyConfig,
    client: reqwest::Client,
}

impl fmt::Debug for ShopifyConnector {
    /// Settings only; their `Debug` redacts the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopifyConnector")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Builds a Shopify connector from JSON settings, through [`crate::spec`]: every bad field is
/// reported with its path, and no message repeats the access token.
pub fn build(settings: &serde_json::Value) -> Result<Arc<dyn Connector>, ConfigError> {
    (crate::spec().build)(settings)
}

impl ShopifyConnector {
    /// A connector for these checked settings, with its own connection pool.
    fn new(settings: ShopifyConfig) -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!(
                "tributary-connector-shopify/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|error| ConfigError {
                kind: crate::KIND.to_owned(),
                message: format!("could not build the HTTP client: {error}"),
            })?;
        Ok(Self { settings, client })
    }

    /// The checked settings this connector was built with.
    pub fn settings(&self) -> &ShopifyConfig {
        &self.settings
    }

    /// How many records of `stream` fall in `window`, from `ordersCount` (or `productsCount`,
    /// `customersCount`). For reconciliation: compare with the rows stored for the window.
    ///
    /// Not part of the [`Connector`] trait yet: build the connector with
    /// [`TypedConnector::from_settings`] to call it. `tenant` is accepted for symmetry with `pull`;
    /// the shop is fixed by the settings.
    pub async fn count(
        &self,
        tenant: &TenantId,
        stream: &StreamName,
        window: &Window,
    ) -> Result<u64, ConnectorError> {
        let _ = tenant;
        let stream = known_stream(stream)?;
        let what = self.describe(stream.count_field());
        let variables = serde_json::json!({ "query": search_filter(stream, window) });
        let answer = self
            .execute(&count_document(stream), variables, &what)
            .await?;
        parse_count(&answer, stream, &what)
    }

    /// `POST /admin/api/{version}/graphql.json ({root})`, for messages. No host, no token.
    fn describe(&self, root: &str) -> String {
        format!(
            "POST /admin/api/{}/graphql.json ({root})",
            self.settings.api_version
        )
    }

    /// Sends one GraphQL document and classifies the answer.
    async fn execute(
        &self,
        document: &str,
        variables: serde_json::Value,
        what: &str,
    ) -> Result<GraphqlData, ConnectorError> {
        let mut token =
            HeaderValue::from_str(self.settings.access_token.expose()).map_err(|_| {
                ConnectorError::Config {
                    message: "$.access_token: not a valid header value".to_owned(),
                }
            })?;
        token.set_sensitive(true);
        let response = self
            .client
            .post(self.settings.graphql_url())
            .header(ACCESS_TOKEN_HEADER, token)
            .json(&serde_json::json!({ "query": document, "variables": variables }))
            .send()
            .await
            .map_err(|error| tributary_connector_http::transport_error(what, error))?;
        let status = response.status();
        // Shopify sends `Retry-After: 2.0`; the shared parser accepts fractions and dates.
        let retry_after = tributary_connector_http::retry_after(response.headers(), Utc::now());
        let body = response
            .bytes()
            .await
            .map_err(|error| tributary_connector_http::transport_error(what, error))?;
        read_response(status, retry_after, &body, what)
    }
}

/// The stream named `stream`, or a configuration error listing the known ones.
fn known_stream(stream: &StreamName) -> Result<ShopifyStream, ConnectorError> {
    ShopifyStream::from_name(stream.as_str()).ok_or_else(|| ConnectorError::Config {
        message: format!(
            "unknown stream `{stream}`; the shopify connector has orders, products and customers"
        ),
    })
}

#[async_trait]
impl TypedConnector for ShopifyConnector {
    const KIND: &'static str = crate::KIND;
    const DESCRIPTION: &'static str =
        "Orders, products and customers from a shop's Shopify Admin GraphQL API.";
    type Settings = ShopifySettings;
    type Cursor = ShopifyCursor;

    fn from_settings(settings: ShopifySettings) -> Result<Self, ConfigError> {
        Self::new(settings.validate()?)
    }

    fn streams(&self) -> Vec<StreamInfo> {
        ShopifyStream::ALL
            .iter()
            .map(|stream| StreamInfo {
                name: StreamName::new(stream.name()).expect("the Shopify stream names are valid"),
                description: stream.description().to_owned(),
            })
            .collect()
    }

    /// `{ shop { name } }`: proves the host, the API version and the token (cost: 1 point).
    async fn check(&self, tenant: &TenantId) -> Result<(), ConnectorError> {
        let _ = tenant;
        let what = self.describe("shop");
        let answer = self
            .execute(CHECK_DOCUMENT, serde_json::json!({}), &what)
            .await?;
        match answer.data.pointer("/shop/name") {
            Some(serde_json::Value::String(_)) => Ok(()),
            _ => Err(ConnectorError::Malformed {
                message: format!("{what}: `data.shop.name` is missing"),
            }),
        }
    }

    /// Shopify's standard plans give each app a bucket of 1,000 cost points per shop, refilled
    /// at 100 points/s (larger plans scale both numbers; we declare for the smallest). An
    /// orders page costs about `page_size + 2` points, so at the default page size of 100 the
    /// bucket sustains about one page per second; cheaper streams and smaller pages go faster.
    /// 2 requests/s is therefore a ceiling, not a target: the cost hints and `THROTTLED`
    /// answers (snoozed, not retried) do the fine control. A burst of 4 spends at most ~400
    /// points back to back, leaving most of the bucket to other apps sharing the shop.
    fn rate_policy(&self) -> RatePolicy {
        RatePolicy {
            requests_per_second: 2.0,
            burst: 4,
        }
    }

    async fn pull(
        &self,
        request: TypedPull<'_, ShopifyCursor>,
    ) -> Result<TypedPage<ShopifyCursor>, ConnectorError> {
        let stream = known_stream(request.stream)?;
        let after = request
            .cursor
            .as_ref()
            .map(ShopifyCursor::end_cursor)
            .transpose()?;
        let what = self.describe(stream.name());
        let variables = serde_json::json!({
            "first": self.settings.page_size,
            "after": after,
            "query": search_filter(stream, request.window),
        });
        let answer = self
            .execute(&page_document(stream), variables, &what)
            .await?;
        parse_page(answer, stream, after, &what)
    }
}
