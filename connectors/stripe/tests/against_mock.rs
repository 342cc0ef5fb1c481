//! The stripe connector against the mock Stripe on a loopback port: pagination, resumption,
//! created windows, idempotent re-pulls, the classification of every failure the mock can
//! script, and that the API key never leaks into `Debug` output or error messages.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tributary_connector::{
    Connector, ConnectorError, Cursor, ErrorClass, Page, PullRequest, Record, Registry, StreamName,
    TenantId, Window,
};
use tributary_connector_stripe::mock::{spawn, MockAccount, MockConfig, MockFault, MockStripe};
use tributary_connector_stripe::{CreatedRange, StripeStream};

/// A distinctive key, so a leak is easy to spot in any text.
const KEY: &str = "sk_test_TributaryS3cretKey42";

/// A mock Stripe and a connector pointed at it.
struct TestSource {
    stripe: MockStripe,
    connector: Arc<dyn Connector>,
}

impl TestSource {
    async fn start(page_size: u32) -> Self {
        Self::start_with(
            MockConfig::with_volume(230, 45, 95),
            page_size,
            serde_json::json!({}),
        )
        .await
    }

    async fn start_with(config: MockConfig, page_size: u32, extra: serde_json::Value) -> Self {
        let stripe = spawn(MockConfig {
            api_key: KEY.to_owned(),
            ..config
        })
        .await
        .unwrap();
        let mut settings = stripe.settings(page_size);
        for (name, value) in extra.as_object().unwrap() {
            settings[name] = value.clone();
        }
        let connector = tributary_connector_stripe::build(&settings).unwrap();
        Self { stripe, connector }
    }

    async fn pull_page(
        &self,
        stream: &str,
        cursor: Option<&Cursor>,
        window: Window,
    ) -> Result<Page, ConnectorError> {
        pull(&self.connector, "acme", stream, cursor, window).await
    }

    /// A pull that must fail; checks that the error does not carry the key.
    async fn pull_error(&self, stream: &str, cursor: Option<&Cursor>) -> ConnectorError {
        let error = self
            .pull_page(stream, cursor, Window::default())
            .await
            .unwrap_err();
        assert_no_key(&error);
        error
    }

    /// Pulls pages from `cursor` until the window is exhausted; returns records and the cursors
    /// handed out along the way.
    async fn pull_to_end(
        &self,
        stream: &str,
        mut cursor: Option<Cursor>,
        window: Window,
    ) -> (Vec<Record>, Vec<Cursor>) {
        let mut records = Vec::new();
        let mut cursors = Vec::new();
        loop {
            let page = self
                .pull_page(stream, cursor.as_ref(), window)
                .await
                .unwrap();
            records.extend(page.records);
            match page.next_cursor {
                Some(next) => {
                    cursors.push(next.clone());
                    cursor = Some(next);
                }
                None => return (records, cursors),
            }
            assert!(cursors.len() < 10_000, "pagination does not end");
        }
    }

    fn window_days_ago(&self, from_days: i64, to_days: i64) -> Window {
        let reference = self.stripe.reference_time();
        Window {
            from: Some(reference - chrono::Duration::days(from_days)),
            to: Some(reference - chrono::Duration::days(to_days)),
        }
    }
}

async fn pull(
    connector: &Arc<dyn Connector>,
    tenant: &str,
    stream: &str,
    cursor: Option<&Cursor>,
    window: Window,
) -> Result<Page, ConnectorError> {
    let tenant = TenantId::new(tenant).unwrap();
    let stream = StreamName::new(stream).unwrap();
    connector
        .pull(PullRequest {
            tenant: &tenant,
            stream: &stream,
            cursor,
            window: &window,
        })
        .await
}

fn assert_no_key(error: &ConnectorError) {
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains(KEY), "the API key leaked: {text}");
        assert!(!text.contains("S3cretKey42"), "the API key leaked: {text}");
    }
}

fn ids(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.external_id.clone()).collect()
}

fn retry_after(error: &ConnectorError) -> Option<Duration> {
    match error {
        ConnectorError::RateLimited { retry_after, .. } => *retry_after,
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn paginating_to_the_end_yields_exactly_the_accounts_ids_once() {
    let source = TestSource::start(25).await;
    for stream in StripeStream::ALL {
        let (records, cursors) = source
            .pull_to_end(stream.as_str(), None, Window::default())
            .await;
        let expected = source.stripe.ids(stream, CreatedRange::ALL);
        assert_eq!(
            ids(&records),
            expected,
            "{stream}: exact ids in Stripe's order"
        );
        let unique: HashSet<_> = records.iter().map(|r| &r.external_id).collect();
        assert_eq!(unique.len(), records.len(), "{stream}: duplicate ids");
        assert_eq!(
            cursors.len(),
            expected.len().div_ceil(25) - 1,
            "{stream}: has_more is exact, so no empty trailing page"
        );
        for record in &records {
            assert_eq!(record.data["id"], record.external_id.as_str());
            assert_eq!(record.data["object"], stream.object_name());
            let created = record.data["created"].as_i64().unwrap();
            assert_eq!(record.updated_at.unwrap().timestamp(), created);
        }
    }
    let stats = source.stripe.stats();
    assert_eq!(stats.records.charges, 230);
    assert_eq!(stats.records.customers, 45);
    assert_eq!(stats.records.invoices, 95);
    assert_eq!(stats.faults, 0);
}

#[tokio::test]
async fn requests_carry_stripes_parameters_and_the_bearer_key_only_in_a_header() {
    let source = TestSource::start(40).await;
    let window = source.window_days_ago(30, 10);
    let first = source.pull_page("charges", None, window).await.unwrap();
    let cursor = first.next_cursor.unwrap();
    source
        .pull_page("charges", Some(&cursor), window)
        .await
        .unwrap();
    let log = source.stripe.request_log();
    assert_eq!(log.len(), 2);
    let range = CreatedRange::from_window(&window);
    let (gte, lt) = (range.gte.unwrap(), range.lt.unwrap());
    assert_eq!(
        log[0].path,
        format!("/v1/charges?limit=40&created%5Bgte%5D={gte}&created%5Blt%5D={lt}")
    );
    let last_id = &first.records.last().unwrap().external_id;
    assert_eq!(
        log[1].path,
        format!("/v1/charges?limit=40&starting_after={last_id}&created%5Bgte%5D={gte}&created%5Blt%5D={lt}")
    );
    assert!(log.iter().all(|entry| entry.status == 200
        && entry.request_id.starts_with("req_")
        && entry.stripe_account.is_none()
        && entry.stripe_version.is_none()
        && !entry.path.contains(KEY)));
    assert_ne!(log[0].request_id, log[1].request_id);
}

#[tokio::test]
async fn resuming_from_any_intermediate_cursor_gives_exactly_the_rest() {
    let source = TestSource::start(20).await;
    let (everything, cursors) = source
        .pull_to_end("invoices", None, Window::default())
        .await;
    assert!(cursors.len() >= 4);
    for (pages_done, cursor) in cursors.iter().enumerate() {
        // A fresh connector: all the state a resume needs is in the cursor.
        let settings = serde_json::json!({
            "api_key": KEY, "base_url": source.stripe.url(), "page_size": 20,
        });
        let resumed = TestSource {
            stripe: spawn(MockConfig::empty()).await.unwrap(),
            connector: tributary_connector_stripe::build(&settings).unwrap(),
        };
        let mut rest = Vec::new();
        let mut next = Some(cursor.clone());
        while let Some(cursor) = next {
            let page = pull(
                &resumed.connector,
                "acme",
                "invoices",
                Some(&cursor),
                Window::default(),
            )
            .await
            .unwrap();
            rest.extend(page.records);
            next = page.next_cursor;
        }
        assert_eq!(
            ids(&rest),
            ids(&everything[(pages_done + 1) * 20..]),
            "resuming after page {}",
            pages_done + 1
        );
    }
}

#[tokio::test]
async fn created_windows_select_exactly_the_objects_created_inside_them() {
    let source = TestSource::start(15).await;
    let window = source.window_days_ago(40, 12);
    let (records, _) = source.pull_to_end("charges", None, window).await;
    assert_eq!(
        ids(&records),
        source.stripe.expected_ids(StripeStream::Charges, &window)
    );
    let whole_seconds = CreatedRange {
        gte: Some(window.from.unwrap().timestamp()),
        lt: Some(window.to.unwrap().timestamp()),
    };
    assert_eq!(
        ids(&records),
        source.stripe.ids(StripeStream::Charges, whole_seconds)
    );
    assert!(
        records.len() > 30,
        "{} charges in 28 of 90 days",
        records.len()
    );
    assert!(records.len() < 230);
    for record in &records {
        let at = record.updated_at.unwrap();
        assert!(
            window.from.unwrap() <= at && at < window.to.unwrap(),
            "{at}"
        );
    }

    // Sub-second bounds: `created` is whole seconds, so [t + 0.5, u + 0.5) is [t + 1, u + 1).
    let boundary = records[3].updated_at.unwrap();
    let half = chrono::Duration::milliseconds(500);
    let shifted = Window {
        from: Some(boundary - half),
        to: Some(window.to.unwrap() + half),
    };
    let (shifted_records, _) = source.pull_to_end("charges", None, shifted).await;
    assert_eq!(ids(&shifted_records), ids(&records[..4]));

    // Customers were all created long before these windows.
    let (customers, _) = source.pull_to_end("customers", None, window).await;
    assert!(customers.is_empty());
}

#[tokio::test]
async fn re_pulling_a_window_is_idempotent() {
    let source = TestSource::start(30).await;
    let window = source.window_days_ago(60, 0);
    let (first, first_cursors) = source
        .pull_to_end("customers", None, Window::default())
        .await;
    let (second, second_cursors) = source
        .pull_to_end("customers", None, Window::default())
        .await;
    assert_eq!(first, second);
    assert_eq!(first_cursors, second_cursors);
    let (first, _) = source.pull_to_end("charges", None, window).await;
    let (second, _) = source.pull_to_end("charges", None, window).await;
    assert_eq!(first, second);
}

#[tokio::test]
async fn changes_to_objects_show_on_re_pull_and_new_objects_do_not_disturb_a_pull() {
    let source = TestSource::start(10).await;
    let first = source
        .pull_page("charges", None, Window::default())
        .await
        .unwrap();
    // A charge created while we paginate lands at the head of the list: this pass (which is
    // past the head) does not see it, and sees nothing twice.
    let reference = source.stripe.reference_time().timestamp();
    let new_id = source.stripe.add(StripeStream::Charges, reference + 5);
    let (rest, _) = source
        .pull_to_end("charges", first.next_cursor, Window::default())
        .await;
    let mut seen = ids(&first.records);
    seen.extend(ids(&rest));
    assert!(!seen.contains(&new_id));
    let mut expected = source.stripe.ids(StripeStream::Charges, CreatedRange::ALL);
    expected.retain(|id| *id != new_id);
    assert_eq!(seen, expected);

    // A refund changes the object but not its id or created time.
    let refunded = rest[3].external_id.clone();
    source
        .stripe
        .update(StripeStream::Charges, &refunded, |charge| {
            charge["refunded"] = true.into();
            charge["amount_refunded"] = charge["amount"].clone();
        })
        .unwrap();
    let (again, _) = source.pull_to_end("charges", None, Window::default()).await;
    assert_eq!(again[0].external_id, new_id);
    let record = again.iter().find(|r| r.external_id == refunded).unwrap();
    assert_eq!(record.data["refunded"], true);
    assert_eq!(record.updated_at, rest[3].updated_at);
}

#[tokio::test]
async fn a_429_is_rate_limited_with_the_retry_after_hint() {
    let source = TestSource::start(100).await;
    source.stripe.script([
        MockFault::rate_limited(Some(7)),
        MockFault::rate_limited(None),
    ]);
    let error = source.pull_error("charges", None).await;
    assert_eq!(retry_after(&error), Some(Duration::from_secs(7)));
    assert!(
        error.to_string().contains("rate_limit_error/rate_limit"),
        "{error}"
    );
    let error = source.pull_error("charges", None).await;
    assert_eq!(retry_after(&error), None);
    // Each fault was for one request only.
    assert!(source
        .pull_page("charges", None, Window::default())
        .await
        .is_ok());
    assert_eq!(source.stripe.scripted_remaining(), 0);
}

#[tokio::test]
async fn server_errors_follow_stripe_should_retry() {
    let source = TestSource::start(100).await;
    source.stripe.script([
        MockFault::status(500),
        MockFault::status(503),
        MockFault::status(500).with_should_retry(false),
        MockFault::status(409).with_should_retry(true),
        MockFault::status(409),
        MockFault::status(400).with_should_retry(true),
        MockFault::status(400),
        MockFault::status(404),
        MockFault::status(402),
    ]);
    for (status, class) in [
        (500, ErrorClass::Transient),
        (503, ErrorClass::Transient),
        (500, ErrorClass::Permanent),
        (409, ErrorClass::Transient),
        (409, ErrorClass::Transient),
        (400, ErrorClass::Transient),
        (400, ErrorClass::Permanent),
        (404, ErrorClass::Permanent),
        (402, ErrorClass::Permanent),
    ] {
        let error = source.pull_error("invoices", None).await;
        assert_eq!(error.class(), class, "{status}: {error}");
        assert_eq!(error.http_status(), Some(status));
        let text = error.to_string();
        assert!(text.contains("GET /v1/invoices (request req_"), "{text}");
    }
    let error = {
        source.stripe.script([MockFault::status(500)]);
        source.pull_error("invoices", None).await
    };
    assert!(
        error
            .to_string()
            .contains("api_error: Something went wrong on Stripe's end."),
        "{error}"
    );
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error_for_pull_and_check() {
    let source = TestSource::start(100).await;
    let settings = serde_json::json!({
        "api_key": "sk_test_WrongKeyWrongKey99",
        "base_url": source.stripe.url(),
    });
    let connector = tributary_connector_stripe::build(&settings).unwrap();
    let error = pull(&connector, "acme", "charges", None, Window::default())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Auth, "{error}");
    assert_eq!(error.http_status(), Some(401));
    let text = error.to_string();
    assert!(
        text.contains("authentication_error: Invalid API Key provided: sk_test_****ey99"),
        "{text}"
    );
    assert!(!text.contains("WrongKeyWrongKey99"), "{text}");

    let tenant = TenantId::new("acme").unwrap();
    let error = connector.check(&tenant).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Auth);
    source.connector.check(&tenant).await.unwrap();
    // check lists one object of each stream.
    let log = source.stripe.request_log();
    let checked: Vec<_> = log.iter().rev().take(3).map(|e| e.path.clone()).collect();
    assert_eq!(
        checked,
        [
            "/v1/invoices?limit=1",
            "/v1/customers?limit=1",
            "/v1/charges?limit=1"
        ]
    );

    source.stripe.script([MockFault::status(403)]);
    let error = source.pull_error("customers", None).await;
    assert_eq!(error.class(), ErrorClass::Auth);
}

#[tokio::test]
async fn broken_bodies_are_malformed_and_proxy_pages_keep_their_status_class() {
    let source = TestSource::start(100).await;
    source.stripe.script([
        MockFault::Malformed,
        MockFault::Raw {
            status: 200,
            body: r#"{"object":"charge","id":"ch_1"}"#.into(),
        },
        MockFault::Raw {
            status: 200,
            body: r#"{"object":"list","has_more":false,"data":[{"id":"ch_1","created":"today"}]}"#
                .into(),
        },
        MockFault::Raw {
            status: 502,
            body: "<html><h1>502 Bad Gateway</h1></html>".into(),
        },
    ]);
    for expected in [
        "not JSON",
        "got `charge`",
        "`created` is not a unix timestamp",
    ] {
        let error = source.pull_error("charges", None).await;
        assert_eq!(error.class(), ErrorClass::Malformed, "{error}");
        assert!(error.to_string().contains(expected), "{error}");
        assert!(error.to_string().contains("GET /v1/charges"), "{error}");
    }
    let error = source.pull_error("charges", None).await;
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    assert!(error.to_string().contains("502 Bad Gateway"), "{error}");
}

#[tokio::test]
async fn a_list_that_does_not_advance_is_a_pagination_loop() {
    let source = TestSource::start(2).await;
    let first = source
        .pull_page("customers", None, Window::default())
        .await
        .unwrap();
    let cursor = first.next_cursor.unwrap();
    let last = first.records.last().unwrap();
    let body = serde_json::json!({
        "object": "list", "url": "/v1/customers", "has_more": true,
        "data": [first.records[0].data, last.data],
    });
    source.stripe.script([MockFault::Raw {
        status: 200,
        body: body.to_string(),
    }]);
    let error = source.pull_error("customers", Some(&cursor)).await;
    assert_eq!(error.class(), ErrorClass::Permanent, "{error}");
    assert!(error.to_string().contains("pagination loop"), "{error}");
}

#[tokio::test]
async fn an_empty_account_has_no_records_and_no_cursor() {
    let source = TestSource::start_with(MockConfig::empty(), 100, serde_json::json!({})).await;
    for stream in StripeStream::ALL {
        let page = source
            .pull_page(stream.as_str(), None, Window::default())
            .await
            .unwrap();
        assert!(page.records.is_empty(), "{stream}");
        assert_eq!(page.next_cursor, None, "{stream}");
    }
    source
        .connector
        .check(&TenantId::new("acme").unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn foreign_damaged_or_orphaned_cursors_are_cursor_invalid() {
    let source = TestSource::start(10).await;
    let first = source
        .pull_page("customers", None, Window::default())
        .await
        .unwrap();
    let cursor = first.next_cursor.unwrap();
    let requests = source.stripe.stats().requests;

    // Another stream's or another window's cursor, or garbage: refused without a request.
    let error = source.pull_error("charges", Some(&cursor)).await;
    assert_eq!(error.class(), ErrorClass::CursorInvalid, "{error}");
    assert!(
        error.to_string().contains("made for customers created .."),
        "{error}"
    );
    let error = source
        .pull_page("customers", Some(&cursor), source.window_days_ago(500, 0))
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::CursorInvalid, "{error}");
    for garbage in [
        "",
        "cus_123",
        "v9/customers/cus_1/..",
        "v1/customers/cus_1/x",
    ] {
        let error = source
            .pull_error("customers", Some(&Cursor::new(garbage)))
            .await;
        assert_eq!(
            error.class(),
            ErrorClass::CursorInvalid,
            "{garbage:?}: {error}"
        );
    }
    assert_eq!(source.stripe.stats().requests, requests);

    // The object the cursor continues after was deleted: Stripe says resource_missing.
    let last = &first.records.last().unwrap().external_id;
    source.stripe.remove(StripeStream::Customers, last).unwrap();
    let error = source.pull_error("customers", Some(&cursor)).await;
    assert_eq!(error.class(), ErrorClass::CursorInvalid, "{error}");
    assert!(
        error
            .to_string()
            .contains("resource_missing (param starting_after): No such customer"),
        "{error}"
    );
}

#[tokio::test]
async fn connect_mode_reads_the_tenants_connected_account() {
    let account = "acct_1Nv0FGQ9RKHgCVdK";
    let source = TestSource::start_with(
        MockConfig::with_volume(20, 5, 5).with_account(MockAccount::new(account, 12, 3, 2)),
        5,
        serde_json::json!({"connect": true, "api_version": "2024-06-20"}),
    )
    .await;
    let (records, _) = {
        let mut records = Vec::new();
        let mut cursor = None;
        loop {
            let page = pull(
                &source.connector,
                account,
                "charges",
                cursor.as_ref(),
                Window::default(),
            )
            .await
            .unwrap();
            records.extend(page.records);
            cursor = page.next_cursor;
            if cursor.is_none() {
                break (records, ());
            }
        }
    };
    let connected = source.stripe.connected(account).unwrap();
    assert_eq!(
        ids(&records),
        connected.ids(StripeStream::Charges, CreatedRange::ALL)
    );
    assert_eq!(
        records.len(),
        12,
        "the connected account's charges, not the platform's"
    );
    let log = source.stripe.request_log();
    assert!(log
        .iter()
        .all(|entry| entry.stripe_account.as_deref() == Some(account)
            && entry.stripe_version.as_deref() == Some("2024-06-20")));

    // A tenant that is not an account id is refused before any request.
    let requests = source.stripe.stats().requests;
    let error = pull(
        &source.connector,
        "acme",
        "charges",
        None,
        Window::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Config, "{error}");
    assert_eq!(source.stripe.stats().requests, requests);

    // An account the key cannot act for: Stripe answers 403.
    let error = pull(
        &source.connector,
        "acct_1Unknown",
        "charges",
        None,
        Window::default(),
    )
    .await
    .unwrap_err();
    assert_no_key(&error);
    assert_eq!(error.class(), ErrorClass::Auth, "{error}");
    assert!(error.to_string().contains("account_invalid"), "{error}");
}

#[tokio::test]
async fn keys_echoed_in_an_error_body_are_redacted() {
    let source = TestSource::start(100).await;
    source
        .stripe
        .script([MockFault::status(400).with_message(format!("Your key {KEY} may not do that"))]);
    let error = source.pull_error("charges", None).await;
    assert!(
        error
            .to_string()
            .contains("Your key [REDACTED] may not do that"),
        "{error}"
    );
}

#[tokio::test]
async fn a_hang_past_the_timeout_and_a_refused_connection_are_transient() {
    let source = TestSource::start_with(
        MockConfig::default(),
        100,
        serde_json::json!({"timeout_ms": 300}),
    )
    .await;
    source
        .stripe
        .script([MockFault::Hang(Duration::from_secs(30))]);
    let error = source.pull_error("charges", None).await;
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    assert!(error.to_string().contains("timed out"), "{error}");

    // Bind a port, then free it: nothing listens there any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let connector =
        tributary_connector_stripe::build(&serde_json::json!({"api_key": KEY, "base_url": url}))
            .unwrap();
    let error = connector
        .check(&TenantId::new("acme").unwrap())
        .await
        .unwrap_err();
    assert_no_key(&error);
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    assert!(error.to_string().contains("could not connect"), "{error}");
}

#[tokio::test]
async fn an_unknown_stream_is_a_config_error_without_a_request() {
    let source = TestSource::start(100).await;
    let error = source.pull_error("refunds", None).await;
    assert_eq!(error.class(), ErrorClass::Config, "{error}");
    assert!(error.to_string().contains("refunds"), "{error}");
    assert_eq!(source.stripe.stats().requests, 0);
}

#[tokio::test]
async fn the_registry_builds_it_by_kind_and_nothing_shows_the_key() {
    let registry = Registry::new(vec![tributary_connector_stripe::spec()]);
    for (settings, field) in [
        (
            serde_json::json!({"base_url": "http://127.0.0.1:1"}),
            "$.api_key: missing (required)",
        ),
        (
            serde_json::json!({"api_key": KEY, "base_url": "gopher://x"}),
            "$.base_url: must be an http or https URL",
        ),
        (
            serde_json::json!({"api_key": KEY, "page_size": 500}),
            "$.page_size: 500 is above the maximum 100",
        ),
        (
            serde_json::json!({"api_key": KEY, "timeout_ms": 0}),
            "$.timeout_ms: 0 is below the minimum 1",
        ),
        (
            serde_json::json!({"api_key": KEY, "connect": 1}),
            "$.connect: expected boolean",
        ),
        (
            serde_json::json!({"api_key": KEY, "pagesize": 5}),
            "$.pagesize: unknown field",
        ),
        (
            serde_json::json!({"api_key": "pk_test_S3cretKey42"}),
            "$.api_key: is a publishable key",
        ),
    ] {
        let error = registry.build("stripe", &settings).unwrap_err().to_string();
        assert!(error.contains(field), "{settings}: {error}");
        assert!(!error.contains("S3cretKey42"), "{error}");
    }
    let connector = registry
        .build("stripe", &serde_json::json!({"api_key": KEY}))
        .unwrap();
    assert_eq!(connector.kind().as_str(), "stripe");
    let streams: Vec<_> = connector
        .streams()
        .into_iter()
        .map(|stream| stream.name.to_string())
        .collect();
    assert_eq!(streams, ["charges", "customers", "invoices"]);
    let debug = format!("{connector:?}");
    assert!(!debug.contains("S3cretKey42"), "{debug}");
    assert!(debug.contains("sk_test_[REDACTED]"), "{debug}");
}
