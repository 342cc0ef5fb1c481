//! Reading the demo shop's responses: page bodies into records, error bodies and statuses into
//! [`ConnectorError`] classes, and rate-limit headers into hints. Pure functions over bytes and
//! headers, so every mapping is unit-testable without a server.

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde::Deserialize;
use std::time::Duration;
use tributary_connector::{ConnectorError, Cursor, Page, RateLimitHint, Record};

/// `{"data": [...], "has_more": bool, "next_cursor": "..." | null}`
#[derive(Deserialize)]
struct PageBody {
    data: Vec<serde_json::Value>,
    has_more: bool,
    #[serde(default)]
    next_cursor: Option<String>,
}

/// `{"error": {"code": "...", "message": "..."}}`
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    #[serde(default)]
    message: String,
}

/// Turns a 2xx page body into a [`Page`]. `what` names the request (method and path) for
/// error messages; `requested` is the cursor the page was asked from, to catch loops.
pub(crate) fn parse_page(
    body: &[u8],
    what: &str,
    requested: Option<&Cursor>,
    rate_limit: Option<RateLimitHint>,
) -> Result<Page, ConnectorError> {
    let malformed = |message: String| ConnectorError::Malformed {
        message: format!("{what}: {message}"),
    };
    let page: PageBody = serde_json::from_slice(body).map_err(|error| {
        malformed(format!(
            "the page body is not the expected JSON ({error}; {} bytes)",
            body.len()
        ))
    })?;
    let total = page.data.len();
    let mut records = Vec::with_capacity(total);
    for (position, data) in page.data.into_iter().enumerate() {
        let external_id = match data.get("id").and_then(serde_json::Value::as_str) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => {
                return Err(malformed(format!(
                    "record {position} of {total} has no non-empty string `id`"
                )))
            }
        };
        let updated_at = match data.get("updated_at") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(text)) => Some(
                DateTime::parse_from_rfc3339(text)
                    .map_err(|error| {
                        malformed(format!(
                            "record {position} of {total} (id {external_id}): `updated_at` {text:?} is not RFC 3339 ({error})"
                        ))
                    })?
                    .with_timezone(&Utc),
            ),
            Some(other) => {
                return Err(malformed(format!(
                    "record {position} of {total} (id {external_id}): `updated_at` is not a string: {other}"
                )))
            }
        };
        records.push(Record {
            external_id,
            updated_at,
            data,
        });
    }
    let next_cursor = match (page.has_more, page.next_cursor) {
        (false, _) => None,
        (true, Some(next)) if !next.is_empty() => Some(Cursor::new(next)),
        (true, _) => {
            return Err(malformed(
                "`has_more` is true but `next_cursor` is missing".to_owned(),
            ))
        }
    };
    if let (Some(next), Some(requested)) = (&next_cursor, requested) {
        if next == requested {
            return Err(ConnectorError::Permanent {
                status: None,
                message: format!(
                    "{what}: pagination loop: the next cursor is the one just requested"
                ),
            });
        }
    }
    Ok(Page {
        records,
        next_cursor,
        rate_limit,
    })
}

/// Classifies a non-2xx answer. A 400 whose code is `invalid_cursor` means the cursor expired
/// (restart the window); everything else goes through [`ConnectorError::from_http_status`].
pub(crate) fn http_error(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    what: &str,
) -> ConnectorError {
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|body| body.error);
    if let Some(detail) = &detail {
        if status == StatusCode::BAD_REQUEST && detail.code == "invalid_cursor" {
            return ConnectorError::CursorInvalid {
                message: format!("{what}: {}", detail.message),
            };
        }
    }
    let text = match detail {
        Some(detail) => format!("{what}: {}: {}", detail.code, detail.message),
        None => format!("{what}: {}", String::from_utf8_lossy(body).trim()),
    };
    ConnectorError::from_http_status(status.as_u16(), retry_after, &text)
}

/// The `X-RateLimit-*` headers, or `None` when the response carries none of them.
pub(crate) fn rate_limit_hint(headers: &HeaderMap) -> Option<RateLimitHint> {
    let number =
        |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    let hint = RateLimitHint {
        remaining: number("x-ratelimit-remaining"),
        limit: number("x-ratelimit-limit"),
        reset_after: number("x-ratelimit-reset").map(Duration::from_secs),
    };
    (hint != RateLimitHint::default()).then_some(hint)
}

/// `Retry-After` as delay-seconds or as an HTTP date (relative to `now`; a past date is zero).
pub(crate) fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // RFC 9110's IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") is valid RFC 2822.
    let at = DateTime::parse_from_rfc2822(text).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use tributary_connector::ErrorClass;

    const WHAT: &str = "GET /v1/tenants/acme/orders";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn a_page_becomes_records_and_a_cursor() {
        let body = br#"{"data":[{"id":"ord_000001","updated_at":"2024-06-01T10:00:00.500Z","total":"1.00"},
                               {"id":"ord_000002"}],"has_more":true,"next_cursor":"c1_x"}"#;
        let page = parse_page(body, WHAT, None, None).unwrap();
        assert_eq!(page.records.len(), 2);
        assert_eq!(page.records[0].external_id, "ord_000001");
        assert_eq!(
            page.records[0].updated_at.unwrap().to_rfc3339(),
            "2024-06-01T10:00:00.500+00:00"
        );
        assert_eq!(page.records[0].data["total"], "1.00");
        assert_eq!(page.records[1].updated_at, None);
        assert_eq!(page.next_cursor, Some(Cursor::new("c1_x")));

        let last = parse_page(
            br#"{"data":[],"has_more":false,"next_cursor":null}"#,
            WHAT,
            None,
            None,
        )
        .unwrap();
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn broken_pages_are_malformed_and_say_where() {
        let cases: [(&[u8], &str); 5] = [
            (br#"{"data":[{"id":"ord_1"},"#, "not the expected JSON"),
            (
                br#"{"data":[{"id":"ord_1"},{"name":"x"}],"has_more":false}"#,
                "record 1 of 2 has no non-empty string `id`",
            ),
            (br#"{"data":[{"id":7}],"has_more":false}"#, "record 0 of 1"),
            (
                br#"{"data":[{"id":"a","updated_at":"yesterday"}],"has_more":false}"#,
                "(id a): `updated_at` \"yesterday\"",
            ),
            (
                br#"{"data":[],"has_more":true,"next_cursor":null}"#,
                "`next_cursor` is missing",
            ),
        ];
        for (body, expected) in cases {
            let error = parse_page(body, WHAT, None, None).unwrap_err();
            assert_eq!(error.class(), ErrorClass::Malformed, "{error}");
            let text = error.to_string();
            assert!(text.contains(WHAT) && text.contains(expected), "{text}");
        }
    }

    #[test]
    fn a_cursor_that_does_not_advance_is_a_loop() {
        let cursor = Cursor::new("c1_same");
        let body = br#"{"data":[],"has_more":true,"next_cursor":"c1_same"}"#;
        let error = parse_page(body, WHAT, Some(&cursor), None).unwrap_err();
        assert_eq!(error.class(), ErrorClass::Permanent);
    }

    #[test]
    fn error_answers_map_to_classes() {
        let body = br#"{"error":{"code":"invalid_cursor","message":"restart"}}"#;
        let error = http_error(StatusCode::BAD_REQUEST, None, body, WHAT);
        assert_eq!(error.class(), ErrorClass::CursorInvalid);

        let body = br#"{"error":{"code":"invalid_parameter","message":"limit"}}"#;
        let error = http_error(StatusCode::BAD_REQUEST, None, body, WHAT);
        assert_eq!(error.class(), ErrorClass::Permanent);
        assert!(
            error.to_string().contains("invalid_parameter: limit"),
            "{error}"
        );

        let error = http_error(
            StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_secs(4)),
            b"",
            WHAT,
        );
        assert_eq!(
            error,
            ConnectorError::RateLimited {
                retry_after: Some(Duration::from_secs(4)),
                message: WHAT.to_owned() + ": ",
            }
        );
        let error = http_error(
            StatusCode::BAD_GATEWAY,
            None,
            b"<html>bad gateway</html>",
            WHAT,
        );
        assert_eq!(error.class(), ErrorClass::Transient);
        assert!(error.to_string().contains("<html>bad gateway"), "{error}");
        assert_eq!(
            http_error(StatusCode::FORBIDDEN, None, b"", WHAT).class(),
            ErrorClass::Auth
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("1994-11-06T08:49:30Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "120")]), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]),
                now
            ),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]),
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn rate_limit_headers_become_a_hint() {
        let hint = rate_limit_hint(&headers(&[
            ("x-ratelimit-limit", "6000"),
            ("x-ratelimit-remaining", "5999"),
            ("x-ratelimit-reset", "60"),
        ]))
        .unwrap();
        assert_eq!(
            hint,
            RateLimitHint {
                remaining: Some(5999),
                limit: Some(6000),
                reset_after: Some(Duration::from_secs(60)),
            }
        );
        assert_eq!(rate_limit_hint(&HeaderMap::new()), None);
    }
}
