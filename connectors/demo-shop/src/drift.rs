//! Drift: what tests do to a tenant's stream behind a client's back, so reconciliation has
//! something to find — records deleted, records added "behind the cursor" (created and last
//! updated in the past, so an incremental pull never sees them), and records edited without
//! their `updated_at` moving. Also the shop's record fingerprint and window digest.
//!
//! Generated data stays a pure function of the index; drift is a small overlay per
//! (tenant, stream) consulted while serving. This module knows nothing about HTTP.

use std::collections::{HashMap, HashSet};

/// One record added behind the cursor: its index is the stream's length plus its position in
/// [`Drift::added`], so its id follows the generated ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Added {
    pub(crate) created_ms: i64,
    pub(crate) updated_ms: i64,
}

/// The overlay of one (tenant, stream). Copied on write, read as a snapshot per request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Drift {
    /// Indexes deleted at the source.
    pub(crate) deleted: HashSet<u64>,
    /// Indexes edited without touching `updated_at`, with how often.
    pub(crate) edited: HashMap<u64, u32>,
    /// Records added behind the cursor, in index order after the generated ones.
    pub(crate) added: Vec<Added>,
}

impl Drift {
    /// Whether the record at `index` is served at all.
    pub(crate) fn is_deleted(&self, index: u64) -> bool {
        self.deleted.contains(&index)
    }

    /// Rewrites one served record (a JSON object in `record`) as the drift says: added records
    /// get their own timestamps, edited ones an extra tag per edit. Untouched records are left
    /// byte for byte.
    pub(crate) fn apply(&self, base_len: u64, index: u64, record: &mut Vec<u8>) {
        let added = index
            .checked_sub(base_len)
            .and_then(|position| self.added.get(position as usize));
        let edits = self.edited.get(&index).copied().unwrap_or(0);
        if added.is_none() && edits == 0 {
            return;
        }
        let Ok(serde_json::Value::Object(mut object)) =
            serde_json::from_slice::<serde_json::Value>(record)
        else {
            return;
        };
        if let Some(added) = added {
            object.insert(
                "created_at".to_owned(),
                crate::data::Timestamp(added.created_ms).to_string().into(),
            );
            object.insert(
                "updated_at".to_owned(),
                crate::data::Timestamp(added.updated_ms).to_string().into(),
            );
        }
        if edits > 0 {
            let tags = object
                .entry("tags")
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let serde_json::Value::Array(tags) = tags {
                for edit in 1..=edits {
                    tags.push(format!("edited-{edit}").into());
                }
            }
        }
        record.clear();
        // Writing a JSON value into memory cannot fail.
        let _ = serde_json::to_writer(&mut *record, &serde_json::Value::Object(object));
    }
}

/// FNV-1a, 64 bits.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A served record's fingerprint, as manifests report it: FNV-1a 64 of the record's canonical
/// JSON (object keys sorted, no whitespace), as 16 hex digits. A client holding the record can
/// compute it without asking.
pub(crate) fn fingerprint(record: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(record).unwrap_or_default();
    let mut text = Vec::with_capacity(record.len());
    write_canonical(&value, &mut text);
    format!("{:016x}", fnv1a64(&text))
}

/// A window's digest, as the count endpoint reports it: the XOR of FNV-1a 64 of each record's
/// fingerprint text, as 16 hex digits (order-independent; `0000000000000000` when empty).
pub(crate) fn digest<'a>(fingerprints: impl IntoIterator<Item = &'a str>) -> String {
    let digest = fingerprints.into_iter().fold(0u64, |digest, fingerprint| {
        digest ^ fnv1a64(fingerprint.as_bytes())
    });
    format!("{digest:016x}")
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (position, (key, value)) in entries.into_iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, key);
                out.push(b':');
                write_canonical(value, out);
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_key_order() {
        assert_eq!(
            fingerprint(br#"{"b":1,"a":[true,null]}"#),
            fingerprint(br#"{ "a": [true, null], "b": 1 }"#)
        );
        assert_ne!(
            fingerprint(br#"{"b":1,"a":[true,null]}"#),
            fingerprint(br#"{"b":2,"a":[true,null]}"#)
        );
        assert_eq!(digest(["x", "y"]), digest(["y", "x"]));
        assert_eq!(digest([]), "0000000000000000");
    }

    #[test]
    fn edits_add_tags_and_added_records_get_their_times() {
        let mut drift = Drift::default();
        drift.edited.insert(1, 2);
        drift.added.push(Added {
            created_ms: 0,
            updated_ms: 1000,
        });
        let mut record = br#"{"id":"x","tags":["a"],"created_at":"c","updated_at":"u"}"#.to_vec();
        drift.apply(10, 1, &mut record);
        let value: serde_json::Value = serde_json::from_slice(&record).unwrap();
        assert_eq!(
            value["tags"],
            serde_json::json!(["a", "edited-1", "edited-2"])
        );
        assert_eq!(value["updated_at"], "u");

        let mut record = br#"{"id":"y","created_at":"c","updated_at":"u"}"#.to_vec();
        drift.apply(10, 10, &mut record);
        let value: serde_json::Value = serde_json::from_slice(&record).unwrap();
        assert_eq!(value["created_at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(value["updated_at"], "1970-01-01T00:00:01.000Z");

        let untouched = br#"{"id":"z"}"#.to_vec();
        let mut record = untouched.clone();
        drift.apply(10, 2, &mut record);
        assert_eq!(record, untouched);
    }
}
