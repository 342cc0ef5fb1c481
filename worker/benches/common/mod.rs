//! Helpers shared by the worker's benchmarks (`pipeline`, `scale`): reading knobs from the
//! environment, a fresh database per run, demo pull jobs, the bare lapin queue and the raw COPY
//! upsert baselines.
//! Knows nothing about what a benchmark measures or how it prints.

use futures_util::{SinkExt, StreamExt};
use std::time::Instant;
use tributary_broker::lapin::options::{
    BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use tributary_broker::lapin::types::{AMQPValue, FieldTable};
use tributary_broker::lapin::{Channel, Connection, Consumer};
use tributary_broker::{JobEnvelope, JobKind};
use tributary_connector::{ConnectorKind, SourceId, StreamName, TenantId, Window};
use tributary_store::Store;

/// Bare lapin at its best, the broker baseline: a quorum queue `<prefix>.raw`, a confirm-mode
/// publishing channel and a consumer with prefetch 1000, each on a connection of its own.
pub struct RawQueue {
    /// The queue's name.
    pub queue: String,
    /// Confirm-mode channel to publish on (default exchange, routing key = `queue`).
    pub publisher: Channel,
    /// The consumer's channel (for acks).
    pub consumer_channel: Channel,
    /// The consumer.
    pub consumer: Consumer,
    /// Both connections, to close when done.
    pub connections: RawConnections,
}

/// The publishing and the consuming connection of a [`RawQueue`].
pub struct RawConnections([Connection; 2]);

impl RawConnections {
    /// Closes both.
    pub async fn close(&self) {
        for connection in &self.0 {
            let _ = connection.close(200, "done".into()).await;
        }
    }
}

impl RawQueue {
    /// Declares the queue and opens both sides.
    pub async fn open(amqp_url: &str, prefix: &str) -> anyhow::Result<Self> {
        let queue = format!("{prefix}.raw");
        let nodes = tributary_broker::Nodes::parse(amqp_url.split(','))?;
        let publish_connection = tributary_broker::connect(&nodes, "bench raw publish").await?;
        let consume_connection = tributary_broker::connect(&nodes, "bench raw consume").await?;
        let publisher = publish_connection.create_channel().await?;
        let consumer_channel = consume_connection.create_channel().await?;
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        publisher
            .queue_declare(
                queue.clone().into(),
                QueueDeclareOptions::durable(),
                arguments,
            )
            .await?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        consumer_channel
            .basic_qos(1000, BasicQosOptions::default())
            .await?;
        let consumer = consumer_channel
            .basic_consume(
                queue.clone().into(),
                "bench".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(Self {
            queue,
            publisher,
            consumer_channel,
            consumer,
            connections: RawConnections([publish_connection, consume_connection]),
        })
    }
}

/// A variable `ops/dev bench` sets (the stack's URLs); panics with the fix when it is missing.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `ops/dev bench`"))
}

/// A size knob: the variable parsed as a number, or `default` when unset or unparsable.
pub fn count_from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A root job of the demo source (`demo_shop`) for one tenant and stream.
pub fn job(kind: JobKind, tenant: &str, stream: &str) -> JobEnvelope {
    JobEnvelope::new_root(
        kind,
        ConnectorKind::new("demo").expect("`demo` is a valid connector kind"),
        TenantId::new(tenant).expect("bench tenant names are valid tenant ids"),
        SourceId::new("demo_shop").expect("`demo_shop` is a valid source id"),
        StreamName::new(stream).expect("bench stream names are valid"),
        Window::default(),
    )
}

/// Creates an empty database beside the one `base_url` names and returns its URL.
pub async fn fresh_database(base_url: &str) -> anyhow::Result<String> {
    let admin = Store::connect(base_url, 1)?;
    let name = format!("bench_{}", uuid::Uuid::now_v7().simple());
    admin
        .pool()
        .get()
        .await?
        .simple_query(&format!("CREATE DATABASE {name}"))
        .await?;
    let (prefix, _) = base_url
        .rsplit_once('/')
        .expect("a database URL has a path");
    Ok(format!("{prefix}/{name}"))
}

/// The same rows the ingestion stored, COPYed into a staging table and upserted into an empty
/// copy of `records` — the best a bulk loader could do with this schema.
pub async fn raw_copy_upsert(store: &Store) -> anyhow::Result<f64> {
    let mut client = store.pool().get().await?;
    let columns = "tenant_id, connector, stream, external_id, content_hash, data, source_updated_at, last_job_id";
    let mut dump = Vec::new();
    let stream = client
        .copy_out(&format!("COPY records ({columns}) TO STDOUT"))
        .await?;
    futures_util::pin_mut!(stream);
    while let Some(chunk) = stream.next().await {
        dump.extend_from_slice(&chunk?);
    }
    client
        .batch_execute(
            "DROP TABLE IF EXISTS records_baseline;
             CREATE TABLE records_baseline (LIKE records INCLUDING ALL);",
        )
        .await?;
    let rows: i64 = client
        .query_one("SELECT count(*) FROM records", &[])
        .await?
        .get(0);
    let started = Instant::now();
    let transaction = client.transaction().await?;
    transaction
        .batch_execute("CREATE TEMP TABLE staging (LIKE records INCLUDING DEFAULTS) ON COMMIT DROP")
        .await?;
    let sink = transaction
        .copy_in::<_, std::io::Cursor<Vec<u8>>>(&format!("COPY staging ({columns}) FROM STDIN"))
        .await?;
    futures_util::pin_mut!(sink);
    for chunk in dump.chunks(1 << 20) {
        sink.send(std::io::Cursor::new(chunk.to_vec())).await?;
    }
    sink.as_mut().finish().await?;
    transaction
        .execute(
            &format!(
                "INSERT INTO records_baseline ({columns}) SELECT {columns} FROM staging
                 ON CONFLICT (tenant_id, connector, stream, external_id) DO UPDATE SET
                     content_hash = EXCLUDED.content_hash, data = EXCLUDED.data,
                     source_updated_at = EXCLUDED.source_updated_at,
                     last_job_id = EXCLUDED.last_job_id, last_changed_at = now()"
            ),
            &[],
        )
        .await?;
    transaction.commit().await?;
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}
