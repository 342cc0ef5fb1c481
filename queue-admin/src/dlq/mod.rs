//! (being written) Browsing dead letters: list with filters and search, groups by error
//! signature, detail with attempts and lineage — as web pages and JSON API.

pub mod filter_query;

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
