//! The admin-only "Users & tokens" page: create users (with a typed or a generated password,
//! shown once), change their role, disable or enable them, reset their password; create API
//! tokens (shown once), list them, revoke them. Every form carries the CSRF token; every handler
//! takes [`Admin`] and [`CsrfForm`]; changes answer with a redirect (Post/Redirect/Get) except
//! those that must show a secret once.

use super::accounts::{self, GeneratedPassword, NewPassword};
use super::{Admin, CsrfForm, Principal, Role};
use crate::error::{AdminError, PageError, PageResult};
use crate::overview::url_escape;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

/// The routes of this page and its forms.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(users_page).post(create_user))
        .route("/users/{name}/role", post(set_role))
        .route("/users/{name}/disable", post(disable_user))
        .route("/users/{name}/enable", post(enable_user))
        .route("/users/{name}/password", post(reset_password))
        .route("/tokens", post(create_token))
        .route("/tokens/{id}/revoke", post(revoke_token))
}

const ROLES: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

/// What the redirect after a change reports: a fixed message per outcome, about one name (so
/// a crafted link cannot put arbitrary sentences on the page).
#[derive(Debug, Default, Deserialize)]
struct Done {
    done: Option<String>,
    name: Option<String>,
}

impl Done {
    fn message(&self) -> Option<String> {
        let name = self.name.as_deref().unwrap_or("");
        let message = match self.done.as_deref()? {
            "role" => format!("Role of {name} changed; their sessions were ended."),
            "disabled" => format!("{name} disabled; their sessions were ended."),
            "enabled" => format!("{name} enabled."),
            "password" => format!("Password of {name} changed; their sessions were ended."),
            "revoked" => format!("Token {name} revoked."),
            "unchanged" => "Nothing to change.".to_owned(),
            _ => return None,
        };
        Some(message)
    }
}

fn see_other(location: &str) -> Response {
    let location = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/users"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

fn done(what: &str, name: &str) -> Response {
    see_other(&format!("/users?done={what}&name={}", url_escape(name)))
}

fn role_select(selected: Role) -> Markup {
    html! {
        select name="role" {
            @for role in ROLES {
                option value=(role.as_str()) selected[role == selected] { (role.as_str()) }
            }
        }
    }
}

fn parse_role(text: &str) -> Result<Role, AdminError> {
    Role::parse(text).map_err(|message| AdminError::BadRequest(format!("role: {message}")))
}

async fn users_page(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Query(done): Query<Done>,
) -> PageResult {
    let users = state.store().users().await?;
    let tokens = state.store().tokens().await?;
    let csrf = crate::ui::csrf_field(&principal);
    let body = html! {
        @if let Some(message) = done.message() { (crate::ui::flash(&message, false)) }
        h2 { "Users" }
        table #users {
            thead { tr {
                th { "User" } th { "Role" } th { "Status" } th.num { "Sessions" } th { "Created" }
                th { "Changed" } th { "Actions" }
            } }
            tbody { @for user in &users {
                @let path = format!("/users/{}", url_escape(&user.username));
                @let role = Role::parse(&user.role).unwrap_or(Role::Viewer);
                tr {
                    td { code { (user.username) } }
                    td { (user.role) }
                    td { @if user.disabled { span.badge.bad { "disabled" } } @else { span.badge.ok { "enabled" } } }
                    td.num { (user.sessions) }
                    td { (crate::ui::time(user.created_at)) }
                    td { (crate::ui::time(user.updated_at)) }
                    td { div.actions {
                        form method="post" action=(format!("{path}/role")) {
                            (csrf) (role_select(role))
                            button.secondary type="submit" { "Change role" }
                        }
                        @if user.disabled {
                            form method="post" action=(format!("{path}/enable")) {
                                (csrf) button.secondary type="submit" { "Enable" }
                            }
                        } @else {
                            form method="post" action=(format!("{path}/disable")) {
                                (csrf) button.danger type="submit" { "Disable" }
                            }
                        }
                        form method="post" action=(format!("{path}/password")) {
                            (csrf)
                            label { "New password (empty: generate)"
                                input type="password" name="password" autocomplete="new-password"; }
                            button.secondary type="submit" { "Reset password" }
                        }
                    } }
                }
            } }
        }
        h2 { "Add a user" }
        form.actions #create-user method="post" action="/users" {
            (csrf)
            label { "User name" input type="text" name="username" required maxlength="64"
                pattern="[A-Za-z0-9._@-]{1,64}"; }
            label { "Role" (role_select(Role::Viewer)) }
            label { "Password (at least 12 characters; empty: generate one)"
                input type="password" name="password" autocomplete="new-password"; }
            button type="submit" { "Add user" }
        }
        h2 { "API tokens" }
        @if tokens.is_empty() { p.muted { "No API token yet." } } @else {
            table #tokens {
                thead { tr {
                    th.num { "Id" } th { "Name" } th { "Token starts" } th { "Role" } th { "Created by" }
                    th { "Created" } th { "Expires" } th { "Last used" } th { "Status" } th { "" }
                } }
                tbody { @for token in &tokens {
                    tr {
                        td.num { (token.id) }
                        td { (token.name) }
                        td { code { (token.prefix) "…" } }
                        td { (token.role) }
                        td { (token.created_by) }
                        td { (crate::ui::time(token.created_at)) }
                        td { @if let Some(at) = token.expires_at { (crate::ui::time(at)) } @else { span.muted { "never" } } }
                        td { @if let Some(at) = token.last_used_at { (crate::ui::time(at)) } @else { span.muted { "never" } } }
                        td {
                            @if token.revoked_at.is_some() { span.badge.bad { "revoked" } }
                            @else if token.expires_at.is_some_and(|at| at <= chrono::Utc::now()) { span.badge.warn { "expired" } }
                            @else { span.badge.ok { "active" } }
                        }
                        td { @if token.revoked_at.is_none() {
                            form method="post" action=(format!("/tokens/{}/revoke", token.id)) {
                                (csrf) button.danger type="submit" { "Revoke" }
                            }
                        } }
                    }
                } }
            }
        }
        h2 { "Create an API token" }
        form.actions #create-token method="post" action="/tokens" {
            (csrf)
            label { "Name" input type="text" name="name" required maxlength="64"; }
            label { "Role" (role_select(Role::Viewer)) }
            label { "Expires after days (empty: never)"
                input type="number" name="expires_days" min="1" max=(accounts::MAX_TOKEN_DAYS); }
            button type="submit" { "Create token" }
        }
    };
    Ok(crate::ui::page(
        "Users & tokens",
        "/users",
        &principal,
        body,
    ))
}

/// A page showing a secret once, with a way back.
fn shown_once(principal: &Principal, title: &str, what: &str, secret: &str, note: &str) -> Markup {
    crate::ui::page(
        title,
        "/users",
        principal,
        html! {
            (crate::ui::flash(title, false))
            p { (what) " (shown once — copy it now; it is not stored and cannot be shown again):" }
            pre #secret { (secret) }
            p.muted { (note) }
            p { a href="/users" { "Back to users & tokens" } }
        },
    )
}

#[derive(Deserialize)]
struct CreateUserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

async fn create_user(
    State(state): State<AppState>,
    Admin(principal): Admin,
    CsrfForm(form): CsrfForm<CreateUserForm>,
) -> Result<Response, PageError> {
    let role = parse_role(&form.role)?;
    let username = form.username.trim();
    let generated = accounts::create_user(
        state.store(),
        username,
        role,
        NewPassword::from_field(form.password),
        &principal.actor,
    )
    .await?;
    let title = format!("User {username} created with the {} role", role.as_str());
    Ok(match generated {
        Some(GeneratedPassword(password)) => shown_once(
            &principal,
            &title,
            "Their password",
            &password,
            "Give it to them over a private channel.",
        )
        .into_response(),
        None => crate::ui::page(
            &title,
            "/users",
            &principal,
            html! { p { a href="/users" { "Back to users & tokens" } } },
        )
        .into_response(),
    })
}

#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    role: String,
}

async fn set_role(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path(name): Path<String>,
    CsrfForm(form): CsrfForm<RoleForm>,
) -> Result<Response, PageError> {
    let role = parse_role(&form.role)?;
    let changed = accounts::set_role(state.store(), &name, role, &principal.actor).await?;
    Ok(done(if changed { "role" } else { "unchanged" }, &name))
}

async fn disable_user(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path(name): Path<String>,
    CsrfForm(super::login::NoFields {}): CsrfForm<super::login::NoFields>,
) -> Result<Response, PageError> {
    let changed = accounts::set_disabled(state.store(), &name, true, &principal.actor).await?;
    Ok(done(if changed { "disabled" } else { "unchanged" }, &name))
}

async fn enable_user(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path(name): Path<String>,
    CsrfForm(super::login::NoFields {}): CsrfForm<super::login::NoFields>,
) -> Result<Response, PageError> {
    let changed = accounts::set_disabled(state.store(), &name, false, &principal.actor).await?;
    Ok(done(if changed { "enabled" } else { "unchanged" }, &name))
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    password: String,
}

async fn reset_password(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path(name): Path<String>,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Result<Response, PageError> {
    let generated = accounts::set_password(
        state.store(),
        &name,
        NewPassword::from_field(form.password),
        &principal.actor,
    )
    .await?;
    Ok(match generated {
        Some(GeneratedPassword(password)) => shown_once(
            &principal,
            &format!("Password of {name} reset"),
            "Their new password",
            &password,
            "Their sessions were ended. Give it to them over a private channel.",
        )
        .into_response(),
        None => done("password", &name),
    })
}

#[derive(Deserialize)]
struct CreateTokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    expires_days: String,
}

async fn create_token(
    State(state): State<AppState>,
    Admin(principal): Admin,
    CsrfForm(form): CsrfForm<CreateTokenForm>,
) -> Result<Response, PageError> {
    let role = parse_role(&form.role)?;
    let expires_days = match form.expires_days.trim() {
        "" => None,
        days => Some(days.parse::<u32>().map_err(|_| {
            AdminError::BadRequest(format!(
                "expires_days: {days:?} is not a whole number of days"
            ))
        })?),
    };
    let name = form.name.trim();
    let (id, token) =
        accounts::create_token(state.store(), name, role, expires_days, &principal.actor).await?;
    Ok(shown_once(
        &principal,
        &format!("Token {name} (id {id}) created with the {} role", role.as_str()),
        "The token",
        &token.secret,
        "Use it as `Authorization: Bearer <token>` or with the CLI's --token / TRIBUTARY_ADMIN_TOKEN.",
    )
    .into_response())
}

async fn revoke_token(
    State(state): State<AppState>,
    Admin(principal): Admin,
    Path(id): Path<i64>,
    CsrfForm(super::login::NoFields {}): CsrfForm<super::login::NoFields>,
) -> Result<Response, PageError> {
    let revoked = accounts::revoke_token(state.store(), id, &principal.actor).await?;
    Ok(done(
        if revoked { "revoked" } else { "unchanged" },
        &id.to_string(),
    ))
}
