//! The comparison at the heart of reconciliation, free of IO: bisect created-at windows whose
//! count (or digest) differs between source and store until they are small, then classify the
//! small windows' manifests into missing, extra and stale records.
//!
//! The store side is held in memory ([`StoreSide`], one read per run); the source side is
//! anything implementing [`SourceSide`], so the worker plugs in its rate-limited connector and
//! the unit tests an in-memory source. A split costs one summary request: the second half's
//! count and digest follow from the parent's (counts subtract, XOR digests cancel). Windows
//! split at the store's median created-at, so the depth follows the number of records, not the
//! length of the history.

use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tributary_connector::reconcile::xor_digest;
use tributary_connector::{CreatedWindow, ManifestEntry};
use tributary_store::{Finding, FindingKind};

/// When a window is small enough to compare manifests instead of splitting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// A window with at most this many records (on either side) is compared by manifest.
    pub max_manifest_records: u64,
    /// A window this short is compared by manifest whatever its size (records created in the
    /// same instant cannot be split apart).
    pub min_window: Duration,
}

impl Default for Thresholds {
    /// 500 records (two manifest pages of the demo shop), one second.
    fn default() -> Self {
        Self {
            max_manifest_records: 500,
            min_window: Duration::seconds(1),
        }
    }
}

/// One stored record, as compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreEntry {
    /// The source's id.
    pub external_id: String,
    /// When the source created it (what windows select on).
    pub created_at: DateTime<Utc>,
    /// When the source last changed it, as stored.
    pub updated_at: Option<DateTime<Utc>>,
    /// The connector's fingerprint of the stored data, when it offers one.
    pub fingerprint: Option<String>,
}

/// The store's records of the whole window being reconciled, sorted by created-at.
#[derive(Debug, Clone, Default)]
pub struct StoreSide {
    entries: Vec<StoreEntry>,
}

impl StoreSide {
    /// The store side of these entries (any order).
    pub fn new(mut entries: Vec<StoreEntry>) -> Self {
        entries.sort_by(|a, b| (a.created_at, &a.external_id).cmp(&(b.created_at, &b.external_id)));
        Self { entries }
    }

    /// The entries created in `window`.
    pub fn in_window(&self, window: &CreatedWindow) -> &[StoreEntry] {
        let start = self
            .entries
            .partition_point(|entry| entry.created_at < window.from);
        let end = self
            .entries
            .partition_point(|entry| entry.created_at < window.to);
        &self.entries[start..end.max(start)]
    }
}

/// A window's count and digest, from either side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Records created in the window.
    pub count: u64,
    /// The XOR digest of their fingerprints, when known.
    pub digest: Option<String>,
}

impl Summary {
    /// The store side's summary of `entries`; a digest only when every entry has a
    /// fingerprint.
    pub fn of_store(entries: &[StoreEntry], with_digest: bool) -> Self {
        let digest = if with_digest {
            entries
                .iter()
                .map(|entry| entry.fingerprint.as_deref())
                .collect::<Option<Vec<&str>>>()
                .map(xor_digest)
        } else {
            None
        };
        Self {
            count: entries.len() as u64,
            digest,
        }
    }

    /// Whether two summaries agree: same count, and same digest when both have one.
    pub fn agrees_with(&self, other: &Summary) -> bool {
        self.count == other.count
            && match (&self.digest, &other.digest) {
                (Some(mine), Some(theirs)) => mine == theirs,
                _ => true,
            }
    }

    /// The summary of the rest of a window: `self` minus the part `part` summarises.
    fn minus(&self, part: &Summary) -> Summary {
        let digest = match (&self.digest, &part.digest) {
            (Some(whole), Some(part)) => {
                match (
                    u64::from_str_radix(whole, 16),
                    u64::from_str_radix(part, 16),
                ) {
                    (Ok(whole), Ok(part)) => Some(format!("{:016x}", whole ^ part)),
                    _ => None,
                }
            }
            _ => None,
        };
        Summary {
            count: self.count.saturating_sub(part.count),
            digest,
        }
    }
}

/// What the comparison asks of the source. Implemented by the worker over the connector (rate
/// limited, counted) and by tests in memory.
pub(crate) trait SourceSide {
    /// Why a request failed.
    type Error;

    /// The source's count (and digest) of a window.
    async fn summary(&mut self, window: &CreatedWindow) -> Result<Summary, Self::Error>;

    /// The whole manifest of a window (all its pages).
    async fn manifest(&mut self, window: &CreatedWindow)
        -> Result<Vec<ManifestEntry>, Self::Error>;
}

/// What a comparison found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Windows whose summaries were compared (including the first).
    pub windows_checked: u32,
    /// Small windows whose manifests were compared.
    pub manifests_compared: u32,
    /// The drift, at most one finding per id, ordered by kind then id.
    pub findings: Vec<Finding>,
}

impl Comparison {
    /// The ids of one kind of finding.
    pub fn ids(&self, kind: FindingKind) -> Vec<String> {
        self.findings
            .iter()
            .filter(|finding| finding.kind == kind)
            .map(|finding| finding.external_id.clone())
            .collect()
    }
}

/// Where a window ends up: split in two, compared by manifest, or found equal.
fn should_split(
    window: &CreatedWindow,
    source: &Summary,
    store: &Summary,
    thresholds: Thresholds,
) -> bool {
    source.count.max(store.count) > thresholds.max_manifest_records
        && window.to - window.from > thresholds.min_window
}

/// Where to split a window: at the stored records' median created-at, so each half holds
/// about half the records however they are spread over time (a whole-history window is mostly
/// empty years); at the time midpoint when the store has too few records in it or the median
/// is an end of the window. On whole milliseconds.
fn split_point(window: &CreatedWindow, stored: &[StoreEntry]) -> DateTime<Utc> {
    let whole_millis = |at: DateTime<Utc>| DateTime::from_timestamp_millis(at.timestamp_millis());
    if stored.len() >= 2 {
        if let Some(median) = whole_millis(stored[stored.len() / 2].created_at) {
            if window.from < median && median < window.to {
                return median;
            }
        }
    }
    let middle = window.from + (window.to - window.from) / 2;
    whole_millis(middle).unwrap_or(middle)
}

/// Compares `window` between source and store: summaries first, bisecting windows that
/// disagree until they are small, then manifests of the small ones.
pub(crate) async fn compare<S: SourceSide>(
    source: &mut S,
    store: &StoreSide,
    window: CreatedWindow,
    with_digest: bool,
    thresholds: Thresholds,
) -> Result<Comparison, S::Error> {
    let mut comparison = Comparison::default();
    let mut classified: Vec<Finding> = Vec::new();
    let first = source.summary(&window).await?;
    let mut pending: Vec<(CreatedWindow, Summary)> = vec![(window, first)];
    while let Some((window, source_summary)) = pending.pop() {
        comparison.windows_checked += 1;
        let stored = store.in_window(&window);
        let store_summary = Summary::of_store(stored, with_digest);
        if source_summary.agrees_with(&store_summary) {
            continue;
        }
        if should_split(&window, &source_summary, &store_summary, thresholds) {
            let middle = split_point(&window, stored);
            if middle > window.from && middle < window.to {
                let left = CreatedWindow {
                    from: window.from,
                    to: middle,
                };
                let right = CreatedWindow {
                    from: middle,
                    to: window.to,
                };
                let left_summary = source.summary(&left).await?;
                let right_summary = source_summary.minus(&left_summary);
                // Right first on the stack, so windows are finished oldest first.
                pending.push((right, right_summary));
                pending.push((left, left_summary));
                continue;
            }
        }
        let manifest = source.manifest(&window).await?;
        comparison.manifests_compared += 1;
        classified.extend(classify(&manifest, stored));
    }
    comparison.findings = settle(classified);
    Ok(comparison)
}

/// Classifies one small window: in the source only → missing; in the store only → extra;
/// in both with a newer updated-at at the source, or a different fingerprint → stale.
pub fn classify(source: &[ManifestEntry], store: &[StoreEntry]) -> Vec<Finding> {
    let stored: HashMap<&str, &StoreEntry> = store
        .iter()
        .map(|entry| (entry.external_id.as_str(), entry))
        .collect();
    let mut findings = Vec::new();
    let mut seen = BTreeSet::new();
    for entry in source {
        seen.insert(entry.external_id.as_str());
        let finding = |kind| Finding {
            kind,
            external_id: entry.external_id.clone(),
            source_updated_at: entry.updated_at,
            store_updated_at: stored
                .get(entry.external_id.as_str())
                .and_then(|stored| stored.updated_at),
        };
        match stored.get(entry.external_id.as_str()) {
            None => findings.push(finding(FindingKind::Missing)),
            Some(stored) => {
                let newer = match (entry.updated_at, stored.updated_at) {
                    (Some(source), Some(store)) => source > store,
                    (Some(_), None) => true,
                    _ => false,
                };
                let changed = match (&entry.fingerprint, &stored.fingerprint) {
                    (Some(source), Some(store)) => source != store,
                    _ => false,
                };
                if newer || changed {
                    findings.push(finding(FindingKind::Stale));
                }
            }
        }
    }
    for entry in store {
        if !seen.contains(entry.external_id.as_str()) {
            findings.push(Finding {
                kind: FindingKind::Extra,
                external_id: entry.external_id.clone(),
                source_updated_at: None,
                store_updated_at: entry.updated_at,
            });
        }
    }
    findings
}

/// One finding per id, ordered by kind then id. An id both missing (in one window) and extra
/// (in another) moved windows — its created-at changed at the source: it is re-pulled, never
/// marked deleted.
fn settle(findings: Vec<Finding>) -> Vec<Finding> {
    let mut by_id: BTreeMap<String, Finding> = BTreeMap::new();
    for finding in findings {
        match by_id.get_mut(&finding.external_id) {
            None => {
                by_id.insert(finding.external_id.clone(), finding);
            }
            Some(existing) => {
                // Keep the finding that leads to a re-pull: missing beats stale beats extra.
                let rank = |kind: FindingKind| match kind {
                    FindingKind::Missing => 0,
                    FindingKind::Stale => 1,
                    FindingKind::Extra => 2,
                };
                if rank(finding.kind) < rank(existing.kind) {
                    let store_updated_at = existing.store_updated_at.or(finding.store_updated_at);
                    *existing = Finding {
                        store_updated_at,
                        ..finding
                    };
                }
            }
        }
    }
    let mut settled: Vec<Finding> = by_id.into_values().collect();
    settled.sort_by(|a, b| (a.kind, &a.external_id).cmp(&(b.kind, &b.external_id)));
    settled
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_connector::reconcile::json_fingerprint;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    /// A source held in memory: (id, created, updated, content).
    struct Memory {
        records: Vec<(String, i64, i64, i64)>,
        with_digest: bool,
        summaries: u32,
        manifests: u32,
    }

    impl Memory {
        fn new(count: i64, with_digest: bool) -> Self {
            Self {
                records: (0..count)
                    .map(|n| (format!("r{n:05}"), n * 10, n * 10 + 5, 0))
                    .collect(),
                with_digest,
                summaries: 0,
                manifests: 0,
            }
        }

        /// Like a real record's, the fingerprint covers the id: equal fingerprints would
        /// cancel out in an XOR digest.
        fn fingerprint(id: &str, content: i64) -> String {
            json_fingerprint(&serde_json::json!({ "id": id, "content": content }))
        }

        fn in_window<'a>(
            &'a self,
            window: &'a CreatedWindow,
        ) -> impl Iterator<Item = &'a (String, i64, i64, i64)> + 'a {
            self.records
                .iter()
                .filter(move |record| window.contains(at(record.1)))
        }

        fn store(&self) -> StoreSide {
            StoreSide::new(
                self.records
                    .iter()
                    .map(|(id, created, updated, content)| StoreEntry {
                        external_id: id.clone(),
                        created_at: at(*created),
                        updated_at: Some(at(*updated)),
                        fingerprint: Some(Self::fingerprint(id, *content)),
                    })
                    .collect(),
            )
        }
    }

    impl SourceSide for Memory {
        type Error = std::convert::Infallible;

        async fn summary(&mut self, window: &CreatedWindow) -> Result<Summary, Self::Error> {
            self.summaries += 1;
            let fingerprints: Vec<String> = self
                .in_window(window)
                .map(|record| Self::fingerprint(&record.0, record.3))
                .collect();
            Ok(Summary {
                count: fingerprints.len() as u64,
                digest: self
                    .with_digest
                    .then(|| xor_digest(fingerprints.iter().map(String::as_str))),
            })
        }

        async fn manifest(
            &mut self,
            window: &CreatedWindow,
        ) -> Result<Vec<ManifestEntry>, Self::Error> {
            self.manifests += 1;
            Ok(self
                .in_window(window)
                .map(|record| ManifestEntry {
                    external_id: record.0.clone(),
                    updated_at: Some(at(record.2)),
                    fingerprint: self
                        .with_digest
                        .then(|| Self::fingerprint(&record.0, record.3)),
                })
                .collect())
        }
    }

    fn everything() -> CreatedWindow {
        CreatedWindow {
            from: at(-1_000_000),
            to: at(1_000_000),
        }
    }

    fn small() -> Thresholds {
        Thresholds {
            max_manifest_records: 50,
            min_window: Duration::seconds(1),
        }
    }

    async fn run(source: &mut Memory, store: &StoreSide) -> Comparison {
        let with_digest = source.with_digest;
        let Ok(comparison) = compare(source, store, everything(), with_digest, small()).await;
        comparison
    }

    #[tokio::test]
    async fn equal_sides_cost_one_request() {
        let mut source = Memory::new(2_000, true);
        let store = source.store();
        let comparison = run(&mut source, &store).await;
        assert_eq!(comparison.findings, []);
        assert_eq!((source.summaries, source.manifests), (1, 0));
        assert_eq!(comparison.windows_checked, 1);
    }

    #[tokio::test]
    async fn each_kind_of_drift_is_found_exactly() {
        let mut source = Memory::new(2_000, true);
        let store = source.store();
        source.records[1500].3 = 7; // edited, updated-at untouched
        source.records[700].2 += 1_000; // updated normally: newer, different content
        source.records[700].3 = 1;
        source.records.retain(|record| record.0 != "r00100"); // deleted at the source
        source.records.push(("late".into(), 5_005, 1, 0)); // added behind the cursor
        let comparison = run(&mut source, &store).await;
        assert_eq!(comparison.ids(FindingKind::Missing), ["late"]);
        assert_eq!(comparison.ids(FindingKind::Extra), ["r00100"]);
        assert_eq!(comparison.ids(FindingKind::Stale), ["r00700", "r01500"]);
        // Only small windows were listed.
        assert!(source.manifests <= 4, "{} manifests", source.manifests);
    }

    #[tokio::test]
    async fn without_digests_counts_and_updated_at_still_find_what_they_can() {
        let mut source = Memory::new(500, false);
        let store = source.store();
        source.records.retain(|record| record.0 != "r00010");
        source.records[200].3 = 9; // invisible without fingerprints
        let comparison = run(&mut source, &store).await;
        assert_eq!(comparison.ids(FindingKind::Extra), ["r00010"]);
        assert_eq!(comparison.ids(FindingKind::Stale), Vec::<String>::new());
    }

    #[tokio::test]
    async fn requests_grow_with_the_drift_not_the_data() {
        async fn requests(size: i64, drift: usize) -> u32 {
            let mut source = Memory::new(size, true);
            let store = source.store();
            let step = size as usize / drift;
            for n in 0..drift {
                source.records[n * step + step / 2].3 = 1;
            }
            let comparison = run(&mut source, &store).await;
            assert_eq!(comparison.findings.len(), drift);
            source.summaries + source.manifests
        }
        let small_data = requests(1_000, 4).await;
        let large_data = requests(4_000, 4).await;
        let more_drift = requests(4_000, 16).await;
        // Four times the data costs a couple of bisection levels per finding, no more.
        assert!(
            large_data <= small_data + 2 * 4,
            "{small_data} vs {large_data}"
        );
        assert!(more_drift > large_data, "{large_data} vs {more_drift}");
    }

    #[test]
    fn classification_of_one_window() {
        let entry = |id: &str, updated: i64, fingerprint: &str| ManifestEntry {
            external_id: id.into(),
            updated_at: Some(at(updated)),
            fingerprint: Some(fingerprint.into()),
        };
        let stored = |id: &str, updated: i64, fingerprint: &str| StoreEntry {
            external_id: id.into(),
            created_at: at(0),
            updated_at: Some(at(updated)),
            fingerprint: Some(fingerprint.into()),
        };
        let findings = classify(
            &[
                entry("same", 1, "a"),
                entry("new", 1, "a"),
                entry("newer", 5, "a"),
                entry("edited", 1, "b"),
            ],
            &[
                stored("same", 1, "a"),
                stored("newer", 1, "a"),
                stored("edited", 1, "a"),
                stored("gone", 1, "a"),
            ],
        );
        let kinds: Vec<(FindingKind, &str)> = findings
            .iter()
            .map(|finding| (finding.kind, finding.external_id.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (FindingKind::Missing, "new"),
                (FindingKind::Stale, "newer"),
                (FindingKind::Stale, "edited"),
                (FindingKind::Extra, "gone"),
            ]
        );
        // An older updated-at at the source is not stale: the store is ahead, not behind.
        assert_eq!(classify(&[entry("x", 1, "a")], &[stored("x", 2, "a")]), []);
    }

    #[test]
    fn an_id_that_moved_windows_is_re_pulled_not_deleted() {
        let finding = |kind, id: &str| Finding {
            kind,
            external_id: id.into(),
            source_updated_at: None,
            store_updated_at: None,
        };
        let settled = settle(vec![
            finding(FindingKind::Extra, "moved"),
            finding(FindingKind::Missing, "moved"),
            finding(FindingKind::Extra, "gone"),
        ]);
        assert_eq!(
            settled,
            [
                finding(FindingKind::Missing, "moved"),
                finding(FindingKind::Extra, "gone")
            ]
        );
    }

    #[test]
    fn store_windows_are_half_open() {
        let store = Memory::new(10, true).store();
        let window = CreatedWindow {
            from: at(20),
            to: at(50),
        };
        let ids: Vec<&str> = store
            .in_window(&window)
            .iter()
            .map(|entry| entry.external_id.as_str())
            .collect();
        assert_eq!(ids, ["r00002", "r00003", "r00004"]);
    }
}
