//! The woocommerce connector against the mock store on a loopback port: pagination,
//! resumption, windows, records modified mid-run, and the classification of every failure.

use chrono::{DateTime, Duration as TimeDelta, Utc};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tributary_connector::{
    Connector, ConnectorError, Cursor, ErrorClass, Page, PullRequest, Record, StreamName, TenantId,
    Window,
};
use tributary_connector_woocommerce::mock::{spawn, Fault, MockConfig, MockWoo};
use tributary_connector_woocommerce::WooStream;

/// A mock store and a connector pointed at it.
struct TestStore {
    woo: MockWoo,
    connector: Arc<dyn Connector>,
}

impl TestStore {
    async fn start(per_page: u32) -> Self {
        let woo = spawn(MockConfig::default()).await.unwrap();
        let connector = tributary_connector_woocommerce::build(&woo.settings(per_page)).unwrap();
        Self { woo, connector }
    }

    async fn pull_page(
        &self,
        stream: WooStream,
        cursor: Option<&Cursor>,
        window: Window,
    ) -> Result<Page, ConnectorError> {
        let tenant = TenantId::new("acme").unwrap();
        let stream = StreamName::new(stream.as_str()).unwrap();
        self.connector
            .pull(PullRequest {
                tenant: &tenant,
                stream: &stream,
                cursor,
                window: &window,
            })
            .await
    }

    /// Pulls pages from `cursor` until the window is exhausted.
    async fn pull_to_end(
        &self,
        stream: WooStream,
        mut cursor: Option<Cursor>,
        window: Window,
    ) -> Vec<Record> {
        let mut records = Vec::new();
        for _ in 0..1_000 {
            let page = self
                .pull_page(stream, cursor.as_ref(), window)
                .await
                .unwrap();
            records.extend(page.records);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return records,
            }
        }
        panic!("pagination does not end");
    }
}

fn ids(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.external_id.clone()).collect()
}

fn assert_unique(records: &[Record]) {
    let unique: HashSet<_> = records.iter().map(|r| &r.external_id).collect();
    assert_eq!(
        unique.len(),
        records.len(),
        "duplicate ids: {:?}",
        ids(records)
    );
}

#[tokio::test]
async fn paginating_to_the_end_yields_exactly_the_expected_ids() {
    // 7 per page: pages end inside the products' bulk-edit groups of 12 equal seconds.
    let store = TestStore::start(7).await;
    for stream in WooStream::ALL {
        let records = store.pull_to_end(stream, None, Window::default()).await;
        assert_unique(&records);
        assert_eq!(
            ids(&records),
            store.woo.expected_ids(stream, &Window::default()),
            "{stream}"
        );
        assert_eq!(records.len(), store.woo.total(stream), "{stream}");
        for record in &records {
            assert_eq!(record.data["id"].to_string(), record.external_id);
            assert!(
                record.updated_at.is_some(),
                "{stream} {}",
                record.external_id
            );
        }
    }
    let orders = store
        .pull_to_end(WooStream::Orders, None, Window::default())
        .await;
    let order = &orders[0].data;
    assert!(order["line_items"]
        .as_array()
        .is_some_and(|items| !items.is_empty()));
    assert!(order["total"].is_string());
}

#[tokio::test]
async fn requests_use_gmt_modified_filters_and_stable_orderings() {
    let store = TestStore::start(100).await;
    let window = Window {
        from: Some(store.woo.reference_time() - TimeDelta::days(3)),
        to: None,
    };
    store
        .pull_page(WooStream::Orders, None, window)
        .await
        .unwrap();
    store
        .pull_page(WooStream::Customers, None, window)
        .await
        .unwrap();
    let log = store.woo.requests();
    let orders = &log[0].query;
    assert_eq!(log[0].path, "/wp-json/wc/v3/orders");
    assert_eq!(orders["dates_are_gmt"], "true");
    assert_eq!(orders["orderby"], "modified");
    assert_eq!(orders["order"], "asc");
    assert_eq!(orders["page"], "1");
    assert_eq!(orders["per_page"], "100");
    assert_eq!(orders["modified_after"], "2024-05-29T11:59:59");
    assert!(
        orders.contains_key("modified_before"),
        "the open end is closed"
    );
    let customers = &log[1].query;
    assert_eq!(customers["orderby"], "id");
    assert!(!customers.contains_key("modified_after"));
}

#[tokio::test]
async fn resuming_from_an_intermediate_cursor_gives_exactly_the_rest() {
    let store = TestStore::start(10).await;
    for stream in WooStream::ALL {
        let everything = store.pull_to_end(stream, None, Window::default()).await;
        let mut cursor = None;
        let mut head = Vec::new();
        for _ in 0..2 {
            let page = store
                .pull_page(stream, cursor.as_ref(), Window::default())
                .await
                .unwrap();
            head.extend(page.records);
            cursor = page.next_cursor;
        }
        let tail = store.pull_to_end(stream, cursor, Window::default()).await;
        head.extend(tail);
        assert_eq!(ids(&head), ids(&everything), "{stream}");
    }
}

#[tokio::test]
async fn windows_select_by_gmt_modification_time() {
    let store = TestStore::start(9).await;
    let reference = store.woo.reference_time();
    let window = Window {
        from: Some(reference - TimeDelta::days(25)),
        to: Some(reference - TimeDelta::days(5) + TimeDelta::milliseconds(500)),
    };
    for stream in WooStream::ALL {
        let expected = store.woo.expected_ids(stream, &window);
        assert!(
            !expected.is_empty() && expected.len() < store.woo.total(stream),
            "{stream}: {} of {}",
            expected.len(),
            store.woo.total(stream)
        );
        let records = store.pull_to_end(stream, None, window).await;
        assert_eq!(ids(&records), expected, "{stream}");
        for record in &records {
            let at = record.updated_at.unwrap();
            assert!(at >= window.from.unwrap() && at < window.to.unwrap());
        }
    }
    let cursor = store
        .pull_page(WooStream::Orders, None, window)
        .await
        .unwrap()
        .next_cursor
        .unwrap();
    let other_window = Window {
        from: window.from,
        to: Some(window.to.unwrap() + TimeDelta::seconds(1)),
    };
    let error = store
        .pull_page(WooStream::Orders, Some(&cursor), other_window)
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::CursorInvalid);
}

/// Records modified during a run leave the closed window; neither an already-served one nor an
/// unread one may make another record skip or repeat.
#[tokio::test]
async fn records_modified_during_pagination_neither_skip_nor_repeat_others() {
    for (stream, per_page) in [
        (WooStream::Orders, 10),
        (WooStream::Products, 5),
        (WooStream::Customers, 6),
    ] {
        let store = TestStore::start(per_page).await;
        let before = store.woo.expected_ids(stream, &Window::default());
        let first = store
            .pull_page(stream, None, Window::default())
            .await
            .unwrap();
        let second = store
            .pull_page(stream, first.next_cursor.as_ref(), Window::default())
            .await
            .unwrap();
        // After the window was closed at the first page: they leave it.
        let later: DateTime<Utc> = Utc::now() + TimeDelta::seconds(5);
        let served_early: u64 = first.records[1].external_id.parse().unwrap();
        let unread: u64 = before.last().unwrap().parse().unwrap();
        assert!(store.woo.touch(stream, served_early, later));
        assert!(store.woo.touch(stream, unread, later));
        let rest = store
            .pull_to_end(stream, second.next_cursor, Window::default())
            .await;
        let mut all = first.records;
        all.extend(second.records);
        all.extend(rest);
        assert_unique(&all);
        let expected: Vec<String> = before
            .iter()
            .filter(|id| **id != unread.to_string())
            .cloned()
            .collect();
        let mut got = ids(&all);
        let mut expected_sorted = expected.clone();
        got.sort();
        expected_sorted.sort();
        assert_eq!(got, expected_sorted, "{stream}: skipped or extra records");
    }
}

#[tokio::test]
async fn a_page_past_the_end_is_an_empty_last_page() {
    let store = TestStore::start(10).await;
    let cursor = Cursor::new(
        r#"t1:{"stream":"customers","from":null,"to":2000000000,"after":null,"page":99,"seen":[]}"#,
    );
    let page = store
        .pull_page(WooStream::Customers, Some(&cursor), Window::default())
        .await
        .unwrap();
    assert!(page.records.is_empty());
    assert_eq!(page.next_cursor, None);
}

#[tokio::test]
async fn failures_are_classified() {
    let store = TestStore::start(10).await;
    let cases: [(Fault, ErrorClass, &str); 7] = [
        (
            Fault::rate_limited(7),
            ErrorClass::RateLimited,
            "too_many_requests",
        ),
        (
            Fault::status(503),
            ErrorClass::Transient,
            "internal_server_error",
        ),
        (Fault::status(500), ErrorClass::Transient, "critical error"),
        (
            Fault::status(401),
            ErrorClass::Auth,
            "woocommerce_rest_cannot_view",
        ),
        (Fault::status(403), ErrorClass::Auth, "HTTP 403"),
        (
            Fault::status(400),
            ErrorClass::Permanent,
            "rest_invalid_param",
        ),
        (Fault::status(404), ErrorClass::Permanent, "rest_no_route"),
    ];
    for (fault, class, text) in cases {
        store.woo.script([fault.clone()]);
        let error = store
            .pull_page(WooStream::Orders, None, Window::default())
            .await
            .unwrap_err();
        assert_eq!(error.class(), class, "{fault:?}: {error}");
        assert!(error.to_string().contains(text), "{error}");
    }
    store.woo.script([Fault::rate_limited(7)]);
    let error = store
        .pull_page(WooStream::Orders, None, Window::default())
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        ConnectorError::RateLimited { retry_after: Some(delay), .. } if delay == Duration::from_secs(7)
    ));
    for fault in [Fault::Maintenance, Fault::Truncated] {
        store.woo.script([fault.clone()]);
        let error = store
            .pull_page(WooStream::Products, None, Window::default())
            .await
            .unwrap_err();
        assert_eq!(error.class(), ErrorClass::Malformed, "{fault:?}: {error}");
    }
    // After the scripted faults, the store answers normally again.
    assert!(store
        .pull_page(WooStream::Orders, None, Window::default())
        .await
        .is_ok());
}

#[tokio::test]
async fn hangs_and_unreachable_stores_are_transient() {
    let woo = spawn(MockConfig::default()).await.unwrap();
    let mut settings = woo.settings(10);
    settings["timeout_ms"] = 200.into();
    let connector = tributary_connector_woocommerce::build(&settings).unwrap();
    woo.script([Fault::Hang(Duration::from_secs(2))]);
    let tenant = TenantId::new("acme").unwrap();
    let error = connector.check(&tenant).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    assert!(error.to_string().contains("timed out"), "{error}");

    let url = woo.url();
    drop(woo);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut settings = settings.clone();
    settings["base_url"] = url.into();
    let connector = tributary_connector_woocommerce::build(&settings).unwrap();
    let error = connector.check(&tenant).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
}

#[tokio::test]
async fn bad_credentials_are_auth_errors_that_never_show_the_secret() {
    let woo = spawn(MockConfig::default()).await.unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let good = tributary_connector_woocommerce::build(&woo.settings(10)).unwrap();
    good.check(&tenant).await.unwrap();

    let mut settings = woo.settings(10);
    settings["consumer_secret"] = "cs_wrong_secret_value_0000".into();
    let bad = tributary_connector_woocommerce::build(&settings).unwrap();
    let error = bad.check(&tenant).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Auth, "{error}");
    assert!(
        error.to_string().contains("Consumer key is invalid"),
        "{error}"
    );
    let stream = StreamName::new("orders").unwrap();
    let error = bad
        .pull(PullRequest {
            tenant: &tenant,
            stream: &stream,
            cursor: None,
            window: &Window::default(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Auth);
    let shown = format!("{error} {error:?} {bad:?} {good:?}");
    for secret in [
        "wrong_secret_value_0000",
        &woo.consumer_secret()[3..],
        &woo.consumer_key()[3..],
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[tokio::test]
async fn unknown_streams_are_config_errors_and_streams_are_listed() {
    let store = TestStore::start(10).await;
    let names: Vec<String> = store
        .connector
        .streams()
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["orders", "products", "customers"]);
    assert_eq!(store.connector.kind().as_str(), "woocommerce");
    assert_eq!(store.connector.rate_policy().burst, 10);
    let tenant = TenantId::new("acme").unwrap();
    let stream = StreamName::new("coupons").unwrap();
    let error = store
        .connector
        .pull(PullRequest {
            tenant: &tenant,
            stream: &stream,
            cursor: None,
            window: &Window::default(),
        })
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Config);
}

#[tokio::test]
async fn foreign_or_garbage_cursors_are_cursor_invalid() {
    let store = TestStore::start(10).await;
    let orders = store
        .pull_page(WooStream::Orders, None, Window::default())
        .await
        .unwrap()
        .next_cursor
        .unwrap();
    assert!(orders.as_str().starts_with("t1:{"), "{orders:?}");
    for (stream, cursor) in [
        // Another stream's cursor.
        (WooStream::Products, orders.clone()),
        // The pre-typed layout, other versions and garbage.
        (WooStream::Orders, Cursor::new("v1/orders/..2000000000//1/")),
        (WooStream::Orders, Cursor::new("t2:{}")),
        (WooStream::Orders, Cursor::new("t1:{\"page\":1}")),
        (WooStream::Orders, Cursor::new("3")),
    ] {
        let error = store
            .pull_page(stream, Some(&cursor), Window::default())
            .await
            .unwrap_err();
        assert_eq!(error.class(), ErrorClass::CursorInvalid, "{cursor:?}");
    }
}
