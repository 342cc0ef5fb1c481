//! The connector against the mock Shopify on a loopback port: pagination, resumption, windows,
//! throttling, counts, and the classification of every failure the mock can inject.

use crate::mock::{spawn, MockConfig, MockFault, MockShopify};
use crate::{ShopifyConnector, ShopifyStream};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tributary_connector::typed::TypedConnector;
use tributary_connector::{
    Connector, ConnectorError, Cursor, ErrorClass, Page, PullRequest, Record, Registry, StreamName,
    TenantId, Window,
};

/// A mock shop and a connector pointed at it: as the worker holds it, and typed (for `count`).
struct TestSource {
    shop: MockShopify,
    connector: Arc<dyn Connector>,
    typed: ShopifyConnector,
}

/// The typed connector for JSON settings, as the registry builds it.
fn typed(settings: &serde_json::Value) -> ShopifyConnector {
    ShopifyConnector::from_settings(serde_json::from_value(settings.clone()).unwrap()).unwrap()
}

impl TestSource {
    async fn start(page_size: u32) -> Self {
        Self::start_with(MockConfig::default(), page_size, 10_000).await
    }

    async fn start_with(config: MockConfig, page_size: u32, timeout_ms: u64) -> Self {
        let shop = spawn(config).await.unwrap();
        let mut settings = shop.settings(page_size);
        settings["timeout_ms"] = timeout_ms.into();
        let connector = crate::build(&settings).unwrap();
        let typed = typed(&settings);
        Self {
            shop,
            connector,
            typed,
        }
    }

    async fn pull_page(
        &self,
        stream: &str,
        cursor: Option<&Cursor>,
        window: Window,
    ) -> Result<Page, ConnectorError> {
        let tenant = TenantId::new("acme").unwrap();
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
        stream: &str,
        mut cursor: Option<Cursor>,
        window: Window,
    ) -> (Vec<Record>, usize) {
        let mut records = Vec::new();
        let mut pages = 0;
        loop {
            let page = self
                .pull_page(stream, cursor.as_ref(), window)
                .await
                .unwrap();
            pages += 1;
            records.extend(page.records);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return (records, pages),
            }
            assert!(pages < 1_000, "pagination does not end");
        }
    }

    /// The error of the next orders page.
    async fn next_error(&self) -> ConnectorError {
        self.pull_page("orders", None, Window::default())
            .await
            .unwrap_err()
    }
}

fn ids(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|record| record.external_id.clone())
        .collect()
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

#[tokio::test]
async fn paginates_every_stream_to_the_end_with_exact_ids() {
    let source = TestSource::start(50).await;
    for stream in ShopifyStream::ALL {
        let (records, pages) = source
            .pull_to_end(stream.name(), None, Window::default())
            .await;
        let expected = source.shop.expected_ids(stream, &Window::default());
        assert_eq!(ids(&records), expected, "{stream:?}");
        assert_eq!(pages, expected.len().div_ceil(50), "{stream:?}");
        for record in &records {
            assert_eq!(record.data["id"], record.external_id.as_str());
            assert!(record.updated_at.is_some());
        }
    }
    let order = &source
        .pull_page("orders", None, Window::default())
        .await
        .unwrap()
        .records[0];
    assert!(order.external_id.starts_with("gid://shopify/Order/"));
    assert!(order.data["lineItems"]["edges"].is_array());
    // Every request carried the page size and asked in update order.
    let log = source.shop.request_log();
    assert!(log
        .iter()
        .all(|entry| entry.first == Some(50) && entry.status == 200));
    assert!(log
        .iter()
        .filter(|entry| entry.root.as_deref() == Some("orders"))
        .all(|entry| entry.search.as_deref() == Some("status:any")));
}

#[tokio::test]
async fn resumes_from_an_intermediate_cursor() {
    let source = TestSource::start(40).await;
    let window = Window::default();
    let first = source.pull_page("orders", None, window).await.unwrap();
    let second = source
        .pull_page("orders", first.next_cursor.as_ref(), window)
        .await
        .unwrap();
    let cursor = second.next_cursor.clone().unwrap();
    assert!(cursor.as_str().starts_with("t1:"), "{cursor:?}");

    // A fresh connector (another worker) against a restarted shop continues from the cursor.
    let restarted = spawn(MockConfig::default()).await.unwrap();
    let connector = crate::build(&restarted.settings(40)).unwrap();
    let typed = typed(&restarted.settings(40));
    let resumed = TestSource {
        shop: restarted,
        connector,
        typed,
    };
    let (rest, _) = resumed.pull_to_end("orders", Some(cursor), window).await;
    let mut all = ids(&first.records);
    all.extend(ids(&second.records));
    all.extend(ids(&rest));
    assert_eq!(
        all,
        source.shop.expected_ids(ShopifyStream::Orders, &window)
    );
}

#[tokio::test]
async fn windows_filter_on_updated_at() {
    let source = TestSource::start(25).await;
    let window = Window {
        from: Some(at("2024-01-01T05:00:00Z")),
        to: Some(at("2024-01-01T20:00:00Z")),
    };
    let (records, _) = source.pull_to_end("orders", None, window).await;
    let expected = source.shop.expected_ids(ShopifyStream::Orders, &window);
    assert!(
        !expected.is_empty() && expected.len() < 230,
        "{}",
        expected.len()
    );
    assert_eq!(ids(&records), expected);
    for record in &records {
        let updated_at = record.updated_at.unwrap();
        assert!(window.from.unwrap() <= updated_at && updated_at < window.to.unwrap());
    }
    let search = source.shop.request_log()[0].search.clone().unwrap();
    assert_eq!(
        search,
        "status:any updated_at:>='2024-01-01T05:00:00Z' updated_at:<'2024-01-01T20:00:00Z'"
    );

    let empty = Window {
        from: Some(at("2030-01-01T00:00:00Z")),
        to: None,
    };
    let page = source.pull_page("customers", None, empty).await.unwrap();
    assert!(page.records.is_empty() && page.next_cursor.is_none());
}

#[tokio::test]
async fn a_short_bucket_answers_throttled_in_a_200_and_becomes_rate_limited() {
    let config = MockConfig {
        restore_rate: 10.0,
        ..MockConfig::default()
    };
    let source = TestSource::start_with(config, 100, 10_000).await;
    // A page costs 100 + 2 = 102 points; leave 42, so 60 are missing: 6 s at 10 points/s.
    source.shop.set_available(42.0);
    let error = source.next_error().await;
    let ConnectorError::RateLimited {
        retry_after: Some(wait),
        message,
    } = &error
    else {
        panic!("expected RateLimited with a wait, got {error:?}");
    };
    assert!(
        (Duration::from_secs(5)..=Duration::from_secs(6)).contains(wait),
        "{wait:?}"
    );
    assert!(message.contains("THROTTLED"), "{message}");
    assert_eq!(source.shop.stats().throttled, 1);
    let log = source.shop.request_log();
    assert_eq!(log[0].status, 200);
    assert_eq!(log[0].error_code.as_deref(), Some("THROTTLED"));
}

#[tokio::test]
async fn the_cost_extension_becomes_a_rate_limit_hint() {
    let source = TestSource::start(20).await;
    let page = source
        .pull_page("products", None, Window::default())
        .await
        .unwrap();
    let hint = page.rate_limit.unwrap();
    assert_eq!(hint.limit, Some(1000));
    // The bucket started full and the page cost 20 + 2.
    let remaining = hint.remaining.unwrap();
    assert!((978..1000).contains(&remaining), "{remaining}");
    assert_eq!(hint.reset_after, None);

    // With the bucket nearly empty, the hint says how long until the next page fits.
    source.shop.set_available(30.0);
    let page = source
        .pull_page("products", None, Window::default())
        .await
        .unwrap();
    let hint = page.rate_limit.unwrap();
    assert!(hint.remaining.unwrap() < 22, "{hint:?}");
    let wait = hint.reset_after.unwrap();
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(440),
        "{wait:?}"
    );
}

#[tokio::test]
async fn graphql_errors_in_a_200_are_classified() {
    let source = TestSource::start(10).await;
    source.shop.script([
        MockFault::graphql_error("ACCESS_DENIED"),
        MockFault::graphql_error("INTERNAL_SERVER_ERROR"),
        MockFault::graphql_error("undefinedField"),
    ]);
    assert_eq!(source.next_error().await.class(), ErrorClass::Auth);
    assert_eq!(source.next_error().await.class(), ErrorClass::Transient);
    assert_eq!(source.next_error().await.class(), ErrorClass::Permanent);
    assert_eq!(source.shop.stats().scripted_faults, 3);
}

#[tokio::test]
async fn http_failures_are_classified() {
    let source = TestSource::start(10).await;
    source.shop.script([
        MockFault::status(503),
        MockFault::status(500),
        MockFault::status(402),
        MockFault::status(404),
        MockFault::Status {
            status: 429,
            retry_after: Some("2.0".to_owned()),
        },
        MockFault::Malformed,
    ]);
    let transient = source.next_error().await;
    assert_eq!(transient.class(), ErrorClass::Transient);
    assert_eq!(transient.http_status(), Some(503));
    assert_eq!(source.next_error().await.class(), ErrorClass::Transient);
    assert_eq!(source.next_error().await.class(), ErrorClass::Auth);
    assert_eq!(source.next_error().await.class(), ErrorClass::Config);
    assert!(matches!(
        source.next_error().await,
        ConnectorError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_secs(2)
    ));
    assert_eq!(source.next_error().await.class(), ErrorClass::Malformed);
    // The script is spent: the next page is served.
    assert!(source
        .pull_page("orders", None, Window::default())
        .await
        .is_ok());
}

#[tokio::test]
async fn a_hang_longer_than_the_timeout_is_transient() {
    let source = TestSource::start_with(MockConfig::default(), 10, 200).await;
    source
        .shop
        .script([MockFault::Hang(Duration::from_millis(2_000))]);
    let error = source.next_error().await;
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    assert!(error.to_string().contains("timed out"), "{error}");
}

#[tokio::test]
async fn a_bad_token_is_auth_and_never_shown() {
    let shop = spawn(MockConfig::default()).await.unwrap();
    let secret = "shpat_wrong_and_secret_0123456789";
    let mut settings = shop.settings(10);
    settings["access_token"] = secret.into();
    let connector = crate::build(&settings).unwrap();
    let tenant = TenantId::new("acme").unwrap();

    let error = connector.check(&tenant).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Auth);
    assert_eq!(error.http_status(), Some(401));
    let text = error.to_string();
    assert!(text.contains("Invalid API key or access token"), "{text}");
    assert!(!text.contains(secret), "{text}");
    assert!(!format!("{error:?}").contains(secret));
    let debug = format!("{connector:?}");
    assert!(!debug.contains(secret), "{debug}");
    assert!(debug.contains("REDACTED"), "{debug}");
    assert!(!debug.contains(shop.access_token()), "{debug}");
    assert_eq!(shop.stats().unauthorized, 1);
}

#[tokio::test]
async fn check_reads_the_shop_name() {
    let source = TestSource::start(10).await;
    let tenant = TenantId::new("acme").unwrap();
    source.connector.check(&tenant).await.unwrap();
    assert_eq!(source.shop.request_log()[0].root.as_deref(), Some("shop"));
}

#[tokio::test]
async fn counts_match_the_shop() {
    let source = TestSource::start(10).await;
    let tenant = TenantId::new("acme").unwrap();
    let window = Window {
        from: Some(at("2024-01-01T10:00:00Z")),
        to: Some(at("2024-01-02T00:00:00Z")),
    };
    for stream in ShopifyStream::ALL {
        for window in [Window::default(), window] {
            let name = StreamName::new(stream.name()).unwrap();
            let count = source.typed.count(&tenant, &name, &window).await.unwrap();
            assert_eq!(count, source.shop.count(stream, &window), "{stream:?}");
        }
    }
    assert_eq!(
        source
            .typed
            .count(
                &tenant,
                &StreamName::new("orders").unwrap(),
                &Window::default()
            )
            .await
            .unwrap(),
        230
    );
    assert_eq!(
        source.shop.request_log()[0].root.as_deref(),
        Some("ordersCount")
    );
}

#[tokio::test]
async fn unknown_streams_and_foreign_cursors_are_refused_without_a_request() {
    let source = TestSource::start(10).await;
    let error = source
        .pull_page("refunds", None, Window::default())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Config);
    for foreign in ["c1_demo", "v1:abc", "t1:garbage", r#"t1:{"after":""}"#] {
        let error = source
            .pull_page("orders", Some(&Cursor::new(foreign)), Window::default())
            .await
            .unwrap_err();
        assert_eq!(
            error.class(),
            ErrorClass::CursorInvalid,
            "{foreign}: {error}"
        );
    }
    assert_eq!(source.shop.stats().requests, 0);
}

#[test]
fn the_spec_builds_through_a_registry() {
    let registry = Registry::new(vec![crate::spec()]);
    let settings = serde_json::json!({"shop": "acme.myshopify.com", "access_token": "shpat_x"});
    let connector = registry.build("shopify", &settings).unwrap();
    assert_eq!(connector.kind().as_str(), "shopify");
    let names: Vec<String> = connector
        .streams()
        .into_iter()
        .map(|stream| stream.name.to_string())
        .collect();
    assert_eq!(names, ["orders", "products", "customers"]);
    let policy = connector.rate_policy();
    assert_eq!((policy.requests_per_second, policy.burst), (2.0, 4));
    let error = registry
        .build(
            "shopify",
            &serde_json::json!({"shop": "acme.myshopify.com"}),
        )
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("$.access_token: missing (required)"),
        "{error}"
    );
}
