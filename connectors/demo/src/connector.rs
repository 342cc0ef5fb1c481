//! The [`DemoConnector`]: one page per `pull`, over HTTP with the shared
//! [`HttpClient`]. It only fetches and classifies; the runtime owns the page loop, retries and
//! timing.

use crate::response::{
    classifier, into_fetched, into_manifest, into_page, paginator, CountBody, ManifestBody,
    PageBody,
};
use crate::settings::DemoSettings;
use chrono::SecondsFormat;
use std::fmt;
use tributary_connector::typed::{TypedConnector, TypedPage, TypedPull};
use tributary_connector::{
    async_trait, ConfigError, ConnectorError, CreatedWindow, Cursor, FetchedRecords, ManifestPage,
    RatePolicy, ReconcileSupport, StreamInfo, StreamName, TenantId, Window, WindowSummary,
};
use tributary_connector_http::{HeaderMap, HttpClient, Url};

/// The shop's streams and what a record of each is.
const STREAMS: [(&str, &str); 3] = [
    (
        "orders",
        "An order with line items, totals and a shipping address.",
    ),
    (
        "customers",
        "A customer with contact details and a default address.",
    ),
    ("products", "A product with its price and inventory."),
];

/// Manifest entries per request: the shop's largest page.
const MANIFEST_PAGE_SIZE: u32 = 250;

/// Ids per `?ids=` request: the shop's limit.
const MAX_IDS_PER_FETCH: usize = 100;

/// Longest wait for a connection, whatever the request timeout: a shop that does not accept
/// within 5 s is down, and waiting longer only delays the retry.
const MAX_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Pulls from the demo shop. Cheap to share: the HTTP client pools connections internally.
pub struct DemoConnector {
    settings: DemoSettings,
    /// `settings.base_url`, checked.
    base_url: Url,
    client: HttpClient,
}

impl fmt::Debug for DemoConnector {
    /// Settings only; the settings' `Debug` redacts any password in the URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoConnector")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl DemoConnector {
    /// The settings this connector was built with.
    pub fn settings(&self) -> &DemoSettings {
        &self.settings
    }

    /// `{base_url}/v1/tenants/{tenant}/{stream}/{suffix}` (`count`, `manifest`).
    fn endpoint_url(
        &self,
        tenant: &TenantId,
        stream: &str,
        suffix: &str,
    ) -> Result<Url, ConnectorError> {
        let mut url = self.page_url(tenant, stream)?;
        url.path_segments_mut()
            .map_err(|()| ConnectorError::Config {
                message: "the base URL cannot have a path".to_owned(),
            })?
            .push(suffix);
        Ok(url)
    }

    /// `{base_url}/v1/tenants/{tenant}/{stream}`, keeping any path prefix of the base URL.
    fn page_url(&self, tenant: &TenantId, stream: &str) -> Result<Url, ConnectorError> {
        // Tenant ids may contain dots; "." and ".." would be resolved away as path segments.
        if matches!(tenant.as_str(), "." | "..") {
            return Err(ConnectorError::Config {
                message: format!("tenant id {tenant:?} cannot be used as a URL path segment"),
            });
        }
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| ConnectorError::Config {
                message: "the base URL cannot have a path".to_owned(),
            })?
            .pop_if_empty()
            .extend(["v1", "tenants", tenant.as_str(), stream]);
        Ok(url)
    }

    /// Refuses a stream the shop does not have, before any request.
    fn known_stream(stream: &StreamName) -> Result<&str, ConnectorError> {
        let stream = stream.as_str();
        if STREAMS.iter().any(|(name, _)| *name == stream) {
            Ok(stream)
        } else {
            Err(ConnectorError::Config {
                message: format!(
                    "unknown stream `{stream}`; the demo connector has orders, customers and products"
                ),
            })
        }
    }

    /// Fetches one page of `stream` and parses it.
    async fn fetch_page(
        &self,
        tenant: &TenantId,
        stream: &str,
        limit: u32,
        cursor: Option<&Cursor>,
        window: &Window,
    ) -> Result<TypedPage<Cursor>, ConnectorError> {
        let url = self.page_url(tenant, stream)?;
        let mut query: Vec<(String, String)> = vec![("limit".to_owned(), limit.to_string())];
        query.extend(paginator().query(cursor)?);
        if let Some(from) = window.from {
            query.push((
                "updated_since".to_owned(),
                from.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ));
        }
        if let Some(to) = window.to {
            query.push((
                "updated_before".to_owned(),
                to.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ));
        }
        let response = self
            .client
            .get_json::<PageBody, _>(url, &query, HeaderMap::new())
            .await?;
        into_page(
            response.body,
            &response.request,
            cursor,
            response.rate_limit,
        )
    }
}

#[async_trait]
impl TypedConnector for DemoConnector {
    const KIND: &'static str = crate::KIND;
    const DESCRIPTION: &'static str =
        "Orders, customers and products from the bundled demo shop (offline demo and tests).";
    type Settings = DemoSettings;
    /// The `http` token paginator's own cursor: versioned and loop-guarded.
    type Cursor = Cursor;

    /// Checks the base URL (every fault of it at once) and builds the client.
    fn from_settings(settings: DemoSettings) -> Result<Self, ConfigError> {
        let config_error = |message: String| ConfigError {
            kind: Self::KIND.to_owned(),
            message,
        };
        let base_url = settings
            .base_url()
            .map_err(|problems| config_error(problems.join("; ")))?;
        let timeout = settings.timeout();
        let client = HttpClient::builder(concat!(
            "tributary-connector-demo/",
            env!("CARGO_PKG_VERSION")
        ))
        .timeout(timeout)
        .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
        .header("accept", "application/json")
        .classifier(classifier())
        .build()
        .map_err(|error| config_error(error.to_string()))?;
        Ok(Self {
            settings,
            base_url,
            client,
        })
    }

    /// The demo shop advertises 6,000 requests a minute per tenant (100/s) in its
    /// `X-RateLimit-*` headers; bursts of 20 keep the first pages of a run quick.
    fn rate_policy(&self) -> RatePolicy {
        RatePolicy {
            requests_per_second: 100.0,
            burst: 20,
        }
    }

    fn streams(&self) -> Vec<StreamInfo> {
        STREAMS
            .iter()
            .map(|(name, description)| StreamInfo {
                name: StreamName::new(*name).expect("the demo stream names are valid"),
                description: (*description).to_owned(),
            })
            .collect()
    }

    /// Fetches a one-record page of orders: proves the URL, the network and the tenant's access.
    async fn check(&self, tenant: &TenantId) -> Result<(), ConnectorError> {
        self.fetch_page(tenant, "orders", 1, None, &Window::default())
            .await
            .map(drop)
    }

    async fn pull(
        &self,
        request: TypedPull<'_, Cursor>,
    ) -> Result<TypedPage<Cursor>, ConnectorError> {
        let stream = request.stream.as_str();
        if !STREAMS.iter().any(|(name, _)| *name == stream) {
            return Err(ConnectorError::Config {
                message: format!(
                    "unknown stream `{stream}`; the demo connector has orders, customers and products"
                ),
            });
        }
        self.fetch_page(
            request.tenant,
            stream,
            self.settings.page_size,
            request.cursor.as_ref(),
            request.window,
        )
        .await
    }

    /// The shop has it all: counts with digests, manifests with fingerprints, `?ids=`.
    fn reconciliation(&self) -> ReconcileSupport {
        ReconcileSupport {
            counts: true,
            manifests: true,
            fetch_by_id: true,
            fingerprints: true,
        }
    }

    async fn window_summary(
        &self,
        tenant: &TenantId,
        stream: &StreamName,
        window: &CreatedWindow,
    ) -> Result<WindowSummary, ConnectorError> {
        let url = self.endpoint_url(tenant, Self::known_stream(stream)?, "count")?;
        let response = self
            .client
            .get_json::<CountBody, _>(url, &created_query(window), HeaderMap::new())
            .await?;
        Ok(response.body.into_summary(response.rate_limit))
    }

    async fn manifest(
        &self,
        tenant: &TenantId,
        stream: &StreamName,
        window: &CreatedWindow,
        cursor: Option<&Cursor>,
    ) -> Result<ManifestPage, ConnectorError> {
        let url = self.endpoint_url(tenant, Self::known_stream(stream)?, "manifest")?;
        let mut query = created_query(window);
        query.push(("limit".to_owned(), MANIFEST_PAGE_SIZE.to_string()));
        query.extend(paginator().query(cursor)?);
        let response = self
            .client
            .get_json::<ManifestBody, _>(url, &query, HeaderMap::new())
            .await?;
        into_manifest(
            response.body,
            &response.request,
            cursor,
            response.rate_limit,
        )
    }

    fn max_ids_per_fetch(&self) -> usize {
        MAX_IDS_PER_FETCH
    }

    async fn fetch_by_ids(
        &self,
        tenant: &TenantId,
        stream: &StreamName,
        ids: &[String],
    ) -> Result<FetchedRecords, ConnectorError> {
        if ids.is_empty() {
            return Ok(FetchedRecords {
                records: Vec::new(),
                rate_limit: None,
            });
        }
        if ids.len() > MAX_IDS_PER_FETCH || ids.iter().any(|id| id.is_empty() || id.contains(',')) {
            return Err(ConnectorError::Permanent {
                status: None,
                message: format!(
                    "fetch by ids takes 1 to {MAX_IDS_PER_FETCH} ids without commas, got {}",
                    ids.len()
                ),
            });
        }
        let url = self.page_url(tenant, Self::known_stream(stream)?)?;
        let query = [("ids".to_owned(), ids.join(","))];
        let response = self
            .client
            .get_json::<PageBody, _>(url, &query, HeaderMap::new())
            .await?;
        into_fetched(response.body, &response.request, response.rate_limit)
    }

    /// The shop's fingerprint: FNV-1a 64 of the record's canonical JSON, which is exactly
    /// [`tributary_connector::reconcile::json_fingerprint`].
    fn fingerprint(&self, _stream: &StreamName, data: &serde_json::Value) -> Option<String> {
        Some(tributary_connector::reconcile::json_fingerprint(data))
    }
}

/// `created_since` / `created_before` of a window.
fn created_query(window: &CreatedWindow) -> Vec<(String, String)> {
    vec![
        (
            "created_since".to_owned(),
            window.from.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        ),
        (
            "created_before".to_owned(),
            window.to.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(base_url: &str) -> DemoConnector {
        let settings = serde_json::from_value(serde_json::json!({ "base_url": base_url })).unwrap();
        DemoConnector::from_settings(settings).unwrap()
    }

    #[test]
    fn page_urls_keep_the_base_path() {
        let tenant = TenantId::new("acme.eu").unwrap();
        for (base, expected) in [
            (
                "http://127.0.0.1:8089",
                "http://127.0.0.1:8089/v1/tenants/acme.eu/orders",
            ),
            (
                "http://127.0.0.1:8089/",
                "http://127.0.0.1:8089/v1/tenants/acme.eu/orders",
            ),
            (
                "https://example.com/shop",
                "https://example.com/shop/v1/tenants/acme.eu/orders",
            ),
            (
                "https://example.com/shop/",
                "https://example.com/shop/v1/tenants/acme.eu/orders",
            ),
        ] {
            let url = connector(base).page_url(&tenant, "orders").unwrap();
            assert_eq!(url.as_str(), expected);
        }
    }

    #[test]
    fn dot_tenants_cannot_escape_the_path() {
        let connector = connector("http://127.0.0.1:8089");
        for tenant in [".", ".."] {
            let error = connector
                .page_url(&TenantId::new(tenant).unwrap(), "orders")
                .unwrap_err();
            assert_eq!(error.class(), tributary_connector::ErrorClass::Config);
        }
    }
}
