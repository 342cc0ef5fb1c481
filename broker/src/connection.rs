//! Opening AMQP connections to one node of a list, with a name the broker's management UI shows.
//!
//! A cluster is given as one URL per node ([`Nodes`]). [`connect`] tries the nodes in turn,
//! starting at a rotating offset (seeded at random per process) so that a fleet spreads over the
//! cluster, and moves on when a node refuses, fails the handshake or does not answer within the
//! connect timeout. Every caller that reconnects after a failure therefore fails over to another
//! node for free. URLs hold passwords: neither [`Nodes`]' `Debug` nor any error shows more of a
//! node than its `host:port`.

use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long one node may take to accept a connection and finish the AMQP handshake, unless
/// configured otherwise. RabbitMQ's own `handshake_timeout` is 10 s: a node that is slower than
/// that would drop us anyway.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an abandoned (timed-out) attempt is still watched, so that a handshake completing
/// late is closed rather than left open on the broker.
const LATE_ATTEMPT_WATCH: Duration = Duration::from_secs(120);

/// One node: its parsed URL and its `host:port`, the only part of it that may be shown.
#[derive(Clone)]
struct Node {
    uri: AMQPUri,
    address: String,
}

/// The broker's nodes, one AMQP URL each (one URL for a single node). Cheap to clone.
#[derive(Clone)]
pub struct Nodes {
    nodes: Arc<[Node]>,
    connect_timeout: Duration,
}

/// What is wrong with one URL of a node list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeProblem {
    /// The URL's position in the list (0-based).
    pub index: usize,
    /// What is wrong, never quoting the URL (it may hold a password).
    pub problem: String,
}

/// A node list that cannot be used: every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid AMQP node list: {}", .problems.iter().map(|p| format!("[{}]: {}", p.index, p.problem)).collect::<Vec<_>>().join("; "))]
pub struct NodesError {
    /// Each problem with the position of its URL.
    pub problems: Vec<NodeProblem>,
}

impl Nodes {
    /// Parses one `amqp://` or `amqps://` URL per node. Every problem is reported, each with
    /// its URL's position: an empty entry (a stray separator), a wrong scheme, a URL that does
    /// not parse, the same `host:port` twice, and a virtual host differing from the first
    /// node's (every node of a cluster serves the same ones).
    pub fn parse<'a>(urls: impl IntoIterator<Item = &'a str>) -> Result<Self, NodesError> {
        let mut nodes: Vec<Node> = Vec::new();
        let mut problems = Vec::new();
        let mut first_vhost: Option<(usize, String)> = None;
        let mut seen: Vec<(usize, String)> = Vec::new();
        for (index, url) in urls.into_iter().enumerate() {
            let mut problem = |problem: String| problems.push(NodeProblem { index, problem });
            let url = url.trim();
            if url.is_empty() {
                problem("is empty (a stray or doubled comma?)".to_owned());
                continue;
            }
            if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
                problem(
                    "must start with amqp:// or amqps:// (a comma inside a password must be \
                     written %2C)"
                        .to_owned(),
                );
                continue;
            }
            let uri = match url.parse::<AMQPUri>() {
                Ok(uri) => uri,
                Err(error) => {
                    // The parser quotes the whole input in one of its messages: never echo it.
                    let error = if error.contains(url) {
                        "is not a valid URL".to_owned()
                    } else {
                        format!("is not a valid AMQP URL: {error}")
                    };
                    problem(error);
                    continue;
                }
            };
            let uri = with_literal_host(url, uri);
            let address = format!("{}:{}", uri.authority.host, uri.authority.port);
            if let Some((other, _)) = seen.iter().find(|(_, seen)| *seen == address) {
                problem(format!("names the same node ({address}) as [{other}]"));
                continue;
            }
            seen.push((index, address.clone()));
            match &first_vhost {
                None => first_vhost = Some((index, uri.vhost.clone())),
                Some((first, vhost)) if *vhost != uri.vhost => problem(format!(
                    "virtual host {:?} differs from [{first}]'s {vhost:?}; every node of a \
                     cluster serves the same virtual host",
                    uri.vhost
                )),
                Some(_) => {}
            }
            nodes.push(Node { uri, address });
        }
        if problems.is_empty() && nodes.is_empty() {
            problems.push(NodeProblem {
                index: 0,
                problem: "at least one node URL is required".to_owned(),
            });
        }
        if !problems.is_empty() {
            return Err(NodesError { problems });
        }
        Ok(Self {
            nodes: nodes.into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        })
    }

    /// The same nodes with another per-node connect timeout (TCP connect, TLS and the AMQP
    /// handshake together).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The per-node connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How many nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Never true: a list has at least one node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Each node's `host:port`, in the configured order (safe to log).
    pub fn addresses(&self) -> Vec<String> {
        self.nodes.iter().map(|node| node.address.clone()).collect()
    }
}

/// `url`'s parser takes the host from the URL's domain only, so an IP literal
/// (`amqp://10.0.0.5`) would silently become `localhost`. Put the literal back.
fn with_literal_host(url: &str, mut uri: AMQPUri) -> AMQPUri {
    let after_scheme = &url[url.find("://").map_or(0, |at| at + 3)..];
    let authority = &after_scheme[..after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len())];
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed
            .split_once(']')
            .map_or(bracketed, |(host, _)| host)
    } else {
        host_port
            .split_once(':')
            .map_or(host_port, |(host, _)| host)
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        uri.authority.host = host.to_owned();
    }
    uri
}

impl fmt::Debug for Nodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nodes")
            .field("addresses", &self.addresses())
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// Why no node could be connected to: each node's reason, in the order tried. No URL is part of
/// the message (they may hold passwords), only each node's `host:port`.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot connect to the AMQP broker as `{name}`: {}",
    .attempts.iter().map(|(address, reason)| format!("{address}: {reason}")).collect::<Vec<_>>().join("; ")
)]
pub struct ConnectError {
    name: String,
    attempts: Vec<(String, String)>,
}

impl ConnectError {
    /// Each node tried (`host:port`) with why it failed, in the order tried.
    pub fn attempts(&self) -> &[(String, String)] {
        &self.attempts
    }
}

/// The offset the next connection starts at: random per process, then rotating, so that a
/// fleet's connections (and one process's several connections) spread over the nodes.
fn next_start(len: usize) -> usize {
    static NEXT: OnceLock<AtomicUsize> = OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        AtomicUsize::new(seed as usize)
    });
    rotate(next, len)
}

/// The counter's current offset into `len` nodes; the next call gets the next node.
fn rotate(counter: &AtomicUsize, len: usize) -> usize {
    counter.fetch_add(1, Ordering::Relaxed) % len
}

/// Tries `attempt` on the node indices `start, start + 1, …` (wrapping) until one succeeds;
/// returns the first success with its index, or every failure in the order tried.
async fn try_in_turn<T, E, F, Fut>(
    len: usize,
    start: usize,
    mut attempt: F,
) -> Result<(usize, T), Vec<(usize, E)>>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut failures = Vec::new();
    for offset in 0..len {
        let index = (start + offset) % len;
        match attempt(index).await {
            Ok(value) => return Ok((index, value)),
            Err(error) => failures.push((index, error)),
        }
    }
    Err(failures)
}

/// Opens a connection named `name` (shown in the management UI, e.g. `worker-3 consume`) to the
/// first node, in turn from a rotating start, that accepts within the connect timeout.
/// Publishing and consuming use separate connections: a publisher blocked by a broker alarm also
/// blocks acks on its connection.
pub async fn connect(nodes: &Nodes, name: &str) -> Result<Connection, ConnectError> {
    let start = next_start(nodes.len());
    let outcome = try_in_turn(nodes.len(), start, |index| {
        connect_node(&nodes.nodes[index], name, nodes.connect_timeout)
    })
    .await;
    match outcome {
        Ok((index, connection)) => {
            if index != start {
                tracing::warn!(
                    connection = name,
                    node = %nodes.nodes[index].address,
                    "connected to the broker after failing over from an unreachable node"
                );
            } else {
                tracing::debug!(connection = name, node = %nodes.nodes[index].address, "connected to the broker");
            }
            Ok(connection)
        }
        Err(failures) => Err(ConnectError {
            name: name.to_owned(),
            attempts: failures
                .into_iter()
                .map(|(index, reason)| (nodes.nodes[index].address.clone(), reason))
                .collect(),
        }),
    }
}

/// One node, within `timeout`. A timed-out attempt is not simply dropped: its handshake may
/// still complete, and that connection would stay open on the broker, so it is watched for a
/// while and closed if it does.
async fn connect_node(node: &Node, name: &str, timeout: Duration) -> Result<Connection, String> {
    let properties = ConnectionProperties::default().with_connection_name(name.to_owned().into());
    let mut attempt = tokio::spawn(Connection::connect_uri(node.uri.clone(), properties));
    match tokio::time::timeout(timeout, &mut attempt).await {
        Ok(Ok(Ok(connection))) => Ok(connection),
        Ok(Ok(Err(error))) => Err(error.to_string()),
        Ok(Err(join_error)) => Err(format!("the connect attempt failed: {join_error}")),
        Err(_) => {
            tokio::spawn(async move {
                match tokio::time::timeout(LATE_ATTEMPT_WATCH, &mut attempt).await {
                    Ok(Ok(Ok(late))) => {
                        let _ = late.close(200, "connect timed out".into()).await;
                    }
                    Ok(_) => {}
                    Err(_) => attempt.abort(),
                }
            });
            Err(format!("no connection within {timeout:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn problems(urls: &[&str]) -> Vec<(usize, String)> {
        Nodes::parse(urls.iter().copied())
            .expect_err("invalid")
            .problems
            .into_iter()
            .map(|p| (p.index, p.problem))
            .collect()
    }

    #[test]
    fn a_list_parses_into_its_nodes_in_order() {
        let nodes = Nodes::parse([
            "amqp://u:p@mq1.internal:5672/%2f",
            " amqps://u:p@mq2.internal/%2f ",
            "amqp://u:p@10.0.0.7:5673/%2f",
            "amqp://u:p@[::1]:5674/%2f",
        ])
        .unwrap();
        assert_eq!(
            nodes.addresses(),
            [
                "mq1.internal:5672",
                "mq2.internal:5671",
                "10.0.0.7:5673",
                "::1:5674"
            ]
        );
        assert_eq!(nodes.len(), 4);
        assert_eq!(nodes.connect_timeout(), DEFAULT_CONNECT_TIMEOUT);
    }

    #[test]
    fn every_bad_entry_is_named_by_its_position_and_no_password_is_echoed() {
        let found = problems(&[
            "amqp://u:hunter2@a:5672/%2f",
            "",
            "http://u:hunter2@b/%2f",
            "amqp://u:hunter2@a:5672/%2f",
            "amqp://u:hunter2@c:5672/other",
            "amqp://u:hunter2@d:notaport/%2f",
        ]);
        let indices: Vec<usize> = found.iter().map(|(index, _)| *index).collect();
        assert_eq!(indices, [1, 2, 3, 4, 5], "{found:?}");
        assert!(found[0].1.contains("empty"), "{found:?}");
        assert!(found[1].1.contains("amqp://"), "{found:?}");
        assert!(
            found[2].1.contains("same node (a:5672) as [0]"),
            "{found:?}"
        );
        assert!(found[3].1.contains("virtual host"), "{found:?}");
        for (_, problem) in &found {
            assert!(!problem.contains("hunter2"), "{problem}");
        }
        let error = Nodes::parse(["amqp://u:hunter2@d:notaport/%2f"]).unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn an_empty_list_is_refused() {
        assert_eq!(
            problems(&[]),
            [(0, "at least one node URL is required".to_owned())]
        );
    }

    #[test]
    fn an_ip_literal_host_is_kept_not_turned_into_localhost() {
        let nodes = Nodes::parse(["amqp://u:p@192.0.2.10:5672/%2f"]).unwrap();
        assert_eq!(nodes.nodes[0].uri.authority.host, "192.0.2.10");
        let nodes = Nodes::parse(["amqp://192.0.2.11"]).unwrap();
        assert_eq!(nodes.addresses(), ["192.0.2.11:5672"]);
    }

    #[test]
    fn debug_shows_addresses_never_credentials() {
        let nodes = Nodes::parse(["amqp://user:hunter2@mq1:5672/%2f"]).unwrap();
        let debug = format!("{nodes:?}");
        assert!(debug.contains("mq1:5672"), "{debug}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("user"),
            "{debug}"
        );
    }

    #[test]
    fn starts_rotate_so_connections_spread_over_the_nodes() {
        let counter = AtomicUsize::new(4);
        let starts: Vec<usize> = (0..6).map(|_| rotate(&counter, 3)).collect();
        assert_eq!(starts, [1, 2, 0, 1, 2, 0]);
    }

    #[tokio::test]
    async fn nodes_are_tried_in_turn_from_the_start_until_one_answers() {
        let mut tried = Vec::new();
        let outcome = try_in_turn(3, 2, |index| {
            tried.push(index);
            async move {
                if index == 1 {
                    Ok("up")
                } else {
                    Err(format!("node {index} down"))
                }
            }
        })
        .await;
        assert_eq!(outcome, Ok((1, "up")));
        assert_eq!(tried, [2, 0, 1], "wraps around from the start");

        let mut tried = Vec::new();
        let outcome: Result<(usize, ()), _> = try_in_turn(3, 1, |index| {
            tried.push(index);
            async move { Err(index * 10) }
        })
        .await;
        assert_eq!(outcome, Err(vec![(1, 10), (2, 20), (0, 0)]));
        assert_eq!(tried, [1, 2, 0], "every node once, none twice");
    }

    #[tokio::test]
    async fn a_refusing_node_and_a_silent_node_each_fail_within_the_timeout() {
        // Refused: a port that was free a moment ago. Silent: a listener that never accepts, so
        // TCP connects (the kernel's backlog) but the AMQP handshake never gets an answer.
        let refused = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let silent_addr = silent.local_addr().unwrap();
        let nodes = Nodes::parse([
            format!("amqp://u:hunter2@{refused}/%2f").as_str(),
            format!("amqp://u:hunter2@{silent_addr}/%2f").as_str(),
        ])
        .unwrap()
        .with_connect_timeout(Duration::from_millis(500));
        let started = Instant::now();
        let error = connect(&nodes, "test").await.expect_err("nothing answers");
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
        let mut tried: Vec<&str> = error.attempts().iter().map(|(a, _)| a.as_str()).collect();
        tried.sort();
        let mut expected = [refused.to_string(), silent_addr.to_string()];
        expected.sort();
        assert_eq!(tried, expected, "both nodes tried once: {error}");
        let silent_reason = &error
            .attempts()
            .iter()
            .find(|(address, _)| *address == silent_addr.to_string())
            .unwrap()
            .1;
        assert!(silent_reason.contains("within 500ms"), "{error}");
        let message = error.to_string();
        assert!(
            !message.contains("hunter2") && message.contains("as `test`"),
            "{message}"
        );
    }
}
