//! The queue overview: per queue depth, unacknowledged, consumers and rates (from the broker's
//! management API), waiting jobs per connector with the oldest one's age (from the ledger),
//! pending dead letters per class, and sources in cool-down, needing attention or paused.

use crate::auth::Viewer;
use crate::error::{ApiResult, PageResult};
use crate::management::QueueStats;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use maud::html;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Everything on the overview page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Overview {
    /// Our queues as the broker reports them; empty when the management API is not configured
    /// or did not answer (see `broker_error`).
    pub queues: Vec<QueueStats>,
    /// Why `queues` is empty, when it is for a reason.
    pub broker_error: Option<String>,
    /// Waiting jobs per connector (ledger).
    pub waiting: Vec<Waiting>,
    /// Pending dead letters per class.
    pub dead_letters: Vec<DeadLetterClass>,
    /// Sources whose breaker is open or half-open, or that need attention.
    pub breakers: Vec<Breaker>,
    /// Paused sources.
    pub paused: Vec<Paused>,
}

/// Waiting jobs of one connector.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Waiting {
    /// Connector kind.
    pub connector: String,
    /// Jobs queued, retrying or snoozed.
    pub jobs: i64,
    /// Age of the oldest, in seconds.
    pub oldest_seconds: f64,
}

/// Pending dead letters of one class.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterClass {
    /// Failure class.
    pub class: String,
    /// Letters pending.
    pub letters: i64,
    /// Age of the oldest, in seconds.
    pub oldest_seconds: f64,
}

/// A source in cool-down or needing attention.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Breaker {
    /// Tenant.
    pub tenant: String,
    /// Source.
    pub source: String,
    /// `open`, `half_open` or `closed` (closed but needing attention).
    pub state: String,
    /// Why.
    pub reason: Option<String>,
}

/// A paused source.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Paused {
    /// Source.
    pub source: String,
    /// Tenant, or `*` for all.
    pub tenant: String,
    /// Why.
    pub reason: String,
    /// Who paused it.
    pub paused_by: String,
    /// When.
    pub paused_at: DateTime<Utc>,
}

/// Gathers the overview. The broker part is best effort: its failure is reported, not fatal.
pub async fn gather(state: &AppState) -> Result<Overview, crate::error::AdminError> {
    let store = state.store();
    let (queues, broker_error) = match state.management() {
        None => (
            Vec::new(),
            Some("amqp.management_url is not configured".to_owned()),
        ),
        Some(management) => match management
            .queues(&format!("{}.", state.topology().prefix()))
            .await
        {
            Ok(queues) => (queues, None),
            Err(error) => (Vec::new(), Some(format!("{error:#}"))),
        },
    };
    let waiting = store
        .waiting_jobs()
        .await?
        .into_iter()
        .map(|row| Waiting {
            connector: row.connector,
            jobs: row.jobs,
            oldest_seconds: row.oldest_seconds,
        })
        .collect();
    let dead_letters = store
        .pending_dead_letters()
        .await?
        .into_iter()
        .map(|row| DeadLetterClass {
            class: row.class,
            letters: row.letters,
            oldest_seconds: row.oldest_seconds,
        })
        .collect();
    let breakers = store
        .open_breakers()
        .await?
        .into_iter()
        .map(|row| Breaker {
            tenant: row.tenant,
            source: row.source,
            state: row.state,
            reason: row.reason,
        })
        .collect();
    let paused = store
        .source_pauses()
        .await?
        .into_iter()
        .map(|row| Paused {
            source: row.source,
            tenant: row.tenant,
            reason: row.reason,
            paused_by: row.paused_by,
            paused_at: row.paused_at,
        })
        .collect();
    Ok(Overview {
        queues,
        broker_error,
        waiting,
        dead_letters,
        breakers,
        paused,
    })
}

/// The overview as JSON.
#[utoipa::path(get, path = "/api/v1/overview", tag = "overview",
    responses((status = 200, description = "Queues, waiting jobs, pending dead letters, sources", body = Overview)))]
async fn overview_api(State(state): State<AppState>, _viewer: Viewer) -> ApiResult<Overview> {
    Ok(Json(gather(&state).await?))
}

async fn overview_page(State(state): State<AppState>, Viewer(principal): Viewer) -> PageResult {
    let overview = gather(&state).await?;
    let pending: i64 = overview.dead_letters.iter().map(|row| row.letters).sum();
    let oldest = overview
        .dead_letters
        .iter()
        .map(|row| row.oldest_seconds)
        .fold(0.0, f64::max);
    let waiting: i64 = overview.waiting.iter().map(|row| row.jobs).sum();
    let body = html! {
        div.cards {
            div.card { div.muted { "Dead letters pending" } div.value { (pending) } }
            div.card { div.muted { "Oldest pending dead letter" } div.value { (seconds(oldest)) } }
            div.card { div.muted { "Jobs waiting" } div.value { (waiting) } }
            div.card { div.muted { "Sources in cool-down or paused" }
                div.value { (overview.breakers.len() + overview.paused.len()) } }
        }
        h2 { "Queues" }
        @if let Some(error) = &overview.broker_error {
            p.flash.bad { "Broker statistics unavailable: " (error) }
        }
        @if !overview.queues.is_empty() {
            table {
                thead { tr {
                    th { "Queue" } th { "Type" } th.num { "Ready" } th.num { "Unacked" }
                    th.num { "Consumers" } th.num { "Publish/s" } th.num { "Deliver/s" } th.num { "Ack/s" }
                } }
                tbody {
                    @for queue in &overview.queues {
                        tr {
                            td { code { (queue.name) } }
                            td { (queue.kind) }
                            td.num { (queue.ready) }
                            td.num { (queue.unacked) }
                            td.num.bad[queue.consumers == 0 && queue.name.contains(".work.")] { (queue.consumers) }
                            td.num { (format!("{:.1}", queue.publish_rate)) }
                            td.num { (format!("{:.1}", queue.deliver_rate)) }
                            td.num { (format!("{:.1}", queue.ack_rate)) }
                        }
                    }
                }
            }
        }
        h2 { "Waiting jobs (ledger)" }
        @if overview.waiting.is_empty() { p.muted { "No job is waiting." } } @else {
            table {
                thead { tr { th { "Connector" } th.num { "Jobs waiting" } th.num { "Oldest" } } }
                tbody { @for row in &overview.waiting {
                    tr { td { (row.connector) } td.num { (row.jobs) } td.num { (seconds(row.oldest_seconds)) } }
                } }
            }
        }
        h2 { "Pending dead letters by class" }
        @if overview.dead_letters.is_empty() { p.muted { "No dead letter is pending." } } @else {
            table {
                thead { tr { th { "Class" } th.num { "Letters" } th.num { "Oldest" } } }
                tbody { @for row in &overview.dead_letters {
                    tr {
                        td { a href=(format!("/dead-letters?status=pending&class={}", url_escape(&row.class))) { (row.class) } }
                        td.num { (row.letters) }
                        td.num { (seconds(row.oldest_seconds)) }
                    }
                } }
            }
        }
        h2 { "Sources in cool-down, needing attention, or paused" }
        @if overview.breakers.is_empty() && overview.paused.is_empty() {
            p.muted { "Every source is flowing." }
        } @else {
            table {
                thead { tr { th { "Source" } th { "Tenant" } th { "State" } th { "Why" } } }
                tbody {
                    @for row in &overview.paused {
                        tr { td { (row.source) } td { (row.tenant) } td { span.badge.warn { "paused" } }
                             td { (row.reason) " — " (row.paused_by) ", " (crate::ui::time(row.paused_at)) } }
                    }
                    @for row in &overview.breakers {
                        tr { td { (row.source) } td { (row.tenant) } td { span.badge.bad { (row.state) } }
                             td { (row.reason.as_deref().unwrap_or("")) } }
                    }
                }
            }
        }
    };
    Ok(crate::ui::page("Overview", "/", &principal, body))
}

/// The overview as text, for the CLI.
pub fn render_text(overview: &Overview) -> String {
    let mut out = String::new();
    if let Some(error) = &overview.broker_error {
        let _ = writeln!(out, "broker statistics unavailable: {error}");
    }
    if !overview.queues.is_empty() {
        let _ = writeln!(
            out,
            "{:<48} {:>9} {:>9} {:>9} {:>10}",
            "QUEUE", "READY", "UNACKED", "CONSUMERS", "PUBLISH/S"
        );
        for queue in &overview.queues {
            let _ = writeln!(
                out,
                "{:<48} {:>9} {:>9} {:>9} {:>10.1}",
                queue.name, queue.ready, queue.unacked, queue.consumers, queue.publish_rate
            );
        }
    }
    let _ = writeln!(out, "\nwaiting jobs:");
    for row in &overview.waiting {
        let _ = writeln!(
            out,
            "  {:<24} {:>9}  oldest {}",
            row.connector,
            row.jobs,
            seconds(row.oldest_seconds)
        );
    }
    let _ = writeln!(out, "\npending dead letters:");
    for row in &overview.dead_letters {
        let _ = writeln!(
            out,
            "  {:<24} {:>9}  oldest {}",
            row.class,
            row.letters,
            seconds(row.oldest_seconds)
        );
    }
    for row in &overview.paused {
        let _ = writeln!(
            out,
            "paused: {} (tenant {}): {} — {}",
            row.source, row.tenant, row.reason, row.paused_by
        );
    }
    for row in &overview.breakers {
        let _ = writeln!(
            out,
            "{}: {} (tenant {}): {}",
            row.state,
            row.source,
            row.tenant,
            row.reason.as_deref().unwrap_or("")
        );
    }
    out
}

fn seconds(value: f64) -> String {
    crate::ui::age(chrono::TimeDelta::milliseconds((value * 1000.0) as i64))
}

/// Escapes a value for a query string.
pub fn url_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The JSON API route.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(overview_api))
}

/// The web UI route.
pub fn ui_routes() -> Router<AppState> {
    Router::new().route("/", get(overview_page))
}
