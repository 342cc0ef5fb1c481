//! The demo connector against a real demo shop on a loopback port: what is specific to the
//! demo shop (page counts, rate-limit hints, windows and epochs, locked tenants, expired
//! cursors, timeouts, the registry entry). The generic contract (resumption, idempotence,
//! 429/5xx/401/403/malformed classes, empty and huge sources) is `tests/conformance.rs`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tributary_connector::{
    Connector, ConnectorError, Cursor, ErrorClass, Page, PullRequest, Record, Registry, StreamName,
    TenantId, Window,
};
use tributary_demo_shop::{spawn, ScriptedFault, ShopConfig, ShopHandle, Stream, UpdatedRange};

/// A shop and a connector pointed at it.
struct TestSource {
    shop: ShopHandle,
    connector: Arc<dyn Connector>,
}

impl TestSource {
    async fn start(page_size: u32) -> Self {
        Self::start_with(page_size, 10_000).await
    }

    async fn start_with(page_size: u32, timeout_ms: u64) -> Self {
        let shop = spawn(ShopConfig::with_volume(1_234, 300, 80))
            .await
            .unwrap();
        let settings = serde_json::json!({
            "base_url": shop.url(),
            "page_size": page_size,
            "timeout_ms": timeout_ms,
        });
        let connector = tributary_connector_demo::build(&settings).unwrap();
        Self { shop, connector }
    }

    async fn pull_page(
        &self,
        tenant: &str,
        stream: &str,
        cursor: Option<&Cursor>,
        window: Window,
    ) -> Result<Page, ConnectorError> {
        let tenant = TenantId::new(tenant).unwrap();
        let stream = StreamName::new(stream).unwrap();
        self.connector
            .pull(PullRequest {
                tenant: &tenant,
                stream: &stream,
                cursor,
                window: &window,
            })
            .await
    }

    /// Pulls pages from `cursor` until the window is exhausted; returns records and page count.
    async fn pull_to_end(
        &self,
        tenant: &str,
        stream: &str,
        mut cursor: Option<Cursor>,
        window: Window,
    ) -> (Vec<Record>, usize) {
        let mut records = Vec::new();
        let mut pages = 0;
        loop {
            let page = self
                .pull_page(tenant, stream, cursor.as_ref(), window)
                .await
                .unwrap();
            pages += 1;
            records.extend(page.records);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return (records, pages),
            }
            assert!(pages < 10_000, "pagination does not end");
        }
    }
}

fn ids(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|record| record.external_id.clone())
        .collect()
}

fn range(window: Window) -> UpdatedRange {
    UpdatedRange {
        since: window.from,
        before: window.to,
    }
}

#[tokio::test]
async fn paginating_to_the_end_yields_every_record_exactly_once() {
    let source = TestSource::start(100).await;
    for (stream, kind) in [
        ("orders", Stream::Orders),
        ("customers", Stream::Customers),
        ("products", Stream::Products),
    ] {
        let (records, pages) = source
            .pull_to_end("acme", stream, None, Window::default())
            .await;
        let total = source.shop.total("acme", kind);
        assert_eq!(records.len() as u64, total, "{stream}");
        assert_eq!(
            pages as u64,
            total.div_ceil(100),
            "{stream}: no empty trailing page"
        );
        let unique: HashSet<_> = records.iter().map(|r| &r.external_id).collect();
        assert_eq!(unique.len(), records.len(), "{stream}: duplicate ids");
        assert!(records.iter().all(|r| r.updated_at.is_some()));
        assert!(records
            .iter()
            .all(|r| r.data["id"] == r.external_id.as_str()));
    }
}

#[tokio::test]
async fn pages_carry_the_rate_limit_hint() {
    let source = TestSource::start(10).await;
    let first = source
        .pull_page("acme", "orders", None, Window::default())
        .await
        .unwrap();
    let second = source
        .pull_page(
            "acme",
            "orders",
            first.next_cursor.as_ref(),
            Window::default(),
        )
        .await
        .unwrap();
    let (first, second) = (first.rate_limit.unwrap(), second.rate_limit.unwrap());
    assert_eq!(first.limit, Some(6_000));
    assert_eq!(first.remaining, Some(5_999));
    assert_eq!(second.remaining, Some(5_998));
    assert!(first.reset_after.unwrap() <= Duration::from_secs(60));
}

#[tokio::test]
async fn windows_select_exactly_the_records_updated_inside_them() {
    let source = TestSource::start(37).await;
    let reference = source.shop.reference_time();
    let window = Window {
        from: Some(reference - chrono::Duration::hours(10)),
        to: Some(reference - chrono::Duration::hours(4)),
    };
    let (records, _) = source.pull_to_end("acme", "orders", None, window).await;
    assert!(!records.is_empty());
    for record in &records {
        let at = record.updated_at.unwrap();
        assert!(
            window.from.unwrap() <= at && at < window.to.unwrap(),
            "{at}"
        );
    }
    assert_eq!(
        ids(&records),
        source
            .shop
            .shop()
            .external_ids("acme", Stream::Orders, range(window))
    );

    // A window starting at the reference time holds exactly what later epochs rewrote.
    let since_reference = Window {
        from: Some(reference),
        to: None,
    };
    let (before_epoch, _) = source
        .pull_to_end("acme", "orders", None, since_reference)
        .await;
    assert!(before_epoch.is_empty());
    source.shop.bump_epoch();
    let (changed, _) = source
        .pull_to_end("acme", "orders", None, since_reference)
        .await;
    assert_eq!(
        changed.len() as u64,
        source
            .shop
            .count("acme", Stream::Orders, range(since_reference))
    );
    assert!(
        (60..=190).contains(&changed.len()),
        "{} of 1234 changed",
        changed.len()
    );
}

#[tokio::test]
async fn a_locked_tenant_is_an_auth_error() {
    let source = TestSource::start(100).await;
    let error = source
        .pull_page("locked-acme", "orders", None, Window::default())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Auth, "{error}");
    assert_eq!(error.http_status(), Some(401));
    let tenant = TenantId::new("locked-acme").unwrap();
    let error = source.connector.check(&tenant).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Auth);
    let tenant = TenantId::new("acme").unwrap();
    source.connector.check(&tenant).await.unwrap();
}

#[tokio::test]
async fn a_truncated_body_is_malformed_and_names_the_request() {
    let source = TestSource::start(100).await;
    source.shop.script([ScriptedFault::Malformed]);
    let error = source
        .pull_page("acme", "products", None, Window::default())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Malformed, "{error}");
    assert!(
        error
            .to_string()
            .contains("/v1/tenants/acme/products: the body ends early"),
        "{error}"
    );
}

#[tokio::test]
async fn foreign_or_garbage_cursors_are_cursor_invalid() {
    let source = TestSource::start(100).await;
    let garbage = Cursor::new("c1_not-a-real-cursor");
    let error = source
        .pull_page("acme", "orders", Some(&garbage), Window::default())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::CursorInvalid, "{error}");

    let page = source
        .pull_page("acme", "orders", None, Window::default())
        .await
        .unwrap();
    let orders_cursor = page.next_cursor.unwrap();
    // The typed layer's wrapping of the paginator's cursor; the bare paginator cursor is foreign.
    let bare = orders_cursor.as_str().strip_prefix("t1:").unwrap();
    let bare: Cursor = serde_json::from_str(bare).unwrap();
    let error = source
        .pull_page("acme", "orders", Some(&bare), Window::default())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::CursorInvalid, "{error}");
    let error = source
        .pull_page("acme", "customers", Some(&orders_cursor), Window::default())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::CursorInvalid, "{error}");
}

#[tokio::test]
async fn an_unknown_stream_is_a_config_error_without_a_request() {
    let source = TestSource::start(100).await;
    let error = source
        .pull_page("acme", "invoices", None, Window::default())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Config, "{error}");
    assert!(error.to_string().contains("invoices"));
    assert_eq!(source.shop.stats().requests_total, 0);
}

#[tokio::test]
async fn a_hang_past_the_timeout_is_transient() {
    let source = TestSource::start_with(100, 300).await;
    source
        .shop
        .script([ScriptedFault::hang(Duration::from_secs(30))]);
    let error = source
        .pull_page("acme", "orders", None, Window::default())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    assert!(error.to_string().contains("timed out"), "{error}");
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    // Bind a port, then free it: nothing listens there any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let connector = tributary_connector_demo::build(&serde_json::json!({"base_url": url})).unwrap();
    let error = connector
        .check(&TenantId::new("acme").unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    assert!(error.to_string().contains("could not connect"), "{error}");
}

#[tokio::test]
async fn the_registry_builds_it_by_kind() {
    let registry = Registry::new(vec![tributary_connector_demo::spec()]);
    let error = registry
        .build("demo", &serde_json::json!({"base_url": "gopher://x"}))
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("$.base_url: must be an http or https URL"),
        "{error}"
    );
    let connector = registry
        .build(
            "demo",
            &serde_json::json!({"base_url": "http://user:s3cret@127.0.0.1:1"}),
        )
        .unwrap();
    assert_eq!(connector.kind().as_str(), "demo");
    let streams: Vec<_> = connector
        .streams()
        .into_iter()
        .map(|stream| stream.name.to_string())
        .collect();
    assert_eq!(streams, ["orders", "customers", "products"]);
    let debug = format!("{connector:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
}
