//! The JSON client against a canned-response TCP server on a loopback port: what gets sent,
//! and how every kind of answer (or non-answer) is classified.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tributary_connector::{ConnectorError, ErrorClass, RateLimitHint};
use tributary_connector_http::{
    BytesResponse, Classifier, ErrorResponse, HeaderMap, HttpClient, JsonResponse, Url,
};

/// What the server does with each connection.
#[derive(Clone)]
enum Answer {
    /// Writes these bytes, then closes.
    Raw(Vec<u8>),
    /// Reads the request, then never answers.
    Hang,
}

/// A server answering every request the same way, and the raw requests it received.
struct Server {
    url: Url,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let answer = answer.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let request = read_request(&mut socket).await;
                    seen.lock().unwrap().push(request);
                    match answer {
                        Answer::Raw(bytes) => {
                            let _ = socket.write_all(&bytes).await;
                            let _ = socket.shutdown().await;
                        }
                        Answer::Hang => std::future::pending::<()>().await,
                    }
                });
            }
        });
        Self { url, requests }
    }

    async fn respond(status: &str, headers: &[&str], body: &[u8]) -> Self {
        Self::start(Answer::Raw(response(status, headers, body))).await
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Reads the request head and, when there is one, a `Content-Length` body.
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(read) = socket.read(&mut buffer).await {
        if read == 0 {
            break;
        }
        bytes.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&bytes).to_string();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if bytes.len() >= head_end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn response(status: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    for header in headers {
        out.push_str(header);
        out.push_str("\r\n");
    }
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("content-length"))
    {
        out.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn client() -> HttpClient {
    HttpClient::builder("tributary-test/1")
        .timeout(Duration::from_millis(800))
        .build()
        .unwrap()
}

async fn get(
    client: &HttpClient,
    url: Url,
) -> Result<JsonResponse<serde_json::Value>, ConnectorError> {
    client
        .get_json(url, &[("limit", "10")], HeaderMap::new())
        .await
}

#[tokio::test]
async fn a_good_answer_is_parsed_with_its_hint_and_the_request_carries_our_headers() {
    let server = Server::respond(
        "200 OK",
        &[
            "content-type: application/json",
            "x-ratelimit-limit: 40",
            "x-ratelimit-remaining: 39",
            "x-ratelimit-reset: 2",
            "x-wp-totalpages: 3",
        ],
        "{\"data\":[{\"id\":\"a\",\"name\":\"Zoë 🦀\"}]}".as_bytes(),
    )
    .await;
    let client = HttpClient::builder("tributary-test/1")
        .secret_header("Authorization", "Bearer tok_abcdef")
        .header("Accept", "application/json")
        .build()
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("x-request-tag", "t1".parse().unwrap());
    let response: JsonResponse<serde_json::Value> = client
        .get_json(
            server.url.join("v1/orders").unwrap(),
            &[("cursor", "a b"), ("limit", "10")],
            headers,
        )
        .await
        .unwrap();
    assert_eq!(response.body["data"][0]["name"], "Zoë 🦀");
    assert_eq!(
        response.rate_limit,
        Some(RateLimitHint {
            limit: Some(40),
            remaining: Some(39),
            reset_after: Some(Duration::from_secs(2)),
        })
    );
    assert_eq!(response.headers["x-wp-totalpages"], "3");
    assert!(
        response.request.ends_with("/v1/orders"),
        "{}",
        response.request
    );

    let request = &server.requests()[0];
    assert!(
        request.starts_with("GET /v1/orders?cursor=a+b&limit=10 HTTP/1.1"),
        "{request}"
    );
    let lower = request.to_ascii_lowercase();
    assert!(lower.contains("user-agent: tributary-test/1"), "{request}");
    assert!(
        lower.contains("authorization: bearer tok_abcdef"),
        "{request}"
    );
    assert!(lower.contains("x-request-tag: t1"), "{request}");
}

#[tokio::test]
async fn typed_bodies_and_posts() {
    #[derive(Debug, serde::Deserialize)]
    struct Answer {
        ok: bool,
    }
    let server = Server::respond("201 Created", &[], b"{\"ok\":true}").await;
    let response: JsonResponse<Answer> = client()
        .post_json(
            server.url.join("graphql").unwrap(),
            HeaderMap::new(),
            &serde_json::json!({"query": "{ shop { name } }"}),
        )
        .await
        .unwrap();
    assert!(response.body.ok);
    let (body, headers) = response.into_parts();
    assert!(body.ok);
    assert_eq!(headers["content-length"], "11");
    let request = &server.requests()[0];
    assert!(request.starts_with("POST /graphql HTTP/1.1"), "{request}");
    assert!(
        request.ends_with("{\"query\":\"{ shop { name } }\"}"),
        "{request}"
    );
}

#[tokio::test]
async fn error_statuses_are_classified_without_leaking_the_url() {
    let cases: [(&str, &[&str], ErrorClass); 5] = [
        (
            "429 Too Many Requests",
            &["retry-after: 3"],
            ErrorClass::RateLimited,
        ),
        ("503 Service Unavailable", &[], ErrorClass::Transient),
        ("401 Unauthorized", &[], ErrorClass::Auth),
        ("403 Forbidden", &[], ErrorClass::Auth),
        ("404 Not Found", &[], ErrorClass::Permanent),
    ];
    for (status, headers, class) in cases {
        let server = Server::respond(status, headers, b"{\"error\":\"nope\"}").await;
        let mut url = server
            .url
            .join("v1/orders?api_key=sk_query_secret")
            .unwrap();
        url.set_username("user").unwrap();
        url.set_password(Some("hunter22")).unwrap();
        let error = get(&client(), url).await.unwrap_err();
        assert_eq!(error.class(), class, "{status}: {error}");
        let text = error.to_string();
        assert!(text.contains("/v1/orders: {\"error\":\"nope\"}"), "{text}");
        for secret in ["sk_query_secret", "hunter22", "user", "limit="] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        if class == ErrorClass::RateLimited {
            assert_eq!(
                error,
                ConnectorError::RateLimited {
                    retry_after: Some(Duration::from_secs(3)),
                    message: format!(
                        "GET {}/v1/orders: {{\"error\":\"nope\"}}",
                        server.url.origin().ascii_serialization()
                    ),
                }
            );
        }
    }
}

#[tokio::test]
async fn a_classifier_overrides_and_secrets_echoed_back_are_scrubbed() {
    let server = Server::respond(
        "500 Internal Server Error",
        &["stripe-should-retry: false"],
        b"{\"error\":{\"message\":\"Invalid API Key provided: sk_live_123456\"}}",
    )
    .await;
    let stripe: Classifier = Arc::new(|response: &ErrorResponse<'_>| {
        (response.header("stripe-should-retry") == Some("false"))
            .then(|| response.error(ErrorClass::Permanent))
    });
    let client = HttpClient::builder("tributary-test/1")
        .secret_header("Authorization", "Bearer sk_live_123456")
        .classifier(stripe)
        .build()
        .unwrap();
    let error = get(&client, server.url.clone()).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Permanent, "{error}");
    assert_eq!(error.http_status(), Some(500));
    let text = error.to_string();
    assert!(!text.contains("sk_live_123456"), "{text}");
    assert!(
        text.contains("Invalid API Key provided: REDACTED"),
        "{text}"
    );
}

#[tokio::test]
async fn get_bytes_returns_a_2xx_body_unparsed_and_classifies_like_get_json() {
    // A 2xx body that is not JSON comes back as it is, with status, headers and hint.
    let page = b"<!DOCTYPE html><h1>Briefly unavailable for scheduled maintenance.</h1>";
    let server = Server::respond(
        "200 OK",
        &[
            "content-type: text/html; charset=UTF-8",
            "ratelimit-remaining: 5",
        ],
        page,
    )
    .await;
    let response: BytesResponse = client()
        .get_bytes(
            server.url.join("v1/orders").unwrap(),
            &[("page", "2")],
            HeaderMap::new(),
        )
        .await
        .unwrap();
    assert_eq!(response.body, page);
    assert_eq!(response.status.as_u16(), 200);
    assert_eq!(response.headers["content-type"], "text/html; charset=UTF-8");
    assert_eq!(response.rate_limit.unwrap().remaining, Some(5));
    assert!(response.request.ends_with("/v1/orders"), "{response:?}");
    assert!(!format!("{response:?}").contains("maintenance"));
    assert!(server.requests()[0].starts_with("GET /v1/orders?page=2 HTTP/1.1"));

    // A non-2xx answer goes through the classifier, then the table; secrets are scrubbed.
    let body = b"{\"code\":\"gone\",\"echo\":\"ck_secret_123456\"}";
    let gone: Classifier = Arc::new(|response: &ErrorResponse<'_>| {
        let code = response.body_json()?["code"].as_str()?.to_owned();
        (response.status.as_u16() == 400 && code == "gone")
            .then(|| response.error(ErrorClass::CursorInvalid))
    });
    let with_gone = HttpClient::builder("tributary-test/1")
        .secret("ck_secret_123456")
        .classifier(gone)
        .build()
        .unwrap();
    let plain = client();
    for (status, client, class) in [
        ("400 Bad Request", &with_gone, ErrorClass::CursorInvalid),
        ("400 Bad Request", &plain, ErrorClass::Permanent),
        ("503 Service Unavailable", &with_gone, ErrorClass::Transient),
    ] {
        let server = Server::respond(status, &[], body).await;
        let error = client
            .get_bytes(server.url.clone(), &(), HeaderMap::new())
            .await
            .unwrap_err();
        assert_eq!(error.class(), class, "{status}: {error}");
        let text = error.to_string();
        let registered = std::ptr::eq(client, &with_gone);
        assert_eq!(!text.contains("ck_secret_123456"), registered, "{text}");
    }
    // Errors a connector builds itself are scrubbed on request.
    let own = with_gone.scrub(ConnectorError::Malformed {
        message: "item 0: `date` \"ck_secret_123456\" is not a date".to_owned(),
    });
    assert_eq!(
        own.to_string(),
        "malformed response from the source: item 0: `date` \"REDACTED\" is not a date"
    );

    // No answer at all is transient, as with get_json.
    let server = Server::start(Answer::Hang).await;
    let error = client()
        .get_bytes(server.url.clone(), &(), HeaderMap::new())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
}

#[tokio::test]
async fn bodies_that_are_not_utf8_or_not_json_are_malformed() {
    for (body, expected) in [
        (
            &b"{\"data\": \"\xc3\x28\"}"[..],
            "not UTF-8 (invalid byte at offset 10",
        ),
        (&b"{\"data\": [1, 2"[..], "the body ends early"),
        (
            &b"<html>maintenance</html>"[..],
            "the body is not valid JSON",
        ),
    ] {
        let server = Server::respond("200 OK", &[], body).await;
        let error = get(&client(), server.url.clone()).await.unwrap_err();
        assert_eq!(error.class(), ErrorClass::Malformed, "{error}");
        assert!(error.to_string().contains(expected), "{error}");
    }
}

#[tokio::test]
async fn bodies_above_the_limit_are_refused_declared_or_not() {
    let big = vec![b' '; 10_000];
    let declared = Server::respond("200 OK", &[], &big).await;
    let chunked = Server::start(Answer::Raw({
        // No Content-Length: read until the connection closes.
        let mut out = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
        out.extend_from_slice(&big);
        out
    }))
    .await;
    let client = HttpClient::builder("tributary-test/1")
        .max_body_bytes(4_096)
        .build()
        .unwrap();
    for server in [declared, chunked] {
        let error = get(&client, server.url.clone()).await.unwrap_err();
        assert_eq!(error.class(), ErrorClass::Malformed, "{error}");
        assert!(
            error.to_string().contains("larger than the 4096 bytes"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_several_megabyte_body_is_parsed() {
    let records: Vec<serde_json::Value> = (0..5_000)
        .map(|i| serde_json::json!({"id": format!("r{i}"), "text": "ü".repeat(400)}))
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({ "data": records })).unwrap();
    assert!(body.len() > 4_000_000);
    let server = Server::respond("200 OK", &[], &body).await;
    let response = HttpClient::builder("tributary-test/1")
        .build()
        .unwrap()
        .get_json::<serde_json::Value, _>(server.url.clone(), &(), HeaderMap::new())
        .await
        .unwrap();
    assert_eq!(response.body["data"].as_array().unwrap().len(), 5_000);
    assert_eq!(response.body_bytes, body.len());
}

#[tokio::test]
async fn no_answer_is_transient() {
    // A hang past the timeout.
    let hang = Server::start(Answer::Hang).await;
    let error = get(&client(), hang.url.clone()).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    assert!(error.to_string().contains("timed out"), "{error}");

    // A connection cut mid-body.
    let cut = Server::start(Answer::Raw(
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"data\":".to_vec(),
    ))
    .await;
    let error = get(&client(), cut.url.clone()).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    assert!(
        error.to_string().contains("failed while reading the body"),
        "{error}"
    );

    // Nothing listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let error = get(&client(), url).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    assert!(error.to_string().contains("could not connect"), "{error}");
}
