//! `ops/dev bench`: four figures measured in one run on the same broker and database, each
//! next to its raw baseline, so the ratios can be read on a noisy machine:
//!
//! 1. raw lapin publish + consume (pipelined confirms, batched `multiple` acks, prefetch 1000);
//! 2. the worker running no-op jobs with the full ledger (claim + settle + ack per job);
//! 3. end-to-end ingestion of demo records (HTTP pages → upsert + checkpoint → ack);
//! 4. a raw COPY → staging → `INSERT … ON CONFLICT` upsert of the same rows.
//!
//! Prints a table and one JSON line per figure (`name`, `value`, `unit`).
#![allow(clippy::print_stderr)]

mod common;

use common::{count_from_env, env, fresh_database, job, raw_copy_upsert, RawQueue};
use futures_util::StreamExt;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tributary_broker::lapin::options::{BasicAckOptions, BasicPublishOptions, QueueDeleteOptions};
use tributary_broker::lapin::BasicProperties;
use tributary_broker::{JobEnvelope, JobKind};
use tributary_demo_shop::ShopConfig;
use tributary_store::Store;
use tributary_worker::config::{Secret, Settings, SourceSettings};
use tributary_worker::enqueue::Enqueuer;
use tributary_worker::Worker;

struct Figure {
    name: &'static str,
    value: f64,
    unit: &'static str,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let amqp_url = env("TRIBUTARY_AMQP__URL");
    let base_db_url = env("TRIBUTARY_DATABASE__URL");
    let messages = count_from_env("BENCH_MESSAGES", 100_000);
    let noop_jobs = count_from_env("BENCH_NOOP_JOBS", 60_000);
    let tenants = count_from_env("BENCH_TENANTS", 10);
    let orders_per_tenant = count_from_env("BENCH_ORDERS_PER_TENANT", 20_000) as u64;

    let database_url = fresh_database(&base_db_url).await?;
    let prefix = format!("bench{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    eprintln!(
        "bench: database {database_url_masked}, prefix {prefix}",
        database_url_masked = database_url.rsplit('/').next().unwrap_or("")
    );

    let mut figures = Vec::new();

    eprintln!("bench: (1) raw lapin publish + consume, {messages} messages…");
    let raw = raw_lapin(&amqp_url, &prefix, messages).await?;
    figures.push(Figure {
        name: "raw_lapin_publish_consume",
        value: raw,
        unit: "msg/s",
    });

    let shop = tributary_demo_shop::spawn(ShopConfig::with_volume(orders_per_tenant, 1, 1)).await?;
    let mut settings = Settings::default();
    settings.amqp.url = tributary_worker::config::AmqpUrls::joined(&amqp_url);
    settings.amqp.prefix = prefix.clone();
    settings.database.url = Secret::new(database_url.clone());
    settings.database.max_connections = 24;
    settings.http.listen = "127.0.0.1:0".parse()?;
    settings.worker.concurrency = 256;
    settings.worker.prefetch = 512;
    settings.worker.job_max_pages = 1_000;
    settings.worker.job_max_seconds = 300;
    settings.log.filter = "warn".into();
    settings.sources.insert(
        "demo_shop".into(),
        SourceSettings {
            connector: "demo".into(),
            settings: serde_json::json!({"base_url": shop.url(), "page_size": 250}),
            rate_limit: None,
        },
    );
    let enqueuer = Enqueuer::connect(&settings).await?;
    let store = Store::connect(&database_url, 4)?;

    eprintln!("bench: (2) worker, {noop_jobs} no-op jobs with the full ledger…");
    let jobs: Vec<JobEnvelope> = (0..noop_jobs)
        .map(|i| job(JobKind::Noop, &format!("t{}", i % 100), "orders"))
        .collect();
    enqueuer.enqueue(&jobs).await?;
    let roots: Vec<uuid::Uuid> = jobs.iter().map(|j| j.job_id.as_uuid()).collect();
    let elapsed = run_worker_until_settled(&settings, &store, &roots).await?;
    let noop_rate = noop_jobs as f64 / elapsed.as_secs_f64();
    figures.push(Figure {
        name: "worker_noop_jobs",
        value: noop_rate,
        unit: "jobs/s",
    });
    figures.push(Figure {
        name: "worker_noop_vs_raw_lapin_ratio",
        value: noop_rate / raw,
        unit: "ratio",
    });

    let records = tenants as u64 * orders_per_tenant;
    eprintln!("bench: (3) end-to-end ingestion, {tenants} tenants x {orders_per_tenant} orders = {records} records…");
    settings.worker.concurrency = 32;
    settings.worker.prefetch = 64;
    let jobs: Vec<JobEnvelope> = (0..tenants)
        .map(|i| job(JobKind::Pull, &format!("tenant{i}"), "orders"))
        .collect();
    let roots: Vec<uuid::Uuid> = jobs.iter().map(|j| j.job_id.as_uuid()).collect();
    let started = Instant::now();
    enqueuer.enqueue(&jobs).await?;
    run_worker_until_settled(&settings, &store, &roots).await?;
    let ingest_elapsed = started.elapsed();
    let stored: i64 = store.record_counts().await?.iter().map(|r| r.records).sum();
    anyhow::ensure!(
        stored as u64 == records,
        "stored {stored} records, expected {records}"
    );
    let ingest_rate = records as f64 / ingest_elapsed.as_secs_f64();
    figures.push(Figure {
        name: "ingest_end_to_end_records",
        value: ingest_rate,
        unit: "records/s",
    });

    eprintln!("bench: (4) raw COPY → staging → INSERT … ON CONFLICT of the same {records} rows…");
    let copy_rate = raw_copy_upsert(&store).await?;
    figures.push(Figure {
        name: "raw_copy_upsert_rows",
        value: copy_rate,
        unit: "rows/s",
    });
    figures.push(Figure {
        name: "ingest_vs_raw_copy_upsert_ratio",
        value: ingest_rate / copy_rate,
        unit: "ratio",
    });
    enqueuer.close().await;

    println!();
    println!("{:<36} {:>14}  unit", "figure", "value");
    for figure in &figures {
        println!(
            "{:<36} {:>14.2}  {}",
            figure.name, figure.value, figure.unit
        );
    }
    println!();
    for figure in &figures {
        println!(
            "{}",
            serde_json::json!({"name": figure.name, "value": (figure.value * 1000.0).round() / 1000.0, "unit": figure.unit})
        );
    }
    Ok(())
}

/// Starts an in-process worker, waits until every run rooted at `roots` is settled, stops it.
async fn run_worker_until_settled(
    settings: &Settings,
    store: &Store,
    roots: &[uuid::Uuid],
) -> anyhow::Result<Duration> {
    let worker = Worker::build(settings.clone()).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let started = Instant::now();
    let task = tokio::spawn(worker.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    loop {
        let client = store.pool().get().await?;
        let unsettled: i64 = client
            .query_one(
                "SELECT count(*) FROM jobs WHERE root_id = ANY($1)
                   AND status NOT IN ('succeeded', 'superseded', 'dead')",
                &[&roots],
            )
            .await?
            .get(0);
        if unsettled == 0 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "bench phase timed out"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let _ = stop.send(());
    task.await??;
    Ok(elapsed)
}

/// Bare lapin at its best: one confirm-mode publisher with a window of outstanding confirms,
/// one consumer with prefetch 1000 acking with `multiple` every 100 deliveries.
async fn raw_lapin(url: &str, prefix: &str, messages: usize) -> anyhow::Result<f64> {
    let RawQueue {
        queue,
        publisher,
        consumer_channel,
        mut consumer,
        connections,
    } = RawQueue::open(url, prefix).await?;
    let body = br#"{"version":1,"kind":"noop","payload":"a small job body of about a hundred bytes, like ours"}"#;
    let started = Instant::now();
    let consume = tokio::spawn(async move {
        let mut received = 0usize;
        while let Some(delivery) = consumer.next().await {
            let delivery = delivery?;
            received += 1;
            if received.is_multiple_of(100) || received == messages {
                consumer_channel
                    .basic_ack(delivery.delivery_tag, BasicAckOptions { multiple: true })
                    .await?;
            }
            if received == messages {
                break;
            }
        }
        anyhow::Ok(())
    });
    let mut outstanding = std::collections::VecDeque::new();
    for _ in 0..messages {
        let confirm = publisher
            .basic_publish(
                "".into(),
                queue.clone().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
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
    consume.await??;
    let rate = messages as f64 / started.elapsed().as_secs_f64();
    publisher
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await?;
    connections.close().await;
    Ok(rate)
}
