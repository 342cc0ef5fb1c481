//! The job envelope: the versioned JSON body of every job message. A compatibility promise —
//! fields are added as optional, never renamed or removed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tributary_connector::{ConnectorKind, JobId, SourceId, StreamName, TenantId, Window};

/// The envelope version this build writes and understands.
pub const ENVELOPE_VERSION: u32 = 1;

/// What a job asks the worker to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Pull a stream's window page by page into the store.
    Pull,
    /// Go through the ledger and do nothing else; measures the runtime's own overhead.
    Noop,
    /// Compare a stream between source and store per created-at window (the job's window is
    /// on the created-at clock: an open start is the whole history, an open end is now),
    /// repair what drifted and write a report.
    Reconcile,
}

impl JobKind {
    /// The stable name used in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Pull => "pull",
            JobKind::Noop => "noop",
            JobKind::Reconcile => "reconcile",
        }
    }
}

/// Where a job came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    /// The job that handed over to this one (continuations), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<JobId>,
    /// The first job of this run; a run's continuations share it. Equals the job's own id for a
    /// root job (and is filled in that way when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<JobId>,
    /// The dead-lettered job this one replays, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<JobId>,
}

/// One job. The cursor is not here: it lives in PostgreSQL, so a stale message cannot rewind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobEnvelope {
    /// Envelope format version; see [`ENVELOPE_VERSION`].
    pub version: u32,
    /// Assigned at enqueue; also the AMQP `message_id` and the ledger key.
    pub job_id: JobId,
    /// What to do.
    pub kind: JobKind,
    /// Which connector runs it (and so which work queue carries it).
    pub connector: ConnectorKind,
    /// Whose data.
    pub tenant: TenantId,
    /// Which configured source instance.
    pub source: SourceId,
    /// Which stream.
    pub stream: StreamName,
    /// Which slice of the source's timeline; open-ended when absent.
    #[serde(default)]
    pub window: Window,
    /// Where the job came from.
    #[serde(default)]
    pub lineage: Lineage,
    /// W3C `traceparent` of whoever enqueued it, for tracing across the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// When it was first enqueued (continuations get their own time).
    pub enqueued_at: DateTime<Utc>,
}

/// Why a message body is not a job we can run.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON at all.
    #[error("message body is not valid JSON: {0}")]
    InvalidJson(serde_json::Error),
    /// JSON, but not a job envelope (missing or mistyped fields, unknown fields, bad ids).
    #[error("message body is not a job envelope: {0}")]
    WrongShape(serde_json::Error),
    /// A version this build does not understand.
    #[error("unsupported envelope version {found}; this worker understands version {supported}")]
    UnsupportedVersion {
        /// What the message said.
        found: u64,
        /// What we understand.
        supported: u32,
    },
}

impl EnvelopeError {
    /// A short stable name for metrics and dead-letter reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            EnvelopeError::InvalidJson(_) => "invalid_json",
            EnvelopeError::WrongShape(_) => "wrong_shape",
            EnvelopeError::UnsupportedVersion { .. } => "unsupported_version",
        }
    }
}

impl JobEnvelope {
    /// A new root job with a fresh id.
    pub fn new_root(
        kind: JobKind,
        connector: ConnectorKind,
        tenant: TenantId,
        source: SourceId,
        stream: StreamName,
        window: Window,
    ) -> Self {
        Self {
            version: ENVELOPE_VERSION,
            job_id: JobId::new(),
            kind,
            connector,
            tenant,
            source,
            stream,
            window,
            lineage: Lineage::default(),
            traceparent: None,
            enqueued_at: Utc::now(),
        }
    }

    /// The continuation of this job: same run (root), same window, a new id.
    pub fn continuation(&self, job_id: JobId) -> Self {
        Self {
            job_id,
            lineage: Lineage {
                parent: Some(self.job_id),
                root: Some(self.root()),
                replay_of: None,
            },
            enqueued_at: Utc::now(),
            ..self.clone()
        }
    }

    /// The run this job belongs to.
    pub fn root(&self) -> JobId {
        self.lineage.root.unwrap_or(self.job_id)
    }

    /// Whether this job continues an earlier job's run.
    pub fn is_continuation(&self) -> bool {
        self.lineage.root.is_some_and(|root| root != self.job_id)
    }

    /// Parses a message body, telling bad JSON, a wrong shape and an unknown version apart.
    pub fn parse(body: &[u8]) -> Result<Self, EnvelopeError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(EnvelopeError::InvalidJson)?;
        if let Some(version) = value.get("version").and_then(serde_json::Value::as_u64) {
            if version != u64::from(ENVELOPE_VERSION) {
                return Err(EnvelopeError::UnsupportedVersion {
                    found: version,
                    supported: ENVELOPE_VERSION,
                });
            }
        }
        serde_json::from_value(value).map_err(EnvelopeError::WrongShape)
    }

    /// The JSON body.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a job envelope always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> JobEnvelope {
        JobEnvelope::new_root(
            JobKind::Pull,
            ConnectorKind::new("demo").unwrap(),
            TenantId::new("acme").unwrap(),
            SourceId::new("demo-shop").unwrap(),
            StreamName::new("orders").unwrap(),
            Window::default(),
        )
    }

    #[test]
    fn round_trips() {
        let job = sample();
        assert_eq!(JobEnvelope::parse(&job.to_bytes()).unwrap(), job);
        assert_eq!(job.root(), job.job_id);
        assert!(!job.is_continuation());
    }

    #[test]
    fn continuation_keeps_the_run() {
        let job = sample();
        let next = job.continuation(JobId::new());
        assert_eq!(next.root(), job.job_id);
        assert_eq!(next.lineage.parent, Some(job.job_id));
        assert!(next.is_continuation());
        let third = next.continuation(JobId::new());
        assert_eq!(third.root(), job.job_id);
    }

    #[test]
    fn tells_bad_inputs_apart() {
        assert_eq!(
            JobEnvelope::parse(b"{not json").unwrap_err().kind(),
            "invalid_json"
        );
        assert_eq!(
            JobEnvelope::parse(b"[1,2]").unwrap_err().kind(),
            "wrong_shape"
        );
        let mut value = serde_json::to_value(sample()).unwrap();
        value["version"] = 7.into();
        let err = JobEnvelope::parse(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported envelope version 7; this worker understands version 1"
        );
        let mut value = serde_json::to_value(sample()).unwrap();
        value["tenant"] = "".into();
        let err = JobEnvelope::parse(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert!(err.to_string().contains("tenant id"), "{err}");
    }
}
