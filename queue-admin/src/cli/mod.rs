//! The CLI. Dead letters, sources, schedules and the overview go through the JSON API with a token (the
//! same checks, roles and audit rows as the web UI); users and tokens are managed directly in
//! the database, so the first admin can be created before anyone can sign in.

mod client;
pub mod dlq_read;
pub mod dlq_write;
pub mod reconcile;
pub mod schedules;
pub mod sources;
pub mod tokens;
pub mod users;

pub use client::{ApiArgs, ApiClient};
pub use reconcile::ReconcileCommand;
pub use schedules::SchedulesCommand;
pub use sources::SourcesCommand;
pub use tokens::TokensCommand;
pub use users::UsersCommand;

use clap::Subcommand;
use std::process::ExitCode;

/// `queue-admin dlq ...`
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Reading: list, groups, show.
    #[command(flatten)]
    Read(dlq_read::Command),
    /// Changing: replay, edit, discard, replay progress.
    #[command(flatten)]
    Write(dlq_write::Command),
}

/// Runs a `dlq` command.
pub async fn dlq(api: &ApiArgs, command: DlqCommand) -> anyhow::Result<ExitCode> {
    let client = ApiClient::new(api)?;
    match command {
        DlqCommand::Read(command) => dlq_read::run(&client, command).await,
        DlqCommand::Write(command) => dlq_write::run(&client, command).await,
    }
}

/// Runs a `reconcile` command.
pub async fn reconcile(api: &ApiArgs, command: ReconcileCommand) -> anyhow::Result<ExitCode> {
    let client = ApiClient::new(api)?;
    reconcile::run(&client, command).await
}

/// Runs a `sources` command.
pub async fn sources(api: &ApiArgs, command: SourcesCommand) -> anyhow::Result<ExitCode> {
    let client = ApiClient::new(api)?;
    sources::run(&client, command).await
}

/// Runs a `schedules` command.
pub async fn schedules(api: &ApiArgs, command: SchedulesCommand) -> anyhow::Result<ExitCode> {
    let client = ApiClient::new(api)?;
    schedules::run(&client, command).await
}

/// Runs a `users` command against the database.
pub async fn users(settings: &crate::Settings, command: UsersCommand) -> anyhow::Result<ExitCode> {
    users::run(settings, command).await
}

/// Runs a `tokens` command against the database.
pub async fn tokens(
    settings: &crate::Settings,
    command: TokensCommand,
) -> anyhow::Result<ExitCode> {
    tokens::run(settings, command).await
}

/// Prints the queue overview.
pub async fn overview(api: &ApiArgs) -> anyhow::Result<ExitCode> {
    let client = ApiClient::new(api)?;
    let overview: crate::overview::Overview = client.get("/api/v1/overview", &[]).await?;
    if api.json {
        println!("{}", serde_json::to_string_pretty(&overview)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", crate::overview::render_text(&overview));
    Ok(ExitCode::SUCCESS)
}

/// The current operating-system user, for `cli:<user>` audit actors.
pub fn os_actor() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}
