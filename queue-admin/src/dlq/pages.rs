//! The dead-letter pages: `/dead-letters` (filter form, results, keyset pager, selection for a
//! dry-run replay), `/groups` (failure groups by error signature) and `/dead-letters/{id}`
//! (everything about one letter). Filter forms use GET, so every view is a link that can be
//! shared. Every value is interpolated by maud, which escapes it: payloads and error text
//! cannot inject markup.

use super::filter_query::FilterQuery;
use super::wire::{DeadLetterItem, DeadLetterView, LineageItem, PayloadEncoding};
use crate::auth::{Principal, Role, Viewer};
use crate::error::PageResult;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use std::fmt::Write as _;
use tributary_store::admin::{DeadLetterStatus, GroupOrder};

/// Largest payload shown as a hex dump (bytes); the API has the whole of it.
const MAX_HEX_BYTES: usize = 64 * 1024;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dead-letters", get(list_page))
        .route("/groups", get(groups_page))
        .route("/dead-letters/{id}", get(detail_page))
}

fn query_pairs(pairs: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        out.append_pair(key, value);
    }
    out.finish()
}

/// `base?first&second`, leaving out empty parts.
fn link(base: &str, parts: &[&str]) -> String {
    let query: Vec<&str> = parts
        .iter()
        .copied()
        .filter(|part| !part.is_empty())
        .collect();
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", query.join("&"))
    }
}

fn status_badge(status: &str) -> Markup {
    let class = match status {
        "pending" => "badge warn",
        "replayed" => "badge ok",
        _ => "badge",
    };
    html! { span class=(class) { (status) } }
}

fn looping_badge(looping: bool, generation: i32) -> Markup {
    html! {
        @if looping {
            " "
            span.badge.bad title=(format!("replayed {generation} times without success")) { "looping" }
        }
    }
}

fn opt(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

/// The filter form shared by the list and the groups page.
fn filter_form(action: &str, query: &FilterQuery, extra: Markup) -> Markup {
    let filter = &query.filter;
    let status = filter.status.map(DeadLetterStatus::as_str).unwrap_or("any");
    let date = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map(|at| at.to_rfc3339()).unwrap_or_default()
    };
    let number = |value: Option<i32>| value.map(|v| v.to_string()).unwrap_or_default();
    html! {
        form.filters method="get" action=(action) {
            label { "Status"
                select name="status" {
                    @for option in ["pending", "replayed", "discarded", "any"] {
                        option value=(option) selected[option == status] { (option) }
                    }
                }
            }
            label { "Connector" input type="text" name="connector" size="12" value=(opt(&filter.connector)); }
            label { "Tenant" input type="text" name="tenant" size="12" value=(opt(&filter.tenant)); }
            label { "Source" input type="text" name="source" size="12" value=(opt(&filter.source)); }
            label { "Class" input type="text" name="class" size="12" value=(opt(&filter.class)); }
            label { "Search error text" input type="search" name="q" size="22" placeholder="timeout -tls \"page token\"" value=(opt(&filter.search)); }
            label { "Since" input type="text" name="since" size="11" placeholder="2026-12-05" value=(date(filter.since)); }
            label { "Until" input type="text" name="until" size="11" placeholder="2026-12-06" value=(date(filter.until)); }
            label { "Min attempts" input type="number" name="min_attempts" min="0" size="4" value=(number(filter.min_attempts)); }
            label { "Max attempts" input type="number" name="max_attempts" min="0" size="4" value=(number(filter.max_attempts)); }
            @if let Some(signature) = &filter.signature {
                label { "Signature" input type="text" name="signature" size="12" value=(signature); }
            }
            @if let Some(ids) = &filter.ids {
                @let joined: Vec<String> = ids.iter().map(i64::to_string).collect();
                label { "Ids" input type="text" name="ids" size="12" value=(joined.join(",")); }
            }
            (extra)
            button type="submit" { "Filter" }
            a href=(action) { "Reset" }
        }
    }
}

async fn list_page(
    State(state): State<AppState>,
    Viewer(principal): Viewer,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let query = super::page_query(raw.as_deref().unwrap_or(""))?;
    let page = super::list(&state, &query).await?;
    Ok(render_list(&principal, &query, &page.items, page.next))
}

/// The list page's markup (public so tests and benchmarks can render without a server).
pub fn render_list(
    principal: &Principal,
    query: &FilterQuery,
    items: &[DeadLetterItem],
    next: Option<i64>,
) -> Markup {
    let filter_qs = super::page_filter_query_string(query);
    let limit_qs = if query.limit == super::filter_query::DEFAULT_LIMIT {
        String::new()
    } else {
        format!("limit={}", query.limit)
    };
    let operator = principal.role >= Role::Operator;
    let rows = html! {
        table {
            thead { tr {
                @if operator { th { span.muted { "Select" } } }
                th.num { "Id" } th { "Stored" } th { "Connector / tenant / source" }
                th { "Class" } th { "Reason" } th.num { "Attempts" } th.num { "HTTP" }
                th { "Status" }
            } }
            tbody {
                @for item in items {
                    tr {
                        @if operator {
                            td { input type="checkbox" name="ids" value=(item.id) title=(format!("Select letter {}", item.id)); }
                        }
                        td.num { a href=(format!("/dead-letters/{}", item.id)) { (item.id) } }
                        td { (crate::ui::time(item.created_at))
                             @if item.deliveries > 1 { br; span.muted { "arrived " (item.deliveries) " times" } } }
                        td { (opt(&item.connector)) " / " (opt(&item.tenant)) " / " (opt(&item.source))
                             @if let Some(stream) = &item.stream { br; span.muted { (stream) } } }
                        td { span.badge { (item.class) } }
                        td {
                            (item.reason) @if item.reason_truncated { "…" }
                            br;
                            a.muted href=(link("/dead-letters", &[&query_pairs(&[("signature", &item.signature), ("status", "pending")])])) { "same signature" }
                        }
                        td.num { (item.attempts) }
                        td.num { @if let Some(status) = item.http_status { (status) } }
                        td { (status_badge(&item.status)) (looping_badge(item.looping, item.replay_generation)) }
                    }
                }
            }
        }
    };
    let body = html! {
        (filter_form("/dead-letters", query, html! {
            @if query.limit != super::filter_query::DEFAULT_LIMIT {
                input type="hidden" name="limit" value=(query.limit);
            }
        }))
        p.muted {
            a href=(link("/groups", &[&filter_qs])) { "Group these by error signature" }
            @if operator {
                " · "
                a href=(link("/replays/preview", &[&filter_qs])) {
                    "Replay or discard everything matching this filter…"
                }
            }
        }
        @if items.is_empty() {
            p.muted { "No dead letter matches." }
        } @else {
            @if operator {
                // The table inside a GET form: the checked rows go to the dry-run replay.
                form method="get" action="/replays/preview" {
                    (rows)
                    div.actions {
                        button type="submit" { "Dry-run replay of selected" }
                    }
                }
            } @else {
                (rows)
            }
        }
        div.pager {
            @if query.after.is_some() {
                a href=(link("/dead-letters", &[&filter_qs, &limit_qs])) { "← Newest" }
            }
            @if let Some(next) = next {
                a href=(link("/dead-letters", &[&filter_qs, &limit_qs, &format!("after={next}")])) { "Older →" }
            }
        }
    };
    crate::ui::page("Dead letters", "/dead-letters", principal, body)
}

async fn groups_page(
    State(state): State<AppState>,
    Viewer(principal): Viewer,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let raw = raw.as_deref().unwrap_or("");
    let order = super::group_order(raw)?;
    let query = super::page_query(raw)?;
    let groups = super::groups(&state, &query, order).await?;
    Ok(render_groups(&principal, &query, order, &groups))
}

/// The groups page's markup.
pub fn render_groups(
    principal: &Principal,
    query: &FilterQuery,
    order: GroupOrder,
    groups: &super::wire::GroupList,
) -> Markup {
    let operator = principal.role >= Role::Operator;
    // Each group's links keep the page's filter and add the group's signature, so the letters
    // listed (and replayed) are the ones counted here.
    let group_links: Vec<String> = groups
        .items
        .iter()
        .map(|group| {
            let mut group_query = query.clone();
            group_query.filter.signature = Some(group.signature.clone());
            super::page_filter_query_string(&group_query)
        })
        .collect();
    let more_link = link(
        "/groups",
        &[
            &super::page_filter_query_string(query),
            &format!(
                "sort={}&limit={}",
                order.as_str(),
                super::filter_query::MAX_LIMIT
            ),
        ],
    );
    let body = html! {
        (filter_form("/groups", query, html! {
            label { "Order"
                select name="sort" {
                    option value="recent" selected[order == GroupOrder::Recent] { "last seen first" }
                    option value="largest" selected[order == GroupOrder::Largest] { "largest first" }
                }
            }
        }))
        @if groups.items.is_empty() {
            p.muted { "No dead letter matches." }
        } @else {
            table {
                thead { tr {
                    th { "Class" } th { "Connector" } th { "Normalised message" } th.num { "Letters" }
                    th { "First seen" } th { "Last seen" } th { "" }
                } }
                tbody {
                    @for (group, group_qs) in groups.items.iter().zip(&group_links) {
                        tr {
                            td { span.badge { (group.class) } }
                            td { (opt(&group.connector)) }
                            td { code { (group.signature_text) } br;
                                 span.muted { "e.g. " a href=(format!("/dead-letters/{}", group.sample_id)) { "#" (group.sample_id) } ": " (group.sample_reason) } }
                            td.num { (group.count) }
                            td { (crate::ui::time(group.first_seen)) }
                            td { (crate::ui::time(group.last_seen)) }
                            td {
                                a href=(link("/dead-letters", &[group_qs])) { "Letters" }
                                @if operator {
                                    br;
                                    a href=(link("/replays/preview", &[group_qs])) { "Dry-run replay of this group" }
                                }
                            }
                        }
                    }
                }
            }
            @if groups.more {
                p.muted {
                    "More groups match than are shown. Narrow the filter"
                    @if query.limit < super::filter_query::MAX_LIMIT {
                        ", or " a href=(more_link) { "show up to " (super::filter_query::MAX_LIMIT) }
                    }
                    "."
                }
            }
        }
    };
    crate::ui::page("Failure groups", "/groups", principal, body)
}

async fn detail_page(
    State(state): State<AppState>,
    Viewer(principal): Viewer,
    Path(id): Path<String>,
) -> PageResult {
    let letter = super::detail(&state, &id).await?;
    Ok(render_detail(&principal, &letter))
}

/// The last 8 hex digits of an id (its random part, for UUIDv7), to tell jobs apart in a table.
pub fn short_id(id: uuid::Uuid) -> String {
    let simple = id.simple().to_string();
    simple[simple.len() - 8..].to_owned()
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// The payload: pretty JSON when it parses, else the text, else a hex dump.
fn payload_markup(letter: &DeadLetterView) -> Markup {
    let size = letter.payload_bytes;
    if letter.payload_encoding == PayloadEncoding::Utf8 {
        return match serde_json::from_str::<serde_json::Value>(&letter.payload) {
            Ok(value) => html! {
                p.muted { "JSON, " (size) " bytes (pretty-printed; the stored body is byte for byte the original)" }
                pre { (pretty(&value)) }
            },
            Err(error) => html! {
                p.muted { "Text, " (size) " bytes — not JSON: " (error) }
                pre { (letter.payload) }
            },
        };
    }
    let bytes = letter.decode_payload().unwrap_or_default();
    html! {
        p.muted { "Binary, " (size) " bytes (not UTF-8)"
            @if size > MAX_HEX_BYTES { "; the first " (MAX_HEX_BYTES) " shown (the API has all of it)" } }
        pre { (hex_dump(&bytes[..bytes.len().min(MAX_HEX_BYTES)])) }
    }
}

/// `offset  hex bytes  |ascii|`, 16 bytes a line.
fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 + 16);
    for (line, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "{:08x}  ", line * 16);
        for index in 0..16 {
            match chunk.get(index) {
                Some(byte) => {
                    let _ = write!(out, "{byte:02x} ");
                }
                None => out.push_str("   "),
            }
        }
        out.push_str(" |");
        for &byte in chunk {
            out.push(if byte.is_ascii_graphic() || byte == b' ' {
                byte as char
            } else {
                '.'
            });
        }
        out.push_str("|\n");
    }
    out
}

fn lineage_markup(lineage: &[LineageItem]) -> Markup {
    html! {
        ol {
            @for step in lineage {
                li {
                    @if step.depth == 0 {
                        strong { "#" (step.dead_letter_id) " (this letter)" }
                    } @else {
                        a href=(format!("/dead-letters/{}", step.dead_letter_id)) { "#" (step.dead_letter_id) }
                    }
                    " " (status_badge(&step.status))
                    " generation " (step.replay_generation) " · " (step.class) " · "
                    (crate::ui::time(step.created_at))
                    br;
                    span.muted { (step.reason) }
                    @if let Some(replay) = &step.replay {
                        br;
                        "→ replayed as job " code { (replay.job_id) }
                        " (batch " (replay.batch_id) ", " (replay.state)
                        @if let Some(status) = &replay.job_status { ", job " (status) }
                        ")"
                    }
                }
            }
        }
    }
}

/// The detail page's markup.
pub fn render_detail(principal: &Principal, letter: &DeadLetterView) -> Markup {
    let item = &letter.letter;
    let operator = principal.role >= Role::Operator;
    let title = format!("Dead letter {}", item.id);
    let body = html! {
        p {
            (status_badge(&item.status)) (looping_badge(item.looping, item.replay_generation))
            " " span.badge { (item.class) }
            @if let Some(status) = item.http_status { " " span.badge { "HTTP " (status) } }
        }
        pre { (item.reason) }
        @if operator && item.status == "pending" {
            div.actions {
                a href=(format!("/replays/preview?ids={}", item.id)) { "Dry-run replay of this letter" }
                a href=(format!("/dead-letters/{}/edit", item.id)) { "Edit the payload before replay" }
            }
        }
        table {
            tbody {
                tr { th { "Connector" } td { (opt(&item.connector)) } }
                tr { th { "Tenant" } td { (opt(&item.tenant)) } }
                tr { th { "Source" } td { (opt(&item.source)) } }
                tr { th { "Stream" } td { (opt(&item.stream)) } }
                tr { th { "Job" } td { @if let Some(job) = item.job_id { code { (job) } } @else { span.muted { "unknown (the body did not parse)" } } } }
                tr { th { "Origin" } td { (item.origin) } }
                tr { th { "Attempts" } td { (item.attempts) } }
                tr { th { "Arrived" } td { (item.deliveries) " time(s); first " (crate::ui::time(item.created_at)) ", last " (crate::ui::time(item.last_seen_at)) } }
                tr { th { "Queue / routing key" } td { (opt(&letter.queue)) " / " (opt(&letter.routing_key)) } }
                tr { th { "Worker" } td { (opt(&letter.worker)) } }
                tr { th { "Replay generation" } td { (item.replay_generation) } }
                tr { th { "Signature" } td {
                    code { (letter.signature_text) } br;
                    a href=(link("/dead-letters", &[&query_pairs(&[("signature", &item.signature), ("status", "pending")])])) { "Pending letters with this signature" }
                } }
                tr { th { "Dedup key" } td { code { (letter.dedup_key) } } }
                @if let Some(at) = letter.resolved_at {
                    tr { th { "Resolved" } td {
                        (crate::ui::time(at)) " by " (opt(&letter.resolved_by))
                        @if let Some(reason) = &letter.resolution_reason { br; "Reason: " (reason) }
                    } }
                }
            }
        }
        h2 { "Replay" }
        @if let Some(replay) = &letter.replay {
            p {
                "Replayed as job " code { (replay.job_id) } " in batch " (replay.batch_id)
                ", requested " (crate::ui::time(replay.created_at)) "; "
                @if let Some(at) = replay.published_at { "published " (crate::ui::time(at)) } @else { "not published yet" }
                @if let Some(status) = &replay.job_status { "; the job is " strong { (status) } }
                @if let Some(edit) = replay.edit_id { " (with payload edit " (edit) ")" }
            }
        } @else {
            p.muted { "Not replayed." }
        }
        h2 { "Lineage (original → replays)" }
        @if letter.lineage.len() <= 1 && letter.replay.is_none() {
            p.muted { "An original failure, not replayed." }
        } @else {
            (lineage_markup(&letter.lineage))
        }
        h2 { "Attempts" }
        @if letter.attempt_log.is_empty() {
            p.muted { "The ledger has no attempt for this letter's job." }
        } @else {
            table {
                thead { tr {
                    th { "Started" } th { "Job" } th { "Worker" } th.num { "Duration" } th { "Outcome" }
                    th { "Error class" } th { "Error" } th.num { "HTTP" }
                } }
                tbody {
                    @for attempt in &letter.attempt_log {
                        tr {
                            td { (crate::ui::time(attempt.started_at)) }
                            td {
                                // The tail: UUIDv7s of one day share their head (a time).
                                code title=(attempt.job_id) { "…" (short_id(attempt.job_id)) }
                                @if let Some(letter_id) = attempt.dead_letter_id {
                                    @if letter_id == item.id { br; span.muted { "this letter" } }
                                    @else { br; a href=(format!("/dead-letters/{letter_id}")) { "letter #" (letter_id) } }
                                } @else { br; span.muted { "replay job" } }
                            }
                            td { (attempt.worker) }
                            td.num { (format!("{:.3} s", attempt.duration_ms as f64 / 1000.0)) }
                            td { (attempt.outcome) }
                            td { (attempt.error_class.as_deref().unwrap_or("")) }
                            td { (attempt.error.as_deref().unwrap_or("")) }
                            td.num { @if let Some(status) = attempt.http_status { (status) } }
                        }
                    }
                }
            }
        }
        @if !letter.edits.is_empty() {
            h2 { "Payload edits" }
            @for edit in &letter.edits {
                p { "Version " (edit.version) " by " (edit.actor) ", " (crate::ui::time(edit.created_at)) ": " (edit.reason) }
                pre { (pretty(&edit.diff)) }
            }
        }
        h2 { "Envelope" }
        @if let Some(envelope) = &letter.envelope {
            pre { (pretty(envelope)) }
        } @else {
            p.muted { "The body did not parse as a job envelope." }
        }
        h2 { "Headers and properties" }
        pre { (pretty(&letter.headers)) }
        h2 { "Payload" }
        (payload_markup(letter))
    };
    crate::ui::page(&title, "/dead-letters", principal, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_dump_shows_offsets_bytes_and_printable_text() {
        let dump = hex_dump(b"\x00\xffab<script>\n");
        assert!(dump.starts_with("00000000  00 ff 61 62 3c"), "{dump}");
        assert!(dump.contains("|..ab<script>.|"), "{dump}");
    }

    #[test]
    fn links_leave_out_empty_parts() {
        assert_eq!(link("/x", &["", ""]), "/x");
        assert_eq!(link("/x", &["a=1", "", "b=2"]), "/x?a=1&b=2");
    }
}
