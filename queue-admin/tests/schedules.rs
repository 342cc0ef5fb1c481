//! Schedules in queue-admin against the real stack: the API creates, edits, pauses, resumes,
//! runs now and backfills, each change landing in the database with its audit row under the
//! caller's name; viewers and the anonymous are refused every change; bad cron expressions,
//! zones and intervals are refused per field (400 from the API, the form shown again from the
//! pages) with nothing stored; the pages list and show schedules with their slots; the CLI
//! round-trips through the API.

mod support;

use chrono::{TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::TestAdmin;
use tributary_queue_admin::auth::Role;
use tributary_scheduler::Planner;
use tributary_store::admin::{AuditQuery, AuditRow};
use tributary_store::{Cadence, OverlapPolicy, Schedule, ScheduleSpec};

/// A valid schedule to create through the API.
fn new_schedule(stream: &str) -> Value {
    json!({
        "tenant": "acme",
        "source": "demo_shop",
        "stream": stream,
        "connector": "demo",
        "every": "15m",
        "time_zone": "Europe/Berlin",
        "jitter": "10s",
        "overlap": "buffer_one",
        "catch_up": "2h",
    })
}

/// Creates a schedule directly in the store (as the scheduler's CLI would).
async fn stored_schedule(admin: &TestAdmin, stream: &str) -> Schedule {
    admin
        .store()
        .create_schedule(
            &ScheduleSpec {
                tenant: "acme".into(),
                source: "demo_shop".into(),
                stream: stream.into(),
                connector: "demo".into(),
                kind: "pull".into(),
                cadence: Cadence::EverySeconds(60),
                time_zone: "UTC".into(),
                jitter_seconds: 0,
                overlap: OverlapPolicy::Skip,
                catch_up_seconds: 300,
                enabled: true,
            },
            &Planner,
            "test",
        )
        .await
        .expect("create a schedule")
}

async fn audit(admin: &TestAdmin) -> Vec<AuditRow> {
    admin
        .store()
        .audit_log(&AuditQuery {
            limit: 500,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
}

/// The newest audit row with `action`.
async fn audit_row(admin: &TestAdmin, action: &str) -> AuditRow {
    audit(admin)
        .await
        .into_iter()
        .find(|row| row.action == action)
        .unwrap_or_else(|| panic!("an audit row {action}"))
}

/// The schedule audit actions so far, oldest first.
async fn schedule_actions(admin: &TestAdmin) -> Vec<String> {
    let mut actions: Vec<String> = audit(admin)
        .await
        .into_iter()
        .filter(|row| row.action.starts_with("schedule."))
        .map(|row| row.action)
        .collect();
    actions.reverse();
    actions
}

async fn outbox_has(admin: &TestAdmin, job: &str) -> bool {
    let client = admin.store().pool().get().await.unwrap();
    let job: uuid::Uuid = job.parse().unwrap();
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM outbox WHERE job_id = $1)
                  + (SELECT count(*) FROM jobs WHERE id = $1 AND status = 'queued')",
            &[&job],
        )
        .await
        .unwrap();
    row.get::<_, i64>(0) == 2
}

/// The fields a 400's problems name.
fn problem_fields(body: &Value) -> Vec<String> {
    body["error"]["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("problems in {body}"))
        .iter()
        .map(|problem| problem["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_api_creates_edits_pauses_resumes_runs_now_and_backfills_with_audit_rows() {
    let admin = TestAdmin::start().await;
    let operator = admin.token(Role::Operator).await;
    let viewer = admin.token(Role::Viewer).await;

    let (status, created) = admin
        .api_post(&operator, "/api/v1/schedules", &new_schedule("orders"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let stored = admin.store().schedule(id).await.unwrap().unwrap();
    assert_eq!(stored.spec.cadence, Cadence::EverySeconds(900));
    assert_eq!(stored.spec.time_zone, "Europe/Berlin");
    assert_eq!(stored.spec.jitter_seconds, 10);
    assert_eq!(stored.spec.overlap, OverlapPolicy::BufferOne);
    assert_eq!(stored.spec.catch_up_seconds, 7_200);
    assert_eq!(stored.spec.kind, "pull");
    assert!(stored.next_slot_at.is_some() && stored.paused.is_none());
    let row = audit_row(&admin, "schedule.create").await;
    assert!(row.actor.starts_with("token:test-operator-"), "{row:?}");
    assert_eq!(
        row.target.as_deref(),
        Some(format!("schedule:{id}").as_str())
    );

    // Creating it again is a conflict, not a second schedule.
    let (status, answer) = admin
        .api_post(&operator, "/api/v1/schedules", &new_schedule("orders"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");

    let path = format!("/api/v1/schedules/{id}");
    let (status, edited) = admin
        .api_post(
            &operator,
            &format!("{path}/edit"),
            &json!({"cron": "0 3 * * *", "overlap": "skip"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["cron"], "0 3 * * *");
    let stored = admin.store().schedule(id).await.unwrap().unwrap();
    assert_eq!(stored.spec.cadence, Cadence::Cron("0 3 * * *".into()));
    assert_eq!(stored.spec.overlap, OverlapPolicy::Skip);
    let row = audit_row(&admin, "schedule.edit").await;
    assert!(row.before.is_some() && row.after.is_some(), "{row:?}");
    assert!(row.actor.starts_with("token:"), "{row:?}");

    // A pause needs its reason.
    let (status, answer) = admin
        .api_post(
            &operator,
            &format!("{path}/pause"),
            &json!({"reason": "  "}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(problem_fields(&answer), ["reason"]);
    assert!(admin
        .store()
        .schedule(id)
        .await
        .unwrap()
        .unwrap()
        .paused
        .is_none());
    let (status, paused) = admin
        .api_post(
            &operator,
            &format!("{path}/pause"),
            &json!({"reason": "shop migration"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["state"], "paused");
    let pause = admin
        .store()
        .schedule(id)
        .await
        .unwrap()
        .unwrap()
        .paused
        .expect("paused in the database");
    assert_eq!(pause.reason, "shop migration");
    assert!(pause.by.starts_with("token:test-operator-"), "{pause:?}");
    let row = audit_row(&admin, "schedule.pause").await;
    assert_eq!(row.reason.as_deref(), Some("shop migration"));

    // The list shows the state with its reason, the cadence and zone.
    let (status, list) = admin.api_get(&viewer, "/api/v1/schedules").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let item = &list["items"][0];
    assert_eq!(item["id"], id);
    assert_eq!(item["state"], "paused");
    assert_eq!(item["paused"]["reason"], "shop migration");
    assert_eq!(item["cron"], "0 3 * * *");
    assert_eq!(item["time_zone"], "Europe/Berlin");
    assert_eq!(item["missed_recently"], 0);

    let (status, resumed) = admin
        .api_post(&operator, &format!("{path}/resume"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["state"], "enabled");
    assert!(admin
        .store()
        .schedule(id)
        .await
        .unwrap()
        .unwrap()
        .paused
        .is_none());
    let (status, answer) = admin
        .api_post(&operator, &format!("{path}/resume"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "not paused: {answer}");

    let (status, run) = admin
        .api_post(&operator, &format!("{path}/run-now"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{run}");
    let job = run["jobs"][0].as_str().unwrap().to_owned();
    assert!(
        outbox_has(&admin, &job).await,
        "run now: ledger + outbox {job}"
    );
    let row = audit_row(&admin, "schedule.run_now").await;
    assert_eq!(row.count, Some(1));

    // Three local days in Berlin: three windows, midnight to midnight.
    let (status, backfill) = admin
        .api_post(
            &operator,
            &format!("{path}/backfill"),
            &json!({"from": "2026-10-24", "to": "2026-10-27", "window": "1d"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{backfill}");
    assert_eq!(backfill["count"], 3);
    assert_eq!(backfill["from"], "2026-10-23T22:00:00Z");
    assert_eq!(
        backfill["to"], "2026-10-26T23:00:00Z",
        "DST ends on the 25th"
    );
    for job in backfill["jobs"].as_array().unwrap() {
        assert!(outbox_has(&admin, job.as_str().unwrap()).await, "{job}");
    }
    let row = audit_row(&admin, "schedule.backfill").await;
    assert_eq!(row.count, Some(3));

    // A backfill that would be too big, or backwards, is refused naming the field.
    let (status, answer) = admin
        .api_post(
            &operator,
            &format!("{path}/backfill"),
            &json!({"from": "2026-10-27", "to": "2026-10-24"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(problem_fields(&answer), ["to"]);
    let (status, answer) = admin
        .api_post(
            &operator,
            &format!("{path}/backfill"),
            &json!({"from": "last tuesday", "to": "2026-10-24", "window": "1 day"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(problem_fields(&answer), ["from", "window"]);

    assert_eq!(
        schedule_actions(&admin).await,
        [
            "schedule.create",
            "schedule.edit",
            "schedule.pause",
            "schedule.resume",
            "schedule.run_now",
            "schedule.backfill"
        ]
    );
    for row in audit(&admin).await {
        if row.action.starts_with("schedule.") {
            assert!(row.actor.starts_with("token:test-operator-"), "{row:?}");
        }
    }

    // Unknown ids are 404s, for reads and changes alike.
    assert_eq!(
        admin.api_get(&viewer, "/api/v1/schedules/999999").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin
            .api_post(&operator, "/api/v1/schedules/999999/run-now", &json!({}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_detail_shows_recent_slots_with_their_outcome_and_their_jobs_status() {
    let admin = TestAdmin::start().await;
    let viewer = admin.token(Role::Viewer).await;
    let schedule = stored_schedule(&admin, "orders").await;
    // Ten minutes on: the slots older than the five-minute catch-up are missed (one record),
    // the first younger one is enqueued, and "skip" skips the rest while its job is queued.
    let report = admin
        .store()
        .claim_due_slots(Utc::now() + TimeDelta::minutes(10), 10, &Planner)
        .await
        .unwrap();
    assert_eq!(report.enqueued.len(), 1, "{report:?}");
    let job = report.enqueued[0].job_id;

    let (status, detail) = admin
        .api_get(&viewer, &format!("/api/v1/schedules/{}", schedule.id))
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let slots = detail["slots"].as_array().unwrap();
    let outcomes: Vec<&str> = slots
        .iter()
        .map(|slot| slot["outcome"].as_str().unwrap())
        .collect();
    assert!(outcomes.contains(&"missed"), "{outcomes:?}");
    assert!(outcomes.contains(&"skipped"), "{outcomes:?}");
    let enqueued = slots
        .iter()
        .find(|slot| slot["outcome"] == "enqueued")
        .expect("an enqueued slot");
    assert_eq!(enqueued["job_id"], job.to_string());
    assert_eq!(enqueued["job_status"], "queued");
    let missed = slots
        .iter()
        .find(|slot| slot["outcome"] == "missed")
        .unwrap();
    assert!(missed["missed_count"].as_i64().unwrap() >= 4, "{missed}");

    let (_, list) = admin.api_get(&viewer, "/api/v1/schedules").await;
    let item = &list["items"][0];
    assert_eq!(item["state"], "enabled");
    assert_eq!(item["every"], "1m");
    assert_eq!(item["last_slot"]["outcome"], slots[0]["outcome"]);
    assert_eq!(item["missed_recently"], missed["missed_count"]);

    // The pages show the same.
    let session = admin.session(Role::Viewer).await;
    let (status, html) = admin.page(&session, "/schedules").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!("href=\"/schedules/{}\"", schedule.id)),
        "{html}"
    );
    assert!(html.contains("acme / demo_shop / orders"), "{html}");
    assert!(html.contains("every 1m"), "{html}");
    assert!(
        html.contains("href=\"/schedules\""),
        "the navigation links the page"
    );
    let (status, html) = admin
        .page(&session, &format!("/schedules/{}", schedule.id))
        .await;
    assert_eq!(status, StatusCode::OK);
    for text in ["missed", "skipped", "enqueued", &job.to_string(), "queued"] {
        assert!(html.contains(text), "{text} in {html}");
    }
    // A viewer sees no change form.
    assert!(!html.contains("/run-now"), "{html}");
    assert!(!html.contains("/pause"), "{html}");
}

#[tokio::test]
async fn a_viewer_is_refused_every_change_and_the_anonymous_everything() {
    let admin = TestAdmin::start().await;
    let viewer = admin.token(Role::Viewer).await;
    let schedule = stored_schedule(&admin, "orders").await;
    let id = schedule.id;
    let changes = [
        ("/api/v1/schedules".to_owned(), new_schedule("customers")),
        (
            format!("/api/v1/schedules/{id}/edit"),
            json!({"every": "5m"}),
        ),
        (
            format!("/api/v1/schedules/{id}/pause"),
            json!({"reason": "viewer"}),
        ),
        (format!("/api/v1/schedules/{id}/resume"), json!({})),
        (format!("/api/v1/schedules/{id}/run-now"), json!({})),
        (
            format!("/api/v1/schedules/{id}/backfill"),
            json!({"from": "2026-11-01", "to": "2026-11-02"}),
        ),
    ];
    let before = audit(&admin).await.len();
    for (path, body) in &changes {
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
        let response = admin
            .http
            .post(format!("{}{path}", admin.base_url))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "anonymous: POST {path}"
        );
    }
    for path in [
        "/api/v1/schedules".to_owned(),
        format!("/api/v1/schedules/{id}"),
    ] {
        assert_eq!(
            admin.api_get(&viewer, &path).await.0,
            StatusCode::OK,
            "{path}"
        );
        let response = admin
            .http
            .get(format!("{}{path}", admin.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "anonymous: GET {path}"
        );
    }
    assert_eq!(
        audit(&admin).await.len(),
        before,
        "no refused call was audited"
    );
    assert_eq!(admin.store().schedule(id).await.unwrap().unwrap(), schedule);
    assert_eq!(
        admin
            .store()
            .schedules(&Default::default())
            .await
            .unwrap()
            .len(),
        1
    );

    // The forms: a viewer session is refused, as is an operator's post without its CSRF token,
    // and the anonymous are sent to sign in.
    let viewer_session = admin.session(Role::Viewer).await;
    let operator_session = admin.session(Role::Operator).await;
    let forms: [(String, Vec<(&str, &str)>); 6] = [
        (
            "/schedules".to_owned(),
            vec![
                ("tenant", "acme"),
                ("source", "demo_shop"),
                ("stream", "customers"),
                ("connector", "demo"),
                ("every", "5m"),
            ],
        ),
        (format!("/schedules/{id}/edit"), vec![("every", "5m")]),
        (format!("/schedules/{id}/pause"), vec![("reason", "no")]),
        (format!("/schedules/{id}/resume"), vec![]),
        (format!("/schedules/{id}/run-now"), vec![]),
        (
            format!("/schedules/{id}/backfill"),
            vec![("from", "2026-11-01"), ("to", "2026-11-02")],
        ),
    ];
    let before = audit(&admin).await.len();
    for (path, fields) in &forms {
        let response = admin.form(&viewer_session, path, fields).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "viewer form {path}"
        );
        let response = admin
            .form_raw(Some(&operator_session.cookie_header()), path, fields)
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "no CSRF: {path}");
        assert!(response.text().await.unwrap().contains("CSRF"), "{path}");
        let response = admin.form_raw(None, path, fields).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "anonymous form {path}"
        );
        assert_eq!(response.headers()[reqwest::header::LOCATION], "/login");
    }
    assert_eq!(
        audit(&admin).await.len(),
        before,
        "no refused form was audited"
    );
    assert_eq!(admin.store().schedule(id).await.unwrap().unwrap(), schedule);
    let (status, _) = admin.page(&viewer_session, "/schedules/new").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_bad_cron_zone_or_interval_is_refused_per_field_and_nothing_is_stored() {
    let admin = TestAdmin::start().await;
    let operator = admin.token(Role::Operator).await;
    let bad = [
        (json!({"every": null, "cron": "61 * * * *"}), vec!["cron"]),
        (json!({"time_zone": "Mars/Olympus_Mons"}), vec!["time_zone"]),
        (json!({"every": "15 minutes"}), vec!["every"]),
        (json!({"every": 0}), vec!["every"]),
        (
            json!({"cron": "* * * * *"}),
            vec!["every"], // both a cron expression and an interval
        ),
        (json!({"every": null}), vec!["cron"]),
        (
            json!({"every": null, "cron": "nonsense", "time_zone": "Nowhere"}),
            vec!["time_zone", "cron"],
        ),
        (
            json!({"jitter": "2d", "overlap": "sometimes"}),
            vec!["overlap"],
        ),
        (json!({"jitter": "2d"}), vec!["jitter"]),
        (json!({"tenant": "x".repeat(10_000)}), vec!["tenant"]),
        (
            json!({"cron": "* ".repeat(1_000), "every": null}),
            vec!["cron"],
        ),
    ];
    for (change, fields) in &bad {
        let mut body = new_schedule("orders");
        for (key, value) in change.as_object().unwrap() {
            body[key] = value.clone();
        }
        let (status, answer) = admin.api_post(&operator, "/api/v1/schedules", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{change}: {answer}");
        assert_eq!(problem_fields(&answer), *fields, "{change}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(fields[0]), "{message}");
    }
    // A body that is not the expected JSON is a 400 too, not a panic.
    let (status, answer) = admin
        .api_post(&operator, "/api/v1/schedules", &json!({"tenant": 7}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer) = admin
        .api_post(
            &operator,
            "/api/v1/schedules",
            &json!({"surprise": true, "tenant": "a", "source": "b", "stream": "c", "connector": "d"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(admin
        .store()
        .schedules(&Default::default())
        .await
        .unwrap()
        .is_empty());

    // An edit is checked the same way, against the schedule as it would become.
    let schedule = stored_schedule(&admin, "orders").await;
    let path = format!("/api/v1/schedules/{}/edit", schedule.id);
    for (change, field) in [
        (json!({"cron": "0 25 * * *"}), "cron"),
        (json!({"time_zone": "Europe/Atlantis"}), "time_zone"),
        (json!({"every": "-5m"}), "every"),
        (json!({}), "schedule"),
    ] {
        let (status, answer) = admin.api_post(&operator, &path, &change).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{change}: {answer}");
        assert_eq!(problem_fields(&answer), [field], "{change}: {answer}");
    }
    assert_eq!(
        admin.store().schedule(schedule.id).await.unwrap().unwrap(),
        schedule
    );
    // Only the test's own creation is audited: no refusal wrote a row.
    assert_eq!(schedule_actions(&admin).await, ["schedule.create"]);

    // The page: the form comes back with what was typed and the field's message.
    let session = admin.session(Role::Operator).await;
    let response = admin
        .form(
            &session,
            "/schedules",
            &[
                ("tenant", "acme"),
                ("source", "demo_shop"),
                ("stream", "customers"),
                ("connector", "demo"),
                ("cron", "61 * * * * <b>"),
                ("time_zone", "Mars/<i>Base</i>"),
                ("overlap", "skip"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert!(html.contains("data-field=\"cron\""), "{html}");
    assert!(html.contains("data-field=\"time_zone\""), "{html}");
    assert!(html.contains("is not an IANA time zone name"), "{html}");
    assert!(
        html.contains("value=\"customers\""),
        "what was typed stays: {html}"
    );
    assert!(
        !html.contains("<i>Base</i>") && !html.contains("<b>"),
        "{html}"
    );
    assert!(html.contains("Mars/&lt;i&gt;Base&lt;/i&gt;"), "{html}");
    let response = admin
        .form(
            &session,
            "/schedules",
            &[
                ("tenant", "acme"),
                ("source", "demo_shop"),
                ("stream", "customers"),
                ("connector", "demo"),
                ("every", "fortnightly"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("data-field=\"every\""));
    let response = admin
        .form(
            &session,
            &format!("/schedules/{}/edit", schedule.id),
            &[
                ("connector", "demo"),
                ("cron", ""),
                ("every", "1m"),
                ("time_zone", "Atlantis"),
                ("jitter", "0"),
                ("overlap", "skip"),
                ("catch_up", "5m"),
                ("enabled", "yes"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert!(html.contains("data-field=\"time_zone\""), "{html}");
    assert!(html.contains("value=\"Atlantis\""), "{html}");
    assert_eq!(
        admin.store().schedules(&Default::default()).await.unwrap(),
        [schedule]
    );
    // Only the test's own creation is audited: no refusal wrote a row.
    assert_eq!(schedule_actions(&admin).await, ["schedule.create"]);
}

#[tokio::test]
async fn an_operator_manages_a_schedule_through_the_pages() {
    let admin = TestAdmin::start().await;
    let session = admin.session(Role::Operator).await;
    let (status, html) = admin.page(&session, "/schedules").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No schedule yet"), "{html}");
    assert!(html.contains("href=\"/schedules/new\""), "{html}");
    let (status, html) = admin.page(&session, "/schedules/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("action=\"/schedules\""), "{html}");

    let response = admin
        .form(
            &session,
            "/schedules",
            &[
                ("tenant", "acme"),
                ("source", "demo_shop"),
                ("stream", "orders"),
                ("connector", "demo"),
                ("kind", "pull"),
                ("cron", "30 2 * * *"),
                ("every", ""),
                ("time_zone", "America/New_York"),
                ("jitter", "0"),
                ("overlap", "skip"),
                ("catch_up", "1h"),
                ("enabled", "yes"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let schedules = admin.store().schedules(&Default::default()).await.unwrap();
    assert_eq!(schedules.len(), 1);
    let id = schedules[0].id;
    assert_eq!(location, format!("/schedules/{id}?done=created"));
    assert_eq!(
        schedules[0].spec.cadence,
        Cadence::Cron("30 2 * * *".into())
    );
    assert_eq!(schedules[0].spec.time_zone, "America/New_York");
    let row = audit_row(&admin, "schedule.create").await;
    assert!(row.actor.starts_with("user:operator-"), "{row:?}");

    let (status, html) = admin.page(&session, &location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Created."), "{html}");
    assert!(html.contains("America/New_York"), "{html}");
    assert!(html.contains("No slot decided yet"), "{html}");

    // The edit form comes filled in; changing only the jitter changes only the jitter.
    let (status, html) = admin.page(&session, &format!("/schedules/{id}/edit")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("value=\"30 2 * * *\""), "{html}");
    let response = admin
        .form(
            &session,
            &format!("/schedules/{id}/edit"),
            &[
                ("connector", "demo"),
                ("cron", "30 2 * * *"),
                ("every", ""),
                ("time_zone", "America/New_York"),
                ("jitter", "30s"),
                ("overlap", "skip"),
                ("catch_up", "1h"),
                ("enabled", "yes"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let stored = admin.store().schedule(id).await.unwrap().unwrap();
    assert_eq!(stored.spec.jitter_seconds, 30);
    assert_eq!(stored.spec.cadence, Cadence::Cron("30 2 * * *".into()));
    // Switching to an interval: empty the cron box, fill the interval.
    let response = admin
        .form(
            &session,
            &format!("/schedules/{id}/edit"),
            &[
                ("connector", "demo"),
                ("cron", ""),
                ("every", "6h"),
                ("time_zone", "America/New_York"),
                ("jitter", "30s"),
                ("overlap", "skip"),
                ("catch_up", "1h"),
                ("enabled", "yes"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let stored = admin.store().schedule(id).await.unwrap().unwrap();
    assert_eq!(stored.spec.cadence, Cadence::EverySeconds(21_600));

    // Pausing without a reason shows the page again with the reason's message.
    let detail = format!("/schedules/{id}");
    let response = admin
        .form(&session, &format!("{detail}/pause"), &[("reason", " ")])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert!(html.contains("data-field=\"reason\""), "{html}");
    assert!(admin
        .store()
        .schedule(id)
        .await
        .unwrap()
        .unwrap()
        .paused
        .is_none());
    // A reason with markup is stored as typed and shown escaped.
    let reason = "<script>alert('x')</script> vendor outage";
    let response = admin
        .form(&session, &format!("{detail}/pause"), &[("reason", reason)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let pause = admin
        .store()
        .schedule(id)
        .await
        .unwrap()
        .unwrap()
        .paused
        .unwrap();
    assert_eq!(pause.reason, reason);
    for page in ["/schedules", detail.as_str()] {
        let (_, html) = admin.page(&session, page).await;
        assert!(!html.contains("<script>"), "{page}: {html}");
        assert!(html.contains("&lt;script&gt;"), "{page}: {html}");
        assert!(html.contains("paused"), "{page}: {html}");
    }
    let response = admin.form(&session, &format!("{detail}/resume"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(admin
        .store()
        .schedule(id)
        .await
        .unwrap()
        .unwrap()
        .paused
        .is_none());

    let response = admin
        .form(&session, &format!("{detail}/run-now"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[reqwest::header::LOCATION],
        format!("{detail}?done=run_now").as_str()
    );

    // A bad backfill comes back with what was typed; a good one enqueues its windows.
    let response = admin
        .form(
            &session,
            &format!("{detail}/backfill"),
            &[("from", "yesterday"), ("to", "2026-11-03"), ("window", "")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert!(html.contains("data-field=\"from\""), "{html}");
    assert!(html.contains("value=\"yesterday\""), "{html}");
    let response = admin
        .form(
            &session,
            &format!("{detail}/backfill"),
            &[
                ("from", "2026-11-05"),
                ("to", "2026-11-07"),
                ("window", "12h"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = admin
        .page(
            &session,
            response.headers()[reqwest::header::LOCATION]
                .to_str()
                .unwrap(),
        )
        .await;
    assert!(html.contains("4 jobs are in the outbox"), "{html}");

    assert_eq!(
        schedule_actions(&admin).await,
        [
            "schedule.create",
            "schedule.edit",
            "schedule.edit",
            "schedule.pause",
            "schedule.resume",
            "schedule.run_now",
            "schedule.backfill"
        ]
    );
    for row in audit(&admin).await {
        if row.action.starts_with("schedule.") {
            assert!(row.actor.starts_with("user:operator-"), "{row:?}");
        }
    }
}

async fn cli(admin: &TestAdmin, token: &str, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_queue-admin"))
        .arg("schedules")
        .args(args)
        .env("TRIBUTARY_ADMIN_URL", &admin.base_url)
        .env("TRIBUTARY_ADMIN_TOKEN", token)
        .env_remove("TRIBUTARY_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run queue-admin");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_round_trips_through_the_api() {
    let admin = TestAdmin::start().await;
    let operator = admin.token(Role::Operator).await;
    let viewer = admin.token(Role::Viewer).await;

    let (ok, out, err) = cli(&admin, &viewer, &["list"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "no schedules\n");

    let create = [
        "create",
        "--tenant",
        "acme",
        "--source",
        "demo_shop",
        "--stream",
        "orders",
        "--connector",
        "demo",
        "--every",
        "15m",
        "--timezone",
        "Europe/Berlin",
        "--overlap",
        "buffer-one",
    ];
    let (ok, _, err) = cli(&admin, &viewer, &create).await;
    assert!(!ok, "a viewer cannot create");
    assert!(err.contains("403") && err.contains("operator"), "{err}");
    let (ok, out, err) = cli(&admin, &operator, &create).await;
    assert!(ok, "{err}");
    assert!(out.starts_with("created #"), "{out}");
    assert!(out.contains("acme/demo_shop/orders"), "{out}");
    let schedules = admin.store().schedules(&Default::default()).await.unwrap();
    assert_eq!(schedules.len(), 1);
    let schedule = &schedules[0];
    assert_eq!(schedule.spec.overlap, OverlapPolicy::BufferOne);
    let id = schedule.id.to_string();

    // A bad cron expression: the API's message, naming the field, and a failing exit.
    let (ok, _, err) = cli(&admin, &operator, &["edit", &id, "--cron", "0 0 32 * *"]).await;
    assert!(!ok);
    assert!(err.contains("400") && err.contains("cron:"), "{err}");

    let (ok, out, err) = cli(&admin, &operator, &["edit", &id, "--every", "30m"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("every 30m"), "{out}");
    let (ok, out, err) = cli(&admin, &operator, &["pause", &id, "--reason", "cli pause"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("paused (cli pause"), "{out}");
    let (ok, out, err) = cli(&admin, &viewer, &["list"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("paused") && out.contains("cli pause"), "{out}");
    let (ok, out, err) = cli(&admin, &operator, &["resume", &id]).await;
    assert!(ok, "{err}");
    assert!(out.contains("enabled"), "{out}");
    let (ok, out, err) = cli(&admin, &operator, &["run-now", &id]).await;
    assert!(ok, "{err}");
    assert!(out.contains("in the outbox"), "{out}");
    let (ok, out, err) = cli(
        &admin,
        &operator,
        &[
            "backfill",
            &id,
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-02",
            "--window",
            "6h",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.starts_with("4 jobs are in the outbox"), "{out}");

    let (ok, out, err) = cli(&admin, &viewer, &["show", &id]).await;
    assert!(ok, "{err}");
    assert!(out.contains("overlap buffer_one"), "{out}");
    assert!(out.contains("latest slots"), "{out}");
    let (ok, out, err) = cli(&admin, &viewer, &["--json", "show", &id]).await;
    assert!(ok, "{err}");
    let detail: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(detail["schedule"]["every"], "30m");

    assert_eq!(
        schedule_actions(&admin).await,
        [
            "schedule.create",
            "schedule.edit",
            "schedule.pause",
            "schedule.resume",
            "schedule.run_now",
            "schedule.backfill"
        ]
    );
    let row = audit_row(&admin, "schedule.backfill").await;
    assert_eq!(row.count, Some(4));
    assert!(row.actor.starts_with("token:test-operator-"), "{row:?}");

    // The flags are the scheduler CLI's, defaults included: a reconcile schedule needs no
    // cadence (daily at 03:00), a pull schedule does.
    let reconcile = [
        "create",
        "--tenant",
        "acme",
        "--source",
        "demo_shop",
        "--stream",
        "customers",
        "--connector",
        "demo",
        "--kind",
        "reconcile",
    ];
    let (ok, out, err) = cli(&admin, &operator, &reconcile).await;
    assert!(ok, "{err}");
    assert!(out.contains(r#"cron "0 3 * * *" in UTC"#), "{out}");
    let (ok, _, err) = cli(&admin, &operator, &reconcile[..9]).await;
    assert!(!ok);
    assert!(err.contains("400") && err.contains("cron:"), "{err}");
}
