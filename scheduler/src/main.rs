//! `tributary-scheduler`: a thin command line over the scheduler library.
// A command line talks to its user on stderr; the workspace lint is for library code.
#![allow(clippy::print_stderr)]

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tributary_scheduler::cli::{self, SchedulesCommand};
use tributary_scheduler::config::Settings;
use tributary_scheduler::Scheduler;

/// Tributary scheduler: enqueues each due slot of each schedule exactly once, through an
/// outbox, from any number of replicas.
///
/// Settings come from defaults, then --config, then TRIBUTARY_* environment variables
/// (`__` separates levels, e.g. TRIBUTARY_DATABASE__URL, TRIBUTARY_SCHEDULER__TICK_INTERVAL_MS).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// A TOML settings file (it may hold every process's sections).
    #[arg(long, global = true, env = "TRIBUTARY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Claim due slots and publish the outbox until SIGTERM or Ctrl-C.
    Run,
    /// Manage schedules (each change is audited as `cli:<os user>`).
    Schedules {
        #[command(subcommand)]
        command: Box<SchedulesCommand>,
    },
    /// Apply pending database migrations.
    Migrate,
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
    tributary_runtime::telemetry::init_logging(&settings.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Run => {
            let scheduler = Scheduler::build(settings).await?;
            scheduler.run_until_stopped(shutdown_signal()).await?;
            tracing::info!("scheduler stopped");
        }
        Command::Schedules { command } => {
            let store = settings.database.store(2)?;
            if settings.database.migrate_on_start {
                store.migrate().await?;
            }
            print!(
                "{}",
                cli::execute(&store, *command, &cli::cli_actor()).await?
            );
        }
        Command::Migrate => {
            let store = settings.database.store(1)?;
            let applied = store.migrate().await?;
            if applied.is_empty() {
                println!("database schema is up to date");
            } else {
                println!("applied migrations: {}", applied.join(", "));
            }
        }
    }
    Ok(())
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
    tracing::info!("shutdown requested; stopping");
}
