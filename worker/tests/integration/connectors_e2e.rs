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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_ingests_end_to_end_with_exact_counts() {
    use tributary_connector_shopify::mock::{spawn, MockConfig};
    use tributary_connector_shopify::ShopifyStream;
    let mock = spawn(MockConfig::default()).await.unwrap();
    let mut app = TestApp::new(ShopConfig::with_volume(0, 0, 0)).await;
    let streams: Vec<&str> = ShopifyStream::ALL.iter().map(|s| s.name()).collect();
    let stored = ingest(
        &mut app,
        "shopify",
        "shopify_mock",
        mock.settings(100),
        &streams,
    )
    .await;
    for (stream, stored) in ShopifyStream::ALL.iter().zip(stored) {
        let expected: BTreeSet<String> = mock
            .expected_ids(*stream, &Window::default())
            .into_iter()
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(stored, expected, "{}", stream.name());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woocommerce_ingests_end_to_end_with_exact_counts() {
    use tributary_connector_woocommerce::mock::{spawn, MockConfig};
    use tributary_connector_woocommerce::WooStream;
    let mock = spawn(MockConfig::default()).await.unwrap();
    let mut app = TestApp::new(ShopConfig::with_volume(0, 0, 0)).await;
    let streams: Vec<&str> = WooStream::ALL.iter().map(|s| s.as_str()).collect();
    let stored = ingest(
        &mut app,
        "woocommerce",
        "woo_mock",
        mock.settings(50),
        &streams,
    )
    .await;
    for (stream, stored) in WooStream::ALL.iter().zip(stored) {
        let expected: BTreeSet<String> = mock
            .expected_ids(*stream, &Window::default())
            .into_iter()
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(stored, expected, "{}", stream.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_ingests_end_to_end_with_exact_counts() {
    use tributary_connector_stripe::mock::{spawn, MockConfig};
    use tributary_connector_stripe::StripeStream;
    let mock = spawn(MockConfig::default()).await.unwrap();
    let mut app = TestApp::new(ShopConfig::with_volume(0, 0, 0)).await;
    let streams: Vec<&str> = StripeStream::ALL.iter().map(|s| s.as_str()).collect();
    let stored = ingest(
        &mut app,
        "stripe",
        "stripe_mock",
        mock.settings(100),
        &streams,
    )
    .await;
    for (stream, stored) in StripeStream::ALL.iter().zip(stored) {
        let expected: BTreeSet<String> = mock
            .expected_ids(*stream, &Window::default())
            .into_iter()
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(stored, expected, "{}", stream.as_str());
    }
}
