//! The ops HTTP surface every long-running process serves: `/livez` (the process answers),
//! `/readyz` (connected to the broker and the database answers), `/metrics` (Prometheus).
//! A process merges its own routes beside these, if it has any; this module knows none.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tributary_store::Store;

/// How long `/readyz` waits for the database before calling the process not ready: well under
/// the usual probe timeouts, so a hung database reads as "not ready", not as a dead probe.
const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What readiness is computed from.
#[derive(Debug)]
pub struct Health {
    /// The process does its broker work over a live connection (the worker: consuming).
    broker_ready: AtomicBool,
    /// The store, pinged on each readiness probe.
    store: Store,
}

impl Health {
    /// Not ready until [`Health::set_broker_ready`] says so.
    pub fn new(store: Store) -> Self {
        Self {
            broker_ready: AtomicBool::new(false),
            store,
        }
    }

    /// Records whether the broker side works (and sets the `tributary_broker_connected` gauge).
    pub fn set_broker_ready(&self, ready: bool) {
        self.broker_ready.store(ready, Ordering::SeqCst);
        crate::telemetry::broker_connected(ready);
    }

    /// Whether the broker side works.
    pub fn broker_ready(&self) -> bool {
        self.broker_ready.load(Ordering::SeqCst)
    }
}

/// The router: `/livez`, `/readyz`, `/metrics`. No server needed to test it.
pub fn router(health: Arc<Health>) -> Router {
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
    if !health.broker_ready() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: not connected to the broker\n".into(),
        );
    }
    match tokio::time::timeout(DATABASE_PROBE_TIMEOUT, health.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n".into()),
        Ok(Err(error)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {error}\n"),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: the database did not answer within {} s\n",
                DATABASE_PROBE_TIMEOUT.as_secs()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(router: Router, path: &str) -> (StatusCode, String) {
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    /// A store whose database does not exist: opening the pool is lazy, a ping fails fast.
    fn unreachable_store() -> Store {
        Store::connect("postgres://nobody@127.0.0.1:1/none?connect_timeout=1", 1).unwrap()
    }

    #[tokio::test]
    async fn live_at_once_ready_only_with_the_broker_and_the_database() {
        // Installed first, so the gauge set below is recorded.
        crate::telemetry::prometheus();
        let health = Arc::new(Health::new(unreachable_store()));
        let app = router(Arc::clone(&health));
        assert_eq!(
            get(app.clone(), "/livez").await,
            (StatusCode::OK, "ok\n".into())
        );

        let (status, body) = get(app.clone(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("broker"), "{body}");

        health.set_broker_ready(true);
        let (status, body) = get(app.clone(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.starts_with("not ready: "), "{body}");
        assert!(!body.contains("broker"), "the broker is fine now: {body}");

        let (status, body) = get(app, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("tributary_broker_connected 1"), "{body}");
    }
}
