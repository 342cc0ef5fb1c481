//! Each real-shaped connector, end to end: its mock server → RabbitMQ → worker → PostgreSQL,
//! with exactly the mock's records stored for every stream.

use crate::helpers::TestApp;
use std::collections::BTreeSet;
use std::time::Duration;
use tributary_broker::{JobEnvelope, JobKind};
use tributary_connector::{ConnectorKind, SourceId, StreamName, TenantId, Window};
use tributary_demo_shop::ShopConfig;
use tributary_worker::config::SourceSettings;

/// Adds `source` (a `connector` with `settings`), pulls `streams` for tenant `acme` through
/// the real path, and returns the stored external ids per stream.
async fn ingest(
    app: &mut TestApp,
    connector: &str,
    source: &str,
    settings: serde_json::Value,
    streams: &[&str],
) -> Vec<BTreeSet<String>> {
    app.settings.sources.insert(
        source.into(),
        SourceSettings {
            connector: connector.into(),
            settings,
            rate_limit: None,
        },
    );
    app.start_worker().await;
    let jobs: Vec<JobEnvelope> = streams
        .iter()
        .map(|stream| {
            JobEnvelope::new_root(
                JobKind::Pull,
                ConnectorKind::new(connector).unwrap(),
                TenantId::new("acme").unwrap(),
                SourceId::new(source).unwrap(),
                StreamName::new(*stream).unwrap(),
                Window::default(),
            )
        })
        .collect();
    let roots: Vec<_> = jobs.iter().map(|job| job.job_id.as_uuid()).collect();
    app.enqueue(&jobs).await;
    app.wait_for_runs(&roots, Duration::from_secs(90)).await;
    for root in &roots {
        assert_eq!(app.job_status(*root).await.as_deref(), Some("succeeded"));
    }
    let mut stored = Vec::new();
    for stream in streams {
        let client = app.store.pool().get().await.unwrap();
        let rows = client
            .query(
                "SELECT external_id FROM records WHERE connector = $1 AND stream = $2",
                &[&connector, stream],
            )
            .await
            .unwrap();
        stored.push(rows.iter().map(|row| row.get::<_, String>(0)).collect());
    }
    app.stop_workers().await;
    stored
}

/// Ingests every stream of `expected` and asserts exactly those ids were stored for each.
async fn ingest_and_expect(
    connector: &str,
    source: &str,
    settings: serde_json::Value,
    expected: Vec<(&str, Vec<String>)>,
) {
    let mut app = TestApp::new(ShopConfig::with_volume(0, 0, 0)).await;
    let streams: Vec<&str> = expected.iter().map(|(stream, _)| *stream).collect();
    let stored = ingest(&mut app, connector, source, settings, &streams).await;
    for ((stream, expected), stored) in expected.into_iter().zip(stored) {
        let expected: BTreeSet<String> = expected.into_iter().collect();
        assert!(
            !expected.is_empty(),
            "{connector}/{stream}: the mock has records"
        );
        assert_eq!(stored, expected, "{connector}/{stream}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_ingests_end_to_end_with_exact_counts() {
    use tributary_connector_shopify::mock::{spawn, MockConfig};
    use tributary_connector_shopify::ShopifyStream;
    let mock = spawn(MockConfig::default()).await.unwrap();
    let expected = ShopifyStream::ALL
        .iter()
        .map(|s| (s.name(), mock.expected_ids(*s, &Window::default())))
        .collect();
    ingest_and_expect("shopify", "shopify_mock", mock.settings(100), expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woocommerce_ingests_end_to_end_with_exact_counts() {
    use tributary_connector_woocommerce::mock::{spawn, MockConfig};
    use tributary_connector_woocommerce::WooStream;
    let mock = spawn(MockConfig::default()).await.unwrap();
    let expected = WooStream::ALL
        .iter()
        .map(|s| (s.as_str(), mock.expected_ids(*s, &Window::default())))
        .collect();
    ingest_and_expect("woocommerce", "woo_mock", mock.settings(50), expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_ingests_end_to_end_with_exact_counts() {
    use tributary_connector_stripe::mock::{spawn, MockConfig};
    use tributary_connector_stripe::StripeStream;
    let mock = spawn(MockConfig::default()).await.unwrap();
    let expected = StripeStream::ALL
        .iter()
        .map(|s| (s.as_str(), mock.expected_ids(*s, &Window::default())))
        .collect();
    ingest_and_expect("stripe", "stripe_mock", mock.settings(100), expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_only_http_json_source_ingests_the_demo_shop_end_to_end() {
    let mut app = TestApp::new(ShopConfig::with_volume(450, 120, 30)).await;
    let settings = serde_json::json!({
        "url_template": format!("{}/v1/tenants/{{tenant}}/{{stream}}", app.shop.url()),
        "streams": ["orders", "customers", "products"],
        "pagination": {"style": "cursor", "cursor_param": "cursor", "next_cursor_path": "/next_cursor"},
        "records_path": "/data",
        "id_field": "/id",
        "updated_at_field": "/updated_at",
        "updated_since_param": "updated_since",
        "updated_before_param": "updated_before",
        "rate_limit": {"requests_per_second": 200.0, "burst": 20},
    });
    let streams = ["orders", "customers", "products"];
    let stored = ingest(&mut app, "http_json", "shop_as_json", settings, &streams).await;
    for (stream, stored) in streams.iter().zip(stored) {
        assert_eq!(
            stored.len() as i64,
            app.at_source("acme", stream),
            "{stream}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_source_ingests_end_to_end_with_exact_counts() {
    let mut app = TestApp::new(ShopConfig::with_volume(0, 0, 0)).await;
    // The source: a database of its own, with a table a customer's application would have.
    let base_url = app.settings.database.url.expose().to_owned();
    let source_db = format!("test_{}", uuid::Uuid::now_v7().simple());
    let admin = app.store.pool().get().await.unwrap();
    admin
        .simple_query(&format!("CREATE DATABASE {source_db}"))
        .await
        .unwrap();
    let (prefix, _) = base_url.rsplit_once('/').unwrap();
    let source_url = format!("{prefix}/{source_db}");
    let source = tributary_store::Store::connect(&source_url, 1).unwrap();
    source
        .pool()
        .get()
        .await
        .unwrap()
        .batch_execute(
            "CREATE TABLE invoices (id bigint PRIMARY KEY, customer text, total numeric(12, 2),
                                    lines jsonb, updated_at timestamptz NOT NULL);
             INSERT INTO invoices
             SELECT n, 'Kundé ' || (n % 37), n * 1.25, jsonb_build_array(n, 'x'),
                    timestamptz '2026-01-01' + n * interval '1 minute'
             FROM generate_series(1, 1234) AS n;",
        )
        .await
        .unwrap();
    let settings = serde_json::json!({
        "url": source_url,
        "streams": {"invoices": {"table": "public.invoices", "primary_key": "id",
                                 "updated_at": "updated_at"}},
        "page_size": 200,
    });
    let stored = ingest(&mut app, "postgres", "billing_db", settings, &["invoices"]).await;
    let expected: BTreeSet<String> = (1..=1234).map(|n: i32| n.to_string()).collect();
    assert_eq!(stored[0], expected);
}
