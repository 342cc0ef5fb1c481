//! The optional reconciliation half of the connector contract: what a source can tell about a
//! created-at window without sending its records (a count, an order-independent digest, a
//! manifest of ids), and fetching records by id. A connector advertises what it offers with
//! [`ReconcileSupport`]; every method has a default that says "unsupported", so a connector
//! without reconciliation compiles and runs unchanged.
//!
//! Fingerprints and digests close the gap counts and updated-at leave open (a record changed
//! without its updated-at moving): a connector that offers them computes a record's fingerprint
//! both from what the source reports and from a stored record's data, and a window's digest is
//! [`xor_digest`] of its records' fingerprints, so the store side can compute it too.

use crate::{Cursor, RateLimitHint};
use chrono::{DateTime, Utc};

/// What a connector offers for reconciliation. All `false` (the default) means "unsupported":
/// a reconcile job of such a source ends with an `unsupported` report, not a failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileSupport {
    /// [`crate::Connector::window_summary`] answers with a count per created-at window.
    pub counts: bool,
    /// [`crate::Connector::manifest`] lists (id, updated-at) per created-at window.
    pub manifests: bool,
    /// [`crate::Connector::fetch_by_ids`] returns records by their ids.
    pub fetch_by_id: bool,
    /// Manifests carry fingerprints, summaries carry digests, and
    /// [`crate::Connector::fingerprint`] computes the same fingerprint from stored data.
    pub fingerprints: bool,
}

impl ReconcileSupport {
    /// Whether a reconciliation can run at all: counts, manifests and fetching by id.
    pub fn is_usable(&self) -> bool {
        self.counts && self.manifests && self.fetch_by_id
    }

    /// What is missing for [`ReconcileSupport::is_usable`], for the report's message.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if !self.counts {
            missing.push("window counts");
        }
        if !self.manifests {
            missing.push("id manifests");
        }
        if !self.fetch_by_id {
            missing.push("fetch by id");
        }
        missing
    }
}

/// A half-open window `[from, to)` on the source's created-at clock. Both ends are closed
/// instants: reconciliation bisects windows, which needs a middle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CreatedWindow {
    /// Inclusive start.
    pub from: DateTime<Utc>,
    /// Exclusive end.
    pub to: DateTime<Utc>,
}

impl CreatedWindow {
    /// Whether `at` falls inside the window.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.to
    }
}

/// What a source says about one created-at window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSummary {
    /// Records whose created-at falls in the window.
    pub count: u64,
    /// [`xor_digest`] of the window's record fingerprints, when the source offers it.
    pub digest: Option<String>,
    /// Rate-limit information from the response, if any.
    pub rate_limit: Option<RateLimitHint>,
}

/// One record as a manifest lists it: enough to tell missing, extra and stale apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The source's id.
    pub external_id: String,
    /// When the source last changed it, if the source says.
    pub updated_at: Option<DateTime<Utc>>,
    /// Its fingerprint, when the connector offers fingerprints.
    pub fingerprint: Option<String>,
}

/// One page of a window's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPage {
    /// The entries of this page.
    pub entries: Vec<ManifestEntry>,
    /// Where the next page starts; `None` when the window's manifest is complete.
    pub next_cursor: Option<Cursor>,
    /// Rate-limit information from the response, if any.
    pub rate_limit: Option<RateLimitHint>,
}

/// Records fetched by id.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedRecords {
    /// The records the source still has, in any order; ids it no longer has are left out.
    pub records: Vec<crate::Record>,
    /// Rate-limit information from the response, if any.
    pub rate_limit: Option<RateLimitHint>,
}

/// FNV-1a, 64 bits: cheap, stable across builds and platforms, and simple enough that a source
/// (or its mock) can compute the same value.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The digest of a window: the XOR of [`fnv1a64`] of each record's fingerprint, as 16 lower-case
/// hex digits. Order-independent, so source and store can compute it over any order; the empty
/// window's digest is `0000000000000000`.
pub fn xor_digest<'a>(fingerprints: impl IntoIterator<Item = &'a str>) -> String {
    let digest = fingerprints.into_iter().fold(0u64, |digest, fingerprint| {
        digest ^ fnv1a64(fingerprint.as_bytes())
    });
    format!("{digest:016x}")
}

/// A fingerprint of a JSON value: [`fnv1a64`] of its canonical text (object keys sorted,
/// compact, scalars as `serde_json` writes them), as 16 hex digits. Key order and whitespace do
/// not matter, so a record as served and the same record read back from a JSON column agree.
pub fn json_fingerprint(value: &serde_json::Value) -> String {
    let mut text = Vec::with_capacity(256);
    write_canonical(value, &mut text);
    format!("{:016x}", fnv1a64(&text))
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (index, (key, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_scalar(&serde_json::Value::String(key.clone()), out);
                out.push(b':');
                write_canonical(value, out);
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &serde_json::Value, out: &mut Vec<u8>) {
    // Writing a scalar into memory cannot fail; an error would only drop it from the text.
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_key_order_and_whitespace_but_not_values() {
        let one: serde_json::Value =
            serde_json::from_str(r#"{"b": [1, {"d": null, "c": "é"}], "a": 1.5}"#).unwrap();
        let two: serde_json::Value =
            serde_json::from_str(r#"{"a":1.5,"b":[1,{"c":"é","d":null}]}"#).unwrap();
        let three: serde_json::Value =
            serde_json::from_str(r#"{"a":1.5,"b":[1,{"c":"e","d":null}]}"#).unwrap();
        assert_eq!(json_fingerprint(&one), json_fingerprint(&two));
        assert_ne!(json_fingerprint(&one), json_fingerprint(&three));
        assert_eq!(
            json_fingerprint(&two),
            format!(
                "{:016x}",
                fnv1a64(r#"{"a":1.5,"b":[1,{"c":"é","d":null}]}"#.as_bytes())
            )
        );
    }

    #[test]
    fn digests_are_order_independent_and_see_every_change() {
        let forward = xor_digest(["a", "b", "c"]);
        assert_eq!(forward, xor_digest(["c", "a", "b"]));
        assert_ne!(forward, xor_digest(["a", "b"]));
        assert_ne!(forward, xor_digest(["a", "b", "d"]));
        assert_eq!(xor_digest([]), "0000000000000000");
    }

    #[test]
    fn support_says_what_is_missing() {
        assert!(!ReconcileSupport::default().is_usable());
        assert_eq!(
            ReconcileSupport {
                counts: true,
                ..ReconcileSupport::default()
            }
            .missing(),
            ["id manifests", "fetch by id"]
        );
    }
}
