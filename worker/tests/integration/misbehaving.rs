//! Connector code with bugs: a panic fails that job only (classed transient, retried, then a
//! dead letter), a hang is cut off at the page timeout; the process keeps working throughout.

use crate::helpers::TestApp;
use std::sync::Arc;
use std::time::Duration;
use tributary_broker::JobEnvelope;
use tributary_connector::{
    async_trait, ConfigError, Connector, ConnectorError, ConnectorKind, ConnectorSpec, Page,
    PullRequest, Registry, StreamInfo, TenantId,
};
use tributary_demo_shop::ShopConfig;

/// Panics on `orders` and hangs on `customers`.
#[derive(Debug)]
struct Broken {
    kind: ConnectorKind,
}

#[async_trait]
impl Connector for Broken {
    fn kind(&self) -> &ConnectorKind {
        &self.kind
    }

    fn streams(&self) -> Vec<StreamInfo> {
        Vec::new()
    }

    async fn check(&self, _tenant: &TenantId) -> Result<(), ConnectorError> {
        Ok(())
    }

    async fn pull(&self, request: PullRequest<'_>) -> Result<Page, ConnectorError> {
        if request.stream.as_str() == "orders" {
            panic!("index out of bounds: the len is 0 but the index is 3");
        }
        // Hangs forever: only the runtime's page timeout ends this pull.
        std::future::pending().await
    }
}

fn build_broken(_: &serde_json::Value) -> Result<Arc<dyn Connector>, ConfigError> {
    Ok(Arc::new(Broken {
        kind: ConnectorKind::new("broken").unwrap(),
    }))
}

fn registry() -> Registry {
    tributary_worker::connectors::registry().with(ConnectorSpec {
        kind: "broken",
        description: "panics and hangs",
        build: build_broken,
    })
}

fn broken_job(app: &TestApp, stream: &str) -> JobEnvelope {
    let mut job = app.pull_job("acme", stream);
    job.connector = ConnectorKind::new("broken").unwrap();
    job.source = "broken_source".parse().unwrap();
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_or_hanging_connector_fails_its_job_not_the_process() {
    let mut app = TestApp::new(ShopConfig::with_volume(150, 10, 10)).await;
    app.settings.worker.max_attempts = 2;
    app.settings.worker.page_timeout_seconds = 1;
    app.settings.sources.insert(
        "broken_source".into(),
        tributary_worker::config::SourceSettings {
            connector: "broken".into(),
            settings: serde_json::json!({}),
            rate_limit: None,
        },
    );
    // The test's own topology must know the extra work queue.
    app.topology = tributary_worker::app::topology(&app.settings, &registry().kinds()).unwrap();
    app.start_worker_with(registry()).await;

    let panicking = broken_job(&app, "orders");
    let hanging = broken_job(&app, "customers");
    app.enqueue(&[panicking.clone(), hanging.clone()]).await;

    let (class, reason) = app
        .wait_for_dead_letter(Some(panicking.job_id.as_uuid()), Duration::from_secs(30))
        .await;
    assert_eq!(class, "retries_exhausted");
    assert!(
        reason.contains("connector panicked: index out of bounds"),
        "{reason}"
    );
    let (class, reason) = app
        .wait_for_dead_letter(Some(hanging.job_id.as_uuid()), Duration::from_secs(60))
        .await;
    assert_eq!(class, "retries_exhausted");
    assert!(reason.contains("timed out after 1s"), "{reason}");

    // The same process still ingests healthy jobs.
    let healthy = app.pull_job("acme", "orders");
    app.enqueue(std::slice::from_ref(&healthy)).await;
    app.wait_for_runs(&[healthy.job_id.as_uuid()], Duration::from_secs(30))
        .await;
    assert_eq!(app.stored("acme", "orders").await, 150);
    app.stop_workers().await;
}
