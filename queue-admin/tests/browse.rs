//! Browsing dead letters against the real stack: filters, full-text search and grouping return
//! exactly the right letters; keyset pages neither repeat nor skip; the detail shows every
//! attempt, the lineage through replays (and a replay's continuation), edits and the replay;
//! the API and the pages show the same letters; error text and payloads are shown escaped.

mod support;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use std::collections::BTreeSet;
use support::{Letter, Session, TestAdmin};
use tributary_queue_admin::auth::Role;
use uuid::Uuid;

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
}

/// Sets when a letter was stored and last seen (the store sets both to now()).
async fn set_times(admin: &TestAdmin, id: i64, created: DateTime<Utc>, last_seen: DateTime<Utc>) {
    let client = admin.store().pool().get().await.unwrap();
    client
        .execute(
            "UPDATE dead_letters SET created_at = $2, last_seen_at = $3 WHERE id = $1",
            &[&id, &created, &last_seen],
        )
        .await
        .unwrap();
}

async fn execute(
    admin: &TestAdmin,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) {
    let client = admin.store().pool().get().await.unwrap();
    client.execute(sql, params).await.unwrap();
}

fn letter(connector: &str, tenant: &str, class: &str, reason: &str, attempts: i32) -> Letter {
    let mut letter = Letter::new(reason);
    letter.connector = connector.into();
    letter.tenant = tenant.into();
    letter.source = format!("{connector}_main");
    letter.class = class.into();
    letter.attempts = attempts;
    letter
}

/// The known mix every filter test reads. Reasons of one group differ only in numbers, ids and
/// URLs; one reason carries a distinctive word.
struct Mix {
    /// demo / acme, exhausted, 503 from a URL with a page number (group A), 5 attempts.
    a1: i64,
    a2: i64,
    /// Group A, tenant globex.
    a3: i64,
    /// Group A, discarded.
    a4: i64,
    /// stripe, auth, token expired (group B).
    b1: i64,
    /// Group B, tenant globex.
    b2: i64,
    /// shopify / acme, permanent, with the word "flamingo".
    c1: i64,
    /// demo / acme, malformed_job, not JSON.
    d1: i64,
}

async fn insert_mix(admin: &TestAdmin) -> Mix {
    let a = |page: u32, tenant: &str| {
        letter(
            "demo",
            tenant,
            "exhausted",
            &format!(
                "HTTP 503 from https://shop.example/api/orders?page={page} after {} ms; gave up after 5 attempts",
                page * 117
            ),
            5,
        )
    };
    let a1 = admin.dead_letter(a(1, "acme")).await;
    let a2 = admin.dead_letter(a(2, "acme")).await;
    let a3 = admin.dead_letter(a(17, "globex")).await;
    let a4 = admin.dead_letter(a(99, "acme")).await;
    let b = |account: u32, tenant: &str| {
        let mut letter = letter(
            "stripe",
            tenant,
            "auth",
            &format!("HTTP 401 Unauthorized: the access token of account {account} expired"),
            1,
        );
        letter.http_status = Some(401);
        letter
    };
    let b1 = admin.dead_letter(b(4711, "acme")).await;
    let b2 = admin.dead_letter(b(815, "globex")).await;
    let c1 = admin
        .dead_letter(letter(
            "shopify",
            "acme",
            "permanent",
            "order 42 carries a flamingo where a price was expected",
            1,
        ))
        .await;
    let mut d = letter("demo", "acme", "malformed_job", "the body is not JSON", 0);
    d.raw_payload = Some(b"not json at all".to_vec());
    let d1 = admin.dead_letter(d).await;

    // Stored over November: a1 on the 1st, ..., d1 on the 8th; a1 seen again on the 20th.
    let ids = [a1, a2, a3, a4, b1, b2, c1, d1];
    for (day, id) in (1..).zip(ids) {
        set_times(admin, id, at(day, 10), at(day, 10)).await;
    }
    set_times(admin, a1, at(1, 10), at(20, 12)).await;
    execute(
        admin,
        "UPDATE dead_letters SET status = 'discarded', resolved_at = now(),
                resolved_by = 'user:test', resolution_reason = 'known outage' WHERE id = $1",
        &[&a4],
    )
    .await;
    Mix {
        a1,
        a2,
        a3,
        a4,
        b1,
        b2,
        c1,
        d1,
    }
}

/// The ids the API lists for `query` (one page of up to 200, which must be the last).
async fn api_ids(admin: &TestAdmin, token: &str, query: &str) -> BTreeSet<i64> {
    let (status, page) = admin
        .api_get(token, &format!("/api/v1/dead-letters?limit=200&{query}"))
        .await;
    assert_eq!(status, 200, "{query}: {page}");
    assert!(page["next"].is_null(), "{query}: one page expected: {page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

/// The ids a list page links to from its rows, in page order.
fn page_ids(html: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("href=\"/dead-letters/") {
        rest = &rest[start + "href=\"/dead-letters/".len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && rest[digits.len()..].starts_with('"') {
            ids.push(digits.parse().unwrap());
        }
    }
    ids
}

/// The `href` of the link whose text is `text`, unescaped.
fn link_to(html: &str, text: &str) -> Option<String> {
    let end = html.find(&format!("\">{text}</a>"))?;
    let start = html[..end].rfind("href=\"")? + "href=\"".len();
    Some(html[start..end].replace("&amp;", "&"))
}

fn set(ids: &[i64]) -> BTreeSet<i64> {
    ids.iter().copied().collect()
}

#[tokio::test]
async fn filters_return_exactly_the_matching_letters() {
    let admin = TestAdmin::start().await;
    let mix = insert_mix(&admin).await;
    let viewer = admin.token(Role::Viewer).await;
    let Mix {
        a1,
        a2,
        a3,
        a4,
        b1,
        b2,
        c1,
        d1,
    } = mix;

    let cases: Vec<(String, Vec<i64>)> = vec![
        ("".into(), vec![a1, a2, a3, a4, b1, b2, c1, d1]),
        ("status=any".into(), vec![a1, a2, a3, a4, b1, b2, c1, d1]),
        ("status=pending".into(), vec![a1, a2, a3, b1, b2, c1, d1]),
        ("status=discarded".into(), vec![a4]),
        ("status=replayed".into(), vec![]),
        ("connector=stripe".into(), vec![b1, b2]),
        ("connector=demo&status=pending".into(), vec![a1, a2, a3, d1]),
        ("tenant=globex".into(), vec![a3, b2]),
        ("source=shopify_main".into(), vec![c1]),
        ("class=auth".into(), vec![b1, b2]),
        ("class=exhausted&tenant=acme".into(), vec![a1, a2, a4]),
        // Stored from the 2nd (midnight) up to, not including, the 5th: a2, a3, a4.
        ("since=2026-11-02&until=2026-11-05".into(), vec![a2, a3, a4]),
        ("since=2026-11-07T10:00:00Z".into(), vec![c1, d1]),
        ("until=2026-11-01T10:00:01Z".into(), vec![a1]),
        ("min_attempts=5".into(), vec![a1, a2, a3, a4]),
        ("max_attempts=0".into(), vec![d1]),
        ("min_attempts=1&max_attempts=1".into(), vec![b1, b2, c1]),
        (format!("ids={a1}&ids={c1},{d1}"), vec![a1, c1, d1]),
        (format!("ids={a1},{b1}&connector=stripe"), vec![b1]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            api_ids(&admin, &viewer, &query).await,
            set(&expected),
            "{query}"
        );
    }

    // Newest first by id, whatever the times.
    let (_, page) = admin
        .api_get(&viewer, "/api/v1/dead-letters?status=pending")
        .await;
    let order: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect();
    assert_eq!(order, vec![d1, c1, b2, b1, a3, a2, a1]);
    let first = &page["items"][0];
    assert_eq!(first["class"], "malformed_job");
    assert_eq!(first["status"], "pending");
    assert_eq!(first["looping"], false);

    for (query, field) in [
        ("limit=0", "limit:"),
        ("limit=201", "limit:"),
        ("status=lost", "status:"),
        ("since=last+week", "since:"),
        ("min_attempts=3&max_attempts=1", "min_attempts:"),
        ("ids=1,x", "ids:"),
    ] {
        let (status, body) = admin
            .api_get(&viewer, &format!("/api/v1/dead-letters?{query}"))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{query}: {message}");
    }
}

#[tokio::test]
async fn search_finds_letters_by_the_words_of_their_error() {
    let admin = TestAdmin::start().await;
    let mix = insert_mix(&admin).await;
    let viewer = admin.token(Role::Viewer).await;
    let cases: Vec<(&str, Vec<i64>)> = vec![
        ("q=flamingo", vec![mix.c1]),
        ("q=FLAMINGO", vec![mix.c1]),
        ("q=expired", vec![mix.b1, mix.b2]),
        // Every word must match; a phrase must match in order; -word excludes.
        ("q=token+expired", vec![mix.b1, mix.b2]),
        ("q=%22expired+token%22", vec![]),
        ("q=%22access+token%22", vec![mix.b1, mix.b2]),
        ("q=503+-flamingo", vec![mix.a1, mix.a2, mix.a3, mix.a4]),
        ("q=flamingo+or+unauthorized", vec![mix.b1, mix.b2, mix.c1]),
        // Combined with the other filters.
        ("q=503&status=pending&tenant=acme", vec![mix.a1, mix.a2]),
        ("q=nothing-like-this", vec![]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            api_ids(&admin, &viewer, query).await,
            set(&expected),
            "{query}"
        );
    }
    let (status, body) = admin
        .api_get(
            &viewer,
            &format!("/api/v1/dead-letters?q={}", "x".repeat(201)),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("search:"));
}

#[tokio::test]
async fn groups_count_letters_by_signature_with_first_and_last_seen() {
    let admin = TestAdmin::start().await;
    let mix = insert_mix(&admin).await;
    let viewer = admin.token(Role::Viewer).await;

    let (status, groups) = admin
        .api_get(&viewer, "/api/v1/dead-letters/groups?status=pending")
        .await;
    assert_eq!(status, 200, "{groups}");
    assert_eq!(groups["more"], false);
    assert_eq!(groups["sort"], "recent");
    let items = groups["items"].as_array().unwrap();
    // A (3 pending: a1, a2, a3), B (b1, b2), C (c1), D (d1).
    assert_eq!(items.len(), 4, "{groups}");
    // Last seen first: A (a1 seen again on the 20th), D (8th), C (7th), B (6th).
    let first = &items[0];
    assert_eq!(first["class"], "exhausted");
    assert_eq!(first["connector"], "demo");
    assert_eq!(first["count"], 3);
    assert_eq!(
        first["signature_text"],
        "HTTP <n> from <url> after <n> ms; gave up after <n> attempts"
    );
    assert_eq!(
        first["first_seen"].as_str().unwrap(),
        "2026-11-01T10:00:00Z"
    );
    assert_eq!(first["last_seen"].as_str().unwrap(), "2026-11-20T12:00:00Z");
    assert_eq!(first["sample_id"], mix.a3);
    let counts: Vec<(String, i64)> = items
        .iter()
        .map(|group| {
            (
                group["class"].as_str().unwrap().to_owned(),
                group["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            ("exhausted".to_owned(), 3),
            ("malformed_job".to_owned(), 1),
            ("permanent".to_owned(), 1),
            ("auth".to_owned(), 2),
        ]
    );
    let auth = &items[3];
    assert_eq!(auth["first_seen"].as_str().unwrap(), "2026-11-05T10:00:00Z");
    assert_eq!(auth["last_seen"].as_str().unwrap(), "2026-11-06T10:00:00Z");
    assert_eq!(
        auth["signature_text"],
        "HTTP <n> Unauthorized: the access token of account <n> expired"
    );

    // Largest first.
    let (_, largest) = admin
        .api_get(
            &viewer,
            "/api/v1/dead-letters/groups?status=pending&sort=largest",
        )
        .await;
    let order: Vec<i64> = largest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| group["count"].as_i64().unwrap())
        .collect();
    assert_eq!(order, vec![3, 2, 1, 1]);

    // Each group's signature, used as a filter, lists exactly its letters.
    let signature_a = first["signature"].as_str().unwrap();
    assert_eq!(
        api_ids(
            &admin,
            &viewer,
            &format!("signature={signature_a}&status=pending")
        )
        .await,
        set(&[mix.a1, mix.a2, mix.a3])
    );
    assert_eq!(
        api_ids(&admin, &viewer, &format!("signature={signature_a}")).await,
        set(&[mix.a1, mix.a2, mix.a3, mix.a4])
    );
    let signature_b = auth["signature"].as_str().unwrap();
    assert_eq!(
        api_ids(&admin, &viewer, &format!("signature={signature_b}")).await,
        set(&[mix.b1, mix.b2])
    );

    // Grouping under a filter counts only what the filter keeps.
    let (_, acme) = admin
        .api_get(
            &viewer,
            "/api/v1/dead-letters/groups?status=pending&tenant=acme&class=exhausted",
        )
        .await;
    assert_eq!(acme["items"].as_array().unwrap().len(), 1, "{acme}");
    assert_eq!(acme["items"][0]["count"], 2);
    assert_eq!(acme["items"][0]["sample_id"], mix.a2);
    let (_, any) = admin.api_get(&viewer, "/api/v1/dead-letters/groups").await;
    assert_eq!(
        any["items"][0]["count"], 4,
        "every state: a4 counts too: {any}"
    );
    let (_, limited) = admin
        .api_get(
            &viewer,
            "/api/v1/dead-letters/groups?status=pending&limit=2",
        )
        .await;
    assert_eq!(limited["items"].as_array().unwrap().len(), 2);
    assert_eq!(limited["more"], true);
    let (status, body) = admin
        .api_get(&viewer, "/api/v1/dead-letters/groups?sort=biggest")
        .await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("sort:"));
}

#[tokio::test]
async fn pages_never_repeat_or_skip_letters() {
    let admin = TestAdmin::start().await;
    let viewer = admin.token(Role::Viewer).await;
    let mut all = Vec::new();
    for n in 0..23 {
        let class = if n % 3 == 0 { "auth" } else { "permanent" };
        all.push(
            admin
                .dead_letter(letter(
                    "demo",
                    "acme",
                    class,
                    &format!("failure number {n}"),
                    1,
                ))
                .await,
        );
    }
    let newest_first: Vec<i64> = all.iter().rev().copied().collect();
    let auth_newest_first: Vec<i64> = all
        .iter()
        .enumerate()
        .rev()
        .filter(|(n, _)| n % 3 == 0)
        .map(|(_, id)| *id)
        .collect();

    for (filter, expected) in [("", &newest_first), ("class=auth&", &auth_newest_first)] {
        let mut seen = Vec::new();
        let mut after: Option<i64> = None;
        let mut pages = 0;
        loop {
            let cursor = after.map(|id| format!("&after={id}")).unwrap_or_default();
            let (status, page) = admin
                .api_get(
                    &viewer,
                    &format!("/api/v1/dead-letters?{filter}limit=5{cursor}"),
                )
                .await;
            assert_eq!(status, 200, "{page}");
            pages += 1;
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 5);
            seen.extend(items.iter().map(|item| item["id"].as_i64().unwrap()));
            match page["next"].as_i64() {
                Some(next) => {
                    assert_eq!(Some(next), seen.last().copied());
                    after = Some(next);
                }
                None => break,
            }
            assert!(pages < 10, "paging does not end");
        }
        assert_eq!(&seen, expected, "{filter}");
        assert_eq!(pages, expected.len().div_ceil(5), "no empty last page");
    }

    // The web page's "Older →" links walk the same letters.
    let session = admin.session(Role::Viewer).await;
    let mut seen = Vec::new();
    let mut path = "/dead-letters?limit=5".to_owned();
    loop {
        let (status, html) = admin.page(&session, &path).await;
        assert_eq!(status, 200, "{path}: {html}");
        seen.extend(page_ids(&html));
        match link_to(&html, "Older →") {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(seen, newest_first);
}

/// A replay as the replay code makes it: a batch, the new job (replaying `of`), its `replays`
/// row, and the letter marked replayed. Returns the new job's id.
async fn replay(admin: &TestAdmin, letter_id: i64, of: Uuid, job_status: &str) -> Uuid {
    let client = admin.store().pool().get().await.unwrap();
    let batch: i64 = client
        .query_one(
            "INSERT INTO replay_batches (actor, filter, reason, total, published, state)
             VALUES ('user:test', $1, 'retry after the fix', 1, 1, 'done') RETURNING id",
            &[&serde_json::json!({ "ids": [letter_id] })],
        )
        .await
        .unwrap()
        .get(0);
    let job = Uuid::now_v7();
    client
        .execute(
            "INSERT INTO jobs (id, root_id, replay_of, kind, connector, tenant_id, source, stream,
                               status, envelope)
             SELECT $1, $1, $2, 'pull', connector, tenant_id, source, stream, $3, '{}'
             FROM dead_letters WHERE id = $4",
            &[&job, &of, &job_status, &letter_id],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO replays (dead_letter_id, batch_id, job_id, state, published_at)
             VALUES ($1, $2, $3, 'published', now())",
            &[&letter_id, &batch, &job],
        )
        .await
        .unwrap();
    client
        .execute(
            "UPDATE dead_letters SET status = 'replayed', resolved_at = now(),
                    resolved_by = 'user:test' WHERE id = $1",
            &[&letter_id],
        )
        .await
        .unwrap();
    job
}

/// An attempt of `job` in the ledger.
async fn attempt(
    admin: &TestAdmin,
    job: Uuid,
    worker: &str,
    millis: i64,
    outcome: &str,
    status: Option<i32>,
) {
    execute(
        admin,
        "INSERT INTO job_attempts (job_id, worker, started_at, finished_at, outcome, error_class,
                                   error, http_status)
         VALUES ($1, $2, now() - make_interval(secs => $3::float8 / 1000 + 60),
                 now() - interval '60 seconds', $4, 'transient', 'HTTP 503 from upstream', $5)",
        &[&job, &worker, &(millis as f64), &outcome, &status],
    )
    .await;
}

/// Stores a dead letter of an existing job (a replay job or a continuation), as a worker would.
async fn letter_of_job(admin: &TestAdmin, job: Uuid, reason: &str) -> i64 {
    admin
        .store()
        .insert_dead_letter(&tributary_store::NewDeadLetter {
            dedup_key: job.to_string(),
            job_id: Some(job),
            connector: Some("demo"),
            tenant: Some("acme"),
            source: Some("demo_shop"),
            stream: Some("orders"),
            class: "exhausted",
            reason,
            origin: "worker",
            attempts: 5,
            http_status: Some(503),
            payload: br#"{"version":1}"#,
            envelope: None,
            headers: serde_json::json!({"message_id": job}),
            queue: Some("test.work.demo"),
            routing_key: Some("demo"),
            worker: Some("worker-b"),
            started_at: Utc::now(),
        })
        .await
        .unwrap();
    let client = admin.store().pool().get().await.unwrap();
    client
        .query_one("SELECT id FROM dead_letters WHERE job_id = $1", &[&job])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn the_detail_shows_every_attempt_and_the_lineage_through_replays() {
    let admin = TestAdmin::start().await;
    let viewer = admin.token(Role::Viewer).await;
    // L0: the original failure, after a retry that got a 503.
    let l0 = admin
        .dead_letter(letter(
            "demo",
            "acme",
            "exhausted",
            "HTTP 503 from upstream, attempt 5",
            5,
        ))
        .await;
    let (_, detail) = admin
        .api_get(&viewer, &format!("/api/v1/dead-letters/{l0}"))
        .await;
    let j0: Uuid = detail["job_id"].as_str().unwrap().parse().unwrap();
    attempt(&admin, j0, "worker-a", 1500, "retry", Some(503)).await;
    // Replayed as J1, which died again: L1 (generation 1), with one failed attempt of its own.
    let j1 = replay(&admin, l0, j0, "queued").await;
    attempt(&admin, j1, "worker-b", 250, "retry", Some(502)).await;
    let l1 = letter_of_job(&admin, j1, "HTTP 503 from upstream, attempt 5 (replay)").await;
    execute(
        &admin,
        "INSERT INTO dead_letter_edits (dead_letter_id, version, payload, diff, reason, actor)
         VALUES ($1, 1, '\\x7b7d', $2, 'drop the broken window', 'user:alice')",
        &[
            &l1,
            &serde_json::json!([{"op": "remove", "path": "/window"}]),
        ],
    )
    .await;
    // L1 replayed as J2; J2's run handed over to a continuation J2c, which died: L2.
    let j2 = replay(&admin, l1, j1, "succeeded").await;
    let j2c = Uuid::now_v7();
    execute(
        &admin,
        "INSERT INTO jobs (id, root_id, parent_id, kind, connector, tenant_id, source, stream,
                           status, envelope)
         VALUES ($1, $2, $2, 'pull', 'demo', 'acme', 'demo_shop', 'orders', 'queued', '{}')",
        &[&j2c, &j2],
    )
    .await;
    let l2 = letter_of_job(
        &admin,
        j2c,
        "HTTP 503 from upstream, page 7 of the continuation",
    )
    .await;

    // From the middle letter: one ancestor, itself, one descendant.
    let (status, detail) = admin
        .api_get(&viewer, &format!("/api/v1/dead-letters/{l1}"))
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["id"], l1);
    assert_eq!(detail["status"], "replayed");
    assert_eq!(detail["replay_generation"], 1);
    assert_eq!(detail["attempts"], 5, "the count; the log is attempt_log");
    assert_eq!(detail["worker"], "worker-b");
    assert_eq!(detail["queue"], "test.work.demo");
    assert_eq!(detail["headers"]["message_id"], j1.to_string());
    assert_eq!(detail["payload"], r#"{"version":1}"#);
    assert_eq!(detail["payload_encoding"], "utf8");
    assert_eq!(detail["resolved_by"], "user:test");
    let lineage: Vec<(i64, i64, Option<String>)> = detail["lineage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            (
                step["depth"].as_i64().unwrap(),
                step["dead_letter_id"].as_i64().unwrap(),
                step["replay"]["job_status"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        lineage,
        vec![
            (-1, l0, Some("dead".to_owned())),
            (0, l1, Some("succeeded".to_owned())),
            (1, l2, None),
        ],
        "{detail}"
    );
    assert_eq!(detail["lineage"][0]["replay"]["job_id"], j1.to_string());
    assert_eq!(detail["replay"]["job_id"], j2.to_string());
    assert_eq!(detail["replay"]["state"], "published");
    // The continuation's letter counts as the replay's failure for the loop guard, although
    // only the run's root job says what it replays.
    let (_, last) = admin
        .api_get(&viewer, &format!("/api/v1/dead-letters/{l2}"))
        .await;
    assert_eq!(last["replay_generation"], 2, "{last}");
    // Attempts of J0 (labelled L0: the retry and the dead one) and of J1 (labelled L1: the
    // retry and the dead one), oldest first; J2 has none.
    let attempts: Vec<(String, Option<i64>, String, Option<i64>)> = detail["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attempt| {
            (
                attempt["job_id"].as_str().unwrap().to_owned(),
                attempt["dead_letter_id"].as_i64(),
                attempt["outcome"].as_str().unwrap().to_owned(),
                attempt["http_status"].as_i64(),
            )
        })
        .collect();
    let (j0s, j1s) = (j0.to_string(), j1.to_string());
    assert_eq!(
        attempts,
        vec![
            (j0s.clone(), Some(l0), "retry".to_owned(), Some(503)),
            (j1s.clone(), Some(l1), "retry".to_owned(), Some(502)),
            (j0s, Some(l0), "dead".to_owned(), None),
            (j1s, Some(l1), "dead".to_owned(), Some(503)),
        ],
        "{detail}"
    );
    let retry = &detail["attempt_log"][0];
    assert_eq!(retry["worker"], "worker-a");
    assert_eq!(retry["duration_ms"], 1500);
    assert_eq!(retry["error"], "HTTP 503 from upstream");
    let edits = detail["edits"].as_array().unwrap();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0]["version"], 1);
    assert_eq!(edits[0]["actor"], "user:alice");
    assert_eq!(edits[0]["reason"], "drop the broken window");
    assert_eq!(edits[0]["diff"][0]["path"], "/window");

    // From the original: the whole chain below it. From the last: the whole chain above it.
    // Attempts: its own generation and earlier ones, and its replay job's (labelled with the
    // letter that replay became); never later generations.
    for (id, expected, labels) in [
        (l0, vec![(0, l0), (1, l1), (2, l2)], vec![l0, l1]),
        (l2, vec![(-2, l0), (-1, l1), (0, l2)], vec![l0, l1, l2]),
    ] {
        let (_, detail) = admin
            .api_get(&viewer, &format!("/api/v1/dead-letters/{id}"))
            .await;
        let steps: Vec<(i64, i64)> = detail["lineage"]
            .as_array()
            .unwrap()
            .iter()
            .map(|step| {
                (
                    step["depth"].as_i64().unwrap(),
                    step["dead_letter_id"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(steps, expected, "lineage of {id}: {detail}");
        let labelled: BTreeSet<i64> = detail["attempt_log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|attempt| attempt["dead_letter_id"].as_i64().unwrap())
            .collect();
        assert_eq!(labelled, set(&labels), "attempts of {id}: {detail}");
    }

    // The page shows the same: attempts, lineage links, the edit, the replay.
    let session = admin.session(Role::Operator).await;
    let (status, html) = admin.page(&session, &format!("/dead-letters/{l1}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("href=\"/dead-letters/{l0}\"")),
        "{html}"
    );
    assert!(
        html.contains(&format!("href=\"/dead-letters/{l2}\"")),
        "{html}"
    );
    assert!(
        html.contains("worker-a") && html.contains("1.500 s"),
        "{html}"
    );
    assert!(html.contains("drop the broken window"), "{html}");
    assert!(html.contains(&j2.to_string()), "{html}");
    assert!(
        html.contains("&quot;version&quot;: 1"),
        "pretty JSON payload: {html}"
    );
    // A replayed letter offers no replay; a pending one does, and its edit page.
    assert!(
        !html.contains(&format!("/replays/preview?ids={l1}")),
        "{html}"
    );
    let (_, html) = admin.page(&session, &format!("/dead-letters/{l2}")).await;
    assert!(
        html.contains(&format!("href=\"/replays/preview?ids={l2}\"")),
        "{html}"
    );
    assert!(
        html.contains(&format!("href=\"/dead-letters/{l2}/edit\"")),
        "{html}"
    );

    let (status, body) = admin.api_get(&viewer, "/api/v1/dead-letters/999999").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = admin.api_get(&viewer, "/api/v1/dead-letters/abc").await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = admin.page(&session, "/dead-letters/999999").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_api_and_the_pages_show_the_same_letters_and_groups() {
    let admin = TestAdmin::start().await;
    let mix = insert_mix(&admin).await;
    let viewer = admin.token(Role::Viewer).await;
    let session: Session = admin.session(Role::Operator).await;

    // The page defaults to pending letters; the API to every state.
    let (status, html) = admin.page(&session, "/dead-letters").await;
    assert_eq!(status, 200, "{html}");
    let on_page = page_ids(&html);
    let (_, page) = admin
        .api_get(&viewer, "/api/v1/dead-letters?status=pending")
        .await;
    let in_api: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect();
    assert_eq!(on_page, in_api);
    assert!(!on_page.contains(&mix.a4));

    for query in [
        "status=any",
        "status=pending&connector=demo",
        "status=any&tenant=globex",
        "status=pending&q=expired",
        "status=discarded",
        "status=any&since=2026-11-03&min_attempts=1",
    ] {
        let (status, html) = admin
            .page(&session, &format!("/dead-letters?{query}"))
            .await;
        assert_eq!(status, 200, "{query}: {html}");
        let on_page: BTreeSet<i64> = page_ids(&html).into_iter().collect();
        assert_eq!(on_page, api_ids(&admin, &viewer, query).await, "{query}");
        // The selection form and the whole-filter link lead to the replay preview with the
        // same filter.
        if !on_page.is_empty() {
            assert!(html.contains("action=\"/replays/preview\""), "{html}");
            assert!(html.contains("name=\"ids\""), "{html}");
            let everything = link_to(&html, "Replay or discard everything matching this filter…")
                .expect("the link to act on the whole filter");
            let (_, preview_query) = everything.split_once('?').unwrap();
            assert_eq!(
                api_ids(&admin, &viewer, preview_query).await,
                on_page,
                "{query} → {everything}"
            );
        }
    }

    // Groups: the page lists the API's signatures, each linking to its letters.
    let (status, html) = admin.page(&session, "/groups").await;
    assert_eq!(status, 200, "{html}");
    let (_, groups) = admin
        .api_get(&viewer, "/api/v1/dead-letters/groups?status=pending")
        .await;
    for group in groups["items"].as_array().unwrap() {
        let signature = group["signature"].as_str().unwrap();
        let letters = format!("/dead-letters?status=pending&amp;signature={signature}");
        assert!(
            html.contains(&format!("href=\"{letters}\"")),
            "{signature}: {html}"
        );
        let preview = format!("/replays/preview?status=pending&amp;signature={signature}");
        assert!(
            html.contains(&format!("href=\"{preview}\"")),
            "{signature}: {html}"
        );
        let (_, list) = admin.page(&session, &letters.replace("&amp;", "&")).await;
        assert_eq!(
            page_ids(&list).len() as i64,
            group["count"].as_i64().unwrap(),
            "{signature}"
        );
    }
    assert!(
        html.contains("HTTP &lt;n&gt; from &lt;url&gt;"),
        "normalised text, escaped: {html}"
    );

    // A viewer sees the letters but no replay controls.
    let viewer_session = admin.session(Role::Viewer).await;
    let (_, html) = admin.page(&viewer_session, "/dead-letters").await;
    assert_eq!(page_ids(&html), in_api);
    assert!(!html.contains("/replays/preview"), "{html}");

    let (status, html) = admin.page(&session, "/dead-letters?limit=500").await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("limit:"), "{html}");
}

#[tokio::test]
async fn error_text_and_payloads_are_shown_escaped() {
    let admin = TestAdmin::start().await;
    let mut hostile = letter(
        "demo",
        "acme",
        "permanent",
        "<script>alert('reason')</script> came back from the shop",
        1,
    );
    hostile.raw_payload = Some(b"<script>alert('payload')</script>".to_vec());
    let id = admin.dead_letter(hostile).await;
    let mut binary = letter("demo", "acme", "malformed_job", "binary body", 0);
    binary.raw_payload = Some(vec![0xff, 0x00, b'<', b'b', b'>', 0xfe]);
    let binary_id = admin.dead_letter(binary).await;
    let session = admin.session(Role::Viewer).await;

    for path in [
        "/dead-letters".to_owned(),
        "/groups".to_owned(),
        format!("/dead-letters/{id}"),
        "/dead-letters?q=came".to_owned(),
    ] {
        let (status, html) = admin.page(&session, &path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(!html.contains("<script"), "{path}: {html}");
        assert!(html.contains("&lt;script&gt;alert("), "{path}: {html}");
    }
    let (_, html) = admin.page(&session, &format!("/dead-letters/{id}")).await;
    assert!(
        html.contains("&lt;script&gt;alert('payload')&lt;/script&gt;"),
        "{html}"
    );

    // Not UTF-8: base64 in the API, a hex dump on the page.
    let viewer = admin.token(Role::Viewer).await;
    let (_, detail) = admin
        .api_get(&viewer, &format!("/api/v1/dead-letters/{binary_id}"))
        .await;
    assert_eq!(detail["payload_encoding"], "base64");
    assert_eq!(detail["payload"], "/wA8Yj7+");
    assert_eq!(detail["payload_bytes"], 6);
    let (_, html) = admin
        .page(&session, &format!("/dead-letters/{binary_id}"))
        .await;
    assert!(html.contains("ff 00 3c 62 3e fe"), "{html}");
    assert!(html.contains("|..&lt;b&gt;.|"), "{html}");
}

#[tokio::test]
async fn letters_replayed_up_to_the_loop_limit_are_flagged_looping() {
    let admin = TestAdmin::start().await;
    let limit = admin.settings.admin.replay_loop_limit;
    let fresh = admin
        .dead_letter(letter("demo", "acme", "permanent", "fails every time", 1))
        .await;
    let looping = admin
        .dead_letter(letter(
            "demo",
            "acme",
            "permanent",
            "fails every time, again",
            1,
        ))
        .await;
    let below = admin
        .dead_letter(letter(
            "demo",
            "acme",
            "permanent",
            "fails every time, once more",
            1,
        ))
        .await;
    execute(
        &admin,
        "UPDATE dead_letters SET replay_generation = $2 WHERE id = $1",
        &[&looping, &limit],
    )
    .await;
    execute(
        &admin,
        "UPDATE dead_letters SET replay_generation = $2 WHERE id = $1",
        &[&below, &(limit - 1)],
    )
    .await;
    let viewer = admin.token(Role::Viewer).await;
    let (_, page) = admin.api_get(&viewer, "/api/v1/dead-letters").await;
    let flags: Vec<(i64, bool)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["id"].as_i64().unwrap(),
                item["looping"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(flags, vec![(below, false), (looping, true), (fresh, false)]);
    let (_, detail) = admin
        .api_get(&viewer, &format!("/api/v1/dead-letters/{looping}"))
        .await;
    assert_eq!(detail["looping"], true);

    let session = admin.session(Role::Viewer).await;
    let (_, html) = admin.page(&session, "/dead-letters").await;
    assert_eq!(html.matches(">looping</span>").count(), 1, "{html}");
    let (_, html) = admin
        .page(&session, &format!("/dead-letters/{looping}"))
        .await;
    assert!(html.contains(">looping</span>"), "{html}");
}

#[tokio::test]
async fn the_openapi_document_describes_the_browsing_api() {
    let admin = TestAdmin::start().await;
    let viewer = admin.token(Role::Viewer).await;
    let (status, document) = admin.api_get(&viewer, "/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let paths = &document["paths"];
    for path in [
        "/api/v1/dead-letters",
        "/api/v1/dead-letters/groups",
        "/api/v1/dead-letters/{id}",
    ] {
        assert!(paths[path]["get"].is_object(), "{path}: {document}");
    }
    let parameters: BTreeSet<&str> = paths["/api/v1/dead-letters"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|parameter| parameter["name"].as_str().unwrap())
        .collect();
    for name in [
        "status",
        "connector",
        "tenant",
        "q",
        "since",
        "ids",
        "after",
        "limit",
    ] {
        assert!(parameters.contains(name), "{name}: {parameters:?}");
    }
    let schemas = &document["components"]["schemas"];
    for schema in ["DeadLetterPage", "GroupList", "DeadLetterView"] {
        assert!(schemas[schema].is_object(), "{schema}");
    }
}

#[tokio::test]
async fn the_cli_lists_groups_and_shows_letters_through_the_api() {
    use tributary_queue_admin::cli::dlq_read::{output, Command, DlqFilterArgs};
    use tributary_queue_admin::cli::{ApiArgs, ApiClient};

    let admin = TestAdmin::start().await;
    let mix = insert_mix(&admin).await;
    let args = |json: bool| ApiArgs {
        url: admin.base_url.clone(),
        token: None,
        json,
    };
    let token = admin.token(Role::Viewer).await;
    let client = |json: bool| {
        let mut args = args(json);
        args.token = Some(token.clone());
        ApiClient::new(&args).unwrap()
    };
    let stripe = DlqFilterArgs {
        connector: Some("stripe".into()),
        ..Default::default()
    };

    let table = output(
        &client(false),
        Command::List {
            filter: stripe.clone(),
            after: None,
            limit: 50,
        },
    )
    .await
    .unwrap();
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "two letters and the end marker: {table}");
    assert!(
        rows[0].trim_start().starts_with(&mix.b2.to_string()),
        "{table}"
    );
    assert!(
        rows[1].trim_start().starts_with(&mix.b1.to_string()),
        "{table}"
    );
    assert!(table.contains("access token of account 815"), "{table}");
    assert_eq!(rows[2], "(end)");

    let json = output(
        &client(true),
        Command::List {
            filter: stripe,
            after: None,
            limit: 1,
        },
    )
    .await
    .unwrap();
    let page: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(page["items"][0]["id"], mix.b2);
    assert_eq!(
        page["next"], mix.b2,
        "one per page: the next page starts below b2"
    );

    let groups = output(
        &client(false),
        Command::Groups {
            filter: DlqFilterArgs {
                status: Some("pending".into()),
                ..Default::default()
            },
            largest: true,
            limit: 50,
        },
    )
    .await
    .unwrap();
    let first = groups.lines().nth(1).unwrap();
    assert!(first.trim_start().starts_with("3  exhausted"), "{groups}");
    assert!(first.contains("HTTP <n> from <url>"), "{groups}");

    let shown = output(&client(false), Command::Show { id: mix.a4 })
        .await
        .unwrap();
    assert!(
        shown.starts_with(&format!("dead letter {}  [discarded]", mix.a4)),
        "{shown}"
    );
    assert!(
        shown.contains("resolved:") && shown.contains("known outage"),
        "{shown}"
    );
    assert!(
        shown.contains("attempts:") && shown.contains("dead"),
        "{shown}"
    );
    assert!(
        shown.contains("\"kind\": \"pull\""),
        "the envelope, pretty: {shown}"
    );

    let error = output(&client(false), Command::Show { id: 999_999 })
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("404") && error.contains("no dead letter 999999"),
        "{error}"
    );
    let bad = DlqFilterArgs {
        since: Some("yesterday".into()),
        ..Default::default()
    };
    let error = output(
        &client(false),
        Command::List {
            filter: bad,
            after: None,
            limit: 50,
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("since:"), "{error}");
    assert!(ApiClient::new(&args(false)).is_err(), "no token, no client");
}
