//! Reading Shopify's answers: HTTP statuses, GraphQL `errors` (which arrive with HTTP 200) and
//! the `extensions.cost` block into [`ConnectorError`] classes and [`RateLimitHint`]s, and
//! connection pages into records. Pure functions over bytes, unit-testable without a server.
//!
//! Shopify's throttling is cost based: a leaky bucket of points (`maximumAvailable`, refilled
//! at `restoreRate` per second); each query asks for `requestedQueryCost` points up front. When
//! the bucket is short the answer is HTTP 200 with a `THROTTLED` error, so the status alone
//! never says "rate limited".

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde::Deserialize;
use std::time::Duration;
use tributary_connector::typed::TypedPage;
use tributary_connector::{ConnectorError, RateLimitHint, Record};

use crate::query::{ShopifyCursor, ShopifyStream};

/// Longest wait we derive from the cost fields. Refilling a 20,000-point Plus bucket at 50/s
/// takes 400 s; anything longer means the numbers are nonsense.
const MAX_COST_WAIT: Duration = Duration::from_secs(600);
/// Wait after a `THROTTLED` answer without usable cost numbers: one second restores 50 to 100
/// points on every plan, enough for a small page.
const THROTTLED_FALLBACK_WAIT: Duration = Duration::from_secs(1);
/// Longest excerpt of a response body quoted in an error message.
const MAX_QUOTED_BODY: usize = 512;

/// `extensions.cost` of a GraphQL response.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueryCost {
    #[serde(default)]
    requested_query_cost: Option<f64>,
    #[serde(default)]
    throttle_status: Option<ThrottleStatus>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThrottleStatus {
    maximum_available: f64,
    currently_available: f64,
    restore_rate: f64,
}

impl QueryCost {
    /// How long until the bucket holds enough points for a query as costly as this one; `None`
    /// when it already does (or the numbers do not allow an answer).
    fn wait_for_next_query(&self) -> Option<Duration> {
        let status = self.throttle_status.as_ref()?;
        let missing = self.requested_query_cost? - status.currently_available;
        if !(missing > 0.0 && status.restore_rate > 0.0) {
            return None;
        }
        let seconds = missing / status.restore_rate;
        // Round up to the millisecond, so waiting exactly this long is enough.
        let millis = (seconds * 1000.0)
            .ceil()
            .min(MAX_COST_WAIT.as_millis() as f64);
        Some(Duration::from_millis(millis as u64))
    }

    /// The bucket as a hint: points left, bucket size and the wait before the next query fits.
    pub(crate) fn hint(&self) -> Option<RateLimitHint> {
        let status = self.throttle_status.as_ref()?;
        Some(RateLimitHint {
            remaining: Some(status.currently_available.max(0.0).floor() as u64),
            limit: Some(status.maximum_available.max(0.0).floor() as u64),
            reset_after: self.wait_for_next_query(),
        })
    }
}

/// The GraphQL envelope: `{"data": ..., "errors": [...], "extensions": {"cost": ...}}`.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    data: Option<serde_json::Value>,
    /// An array of errors, or (for some transport-level failures) a bare string.
    #[serde(default)]
    errors: Option<serde_json::Value>,
    #[serde(default)]
    extensions: Option<Extensions>,
}

#[derive(Deserialize)]
struct Extensions {
    #[serde(default)]
    cost: Option<QueryCost>,
}

/// A successful GraphQL answer: its `data` and the cost hint.
#[derive(Debug)]
pub(crate) struct GraphqlData {
    pub(crate) data: serde_json::Value,
    pub(crate) rate_limit: Option<RateLimitHint>,
}

/// Classifies a complete HTTP answer. `what` names the request for messages; `retry_after` is
/// the parsed `Retry-After` header, if any.
pub(crate) fn read_response(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    what: &str,
) -> Result<GraphqlData, ConnectorError> {
    if !status.is_success() {
        return Err(http_error(status, retry_after, body, what));
    }
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|error| ConnectorError::Malformed {
            message: format!(
                "{what}: the body is not a GraphQL JSON response ({error}; {} bytes)",
                body.len()
            ),
        })?;
    let cost = envelope.extensions.and_then(|extensions| extensions.cost);
    if let Some(errors) = envelope.errors {
        return Err(graphql_error(&errors, cost.as_ref(), what));
    }
    match envelope.data {
        Some(data) if data.is_object() => Ok(GraphqlData {
            data,
            rate_limit: cost.as_ref().and_then(QueryCost::hint),
        }),
        _ => Err(ConnectorError::Malformed {
            message: format!("{what}: the response has neither `data` nor `errors`"),
        }),
    }
}

/// A non-2xx answer. Shopify's error bodies are `{"errors": "..."}` or `{"errors": {...}}`.
pub(crate) fn http_error(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    what: &str,
) -> ConnectorError {
    let said = quoted_body(body);
    let code = status.as_u16();
    match code {
        402 | 423 => ConnectorError::Auth {
            status: Some(code),
            message: format!(
                "{what}: the shop is frozen or locked (unpaid or suspended); its owner must act: {said}"
            ),
        },
        404 => ConnectorError::Config {
            message: format!(
                "{what}: not found (HTTP 404): wrong shop or unsupported API version: {said}"
            ),
        },
        _ => ConnectorError::from_http_status(code, retry_after, &format!("{what}: {said}")),
    }
}

/// The `errors` of a body as text: the `errors` string when it is one, else the body itself.
fn quoted_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let errors = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|value| value.get("errors").cloned());
    let said = match errors {
        Some(serde_json::Value::String(message)) => message,
        Some(other) => other.to_string(),
        None => text.into_owned(),
    };
    said.chars().take(MAX_QUOTED_BODY).collect()
}

/// How Shopify's `extensions.code` values are handled, most urgent first: a throttle must
/// snooze even when other errors came with it; refused access needs a human.
fn graphql_error(
    errors: &serde_json::Value,
    cost: Option<&QueryCost>,
    what: &str,
) -> ConnectorError {
    let entries: Vec<(Option<&str>, &str)> = match errors {
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| {
                let code = item
                    .pointer("/extensions/code")
                    .and_then(serde_json::Value::as_str);
                let message = item
                    .get("message")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("(no message)");
                (code, message)
            })
            .collect(),
        serde_json::Value::String(message) => vec![(None, message.as_str())],
        _ => vec![(None, "(unreadable `errors`)")],
    };
    let described: String = entries
        .iter()
        .map(|(code, message)| match code {
            Some(code) => format!("{code}: {message}"),
            None => (*message).to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
        .chars()
        .take(MAX_QUOTED_BODY)
        .collect();
    let message = format!("{what}: {described}");
    let has = |wanted: &[&str]| {
        entries
            .iter()
            .any(|(code, _)| code.is_some_and(|code| wanted.contains(&code)))
    };
    if has(&["THROTTLED"]) {
        let retry_after = cost
            .and_then(QueryCost::wait_for_next_query)
            .unwrap_or(THROTTLED_FALLBACK_WAIT);
        return ConnectorError::RateLimited {
            retry_after: Some(retry_after),
            message,
        };
    }
    if has(&["ACCESS_DENIED", "UNAUTHORIZED", "FORBIDDEN"]) {
        return ConnectorError::Auth {
            status: None,
            message,
        };
    }
    if has(&["SHOP_INACTIVE"]) {
        return ConnectorError::Config { message };
    }
    if has(&["INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"]) {
        return ConnectorError::Transient {
            status: None,
            message,
        };
    }
    if has(&["MAX_COST_EXCEEDED"]) {
        return ConnectorError::Permanent {
            status: None,
            message: format!("{message} (lower `page_size`)"),
        };
    }
    // Query and schema errors (`undefinedField`, parse failures, bad arguments): a change on
    // Shopify's side or a bug on ours; retrying the same document cannot succeed.
    ConnectorError::Permanent {
        status: None,
        message,
    }
}

/// `{"pageInfo": {...}, "nodes": [...]}` of a connection.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Connection {
    page_info: PageInfo,
    nodes: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    #[serde(default)]
    end_cursor: Option<String>,
}

/// Turns `data.{stream}` into a [`TypedPage`]. `requested` is the `endCursor` the page was asked
/// after, to catch a source that does not advance.
pub(crate) fn parse_page(
    answer: GraphqlData,
    stream: ShopifyStream,
    requested: Option<&str>,
    what: &str,
) -> Result<TypedPage<ShopifyCursor>, ConnectorError> {
    let malformed = |message: String| ConnectorError::Malformed {
        message: format!("{what}: {message}"),
    };
    let field = stream.name();
    let connection = answer
        .data
        .get(field)
        .filter(|value| !value.is_null())
        .ok_or_else(|| malformed(format!("`data.{field}` is missing")))?;
    let connection = Connection::deserialize(connection).map_err(|error| {
        malformed(format!(
            "`data.{field}` is not a connection with `pageInfo` and `nodes` ({error})"
        ))
    })?;
    let total = connection.nodes.len();
    let mut records = Vec::with_capacity(total);
    for (position, data) in connection.nodes.into_iter().enumerate() {
        let external_id = match data.get("id").and_then(serde_json::Value::as_str) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => {
                return Err(malformed(format!(
                    "node {position} of {total} has no non-empty string `id`"
                )))
            }
        };
        let updated_at = match data.get("updatedAt") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(text)) => Some(
                DateTime::parse_from_rfc3339(text)
                    .map_err(|error| {
                        malformed(format!(
                            "node {position} of {total} ({external_id}): `updatedAt` {text:?} is not RFC 3339 ({error})"
                        ))
                    })?
                    .with_timezone(&Utc),
            ),
            Some(other) => {
                return Err(malformed(format!(
                    "node {position} of {total} ({external_id}): `updatedAt` is not a string: {other}"
                )))
            }
        };
        // A creation time that is missing or not RFC 3339 only keeps the record out of
        // reconciliation windows; it is no reason to refuse the page.
        let created_at = data
            .get("createdAt")
            .and_then(serde_json::Value::as_str)
            .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
            .map(|at| at.with_timezone(&Utc));
        records.push(Record {
            external_id,
            updated_at,
            created_at,
            data,
        });
    }
    let page_info = connection.page_info;
    let next_cursor = match (page_info.has_next_page, page_info.end_cursor) {
        (false, _) => None,
        (true, Some(end)) if !end.is_empty() => {
            if requested == Some(end.as_str()) {
                return Err(ConnectorError::Permanent {
                    status: None,
                    message: format!(
                        "{what}: pagination loop: `hasNextPage` is true but `endCursor` is the cursor just requested"
                    ),
                });
            }
            Some(ShopifyCursor { after: end })
        }
        (true, _) => {
            return Err(malformed(
                "`hasNextPage` is true but `endCursor` is missing".to_owned(),
            ))
        }
    };
    Ok(TypedPage {
        records,
        next_cursor,
        rate_limit: answer.rate_limit,
    })
}

/// Reads `data.{stream}Count.count`. A count Shopify marks as a lower bound is refused:
/// reconciliation needs the exact number.
pub(crate) fn parse_count(
    answer: &GraphqlData,
    stream: ShopifyStream,
    what: &str,
) -> Result<u64, ConnectorError> {
    let field = stream.count_field();
    let count = answer.data.get(field);
    let precision = count
        .and_then(|count| count.get("precision"))
        .and_then(serde_json::Value::as_str);
    if precision == Some("AT_LEAST") {
        return Err(ConnectorError::Permanent {
            status: None,
            message: format!("{what}: `{field}` is only a lower bound (precision AT_LEAST)"),
        });
    }
    count
        .and_then(|count| count.get("count"))
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| ConnectorError::Malformed {
            message: format!("{what}: `data.{field}.count` is missing or not a whole number"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_connector::ErrorClass;

    const WHAT: &str = "POST /admin/api/2025-01/graphql.json (orders)";

    fn ok(body: &str) -> Result<GraphqlData, ConnectorError> {
        read_response(StatusCode::OK, None, body.as_bytes(), WHAT)
    }

    const COST: &str = r#""extensions":{"cost":{"requestedQueryCost":102,"actualQueryCost":null,
        "throttleStatus":{"maximumAvailable":1000.0,"currentlyAvailable":52.0,"restoreRate":50.0}}}"#;

    #[test]
    fn throttled_in_a_200_is_rate_limited_until_the_bucket_refills() {
        let body = format!(
            r#"{{"errors":[{{"message":"Throttled","extensions":{{"code":"THROTTLED","documentation":"https://shopify.dev/api/usage/rate-limits"}}}}],{COST}}}"#
        );
        let error = ok(&body).unwrap_err();
        // (102 - 52) / 50 = 1 s.
        assert_eq!(
            error,
            ConnectorError::RateLimited {
                retry_after: Some(Duration::from_secs(1)),
                message: format!("{WHAT}: THROTTLED: Throttled"),
            }
        );
        let bare = r#"{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}]}"#;
        assert!(matches!(
            ok(bare).unwrap_err(),
            ConnectorError::RateLimited { retry_after: Some(wait), .. } if wait == THROTTLED_FALLBACK_WAIT
        ));
    }

    #[test]
    fn the_cost_extension_becomes_a_hint() {
        let body = format!(r#"{{"data":{{"orders":null}},{COST}}}"#);
        let answer = ok(&body).unwrap();
        assert_eq!(
            answer.rate_limit,
            Some(RateLimitHint {
                remaining: Some(52),
                limit: Some(1000),
                reset_after: Some(Duration::from_secs(1)),
            })
        );
        let plenty = r#"{"data":{},"extensions":{"cost":{"requestedQueryCost":12,"actualQueryCost":12,
            "throttleStatus":{"maximumAvailable":1000.0,"currentlyAvailable":988.5,"restoreRate":50.0}}}}"#;
        let hint = ok(plenty).unwrap().rate_limit.unwrap();
        assert_eq!((hint.remaining, hint.reset_after), (Some(988), None));
    }

    #[test]
    fn graphql_error_codes_map_to_classes() {
        let class = |code: &str| {
            let body = format!(
                r#"{{"errors":[{{"message":"m","extensions":{{"code":"{code}"}}}}],"data":null}}"#
            );
            ok(&body).unwrap_err().class()
        };
        assert_eq!(class("ACCESS_DENIED"), ErrorClass::Auth);
        assert_eq!(class("INTERNAL_SERVER_ERROR"), ErrorClass::Transient);
        assert_eq!(class("SHOP_INACTIVE"), ErrorClass::Config);
        assert_eq!(class("MAX_COST_EXCEEDED"), ErrorClass::Permanent);
        assert_eq!(class("undefinedField"), ErrorClass::Permanent);
        let syntax = r#"{"errors":[{"message":"syntax error, unexpected end of file","locations":[{"line":1,"column":9}]}]}"#;
        let error = ok(syntax).unwrap_err();
        assert_eq!(error.class(), ErrorClass::Permanent);
        assert!(error.to_string().contains("syntax error"), "{error}");
    }

    #[test]
    fn http_statuses_map_to_classes() {
        let class = |status: u16, body: &str| {
            http_error(
                StatusCode::from_u16(status).unwrap(),
                None,
                body.as_bytes(),
                WHAT,
            )
        };
        let unauthorized = class(
            401,
            r#"{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}"#,
        );
        assert_eq!(unauthorized.class(), ErrorClass::Auth);
        assert!(unauthorized.to_string().contains("[API] Invalid API key"));
        assert_eq!(class(403, "").class(), ErrorClass::Auth);
        assert_eq!(class(402, "").class(), ErrorClass::Auth);
        assert_eq!(
            class(404, r#"{"errors":"Not Found"}"#).class(),
            ErrorClass::Config
        );
        assert_eq!(class(503, "<html>").class(), ErrorClass::Transient);
        assert_eq!(class(400, "").class(), ErrorClass::Permanent);
        let limited = http_error(
            StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_secs(2)),
            b"",
            WHAT,
        );
        assert!(matches!(
            limited,
            ConnectorError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_secs(2)
        ));
    }

    #[test]
    fn malformed_bodies_are_malformed() {
        for body in [
            r#"{"data":{"orders":"#,
            "<html>login</html>",
            r#"{"extensions":{}}"#,
        ] {
            assert_eq!(
                ok(body).unwrap_err().class(),
                ErrorClass::Malformed,
                "{body}"
            );
        }
        let answer = ok(
            r#"{"data":{"orders":{"pageInfo":{"hasNextPage":true,"endCursor":null},"nodes":[]}}}"#,
        )
        .unwrap();
        let error = parse_page(answer, ShopifyStream::Orders, None, WHAT).unwrap_err();
        assert!(
            error.to_string().contains("`endCursor` is missing"),
            "{error}"
        );
        let answer =
            ok(r#"{"data":{"orders":{"pageInfo":{"hasNextPage":false},"nodes":[{"id":7}]}}}"#)
                .unwrap();
        let error = parse_page(answer, ShopifyStream::Orders, None, WHAT).unwrap_err();
        assert!(error.to_string().contains("node 0 of 1"), "{error}");
    }

    #[test]
    fn a_page_becomes_records_and_a_same_cursor_is_a_loop() {
        let body = r#"{"data":{"orders":{"pageInfo":{"hasNextPage":true,"endCursor":"abc"},
            "nodes":[{"id":"gid://shopify/Order/1","updatedAt":"2024-06-01T10:00:00Z","email":null}]}}}"#;
        let page = parse_page(ok(body).unwrap(), ShopifyStream::Orders, None, WHAT).unwrap();
        assert_eq!(page.records[0].external_id, "gid://shopify/Order/1");
        assert_eq!(
            page.records[0].updated_at.unwrap().to_rfc3339(),
            "2024-06-01T10:00:00+00:00"
        );
        assert_eq!(page.next_cursor.unwrap().end_cursor().unwrap(), "abc");
        let error =
            parse_page(ok(body).unwrap(), ShopifyStream::Orders, Some("abc"), WHAT).unwrap_err();
        assert_eq!(error.class(), ErrorClass::Permanent);
        assert!(error.to_string().contains("pagination loop"), "{error}");
    }

    #[test]
    fn counts_must_be_exact() {
        let answer = ok(r#"{"data":{"ordersCount":{"count":42,"precision":"EXACT"}}}"#).unwrap();
        assert_eq!(
            parse_count(&answer, ShopifyStream::Orders, WHAT).unwrap(),
            42
        );
        let answer =
            ok(r#"{"data":{"ordersCount":{"count":10000,"precision":"AT_LEAST"}}}"#).unwrap();
        assert!(parse_count(&answer, ShopifyStream::Orders, WHAT).is_err());
    }
}
