//! Reading WooCommerce's answers: list bodies into records, WordPress error bodies into
//! [`ConnectorError`] classes (the shared client's [`Classifier`]), and the `X-WP-*` headers.
//! Pure functions over bytes and headers, so every mapping is unit-testable without a server.
//! Transport failures, `Retry-After` and secret scrubbing belong to the shared
//! [`HttpClient`](tributary_connector_http::HttpClient).

use crate::cursor::Listed;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use std::sync::Arc;
use tributary_connector::{ConnectorError, ErrorClass, Record};
use tributary_connector_http::{Classifier, ErrorResponse, HeaderMap};

/// `{"code": "woocommerce_rest_cannot_view", "message": "...", "data": {"status": 401}}`, the
/// shape of every WordPress REST error.
#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

/// Parses WooCommerce's `*_gmt` times: naive `2024-06-01T10:00:00` in UTC. Also accepts RFC
/// 3339 with an offset, which some proxies and plugins rewrite them to.
pub(crate) fn parse_gmt(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(naive) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        return Some(naive.and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// Formats a UTC second the way WooCommerce's `modified_after` expects with `dates_are_gmt`.
pub(crate) fn format_gmt(seconds: i64) -> String {
    DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// Whether a body is an HTML page rather than JSON (a maintenance, login or WAF page, which
/// WordPress and its hosts like to serve with status 200).
fn looks_like_html(headers: &HeaderMap, body: &[u8]) -> bool {
    let html_type = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.to_ascii_lowercase().contains("text/html"));
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    html_type || first == Some(&b'<')
}

/// Turns a 2xx list body into records and what pagination needs of each. `what` names the
/// request (method and path) for error messages.
pub(crate) fn parse_list(
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
) -> Result<Vec<(Record, Listed)>, ConnectorError> {
    let malformed = |message: String| ConnectorError::Malformed {
        message: format!("{what}: {message}"),
    };
    if looks_like_html(headers, body) {
        return Err(malformed(format!(
            "expected a JSON array but got an HTML page ({} bytes; maintenance mode, a login or firewall page?)",
            body.len()
        )));
    }
    let items: Vec<serde_json::Value> = serde_json::from_slice(body).map_err(|error| {
        malformed(format!(
            "the body is not a JSON array ({error}; {} bytes)",
            body.len()
        ))
    })?;
    let total = items.len();
    let mut records = Vec::with_capacity(total);
    for (position, data) in items.into_iter().enumerate() {
        if !data.is_object() {
            return Err(malformed(format!(
                "item {position} of {total} is not an object"
            )));
        }
        let Some(id) = data.get("id").and_then(serde_json::Value::as_u64) else {
            return Err(malformed(format!(
                "item {position} of {total} has no numeric `id`"
            )));
        };
        let time = |field: &str| -> Result<Option<DateTime<Utc>>, ConnectorError> {
            match data.get(field) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(text)) if text.is_empty() => Ok(None),
                Some(serde_json::Value::String(text)) => {
                    parse_gmt(text).map(Some).ok_or_else(|| {
                        malformed(format!(
                        "item {position} of {total} (id {id}): `{field}` {text:?} is not a date"
                    ))
                    })
                }
                Some(other) => Err(malformed(format!(
                    "item {position} of {total} (id {id}): `{field}` is not a string: {other}"
                ))),
            }
        };
        // Customers that never changed may have no modification time; their creation counts.
        let updated_at = match time("date_modified_gmt")? {
            Some(at) => Some(at),
            None => time("date_created_gmt")?,
        };
        let listed = Listed {
            id,
            modified: updated_at.map(|at| at.timestamp()),
        };
        let created_at = time("date_created_gmt")?;
        let record = Record {
            external_id: id.to_string(),
            updated_at,
            created_at,
            data,
        };
        records.push((record, listed));
    }
    Ok(records)
}

/// `X-WP-TotalPages`, when present and numeric.
pub(crate) fn total_pages(headers: &HeaderMap) -> Option<u32> {
    headers
        .get("x-wp-totalpages")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The shared client's [`Classifier`] for WooCommerce: every non-2xx answer goes through
/// [`http_error`]. The one answer that is not a failure, a 400 saying the page number is past
/// the end, comes back as [`ConnectorError::CursorInvalid`]: the client never makes that class
/// itself, so the connector can tell it apart by class alone and read it as the end of the
/// list (see `WooConnector::list`).
pub(crate) fn classifier() -> Classifier {
    Arc::new(|response: &ErrorResponse<'_>| {
        Some(
            http_error(response).unwrap_or_else(|| {
                response.error_with_detail(ErrorClass::CursorInvalid, PAST_THE_END)
            }),
        )
    })
}

/// What the past-the-end answer is called, should it ever be shown.
const PAST_THE_END: &str = "the page number is past the end of the list";

/// Classifies a non-2xx answer by the failure table (401/403 auth, 429 rate limited with
/// `Retry-After`, 408/5xx transient, other 4xx permanent), quoting the WordPress error body
/// (`{code}: {message}`) or, when it is not one, a snippet of the body.
///
/// A 400 whose code says the page number is past the end is not an error for a paginator: it
/// means the listing is exhausted, and `None` is returned for it.
pub(crate) fn http_error(response: &ErrorResponse<'_>) -> Option<ConnectorError> {
    let detail: Option<ErrorBody> = serde_json::from_slice(response.body).ok();
    if let Some(detail) = &detail {
        if response.status.as_u16() == 400 && detail.code.ends_with("invalid_page_number") {
            return None;
        }
    }
    let text = match detail {
        Some(detail) => format!("{}: {}", detail.code, detail.message),
        None => response.snippet(),
    };
    Some(response.error_with_detail(response.default_class(), &text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tributary_connector_http::{retry_after, HeaderValue, StatusCode, MAX_RETRY_AFTER};

    const WHAT: &str = "GET /wp-json/wc/v3/orders";

    /// [`super::http_error`] on an answer built from its parts, as the shared client would
    /// pass it (a `Retry-After` in seconds becomes the header).
    fn http_error(
        status: u16,
        retry_after: Option<Duration>,
        body: &[u8],
        what: &str,
    ) -> Option<ConnectorError> {
        let mut headers = HeaderMap::new();
        if let Some(delay) = retry_after {
            headers.insert("retry-after", HeaderValue::from(delay.as_secs()));
        }
        super::http_error(&ErrorResponse {
            request: what,
            status: StatusCode::from_u16(status).unwrap(),
            headers: &headers,
            body,
            now: Utc::now(),
        })
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn a_list_becomes_records_with_gmt_times() {
        let body = br#"[{"id":727,"date_modified":"2024-06-01T12:00:05","date_modified_gmt":"2024-06-01T10:00:05","total":"29.35"},
                        {"id":728,"date_created_gmt":"2024-05-01T00:00:00","date_modified_gmt":null}]"#;
        let records = parse_list(&HeaderMap::new(), body, WHAT).unwrap();
        let (first, listed) = &records[0];
        assert_eq!(first.external_id, "727");
        assert_eq!(
            first.updated_at.unwrap().to_rfc3339(),
            "2024-06-01T10:00:05+00:00"
        );
        assert_eq!(first.data["total"], "29.35");
        assert_eq!(listed.id, 727);
        assert_eq!(
            records[1].0.updated_at.unwrap().to_rfc3339(),
            "2024-05-01T00:00:00+00:00",
            "falls back to the creation time"
        );
        assert!(parse_list(&HeaderMap::new(), b" [] ", WHAT)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn html_and_broken_bodies_are_malformed_and_say_where() {
        let html = headers(&[("content-type", "text/html; charset=UTF-8")]);
        let cases: [(&HeaderMap, &[u8], &str); 6] = [
            (&html, b"{}", "HTML page"),
            (
                &HeaderMap::new(),
                b"\n<!DOCTYPE html><h1>Briefly unavailable for scheduled maintenance.</h1>",
                "HTML page",
            ),
            (&HeaderMap::new(), br#"[{"id":1},"#, "not a JSON array"),
            (&HeaderMap::new(), br#"{"id":1}"#, "not a JSON array"),
            (
                &HeaderMap::new(),
                br#"[{"id":"1"}]"#,
                "item 0 of 1 has no numeric `id`",
            ),
            (
                &HeaderMap::new(),
                br#"[{"id":1,"date_modified_gmt":"yesterday"}]"#,
                "(id 1): `date_modified_gmt` \"yesterday\"",
            ),
        ];
        for (headers, body, expected) in cases {
            let error = parse_list(headers, body, WHAT).unwrap_err();
            assert_eq!(error.class(), ErrorClass::Malformed, "{error}");
            let text = error.to_string();
            assert!(text.contains(WHAT) && text.contains(expected), "{text}");
        }
    }

    #[test]
    fn woo_error_bodies_map_to_classes() {
        let body = br#"{"code":"woocommerce_rest_cannot_view","message":"Sorry, you cannot list resources.","data":{"status":401}}"#;
        let error = http_error(401, None, body, WHAT).unwrap();
        assert_eq!(error.class(), ErrorClass::Auth);
        assert!(
            error
                .to_string()
                .contains("woocommerce_rest_cannot_view: Sorry, you cannot list resources."),
            "{error}"
        );
        let classes = [
            (403, ErrorClass::Auth),
            (429, ErrorClass::RateLimited),
            (500, ErrorClass::Transient),
            (503, ErrorClass::Transient),
            (400, ErrorClass::Permanent),
            (404, ErrorClass::Permanent),
        ];
        for (status, class) in classes {
            assert_eq!(http_error(status, None, b"", WHAT).unwrap().class(), class);
        }
        let error = http_error(429, Some(Duration::from_secs(3)), b"", WHAT).unwrap();
        assert_eq!(
            error,
            ConnectorError::RateLimited {
                retry_after: Some(Duration::from_secs(3)),
                message: format!("{WHAT}: "),
            }
        );
        let past_end = br#"{"code":"woocommerce_rest_invalid_page_number","message":"The page number requested is larger than the number of pages available.","data":{"status":400}}"#;
        assert_eq!(http_error(400, None, past_end, WHAT), None);
    }

    #[test]
    fn the_classifier_marks_the_past_the_end_answer_by_class() {
        let past_end = br#"{"code":"woocommerce_rest_invalid_page_number","message":"x","data":{"status":400}}"#;
        let invalid =
            br#"{"code":"rest_invalid_param","message":"Invalid parameter(s): per_page"}"#;
        let classify = |body: &[u8]| {
            classifier()(&ErrorResponse {
                request: WHAT,
                status: StatusCode::BAD_REQUEST,
                headers: &HeaderMap::new(),
                body,
                now: Utc::now(),
            })
            .unwrap()
        };
        assert_eq!(classify(past_end).class(), ErrorClass::CursorInvalid);
        let error = classify(invalid);
        assert_eq!(error.class(), ErrorClass::Permanent);
        assert_eq!(error.http_status(), Some(400));
        assert!(error.to_string().contains("rest_invalid_param"), "{error}");
    }

    #[test]
    fn headers_give_retry_after_and_total_pages() {
        let now = DateTime::parse_from_rfc3339("1994-11-06T08:49:30Z")
            .unwrap()
            .with_timezone(&Utc);
        let delay = |value: &str| retry_after(&headers(&[("retry-after", value)]), now);
        assert_eq!(delay("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            delay("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::from_secs(7))
        );
        assert_eq!(delay("Sun, 06 Nov 1994 08:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(delay("99999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(delay("soon"), None);
        assert_eq!(total_pages(&headers(&[("x-wp-totalpages", "7")])), Some(7));
        assert_eq!(total_pages(&HeaderMap::new()), None);
        assert_eq!(format_gmt(0), "1970-01-01T00:00:00");
    }
}
