//! The shop's HTTP API: routes, query parsing, fault application, error bodies and
//! rate-limit headers. A thin layer over [`Shop`]; no data generation happens here.
//!
//! Data API (faults, budget headers and the request log apply here, never to `/_admin`):
//! * `GET /v1/tenants/{tenant}/{stream}?limit&cursor&updated_since&updated_before`
//! * `GET /v1/tenants/{tenant}/{stream}?ids=a,b,c` — records by id (at most [`MAX_IDS`]), in a
//!   page with no next cursor; ids the shop does not have are left out
//! * `GET /v1/tenants/{tenant}/{stream}/count?created_since&created_before` —
//!   `{"count", "digest"}` of the records created in the window (the digest is the XOR of
//!   FNV-1a 64 of each record's fingerprint, 16 hex digits)
//! * `GET /v1/tenants/{tenant}/{stream}/manifest?created_since&created_before&limit&cursor` —
//!   `{"data": [{"id", "updated_at", "fingerprint"}], "has_more", "next_cursor"}`; a record's
//!   fingerprint is FNV-1a 64 of its canonical JSON (keys sorted, compact), 16 hex digits
//!
//! Admin API (no faults, not logged):
//! * `GET /_admin/stats`, `GET /_admin/totals?tenant=T[&updated_since&updated_before]`
//! * `POST /_admin/epoch`, `GET|POST /_admin/faults`, `POST /_admin/script`
//! * `GET /_admin/requests`, `GET /healthz`

use crate::config::{Faults, ScriptedFault};
use crate::data::{Stream, UpdatedRange};
use crate::shop::{BudgetSnapshot, Endpoint, FaultKind, RequestRecorder, Shop};
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Page size when the client does not say.
pub const DEFAULT_PAGE_LIMIT: usize = 100;
/// Largest page a client may ask for; above it the shop answers 400.
pub const MAX_PAGE_LIMIT: usize = 250;
/// Most ids one `?ids=` request may ask for.
pub const MAX_IDS: usize = 100;
/// Longest tenant name accepted in a URL.
const MAX_TENANT_LEN: usize = 128;
/// Tenants whose name starts with this are always refused with 401, to exercise auth errors.
pub const LOCKED_TENANT_PREFIX: &str = "locked";

const RATE_LIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const RATE_LIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RATE_LIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

type QueryMap = Result<Query<HashMap<String, String>>, QueryRejection>;

impl Shop {
    /// The shop's HTTP routes, ready for `axum::serve` (or for calling without a server).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/tenants/{tenant}/{stream}", get(data_page))
            .route("/v1/tenants/{tenant}/{stream}/count", get(count_page))
            .route("/v1/tenants/{tenant}/{stream}/manifest", get(manifest_page))
            .route("/_admin/stats", get(admin_stats))
            .route("/_admin/totals", get(admin_totals))
            .route("/_admin/epoch", post(admin_bump_epoch))
            .route("/_admin/faults", get(admin_faults).post(admin_set_faults))
            .route("/_admin/script", post(admin_script))
            .route("/_admin/requests", get(admin_requests))
            .route("/healthz", get(|| async { "ok" }))
            .fallback(not_found)
            .with_state(self.clone())
    }
}

/// An error answer: status, a stable machine-readable code and a message for humans.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", message)
    }

    fn body(&self) -> Vec<u8> {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json_response(self.status, self.body());
        if let Some(seconds) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// The error code a scripted status fault carries in its body.
fn code_for_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        408 => "request_timeout",
        429 => "rate_limited",
        500 => "internal_error",
        502 => "bad_gateway",
        503 => "service_unavailable",
        504 => "gateway_timeout",
        _ => "error",
    }
}

fn path_and_query(uri: &Uri) -> &str {
    uri.path_and_query()
        .map(|value| value.as_str())
        .unwrap_or_else(|| uri.path())
}

async fn data_page(
    State(shop): State<Shop>,
    method: Method,
    uri: Uri,
    path: Result<Path<(String, String)>, PathRejection>,
    query: QueryMap,
) -> Response {
    let by_ids = uri
        .query()
        .is_some_and(|query| form_pairs(query).any(|name| name == "ids"));
    let endpoint = if by_ids {
        Endpoint::Fetch
    } else {
        Endpoint::List
    };
    shop.count_call(endpoint);
    let serve = |shop: &Shop, tenant: &str, stream: &str| {
        let (stream, params) = checked(tenant, stream, query)?;
        if by_ids {
            serve_by_ids(shop, tenant, stream, &params)
        } else {
            serve_page(shop, tenant, stream, &params)
        }
    };
    data_request(&shop, method, &uri, path, serve).await
}

/// The names of a query string's parameters.
fn form_pairs(query: &str) -> impl Iterator<Item = &str> {
    query
        .split('&')
        .map(|pair| pair.split_once('=').map_or(pair, |(name, _)| name))
}

async fn count_page(
    State(shop): State<Shop>,
    method: Method,
    uri: Uri,
    path: Result<Path<(String, String)>, PathRejection>,
    query: QueryMap,
) -> Response {
    shop.count_call(Endpoint::Count);
    let serve = |shop: &Shop, tenant: &str, stream: &str| {
        let (stream, params) = checked(tenant, stream, query)?;
        let range = parse_created_range(&params)?;
        Ok(Served {
            body: shop.render_count(tenant, stream, range),
            page: None,
        })
    };
    data_request(&shop, method, &uri, path, serve).await
}

async fn manifest_page(
    State(shop): State<Shop>,
    method: Method,
    uri: Uri,
    path: Result<Path<(String, String)>, PathRejection>,
    query: QueryMap,
) -> Response {
    shop.count_call(Endpoint::Manifest);
    let serve = |shop: &Shop, tenant: &str, stream: &str| {
        let (stream, params) = checked(tenant, stream, query)?;
        let range = parse_created_range(&params)?;
        let limit = parse_limit(&params)?;
        let body = shop
            .render_manifest(tenant, stream, limit, cursor_of(&params), range)
            .map_err(|_| invalid_cursor())?;
        Ok(Served { body, page: None })
    };
    data_request(&shop, method, &uri, path, serve).await
}

/// A data API request: logged, charged to the tenant's budget, subject to faults.
async fn data_request(
    shop: &Shop,
    method: Method,
    uri: &Uri,
    path: Result<Path<(String, String)>, PathRejection>,
    serve: impl FnOnce(&Shop, &str, &str) -> Result<Served, ApiError>,
) -> Response {
    let mut recorder = shop.begin_request(method.as_str(), path_and_query(uri));
    let response = match path {
        Ok(Path((tenant, stream))) => {
            let budget = shop.charge_budget(&tenant);
            let mut response = answer(shop, &mut recorder, &tenant, budget, |shop, tenant| {
                serve(shop, tenant, &stream)
            })
            .await;
            insert_budget_headers(&mut response, budget);
            response
        }
        Err(rejection) => ApiError::invalid_parameter(rejection.body_text()).into_response(),
    };
    recorder.set_status(response.status().as_u16());
    response
}

/// A successful answer's body, and the page it was (stream, records) for the counters.
struct Served {
    body: Vec<u8>,
    page: Option<(Stream, usize)>,
}

fn insert_budget_headers(response: &mut Response, budget: BudgetSnapshot) {
    let headers = response.headers_mut();
    headers.insert(RATE_LIMIT_LIMIT, HeaderValue::from(budget.limit));
    headers.insert(RATE_LIMIT_REMAINING, HeaderValue::from(budget.remaining));
    headers.insert(RATE_LIMIT_RESET, HeaderValue::from(budget.reset_secs));
}

/// Applies the budget and the fault plan, then serves the page.
async fn answer(
    shop: &Shop,
    recorder: &mut RequestRecorder,
    tenant: &str,
    budget: BudgetSnapshot,
    serve: impl FnOnce(&Shop, &str) -> Result<Served, ApiError>,
) -> Response {
    if budget.exhausted {
        recorder.set_fault(FaultKind::BudgetExhausted);
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "request budget of {} per window exhausted for tenant {tenant}",
                budget.limit
            ),
        );
        error.retry_after_secs = Some(budget.reset_secs);
        return error.into_response();
    }

    let (latency, fault) = shop.plan_fault();
    if !shop.pause(latency).await {
        return shutting_down();
    }
    let mut malformed = false;
    match fault {
        None => {}
        Some(ScriptedFault::Hang { duration }) => {
            recorder.set_fault(FaultKind::Hang);
            if !shop.pause(duration).await {
                return shutting_down();
            }
        }
        Some(ScriptedFault::Malformed) => {
            recorder.set_fault(FaultKind::Malformed);
            malformed = true;
        }
        Some(ScriptedFault::Status {
            status,
            retry_after_secs,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            recorder.set_fault(match status.as_u16() {
                429 => FaultKind::RateLimited,
                500..=599 => FaultKind::ServerError,
                _ => FaultKind::OtherStatus,
            });
            let mut error = ApiError::new(
                status,
                code_for_status(status),
                format!("injected fault: HTTP {}", status.as_u16()),
            );
            error.retry_after_secs = retry_after_secs;
            return error.into_response();
        }
    }

    match serve(shop, tenant) {
        Ok(mut served) => {
            if malformed {
                // A connection cut mid-body: any proper prefix of a JSON object is invalid.
                served.body.truncate((served.body.len() / 2).max(1));
            } else if let Some((stream, records)) = served.page {
                shop.count_page(stream, records);
            }
            json_response(StatusCode::OK, served.body)
        }
        Err(error) if malformed => {
            let mut body = error.body();
            body.truncate((body.len() / 2).max(1));
            json_response(StatusCode::OK, body)
        }
        Err(error) => error.into_response(),
    }
}

fn shutting_down() -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "shutting_down",
        "the demo shop is shutting down",
    )
    .into_response()
}

/// The checks every data request makes: a valid, unlocked tenant, a known stream, a query
/// that parses.
fn checked(
    tenant: &str,
    stream: &str,
    query: QueryMap,
) -> Result<(Stream, HashMap<String, String>), ApiError> {
    let tenant_is_valid = !tenant.is_empty()
        && tenant.len() <= MAX_TENANT_LEN
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !tenant_is_valid {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_tenant",
            "tenant names are 1 to 128 ASCII letters, digits, '_', '-' or '.'",
        ));
    }
    if tenant.starts_with(LOCKED_TENANT_PREFIX) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("the access token for shop {tenant} has been revoked"),
        ));
    }
    let stream: Stream = stream.parse().map_err(|error: crate::UnknownStream| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_stream", error.to_string())
    })?;
    let Query(params) =
        query.map_err(|rejection| ApiError::invalid_parameter(rejection.body_text()))?;
    Ok((stream, params))
}

fn parse_limit(params: &HashMap<String, String>) -> Result<usize, ApiError> {
    Ok(match params.get("limit") {
        None => DEFAULT_PAGE_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_PAGE_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::invalid_parameter(format!(
                    "limit must be an integer from 1 to {MAX_PAGE_LIMIT}, got {text:?}"
                ))
            })?,
    })
}

fn cursor_of(params: &HashMap<String, String>) -> Option<&str> {
    params
        .get("cursor")
        .map(String::as_str)
        .filter(|c| !c.is_empty())
}

fn invalid_cursor() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
        "the cursor is not valid for this tenant and stream; restart without a cursor",
    )
}

fn serve_page(
    shop: &Shop,
    tenant: &str,
    stream: Stream,
    params: &HashMap<String, String>,
) -> Result<Served, ApiError> {
    let limit = parse_limit(params)?;
    let range = parse_range(params)?;
    let page = shop
        .render_page(tenant, stream, limit, cursor_of(params), range)
        .map_err(|_| invalid_cursor())?;
    Ok(Served {
        body: page.body,
        page: Some((stream, page.records)),
    })
}

fn serve_by_ids(
    shop: &Shop,
    tenant: &str,
    stream: Stream,
    params: &HashMap<String, String>,
) -> Result<Served, ApiError> {
    let ids: Vec<&str> = params
        .get("ids")
        .map(String::as_str)
        .unwrap_or_default()
        .split(',')
        .filter(|id| !id.is_empty())
        .collect();
    if ids.is_empty() || ids.len() > MAX_IDS {
        return Err(ApiError::invalid_parameter(format!(
            "ids must list 1 to {MAX_IDS} comma-separated ids, got {}",
            ids.len()
        )));
    }
    let page = shop.render_by_ids(tenant, stream, &ids);
    Ok(Served {
        body: page.body,
        page: Some((stream, page.records)),
    })
}

/// `created_since` / `created_before`, as a half-open range on records' `created_at`.
fn parse_created_range(params: &HashMap<String, String>) -> Result<UpdatedRange, ApiError> {
    parse_bounds(params, "created_since", "created_before")
}

fn parse_range(params: &HashMap<String, String>) -> Result<UpdatedRange, ApiError> {
    parse_bounds(params, "updated_since", "updated_before")
}

fn parse_bounds(
    params: &HashMap<String, String>,
    since: &str,
    before: &str,
) -> Result<UpdatedRange, ApiError> {
    let parse = |name: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        match params.get(name) {
            None => Ok(None),
            Some(text) => DateTime::parse_from_rfc3339(text)
                .map(|at| Some(at.with_timezone(&Utc)))
                .map_err(|error| {
                    ApiError::invalid_parameter(format!(
                        "{name} must be an RFC 3339 timestamp such as 2024-06-01T00:00:00Z, got {text:?} ({error})"
                    ))
                }),
        }
    };
    Ok(UpdatedRange {
        since: parse(since)?,
        before: parse(before)?,
    })
}

async fn not_found(State(shop): State<Shop>, method: Method, uri: Uri) -> Response {
    let error = ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {method} {}", uri.path()),
    );
    if uri.path().starts_with("/_admin") {
        return error.into_response();
    }
    let mut recorder = shop.begin_request(method.as_str(), path_and_query(&uri));
    recorder.set_status(error.status.as_u16());
    error.into_response()
}

async fn admin_stats(State(shop): State<Shop>) -> Response {
    Json(shop.stats()).into_response()
}

async fn admin_totals(State(shop): State<Shop>, query: QueryMap) -> Response {
    let result = query
        .map_err(|rejection| ApiError::invalid_parameter(rejection.body_text()))
        .and_then(|Query(params)| {
            let tenant = params
                .get("tenant")
                .cloned()
                .ok_or_else(|| ApiError::invalid_parameter("the tenant parameter is required"))?;
            Ok((tenant, parse_range(&params)?))
        });
    match result {
        // Counting with a filter scans every index: keep it off the async workers.
        Ok((tenant, range)) => {
            match tokio::task::spawn_blocking(move || shop.totals(&tenant, range)).await {
                Ok(totals) => Json(totals).into_response(),
                Err(_) => ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "counting failed",
                )
                .into_response(),
            }
        }
        Err(error) => error.into_response(),
    }
}

async fn admin_bump_epoch(State(shop): State<Shop>) -> Response {
    Json(serde_json::json!({"epoch": shop.bump_epoch()})).into_response()
}

async fn admin_faults(State(shop): State<Shop>) -> Response {
    Json(shop.faults()).into_response()
}

async fn admin_set_faults(
    State(shop): State<Shop>,
    faults: Result<Json<Faults>, JsonRejection>,
) -> Response {
    let faults = match faults {
        Ok(Json(faults)) => faults,
        Err(rejection) => {
            return ApiError::invalid_parameter(rejection.body_text()).into_response()
        }
    };
    match shop.set_faults(faults) {
        Ok(()) => Json(shop.faults()).into_response(),
        Err(error) => ApiError::invalid_parameter(error.to_string()).into_response(),
    }
}

async fn admin_script(
    State(shop): State<Shop>,
    script: Result<Json<Vec<ScriptedFault>>, JsonRejection>,
) -> Response {
    let script = match script {
        Ok(Json(script)) => script,
        Err(rejection) => {
            return ApiError::invalid_parameter(rejection.body_text()).into_response()
        }
    };
    let bad_status = script.iter().find_map(|fault| match fault {
        ScriptedFault::Status { status, .. } if !(400..=599).contains(status) => Some(*status),
        _ => None,
    });
    if let Some(status) = bad_status {
        return ApiError::invalid_parameter(format!(
            "scripted statuses must be errors (400 to 599), got {status}"
        ))
        .into_response();
    }
    shop.script(script);
    Json(serde_json::json!({"queued": shop.scripted_remaining()})).into_response()
}

async fn admin_requests(State(shop): State<Shop>) -> Response {
    Json(shop.request_log()).into_response()
}
