//! The archiver: drains the broker's dead queue into the `dead_letters` table, so letters the
//! broker dead-lettered (a job that crashed its worker past the delivery limit, a rejected
//! message) land next to the ones workers decided, with a reason. Acknowledges a letter only
//! after its row is committed; a redelivered letter bumps the row's `deliveries`.
//!
//! Any number of processes may run it at once (every worker does, by default): a letter is
//! stored once, whoever takes it. Knows no connector: the kinds it may name in a metric label
//! come from the topology.

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

/// The most setting up a session (declare, channel, consumer) or closing it may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);

/// After a letter could not be stored, wait this long before handing it back to the broker.
const STORE_FAILURE_PAUSE: Duration = Duration::from_secs(1);

/// Runs until `stop` turns true, reconnecting with backoff when the broker goes away. `name`
/// names the process in the broker's connection and consumer lists.
pub async fn run(
    nodes: tributary_broker::Nodes,
    name: String,
    topology: Topology,
    store: Store,
    mut stop: watch::Receiver<bool>,
) {
    let mut delay = Duration::from_millis(200);
    loop {
        let session = archive(&nodes, &name, &topology, &store, &mut stop).await;
        match session {
            Ok(()) => return,
            Err(error) => {
                telemetry::archiver_disconnected(&error);
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
    nodes: &tributary_broker::Nodes,
    name: &str,
    topology: &Topology,
    store: &Store,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let connection = tributary_broker::connect(nodes, &format!("{name} archiver")).await?;
    let queue = topology.dead_queue();
    // Bounded: a broker still recovering from a crash may accept the connection and then never
    // answer; the session then fails and `run` tries again.
    let setup = async {
        // Declared on every session, not only at start-up: an operator who deletes the dead
        // queue cancels this consumer, and the queue must come back before the broker's
        // at-least-once dead-lettering (which holds letters while there is no route) can
        // deliver again.
        topology
            .declare(&connection)
            .await
            .context("cannot declare the topology for the dead queue")?;
        let channel = connection.create_channel().await?;
        channel
            .basic_qos(PREFETCH, BasicQosOptions { global: false })
            .await?;
        let letters = channel
            .basic_consume(
                queue.clone().into(),
                format!("{name} archiver").into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .context("cannot consume the dead queue")?;
        anyhow::Ok((channel, letters))
    };
    let (channel, mut letters) = tokio::time::timeout(SETUP_TIMEOUT, setup)
        .await
        .map_err(|_| anyhow::anyhow!("the broker did not answer within {SETUP_TIMEOUT:?}"))??;
    loop {
        let next = tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => None,
            next = letters.next() => Some(next),
        };
        let Some(next) = next else {
            let _ =
                tokio::time::timeout(SETUP_TIMEOUT, connection.close(200, "stopping".into())).await;
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
                telemetry::archive_failed(&error);
                // Not a hot loop while the database is down: the letter comes straight back.
                tokio::time::sleep(STORE_FAILURE_PAUSE).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_broker::lapin::types::{AMQPValue, FieldTable, LongString};
    use tributary_broker::lapin::BasicProperties;
    use tributary_connector::{ConnectorKind, SourceId, StreamName, TenantId, Window};

    fn dead(reason: Option<&str>) -> BasicProperties {
        let mut headers = FieldTable::default();
        if let Some(reason) = reason {
            headers.insert(
                "x-first-death-reason".into(),
                AMQPValue::LongString(LongString::from(reason)),
            );
        }
        headers.insert(
            "x-first-death-queue".into(),
            AMQPValue::LongString(LongString::from("p.work.demo")),
        );
        BasicProperties::default().with_headers(headers)
    }

    fn job(connector: &str) -> JobEnvelope {
        JobEnvelope::new_root(
            tributary_broker::JobKind::Pull,
            ConnectorKind::new(connector).unwrap(),
            TenantId::new("acme").unwrap(),
            SourceId::new("shop").unwrap(),
            StreamName::new("orders").unwrap(),
            Window::default(),
        )
    }

    #[test]
    fn a_job_past_the_delivery_limit_is_described_and_keyed_by_its_job() {
        let job = job("demo");
        let body = serde_json::to_vec(&job).unwrap();
        let properties = dead(Some("delivery_limit"));
        let known = [ConnectorKind::new("demo").unwrap()];
        let letter = describe(&body, &properties, "p.dead", &known);
        assert_eq!(letter.class, "delivery_limit");
        assert!(letter.reason.contains("`p.work.demo`"), "{}", letter.reason);
        assert!(
            letter.reason.contains("delivery limit"),
            "{}",
            letter.reason
        );
        assert_eq!(letter.connector_label, "demo");
        let row = letter.as_new(&body, &properties, "p.dead");
        assert_eq!(row.dedup_key, format!("job:{}", job.job_id));
        assert_eq!(row.origin, "broker");
        assert_eq!(row.source, Some("shop"));
    }

    #[test]
    fn garbage_is_kept_with_an_unknown_label_and_a_content_key() {
        let properties = dead(None);
        let known = [ConnectorKind::new("demo").unwrap()];
        let letter = describe(b"not json", &properties, "p.dead", &known);
        assert_eq!(letter.class, "broker_other");
        assert!(
            letter.reason.contains("no reason header"),
            "{}",
            letter.reason
        );
        assert_eq!(letter.connector_label, "unknown");
        let row = letter.as_new(b"not json", &properties, "p.dead");
        assert!(row.dedup_key.starts_with("sha256:"), "{}", row.dedup_key);
        assert_eq!(row.job_id, None);
    }

    #[test]
    fn a_connector_this_process_does_not_know_is_not_a_metric_label() {
        let body = serde_json::to_vec(&job("someone_elses")).unwrap();
        let known = [ConnectorKind::new("demo").unwrap()];
        let letter = describe(&body, &dead(Some("rejected")), "p.dead", &known);
        assert_eq!(letter.class, "rejected");
        assert_eq!(letter.connector_label, "unknown");
    }
}
