//! A mock Shopify Admin GraphQL API for tests: `POST /admin/api/{version}/graphql.json` on a
//! loopback port, with deterministic data from a seed, Shopify's cost bucket (answering
//! `THROTTLED` with HTTP 200 when it runs short), the access-token check, scripted faults,
//! counters and a request log.
//!
//! It reads just enough of each query to answer it (the root field, `first`, `after` and the
//! `updated_at` bounds of `query:`); it is not a GraphQL engine and ignores selections. It knows
//! nothing about the connector's internals: tests compare what the connector pulled with
//! [`MockShopify::expected_ids`] and [`MockShopify::count`].
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use tributary_connector_shopify::mock::{spawn, MockConfig, MockFault};
//! let shop = spawn(MockConfig::default()).await?;
//! shop.script([MockFault::graphql_error("INTERNAL_SERVER_ERROR")]);
//! let connector = tributary_connector_shopify::build(&shop.settings(50)).unwrap();
//! # let _ = connector; Ok(()) }
//! ```

mod data;
mod request;

use crate::query::ShopifyStream;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use data::Catalog;
use request::{root_field, updated_bounds, UpdatedBounds, Value};
use serde_json::json;
use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tributary_connector::Window;

/// Shopify's body for a missing or wrong access token (HTTP 401).
pub const INVALID_TOKEN_BODY: &str =
    r#"{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}"#;

/// The token the default configuration accepts.
pub const DEFAULT_ACCESS_TOKEN: &str = "shpat_mock0000000000000000000000000000";

/// Largest `first:` the mock accepts, as Shopify.
const MAX_FIRST: i64 = 250;

/// Shapes one mock shop.
#[derive(Debug, Clone, PartialEq)]
pub struct MockConfig {
    /// Seed of every generated record: the same seed serves the same JSON.
    pub seed: u64,
    /// Orders in the shop.
    pub orders: u64,
    /// Products in the shop.
    pub products: u64,
    /// Customers in the shop.
    pub customers: u64,
    /// The only `X-Shopify-Access-Token` accepted.
    pub access_token: String,
    /// `data.shop.name`.
    pub shop_name: String,
    /// Size of the cost bucket (`maximumAvailable`); it starts full.
    pub maximum_available: f64,
    /// Points restored per second (`restoreRate`).
    pub restore_rate: f64,
}

impl Default for MockConfig {
    /// 230 orders, 40 products, 75 customers, seed 42; a 1,000-point bucket restoring 50
    /// points/s: half a standard plan's rate, so throttling shows up sooner in tests.
    fn default() -> Self {
        Self {
            seed: 42,
            orders: 230,
            products: 40,
            customers: 75,
            access_token: DEFAULT_ACCESS_TOKEN.to_owned(),
            shop_name: "Tributary Mock Shop ☕".to_owned(),
            maximum_available: 1000.0,
            restore_rate: 50.0,
        }
    }
}

/// One fault for exactly one upcoming GraphQL request, served first-in, first-out before the
/// token check, so a test can script "the next request gets a 503" without timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MockFault {
    /// Answer with this HTTP status and a Shopify-like `{"errors": "..."}` body.
    Status {
        /// The status, such as 402, 404, 429 or 503.
        status: u16,
        /// Sent as `Retry-After` when present (Shopify sends `2.0`).
        retry_after: Option<String>,
    },
    /// Answer HTTP 200 with `{"errors":[{"message":..,"extensions":{"code": code}}]}`.
    GraphqlError {
        /// The `extensions.code`, such as `ACCESS_DENIED` or `INTERNAL_SERVER_ERROR`.
        code: String,
    },
    /// Answer HTTP 200 with a truncated, unparseable JSON body.
    Malformed,
    /// Wait this long, then answer normally (lets a client's timeout fire first).
    Hang(Duration),
}

impl MockFault {
    /// A bare status fault, such as `MockFault::status(503)`.
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            retry_after: None,
        }
    }

    /// A GraphQL error with this code in an HTTP 200.
    pub fn graphql_error(code: impl Into<String>) -> Self {
        Self::GraphqlError { code: code.into() }
    }
}

/// Counters since the mock started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MockStats {
    /// GraphQL requests received.
    pub requests: u64,
    /// Requests answered with data.
    pub served: u64,
    /// Requests answered `THROTTLED` because the bucket was short.
    pub throttled: u64,
    /// Requests refused for a missing or wrong token.
    pub unauthorized: u64,
    /// Scripted faults served.
    pub scripted_faults: u64,
}

/// One entry of the request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockRequest {
    /// The root field, when the query could be read (`orders`, `ordersCount`, `shop`, ...).
    pub root: Option<String>,
    /// The `first:` argument.
    pub first: Option<i64>,
    /// The `after:` argument (the mock's own cursor).
    pub after: Option<String>,
    /// The `query:` search string.
    pub search: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// The GraphQL error code answered in a 200, if any (`THROTTLED`, ...).
    pub error_code: Option<String>,
}

/// The cost bucket: `available` points as of `refilled_at`.
#[derive(Debug)]
struct Bucket {
    available: f64,
    refilled_at: Instant,
}

#[derive(Debug)]
struct Inner {
    config: MockConfig,
    catalog: Catalog,
    bucket: Mutex<Bucket>,
    script: Mutex<VecDeque<MockFault>>,
    stats: Mutex<MockStats>,
    log: Mutex<Vec<MockRequest>>,
}

/// Locks a mutex, ignoring poisoning: a panicking test must not hide the mock's state.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts a mock shop on `127.0.0.1` with an OS-chosen port, serving in a background task of
/// the current Tokio runtime until the handle is dropped or shut down.
pub async fn spawn(config: MockConfig) -> io::Result<MockShopify> {
    if config.maximum_available <= 0.0 || config.restore_rate < 0.0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "maximum_available must be positive and restore_rate not negative",
        ));
    }
    let inner = Arc::new(Inner {
        catalog: Catalog::new(
            config.seed,
            config.orders,
            config.products,
            config.customers,
        ),
        bucket: Mutex::new(Bucket {
            available: config.maximum_available,
            refilled_at: Instant::now(),
        }),
        script: Mutex::new(VecDeque::new()),
        stats: Mutex::new(MockStats::default()),
        log: Mutex::new(Vec::new()),
        config,
    });
    let router = Router::new()
        .route("/admin/api/{version}/graphql.json", post(graphql))
        .fallback(|| async { answer(StatusCode::NOT_FOUND, r#"{"errors":"Not Found"}"#.into()) })
        .with_state(inner.clone());
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(MockShopify {
        inner,
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}

/// A mock shop serving in the background (see [`spawn`]). Dropping it stops the server.
#[derive(Debug)]
pub struct MockShopify {
    inner: Arc<Inner>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<io::Result<()>>>,
}

impl MockShopify {
    /// The base URL, such as `http://127.0.0.1:41234` (the connector's `base_url` setting).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token the mock accepts.
    pub fn access_token(&self) -> &str {
        &self.inner.config.access_token
    }

    /// Connector settings pointing at this mock, with `page_size` records per page.
    pub fn settings(&self, page_size: u32) -> serde_json::Value {
        json!({
            "base_url": self.url(),
            "access_token": self.access_token(),
            "page_size": page_size,
        })
    }

    /// Queues one fault for each of the next requests.
    pub fn script(&self, faults: impl IntoIterator<Item = MockFault>) {
        lock(&self.inner.script).extend(faults);
    }

    /// Sets the bucket's current points (clamped to the bucket size), to provoke `THROTTLED`.
    pub fn set_available(&self, points: f64) {
        let mut bucket = lock(&self.inner.bucket);
        bucket.available = points.clamp(0.0, self.inner.config.maximum_available);
        bucket.refilled_at = Instant::now();
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> MockStats {
        *lock(&self.inner.stats)
    }

    /// Every request so far, oldest first.
    pub fn request_log(&self) -> Vec<MockRequest> {
        lock(&self.inner.log).clone()
    }

    /// The ids a complete pull of `stream` in `window` must return, in order.
    pub fn expected_ids(&self, stream: ShopifyStream, window: &Window) -> Vec<String> {
        let bounds = window_bounds(window);
        let catalog = &self.inner.catalog;
        (0..catalog.len(stream))
            .filter(|index| bounds.contains(catalog.updated_at(stream, *index)))
            .map(|index| catalog.gid(stream, index))
            .collect()
    }

    /// Record `index` of `stream` (0-based, in update order), exactly as the mock serves it.
    pub fn node(&self, stream: ShopifyStream, index: u64) -> serde_json::Value {
        self.inner.catalog.node(stream, index)
    }

    /// How many records of `stream` fall in `window` (what `ordersCount` answers).
    pub fn count(&self, stream: ShopifyStream, window: &Window) -> u64 {
        self.expected_ids(stream, window).len() as u64
    }

    /// Stops the server and waits until in-flight requests are answered.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for MockShopify {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A [`Window`] as the search bounds the connector sends for it.
fn window_bounds(window: &Window) -> UpdatedBounds {
    UpdatedBounds {
        lower: window.from.map(|from| (from, true)),
        upper: window.to.map(|to| (to, false)),
    }
}

/// A JSON answer with Shopify's content type.
fn answer(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// XOR mask of the mock's cursors, so they look opaque rather than like a bare index.
const CURSOR_MASK: u64 = 0x5A17_C0DE_F00D_BEEF;

fn encode_mock_cursor(index: u64) -> String {
    format!("eyJ{:016x}", index ^ CURSOR_MASK)
}

fn decode_mock_cursor(cursor: &str) -> Option<u64> {
    let hex = cursor.strip_prefix("eyJ")?;
    u64::from_str_radix(hex, 16)
        .ok()
        .map(|value| value ^ CURSOR_MASK)
}

/// What a request gets after the fault, token and parsing checks.
enum Outcome {
    /// `data` to serve at this cost.
    Data { data: serde_json::Value, cost: f64 },
    /// A GraphQL error in a 200: code (if any) and message.
    Error {
        code: Option<&'static str>,
        message: String,
    },
}

async fn graphql(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut entry = MockRequest {
        root: None,
        first: None,
        after: None,
        search: None,
        status: 200,
        error_code: None,
    };
    lock(&inner.stats).requests += 1;
    let response = respond(&inner, &headers, &body, &mut entry).await;
    entry.status = response.status().as_u16();
    lock(&inner.log).push(entry);
    response
}

async fn respond(
    inner: &Inner,
    headers: &HeaderMap,
    body: &[u8],
    entry: &mut MockRequest,
) -> Response {
    let fault = lock(&inner.script).pop_front();
    if let Some(fault) = fault {
        lock(&inner.stats).scripted_faults += 1;
        match fault {
            MockFault::Status {
                status,
                retry_after,
            } => return status_fault(status, retry_after),
            MockFault::GraphqlError { code } => {
                let body = json!({
                    "errors": [{ "message": format!("Scripted {code}"), "extensions": { "code": code } }],
                });
                entry.error_code = Some(code);
                return answer(StatusCode::OK, body.to_string());
            }
            MockFault::Malformed => {
                return answer(
                    StatusCode::OK,
                    r#"{"data":{"orders":{"pageInfo":{"hasNextPage":tr"#.to_owned(),
                );
            }
            MockFault::Hang(duration) => tokio::time::sleep(duration).await,
        }
    }

    let token = headers
        .get("x-shopify-access-token")
        .map(HeaderValue::as_bytes);
    if token != Some(inner.config.access_token.as_bytes()) {
        lock(&inner.stats).unauthorized += 1;
        return answer(StatusCode::UNAUTHORIZED, INVALID_TOKEN_BODY.to_owned());
    }

    let request: serde_json::Value = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(_) => {
            return answer(
                StatusCode::BAD_REQUEST,
                r#"{"errors":{"query":"Required parameter missing or invalid"}}"#.to_owned(),
            )
        }
    };
    let document = request
        .get("query")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    let variables = request.get("variables").cloned().unwrap_or(json!({}));

    let outcome = match root_field(document, &variables) {
        Ok(root) => {
            entry.root = Some(root.name.clone());
            entry.first = match root.argument("first") {
                Some(Value::Int(first)) => Some(*first),
                _ => None,
            };
            entry.after = match root.argument("after") {
                Some(Value::Str(after)) => Some(after.clone()),
                _ => None,
            };
            entry.search = match root.argument("query") {
                Some(Value::Str(search)) => Some(search.clone()),
                _ => None,
            };
            resolve(inner, &root)
        }
        Err(message) => Outcome::Error {
            code: None,
            message,
        },
    };

    match outcome {
        Outcome::Error { code, message } => {
            entry.error_code = code.map(str::to_owned);
            let mut error = json!({ "message": message });
            if let Some(code) = code {
                error["extensions"] = json!({ "code": code });
            }
            answer(StatusCode::OK, json!({ "errors": [error] }).to_string())
        }
        Outcome::Data { data, cost } => {
            let config = &inner.config;
            let mut bucket = lock(&inner.bucket);
            let now = Instant::now();
            let elapsed = now.duration_since(bucket.refilled_at).as_secs_f64();
            bucket.available =
                (bucket.available + elapsed * config.restore_rate).min(config.maximum_available);
            bucket.refilled_at = now;
            let throttled = bucket.available < cost;
            if !throttled {
                bucket.available -= cost;
            }
            let extensions = json!({ "cost": {
                "requestedQueryCost": cost,
                "actualQueryCost": if throttled { serde_json::Value::Null } else { json!(cost) },
                "throttleStatus": {
                    "maximumAvailable": config.maximum_available,
                    "currentlyAvailable": bucket.available,
                    "restoreRate": config.restore_rate,
                },
            }});
            drop(bucket);
            if throttled {
                lock(&inner.stats).throttled += 1;
                entry.error_code = Some("THROTTLED".to_owned());
                let body = json!({
                    "errors": [{
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }],
                    "extensions": extensions,
                });
                return answer(StatusCode::OK, body.to_string());
            }
            lock(&inner.stats).served += 1;
            let body = json!({ "data": data, "extensions": extensions });
            answer(StatusCode::OK, body.to_string())
        }
    }
}

/// A scripted non-200, with the body Shopify sends for that status.
fn status_fault(status: u16, retry_after: Option<String>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match status {
        401 => return answer(code, INVALID_TOKEN_BODY.to_owned()),
        402 => "Unavailable Shop",
        403 => "User does not have access",
        404 => "Not Found",
        423 => "This shop is unavailable",
        429 => "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.",
        500..=599 => "Internal Server Error",
        _ => "Bad Request",
    };
    let mut response = answer(code, json!({ "errors": message }).to_string());
    if let Some(value) = retry_after.and_then(|value| HeaderValue::from_str(&value).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Answers a parsed root field, or says why not (as Shopify would, in a 200).
fn resolve(inner: &Inner, root: &request::RootField) -> Outcome {
    let error = |message: String| Outcome::Error {
        code: None,
        message,
    };
    let search = match root.argument("query") {
        Some(Value::Str(search)) => search.as_str(),
        _ => "",
    };
    let bounds = match updated_bounds(search) {
        Ok(bounds) => bounds,
        Err(message) => return error(message),
    };
    if root.name == "shop" {
        return Outcome::Data {
            data: json!({ "shop": { "name": inner.config.shop_name } }),
            cost: 1.0,
        };
    }
    if let Some(stream) = ShopifyStream::ALL
        .into_iter()
        .find(|stream| stream.count_field() == root.name)
    {
        let catalog = &inner.catalog;
        let count = (0..catalog.len(stream))
            .filter(|index| bounds.contains(catalog.updated_at(stream, *index)))
            .count();
        return Outcome::Data {
            data: json!({ root.name.clone(): { "count": count, "precision": "EXACT" } }),
            cost: 1.0,
        };
    }
    let Some(stream) = ShopifyStream::from_name(&root.name) else {
        return Outcome::Error {
            code: Some("undefinedField"),
            message: format!("Field '{}' doesn't exist on type 'QueryRoot'", root.name),
        };
    };
    let first = match root.argument("first") {
        Some(Value::Int(first)) if (1..=MAX_FIRST).contains(first) => *first as u64,
        Some(Value::Int(_)) => {
            return error(format!("The first argument must be from 1 to {MAX_FIRST}"))
        }
        _ => return error("you must provide one of first or last".to_owned()),
    };
    let start = match root.argument("after") {
        None | Some(Value::Null) => 0,
        Some(Value::Str(after)) => match decode_mock_cursor(after) {
            Some(index) => index + 1,
            None => return error(format!("Invalid cursor {after:?} for this query")),
        },
        Some(_) => return error("after must be a String".to_owned()),
    };
    let catalog = &inner.catalog;
    let mut matching = (start..catalog.len(stream))
        .filter(|index| bounds.contains(catalog.updated_at(stream, *index)));
    let page: Vec<u64> = matching.by_ref().take(first as usize).collect();
    let has_next_page = matching.next().is_some();
    let nodes: Vec<serde_json::Value> = page
        .iter()
        .map(|index| catalog.node(stream, *index))
        .collect();
    Outcome::Data {
        data: json!({ root.name.clone(): {
            "pageInfo": {
                "hasNextPage": has_next_page,
                "endCursor": page.last().map(|index| encode_mock_cursor(*index)),
            },
            "nodes": nodes,
        }}),
        cost: (first + 2) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mock_cursors_round_trip() {
        for index in [0, 1, 229, u64::from(u32::MAX)] {
            assert_eq!(decode_mock_cursor(&encode_mock_cursor(index)), Some(index));
        }
        assert_eq!(decode_mock_cursor("garbage"), None);
    }
}
