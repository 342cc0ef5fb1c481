//! A three-node RabbitMQ cluster of a test's own, on free loopback ports: the production shape
//! in miniature. Each node is an `own_stack::OwnBroker` (its own name, AMQP and distribution
//! ports, directory), all sharing one Erlang cookie and the dev epmd port. The first node boots
//! alone; the other two boot together and join it through classic-config peer discovery (no
//! `stop_app`/`join_cluster`/`start_app` round trips), so a cluster costs about two node boots.
//! Quorum queues declared once the cluster is formed get a member on every node.
//!
//! Knows nothing of Tributary but the AMQP URLs it hands out.

use crate::helpers::wait_for;
use crate::own_stack::{BrokerConfig, OwnBroker};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Nodes in the cluster.
pub const NODES: usize = 3;

/// A three-node cluster of one test. Every node is killed and its directory removed on drop.
#[derive(Debug)]
pub struct OwnCluster {
    nodes: Vec<OwnBroker>,
}

impl OwnCluster {
    /// Boots the seed node, then the other two joining it; returns once all three run as one
    /// cluster and accept logins.
    pub async fn start() -> Self {
        let started = Instant::now();
        let id = &Uuid::now_v7().simple().to_string()[20..];
        let cookie = format!("{:032X}", rand::random::<u128>());
        let name = |index: usize| format!("tributary-test-{id}-{}", index + 1);
        let seed_node = format!("{}@localhost", name(0));
        let mut nodes: Vec<OwnBroker> = (0..NODES)
            .map(|index| {
                // Peer discovery only matters on a blank node's first boot: it joins the seed.
                // On a restart a node rejoins the cluster it belongs to.
                let conf = if index == 0 {
                    String::new()
                } else {
                    format!(
                        "cluster_formation.peer_discovery_backend = classic_config\n\
                         cluster_formation.classic_config.nodes.1 = {seed_node}\n"
                    )
                };
                OwnBroker::prepare(
                    BrokerConfig {
                        conf,
                        ..BrokerConfig::default()
                    },
                    &cookie,
                    &name(index),
                )
            })
            .collect();
        let (seed, joining) = nodes.split_first_mut().expect("three nodes");
        seed.launch().await;
        let [second, third] = joining else {
            unreachable!("three nodes")
        };
        tokio::join!(second.launch(), third.launch());
        let cluster = Self { nodes };
        cluster.wait_for_running_nodes(NODES).await;
        println!("cluster: three nodes running after {:?}", started.elapsed());
        cluster
    }

    /// Node `index`, to stop, kill or launch it.
    pub fn node_mut(&mut self, index: usize) -> &mut OwnBroker {
        &mut self.nodes[index]
    }

    /// Every node's AMQP URL, comma-separated, as `amqp.url` takes them.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(OwnBroker::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The index of the node listening on AMQP `port`.
    pub fn index_of_port(&self, port: u16) -> Option<usize> {
        self.nodes.iter().position(|node| node.port() == port)
    }

    /// Waits until node `asking` sees `count` running nodes in its cluster.
    pub async fn wait_for_running_nodes_seen_by(&self, asking: usize, count: usize) {
        let node = &self.nodes[asking];
        wait_for(
            "the cluster's running nodes",
            Duration::from_secs(60),
            || async move {
                let status = node
                    .cli_async("rabbitmqctl", &["cluster_status", "--formatter", "json"])
                    .await;
                let status: serde_json::Value = serde_json::from_str(&status).ok()?;
                let running = status["running_nodes"].as_array()?.len();
                (running == count).then_some(())
            },
        )
        .await;
    }

    async fn wait_for_running_nodes(&self, count: usize) {
        self.wait_for_running_nodes_seen_by(0, count).await;
    }

    /// The members of quorum queue `queue` (vhost `/`) and how many of them are online, as node
    /// `asking` reports them.
    pub async fn quorum_members(&self, asking: usize, queue: &str) -> (Vec<String>, usize) {
        let listed = self.nodes[asking]
            .cli_async(
                "rabbitmqctl",
                &[
                    "list_queues",
                    "--formatter",
                    "json",
                    "name",
                    "type",
                    "members",
                    "online",
                ],
            )
            .await;
        let queues: serde_json::Value = serde_json::from_str(&listed).expect("list_queues JSON");
        let entry = queues
            .as_array()
            .expect("a list of queues")
            .iter()
            .find(|entry| entry["name"] == queue)
            .unwrap_or_else(|| panic!("queue {queue} is not listed: {listed}"));
        assert_eq!(entry["type"], "quorum", "{queue} is a quorum queue");
        let names = |key: &str| -> Vec<String> {
            entry[key]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(|member| member.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        (names("members"), names("online").len())
    }

    /// The AMQP port of the node that holds the client connection named `name`, as node
    /// `asking` sees the cluster's connections; `None` while there is no such connection.
    pub async fn connection_port(&self, asking: usize, name: &str) -> Option<u16> {
        let listed = self.nodes[asking]
            .cli_async(
                "rabbitmqctl",
                &[
                    "list_connections",
                    "--quiet",
                    "--formatter",
                    "json",
                    "client_properties",
                    "port",
                ],
            )
            .await;
        // The name a client gives is its `connection_name` client property (the `name` column
        // is the peer's address); the properties render as nested lists, so look for the
        // quoted name in them.
        let quoted = serde_json::Value::from(name).to_string();
        let connections: serde_json::Value = serde_json::from_str(&listed).ok()?;
        connections
            .as_array()?
            .iter()
            .find(|connection| {
                connection["client_properties"]
                    .to_string()
                    .contains(&quoted)
            })
            .and_then(|connection| connection["port"].as_u64())
            .and_then(|port| u16::try_from(port).ok())
    }
}
