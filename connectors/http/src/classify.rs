//! A non-2xx answer into a [`ConnectorError`] class, following DESIGN.md's failure table:
//! 401/403 auth, 408/5xx transient, 429 rate limited (with `Retry-After`), every other 4xx
//! permanent. A connector can override the table for its source (Stripe's
//! `Stripe-Should-Retry`, an "expired cursor" error code) with a [`Classifier`].
//!
//! Messages carry the request (method, origin, path: see
//! [`describe_request`](crate::describe_request)) and a bounded, single-line snippet of the
//! body. Never the request headers, never the query string.

use crate::retry_after::retry_after;
use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::Duration;
use tributary_connector::{ConnectorError, ErrorClass};

/// Longest body excerpt placed in an error message, in characters. Enough for any JSON error
/// object; short enough that an HTML error page does not flood the dead-letter table.
pub const MAX_SNIPPET_CHARS: usize = 512;

/// A connector's override of the status table: return `Some` to decide, `None` to fall back to
/// [`ErrorResponse::classify`]. Build the error with [`ErrorResponse::error`] or
/// [`ErrorResponse::error_with_detail`] so the message keeps the standard shape.
///
/// ```
/// use tributary_connector::ErrorClass;
/// use tributary_connector_http::{Classifier, ErrorResponse};
///
/// // Stripe says whether a failed request is worth retrying.
/// let stripe: Classifier = std::sync::Arc::new(|response: &ErrorResponse<'_>| {
///     match response.header("stripe-should-retry") {
///         Some("true") if response.status.as_u16() != 429 => {
///             Some(response.error(ErrorClass::Transient))
///         }
///         Some("false") if response.status.is_server_error() => {
///             Some(response.error(ErrorClass::Permanent))
///         }
///         _ => None,
///     }
/// });
/// # let _ = stripe;
/// ```
pub type Classifier = Arc<dyn Fn(&ErrorResponse<'_>) -> Option<ConnectorError> + Send + Sync>;

/// The class DESIGN.md's failure table gives an HTTP status. Meant for error statuses; a
/// status that is not one (an unfollowed 3xx, say) is permanent, since repeating the same
/// request will get the same answer.
pub fn class_for_status(status: u16) -> ErrorClass {
    match status {
        401 | 403 => ErrorClass::Auth,
        429 => ErrorClass::RateLimited,
        408 | 500..=599 => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    }
}

/// A non-2xx answer, as a classifier sees it.
#[derive(Debug, Clone, Copy)]
pub struct ErrorResponse<'a> {
    /// The request, as [`describe_request`](crate::describe_request) names it.
    pub request: &'a str,
    /// The status answered.
    pub status: StatusCode,
    /// The response headers.
    pub headers: &'a HeaderMap,
    /// The response body, possibly empty, possibly not UTF-8.
    pub body: &'a [u8],
    /// When the answer arrived; `Retry-After` dates are relative to it.
    pub now: DateTime<Utc>,
}

impl ErrorResponse<'_> {
    /// The class of [`class_for_status`] for this status.
    pub fn default_class(&self) -> ErrorClass {
        class_for_status(self.status.as_u16())
    }

    /// The `Retry-After` delay, if the response has a valid one.
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(self.headers, self.now)
    }

    /// A response header as text, trimmed; `None` if absent or not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok().map(str::trim)
    }

    /// The body as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(self.body).ok()
    }

    /// The body for a message: lossily decoded, control characters and runs of whitespace
    /// collapsed to single spaces, at most [`MAX_SNIPPET_CHARS`] characters (then `…`).
    pub fn snippet(&self) -> String {
        snippet(self.body)
    }

    /// The error of the default table: `self.error(self.default_class())`.
    pub fn classify(&self) -> ConnectorError {
        self.error(self.default_class())
    }

    /// An error of `class` whose message is `{request}: {snippet}`.
    pub fn error(&self, class: ErrorClass) -> ConnectorError {
        let snippet = self.snippet();
        let detail = if snippet.is_empty() {
            "empty body"
        } else {
            snippet.as_str()
        };
        self.error_with_detail(class, detail)
    }

    /// An error of `class` whose message is `{request}: {detail}`, for classifiers that read
    /// the source's own error body. `detail` is bounded like a snippet.
    pub fn error_with_detail(&self, class: ErrorClass, detail: &str) -> ConnectorError {
        let detail = snippet(detail.as_bytes());
        let status = Some(self.status.as_u16());
        let message = format!("{}: {detail}", self.request);
        // The variants without a status field get it in the message instead.
        let with_status = || format!("{} (HTTP {}): {detail}", self.request, self.status.as_u16());
        match class {
            ErrorClass::RateLimited => ConnectorError::RateLimited {
                retry_after: self.retry_after(),
                message,
            },
            ErrorClass::Transient => ConnectorError::Transient { status, message },
            ErrorClass::Auth => ConnectorError::Auth { status, message },
            ErrorClass::Permanent => ConnectorError::Permanent { status, message },
            ErrorClass::Config => ConnectorError::Config {
                message: with_status(),
            },
            ErrorClass::CursorInvalid => ConnectorError::CursorInvalid {
                message: with_status(),
            },
            ErrorClass::Malformed => ConnectorError::Malformed {
                message: with_status(),
            },
        }
    }
}

/// Classifies with `classifier` first, then the default table.
pub fn classify(response: &ErrorResponse<'_>, classifier: Option<&Classifier>) -> ConnectorError {
    classifier
        .and_then(|classifier| classifier(response))
        .unwrap_or_else(|| response.classify())
}

/// See [`ErrorResponse::snippet`].
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    let mut chars = 0;
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = true;
            continue;
        }
        if chars >= MAX_SNIPPET_CHARS {
            out.push('…');
            return out;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
            chars += 1;
        }
        pending_space = false;
        out.push(c);
        chars += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    const REQUEST: &str = "GET https://api.example.com/v1/orders";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(784_111_770, 0).unwrap() // 1994-11-06T08:49:30Z
    }

    fn respond(
        status: u16,
        headers: &[(&'static str, &'static str)],
        body: &[u8],
        classifier: Option<&Classifier>,
    ) -> ConnectorError {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_static(value));
        }
        let response = ErrorResponse {
            request: REQUEST,
            status: StatusCode::from_u16(status).unwrap(),
            headers: &map,
            body,
            now: now(),
        };
        classify(&response, classifier)
    }

    #[test]
    fn the_status_table() {
        let table: [(u16, ErrorClass); 16] = [
            (400, ErrorClass::Permanent),
            (401, ErrorClass::Auth),
            (402, ErrorClass::Permanent),
            (403, ErrorClass::Auth),
            (404, ErrorClass::Permanent),
            (405, ErrorClass::Permanent),
            (408, ErrorClass::Transient),
            (409, ErrorClass::Permanent),
            (410, ErrorClass::Permanent),
            (422, ErrorClass::Permanent),
            (429, ErrorClass::RateLimited),
            (500, ErrorClass::Transient),
            (502, ErrorClass::Transient),
            (503, ErrorClass::Transient),
            (504, ErrorClass::Transient),
            (304, ErrorClass::Permanent),
        ];
        for (status, class) in table {
            assert_eq!(class_for_status(status), class, "{status}");
            let error = respond(status, &[], b"", None);
            assert_eq!(error.class(), class, "{status}");
            if class != ErrorClass::RateLimited {
                assert_eq!(error.http_status(), Some(status), "{status}");
            }
        }
    }

    #[test]
    fn a_429_carries_retry_after_as_seconds_or_date() {
        for (value, seconds) in [("4", 4), ("Sun, 06 Nov 1994 08:49:37 GMT", 7)] {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
            let response = ErrorResponse {
                request: REQUEST,
                status: StatusCode::TOO_MANY_REQUESTS,
                headers: &headers,
                body: b"slow down",
                now: now(),
            };
            assert_eq!(
                response.classify(),
                ConnectorError::RateLimited {
                    retry_after: Some(Duration::from_secs(seconds)),
                    message: format!("{REQUEST}: slow down"),
                }
            );
        }
        let error = respond(429, &[], b"", None);
        assert_eq!(
            error,
            ConnectorError::RateLimited {
                retry_after: None,
                message: format!("{REQUEST}: empty body"),
            }
        );
    }

    #[test]
    fn messages_hold_a_bounded_single_line_snippet() {
        let page = format!(
            "<html>\n  <body>\t502 Bad\r\nGateway {}</body></html>",
            "é".repeat(2_000)
        );
        let error = respond(502, &[], page.as_bytes(), None);
        let text = error.to_string();
        assert!(
            text.starts_with(&format!(
                "transient source error (HTTP 502): {REQUEST}: <html> <body> 502 Bad Gateway éé"
            )),
            "{text}"
        );
        assert!(text.ends_with('…'), "{text}");
        let snippet = respond(502, &[], page.as_bytes(), None);
        let ConnectorError::Transient { message, .. } = snippet else {
            panic!("not transient");
        };
        let body_part = message.strip_prefix(&format!("{REQUEST}: ")).unwrap();
        assert_eq!(body_part.chars().count(), MAX_SNIPPET_CHARS + 1);

        let not_utf8 = respond(500, &[], b"bad \xff\xfe bytes", None);
        assert!(not_utf8.to_string().contains("bad \u{fffd}\u{fffd} bytes"));
    }

    #[test]
    fn a_classifier_overrides_the_table_and_falls_back_to_it() {
        // Stripe: `Stripe-Should-Retry` decides, when present.
        let stripe: Classifier =
            Arc::new(
                |response: &ErrorResponse<'_>| match response.header("stripe-should-retry") {
                    Some("true") if response.status != StatusCode::TOO_MANY_REQUESTS => {
                        Some(response.error(ErrorClass::Transient))
                    }
                    Some("false") if response.status.is_server_error() => {
                        Some(response.error(ErrorClass::Permanent))
                    }
                    _ => None,
                },
            );
        type Headers = &'static [(&'static str, &'static str)];
        let cases: [(u16, Headers, ErrorClass); 6] = [
            (
                500,
                &[("stripe-should-retry", "false")],
                ErrorClass::Permanent,
            ),
            (500, &[], ErrorClass::Transient),
            (
                409,
                &[("stripe-should-retry", "true")],
                ErrorClass::Transient,
            ),
            (
                409,
                &[("stripe-should-retry", "false")],
                ErrorClass::Permanent,
            ),
            (
                429,
                &[("stripe-should-retry", "true")],
                ErrorClass::RateLimited,
            ),
            (401, &[("stripe-should-retry", "false")], ErrorClass::Auth),
        ];
        for (status, headers, class) in cases {
            let error = respond(status, headers, b"{}", Some(&stripe));
            assert_eq!(error.class(), class, "{status} {headers:?}");
        }

        // A source's own error code: an expired cursor restarts the window.
        let cursor: Classifier = Arc::new(|response: &ErrorResponse<'_>| {
            let body = response.body_json()?;
            (body["error"]["code"] == "invalid_cursor")
                .then(|| response.error_with_detail(ErrorClass::CursorInvalid, "invalid_cursor"))
        });
        let error = respond(
            400,
            &[],
            br#"{"error":{"code":"invalid_cursor"}}"#,
            Some(&cursor),
        );
        assert_eq!(
            error,
            ConnectorError::CursorInvalid {
                message: format!("{REQUEST} (HTTP 400): invalid_cursor"),
            }
        );
        let error = respond(400, &[], b"{}", Some(&cursor));
        assert_eq!(error.class(), ErrorClass::Permanent);
    }
}
