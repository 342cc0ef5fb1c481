//! Changing dead letters against the real stack: a real worker (in-process) pulls from the demo
//! shop, jobs die for real (the shop refuses credentials), and queue-admin replays them — one,
//! a group, a filter — back onto their work queue, where they succeed. Around that: the dry run
//! changes nothing, a second replay (sequential or concurrent) is refused, the loop guard,
//! payload edits, discards, pauses, the publisher catching up, and the audit row of each.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use support::{test_settings, wait_for, Letter, TestAdmin};
use tokio::sync::oneshot;
use tributary_broker::{JobEnvelope, JobKind, Publisher, Topology};
use tributary_connector::{ConnectorKind, SourceId, StreamName, TenantId, Window};
use tributary_demo_shop::{ScriptedFault, ShopConfig, ShopHandle};
use tributary_queue_admin::auth::Role;
use tributary_queue_admin::Settings;
use tributary_store::admin::{DeadLetterFilter, ReplayRequest, MAX_LETTERS_PER_ACTION};
use tributary_worker::config::{RateLimitSettings, SourceSettings};
use uuid::Uuid;

/// The source id the worker is configured with (the harness's letters use it too).
const SOURCE: &str = "demo_shop";
/// Long enough for a job to run on a loaded two-core machine; conditions end waits early.
const DEADLINE: Duration = Duration::from_secs(60);

/// One test's world: queue-admin, a demo shop, a worker (started on demand) configured with
/// the same broker prefix and database, and tokens.
struct World {
    admin: TestAdmin,
    shop: ShopHandle,
    worker_settings: tributary_worker::Settings,
    worker: Option<(
        oneshot::Sender<()>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    )>,
    topology: Topology,
    publisher: Publisher,
    operator: String,
    viewer: String,
}

impl World {
    async fn new() -> Self {
        Self::with(test_settings().await).await
    }

    async fn with(settings: Settings) -> Self {
        let admin = TestAdmin::start_with(settings).await;
        let shop = tributary_demo_shop::spawn(ShopConfig::with_volume(150, 20, 10))
            .await
            .expect("start the shop");
        let mut worker_settings = tributary_worker::Settings {
            amqp: admin.settings.amqp.clone(),
            database: admin.settings.database.clone(),
            ..Default::default()
        };
        worker_settings.database.max_connections = 8;
        worker_settings.http.listen = "127.0.0.1:0".parse().unwrap();
        worker_settings.worker.concurrency = 4;
        worker_settings.worker.prefetch = 8;
        worker_settings.worker.max_attempts = 2;
        worker_settings.worker.page_timeout_seconds = 5;
        worker_settings.worker.shutdown_grace_seconds = 10;
        worker_settings.worker.paused_recheck_seconds = 1;
        worker_settings.sources.insert(
            SOURCE.into(),
            SourceSettings {
                connector: "demo".into(),
                settings: json!({"base_url": shop.url(), "page_size": 100}),
                rate_limit: Some(RateLimitSettings {
                    requests_per_second: 1_000.0,
                    burst: 100,
                }),
            },
        );
        let topology = tributary_worker::app::topology(
            &worker_settings,
            &tributary_worker::connectors::registry().kinds(),
        )
        .unwrap();
        let publisher = Publisher::new(worker_settings.amqp.nodes().unwrap(), "replay test");
        let operator = admin.token(Role::Operator).await;
        let viewer = admin.token(Role::Viewer).await;
        Self {
            admin,
            shop,
            worker_settings,
            worker: None,
            topology,
            publisher,
            operator,
            viewer,
        }
    }

    /// Starts the worker (which declares the work queues).
    async fn start_worker(&mut self) {
        let worker = tributary_worker::Worker::build(self.worker_settings.clone())
            .await
            .expect("the worker builds");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(worker.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        self.worker = Some((stop, task));
    }

    /// A pull job of the demo shop.
    fn pull_job(&self, tenant: &str) -> JobEnvelope {
        JobEnvelope::new_root(
            JobKind::Pull,
            ConnectorKind::new("demo").unwrap(),
            TenantId::new(tenant).unwrap(),
            SourceId::new(SOURCE).unwrap(),
            StreamName::new("orders").unwrap(),
            Window::default(),
        )
    }

    /// Records jobs in the ledger and publishes them, as `tributary-worker enqueue` does.
    async fn enqueue(&self, jobs: &[JobEnvelope]) {
        let rows: Vec<_> = jobs
            .iter()
            .map(tributary_worker::handler::ledger_row)
            .collect();
        self.admin.store().insert_jobs(&rows).await.unwrap();
        self.publisher
            .publish_jobs(&self.topology, jobs)
            .await
            .expect("publish jobs");
    }

    /// Runs `tenant`'s job while the shop refuses the next request with 401; returns the
    /// letter id and the dead job's id.
    async fn dead_letter_from_refused_credentials(&self, tenant: &str) -> (i64, Uuid) {
        self.shop.script([ScriptedFault::status(401)]);
        let job = self.pull_job(tenant);
        self.enqueue(std::slice::from_ref(&job)).await;
        let id = self.wait_for_letter(job.job_id.as_uuid()).await;
        (id, job.job_id.as_uuid())
    }

    async fn wait_for_letter(&self, job_id: Uuid) -> i64 {
        wait_for("a dead letter", DEADLINE, || async {
            self.query_opt_i64("SELECT id FROM dead_letters WHERE job_id = $1", job_id)
                .await
        })
        .await
    }

    async fn query_opt_i64(&self, sql: &str, id: Uuid) -> Option<i64> {
        let client = self.admin.store().pool().get().await.unwrap();
        client
            .query_opt(sql, &[&id])
            .await
            .unwrap()
            .map(|row| row.get(0))
    }

    async fn scalar(&self, sql: &str) -> i64 {
        let client = self.admin.store().pool().get().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }

    async fn text(&self, sql: &str) -> Option<String> {
        let client = self.admin.store().pool().get().await.unwrap();
        client.query_one(sql, &[]).await.unwrap().get(0)
    }

    async fn job_status(&self, id: &str) -> Option<String> {
        self.text(&format!("SELECT status FROM jobs WHERE id = '{id}'"))
            .await
    }

    async fn wait_for_job(&self, id: &str, status: &str) {
        wait_for(&format!("job {id} to be {status}"), DEADLINE, || async {
            (self.job_status(id).await.as_deref() == Some(status)).then_some(())
        })
        .await;
    }

    async fn letter_status(&self, id: i64) -> String {
        self.text(&format!("SELECT status FROM dead_letters WHERE id = {id}"))
            .await
            .unwrap()
    }

    async fn records_of(&self, tenant: &str) -> i64 {
        self.scalar(&format!(
            "SELECT count(*) FROM records WHERE tenant_id = '{tenant}'"
        ))
        .await
    }

    async fn replay(&self, body: Value) -> (StatusCode, Value) {
        self.admin
            .api_post(&self.operator, "/api/v1/replays", &body)
            .await
    }

    /// A batch's progress.
    async fn batch(&self, id: i64) -> Value {
        let (status, body) = self
            .admin
            .api_get(&self.viewer, &format!("/api/v1/replays/{id}"))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The batch's progress once every replay is published and every replay job finished.
    async fn wait_for_batch_settled(&self, batch: i64) -> Value {
        wait_for(&format!("batch {batch} to settle"), DEADLINE, || async {
            let (status, body) = self
                .admin
                .api_get(&self.viewer, &format!("/api/v1/replays/{batch}"))
                .await;
            assert_eq!(status, 200, "{body}");
            (body["state"] == "done" && body["in_flight"] == 0).then_some(body)
        })
        .await
    }

    /// Audit rows of `action`, newest first, through the API.
    async fn audit(&self, action: &str) -> Vec<Value> {
        let (status, page) = self
            .admin
            .api_get(&self.viewer, &format!("/api/v1/audit?action={action}"))
            .await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().clone()
    }

    /// What a dry run must not change: row counts and every letter's status.
    async fn state(&self) -> (i64, i64, i64, i64, i64, Option<String>) {
        (
            self.scalar("SELECT count(*) FROM jobs").await,
            self.scalar("SELECT count(*) FROM replays").await,
            self.scalar("SELECT count(*) FROM replay_batches").await,
            self.scalar("SELECT count(*) FROM audit_log").await,
            self.scalar("SELECT count(*) FROM dead_letter_edits").await,
            self.text(
                "SELECT string_agg(id || ':' || status || ':' || COALESCE(resolved_by, ''), ','
                                   ORDER BY id) FROM dead_letters",
            )
            .await,
        )
    }

    async fn stop(mut self) {
        if let Some((stop, task)) = self.worker.take() {
            let _ = stop.send(());
            task.await.unwrap().expect("the worker stops cleanly");
        }
        self.admin.stop().await;
    }
}

fn actor_of(token_role: &str) -> impl Fn(&Value) -> bool + '_ {
    move |row: &Value| {
        row["actor"]
            .as_str()
            .is_some_and(|actor| actor.starts_with(&format!("token:test-{token_role}-")))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_one_letter_lands_its_job_on_the_work_queue_and_it_succeeds() {
    let mut world = World::new().await;
    world.start_worker().await;
    let (letter, dead_job) = world.dead_letter_from_refused_credentials("acme").await;
    assert_eq!(
        world
            .text(&format!(
                "SELECT class FROM dead_letters WHERE id = {letter}"
            ))
            .await
            .as_deref(),
        Some("auth")
    );
    assert_eq!(world.records_of("acme").await, 0);

    // The credentials work again (the scripted refusal is spent): replay.
    let (status, created) = world
        .replay(json!({"filter": {"ids": [letter]}, "reason": "credentials rotated"}))
        .await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["total"], 1);
    assert_eq!(created["replays"][0]["dead_letter_id"], letter);
    let job = created["replays"][0]["job_id"].as_str().unwrap().to_owned();
    assert_ne!(job, dead_job.to_string());

    world.wait_for_job(&job, "succeeded").await;
    assert_eq!(world.records_of("acme").await, 150);
    assert_eq!(world.letter_status(letter).await, "replayed");
    assert_eq!(
        world
            .text(&format!(
                "SELECT replay_of::text FROM jobs WHERE id = '{job}'"
            ))
            .await,
        Some(dead_job.to_string())
    );
    let batch = world
        .wait_for_batch_settled(created["batch_id"].as_i64().unwrap())
        .await;
    assert_eq!(
        (&batch["published"], &batch["succeeded"], &batch["dead"]),
        (&json!(1), &json!(1), &json!(0)),
        "{batch}"
    );
    assert_eq!(batch["replays"][0]["state"], "published");
    assert_eq!(batch["replays"][0]["job_status"], "succeeded");

    let audit = world.audit("dead_letter.replay").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    let row = &audit[0];
    assert!(actor_of("operator")(row), "{row}");
    assert_eq!(row["target"], format!("dead_letter:{letter}"));
    assert_eq!(row["count"], 1);
    assert_eq!(row["reason"], "credentials rotated");
    assert_eq!(row["filter"], json!({"status": "pending", "ids": [letter]}));
    assert_eq!(row["after"]["batch_id"], created["batch_id"]);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_replays_by_signature_and_leaves_other_failures_alone() {
    let mut world = World::new().await;
    world.start_worker().await;
    let tenants = ["acme", "globex", "initech"];
    let mut auth_letters = Vec::new();
    for tenant in tenants {
        auth_letters.push(world.dead_letter_from_refused_credentials(tenant).await.0);
    }
    // Another cause: the shop answers 400 (a permanent failure, another signature).
    world.shop.script([ScriptedFault::status(400)]);
    let other_job = world.pull_job("umbrella");
    world.enqueue(std::slice::from_ref(&other_job)).await;
    let other = world.wait_for_letter(other_job.job_id.as_uuid()).await;

    let signatures = world
        .text(&format!(
            "SELECT string_agg(DISTINCT signature, ',') FROM dead_letters WHERE id IN ({})",
            auth_letters
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ))
        .await
        .unwrap();
    assert!(!signatures.contains(','), "one group: {signatures}");
    let other_signature = world
        .text(&format!(
            "SELECT signature FROM dead_letters WHERE id = {other}"
        ))
        .await
        .unwrap();
    assert_ne!(other_signature, signatures);

    let (status, preview) = world
        .admin
        .api_get(
            &world.viewer,
            &format!("/api/v1/replays/preview?signature={signatures}"),
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["replayable"], 3, "{preview}");
    let mut sampled: Vec<i64> = preview["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|letter| letter["id"].as_i64().unwrap())
        .collect();
    sampled.sort();
    assert_eq!(sampled, auth_letters);

    let (status, created) = world
        .replay(json!({"filter": {"signature": signatures}, "reason": "shop fixed its auth"}))
        .await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["total"], 3);
    let batch = world
        .wait_for_batch_settled(created["batch_id"].as_i64().unwrap())
        .await;
    assert_eq!(batch["succeeded"], 3, "{batch}");
    for tenant in tenants {
        assert_eq!(world.records_of(tenant).await, 150, "{tenant}");
    }
    for letter in &auth_letters {
        assert_eq!(world.letter_status(*letter).await, "replayed");
    }
    assert_eq!(world.letter_status(other).await, "pending");
    assert_eq!(world.records_of("umbrella").await, 0);
    let audit = world.audit("dead_letter.replay").await;
    assert_eq!(audit[0]["count"], 3);
    assert_eq!(
        audit[0]["target"],
        Value::Null,
        "a group has no single target"
    );
    assert_eq!(audit[0]["filter"]["signature"], signatures);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_changes_nothing_and_the_filter_replay_takes_exactly_what_it_counted() {
    let mut world = World::new().await;
    world.start_worker().await;
    let (acme, _) = world.dead_letter_from_refused_credentials("acme").await;
    let (globex, _) = world.dead_letter_from_refused_credentials("globex").await;
    world.shop.script([ScriptedFault::status(400)]);
    let permanent_job = world.pull_job("initech");
    world.enqueue(std::slice::from_ref(&permanent_job)).await;
    let permanent = world.wait_for_letter(permanent_job.job_id.as_uuid()).await;

    let before = world.state().await;
    for query in [
        "class=auth",
        "class=auth&limit=1",
        "ids=999999",
        "q=nothing-like-this",
    ] {
        let (status, _) = world
            .admin
            .api_get(&world.operator, &format!("/api/v1/replays/preview?{query}"))
            .await;
        assert_eq!(status, 200, "{query}");
    }
    let (_, preview) = world
        .admin
        .api_get(&world.viewer, "/api/v1/replays/preview?class=auth")
        .await;
    assert_eq!(world.state().await, before, "a dry run changed something");
    assert_eq!(
        (
            &preview["matching"],
            &preview["replayable"],
            &preview["looping"],
            &preview["unparseable"],
            &preview["already_replayed"],
        ),
        (&json!(2), &json!(2), &json!(0), &json!(0), &json!(0)),
        "{preview}"
    );
    let (status, bad) = world
        .admin
        .api_get(&world.viewer, "/api/v1/replays/preview?min_attempts=lots")
        .await;
    assert_eq!(status, 400);
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("min_attempts:"),
        "{bad}"
    );

    let (status, created) = world.replay(json!({"filter": {"class": "auth"}})).await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["total"], preview["replayable"]);
    let mut replayed: Vec<i64> = created["replays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|replay| replay["dead_letter_id"].as_i64().unwrap())
        .collect();
    replayed.sort();
    assert_eq!(replayed, vec![acme, globex]);
    let batch = world
        .wait_for_batch_settled(created["batch_id"].as_i64().unwrap())
        .await;
    assert_eq!(batch["succeeded"], 2, "{batch}");
    assert_eq!(world.records_of("acme").await, 150);
    assert_eq!(world.records_of("globex").await, 150);
    assert_eq!(world.letter_status(permanent).await, "pending");

    // The dry run now says why nothing is left.
    let (_, after) = world
        .admin
        .api_get(
            &world.viewer,
            "/api/v1/replays/preview?class=auth&status=any",
        )
        .await;
    assert_eq!(
        (&after["replayable"], &after["already_replayed"]),
        (&json!(0), &json!(2)),
        "{after}"
    );
    world.stop().await;
}

#[tokio::test]
async fn a_second_replay_of_a_letter_is_refused_with_the_batch_that_took_it() {
    let world = World::new().await;
    let letter = world.admin.dead_letter(Letter::new("boom")).await;
    let (status, first) = world.replay(json!({"filter": {"ids": [letter]}})).await;
    assert_eq!(status, 202, "{first}");
    let job = first["replays"][0]["job_id"].as_str().unwrap();
    let batch = first["batch_id"].as_i64().unwrap();

    let (status, second) = world
        .replay(json!({"filter": {"ids": [letter]}, "reason": "again"}))
        .await;
    assert_eq!(status, 409, "{second}");
    assert_eq!(
        second["error"]["message"],
        format!("dead letter {letter} was already replayed (job {job}, batch {batch})")
    );
    // By a filter, too.
    let (status, third) = world
        .replay(json!({"filter": {"class": "permanent"}}))
        .await;
    assert_eq!(status, 409, "{third}");
    assert_eq!(
        third["error"]["message"],
        "nothing to replay: of the 1 letters matching the filter (any status), 1 already replayed"
    );
    assert_eq!(world.scalar("SELECT count(*) FROM replays").await, 1);
    assert_eq!(world.scalar("SELECT count(*) FROM replay_batches").await, 1);
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM jobs WHERE replay_of IS NOT NULL")
            .await,
        1
    );
    assert_eq!(world.audit("dead_letter.replay").await.len(), 1);

    // A filter that narrows nothing is refused unless meant, and a viewer may not replay.
    let (status, body) = world.replay(json!({"filter": {}})).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = world
        .admin
        .api_post(
            &world.viewer,
            "/api/v1/replays",
            &json!({"filter": {"ids": [letter]}}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = world.replay(json!({"filter": {"idz": [1]}})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("idz"),
        "{body}"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_double_clicks_replay_each_letter_once() {
    let world = World::new().await;
    let letter = world.admin.dead_letter(Letter::new("clicked twice")).await;
    let body = json!({"filter": {"ids": [letter]}});
    let clicks = futures_util::future::join_all((0..5).map(|_| world.replay(body.clone()))).await;
    let accepted = clicks.iter().filter(|(status, _)| *status == 202).count();
    let refused: Vec<&Value> = clicks
        .iter()
        .filter(|(status, _)| *status == 409)
        .map(|(_, body)| body)
        .collect();
    assert_eq!((accepted, refused.len()), (1, 4), "{clicks:?}");
    for body in refused {
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("dead letter {letter} was already replayed")),
            "{body}"
        );
    }

    // Overlapping filters at once: every letter replayed exactly once across the batches.
    let mut many = Vec::new();
    for index in 0..30 {
        let mut letter = Letter::new(&format!("batch failure {index}"));
        letter.class = "overlap".into();
        many.push(world.admin.dead_letter(letter).await);
    }
    let bodies = [
        json!({"filter": {"class": "overlap"}}),
        json!({"filter": {"class": "overlap", "ids": &many[..20]}}),
        json!({"filter": {"class": "overlap", "ids": &many[10..]}}),
        json!({"filter": {"class": "overlap"}}),
    ];
    let answers =
        futures_util::future::join_all(bodies.iter().map(|b| world.replay(b.clone()))).await;
    let total: i64 = answers
        .iter()
        .filter(|(status, _)| *status == 202)
        .map(|(_, body)| body["total"].as_i64().unwrap())
        .sum();
    assert!(
        answers
            .iter()
            .all(|(status, _)| *status == 202 || *status == 409),
        "{answers:?}"
    );
    assert_eq!(total, 30, "{answers:?}");
    assert_eq!(world.scalar("SELECT count(*) FROM replays").await, 31);
    assert_eq!(
        world
            .scalar("SELECT count(DISTINCT dead_letter_id) FROM replays")
            .await,
        31
    );
    assert_eq!(
        world
            .scalar("SELECT count(*) FROM dead_letters WHERE status = 'replayed'")
            .await,
        31
    );
    world.stop().await;
}

/// The race itself, made certain: the first replay holds its letters' locks (its job builder
/// waits for a go) while the second request arrives; the second must wait for the lock, not
/// skip it, and is then refused with the batch that took the letter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_click_waits_for_the_first_replay_and_is_then_refused() {
    let world = World::new().await;
    let letter = world.admin.dead_letter(Letter::new("clicked twice")).await;
    let (locked_sender, locked) = std::sync::mpsc::channel::<()>();
    let (go, go_receiver) = std::sync::mpsc::channel::<()>();
    let store = world.admin.store().clone();
    let runtime = tokio::runtime::Handle::current();
    // On a blocking thread: the job builder below blocks while the transaction holds the locks.
    let first = tokio::task::spawn_blocking(move || {
        runtime.block_on(async {
            let filter = DeadLetterFilter {
                ids: Some(vec![letter]),
                ..Default::default()
            };
            store
                .create_replay(
                    &ReplayRequest {
                        filter: &filter,
                        actor: "test:first-click",
                        reason: None,
                        force_looping: false,
                        loop_limit: 3,
                        max_letters: MAX_LETTERS_PER_ACTION,
                    },
                    move |candidate| {
                        let _ = locked_sender.send(());
                        go_receiver
                            .recv_timeout(DEADLINE)
                            .expect("the test lets the first click finish");
                        tributary_queue_admin::replay::replay_job(candidate)
                    },
                )
                .await
        })
    });
    tokio::task::spawn_blocking(move || locked.recv_timeout(DEADLINE))
        .await
        .unwrap()
        .expect("the first click holds the lock");

    let second = tokio::spawn({
        let admin_url = world.admin.base_url.clone();
        let token = world.operator.clone();
        async move {
            let response = reqwest::Client::new()
                .post(format!("{admin_url}/api/v1/replays"))
                .bearer_auth(token)
                .json(&json!({"filter": {"ids": [letter]}}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    });
    wait_for(
        "the second click to wait for the lock",
        DEADLINE,
        || async {
            let waiting = world
                .scalar(
                    "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .await;
            (waiting == 1).then_some(())
        },
    )
    .await;
    go.send(()).unwrap();
    let created = first.await.unwrap().expect("the first click replays");
    let (status, refused) = second.await.unwrap();
    assert_eq!(status, 409, "{refused}");
    let job = created.replays[0].job_id;
    assert_eq!(
        refused["error"]["message"],
        format!(
            "dead letter {letter} was already replayed (job {job}, batch {})",
            created.batch_id
        )
    );
    assert_eq!(world.scalar("SELECT count(*) FROM replays").await, 1);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_guard_leaves_out_a_letter_replayed_to_the_limit_unless_forced() {
    let mut settings = test_settings().await;
    settings.admin.replay_loop_limit = 1;
    let mut world = World::with(settings).await;
    world.start_worker().await;
    let (first, _) = world.dead_letter_from_refused_credentials("acme").await;

    // The replay fails again: a new letter, one generation on.
    world.shop.script([ScriptedFault::status(401)]);
    let (status, created) = world.replay(json!({"filter": {"ids": [first]}})).await;
    assert_eq!(status, 202, "{created}");
    let replay_job: Uuid = created["replays"][0]["job_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let looping = world.wait_for_letter(replay_job).await;
    assert_eq!(
        world
            .scalar(&format!(
                "SELECT replay_generation::bigint FROM dead_letters WHERE id = {looping}"
            ))
            .await,
        1
    );

    let (_, preview) = world
        .admin
        .api_get(
            &world.viewer,
            &format!("/api/v1/replays/preview?ids={looping}"),
        )
        .await;
    assert_eq!(
        (&preview["replayable"], &preview["looping"]),
        (&json!(0), &json!(1)),
        "{preview}"
    );
    assert_eq!(preview["sample"][0]["verdict"], "looping");
    let (status, refused) = world.replay(json!({"filter": {"ids": [looping]}})).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(
        refused["error"]["message"],
        format!(
            "dead letter {looping} is looping: its job was replayed 1 times without success \
             (limit 1); force to replay it anyway"
        )
    );
    assert_eq!(world.letter_status(looping).await, "pending");

    let (status, forced) = world
        .replay(json!({"filter": {"ids": [looping]}, "force": true, "reason": "fixed for real"}))
        .await;
    assert_eq!(status, 202, "{forced}");
    let batch = world
        .wait_for_batch_settled(forced["batch_id"].as_i64().unwrap())
        .await;
    assert_eq!(batch["succeeded"], 1, "{batch}");
    assert_eq!(world.records_of("acme").await, 150);
    let audit = world.audit("dead_letter.replay").await;
    assert_eq!(audit[0]["after"]["forced"], true);
    assert_eq!(audit[0]["reason"], "fixed for real");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_keeps_the_original_shows_its_diff_and_is_what_the_replay_sends() {
    let mut world = World::new().await;
    world.start_worker().await;
    // `locked…` tenants are always refused: only an edit can make this job succeed.
    let job = world.pull_job("locked-acme");
    world.enqueue(std::slice::from_ref(&job)).await;
    let letter = world.wait_for_letter(job.job_id.as_uuid()).await;
    let original = job.to_bytes();
    let path = format!("/api/v1/dead-letters/{letter}/edits");
    let mut fixed = serde_json::to_value(&job).unwrap();
    fixed["tenant"] = json!("acme");

    let refusals = [
        (json!({"payload": fixed}), "reason"),
        (
            json!({"payload": fixed, "reason": "  "}),
            "reason: required",
        ),
        (
            json!({"payload": {"not": "a job"}, "reason": "x"}),
            "payload: message body is not a job envelope",
        ),
        (
            json!({"payload": serde_json::to_value(&job).unwrap(), "reason": "x"}),
            "payload: unchanged",
        ),
    ];
    for (body, expected) in refusals {
        let (status, answer) = world.admin.api_post(&world.operator, &path, &body).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{body} → {answer}"
        );
    }
    let (status, _) = world
        .admin
        .api_post(
            &world.viewer,
            &path,
            &json!({"payload": fixed, "reason": "x"}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        world.scalar("SELECT count(*) FROM dead_letter_edits").await,
        0
    );

    let (status, edit) = world
        .admin
        .api_post(
            &world.operator,
            &path,
            &json!({"payload": fixed, "reason": "tenant was renamed", "base_version": 0}),
        )
        .await;
    assert_eq!(status, 201, "{edit}");
    assert_eq!(edit["version"], 1);
    assert_eq!(
        edit["diff"],
        json!([{"path": "$.tenant", "op": "changed", "before": "locked-acme", "after": "acme"}])
    );
    // Someone who started from the original loses the race visibly.
    let mut other = fixed.clone();
    other["stream"] = json!("customers");
    let (status, stale) = world
        .admin
        .api_post(
            &world.operator,
            &path,
            &json!({"payload": other, "reason": "x", "base_version": 0}),
        )
        .await;
    assert_eq!(status, 409, "{stale}");
    assert!(
        stale["error"]["message"]
            .as_str()
            .unwrap()
            .contains("was edited meanwhile"),
        "{stale}"
    );
    // The original is kept byte for byte.
    let client = world.admin.store().pool().get().await.unwrap();
    let stored: Vec<u8> = client
        .query_one("SELECT payload FROM dead_letters WHERE id = $1", &[&letter])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, original);
    let (_, edits) = world.admin.api_get(&world.viewer, &path).await;
    assert_eq!(edits["items"].as_array().unwrap().len(), 1, "{edits}");
    assert_eq!(edits["items"][0]["payload"]["tenant"], "acme");

    let audit = world.audit("dead_letter.edit").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["target"], format!("dead_letter:{letter}"));
    assert_eq!(audit[0]["reason"], "tenant was renamed");
    assert_eq!(audit[0]["before"]["payload"]["tenant"], "locked-acme");
    assert_eq!(audit[0]["after"]["payload"]["tenant"], "acme");
    assert_eq!(audit[0]["after"]["diff"], edit["diff"]);

    let (status, created) = world.replay(json!({"filter": {"ids": [letter]}})).await;
    assert_eq!(status, 202, "{created}");
    let batch = world
        .wait_for_batch_settled(created["batch_id"].as_i64().unwrap())
        .await;
    assert_eq!(batch["succeeded"], 1, "{batch}");
    assert_eq!(world.records_of("acme").await, 150);
    assert_eq!(
        world
            .scalar(&format!(
                "SELECT edit_id FROM replays WHERE dead_letter_id = {letter}"
            ))
            .await,
        edit["id"].as_i64().unwrap()
    );
    // A replayed letter cannot be edited any more.
    let (status, late) = world
        .admin
        .api_post(
            &world.operator,
            &path,
            &json!({"payload": other, "reason": "late"}),
        )
        .await;
    assert_eq!(status, 409, "{late}");
    world.stop().await;
}

#[tokio::test]
async fn a_discard_needs_a_reason_and_keeps_the_letter_marked() {
    let world = World::new().await;
    let letter = world.admin.dead_letter(Letter::new("not worth it")).await;
    let keep = world.admin.dead_letter(Letter::new("keep me")).await;
    let world_ref = &world;
    let discard = |body: Value| async move {
        world_ref
            .admin
            .api_post(&world_ref.operator, "/api/v1/dead-letters/discard", &body)
            .await
    };
    let (status, missing) = discard(json!({"filter": {"ids": [letter]}})).await;
    assert_eq!(status, 400, "{missing}");
    let (status, blank) = discard(json!({"filter": {"ids": [letter]}, "reason": " "})).await;
    assert_eq!(status, 400);
    assert!(
        blank["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("reason: required"),
        "{blank}"
    );
    let (status, everything) = discard(json!({"filter": {}, "reason": "x"})).await;
    assert_eq!(status, 400, "{everything}");
    let (status, _) = world
        .admin
        .api_post(
            &world.viewer,
            "/api/v1/dead-letters/discard",
            &json!({"filter": {"ids": [letter]}, "reason": "x"}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(world.letter_status(letter).await, "pending");

    let (status, done) = discard(json!({"filter": {"ids": [letter]}, "reason": "test data"})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done, json!({"count": 1, "ids": [letter]}));
    assert_eq!(world.letter_status(letter).await, "discarded");
    assert_eq!(world.letter_status(keep).await, "pending");
    assert_eq!(
        world
            .text(&format!(
                "SELECT resolution_reason FROM dead_letters WHERE id = {letter}"
            ))
            .await
            .as_deref(),
        Some("test data")
    );

    let (status, again) = discard(json!({"filter": {"ids": [letter]}, "reason": "x"})).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(
        again["error"]["message"],
        format!(
            "nothing to discard: no matching letter is pending (dead letter {letter} is discarded)"
        )
    );
    let (status, replay) = world.replay(json!({"filter": {"ids": [letter]}})).await;
    assert_eq!(status, 409);
    let message = replay["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "dead letter {letter} was discarded by token:test-operator-"
        )) && message.ends_with(": test data"),
        "{message}"
    );

    let audit = world.audit("dead_letter.discard").await;
    assert_eq!(audit.len(), 1);
    assert!(actor_of("operator")(&audit[0]), "{}", audit[0]);
    assert_eq!(
        (&audit[0]["count"], &audit[0]["reason"], &audit[0]["target"]),
        (
            &json!(1),
            &json!("test data"),
            &json!(format!("dead_letter:{letter}"))
        )
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_source_waits_and_runs_once_resumed() {
    let mut world = World::new().await;
    world.start_worker().await;
    let pause_path = format!("/api/v1/sources/{SOURCE}/pause");
    let resume_path = format!("/api/v1/sources/{SOURCE}/resume");
    let (status, _) = world
        .admin
        .api_post(&world.viewer, &pause_path, &json!({"reason": "x"}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = world
        .admin
        .api_post(&world.operator, &pause_path, &json!({"reason": ""}))
        .await;
    assert_eq!(status, 400);
    let (status, bad) = world
        .admin
        .api_post(
            &world.operator,
            "/api/v1/sources/not%20a%20source/pause",
            &json!({"reason": "x"}),
        )
        .await;
    assert_eq!(status, 400, "{bad}");

    let (status, pause) = world
        .admin
        .api_post(
            &world.operator,
            &pause_path,
            &json!({"reason": "maintenance at the shop"}),
        )
        .await;
    assert_eq!(status, 200, "{pause}");
    assert_eq!(
        (&pause["tenant"], &pause["source"]),
        (&json!("*"), &json!(SOURCE))
    );

    let job = world.pull_job("acme");
    world.enqueue(std::slice::from_ref(&job)).await;
    let job_id = job.job_id.as_uuid();
    // The worker looks at the job and leaves it waiting, twice (it rechecks every second).
    wait_for("the job to wait for the pause", DEADLINE, || async {
        let waits = world
            .query_opt_i64(
                "SELECT count(*) FROM job_attempts
                 WHERE job_id = $1 AND error_class = 'source_paused'",
                job_id,
            )
            .await
            .unwrap_or(0);
        (waits >= 2).then_some(())
    })
    .await;
    assert_ne!(
        world.job_status(&job_id.to_string()).await.as_deref(),
        Some("succeeded")
    );
    assert_eq!(world.records_of("acme").await, 0);
    let (_, sources) = world.admin.api_get(&world.viewer, "/api/v1/sources").await;
    let every_tenant = sources["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["source"] == SOURCE && row["tenant"] == "*")
        .expect("the source-wide pause is listed");
    assert_eq!(every_tenant["paused"], true);
    assert_eq!(every_tenant["pause"]["reason"], "maintenance at the shop");

    let (status, lifted) = world
        .admin
        .api_post(&world.operator, &resume_path, &json!({"reason": "done"}))
        .await;
    assert_eq!(status, 200, "{lifted}");
    assert_eq!(lifted["reason"], "maintenance at the shop");
    world.wait_for_job(&job_id.to_string(), "succeeded").await;
    assert_eq!(world.records_of("acme").await, 150);
    let (status, again) = world
        .admin
        .api_post(&world.operator, &resume_path, &json!({}))
        .await;
    assert_eq!(status, 404, "{again}");
    assert_eq!(
        again["error"]["message"],
        format!("source {SOURCE} is not paused for every tenant")
    );
    let (_, sources) = world.admin.api_get(&world.viewer, "/api/v1/sources").await;
    let acme = sources["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["source"] == SOURCE && row["tenant"] == "acme")
        .expect("the tenant that ran is listed");
    assert_eq!(acme["paused"], false);
    assert!(acme["last_checkpoint_at"].is_string(), "{acme}");

    let paused = world.audit("source.pause").await;
    assert_eq!(paused.len(), 1);
    assert_eq!(paused[0]["target"], format!("source:{SOURCE}/*"));
    assert_eq!(paused[0]["reason"], "maintenance at the shop");
    assert_eq!(paused[0]["before"], json!({"paused": false}));
    assert_eq!(paused[0]["after"]["paused"], true);
    let resumed = world.audit("source.resume").await;
    assert_eq!(resumed.len(), 1);
    assert!(actor_of("operator")(&resumed[0]), "{}", resumed[0]);
    assert_eq!(resumed[0]["reason"], "done");
    assert_eq!(resumed[0]["before"]["reason"], "maintenance at the shop");
    assert_eq!(resumed[0]["after"], json!({"paused": false}));
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_the_broker_cannot_route_wait_without_holding_up_the_rest() {
    let mut world = World::new().await;
    // No worker yet: no work queue is bound, so nothing can be routed.
    let demo = world.admin.dead_letter(Letter::new("boom")).await;
    let mut unknown = Letter::new("boom");
    unknown.connector = "nosuch".into();
    let nosuch = world.admin.dead_letter(unknown).await;
    let (status, created) = world
        .replay(json!({"filter": {"ids": [demo, nosuch]}}))
        .await;
    assert_eq!(status, 202, "{created}");
    let batch_id = created["batch_id"].as_i64().unwrap();
    let failing = wait_for(
        "the publisher to report unroutable replays",
        DEADLINE,
        || async {
            let batch = world.batch(batch_id).await;
            (batch["failing"] == 2).then_some(batch)
        },
    )
    .await;
    assert!(
        failing["last_error"]
            .as_str()
            .unwrap()
            .contains("is unroutable: no queue is bound for it"),
        "{failing}"
    );
    assert_eq!(failing["published"], 0);
    assert_eq!(failing["state"], "publishing");

    // The worker declares the demo queue: that replay goes out and succeeds; the other keeps
    // waiting with its error.
    world.start_worker().await;
    let batch = wait_for("the routable replay to succeed", DEADLINE, || async {
        let batch = world.batch(batch_id).await;
        (batch["succeeded"] == 1).then_some(batch)
    })
    .await;
    assert_eq!(batch["published"], 1, "{batch}");
    assert_eq!(batch["state"], "publishing");
    assert_eq!(batch["failing"], 1);
    let stuck = batch["replays"]
        .as_array()
        .unwrap()
        .iter()
        .find(|replay| replay["dead_letter_id"] == nosuch)
        .unwrap();
    assert_eq!(stuck["state"], "pending");
    assert!(
        stuck["last_error"]
            .as_str()
            .unwrap()
            .contains("routing key `nosuch`"),
        "{stuck}"
    );
    assert!(stuck["publish_attempts"].as_i64().unwrap() >= 1);
    assert_eq!(world.records_of("acme").await, 150);
    world.stop().await;
}

#[tokio::test]
async fn the_pages_dry_run_replay_edit_discard_pause_and_audit_without_a_script() {
    let world = World::new().await;
    let first = world.admin.dead_letter(Letter::new("page one")).await;
    let second = world
        .admin
        .dead_letter(Letter::new("page <script>two</script>"))
        .await;
    let operator = world.admin.session(Role::Operator).await;
    let viewer = world.admin.session(Role::Viewer).await;

    let before = world.state().await;
    let (status, html) = world
        .admin
        .page(&operator, &format!("/replays/preview?ids={first},{second}"))
        .await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(
        world.state().await,
        before,
        "the dry-run page changed something"
    );
    assert!(html.contains("Replay 2 letters"), "{html}");
    assert!(
        html.contains(&format!(r#"name="ids" value="{first},{second}""#)),
        "{html}"
    );
    assert!(!html.contains("<script>"), "error text must be escaped");
    assert!(html.contains("&lt;script&gt;"), "{html}");
    // A viewer sees the dry run without the forms.
    let (status, html) = world
        .admin
        .page(&viewer, &format!("/replays/preview?ids={first}"))
        .await;
    assert_eq!(status, 200);
    assert!(!html.contains(r#"action="/replays""#), "{html}");
    let response = world
        .admin
        .form(&viewer, "/replays", &[("ids", &first.to_string())])
        .await;
    assert_eq!(response.status(), 403);

    // Edit the first letter through its page.
    let (status, html) = world
        .admin
        .page(&operator, &format!("/dead-letters/{first}/edit"))
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Save version 1"), "{html}");
    let payload: Value = world
        .text(&format!(
            "SELECT convert_from(payload, 'UTF8') FROM dead_letters WHERE id = {first}"
        ))
        .await
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap();
    let mut edited = payload.clone();
    edited["stream"] = json!("customers");
    let edited_text = serde_json::to_string_pretty(&edited).unwrap();
    let response = world
        .admin
        .form(
            &operator,
            &format!("/dead-letters/{first}/edit"),
            &[
                ("payload", "{broken"),
                ("reason", "x"),
                ("base_version", "0"),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);
    let kept = response.text().await.unwrap();
    assert!(kept.contains("payload: not valid JSON"), "{kept}");
    assert!(
        kept.contains("{broken"),
        "the operator's text is shown again: {kept}"
    );
    let response = world
        .admin
        .form(
            &operator,
            &format!("/dead-letters/{first}/edit"),
            &[
                ("payload", &edited_text),
                ("reason", "wrong stream"),
                ("base_version", "0"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        format!("/dead-letters/{first}/edit?done=saved&version=1").as_str()
    );
    let (_, html) = world
        .admin
        .page(&operator, &format!("/dead-letters/{first}/edit"))
        .await;
    assert!(
        html.contains("$.stream: &quot;orders&quot; → &quot;customers&quot;"),
        "{html}"
    );

    // Replay the first through the form; the batch page refreshes itself while publishing
    // (no worker here, so it stays unpublished).
    let response = world
        .admin
        .form(
            &operator,
            "/replays",
            &[("ids", &first.to_string()), ("reason", "from the page")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/replays/"), "{location}");
    let (status, html) = world.admin.page(&viewer, &location).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"<meta http-equiv="refresh" content="2">"#),
        "{html}"
    );
    assert!(!html.contains("<script"), "{html}");
    let (status, html) = world.admin.page(&viewer, "/replays").await;
    assert_eq!(status, 200);
    assert!(html.contains("from the page"), "{html}");
    // A second click is refused with the reason, and a way back.
    let response = world
        .admin
        .form(&operator, "/replays", &[("ids", &first.to_string())])
        .await;
    assert_eq!(response.status(), 409);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(&format!("dead letter {first} was already replayed")),
        "{html}"
    );

    // Discard the second; the reason is required.
    let response = world
        .admin
        .form(
            &operator,
            "/dead-letters/discard",
            &[("ids", &second.to_string())],
        )
        .await;
    assert_eq!(response.status(), 400);
    let response = world
        .admin
        .form(
            &operator,
            "/dead-letters/discard",
            &[("ids", &second.to_string()), ("reason", "noise")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (_, html) = world
        .admin
        .page(&operator, response.headers()["location"].to_str().unwrap())
        .await;
    assert!(html.contains("Discarded 1 letter(s)"), "{html}");

    // Pause and resume from the sources page.
    let response = world
        .admin
        .form(
            &operator,
            "/sources/pause",
            &[("source", SOURCE), ("tenant", ""), ("reason", "page pause")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (_, html) = world
        .admin
        .page(&operator, "/sources?done=paused&source=demo_shop")
        .await;
    assert!(html.contains("page pause"), "{html}");
    assert!(
        html.contains(&format!(r#"action="/sources/{SOURCE}/resume""#)),
        "{html}"
    );
    let response = world
        .admin
        .form(
            &operator,
            &format!("/sources/{SOURCE}/resume"),
            &[("tenant", "*")],
        )
        .await;
    assert_eq!(response.status(), 303);

    // Every change has its row on the audit page, newest first.
    let (status, html) = world.admin.page(&viewer, "/audit").await;
    assert_eq!(status, 200);
    let order: Vec<usize> = [
        "source.resume",
        "source.pause",
        "dead_letter.discard",
        "dead_letter.replay",
        "dead_letter.edit",
    ]
    .iter()
    .map(|action| {
        html.find(&format!("<code>{action}</code>"))
            .unwrap_or_else(|| panic!("{action} in {html}"))
    })
    .collect();
    assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "{order:?}");
    let (_, filtered) = world
        .admin
        .page(&viewer, "/audit?action=dead_letter.edit")
        .await;
    assert!(filtered.contains("wrong stream"), "{filtered}");
    assert!(
        !filtered.contains("<code>dead_letter.discard</code>"),
        "{filtered}"
    );
    world.stop().await;
}

/// Runs `queue-admin` with `args` against this world's API as the operator; (success, stdout,
/// stderr).
async fn cli(world: &World, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_queue-admin"))
        .args(args)
        .env("TRIBUTARY_ADMIN_URL", &world.admin.base_url)
        .env("TRIBUTARY_ADMIN_TOKEN", &world.operator)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_dry_runs_replays_and_follows_edits_discards_pauses_and_reads_the_audit() {
    let mut world = World::new().await;
    world.start_worker().await;
    let letter = world.admin.dead_letter(Letter::new("cli boom")).await;
    let noise = world.admin.dead_letter(Letter::new("cli noise")).await;
    let id = letter.to_string();

    // Without --yes: the dry run, and nothing changes.
    let before = world.state().await;
    let (ok, out, err) = cli(&world, &["dlq", "replay", "--ids", &id]).await;
    assert!(ok, "{err}");
    assert!(
        out.starts_with("1 letter(s) match: 1 would be replayed"),
        "{out}"
    );
    assert!(out.contains("dry run only: nothing changed"), "{out}");
    assert_eq!(world.state().await, before);

    // An edit from a file, then the replay, followed to the end.
    let mut payload: Value = world
        .text(&format!(
            "SELECT convert_from(payload, 'UTF8') FROM dead_letters WHERE id = {letter}"
        ))
        .await
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap();
    payload["stream"] = json!("customers");
    let file = std::env::temp_dir().join(format!("payload-{}.json", Uuid::now_v7()));
    std::fs::write(&file, serde_json::to_vec(&payload).unwrap()).unwrap();
    let (ok, out, err) = cli(
        &world,
        &[
            "dlq",
            "edit",
            &id,
            "--file",
            file.to_str().unwrap(),
            "--reason",
            "customers",
        ],
    )
    .await;
    std::fs::remove_file(&file).unwrap();
    assert!(ok, "{err}");
    assert_eq!(
        out,
        format!("dead letter {letter}: saved version 1\n$.stream: \"orders\" → \"customers\"\n")
    );
    let (ok, out, err) = cli(
        &world,
        &[
            "dlq",
            "replay",
            "--ids",
            &id,
            "--reason",
            "from the cli",
            "--yes",
            "--wait",
        ],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("letter(s) replayed; publishing in the background"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("succeeded 1, dead 0"), "{out}");
    assert_eq!(
        world
            .scalar(
                "SELECT count(*) FROM records WHERE tenant_id = 'acme' AND stream = 'customers'"
            )
            .await,
        20
    );
    // A second replay is refused, and the command fails with the server's reason.
    let (ok, _, err) = cli(&world, &["dlq", "replay", "--ids", &id, "--yes"]).await;
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "409 Conflict: dead letter {letter} was already replayed"
        )),
        "{err}"
    );

    // Discard: dry run, then for real.
    let noise_id = noise.to_string();
    let (ok, out, _) = cli(
        &world,
        &["dlq", "discard", "--ids", &noise_id, "--reason", "noise"],
    )
    .await;
    assert!(ok);
    assert!(
        out.starts_with("1 pending letter(s) of 1 matching would be discarded"),
        "{out}"
    );
    assert_eq!(world.letter_status(noise).await, "pending");
    let (ok, out, err) = cli(
        &world,
        &[
            "dlq", "discard", "--ids", &noise_id, "--reason", "noise", "--yes",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "discarded 1 letter(s)\n");
    assert_eq!(world.letter_status(noise).await, "discarded");

    // Sources.
    let (ok, out, err) = cli(
        &world,
        &[
            "sources",
            "pause",
            SOURCE,
            "--tenant",
            "acme",
            "--reason",
            "rotating keys",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(
        out,
        format!("paused {SOURCE} for tenant acme: rotating keys\n")
    );
    let (ok, out, _) = cli(&world, &["sources", "list"]).await;
    assert!(ok);
    let line = out
        .lines()
        .find(|line| line.starts_with(SOURCE) && line.contains(" acme "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("yes") && line.contains("rotating keys"),
        "{line}"
    );
    let (ok, _, err) = cli(&world, &["sources", "resume", SOURCE, "--tenant", "acme"]).await;
    assert!(ok, "{err}");

    // The audit log, newest first, as text and as JSON.
    let (ok, out, _) = cli(&world, &["dlq", "audit"]).await;
    assert!(ok);
    let actions: Vec<&str> = out
        .lines()
        .filter_map(|line| line.split_whitespace().nth(4))
        .collect();
    assert_eq!(
        actions[..5],
        [
            "source.resume",
            "source.pause",
            "dead_letter.discard",
            "dead_letter.replay",
            "dead_letter.edit"
        ],
        "{out}"
    );
    let (ok, out, _) = cli(
        &world,
        &["dlq", "audit", "--action", "dead_letter.replay", "--json"],
    )
    .await;
    assert!(ok);
    let page: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(page["items"][0]["reason"], "from the cli");
    assert_eq!(page["items"][0]["count"], 1);
    world.stop().await;
}
