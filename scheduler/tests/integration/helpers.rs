//! `TestWorld`: a fresh database, fresh queue names (the demo connector's work queue declared),
//! scheduler replicas in-process, and a consumer of the work queue, with methods named after what
//! the tests want to do.

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tributary_broker::lapin::options::BasicConsumeOptions;
use tributary_broker::lapin::types::FieldTable;
use tributary_broker::{JobEnvelope, Topology};
use tributary_connector::ConnectorKind;
use tributary_scheduler::config::{Secret, Settings};
use tributary_scheduler::{Planner, Scheduler};
use tributary_store::{Cadence, OverlapPolicy, Schedule, ScheduleSpec, SlotRecord, Store};
use uuid::Uuid;

/// The connector every test schedule names (its work queue is declared).
pub const CONNECTOR: &str = "demo";

/// Who the tests are in the audit log.
pub const ACTOR: &str = "cli:tester";

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
        if let Some(value) = condition().await {
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
pub struct TestWorld {
    pub settings: Settings,
    pub store: Store,
    pub topology: Topology,
    replicas: Vec<(
        oneshot::Sender<()>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    )>,
}

impl TestWorld {
    /// A fresh database (migrated) and prefix (topology declared with the demo work queue).
    pub async fn new() -> Self {
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
        let database_url = format!("{prefix_url}/{database}");

        let mut settings = Settings::default();
        settings.amqp.url =
            tributary_runtime::AmqpUrls::joined(&required_env("TRIBUTARY_AMQP__URL"));
        settings.amqp.prefix = format!("t{}", &Uuid::now_v7().simple().to_string()[20..]);
        settings.database.url = Secret::new(database_url.clone());
        settings.database.max_connections = 4;
        settings.database.migrate_on_start = false;
        settings.scheduler.tick_interval_ms = 100;
        settings.scheduler.relay_interval_ms = 100;
        settings.scheduler.backlog_refresh_seconds = 1;
        settings.scheduler.ops_listen = "127.0.0.1:0".parse().unwrap();
        settings.log.filter = "warn".into();

        let store = Store::connect(&database_url, 4).unwrap();
        store.migrate().await.expect("migrate the test database");
        let topology = settings
            .amqp
            .topology(vec![ConnectorKind::new(CONNECTOR).unwrap()])
            .unwrap();
        let connection =
            tributary_broker::connect(&settings.amqp.nodes().unwrap(), "test topology")
                .await
                .expect("connect to the broker");
        topology
            .declare(&connection)
            .await
            .expect("declare the topology");
        let _ = connection.close(200, "declared".into()).await;
        Self {
            settings,
            store,
            topology,
            replicas: Vec::new(),
        }
    }

    /// A schedule spec for `stream` of tenant `acme`, every `every_seconds`, with `overlap`.
    pub fn spec(stream: &str, cadence: Cadence, overlap: OverlapPolicy) -> ScheduleSpec {
        ScheduleSpec {
            tenant: "acme".into(),
            source: "shop".into(),
            stream: stream.into(),
            connector: CONNECTOR.into(),
            kind: "pull".into(),
            cadence,
            time_zone: "UTC".into(),
            jitter_seconds: 0,
            overlap,
            catch_up_seconds: 3_600,
            enabled: true,
        }
    }

    /// Creates a schedule as the CLI would.
    pub async fn create(&self, spec: &ScheduleSpec) -> Schedule {
        self.store
            .create_schedule(spec, &Planner, ACTOR)
            .await
            .expect("create a schedule")
    }

    /// Builds a replica without running it.
    pub async fn build_replica(&self) -> Scheduler {
        Scheduler::build(self.settings.clone())
            .await
            .expect("the scheduler builds")
    }

    /// Builds and runs a replica in-process until [`TestWorld::stop_replicas`].
    pub async fn start_replica(&mut self) -> std::net::SocketAddr {
        let scheduler = self.build_replica().await;
        let ops = scheduler.ops_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(scheduler.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        self.replicas.push((stop, task));
        ops
    }

    /// Stops every running replica and waits for each to finish cleanly.
    pub async fn stop_replicas(&mut self) {
        let mut tasks = Vec::new();
        for (stop, task) in self.replicas.drain(..) {
            let _ = stop.send(());
            tasks.push(task);
        }
        for task in tasks {
            task.await
                .expect("replica task")
                .expect("replica stops cleanly");
        }
    }

    /// Starts consuming the demo work queue; every job received lands in the returned list.
    pub async fn consume(&self) -> Received {
        let connection =
            tributary_broker::connect(&self.settings.amqp.nodes().unwrap(), "test consumer")
                .await
                .expect("connect to the broker");
        let channel = connection.create_channel().await.unwrap();
        let mut consumer = channel
            .basic_consume(
                self.topology
                    .work_queue(&ConnectorKind::new(CONNECTOR).unwrap())
                    .into(),
                "test consumer".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("consume the work queue");
        let jobs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&jobs);
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            // Keeps the connection open as long as the consumer runs.
            let _connection = connection;
            while let Some(Ok(delivery)) = consumer.next().await {
                let job = JobEnvelope::parse(&delivery.data).expect("a job envelope");
                sink.lock().unwrap().push(job.clone());
                if sender.send(job).is_err() {
                    // Nobody listens to the stream; the list still fills.
                }
            }
        });
        Received {
            jobs,
            stream: Mutex::new(Some(receiver)),
        }
    }

    /// The slots recorded for a schedule, oldest first.
    pub async fn slots(&self, schedule: i64) -> Vec<SlotRecord> {
        let mut slots = self.store.schedule_slots(schedule, 100_000).await.unwrap();
        slots.reverse();
        slots
    }

    /// Enqueued slot count of a schedule.
    pub async fn enqueued(&self, schedule: i64) -> usize {
        self.slots(schedule)
            .await
            .iter()
            .filter(|slot| slot.outcome == "enqueued")
            .count()
    }

    /// One scalar from SQL.
    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        let client = self.store.pool().get().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }

    /// Moves a schedule's next slot (and firing time) to `at`, as if it had been due then.
    pub async fn set_next_slot(&self, schedule: i64, at: DateTime<Utc>) {
        let client = self.store.pool().get().await.unwrap();
        client
            .execute(
                "UPDATE schedules SET next_slot_at = $2, next_fire_at = $2 WHERE id = $1",
                &[&schedule, &at],
            )
            .await
            .unwrap();
    }

    /// `GET path` on a replica's ops endpoint; the body.
    pub async fn get(&self, addr: std::net::SocketAddr, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }
}

impl Drop for TestWorld {
    fn drop(&mut self) {
        for (stop, _) in self.replicas.drain(..) {
            let _ = stop.send(());
        }
    }
}

/// Jobs consumed from the work queue.
pub struct Received {
    jobs: Arc<Mutex<Vec<JobEnvelope>>>,
    stream: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<JobEnvelope>>>,
}

impl Received {
    /// Every job received so far.
    pub fn jobs(&self) -> Vec<JobEnvelope> {
        self.jobs.lock().unwrap().clone()
    }

    /// The job ids received so far.
    pub fn ids(&self) -> Vec<Uuid> {
        self.jobs().iter().map(|job| job.job_id.as_uuid()).collect()
    }

    /// Waits until every id of `expected` has been received.
    pub async fn wait_for_ids(&self, expected: &[Uuid], deadline: Duration) {
        wait_for("the jobs to be consumed", deadline, || async {
            let ids = self.ids();
            expected.iter().all(|id| ids.contains(id)).then_some(())
        })
        .await
    }

    /// The stream of jobs as they arrive (once).
    pub fn take_stream(&self) -> tokio::sync::mpsc::UnboundedReceiver<JobEnvelope> {
        self.stream
            .lock()
            .unwrap()
            .take()
            .expect("the stream is taken once")
    }
}
