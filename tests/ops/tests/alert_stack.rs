//! The queue-depth alert, evaluated by `promtool` on what a real stack exports.
//!
//! A worker (in-process, registered for the `demo` connector only), queue-admin (in-process,
//! its gauges refreshed every second) and the dev broker's Prometheus plugin run against a
//! fresh database and queue prefix. Jobs are published to the `stripe` work queue, which no
//! worker of this build consumes, in three batches; after each, and once more after the last,
//! the test scrapes the worker's, queue-admin's and the broker's `/metrics`. The scrapes become
//! a `promtool test rules` file: scrape *k* is the sample at *k* × 5 minutes (the queue grows
//! as it did, compressed in time), every scraped series as it was, plus the `up` series
//! Prometheus would record. promtool then evaluates the shipped rules on them: the depth alert
//! fires for the backed-up queue and no other, is still pending before its `for:` has passed,
//! and the broker-metric variant fires on the broker's samples alone.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tributary_broker::{JobEnvelope, JobKind, Publisher};
use tributary_connector::{ConnectorKind, Registry, SourceId, StreamName, TenantId, Window};
use tributary_ops_tests::{
    alert_annotations, parse_exposition, promtool, read, render_annotation, repo_root, rule_groups,
    Sample,
};
use tributary_runtime::Secret;
use tributary_store::Store;
use uuid::Uuid;

/// Jobs published before each scrape: the queue goes over the alert's 1,000 at once and keeps growing.
const BATCHES: [usize; 3] = [1_100, 600, 600];
/// Time between two scrapes in the promtool file.
const SCRAPE_MINUTES: u32 = 5;
/// How long the stack may take to show a change (the broker's statistics are emitted every 5 s).
const SCRAPE_DEADLINE: Duration = Duration::from_secs(25);

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through `ops/dev test` (or `eval \"$(ops/dev env)\"` first)")
    })
}

/// Waits until `condition` returns `Some`, polling every 200 ms, failing after `deadline`.
async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn fresh_database() -> String {
    let base_url = required_env("TRIBUTARY_DATABASE__URL");
    let database = format!("test_{}", Uuid::now_v7().simple());
    let admin = Store::connect(&base_url, 1).unwrap();
    admin
        .pool()
        .get()
        .await
        .expect("connect to the dev database")
        .simple_query(&format!("CREATE DATABASE {database}"))
        .await
        .expect("create a test database");
    let (prefix_url, _) = base_url
        .rsplit_once('/')
        .expect("a database URL has a path");
    format!("{prefix_url}/{database}")
}

/// One scrape target: what Prometheus would call its job and instance, and its URL.
struct Target {
    job: &'static str,
    instance: String,
    url: String,
}

/// Every target's samples at one moment, already labelled with job and instance.
type Scrape = Vec<(String, f64)>;

async fn scrape(
    http: &reqwest::Client,
    targets: &[Target],
    keep: &dyn Fn(&Target, &Sample) -> bool,
) -> (Scrape, Vec<Sample>) {
    let mut series = Vec::new();
    let mut broker_samples = Vec::new();
    for target in targets {
        let body = http
            .get(&target.url)
            .send()
            .await
            .and_then(|response| response.error_for_status())
            .unwrap_or_else(|error| panic!("scraping {}: {error}", target.url))
            .text()
            .await
            .expect("a metrics body");
        let labels = [("job", target.job), ("instance", target.instance.as_str())];
        series.push((
            Sample {
                name: "up".into(),
                labels: Vec::new(),
                value: 1.0,
            }
            .series(&labels),
            1.0,
        ));
        for sample in parse_exposition(&body) {
            if !keep(target, &sample) || !sample.value.is_finite() {
                continue;
            }
            series.push((sample.series(&labels), sample.value));
            if target.job == "rabbitmq" {
                broker_samples.push(sample);
            }
        }
    }
    (series, broker_samples)
}

/// The value of `name{queue}` in a scrape's samples.
fn queue_value(series: &Scrape, name: &str, queue: &str) -> Option<f64> {
    let needle = format!("queue=\"{queue}\"");
    series
        .iter()
        .find(|(key, _)| key.starts_with(&format!("{name}{{")) && key.contains(&needle))
        .map(|(_, value)| *value)
}

/// promtool's input series: each series' values at the scrapes, `_` where it was absent.
fn input_series(scrapes: &[Scrape], keep_job: &dyn Fn(&str) -> bool) -> Vec<serde_json::Value> {
    let mut table: BTreeMap<&str, Vec<Option<f64>>> = BTreeMap::new();
    for (index, scrape) in scrapes.iter().enumerate() {
        for (series, value) in scrape {
            let values = table
                .entry(series)
                .or_insert_with(|| vec![None; scrapes.len()]);
            values[index] = Some(*value);
        }
    }
    table
        .into_iter()
        .filter(|(series, _)| keep_job(series))
        .map(|(series, values)| {
            let values: Vec<String> = values
                .iter()
                .map(|value| value.map_or_else(|| "_".to_owned(), |value| format!("{value}")))
                .collect();
            serde_json::json!({"series": series, "values": values.join(" ")})
        })
        .collect()
}

/// An expected alert: its labels (severity included) and the rule file's annotations filled in.
fn expected_alert(rules: &str, alert: &str, labels: &[(&str, &str)]) -> serde_json::Value {
    let annotations: serde_json::Map<String, serde_json::Value> = alert_annotations(rules, alert)
        .into_iter()
        .map(|(key, template)| (key, render_annotation(&template, labels).into()))
        .collect();
    assert!(
        !annotations.is_empty(),
        "{alert} has no annotations in the rule file"
    );
    let mut exp_labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).into()))
        .collect();
    exp_labels.insert("severity".into(), "critical".into());
    serde_json::json!({"exp_labels": exp_labels, "exp_annotations": annotations})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_depth_alert_fires_on_a_backed_up_queue_of_a_real_stack() {
    // --- the stack: fresh database and prefix, a worker that consumes only `demo` ---------------
    let database_url = fresh_database().await;
    Store::connect(&database_url, 2)
        .unwrap()
        .migrate()
        .await
        .expect("migrate the test database");
    let amqp_url = required_env("TRIBUTARY_AMQP__URL");
    let prefix = format!("t{}", &Uuid::now_v7().simple().to_string()[20..]);
    let retry_tiers: Vec<String> = vec!["200ms".into(), "500ms".into(), "1s".into()];

    let mut worker_settings = tributary_worker::config::Settings::default();
    worker_settings.amqp.url = tributary_runtime::AmqpUrls::joined(&amqp_url);
    worker_settings.amqp.prefix = prefix.clone();
    worker_settings.amqp.retry_tiers = retry_tiers.clone();
    worker_settings.database.url = Secret::new(database_url.clone());
    worker_settings.database.max_connections = 4;
    worker_settings.http.listen = "127.0.0.1:0".parse().unwrap();
    worker_settings.worker.concurrency = 2;
    worker_settings.worker.prefetch = 4;

    // Every connector's queue exists (as `tributary-worker enqueue` would declare them), but
    // this worker consumes only `demo`: `stripe` backs up.
    let topology = tributary_worker::app::topology(
        &worker_settings,
        &tributary_worker::connectors::registry().kinds(),
    )
    .unwrap();
    let connection =
        tributary_broker::connect(&worker_settings.amqp.nodes().unwrap(), "ops test topology")
            .await
            .expect("connect to the broker");
    topology
        .declare(&connection)
        .await
        .expect("declare the topology");
    let _ = connection.close(200, "declared".into()).await;

    let worker = tributary_worker::Worker::build_with_registry(
        worker_settings.clone(),
        Registry::new(vec![tributary_connector_demo::spec()]),
    )
    .await
    .expect("the worker builds");
    let worker_addr = worker.http_addr();
    let (stop_worker, worker_stopped) = oneshot::channel::<()>();
    let worker_task = tokio::spawn(worker.run_until_stopped(async move {
        let _ = worker_stopped.await;
    }));

    let mut admin_settings = tributary_queue_admin::Settings::default();
    admin_settings.amqp.url = tributary_runtime::AmqpUrls::joined(&amqp_url);
    admin_settings.amqp.prefix = prefix.clone();
    admin_settings.amqp.retry_tiers = retry_tiers;
    admin_settings.amqp.management_url = Some(required_env("TRIBUTARY_AMQP__MANAGEMENT_URL"));
    admin_settings.amqp.management_user = Some(required_env("TRIBUTARY_AMQP__MANAGEMENT_USER"));
    admin_settings.amqp.management_password = Some(Secret::new(required_env(
        "TRIBUTARY_AMQP__MANAGEMENT_PASSWORD",
    )));
    admin_settings.database.url = Secret::new(database_url.clone());
    admin_settings.database.max_connections = 4;
    admin_settings.admin.listen = "127.0.0.1:0".parse().unwrap();
    admin_settings.admin.ops_listen = "127.0.0.1:0".parse().unwrap();
    admin_settings.admin.cookie_secure = false;
    admin_settings.admin.metrics_refresh_seconds = 1;
    let admin = tributary_queue_admin::AdminApp::build(admin_settings)
        .await
        .expect("queue-admin builds");
    let admin_ops_addr = admin.ops_addr();
    let (stop_admin, admin_stopped) = oneshot::channel::<()>();
    let admin_task = tokio::spawn(admin.run_until_stopped(async move {
        let _ = admin_stopped.await;
    }));

    let broker_metrics = required_env("TRIBUTARY_DEV_BROKER_PROMETHEUS_URL");
    let broker_base = broker_metrics
        .trim_end_matches('/')
        .trim_end_matches("/metrics");
    let targets = [
        Target {
            job: "tributary-worker",
            instance: worker_addr.to_string(),
            url: format!("http://{worker_addr}/metrics"),
        },
        Target {
            job: "tributary-queue-admin",
            instance: admin_ops_addr.to_string(),
            url: format!("http://{admin_ops_addr}/metrics"),
        },
        // Per-queue series, as a production scrape config asks for them.
        Target {
            job: "rabbitmq",
            instance: "rabbitmq-dev".to_owned(),
            url: format!("{broker_base}/metrics/per-object"),
        },
    ];
    // The shared dev broker holds every test's queues: keep ours and the node's alarms.
    let queue_prefix = format!("{prefix}.");
    let keep = |target: &Target, sample: &Sample| -> bool {
        if target.job != "rabbitmq" {
            return sample.name.starts_with("tributary_");
        }
        sample.name.starts_with("rabbitmq_alarms_")
            || sample
                .label("queue")
                .is_some_and(|queue| queue.starts_with(&queue_prefix))
    };

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    wait_for("the worker to be ready", Duration::from_secs(20), || {
        let http = http.clone();
        async move {
            let response = http
                .get(format!("http://{worker_addr}/readyz"))
                .send()
                .await
                .ok()?;
            response.status().is_success().then_some(())
        }
    })
    .await;

    // --- back the queue up, scraping after each batch -------------------------------------------
    let stripe = ConnectorKind::new("stripe").unwrap();
    let stripe_queue = topology.work_queue(&stripe);
    let demo_queue = topology.work_queue(&ConnectorKind::new("demo").unwrap());
    let publisher = Publisher::new(worker_settings.amqp.nodes().unwrap(), "ops test publisher");
    let mut published = 0;
    let mut scrapes: Vec<Scrape> = Vec::new();
    for batch in BATCHES.iter().copied().chain([0]) {
        let jobs: Vec<JobEnvelope> = (0..batch)
            .map(|n| {
                JobEnvelope::new_root(
                    JobKind::Pull,
                    stripe.clone(),
                    TenantId::new(format!("tenant-{}", (published + n) % 50)).unwrap(),
                    SourceId::new("stripe_main").unwrap(),
                    StreamName::new("charges").unwrap(),
                    Window::default(),
                )
            })
            .collect();
        publisher
            .publish_jobs(&topology, &jobs)
            .await
            .expect("publish jobs");
        published += batch;
        let expected = published as f64;
        let scrape = wait_for(
            &format!("queue-admin and the broker to report {published} ready on {stripe_queue}"),
            SCRAPE_DEADLINE,
            || {
                let (http, targets, keep, stripe_queue) = (&http, &targets, &keep, &stripe_queue);
                async move {
                    let (scrape, _) = scrape(http, targets, keep).await;
                    let ours = queue_value(&scrape, "tributary_queue_messages_ready", stripe_queue);
                    let broker =
                        queue_value(&scrape, "rabbitmq_queue_messages_ready", stripe_queue);
                    (ours == Some(expected) && broker == Some(expected)).then_some(scrape)
                }
            },
        )
        .await;
        scrapes.push(scrape);
    }
    let last = scrapes.last().unwrap();
    assert!(
        last.iter()
            .any(|(series, _)| series
                .starts_with("tributary_jobs_in_flight{job=\"tributary-worker\"")),
        "the worker's own metrics were scraped"
    );
    assert_eq!(
        queue_value(last, "tributary_queue_messages_ready", &demo_queue),
        Some(0.0)
    );

    let _ = stop_worker.send(());
    let _ = stop_admin.send(());
    worker_task
        .await
        .expect("worker task")
        .expect("the worker stops cleanly");
    admin_task
        .await
        .expect("queue-admin task")
        .expect("queue-admin stops cleanly");

    // --- promtool on the scrapes ----------------------------------------------------------------
    let rules_dir = repo_root().join("ops/prometheus/rules");
    let rules = read("ops/prometheus/rules/tributary-alerts.yml");
    // Recording rules first: promtool otherwise evaluates the groups in a random order, and an
    // alert evaluated before the recording rule it reads sees the previous minute's value.
    let mut group_order = rule_groups(&read("ops/prometheus/rules/tributary-recording.yml"));
    group_order.extend(rule_groups(&rules));
    let fires_at = format!("{}m", 3 * SCRAPE_MINUTES);
    let pending_at = format!("{}m", 2 * SCRAPE_MINUTES);
    let every_series = input_series(&scrapes, &|_| true);
    // Only the broker's samples (and every target's `up`): as if queue-admin were down. (The
    // worker's scrape holds queue-admin's gauges too: in one process they share a recorder.)
    let broker_only = input_series(&scrapes, &|series| {
        series.starts_with("up{") || series.contains("job=\"rabbitmq\"")
    });
    let ours = expected_alert(
        &rules,
        "TributaryQueueDepthHigh",
        &[("queue", &stripe_queue)],
    );
    let broker = expected_alert(
        &rules,
        "TributaryBrokerQueueDepthHigh",
        &[("queue", &stripe_queue), ("vhost", "/")],
    );
    let test_file = serde_json::json!({
        "rule_files": [
            rules_dir.join("tributary-recording.yml"),
            rules_dir.join("tributary-alerts.yml"),
        ],
        "evaluation_interval": "1m",
        "group_eval_order": group_order,
        "tests": [
            {
                "name": "every scraped target",
                "interval": format!("{SCRAPE_MINUTES}m"),
                "input_series": every_series,
                "alert_rule_test": [
                    {"eval_time": pending_at, "alertname": "TributaryQueueDepthHigh", "exp_alerts": []},
                    {"eval_time": fires_at, "alertname": "TributaryQueueDepthHigh", "exp_alerts": [ours]},
                    // queue-admin reports the queue, so the broker's variant stays quiet,
                    {"eval_time": fires_at, "alertname": "TributaryBrokerQueueDepthHigh", "exp_alerts": []},
                    // and every target was up.
                    {"eval_time": fires_at, "alertname": "TributaryWorkerDown", "exp_alerts": []},
                    {"eval_time": fires_at, "alertname": "TributaryNoWorkersUp", "exp_alerts": []},
                ],
            },
            {
                "name": "the broker's samples alone",
                "interval": format!("{SCRAPE_MINUTES}m"),
                "input_series": broker_only,
                "alert_rule_test": [
                    {"eval_time": pending_at, "alertname": "TributaryBrokerQueueDepthHigh", "exp_alerts": []},
                    {"eval_time": fires_at, "alertname": "TributaryBrokerQueueDepthHigh", "exp_alerts": [broker]},
                ],
            },
        ],
    });
    // JSON is YAML: promtool reads it as is.
    let path = std::env::temp_dir().join(format!("tributary-alert-stack-{prefix}.test.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&test_file).unwrap()).unwrap();
    promtool(&["test", "rules", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
}
