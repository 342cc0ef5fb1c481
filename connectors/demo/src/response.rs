//! What is specific to the demo shop's answers: its page body into records and a cursor, and
//! its error body (`{"error": {"code", "message"}}`) into a class. Statuses, headers, bodies
//! that do not parse and cursor encoding are `tributary-connector-http`'s business.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::sync::Arc;
use tributary_connector::typed::TypedPage;
use tributary_connector::{ConnectorError, Cursor, ErrorClass, RateLimitHint, Record};
use tributary_connector_http::{with_context, Classifier, ErrorResponse, TokenPaginator};

/// `{"data": [...], "has_more": bool, "next_cursor": "..." | null}`
#[derive(Debug, Deserialize)]
pub(crate) struct PageBody {
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

/// The shop's opaque `next_cursor`, sent back as the `cursor` query parameter.
pub(crate) fn paginator() -> TokenPaginator {
    TokenPaginator::new("cursor")
}

/// Reads the shop's error body: `invalid_cursor` on a 400 means the cursor expired (restart
/// the window); any other code keeps the status table's class with `code: message` as the
/// detail. A body that is not the shop's error shape falls back to the default snippet.
pub(crate) fn classifier() -> Classifier {
    Arc::new(|response: &ErrorResponse<'_>| {
        let detail = serde_json::from_slice::<ErrorBody>(response.body)
            .ok()?
            .error;
        let text = format!("{}: {}", detail.code, detail.message);
        let class = if response.status.as_u16() == 400 && detail.code == "invalid_cursor" {
            ErrorClass::CursorInvalid
        } else {
            response.default_class()
        };
        Some(response.error_with_detail(class, &text))
    })
}

/// Turns a parsed 2xx page body into a [`TypedPage`]. `request` names the request for error
/// messages; `requested` is the cursor the page was asked from, to catch loops.
pub(crate) fn into_page(
    body: PageBody,
    request: &str,
    requested: Option<&Cursor>,
    rate_limit: Option<RateLimitHint>,
) -> Result<TypedPage<Cursor>, ConnectorError> {
    let malformed = |message: String| ConnectorError::Malformed {
        message: format!("{request}: {message}"),
    };
    let total = body.data.len();
    let mut records = Vec::with_capacity(total);
    for (position, data) in body.data.into_iter().enumerate() {
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
        // The shop always sends `created_at`; one it cannot read only keeps the record out of
        // reconciliation windows.
        let created_at = data
            .get("created_at")
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
    let next_cursor = paginator()
        .next(requested, body.next_cursor.as_deref(), Some(body.has_more))
        .map_err(|error| with_context(request, error))?;
    Ok(TypedPage {
        records,
        next_cursor,
        rate_limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_connector_http::{parse_json_body, HeaderMap, StatusCode};

    const REQUEST: &str = "GET http://127.0.0.1:8089/v1/tenants/acme/orders";

    fn page(body: &[u8], requested: Option<&Cursor>) -> Result<TypedPage<Cursor>, ConnectorError> {
        let body: PageBody = parse_json_body(REQUEST, body)?;
        into_page(body, REQUEST, requested, None)
    }

    #[test]
    fn a_page_becomes_records_and_a_cursor() {
        let body = br#"{"data":[{"id":"ord_000001","updated_at":"2024-06-01T10:00:00.500Z","total":"1.00"},
                               {"id":"ord_000002"}],"has_more":true,"next_cursor":"c1_x"}"#;
        let first = page(body, None).unwrap();
        assert_eq!(first.records.len(), 2);
        assert_eq!(first.records[0].external_id, "ord_000001");
        assert_eq!(
            first.records[0].updated_at.unwrap().to_rfc3339(),
            "2024-06-01T10:00:00.500+00:00"
        );
        assert_eq!(first.records[0].data["total"], "1.00");
        assert_eq!(first.records[1].updated_at, None);
        let cursor = first.next_cursor.unwrap();
        assert_eq!(
            paginator().token(Some(&cursor)).unwrap().as_deref(),
            Some("c1_x")
        );

        let last = page(
            br#"{"data":[],"has_more":false,"next_cursor":null}"#,
            Some(&cursor),
        )
        .unwrap();
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn broken_pages_are_malformed_and_say_where() {
        let cases: [(&[u8], &str); 5] = [
            (br#"{"data":[{"id":"ord_1"},"#, "the body ends early"),
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
                "says it has more, but gives no next cursor",
            ),
        ];
        for (body, expected) in cases {
            let error = page(body, None).unwrap_err();
            assert_eq!(error.class(), ErrorClass::Malformed, "{error}");
            let text = error.to_string();
            assert!(text.contains(REQUEST) && text.contains(expected), "{text}");
        }
    }

    #[test]
    fn a_cursor_that_does_not_advance_is_a_loop() {
        let cursor = paginator()
            .next(None, Some("c1_same"), Some(true))
            .unwrap()
            .unwrap();
        let body = br#"{"data":[],"has_more":true,"next_cursor":"c1_same"}"#;
        let error = page(body, Some(&cursor)).unwrap_err();
        assert_eq!(error.class(), ErrorClass::Permanent);
        let text = error.to_string();
        assert!(
            text.contains(REQUEST) && text.contains("pagination loop detected"),
            "{text}"
        );
    }

    #[test]
    fn error_bodies_refine_the_status_table() {
        let classify = |status: u16, body: &[u8]| {
            let headers = HeaderMap::new();
            let response = ErrorResponse {
                request: REQUEST,
                status: StatusCode::from_u16(status).unwrap(),
                headers: &headers,
                body,
                now: Utc::now(),
            };
            tributary_connector_http::classify(&response, Some(&classifier()))
        };
        let error = classify(
            400,
            br#"{"error":{"code":"invalid_cursor","message":"restart"}}"#,
        );
        assert_eq!(error.class(), ErrorClass::CursorInvalid);
        assert!(error.to_string().contains("invalid_cursor: restart"));

        let error = classify(
            400,
            br#"{"error":{"code":"invalid_parameter","message":"limit"}}"#,
        );
        assert_eq!(error.class(), ErrorClass::Permanent);
        assert!(
            error.to_string().contains("invalid_parameter: limit"),
            "{error}"
        );

        let error = classify(401, br#"{"error":{"code":"unauthorized"}}"#);
        assert_eq!(error.class(), ErrorClass::Auth);
        let error = classify(502, b"<html>bad gateway</html>");
        assert_eq!(error.class(), ErrorClass::Transient);
        assert!(error.to_string().contains("<html>bad gateway"), "{error}");
    }
}
