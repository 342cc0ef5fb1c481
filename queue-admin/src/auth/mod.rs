//! Authentication and authorization. Deny by default: [`authenticate`] runs before every route
//! except the login page, resolves the caller (an API bearer token for `/api`, a session cookie
//! for the web UI) into a [`Principal`] stored in the request's extensions, and refuses the
//! request when there is none. Handlers then state the least role they need by taking
//! [`Viewer`], [`Operator`] or [`Admin`]; every form post goes through [`CsrfForm`].
//!
//! The JSON API accepts bearer tokens only, never the session cookie, so no cross-site page can
//! drive it with a signed-in browser's credentials.

pub mod accounts;
pub mod login;
pub mod passwords;
pub mod tokens;
pub mod users_ui;

use crate::error::{AdminError, ApiError, PageError};
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

/// What a principal may do. Ordered: each role may do everything the one before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read everything.
    Viewer,
    /// Also replay, edit, discard, pause and resume.
    Operator,
    /// Also manage users and tokens.
    Admin,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored or user-given role name.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}; the roles are viewer, operator and admin"
            )),
        }
    }
}

/// The browser session behind a principal.
#[derive(Clone)]
pub struct SessionInfo {
    /// The signed-in user.
    pub username: String,
    /// This session's CSRF token: every form carries it, every form post is checked against it.
    pub csrf_token: String,
}

impl std::fmt::Debug for SessionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionInfo")
            .field("username", &self.username)
            .field("csrf_token", &"***")
            .finish()
    }
}

/// Who is calling, with which role.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The name written to audit rows: `user:<name>` or `token:<name>`.
    pub actor: String,
    /// What they may do.
    pub role: Role,
    /// The browser session, when signed in through the web UI (`None` for API tokens).
    pub session: Option<SessionInfo>,
}

impl Principal {
    /// Refuses unless this principal has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), AdminError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(AdminError::Forbidden(format!(
                "{} is {}; this needs the {} role",
                self.actor,
                self.role.as_str(),
                role.as_str()
            )))
        }
    }
}

/// Whether a request is for the JSON API (errors as JSON, bearer tokens) or the web UI.
pub fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

fn reject(path: &str, error: AdminError) -> Response {
    if is_api(path) {
        ApiError(error).into_response()
    } else {
        PageError(error).into_response()
    }
}

/// Middleware: resolves the caller or refuses the request. Runs on every route but the login
/// page.
pub async fn authenticate(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let principal = if is_api(&path) {
        tokens::principal_from_bearer(&state, request.headers()).await
    } else {
        sessions_principal(&state, request.headers()).await
    };
    match principal {
        Ok(Some(principal)) => {
            let session_token = principal
                .session
                .is_some()
                .then(|| login::session_token(request.headers()).map(str::to_owned))
                .flatten();
            request.extensions_mut().insert(principal);
            let mut response = next.run(request).await;
            // The session's expiry slid in the database; slide the cookie's too, unless the
            // handler set the cookie itself (signing out).
            if let Some(token) = session_token {
                let handler_set_cookie = response
                    .headers()
                    .get_all(axum::http::header::SET_COOKIE)
                    .iter()
                    .any(|value| {
                        value
                            .as_bytes()
                            .starts_with(login::SESSION_COOKIE.as_bytes())
                    });
                if !handler_set_cookie {
                    response.headers_mut().append(
                        axum::http::header::SET_COOKIE,
                        login::session_cookie(&state, &token),
                    );
                }
            }
            response
        }
        Ok(None) => reject(&path, AdminError::Unauthenticated),
        Err(error) => reject(&path, error),
    }
}

/// The principal of the request's session cookie, if valid (see [`login`]).
async fn sessions_principal(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Option<Principal>, AdminError> {
    login::principal_from_cookie(state, headers).await
}

fn principal_from_parts(parts: &Parts) -> Result<Principal, AdminError> {
    parts
        .extensions
        .get::<Principal>()
        .cloned()
        .ok_or(AdminError::Unauthenticated)
}

macro_rules! role_extractor {
    ($name:ident, $role:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name(pub Principal);

        impl FromRequestParts<AppState> for $name {
            type Rejection = Response;

            async fn from_request_parts(
                parts: &mut Parts,
                _state: &AppState,
            ) -> Result<Self, Self::Rejection> {
                let path = parts.uri.path().to_owned();
                let principal = principal_from_parts(parts).map_err(|e| reject(&path, e))?;
                principal.require($role).map_err(|e| reject(&path, e))?;
                Ok($name(principal))
            }
        }
    };
}

role_extractor!(
    Viewer,
    Role::Viewer,
    "A signed-in principal with at least the viewer role."
);
role_extractor!(
    Operator,
    Role::Operator,
    "A signed-in principal with at least the operator role."
);
role_extractor!(
    Admin,
    Role::Admin,
    "A signed-in principal with the admin role."
);

/// A URL-encoded form body whose `csrf` field matches the session's CSRF token. `T` receives
/// the other fields (it must not deny unknown fields: `csrf` is among them).
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

/// The `csrf` field of a form.
#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

impl<T> FromRequest<AppState> for CsrfForm<T>
where
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let path = request.uri().path().to_owned();
        let principal = request
            .extensions()
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| reject(&path, AdminError::Unauthenticated))?;
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let field: CsrfField = serde_urlencoded_from(&bytes).map_err(|e| reject(&path, e))?;
        let expected = principal
            .session
            .as_ref()
            .map(|session| session.csrf_token.as_bytes());
        let given = field.csrf.as_deref().map(str::as_bytes);
        let valid = match (expected, given) {
            (Some(expected), Some(given)) => constant_time_eq(expected, given),
            _ => false,
        };
        if !valid {
            return Err(reject(
                &path,
                AdminError::Forbidden(
                    "the form's CSRF token is missing or stale; reload the page and try again"
                        .into(),
                ),
            ));
        }
        let form: T = serde_urlencoded_from(&bytes).map_err(|e| reject(&path, e))?;
        Ok(CsrfForm(form))
    }
}

fn serde_urlencoded_from<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, AdminError> {
    serde_urlencoded::from_bytes(bytes)
        .map_err(|error| AdminError::BadRequest(format!("the form is not valid: {error}")))
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Routes reachable without signing in: the login page and its form.
pub fn public_routes() -> axum::Router<AppState> {
    axum::Router::new().route("/login", get(login::login_page).post(login::login))
}

/// Signed-in web UI routes of this module (sign-out, users and tokens pages).
pub fn ui_routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/logout", post(login::logout))
        .merge(users_ui::routes())
}

/// JSON API routes of this module (who am I).
pub fn api_routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(me))
}

/// Who the caller is.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    /// The name audit rows record for this caller: `token:<name>` (or `user:<name>`).
    pub actor: String,
    /// `viewer`, `operator` or `admin`.
    #[schema(value_type = String, example = "operator")]
    pub role: Role,
}

/// The caller's identity and role (check a token before using it).
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No valid token"),
    ))]
async fn me(Viewer(principal): Viewer) -> axum::Json<Me> {
    axum::Json(Me {
        actor: principal.actor,
        role: principal.role,
    })
}
