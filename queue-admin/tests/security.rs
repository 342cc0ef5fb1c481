//! Security of queue-admin against the real stack: deny by default (every API path from the
//! served OpenAPI document, every page and form), roles, CSRF, secrets never stored in clear,
//! login rate limiting, cookie attributes, sessions that end, escaped error text, and the users
//! and tokens commands.

mod support;

use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;
use support::{csrf_in, session_cookie_in, Letter, Session, TestAdmin};
use tributary_queue_admin::auth::tokens;
use tributary_queue_admin::auth::Role;
use tributary_store::admin::NewToken;

/// Pages (GET) of the web UI. Each must exist: an anonymous request must be sent to the login
/// page, not answered 404 — so a renamed page makes this list fail rather than go stale.
const UI_PAGES: &[&str] = &[
    "/",
    "/dead-letters",
    "/dead-letters/1",
    "/dead-letters/1/edit",
    "/groups",
    "/replays",
    "/replays/preview",
    "/replays/1",
    "/reconciliation",
    "/reconciliation/1",
    "/sources",
    "/schedules",
    "/schedules/new",
    "/schedules/1",
    "/schedules/1/edit",
    "/audit",
    "/users",
];

/// Form posts of the web UI (paths with placeholders where the route has a parameter).
const UI_FORMS: &[&str] = &[
    "/logout",
    "/users",
    "/users/someone/role",
    "/users/someone/disable",
    "/users/someone/enable",
    "/users/someone/password",
    "/tokens",
    "/tokens/1/revoke",
    "/replays",
    "/dead-letters/discard",
    "/dead-letters/1/edit",
    "/sources/pause",
    "/sources/demo_shop/pause",
    "/sources/demo_shop/resume",
    "/schedules",
    "/schedules/1/edit",
    "/schedules/1/pause",
    "/schedules/1/resume",
    "/schedules/1/run-now",
    "/schedules/1/backfill",
];

/// A well-formed session cookie no server ever issued.
const FORGED_COOKIE: &str =
    "tributary_session=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// An API token in the right format that was never issued.
const FORGED_TOKEN: &str = "trb_0000000000000000000000000000000000000000000000000000000000000000";

async fn token_with(
    admin: &TestAdmin,
    role: Role,
    expires_in: Option<chrono::TimeDelta>,
) -> (i64, String) {
    let token = tokens::generate();
    let id = admin
        .store()
        .create_token(
            &NewToken {
                name: "security-test",
                prefix: &token.prefix,
                token_hash: &token.hash,
                role: role.as_str(),
                expires_at: expires_in.map(|delta| chrono::Utc::now() + delta),
            },
            "test",
        )
        .await
        .unwrap();
    (id, token.secret)
}

/// `{param}` segments filled with something the route accepts syntactically.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                let name = segment.trim_matches(|c| c == '{' || c == '}');
                if name == "id" || name.ends_with("_id") || name.ends_with("id}") {
                    "1".to_owned()
                } else {
                    "demo_shop".to_owned()
                }
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every (method, path) the OpenAPI document lists, plus the document itself.
async fn api_operations(admin: &TestAdmin, token: &str) -> Vec<(reqwest::Method, String)> {
    let (status, document) = admin.api_get(token, "/api/v1/openapi.json").await;
    assert_eq!(status, 200, "{document}");
    let mut operations = vec![(reqwest::Method::GET, "/api/v1/openapi.json".to_owned())];
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                operations.push((method, concrete(path)));
            }
        }
    }
    operations
}

#[tokio::test]
async fn every_api_operation_refuses_missing_forged_expired_and_revoked_credentials() {
    let admin = TestAdmin::start().await;
    let (_, valid) = token_with(&admin, Role::Admin, None).await;
    let (_, expired) = token_with(&admin, Role::Admin, Some(chrono::TimeDelta::seconds(-1))).await;
    let (revoked_id, revoked) = token_with(&admin, Role::Admin, None).await;
    // The revoked token worked until it was revoked.
    assert_eq!(admin.api_get(&revoked, "/api/v1/me").await.0, 200);
    admin
        .store()
        .revoke_token(revoked_id, "test")
        .await
        .unwrap();
    // A signed-in browser's cookie opens no API door: the API takes bearer tokens only.
    let browser = admin.session(Role::Admin).await;

    let operations = api_operations(&admin, &valid).await;
    let paths: BTreeSet<&str> = operations.iter().map(|(_, path)| path.as_str()).collect();
    assert!(
        paths.contains("/api/v1/me") && paths.contains("/api/v1/overview"),
        "the document lists the API: {paths:?}"
    );
    let credentials: [(&str, Option<(reqwest::header::HeaderName, String)>); 6] = [
        ("no credentials", None),
        (
            "a forged token",
            Some((
                reqwest::header::AUTHORIZATION,
                format!("Bearer {FORGED_TOKEN}"),
            )),
        ),
        (
            "an expired token",
            Some((reqwest::header::AUTHORIZATION, format!("Bearer {expired}"))),
        ),
        (
            "a revoked token",
            Some((reqwest::header::AUTHORIZATION, format!("Bearer {revoked}"))),
        ),
        (
            "a garbage header",
            Some((
                reqwest::header::AUTHORIZATION,
                "Basic YWRtaW46YWRtaW4=".into(),
            )),
        ),
        (
            "a session cookie",
            Some((reqwest::header::COOKIE, browser.cookie_header())),
        ),
    ];
    for (method, path) in &operations {
        for (what, header) in &credentials {
            let mut request = admin
                .http
                .request(method.clone(), format!("{}{path}", admin.base_url))
                .json(&serde_json::json!({}));
            if let Some((name, value)) = header {
                request = request.header(name.clone(), value.clone());
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {what}"
            );
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_eq!(
                body["error"]["status"], 401,
                "{method} {path} with {what}: {body}"
            );
        }
    }
}

/// Pages reachable by following links and GET forms from the overview, as an admin (so new
/// pages are covered without editing [`UI_PAGES`]). Returns (GET paths, POST form actions).
async fn crawl(admin: &TestAdmin, session: &Session) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut pages: BTreeSet<String> = BTreeSet::new();
    let mut forms: BTreeSet<String> = BTreeSet::new();
    let mut queue = vec!["/".to_owned()];
    while let Some(path) = queue.pop() {
        if !pages.insert(path.clone()) || pages.len() > 60 {
            continue;
        }
        let (status, html) = admin.page(session, &path).await;
        if status != 200 {
            continue;
        }
        for (attribute, is_form) in [("href=\"", false), ("action=\"", true)] {
            for piece in html.split(attribute).skip(1) {
                let Some(target) = piece.split('"').next() else {
                    continue;
                };
                let target = target.replace("&amp;", "&");
                if !target.starts_with('/') || target.starts_with("//") {
                    continue;
                }
                // A form's method follows its action in our markup order or precedes it; treat
                // forms posting (the common case) as POST, links and GET forms as pages.
                let posts = is_form
                    && !piece
                        .split('>')
                        .next()
                        .unwrap_or("")
                        .contains("method=\"get\"");
                if posts {
                    forms.insert(target);
                } else {
                    queue.push(target);
                }
            }
        }
    }
    (pages, forms)
}

#[tokio::test]
async fn every_page_and_form_sends_the_anonymous_to_the_login_page() {
    let admin = TestAdmin::start().await;
    admin.dead_letter(Letter::new("boom")).await;
    let session = admin.session(Role::Admin).await;
    let (crawled_pages, crawled_forms) = crawl(&admin, &session).await;
    assert!(crawled_pages.contains("/users"), "{crawled_pages:?}");
    assert!(crawled_forms.contains("/logout"), "{crawled_forms:?}");

    // A signed-out session's cookie is as good as none.
    let (name, password) = admin.user(Role::Admin).await;
    let signed_out = admin.login(&name, &password).await;
    let response = admin.form(&signed_out, "/logout", &[]).await;
    assert_eq!(response.status(), 303);

    let pages = UI_PAGES
        .iter()
        .map(|page| page.to_string())
        .chain(crawled_pages);
    let forms = UI_FORMS
        .iter()
        .map(|form| form.to_string())
        .chain(crawled_forms);
    let cookies = [
        ("no cookie", None),
        ("a forged cookie", Some(FORGED_COOKIE.to_owned())),
        (
            "a malformed cookie",
            Some("tributary_session=../../etc/passwd".to_owned()),
        ),
        ("a signed-out session", Some(signed_out.cookie_header())),
    ];
    let mut checked = 0;
    for (method, path) in pages
        .map(|path| (reqwest::Method::GET, path))
        .chain(forms.map(|path| (reqwest::Method::POST, path)))
    {
        for (what, cookie) in &cookies {
            let mut request = admin
                .http
                .request(method.clone(), format!("{}{path}", admin.base_url));
            if method == reqwest::Method::POST {
                request = request.form(&[("csrf", session.csrf.as_str())]);
            }
            if let Some(cookie) = cookie {
                request = request.header(reqwest::header::COOKIE, cookie);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::SEE_OTHER,
                "{method} {path} with {what}"
            );
            assert_eq!(
                response.headers()[reqwest::header::LOCATION],
                "/login",
                "{method} {path} with {what}"
            );
            checked += 1;
        }
    }
    assert!(checked >= (UI_PAGES.len() + UI_FORMS.len()) * cookies.len());
}

#[tokio::test]
async fn a_form_post_needs_the_sessions_csrf_token() {
    let admin = TestAdmin::start().await;
    let session = admin.session(Role::Admin).await;
    let other = admin.session(Role::Admin).await;
    let cookie = session.cookie_header();
    let fields = [("name", "ci"), ("role", "viewer"), ("expires_days", "")];

    let without: Vec<(&str, &str)> = fields.to_vec();
    let mut wrong = vec![("csrf", "0".repeat(64))];
    wrong.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
    let mut others = vec![("csrf", other.csrf.clone())];
    others.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let others: Vec<(&str, &str)> = others.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for (what, body) in [
        ("no CSRF token", &without),
        ("a wrong CSRF token", &wrong),
        ("another session's CSRF token", &others),
    ] {
        let response = admin.form_raw(Some(&cookie), "/tokens", body).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{what}");
        let html = response.text().await.unwrap();
        assert!(html.contains("CSRF"), "{what}: {html}");
    }
    assert!(
        admin.store().tokens().await.unwrap().is_empty(),
        "no refused post changed anything"
    );

    let response = admin.form(&session, "/tokens", &fields).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens = admin.store().tokens().await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].name, "ci");

    // Signing out is a form too: without the token it is refused and the session lives on.
    let response = admin.form_raw(Some(&cookie), "/logout", &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(admin.page(&session, "/").await.0, StatusCode::OK);
}

/// A job envelope other than any stored one (a valid payload edit).
fn edited_payload() -> Value {
    let job = tributary_broker::JobEnvelope::new_root(
        tributary_broker::JobKind::Pull,
        tributary_connector::ConnectorKind::new("demo").unwrap(),
        tributary_connector::TenantId::new("acme").unwrap(),
        tributary_connector::SourceId::new("demo_shop").unwrap(),
        tributary_connector::StreamName::new("customers").unwrap(),
        tributary_connector::Window::default(),
    );
    serde_json::to_value(&job).unwrap()
}

/// The audit actions written so far.
async fn audit_actions(admin: &TestAdmin) -> Vec<String> {
    admin
        .store()
        .audit_log(&tributary_store::admin::AuditQuery {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.action)
        .collect()
}

#[tokio::test]
async fn a_viewer_cannot_replay_discard_edit_or_pause_but_an_operator_can() {
    let admin = TestAdmin::start().await;
    let viewer = admin.token(Role::Viewer).await;
    let operator = admin.token(Role::Operator).await;
    let to_replay = admin.dead_letter(Letter::new("replay me")).await;
    let to_discard = admin.dead_letter(Letter::new("discard me")).await;
    let to_edit = admin.dead_letter(Letter::new("edit me")).await;
    let calls = [
        (
            "/api/v1/replays".to_owned(),
            serde_json::json!({"filter": {"ids": [to_replay]}, "reason": "security test"}),
            StatusCode::ACCEPTED,
        ),
        (
            "/api/v1/dead-letters/discard".to_owned(),
            serde_json::json!({"filter": {"ids": [to_discard]}, "reason": "security test"}),
            StatusCode::OK,
        ),
        (
            format!("/api/v1/dead-letters/{to_edit}/edits"),
            serde_json::json!({"payload": edited_payload(), "reason": "security test"}),
            StatusCode::CREATED,
        ),
        (
            "/api/v1/sources/demo_shop/pause".to_owned(),
            serde_json::json!({"reason": "security test"}),
            StatusCode::OK,
        ),
    ];
    for (path, body, _) in &calls {
        let (status, answer) = admin.api_post(&viewer, path, body).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "viewer: POST {path}: {answer}"
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("operator"),
            "{answer}"
        );
    }
    assert_eq!(
        audit_actions(&admin).await,
        ["token.create", "token.create"]
    );
    // The same calls by an operator succeed: the refusals above were about the role.
    for (path, body, expected) in &calls {
        let (status, answer) = admin.api_post(&operator, path, body).await;
        assert_eq!(status, *expected, "operator: POST {path}: {answer}");
    }
    let actions = audit_actions(&admin).await;
    for action in [
        "dead_letter.replay",
        "dead_letter.discard",
        "dead_letter.edit",
        "source.pause",
    ] {
        assert!(
            actions.iter().any(|done| done == action),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn a_viewer_session_cannot_post_the_replay_discard_or_pause_forms_but_an_operator_can() {
    let admin = TestAdmin::start().await;
    let viewer = admin.session(Role::Viewer).await;
    let operator = admin.session(Role::Operator).await;
    let to_replay = admin
        .dead_letter(Letter::new("replay me"))
        .await
        .to_string();
    let to_discard = admin
        .dead_letter(Letter::new("discard me"))
        .await
        .to_string();
    let forms: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "/replays",
            vec![("ids", &to_replay), ("reason", "security test")],
        ),
        (
            "/dead-letters/discard",
            vec![("ids", &to_discard), ("reason", "security test")],
        ),
        (
            "/sources/pause",
            vec![("source", "demo_shop"), ("reason", "security test")],
        ),
    ];
    for (path, fields) in &forms {
        let response = admin.form(&viewer, path, fields).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "viewer: POST {path}"
        );
    }
    // Nothing changed: the only audit rows are the two users' creation.
    assert_eq!(audit_actions(&admin).await, ["user.create", "user.create"]);
    for (path, fields) in &forms {
        let response = admin.form(&operator, path, fields).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "operator: POST {path}"
        );
        let location = response.headers()[reqwest::header::LOCATION]
            .to_str()
            .unwrap();
        assert_ne!(location, "/login", "operator: POST {path}");
    }
    assert_eq!(
        audit_actions(&admin).await,
        [
            "source.pause",
            "dead_letter.discard",
            "dead_letter.replay",
            "user.create",
            "user.create"
        ]
    );
}

/// The clear password shown once on a result page (`<pre id="secret">`).
fn secret_in(html: &str) -> String {
    let start = html
        .find("<pre id=\"secret\">")
        .expect("a secret on the page")
        + "<pre id=\"secret\">".len();
    let end = html[start..].find("</pre>").unwrap() + start;
    html[start..end].to_owned()
}

/// Every row of every table of the test database, as text.
async fn every_row(admin: &TestAdmin) -> Vec<(String, String)> {
    let client = admin.store().pool().get().await.unwrap();
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(
        tables.iter().any(|table| table == "admin_users"),
        "{tables:?}"
    );
    let mut rows = Vec::new();
    for table in tables {
        for row in client
            .query(&format!("SELECT t::text FROM \"{table}\" t"), &[])
            .await
            .unwrap()
        {
            rows.push((table.clone(), row.get::<_, String>(0)));
        }
    }
    rows
}

#[tokio::test]
async fn tokens_passwords_and_session_cookies_are_not_stored_in_clear() {
    let admin = TestAdmin::start().await;
    let session = admin.session(Role::Admin).await;
    // A typed password, a generated one, a reset one, a token: each through the web UI.
    let typed = "typed password 1234";
    let response = admin
        .form(
            &session,
            "/users",
            &[
                ("username", "typist"),
                ("role", "viewer"),
                ("password", typed),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let response = admin
        .form(
            &session,
            "/users",
            &[
                ("username", "lucky"),
                ("role", "operator"),
                ("password", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let generated = secret_in(&response.text().await.unwrap());
    assert!(generated.len() >= 12, "{generated}");
    let response = admin
        .form(&session, "/users/typist/password", &[("password", "")])
        .await;
    assert_eq!(response.status(), 200);
    let reset = secret_in(&response.text().await.unwrap());
    let response = admin
        .form(
            &session,
            "/tokens",
            &[
                ("name", "bot"),
                ("role", "operator"),
                ("expires_days", "30"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let token = secret_in(&response.text().await.unwrap());
    assert!(token.starts_with("trb_"), "{token}");
    // Each secret works...
    let lucky = admin.login("lucky", &generated).await;
    let typist = admin.login("typist", &reset).await;
    let (status, me) = admin.api_get(&token, "/api/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["role"], "operator");
    assert_eq!(
        admin.login_response("typist", typed).await.status(),
        200,
        "the old password is refused"
    );

    // ...and none of them, nor a session cookie or CSRF-free hash input, is anywhere in the
    // database.
    let rows = every_row(&admin).await;
    for secret in [
        typed,
        &generated,
        &reset,
        &token,
        &session.cookie,
        &lucky.cookie,
        &typist.cookie,
    ] {
        for (table, row) in &rows {
            assert!(
                !row.contains(secret),
                "{table} holds a secret in clear: {row}"
            );
        }
    }
    let client = admin.store().pool().get().await.unwrap();
    for row in client
        .query("SELECT username, password_hash FROM admin_users", &[])
        .await
        .unwrap()
    {
        let hash: String = row.get(1);
        assert!(
            hash.starts_with("$argon2id$v=19$"),
            "{}: {hash}",
            row.get::<_, String>(0)
        );
    }
    // The audit rows of these changes hold no hash either.
    let audit = admin
        .store()
        .audit_log(&tributary_store::admin::AuditQuery {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: BTreeSet<&str> = audit.iter().map(|row| row.action.as_str()).collect();
    assert!(
        actions.is_superset(&BTreeSet::from([
            "user.create",
            "user.password",
            "token.create"
        ])),
        "{actions:?}"
    );
    for row in &audit {
        let text = serde_json::to_string(row).unwrap();
        assert!(!text.contains("$argon2"), "{text}");
    }
}

fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn login_from(
    admin: &TestAdmin,
    client: &reqwest::Client,
    name: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(format!("{}/login", admin.base_url))
        .form(&[("username", name), ("password", password)])
        .send()
        .await
        .unwrap()
}

fn assert_limited(response: &reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{what}");
    let retry_after: u64 = response.headers()[reqwest::header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=20).contains(&retry_after),
        "{what}: Retry-After {retry_after}"
    );
    assert!(session_cookie_in(response).is_none(), "{what}");
}

#[tokio::test]
async fn login_attempts_are_limited_per_user_name_and_per_address() {
    let mut settings = support::test_settings().await;
    settings.admin.login_attempts_per_minute = 3;
    let admin = TestAdmin::start_with(settings).await;
    let (name, password) = admin.user(Role::Viewer).await;

    // Successful logins spend nothing: many in a row from one address are all accepted.
    for _ in 0..5 {
        assert_eq!(admin.login_response(&name, &password).await.status(), 303);
    }

    // Per user name: three wrong passwords from three addresses are answered "wrong"; the
    // fourth failure (from a fourth address) is refused, and from then on even the right
    // password — from yet another address — is refused without being checked.
    for address in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        let response = login_from(&admin, &client_from(address), &name, "wrong password!").await;
        assert_eq!(response.status(), 200, "a wrong password from {address}");
        let html = response.text().await.unwrap();
        assert!(html.contains("Wrong user name or password"), "{html}");
    }
    let response = login_from(&admin, &client_from("127.0.0.5"), &name, "wrong password!").await;
    assert_limited(&response, "the fourth failure for one user name");
    let html = response.text().await.unwrap();
    assert!(html.contains("Too many failed sign-ins"), "{html}");
    let response = login_from(&admin, &client_from("127.0.0.6"), &name, &password).await;
    assert_limited(&response, "the right password for a blocked user name");

    // Per address: three unknown names from one address, a fourth failure refused; then a
    // valid login is refused from that address but accepted from another.
    let noisy = client_from("127.0.0.9");
    for n in 0..3 {
        let response = login_from(&admin, &noisy, &format!("nobody{n}"), "wrong password!").await;
        assert_eq!(response.status(), 200);
    }
    let response = login_from(&admin, &noisy, "nobody3", "wrong password!").await;
    assert_limited(&response, "the fourth failure from one address");
    let (other, other_password) = admin.user(Role::Viewer).await;
    let response = login_from(&admin, &noisy, &other, &other_password).await;
    assert_limited(&response, "a valid login from a blocked address");
    let response = login_from(&admin, &client_from("127.0.0.10"), &other, &other_password).await;
    assert_eq!(
        response.status(),
        303,
        "the same login from another address"
    );
}

#[tokio::test]
async fn the_session_cookie_is_http_only_same_site_strict_and_secure_when_configured() {
    for secure in [false, true] {
        let mut settings = support::test_settings().await;
        settings.admin.cookie_secure = secure;
        settings.admin.session_hours = 7;
        let admin = TestAdmin::start_with(settings).await;
        let (name, password) = admin.user(Role::Viewer).await;

        let response = admin.login_response(&name, &password).await;
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()[reqwest::header::LOCATION], "/");
        let set_cookie = response.headers()[reqwest::header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_owned();
        let attributes: BTreeSet<&str> = set_cookie.split("; ").skip(1).collect();
        let mut expected =
            BTreeSet::from(["Path=/", "Max-Age=25200", "HttpOnly", "SameSite=Strict"]);
        if secure {
            expected.insert("Secure");
        }
        assert_eq!(attributes, expected, "{set_cookie}");
        let value = session_cookie_in(&response).unwrap();
        assert_eq!(value.len(), 64, "32 random bytes in hex");
        // Signed in, the login page sends us on to the overview.
        let response = admin
            .http
            .get(format!("{}/login", admin.base_url))
            .header(
                reqwest::header::COOKIE,
                format!("tributary_session={value}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[reqwest::header::LOCATION], "/");

        // Each page slides the session, and the cookie with it.
        let session = Session {
            cookie: value,
            csrf: String::new(),
        };
        let response = admin
            .http
            .get(format!("{}/", admin.base_url))
            .header(reqwest::header::COOKIE, session.cookie_header())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let refreshed = response.headers()[reqwest::header::SET_COOKIE]
            .to_str()
            .unwrap();
        assert!(
            refreshed.contains("Max-Age=25200") && refreshed.contains("HttpOnly"),
            "{refreshed}"
        );
        let csrf = csrf_in(&response.text().await.unwrap()).unwrap();

        // Signing out forgets the cookie and ends the session.
        let session = Session { csrf, ..session };
        let response = admin.form(&session, "/logout", &[]).await;
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()[reqwest::header::LOCATION], "/login");
        let cleared = response.headers()[reqwest::header::SET_COOKIE]
            .to_str()
            .unwrap();
        assert!(
            cleared.starts_with("tributary_session=;") && cleared.contains("Max-Age=0"),
            "{cleared}"
        );
        assert_eq!(admin.page(&session, "/").await.0, StatusCode::SEE_OTHER);
    }
}

#[tokio::test]
async fn a_wrong_password_an_unknown_user_and_a_disabled_user_get_the_same_answer() {
    let admin = TestAdmin::start().await;
    let (name, password) = admin.user(Role::Viewer).await;
    let (disabled, disabled_password) = admin.user(Role::Viewer).await;
    admin
        .store()
        .set_user_disabled(&disabled, true, "test")
        .await
        .unwrap();
    for (who, pass) in [
        (name.as_str(), "not the password"),
        ("nobody-here", "not the password"),
        (disabled.as_str(), disabled_password.as_str()),
        ("<script>", "x"),
    ] {
        let response = admin.login_response(who, pass).await;
        assert_eq!(response.status(), 200, "{who}");
        assert!(session_cookie_in(&response).is_none(), "{who}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains("Wrong user name or password."),
            "{who}: {html}"
        );
        assert!(!html.contains("<script>"), "the name is escaped: {html}");
    }
    assert_eq!(admin.login_response(&name, &password).await.status(), 303);

    // A form posted to /login from another site is refused (login CSRF), whether the browser
    // says so with Origin or with Sec-Fetch-Site.
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let response = admin
            .http
            .post(format!("{}/login", admin.base_url))
            .header(header, value)
            .form(&[("username", name.as_str()), ("password", password.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{header}: {value}"
        );
        assert!(session_cookie_in(&response).is_none());
    }
}

#[tokio::test]
async fn sessions_end_when_they_expire_or_the_user_is_disabled_changed_or_reset() {
    let admin = TestAdmin::start().await;
    let admin_session = admin.session(Role::Admin).await;
    let (name, password) = admin.user(Role::Operator).await;

    // Expired in the database: refused, although the cookie is intact.
    let session = admin.login(&name, &password).await;
    let client = admin.store().pool().get().await.unwrap();
    client
        .execute(
            "UPDATE admin_sessions SET expires_at = now() - interval '1 second'
             WHERE token_hash = sha256($1::text::bytea)",
            &[&session.cookie],
        )
        .await
        .unwrap();
    assert_eq!(admin.page(&session, "/").await.0, StatusCode::SEE_OTHER);

    // Each of these ends the user's sessions (and a disabled user cannot sign in again).
    let new_password = "a brand new password";
    for (path, fields, current_password) in [
        (
            format!("/users/{name}/role"),
            vec![("role", "viewer")],
            password.as_str(),
        ),
        (
            format!("/users/{name}/password"),
            vec![("password", new_password)],
            password.as_str(),
        ),
        (format!("/users/{name}/disable"), vec![], new_password),
    ] {
        let session = admin.login(&name, current_password).await;
        let response = admin.form(&admin_session, &path, &fields).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            admin.page(&session, "/").await.0,
            StatusCode::SEE_OTHER,
            "after {path}"
        );
    }
    assert_eq!(
        admin.login_response(&name, new_password).await.status(),
        200,
        "disabled"
    );
    let response = admin
        .form(&admin_session, &format!("/users/{name}/enable"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        admin.login_response(&name, new_password).await.status(),
        303,
        "enabled"
    );

    let actions: Vec<String> = admin
        .store()
        .audit_log(&tributary_store::admin::AuditQuery {
            target: Some(format!("user:{name}")),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|row| format!("{} by {}", row.action, row.actor))
        .collect();
    let by = format!("user:{}", admin_actor(&admin, &admin_session).await);
    assert_eq!(
        actions,
        ["user.enable", "user.disable", "user.password", "user.role"]
            .iter()
            .map(|action| format!("{action} by {by}"))
            .chain(["user.create by test".to_owned()])
            .collect::<Vec<_>>()
    );
}

/// The user name behind a session (from the page header).
async fn admin_actor(admin: &TestAdmin, session: &Session) -> String {
    let (_, html) = admin.page(session, "/").await;
    let start = html.find("user:").expect("the header names the user") + "user:".len();
    html[start..].split(' ').next().unwrap().to_owned()
}

#[tokio::test]
async fn only_admins_manage_users_and_the_last_admin_stays() {
    let admin = TestAdmin::start().await;
    let operator = admin.session(Role::Operator).await;
    assert_eq!(
        admin.page(&operator, "/users").await.0,
        StatusCode::FORBIDDEN
    );
    let response = admin
        .form(
            &operator,
            "/users",
            &[("username", "mallory"), ("role", "admin"), ("password", "")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = admin
        .form(&operator, "/tokens", &[("name", "mine"), ("role", "admin")])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let users = admin.store().users().await.unwrap();
    assert!(
        users.iter().all(|user| user.username != "mallory"),
        "{users:?}"
    );
    assert!(admin.store().tokens().await.unwrap().is_empty());
    // The navigation does not even offer the page.
    let (_, html) = admin.page(&operator, "/").await;
    assert!(!html.contains("href=\"/users\""), "{html}");

    // The only admin cannot demote or disable themselves.
    let (name, password) = admin.user(Role::Admin).await;
    let session = admin.login(&name, &password).await;
    for (path, fields) in [
        (format!("/users/{name}/role"), vec![("role", "operator")]),
        (format!("/users/{name}/disable"), vec![]),
    ] {
        let response = admin.form(&session, &path, &fields).await;
        assert_eq!(response.status(), StatusCode::CONFLICT, "{path}");
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("last enabled admin"));
    }
    let (status, html) = admin.page(&session, "/users").await;
    assert_eq!(status, 200);
    assert!(html.contains(&name), "{html}");
    // Bad input is refused with a message naming the field.
    let response = admin
        .form(
            &session,
            "/users",
            &[
                ("username", "bob"),
                ("role", "viewer"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("at least 12 characters"));
    let response = admin
        .form(
            &session,
            "/users",
            &[("username", "bob"), ("role", "root"), ("password", "")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_revoked_token_stops_working_and_me_names_the_caller() {
    let admin = TestAdmin::start().await;
    let session = admin.session(Role::Admin).await;
    let response = admin
        .form(
            &session,
            "/tokens",
            &[
                ("name", "pager-bot"),
                ("role", "viewer"),
                ("expires_days", ""),
            ],
        )
        .await;
    let token = secret_in(&response.text().await.unwrap());
    let (status, me) = admin.api_get(&token, "/api/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(
        me,
        serde_json::json!({"actor": "token:pager-bot", "role": "viewer"})
    );
    let listed = admin.store().tokens().await.unwrap();
    assert!(listed[0].last_used_at.is_some(), "use is recorded");
    let (_, html) = admin.page(&session, "/users").await;
    assert!(
        html.contains(&listed[0].prefix),
        "the page lists the token by its start"
    );
    assert!(
        !html.contains(&token),
        "the page never shows the token again"
    );

    let response = admin
        .form(&session, &format!("/tokens/{}/revoke", listed[0].id), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        admin.api_get(&token, "/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    let audit = admin
        .store()
        .audit_log(&tributary_store::admin::AuditQuery {
            action: Some("token.revoke".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].target.as_deref(), Some("token:pager-bot"));
}

#[tokio::test]
async fn error_text_with_markup_is_shown_escaped() {
    let admin = TestAdmin::start().await;
    let id = admin
        .dead_letter(Letter::new(
            "upstream said <script>alert(\"pwned\")</script> & <b>bold</b>",
        ))
        .await;
    let viewer = admin.session(Role::Viewer).await;
    for path in [
        format!("/dead-letters/{id}"),
        "/dead-letters".to_owned(),
        "/groups".to_owned(),
        format!("/replays/preview?ids={id}"),
    ] {
        let (status, html) = admin.page(&viewer, &path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(
            !html.contains("<script>"),
            "{path} shows raw markup: {html}"
        );
        assert!(!html.contains("<b>bold"), "{path} shows raw markup: {html}");
        assert!(
            html.contains("&lt;script&gt;"),
            "{path} shows the escaped text: {html}"
        );
    }
    // Token names are free text, shown on the admin page.
    let token = tokens::generate();
    admin
        .store()
        .create_token(
            &NewToken {
                name: "<script>alert(1)</script>",
                prefix: &token.prefix,
                token_hash: &token.hash,
                role: "viewer",
                expires_at: None,
            },
            "test",
        )
        .await
        .unwrap();
    let admin_session = admin.session(Role::Admin).await;
    let (status, html) = admin.page(&admin_session, "/users").await;
    assert_eq!(status, 200);
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
}

async fn cli(admin: &TestAdmin, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_queue-admin"))
        .args(args)
        .env(
            "TRIBUTARY_DATABASE__URL",
            admin.settings.database.url.expose(),
        )
        .env("USER", "tester")
        .env_remove("SUDO_USER")
        .env_remove("TRIBUTARY_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run queue-admin");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn the_cli_manages_users_and_tokens_and_prints_secrets_once() {
    let admin = TestAdmin::start().await;
    let (ok, out, err) = cli(&admin, &["users", "add", "root", "--role", "admin"], None).await;
    assert!(ok, "{out}{err}");
    let password = out
        .lines()
        .find_map(|line| line.strip_prefix("password: "))
        .expect("a password line")
        .to_owned();
    assert!(password.len() >= 12);
    admin.login("root", &password).await;

    let (ok, out, err) = cli(
        &admin,
        &[
            "users",
            "add",
            "ops",
            "--role",
            "operator",
            "--password-stdin",
        ],
        Some("operator password\n"),
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(
        !out.contains("password:"),
        "a given password is not printed: {out}"
    );
    admin.login("ops", "operator password").await;
    let (ok, _, err) = cli(
        &admin,
        &[
            "users",
            "add",
            "weak",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("short\n"),
    )
    .await;
    assert!(!ok);
    assert!(err.contains("at least 12 characters"), "{err}");
    let (ok, _, err) = cli(&admin, &["users", "add", "ops", "--role", "viewer"], None).await;
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");

    let (ok, out, err) = cli(&admin, &["users", "set-role", "ops", "viewer"], None).await;
    assert!(ok, "{out}{err}");
    let (ok, out, err) = cli(&admin, &["users", "disable", "ops"], None).await;
    assert!(ok, "{out}{err}");
    assert_eq!(
        admin
            .login_response("ops", "operator password")
            .await
            .status(),
        200
    );
    let (ok, out, err) = cli(&admin, &["users", "enable", "ops"], None).await;
    assert!(ok, "{out}{err}");
    let (ok, out, err) = cli(&admin, &["users", "passwd", "ops"], None).await;
    assert!(ok, "{out}{err}");
    let new_password = out
        .lines()
        .find_map(|line| line.strip_prefix("password: "))
        .unwrap();
    admin.login("ops", new_password).await;
    let (ok, out, _) = cli(&admin, &["users", "list"], None).await;
    assert!(ok);
    assert!(
        out.lines()
            .any(|line| line.starts_with("ops ") && line.contains("viewer")),
        "{out}"
    );
    assert!(!out.contains("argon2"), "{out}");

    let (ok, out, err) = cli(
        &admin,
        &[
            "tokens",
            "create",
            "--name",
            "ci",
            "--role",
            "operator",
            "--expires-days",
            "7",
        ],
        None,
    )
    .await;
    assert!(ok, "{out}{err}");
    assert_eq!(out.lines().count(), 1, "only the token on stdout: {out}");
    let token = out.trim();
    let (status, me) = admin.api_get(token, "/api/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["actor"], "token:ci");
    let (ok, out, _) = cli(&admin, &["tokens", "list"], None).await;
    assert!(ok);
    assert!(out.contains(&token[..12]) && !out.contains(token), "{out}");
    let id = admin.store().tokens().await.unwrap()[0].id.to_string();
    let (ok, out, err) = cli(&admin, &["tokens", "revoke", &id], None).await;
    assert!(ok, "{out}{err}");
    assert_eq!(admin.api_get(token, "/api/v1/me").await.0, 401);

    let audit = admin
        .store()
        .audit_log(&tributary_store::admin::AuditQuery {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    let cli_actions: Vec<&str> = audit
        .iter()
        .filter(|row| row.actor == "cli:tester")
        .map(|row| row.action.as_str())
        .collect();
    assert_eq!(
        cli_actions,
        [
            "token.revoke",
            "token.create",
            "user.password",
            "user.enable",
            "user.disable",
            "user.role",
            "user.create",
            "user.create",
        ]
    );
}
