//! `ops/dev bench`: queue-admin's dead-letter pages on 100,000 dead letters. A fresh database is
//! bulk-loaded in one statement (20 connectors, 40 tenants, 50 error signatures whose numbers
//! vary, reasons of ~150 characters, realistic envelopes and headers, 1–5 attempts per job, a
//! replay chain for the detail page), vacuumed and analysed as autovacuum would after a bulk
//! load; then each page is requested through the in-process router with a signed-in session
//! (authentication, SQL, rendering), warm, N times, and printed next to its raw baseline: a
//! hand-written SQL query for the same rows, timed on one connection in the same run, so the
//! ratio can be read on a noisy machine. The issue's bar: each page under 200 ms.
//!
//! Prints a table and one JSON line per figure (`name`, `value`, `unit`). Environment:
//! `BENCH_DEAD_LETTERS` (100000), `BENCH_ITERATIONS` (30), `BENCH_KEEP_DATABASE` (set: keep the
//! database to look at plans; it is dropped otherwise).
#![allow(clippy::print_stderr)]

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use std::net::SocketAddr;
use std::time::Instant;
use tower::ServiceExt;
use tributary_broker::Publisher;
use tributary_queue_admin::auth::{accounts, Role};
use tributary_queue_admin::{AppState, Settings};
use tributary_runtime::Secret;
use tributary_store::Store;

/// The issue's bar for the list, search and group pages.
const BAR_MS: f64 = 200.0;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `ops/dev bench`"))
}

fn count_from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Bulk load: jobs, their attempts (5 for exhausted failures, else 1) and one dead letter per
/// job, ids rising with time as in production. `$1` = how many.
const LOAD_SQL: &str = r#"
WITH params AS (
    SELECT i, i % 50 AS t,
           (ARRAY['stripe','shopify','woocommerce','demo','http_json','postgres','hubspot',
                  'salesforce','zendesk','intercom','quickbooks','xero','netsuite','magento',
                  'bigcommerce','square','paypal','klaviyo','mailchimp','airtable'])[1 + i % 50 % 20] AS connector,
           (ARRAY['orders','customers','refunds','products','invoices'])[1 + i % 50 / 10] AS stream,
           md5('bench-job-' || i)::uuid AS job_id,
           (i::bigint * 7919) % 100000 AS n1, (i::bigint * 104729) % 1000000 AS n2,
           now() - make_interval(secs => ($1::int + 1 - i) * 25) AS at
    FROM generate_series(1, $1::int) AS i),
jobs_in AS (
    INSERT INTO jobs (id, root_id, kind, connector, tenant_id, source, stream, status, attempts,
                      deliveries, worker, envelope, enqueued_at, started_at, finished_at)
    SELECT job_id, job_id, 'pull', connector, 'tenant-' || (i * 7 % 40), connector || '_' || (i % 3),
           stream, 'dead', 1, 1, 'worker-' || (i % 4), '{}', at - interval '10 minutes',
           at - interval '1 minute', at
    FROM params RETURNING id),
attempts_in AS (
    INSERT INTO job_attempts (job_id, worker, started_at, finished_at, outcome, error_class,
                              error, http_status)
    SELECT job_id, 'worker-' || ((i + k) % 4), at - make_interval(secs => 60 * k + 2),
           at - make_interval(secs => 60 * k), CASE WHEN k = 0 THEN 'dead' ELSE 'retry' END,
           'transient', 'HTTP 503 from upstream', 503
    FROM params CROSS JOIN generate_series(0, CASE WHEN t % 10 IN (0, 1, 4, 6) THEN 4 ELSE 0 END) AS k
    RETURNING id)
INSERT INTO dead_letters (dedup_key, job_id, connector, tenant_id, source, stream, class, reason,
                          origin, attempts, http_status, payload, envelope, headers, queue,
                          routing_key, worker, deliveries, created_at, last_seen_at, status,
                          resolved_at, resolved_by, resolution_reason)
SELECT p.job_id::text, p.job_id, p.connector, 'tenant-' || (p.i * 7 % 40), p.connector || '_' || (p.i % 3),
       p.stream,
       (ARRAY['exhausted','exhausted','auth','permanent','exhausted','permanent','exhausted',
              'malformed_job','permanent','permanent'])[1 + p.t % 10],
       format((ARRAY[
         'upstream returned HTTP 503 Service Unavailable while fetching %1$s page %2$s from https://api.example.com/v2/items?cursor=%3$s; retries exhausted after 5 attempts',
         'connection timeout after %2$s ms talking to shop-%3$s.example.net:443 while listing %1$s; the TLS handshake never completed before the deadline',
         'authentication failed for %1$s: HTTP 401 Unauthorized, the access token for account %2$s expired at epoch %3$s and the refresh grant was rejected',
         'schema changed: field "total_price" of %1$s record %2$s is a string where a number was expected (connector build %3$s); fix the mapping',
         'rate limited and gave up: HTTP 429 Too Many Requests on %1$s, Retry-After %2$s s exceeds the snooze ceiling of %3$s s for this source',
         'cursor invalid for %1$s: page token %3$s expired after %2$s minutes; restarting the window failed because the source rejected the start date',
         'connection refused by 10.0.%2$s.%3$s:5432 while reading %1$s from the source database; is the replica down or the firewall closed?',
         'malformed job: the %1$s envelope at offset %2$s is not valid JSON (expected value at line 1 column %3$s); the message cannot be run',
         'record %2$s of %1$s failed validation: the external id is empty; %3$s other records on the same page were fine and were stored',
         'HTTP 404 Not Found for %1$s resource %2$s-%3$s: the shop was deleted or the API path changed; check the source settings'])[1 + p.t % 10],
         p.stream, p.n1, p.n2),
       CASE WHEN p.i % 10 = 0 THEN 'broker' ELSE 'worker' END,
       CASE WHEN p.t % 10 IN (0, 1, 4, 6) THEN 5 ELSE 1 END,
       (ARRAY[503, NULL, 401, NULL, 429, 400, NULL, NULL, NULL, 404])[1 + p.t % 10],
       convert_to(e.envelope::text, 'UTF8'), e.envelope,
       jsonb_build_object('message_id', p.job_id, 'content_type', 'application/json',
                          'delivery_mode', 2, 'headers',
                          jsonb_build_object('x-first-death-queue', 'tributary.work.' || p.connector,
                                             'x-delivery-count', p.i % 6)),
       'tributary.work.' || p.connector, p.connector, 'worker-' || (p.i % 4),
       1 + (p.i % 7 = 0)::int, p.at, p.at + make_interval(mins => p.i % 3),
       CASE WHEN p.i % 100 < 90 THEN 'pending' WHEN p.i % 100 < 97 THEN 'replayed' ELSE 'discarded' END,
       CASE WHEN p.i % 100 >= 90 THEN p.at + interval '1 hour' END,
       CASE WHEN p.i % 100 >= 90 THEN 'user:bench' END,
       CASE WHEN p.i % 100 >= 97 THEN 'bench: not needed' END
FROM params p
CROSS JOIN LATERAL (SELECT jsonb_build_object(
        'version', 1, 'job_id', p.job_id, 'kind', 'pull', 'connector', p.connector,
        'tenant', 'tenant-' || (p.i * 7 % 40), 'source', p.connector || '_' || (p.i % 3),
        'stream', p.stream,
        'window', jsonb_build_object('start', p.at - interval '1 day', 'end', p.at),
        'lineage', '{}'::jsonb, 'enqueued_at', p.at - interval '10 minutes') AS envelope) e
"#;

/// A replay as the replay code makes it: `$1` = the letter, `$2` = the new job's id. The new job
/// replays the letter's job; the letter becomes `replayed`.
const REPLAY_SQL: &str = r#"
WITH batch AS (
    INSERT INTO replay_batches (actor, filter, reason, total, published, state, finished_at)
    VALUES ('user:bench', jsonb_build_object('ids', jsonb_build_array($1::bigint)),
            'bench replay', 1, 1, 'done', now())
    RETURNING id),
job AS (
    INSERT INTO jobs (id, root_id, replay_of, kind, connector, tenant_id, source, stream, status,
                      attempts, envelope)
    SELECT $2::uuid, $2::uuid, d.job_id, 'pull', d.connector, d.tenant_id, d.source, d.stream,
           'dead', 5, '{}'
    FROM dead_letters d WHERE d.id = $1
    RETURNING id),
replay AS (
    INSERT INTO replays (dead_letter_id, batch_id, job_id, state, published_at)
    SELECT $1, batch.id, job.id, 'published', now() FROM batch, job
    RETURNING id)
UPDATE dead_letters SET status = 'replayed', resolved_at = now(), resolved_by = 'user:bench'
WHERE id = $1 AND EXISTS (SELECT 1 FROM replay)
"#;

/// The replay job died again: its attempts and its letter (one generation on).
const REDEAD_SQL: &str = r#"
WITH attempts AS (
    INSERT INTO job_attempts (job_id, worker, started_at, finished_at, outcome, error_class, error,
                              http_status)
    SELECT $2::uuid, 'worker-' || k, now() - make_interval(secs => 60 * k + 3),
           now() - make_interval(secs => 60 * k), CASE WHEN k = 0 THEN 'dead' ELSE 'retry' END,
           'transient', 'HTTP 503 from upstream (after the replay)', 503
    FROM generate_series(0, 4) AS k
    RETURNING id)
INSERT INTO dead_letters (dedup_key, job_id, connector, tenant_id, source, stream, class, reason,
                          origin, attempts, http_status, payload, envelope, headers, queue,
                          routing_key, worker, replay_generation)
SELECT $2::uuid::text, $2::uuid, connector, tenant_id, source, stream, class,
       reason || ' (after replay)', 'worker', 5, http_status, payload, envelope, headers, queue,
       routing_key, 'worker-0', replay_generation + 1
FROM dead_letters WHERE id = $1
RETURNING id
"#;

/// A measured page and its baseline.
struct Measure {
    name: &'static str,
    /// The page's path.
    path: String,
    /// Whether the 200 ms bar applies (list, search and group pages).
    barred: bool,
    /// The hand-written SQL for the same rows and its parameters, run on one connection.
    baseline: Baseline,
}

/// Statements with their parameters.
type Baseline = Vec<(
    String,
    Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>>,
)>;

struct Stats {
    p50: f64,
    p95: f64,
}

fn stats(mut samples: Vec<f64>) -> Stats {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        p50: at(0.50),
        p95: at(0.95),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let base_url = env("TRIBUTARY_DATABASE__URL");
    let letters = count_from_env("BENCH_DEAD_LETTERS", 100_000);
    let iterations = count_from_env("BENCH_ITERATIONS", 30).max(2);

    let (database_url, database) = fresh_database(&base_url).await?;
    eprintln!(
        "bench: database {database}, {letters} dead letters, {iterations} iterations per page"
    );
    let store = Store::connect(&database_url, 8)?;
    store.migrate().await?;

    let started = Instant::now();
    // Loading runs on a connection of its own, closed afterwards: a backend that has just run
    // the bulk load measured the group query ~2x slower than a fresh one, and neither the pages'
    // pool nor the baseline should inherit that.
    let loader_store = Store::connect(&database_url, 1)?;
    let loader = loader_store.pool().get().await?;
    loader.execute(LOAD_SQL, &[&(letters as i32)]).await?;
    // The detail page's letter: the middle of a chain original → replay (died) → replay (died).
    let original: i64 = loader
        .query_one(
            "SELECT max(id) FROM dead_letters WHERE status = 'pending' AND attempts = 5",
            &[],
        )
        .await?
        .get(0);
    let mut letter = original;
    let mut chain = vec![original];
    for generation in 1..=2 {
        let job = uuid::Uuid::now_v7();
        loader.execute(REPLAY_SQL, &[&letter, &job]).await?;
        letter = loader.query_one(REDEAD_SQL, &[&letter, &job]).await?.get(0);
        chain.push(letter);
        eprintln!("bench: replay generation {generation}: letter {letter}");
    }
    let detail_id = chain[1];
    for table in ["dead_letters", "jobs", "job_attempts", "replays"] {
        // What autovacuum does after a bulk insert: statistics, and the visibility map that
        // index-only scans (the groups page) rely on.
        loader
            .batch_execute(&format!("VACUUM (ANALYZE) {table}"))
            .await?;
    }
    let size: String = loader
        .query_one(
            "SELECT pg_size_pretty(pg_total_relation_size('dead_letters'))",
            &[],
        )
        .await?
        .get(0);
    eprintln!(
        "bench: loaded and analysed in {:.1} s; dead_letters with indexes: {size}",
        started.elapsed().as_secs_f64()
    );

    drop(loader);
    drop(loader_store);
    // The baselines' one connection, apart from the pool the pages use.
    let raw_store = Store::connect(&database_url, 1)?;
    let raw = raw_store.pool().get().await?;

    let state = app_state(&database_url, store.clone())?;
    let app = tributary_queue_admin::router(state.clone());
    let cookie = sign_in(&state, &app).await?;

    // A week ago, one day wide: the list walks far back in id order to reach it.
    let week_ago = chrono::Utc::now() - chrono::TimeDelta::days(7);
    let day_later = week_ago + chrono::TimeDelta::days(1);
    let (since, until) = (
        week_ago.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        day_later.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    let deep: i64 = (letters / 2) as i64;
    let measures = vec![
        Measure {
            name: "list",
            path: "/dead-letters".into(),
            barred: true,
            baseline: vec![(
                format!("SELECT {LIST_COLUMNS} FROM dead_letters WHERE status = 'pending' ORDER BY id DESC LIMIT 51"),
                vec![],
            )],
        },
        Measure {
            name: "list_older_page",
            path: format!("/dead-letters?after={deep}"),
            barred: true,
            baseline: vec![(
                format!("SELECT {LIST_COLUMNS} FROM dead_letters WHERE status = 'pending' AND id < $1 ORDER BY id DESC LIMIT 51"),
                vec![Box::new(deep)],
            )],
        },
        Measure {
            name: "list_time_window",
            path: format!("/dead-letters?status=any&since={since}&until={until}"),
            barred: true,
            baseline: vec![(
                format!("SELECT {LIST_COLUMNS} FROM dead_letters WHERE created_at >= $1 AND created_at < $2 ORDER BY id DESC LIMIT 51"),
                vec![Box::new(week_ago), Box::new(day_later)],
            )],
        },
        Measure {
            // The worst case of the list: a filter no index serves that matches nothing, so
            // the walk in id order reads every pending letter.
            name: "list_no_match",
            path: "/dead-letters?min_attempts=100".into(),
            barred: true,
            baseline: vec![(
                format!("SELECT {LIST_COLUMNS} FROM dead_letters WHERE status = 'pending' AND attempts >= 100 ORDER BY id DESC LIMIT 51"),
                vec![],
            )],
        },
        Measure {
            name: "search",
            path: "/dead-letters?q=handshake+deadline".into(),
            barred: true,
            baseline: vec![(
                format!("SELECT {LIST_COLUMNS} FROM dead_letters WHERE status = 'pending' AND search @@ websearch_to_tsquery('simple', 'handshake deadline') ORDER BY id DESC LIMIT 51"),
                vec![],
            )],
        },
        Measure {
            name: "search_filtered",
            path: "/dead-letters?q=refused+-replica&connector=paypal&tenant=tenant-13".into(),
            barred: true,
            baseline: vec![(
                format!("SELECT {LIST_COLUMNS} FROM dead_letters WHERE status = 'pending' AND connector = 'paypal' AND tenant_id = 'tenant-13' AND search @@ websearch_to_tsquery('simple', 'refused -replica') ORDER BY id DESC LIMIT 51"),
                vec![],
            )],
        },
        Measure {
            name: "groups",
            path: "/groups".into(),
            barred: true,
            baseline: vec![(GROUPS_BASELINE.replace("{filter}", "TRUE").replace("{order}", "last_seen DESC"), vec![])],
        },
        Measure {
            name: "groups_largest",
            path: "/groups?sort=largest".into(),
            barred: true,
            baseline: vec![(GROUPS_BASELINE.replace("{filter}", "TRUE").replace("{order}", "letters DESC"), vec![])],
        },
        Measure {
            name: "groups_class",
            path: "/groups?class=permanent".into(),
            barred: true,
            baseline: vec![(
                GROUPS_BASELINE
                    .replace("{filter}", "class = 'permanent'")
                    .replace("{order}", "last_seen DESC"),
                vec![],
            )],
        },
        Measure {
            name: "groups_search",
            path: "/groups?q=timeout".into(),
            barred: true,
            baseline: vec![(
                GROUPS_BASELINE
                    .replace("{filter}", "search @@ websearch_to_tsquery('simple', 'timeout')")
                    .replace("{order}", "last_seen DESC"),
                vec![],
            )],
        },
        Measure {
            name: "detail",
            path: format!("/dead-letters/{detail_id}"),
            barred: false,
            baseline: vec![
                ("SELECT * FROM dead_letters WHERE id = $1".into(), vec![Box::new(detail_id)]),
                (
                    "SELECT a.* FROM job_attempts a JOIN dead_letters d ON d.job_id = a.job_id
                     WHERE d.id = ANY($1) ORDER BY a.started_at".into(),
                    vec![Box::new(chain[..2].to_vec())],
                ),
            ],
        },
    ];

    let mut figures: Vec<(String, f64, &str)> = Vec::new();
    let mut over_bar = Vec::new();
    eprintln!();
    eprintln!(
        "{:<18} {:>9} {:>9} {:>11} {:>11} {:>8}  {:<6}  path",
        "page", "p50 ms", "p95 ms", "sql p50 ms", "sql p95 ms", "ratio", "<200ms"
    );
    for measure in &measures {
        // Warm-up: plans, caches, the session lookup.
        for _ in 0..3 {
            get(&app, &measure.path, &cookie).await?;
            run_baseline(&raw, &measure.baseline).await?;
        }
        let mut page_ms = Vec::with_capacity(iterations);
        let mut sql_ms = Vec::with_capacity(iterations);
        let mut bytes = 0;
        for iteration in 0..iterations {
            // Alternate which goes first, so that neither always runs right after the other
            // (parallel workers of one query still exiting slow down the next on 2 cores).
            if iteration % 2 == 1 {
                sql_ms.push(run_baseline(&raw, &measure.baseline).await?);
            }
            let started = Instant::now();
            bytes = get(&app, &measure.path, &cookie).await?;
            page_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            if iteration % 2 == 0 {
                sql_ms.push(run_baseline(&raw, &measure.baseline).await?);
            }
        }
        let page = stats(page_ms);
        let sql = stats(sql_ms);
        let verdict = if !measure.barred {
            "n/a"
        } else if page.p95 < BAR_MS {
            "yes"
        } else {
            over_bar.push(measure.name);
            "NO"
        };
        eprintln!(
            "{:<18} {:>9.1} {:>9.1} {:>11.1} {:>11.1} {:>8.1}  {:<6}  {} ({} KiB)",
            measure.name,
            page.p50,
            page.p95,
            sql.p50,
            sql.p95,
            page.p50 / sql.p50.max(0.001),
            verdict,
            measure.path,
            bytes / 1024
        );
        figures.push((format!("page_{}_p50", measure.name), page.p50, "ms"));
        figures.push((format!("page_{}_p95", measure.name), page.p95, "ms"));
        figures.push((format!("sql_{}_p50", measure.name), sql.p50, "ms"));
    }
    eprintln!();
    if over_bar.is_empty() {
        eprintln!("bench: every list, search and group page answered under {BAR_MS} ms at p95 on {letters} dead letters");
    } else {
        eprintln!("bench: OVER {BAR_MS} ms at p95: {}", over_bar.join(", "));
    }
    for (name, value, unit) in &figures {
        println!(
            "{}",
            serde_json::json!({"name": name, "value": value, "unit": unit})
        );
    }

    drop(app);
    drop(state);
    drop(store);
    drop(raw);
    drop(raw_store);
    if std::env::var_os("BENCH_KEEP_DATABASE").is_some() {
        // To look at plans afterwards; `ops/dev test` drops it.
        eprintln!("bench: kept database {database}");
    } else {
        drop_database(&base_url, &database).await?;
    }
    Ok(())
}

/// The list columns, as the list page reads them.
const LIST_COLUMNS: &str = "id, job_id, connector, tenant_id, source, stream, class, \
     left(reason, 300), char_length(reason) > 300, origin, attempts, http_status, status, \
     replay_generation, created_at, last_seen_at, deliveries, signature";

/// Groups of pending letters, the sample row's text joined afterwards.
const GROUPS_BASELINE: &str = "WITH groups AS (
        SELECT signature, count(*) AS letters, min(created_at) AS first_seen,
               max(last_seen_at) AS last_seen, max(id) AS sample_id
        FROM dead_letters WHERE status = 'pending' AND {filter}
        GROUP BY signature ORDER BY {order} LIMIT 51)
    SELECT g.*, s.class, s.connector, s.signature_text, left(s.reason, 300)
    FROM groups g JOIN dead_letters s ON s.id = g.sample_id";

/// Runs a baseline's statements in turn; how long they took, in milliseconds.
async fn run_baseline(raw: &tokio_postgres::Client, baseline: &Baseline) -> anyhow::Result<f64> {
    let started = Instant::now();
    for (sql, params) in baseline {
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            params.iter().map(|param| param.as_ref() as _).collect();
        raw.query(sql.as_str(), &params).await?;
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// `GET path` through the router with the session cookie; the body's size. Anything but 200 is
/// an error (a benchmark of error pages would measure nothing).
async fn get(app: &axum::Router, path: &str, cookie: &str) -> anyhow::Result<usize> {
    let request = Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())?;
    let response = app.clone().oneshot(request).await?;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    anyhow::ensure!(
        status == StatusCode::OK,
        "{path}: {status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(500)])
    );
    Ok(body.len())
}

/// Creates a viewer, signs in through the router, returns the `Cookie` header value.
async fn sign_in(state: &AppState, app: &axum::Router) -> anyhow::Result<String> {
    let password = format!("bench-{}", uuid::Uuid::now_v7().simple());
    accounts::create_user(
        state.store(),
        "bench-viewer",
        Role::Viewer,
        accounts::NewPassword::Given(password.clone()),
        "bench",
    )
    .await
    .map_err(|error| anyhow::anyhow!("creating the bench user: {error}"))?;
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("username", "bench-viewer")
        .append_pair("password", &password)
        .finish();
    let mut request = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))?;
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))));
    let response = app.clone().oneshot(request).await?;
    anyhow::ensure!(
        response.status() == StatusCode::SEE_OTHER,
        "signing in: {}",
        response.status()
    );
    let prefix = format!("{}=", tributary_queue_admin::auth::login::SESSION_COOKIE);
    let cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&prefix))
        .and_then(|value| value.split(';').next())
        .ok_or_else(|| anyhow::anyhow!("signing in set no session cookie"))?;
    Ok(cookie.to_owned())
}

fn app_state(database_url: &str, store: Store) -> anyhow::Result<AppState> {
    let mut settings = Settings::default();
    settings.database.url = Secret::new(database_url.to_owned());
    settings.amqp.url = tributary_runtime::AmqpUrls::joined(
        &std::env::var("TRIBUTARY_AMQP__URL").unwrap_or_else(|_| "amqp://127.0.0.1:5672".into()),
    );
    settings.admin.cookie_secure = false;
    let topology = settings
        .amqp
        .topology(Vec::new())
        .map_err(|problem| anyhow::anyhow!("{problem}"))?;
    // Never connects: browsing publishes nothing.
    let publisher = Publisher::new(settings.amqp.nodes().unwrap(), "queue-admin bench");
    AppState::new(settings, store, publisher, topology)
}

async fn fresh_database(base_url: &str) -> anyhow::Result<(String, String)> {
    let admin = Store::connect(base_url, 1)?;
    let name = format!("bench_{}", uuid::Uuid::now_v7().simple());
    admin
        .pool()
        .get()
        .await?
        .simple_query(&format!("CREATE DATABASE {name}"))
        .await?;
    let (prefix, _) = base_url
        .rsplit_once('/')
        .expect("a database URL has a path");
    Ok((format!("{prefix}/{name}"), name))
}

async fn drop_database(base_url: &str, name: &str) -> anyhow::Result<()> {
    // FORCE ends the pools' connections that are still closing.
    let admin = Store::connect(base_url, 1)?;
    admin
        .pool()
        .get()
        .await?
        .simple_query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    Ok(())
}
