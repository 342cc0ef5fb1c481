//! The typed way to write a connector: typed settings (with a JSON Schema derived from them),
//! a typed cursor, and an adapter to the object-safe [`Connector`] the worker holds.
//!
//! ```text
//! impl TypedConnector for MySource {
//!     const KIND: &'static str = "mysource";
//!     const DESCRIPTION: &'static str = "My source's REST API";
//!     type Settings = MySettings; // #[derive(Deserialize, JsonSchema)] #[serde(deny_unknown_fields)]
//!     type Cursor = MyCursor;     // #[derive(Serialize, Deserialize)]
//!     ...
//! }
//! // In the worker's registry list:
//! tributary_connector::typed::spec::<MySource>()
//! ```

use crate::{
    async_trait, ConfigError, Connector, ConnectorError, ConnectorKind, ConnectorSpec,
    CreatedWindow, Cursor, FetchedRecords, ManifestPage, Page, PullRequest, RateLimitHint,
    RatePolicy, ReconcileSupport, Record, StreamInfo, StreamName, TenantId, Window, WindowSummary,
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// A connector written against typed settings and a typed cursor.
#[async_trait]
pub trait TypedConnector: Sized + Send + Sync + std::fmt::Debug + 'static {
    /// The kind name, as used in jobs, settings and queue names.
    const KIND: &'static str;
    /// One line for humans.
    const DESCRIPTION: &'static str;
    /// The settings: deserialized (and schema-checked, reporting every bad field) at start-up.
    type Settings: DeserializeOwned + JsonSchema;
    /// Where a stream continues. Stored by the runtime as opaque text.
    type Cursor: Serialize + DeserializeOwned + Send + Sync;

    /// Builds the connector from checked settings (cross-field rules go here).
    fn from_settings(settings: Self::Settings) -> Result<Self, ConfigError>;

    /// The streams it can pull.
    fn streams(&self) -> Vec<StreamInfo>;

    /// Its request budget; see [`Connector::rate_policy`].
    fn rate_policy(&self) -> RatePolicy {
        RatePolicy::default()
    }

    /// Verifies the source is reachable with these settings.
    async fn check(&self, tenant: &TenantId) -> Result<(), ConnectorError>;

    /// Pulls one page.
    async fn pull(
        &self,
        request: TypedPull<'_, Self::Cursor>,
    ) -> Result<TypedPage<Self::Cursor>, ConnectorError>;

    /// See [`Connector::reconciliation`]; the default offers nothing.
    fn reconciliation(&self) -> ReconcileSupport {
        ReconcileSupport::default()
    }

    /// See [`Connector::window_summary`].
    async fn window_summary(
        &self,
        tenant: &TenantId,
        stream: &StreamName,
        window: &CreatedWindow,
    ) -> Result<WindowSummary, ConnectorError> {
        let _ = (tenant, stream, window);
        Err(crate::unsupported("window counts"))
    }

    /// See [`Connector::manifest`]. Manifest cursors are the source's own opaque text.
    async fn manifest(
        &self,
        tenant: &TenantId,
        stream: &StreamName,
        window: &CreatedWindow,
        cursor: Option<&Cursor>,
    ) -> Result<ManifestPage, ConnectorError> {
        let _ = (tenant, stream, window, cursor);
        Err(crate::unsupported("id manifests"))
    }

    /// See [`Connector::max_ids_per_fetch`].
    fn max_ids_per_fetch(&self) -> usize {
        50
    }

    /// See [`Connector::fetch_by_ids`].
    async fn fetch_by_ids(
        &self,
        tenant: &TenantId,
        stream: &StreamName,
        ids: &[String],
    ) -> Result<FetchedRecords, ConnectorError> {
        let _ = (tenant, stream, ids);
        Err(crate::unsupported("fetch by id"))
    }

    /// See [`Connector::fingerprint`].
    fn fingerprint(&self, stream: &StreamName, data: &serde_json::Value) -> Option<String> {
        let _ = (stream, data);
        None
    }
}

/// One typed page request.
#[derive(Debug)]
pub struct TypedPull<'a, C> {
    /// Whose data.
    pub tenant: &'a TenantId,
    /// Which stream.
    pub stream: &'a StreamName,
    /// Where to continue; `None` starts at the beginning of the window.
    pub cursor: Option<C>,
    /// Which slice of the source's timeline.
    pub window: &'a Window,
}

/// One typed page.
#[derive(Debug)]
pub struct TypedPage<C> {
    /// The records of this page.
    pub records: Vec<Record>,
    /// Where the next page starts; `None` when the window is exhausted.
    pub next_cursor: Option<C>,
    /// Rate-limit information from the response.
    pub rate_limit: Option<RateLimitHint>,
}

/// The registry entry of a typed connector.
pub fn spec<T: TypedConnector>() -> ConnectorSpec {
    ConnectorSpec {
        kind: T::KIND,
        description: T::DESCRIPTION,
        build: build::<T>,
    }
}

/// The JSON Schema of a typed connector's settings (for docs, UIs and `check-config`).
pub fn settings_schema<T: TypedConnector>() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(T::Settings)).expect("a schema serializes")
}

fn build<T: TypedConnector>(value: &serde_json::Value) -> Result<Arc<dyn Connector>, ConfigError> {
    let config_error = |message: String| ConfigError {
        kind: T::KIND.to_owned(),
        message,
    };
    let problems = crate::schema::problems(&settings_schema::<T>(), value);
    if !problems.is_empty() {
        return Err(config_error(problems.join("; ")));
    }
    let settings: T::Settings =
        serde_json::from_value(value.clone()).map_err(|error| config_error(error.to_string()))?;
    Ok(Arc::new(Typed {
        kind: ConnectorKind::new(T::KIND).map_err(|error| config_error(error.to_string()))?,
        inner: T::from_settings(settings)?,
    }))
}

/// Cursor text format: a version tag, then the cursor as JSON.
const CURSOR_PREFIX: &str = "t1:";

/// Adapts a [`TypedConnector`] to [`Connector`].
#[derive(Debug)]
struct Typed<T> {
    kind: ConnectorKind,
    inner: T,
}

#[async_trait]
impl<T: TypedConnector> Connector for Typed<T> {
    fn kind(&self) -> &ConnectorKind {
        &self.kind
    }

    fn streams(&self) -> Vec<StreamInfo> {
        self.inner.streams()
    }

    fn rate_policy(&self) -> RatePolicy {
        self.inner.rate_policy()
    }

    async fn check(&self, tenant: &TenantId) -> Result<(), ConnectorError> {
        self.inner.check(tenant).await
    }

    async fn pull(&self, request: PullRequest<'_>) -> Result<Page, ConnectorError> {
        let cursor = match request.cursor {
            None => None,
            Some(cursor) => Some(
                cursor
                    .as_str()
                    .strip_prefix(CURSOR_PREFIX)
                    .and_then(|json| serde_json::from_str::<T::Cursor>(json).ok())
                    .ok_or_else(|| ConnectorError::CursorInvalid {
                        message: format!("not a `{}` cursor this version understands", T::KIND),
                    })?,
            ),
        };
        let page = self
            .inner
            .pull(TypedPull {
                tenant: request.tenant,
                stream: request.stream,
                cursor,
                window: request.window,
            })
            .await?;
        let next_cursor = match page.next_cursor {
            None => None,
            Some(cursor) => Some(Cursor::new(format!(
                "{CURSOR_PREFIX}{}",
                serde_json::to_string(&cursor).map_err(|error| ConnectorError::Permanent {
                    status: None,
                    message: format!("cannot encode the cursor: {error}"),
                })?
            ))),
        };
        Ok(Page {
            records: page.records,
            next_cursor,
            rate_limit: page.rate_limit,
        })
    }

    fn reconciliation(&self) -> ReconcileSupport {
        self.inner.reconciliation()
    }

    async fn window_summary(
        &self,
        tenant: &TenantId,
        stream: &StreamName,
        window: &CreatedWindow,
    ) -> Result<WindowSummary, ConnectorError> {
        self.inner.window_summary(tenant, stream, window).await
    }

    async fn manifest(
        &self,
        tenant: &TenantId,
        stream: &StreamName,
        window: &CreatedWindow,
        cursor: Option<&Cursor>,
    ) -> Result<ManifestPage, ConnectorError> {
        self.inner.manifest(tenant, stream, window, cursor).await
    }

    fn max_ids_per_fetch(&self) -> usize {
        self.inner.max_ids_per_fetch()
    }

    async fn fetch_by_ids(
        &self,
        tenant: &TenantId,
        stream: &StreamName,
        ids: &[String],
    ) -> Result<FetchedRecords, ConnectorError> {
        self.inner.fetch_by_ids(tenant, stream, ids).await
    }

    fn fingerprint(&self, stream: &StreamName, data: &serde_json::Value) -> Option<String> {
        self.inner.fingerprint(stream, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// Counts from `start` to `end` in pages of `step`.
    #[derive(Debug)]
    struct Counter {
        settings: CounterSettings,
    }

    /// Settings of the counting source.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct CounterSettings {
        /// Last number (exclusive).
        end: u32,
        /// Numbers per page.
        #[schemars(range(min = 1, max = 100))]
        step: u32,
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct At {
        next: u32,
    }

    #[async_trait]
    impl TypedConnector for Counter {
        const KIND: &'static str = "counter";
        const DESCRIPTION: &'static str = "counts";
        type Settings = CounterSettings;
        type Cursor = At;

        fn from_settings(settings: CounterSettings) -> Result<Self, ConfigError> {
            Ok(Self { settings })
        }

        fn streams(&self) -> Vec<StreamInfo> {
            vec![]
        }

        async fn check(&self, _: &TenantId) -> Result<(), ConnectorError> {
            Ok(())
        }

        async fn pull(&self, request: TypedPull<'_, At>) -> Result<TypedPage<At>, ConnectorError> {
            let start = request.cursor.map_or(0, |at| at.next);
            let end = (start + self.settings.step).min(self.settings.end);
            Ok(TypedPage {
                records: (start..end)
                    .map(|n| Record {
                        external_id: n.to_string(),
                        updated_at: None,
                        created_at: None,
                        data: serde_json::json!({ "n": n }),
                    })
                    .collect(),
                next_cursor: (end < self.settings.end).then_some(At { next: end }),
                rate_limit: None,
            })
        }
    }

    #[test]
    fn every_bad_field_is_reported_with_its_path() {
        let error = (spec::<Counter>().build)(&serde_json::json!({"step": 0, "extra": true}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("$.end: missing (required)"), "{error}");
        assert!(
            error.contains("$.step: 0 is below the minimum 1"),
            "{error}"
        );
        assert!(error.contains("$.extra: unknown field"), "{error}");
    }

    #[tokio::test]
    async fn typed_cursors_round_trip_through_opaque_text() {
        let connector =
            (spec::<Counter>().build)(&serde_json::json!({"end": 5, "step": 2})).unwrap();
        let tenant = TenantId::new("t").unwrap();
        let stream = StreamName::new("numbers").unwrap();
        let window = Window::default();
        let mut cursor: Option<Cursor> = None;
        let mut seen = Vec::new();
        loop {
            let page = connector
                .pull(PullRequest {
                    tenant: &tenant,
                    stream: &stream,
                    cursor: cursor.as_ref(),
                    window: &window,
                })
                .await
                .unwrap();
            seen.extend(page.records.into_iter().map(|r| r.external_id));
            match page.next_cursor {
                Some(next) => {
                    assert!(next.as_str().starts_with("t1:"));
                    cursor = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(seen, ["0", "1", "2", "3", "4"]);
        let garbage = Cursor::new("v9:nonsense");
        let error = connector
            .pull(PullRequest {
                tenant: &tenant,
                stream: &stream,
                cursor: Some(&garbage),
                window: &window,
            })
            .await
            .unwrap_err();
        assert_eq!(error.class(), crate::ErrorClass::CursorInvalid);
    }
}
