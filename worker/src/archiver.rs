//! The archiver: drains the broker's dead queue into the `dead_letters` table, so letters the
//! broker dead-lettered (a job that crashed its worker past the delivery limit, a rejected
//! message) land next to the ones workers decided, with a reason. Acknowledges a letter only
//! after its row is committed; a redelivered letter bumps the row's `deliveries`.

use crate::telemetry;
use anyhow::Context;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::sync::watch;
use tributary_broker::lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use tributary_broker::lapin::types::FieldTable;
use tributary_broker::{header_str, properties_json, JobEnvelope, Topology};
use tributary_store::{NewDeadLetter, Store};

/// Letters taken from the dead queue at once.
const PREFETCH: u16 = 64;

/// Runs until `stop` turns true, reconnecting with backoff when the broker goes away.
pub async fn run(
    amqp_url: String,
    name: String,
    topology: Topology,
    store: Store,
    mut stop: watch::Receiver<bool>,
) {
    let mut delay = Duration::from_millis(200);
    loop {
        let session = archive(&amqp_url, &name, &topology, &store, &mut stop).await;
        match session {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "dead-letter archiver lost the broker; reconnecting");
                tokio::select! {
                    _ = stop.wait_for(|stopped| *stopped) => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn archive(
    amqp_url: &str,
    name: &str,
    topology: &Topology,
    store: &Store,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let connection = tributary_broker::connect(amqp_url, &format!("{name} archiver")).await?;
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(PREFETCH, BasicQosOptions { global: false })
        .await?;
    let queue = topology.dead_queue();
    let mut letters = channel
        .basic_consume(
            queue.clone().into(),
            format!("{name} archiver").into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .context("cannot consume the dead queue")?;
    loop {
        let next = tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => None,
            next = letters.next() => Some(next),
        };
        let Some(next) = next else {
            let _ = connection.close(200, "stopping".into()).await;
            return Ok(());
        };
        let delivery = match next {
            Some(delivery) => delivery?,
            None => anyhow::bail!("the broker cancelled the archiver's consumer"),
        };
        let letter = describe(
            &delivery.data,
            &delivery.properties,
            &queue,
            topology.connectors(),
        );
        let row = letter.as_new(&delivery.data, &delivery.properties, &queue);
        match store.insert_dead_letter(&row).await {
            Ok(_) => {
                telemetry::dead_lettered(&letter.connector_label, letter.class, &letter.reason);
                channel
                    .basic_ack(delivery.delivery_tag, BasicAckOptions::default())
                    .await?;
            }
            Err(error) => {
                tracing::error!(%error, "cannot archive a dead letter; handing it back");
                tokio::time::sleep(Duration::from_secs(1)).await;
                channel
                    .basic_nack(
                        delivery.delivery_tag,
                        BasicNackOptions {
                            multiple: false,
                            requeue: true,
                        },
                    )
                    .await?;
            }
        }
    }
}

/// What the archiver knows about one broker-side dead letter.
struct Described {
    envelope: Option<JobEnvelope>,
    class: &'static str,
    reason: String,
    connector_label: String,
}

impl Described {
    fn as_new<'a>(
        &'a self,
        body: &'a [u8],
        properties: &'a tributary_broker::lapin::BasicProperties,
        queue: &'a str,
    ) -> NewDeadLetter<'a> {
        let job = self.envelope.as_ref();
        let dedup_key = match (job, properties.message_id()) {
            (Some(job), _) => format!("job:{}", job.job_id),
            (None, Some(id)) => format!("message:{}", id.as_str()),
            (None, None) => format!("sha256:{:x}", Sha256::digest(body)),
        };
        NewDeadLetter {
            dedup_key,
            job_id: job.map(|job| job.job_id.as_uuid()),
            connector: job.map(|job| job.connector.as_str()),
            tenant: job.map(|job| job.tenant.as_str()),
            source: job.map(|job| job.source.as_str()),
            stream: job.map(|job| job.stream.as_str()),
            class: self.class,
            reason: &self.reason,
            origin: "broker",
            attempts: 0,
            http_status: None,
            payload: body,
            envelope: job.and_then(|job| serde_json::to_value(job).ok()),
            headers: properties_json(properties),
            queue: Some(queue),
            routing_key: None,
            worker: None,
            started_at: chrono::Utc::now(),
        }
    }
}

fn describe(
    body: &[u8],
    properties: &tributary_broker::lapin::BasicProperties,
    dead_queue: &str,
    known: &[tributary_connector::ConnectorKind],
) -> Described {
    let envelope = JobEnvelope::parse(body).ok();
    let death = header_str(properties, "x-first-death-reason").unwrap_or_default();
    let from_queue =
        header_str(properties, "x-first-death-queue").unwrap_or_else(|| "unknown".into());
    let (class, why) = match death.as_str() {
        "delivery_limit" => (
            "delivery_limit",
            "it was delivered more often than the queue's delivery limit allows: the job keeps \
             crashing or stalling its worker (or was handed back too often)",
        ),
        "rejected" => ("rejected", "a consumer rejected it without requeueing"),
        "expired" => ("expired", "its time to live ran out"),
        "maxlen" => ("overflow", "its queue was over its length limit"),
        _ => (
            "broker_other",
            "the broker dead-lettered it for a reason it did not name",
        ),
    };
    let reason = format!(
        "the broker dead-lettered this message from `{from_queue}` into `{dead_queue}` \
         ({}): {why}",
        if death.is_empty() {
            "no reason header"
        } else {
            death.as_str()
        }
    );
    // Only registered kinds become metric labels: a message can name anything.
    let connector_label = envelope
        .as_ref()
        .filter(|job| known.contains(&job.connector))
        .map_or_else(|| "unknown".to_owned(), |job| job.connector.to_string());
    Described {
        envelope,
        class,
        reason,
        connector_label,
    }
}
