//! `queue-admin dlq replay | replays | replay-status | edit | discard | audit`: changing dead
//! letters through the JSON API (the same checks, roles and audit rows as the web UI). `replay`
//! and `discard` print the dry run and change nothing without `--yes`.

use super::dlq_read::DlqFilterArgs;
use super::ApiClient;
use crate::dlq::filter_query::FilterQuery;
use crate::replay::api::{CreatedReplay, Discarded, Edit, Preview, ReplayBatch, ReplayBatchPage};
use crate::replay::audit::AuditPage;
use crate::replay::diff;
use anyhow::Context;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tributary_store::admin::DeadLetterFilter;

/// The changing commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Replay the pending letters matching a filter. Prints the dry run (count, how they split,
    /// a sample) and stops there unless --yes.
    Replay {
        /// Which letters (only pending ones are replayed).
        #[command(flatten)]
        filter: DlqFilterArgs,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: Option<String>,
        /// Also replay looping letters (replayed up to the loop limit without success).
        #[arg(long)]
        force: bool,
        /// Replay every pending letter (needed when no filter flag narrows the selection).
        #[arg(long)]
        all: bool,
        /// Replay for real (without it, only the dry run is shown).
        #[arg(long)]
        yes: bool,
        /// Follow the batch until every replay is published and every replay job finished.
        #[arg(long)]
        wait: bool,
    },
    /// Replay batches, newest first, with their progress.
    Replays {
        /// The next page: batches older than this id.
        #[arg(long)]
        after: Option<i64>,
        /// Page size (1 to 200).
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One replay batch's progress.
    ReplayStatus {
        /// The batch id.
        id: i64,
        /// Follow it until every replay is published and every replay job finished.
        #[arg(long)]
        wait: bool,
    },
    /// Store a new version of a pending letter's payload (the original is kept); prints the
    /// diff. A replay then sends the new version.
    Edit {
        /// The letter's id.
        id: i64,
        /// The new payload: a JSON job envelope (`-` reads standard input).
        #[arg(long)]
        file: PathBuf,
        /// Why (required).
        #[arg(long)]
        reason: String,
        /// Refuse if the letter was edited since this version (0: the original).
        #[arg(long)]
        base_version: Option<i32>,
    },
    /// Discard the pending letters matching a filter, with a reason. Prints how many would be
    /// discarded and stops there unless --yes.
    Discard {
        /// Which letters (only pending ones are discarded).
        #[command(flatten)]
        filter: DlqFilterArgs,
        /// Why (required).
        #[arg(long)]
        reason: String,
        /// Discard every pending letter (needed when no filter flag narrows the selection).
        #[arg(long)]
        all: bool,
        /// Discard for real.
        #[arg(long)]
        yes: bool,
    },
    /// The audit log, newest first.
    Audit {
        /// Only this action (`dead_letter.replay`, `source.pause`, ...).
        #[arg(long)]
        action: Option<String>,
        /// Only this actor (`user:alice`, `token:ci`, ...).
        #[arg(long)]
        actor: Option<String>,
        /// Only this target (`dead_letter:42`, ...).
        #[arg(long)]
        target: Option<String>,
        /// The next page: entries older than this id.
        #[arg(long)]
        after: Option<i64>,
        /// Page size (1 to 200).
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

/// Runs one.
pub async fn run(client: &ApiClient, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Replay {
            filter,
            reason,
            force,
            all,
            yes,
            wait,
        } => {
            let preview: Preview = client
                .get("/api/v1/replays/preview", &filter.query_pairs())
                .await?;
            if !yes {
                if client.json {
                    println!("{}", serde_json::to_string_pretty(&preview)?);
                } else {
                    print!("{}", render_preview(&preview));
                    println!("dry run only: nothing changed; add --yes to replay");
                }
                return Ok(ExitCode::SUCCESS);
            }
            let body = serde_json::json!({
                "filter": filter_of(&filter)?,
                "reason": reason,
                "force": force,
                "all": all,
            });
            let created: CreatedReplay = client.post("/api/v1/replays", &body).await?;
            if client.json {
                println!("{}", serde_json::to_string_pretty(&created)?);
            } else {
                print!("{}", render_created(&created));
            }
            if wait {
                return follow(client, created.batch_id).await;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Replays { after, limit } => {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(after) = after {
                query.push(("after", after.to_string()));
            }
            let page: ReplayBatchPage = client.get("/api/v1/replays", &query).await?;
            if client.json {
                println!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                print!("{}", render_batches(&page));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::ReplayStatus { id, wait } => {
            if wait {
                return follow(client, id).await;
            }
            let batch: ReplayBatch = client.get(&format!("/api/v1/replays/{id}"), &[]).await?;
            if client.json {
                println!("{}", serde_json::to_string_pretty(&batch)?);
            } else {
                print!("{}", render_batch(&batch));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Edit {
            id,
            file,
            reason,
            base_version,
        } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?
            };
            let payload: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let body = serde_json::json!({
                "payload": payload,
                "reason": reason,
                "base_version": base_version,
            });
            let edit: Edit = client
                .post(&format!("/api/v1/dead-letters/{id}/edits"), &body)
                .await?;
            if client.json {
                println!("{}", serde_json::to_string_pretty(&edit)?);
            } else {
                println!("dead letter {id}: saved version {}", edit.version);
                print!("{}", diff::render_text(&edit.diff));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Discard {
            filter,
            reason,
            all,
            yes,
        } => {
            if !yes {
                let preview: Preview = client
                    .get("/api/v1/replays/preview", &filter.query_pairs())
                    .await?;
                let pending = preview.replayable + preview.looping + preview.unparseable;
                println!(
                    "{pending} pending letter(s) of {} matching would be discarded",
                    preview.matching
                );
                println!("dry run only: nothing changed; add --yes to discard");
                return Ok(ExitCode::SUCCESS);
            }
            let body = serde_json::json!({
                "filter": filter_of(&filter)?,
                "reason": reason,
                "all": all,
            });
            let discarded: Discarded = client.post("/api/v1/dead-letters/discard", &body).await?;
            if client.json {
                println!("{}", serde_json::to_string_pretty(&discarded)?);
            } else {
                println!("discarded {} letter(s)", discarded.count);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            action,
            actor,
            target,
            after,
            limit,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            for (key, value) in [("action", action), ("actor", actor), ("target", target)] {
                if let Some(value) = value {
                    query.push((key, value));
                }
            }
            if let Some(after) = after {
                query.push(("after", after.to_string()));
            }
            let page: AuditPage = client.get("/api/v1/audit", &query).await?;
            if client.json {
                println!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                print!("{}", render_audit(&page));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The filter flags as the JSON filter the API takes (parsed exactly as the server parses a
/// query string, so a bad flag is reported the same way).
fn filter_of(args: &DlqFilterArgs) -> anyhow::Result<DeadLetterFilter> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in args.query_pairs() {
        query.append_pair(key, &value);
    }
    FilterQuery::parse(&query.finish())
        .map(|parsed| parsed.filter)
        .map_err(|error| anyhow::anyhow!("{error}"))
}

/// Polls a batch until it is published and no replay job is in flight; prints each change.
/// Fails (exit 1) when a replay job died again.
async fn follow(client: &ApiClient, id: i64) -> anyhow::Result<ExitCode> {
    let mut last = String::new();
    loop {
        let batch: ReplayBatch = client.get(&format!("/api/v1/replays/{id}"), &[]).await?;
        let line = progress_line(&batch);
        if line != last {
            println!("{line}");
            last = line;
        }
        if batch.state == "done" && batch.in_flight == 0 {
            return Ok(if batch.dead > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn progress_line(batch: &ReplayBatch) -> String {
    let mut line = format!(
        "batch {}: published {}/{}, in flight {}, succeeded {}, dead {}",
        batch.id, batch.published, batch.total, batch.in_flight, batch.succeeded, batch.dead
    );
    if let Some(error) = &batch.last_error {
        let _ = write!(line, " (retrying: {error})");
    }
    line
}

/// A dry run as text.
pub fn render_preview(preview: &Preview) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} letter(s) match: {} would be replayed, {} looping (only with --force), {} not a job \
         (edit first), {} already replayed, {} discarded",
        preview.matching,
        preview.replayable,
        preview.looping,
        preview.unparseable,
        preview.already_replayed,
        preview.discarded
    );
    if preview.replayable + preview.looping > preview.max_letters {
        let _ = writeln!(
            out,
            "too many: one replay takes at most {}; narrow the filter",
            preview.max_letters
        );
    }
    if !preview.sample.is_empty() {
        let _ = writeln!(
            out,
            "{:>9}  {:<11}  {:<14}  {:<12}  {:<13}  {:>3}  REASON",
            "ID", "VERDICT", "CONNECTOR", "TENANT", "CLASS", "GEN"
        );
        for letter in preview.sample.iter().take(20) {
            let _ = writeln!(
                out,
                "{:>9}  {:<11}  {:<14}  {:<12}  {:<13}  {:>3}  {}",
                letter.id,
                letter.verdict,
                cell(letter.connector.as_deref().unwrap_or("-"), 14),
                cell(letter.tenant.as_deref().unwrap_or("-"), 12),
                cell(&letter.class, 13),
                letter.replay_generation,
                cell(&letter.reason, 80),
            );
        }
        if preview.matching > preview.sample.len().min(20) as i64 {
            let _ = writeln!(out, "(sample of the newest; {} in all)", preview.matching);
        }
    }
    out
}

fn render_created(created: &CreatedReplay) -> String {
    let mut out = format!(
        "batch {}: {} letter(s) replayed; publishing in the background\n",
        created.batch_id, created.total
    );
    if created.skipped_looping > 0 {
        let _ = writeln!(
            out,
            "left out: {} looping letter(s) (replay them with --force)",
            created.skipped_looping
        );
    }
    for skipped in &created.skipped_unparseable {
        let _ = writeln!(out, "left out: letter {}: {}", skipped.id, skipped.why);
    }
    let _ = writeln!(
        out,
        "follow it: queue-admin dlq replay-status {} --wait",
        created.batch_id
    );
    out
}

fn render_batches(page: &ReplayBatchPage) -> String {
    let mut out = String::new();
    if page.items.is_empty() {
        out.push_str("nothing was replayed yet\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>7}  {:<19}  {:<20}  {:>9}  {:>7}  {:>7}  {:>9}  REASON",
        "BATCH", "CREATED (UTC)", "WHO", "PUBLISHED", "OK", "DEAD", "IN FLIGHT"
    );
    for batch in &page.items {
        let _ = writeln!(
            out,
            "{:>7}  {:<19}  {:<20}  {:>9}  {:>7}  {:>7}  {:>9}  {}",
            batch.id,
            batch.created_at.format("%Y-%m-%d %H:%M:%S"),
            cell(&batch.actor, 20),
            format!("{}/{}", batch.published, batch.total),
            batch.succeeded,
            batch.dead,
            batch.in_flight,
            cell(batch.reason.as_deref().unwrap_or(""), 60),
        );
    }
    if let Some(next) = page.next {
        let _ = writeln!(out, "more: --after {next}");
    }
    out
}

fn render_batch(batch: &ReplayBatch) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", progress_line(batch));
    let _ = writeln!(
        out,
        "created {} by {}{}",
        batch.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        batch.actor,
        batch
            .reason
            .as_deref()
            .map(|reason| format!(": {reason}"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "filter: {}", batch.filter);
    for replay in &batch.replays {
        let _ = writeln!(
            out,
            "  letter {:>9}  job {}  {:<9}  {}{}",
            replay.dead_letter_id,
            replay.job_id,
            replay.state,
            replay.job_status.as_deref().unwrap_or("-"),
            replay
                .last_error
                .as_deref()
                .map(|error| format!("  ({} failed: {error})", replay.publish_attempts))
                .unwrap_or_default()
        );
    }
    out
}

fn render_audit(page: &AuditPage) -> String {
    let mut out = String::new();
    if page.items.is_empty() {
        out.push_str("no audit entry matches\n");
        return out;
    }
    for entry in &page.items {
        let _ = write!(
            out,
            "{:>7}  {}  {:<24}  {:<20}",
            entry.id,
            entry.at.format("%Y-%m-%d %H:%M:%S"),
            cell(&entry.actor, 24),
            entry.action
        );
        if let Some(target) = &entry.target {
            let _ = write!(out, "  {target}");
        } else if let Some(filter) = &entry.filter {
            let _ = write!(out, "  filter {filter}");
        }
        if let Some(count) = entry.count {
            let _ = write!(out, "  ×{count}");
        }
        if let Some(reason) = &entry.reason {
            let _ = write!(out, "  “{}”", cell(reason, 80));
        }
        out.push('\n');
    }
    if let Some(next) = page.next {
        let _ = writeln!(out, "more: --after {next}");
    }
    out
}

/// Cuts `text` to `chars` characters on one line.
fn cell(text: &str, chars: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= chars {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_flags_become_the_api_filter() {
        let args = DlqFilterArgs {
            class: Some("auth".into()),
            ids: vec![4, 5],
            status: Some("any".into()),
            ..Default::default()
        };
        let filter = filter_of(&args).unwrap();
        assert_eq!(filter.class.as_deref(), Some("auth"));
        assert_eq!(filter.ids, Some(vec![4, 5]));
        assert_eq!(filter.status, None);
        let bad = DlqFilterArgs {
            since: Some("yesterday".into()),
            ..Default::default()
        };
        assert!(filter_of(&bad)
            .unwrap_err()
            .to_string()
            .starts_with("since:"));
    }
}
