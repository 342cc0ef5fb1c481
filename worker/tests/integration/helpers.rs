//! `TestApp`: a fresh database, fresh queue names, a demo shop, and workers in-process or as
//! child processes, with methods named after what tests want to do.

use std::collections::BTreeMap;
use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tributary_broker::lapin::BasicProperties;
use tributary_broker::{JobEnvelope, JobKind, Publisher, Topology};
use tributary_connector::{ConnectorKind, SourceId, StreamName, TenantId, Window};
use tributary_demo_shop::{ShopConfig, ShopHandle, Stream};
use tributary_store::Store;
use tributary_worker::config::{Secret, Settings, SourceSettings};
use tributary_worker::Worker;
use uuid::Uuid;

/// The source id tests configure for the demo shop.
pub const SOURCE: &str = "demo_shop";

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through `ops/dev test` (or `eval \"$(ops/dev env)\"` first)")
    })
}

/// Waits until `condition` returns `Some`, polling every 50 ms, failing after `deadline`.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        // A probe that hangs (a connection into a half-open network, a broker still booting)
        // must not outlive the deadline either.
        let remaining = deadline.saturating_sub(started.elapsed());
        if let Ok(Some(value)) = tokio::time::timeout(remaining, condition()).await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One test's world.
pub struct TestApp {
    pub settings: Settings,
    pub store: Store,
    pub shop: ShopHandle,
    pub topology: Topology,
    pub publisher: Publisher,
    workers: Vec<oneshot::Sender<()>>,
    worker_tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// A fresh database and prefix, a shop with `shop_config`, no worker yet.
    pub async fn new(shop_config: ShopConfig) -> Self {
        Self::new_on(
            shop_config,
            &required_env("TRIBUTARY_AMQP__URL"),
            &required_env("TRIBUTARY_DATABASE__URL"),
        )
        .await
    }

    /// As [`TestApp::new`], on another broker and PostgreSQL (a test's own, see `own_stack`).
    /// `base_url` is a database URL whose role may create databases.
    pub async fn new_on(shop_config: ShopConfig, amqp_url: &str, base_url: &str) -> Self {
        let database = format!("test_{}", Uuid::now_v7().simple());
        let admin = Store::connect(base_url, 1).unwrap();
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
        let database_url = format!("{prefix_url}/{database}");

        let shop = tributary_demo_shop::spawn(shop_config)
            .await
            .expect("start the shop");
        let mut settings = Settings::default();
        settings.amqp.url = tributary_worker::config::AmqpUrls::joined(amqp_url);
        settings.amqp.prefix = format!("t{}", &Uuid::now_v7().simple().to_string()[20..]);
        settings.amqp.retry_tiers = vec!["200ms".into(), "500ms".into(), "1s".into()];
        settings.database.url = Secret::new(database_url.clone());
        settings.database.max_connections = 8;
        settings.http.listen = "127.0.0.1:0".parse().unwrap();
        settings.worker.concurrency = 8;
        settings.worker.prefetch = 16;
        settings.worker.max_attempts = 3;
        settings.worker.job_max_pages = 5;
        settings.worker.page_timeout_seconds = 5;
        settings.worker.shutdown_grace_seconds = 10;
        settings.sources.insert(
            SOURCE.into(),
            SourceSettings {
                connector: "demo".into(),
                settings: serde_json::json!({"base_url": shop.url(), "page_size": 100}),
                // Tests are not about the demo shop's budget (limits.rs sets its own).
                rate_limit: Some(tributary_worker::config::RateLimitSettings {
                    requests_per_second: 1_000.0,
                    burst: 100,
                }),
            },
        );
        let store = Store::connect(&database_url, 4).unwrap();
        store.migrate().await.expect("migrate the test database");
        let topology = tributary_worker::app::topology(
            &settings,
            &tributary_worker::connectors::registry().kinds(),
        )
        .unwrap();
        // Declare the topology up front, as `tributary-worker enqueue` does, so jobs published
        // before any worker starts are routed.
        let connection =
            tributary_broker::connect(&settings.amqp.nodes().unwrap(), "test topology")
                .await
                .expect("connect to the broker");
        topology
            .declare(&connection)
            .await
            .expect("declare the topology");
        let _ = connection.close(200, "declared".into()).await;
        let publisher = Publisher::new(settings.amqp.nodes().unwrap(), "test publisher");
        Self {
            settings,
            store,
            shop,
            topology,
            publisher,
            workers: Vec::new(),
            worker_tasks: Vec::new(),
        }
    }

    /// Builds and starts an in-process worker with the current settings.
    /// Returns the address of its health and metrics endpoint.
    pub async fn start_worker(&mut self) -> std::net::SocketAddr {
        self.start_worker_with(tributary_worker::connectors::registry())
            .await
    }

    /// As [`TestApp::start_worker`], with another set of connectors.
    pub async fn start_worker_with(
        &mut self,
        registry: tributary_connector::Registry,
    ) -> std::net::SocketAddr {
        let worker = Worker::build_with_registry(self.settings.clone(), registry)
            .await
            .expect("worker builds");
        let http = worker.http_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(worker.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        self.workers.push(stop);
        self.worker_tasks.push(task);
        http
    }

    /// Stops every in-process worker gracefully and waits for them.
    pub async fn stop_workers(&mut self) {
        for stop in self.workers.drain(..) {
            let _ = stop.send(());
        }
        for task in self.worker_tasks.drain(..) {
            // Drain takes at most the grace period; anything longer is a hang to report.
            tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .expect("the worker stops within 60 s")
                .expect("worker task")
                .expect("worker stops cleanly");
        }
    }

    /// The environment a child worker process needs to use this test's world.
    pub fn worker_env(&self) -> BTreeMap<String, String> {
        let s = &self.settings;
        let tiers: Vec<String> = s
            .amqp
            .retry_tiers
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect();
        BTreeMap::from([
            ("TRIBUTARY_AMQP__URL".into(), s.amqp.url.expose_joined()),
            ("TRIBUTARY_AMQP__PREFIX".into(), s.amqp.prefix.clone()),
            (
                "TRIBUTARY_AMQP__RETRY_TIERS".into(),
                format!("[{}]", tiers.join(",")),
            ),
            (
                "TRIBUTARY_DATABASE__URL".into(),
                s.database.url.expose().to_owned(),
            ),
            ("TRIBUTARY_HTTP__LISTEN".into(), "127.0.0.1:0".into()),
            (
                "TRIBUTARY_WORKER__CONCURRENCY".into(),
                s.worker.concurrency.to_string(),
            ),
            (
                "TRIBUTARY_WORKER__PREFETCH".into(),
                s.worker.prefetch.to_string(),
            ),
            (
                "TRIBUTARY_WORKER__JOB_MAX_PAGES".into(),
                s.worker.job_max_pages.to_string(),
            ),
            (
                "TRIBUTARY_WORKER__MAX_ATTEMPTS".into(),
                s.worker.max_attempts.to_string(),
            ),
            (
                "TRIBUTARY_WORKER__SHUTDOWN_GRACE_SECONDS".into(),
                s.worker.shutdown_grace_seconds.to_string(),
            ),
            (
                format!("TRIBUTARY_SOURCES__{}__CONNECTOR", SOURCE.to_uppercase()),
                "demo".into(),
            ),
            (
                format!(
                    "TRIBUTARY_SOURCES__{}__SETTINGS__BASE_URL",
                    SOURCE.to_uppercase()
                ),
                self.shop.url(),
            ),
            (
                format!(
                    "TRIBUTARY_SOURCES__{}__SETTINGS__PAGE_SIZE",
                    SOURCE.to_uppercase()
                ),
                "100".into(),
            ),
            (
                format!(
                    "TRIBUTARY_SOURCES__{}__RATE_LIMIT__REQUESTS_PER_SECOND",
                    SOURCE.to_uppercase()
                ),
                "1000".into(),
            ),
            (
                format!(
                    "TRIBUTARY_SOURCES__{}__RATE_LIMIT__BURST",
                    SOURCE.to_uppercase()
                ),
                "100".into(),
            ),
            ("TRIBUTARY_LOG__FILTER".into(), "info".into()),
        ])
    }

    /// Starts `tributary-worker run` as a child process.
    pub fn spawn_worker_process(&self) -> Child {
        self.spawn_worker_process_with(&self.worker_env())
    }

    /// Starts `tributary-worker run` as a child process with this environment.
    pub fn spawn_worker_process_with(&self, env: &BTreeMap<String, String>) -> Child {
        Command::new(env!("CARGO_BIN_EXE_tributary-worker"))
            .arg("run")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the worker binary")
    }

    /// A pull job for (tenant, stream) of the demo shop.
    pub fn pull_job(&self, tenant: &str, stream: &str) -> JobEnvelope {
        JobEnvelope::new_root(
            JobKind::Pull,
            ConnectorKind::new("demo").unwrap(),
            TenantId::new(tenant).unwrap(),
            SourceId::new(SOURCE).unwrap(),
            StreamName::new(stream).unwrap(),
            Window::default(),
        )
    }

    /// Records jobs in the ledger and publishes them, as `tributary-worker enqueue` does.
    pub async fn enqueue(&self, jobs: &[JobEnvelope]) {
        let rows: Vec<_> = jobs
            .iter()
            .map(tributary_worker::handler::ledger_row)
            .collect();
        self.store.insert_jobs(&rows).await.expect("ledger rows");
        self.publisher
            .publish_jobs(&self.topology, jobs)
            .await
            .expect("publish jobs");
    }

    /// Publishes raw bytes straight onto the demo work queue (bypassing the ledger).
    pub async fn publish_raw(&self, body: &[u8], properties: BasicProperties) {
        self.publisher
            .publish_raw(&self.topology.work_exchange(), "demo", body, properties)
            .await
            .expect("publish raw message");
    }

    /// Messages ready on the demo work queue. With no consumer attached, an unacknowledged
    /// delivery is back to ready, so after `stop_workers` this says whether every delivery
    /// was acknowledged.
    pub async fn work_queue_ready(&self) -> u32 {
        let queue = self
            .topology
            .work_queue(&ConnectorKind::new("demo").unwrap());
        let connection =
            tributary_broker::connect(&self.settings.amqp.nodes().unwrap(), "test probe")
                .await
                .expect("connect to the broker");
        let channel = connection.create_channel().await.unwrap();
        let declared = channel
            .queue_declare(
                queue.into(),
                tributary_broker::lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .expect("the work queue exists");
        let _ = connection.close(200, "probe".into()).await;
        declared.message_count()
    }

    /// A job's ledger status.
    pub async fn job_status(&self, job_id: Uuid) -> Option<String> {
        self.query_opt_string("SELECT status FROM jobs WHERE id = $1", job_id)
            .await
    }

    async fn query_opt_string(&self, sql: &str, id: Uuid) -> Option<String> {
        let client = self.store.pool().get().await.unwrap();
        client
            .query_opt(sql, &[&id])
            .await
            .unwrap()
            .map(|row| row.get(0))
    }

    /// One scalar from SQL.
    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        let client = self.store.pool().get().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }

    /// Waits until every job of the runs rooted at `roots` is settled (succeeded / dead / ...).
    pub async fn wait_for_runs(&self, roots: &[Uuid], deadline: Duration) {
        let roots = roots.to_vec();
        wait_for("every run to settle", deadline, || {
            let store = self.store.clone();
            let roots = roots.clone();
            async move {
                let counts = store.job_status_counts(Some(&roots)).await.unwrap();
                let unsettled = counts
                    .iter()
                    .any(|c| !matches!(c.status.as_str(), "succeeded" | "superseded" | "dead"));
                (!counts.is_empty() && !unsettled).then_some(())
            }
        })
        .await
    }

    /// Records stored for (tenant, stream).
    pub async fn stored(&self, tenant: &str, stream: &str) -> i64 {
        let client = self.store.pool().get().await.unwrap();
        client
            .query_one(
                "SELECT count(*) FROM records WHERE tenant_id = $1 AND connector = 'demo' AND stream = $2",
                &[&tenant, &stream],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// What the shop holds for (tenant, stream).
    pub fn at_source(&self, tenant: &str, stream: &str) -> i64 {
        let stream: Stream = stream.parse().unwrap();
        self.shop.shop().total(tenant, stream) as i64
    }

    /// Waits for a dead letter of `job_id` (or, with `None`, for `count` dead letters in all)
    /// and returns (class, reason) of the newest.
    pub async fn wait_for_dead_letter(
        &self,
        job_id: Option<Uuid>,
        deadline: Duration,
    ) -> (String, String) {
        wait_for("a dead letter", deadline, || async {
            let client = self.store.pool().get().await.unwrap();
            let row = match job_id {
                Some(id) => client
                    .query_opt(
                        "SELECT class, reason FROM dead_letters WHERE job_id = $1",
                        &[&id],
                    )
                    .await
                    .unwrap(),
                None => client
                    .query_opt(
                        "SELECT class, reason FROM dead_letters ORDER BY id DESC LIMIT 1",
                        &[],
                    )
                    .await
                    .unwrap(),
            };
            row.map(|row| (row.get(0), row.get(1)))
        })
        .await
    }

    /// The path of the dev script (for broker restarts).
    pub fn dev_script() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/dev")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        for stop in self.workers.drain(..) {
            let _ = stop.send(());
        }
    }
}

/// Sends SIGTERM to a child process.
pub fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM failed");
}

/// Waits for a child to exit, failing after `deadline`.
pub async fn wait_for_exit(child: &mut Child, deadline: Duration) -> std::process::ExitStatus {
    wait_for("the worker process to exit", deadline, || {
        let status = child.try_wait().expect("try_wait");
        async move { status }
    })
    .await
}
