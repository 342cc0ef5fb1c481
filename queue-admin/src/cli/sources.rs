//! (being written) `queue-admin sources` commands.

use super::ApiClient;
use std::process::ExitCode;

/// The commands.
#[derive(Debug, clap::Subcommand)]
pub enum SourcesCommand {}

/// Runs one.
pub async fn run(_client: &ApiClient, command: SourcesCommand) -> anyhow::Result<ExitCode> {
    match command {}
}
