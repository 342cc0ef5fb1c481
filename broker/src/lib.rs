//! The one crate that speaks AMQP: exchange, queue and header names, the job envelope, the
//! topology (declared and checked at start-up), confirmed publishing and connections.
//!
//! Nothing else in the workspace spells a queue name or a header. This crate knows nothing about
//! PostgreSQL and nothing about what a job *does*.

mod connection;
mod envelope;
mod properties;
mod publisher;
mod topology;

pub use connection::{
    connect, ConnectError, NodeProblem, Nodes, NodesError, DEFAULT_CONNECT_TIMEOUT,
};
pub use envelope::{EnvelopeError, JobEnvelope, JobKind, Lineage, ENVELOPE_VERSION};
pub use lapin;
pub use properties::{header_str, properties_json};
pub use publisher::{job_properties, PublishError, Publisher, Received, DEFAULT_CONFIRM_TIMEOUT};
pub use topology::{RetryTier, Topology, TopologyError};

/// Header carrying the retry tier a message is routed to (matched by the retry headers exchange).
pub const HEADER_RETRY_TIER: &str = "x-tributary-retry-tier";
/// Informational header: the attempt number the publisher believed this was. Never trusted —
/// attempt counts come from the ledger.
pub const HEADER_ATTEMPT: &str = "x-tributary-attempt";
/// Informational header: why the message was sent to a retry tier (`retry` or `snooze`).
pub const HEADER_REASON: &str = "x-tributary-reason";
