//! Confirmed, mandatory publishing on a connection of its own, reconnecting when it breaks.
//!
//! Every publish waits for the broker's confirm; an unroutable message (returned because of
//! `mandatory`) or a nack is an error, never silence. Batches are pipelined: all messages are
//! sent, then all confirms awaited.

use crate::{JobEnvelope, RetryTier, Topology, HEADER_ATTEMPT, HEADER_REASON, HEADER_RETRY_TIER};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, PublisherConfirm};
use std::time::Duration;
use tokio::sync::Mutex;

/// Why a publish did not end in a broker confirm.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No queue is bound for this routing key (returned because of `mandatory`).
    #[error("message to exchange `{exchange}` with routing key `{routing_key}` is unroutable: no queue is bound for it")]
    Unroutable {
        /// Where it was sent.
        exchange: String,
        /// With which key.
        routing_key: String,
    },
    /// The broker refused it (for example a full queue with `reject-publish`).
    #[error("the broker refused (nacked) a message to exchange `{exchange}`")]
    Nacked {
        /// Where it was sent.
        exchange: String,
    },
    /// The connection or channel failed; the publisher reconnects on the next call.
    #[error("publishing failed: {0}")]
    Broker(#[from] lapin::Error),
    /// The broker could not be reached.
    #[error(transparent)]
    Connect(#[from] crate::ConnectError),
    /// No confirm came within the publisher's deadline: the broker is blocking publishers (a
    /// memory or disk alarm) or the link is dead. The message may or may not have been taken;
    /// every consumer of it is idempotent, so the caller retries.
    #[error("the broker did not confirm within {0:?} (blocked by an alarm, or unreachable)")]
    TimedOut(Duration),
}

/// How long a publish waits for its confirms by default.
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// How long closing a connection may take: a dead broker never answers `close`.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// One message to publish.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    exchange: String,
    routing_key: String,
    body: &'a [u8],
    properties: BasicProperties,
}

/// A message as it was received, to be sent on again unchanged.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// Its routing key (the connector kind, for work messages).
    pub routing_key: &'a str,
    /// Its body.
    pub body: &'a [u8],
    /// Its properties and headers.
    pub properties: &'a BasicProperties,
}

/// A publisher with its own connection and a confirm-mode channel.
#[derive(Debug)]
pub struct Publisher {
    nodes: crate::Nodes,
    name: String,
    confirm_timeout: Duration,
    state: Mutex<Option<(Connection, Channel)>>,
}

impl Publisher {
    /// A publisher that connects on first use, to one of `nodes`, as `name` in the management
    /// UI. After a failure it reconnects on the next call, trying the nodes in turn.
    pub fn new(nodes: crate::Nodes, name: impl Into<String>) -> Self {
        Self {
            nodes,
            name: name.into(),
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
            state: Mutex::new(None),
        }
    }

    /// The same publisher, waiting at most `timeout` for a batch's confirms (connecting
    /// included) before it gives up with [`PublishError::TimedOut`] and drops its connection.
    pub fn with_confirm_timeout(mut self, timeout: Duration) -> Self {
        self.confirm_timeout = timeout;
        self
    }

    /// The nodes this publisher connects to (the same list serves the process's other
    /// connections).
    pub fn nodes(&self) -> &crate::Nodes {
        &self.nodes
    }

    /// Connects now (to fail fast at start-up).
    pub async fn connect(&self) -> Result<(), PublishError> {
        self.channel().await.map(drop)
    }

    /// Whether the publisher currently holds a healthy connection.
    pub async fn is_connected(&self) -> bool {
        match &*self.state.lock().await {
            Some((connection, channel)) => {
                connection.status().connected() && channel.status().connected()
            }
            None => false,
        }
    }

    async fn channel(&self) -> Result<Channel, PublishError> {
        let mut state = self.state.lock().await;
        if let Some((connection, channel)) = &*state {
            if connection.status().connected() && channel.status().connected() {
                return Ok(channel.clone());
            }
        }
        if let Some((connection, _)) = state.take() {
            close_within(&connection, "reconnecting").await;
        }
        let connection = crate::connect(&self.nodes, &self.name).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        *state = Some((connection, channel.clone()));
        Ok(channel)
    }

    async fn forget_connection(&self) {
        if let Some((connection, _)) = self.state.lock().await.take() {
            close_within(&connection, "publish failed").await;
        }
    }

    /// Publishes a job to its connector's work queue and waits for the confirm.
    pub async fn publish_job(
        &self,
        topology: &Topology,
        job: &JobEnvelope,
    ) -> Result<(), PublishError> {
        let body = job.to_bytes();
        self.publish_batch(vec![job_message(topology, job, &body)])
            .await
    }

    /// Publishes many jobs, pipelined: all are sent, then all confirms awaited.
    pub async fn publish_jobs(
        &self,
        topology: &Topology,
        jobs: &[JobEnvelope],
    ) -> Result<(), PublishError> {
        let bodies: Vec<Vec<u8>> = jobs.iter().map(JobEnvelope::to_bytes).collect();
        let messages = jobs
            .iter()
            .zip(&bodies)
            .map(|(job, body)| job_message(topology, job, body))
            .collect();
        self.publish_batch(messages).await
    }

    /// Sends a received message, byte for byte, to a retry tier. It returns to its work queue
    /// (its routing key is kept) once the tier's delay has passed.
    pub async fn publish_to_tier(
        &self,
        topology: &Topology,
        tier: &RetryTier,
        message: Received<'_>,
        reason: &str,
        attempt: u32,
    ) -> Result<(), PublishError> {
        let Received {
            routing_key,
            body,
            properties,
        } = message;
        let mut headers = properties.headers().clone().unwrap_or_default();
        headers.insert(
            HEADER_RETRY_TIER.into(),
            AMQPValue::LongString(LongString::from(tier.name.as_str())),
        );
        headers.insert(
            HEADER_REASON.into(),
            AMQPValue::LongString(LongString::from(reason)),
        );
        headers.insert(
            HEADER_ATTEMPT.into(),
            AMQPValue::LongLongInt(attempt.into()),
        );
        let properties = properties
            .clone()
            .with_headers(headers)
            .with_delivery_mode(2);
        self.publish_batch(vec![Outgoing {
            exchange: topology.retry_exchange(),
            routing_key: routing_key.to_owned(),
            body,
            properties,
        }])
        .await
    }

    /// Publishes arbitrary bytes (tests use it for malformed messages; replays use it for
    /// stored originals).
    pub async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), PublishError> {
        self.publish_batch(vec![Outgoing {
            exchange: exchange.to_owned(),
            routing_key: routing_key.to_owned(),
            body,
            properties: properties.with_delivery_mode(2),
        }])
        .await
    }

    async fn publish_batch(&self, messages: Vec<Outgoing<'_>>) -> Result<(), PublishError> {
        let result =
            match tokio::time::timeout(self.confirm_timeout, self.try_publish_batch(&messages))
                .await
            {
                Ok(result) => result,
                Err(_) => Err(PublishError::TimedOut(self.confirm_timeout)),
            };
        if matches!(
            result,
            Err(PublishError::Broker(_) | PublishError::Connect(_) | PublishError::TimedOut(_))
        ) {
            self.forget_connection().await;
        }
        result
    }

    async fn try_publish_batch(&self, messages: &[Outgoing<'_>]) -> Result<(), PublishError> {
        let channel = self.channel().await?;
        let mut pending: Vec<(PublisherConfirm, &Outgoing<'_>)> =
            Vec::with_capacity(messages.len());
        for message in messages {
            let confirm = channel
                .basic_publish(
                    message.exchange.clone().into(),
                    message.routing_key.clone().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    message.body,
                    message.properties.clone(),
                )
                .await?;
            pending.push((confirm, message));
        }
        let mut first_error = None;
        for (confirm, message) in pending {
            let confirmation = confirm.await?;
            let error = if confirmation.is_nack() {
                Some(PublishError::Nacked {
                    exchange: message.exchange.clone(),
                })
            } else if confirmation.take_message().is_some() {
                Some(PublishError::Unroutable {
                    exchange: message.exchange.clone(),
                    routing_key: message.routing_key.clone(),
                })
            } else {
                None
            };
            if first_error.is_none() {
                first_error = error;
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Closes the connection, letting outstanding confirms settle first.
    pub async fn close(&self) {
        if let Some((connection, channel)) = self.state.lock().await.take() {
            let _ = tokio::time::timeout(self.confirm_timeout, channel.wait_for_confirms()).await;
            close_within(&connection, "shutting down").await;
        }
    }
}

/// Closes `connection`, giving up after [`CLOSE_TIMEOUT`] (the broker may be gone).
async fn close_within(connection: &Connection, reason: &str) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, connection.close(200, reason.into())).await;
}

fn job_message<'a>(topology: &Topology, job: &JobEnvelope, body: &'a [u8]) -> Outgoing<'a> {
    Outgoing {
        exchange: topology.work_exchange(),
        routing_key: job.connector.to_string(),
        body,
        properties: job_properties(job),
    }
}

/// The AMQP properties of a job message: persistent, JSON, `message_id` = job id.
pub fn job_properties(job: &JobEnvelope) -> BasicProperties {
    BasicProperties::default()
        .with_message_id(job.job_id.to_string().into())
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_timestamp(job.enqueued_at.timestamp().max(0) as u64)
        .with_headers(FieldTable::default())
}
