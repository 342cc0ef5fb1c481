//! A small JSON API for the tests: the same dataset behind every pagination style the
//! connector supports, chosen per request by the `style` query parameter (`page_number`,
//! `offset`, `cursor`, `link_header`), so one URL template per style is all a test needs.
//!
//! `GET /v2/{tenant}/{stream}` serves `{"data": [...]}` (plus `{"meta": {"next": …}}` in the
//! cursor style). It requires `Authorization: <TOKEN>` and, when refused, echoes the header it
//! got (so the tests can prove the connector scrubs it). It filters by `updated_since` /
//! `updated_before` (RFC 3339), records every query string it was sent, and answers the next
//! request with an injected fault, once.

// Each test binary uses a different part of the mock.
#![allow(dead_code)]

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Duration as TimeDelta, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tributary_connector::{StreamName, TenantId};
use tributary_connector_testkit::{Fault, HugePage, MockSource, OddRecord};

/// The credential the mock accepts, as the whole `Authorization` value.
pub const TOKEN: &str = "Bearer s3cr3t-generic-http-token";
/// Records per page in the settings (and the server's default page size).
pub const PAGE_SIZE: usize = 100;

/// The mock's shared state.
#[derive(Default)]
struct Shared {
    fault: Mutex<Option<Fault>>,
    queries: Mutex<Vec<String>>,
}

/// A running mock API, seen through one pagination style.
pub struct MockApi {
    url: String,
    style: &'static str,
    shared: Arc<Shared>,
}

impl MockApi {
    /// Starts a mock on a loopback port; `style` is what [`MockSource::settings`] configures.
    pub async fn start(style: &'static str) -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v2/{tenant}/{stream}", get(list))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, style, shared }
    }

    /// The mock's base URL, `http://127.0.0.1:port`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every query string sent so far, in order.
    pub fn queries(&self) -> Vec<String> {
        self.shared.queries.lock().unwrap().clone()
    }
}

/// When the mock's records last changed: ticket `n` at 2024-06-01 plus `n` minutes.
pub fn ticket_time(id: usize) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + TimeDelta::minutes(id as i64)
}

/// A tenant's records in `stream`: none for `empty…`; for `huge…` 100 tickets of ~24 KiB;
/// otherwise 250 tickets (numeric ids, RFC 3339 times) and 40 users (string ids, unix
/// seconds).
pub fn records(tenant: &str, stream: &str) -> Vec<Value> {
    if tenant.starts_with("empty") {
        return Vec::new();
    }
    let huge = tenant.starts_with("huge");
    match stream {
        "tickets" => {
            let (count, padding) = if huge { (100, 12_000) } else { (250, 0) };
            (1..=count)
                .map(|id| {
                    json!({
                        "id": id,
                        "subject": format!("Ticket №{id}: café ☕"),
                        "priority": null,
                        "amount": format!("{id}.00"),
                        "requester": {"name": "Zoë", "email": format!("u{id}@example.com")},
                        "body": "ü".repeat(padding),
                        "updated_at": ticket_time(id).to_rfc3339(),
                    })
                })
                .collect()
        }
        "users" if !huge => (1..=40)
            .map(|n| {
                json!({
                    "id": format!("u-{n}"),
                    "name": format!("User {n}"),
                    "updated_at": ticket_time(n).timestamp(),
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// When a mock record last changed, whichever way it says it.
fn record_time(record: &Value) -> DateTime<Utc> {
    match &record["updated_at"] {
        Value::String(text) => DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc),
        other => DateTime::from_timestamp(other.as_i64().unwrap(), 0).unwrap(),
    }
}

fn error(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn number(query: &HashMap<String, String>, name: &str, default: usize) -> usize {
    query
        .get(name)
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

async fn list(
    State(shared): State<Arc<Shared>>,
    Path((tenant, stream)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    shared
        .queries
        .lock()
        .unwrap()
        .push(raw.clone().unwrap_or_default());
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    if given != TOKEN {
        // Echoes what it got, as careless APIs do.
        return error(
            StatusCode::UNAUTHORIZED,
            json!({"error": format!("invalid credential `{given}`")}),
        );
    }
    let fault = shared.fault.lock().unwrap().take();
    if let Some(fault) = fault {
        return match fault {
            Fault::RateLimited { retry_after } => {
                let mut response =
                    error(StatusCode::TOO_MANY_REQUESTS, json!({"error": "slow down"}));
                if let Some(delay) = retry_after {
                    response.headers_mut().insert(
                        header::RETRY_AFTER,
                        delay.as_secs().to_string().parse().unwrap(),
                    );
                }
                response
            }
            Fault::ServerError { status } | Fault::Unauthorized { status } => error(
                StatusCode::from_u16(status).unwrap(),
                json!({"error": "injected"}),
            ),
            Fault::MalformedBody => (
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"data": [{"id": 1, "subj"#,
            )
                .into_response(),
            _ => error(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": "?"})),
        };
    }
    if stream != "tickets" && stream != "users" {
        return error(StatusCode::NOT_FOUND, json!({"error": "no such stream"}));
    }
    let since = query.get("updated_since").map(|at| {
        DateTime::parse_from_rfc3339(at)
            .unwrap()
            .with_timezone(&Utc)
    });
    let before = query.get("updated_before").map(|at| {
        DateTime::parse_from_rfc3339(at)
            .unwrap()
            .with_timezone(&Utc)
    });
    let all: Vec<Value> = records(&tenant, &stream)
        .into_iter()
        .filter(|record| {
            let at = record_time(record);
            since.is_none_or(|since| at >= since) && before.is_none_or(|before| at < before)
        })
        .collect();
    let slice = |start: usize, size: usize| -> Vec<Value> {
        all.iter().skip(start).take(size).cloned().collect()
    };
    match query.get("style").map_or("page_number", String::as_str) {
        "page_number" => {
            let size = number(&query, "per_page", PAGE_SIZE);
            let page = number(&query, "page", 1).max(1);
            let body = json!({"data": slice((page - 1) * size, size)});
            ([("x-total-count", all.len().to_string())], axum::Json(body)).into_response()
        }
        "offset" => {
            let size = number(&query, "limit", PAGE_SIZE);
            let body = json!({"data": slice(number(&query, "offset", 0), size)});
            axum::Json(body).into_response()
        }
        "cursor" => {
            let start = match query.get("cursor") {
                None => 0,
                Some(token) => match token.strip_prefix("pos-").and_then(|n| n.parse().ok()) {
                    Some(start) => start,
                    None => return error(StatusCode::BAD_REQUEST, json!({"error": "bad cursor"})),
                },
            };
            let page = slice(start, PAGE_SIZE);
            let end = start + page.len();
            let next = (end < all.len()).then(|| format!("pos-{end}"));
            axum::Json(json!({"data": page, "meta": {"next": next}})).into_response()
        }
        "link_header" => {
            let page = number(&query, "page", 1).max(1);
            let body = json!({"data": slice((page - 1) * PAGE_SIZE, PAGE_SIZE)});
            let mut response = axum::Json(body).into_response();
            if page * PAGE_SIZE < all.len() {
                let mut pairs: Vec<(String, String)> = query
                    .iter()
                    .filter(|(name, _)| name.as_str() != "page")
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect();
                pairs.sort();
                pairs.push(("page".to_owned(), (page + 1).to_string()));
                let query: Vec<String> = pairs
                    .iter()
                    .map(|(name, value)| format!("{name}={}", value.replace('+', "%2B")))
                    .collect();
                let link = format!(
                    "</v2/{tenant}/{stream}?{}>; rel=\"next\", </v2/{tenant}/{stream}?style=link_header&page=1>; rel=\"first\"",
                    query.join("&")
                );
                response
                    .headers_mut()
                    .insert(header::LINK, link.parse().unwrap());
            }
            response
        }
        _ => error(StatusCode::BAD_REQUEST, json!({"error": "unknown style"})),
    }
}

/// The connector's settings for `style`, pointing at `base`.
pub fn settings_for(base: &str, style: &str) -> Value {
    let pagination = match style {
        "page_number" => json!({"style": "page_number", "page_size": PAGE_SIZE}),
        "offset" => json!({"style": "offset", "page_size": PAGE_SIZE}),
        "cursor" => json!({"style": "cursor", "next_cursor_path": "/meta/next"}),
        _ => json!({"style": "link_header"}),
    };
    json!({
        "url_template": format!("{base}/v2/{{tenant}}/{{stream}}?style={style}"),
        "streams": ["tickets", "users"],
        "auth": {"header": "Authorization", "value": TOKEN},
        "pagination": pagination,
        "records_path": "/data",
        "id_field": "/id",
        "updated_at_field": "/updated_at",
        "updated_since_param": "updated_since",
        "updated_before_param": "updated_before",
        "timeout_ms": 10_000,
    })
}

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

impl MockSource for MockApi {
    fn settings(&self) -> Value {
        settings_for(&self.url, self.style)
    }

    fn tenant(&self) -> TenantId {
        tenant("acme")
    }

    fn expected_ids(&self, tenant: &TenantId, stream: &StreamName) -> Vec<String> {
        records(tenant.as_str(), stream.as_str())
            .iter()
            .map(|record| match &record["id"] {
                Value::String(id) => id.clone(),
                other => other.to_string(),
            })
            .collect()
    }

    fn inject(&self, fault: &Fault) -> bool {
        *self.shared.fault.lock().unwrap() = Some(fault.clone());
        true
    }

    fn empty_tenant(&self) -> Option<TenantId> {
        Some(tenant("empty-acme"))
    }

    fn huge_page(&self) -> Option<HugePage> {
        Some(HugePage {
            tenant: tenant("huge-acme"),
            stream: StreamName::new("tickets").unwrap(),
        })
    }

    fn odd_record(&self) -> Option<OddRecord> {
        Some(OddRecord {
            tenant: tenant("acme"),
            stream: StreamName::new("tickets").unwrap(),
            external_id: "7".to_owned(),
            expect: vec![
                ("/subject".to_owned(), json!("Ticket №7: café ☕")),
                ("/priority".to_owned(), Value::Null),
                ("/amount".to_owned(), json!("7.00")),
                (
                    "/requester".to_owned(),
                    json!({"name": "Zoë", "email": "u7@example.com"}),
                ),
            ],
        })
    }
}
