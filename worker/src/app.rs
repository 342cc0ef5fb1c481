//! Building and running a worker: `Worker::build(settings)` validates, connects and declares;
//! `run_until_stopped(shutdown)` consumes until the shutdown future resolves, reconnecting with
//! backoff when the broker goes away, then drains in-flight jobs within the grace period.

use crate::acker::{self, Settle};
use crate::config::Settings;
use crate::handler::{Handler, Incoming, Outcome, Source};
use crate::pull::Budget;
use crate::telemetry;
use anyhow::{bail, Context};
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tributary_broker::lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use tributary_broker::lapin::types::FieldTable;
use tributary_broker::{Publisher, Topology, TopologyError};
use tributary_connector::ConnectorKind;
use tributary_runtime::ops_http::{self, Health};
use tributary_store::Ledger;

/// A built worker, ready to run.
#[derive(Debug)]
pub struct Worker {
    settings: Settings,
    handler: Arc<Handler>,
    health: Arc<Health>,
    listener: tokio::net::TcpListener,
}

/// How long to wait after the last ack before closing the channel: acks carry no reply, and a
/// quorum queue applies them asynchronously; closing at once was seen to redeliver acked
/// messages (DESIGN.md). Idempotency absorbs what still slips through.
const ACK_SETTLE_PAUSE: Duration = Duration::from_millis(300);

/// The most one broker round trip of setting up or tearing down a consuming session may take.
/// A broker that was killed, is still recovering, or sits behind a black-holed link may never
/// answer; the session then counts as lost and the reconnect loop tries again.
const SESSION_STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// After an outcome could not be recorded, wait this long before handing the delivery back, so
/// a database outage does not turn into a hot redelivery loop.
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);

impl Worker {
    /// Validates settings, builds connectors, connects to PostgreSQL (migrating if configured)
    /// and RabbitMQ, and declares the topology — refusing to start on a conflicting one.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_registry(settings, crate::connectors::registry()).await
    }

    /// As [`Worker::build`], with another set of connectors (tests add misbehaving ones).
    pub async fn build_with_registry(
        settings: Settings,
        registry: tributary_connector::Registry,
    ) -> anyhow::Result<Self> {
        let problems = settings.validate();
        if !problems.is_empty() {
            bail!("invalid configuration:\n  {}", problems.join("\n  "));
        }
        let worker_name = settings
            .worker
            .name
            .clone()
            .unwrap_or_else(default_worker_name);
        let mut sources = BTreeMap::new();
        for (id, source) in &settings.sources {
            let connector = registry
                .build(&source.connector, &source.settings)
                .with_context(|| format!("sources.{id}: cannot build the source"))?;
            let rate_policy = match &source.rate_limit {
                Some(limit) => tributary_connector::RatePolicy {
                    requests_per_second: limit.requests_per_second,
                    burst: limit.burst,
                },
                None => connector.rate_policy(),
            };
            sources.insert(
                id.clone(),
                Source {
                    kind: source.connector.clone(),
                    connector,
                    rate_policy,
                },
            );
        }

        let store = settings.database.store(settings.database.max_connections)?;
        store
            .ping()
            .await
            .context("cannot reach PostgreSQL (database.url)")?;
        if settings.database.migrate_on_start {
            let applied = store.migrate().await?;
            if !applied.is_empty() {
                tracing::info!(?applied, "applied database migrations");
            }
        }

        let topology = topology(&settings, &registry.kinds())?;
        let nodes = settings.amqp.nodes()?;
        let connection =
            tributary_broker::connect(&nodes, &format!("{worker_name} topology")).await?;
        declare(&topology, &connection).await?;
        let _ = tokio::time::timeout(
            SESSION_STEP_TIMEOUT,
            connection.close(200, "topology declared".into()),
        )
        .await;

        let publisher = Arc::new(
            Publisher::new(nodes, format!("{worker_name} publish"))
                .with_confirm_timeout(Duration::from_secs(settings.worker.publish_timeout_seconds)),
        );
        publisher
            .connect()
            .await
            .context("cannot open the publishing connection")?;

        let listener = tokio::net::TcpListener::bind(settings.http.listen)
            .await
            .with_context(|| format!("cannot listen on http.listen = {}", settings.http.listen))?;
        let handler = Handler {
            worker_name: worker_name.clone(),
            topology,
            ledger: Ledger::new(store.clone(), worker_name),
            store: store.clone(),
            publisher,
            sources,
            known_connectors: registry.kinds(),
            max_message_bytes: settings.worker.max_message_bytes,
            max_attempts: settings.worker.max_attempts,
            limiter: crate::limits::Limiter::new(store.clone()),
            breaker: tributary_store::BreakerPolicy {
                failure_threshold: settings.worker.breaker_failure_threshold as i32,
                cooldown: Duration::from_secs(settings.worker.breaker_cooldown_seconds),
                max_cooldown: Duration::from_secs(settings.worker.breaker_max_cooldown_seconds),
                probe_ttl: Duration::from_secs(
                    settings.worker.job_max_seconds + settings.worker.page_timeout_seconds,
                ),
            },
            paused_recheck: Duration::from_secs(settings.worker.paused_recheck_seconds),
            reconcile_thresholds: crate::reconcile::compare::Thresholds {
                max_manifest_records: settings.worker.reconcile_manifest_max_records.max(1),
                min_window: chrono::Duration::milliseconds(
                    settings
                        .worker
                        .reconcile_min_window_ms
                        .clamp(1, i64::MAX as u64) as i64,
                ),
            },
            budget: Budget {
                max_pages: settings.worker.job_max_pages,
                max_duration: Duration::from_secs(settings.worker.job_max_seconds),
                page_timeout: Duration::from_secs(settings.worker.page_timeout_seconds),
            },
        };
        telemetry::prometheus();
        Ok(Self {
            settings,
            handler: Arc::new(handler),
            health: Arc::new(Health::new(store)),
            listener,
        })
    }

    /// The address of the health and metrics endpoint (useful with port 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The job handler (tests drive it directly).
    pub fn handler(&self) -> Arc<Handler> {
        Arc::clone(&self.handler)
    }

    /// Consumes until `shutdown` resolves, then drains and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_sender, stop) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_sender.send(true);
        });
        let mut http_stop = stop.clone();
        let server = axum::serve(self.listener, ops_http::router(Arc::clone(&self.health)))
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|stopped| *stopped).await;
            });
        let server = tokio::spawn(async move { server.await });

        let archiver = self.settings.worker.archive_dead_letters.then(|| {
            tokio::spawn(tributary_runtime::archiver::run(
                self.handler.publisher.nodes().clone(),
                self.handler.worker_name.clone(),
                self.handler.topology.clone(),
                self.handler.store.clone(),
                stop.clone(),
            ))
        });
        let mut reconnect_delay = Duration::from_millis(200);
        let result = loop {
            let mut stop = stop.clone();
            match consume(&self.settings, &self.handler, &self.health, &mut stop).await {
                Ok(()) => break Ok(()),
                Err(SessionError::Fatal(error)) => break Err(error),
                Err(SessionError::Lost(error)) => {
                    self.health.set_broker_ready(false);
                    tracing::error!(error = %format!("{error:#}"), delay_ms = reconnect_delay.as_millis() as u64,
                        "lost the broker; reconnecting");
                    tokio::select! {
                        _ = stop.wait_for(|stopped| *stopped) => break Ok(()),
                        _ = tokio::time::sleep(jittered(reconnect_delay)) => {}
                    }
                    reconnect_delay = (reconnect_delay * 2).min(Duration::from_secs(10));
                }
            }
        };
        self.health.set_broker_ready(false);
        self.handler.publisher.close().await;
        if let Some(archiver) = archiver {
            // A fatal error ends the loop without a stop signal: stop the archiver too.
            archiver.abort();
            let _ = archiver.await;
        }
        let _ = server.await;
        result
    }
}

enum SessionError {
    /// Reconnecting will not help (conflicting topology).
    Fatal(anyhow::Error),
    /// The connection broke; reconnect.
    Lost(anyhow::Error),
}

fn jittered(delay: Duration) -> Duration {
    delay.mul_f64(rand::random_range(0.5..1.5))
}

fn default_worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    format!("worker-{host}-{}", std::process::id())
}

/// The topology for these settings and connector kinds.
pub fn topology(settings: &Settings, kinds: &[&str]) -> anyhow::Result<Topology> {
    let connectors = kinds
        .iter()
        .map(|kind| ConnectorKind::new(*kind))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(settings.amqp.topology(connectors)?)
}

async fn declare(
    topology: &Topology,
    connection: &tributary_broker::lapin::Connection,
) -> anyhow::Result<()> {
    topology
        .declare(connection)
        .await
        .map_err(|error| match error {
            TopologyError::Conflict { .. } => anyhow::Error::new(error),
            other => anyhow::Error::new(other).context("cannot declare the broker topology"),
        })
}

/// One broker round trip of session set-up, within [`SESSION_STEP_TIMEOUT`].
async fn bounded<T>(
    what: &str,
    step: impl Future<Output = Result<T, tributary_broker::lapin::Error>>,
) -> Result<T, SessionError> {
    match tokio::time::timeout(SESSION_STEP_TIMEOUT, step).await {
        Ok(result) => result.map_err(|error| SessionError::Lost(error.into())),
        Err(_) => Err(step_timed_out(what)),
    }
}

fn step_timed_out(what: &str) -> SessionError {
    SessionError::Lost(anyhow::anyhow!(
        "the broker did not answer within {SESSION_STEP_TIMEOUT:?} while {what}"
    ))
}

/// One consuming session on one connection. Returns `Ok` after a graceful drain.
async fn consume(
    settings: &Settings,
    handler: &Arc<Handler>,
    health: &Arc<Health>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), SessionError> {
    let lost = |error: anyhow::Error| SessionError::Lost(error);
    let connection = tributary_broker::connect(
        handler.publisher.nodes(),
        &format!("{} consume", handler.worker_name),
    )
    .await
    .map_err(|e| lost(e.into()))?;
    match tokio::time::timeout(SESSION_STEP_TIMEOUT, handler.topology.declare(&connection)).await {
        Ok(Ok(())) => {}
        Ok(Err(error @ TopologyError::Conflict { .. })) => {
            return Err(SessionError::Fatal(error.into()))
        }
        Ok(Err(other)) => return Err(lost(other.into())),
        Err(_) => return Err(step_timed_out("declaring the topology")),
    }
    let channel = bounded("opening a channel", connection.create_channel()).await?;
    bounded(
        "setting the prefetch",
        channel.basic_qos(settings.worker.prefetch, BasicQosOptions { global: false }),
    )
    .await?;
    let mut streams = Vec::new();
    let mut consumer_tags = Vec::new();
    for connector in handler.topology.connectors() {
        let queue = handler.topology.work_queue(connector);
        let tag = format!("{} {}", handler.worker_name, connector);
        let consumer = bounded(
            "starting a consumer",
            channel.basic_consume(
                queue.clone().into(),
                tag.clone().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        consumer_tags.push(tag);
        let queue: Arc<str> = queue.into();
        streams.push(
            consumer
                .map(move |delivery| (Arc::clone(&queue), delivery))
                .boxed(),
        );
    }
    let mut deliveries = futures_util::stream::select_all(streams);
    health.set_broker_ready(true);
    tracing::info!(worker = %handler.worker_name, queues = consumer_tags.len(), "consuming");

    let (settle_sender, settle_receiver) = mpsc::unbounded_channel();
    let acker = tokio::spawn(acker::run(
        channel.clone(),
        settle_receiver,
        settings.worker.prefetch,
    ));
    let slots = Arc::new(Semaphore::new(settings.worker.concurrency));
    let mut jobs = JoinSet::new();

    let session_end: Result<(), SessionError> = loop {
        while jobs.try_join_next().is_some() {}
        telemetry::in_flight(jobs.len());
        let slot = tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break Ok(()),
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let next = tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break Ok(()),
            next = deliveries.next() => next,
        };
        let (queue, delivery) = match next {
            Some((queue, Ok(delivery))) => (queue, delivery),
            Some((_, Err(error))) => break Err(lost(error.into())),
            None => break Err(lost(anyhow::anyhow!("the broker cancelled our consumers"))),
        };
        let handler = Arc::clone(handler);
        let settle_sender = settle_sender.clone();
        jobs.spawn(async move {
            let tag = delivery.delivery_tag;
            let outcome = handler
                .handle(Incoming {
                    body: &delivery.data,
                    properties: &delivery.properties,
                    routing_key: delivery.routing_key.as_str(),
                    queue: &queue,
                })
                .await;
            let settle = if let Outcome::Requeue { .. } = outcome {
                tokio::time::sleep(REQUEUE_PAUSE).await;
                Settle::Requeue
            } else {
                crate::fault::point(crate::fault::AFTER_COMMIT_BEFORE_ACK);
                Settle::Ack
            };
            let _ = settle_sender.send((tag, settle));
            drop(slot);
        });
    };

    // Stop new deliveries, then let in-flight jobs finish within the grace period. Every wait
    // on the broker from here on is bounded: after a lost connection (a killed broker, a
    // black-holed link) lapin may never answer, and this session must end for the next to start.
    for tag in &consumer_tags {
        let _ = tokio::time::timeout(
            SESSION_STEP_TIMEOUT,
            channel.basic_cancel(tag.clone().into(), BasicCancelOptions::default()),
        )
        .await;
    }
    // After a lost connection nothing can be acknowledged any more: stop at once (page
    // commits are transactions; an aborted one rolls back) and let the broker redeliver.
    let grace = if session_end.is_ok() {
        Duration::from_secs(settings.worker.shutdown_grace_seconds)
    } else {
        Duration::ZERO
    };
    let in_flight = jobs.len();
    if in_flight > 0 {
        tracing::info!(
            in_flight,
            grace_s = grace.as_secs(),
            "draining in-flight jobs"
        );
    }
    let drained =
        tokio::time::timeout(grace, async { while jobs.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            unfinished = jobs.len(),
            "grace period over; handing unfinished jobs back to the broker"
        );
        jobs.abort_all();
        while jobs.join_next().await.is_some() {}
    }
    drop(settle_sender);
    let mut acker = acker;
    if tokio::time::timeout(SESSION_STEP_TIMEOUT, &mut acker)
        .await
        .is_err()
    {
        acker.abort();
    }
    // A synchronous round trip after the last ack, then a pause: see ACK_SETTLE_PAUSE.
    let _ = tokio::time::timeout(
        SESSION_STEP_TIMEOUT,
        channel.basic_qos(settings.worker.prefetch, BasicQosOptions { global: false }),
    )
    .await;
    if session_end.is_ok() {
        tokio::time::sleep(ACK_SETTLE_PAUSE).await;
    }
    let _ = tokio::time::timeout(SESSION_STEP_TIMEOUT, async {
        let _ = channel.close(200, "worker stopping".into()).await;
        let _ = connection.close(200, "worker stopping".into()).await;
    })
    .await;
    health.set_broker_ready(false);
    telemetry::in_flight(0);
    session_end
}
