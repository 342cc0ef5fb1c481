//! Building and running a scheduler replica: [`Scheduler::build`] checks the settings, connects
//! to the database (migrating if configured), declares the broker's shared topology and binds
//! the ops endpoint; [`Scheduler::run_until_stopped`] runs the tick loop (claim due slots) and
//! the outbox relay (publish, mark sent) until the shutdown future completes.
//!
//! Any number of replicas may run: claims lock due schedules with `FOR UPDATE SKIP LOCKED`
//! and every slot has a unique key, so a slot is enqueued at most once; the outbox row is
//! committed with the job's ledger row, so it is published at least once, by whichever
//! replica's relay gets to it.

use crate::config::Settings;
use crate::planner::Planner;
use crate::relay::{self, RelayError, RelayPolicy, RelayRound};
use crate::telemetry;
use anyhow::Context;
use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tributary_broker::{Publisher, Topology};
use tributary_runtime::ops_http::{self, Health};
use tributary_store::{ClaimReport, Store, StoreError};

/// How long a stopping replica keeps publishing what is already committed. Whatever is left
/// stays in the outbox for the other replicas (or the next start).
const FINAL_RELAY_DEADLINE: Duration = Duration::from_secs(5);

/// A built scheduler replica, ready to run.
#[derive(Debug)]
pub struct Scheduler {
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
}

/// What the loops of a running replica share.
#[derive(Debug)]
struct Shared {
    settings: Settings,
    name: String,
    store: Store,
    publisher: Publisher,
    topology: Topology,
    health: Arc<Health>,
}

impl Scheduler {
    /// Checks the settings, connects to the database (migrating if configured), declares the
    /// broker's shared topology and binds the ops endpoint. A broker that is down is only a
    /// warning — slots are still claimed into the outbox, and published once it is back — but a
    /// conflicting topology is fatal.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let problems = settings.validate();
        if !problems.is_empty() {
            anyhow::bail!("invalid configuration:\n  {}", problems.join("\n  "));
        }
        let name = settings.name();
        let store = settings
            .database
            .store(settings.database.max_connections)
            .context("cannot set up the database pool")?;
        store
            .ping()
            .await
            .context("cannot reach PostgreSQL (database.url)")?;
        if settings.database.migrate_on_start {
            let applied = store
                .migrate()
                .await
                .context("cannot migrate the database")?;
            if !applied.is_empty() {
                tracing::info!(?applied, "applied database migrations");
            }
        }
        // Work queues are the workers' to declare (they know the connectors); the exchanges
        // are what publishing needs.
        let topology = settings
            .amqp
            .topology(Vec::new())
            .map_err(|problem| anyhow::anyhow!("{problem}"))?;
        let health = Arc::new(Health::new(store.clone()));
        let nodes = settings.amqp.nodes()?;
        match tributary_broker::connect(&nodes, &format!("{name} topology")).await {
            Ok(connection) => {
                let declared = topology.declare(&connection).await;
                let _ = connection.close(200, "declared".into()).await;
                declared.context("cannot declare the topology")?;
                health.set_broker_ready(true);
            }
            Err(error) => {
                tracing::warn!(%error, "the broker is unreachable; slots are claimed into the outbox and published once it is back");
            }
        }
        let publisher = Publisher::new(nodes, format!("{name} publish")).with_confirm_timeout(
            Duration::from_secs(settings.scheduler.publish_timeout_seconds),
        );
        let listener = tokio::net::TcpListener::bind(settings.scheduler.ops_listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on scheduler.ops_listen = {}",
                    settings.scheduler.ops_listen
                )
            })?;
        telemetry_init();
        Ok(Self {
            shared: Arc::new(Shared {
                settings,
                name,
                store,
                publisher,
                topology,
                health,
            }),
            listener,
        })
    }

    /// Where `/livez`, `/readyz` and `/metrics` listen (the real port with port 0).
    pub fn ops_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The store (tests read slots and the outbox through it).
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// This replica's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Claims due slots as of `now` once (one transaction) and records the telemetry.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<ClaimReport, StoreError> {
        self.shared.tick(now).await
    }

    /// Publishes one batch of outbox rows.
    pub async fn relay_once(&self) -> Result<RelayRound, RelayError> {
        self.shared.relay_once().await
    }

    /// Runs the tick loop, the relay and the ops endpoint until `shutdown` completes; then
    /// publishes what it can of the outbox within a short deadline and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_sender, stop) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_sender.send(true);
        });
        let ops_addr = self.ops_addr();
        let shared = self.shared;
        let ops = axum::serve(self.listener, ops_http::router(Arc::clone(&shared.health)))
            .with_graceful_shutdown(stopped(stop.clone()));
        let ops = tokio::spawn(async move {
            if let Err(error) = ops.await {
                tracing::error!(%error, "the ops endpoint failed");
            }
        });
        let wake = Arc::new(Notify::new());
        let ticks = tokio::spawn(tick_loop(
            Arc::clone(&shared),
            Arc::clone(&wake),
            stop.clone(),
        ));
        let relay = tokio::spawn(relay_loop(
            Arc::clone(&shared),
            Arc::clone(&wake),
            stop.clone(),
        ));
        let backlog = tokio::spawn(backlog_loop(Arc::clone(&shared), stop.clone()));
        tracing::info!(name = %shared.name, ops = %ops_addr, "scheduler running");
        let _ = ticks.await;
        let _ = relay.await;
        let _ = backlog.await;
        let _ = ops.await;
        shared.publisher.close().await;
        Ok(())
    }
}

impl Shared {
    async fn tick(&self, now: DateTime<Utc>) -> Result<ClaimReport, StoreError> {
        let report = self
            .store
            .claim_due_slots(
                now,
                i64::from(self.settings.scheduler.claim_batch),
                &Planner,
            )
            .await?;
        telemetry::claimed(&report, Utc::now());
        Ok(report)
    }

    async fn relay_once(&self) -> Result<RelayRound, RelayError> {
        relay::relay_once(
            &self.store,
            &self.publisher,
            &self.topology,
            &self.relay_policy(),
        )
        .await
    }

    fn relay_policy(&self) -> RelayPolicy {
        let scheduler = &self.settings.scheduler;
        RelayPolicy {
            batch: i64::from(scheduler.relay_batch),
            max_retry_delay: Duration::from_secs(scheduler.relay_retry_max_seconds),
        }
    }
}

fn telemetry_init() {
    tributary_runtime::telemetry::prometheus();
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Claims due slots every tick; a claim that found more than it could take is followed by
/// another at once. Wakes the relay when it committed jobs.
async fn tick_loop(scheduler: Arc<Shared>, wake: Arc<Notify>, stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(Duration::from_millis(
        scheduler.settings.scheduler.tick_interval_ms,
    ));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped(stop.clone()) => return,
            _ = interval.tick() => {}
        }
        loop {
            match scheduler.tick(Utc::now()).await {
                Ok(report) => {
                    if !report.enqueued.is_empty() {
                        wake.notify_one();
                    }
                    if !report.more || *stop.borrow() {
                        break;
                    }
                }
                Err(error) => {
                    telemetry::claim_failed(&error);
                    break;
                }
            }
        }
    }
}

/// Publishes the outbox: at once when this replica committed jobs, else every relay interval;
/// paced to `relay_per_second`; backing off (exponentially, with jitter) while the broker or
/// the database fails.
async fn relay_loop(scheduler: Arc<Shared>, wake: Arc<Notify>, stop: watch::Receiver<bool>) {
    let settings = &scheduler.settings.scheduler;
    let poll = Duration::from_millis(settings.relay_interval_ms);
    let batch = settings.relay_batch as usize;
    let mut pacer = Pacer::new(settings.relay_per_second);
    let new_backoff = || {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(settings.relay_retry_max_seconds))
            .with_jitter()
            .without_max_times()
            .build()
    };
    let mut backoff = new_backoff();
    'outer: loop {
        tokio::select! {
            _ = stopped(stop.clone()) => break,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
        // Drain: keep going while rounds come back full.
        loop {
            pacer.wait().await;
            match scheduler.relay_once().await {
                Ok(round) => {
                    // Only a confirmed publish says the broker works; an idle round says nothing.
                    if round.published > 0 {
                        scheduler.health.set_broker_ready(true);
                    }
                    backoff = new_backoff();
                    pacer.spent(round.published, Instant::now());
                    if round.taken < batch || *stop.borrow() {
                        break;
                    }
                }
                Err(error) => {
                    match &error {
                        RelayError::Broker(_) => scheduler.health.set_broker_ready(false),
                        RelayError::Store(error) => telemetry::relay_store_failed(error),
                    }
                    let delay = backoff.next().unwrap_or(poll);
                    tokio::select! {
                        _ = stopped(stop.clone()) => break 'outer,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }
    // Stopping: publish what is committed, briefly. What is left waits for another replica.
    let deadline = Instant::now() + FINAL_RELAY_DEADLINE;
    while Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, scheduler.relay_once()).await {
            Ok(Ok(round)) if round.taken == batch => continue,
            _ => break,
        }
    }
}

/// Refreshes the outbox backlog gauges.
async fn backlog_loop(scheduler: Arc<Shared>, stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(scheduler.settings.scheduler.backlog_refresh_seconds);
    loop {
        match scheduler.store.outbox_backlog().await {
            Ok(backlog) => telemetry::backlog(&backlog, Utc::now()),
            Err(error) => tracing::debug!(%error, "cannot measure the outbox backlog"),
        }
        tokio::select! {
            _ = stopped(stop.clone()) => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Spreads publishing to at most `per_second` messages a second, over rounds.
#[derive(Debug)]
struct Pacer {
    per_second: f64,
    next: Instant,
}

impl Pacer {
    fn new(per_second: u32) -> Self {
        Self {
            per_second: f64::from(per_second.max(1)),
            next: Instant::now(),
        }
    }

    async fn wait(&self) {
        tokio::time::sleep_until(self.next).await;
    }

    /// Books `messages` just sent at `now`: the next round may start once they are paid for.
    fn spent(&mut self, messages: usize, now: Instant) {
        let cost = Duration::from_secs_f64(messages as f64 / self.per_second);
        self.next = self.next.max(now) + cost;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_spreads_messages_over_time() {
        let start = Instant::now();
        let mut pacer = Pacer {
            per_second: 100.0,
            next: start,
        };
        pacer.spent(50, start);
        assert_eq!(pacer.next - start, Duration::from_millis(500));
        // Sent early (before the earlier ones were paid for): they queue behind.
        pacer.spent(200, start + Duration::from_millis(100));
        assert_eq!(pacer.next - start, Duration::from_millis(2_500));
        // After an idle spell there is no credit saved up: a burst is paid from now.
        pacer.spent(100, start + Duration::from_secs(60));
        assert_eq!(pacer.next - start, Duration::from_secs(61));
    }
}
