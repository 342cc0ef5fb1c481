//! `ops/dev bench`, part two: how the fleet scales, with real `tributary-worker run` processes
//! (the release binary, spawned and killed by this bench), each figure next to a baseline
//! measured in the same run on the same broker and database:
//!
//! 1. **processes**: the same burst of pull jobs with 1, 2 and 4 worker processes — jobs/s,
//!    records/s and enqueue → done p50/p99 from the ledger (`enqueued_at` to the run's last
//!    `finished_at`), then a paced stream of jobs for latency without a backlog. Baselines: bare
//!    lapin publish → consume (rate, and round-trip p50/p99 at the same pace) and a bare COPY →
//!    staging → `INSERT … ON CONFLICT` of the same rows.
//! 2. **memory**: peak RSS (`VmHWM`) of one worker process at concurrency 1, 32 and 256 running
//!    the same burst, next to an idle worker's.
//! 3. **soak**: 1,000,000 records (`BENCH_SOAK_RECORDS`) with a worker process SIGKILLed and
//!    restarted every few seconds and the shop answering some 429s and 503s; ends in an exact
//!    count (every source record stored once, no page applied twice, every run finished, no
//!    dead letter). A wrong count fails the bench (non-zero exit).
//! 4. **tenants**: the same records over 1, 10, 100 and 1,000 tenants: wall time, worker CPU
//!    and database bytes per record, next to the 1-tenant figures.
//!
//! Each phase gets a fresh database and its own queue prefix, both deleted afterwards: messages
//! left in a phase's queues after its runs settled (duplicates of finished jobs, which
//! at-least-once delivery allows) must not reach the next phase's workers and database. Prints a table and one JSON line per figure.
#![allow(clippy::print_stderr)]

mod common;

use anyhow::Context;
use common::{count_from_env, env, fresh_database, job, raw_copy_upsert, RawQueue};
use futures_util::StreamExt;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tributary_broker::lapin::options::{
    BasicAckOptions, BasicPublishOptions, ExchangeDeleteOptions, QueueDeleteOptions,
};
use tributary_broker::lapin::BasicProperties;
use tributary_broker::{JobEnvelope, JobKind};
use tributary_demo_shop::{Faults, ShopConfig, ShopHandle, Stream};
use tributary_store::Store;
use tributary_worker::config::{Secret, Settings};
use tributary_worker::enqueue::Enqueuer;

/// Records per demo page: the demo connector's default, what production runs with.
const PAGE_SIZE: usize = 250;
/// Postgres connections per worker process (the default): 4 processes take 64 of the dev
/// server's 300, leaving room for whoever else uses the stack.
const WORKER_DB_CONNECTIONS: usize = 16;
/// A phase that has not settled after this long is reported as stuck, not waited on forever.
const PHASE_TIMEOUT: Duration = Duration::from_secs(900);
/// Ledger statuses that end a job.
const SETTLED: &str = "('succeeded', 'superseded', 'dead')";

/// Sizes of one run, from `BENCH_*` variables (defaults: what the docs report).
#[derive(Debug, Clone)]
struct Knobs {
    phases: BTreeSet<String>,
    raw_messages: usize,
    jobs: usize,
    records_per_job: usize,
    latency_seconds: usize,
    latency_rate: Option<usize>,
    soak_records: usize,
    soak_tenants: usize,
    soak_workers: usize,
    soak_kill_every: Duration,
    tenant_records: usize,
    tenant_counts: Vec<usize>,
}

impl Knobs {
    fn from_env() -> anyhow::Result<Self> {
        let phases = std::env::var("BENCH_SCALE_PHASES")
            .unwrap_or_else(|_| "processes,memory,soak,tenants".into())
            .split(',')
            .map(|phase| phase.trim().to_owned())
            .filter(|phase| !phase.is_empty())
            .collect::<BTreeSet<_>>();
        for phase in &phases {
            anyhow::ensure!(
                ["processes", "memory", "soak", "tenants"].contains(&phase.as_str()),
                "BENCH_SCALE_PHASES: unknown phase {phase:?} (known: processes, memory, soak, tenants)"
            );
        }
        let tenant_counts = std::env::var("BENCH_TENANT_COUNTS")
            .unwrap_or_else(|_| "1,10,100,1000".into())
            .split(',')
            .map(|count| {
                count
                    .trim()
                    .parse::<usize>()
                    .with_context(|| format!("BENCH_TENANT_COUNTS: {count:?} is not a number"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let knobs = Self {
            phases,
            raw_messages: count_from_env("BENCH_RAW_MESSAGES", 50_000),
            jobs: count_from_env("BENCH_SCALE_JOBS", 1_000),
            records_per_job: count_from_env("BENCH_SCALE_RECORDS_PER_JOB", 200),
            latency_seconds: count_from_env("BENCH_LATENCY_SECONDS", 10),
            latency_rate: std::env::var("BENCH_LATENCY_RATE")
                .ok()
                .and_then(|v| v.parse().ok()),
            soak_records: count_from_env("BENCH_SOAK_RECORDS", 1_000_000),
            soak_tenants: count_from_env("BENCH_SOAK_TENANTS", 100),
            soak_workers: count_from_env("BENCH_SOAK_WORKERS", 2),
            soak_kill_every: Duration::from_secs(
                count_from_env("BENCH_SOAK_KILL_EVERY_SECONDS", 5) as u64,
            ),
            tenant_records: count_from_env("BENCH_TENANT_RECORDS", 200_000),
            tenant_counts,
        };
        anyhow::ensure!(
            knobs.jobs > 0 && knobs.records_per_job > 0,
            "BENCH_SCALE_JOBS and BENCH_SCALE_RECORDS_PER_JOB must be positive"
        );
        anyhow::ensure!(
            knobs.soak_tenants > 0 && knobs.soak_records.is_multiple_of(knobs.soak_tenants),
            "BENCH_SOAK_RECORDS ({}) must be a multiple of BENCH_SOAK_TENANTS ({})",
            knobs.soak_records,
            knobs.soak_tenants
        );
        for count in &knobs.tenant_counts {
            anyhow::ensure!(
                *count > 0 && knobs.tenant_records.is_multiple_of(*count),
                "BENCH_TENANT_RECORDS ({}) must be a multiple of each tenant count ({count})",
                knobs.tenant_records
            );
        }
        Ok(knobs)
    }

    fn runs(&self, phase: &str) -> bool {
        self.phases.contains(phase)
    }
}

/// One reported figure, with the baseline it is read against (if any).
struct Figure {
    name: String,
    value: f64,
    unit: &'static str,
    baseline: Option<(String, f64)>,
}

impl Figure {
    fn plain(name: impl Into<String>, value: f64, unit: &'static str) -> Self {
        Self {
            name: name.into(),
            value,
            unit,
            baseline: None,
        }
    }

    fn against(
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
        baseline_name: impl Into<String>,
        baseline: f64,
    ) -> Self {
        Self {
            name: name.into(),
            value,
            unit,
            baseline: Some((baseline_name.into(), baseline)),
        }
    }
}

/// What every phase needs: the stack's URLs, the worker binary, the run's queue prefix.
struct Bench {
    amqp_url: String,
    base_db_url: String,
    worker_bin: PathBuf,
    prefix: String,
    scratch: PathBuf,
    clock_ticks: f64,
    http: reqwest::Client,
    /// Phases started so far; phase n uses the queue prefix `{prefix}p{n}`.
    phases_started: std::sync::atomic::AtomicUsize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let knobs = Knobs::from_env()?;
    let amqp_url = env("TRIBUTARY_AMQP__URL");
    let base_db_url = env("TRIBUTARY_DATABASE__URL");
    let prefix = format!("scale{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let scratch = std::env::temp_dir().join(format!("tributary-bench-{prefix}"));
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))?;
    let worker_bin = private_worker_binary(&scratch)?;
    let bench = Bench {
        amqp_url,
        base_db_url,
        worker_bin,
        prefix,
        scratch,
        clock_ticks: clock_ticks_per_second(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?,
        phases_started: std::sync::atomic::AtomicUsize::new(0),
    };
    eprintln!(
        "scale: prefix {}, worker logs in {}, phases {:?}",
        bench.prefix,
        bench.scratch.display(),
        knobs.phases
    );

    let started = Instant::now();
    let mut figures = Vec::new();
    let outcome = run_phases(&bench, &knobs, &mut figures).await;
    // Phases delete their own queues; again here for a phase that failed half-way.
    let phases = bench
        .phases_started
        .load(std::sync::atomic::Ordering::SeqCst);
    for phase in 0..phases {
        let prefix = format!("{}p{phase}", bench.prefix);
        if let Err(error) = delete_topology(&bench.amqp_url, &prefix).await {
            eprintln!("scale: could not delete the queues of prefix {prefix}: {error:#}");
        }
    }
    print_figures(&figures);
    eprintln!("scale: took {:.0} s", started.elapsed().as_secs_f64());
    match outcome {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&bench.scratch);
            Ok(())
        }
        Err(error) => {
            eprintln!(
                "scale: FAILED: {error:#}\nscale: worker logs kept in {}",
                bench.scratch.display()
            );
            Err(error)
        }
    }
}

async fn run_phases(bench: &Bench, knobs: &Knobs, figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    eprintln!(
        "scale: baseline: bare lapin publish → consume, {} messages…",
        knobs.raw_messages
    );
    let raw_burst = raw_lapin(bench, knobs.raw_messages, None).await?;
    figures.push(Figure::plain(
        "baseline_lapin_publish_consume",
        raw_burst.rate,
        "msg/s",
    ));
    let mut two_process_rate = None;
    let mut copy_rate = None;
    if knobs.runs("processes") {
        let found = processes_phase(bench, knobs, raw_burst.rate, figures).await?;
        two_process_rate = found.two_process_records_per_second;
        copy_rate = Some(found.copy_rate);
    }
    if knobs.runs("memory") {
        memory_phase(bench, knobs, figures).await?;
    }
    if knobs.runs("soak") {
        soak_phase(bench, knobs, two_process_rate, copy_rate, figures).await?;
    }
    if knobs.runs("tenants") {
        tenants_phase(bench, knobs, figures).await?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Phase 1: 1, 2 and 4 worker processes
// ------------------------------------------------------------------------------------------

struct ProcessesFound {
    two_process_records_per_second: Option<f64>,
    copy_rate: f64,
}

async fn processes_phase(
    bench: &Bench,
    knobs: &Knobs,
    raw_rate: f64,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<ProcessesFound> {
    let shop =
        tributary_demo_shop::spawn(ShopConfig::with_volume(knobs.records_per_job as u64, 1, 1))
            .await?;
    let mut pace = knobs.latency_rate.map(|rate| rate as f64);
    let mut raw_paced: Option<RawLapin> = None;
    let mut copy_rate = None;
    let mut two_process = None;
    let mut first_jobs_per_second: Option<f64> = None;
    for processes in [1usize, 2, 4] {
        let phase = Phase::start(bench, &format!("{processes} processes")).await?;
        let mut fleet = Vec::new();
        for index in 0..processes {
            fleet.push(
                phase
                    .spawn_worker(&shop, &format!("p{processes}w{index}"), 32, 40)
                    .await?,
            );
        }
        for worker in &mut fleet {
            worker.wait_ready(bench).await?;
        }
        eprintln!(
            "scale: {processes} process(es): burst of {} pull jobs × {} records…",
            knobs.jobs, knobs.records_per_job
        );
        let burst: Vec<JobEnvelope> = (0..knobs.jobs)
            .map(|i| job(JobKind::Pull, &format!("b{i}"), "orders"))
            .collect();
        let started = Instant::now();
        phase.enqueuer.enqueue(&burst).await?;
        phase.wait_settled(&mut fleet).await?;
        let elapsed = started.elapsed().as_secs_f64();
        let burst_latency = phase.latency(&roots(&burst)).await?;
        let jobs_per_second = knobs.jobs as f64 / elapsed;
        let records_per_second = (knobs.jobs * knobs.records_per_job) as f64 / elapsed;
        phase
            .verify_exact((knobs.jobs * knobs.records_per_job) as i64)
            .await?;

        if copy_rate.is_none() {
            eprintln!(
                "scale: baseline: bare COPY → staging → INSERT … ON CONFLICT of the same rows…"
            );
            copy_rate = Some(raw_copy_upsert(&phase.store).await?);
        }
        let copy = copy_rate.unwrap_or(f64::NAN);
        if processes == 2 {
            two_process = Some(records_per_second);
        }
        let pace_now = *pace.get_or_insert((jobs_per_second / 2.0).max(1.0).round());
        if raw_paced.is_none() {
            let messages = (pace_now * knobs.latency_seconds as f64).max(1.0) as usize;
            eprintln!("scale: baseline: bare lapin round trip at {pace_now} msg/s…");
            raw_paced = Some(raw_lapin(bench, messages, Some(pace_now)).await?);
        }
        let raw = raw_paced.as_ref().expect("measured just above");

        let paced_jobs = (pace_now * knobs.latency_seconds as f64).max(1.0) as usize;
        eprintln!(
            "scale: {processes} process(es): {paced_jobs} jobs paced at {pace_now} jobs/s for latency…"
        );
        let paced: Vec<JobEnvelope> = (0..paced_jobs)
            .map(|i| job(JobKind::Pull, &format!("l{i}"), "orders"))
            .collect();
        let enqueue_started = Instant::now();
        let mut sent = 0usize;
        while sent < paced.len() {
            let due = ((enqueue_started.elapsed().as_secs_f64() * pace_now) as usize + 1)
                .min(paced.len());
            if due > sent {
                phase.enqueuer.enqueue(&paced[sent..due]).await?;
                sent = due;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        phase.wait_settled(&mut fleet).await?;
        let paced_latency = phase.latency(&roots(&paced)).await?;
        phase
            .verify_exact(((knobs.jobs + paced_jobs) * knobs.records_per_job) as i64)
            .await?;

        let label = format!("processes_{processes}");
        figures.push(Figure::against(
            format!("{label}_jobs"),
            jobs_per_second,
            "jobs/s",
            "baseline_lapin_publish_consume",
            raw_rate,
        ));
        let one_process = *first_jobs_per_second.get_or_insert(jobs_per_second);
        figures.push(Figure::against(
            format!("{label}_jobs_scaling"),
            jobs_per_second,
            "jobs/s",
            "processes_1_jobs",
            one_process,
        ));
        figures.push(Figure::against(
            format!("{label}_records"),
            records_per_second,
            "records/s",
            "baseline_copy_upsert",
            copy,
        ));
        figures.push(Figure::plain(
            format!("{label}_burst_latency_p50"),
            burst_latency.p50_ms,
            "ms",
        ));
        figures.push(Figure::plain(
            format!("{label}_burst_latency_p99"),
            burst_latency.p99_ms,
            "ms",
        ));
        figures.push(Figure::against(
            format!("{label}_paced_latency_p50"),
            paced_latency.p50_ms,
            "ms",
            "baseline_lapin_round_trip_p50",
            raw.p50_ms,
        ));
        figures.push(Figure::against(
            format!("{label}_paced_latency_p99"),
            paced_latency.p99_ms,
            "ms",
            "baseline_lapin_round_trip_p99",
            raw.p99_ms,
        ));
        for worker in fleet {
            worker.stop().await;
        }
        phase.finish(bench).await;
    }
    if let (Some(raw), Some(pace)) = (raw_paced, pace) {
        figures.push(Figure::plain("latency_pace", pace, "jobs/s"));
        figures.push(Figure::plain(
            "baseline_lapin_round_trip_p50",
            raw.p50_ms,
            "ms",
        ));
        figures.push(Figure::plain(
            "baseline_lapin_round_trip_p99",
            raw.p99_ms,
            "ms",
        ));
    }
    let copy_rate = copy_rate.unwrap_or(f64::NAN);
    figures.push(Figure::plain("baseline_copy_upsert", copy_rate, "rows/s"));
    Ok(ProcessesFound {
        two_process_records_per_second: two_process,
        copy_rate,
    })
}

// ------------------------------------------------------------------------------------------
// Phase 2: memory per worker process
// ------------------------------------------------------------------------------------------

async fn memory_phase(
    bench: &Bench,
    knobs: &Knobs,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    let shop =
        tributary_demo_shop::spawn(ShopConfig::with_volume(knobs.records_per_job as u64, 1, 1))
            .await?;
    let phase = Phase::start(bench, "memory, idle").await?;
    let mut idle = phase.spawn_worker(&shop, "idle", 32, 40).await?;
    idle.wait_ready(bench).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_peak = idle.memory()?.peak_kib;
    eprintln!("scale: idle worker: peak RSS {idle_peak} KiB");
    idle.stop().await;
    phase.finish(bench).await;
    figures.push(Figure::plain(
        "memory_idle_peak_rss",
        idle_peak as f64 / 1024.0,
        "MiB",
    ));

    for concurrency in [1usize, 32, 256] {
        let phase = Phase::start(bench, &format!("memory, concurrency {concurrency}")).await?;
        let mut worker = phase
            .spawn_worker(&shop, &format!("c{concurrency}"), concurrency, 40)
            .await?;
        worker.wait_ready(bench).await?;
        eprintln!(
            "scale: one process at concurrency {concurrency}: {} jobs × {} records…",
            knobs.jobs, knobs.records_per_job
        );
        let jobs: Vec<JobEnvelope> = (0..knobs.jobs)
            .map(|i| job(JobKind::Pull, &format!("m{i}"), "orders"))
            .collect();
        let started = Instant::now();
        phase.enqueuer.enqueue(&jobs).await?;
        phase
            .wait_settled(std::slice::from_mut(&mut worker))
            .await?;
        let elapsed = started.elapsed().as_secs_f64();
        let memory = worker.memory()?;
        phase
            .verify_exact((knobs.jobs * knobs.records_per_job) as i64)
            .await?;
        worker.stop().await;
        phase.finish(bench).await;
        figures.push(Figure::against(
            format!("memory_concurrency_{concurrency}_peak_rss"),
            memory.peak_kib as f64 / 1024.0,
            "MiB",
            "memory_idle_peak_rss",
            idle_peak as f64 / 1024.0,
        ));
        figures.push(Figure::plain(
            format!("memory_concurrency_{concurrency}_records"),
            (knobs.jobs * knobs.records_per_job) as f64 / elapsed,
            "records/s",
        ));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Phase 3: the soak
// ------------------------------------------------------------------------------------------

async fn soak_phase(
    bench: &Bench,
    knobs: &Knobs,
    two_process_rate: Option<f64>,
    copy_rate: Option<f64>,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    let per_tenant = (knobs.soak_records / knobs.soak_tenants) as u64;
    let mut config = ShopConfig::with_volume(per_tenant, 1, 1);
    // Some weather: 429s snooze without spending an attempt, 503s retry through the tiers.
    config.faults = Faults {
        p429: 0.005,
        p5xx: 0.005,
        retry_after_secs: 1,
        ..Faults::default()
    };
    let shop = tributary_demo_shop::spawn(config).await?;
    let phase = Phase::start(bench, "soak").await?;
    let mut fleet = Vec::new();
    for index in 0..knobs.soak_workers.max(1) {
        // 8 pages per job, so runs hand over to continuations and kills land between them too.
        fleet.push(
            phase
                .spawn_worker(&shop, &format!("soak{index}"), 32, 8)
                .await?,
        );
    }
    for worker in &mut fleet {
        worker.wait_ready(bench).await?;
    }
    let jobs: Vec<JobEnvelope> = (0..knobs.soak_tenants)
        .map(|i| job(JobKind::Pull, &format!("s{i}"), "orders"))
        .collect();
    let expected: u64 = jobs
        .iter()
        .map(|job| shop.total(job.tenant.as_str(), Stream::Orders))
        .sum();
    eprintln!(
        "scale: soak: {expected} records over {} tenants, {} processes, one SIGKILLed every {} s…",
        knobs.soak_tenants,
        fleet.len(),
        knobs.soak_kill_every.as_secs()
    );
    let started = Instant::now();
    phase.enqueuer.enqueue(&jobs).await?;
    let mut kills = 0usize;
    let mut next_kill = Instant::now() + knobs.soak_kill_every;
    loop {
        if phase.unsettled().await? == 0 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < PHASE_TIMEOUT,
            "soak: not settled after {} s ({} jobs unsettled)",
            PHASE_TIMEOUT.as_secs(),
            phase.unsettled().await?
        );
        if knobs.soak_kill_every > Duration::ZERO && Instant::now() >= next_kill {
            let victim = &mut fleet[kills % knobs.soak_workers.max(1)];
            victim.kill_and_restart(&phase).await?;
            kills += 1;
            next_kill = Instant::now() + knobs.soak_kill_every;
        }
        for worker in &mut fleet {
            worker.ensure_alive()?;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = shop.stats();
    let verdict = phase.soak_verdict(&jobs, expected as i64).await?;
    eprintln!(
        "scale: soak: {} in {elapsed:.1} s, {kills} SIGKILLs, {} 429s and {} 503s injected, {} redeliveries",
        verdict.summary(),
        stats.faults.rate_limited,
        stats.faults.server_error,
        verdict.redeliveries
    );
    for worker in fleet {
        worker.stop().await;
    }
    anyhow::ensure!(
        verdict.problems.is_empty(),
        "SOAK COUNT WRONG (database {} kept for inspection):\n  {}",
        phase.database_name(),
        verdict.problems.join("\n  ")
    );
    phase.finish(bench).await;
    let rate = expected as f64 / elapsed;
    match two_process_rate {
        Some(baseline) => figures.push(Figure::against(
            "soak_records",
            rate,
            "records/s",
            "processes_2_records (no faults)",
            baseline,
        )),
        None => figures.push(Figure::plain("soak_records", rate, "records/s")),
    }
    if let Some(copy) = copy_rate {
        figures.push(Figure::against(
            "soak_records_vs_copy",
            rate,
            "records/s",
            "baseline_copy_upsert",
            copy,
        ));
    }
    figures.push(Figure::plain(
        "soak_records_stored_exactly",
        expected as f64,
        "records",
    ));
    figures.push(Figure::plain("soak_sigkills", kills as f64, "kills"));
    figures.push(Figure::plain(
        "soak_shop_faults",
        (stats.faults.rate_limited + stats.faults.server_error) as f64,
        "responses",
    ));
    figures.push(Figure::plain(
        "soak_redeliveries",
        verdict.redeliveries as f64,
        "deliveries",
    ));
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Phase 4: the same records over more tenants
// ------------------------------------------------------------------------------------------

async fn tenants_phase(
    bench: &Bench,
    knobs: &Knobs,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    let mut baseline: Option<TenantCost> = None;
    for &tenants in &knobs.tenant_counts {
        let per_tenant = (knobs.tenant_records / tenants) as u64;
        let shop = tributary_demo_shop::spawn(ShopConfig::with_volume(per_tenant, 1, 1)).await?;
        let phase = Phase::start(bench, &format!("{tenants} tenants")).await?;
        let mut worker = phase
            .spawn_worker(&shop, &format!("t{tenants}"), 32, 40)
            .await?;
        worker.wait_ready(bench).await?;
        let cpu_before = worker.cpu_seconds(bench)?;
        let database_before = phase.database_bytes().await?;
        eprintln!(
            "scale: {} records over {tenants} tenant(s) of {per_tenant}…",
            knobs.tenant_records
        );
        let jobs: Vec<JobEnvelope> = (0..tenants)
            .map(|i| job(JobKind::Pull, &format!("n{i}"), "orders"))
            .collect();
        let started = Instant::now();
        phase.enqueuer.enqueue(&jobs).await?;
        phase
            .wait_settled(std::slice::from_mut(&mut worker))
            .await?;
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = worker.cpu_seconds(bench)? - cpu_before;
        phase.verify_exact(knobs.tenant_records as i64).await?;
        let database = phase.database_bytes().await? - database_before;
        let ledger_jobs = phase.ledger_jobs().await?;
        worker.stop().await;
        phase.finish(bench).await;
        let records = knobs.tenant_records as f64;
        let cost = TenantCost {
            wall_us: elapsed * 1e6 / records,
            cpu_us: cpu * 1e6 / records,
            bytes: database as f64 / records,
        };
        let reference = baseline.get_or_insert(cost);
        let label = format!("tenants_{tenants}");
        figures.push(Figure::against(
            format!("{label}_wall_per_record"),
            cost.wall_us,
            "µs",
            "tenants_1_wall_per_record",
            reference.wall_us,
        ));
        figures.push(Figure::against(
            format!("{label}_worker_cpu_per_record"),
            cost.cpu_us,
            "µs",
            "tenants_1_worker_cpu_per_record",
            reference.cpu_us,
        ));
        figures.push(Figure::against(
            format!("{label}_database_bytes_per_record"),
            cost.bytes,
            "bytes",
            "tenants_1_database_bytes_per_record",
            reference.bytes,
        ));
        figures.push(Figure::plain(
            format!("{label}_records"),
            records / elapsed,
            "records/s",
        ));
        figures.push(Figure::plain(
            format!("{label}_ledger_jobs"),
            ledger_jobs as f64,
            "jobs",
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct TenantCost {
    wall_us: f64,
    cpu_us: f64,
    bytes: f64,
}

// ------------------------------------------------------------------------------------------
// A phase: a fresh database, an enqueuer, worker processes
// ------------------------------------------------------------------------------------------

struct Phase {
    name: String,
    database_url: String,
    store: Store,
    enqueuer: Enqueuer,
    amqp_url: String,
    prefix: String,
    worker_bin: PathBuf,
    scratch: PathBuf,
}

struct Latency {
    p50_ms: f64,
    p99_ms: f64,
}

impl Phase {
    async fn start(bench: &Bench, name: &str) -> anyhow::Result<Self> {
        let index = bench
            .phases_started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let prefix = format!("{}p{index}", bench.prefix);
        let database_url = fresh_database(&bench.base_db_url).await?;
        eprintln!(
            "scale: phase {name}: database {}, queue prefix {prefix}",
            database_url.rsplit('/').next().unwrap_or("")
        );
        let store = Store::connect(&database_url, 4)?;
        store
            .migrate()
            .await
            .context("cannot migrate the phase's database")?;
        let enqueuer = Enqueuer::connect(&bench.settings(&database_url, &prefix))
            .await
            .context("cannot connect the enqueuer")?;
        Ok(Self {
            name: name.to_owned(),
            database_url,
            store,
            enqueuer,
            amqp_url: bench.amqp_url.clone(),
            prefix,
            worker_bin: bench.worker_bin.clone(),
            scratch: bench.scratch.clone(),
        })
    }

    fn database_name(&self) -> &str {
        self.database_url.rsplit('/').next().unwrap_or("")
    }

    /// Spawns `tributary-worker run` with this phase's settings, all through `TRIBUTARY_*`.
    async fn spawn_worker(
        &self,
        shop: &ShopHandle,
        name: &str,
        concurrency: usize,
        job_max_pages: u32,
    ) -> anyhow::Result<WorkerProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut process = WorkerProcess {
            name: name.to_owned(),
            port,
            concurrency,
            job_max_pages,
            shop_url: shop.url(),
            log: self.scratch.join(format!("{name}.log")),
            child: None,
        };
        process.spawn(self)?;
        Ok(process)
    }

    /// Ledger jobs not yet settled.
    async fn unsettled(&self) -> anyhow::Result<i64> {
        let client = self.store.pool().get().await?;
        Ok(client
            .query_one(
                &format!("SELECT count(*) FROM jobs WHERE status NOT IN {SETTLED}"),
                &[],
            )
            .await?
            .get(0))
    }

    /// Waits until every job in the ledger is settled, failing if a worker died meanwhile.
    async fn wait_settled(&self, fleet: &mut [WorkerProcess]) -> anyhow::Result<()> {
        let started = Instant::now();
        while self.unsettled().await? > 0 {
            for worker in fleet.iter_mut() {
                worker.ensure_alive()?;
            }
            anyhow::ensure!(
                started.elapsed() < PHASE_TIMEOUT,
                "{}: not settled after {} s",
                self.name,
                PHASE_TIMEOUT.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Enqueue → done of each run: from the root's `enqueued_at` to its last `finished_at`.
    async fn latency(&self, roots: &[uuid::Uuid]) -> anyhow::Result<Latency> {
        let client = self.store.pool().get().await?;
        let row = client
            .query_one(
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),
                        percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)
                 FROM (SELECT (extract(epoch FROM max(finished_at) - min(enqueued_at)) * 1000)::float8 AS ms
                       FROM jobs WHERE root_id = ANY($1) GROUP BY root_id) runs",
                &[&roots],
            )
            .await?;
        Ok(Latency {
            p50_ms: row.get::<_, Option<f64>>(0).unwrap_or(f64::NAN),
            p99_ms: row.get::<_, Option<f64>>(1).unwrap_or(f64::NAN),
        })
    }

    /// Fails unless the records table holds exactly `expected` rows and nothing was dead-lettered.
    async fn verify_exact(&self, expected: i64) -> anyhow::Result<()> {
        let client = self.store.pool().get().await?;
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM dead_letters)",
                &[],
            )
            .await?;
        let (stored, dead): (i64, i64) = (row.get(0), row.get(1));
        anyhow::ensure!(
            stored == expected && dead == 0,
            "{}: WRONG RESULT: {stored} records stored (expected {expected}), {dead} dead letters (expected 0)",
            self.name
        );
        Ok(())
    }

    /// The soak's exact accounting, from the ledger and the records table.
    async fn soak_verdict(&self, roots: &[JobEnvelope], expected: i64) -> anyhow::Result<Verdict> {
        let client = self.store.pool().get().await?;
        let mut problems = Vec::new();
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM records),
                        (SELECT count(*) FROM (SELECT 1 FROM records
                            GROUP BY tenant_id, connector, stream, external_id HAVING count(*) > 1) d),
                        (SELECT count(*) FROM dead_letters),
                        coalesce(sum(records_inserted), 0)::bigint,
                        coalesce(sum(records_updated), 0)::bigint,
                        coalesce(sum(records_unchanged), 0)::bigint,
                        coalesce(sum(greatest(deliveries - 1, 0)), 0)::bigint
                 FROM jobs",
                &[],
            )
            .await?;
        let stored: i64 = row.get(0);
        let duplicate_keys: i64 = row.get(1);
        let dead: i64 = row.get(2);
        let inserted: i64 = row.get(3);
        let updated: i64 = row.get(4);
        let unchanged: i64 = row.get(5);
        let redeliveries: i64 = row.get(6);
        if stored != expected {
            problems.push(format!(
                "records stored: {stored}, the source has {expected}"
            ));
        }
        if duplicate_keys != 0 {
            problems.push(format!(
                "{duplicate_keys} record keys stored more than once"
            ));
        }
        if dead != 0 {
            problems.push(format!("{dead} dead letters"));
        }
        if inserted != expected || updated != 0 || unchanged != 0 {
            problems.push(format!(
                "ledger counters: {inserted} inserted, {updated} updated, {unchanged} unchanged \
                 (expected {expected}, 0, 0: anything else is a page applied twice or lost)"
            ));
        }
        let root_ids = roots
            .iter()
            .map(|job| job.job_id.as_uuid())
            .collect::<Vec<_>>();
        let unfinished_runs: i64 = client
            .query_one(
                "SELECT count(*) FROM unnest($1::uuid[]) AS r(root)
                 WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.root_id = r.root
                                   AND j.status = 'succeeded' AND j.continuation_id IS NULL)",
                &[&root_ids],
            )
            .await?
            .get(0);
        if unfinished_runs != 0 {
            problems.push(format!("{unfinished_runs} runs never finished (jobs lost)"));
        }
        let finished_twice: i64 = client
            .query_one(
                "SELECT count(*) FROM (SELECT root_id FROM jobs
                    WHERE status = 'succeeded' AND continuation_id IS NULL
                    GROUP BY root_id HAVING count(*) > 1) twice",
                &[],
            )
            .await?
            .get(0);
        if finished_twice != 0 {
            problems.push(format!("{finished_twice} runs finished more than once"));
        }
        let per_tenant_wrong: i64 = client
            .query_one(
                "SELECT count(*) FROM (SELECT tenant_id FROM records GROUP BY tenant_id
                    HAVING count(*) <> $1) wrong",
                &[&(expected / roots.len().max(1) as i64)],
            )
            .await?
            .get(0);
        if per_tenant_wrong != 0 {
            problems.push(format!(
                "{per_tenant_wrong} tenants hold a record count different from the source's"
            ));
        }
        Ok(Verdict {
            stored,
            runs: roots.len(),
            redeliveries,
            problems,
        })
    }

    async fn database_bytes(&self) -> anyhow::Result<i64> {
        let client = self.store.pool().get().await?;
        Ok(client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await?
            .get(0))
    }

    async fn ledger_jobs(&self) -> anyhow::Result<i64> {
        let client = self.store.pool().get().await?;
        Ok(client
            .query_one("SELECT count(*) FROM jobs", &[])
            .await?
            .get(0))
    }

    /// Closes the phase's connections, deletes its queues and drops its database
    /// (`BENCH_KEEP_DATABASES=1` keeps it). Call it after the phase's workers stopped.
    async fn finish(self, bench: &Bench) {
        // Both pools hold connections to the database: drop them before dropping it.
        self.enqueuer.close().await;
        drop(self.enqueuer);
        drop(self.store);
        if let Err(error) = delete_topology(&self.amqp_url, &self.prefix).await {
            eprintln!(
                "scale: could not delete the queues of prefix {}: {error:#}",
                self.prefix
            );
        }
        if std::env::var("BENCH_KEEP_DATABASES").is_ok_and(|v| v == "1") {
            return;
        }
        let name = self
            .database_url
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_owned();
        // Not `WITH (FORCE)`: the app role may not terminate other roles' backends. Our own
        // connections close as their pools drop, so wait for them instead.
        let mut last_error = None;
        for _ in 0..40 {
            let dropped = async {
                let admin = Store::connect(&bench.base_db_url, 1)?;
                admin
                    .pool()
                    .get()
                    .await?
                    .simple_query(&format!("DROP DATABASE IF EXISTS {name}"))
                    .await?;
                anyhow::Ok(())
            }
            .await;
            match dropped {
                Ok(()) => return,
                Err(error) => last_error = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if let Some(error) = last_error {
            eprintln!("scale: could not drop database {name}: {error:#}");
        }
    }
}

struct Verdict {
    stored: i64,
    runs: usize,
    redeliveries: i64,
    problems: Vec<String>,
}

impl Verdict {
    fn summary(&self) -> String {
        if self.problems.is_empty() {
            format!(
                "exact: {} records stored once each, {} runs finished once each, 0 dead letters",
                self.stored, self.runs
            )
        } else {
            format!("WRONG: {}", self.problems.join("; "))
        }
    }
}

fn roots(jobs: &[JobEnvelope]) -> Vec<uuid::Uuid> {
    jobs.iter().map(|job| job.job_id.as_uuid()).collect()
}

// ------------------------------------------------------------------------------------------
// Worker processes
// ------------------------------------------------------------------------------------------

struct WorkerProcess {
    name: String,
    port: u16,
    concurrency: usize,
    job_max_pages: u32,
    shop_url: String,
    log: PathBuf,
    child: Option<Child>,
}

struct Memory {
    peak_kib: u64,
}

impl WorkerProcess {
    fn spawn(&mut self, phase: &Phase) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let prefetch = (self.concurrency * 2).clamp(1, u16::MAX as usize);
        let child = Command::new(&phase.worker_bin)
            .arg("run")
            .env("TRIBUTARY_AMQP__URL", &phase.amqp_url)
            .env("TRIBUTARY_AMQP__PREFIX", &phase.prefix)
            .env("TRIBUTARY_DATABASE__URL", &phase.database_url)
            .env(
                "TRIBUTARY_DATABASE__MAX_CONNECTIONS",
                WORKER_DB_CONNECTIONS.to_string(),
            )
            .env("TRIBUTARY_DATABASE__MIGRATE_ON_START", "false")
            .env("TRIBUTARY_HTTP__LISTEN", format!("127.0.0.1:{}", self.port))
            .env("TRIBUTARY_WORKER__NAME", &self.name)
            .env(
                "TRIBUTARY_WORKER__CONCURRENCY",
                self.concurrency.to_string(),
            )
            .env("TRIBUTARY_WORKER__PREFETCH", prefetch.to_string())
            .env(
                "TRIBUTARY_WORKER__JOB_MAX_PAGES",
                self.job_max_pages.to_string(),
            )
            .env("TRIBUTARY_LOG__FILTER", "warn")
            .env("TRIBUTARY_SOURCES__DEMO_SHOP__CONNECTOR", "demo")
            .env(
                "TRIBUTARY_SOURCES__DEMO_SHOP__SETTINGS__BASE_URL",
                &self.shop_url,
            )
            .env(
                "TRIBUTARY_SOURCES__DEMO_SHOP__SETTINGS__PAGE_SIZE",
                PAGE_SIZE.to_string(),
            )
            // The demo connector's own budget (100 requests/s per tenant) would make the
            // 1-tenant case a rate-limit figure; the bench measures the pipeline, so lift it.
            // The fleet-wide GCRA reservation still runs for every page.
            .env(
                "TRIBUTARY_SOURCES__DEMO_SHOP__RATE_LIMIT__REQUESTS_PER_SECOND",
                "100000",
            )
            .env("TRIBUTARY_SOURCES__DEMO_SHOP__RATE_LIMIT__BURST", "10000")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", phase.worker_bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .as_ref()
            .and_then(Child::id)
            .with_context(|| format!("worker {} is not running", self.name))
    }

    async fn wait_ready(&mut self, bench: &Bench) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{}/readyz", self.port);
        let started = Instant::now();
        loop {
            self.ensure_alive()?;
            if let Ok(response) = bench.http.get(&url).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "worker {} not ready after 60 s (log: {})",
                self.name,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn ensure_alive(&mut self) -> anyhow::Result<()> {
        let child = self
            .child
            .as_mut()
            .with_context(|| format!("worker {} was never started", self.name))?;
        if let Some(status) = child.try_wait()? {
            anyhow::bail!(
                "worker {} exited unexpectedly ({status}); log: {}",
                self.name,
                self.log.display()
            );
        }
        Ok(())
    }

    fn memory(&self) -> anyhow::Result<Memory> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("cannot read /proc/{pid}/status"))?;
        let peak_kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no VmHWM in /proc/{pid}/status"))?;
        Ok(Memory { peak_kib })
    }

    /// User + system CPU time the process has used.
    fn cpu_seconds(&self, bench: &Bench) -> anyhow::Result<f64> {
        let pid = self.pid()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
        // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
        let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |index: usize| -> anyhow::Result<f64> {
            fields
                .get(index)
                .and_then(|value| value.parse::<f64>().ok())
                .with_context(|| format!("unexpected /proc/{pid}/stat: {stat}"))
        };
        Ok((ticks(11)? + ticks(12)?) / bench.clock_ticks)
    }

    async fn kill_and_restart(&mut self, phase: &Phase) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child
                .start_kill()
                .with_context(|| format!("cannot SIGKILL worker {}", self.name))?;
            let _ = child.wait().await;
        }
        self.spawn(phase)
    }

    /// SIGTERM (a graceful drain), then SIGKILL if it takes longer than 30 s.
    async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .is_err()
        {
            eprintln!(
                "scale: worker {} did not stop within 30 s; SIGKILL",
                self.name
            );
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}

impl Bench {
    /// Settings for the in-process enqueuer (the workers get the same through the environment).
    fn settings(&self, database_url: &str, prefix: &str) -> Settings {
        let mut settings = Settings::default();
        settings.amqp.url = tributary_worker::config::AmqpUrls::joined(&self.amqp_url);
        settings.amqp.prefix = prefix.to_owned();
        settings.database.url = Secret::new(database_url.to_owned());
        settings.database.migrate_on_start = false;
        settings
    }
}

/// The release `tributary-worker` (`BENCH_WORKER_BIN`, or the one beside this bench's binary),
/// copied into the scratch directory so another build in the shared target dir cannot swap it
/// mid-run.
fn private_worker_binary(scratch: &Path) -> anyhow::Result<PathBuf> {
    let built = match std::env::var_os("BENCH_WORKER_BIN") {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(|release| release.join("tributary-worker"))
            .context("cannot locate the target directory from the bench's own path")?,
    };
    anyhow::ensure!(
        built.is_file(),
        "no worker binary at {}: run `cargo build --release -p tributary-worker` first \
         (`ops/dev bench` does), or set BENCH_WORKER_BIN",
        built.display()
    );
    let private = scratch.join("tributary-worker");
    std::fs::copy(&built, &private)
        .with_context(|| format!("cannot copy {} to {}", built.display(), private.display()))?;
    Ok(private)
}

/// `getconf CLK_TCK`: the unit of `/proc/<pid>/stat` CPU times (100 on every Linux we run).
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

// ------------------------------------------------------------------------------------------
// Raw lapin: publish → consume round trips
// ------------------------------------------------------------------------------------------

struct RawLapin {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Bare lapin at its best, as in the pipeline bench (confirm window, prefetch 1000, `multiple`
/// acks), each body carrying its publish time so the consumer can time the round trip. With
/// `pace` the publisher sends that many messages per second instead of as fast as it can.
async fn raw_lapin(bench: &Bench, messages: usize, pace: Option<f64>) -> anyhow::Result<RawLapin> {
    let RawQueue {
        queue,
        publisher,
        consumer_channel,
        mut consumer,
        connections,
    } = RawQueue::open(&bench.amqp_url, &bench.prefix).await?;
    let epoch = Instant::now();
    let consume = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(messages);
        while let Some(delivery) = consumer.next().await {
            let delivery = delivery?;
            let sent_ns = delivery
                .data
                .get(..8)
                .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
                .map(u64::from_le_bytes)
                .context("a raw bench message without its timestamp")?;
            latencies.push(epoch.elapsed().as_nanos() as u64 - sent_ns);
            let received = latencies.len();
            if received.is_multiple_of(100) || received == messages || pace.is_some() {
                consumer_channel
                    .basic_ack(delivery.delivery_tag, BasicAckOptions { multiple: true })
                    .await?;
            }
            if received == messages {
                break;
            }
        }
        anyhow::Ok(latencies)
    });
    let padding = [b'x'; 92];
    let mut outstanding = std::collections::VecDeque::new();
    let started = Instant::now();
    for sent in 0..messages {
        if let Some(rate) = pace {
            let due = started + Duration::from_secs_f64(sent as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let mut body = (epoch.elapsed().as_nanos() as u64).to_le_bytes().to_vec();
        body.extend_from_slice(&padding);
        let confirm = publisher
            .basic_publish(
                "".into(),
                queue.clone().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await?;
        outstanding.push_back(confirm);
        if outstanding.len() >= 2_000 {
            let confirm = outstanding.pop_front().expect("non-empty");
            anyhow::ensure!(confirm.await?.is_ack(), "publish nacked");
        }
    }
    for confirm in outstanding {
        anyhow::ensure!(confirm.await?.is_ack(), "publish nacked");
    }
    let mut latencies = consume.await??;
    let rate = messages as f64 / started.elapsed().as_secs_f64();
    publisher
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await?;
    connections.close().await;
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(index).map_or(f64::NAN, |ns| *ns as f64 / 1e6)
    };
    Ok(RawLapin {
        rate,
        p50_ms: percentile(0.5),
        p99_ms: percentile(0.99),
    })
}

/// Deletes one prefix's queues and exchanges (work, retry, dead) from the shared broker.
async fn delete_topology(amqp_url: &str, prefix: &str) -> anyhow::Result<()> {
    let mut settings = Settings::default();
    settings.amqp.url = tributary_worker::config::AmqpUrls::joined(amqp_url);
    settings.amqp.prefix = prefix.to_owned();
    let registry = tributary_worker::connectors::registry();
    let topology = tributary_worker::app::topology(&settings, &registry.kinds())?;
    let nodes = tributary_broker::Nodes::parse(amqp_url.split(','))?;
    let connection = tributary_broker::connect(&nodes, "bench cleanup").await?;
    let channel = connection.create_channel().await?;
    let mut queues = vec![topology.dead_queue()];
    queues.extend(
        topology
            .connectors()
            .iter()
            .map(|kind| topology.work_queue(kind)),
    );
    queues.extend(
        topology
            .tiers()
            .iter()
            .map(|tier| topology.retry_queue(tier)),
    );
    for queue in queues {
        channel
            .queue_delete(queue.into(), QueueDeleteOptions::default())
            .await?;
    }
    for exchange in [
        topology.work_exchange(),
        topology.retry_exchange(),
        topology.dead_exchange(),
    ] {
        channel
            .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
            .await?;
    }
    let _ = connection.close(200, "done".into()).await;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Output
// ------------------------------------------------------------------------------------------

fn print_figures(figures: &[Figure]) {
    println!();
    println!(
        "{:<40} {:>12} {:<10} {:<38} {:>12} {:>7}",
        "figure", "value", "unit", "baseline", "baseline", "ratio"
    );
    for figure in figures {
        match &figure.baseline {
            Some((name, baseline)) => println!(
                "{:<40} {:>12.2} {:<10} {:<38} {:>12.2} {:>7.2}",
                figure.name,
                figure.value,
                figure.unit,
                name,
                baseline,
                figure.value / baseline
            ),
            None => println!(
                "{:<40} {:>12.2} {:<10}",
                figure.name, figure.value, figure.unit
            ),
        }
    }
    println!();
    let round = |value: f64| (value * 1000.0).round() / 1000.0;
    for figure in figures {
        let mut line = serde_json::json!({
            "name": figure.name,
            "value": round(figure.value),
            "unit": figure.unit,
        });
        if let Some((name, baseline)) = &figure.baseline {
            line["baseline"] = serde_json::json!(name);
            line["baseline_value"] = serde_json::json!(round(*baseline));
            line["ratio"] = serde_json::json!(round(figure.value / baseline));
        }
        println!("{line}");
    }
}
