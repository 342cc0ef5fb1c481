//! The demo driver behind `ops/dev demo`: enqueues one pull job per (tenant, stream) of the
//! demo shop through the real path (ledger + confirmed publish), follows progress in the ledger
//! while separate worker processes do the work, then checks the store against the source.

use crate::config::Settings;
use crate::enqueue::Enqueuer;
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};
use tributary_broker::{JobEnvelope, JobKind};
use tributary_connector::{ConnectorKind, SourceId, StreamName, TenantId, Window};

/// What to ingest.
#[derive(Debug, Clone)]
pub struct DemoPlan {
    /// The demo shop's base URL (for its counters).
    pub shop_url: String,
    /// The configured source id of the shop.
    pub source: SourceId,
    /// Tenants to pull for. A `locked-*` tenant is refused by the shop (auth dead letters).
    pub tenants: Vec<TenantId>,
    /// Streams to pull.
    pub streams: Vec<StreamName>,
    /// Give up after this long.
    pub timeout: Duration,
}

const STREAMS: [&str; 3] = ["orders", "customers", "products"];

/// Runs the demo; returns whether the store matches the source exactly.
pub async fn run(settings: &Settings, plan: &DemoPlan) -> anyhow::Result<bool> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let served_before = served(&http, &plan.shop_url).await?;
    let enqueuer = Enqueuer::connect(settings).await?;
    let connector = ConnectorKind::new("demo")?;
    let jobs: Vec<JobEnvelope> = plan
        .tenants
        .iter()
        .flat_map(|tenant| {
            plan.streams.iter().map(|stream| {
                JobEnvelope::new_root(
                    JobKind::Pull,
                    connector.clone(),
                    tenant.clone(),
                    plan.source.clone(),
                    stream.clone(),
                    Window::default(),
                )
            })
        })
        .collect();
    let roots: Vec<uuid::Uuid> = jobs.iter().map(|job| job.job_id.as_uuid()).collect();
    let started = Instant::now();
    enqueuer.enqueue(&jobs).await?;
    println!(
        "enqueued {} pull jobs ({} tenants x {} streams) on the work queue; workers are pulling…",
        jobs.len(),
        plan.tenants.len(),
        plan.streams.len()
    );

    let store = enqueuer.store();
    let mut last_print = Instant::now() - Duration::from_secs(10);
    let totals = loop {
        let counts = store.job_status_counts(Some(&roots)).await?;
        let get = |status: &str| counts.iter().find(|c| c.status == status);
        let sum =
            |f: fn(&tributary_store::JobStatusCount) -> i64| counts.iter().map(f).sum::<i64>();
        let unfinished: i64 = counts
            .iter()
            .filter(|c| !matches!(c.status.as_str(), "succeeded" | "superseded" | "dead"))
            .map(|c| c.jobs)
            .sum();
        let all_jobs = sum(|c| c.jobs);
        let dead = get("dead").map_or(0, |c| c.jobs);
        let line = format!(
            "[{:>6.1}s] jobs {}/{} settled ({} dead, {} waiting to retry) | pages {} | records inserted {} updated {} unchanged {}",
            started.elapsed().as_secs_f64(),
            all_jobs - unfinished,
            all_jobs,
            dead,
            get("retrying").map_or(0, |c| c.jobs) + get("snoozed").map_or(0, |c| c.jobs),
            sum(|c| c.pages),
            sum(|c| c.inserted),
            sum(|c| c.updated),
            sum(|c| c.unchanged),
        );
        if unfinished == 0 {
            println!("{line}");
            break (
                sum(|c| c.inserted),
                sum(|c| c.updated),
                sum(|c| c.unchanged),
                dead,
            );
        }
        if last_print.elapsed() >= Duration::from_secs(1) {
            println!("{line}");
            let _ = std::io::stdout().flush();
            last_print = Instant::now();
        }
        if started.elapsed() > plan.timeout {
            bail!(
                "the demo did not finish within {:?}; see the worker logs in .dev/logs",
                plan.timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let elapsed = started.elapsed();
    let served_after = served(&http, &plan.shop_url).await?;
    let (inserted, updated, unchanged, dead) = totals;

    // Compare the store with the source, per tenant and stream.
    let stored: BTreeMap<(String, String), i64> = store
        .record_counts()
        .await?
        .into_iter()
        .filter(|row| row.connector == "demo")
        .map(|row| ((row.tenant, row.stream), row.records))
        .collect();
    let mut consistent = true;
    let mut source_total = 0;
    let mut stored_total = 0;
    for tenant in &plan.tenants {
        let at_source = source_totals(&http, &plan.shop_url, tenant).await?;
        for stream in &plan.streams {
            let expected = if tenant.as_str().starts_with("locked") {
                0
            } else {
                at_source.get(stream.as_str()).copied().unwrap_or(0)
            };
            let actual = stored
                .get(&(tenant.to_string(), stream.to_string()))
                .copied()
                .unwrap_or(0);
            source_total += expected;
            stored_total += actual;
            if expected != actual {
                consistent = false;
                println!(
                    "MISMATCH {tenant}/{stream}: source has {expected}, Postgres has {actual}"
                );
            }
        }
    }
    enqueuer.close().await;

    println!();
    println!("demo summary");
    println!(
        "  records served by the shop  {:>9}  (pages re-served after faults count again)",
        served_after - served_before
    );
    println!("  inserted                    {inserted:>9}");
    println!("  updated                     {updated:>9}");
    println!("  unchanged                   {unchanged:>9}");
    println!("  dead letters                {dead:>9}  (the `locked-*` tenant is refused by the shop: auth)");
    println!(
        "  elapsed                     {:>8.1}s  ({:.0} records/s)",
        elapsed.as_secs_f64(),
        (inserted + updated + unchanged) as f64 / elapsed.as_secs_f64().max(0.001)
    );
    println!("  records in Postgres         {stored_total:>9}  (source holds {source_total})");
    if consistent {
        println!("  check                       OK: Postgres holds exactly the source's records");
    } else {
        println!("  check                       FAILED: see the mismatches above");
    }
    Ok(consistent)
}

async fn served(http: &reqwest::Client, shop_url: &str) -> anyhow::Result<i64> {
    let stats: serde_json::Value = http
        .get(format!("{shop_url}/_admin/stats"))
        .send()
        .await
        .with_context(|| format!("cannot reach the demo shop at {shop_url}"))?
        .error_for_status()?
        .json()
        .await?;
    Ok(STREAMS
        .iter()
        .map(|stream| stats["records_served"][stream].as_i64().unwrap_or(0))
        .sum())
}

async fn source_totals(
    http: &reqwest::Client,
    shop_url: &str,
    tenant: &TenantId,
) -> anyhow::Result<BTreeMap<String, i64>> {
    let totals: serde_json::Value = http
        .get(format!("{shop_url}/_admin/totals"))
        .query(&[("tenant", tenant.as_str())])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(STREAMS
        .iter()
        .map(|stream| ((*stream).to_owned(), totals[stream].as_i64().unwrap_or(0)))
        .collect())
}
