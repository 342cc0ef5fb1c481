//! Faults injected during a steady ingestion of several thousand records (three tenants, three
//! streams each, continuations every few pages), each test ending with the checker's verdict —
//! nothing lost, nothing applied twice, nothing unexpected — and the fault's own outcome within
//! a stated deadline. Worker processes are killed at the fault points of `tributary_worker::fault`;
//! the network to the broker and to PostgreSQL is cut through `tributary_fault_proxy`. Tests that
//! restart, kill or alarm a broker or PostgreSQL do it to one of their own (`own_stack`), so none
//! of them is `serial_*` and none disturbs the shared dev stack.

use crate::checker::{self, Expected, History};
use crate::helpers::{terminate, wait_for, wait_for_exit, TestApp};
use crate::own_stack::{BrokerConfig, OwnBroker, OwnPostgres};
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::time::{Duration, Instant};
use tributary_broker::JobEnvelope;
use tributary_connector::ConnectorKind;
use tributary_demo_shop::{ScriptedFault, ShopConfig};
use tributary_fault_proxy::FaultProxy;
use tributary_worker::fault;

/// Tenants of the steady load.
const TENANTS: [&str; 3] = ["acme", "globex", "initech"];
/// Streams of each tenant.
const STREAMS: [&str; 3] = ["orders", "customers", "products"];
/// Records per tenant: 1,000 orders, 500 customers, 300 products; 5,400 in all, 54 pages.
const VOLUME: (u64, u64, u64) = (1_000, 500, 300);
/// How long the runs may take to settle once a fault is over (measured: 0.1–3 s; a broker
/// or PostgreSQL restart adds its boot, and a loaded CI machine much more). Unfaulted: ~3 s.
pub(crate) const RECOVERY: Duration = Duration::from_secs(90);

/// A test world for the steady load: pages of 100, a continuation every 5 pages, and 20 ms of
/// shop latency per request so that faults land while runs are in flight.
async fn steady_app() -> TestApp {
    steady_app_with(TestApp::new(steady_shop()).await)
}

/// The steady load's shop.
fn steady_shop() -> ShopConfig {
    let mut shop = ShopConfig::with_volume(VOLUME.0, VOLUME.1, VOLUME.2);
    shop.faults.latency = Duration::from_millis(20);
    shop
}

/// The steady load's settings on `app`.
pub(crate) fn steady_app_with(mut app: TestApp) -> TestApp {
    app.settings.worker.job_max_pages = 5;
    app.settings.worker.max_attempts = 5;
    app
}

/// One root job per (tenant, stream).
fn load_jobs(app: &TestApp) -> Vec<JobEnvelope> {
    let mut jobs = Vec::new();
    for tenant in TENANTS {
        for stream in STREAMS {
            jobs.push(app.pull_job(tenant, stream));
        }
    }
    jobs
}

/// Enqueues the load; every publish is confirmed (`enqueue` fails otherwise).
pub(crate) async fn start_load(app: &TestApp) -> History {
    let jobs = load_jobs(app);
    app.enqueue(&jobs).await;
    History::effects(&jobs)
}

/// Pages committed so far, over every stream.
pub(crate) async fn pages_committed(app: &TestApp) -> i64 {
    app.scalar_i64("SELECT COALESCE(sum(pages), 0)::bigint FROM checkpoints")
        .await
}

/// Waits until at least `pages` pages are committed: the load is under way.
pub(crate) async fn wait_for_pages(app: &TestApp, pages: i64) {
    wait_for(
        "the load to commit pages",
        Duration::from_secs(60),
        || async { (pages_committed(app).await >= pages).then_some(()) },
    )
    .await;
}

/// Waits for every run to settle within `deadline`, then runs the checker and asserts its zeros.
pub(crate) async fn settle_and_check(
    app: &TestApp,
    history: &History,
    deadline: Duration,
    test: &str,
) {
    let started = Instant::now();
    app.wait_for_runs(&history.roots(), deadline).await;
    println!("{test}: settled {:?} after the fault", started.elapsed());
    let report = checker::check(app, history).await;
    report.assert_clean(test);
    assert_eq!(
        report.effects + report.dead_letters,
        history.roots().len(),
        "{test}: every run took effect or became its expected dead letter"
    );
}

/// A worker process's environment with a fault point armed.
fn armed_env(app: &TestApp, point: &str) -> BTreeMap<String, String> {
    let mut env = app.worker_env();
    env.insert(fault::FAULT_POINT_ENV.into(), point.into());
    env
}

/// Waits for an armed worker to abort at its fault point.
async fn wait_for_abort(worker: &mut Child) {
    let status = wait_for_exit(worker, Duration::from_secs(60)).await;
    assert_eq!(
        status.signal(),
        Some(6),
        "the worker died at its fault point (SIGABRT): {status:?}"
    );
}

async fn stop_process(mut worker: Reaped) {
    terminate(&worker.0);
    wait_for_exit(&mut worker.0, Duration::from_secs(30)).await;
}

/// A worker process that is killed (and continued first, if stopped) when the test ends, so a
/// failing test leaves no process behind.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            signal(&self.0, "CONT");
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Kills a worker process at `point` (on its `nth` hit), starts a clean one, and checks.
async fn killed_at(point: &str, nth: u32, app: TestApp, history: History, test: &str) {
    let mut armed =
        Reaped(app.spawn_worker_process_with(&armed_env(&app, &format!("{point}:{nth}"))));
    wait_for_abort(&mut armed.0).await;
    let replacement = Reaped(app.spawn_worker_process());
    settle_and_check(&app, &history, RECOVERY, test).await;
    stop_process(replacement).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_before_a_page_commit_loses_nothing() {
    let app = steady_app().await;
    let history = start_load(&app).await;
    killed_at(fault::BEFORE_COMMIT, 12, app, history, "before_commit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_commit_and_ack_applies_nothing_twice() {
    let app = steady_app().await;
    let history = start_load(&app).await;
    let mut armed = Reaped(app.spawn_worker_process_with(&armed_env(
        &app,
        &format!("{}:4", fault::AFTER_COMMIT_BEFORE_ACK),
    )));
    wait_for_abort(&mut armed.0).await;
    // At least the job whose outcome was durable but unacknowledged comes back.
    let replacement = Reaped(app.spawn_worker_process());
    settle_and_check(&app, &history, RECOVERY, "after_commit_before_ack").await;
    let redelivered_settled = app
        .scalar_i64("SELECT count(*) FROM jobs WHERE deliveries > 1")
        .await;
    assert!(
        redelivered_settled >= 1,
        "a settled job was delivered again and absorbed"
    );
    stop_process(replacement).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_a_retry_publish_leaves_one_run_of_two_copies() {
    let app = steady_app().await;
    // Every first page fails three times: the in-process quick retries (1 + 2) are spent and
    // each job goes to a retry tier; the worker dies right after the first retry is confirmed,
    // before its ledger row or its ack. The tier copy and the redelivered original both arrive.
    app.shop
        .script(std::iter::repeat_n(ScriptedFault::status(503), 27));
    let history = start_load(&app).await;
    killed_at(
        fault::AFTER_RETRY_PUBLISH,
        1,
        app,
        history,
        "after_retry_publish",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_past_the_heartbeat_then_sigcont_loses_nothing() {
    // The slow shop: runs are still in flight, with deliveries held, when the process stops.
    let app = steady_app_with(TestApp::new(slow_shop()).await);
    let history = start_load(&app).await;
    // A 2 s heartbeat: the broker gives up on a silent connection after two missed beats.
    let mut env = app.worker_env();
    let url = format!("{}?heartbeat=2", env["TRIBUTARY_AMQP__URL"]);
    env.insert("TRIBUTARY_AMQP__URL".into(), url);
    let frozen = Reaped(app.spawn_worker_process_with(&env));
    wait_for_pages(&app, 8).await;
    signal(&frozen.0, "STOP");
    let stopped_at = Instant::now();
    assert_in_flight(&app, "sigstop").await;
    let healthy = Reaped(app.spawn_worker_process_with(&env));
    // The frozen worker holds every delivery it was given (prefetch 16 > 9 runs): another
    // worker gets one only after the broker has given up on the frozen connection, so a
    // second delivery is the proof of the takeover. (The frozen process may still hold one
    // stream's row lock, a commit it was in, so this does not wait for everything.)
    wait_for(
        "the healthy worker to take over the frozen worker's deliveries",
        Duration::from_secs(30),
        || async {
            (app.scalar_i64("SELECT count(*) FROM jobs WHERE deliveries > 1")
                .await
                > 0)
            .then_some(())
        },
    )
    .await;
    println!(
        "sigstop: taken over {:?} after SIGSTOP",
        stopped_at.elapsed()
    );
    signal(&frozen.0, "CONT");
    settle_and_check(&app, &history, RECOVERY, "sigstop").await;
    stop_process(frozen).await;
    stop_process(healthy).await;
}

fn signal(child: &Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_the_workers_postgres_backends_mid_commit_loses_nothing() {
    let mut app = steady_app_with(TestApp::new(slow_shop()).await);
    app.start_worker().await;
    let history = start_load(&app).await;
    wait_for_pages(&app, 5).await;
    // For 3 s, every 100 ms, terminate each backend of this test's database that is busy
    // (mid-statement or mid-transaction): page commits, ledger writes, lease updates.
    let mut terminated = 0;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        terminated += app
            .scalar_i64(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()
                   AND state IS DISTINCT FROM 'idle') AS t",
            )
            .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("terminated {terminated} backends");
    assert_in_flight(&app, "pg_terminate_backend").await;
    assert!(terminated > 0, "some backends were caught mid-work");
    settle_and_check(&app, &history, RECOVERY, "pg_terminate_backend").await;
    app.stop_workers().await;
}

/// Which connection of the worker goes through the proxy.
#[derive(Debug, Clone, Copy)]
enum Link {
    Broker,
    Postgres,
}

/// How the network fails.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// New connections are reset and existing ones reset too: the service is unreachable.
    Drop,
    /// 100 ms per chunk, both ways.
    Delay,
    /// Half-open: bytes swallowed, nothing answered, nothing closed.
    BlackHole,
    /// Every connection gets an RST; reconnecting works at once.
    Reset,
}

/// `url` with its host and port replaced by `addr`.
fn through(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme_and_user, rest) = url.rsplit_once('@').expect("a URL with credentials");
    let path_start = rest.find('/').unwrap_or(rest.len());
    format!("{scheme_and_user}@{addr}{}", &rest[path_start..])
}

fn authority(url: &str) -> std::net::SocketAddr {
    let rest = url.rsplit_once('@').expect("a URL with credentials").1;
    let host = &rest[..rest.find('/').unwrap_or(rest.len())];
    host.parse().expect("host:port of the dev stack")
}

/// Runs the steady load with an in-process worker whose `link` goes through a proxy, cuts it
/// with `cut`, restores it, and checks.
async fn network_fault(link: Link, cut: Cut, test: &str) {
    // The slow shop: the cut lands while runs are in flight (asserted below).
    let mut app = steady_app_with(TestApp::new(slow_shop()).await);
    let url = match link {
        Link::Broker => app.settings.amqp.url.expose_joined(),
        Link::Postgres => app.settings.database.url.expose().to_owned(),
    };
    let proxy = FaultProxy::start(authority(&url))
        .await
        .expect("start the proxy");
    match link {
        Link::Broker => {
            // A 2 s heartbeat so that a half-open broker connection is noticed in seconds.
            let proxied = format!("{}?heartbeat=2", through(&url, proxy.addr()));
            app.settings.amqp.url = tributary_worker::config::AmqpUrls::one(proxied);
        }
        Link::Postgres => {
            app.settings.database.url =
                tributary_worker::config::Secret::new(through(&url, proxy.addr()));
        }
    }
    let http = app.start_worker().await;
    let history = start_load(&app).await;
    wait_for_pages(&app, 8).await;
    let ready = || async {
        reqwest::get(format!("http://{http}/readyz"))
            .await
            .map(|response| response.status().is_success())
            .unwrap_or(false)
    };
    let pages_before = pages_committed(&app).await;
    assert!(
        pages_before < LOAD_PAGES,
        "{test}: the cut came after the load"
    );
    match cut {
        Cut::Drop => {
            proxy.drop_new();
            proxy.reset_all();
            // Time-based: the outage lasts 3 s, during which reconnects are refused.
            tokio::time::sleep(Duration::from_secs(3)).await;
            if let Link::Broker = link {
                assert!(!ready().await, "not ready while the broker is unreachable");
            }
            proxy.restore();
        }
        Cut::Delay => {
            proxy.delay(Duration::from_millis(100));
            // Progress continues, slowly, through the latency.
            wait_for(
                "progress through a slow link",
                Duration::from_secs(60),
                || async { (pages_committed(&app).await > pages_before + 3).then_some(()) },
            )
            .await;
            proxy.restore();
        }
        Cut::BlackHole => {
            proxy.black_hole();
            match link {
                Link::Broker => {
                    // Missed heartbeats end the session: readiness drops within a few beats.
                    wait_for(
                        "the worker to notice the half-open broker",
                        Duration::from_secs(20),
                        || async { (!ready().await).then_some(()) },
                    )
                    .await;
                    proxy.restore();
                }
                Link::Postgres => {
                    // Time-based: 3 s of silence. The store's TCP deadlines (TCP_USER_TIMEOUT,
                    // keepalives: 30 s) cannot fire through a userspace proxy, whose kernel
                    // acknowledges everything, so the partition ends the way the kernel would
                    // end it after those deadlines: the connections are reset, then traffic
                    // passes.
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    proxy.reset_all();
                    proxy.restore();
                }
            }
        }
        Cut::Reset => {
            proxy.reset_all();
        }
    }
    settle_and_check(&app, &history, RECOVERY, test).await;
    if let Link::Broker = link {
        assert!(ready().await, "ready again after the broker link healed");
    }
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_link_dropped_then_restored() {
    network_fault(Link::Broker, Cut::Drop, "broker_drop").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_link_delayed() {
    network_fault(Link::Broker, Cut::Delay, "broker_delay").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_link_half_open() {
    network_fault(Link::Broker, Cut::BlackHole, "broker_half_open").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_link_reset() {
    network_fault(Link::Broker, Cut::Reset, "broker_reset").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_link_dropped_then_restored() {
    network_fault(Link::Postgres, Cut::Drop, "postgres_drop").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_link_delayed() {
    network_fault(Link::Postgres, Cut::Delay, "postgres_delay").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_link_half_open_until_reset() {
    network_fault(Link::Postgres, Cut::BlackHole, "postgres_half_open").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_link_reset() {
    network_fault(Link::Postgres, Cut::Reset, "postgres_reset").await;
}

// ---- On a broker or PostgreSQL of the test's own (`own_stack`): restarts, kills, alarms. ----

/// The shop of the restart tests: 300 ms per request, so that the longest runs (10 pages)
/// are still in flight when a restart, which takes a second or more to begin, lands.
pub(crate) fn slow_shop() -> ShopConfig {
    let mut shop = steady_shop();
    shop.faults.latency = Duration::from_millis(300);
    shop
}

/// The steady load (slowed) on a node of its own and the shared PostgreSQL.
async fn app_on_own_broker(broker: &OwnBroker) -> TestApp {
    let database = std::env::var("TRIBUTARY_DATABASE__URL").expect("eval \"$(ops/dev env)\"");
    steady_app_with(TestApp::new_on(slow_shop(), &broker.url(), &database).await)
}

/// The steady load (slowed) on a cluster of its own and the shared broker.
async fn app_on_own_postgres(postgres: &OwnPostgres) -> TestApp {
    let amqp = std::env::var("TRIBUTARY_AMQP__URL").expect("eval \"$(ops/dev env)\"");
    steady_app_with(TestApp::new_on(slow_shop(), &amqp, &postgres.url()).await)
}

/// All pages of the load: 10 + 5 + 3 per tenant.
pub(crate) const LOAD_PAGES: i64 = 54;

/// Asserts that the fault landed while runs were in flight.
pub(crate) async fn assert_in_flight(app: &TestApp, test: &str) {
    let pages = pages_committed(app).await;
    assert!(
        pages < LOAD_PAGES,
        "{test}: the fault landed after the load had finished ({pages} pages)"
    );
}

/// Waits until the test's own pool reaches PostgreSQL again (its old connections are gone).
async fn wait_for_store(app: &TestApp) {
    wait_for(
        "PostgreSQL to answer again",
        Duration::from_secs(30),
        || async { app.store.ping().await.ok() },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restarted_gracefully_under_load() {
    let mut broker = OwnBroker::start(BrokerConfig::default()).await;
    let mut app = app_on_own_broker(&broker).await;
    app.start_worker().await;
    let history = start_load(&app).await;
    wait_for_pages(&app, 8).await;
    broker.stop().await;
    assert_in_flight(&app, "broker_restart").await;
    broker.launch().await;
    settle_and_check(&app, &history, RECOVERY, "broker_restart").await;
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_killed_under_load() {
    let mut broker = OwnBroker::start(BrokerConfig::default()).await;
    let mut app = app_on_own_broker(&broker).await;
    app.start_worker().await;
    let history = start_load(&app).await;
    wait_for_pages(&app, 8).await;
    broker.kill().await;
    assert_in_flight(&app, "broker_kill").await;
    broker.launch().await;
    settle_and_check(&app, &history, RECOVERY, "broker_kill").await;
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load() {
    let postgres = OwnPostgres::start().await;
    let mut app = app_on_own_postgres(&postgres).await;
    app.start_worker().await;
    let history = start_load(&app).await;
    wait_for_pages(&app, 8).await;
    postgres.restart();
    wait_for_store(&app).await;
    assert_in_flight(&app, "postgres_restart").await;
    settle_and_check(&app, &history, RECOVERY, "postgres_restart").await;
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_under_load() {
    let postgres = OwnPostgres::start().await;
    let mut app = app_on_own_postgres(&postgres).await;
    app.start_worker().await;
    let history = start_load(&app).await;
    wait_for_pages(&app, 8).await;
    postgres.kill_and_start().await;
    wait_for_store(&app).await;
    assert_in_flight(&app, "postgres_kill").await;
    settle_and_check(&app, &history, RECOVERY, "postgres_kill").await;
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_outliving_the_consumer_timeout_is_redelivered_and_lands_once() {
    // RabbitMQ 3.10 has neither the `x-consumer-timeout` queue argument nor the
    // `consumer-timeout` policy (3.12+), and its consumer_timeout is global and checked on the
    // channel tick (60 s by default). So: a node of the test's own with a 5 s timeout checked
    // every second.
    let broker = OwnBroker::start(BrokerConfig {
        conf: "consumer_timeout = 5000".into(),
        advanced_rabbit: "{channel_tick_interval, 1000}".into(),
    })
    .await;
    let mut app = app_on_own_broker(&broker).await;
    app.settings.worker.page_timeout_seconds = 20;
    // The first page request hangs for 9 s: the job holds its delivery past the timeout.
    app.shop
        .script([ScriptedFault::hang(Duration::from_secs(9))]);
    let http = app.start_worker().await;
    let job = app.pull_job("acme", "products");
    app.enqueue(std::slice::from_ref(&job)).await;
    // The broker closes the channel (PRECONDITION_FAILED, delivery acknowledgement timed out):
    // the worker notices, reconnects and gets the job again.
    let started = Instant::now();
    wait_for(
        "the job to be delivered a second time",
        Duration::from_secs(30),
        || async {
            (app.scalar_i64("SELECT deliveries::bigint FROM jobs").await >= 2).then_some(())
        },
    )
    .await;
    println!(
        "consumer_timeout: redelivered after {:?}",
        started.elapsed()
    );
    settle_and_check(
        &app,
        &History::effects(std::slice::from_ref(&job)),
        RECOVERY,
        "consumer_timeout",
    )
    .await;
    let ready = reqwest::get(format!("http://{http}/readyz")).await.unwrap();
    assert!(ready.status().is_success(), "consuming again");
    app.stop_workers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_alarm_blocks_publishers_but_not_consumers() {
    let broker = OwnBroker::start(BrokerConfig::default()).await;
    let mut app = app_on_own_broker(&broker).await;
    // Blocked continuation publishes give up after 2 s and hand their job back (it runs again
    // from its checkpoint), instead of holding a slot until the alarm clears.
    app.settings.worker.publish_timeout_seconds = 2;
    app.start_worker().await;
    let history = start_load(&app).await;
    broker.ctl(&["set_vm_memory_high_watermark", "0.0000001"]);
    // A publisher under the alarm gets no confirm: it fails within its timeout, it does not hang.
    let nodes = tributary_broker::Nodes::parse([broker.url().as_str()]).expect("the node's URL");
    let blocked = tributary_broker::Publisher::new(nodes, "blocked probe")
        .with_confirm_timeout(Duration::from_secs(2));
    let started = Instant::now();
    let error = tokio::time::timeout(
        Duration::from_secs(30),
        blocked.publish_raw(
            &app.topology.retry_exchange(),
            "nowhere",
            b"{}",
            Default::default(),
        ),
    )
    .await
    .expect("the publisher's own timeout ends the publish")
    .expect_err("no confirm under a memory alarm");
    assert!(
        matches!(error, tributary_broker::PublishError::TimedOut(_)),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    // Publishers are blocked: orders runs (10 pages) cannot hand over to a continuation. But
    // acks, ledger writes and page commits do not publish: the customers (5 pages) and products
    // (3 pages) runs finish within one job each and settle during the alarm.
    let short_runs: Vec<uuid::Uuid> = load_jobs_roots(&history, &["customers", "products"]);
    app.wait_for_runs(&short_runs, Duration::from_secs(60))
        .await;
    let orders = load_jobs_roots(&history, &["orders"]);
    let counts = app.store.job_status_counts(Some(&orders)).await.unwrap();
    println!("memory alarm: short runs settled; orders runs: {counts:?}");
    // Each orders run is stuck behind its continuation publish: it times out, the job goes
    // back to the broker and comes round again, but none can finish until the alarm clears.
    assert!(
        counts
            .iter()
            .any(|c| !matches!(c.status.as_str(), "succeeded" | "superseded" | "dead")),
        "orders runs cannot finish while their continuation publish is blocked: {counts:?}"
    );
    broker.ctl(&["set_vm_memory_high_watermark", "0.4"]);
    settle_and_check(&app, &history, RECOVERY, "memory_alarm").await;
    app.stop_workers().await;
}

/// The root ids of the history's runs of these streams.
fn load_jobs_roots(history: &History, streams: &[&str]) -> Vec<uuid::Uuid> {
    history
        .jobs()
        .filter(|job| streams.contains(&job.stream.as_str()))
        .map(|job| job.job_id.as_uuid())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_queue_deleted_under_load_comes_back_and_loses_no_letter() {
    use tributary_broker::lapin::options::{
        BasicGetOptions, BasicNackOptions, QueueDeclareOptions, QueueDeleteOptions,
    };
    let mut app = steady_app().await;
    // A `ghost` work queue that no worker consumes, so the test can crash-loop a job on it
    // past the delivery limit while the worker runs the load: a letter only the broker makes.
    let ghost = ConnectorKind::new("ghost").unwrap();
    let mut kinds = tributary_worker::connectors::registry().kinds();
    kinds.push("ghost");
    let ghost_topology = tributary_worker::app::topology(&app.settings, &kinds).unwrap();
    let connection = tributary_broker::connect(&app.settings.amqp.nodes().unwrap(), "test")
        .await
        .unwrap();
    ghost_topology.declare(&connection).await.unwrap();
    let channel = connection.create_channel().await.unwrap();

    app.start_worker().await;
    let mut history = start_load(&app).await;
    wait_for_pages(&app, 8).await;
    let dead_queue = app.topology.dead_queue();
    channel
        .queue_delete(dead_queue.clone().into(), QueueDeleteOptions::default())
        .await
        .expect("delete the dead queue");
    let deleted_at = Instant::now();

    // The archiver's consumer is cancelled with the queue; it must declare it again.
    wait_for(
        "the dead queue to be declared again",
        Duration::from_secs(20),
        || async {
            let probe = connection.create_channel().await.ok()?;
            let declared = probe
                .queue_declare(
                    dead_queue.clone().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    Default::default(),
                )
                .await;
            let _ = probe.close(200, "probe".into()).await;
            declared.ok()
        },
    )
    .await;
    println!("dead queue: back after {:?}", deleted_at.elapsed());

    // A job crash-looped past the delivery limit reaches Postgres through the new queue.
    let mut looping = app.pull_job("acme", "orders");
    looping.connector = ghost.clone();
    app.store
        .insert_jobs(&[tributary_worker::handler::ledger_row(&looping)])
        .await
        .unwrap();
    app.publisher
        .publish_job(&ghost_topology, &looping)
        .await
        .expect("publish the looping job");
    let queue = ghost_topology.work_queue(&ghost);
    let mut handed_back = 0;
    while let Some(message) = channel
        .basic_get(queue.clone().into(), BasicGetOptions::default())
        .await
        .unwrap()
    {
        message
            .delivery
            .acker
            .nack(BasicNackOptions {
                multiple: false,
                requeue: true,
            })
            .await
            .unwrap();
        handed_back += 1;
        assert!(handed_back <= 30, "the delivery limit never kicked in");
    }
    let (class, reason) = app
        .wait_for_dead_letter(Some(looping.job_id.as_uuid()), Duration::from_secs(30))
        .await;
    assert_eq!(class, "delivery_limit");
    assert!(reason.contains("delivery limit"), "{reason}");
    let _ = connection.close(200, "done".into()).await;

    history.confirmed(looping, Expected::DeadLetter("delivery_limit"));
    settle_and_check(&app, &history, RECOVERY, "dead_queue_deleted").await;
    app.stop_workers().await;
}
