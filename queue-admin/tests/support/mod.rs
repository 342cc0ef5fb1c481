//! `TestAdmin`: one test's world for queue-admin — a fresh database and AMQP prefix, queue-admin
//! in-process on port 0, tokens per role, dead letters inserted through the store, and the API
//! called with a token. Shared by every test binary of this crate (each uses what it needs).

#![allow(dead_code)]

use reqwest::StatusCode;
use serde_json::Value;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tributary_broker::{JobEnvelope, JobKind};
use tributary_connector::{ConnectorKind, SourceId, StreamName, TenantId, Window};
use tributary_queue_admin::auth::tokens;
use tributary_queue_admin::auth::Role;
use tributary_queue_admin::{AdminApp, AppState, Settings};
use tributary_runtime::Secret;
use tributary_store::admin::NewToken;
use tributary_store::{NewDeadLetter, NewJob, Store};
use uuid::Uuid;

/// An environment variable `ops/dev env` sets; a clear panic when it is missing.
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through `ops/dev test` (or `eval \"$(ops/dev env)\"` first)")
    })
}

/// Waits until `condition` returns `Some`, polling every 50 ms, failing after `deadline`.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates a fresh, empty database; returns its URL.
pub async fn fresh_database() -> String {
    let base_url = required_env("TRIBUTARY_DATABASE__URL");
    let database = format!("test_{}", Uuid::now_v7().simple());
    let admin = Store::connect(&base_url, 1).unwrap();
    admin
        .pool()
        .get()
        .await
        .expect("connect to the dev database")
        .simple_query(&format!("CREATE DATABASE {database}"))
        .await
        .expect("create a test database");
    let (prefix_url, _) = base_url
        .rsplit_once('/')
        .expect("a database URL has a path");
    format!("{prefix_url}/{database}")
}

/// Settings for a test: fresh database and prefix, loopback port 0 listeners, plain-HTTP
/// cookies, fast gauges, the dev broker's management API.
pub async fn test_settings() -> Settings {
    let mut settings = Settings::default();
    settings.amqp.url = tributary_runtime::AmqpUrls::joined(&required_env("TRIBUTARY_AMQP__URL"));
    settings.amqp.prefix = format!("t{}", &Uuid::now_v7().simple().to_string()[20..]);
    settings.amqp.retry_tiers = vec!["200ms".into(), "500ms".into(), "1s".into()];
    settings.amqp.management_url = std::env::var("TRIBUTARY_AMQP__MANAGEMENT_URL").ok();
    settings.amqp.management_user = std::env::var("TRIBUTARY_AMQP__MANAGEMENT_USER").ok();
    settings.amqp.management_password = std::env::var("TRIBUTARY_AMQP__MANAGEMENT_PASSWORD")
        .ok()
        .map(Secret::new);
    settings.database.url = Secret::new(fresh_database().await);
    settings.database.max_connections = 8;
    settings.admin.listen = "127.0.0.1:0".parse().unwrap();
    settings.admin.ops_listen = "127.0.0.1:0".parse().unwrap();
    settings.admin.cookie_secure = false;
    settings.admin.metrics_refresh_seconds = 1;
    settings
}

/// A running queue-admin and what a test needs around it.
pub struct TestAdmin {
    /// The settings it runs with.
    pub settings: Settings,
    /// Its state (store, publisher, topology).
    pub state: AppState,
    /// `http://127.0.0.1:<port>` of the web UI and API.
    pub base_url: String,
    /// `http://127.0.0.1:<port>` of `/livez`, `/readyz`, `/metrics`.
    pub ops_url: String,
    /// An HTTP client that follows no redirect and keeps no cookies.
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestAdmin {
    /// queue-admin with [`test_settings`].
    pub async fn start() -> Self {
        Self::start_with(test_settings().await).await
    }

    /// queue-admin with these settings.
    pub async fn start_with(settings: Settings) -> Self {
        let app = AdminApp::build(settings.clone())
            .await
            .expect("queue-admin builds");
        let base_url = format!("http://{}", app.local_addr());
        let ops_url = format!("http://{}", app.ops_addr());
        let state = app.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            settings,
            state,
            base_url,
            ops_url,
            http,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.state.store()
    }

    /// Stops queue-admin and waits for it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("queue-admin task")
                .expect("queue-admin stops cleanly");
        }
    }

    /// A fresh API token with `role`, created as an admin would.
    pub async fn token(&self, role: Role) -> String {
        let token = tokens::generate();
        let name = format!("test-{}-{}", role.as_str(), &token.prefix[4..]);
        self.store()
            .create_token(
                &NewToken {
                    name: &name,
                    prefix: &token.prefix,
                    token_hash: &token.hash,
                    role: role.as_str(),
                    expires_at: None,
                },
                "test",
            )
            .await
            .expect("create a token");
        token.secret
    }

    /// `GET path` with a bearer token; the status and the JSON body (`Null` when not JSON).
    pub async fn api_get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(token)
            .send()
            .await
            .expect("queue-admin answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `POST path` with a JSON body and a bearer token; the status and the JSON body.
    pub async fn api_post(&self, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("queue-admin answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The text of `/metrics` on the ops endpoint.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.ops_url))
            .send()
            .await
            .expect("the ops endpoint answers")
            .text()
            .await
            .unwrap()
    }

    /// Stores a dead letter (and its job's ledger row) as a worker would; returns its row id.
    pub async fn dead_letter(&self, letter: Letter) -> i64 {
        insert_letter(self.store(), letter).await
    }
}

impl Drop for TestAdmin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A dead letter to insert; `Letter::new("reason")` then adjust fields.
#[derive(Debug, Clone)]
pub struct Letter {
    pub connector: String,
    pub tenant: String,
    pub source: String,
    pub stream: String,
    pub class: String,
    pub reason: String,
    pub attempts: i32,
    pub http_status: Option<i32>,
    /// `None`: a parseable job envelope is built; `Some`: this exact body (e.g. broken JSON).
    pub raw_payload: Option<Vec<u8>>,
}

impl Letter {
    /// A permanent failure of a demo job for tenant `acme`.
    pub fn new(reason: &str) -> Self {
        Self {
            connector: "demo".into(),
            tenant: "acme".into(),
            source: "demo_shop".into(),
            stream: "orders".into(),
            class: "permanent".into(),
            reason: reason.into(),
            attempts: 1,
            http_status: None,
            raw_payload: None,
        }
    }
}

/// Inserts `letter` (with a queued ledger row for its job, marked dead by the insert).
pub async fn insert_letter(store: &Store, letter: Letter) -> i64 {
    let (job_id, payload, envelope) = match &letter.raw_payload {
        Some(body) => (None, body.clone(), None),
        None => {
            let job = JobEnvelope::new_root(
                JobKind::Pull,
                ConnectorKind::new(&letter.connector).unwrap(),
                TenantId::new(&letter.tenant).unwrap(),
                SourceId::new(&letter.source).unwrap(),
                StreamName::new(&letter.stream).unwrap(),
                Window::default(),
            );
            let envelope = serde_json::to_value(&job).unwrap();
            store
                .insert_jobs(&[NewJob {
                    id: job.job_id.as_uuid(),
                    root_id: job.job_id.as_uuid(),
                    parent_id: None,
                    replay_of: None,
                    kind: "pull".into(),
                    connector: letter.connector.clone(),
                    tenant: letter.tenant.clone(),
                    source: letter.source.clone(),
                    stream: letter.stream.clone(),
                    envelope: envelope.clone(),
                }])
                .await
                .expect("insert the job");
            (Some(job.job_id.as_uuid()), job.to_bytes(), Some(envelope))
        }
    };
    let dedup_key = job_id
        .map(|id| id.to_string())
        .unwrap_or_else(|| format!("raw-{}", Uuid::now_v7()));
    store
        .insert_dead_letter(&NewDeadLetter {
            dedup_key: dedup_key.clone(),
            job_id,
            connector: Some(&letter.connector),
            tenant: Some(&letter.tenant),
            source: Some(&letter.source),
            stream: Some(&letter.stream),
            class: &letter.class,
            reason: &letter.reason,
            origin: "worker",
            attempts: letter.attempts,
            http_status: letter.http_status,
            payload: &payload,
            envelope,
            headers: serde_json::json!({}),
            queue: Some("test.work.demo"),
            routing_key: Some(&letter.connector),
            worker: Some("test-worker"),
            started_at: chrono::Utc::now(),
        })
        .await
        .expect("insert the dead letter");
    let client = store.pool().get().await.unwrap();
    client
        .query_one(
            "SELECT id FROM dead_letters WHERE dedup_key = $1",
            &[&dedup_key],
        )
        .await
        .unwrap()
        .get(0)
}

// ---------------------------------------------------------------------------------------------
// Users and browser sessions (auth helper). A `Session` is what a signed-in browser holds: the
// session cookie and the CSRF token its pages carry.
// ---------------------------------------------------------------------------------------------

/// A signed-in browser: its cookie value and the CSRF token of its session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The value of the `tributary_session` cookie.
    pub cookie: String,
    /// The session's CSRF token (read from a page's hidden `csrf` field).
    pub csrf: String,
}

impl Session {
    /// The `Cookie` header value.
    pub fn cookie_header(&self) -> String {
        format!(
            "{}={}",
            tributary_queue_admin::auth::login::SESSION_COOKIE,
            self.cookie
        )
    }
}

/// The value of the first `<input ... name="csrf" value="...">` in `html`.
pub fn csrf_in(html: &str) -> Option<String> {
    let start = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The session cookie's value in a response's `Set-Cookie` headers.
pub fn session_cookie_in(response: &reqwest::Response) -> Option<String> {
    let prefix = format!("{}=", tributary_queue_admin::auth::login::SESSION_COOKIE);
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| {
            let rest = value.strip_prefix(&prefix)?;
            Some(rest.split(';').next().unwrap_or("").to_owned())
        })
        .filter(|value| !value.is_empty())
}

impl TestAdmin {
    /// A new user with `role` and a known password; returns (name, password).
    pub async fn user(&self, role: Role) -> (String, String) {
        let name = format!(
            "{}-{}",
            role.as_str(),
            &Uuid::now_v7().simple().to_string()[24..]
        );
        let password = format!("pw-{}", Uuid::now_v7().simple());
        tributary_queue_admin::auth::accounts::create_user(
            self.store(),
            &name,
            role,
            tributary_queue_admin::auth::accounts::NewPassword::Given(password.clone()),
            "test",
        )
        .await
        .expect("create a user");
        (name, password)
    }

    /// `POST /login`; the raw answer.
    pub async fn login_response(&self, name: &str, password: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/login", self.base_url))
            .form(&[("username", name), ("password", password)])
            .send()
            .await
            .expect("queue-admin answers")
    }

    /// Signs in (panicking unless it works) and reads the CSRF token off the overview.
    pub async fn login(&self, name: &str, password: &str) -> Session {
        let response = self.login_response(name, password).await;
        assert_eq!(response.status(), 303, "signing in as {name}");
        let cookie = session_cookie_in(&response).expect("a session cookie");
        let mut session = Session {
            cookie,
            csrf: String::new(),
        };
        let (status, html) = self.page(&session, "/").await;
        assert_eq!(status, 200, "the overview after signing in: {html}");
        session.csrf = csrf_in(&html).expect("the overview carries a CSRF field");
        session
    }

    /// A new user with `role`, signed in.
    pub async fn session(&self, role: Role) -> Session {
        let (name, password) = self.user(role).await;
        self.login(&name, &password).await
    }

    /// `GET path` with a session cookie; the status and the body.
    pub async fn page(&self, session: &Session, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .header(reqwest::header::COOKIE, session.cookie_header())
            .send()
            .await
            .expect("queue-admin answers");
        let status = response.status();
        (status, response.text().await.unwrap_or_default())
    }

    /// `POST path` as a form with the session's cookie and CSRF token, plus `fields`.
    pub async fn form(
        &self,
        session: &Session,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut all = vec![("csrf", session.csrf.as_str())];
        all.extend_from_slice(fields);
        self.form_raw(Some(&session.cookie_header()), path, &all)
            .await
    }

    /// `POST path` as a form with exactly these fields and this `Cookie` header (if any).
    pub async fn form_raw(
        &self,
        cookie: Option<&str>,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .form(fields);
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        request.send().await.expect("queue-admin answers")
    }
}
