//! Reading Stripe's answers: list bodies into records and the next cursor, error bodies and
//! headers into [`ConnectorError`] classes. Pure functions over bytes and header values, so
//! every mapping is unit-testable without a server.
//!
//! Every message built here goes through [`redact`], so an API key that a server (or a proxy)
//! echoes back never reaches an error, a log line or a dead letter.

use crate::cursor::{is_object_id, CreatedRange, ListCursor};
use crate::StripeStream;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::sync::Arc;
use tributary_connector::typed::TypedPage;
use tributary_connector::{ConnectorError, ErrorClass, Record};
use tributary_connector_http::{Classifier, ErrorResponse, HeaderMap, Url};

/// `{"object": "list", "url": "/v1/charges", "has_more": bool, "data": [...]}`
#[derive(Deserialize)]
struct ListBody {
    data: Vec<serde_json::Value>,
    has_more: bool,
}

/// `{"error": {"type": "...", "code": "...", "message": "...", "param": "..."}}`
#[derive(Deserialize)]
struct ErrorBody {
    error: StripeError,
}

#[derive(Deserialize)]
struct StripeError {
    #[serde(rename = "type")]
    error_type: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    param: Option<String>,
}

/// What identifies one request in messages: `GET /v1/charges (request req_abc)`.
#[derive(Debug, Clone)]
pub(crate) struct RequestLabel {
    pub(crate) method_and_path: String,
    /// Stripe's `Request-Id` header: what Stripe support asks for.
    pub(crate) request_id: Option<String>,
}

impl std::fmt::Display for RequestLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.method_and_path)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request {id})")?;
        }
        Ok(())
    }
}

/// Turns a 2xx list body (already JSON) into a [`TypedPage`]. `requested` is the cursor the page was asked from,
/// to catch a list that does not advance.
pub(crate) fn parse_list(
    value: serde_json::Value,
    label: &RequestLabel,
    stream: StripeStream,
    range: CreatedRange,
    requested: Option<&ListCursor>,
) -> Result<TypedPage<ListCursor>, ConnectorError> {
    let malformed = |message: String| ConnectorError::Malformed {
        message: format!("{label}: {message}"),
    };
    match value.get("object").and_then(serde_json::Value::as_str) {
        Some("list") => {}
        Some(other) => {
            return Err(malformed(format!(
                "expected an object of type `list`, got `{}`",
                other.chars().take(64).collect::<String>()
            )))
        }
        None => {
            return Err(malformed(
                "expected an object of type `list`, got a body without `object`".to_owned(),
            ))
        }
    }
    let list: ListBody = serde_json::from_value(value)
        .map_err(|error| malformed(format!("the body is not a Stripe list ({error})")))?;
    let total = list.data.len();
    let mut records = Vec::with_capacity(total);
    for (position, data) in list.data.into_iter().enumerate() {
        let external_id = match data.get("id").and_then(serde_json::Value::as_str) {
            Some(id) if is_object_id(id) => id.to_owned(),
            _ => {
                return Err(malformed(format!(
                    "record {position} of {total} has no Stripe object id in `id`"
                )))
            }
        };
        let where_ = || format!("record {position} of {total} (id {external_id})");
        match data.get("object").and_then(serde_json::Value::as_str) {
            Some(object) if object != stream.object_name() => {
                return Err(malformed(format!(
                    "{}: is a `{}`, not a `{}`",
                    where_(),
                    object.chars().take(64).collect::<String>(),
                    stream.object_name()
                )))
            }
            _ => {}
        }
        let created = data
            .get("created")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| {
                malformed(format!(
                    "{}: `created` is not a unix timestamp in seconds",
                    where_()
                ))
            })?;
        let created_at = DateTime::<Utc>::from_timestamp(created, 0).ok_or_else(|| {
            malformed(format!("{}: `created` {created} is out of range", where_()))
        })?;
        records.push(Record {
            external_id,
            // Stripe objects carry no updated-at; creation is the only timestamp they all have.
            updated_at: Some(created_at),
            created_at: Some(created_at),
            data,
        });
    }
    let next_cursor = if list.has_more {
        let Some(last) = records.last() else {
            return Err(malformed(
                "`has_more` is true but the page is empty, so there is no id to continue after"
                    .to_owned(),
            ));
        };
        if requested.is_some_and(|cursor| cursor.last_id == last.external_id) {
            return Err(ConnectorError::Permanent {
                status: None,
                message: format!(
                    "{label}: pagination loop: `has_more` is true and the page ends at {}, the id it started after",
                    last.external_id
                ),
            });
        }
        Some(ListCursor {
            stream,
            range,
            last_id: last.external_id.clone(),
        })
    } else {
        None
    };
    Ok(TypedPage {
        records,
        next_cursor,
        // Stripe sends no rate-limit headers: its limits are only visible as 429s.
        rate_limit: None,
    })
}

/// Stripe's verdict on whether a failed request may succeed if retried.
const STRIPE_SHOULD_RETRY: &str = "stripe-should-retry";
/// Stripe's id of one request, for support tickets and its dashboard's logs.
const REQUEST_ID: &str = "request-id";

/// Names a request the Stripe way, from what the shared client calls it
/// (`GET https://api.stripe.com/v1/charges`) and the answer's `Request-Id`:
/// `GET /v1/charges (request req_abc)`.
pub(crate) fn label(request: &str, headers: &HeaderMap) -> RequestLabel {
    let (method, url) = request.split_once(' ').unwrap_or(("", request));
    let path = Url::parse(url).map_or_else(|_| url.to_owned(), |url| url.path().to_owned());
    RequestLabel {
        method_and_path: format!("{method} {path}"),
        request_id: headers
            .get(REQUEST_ID)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|id| is_object_id(id))
            .map(str::to_owned),
    }
}

/// The shared client's [`Classifier`] for Stripe: every non-2xx answer goes through
/// [`http_error`], with `api_key` redacted from its message.
pub(crate) fn classifier(api_key: String) -> Classifier {
    Arc::new(move |response: &ErrorResponse<'_>| Some(http_error(response, &api_key)))
}

/// Classifies a non-2xx answer:
///
/// * 429 → rate limited (with `Retry-After` if present); 401/403 → auth;
/// * 400 `resource_missing` on `starting_after` → cursor invalid: the object the cursor
///   continues after is gone (a deleted customer or draft invoice), so the window restarts;
/// * `Stripe-Should-Retry: false` → permanent, `true` → transient, whatever the status;
/// * otherwise 409 (Stripe's `lock_timeout`; Stripe's own clients retry it), 408 and 5xx →
///   transient, any other status → permanent.
///
/// The message carries Stripe's error type, code and message (or the start of a non-JSON
/// body) and the `Request-Id`, redacted of anything that looks like an API key.
pub(crate) fn http_error(response: &ErrorResponse<'_>, api_key: &str) -> ConnectorError {
    let status = response.status.as_u16();
    let label = label(response.request, response.headers).to_string();
    let detail = serde_json::from_slice::<ErrorBody>(response.body)
        .ok()
        .map(|body| body.error);
    let text = match &detail {
        Some(detail) => {
            let mut text = detail.error_type.clone();
            if let Some(code) = &detail.code {
                text.push('/');
                text.push_str(code);
            }
            if let Some(param) = &detail.param {
                text.push_str(&format!(" (param {param})"));
            }
            if let Some(message) = &detail.message {
                text.push_str(": ");
                text.push_str(message);
            }
            text
        }
        None => format!(
            "HTTP {status} with a non-Stripe body: {:?}",
            response.snippet()
        ),
    };
    let cursor_gone = matches!(status, 400 | 404)
        && detail.as_ref().is_some_and(|detail| {
            detail.code.as_deref() == Some("resource_missing")
                && detail.param.as_deref() == Some("starting_after")
        });
    let class = match (status, should_retry(response.header(STRIPE_SHOULD_RETRY))) {
        (429, _) => ErrorClass::RateLimited,
        (401 | 403, _) => ErrorClass::Auth,
        _ if cursor_gone => ErrorClass::CursorInvalid,
        (_, Some(false)) => ErrorClass::Permanent,
        (_, Some(true)) | (409, None) => ErrorClass::Transient,
        (_, None) => response.default_class(),
    };
    // The standard shape, `{request}: {detail}`, with Stripe's label as the request.
    ErrorResponse {
        request: &label,
        ..*response
    }
    .error_with_detail(class, &redact(&text, api_key))
}

/// The shared client's refusal of a 2xx body that is not JSON at all, in Stripe's terms;
/// `described` is the client's name for the request, dropped from its message.
pub(crate) fn not_json(
    label: &RequestLabel,
    described: &str,
    error: ConnectorError,
) -> ConnectorError {
    match error {
        ConnectorError::Malformed { message } => {
            let why = message
                .strip_prefix(described)
                .and_then(|rest| rest.strip_prefix(": "))
                .unwrap_or(&message);
            ConnectorError::Malformed {
                message: format!("{label}: the body is not JSON: {why}"),
            }
        }
        other => other,
    }
}

/// `Stripe-Should-Retry`, when it says `true` or `false`.
pub(crate) fn should_retry(value: Option<&str>) -> Option<bool> {
    match value?.trim() {
        text if text.eq_ignore_ascii_case("true") => Some(true),
        text if text.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// `text` with `api_key`, and anything else shaped like a Stripe secret or restricted key
/// (`sk_live_…`, `rk_test_…`), replaced. Stripe's own masked form (`sk_test_****1234`) is kept:
/// it names which key was used without revealing it.
pub(crate) fn redact(text: &str, api_key: &str) -> String {
    let text = if api_key.is_empty() {
        text.to_owned()
    } else {
        text.replace(api_key, "[REDACTED]")
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = ["sk_live_", "sk_test_", "rk_live_", "rk_test_"]
        .iter()
        .filter_map(|prefix| rest.find(prefix))
        .min()
    {
        let (before, from_prefix) = rest.split_at(start);
        out.push_str(before);
        let (prefix, after) = from_prefix.split_at(8);
        out.push_str(prefix);
        let secret_len = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        if secret_len > 0 {
            out.push_str("[REDACTED]");
        }
        rest = &after[secret_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tributary_connector_http::{parse_json_body, parse_retry_after, HeaderValue, StatusCode};

    const KEY: &str = "sk_test_51HxYzSecretKey";
    /// The shared client's name for the request.
    const DESCRIBED: &str = "GET https://api.stripe.com/v1/charges";

    fn label() -> RequestLabel {
        RequestLabel {
            method_and_path: "GET /v1/charges".into(),
            request_id: Some("req_abc123".into()),
        }
    }

    fn list(
        body: &str,
        requested: Option<&ListCursor>,
    ) -> Result<TypedPage<ListCursor>, ConnectorError> {
        let value = parse_json_body::<serde_json::Value>(DESCRIBED, body.as_bytes())
            .map_err(|error| not_json(&label(), DESCRIBED, error))?;
        parse_list(
            value,
            &label(),
            StripeStream::Charges,
            CreatedRange::ALL,
            requested,
        )
    }

    fn answer(status: u16, headers: &[(&'static str, &str)], body: &[u8]) -> ConnectorError {
        let mut map = HeaderMap::new();
        map.insert("request-id", HeaderValue::from_static("req_abc123"));
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        let response = ErrorResponse {
            request: DESCRIBED,
            status: StatusCode::from_u16(status).unwrap(),
            headers: &map,
            body,
            now: Utc::now(),
        };
        tributary_connector_http::classify(&response, Some(&classifier(KEY.to_owned())))
    }

    fn error(status: u16, should_retry: Option<bool>, body: &str) -> ConnectorError {
        let verdict = should_retry.map(|retry| retry.to_string());
        let headers: Vec<(&'static str, &str)> = verdict
            .iter()
            .map(|value| ("stripe-should-retry", value.as_str()))
            .collect();
        answer(status, &headers, body.as_bytes())
    }

    fn retry_after(value: Option<&str>, now: DateTime<Utc>) -> Option<Duration> {
        parse_retry_after(value?, now)
    }

    #[test]
    fn a_list_becomes_records_and_a_cursor_after_the_last_id() {
        let page = list(
            r#"{"object":"list","url":"/v1/charges","has_more":true,"data":[
                {"id":"ch_2","object":"charge","created":1717200000,"amount":100},
                {"id":"ch_1","object":"charge","created":1717199999,"metadata":{"note":"café"}}]}"#,
            None,
        )
        .unwrap();
        assert_eq!(page.records.len(), 2);
        assert_eq!(page.records[0].external_id, "ch_2");
        assert_eq!(
            page.records[0].updated_at.unwrap().to_rfc3339(),
            "2024-06-01T00:00:00+00:00"
        );
        assert_eq!(page.records[1].data["metadata"]["note"], "café");
        assert_eq!(
            page.next_cursor,
            Some(ListCursor {
                stream: StripeStream::Charges,
                range: CreatedRange::ALL,
                last_id: "ch_1".into(),
            })
        );
        assert_eq!(page.rate_limit, None);

        let last = list(r#"{"object":"list","has_more":false,"data":[]}"#, None).unwrap();
        assert_eq!(last.next_cursor, None);
        assert!(last.records.is_empty());
    }

    #[test]
    fn broken_lists_are_malformed_and_say_where() {
        for (body, expected) in [
            (
                r#"{"object":"list","has_more":false,"data":[{"id":"ch_1""#,
                "not JSON",
            ),
            ("<html>hello</html>", "not JSON"),
            (r#"{"data":[],"has_more":false}"#, "a body without `object`"),
            (
                r#"{"object":"list","data":{},"has_more":false}"#,
                "not a Stripe list (invalid type: map",
            ),
            (r#"{"object":"list","data":[]}"#, "missing field `has_more`"),
            (
                r#"{"object":"charge","id":"ch_1","has_more":false,"data":[]}"#,
                "got `charge`",
            ),
            (
                r#"{"object":"list","has_more":false,"data":[{"object":"charge"}]}"#,
                "record 0 of 1 has no Stripe object id",
            ),
            (
                r#"{"object":"list","has_more":false,"data":[{"id":7}]}"#,
                "record 0 of 1 has no Stripe object id",
            ),
            (
                r#"{"object":"list","has_more":false,"data":[{"id":"ch_1","created":"yesterday"}]}"#,
                "(id ch_1): `created` is not a unix timestamp",
            ),
            (
                r#"{"object":"list","has_more":false,"data":[{"id":"ch_1","created":1.5}]}"#,
                "`created` is not a unix timestamp",
            ),
            (
                r#"{"object":"list","has_more":false,"data":[{"id":"cus_1","object":"customer","created":1}]}"#,
                "is a `customer`, not a `charge`",
            ),
            (
                r#"{"object":"list","has_more":true,"data":[]}"#,
                "`has_more` is true but the page is empty",
            ),
        ] {
            let error = list(body, None).unwrap_err();
            assert_eq!(error.class(), ErrorClass::Malformed, "{body}: {error}");
            let text = error.to_string();
            assert!(
                text.contains("GET /v1/charges (request req_abc123): "),
                "{text}"
            );
            assert!(text.contains(expected), "{body}: {text}");
        }
    }

    #[test]
    fn a_page_ending_where_it_started_is_a_pagination_loop() {
        let requested = ListCursor {
            stream: StripeStream::Charges,
            range: CreatedRange::ALL,
            last_id: "ch_1".into(),
        };
        let body = r#"{"object":"list","has_more":true,"data":[{"id":"ch_1","created":5}]}"#;
        let error = list(body, Some(&requested)).unwrap_err();
        assert_eq!(error.class(), ErrorClass::Permanent);
        assert!(error.to_string().contains("pagination loop"), "{error}");
        // The same page is fine as a last page, or when it started elsewhere.
        let done = r#"{"object":"list","has_more":false,"data":[{"id":"ch_1","created":5}]}"#;
        assert!(list(done, Some(&requested)).is_ok());
        assert!(list(body, None).is_ok());
    }

    #[test]
    fn statuses_and_should_retry_map_to_classes() {
        let body = r#"{"error":{"type":"api_error","message":"Something went wrong"}}"#;
        let cases = [
            (429, None, ErrorClass::RateLimited),
            (429, Some(false), ErrorClass::RateLimited),
            (401, None, ErrorClass::Auth),
            (403, Some(true), ErrorClass::Auth),
            (500, None, ErrorClass::Transient),
            (503, None, ErrorClass::Transient),
            (500, Some(false), ErrorClass::Permanent),
            (500, Some(true), ErrorClass::Transient),
            (409, None, ErrorClass::Transient),
            (409, Some(true), ErrorClass::Transient),
            (409, Some(false), ErrorClass::Permanent),
            (400, None, ErrorClass::Permanent),
            (400, Some(true), ErrorClass::Transient),
            (404, None, ErrorClass::Permanent),
            (408, None, ErrorClass::Transient),
        ];
        for (status, should_retry, class) in cases {
            let error = error(status, should_retry, body);
            assert_eq!(error.class(), class, "{status} {should_retry:?}: {error}");
            assert_eq!(error.http_status(), Some(status));
        }
    }

    #[test]
    fn messages_carry_stripes_type_code_param_and_message() {
        let body = r#"{"error":{"type":"invalid_request_error","code":"parameter_invalid_integer",
            "param":"limit","message":"This value must be less than or equal to 100.",
            "doc_url":"https://stripe.com/docs/error-codes/parameter-invalid-integer"}}"#;
        assert_eq!(
            error(400, None, body).to_string(),
            "permanent source error (HTTP 400): GET /v1/charges (request req_abc123): \
             invalid_request_error/parameter_invalid_integer (param limit): \
             This value must be less than or equal to 100."
        );
        let error = error(502, None, "<html><body>Bad gateway</body></html>");
        assert_eq!(error.class(), ErrorClass::Transient);
        assert!(
            error.to_string().contains(
                "HTTP 502 with a non-Stripe body: \"<html><body>Bad gateway</body></html>\""
            ),
            "{error}"
        );
    }

    #[test]
    fn a_vanished_starting_after_object_invalidates_the_cursor() {
        let body = r#"{"error":{"type":"invalid_request_error","code":"resource_missing",
            "param":"starting_after","message":"No such charge: 'ch_gone'"}}"#;
        assert_eq!(error(400, None, body).class(), ErrorClass::CursorInvalid);
        let other = r#"{"error":{"type":"invalid_request_error","code":"resource_missing",
            "param":"customer","message":"No such customer: 'cus_x'"}}"#;
        assert_eq!(error(400, None, other).class(), ErrorClass::Permanent);
    }

    #[test]
    fn rate_limits_keep_the_retry_after_hint() {
        let error = answer(
            429,
            &[("retry-after", "3")],
            br#"{"error":{"type":"rate_limit_error","code":"rate_limit","message":"Too many requests"}}"#,
        );
        assert_eq!(
            error,
            ConnectorError::RateLimited {
                retry_after: Some(Duration::from_secs(3)),
                message: "GET /v1/charges (request req_abc123): rate_limit_error/rate_limit: Too many requests".into(),
            }
        );
    }

    #[test]
    fn keys_echoed_by_the_server_are_redacted() {
        let body = format!(
            r#"{{"error":{{"type":"authentication_error","message":"Invalid API Key provided: {KEY}; also rk_live_abcDEF123 and sk_test_****Key"}}}}"#
        );
        let text = error(401, None, &body).to_string();
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("abcDEF123"), "{text}");
        assert!(
            text.contains("provided: [REDACTED]; also rk_live_[REDACTED] and sk_test_****Key"),
            "{text}"
        );
        let text = error(502, None, &format!("proxy saw Authorization: Bearer {KEY}")).to_string();
        assert!(!text.contains(KEY), "{text}");
        assert_eq!(redact("sk_test_", ""), "sk_test_");
        assert_eq!(
            redact("x sk_live_a1-b sk_test_", "unused"),
            "x sk_live_[REDACTED]-b sk_test_"
        );
    }

    #[test]
    fn header_values_are_read_leniently() {
        assert_eq!(should_retry(Some("true")), Some(true));
        assert_eq!(should_retry(Some(" False ")), Some(false));
        assert_eq!(should_retry(Some("maybe")), None);
        assert_eq!(should_retry(None), None);
        let now = DateTime::parse_from_rfc3339("1994-11-06T08:49:30Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            retry_after(Some("120"), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(Some("Sun, 06 Nov 1994 08:49:37 GMT"), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(Some("Sun, 06 Nov 1994 08:00:00 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(Some("soon"), now), None);
        assert_eq!(retry_after(None, now), None);
    }
}
