//! Errors at the HTTP edge. One enum says what went wrong; [`ApiError`] renders it as JSON for
//! `/api/v1`, [`PageError`] as an HTML page for the web UI. User errors (4xx) carry a precise
//! message and are not logged as errors; internal errors are logged with their chain and shown
//! to the client only as an opaque reference.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::Duration;
use tributary_store::admin::FilterError;
use tributary_store::StoreError;

/// What went wrong, by whose fault.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No valid credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// Valid credentials without the role for this.
    #[error("{0}")]
    Forbidden(String),
    /// The request is wrong (a bad parameter, a missing reason, ...).
    #[error("{0}")]
    BadRequest(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (already replayed, already discarded, ...).
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts; try again after the given time.
    #[error("too many attempts; try again in {} s", .retry_after.as_secs().max(1))]
    TooManyRequests {
        /// When to try again.
        retry_after: Duration,
    },
    /// Our fault: logged in full, shown opaque.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AdminError {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message safe to show the client: precise for user errors, opaque for ours (after
    /// logging the full chain under a reference the operator can grep for).
    pub fn public_message(&self) -> String {
        match self {
            AdminError::Internal(error) => {
                let reference = uuid::Uuid::now_v7().simple().to_string();
                tracing::error!(reference = %reference, error = %format!("{error:#}"), "request failed");
                format!("internal error (reference {reference}); see the queue-admin log")
            }
            other => other.to_string(),
        }
    }

    fn retry_after(&self) -> Option<HeaderValue> {
        match self {
            AdminError::TooManyRequests { retry_after } => {
                HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()).ok()
            }
            _ => None,
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        AdminError::Internal(anyhow::Error::new(error))
    }
}

impl From<FilterError> for AdminError {
    fn from(error: FilterError) -> Self {
        AdminError::BadRequest(error.to_string())
    }
}

/// An [`AdminError`] rendered as `{"error": {"status": 409, "message": "..."}}`.
#[derive(Debug)]
pub struct ApiError(pub AdminError);

impl<E: Into<AdminError>> From<E> for ApiError {
    fn from(error: E) -> Self {
        ApiError(error.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let body = serde_json::json!({
            "error": { "status": status.as_u16(), "message": self.0.public_message() }
        });
        let mut response = (status, Json(body)).into_response();
        if let Some(retry_after) = self.0.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
        }
        if matches!(self.0, AdminError::Unauthenticated) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"queue-admin\""),
            );
        }
        response
    }
}

/// The result of a JSON API handler.
pub type ApiResult<T> = Result<Json<T>, ApiError>;

/// An [`AdminError`] rendered as an HTML page (a login redirect when unauthenticated).
#[derive(Debug)]
pub struct PageError(pub AdminError);

impl<E: Into<AdminError>> From<E> for PageError {
    fn from(error: E) -> Self {
        PageError(error.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if matches!(self.0, AdminError::Unauthenticated) {
            return (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, HeaderValue::from_static("/login"))],
            )
                .into_response();
        }
        let status = self.0.status();
        let message = self.0.public_message();
        let mut response = (status, crate::ui::error_page(status, &message)).into_response();
        if let Some(retry_after) = self.0.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
        }
        response
    }
}

/// The result of a web UI handler.
pub type PageResult = Result<maud::Markup, PageError>;
