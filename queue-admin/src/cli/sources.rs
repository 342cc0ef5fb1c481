//! `queue-admin sources list | pause | resume`: every (source, tenant) with its breaker, pending
//! dead letters and pause; pausing (reason required) and resuming, through the JSON API.

use super::ApiClient;
use crate::replay::sources::{Pause, SourceList};
use std::fmt::Write as _;
use std::process::ExitCode;

/// The commands.
#[derive(Debug, clap::Subcommand)]
pub enum SourcesCommand {
    /// Every (source, tenant) with a checkpoint, a breaker, a pending dead letter or a pause.
    List,
    /// Pause a source: workers pull nothing for it (their jobs wait, spending no attempt).
    Pause {
        /// The source id.
        source: String,
        /// Only this tenant (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Why (required; shown to operators and in the waiting jobs' errors).
        #[arg(long)]
        reason: String,
    },
    /// Lift a pause.
    Resume {
        /// The source id.
        source: String,
        /// The tenant whose pause to lift (default: the pause of every tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Why (optional).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Runs one.
pub async fn run(client: &ApiClient, command: SourcesCommand) -> anyhow::Result<ExitCode> {
    match command {
        SourcesCommand::List => {
            let list: SourceList = client.get("/api/v1/sources", &[]).await?;
            if client.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print!("{}", render_list(&list));
            }
        }
        SourcesCommand::Pause {
            source,
            tenant,
            reason,
        } => {
            let pause: Pause = client
                .post(
                    &format!("/api/v1/sources/{}/pause", path_segment(&source)),
                    &serde_json::json!({"tenant": tenant, "reason": reason}),
                )
                .await?;
            if client.json {
                println!("{}", serde_json::to_string_pretty(&pause)?);
            } else {
                println!(
                    "paused {} for {}: {}",
                    pause.source,
                    scope(&pause.tenant),
                    pause.reason
                );
            }
        }
        SourcesCommand::Resume {
            source,
            tenant,
            reason,
        } => {
            let lifted: Pause = client
                .post(
                    &format!("/api/v1/sources/{}/resume", path_segment(&source)),
                    &serde_json::json!({"tenant": tenant, "reason": reason}),
                )
                .await?;
            if client.json {
                println!("{}", serde_json::to_string_pretty(&lifted)?);
            } else {
                println!(
                    "resumed {} for {} (paused by {}: {})",
                    lifted.source,
                    scope(&lifted.tenant),
                    lifted.paused_by,
                    lifted.reason
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn scope(tenant: &str) -> String {
    if tenant == tributary_store::ALL_TENANTS {
        "every tenant".to_owned()
    } else {
        format!("tenant {tenant}")
    }
}

/// A source id inside a URL path (ids are `[A-Za-z0-9._-]`, but a typo must not change the
/// path).
fn path_segment(text: &str) -> String {
    crate::overview::url_escape(text)
}

/// The sources as a table.
pub fn render_list(list: &SourceList) -> String {
    let mut out = String::new();
    if list.items.is_empty() {
        out.push_str("no source has run yet\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<24}  {:<16}  {:<9}  {:>7}  {:<8}  WHY",
        "SOURCE", "TENANT", "BREAKER", "PENDING", "PAUSED"
    );
    for row in &list.items {
        let why = match (&row.pause, &row.breaker_reason) {
            (Some(pause), _) => format!("paused by {}: {}", pause.paused_by, pause.reason),
            (None, Some(reason)) => reason.clone(),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "{:<24}  {:<16}  {:<9}  {:>7}  {:<8}  {}",
            row.source,
            row.tenant,
            row.breaker_state.as_deref().unwrap_or("-"),
            row.pending_dead_letters,
            if row.paused { "yes" } else { "no" },
            why
        );
    }
    out
}
