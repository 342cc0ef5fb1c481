//! `queue-admin dlq list | groups | show`: reading dead letters through the JSON API. Human
//! tables by default, the API's JSON with `--json`. [`DlqFilterArgs`] is the one set of filter
//! flags, shared with the replay and discard commands.

use super::ApiClient;
use crate::dlq::wire::{DeadLetterPage, DeadLetterView, GroupList, PayloadEncoding};
use clap::Args;
use std::fmt::Write as _;
use std::process::ExitCode;

/// Which dead letters: the same filter as the web UI's form and the API's query string.
#[derive(Debug, Clone, Default, Args)]
pub struct DlqFilterArgs {
    /// `pending`, `replayed`, `discarded` or `any` (default: any).
    #[arg(long)]
    pub status: Option<String>,
    /// Connector kind.
    #[arg(long)]
    pub connector: Option<String>,
    /// Tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Source instance.
    #[arg(long)]
    pub source: Option<String>,
    /// Failure class (`permanent`, `auth`, `exhausted`, `malformed_job`, ...).
    #[arg(long)]
    pub class: Option<String>,
    /// Error signature (from `dlq groups`).
    #[arg(long)]
    pub signature: Option<String>,
    /// Full-text search over the error text: words, "a phrase", -excluded, or.
    #[arg(long)]
    pub search: Option<String>,
    /// Stored at or after (`2026-12-05` or RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Stored before (`2026-12-05` or RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// At least this many attempts.
    #[arg(long)]
    pub min_attempts: Option<i32>,
    /// At most this many attempts.
    #[arg(long)]
    pub max_attempts: Option<i32>,
    /// Exactly these letters (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub ids: Vec<i64>,
}

impl DlqFilterArgs {
    /// The filter as API query pairs (the names `FilterQuery` parses).
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        let text = [
            ("status", &self.status),
            ("connector", &self.connector),
            ("tenant", &self.tenant),
            ("source", &self.source),
            ("class", &self.class),
            ("signature", &self.signature),
            ("q", &self.search),
            ("since", &self.since),
            ("until", &self.until),
        ];
        for (key, value) in text {
            if let Some(value) = value {
                pairs.push((key, value.clone()));
            }
        }
        for (key, value) in [
            ("min_attempts", self.min_attempts),
            ("max_attempts", self.max_attempts),
        ] {
            if let Some(value) = value {
                pairs.push((key, value.to_string()));
            }
        }
        if !self.ids.is_empty() {
            let ids: Vec<String> = self.ids.iter().map(i64::to_string).collect();
            pairs.push(("ids", ids.join(",")));
        }
        pairs
    }
}

/// The reading commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Dead letters under a filter, newest first, one page.
    List {
        /// Which letters.
        #[command(flatten)]
        filter: DlqFilterArgs,
        /// The next page: letters older than this id (printed at the end of a page).
        #[arg(long)]
        after: Option<i64>,
        /// Page size (1 to 200).
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Dead letters under a filter grouped by error signature, with counts and first/last seen.
    Groups {
        /// Which letters.
        #[command(flatten)]
        filter: DlqFilterArgs,
        /// Most letters first instead of last seen first.
        #[arg(long)]
        largest: bool,
        /// Most groups (1 to 200).
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One dead letter in full: envelope, headers, payload, attempts, lineage, edits.
    Show {
        /// The letter's id.
        id: i64,
    },
}

/// Runs one.
pub async fn run(client: &ApiClient, command: Command) -> anyhow::Result<ExitCode> {
    print!("{}", output(client, command).await?);
    Ok(ExitCode::SUCCESS)
}

/// What a command prints: the API's JSON with `--json`, else a table.
pub async fn output(client: &ApiClient, command: Command) -> anyhow::Result<String> {
    let text = match command {
        Command::List {
            filter,
            after,
            limit,
        } => {
            let mut query = filter.query_pairs();
            if let Some(after) = after {
                query.push(("after", after.to_string()));
            }
            query.push(("limit", limit.to_string()));
            let page: DeadLetterPage = client.get("/api/v1/dead-letters", &query).await?;
            if client.json {
                serde_json::to_string_pretty(&page)? + "\n"
            } else {
                render_list(&page)
            }
        }
        Command::Groups {
            filter,
            largest,
            limit,
        } => {
            let mut query = filter.query_pairs();
            query.push(("sort", if largest { "largest" } else { "recent" }.into()));
            query.push(("limit", limit.to_string()));
            let groups: GroupList = client.get("/api/v1/dead-letters/groups", &query).await?;
            if client.json {
                serde_json::to_string_pretty(&groups)? + "\n"
            } else {
                render_groups(&groups)
            }
        }
        Command::Show { id } => {
            let letter: DeadLetterView = client
                .get(&format!("/api/v1/dead-letters/{id}"), &[])
                .await?;
            if client.json {
                serde_json::to_string_pretty(&letter)? + "\n"
            } else {
                render_detail(&letter)
            }
        }
    };
    Ok(text)
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

fn time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A page of letters as a table.
pub fn render_list(page: &DeadLetterPage) -> String {
    let mut out = String::new();
    if page.items.is_empty() {
        out.push_str("no dead letter matches\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>9}  {:<19}  {:<9}  {:<14}  {:<12}  {:<13}  {:>4}  {:<10}  REASON",
        "ID", "STORED (UTC)", "STATUS", "CONNECTOR", "TENANT", "CLASS", "ATT", "SIGNATURE"
    );
    for item in &page.items {
        let status = if item.looping {
            format!("{}!", item.status)
        } else {
            item.status.clone()
        };
        let _ = writeln!(
            out,
            "{:>9}  {:<19}  {:<9}  {:<14}  {:<12}  {:<13}  {:>4}  {:<10}  {}",
            item.id,
            time(item.created_at),
            status,
            cell(item.connector.as_deref().unwrap_or("-"), 14),
            cell(item.tenant.as_deref().unwrap_or("-"), 12),
            cell(&item.class, 13),
            item.attempts,
            &item.signature[..item.signature.len().min(10)],
            cell(&item.reason, 100),
        );
    }
    if page.items.iter().any(|item| item.looping) {
        out.push_str("(! = looping: replayed up to the loop limit without success)\n");
    }
    match page.next {
        Some(next) => {
            let _ = writeln!(out, "more: --after {next}");
        }
        None => out.push_str("(end)\n"),
    }
    out
}

/// Groups as a table.
pub fn render_groups(groups: &GroupList) -> String {
    let mut out = String::new();
    if groups.items.is_empty() {
        out.push_str("no dead letter matches\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:>7}  {:<13}  {:<14}  {:<19}  {:<19}  {:<32}  MESSAGE",
        "COUNT", "CLASS", "CONNECTOR", "FIRST SEEN (UTC)", "LAST SEEN (UTC)", "SIGNATURE"
    );
    for group in &groups.items {
        let _ = writeln!(
            out,
            "{:>7}  {:<13}  {:<14}  {:<19}  {:<19}  {:<32}  {}",
            group.count,
            cell(&group.class, 13),
            cell(group.connector.as_deref().unwrap_or("-"), 14),
            time(group.first_seen),
            time(group.last_seen),
            group.signature,
            cell(&group.signature_text, 100),
        );
    }
    if groups.more {
        out.push_str("(more groups match: narrow the filter or raise --limit)\n");
    }
    out
}

/// One letter in full.
pub fn render_detail(letter: &DeadLetterView) -> String {
    let item = &letter.letter;
    let mut out = String::new();
    let dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "dead letter {}  [{}]{}",
        item.id,
        item.status,
        if item.looping { "  LOOPING" } else { "" }
    );
    let _ = writeln!(out, "class:       {}", item.class);
    let _ = writeln!(out, "reason:      {}", item.reason);
    let _ = writeln!(
        out,
        "signature:   {} ({})",
        letter.signature_text, item.signature
    );
    let _ = writeln!(
        out,
        "where:       connector {}, tenant {}, source {}, stream {}",
        dash(&item.connector),
        dash(&item.tenant),
        dash(&item.source),
        dash(&item.stream)
    );
    let _ = writeln!(
        out,
        "job:         {}",
        item.job_id
            .map(|id| id.to_string())
            .unwrap_or_else(|| "- (body did not parse)".into())
    );
    let _ = writeln!(
        out,
        "attempts:    {} (origin {}, HTTP {})",
        item.attempts,
        item.origin,
        item.http_status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into())
    );
    let _ = writeln!(
        out,
        "stored:      {} (arrived {} time(s), last {})",
        time(item.created_at),
        item.deliveries,
        time(item.last_seen_at)
    );
    let _ = writeln!(
        out,
        "queue:       {} (routing key {}), worker {}",
        dash(&letter.queue),
        dash(&letter.routing_key),
        dash(&letter.worker)
    );
    let _ = writeln!(out, "generation:  {}", item.replay_generation);
    if let Some(at) = letter.resolved_at {
        let _ = writeln!(
            out,
            "resolved:    {} by {}{}",
            time(at),
            dash(&letter.resolved_by),
            letter
                .resolution_reason
                .as_deref()
                .map(|reason| format!(": {reason}"))
                .unwrap_or_default()
        );
    }
    if let Some(replay) = &letter.replay {
        let _ = writeln!(
            out,
            "replay:      job {} (batch {}, {}, job {})",
            replay.job_id,
            replay.batch_id,
            replay.state,
            replay
                .job_status
                .as_deref()
                .unwrap_or("not in the ledger yet")
        );
    }
    if letter.lineage.len() > 1 {
        out.push_str("\nlineage (original → replays):\n");
        for step in &letter.lineage {
            let marker = if step.depth == 0 { "*" } else { " " };
            let _ = write!(
                out,
                " {marker} #{:<9} gen {:<2} {:<9} {}",
                step.dead_letter_id,
                step.replay_generation,
                step.status,
                cell(&step.reason, 80)
            );
            if let Some(replay) = &step.replay {
                let _ = write!(
                    out,
                    "  → job {} ({})",
                    replay.job_id,
                    replay.job_status.as_deref().unwrap_or(&replay.state)
                );
            }
            out.push('\n');
        }
    }
    if !letter.attempt_log.is_empty() {
        out.push_str("\nattempts:\n");
        let _ = writeln!(
            out,
            "  {:<19}  {:<8}  {:<9}  {:<14}  {:>9}  {:<10}  {:>4}  ERROR",
            "STARTED (UTC)", "JOB", "LETTER", "WORKER", "SECONDS", "OUTCOME", "HTTP"
        );
        for attempt in &letter.attempt_log {
            let _ = writeln!(
                out,
                "  {:<19}  {:<8}  {:<9}  {:<14}  {:>9.3}  {:<10}  {:>4}  {}",
                time(attempt.started_at),
                crate::dlq::pages::short_id(attempt.job_id),
                attempt
                    .dead_letter_id
                    .map(|id| format!("#{id}"))
                    .unwrap_or_else(|| "replay".into()),
                cell(&attempt.worker, 14),
                attempt.duration_ms as f64 / 1000.0,
                cell(&attempt.outcome, 10),
                attempt
                    .http_status
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                cell(
                    &format!(
                        "{}{}",
                        attempt
                            .error_class
                            .as_deref()
                            .map(|class| format!("[{class}] "))
                            .unwrap_or_default(),
                        attempt.error.as_deref().unwrap_or("")
                    ),
                    100
                ),
            );
        }
    }
    for edit in &letter.edits {
        let _ = writeln!(
            out,
            "\nedit v{} by {} at {}: {}\n{}",
            edit.version,
            edit.actor,
            time(edit.created_at),
            edit.reason,
            serde_json::to_string_pretty(&edit.diff).unwrap_or_default()
        );
    }
    if let Some(envelope) = &letter.envelope {
        let _ = writeln!(
            out,
            "\nenvelope:\n{}",
            serde_json::to_string_pretty(envelope).unwrap_or_default()
        );
    }
    let _ = writeln!(
        out,
        "\nheaders:\n{}",
        serde_json::to_string_pretty(&letter.headers).unwrap_or_default()
    );
    match letter.payload_encoding {
        PayloadEncoding::Utf8 => {
            let _ = writeln!(
                out,
                "\npayload ({} bytes):\n{}",
                letter.payload_bytes, letter.payload
            );
        }
        PayloadEncoding::Base64 => {
            let _ = writeln!(
                out,
                "\npayload ({} bytes, not UTF-8, base64):\n{}",
                letter.payload_bytes, letter.payload
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dlq::filter_query::FilterQuery;

    #[test]
    fn filter_flags_become_the_query_the_api_parses() {
        let args = DlqFilterArgs {
            status: Some("pending".into()),
            connector: Some("demo".into()),
            search: Some("timeout -tls".into()),
            since: Some("2026-12-01".into()),
            min_attempts: Some(2),
            ids: vec![3, 4],
            ..Default::default()
        };
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(args.query_pairs())
            .finish();
        let parsed = FilterQuery::parse(&query).unwrap();
        assert_eq!(parsed.filter.connector.as_deref(), Some("demo"));
        assert_eq!(parsed.filter.search.as_deref(), Some("timeout -tls"));
        assert_eq!(parsed.filter.min_attempts, Some(2));
        assert_eq!(parsed.filter.ids, Some(vec![3, 4]));
        assert!(parsed.filter.since.is_some());
        assert!(DlqFilterArgs::default().query_pairs().is_empty());
    }

    #[test]
    fn cells_are_one_line_and_bounded() {
        assert_eq!(cell("a\nb", 10), "a b");
        assert_eq!(cell("abcdef", 4), "abc…");
    }
}
