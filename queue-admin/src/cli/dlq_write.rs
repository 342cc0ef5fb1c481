//! (being written) `queue-admin dlq` commands.

use super::ApiClient;
use std::process::ExitCode;

/// The commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {}

/// Runs one.
pub async fn run(_client: &ApiClient, command: Command) -> anyhow::Result<ExitCode> {
    match command {}
}
