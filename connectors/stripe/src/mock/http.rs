//! The mock's HTTP API: routes, Stripe's query parameters, authentication, scripted faults and
//! Stripe-shaped error bodies. A thin layer over the dataset; no data generation happens here.

use super::data::{NoSuchObject, Position};
use super::state::{Recorder, Shared};
use super::{MockError, MockFault};
use crate::{CreatedRange, StripeStream};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The API version the mock answers with when the request does not pin one.
const DEFAULT_API_VERSION: &str = "2024-06-20";
/// Stripe's default `limit`.
const DEFAULT_LIMIT: usize = 10;
/// Stripe's largest `limit`.
const MAX_LIMIT: usize = 100;

const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
const STRIPE_VERSION: HeaderName = HeaderName::from_static("stripe-version");
const STRIPE_ACCOUNT: HeaderName = HeaderName::from_static("stripe-account");
const STRIPE_SHOULD_RETRY: HeaderName = HeaderName::from_static("stripe-should-retry");

type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// The mock's routes, ready for `axum::serve`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/{stream}", get(list))
        .fallback(unknown_route)
        .with_state(shared)
}

impl MockError {
    fn invalid_request(
        param: Option<&str>,
        code: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status: 400,
            error_type: "invalid_request_error".to_owned(),
            code: code.map(str::to_owned),
            param: param.map(str::to_owned),
            message: message.into(),
            retry_after_secs: None,
            should_retry: None,
        }
    }

    /// `{"error": {...}}` as Stripe writes it.
    fn body(&self, request_id: &str) -> Vec<u8> {
        let mut error = serde_json::Map::new();
        if let Some(code) = &self.code {
            error.insert("code".into(), code.as_str().into());
            error.insert(
                "doc_url".into(),
                format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                )
                .into(),
            );
        }
        error.insert("message".into(), self.message.as_str().into());
        if let Some(param) = &self.param {
            error.insert("param".into(), param.as_str().into());
        }
        error.insert(
            "request_log_url".into(),
            format!("https://dashboard.stripe.com/test/logs/{request_id}").into(),
        );
        error.insert("type".into(), self.error_type.as_str().into());
        serde_json::to_vec(&serde_json::json!({ "error": error })).unwrap_or_default()
    }

    fn response(&self, request_id: &str) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = json_response(status, self.body(request_id));
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(should_retry) = self.should_retry {
            headers.insert(
                STRIPE_SHOULD_RETRY,
                HeaderValue::from_static(if should_retry { "true" } else { "false" }),
            );
        }
        if self.status == 401 {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"Stripe\""),
            );
        }
        response
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn header_text(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    Some(headers.get(name)?.to_str().ok()?.to_owned())
}

fn path_and_query(uri: &Uri) -> &str {
    uri.path_and_query()
        .map(|value| value.as_str())
        .unwrap_or_else(|| uri.path())
}

/// Starts the log entry and adds the headers every answer carries.
async fn logged(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    answer: impl AsyncFnOnce(&mut Recorder) -> Response,
) -> Response {
    let version = header_text(headers, &STRIPE_VERSION);
    let mut recorder = shared.begin_request(
        method.as_str(),
        path_and_query(uri),
        header_text(headers, &STRIPE_ACCOUNT),
        version.clone(),
    );
    let mut response = answer(&mut recorder).await;
    let out = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(recorder.request_id()) {
        out.insert(REQUEST_ID, id);
    }
    let version = version
        .and_then(|version| HeaderValue::from_str(&version).ok())
        .unwrap_or(HeaderValue::from_static(DEFAULT_API_VERSION));
    out.insert(STRIPE_VERSION, version);
    recorder.set_status(response.status().as_u16());
    response
}

async fn list(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(stream): Path<String>,
    params: Params,
) -> Response {
    logged(&shared, &method, &uri, &headers, async |recorder| {
        answer(&shared, recorder, &method, &headers, &stream, params).await
    })
    .await
}

async fn unknown_route(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    logged(&shared, &method, &uri, &headers, async |recorder| {
        unrecognized_url(&method, uri.path()).response(recorder.request_id())
    })
    .await
}

fn unrecognized_url(method: &Method, path: &str) -> MockError {
    let mut error = MockError::invalid_request(
        None,
        None,
        format!(
            "Unrecognized request URL ({method}: {}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
            path.chars().take(256).collect::<String>()
        ),
    );
    error.status = 404;
    error
}

fn shutting_down() -> MockError {
    let mut error = MockError::invalid_request(None, None, "The mock Stripe API is shutting down.");
    error.status = 503;
    error.error_type = "api_error".to_owned();
    error
}

/// Applies the scripted fault, then authenticates and serves the page.
async fn answer(
    shared: &Arc<Shared>,
    recorder: &mut Recorder,
    method: &Method,
    headers: &HeaderMap,
    stream: &str,
    params: Params,
) -> Response {
    let request_id = recorder.request_id().to_owned();
    let mut malformed = false;
    if let Some(fault) = shared.next_fault() {
        recorder.set_fault(fault.kind());
        match fault {
            MockFault::Hang(duration) => {
                if !shared.pause(duration).await {
                    return shutting_down().response(&request_id);
                }
            }
            MockFault::Error(error) => return error.response(&request_id),
            MockFault::Raw { status, body } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                return json_response(status, body.into_bytes());
            }
            MockFault::Malformed => malformed = true,
        }
    }

    let result = authenticate(shared, headers).and_then(|account| {
        let stream: StripeStream = stream
            .parse()
            .map_err(|_| unrecognized_url(method, &format!("/v1/{stream}")))?;
        Ok((stream, page(shared, account.as_deref(), stream, params)?))
    });
    let (status, mut body) = match result {
        Ok((stream, (body, records))) => {
            if !malformed {
                shared.count_page(stream, records);
            }
            (StatusCode::OK, body)
        }
        Err(error) if !malformed => return error.response(&request_id),
        Err(error) => (StatusCode::OK, error.body(&request_id)),
    };
    if malformed {
        // A connection cut mid-body: any proper prefix of a JSON object is invalid.
        body.truncate((body.len() / 2).max(1));
    }
    json_response(status, body)
}

/// `Authorization: Bearer <key>` with the configured key, and a `Stripe-Account` the mock
/// knows. Returns that account, if any.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Option<String>, MockError> {
    let unauthorized = |message: String| {
        let mut error = MockError::invalid_request(None, None, message);
        error.status = 401;
        error.error_type = "authentication_error".to_owned();
        error
    };
    let Some(authorization) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
    else {
        return Err(unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.".to_owned(),
        ));
    };
    let key = match authorization.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
        _ => {
            return Err(unauthorized(
                "Invalid Authorization header: the mock accepts 'Authorization: Bearer YOUR_SECRET_KEY'.".to_owned(),
            ))
        }
    };
    if key != shared.config.api_key {
        return Err(unauthorized(format!(
            "Invalid API Key provided: {}",
            masked(key)
        )));
    }
    let Some(account) = headers.get(STRIPE_ACCOUNT) else {
        return Ok(None);
    };
    let account = account.to_str().unwrap_or_default();
    if !shared.has_account(account) {
        let mut error = MockError::invalid_request(
            None,
            Some("account_invalid"),
            format!(
                "The provided key '{}' does not have access to account '{}' (or that account does not exist). Application access may have been revoked.",
                masked(key),
                account.chars().take(64).collect::<String>()
            ),
        );
        error.status = 403;
        return Err(error);
    }
    Ok(Some(account.to_owned()))
}

/// A key as Stripe shows it in errors: `sk_test_****` and the last four characters.
fn masked(key: &str) -> String {
    let prefix_len = ["sk_test_", "sk_live_", "rk_test_", "rk_live_"]
        .iter()
        .find(|prefix| key.starts_with(*prefix))
        .map_or(0, |prefix| prefix.len());
    let (prefix, rest) = key.split_at(prefix_len);
    let tail: String = if rest.chars().count() > 4 {
        rest.chars().skip(rest.chars().count() - 4).collect()
    } else {
        String::new()
    };
    format!("{prefix}****{tail}")
}

/// Reads Stripe's list parameters and renders the page: `(body, objects in it)`.
fn page(
    shared: &Shared,
    account: Option<&str>,
    stream: StripeStream,
    params: Params,
) -> Result<(Vec<u8>, usize), MockError> {
    let Query(params) = params.map_err(|rejection| {
        MockError::invalid_request(
            None,
            None,
            format!("Invalid query string: {}", rejection.body_text()),
        )
    })?;
    let mut limit = DEFAULT_LIMIT;
    let mut starting_after = None;
    let mut ending_before = None;
    let mut range = CreatedRange::ALL;
    let mut narrow = |gte: Option<i64>, lt: Option<i64>| {
        if let Some(gte) = gte {
            range.gte = Some(range.gte.map_or(gte, |current| current.max(gte)));
        }
        if let Some(lt) = lt {
            range.lt = Some(range.lt.map_or(lt, |current| current.min(lt)));
        }
    };
    for (name, value) in &params {
        if value.is_empty() {
            return Err(MockError::invalid_request(
                Some(name),
                Some("parameter_invalid_empty"),
                format!("You passed an empty string for '{name}'. We assume empty values are an attempt to unset a parameter; however '{name}' cannot be unset. You should remove '{name}' from your request or supply a non-empty value."),
            ));
        }
        let integer = || {
            value.parse::<i64>().map_err(|_| {
                MockError::invalid_request(
                    Some(name),
                    Some("parameter_invalid_integer"),
                    format!("Invalid integer: {value}"),
                )
            })
        };
        match name.as_str() {
            "limit" => {
                let asked = integer()?;
                if asked < 1 {
                    return Err(MockError::invalid_request(
                        Some("limit"),
                        None,
                        "This value must be greater than or equal to 1.",
                    ));
                }
                if asked > MAX_LIMIT as i64 {
                    return Err(MockError::invalid_request(
                        Some("limit"),
                        None,
                        format!("This value must be less than or equal to {MAX_LIMIT}."),
                    ));
                }
                limit = asked as usize;
            }
            "starting_after" => starting_after = Some(value.as_str()),
            "ending_before" => ending_before = Some(value.as_str()),
            "created" => {
                let at = integer()?;
                narrow(Some(at), Some(at.saturating_add(1)));
            }
            "created[gte]" => narrow(Some(integer()?), None),
            "created[gt]" => narrow(Some(integer()?.saturating_add(1)), None),
            "created[lt]" => narrow(None, Some(integer()?)),
            "created[lte]" => narrow(None, Some(integer()?.saturating_add(1))),
            other => {
                return Err(MockError::invalid_request(
                    Some(other),
                    Some("parameter_unknown"),
                    format!("Received unknown parameter: {other}"),
                ))
            }
        }
    }
    let (position, param) = match (starting_after, ending_before) {
        (Some(_), Some(_)) => {
            return Err(MockError::invalid_request(
                None,
                None,
                "You may only specify one of these parameters: ending_before, starting_after.",
            ))
        }
        (Some(id), None) => (Position::After(id), "starting_after"),
        (None, Some(id)) => (Position::Before(id), "ending_before"),
        (None, None) => (Position::Start, ""),
    };
    let page = shared
        .with_data(account, |data| data.list(stream, limit, position, range))
        .expect("the account was authenticated, and accounts are never removed")
        .map_err(|NoSuchObject { id }| {
            MockError::invalid_request(
                Some(param),
                Some("resource_missing"),
                format!("No such {}: '{id}'", stream.object_name()),
            )
        })?;
    let records = page.objects.len();
    let body = serde_json::json!({
        "object": "list",
        "data": page.objects,
        "has_more": page.has_more,
        "url": format!("/v1/{stream}"),
    });
    Ok((serde_json::to_vec(&body).unwrap_or_default(), records))
}
