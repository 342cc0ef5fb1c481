//! A thin JSON client over `reqwest`: timeouts and a User-Agent, every failure classified.
//!
//! * no answer (connect refused, timeout, reset mid-body) → [`ConnectorError::Transient`];
//! * a non-2xx answer → the connector's [`Classifier`], then the status table;
//! * a 2xx body that is too large, not UTF-8 or not the expected JSON →
//!   [`ConnectorError::Malformed`], saying where it failed.
//!
//! [`HttpClient::get_bytes`] / [`HttpClient::send_bytes`] do all of this but the JSON parsing,
//! for a source whose 2xx bodies the connector must inspect itself (an HTML maintenance page
//! served with 200 and told apart by its `Content-Type`, a non-JSON format).
//!
//! It never retries: the runtime owns retries and their timing. Messages name the request by
//! method, origin and path, and registered secrets are scrubbed from every message.

use crate::classify::{classify, Classifier, ErrorResponse};
use crate::rate_limit::rate_limit_hint;
use crate::redact::{describe_request, scrub};
use chrono::Utc;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::time::Duration;
use tributary_connector::{ConnectorError, RateLimitHint};

/// Total time allowed for one request (connect, headers and body) unless set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed to establish a connection unless set: a source that does not accept within
/// this is down, and waiting longer only delays the retry.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest response body read unless set. Far above any sane page (a 1000-record page of
/// 5 KiB records is 5 MiB), low enough that a runaway response cannot exhaust a worker.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Bodies larger than this are parsed on the blocking pool: parsing a few MiB of JSON takes
/// milliseconds, which is too long to hold an async worker thread.
const PARSE_INLINE_LIMIT: usize = 256 * 1024;

/// Why an [`HttpClient`] could not be built. A connector turns it into its `ConfigError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not build the HTTP client: {0}")]
pub struct BuildError(String);

/// Builds an [`HttpClient`]. See [`HttpClient::builder`].
pub struct HttpClientBuilder {
    user_agent: String,
    timeout: Duration,
    connect_timeout: Duration,
    max_body_bytes: usize,
    headers: Vec<(String, String, bool)>,
    secrets: Vec<String>,
    classifier: Option<Classifier>,
}

impl fmt::Debug for HttpClientBuilder {
    /// Header names only, never their values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientBuilder")
            .field("user_agent", &self.user_agent)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(name, ..)| name)
                    .collect::<Vec<_>>(),
            )
            .field("classifier", &self.classifier.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpClientBuilder {
    /// Total time allowed for one request, connect and body included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time allowed to establish a connection (at most the total timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Largest response body read; a larger one is [`ConnectorError::Malformed`].
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// A header sent with every request, such as `Accept` or an API version.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_owned(), value.to_owned(), false));
        self
    }

    /// A credential header sent with every request (`Authorization`, `X-Api-Key`): marked
    /// sensitive, and its value scrubbed from every error message.
    pub fn secret_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned(), true));
        self.secrets.push(value.to_owned());
        if let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("Basic "))
        {
            self.secrets.push(token.to_owned());
        }
        self
    }

    /// A secret sent some other way (in a query parameter, in a request body), to be scrubbed
    /// from error messages should the source echo it back.
    pub fn secret(mut self, value: &str) -> Self {
        self.secrets.push(value.to_owned());
        self
    }

    /// Overrides the status table for this source; see [`Classifier`].
    pub fn classifier(mut self, classifier: Classifier) -> Self {
        self.classifier = Some(classifier);
        self
    }

    /// Builds the client and its connection pool.
    pub fn build(self) -> Result<HttpClient, BuildError> {
        let mut headers = HeaderMap::new();
        for (name, value, sensitive) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| BuildError(format!("`{name}` is not a valid header name")))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| BuildError(format!("the value of header `{name}` is not valid")))?;
            value.set_sensitive(*sensitive);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .user_agent(self.user_agent)
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout.min(self.timeout))
            .default_headers(headers)
            .build()
            .map_err(|error| BuildError(error.to_string()))?;
        Ok(HttpClient {
            client,
            max_body_bytes: self.max_body_bytes,
            secrets: self.secrets,
            classifier: self.classifier,
        })
    }
}

/// A JSON-over-HTTP client for one source. Cheap to share; it pools connections.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    max_body_bytes: usize,
    secrets: Vec<String>,
    classifier: Option<Classifier>,
}

impl fmt::Debug for HttpClient {
    /// No secrets, no headers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("classifier", &self.classifier.is_some())
            .finish_non_exhaustive()
    }
}

/// A parsed 2xx answer.
pub struct JsonResponse<T> {
    /// The body, parsed.
    pub body: T,
    /// The response headers (for `Link`, totals, source-specific hints).
    pub headers: HeaderMap,
    /// The status (some 2xx).
    pub status: StatusCode,
    /// What the rate-limit headers said, if anything.
    pub rate_limit: Option<RateLimitHint>,
    /// The request, as messages name it (method, origin and path).
    pub request: String,
    /// The body's size on the wire, in bytes.
    pub body_bytes: usize,
}

impl<T> JsonResponse<T> {
    /// The parsed body and the headers, for callers that need nothing else.
    pub fn into_parts(self) -> (T, HeaderMap) {
        (self.body, self.headers)
    }
}

impl<T> fmt::Debug for JsonResponse<T> {
    /// The request and what came back, without the body or header values (a `Set-Cookie`
    /// is a credential too).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonResponse")
            .field("request", &self.request)
            .field("status", &self.status)
            .field("rate_limit", &self.rate_limit)
            .field("body_bytes", &self.body_bytes)
            .finish_non_exhaustive()
    }
}

/// A 2xx answer whose body is left as bytes; see [`HttpClient::get_bytes`].
pub struct BytesResponse {
    /// The body as received (at most the client's `max_body_bytes`).
    pub body: Vec<u8>,
    /// The response headers.
    pub headers: HeaderMap,
    /// The status (some 2xx).
    pub status: StatusCode,
    /// What the rate-limit headers said, if anything.
    pub rate_limit: Option<RateLimitHint>,
    /// The request, as messages name it (method, origin and path).
    pub request: String,
}

impl fmt::Debug for BytesResponse {
    /// The request and what came back, without the body or header values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BytesResponse")
            .field("request", &self.request)
            .field("status", &self.status)
            .field("rate_limit", &self.rate_limit)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A builder identifying itself as `user_agent` (such as `tributary-connector-demo/0.1.0`),
    /// with [`DEFAULT_TIMEOUT`], [`DEFAULT_CONNECT_TIMEOUT`] and [`DEFAULT_MAX_BODY_BYTES`].
    pub fn builder(user_agent: &str) -> HttpClientBuilder {
        HttpClientBuilder {
            user_agent: user_agent.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            headers: Vec::new(),
            secrets: Vec::new(),
            classifier: None,
        }
    }

    /// The underlying `reqwest` client, to build requests [`HttpClient::send_json`] sends.
    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }

    /// `GET url?query` with extra `headers`, expecting a JSON body of type `T` (use
    /// `serde_json::Value` to take it as it comes).
    pub async fn get_json<T, Q>(
        &self,
        url: Url,
        query: &Q,
        headers: HeaderMap,
    ) -> Result<JsonResponse<T>, ConnectorError>
    where
        T: DeserializeOwned + Send + 'static,
        Q: Serialize + ?Sized,
    {
        let request = self.client.get(url).query(query).headers(headers);
        self.send_json(request).await
    }

    /// `POST url` with a JSON `body` (a GraphQL query, say), expecting a JSON answer.
    pub async fn post_json<T, B>(
        &self,
        url: Url,
        headers: HeaderMap,
        body: &B,
    ) -> Result<JsonResponse<T>, ConnectorError>
    where
        T: DeserializeOwned + Send + 'static,
        B: Serialize + ?Sized,
    {
        let request = self.client.post(url).headers(headers).json(body);
        self.send_json(request).await
    }

    /// `GET url?query` with extra `headers`, like [`HttpClient::get_json`] in every respect
    /// (transport failures, non-2xx statuses through the [`Classifier`], the body limit,
    /// secrets scrubbed) except that a 2xx body is returned as bytes, not parsed: for a
    /// connector that must look at it first (WooCommerce tells an HTML maintenance page served
    /// with 200 by its `Content-Type`). Parse it with [`parse_json_body`] to keep the client's
    /// messages, and pass any error of your own through [`HttpClient::scrub`].
    pub async fn get_bytes<Q>(
        &self,
        url: Url,
        query: &Q,
        headers: HeaderMap,
    ) -> Result<BytesResponse, ConnectorError>
    where
        Q: Serialize + ?Sized,
    {
        let request = self.client.get(url).query(query).headers(headers);
        self.send_bytes(request).await
    }

    /// Sends any request built from [`HttpClient::inner`]; see [`HttpClient::get_bytes`].
    pub async fn send_bytes(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<BytesResponse, ConnectorError> {
        self.send_bytes_inner(request)
            .await
            .map_err(|error| self.scrub(error))
    }

    /// Sends any request built from [`HttpClient::inner`] and parses a JSON answer.
    pub async fn send_json<T>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<JsonResponse<T>, ConnectorError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.send_json_inner(request)
            .await
            .map_err(|error| self.scrub(error))
    }

    /// The same error with every secret registered with this client scrubbed from its
    /// message: for errors a connector builds itself from what the source sent.
    pub fn scrub(&self, error: ConnectorError) -> ConnectorError {
        scrub_error(error, &self.secrets)
    }

    async fn send_json_inner<T>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<JsonResponse<T>, ConnectorError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let BytesResponse {
            body,
            headers,
            status,
            rate_limit,
            request: described,
        } = self.send_bytes_inner(request).await?;
        let body_bytes = body.len();
        let parsed = if body_bytes > PARSE_INLINE_LIMIT {
            let what = described.clone();
            tokio::task::spawn_blocking(move || parse_json_body::<T>(&what, &body))
                .await
                .map_err(|error| ConnectorError::Transient {
                    status: None,
                    message: format!("{described}: parsing the body did not finish: {error}"),
                })??
        } else {
            parse_json_body::<T>(&described, &body)?
        };
        Ok(JsonResponse {
            body: parsed,
            headers,
            status,
            rate_limit,
            request: described,
            body_bytes,
        })
    }

    /// Sends, reads the whole body and classifies a non-2xx answer; no scrubbing.
    async fn send_bytes_inner(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<BytesResponse, ConnectorError> {
        let request = request.build().map_err(|error| ConnectorError::Config {
            message: format!("could not build the request: {}", error.without_url()),
        })?;
        let described = describe_request(request.method(), request.url());
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|error| transport_error(&described, error))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = self.read_body(&described, response).await?;
        let now = Utc::now();
        if !status.is_success() {
            let answer = ErrorResponse {
                request: &described,
                status,
                headers: &headers,
                body: &body,
                now,
            };
            return Err(classify(&answer, self.classifier.as_ref()));
        }
        Ok(BytesResponse {
            rate_limit: rate_limit_hint(&headers, now),
            body,
            headers,
            status,
            request: described,
        })
    }

    /// Reads the whole body, refusing more than `max_body_bytes`.
    async fn read_body(
        &self,
        described: &str,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, ConnectorError> {
        let too_large = |seen: String| ConnectorError::Malformed {
            message: format!(
                "{described}: the body is larger than the {} bytes allowed ({seen})",
                self.max_body_bytes
            ),
        };
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if let Some(declared) = declared {
            if declared > self.max_body_bytes as u64 {
                return Err(too_large(format!("Content-Length {declared}")));
            }
        }
        let mut body = Vec::with_capacity(declared.map_or(0, |declared| {
            declared.min(PARSE_INLINE_LIMIT as u64) as usize
        }));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| transport_error(described, error))?
        {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(too_large(format!(
                    "at least {} bytes",
                    body.len() + chunk.len()
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Parses a 2xx body as `T`. Not UTF-8 → the offset of the first bad byte; not the expected
/// JSON → serde's reason with its line and column. `request` prefixes every message.
pub fn parse_json_body<T: DeserializeOwned>(
    request: &str,
    body: &[u8],
) -> Result<T, ConnectorError> {
    let text = std::str::from_utf8(body).map_err(|error| ConnectorError::Malformed {
        message: format!(
            "{request}: the body is not UTF-8 (invalid byte at offset {} of {})",
            error.valid_up_to(),
            body.len()
        ),
    })?;
    serde_json::from_str(text).map_err(|error| {
        let what = match error.classify() {
            serde_json::error::Category::Eof => "the body ends early",
            serde_json::error::Category::Syntax => "the body is not valid JSON",
            serde_json::error::Category::Data => "the body is not the expected JSON",
            serde_json::error::Category::Io => "the body could not be read",
        };
        ConnectorError::Malformed {
            message: format!("{request}: {what} ({error}; {} bytes)", body.len()),
        }
    })
}

/// A request that got no complete HTTP answer: connect refused, timeout, reset mid-body.
/// Worth retrying. The URL is stripped from reqwest's message, so no credential reaches logs.
/// Public for connectors that must drive reqwest themselves (GraphQL errors in 200s).
pub fn transport_error(described: &str, error: reqwest::Error) -> ConnectorError {
    let happened = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "failed while reading the body"
    } else {
        "failed"
    };
    let error = error.without_url();
    let mut message = format!("{described}: request {happened}: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ConnectorError::Transient {
        status: None,
        message,
    }
}

/// The same error with every registered secret scrubbed from its message.
fn scrub_error(error: ConnectorError, secrets: &[String]) -> ConnectorError {
    if secrets.is_empty() {
        return error;
    }
    map_message(error, |message| scrub(&message, secrets))
}

/// The same error with `{context}: ` before its message, such as the request a paginator's
/// verdict was about: `with_context("GET https://x.test/v1/orders", error)`.
pub fn with_context(context: &str, error: ConnectorError) -> ConnectorError {
    map_message(error, |message| format!("{context}: {message}"))
}

/// The same error, class and fields kept, with its message rewritten.
fn map_message(error: ConnectorError, rewrite: impl FnOnce(String) -> String) -> ConnectorError {
    match error {
        ConnectorError::RateLimited {
            retry_after,
            message,
        } => ConnectorError::RateLimited {
            retry_after,
            message: rewrite(message),
        },
        ConnectorError::Transient { status, message } => ConnectorError::Transient {
            status,
            message: rewrite(message),
        },
        ConnectorError::Auth { status, message } => ConnectorError::Auth {
            status,
            message: rewrite(message),
        },
        ConnectorError::Config { message } => ConnectorError::Config {
            message: rewrite(message),
        },
        ConnectorError::CursorInvalid { message } => ConnectorError::CursorInvalid {
            message: rewrite(message),
        },
        ConnectorError::Permanent { status, message } => ConnectorError::Permanent {
            status,
            message: rewrite(message),
        },
        ConnectorError::Malformed { message } => ConnectorError::Malformed {
            message: rewrite(message),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_connector::ErrorClass;

    const REQUEST: &str = "GET http://127.0.0.1:1/v1/orders";

    #[test]
    fn bodies_that_do_not_parse_say_where() {
        #[derive(Debug, serde::Deserialize)]
        struct Page {
            #[allow(dead_code)]
            data: Vec<String>,
        }
        let cases: [(&[u8], &str); 5] = [
            (b"{\"data\":[\"a\",", "the body ends early"),
            (b"{\"data\":[\"a\"]} trailing", "the body is not valid JSON"),
            (b"{\"data\":[7]}", "the body is not the expected JSON"),
            (b"", "the body ends early"),
            (
                b"{\"data\":[\"\xff\"]}",
                "not UTF-8 (invalid byte at offset 10 of 14)",
            ),
        ];
        for (body, expected) in cases {
            let error = parse_json_body::<Page>(REQUEST, body).unwrap_err();
            assert_eq!(error.class(), ErrorClass::Malformed);
            let text = error.to_string();
            assert!(text.contains(REQUEST) && text.contains(expected), "{text}");
        }
        let error = parse_json_body::<Page>(REQUEST, b"{\"data\":[7]}")
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 1 column"), "{error}");
        assert!(parse_json_body::<serde_json::Value>(REQUEST, b"[1, null, \"x\"]").is_ok());
    }

    #[test]
    fn secrets_never_reach_messages_or_debug() {
        let error = scrub_error(
            ConnectorError::Auth {
                status: Some(401),
                message: "invalid api key sk_test_abcdef".to_owned(),
            },
            &["sk_test_abcdef".to_owned()],
        );
        assert_eq!(
            error.to_string(),
            "source refused our credentials (HTTP 401): invalid api key REDACTED"
        );
        let builder =
            HttpClient::builder("test/1").secret_header("Authorization", "Bearer tok_123456");
        assert!(builder.secrets.contains(&"tok_123456".to_owned()));
        let debug = format!("{builder:?}");
        assert!(!debug.contains("tok_123456"), "{debug}");
        let client = builder.build().unwrap();
        assert!(!format!("{client:?}").contains("tok_123456"));
    }

    #[test]
    fn context_prefixes_the_message_and_keeps_the_class() {
        let error = with_context(
            REQUEST,
            ConnectorError::Permanent {
                status: None,
                message: "pagination loop detected: x".to_owned(),
            },
        );
        assert_eq!(error.class(), ErrorClass::Permanent);
        assert_eq!(
            error.to_string(),
            format!("permanent source error: {REQUEST}: pagination loop detected: x")
        );
    }

    #[test]
    fn bad_headers_are_build_errors() {
        let error = HttpClient::builder("test/1")
            .header("bad header", "x")
            .build()
            .unwrap_err();
        assert!(error.to_string().contains("`bad header`"), "{error}");
        let error = HttpClient::builder("test/1")
            .secret_header("x-api-key", "line\nbreak")
            .build()
            .unwrap_err();
        assert!(!error.to_string().contains("break"), "{error}");
    }
}
