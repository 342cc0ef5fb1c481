//! The worker's small HTTP surface: liveness, readiness, Prometheus metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tributary_store::Store;

/// What readiness is computed from.
#[derive(Debug)]
pub struct Health {
    /// Consuming with a live broker connection.
    pub consuming: AtomicBool,
    /// The store, pinged on each readiness probe.
    pub store: Store,
}

impl Health {
    /// Not consuming yet.
    pub fn new(store: Store) -> Self {
        Self {
            consuming: AtomicBool::new(false),
            store,
        }
    }

    /// Sets the consuming flag (and the broker gauge).
    pub fn set_consuming(&self, consuming: bool) {
        self.consuming.store(consuming, Ordering::SeqCst);
        crate::telemetry::broker_connected(consuming);
    }
}

/// The router: `/livez`, `/readyz`, `/metrics`. No server needed to test it.
pub fn app(health: Arc<Health>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route(
            "/metrics",
            get(|| async { crate::telemetry::prometheus().render() }),
        )
        .with_state(health)
}

async fn ready(State(health): State<Arc<Health>>) -> (StatusCode, String) {
    if !health.consuming.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: not connected to the broker\n".into(),
        );
    }
    match tokio::time::timeout(Duration::from_secs(2), health.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n".into()),
        Ok(Err(error)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {error}\n"),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the database did not answer within 2 s\n".into(),
        ),
    }
}
