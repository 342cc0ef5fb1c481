//! `tributary-worker`: a thin command line over the worker library.
// A command line talks to its user on stderr; the workspace lint is for library code.
#![allow(clippy::print_stderr)]

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tributary_broker::{JobEnvelope, JobKind};
use tributary_connector::{ConnectorKind, SourceId, StreamName, TenantId, Window};
use tributary_worker::config::Settings;
use tributary_worker::{demo, enqueue, telemetry, Worker};

/// Tributary worker: pulls records from sources into PostgreSQL, driven by RabbitMQ.
///
/// Settings come from defaults, then --config, then TRIBUTARY_* environment variables
/// (`__` separates levels, e.g. TRIBUTARY_AMQP__URL, TRIBUTARY_DATABASE__URL).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// A TOML settings file.
    #[arg(long, global = true, env = "TRIBUTARY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume and run jobs until SIGTERM or Ctrl-C, then drain in-flight jobs.
    Run,
    /// Record jobs in the ledger and publish them (with confirms).
    Enqueue {
        /// Configured source id (see `sources.<id>` in the settings).
        #[arg(long)]
        source: SourceId,
        /// Tenant to pull for.
        #[arg(long)]
        tenant: TenantId,
        /// Stream to pull.
        #[arg(long)]
        stream: StreamName,
        /// Connector kind; defaults to the source's.
        #[arg(long)]
        connector: Option<ConnectorKind>,
        /// Job kind.
        #[arg(long, value_enum, default_value = "pull")]
        kind: KindArg,
        /// Window start (RFC 3339), inclusive.
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Window end (RFC 3339), exclusive.
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
        /// How many identical jobs (each with its own id).
        #[arg(long, default_value_t = 1)]
        count: usize,
    },
    /// Reconciliation: enqueue a run, list reports, show one report with its findings.
    Reconcile {
        #[command(subcommand)]
        command: ReconcileCommand,
    },
    /// Validate the settings and every source's configuration; report every problem.
    CheckConfig,
    /// Apply pending database migrations.
    Migrate,
    /// Where things stand: jobs by status, dead letters by class, sources paused by an
    /// operator or by their circuit breaker (and why).
    Status,
    /// Print the broker topology as a RabbitMQ definitions file.
    Topology {
        /// Virtual host to put in the definitions.
        #[arg(long, default_value = "/")]
        vhost: String,
    },
    /// Run the offline demo against a running demo shop and worker processes.
    Demo {
        /// The demo shop's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8089")]
        shop_url: String,
        /// Source id of the shop in the settings.
        #[arg(long, default_value = "demo_shop")]
        source: SourceId,
        /// Tenants to pull for, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "acme,globex,locked-initech"
        )]
        tenants: Vec<TenantId>,
        /// Streams to pull, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "orders,customers,products"
        )]
        streams: Vec<StreamName>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 900)]
        timeout_secs: u64,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum KindArg {
    Pull,
    Noop,
    Reconcile,
}

#[derive(Debug, Subcommand)]
enum ReconcileCommand {
    /// Record a reconcile job in the ledger and publish it (with confirms); prints its id.
    Enqueue {
        /// Configured source id (see `sources.<id>` in the settings).
        #[arg(long)]
        source: SourceId,
        /// Tenant to reconcile.
        #[arg(long)]
        tenant: TenantId,
        /// Stream to reconcile.
        #[arg(long)]
        stream: StreamName,
        /// Connector kind; defaults to the source's.
        #[arg(long)]
        connector: Option<ConnectorKind>,
        /// Created-at window start (RFC 3339), inclusive; default: the whole history.
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Created-at window end (RFC 3339), exclusive; default: when the job runs.
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Reports, newest first (directly from the database).
    Reports {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Only this stream.
        #[arg(long)]
        stream: Option<String>,
        /// Only reports with an id below this (the `more: --before` of the previous page).
        #[arg(long)]
        before: Option<i64>,
        /// Reports per page (at most 500).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One report with its findings (directly from the database).
    Report {
        /// The report's id, as `reconcile reports` lists it.
        id: i64,
        /// Findings listed of each kind, by id (the counts are always whole).
        #[arg(long, default_value_t = 1_000)]
        findings: i64,
    },
}

/// The connector kind of `source`: the one given, else the configured source's.
fn connector_of(
    settings: &Settings,
    source: &SourceId,
    connector: Option<ConnectorKind>,
) -> anyhow::Result<ConnectorKind> {
    match connector {
        Some(connector) => Ok(connector),
        None => {
            let configured = settings.sources.get(source.as_str()).with_context(|| {
                format!("source `{source}` is not configured; pass --connector or configure sources.{source}")
            })?;
            Ok(ConnectorKind::new(configured.connector.clone())?)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(&settings.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli.command, settings)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run => {
            let worker = Worker::build(settings).await?;
            tracing::info!(http = %worker.http_addr(), "worker started");
            worker.run_until_stopped(shutdown_signal()).await?;
            tracing::info!("worker stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Enqueue {
            source,
            tenant,
            stream,
            connector,
            kind,
            from,
            to,
            count,
        } => {
            let connector = connector_of(&settings, &source, connector)?;
            let kind = match kind {
                KindArg::Pull => JobKind::Pull,
                KindArg::Noop => JobKind::Noop,
                KindArg::Reconcile => JobKind::Reconcile,
            };
            let jobs: Vec<JobEnvelope> = (0..count)
                .map(|_| {
                    JobEnvelope::new_root(
                        kind,
                        connector.clone(),
                        tenant.clone(),
                        source.clone(),
                        stream.clone(),
                        Window { from, to },
                    )
                })
                .collect();
            let enqueuer = enqueue::Enqueuer::connect(&settings).await?;
            enqueuer.enqueue(&jobs).await?;
            enqueuer.close().await;
            for job in jobs.iter().take(20) {
                println!("{}", job.job_id);
            }
            if jobs.len() > 20 {
                println!("… and {} more", jobs.len() - 20);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Reconcile { command } => reconcile(command, &settings).await,
        Command::CheckConfig => Ok(check_config(&settings)),
        Command::Migrate => {
            let store = settings.database.store(1)?;
            let applied = store.migrate().await?;
            if applied.is_empty() {
                println!("database schema is up to date");
            } else {
                println!("applied migrations: {}", applied.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status => {
            let store = settings.database.store(1)?;
            println!("jobs by status:");
            for row in store.job_status_counts(None).await? {
                println!("  {:<11} {:>9}", row.status, row.jobs);
            }
            println!("dead letters by class:");
            for (class, count) in store.dead_letter_counts().await? {
                println!("  {class:<20} {count:>9}");
            }
            let pauses = store.source_pauses().await?;
            let any_paused = !pauses.is_empty();
            if any_paused {
                println!("sources paused by an operator:");
                for pause in pauses {
                    let mut paused = format!("{}/{}", pause.tenant, pause.source);
                    if pause.tenant == tributary_store::ALL_TENANTS {
                        paused.push_str(" (every tenant)");
                    }
                    println!(
                        "  {paused}: by {} since {}: {}",
                        pause.paused_by,
                        pause.paused_at.format("%Y-%m-%d %H:%M:%S UTC"),
                        pause.reason
                    );
                }
            }
            let breakers = store.open_breakers().await?;
            if breakers.is_empty() && !any_paused {
                println!("sources: all healthy");
            } else if breakers.is_empty() {
                println!("circuit breakers: all closed");
            } else {
                println!("sources paused by their breaker or needing attention:");
                for breaker in breakers {
                    println!(
                        "  {}/{}: {} (trips {}): {}",
                        breaker.tenant,
                        breaker.source,
                        breaker.state,
                        breaker.trips,
                        breaker.reason.unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Topology { vhost } => {
            let registry = tributary_worker::connectors::registry();
            let topology = tributary_worker::app::topology(&settings, &registry.kinds())?;
            println!(
                "{}",
                serde_json::to_string_pretty(&topology.definitions(&vhost))?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            shop_url,
            source,
            tenants,
            streams,
            timeout_secs,
        } => {
            if tenants.is_empty() || streams.is_empty() {
                bail!("--tenants and --streams must not be empty");
            }
            let plan = demo::DemoPlan {
                shop_url,
                source,
                tenants,
                streams,
                timeout: Duration::from_secs(timeout_secs),
            };
            let consistent = demo::run(&settings, &plan).await?;
            Ok(if consistent {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

async fn reconcile(command: ReconcileCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    match command {
        ReconcileCommand::Enqueue {
            source,
            tenant,
            stream,
            connector,
            from,
            to,
        } => {
            let connector = connector_of(settings, &source, connector)?;
            let job = JobEnvelope::new_root(
                JobKind::Reconcile,
                connector,
                tenant,
                source,
                stream,
                Window { from, to },
            );
            let enqueuer = enqueue::Enqueuer::connect(settings).await?;
            enqueuer.enqueue(std::slice::from_ref(&job)).await?;
            enqueuer.close().await;
            println!("{}", job.job_id);
            Ok(ExitCode::SUCCESS)
        }
        ReconcileCommand::Reports {
            tenant,
            source,
            stream,
            before,
            limit,
        } => {
            let store = settings.database.store(1)?;
            let page = store
                .reconcile_reports(&tributary_store::ReportFilter {
                    tenant,
                    source,
                    stream,
                    status: None,
                    before,
                    limit: Some(limit),
                })
                .await
                .context("cannot list reconcile reports")?;
            print!("{}", tributary_worker::reconcile::print::reports(&page));
            Ok(ExitCode::SUCCESS)
        }
        ReconcileCommand::Report { id, findings } => {
            let store = settings.database.store(1)?;
            match store
                .reconcile_report(id, findings)
                .await
                .context("cannot read the reconcile report")?
            {
                Some(detail) => {
                    print!("{}", tributary_worker::reconcile::print::report(&detail));
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("error: no reconcile report {id}");
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}

/// Reports every problem with the settings and sources; exit code 2 if there is any.
fn check_config(settings: &Settings) -> ExitCode {
    let mut problems = settings.validate();
    let registry = tributary_worker::connectors::registry();
    for (id, source) in &settings.sources {
        if let Err(error) = registry.build(&source.connector, &source.settings) {
            problems.push(format!("sources.{id}: {error}"));
        }
    }
    if problems.is_empty() {
        println!("configuration OK");
        if let Ok(nodes) = settings.amqp.nodes() {
            // host:port only: the URLs hold passwords.
            println!(
                "  broker nodes: {} (connect timeout {:?} each)",
                nodes.addresses().join(", "),
                nodes.connect_timeout()
            );
        }
        println!("  broker topology prefix: {}", settings.amqp.prefix);
        println!("  retry tiers: {}", settings.amqp.retry_tiers.join(", "));
        let sources: Vec<String> = settings
            .sources
            .iter()
            .map(|(id, source)| format!("{id} ({})", source.connector))
            .collect();
        println!(
            "  sources: {}",
            if sources.is_empty() {
                "none".into()
            } else {
                sources.join(", ")
            }
        );
        println!("  connectors built in: {}", registry.kinds().join(", "));
        ExitCode::SUCCESS
    } else {
        eprintln!("configuration has {} problem(s):", problems.len());
        for problem in problems {
            eprintln!("  - {problem}");
        }
        ExitCode::from(2)
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown requested; draining");
}
