//! Checkpoints and the records they cover: a page of records is upserted in the same
//! transaction as the cursor advance, guarded by a compare-and-set on the cursor, so a page is
//! applied exactly once however often its job is delivered.

use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;
use tributary_connector::Record;
use uuid::Uuid;

/// Which stream's checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct StreamKey<'a> {
    /// Tenant.
    pub tenant: &'a str,
    /// Source instance.
    pub source: &'a str,
    /// Stream.
    pub stream: &'a str,
}

/// Where a job's run stands when the job starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Continue from this cursor (`None`: from the start of the window).
    Resume {
        /// The committed cursor.
        cursor: Option<String>,
    },
    /// The run already reached the end of its window.
    Finished,
    /// A newer run took over this stream; this job has nothing left to do.
    Superseded,
    /// Another run holds the stream's lease (at most one active pull per stream): come back
    /// after `retry_after`.
    Busy {
        /// How long the other run's lease has left.
        retry_after: Duration,
    },
}

/// One page to commit.
#[derive(Debug, Clone, Copy)]
pub struct PageCommit<'a> {
    /// Whose checkpoint.
    pub key: StreamKey<'a>,
    /// Connector kind (part of the record key).
    pub connector: &'a str,
    /// The run the job belongs to.
    pub run_id: Uuid,
    /// The job committing (for the ledger's counters and `records.last_job_id`).
    pub job_id: Uuid,
    /// The cursor the page was pulled from: the commit applies only if it is still current.
    pub from_cursor: Option<&'a str>,
    /// The cursor after this page (`None`: the window is exhausted).
    pub next_cursor: Option<&'a str>,
    /// The page's records.
    pub records: &'a [Record],
    /// How long the run's lease on the stream lasts after this commit.
    pub lease_ttl: Duration,
}

/// What a page did to the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageCounts {
    /// New records.
    pub inserted: u64,
    /// Records whose content changed.
    pub updated: u64,
    /// Records already stored with the same content (not rewritten).
    pub unchanged: u64,
}

/// The result of a page commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Applied, with these counts.
    Applied(PageCounts),
    /// Someone else advanced the cursor since the page was pulled; nothing was written.
    /// Continue from `current`.
    CursorMoved {
        /// The cursor now committed.
        current: Option<String>,
        /// Whether the run is already finished.
        finished: bool,
    },
    /// A newer run took over the stream; nothing was written.
    Superseded,
}

impl Store {
    /// Opens (or resumes) the run `run_id` on a stream and takes (or renews) the stream's
    /// lease for `lease_ttl`. A root job (`may_start` true) starts a new run, taking the
    /// checkpoint over from an older run once that run's lease is released or expired; a
    /// continuation only resumes its own run.
    pub async fn open_run(
        &self,
        key: StreamKey<'_>,
        run_id: Uuid,
        may_start: bool,
        lease_ttl: Duration,
    ) -> Result<RunState, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO checkpoints AS c (tenant_id, source, stream, run_id)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, source, stream) DO UPDATE SET
                     run_id = EXCLUDED.run_id, cursor = NULL, finished = false, pages = 0,
                     records = 0, run_started_at = now(), updated_at = now(),
                     lease_run = NULL, lease_until = NULL
                 WHERE c.run_id <> EXCLUDED.run_id AND $5
                   AND (c.finished OR c.lease_run IS NULL OR c.lease_until < clock_timestamp())",
                &[&key.tenant, &key.source, &key.stream, &run_id, &may_start],
            )
            .await
            .map_err(StoreError::db("opening a run"))?;
        let row = client
            .query_one(
                "UPDATE checkpoints SET
                     lease_run = CASE WHEN run_id = $4 AND NOT finished THEN $4 ELSE lease_run END,
                     lease_until = CASE WHEN run_id = $4 AND NOT finished
                                        THEN clock_timestamp() + make_interval(secs => $5)
                                        ELSE lease_until END
                 WHERE tenant_id = $1 AND source = $2 AND stream = $3
                 RETURNING run_id, cursor, finished,
                     extract(epoch FROM lease_until - clock_timestamp())::float8",
                &[
                    &key.tenant,
                    &key.source,
                    &key.stream,
                    &run_id,
                    &lease_ttl.as_secs_f64(),
                ],
            )
            .await
            .map_err(StoreError::db("reading a checkpoint"))?;
        let current_run: Uuid = row.get(0);
        let lease_left: Option<f64> = row.get(3);
        Ok(if current_run != run_id {
            if may_start {
                RunState::Busy {
                    retry_after: Duration::from_secs_f64(lease_left.unwrap_or(1.0).max(0.0)),
                }
            } else {
                RunState::Superseded
            }
        } else if row.get::<_, bool>(2) {
            RunState::Finished
        } else {
            RunState::Resume { cursor: row.get(1) }
        })
    }

    /// Releases a run's lease on a stream (the run gave up), so the next run need not wait
    /// for it to expire.
    pub async fn release_lease(&self, key: StreamKey<'_>, run_id: Uuid) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE checkpoints SET lease_run = NULL, lease_until = NULL
                 WHERE tenant_id = $1 AND source = $2 AND stream = $3 AND lease_run = $4",
                &[&key.tenant, &key.source, &key.stream, &run_id],
            )
            .await
            .map_err(StoreError::db("releasing a stream lease"))?;
        Ok(())
    }

    /// Restarts a run's window from its start (the source refused the cursor). Idempotent:
    /// records already stored come back as unchanged.
    pub async fn restart_window(&self, key: StreamKey<'_>, run_id: Uuid) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE checkpoints SET cursor = NULL, finished = false, updated_at = now()
                 WHERE tenant_id = $1 AND source = $2 AND stream = $3 AND run_id = $4",
                &[&key.tenant, &key.source, &key.stream, &run_id],
            )
            .await
            .map_err(StoreError::db("restarting a window"))?;
        Ok(())
    }

    /// Upserts a page of records and advances the checkpoint, atomically, if the checkpoint is
    /// still at `from_cursor` in run `run_id`. Unchanged records (same content hash) are
    /// filtered out before the upsert, so they cost no row lock and no WAL.
    pub async fn commit_page(&self, page: PageCommit<'_>) -> Result<CommitOutcome, StoreError> {
        let rows = PageRows::of(page.records);
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a page transaction"))?;
        let key = page.key;
        let checkpoint = transaction
            .query_opt(
                "SELECT run_id, cursor, finished FROM checkpoints
                 WHERE tenant_id = $1 AND source = $2 AND stream = $3 FOR UPDATE",
                &[&key.tenant, &key.source, &key.stream],
            )
            .await
            .map_err(StoreError::db("locking a checkpoint"))?;
        let Some(checkpoint) = checkpoint else {
            return Ok(CommitOutcome::Superseded);
        };
        let current_run: Uuid = checkpoint.get(0);
        let current_cursor: Option<String> = checkpoint.get(1);
        let finished: bool = checkpoint.get(2);
        if current_run != page.run_id {
            return Ok(CommitOutcome::Superseded);
        }
        if finished || current_cursor.as_deref() != page.from_cursor {
            return Ok(CommitOutcome::CursorMoved {
                current: current_cursor,
                finished,
            });
        }

        let changed = transaction
            .query(
                "WITH incoming AS (
                     SELECT * FROM unnest($4::text[], $5::bytea[], $6::jsonb[], $7::timestamptz[],
                                          $9::timestamptz[])
                         AS i(external_id, content_hash, data, source_updated_at,
                              source_created_at)
                 ), changed AS (
                     -- Unchanged rows are skipped, unless marked deleted (the source has the
                     -- record again) or missing the creation time an older build did not store.
                     SELECT i.* FROM incoming i
                     LEFT JOIN records r
                       ON r.tenant_id = $1 AND r.connector = $2 AND r.stream = $3
                      AND r.external_id = i.external_id
                     WHERE r.external_id IS NULL OR r.content_hash <> i.content_hash
                        OR r.deleted_at IS NOT NULL
                        OR r.source_created_at IS DISTINCT FROM i.source_created_at
                 )
                 INSERT INTO records (tenant_id, connector, stream, external_id, content_hash,
                                      data, source_updated_at, source_created_at, last_job_id)
                 SELECT $1, $2, $3, external_id, content_hash, data, source_updated_at,
                        source_created_at, $8
                 FROM changed
                 ON CONFLICT (tenant_id, connector, stream, external_id) DO UPDATE SET
                     content_hash = EXCLUDED.content_hash,
                     data = EXCLUDED.data,
                     source_updated_at = EXCLUDED.source_updated_at,
                     source_created_at = EXCLUDED.source_created_at,
                     deleted_at = NULL,
                     last_job_id = EXCLUDED.last_job_id,
                     last_changed_at = now()
                 RETURNING (xmax = 0)",
                &[
                    &key.tenant,
                    &page.connector,
                    &key.stream,
                    &rows.external_id,
                    &rows.content_hash,
                    &rows.data,
                    &rows.source_updated_at,
                    &page.job_id,
                    &rows.source_created_at,
                ],
            )
            .await
            .map_err(StoreError::db("upserting records"))?;
        let inserted = changed.iter().filter(|row| row.get::<_, bool>(0)).count() as u64;
        let updated = changed.len() as u64 - inserted;
        let counts = PageCounts {
            inserted,
            updated,
            unchanged: rows.external_id.len() as u64 - inserted - updated,
        };

        transaction
            .execute(
                "UPDATE checkpoints SET cursor = $4, finished = $5, pages = pages + 1,
                        records = records + $6, updated_at = now(),
                        lease_run = CASE WHEN $5 THEN NULL ELSE run_id END,
                        lease_until = CASE WHEN $5 THEN NULL
                                           ELSE clock_timestamp() + make_interval(secs => $7) END
                 WHERE tenant_id = $1 AND source = $2 AND stream = $3",
                &[
                    &key.tenant,
                    &key.source,
                    &key.stream,
                    &page.next_cursor,
                    &page.next_cursor.is_none(),
                    &(rows.external_id.len() as i64),
                    &page.lease_ttl.as_secs_f64(),
                ],
            )
            .await
            .map_err(StoreError::db("advancing a checkpoint"))?;
        transaction
            .execute(
                "UPDATE jobs SET pages = pages + 1, records_inserted = records_inserted + $2,
                        records_updated = records_updated + $3,
                        records_unchanged = records_unchanged + $4, heartbeat_at = now()
                 WHERE id = $1",
                &[
                    &page.job_id,
                    &(counts.inserted as i64),
                    &(counts.updated as i64),
                    &(counts.unchanged as i64),
                ],
            )
            .await
            .map_err(StoreError::db("counting a page in the ledger"))?;
        transaction
            .commit()
            .await
            .map_err(StoreError::db("committing a page"))?;
        Ok(CommitOutcome::Applied(counts))
    }
}

/// A page as column arrays, deduplicated by external id (the last occurrence wins: sources list
/// a record again when it changed while we paginated).
struct PageRows {
    external_id: Vec<String>,
    content_hash: Vec<Vec<u8>>,
    data: Vec<serde_json::Value>,
    source_updated_at: Vec<Option<DateTime<Utc>>>,
    source_created_at: Vec<Option<DateTime<Utc>>>,
}

impl PageRows {
    fn of(records: &[Record]) -> Self {
        let mut last_index: HashMap<&str, usize> = HashMap::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            last_index.insert(record.external_id.as_str(), index);
        }
        let mut rows = PageRows {
            external_id: Vec::with_capacity(last_index.len()),
            content_hash: Vec::with_capacity(last_index.len()),
            data: Vec::with_capacity(last_index.len()),
            source_updated_at: Vec::with_capacity(last_index.len()),
            source_created_at: Vec::with_capacity(last_index.len()),
        };
        for (index, record) in records.iter().enumerate() {
            if last_index[record.external_id.as_str()] != index {
                continue;
            }
            rows.external_id.push(record.external_id.clone());
            rows.content_hash.push(content_hash(&record.data));
            rows.data.push(record.data.clone());
            rows.source_updated_at.push(record.updated_at);
            rows.source_created_at.push(record.created_at);
        }
        rows
    }
}

/// SHA-256 of the record's canonical JSON: object keys sorted, no whitespace. Sorted
/// explicitly rather than trusting the map type, so enabling serde_json's `preserve_order`
/// anywhere in the build cannot turn every unchanged record into an update.
fn content_hash(data: &serde_json::Value) -> Vec<u8> {
    let mut hasher = Sha256::new();
    write_canonical(data, &mut hasher);
    hasher.finalize().to_vec()
}

fn write_canonical(value: &serde_json::Value, hasher: &mut Sha256) {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            hasher.update(b"{");
            for (index, (key, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    hasher.update(b",");
                }
                let key = serde_json::to_string(key).expect("a string always serializes");
                hasher.update(key.as_bytes());
                hasher.update(b":");
                write_canonical(value, hasher);
            }
            hasher.update(b"}");
        }
        serde_json::Value::Array(items) => {
            hasher.update(b"[");
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    hasher.update(b",");
                }
                write_canonical(item, hasher);
            }
            hasher.update(b"]");
        }
        scalar => {
            let text = serde_json::to_string(scalar).expect("a JSON scalar always serializes");
            hasher.update(text.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, value: i64) -> Record {
        Record {
            external_id: id.into(),
            updated_at: None,
            created_at: None,
            data: serde_json::json!({"id": id, "value": value}),
        }
    }

    #[test]
    fn duplicate_ids_in_a_page_keep_the_last() {
        let rows = PageRows::of(&[record("a", 1), record("b", 2), record("a", 3)]);
        assert_eq!(rows.external_id, ["b", "a"]);
        assert_eq!(rows.data[1]["value"], 3);
    }

    #[test]
    fn hash_is_the_hash_of_compact_sorted_json() {
        let value: serde_json::Value =
            serde_json::from_str(r#"{"b": [1, {"d": null, "c": "é"}], "a": 1.5}"#).unwrap();
        let expected = Sha256::digest(r#"{"a":1.5,"b":[1,{"c":"é","d":null}]}"#.as_bytes());
        assert_eq!(content_hash(&value), expected.to_vec());
    }

    #[test]
    fn hash_ignores_key_order_but_not_values() {
        let one: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":2}"#).unwrap();
        let two: serde_json::Value = serde_json::from_str(r#"{"b":2,"a":1}"#).unwrap();
        let three: serde_json::Value = serde_json::from_str(r#"{"b":2,"a":2}"#).unwrap();
        assert_eq!(content_hash(&one), content_hash(&two));
        assert_ne!(content_hash(&one), content_hash(&three));
    }
}
