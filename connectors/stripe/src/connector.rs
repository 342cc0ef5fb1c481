//! The [`StripeConnector`]: one list page per `pull`, over HTTP with the shared
//! [`HttpClient`] and Stripe's [`Classifier`](tributary_connector_http::Classifier). It only
//! fetches and classifies; the runtime owns the page loop, retries and timing.

use crate::cursor::{is_object_id, CreatedRange, ListCursor};
use crate::response::{classifier, label, not_json, parse_list, RequestLabel};
use crate::settings::{StripeConfig, StripeSettings};
use crate::StripeStream;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tributary_connector::typed::{TypedConnector, TypedPage, TypedPull};
use tributary_connector::{
    async_trait, ConfigError, Connector, ConnectorError, StreamInfo, StreamName, TenantId,
};
use tributary_connector_http::{describe_request, HeaderMap, HeaderValue, HttpClient, Method, Url};

/// Sent as `Bearer <key>`.
const AUTHORIZATION: &str = "authorization";
/// Connect-account header: act on behalf of a connected account.
const STRIPE_ACCOUNT: &str = "stripe-account";
/// Pins the API version (and so the shape of every object).
const STRIPE_VERSION: &str = "stripe-version";
/// Longest wait for a TCP + TLS connection, whatever the request timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Pulls charges, customers and invoices from one Stripe account. Cheap to share: the HTTP
/// client pools connections internally.
pub struct StripeConnector {
    settings: StripeConfig,
    /// Classifies every failure with Stripe's rules and scrubs the key from messages.
    client: HttpClient,
    /// `Bearer <key>`, marked sensitive so no `Debug` of a request shows it.
    authorization: HeaderValue,
}

impl fmt::Debug for StripeConnector {
    /// Settings only; their `Debug` redacts the API key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConnector")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Builds a stripe connector from JSON settings, through [`crate::spec`]: every bad field is
/// reported with its path, and no message repeats the API key.
pub fn build(settings: &serde_json::Value) -> Result<Arc<dyn Connector>, ConfigError> {
    (crate::spec().build)(settings)
}

fn config_error(message: impl Into<String>) -> ConfigError {
    ConfigError {
        kind: crate::KIND.to_owned(),
        message: message.into(),
    }
}

impl StripeConnector {
    /// A connector for these checked settings, with its own connection pool.
    fn new(settings: StripeConfig) -> Result<Self, ConfigError> {
        let key = settings.api_key.expose_secret();
        let mut client = HttpClient::builder(concat!(
            "tributary-connector-stripe/",
            env!("CARGO_PKG_VERSION")
        ))
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(MAX_CONNECT_TIMEOUT))
        // Sent per request (below); registered so an echo of it is scrubbed from messages.
        .secret(key)
        .classifier(classifier(key.to_owned()));
        if let Some(version) = &settings.api_version {
            client = client.header(STRIPE_VERSION, version);
        }
        let client = client
            .build()
            .map_err(|error| config_error(error.to_string()))?;
        // `ApiKey` admits printable ASCII only, which is always a valid header value.
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", settings.api_key.expose_secret()))
                .map_err(|_| config_error("$.api_key: not usable in an HTTP header"))?;
        authorization.set_sensitive(true);
        Ok(Self {
            settings,
            client,
            authorization,
        })
    }

    /// The checked settings this connector was built with.
    pub fn settings(&self) -> &StripeConfig {
        &self.settings
    }

    /// `{base_url}/v1/{stream}`, keeping any path prefix of the base URL.
    fn list_url(&self, stream: StripeStream) -> Result<Url, ConnectorError> {
        let mut url = self.settings.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| ConnectorError::Config {
                message: "the base URL cannot have a path".to_owned(),
            })?
            .pop_if_empty()
            .extend(["v1", stream.as_str()]);
        Ok(url)
    }

    /// The `Stripe-Account` header value when the source is a Connect platform.
    fn connected_account(&self, tenant: &TenantId) -> Result<Option<HeaderValue>, ConnectorError> {
        if !self.settings.connect {
            return Ok(None);
        }
        let account = tenant.as_str();
        if !(account.starts_with("acct_") && is_object_id(account)) {
            return Err(ConnectorError::Config {
                message: format!(
                    "with `connect: true` the tenant id is sent as Stripe-Account and must be a connected account id (acct_…), got {account:?}"
                ),
            });
        }
        // An object id is ASCII letters, digits and '_': always a valid header value.
        Ok(HeaderValue::from_str(account).ok())
    }

    /// Fetches one page of `stream` within `range`, after `after` if given, and parses it.
    async fn fetch_list(
        &self,
        tenant: &TenantId,
        stream: StripeStream,
        limit: u32,
        after: Option<&ListCursor>,
        range: CreatedRange,
    ) -> Result<TypedPage<ListCursor>, ConnectorError> {
        let url = self.list_url(stream)?;
        let mut query: Vec<(&str, String)> = vec![("limit", limit.to_string())];
        if let Some(after) = after {
            query.push(("starting_after", after.last_id.clone()));
        }
        if let Some(gte) = range.gte {
            query.push(("created[gte]", gte.to_string()));
        }
        if let Some(lt) = range.lt {
            query.push(("created[lt]", lt.to_string()));
        }
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.authorization.clone());
        if let Some(account) = self.connected_account(tenant)? {
            headers.insert(STRIPE_ACCOUNT, account);
        }
        // A 2xx body that is not JSON at all: the client's reason, in Stripe's message shape.
        let described = describe_request(&Method::GET, &url);
        let unlabelled = RequestLabel {
            method_and_path: format!("GET {}", url.path()),
            request_id: None,
        };
        let response = self
            .client
            .get_json::<serde_json::Value, _>(url, &query, headers)
            .await
            .map_err(|error| not_json(&unlabelled, &described, error))?;
        let label = label(&response.request, &response.headers);
        parse_list(response.body, &label, stream, range, after)
    }
}

#[async_trait]
impl TypedConnector for StripeConnector {
    const KIND: &'static str = crate::KIND;
    const DESCRIPTION: &'static str = "Charges, customers and invoices from the Stripe list API.";
    type Settings = StripeSettings;
    type Cursor = ListCursor;

    fn from_settings(settings: StripeSettings) -> Result<Self, ConfigError> {
        Self::new(settings.validate()?)
    }

    fn streams(&self) -> Vec<StreamInfo> {
        StripeStream::ALL
            .into_iter()
            .map(|stream| StreamInfo {
                name: StreamName::new(stream.as_str()).expect("the stripe stream names are valid"),
                description: stream.description().to_owned(),
            })
            .collect()
    }

    /// Lists one object of every stream: proves the URL, the network, the key, and that the
    /// key (possibly a restricted one) may read each list this connector pulls.
    async fn check(&self, tenant: &TenantId) -> Result<(), ConnectorError> {
        for stream in StripeStream::ALL {
            self.fetch_list(tenant, stream, 1, None, CreatedRange::ALL)
                .await?;
        }
        Ok(())
    }

    async fn pull(
        &self,
        request: TypedPull<'_, ListCursor>,
    ) -> Result<TypedPage<ListCursor>, ConnectorError> {
        let stream: StripeStream =
            request
                .stream
                .as_str()
                .parse()
                .map_err(|error: crate::UnknownStream| ConnectorError::Config {
                    message: error.to_string(),
                })?;
        let range = CreatedRange::from_window(request.window);
        if let Some(after) = &request.cursor {
            if after.stream != stream || after.range != range {
                return Err(ConnectorError::CursorInvalid {
                    message: format!(
                        "the cursor was made for {} created {}, not for {stream} created {range}",
                        after.stream, after.range
                    ),
                });
            }
        }
        self.fetch_list(
            request.tenant,
            stream,
            self.settings.page_size,
            request.cursor.as_ref(),
            range,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_connector::ErrorClass;

    fn connector(settings: serde_json::Value) -> StripeConnector {
        StripeConnector::from_settings(serde_json::from_value(settings).unwrap()).unwrap()
    }

    #[test]
    fn list_urls_keep_the_base_path() {
        for (base, expected) in [
            (
                "https://api.stripe.com",
                "https://api.stripe.com/v1/charges",
            ),
            ("http://127.0.0.1:1/", "http://127.0.0.1:1/v1/charges"),
            (
                "https://proxy.example.com/stripe",
                "https://proxy.example.com/stripe/v1/charges",
            ),
        ] {
            let connector =
                connector(serde_json::json!({"api_key": "sk_test_x1", "base_url": base}));
            let url = connector.list_url(StripeStream::Charges).unwrap();
            assert_eq!(url.as_str(), expected);
        }
    }

    #[test]
    fn connect_mode_needs_an_account_id_as_tenant() {
        let plain = connector(serde_json::json!({"api_key": "sk_test_x1"}));
        let tenant = TenantId::new("acme").unwrap();
        assert_eq!(plain.connected_account(&tenant), Ok(None));

        let platform = connector(serde_json::json!({"api_key": "sk_test_x1", "connect": true}));
        let error = platform.connected_account(&tenant).unwrap_err();
        assert_eq!(error.class(), ErrorClass::Config);
        assert!(error.to_string().contains("acct_"), "{error}");
        let account = TenantId::new("acct_1Nv0FGQ9RKHgCVdK").unwrap();
        assert_eq!(
            platform.connected_account(&account).unwrap().unwrap(),
            "acct_1Nv0FGQ9RKHgCVdK"
        );
    }

    #[test]
    fn the_authorization_header_is_sensitive() {
        let connector = connector(serde_json::json!({"api_key": "sk_test_hidden1"}));
        assert!(connector.authorization.is_sensitive());
        assert!(!format!("{:?}", connector.authorization).contains("hidden1"));
        assert!(!format!("{connector:?}").contains("hidden1"));
    }
}
