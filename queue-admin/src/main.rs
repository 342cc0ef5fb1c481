//! The `queue-admin` command: `serve` the web UI and API, work on dead letters, sources and
//! schedules from a terminal (`dlq`, `sources`, `schedules`, `overview`, over the JSON API with
//! a token), and manage `users` and `tokens` (directly in the database, for bootstrapping).

// A command line talks to its user on stderr; the workspace lint is for library code.
#![allow(clippy::print_stderr)]

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tributary_queue_admin::cli;
use tributary_queue_admin::{AdminApp, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "queue-admin",
    version,
    about = "Inspect and replay Tributary's dead letters"
)]
struct Cli {
    /// A TOML settings file (may be shared with the worker); `TRIBUTARY_*` variables override it.
    #[arg(long, short, global = true, env = "TRIBUTARY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the web UI, the JSON API and the ops endpoint until SIGTERM or Ctrl-C.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check the settings and exit, listing every problem.
    CheckConfig,
    /// Queues, dead-letter counts and sources needing attention (over the API).
    Overview(cli::ApiArgs),
    /// Dead letters: list, groups, show, replay, edit, discard (over the API).
    Dlq {
        #[command(flatten)]
        api: cli::ApiArgs,
        #[command(subcommand)]
        command: Box<cli::DlqCommand>,
    },
    /// Reconciliation reports: reports, report (over the API).
    Reconcile {
        #[command(flatten)]
        api: cli::ApiArgs,
        #[command(subcommand)]
        command: cli::ReconcileCommand,
    },
    /// Sources: list, pause, resume (over the API).
    Sources {
        #[command(flatten)]
        api: cli::ApiArgs,
        #[command(subcommand)]
        command: cli::SourcesCommand,
    },
    /// Schedules: list, show, create, edit, pause, resume, run-now, backfill (over the API).
    Schedules {
        #[command(flatten)]
        api: cli::ApiArgs,
        #[command(subcommand)]
        command: Box<cli::SchedulesCommand>,
    },
    /// Local users of the web UI (in the database).
    Users {
        #[command(subcommand)]
        command: cli::UsersCommand,
    },
    /// API tokens for the CLI and automation (in the database).
    Tokens {
        #[command(subcommand)]
        command: cli::TokensCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("queue-admin: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("queue-admin: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let load = || -> anyhow::Result<Settings> {
        Settings::load(cli.config.as_deref()).map_err(|error| anyhow::anyhow!("{error}"))
    };
    match cli.command {
        Command::Serve => {
            let settings = load()?;
            tributary_runtime::telemetry::init_logging(&settings.log);
            let app = AdminApp::build(settings).await?;
            println!("queue-admin listening on http://{}/", app.local_addr());
            app.run_until_stopped(shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let settings = load()?;
            let store = tributary_queue_admin::app::connect_store(&settings).await?;
            let applied = store.migrate().await.context("migration failed")?;
            println!("applied {} migration(s)", applied.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => {
            let settings = load()?;
            let problems = settings.validate();
            if problems.is_empty() {
                println!("settings are valid");
                Ok(ExitCode::SUCCESS)
            } else {
                for problem in problems {
                    println!("{problem}");
                }
                Ok(ExitCode::FAILURE)
            }
        }
        Command::Overview(api) => cli::overview(&api).await,
        Command::Dlq { api, command } => cli::dlq(&api, *command).await,
        Command::Reconcile { api, command } => cli::reconcile(&api, command).await,
        Command::Sources { api, command } => cli::sources(&api, command).await,
        Command::Schedules { api, command } => cli::schedules(&api, *command).await,
        Command::Users { command } => cli::users(&load()?, command).await,
        Command::Tokens { command } => cli::tokens(&load()?, command).await,
    }
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
