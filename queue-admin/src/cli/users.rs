//! (being written) `queue-admin users` commands, directly on the database.

use std::process::ExitCode;

/// The commands.
#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {}

/// Runs one.
pub async fn run(_settings: &crate::Settings, command: UsersCommand) -> anyhow::Result<ExitCode> {
    match command {}
}
