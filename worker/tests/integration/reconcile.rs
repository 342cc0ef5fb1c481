//! Reconciliation end to end: a stream is pulled, then drifts at the source (records deleted,
//! added behind the cursor, edited without touching updated-at); a reconcile job must name
//! exactly those records, repair them, report zero drift on the next run, and spend requests
//! in proportion to the drift, not to the data.

use crate::helpers::{TestApp, SOURCE};
use std::collections::BTreeSet;
use std::time::Duration;
use tributary_broker::{JobEnvelope, JobKind};
use tributary_connector::{ConnectorKind, SourceId, StreamName, TenantId, Window};
use tributary_demo_shop::{ShopConfig, Stream};
use tributary_store::{FindingKind, ReportDetail, ReportStatus};

const TENANT: &str = "acme";
const DEADLINE: Duration = Duration::from_secs(90);

fn reconcile_job(tenant: &str, stream: &str) -> JobEnvelope {
    JobEnvelope::new_root(
        JobKind::Reconcile,
        ConnectorKind::new("demo").unwrap(),
        TenantId::new(tenant).unwrap(),
        SourceId::new(SOURCE).unwrap(),
        StreamName::new(stream).unwrap(),
        Window::default(),
    )
}

/// Pulls the whole orders stream of [`TENANT`] and waits until it landed.
async fn pull_orders(app: &TestApp) {
    let job = app.pull_job(TENANT, "orders");
    app.enqueue(std::slice::from_ref(&job)).await;
    app.wait_for_runs(&[job.job_id.as_uuid()], DEADLINE).await;
    assert_eq!(
        app.stored(TENANT, "orders").await,
        app.at_source(TENANT, "orders")
    );
}

/// Runs one reconcile job of the orders stream and returns its report.
async fn reconcile_orders(app: &TestApp) -> ReportDetail {
    let job = reconcile_job(TENANT, "orders");
    app.enqueue(std::slice::from_ref(&job)).await;
    app.wait_for_runs(&[job.job_id.as_uuid()], DEADLINE).await;
    let report = app
        .store
        .reconcile_report_of_job(job.job_id.as_uuid())
        .await
        .unwrap()
        .expect("the reconcile job wrote a report");
    app.store
        .reconcile_report(report.id, i64::MAX)
        .await
        .unwrap()
        .expect("the report can be read back")
}

fn ids(report: &ReportDetail, kind: FindingKind) -> BTreeSet<String> {
    report
        .findings
        .iter()
        .filter(|finding| finding.kind == kind)
        .map(|finding| finding.external_id.clone())
        .collect()
}

/// The drift of the test: `clusters` places spread evenly over the stream, each with one
/// record deleted, one edited without touching updated-at and one added behind the cursor
/// (created next to them, updated a minute later: long before any incremental pull's window).
/// Returns the expected (missing, extra, stale) ids.
fn drift(app: &TestApp, clusters: usize) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let shop = app.shop.shop();
    let total = shop.total(TENANT, Stream::Orders) as usize;
    let id = |index: usize| format!("ord_{:06}", index + 1);
    let (mut missing, mut extra, mut stale) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for cluster in 0..clusters {
        let base = cluster * total / clusters + total / clusters / 2;
        extra.insert(id(base));
        stale.insert(id(base + 1));
        let neighbour = shop
            .record(TENANT, Stream::Orders, &id(base + 2))
            .expect("the neighbour exists");
        let created: chrono::DateTime<chrono::Utc> = neighbour["created_at"]
            .as_str()
            .and_then(|text| text.parse().ok())
            .expect("records have a created_at");
        missing.insert(shop.add_record_behind(TENANT, Stream::Orders, created));
    }
    let extra_ids: Vec<&str> = extra.iter().map(String::as_str).collect();
    let stale_ids: Vec<&str> = stale.iter().map(String::as_str).collect();
    assert_eq!(
        shop.delete_records(TENANT, Stream::Orders, &extra_ids),
        extra.len()
    );
    assert_eq!(
        shop.edit_records_silently(TENANT, Stream::Orders, &stale_ids),
        stale.len()
    );
    (missing, extra, stale)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_names_exactly_the_drift_repairs_it_and_then_finds_none() {
    let mut app = TestApp::new(ShopConfig::with_volume(1_200, 50, 20)).await;
    app.start_worker().await;
    pull_orders(&app).await;

    let (missing, extra, stale) = drift(&app, 4);
    // An incremental pull of recent changes sees none of it: that is why reconciliation exists.
    let recent = app.shop.shop().count(
        TENANT,
        Stream::Orders,
        tributary_demo_shop::UpdatedRange {
            since: Some(app.shop.reference_time()),
            before: None,
        },
    );
    assert_eq!(recent, 0);

    let before = app.shop.shop().api_calls();
    let report = reconcile_orders(&app).await;
    let spent = app.shop.shop().api_calls();
    assert_eq!(report.report.status, Some(ReportStatus::Drift));
    assert_eq!(ids(&report, FindingKind::Missing), missing);
    assert_eq!(ids(&report, FindingKind::Extra), extra);
    assert_eq!(ids(&report, FindingKind::Stale), stale);
    assert_eq!(report.report.repulled as usize, missing.len() + stale.len());
    assert_eq!(report.report.marked_deleted as usize, extra.len());
    // Every request the run made is in the report, and none of them was a page of the stream.
    assert_eq!(
        report.report.api_calls as u64,
        spent.reconciliation() - before.reconciliation()
    );
    assert_eq!(spent.list, before.list);
    assert!(report.report.windows_checked > 1);

    // Missing and stale records now hold what the source holds.
    let client = app.store.pool().get().await.unwrap();
    for id in missing.iter().chain(&stale) {
        let row = client
            .query_one(
                "SELECT data, deleted_at IS NULL FROM records
                 WHERE tenant_id = $1 AND connector = 'demo' AND stream = 'orders'
                   AND external_id = $2",
                &[&TENANT, id],
            )
            .await
            .unwrap();
        let data: serde_json::Value = row.get(0);
        let expected = app.shop.shop().record(TENANT, Stream::Orders, id).unwrap();
        assert_eq!(data, expected, "{id}");
        assert!(row.get::<_, bool>(1), "{id} is live");
    }
    // Extra records are marked deleted, not removed.
    for id in &extra {
        let marked: bool = client
            .query_one(
                "SELECT deleted_at IS NOT NULL FROM records
                 WHERE tenant_id = $1 AND connector = 'demo' AND stream = 'orders'
                   AND external_id = $2",
                &[&TENANT, id],
            )
            .await
            .unwrap()
            .get(0);
        assert!(marked, "{id} is marked deleted");
    }

    // The next run finds nothing, with a single request.
    let before = app.shop.shop().api_calls();
    let again = reconcile_orders(&app).await;
    assert_eq!(again.report.status, Some(ReportStatus::Clean));
    assert_eq!(again.findings, []);
    assert_eq!(again.report.drift(), 0);
    assert_eq!(
        app.shop.shop().api_calls().reconciliation() - before.reconciliation(),
        1
    );

    // Reports list newest first, narrowed by stream, keyset-paged.
    let page = app
        .store
        .reconcile_reports(&tributary_store::ReportFilter {
            tenant: Some(TENANT.into()),
            stream: Some("orders".into()),
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.reports.len(), 1);
    assert_eq!(page.reports[0].id, again.report.id);
    let next = app
        .store
        .reconcile_reports(&tributary_store::ReportFilter {
            before: page.next_before,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(next.reports.len(), 1);
    assert_eq!(next.reports[0].id, report.report.id);
    assert_eq!(next.next_before, None);
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_reconcile_job_writes_one_report() {
    let mut app = TestApp::new(ShopConfig::with_volume(300, 50, 20)).await;
    app.start_worker().await;
    pull_orders(&app).await;
    drift(&app, 2);

    let job = reconcile_job(TENANT, "orders");
    app.enqueue(std::slice::from_ref(&job)).await;
    app.wait_for_runs(&[job.job_id.as_uuid()], DEADLINE).await;
    // The broker delivers the same message again.
    app.publisher
        .publish_jobs(&app.topology, std::slice::from_ref(&job))
        .await
        .unwrap();
    let marker = app.pull_job(TENANT, "customers");
    app.enqueue(std::slice::from_ref(&marker)).await;
    app.wait_for_runs(&[marker.job_id.as_uuid()], DEADLINE)
        .await;
    crate::helpers::wait_for("the redelivery to be consumed", DEADLINE, || async {
        (app.work_queue_ready().await == 0).then_some(())
    })
    .await;
    let reports = app
        .scalar_i64("SELECT count(*) FROM reconcile_reports")
        .await;
    assert_eq!(reports, 1);
    assert_eq!(
        app.job_status(job.job_id.as_uuid()).await.as_deref(),
        Some("succeeded")
    );
    app.stop_workers().await;
}

/// Requests one reconcile spends on a freshly pulled stream of `orders` records that drifted
/// in `clusters` places.
async fn requests_spent(orders: u64, clusters: usize) -> u64 {
    let mut app = TestApp::new(ShopConfig::with_volume(orders, 50, 20)).await;
    // Small windows of at most 100 records (one manifest page) keep drift in different places
    // in different windows at both data sizes.
    app.settings.worker.reconcile_manifest_max_records = 100;
    app.start_worker().await;
    pull_orders(&app).await;
    let (missing, extra, stale) = drift(&app, clusters);
    let report = reconcile_orders(&app).await;
    assert_eq!(ids(&report, FindingKind::Missing), missing);
    assert_eq!(ids(&report, FindingKind::Extra), extra);
    assert_eq!(ids(&report, FindingKind::Stale), stale);
    app.stop_workers().await;
    report.report.api_calls as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_grow_with_the_drift_not_with_the_data() {
    let small = requests_spent(1_000, 4).await;
    let large = requests_spent(4_000, 4).await;
    let drifting = requests_spent(4_000, 16).await;
    // Four times the data costs at most two more bisection levels (log2 4) per drifted place,
    // and nothing that grows with the records themselves.
    assert!(
        large <= small + 2 * 4,
        "1x data: {small} requests, 4x data: {large}"
    );
    // Four times the drift costs clearly more.
    assert!(
        drifting > large + large / 2,
        "1x drift: {large} requests, 4x drift: {drifting}"
    );
    // And far fewer than paging through the data: 40 pages of 100.
    assert!(large < 40, "{large} requests for 4,000 records");
}

/// A source that pulls but offers no reconciliation (the contract's defaults).
#[derive(Debug)]
struct Plain {
    kind: ConnectorKind,
}

#[tributary_connector::async_trait]
impl tributary_connector::Connector for Plain {
    fn kind(&self) -> &ConnectorKind {
        &self.kind
    }

    fn streams(&self) -> Vec<tributary_connector::StreamInfo> {
        Vec::new()
    }

    async fn check(&self, _tenant: &TenantId) -> Result<(), tributary_connector::ConnectorError> {
        Ok(())
    }

    async fn pull(
        &self,
        _request: tributary_connector::PullRequest<'_>,
    ) -> Result<tributary_connector::Page, tributary_connector::ConnectorError> {
        Ok(tributary_connector::Page {
            records: Vec::new(),
            next_cursor: None,
            rate_limit: None,
        })
    }
}

fn build_plain(
    _: &serde_json::Value,
) -> Result<std::sync::Arc<dyn tributary_connector::Connector>, tributary_connector::ConfigError> {
    Ok(std::sync::Arc::new(Plain {
        kind: ConnectorKind::new("plain").unwrap(),
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_without_reconciliation_gets_an_unsupported_report_not_a_failure() {
    let registry =
        tributary_worker::connectors::registry().with(tributary_connector::ConnectorSpec {
            kind: "plain",
            description: "pulls nothing, reconciles nothing",
            build: build_plain,
        });
    let mut app = TestApp::new(ShopConfig::with_volume(10, 10, 10)).await;
    app.settings.sources.insert(
        "plain_source".into(),
        tributary_worker::config::SourceSettings {
            connector: "plain".into(),
            settings: serde_json::json!({}),
            rate_limit: None,
        },
    );
    app.topology = tributary_worker::app::topology(&app.settings, &registry.kinds()).unwrap();
    app.start_worker_with(registry).await;

    let mut job = reconcile_job(TENANT, "orders");
    job.connector = ConnectorKind::new("plain").unwrap();
    job.source = SourceId::new("plain_source").unwrap();
    app.enqueue(std::slice::from_ref(&job)).await;
    app.wait_for_runs(&[job.job_id.as_uuid()], DEADLINE).await;
    assert_eq!(
        app.job_status(job.job_id.as_uuid()).await.as_deref(),
        Some("succeeded")
    );
    let report = app
        .store
        .reconcile_report_of_job(job.job_id.as_uuid())
        .await
        .unwrap()
        .expect("an unsupported run still reports");
    assert_eq!(report.status, Some(ReportStatus::Unsupported));
    let message = report.message.unwrap_or_default();
    assert!(
        message.contains("does not offer reconciliation")
            && message.contains("window counts, id manifests, fetch by id"),
        "{message}"
    );
    assert_eq!(report.api_calls, 0);
    app.stop_workers().await;
}
