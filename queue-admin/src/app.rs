//! Building and running queue-admin: [`AdminApp::build`] connects and binds, then
//! [`AdminApp::run_until_stopped`] serves the web UI + JSON API and the ops endpoint, and runs
//! the background tasks (replay publisher, metrics refresher, dead-letter archiver) until the
//! shutdown future completes. [`router`] assembles every route, so tests can drive it in-process.

use crate::config::Settings;
use crate::state::AppState;
use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tributary_broker::{Nodes, Publisher, Topology};
use tributary_runtime::Health;
use tributary_store::Store;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// Largest request body accepted (an edited payload is the biggest thing anyone posts).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// A built queue-admin: connected, listening, not yet serving.
#[derive(Debug)]
pub struct AdminApp {
    state: AppState,
    listener: TcpListener,
    ops_listener: TcpListener,
    health: Arc<Health>,
}

impl AdminApp {
    /// Checks the settings, connects to the database (migrating if configured), binds both
    /// listeners. The broker is connected lazily (the UI works while it is down).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let problems = settings.validate();
        if !problems.is_empty() {
            anyhow::bail!("invalid settings:\n  {}", problems.join("\n  "));
        }
        let store = settings
            .database
            .store(settings.database.max_connections)
            .context("cannot set up the database pool")?;
        store.ping().await.context("cannot reach the database")?;
        if settings.database.migrate_on_start {
            store
                .migrate()
                .await
                .context("cannot migrate the database")?;
        }
        let topology = settings
            .amqp
            .topology(Vec::new())
            .map_err(|problem| anyhow::anyhow!("{problem}"))?;
        let nodes = settings.amqp.nodes()?;
        declare_shared_topology(&nodes, &topology).await?;
        let publisher = Publisher::new(nodes, "queue-admin replays");
        let listener = TcpListener::bind(settings.admin.listen)
            .await
            .with_context(|| format!("cannot listen on admin.listen {}", settings.admin.listen))?;
        let ops_listener = TcpListener::bind(settings.admin.ops_listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on admin.ops_listen {}",
                    settings.admin.ops_listen
                )
            })?;
        let health = Arc::new(Health::new(store.clone()));
        health.set_broker_ready(true);
        let state = AppState::new(settings, store, publisher, topology)?;
        Ok(Self {
            state,
            listener,
            ops_listener,
            health,
        })
    }

    /// Where the web UI and API listen (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where `/livez`, `/readyz` and `/metrics` listen.
    pub fn ops_addr(&self) -> SocketAddr {
        self.ops_listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The shared state (tests use its store).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops the background tasks and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_sender, stop) = watch::channel(false);
        let state = self.state.clone();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(crate::replay::publisher::run(state.clone(), stop.clone()));
        tasks.spawn(crate::metrics::run(state.clone(), stop.clone()));
        if state.settings().admin.archive_dead_letters {
            tasks.spawn(tributary_runtime::archiver::run(
                state.publisher().nodes().clone(),
                "queue-admin".to_owned(),
                state.topology().clone(),
                state.store().clone(),
                stop.clone(),
            ));
        }
        let ops = axum::serve(
            self.ops_listener,
            tributary_runtime::ops_http::router(self.health.clone()),
        )
        .with_graceful_shutdown(wait_stopped(stop.clone()));
        tasks.spawn(async move {
            if let Err(error) = ops.await {
                tracing::error!(%error, "the ops endpoint failed");
            }
        });
        tracing::info!(listen = %self.listener.local_addr()?, "queue-admin serving");
        let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                let _ = stop_sender.send(true);
            })
            .await
            .context("the web server failed");
        // A stop signal may not have been sent if the server itself failed.
        let deadline = tokio::time::sleep(Duration::from_secs(10));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = tasks.join_next() => if next.is_none() { break },
                _ = &mut deadline => {
                    tracing::warn!("background tasks did not stop in time; abandoning them");
                    break;
                }
            }
        }
        state.publisher().close().await;
        served
    }
}

/// Declares the topology's shared part (exchanges, retry tiers, the dead queue; work queues are
/// the workers' to declare), so the archiver and replays work before any worker has started.
/// A broker that is down is only a warning — the UI is useful without it — but a conflicting
/// declaration (different settings on the same names) is fatal.
async fn declare_shared_topology(nodes: &Nodes, topology: &Topology) -> anyhow::Result<()> {
    let connection = match tributary_broker::connect(nodes, "queue-admin topology").await {
        Ok(connection) => connection,
        Err(error) => {
            tracing::warn!(%error, "the broker is unreachable; replays and archiving wait for it");
            return Ok(());
        }
    };
    let declared = topology.declare(&connection).await;
    let _ = connection.close(200, "declared".into()).await;
    declared.context("cannot declare the topology")
}

async fn wait_stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// The OpenAPI document's frame; each module adds its paths through [`OpenApiRouter`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tributary queue-admin API",
        description = "Inspect, search, group, edit and replay dead letters; pause sources; read the audit log. Every call needs `Authorization: Bearer trb_...` (create a token with `queue-admin tokens create`).",
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// Every route: the API (with its OpenAPI document), the web UI, the login page. Everything but
/// the login page is behind [`crate::auth::authenticate`].
pub fn router(state: AppState) -> Router {
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::overview::api_routes())
        .merge(crate::reconciliation::api_routes())
        .merge(crate::dlq::api_routes())
        .merge(crate::replay::api_routes())
        .merge(crate::schedules::api_routes())
        .merge(crate::auth::api_routes())
        .split_for_parts();
    let openapi = Arc::new(openapi);
    let protected = Router::new()
        .merge(api)
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let openapi = openapi.clone();
                async move { Json(openapi.as_ref().clone()) }
            }),
        )
        .merge(crate::overview::ui_routes())
        .merge(crate::reconciliation::ui_routes())
        .merge(crate::dlq::ui_routes())
        .merge(crate::replay::ui_routes())
        .merge(crate::schedules::ui_routes())
        .merge(crate::auth::ui_routes())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate,
        ));
    Router::new()
        .merge(protected)
        .merge(crate::auth::public_routes())
        .fallback(|| async {
            crate::error::PageError(crate::error::AdminError::NotFound("no such page".into()))
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Headers on every response: no framing, no sniffing, no referrer, no caching of pages that
/// show payloads, and a content policy that allows no script at all and only our style sheet.
async fn security_headers(request: axum::extract::Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&format!(
            "default-src 'none'; style-src '{}'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
            crate::ui::style_hash()
        ))
        .expect("the policy is ASCII"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Connects the store alone (for CLI commands that work on the database directly).
pub async fn connect_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = settings
        .database
        .store(2)
        .context("cannot set up the database pool")?;
    store.ping().await.context("cannot reach the database")?;
    Ok(store)
}
