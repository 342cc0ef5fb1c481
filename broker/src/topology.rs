//! The RabbitMQ topology: names, arguments, idempotent declaration with conflict detection, and
//! the same topology as a definitions file for ops.
//!
//! ```text
//!  publish ──► {p}.work (direct, key = connector) ──► {p}.work.{connector}  (quorum, delivery limit)
//!                 ▲                                        │ x-dead-letter-exchange
//!                 │ dead-lettered on TTL expiry            ▼
//!  retry ──► {p}.retry (headers: tier) ──► {p}.retry.{tier} (quorum, x-message-ttl)
//!                                                          {p}.dead (fanout) ──► {p}.dead (quorum)
//! ```
//!
//! Retry tiers are TTL queues that dead-letter back to the work exchange with the message's own
//! routing key (the connector), so one set of tiers serves every connector. No per-message TTL
//! (head-of-line blocking), no delayed-message plugin.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Connection, ExchangeKind};
use std::time::Duration;
use tributary_connector::ConnectorKind;

/// One delayed-retry tier: a queue whose messages wait `delay` and then return to work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryTier {
    /// Short name used in the queue name and the routing header, e.g. `30s`.
    pub name: String,
    /// How long a message waits in this tier.
    pub delay: Duration,
}

impl RetryTier {
    fn new(delay: Duration) -> Self {
        Self {
            name: tier_name(delay),
            delay,
        }
    }
}

fn tier_name(delay: Duration) -> String {
    let ms = delay.as_millis();
    if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

/// Why the topology could not be declared.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// An object exists with different settings. Refusing to start is the safe choice: the
    /// existing queue would silently lack our dead-lettering or delivery limit.
    #[error(
        "{object} `{name}` already exists with settings that differ from ours: {broker_says}. \
         Refusing to start: delete it (after draining) or align the configuration \
         (amqp.prefix, amqp.delivery_limit, amqp.retry_tiers)"
    )]
    Conflict {
        /// `queue` or `exchange`.
        object: &'static str,
        /// Its name.
        name: String,
        /// The broker's own description of the difference.
        broker_says: String,
    },
    /// Any other broker or connection failure.
    #[error("cannot declare {object} `{name}`: {source}")]
    Broker {
        /// `queue`, `exchange` or `binding`.
        object: &'static str,
        /// Its name.
        name: String,
        /// What failed.
        #[source]
        source: lapin::Error,
    },
}

/// The names and arguments of everything Tributary needs on the broker.
#[derive(Debug, Clone)]
pub struct Topology {
    prefix: String,
    connectors: Vec<ConnectorKind>,
    tiers: Vec<RetryTier>,
    delivery_limit: u32,
}

impl Topology {
    /// A topology for these connectors. `retry_delays` are sorted and deduplicated; there must be
    /// at least one. `prefix` namespaces every name (tests use a fresh prefix each).
    pub fn new(
        prefix: impl Into<String>,
        connectors: Vec<ConnectorKind>,
        retry_delays: &[Duration],
        delivery_limit: u32,
    ) -> Self {
        let mut delays = retry_delays.to_vec();
        delays.sort();
        delays.dedup();
        assert!(!delays.is_empty(), "at least one retry tier is required");
        Self {
            prefix: prefix.into(),
            connectors,
            tiers: delays.into_iter().map(RetryTier::new).collect(),
            delivery_limit,
        }
    }

    /// The name prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The connectors that have a work queue.
    pub fn connectors(&self) -> &[ConnectorKind] {
        &self.connectors
    }

    /// The retry tiers, shortest first.
    pub fn tiers(&self) -> &[RetryTier] {
        &self.tiers
    }

    /// The broker-side crash-loop guard: deliveries before a message is dead-lettered.
    pub fn delivery_limit(&self) -> u32 {
        self.delivery_limit
    }

    /// Where jobs are published (routing key = connector kind).
    pub fn work_exchange(&self) -> String {
        format!("{}.work", self.prefix)
    }

    /// The work queue of one connector: a bulkhead per source kind.
    pub fn work_queue(&self, connector: &ConnectorKind) -> String {
        format!("{}.work.{}", self.prefix, connector)
    }

    /// Where retries and snoozes are published (routed by the tier header).
    pub fn retry_exchange(&self) -> String {
        format!("{}.retry", self.prefix)
    }

    /// The queue of one retry tier.
    pub fn retry_queue(&self, tier: &RetryTier) -> String {
        format!("{}.retry.{}", self.prefix, tier.name)
    }

    /// Where the broker dead-letters work messages (delivery limit exceeded).
    pub fn dead_exchange(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    /// The dead queue, drained into PostgreSQL by the archiver.
    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    /// The shortest tier whose delay is at least `delay`, or the longest tier.
    pub fn tier_at_least(&self, delay: Duration) -> &RetryTier {
        self.tiers
            .iter()
            .find(|tier| tier.delay >= delay)
            .unwrap_or_else(|| self.tiers.last().expect("at least one tier"))
    }

    /// The tier for the `attempt`-th retry (1-based): exponential by tier index, capped.
    pub fn tier_for_attempt(&self, attempt: u32) -> &RetryTier {
        let index = (attempt.max(1) - 1) as usize;
        &self.tiers[index.min(self.tiers.len() - 1)]
    }

    fn work_queue_arguments(&self) -> Vec<(&'static str, Argument)> {
        vec![
            ("x-queue-type", Argument::Text("quorum".into())),
            (
                "x-delivery-limit",
                Argument::Number(i64::from(self.delivery_limit)),
            ),
            (
                "x-dead-letter-exchange",
                Argument::Text(self.dead_exchange()),
            ),
            (
                "x-dead-letter-strategy",
                Argument::Text("at-least-once".into()),
            ),
            ("x-overflow", Argument::Text("reject-publish".into())),
        ]
    }

    fn retry_queue_arguments(&self, tier: &RetryTier) -> Vec<(&'static str, Argument)> {
        let ttl = i64::try_from(tier.delay.as_millis()).unwrap_or(i64::MAX);
        vec![
            ("x-queue-type", Argument::Text("quorum".into())),
            ("x-message-ttl", Argument::Number(ttl)),
            (
                "x-dead-letter-exchange",
                Argument::Text(self.work_exchange()),
            ),
            (
                "x-dead-letter-strategy",
                Argument::Text("at-least-once".into()),
            ),
            ("x-overflow", Argument::Text("reject-publish".into())),
        ]
    }

    fn dead_queue_arguments(&self) -> Vec<(&'static str, Argument)> {
        vec![("x-queue-type", Argument::Text("quorum".into()))]
    }

    /// Declares everything, idempotently. Fails with [`TopologyError::Conflict`] naming the object
    /// and the difference when something exists with other settings.
    pub async fn declare(&self, connection: &Connection) -> Result<(), TopologyError> {
        let channel =
            connection
                .create_channel()
                .await
                .map_err(|source| TopologyError::Broker {
                    object: "channel",
                    name: "topology".into(),
                    source,
                })?;
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        let exchanges = [
            (self.work_exchange(), ExchangeKind::Direct),
            (self.retry_exchange(), ExchangeKind::Headers),
            (self.dead_exchange(), ExchangeKind::Fanout),
        ];
        for (name, kind) in exchanges {
            channel
                .exchange_declare(name.clone().into(), kind, durable, FieldTable::default())
                .await
                .map_err(|error| classify("exchange", &name, error))?;
        }

        let mut queues = vec![(self.dead_queue(), self.dead_queue_arguments())];
        for tier in &self.tiers {
            queues.push((self.retry_queue(tier), self.retry_queue_arguments(tier)));
        }
        for connector in &self.connectors {
            queues.push((self.work_queue(connector), self.work_queue_arguments()));
        }
        for (name, arguments) in &queues {
            channel
                .queue_declare(
                    name.clone().into(),
                    QueueDeclareOptions::durable(),
                    field_table(arguments),
                )
                .await
                .map_err(|error| classify("queue", name, error))?;
        }

        let mut bindings = vec![(
            self.dead_queue(),
            self.dead_exchange(),
            String::new(),
            vec![],
        )];
        for tier in &self.tiers {
            let arguments = vec![
                ("x-match", Argument::Text("all".into())),
                (crate::HEADER_RETRY_TIER, Argument::Text(tier.name.clone())),
            ];
            bindings.push((
                self.retry_queue(tier),
                self.retry_exchange(),
                String::new(),
                arguments,
            ));
        }
        for connector in &self.connectors {
            bindings.push((
                self.work_queue(connector),
                self.work_exchange(),
                connector.to_string(),
                vec![],
            ));
        }
        for (queue, exchange, routing_key, arguments) in bindings {
            channel
                .queue_bind(
                    queue.clone().into(),
                    exchange.into(),
                    routing_key.into(),
                    QueueBindOptions::default(),
                    field_table(&arguments),
                )
                .await
                .map_err(|error| classify("binding", &queue, error))?;
        }
        let _ = channel.close(200, "topology declared".into()).await;
        Ok(())
    }

    /// The topology as a RabbitMQ definitions document (importable with
    /// `rabbitmqctl import_definitions`), so ops can pre-create or diff it.
    pub fn definitions(&self, vhost: &str) -> serde_json::Value {
        use serde_json::json;
        let arguments_json = |arguments: &[(&str, Argument)]| {
            let mut map = serde_json::Map::new();
            for (key, value) in arguments {
                let value = match value {
                    Argument::Text(text) => json!(text),
                    Argument::Number(number) => json!(number),
                };
                map.insert((*key).to_owned(), value);
            }
            serde_json::Value::Object(map)
        };
        let exchange = |name: String, kind: &str| {
            json!({"name": name, "vhost": vhost, "type": kind, "durable": true,
                   "auto_delete": false, "internal": false, "arguments": {}})
        };
        let queue = |name: String, arguments: &[(&str, Argument)]| {
            json!({"name": name, "vhost": vhost, "durable": true, "auto_delete": false,
                   "arguments": arguments_json(arguments)})
        };
        let binding =
            |queue: String, exchange: String, key: String, arguments: serde_json::Value| {
                json!({"source": exchange, "vhost": vhost, "destination": queue,
                   "destination_type": "queue", "routing_key": key, "arguments": arguments})
            };
        let mut queues = vec![queue(self.dead_queue(), &self.dead_queue_arguments())];
        let mut bindings = vec![binding(
            self.dead_queue(),
            self.dead_exchange(),
            String::new(),
            json!({}),
        )];
        for tier in &self.tiers {
            queues.push(queue(
                self.retry_queue(tier),
                &self.retry_queue_arguments(tier),
            ));
            bindings.push(binding(
                self.retry_queue(tier),
                self.retry_exchange(),
                String::new(),
                json!({"x-match": "all", (crate::HEADER_RETRY_TIER): tier.name}),
            ));
        }
        for connector in &self.connectors {
            queues.push(queue(
                self.work_queue(connector),
                &self.work_queue_arguments(),
            ));
            bindings.push(binding(
                self.work_queue(connector),
                self.work_exchange(),
                connector.to_string(),
                json!({}),
            ));
        }
        json!({
            "exchanges": [
                exchange(self.work_exchange(), "direct"),
                exchange(self.retry_exchange(), "headers"),
                exchange(self.dead_exchange(), "fanout"),
            ],
            "queues": queues,
            "bindings": bindings,
        })
    }
}

/// A queue or binding argument. Numbers are always 64-bit (`long`), the type RabbitMQ gives
/// numbers loaded from a definitions file, so both ways of creating a queue are equivalent.
#[derive(Debug, Clone)]
enum Argument {
    Text(String),
    Number(i64),
}

fn field_table(arguments: &[(&str, Argument)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in arguments {
        let value = match value {
            Argument::Text(text) => AMQPValue::LongString(LongString::from(text.as_str())),
            Argument::Number(number) => AMQPValue::LongLongInt(*number),
        };
        table.insert((*key).into(), value);
    }
    table
}

fn classify(object: &'static str, name: &str, error: lapin::Error) -> TopologyError {
    if let lapin::ErrorKind::ProtocolError(amqp) = error.kind() {
        let text = amqp.get_message().as_str();
        if text.contains("PRECONDITION_FAILED") || text.contains("inequivalent") {
            return TopologyError::Conflict {
                object,
                name: name.to_owned(),
                broker_says: text.to_owned(),
            };
        }
    }
    TopologyError::Broker {
        object,
        name: name.to_owned(),
        source: error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> Topology {
        Topology::new(
            "t",
            vec![ConnectorKind::new("demo").unwrap()],
            &[
                Duration::from_secs(30),
                Duration::from_secs(5),
                Duration::from_secs(3600),
                Duration::from_millis(250),
            ],
            20,
        )
    }

    #[test]
    fn tiers_are_sorted_and_named() {
        let names: Vec<_> = topology().tiers().iter().map(|t| t.name.clone()).collect();
        assert_eq!(names, ["250ms", "5s", "30s", "1h"]);
    }

    #[test]
    fn picks_tiers_by_delay_and_attempt() {
        let topology = topology();
        assert_eq!(topology.tier_at_least(Duration::from_secs(6)).name, "30s");
        assert_eq!(topology.tier_at_least(Duration::from_secs(7200)).name, "1h");
        assert_eq!(topology.tier_at_least(Duration::ZERO).name, "250ms");
        assert_eq!(topology.tier_for_attempt(1).name, "250ms");
        assert_eq!(topology.tier_for_attempt(2).name, "5s");
        assert_eq!(topology.tier_for_attempt(99).name, "1h");
    }

    #[test]
    fn definitions_name_every_queue_with_its_arguments() {
        let definitions = topology().definitions("/");
        let queues = definitions["queues"].as_array().unwrap();
        assert_eq!(queues.len(), 1 + 4 + 1);
        let work = queues.iter().find(|q| q["name"] == "t.work.demo").unwrap();
        assert_eq!(work["arguments"]["x-delivery-limit"], 20);
        assert_eq!(work["arguments"]["x-dead-letter-exchange"], "t.dead");
        let tier = queues.iter().find(|q| q["name"] == "t.retry.5s").unwrap();
        assert_eq!(tier["arguments"]["x-message-ttl"], 5000);
        assert_eq!(tier["arguments"]["x-dead-letter-exchange"], "t.work");
    }
}
