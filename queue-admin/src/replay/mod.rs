//! (being written) Changing dead letters: replay (dry run, throttled publishing, loop guard,
//! idempotent), payload edits, discards, source pause/resume, and the audit log pages.

pub mod publisher;

use crate::state::AppState;
use axum::Router;
use utoipa_axum::router::OpenApiRouter;

/// The JSON API routes.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}

/// The web UI routes.
pub fn ui_routes() -> Router<AppState> {
    Router::new()
}
