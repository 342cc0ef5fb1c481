//! A Jepsen-style checker for one test's run: every job the broker confirmed must end as exactly
//! one effect (its run finished, the ledger's counters matching the source's exact records) or
//! exactly one dead letter of the expected class. It counts what was lost, what was applied
//! twice, what nobody asked for, and how often the broker redelivered. It knows the ledger's
//! and the records' tables and the demo shop as the oracle; it does not know any fault.

use crate::helpers::{TestApp, SOURCE};
use std::collections::{BTreeMap, BTreeSet};
use tributary_broker::JobEnvelope;
use tributary_demo_shop::{Stream, UpdatedRange};
use uuid::Uuid;

/// What a confirmed root job must become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// Its run finishes and the stream holds exactly the source's records.
    Effect,
    /// Its run ends as one dead letter of this class.
    DeadLetter(&'static str),
}

/// A run's jobs, confirmed by the broker, with what each must become.
#[derive(Debug, Default, Clone)]
pub struct History {
    entries: Vec<(JobEnvelope, Expected)>,
}

impl History {
    /// Root jobs whose publish the broker confirmed, each expected to take effect.
    pub fn effects(jobs: &[JobEnvelope]) -> Self {
        let mut history = Self::default();
        for job in jobs {
            history.confirmed(job.clone(), Expected::Effect);
        }
        history
    }

    /// Adds a confirmed root job.
    pub fn confirmed(&mut self, job: JobEnvelope, expected: Expected) {
        self.entries.push((job, expected));
    }

    /// The confirmed root jobs.
    pub fn jobs(&self) -> impl Iterator<Item = &JobEnvelope> {
        self.entries.iter().map(|(job, _)| job)
    }

    /// The root ids (for `TestApp::wait_for_runs`).
    pub fn roots(&self) -> Vec<Uuid> {
        self.entries
            .iter()
            .map(|(job, _)| job.job_id.as_uuid())
            .collect()
    }
}

/// The checker's verdict.
#[derive(Debug, Default)]
pub struct Report {
    /// Root jobs the broker confirmed.
    pub confirmed: usize,
    /// Runs that took effect.
    pub effects: usize,
    /// Runs that ended as a dead letter.
    pub dead_letters: usize,
    /// Confirmed jobs with neither effect nor dead letter, plus source records missing.
    pub lost: usize,
    /// Effects applied more than once: a page counted twice, a run finished twice, two dead
    /// letters for one job, a run both finished and dead.
    pub duplicated: usize,
    /// Anything nobody enqueued or the source never had: stray records, records that differ
    /// from the source, jobs outside the history, dead letters of the wrong class.
    pub unexpected: usize,
    /// Deliveries beyond the first, over every job and dead letter.
    pub redeliveries: i64,
    /// One line per counted problem, for the failure message.
    pub problems: Vec<String>,
}

impl Report {
    /// Prints the counts and fails the test unless lost, duplicated and unexpected are zero.
    pub fn assert_clean(&self, test: &str) {
        println!(
            "checker[{test}]: confirmed={} effects={} dead_letters={} lost={} duplicated={} unexpected={} redeliveries={}",
            self.confirmed,
            self.effects,
            self.dead_letters,
            self.lost,
            self.duplicated,
            self.unexpected,
            self.redeliveries
        );
        assert!(
            self.lost == 0 && self.duplicated == 0 && self.unexpected == 0,
            "checker[{test}]: lost={} duplicated={} unexpected={}:\n  {}",
            self.lost,
            self.duplicated,
            self.unexpected,
            self.problems.join("\n  ")
        );
    }

    fn lost(&mut self, count: usize, problem: String) {
        self.lost += count;
        self.problems.push(format!("lost: {problem}"));
    }

    fn duplicated(&mut self, count: usize, problem: String) {
        self.duplicated += count;
        self.problems.push(format!("duplicated: {problem}"));
    }

    fn unexpected(&mut self, count: usize, problem: String) {
        self.unexpected += count;
        self.problems.push(format!("unexpected: {problem}"));
    }
}

/// One ledger row, as the checker reads it.
#[derive(Debug)]
struct JobRow {
    id: Uuid,
    root: Uuid,
    status: String,
    continuation: Option<Uuid>,
    deliveries: i64,
    pages: i64,
    inserted: i64,
    updated: i64,
    unchanged: i64,
}

/// Checks everything the test's database holds against `history` and the demo shop. Call it
/// once the runs have settled (`TestApp::wait_for_runs`).
pub async fn check(app: &TestApp, history: &History) -> Report {
    let client = app.store.pool().get().await.expect("a checker connection");
    let mut report = Report {
        confirmed: history.entries.len(),
        ..Report::default()
    };

    let jobs: Vec<JobRow> = client
        .query(
            "SELECT id, root_id, status, continuation_id, deliveries::bigint, pages::bigint,
                    records_inserted, records_updated, records_unchanged
             FROM jobs",
            &[],
        )
        .await
        .expect("read the ledger")
        .iter()
        .map(|row| JobRow {
            id: row.get(0),
            root: row.get(1),
            status: row.get(2),
            continuation: row.get(3),
            deliveries: row.get(4),
            pages: row.get(5),
            inserted: row.get(6),
            updated: row.get(7),
            unchanged: row.get(8),
        })
        .collect();
    // (job id → (class, deliveries)) for every dead letter with a job.
    let mut letters: BTreeMap<Uuid, Vec<(String, i64)>> = BTreeMap::new();
    let mut unparsed_letters = 0usize;
    for row in client
        .query(
            "SELECT job_id, class, deliveries::bigint FROM dead_letters",
            &[],
        )
        .await
        .expect("read the dead letters")
    {
        let deliveries: i64 = row.get(2);
        report.redeliveries += deliveries - 1;
        match row.get::<_, Option<Uuid>>(0) {
            Some(job) => letters
                .entry(job)
                .or_default()
                .push((row.get(1), deliveries)),
            None => unparsed_letters += 1,
        }
    }
    if unparsed_letters > 0 {
        report.unexpected(
            unparsed_letters,
            format!("{unparsed_letters} dead letter(s) of messages that were not jobs"),
        );
    }
    report.redeliveries += jobs
        .iter()
        .map(|job| (job.deliveries - 1).max(0))
        .sum::<i64>();

    let roots: BTreeSet<Uuid> = history.roots().into_iter().collect();
    let strays = jobs.iter().filter(|job| !roots.contains(&job.root)).count();
    if strays > 0 {
        report.unexpected(
            strays,
            format!("{strays} ledger job(s) outside the history"),
        );
    }
    let letter_jobs: BTreeSet<Uuid> = letters.keys().copied().collect();
    let known_jobs: BTreeSet<Uuid> = jobs.iter().map(|job| job.id).collect();
    for orphan in letter_jobs.difference(&known_jobs) {
        report.unexpected(
            1,
            format!("dead letter for job {orphan}, not in the ledger"),
        );
    }

    let mut expected_streams: BTreeSet<(String, String)> = BTreeSet::new();
    for (root_job, expected) in &history.entries {
        let root = root_job.job_id.as_uuid();
        let tenant = root_job.tenant.as_str();
        let stream = root_job.stream.as_str();
        let run: Vec<&JobRow> = jobs.iter().filter(|job| job.root == root).collect();
        let finals = run
            .iter()
            .filter(|job| job.status == "succeeded" && job.continuation.is_none())
            .count();
        let run_letters: Vec<&(String, i64)> = run
            .iter()
            .filter_map(|job| letters.get(&job.id))
            .flatten()
            .collect();
        let label = format!("run {root} ({tenant}/{stream})");
        if run.is_empty() {
            report.lost(1, format!("{label}: no ledger row"));
            continue;
        }
        if finals > 1 {
            report.duplicated(finals - 1, format!("{label}: finished {finals} times"));
        }
        if run_letters.len() > 1 {
            report.duplicated(
                run_letters.len() - 1,
                format!("{label}: {} dead letters", run_letters.len()),
            );
        }
        match (finals > 0, !run_letters.is_empty()) {
            (false, false) => {
                let statuses: Vec<&str> = run.iter().map(|job| job.status.as_str()).collect();
                report.lost(
                    1,
                    format!("{label}: neither finished nor dead: {statuses:?}"),
                );
                continue;
            }
            (true, true) => {
                report.duplicated(1, format!("{label}: both finished and dead-lettered"));
            }
            _ => {}
        }
        match expected {
            Expected::DeadLetter(class) => {
                if finals > 0 {
                    report.unexpected(
                        1,
                        format!("{label}: expected a {class} dead letter, took effect"),
                    );
                } else if run_letters.iter().any(|(c, _)| c != class) {
                    report.unexpected(
                        1,
                        format!("{label}: expected class {class}, got {run_letters:?}"),
                    );
                } else {
                    report.dead_letters += 1;
                }
            }
            Expected::Effect => {
                if finals == 0 {
                    report.unexpected(
                        1,
                        format!("{label}: expected an effect, dead-lettered: {run_letters:?}"),
                    );
                    continue;
                }
                report.effects += 1;
                expected_streams.insert((tenant.to_owned(), stream.to_owned()));
                check_effect(app, &client, &mut report, &label, tenant, stream, &run).await;
            }
        }
    }

    // Records of a stream nobody expected to land.
    for row in client
        .query(
            "SELECT tenant_id, stream, count(*) FROM records GROUP BY 1, 2",
            &[],
        )
        .await
        .expect("count records")
    {
        let key: (String, String) = (row.get(0), row.get(1));
        if !expected_streams.contains(&key) {
            let count: i64 = row.get(2);
            report.unexpected(
                count as usize,
                format!(
                    "{count} record(s) in {}/{}, which no run was to fill",
                    key.0, key.1
                ),
            );
        }
    }
    report
}

/// The run's stream holds exactly the source's records, and the ledger and the checkpoint
/// counted each page once.
async fn check_effect(
    app: &TestApp,
    client: &tokio_postgres::Client,
    report: &mut Report,
    label: &str,
    tenant: &str,
    stream: &str,
    run: &[&JobRow],
) {
    let shop_stream: Stream = stream.parse().expect("a demo shop stream");
    let source_ids: BTreeSet<String> = app
        .shop
        .shop()
        .external_ids(tenant, shop_stream, UpdatedRange::all())
        .into_iter()
        .collect();
    let stored: BTreeMap<String, serde_json::Value> = client
        .query(
            "SELECT external_id, data FROM records
             WHERE tenant_id = $1 AND connector = 'demo' AND stream = $2",
            &[&tenant, &stream],
        )
        .await
        .expect("read records")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let missing = source_ids
        .iter()
        .filter(|id| !stored.contains_key(*id))
        .count();
    if missing > 0 {
        report.lost(
            missing,
            format!("{label}: {missing} source record(s) not stored"),
        );
    }
    let mut strays = 0;
    let mut different = 0;
    for (id, data) in &stored {
        if !source_ids.contains(id) {
            strays += 1;
        } else if app.shop.shop().record(tenant, shop_stream, id).as_ref() != Some(data) {
            different += 1;
        }
    }
    if strays > 0 {
        report.unexpected(
            strays,
            format!("{label}: {strays} record(s) the source never had"),
        );
    }
    if different > 0 {
        report.unexpected(
            different,
            format!("{label}: {different} record(s) differ from the source"),
        );
    }

    // Each page is counted in the same transaction that applies it: if the ledger counted more
    // records than the source holds, or any as unchanged or updated on a fresh ingest, a page
    // was applied twice.
    let total = source_ids.len() as i64;
    let counted: i64 = run
        .iter()
        .map(|job| job.inserted + job.updated + job.unchanged)
        .sum();
    let inserted: i64 = run.iter().map(|job| job.inserted).sum();
    let pages: i64 = run.iter().map(|job| job.pages).sum();
    if counted > total || inserted != stored.len() as i64 {
        report.duplicated(
            (counted - total).max(1) as usize,
            format!(
                "{label}: the ledger counted {counted} records ({inserted} inserted) for {total} at the source, {} stored",
                stored.len()
            ),
        );
    }
    let checkpoint = client
        .query_opt(
            "SELECT pages, records, finished FROM checkpoints
             WHERE tenant_id = $1 AND source = $2 AND stream = $3",
            &[&tenant, &SOURCE, &stream],
        )
        .await
        .expect("read the checkpoint");
    match checkpoint {
        None => report.lost(1, format!("{label}: no checkpoint")),
        Some(row) => {
            let (checkpoint_pages, checkpoint_records, finished): (i64, i64, bool) =
                (row.get(0), row.get(1), row.get(2));
            if !finished {
                report.lost(1, format!("{label}: checkpoint not finished"));
            }
            if checkpoint_records > total || checkpoint_pages != pages {
                report.duplicated(
                    1,
                    format!(
                        "{label}: checkpoint has {checkpoint_pages} pages / {checkpoint_records} records, ledger {pages} pages, source {total} records"
                    ),
                );
            }
        }
    }
}
