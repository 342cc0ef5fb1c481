//! (being written) `queue-admin tokens` commands, directly on the database.

use std::process::ExitCode;

/// The commands.
#[derive(Debug, clap::Subcommand)]
pub enum TokensCommand {}

/// Runs one.
pub async fn run(_settings: &crate::Settings, command: TokensCommand) -> anyhow::Result<ExitCode> {
    match command {}
}
