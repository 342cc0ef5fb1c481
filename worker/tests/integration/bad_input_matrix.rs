//! The rest of issue 7's bad-input matrix, each with its expected outcome (class and reason
//! text). Covered elsewhere: invalid JSON, the wrong shape, an unknown envelope version, an
//! unknown connector or source and an oversized body (`bad_input.rs`), an unroutable publish
//! (`bad_input::an_unroutable_publish_is_an_error_not_silence`), a connector that panics or
//! hangs (`misbehaving.rs`), and bad settings through the environment
//! (`lifecycle::check_config_reports_every_problem_with_its_path`).
//!
//! | input | outcome |
//! |---|---|
//! | envelope without a tenant, or an empty one | `malformed_job`, naming `tenant` |
//! | a 10 MB message | `oversized`, the 10 MB kept byte for byte |
//! | forged `x-tributary-attempt` / `x-delivery-count` headers | ignored: the ledger counts |
//! | a source answering bytes that are not UTF-8 | `malformed_response`, "not UTF-8" |
//! | a connector returning the cursor it was given | `permanent`, "stuck cursor" |
//! | duplicate external ids within a page | one row each, the last occurrence wins |
//! | a config file with unknown fields or sections | `run` refuses to start (exit 2), naming it |
//! | a config file with bad URLs | `run` refuses (exit 1), `check-config` names each (exit 2) |

use crate::checker::{self, Expected, History};
use crate::helpers::{wait_for, TestApp};
use std::sync::Arc;
use std::time::Duration;
use tributary_broker::lapin::types::{AMQPValue, FieldTable};
use tributary_broker::lapin::BasicProperties;
use tributary_broker::JobEnvelope;
use tributary_connector::{
    async_trait, ConfigError, Connector, ConnectorError, ConnectorKind, ConnectorSpec, Cursor,
    Page, PullRequest, Record, Registry, StreamInfo, TenantId,
};
use tributary_demo_shop::{ScriptedFault, ShopConfig};

async fn dead_letter_of_payload_length(app: &TestApp, length: i64) -> (String, String) {
    wait_for("the dead letter", Duration::from_secs(30), || async {
        let client = app.store.pool().get().await.unwrap();
        client
            .query_opt(
                "SELECT class, reason FROM dead_letters WHERE length(payload)::bigint = $1",
                &[&length],
            )
            .await
            .unwrap()
            .map(|row| (row.get(0), row.get(1)))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_empty_tenant_is_a_malformed_job() {
    let mut app = TestApp::new(ShopConfig::with_volume(10, 10, 10)).await;
    app.start_worker().await;
    let mut missing = serde_json::to_value(app.pull_job("acme", "orders")).unwrap();
    missing.as_object_mut().unwrap().remove("tenant");
    let missing = serde_json::to_vec(&missing).unwrap();
    let mut empty = serde_json::to_value(app.pull_job("acme", "orders")).unwrap();
    empty["tenant"] = "".into();
    let empty = serde_json::to_vec(&empty).unwrap();
    app.publish_raw(&missing, BasicProperties::default()).await;
    app.publish_raw(&empty, BasicProperties::default()).await;

    let (class, reason) = dead_letter_of_payload_length(&app, missing.len() as i64).await;
    assert_eq!(class, "malformed_job");
    assert!(reason.contains("missing field `tenant`"), "{reason}");
    let (class, reason) = dead_letter_of_payload_length(&app, empty.len() as i64).await;
    assert_eq!(class, "malformed_job");
    assert!(reason.contains("tenant"), "{reason}");
    // Neither reached the ledger.
    assert_eq!(app.scalar_i64("SELECT count(*) FROM jobs").await, 0);
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mb_message_is_kept_as_an_oversized_dead_letter() {
    let mut app = TestApp::new(ShopConfig::with_volume(10, 10, 10)).await;
    // The default limit (1 MiB), not the test's own.
    assert_eq!(app.settings.worker.max_message_bytes, 1024 * 1024);
    app.start_worker().await;
    let huge = vec![b'{'; 10 * 1024 * 1024];
    app.publish_raw(&huge, BasicProperties::default()).await;
    let (class, reason) = dead_letter_of_payload_length(&app, huge.len() as i64).await;
    assert_eq!(class, "oversized");
    assert!(
        reason.contains("message body is 10485760 bytes; the limit is 1048576"),
        "{reason}"
    );
    // The worker carries on.
    let job = app.pull_job("acme", "orders");
    app.enqueue(std::slice::from_ref(&job)).await;
    app.wait_for_runs(&[job.job_id.as_uuid()], Duration::from_secs(30))
        .await;
    app.stop_workers().await;
    assert_eq!(app.work_queue_ready().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_attempt_headers_do_not_change_the_attempt_count() {
    let mut app = TestApp::new(ShopConfig::with_volume(150, 10, 10)).await;
    app.settings.worker.max_attempts = 2;
    // One failed attempt (the first page fails past the quick retries): under the ledger's
    // count that is attempt 1 of 2, so the job is retried. Were the forged header believed
    // (attempt 99), it would be a dead letter at once.
    app.shop
        .script(std::iter::repeat_n(ScriptedFault::status(503), 3));
    let job = app.pull_job("acme", "orders");
    app.store
        .insert_jobs(&[tributary_worker::handler::ledger_row(&job)])
        .await
        .unwrap();
    let mut headers = FieldTable::default();
    headers.insert(
        tributary_broker::HEADER_ATTEMPT.into(),
        AMQPValue::LongLongInt(99),
    );
    headers.insert("x-delivery-count".into(), AMQPValue::LongLongInt(50));
    let properties = tributary_broker::job_properties(&job).with_headers(headers);
    app.publish_raw(&job.to_bytes(), properties).await;
    app.start_worker().await;
    app.wait_for_runs(&[job.job_id.as_uuid()], Duration::from_secs(30))
        .await;

    let report = checker::check(&app, &History::effects(std::slice::from_ref(&job))).await;
    report.assert_clean("forged_attempt_headers");
    assert_eq!(report.effects, 1);
    assert_eq!(
        app.scalar_i64("SELECT attempts::bigint FROM jobs").await,
        1,
        "the ledger's count, not the header's"
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM job_attempts WHERE outcome = 'retried'")
            .await,
        1
    );
    app.stop_workers().await;
}

/// A connector with quirks, by stream: `stuck` returns the cursor it was given as the next one;
/// `dupes` returns pages that list some records twice (the second time changed).
#[derive(Debug)]
struct Quirky {
    kind: ConnectorKind,
}

fn record(id: &str, version: u32) -> Record {
    Record {
        external_id: id.to_owned(),
        updated_at: None,
        created_at: None,
        data: serde_json::json!({"id": id, "version": version}),
    }
}

#[async_trait]
impl Connector for Quirky {
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
        let page = |records, next: Option<&str>| Page {
            records,
            next_cursor: next.map(Cursor::new),
            rate_limit: None,
        };
        match (request.stream.as_str(), request.cursor.map(Cursor::as_str)) {
            ("stuck", None) => Ok(page(vec![record("a", 1)], Some("page-2"))),
            // Forever the same page and the same cursor.
            ("stuck", Some(cursor)) => Ok(page(vec![record("b", 1)], Some(cursor))),
            ("dupes", None) => Ok(page(
                vec![record("x", 1), record("y", 1), record("x", 2)],
                Some("page-2"),
            )),
            ("dupes", Some(_)) => Ok(page(vec![record("z", 1), record("z", 2)], None)),
            (stream, _) => Err(ConnectorError::Permanent {
                status: None,
                message: format!("no stream {stream}"),
            }),
        }
    }
}

fn build_quirky(_: &serde_json::Value) -> Result<Arc<dyn Connector>, ConfigError> {
    Ok(Arc::new(Quirky {
        kind: ConnectorKind::new("quirky").unwrap(),
    }))
}

fn quirky_registry() -> Registry {
    tributary_worker::connectors::registry().with(ConnectorSpec {
        kind: "quirky",
        description: "stuck cursors and duplicate ids",
        build: build_quirky,
    })
}

/// A test world whose worker also runs the `quirky` connector as source `quirky_source`.
async fn quirky_app() -> TestApp {
    let mut app = TestApp::new(ShopConfig::with_volume(0, 0, 0)).await;
    app.settings.sources.insert(
        "quirky_source".into(),
        tributary_worker::config::SourceSettings {
            connector: "quirky".into(),
            settings: serde_json::json!({}),
            rate_limit: None,
        },
    );
    app.topology =
        tributary_worker::app::topology(&app.settings, &quirky_registry().kinds()).unwrap();
    // The test's topology declares the extra work queue before the worker starts.
    let connection =
        tributary_broker::connect(&app.settings.amqp.nodes().unwrap(), "test topology")
            .await
            .unwrap();
    app.topology.declare(&connection).await.unwrap();
    let _ = connection.close(200, "declared".into()).await;
    app.start_worker_with(quirky_registry()).await;
    app
}

fn quirky_job(app: &TestApp, stream: &str) -> JobEnvelope {
    let mut job = app.pull_job("acme", stream);
    job.connector = ConnectorKind::new("quirky").unwrap();
    job.source = "quirky_source".parse().unwrap();
    job.stream = stream.parse().unwrap();
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_returning_the_same_cursor_forever_is_dead_lettered_as_stuck() {
    let mut app = quirky_app().await;
    let job = quirky_job(&app, "stuck");
    app.enqueue(std::slice::from_ref(&job)).await;
    let (class, reason) = app
        .wait_for_dead_letter(Some(job.job_id.as_uuid()), Duration::from_secs(30))
        .await;
    assert_eq!(class, "permanent");
    assert!(
        reason.contains(
            "stuck cursor: connector `quirky` returned the cursor it was given (`page-2`) as the next cursor"
        ),
        "{reason}"
    );
    // Caught on the first repeat: the first page is committed, the looping one is not, and no
    // continuation was ever made.
    assert_eq!(app.scalar_i64("SELECT count(*) FROM records").await, 1);
    assert_eq!(app.scalar_i64("SELECT count(*) FROM jobs").await, 1);
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_external_ids_within_a_page_land_once_and_the_last_wins() {
    let mut app = quirky_app().await;
    let job = quirky_job(&app, "dupes");
    app.enqueue(std::slice::from_ref(&job)).await;
    app.wait_for_runs(&[job.job_id.as_uuid()], Duration::from_secs(30))
        .await;
    assert_eq!(
        app.job_status(job.job_id.as_uuid()).await.as_deref(),
        Some("succeeded")
    );
    let client = app.store.pool().get().await.unwrap();
    let rows: Vec<(String, i64)> = client
        .query(
            "SELECT external_id, (data->>'version')::bigint FROM records ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        rows,
        [("x".into(), 2), ("y".into(), 1), ("z".into(), 2)],
        "one row per id, the last occurrence in the page"
    );
    // The ledger counts what was written: 2 + 1 records in 2 pages.
    assert_eq!(app.scalar_i64("SELECT records_inserted FROM jobs").await, 3);
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_answering_bytes_that_are_not_utf8_is_a_malformed_response() {
    // An API that answers 200 with JSON-looking bytes that are not UTF-8.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap();
    let router = axum::Router::new().fallback(|| async {
        (
            [("content-type", "application/json")],
            b"{\"data\": [{\"id\": \"\xff\xfe\"}]}".to_vec(),
        )
    });
    tokio::spawn(async move { axum::serve(listener, router).await });

    let mut app = TestApp::new(ShopConfig::with_volume(0, 0, 0)).await;
    app.settings.sources.insert(
        "latin1_api".into(),
        tributary_worker::config::SourceSettings {
            connector: "http_json".into(),
            settings: serde_json::json!({
                "url_template": format!("http://{api}/{{tenant}}/{{stream}}"),
                "streams": ["tickets"],
                "pagination": {"style": "offset", "page_size": 10},
                "records_path": "/data",
                "id_field": "/id",
            }),
            rate_limit: None,
        },
    );
    app.start_worker().await;
    let mut job = app.pull_job("acme", "tickets");
    job.connector = ConnectorKind::new("http_json").unwrap();
    job.source = "latin1_api".parse().unwrap();
    app.enqueue(std::slice::from_ref(&job)).await;
    let (class, reason) = app
        .wait_for_dead_letter(Some(job.job_id.as_uuid()), Duration::from_secs(30))
        .await;
    assert_eq!(class, "malformed_response");
    assert!(reason.contains("the body is not UTF-8"), "{reason}");
    let mut history = History::default();
    history.confirmed(job, Expected::DeadLetter("malformed_response"));
    checker::check(&app, &history)
        .await
        .assert_clean("non_utf8");
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_with_unknown_fields_or_bad_urls_refuses_to_start() {
    let directory = std::env::temp_dir().join(format!("tributary-config-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let worker = |command: &str, name: &str, toml: &str| {
        let path = directory.join(name);
        std::fs::write(&path, toml).unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tributary-worker"))
            .args(["--config", path.to_str().unwrap(), command])
            .env_clear()
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    // Unreadable settings: exit 2 before anything starts.
    let (code, stderr) = worker(
        "run",
        "unknown.toml",
        "[worker]\nconcurrency = 4\ncolour = \"blue\"\n",
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unknown field: found `colour`"), "{stderr}");
    assert!(stderr.contains("worker.colour"), "{stderr}");

    let (code, stderr) = worker("run", "section.toml", "[wrker]\nconcurrency = 4\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unknown section [wrker]"), "{stderr}");

    // Readable but wrong: `run` refuses before connecting anywhere (exit 1), `check-config`
    // lists every problem with its path (exit 2). A password in a bad URL is never echoed.
    let urls = "[amqp]\nurl = \"http://user:hunter2@broker:5672\"\n\
                [database]\nurl = \"mysql://db/x\"\n\
                [sources.shop]\nconnector = \"demo\"\nsettings = { base_url = \"not a url\" }\n";
    let (code, stderr) = worker("run", "urls.toml", urls);
    assert_eq!(code, Some(1), "{stderr}");
    for expected in [
        "invalid configuration",
        "amqp.url: must start with amqp:// or amqps://",
        "database.url: must start with postgres:// or postgresql://",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let (code, stderr) = worker("check-config", "urls.toml", urls);
    assert_eq!(code, Some(2), "{stderr}");
    for expected in ["amqp.url", "database.url", "sources.shop:", "base_url"] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(!stderr.contains("hunter2"), "{stderr}");
    std::fs::remove_dir_all(&directory).unwrap();
}
