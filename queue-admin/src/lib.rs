//! queue-admin: find out what failed and why, and put it right — dead letters listed, searched,
//! grouped by error signature, inspected with every attempt and their lineage, edited, replayed
//! (dry run first, throttled, confirmed, never twice) or discarded; sources paused and resumed;
//! every change in an append-only audit log. The same operations through the web UI, the JSON
//! API (`/api/v1`, OpenAPI at `/api/v1/openapi.json`) and the CLI. `main.rs` is a thin CLI.
//!
//! Code map: [`config`], [`app`] (build, router, serve), [`state`], [`error`] (HTTP edge),
//! [`auth`] (deny by default: tokens, sessions, roles, CSRF), [`ui`] (page frame), [`overview`]
//! (queues, dead-letter counts, sources), [`dlq`] (browsing dead letters), [`replay`] (replay,
//! edit, discard, pause; the replay publisher; the audit log pages), [`schedules`] (list,
//! show, create, edit, pause, resume, run now, backfill), [`metrics`] (gauges for
//! alerting), [`management`] (RabbitMQ management API client), [`cli`] (commands over the API
//! and, for users and tokens, over the database).
//!
//! SQL lives in `tributary-store` (`admin` module); AMQP names and publishing in
//! `tributary-broker`. This crate knows no connector.
//!
//! [`reconciliation`] shows the reports reconcile runs wrote (read-only: list and detail with
//! findings by kind).

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod dlq;
pub mod error;
pub mod management;
pub mod metrics;
pub mod overview;
pub mod reconciliation;
pub mod replay;
pub mod schedules;
pub mod state;
pub mod ui;

pub use app::{router, AdminApp};
pub use config::Settings;
pub use state::AppState;
