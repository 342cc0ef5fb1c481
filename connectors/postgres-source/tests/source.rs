//! The `postgres` connector against a real PostgreSQL database: keyset order and resumption,
//! ties, rows changing during a run, tenants, reconciliation counts, configuration errors,
//! secrets, and the real failures (a killed session, a statement timeout, a wrong password).

mod common;

use common::SourceDb;
use serde_json::json;
use sha2::Digest;
use std::sync::Arc;
use std::time::Duration;
use tributary_connector::typed::TypedConnector;
use tributary_connector::{
    Connector, ConnectorError, Cursor, ErrorClass, PullRequest, Record, StreamName, TenantId,
    Window,
};
use tributary_connector_postgres::{PgCursor, PostgresSettings, PostgresSource};

/// Items for tenants `a` and `b`, with ids whose text order differs from their numeric
/// order and many ties on `updated_at`.
const ITEMS: &str = "
CREATE TABLE items (
    id bigint PRIMARY KEY,
    tenant text NOT NULL,
    updated_at timestamptz NOT NULL,
    label text
);
INSERT INTO items
SELECT i, CASE WHEN i % 5 = 0 THEN 'b' ELSE 'a' END,
       timestamptz '2024-03-01 00:00:00+00' + (i % 3) * interval '1 minute', 'item ' || i
FROM generate_series(1, 40) AS i;
INSERT INTO items VALUES
    (100, 'a', '2024-03-01 00:00:00+00', 'hundred'),
    (1000, 'a', '2024-03-01 00:01:00+00', 'thousand');
CREATE VIEW slow_items AS SELECT * FROM items WHERE (SELECT pg_sleep(0.5)) IS NOT NULL;
";

fn settings(url: &str, page_size: u32) -> serde_json::Value {
    json!({
        "url": url,
        "streams": {
            "items": {"table": "public.items", "primary_key": "id", "updated_at": "updated_at"},
            "slow": {"table": "slow_items", "primary_key": "id", "updated_at": "updated_at",
                     "columns": ["id", "label"]},
        },
        "page_size": page_size,
        "statement_timeout_ms": 5_000,
        "tenant_column": "tenant",
    })
}

fn build(settings: &serde_json::Value) -> Arc<dyn Connector> {
    (tributary_connector_postgres::spec().build)(settings).expect("the settings are valid")
}

fn typed(settings: &serde_json::Value) -> PostgresSource {
    let settings: PostgresSettings =
        serde_json::from_value(settings.clone()).expect("the settings deserialize");
    PostgresSource::from_settings(settings).expect("the settings are valid")
}

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

fn stream(name: &str) -> StreamName {
    StreamName::new(name).unwrap()
}

async fn pull(
    connector: &dyn Connector,
    tenant_name: &str,
    stream_name: &str,
    cursor: Option<&Cursor>,
    window: Window,
) -> Result<tributary_connector::Page, ConnectorError> {
    connector
        .pull(PullRequest {
            tenant: &tenant(tenant_name),
            stream: &stream(stream_name),
            cursor,
            window: &window,
        })
        .await
}

/// Every page from `cursor` on; the records and the cursor after each page but the last.
async fn pull_all(
    connector: &dyn Connector,
    tenant_name: &str,
    stream_name: &str,
    mut cursor: Option<Cursor>,
    window: Window,
) -> (Vec<Record>, Vec<(Cursor, usize)>) {
    let mut records = Vec::new();
    let mut cursors = Vec::new();
    for _ in 0..1_000 {
        let page = pull(connector, tenant_name, stream_name, cursor.as_ref(), window)
            .await
            .unwrap();
        records.extend(page.records);
        match page.next_cursor {
            Some(next) => {
                cursors.push((next.clone(), records.len()));
                cursor = Some(next);
            }
            None => return (records, cursors),
        }
    }
    panic!("pagination does not end");
}

fn ids(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.external_id.clone()).collect()
}

fn decode(cursor: &Cursor) -> PgCursor {
    serde_json::from_str(cursor.as_str().strip_prefix("t1:").unwrap()).unwrap()
}

#[tokio::test]
async fn keyset_order_breaks_ties_by_the_typed_primary_key_and_resumes_from_every_cursor() {
    let db = SourceDb::create(ITEMS).await;
    let connector = build(&settings(&db.connector_url(), 3));
    let expected = db
        .strings(
            "SELECT id::text FROM items WHERE tenant = 'a' ORDER BY items.updated_at, items.id",
        )
        .await;
    let (records, cursors) = pull_all(&*connector, "a", "items", None, Window::default()).await;
    assert_eq!(
        ids(&records),
        expected,
        "ordered by (updated_at, numeric id)"
    );
    // Numeric, not text order, within one updated_at: 3 < 6 < 100.
    let position = |id: &str| expected.iter().position(|e| e == id).unwrap();
    assert!(position("3") < position("6") && position("6") < position("100"));
    assert_eq!(
        cursors.len(),
        expected.len().div_ceil(3) - 1,
        "no empty trailing page"
    );
    for (cursor, offset) in &cursors {
        let (rest, _) = pull_all(
            &*connector,
            "a",
            "items",
            Some(cursor.clone()),
            Window::default(),
        )
        .await;
        assert_eq!(ids(&rest), expected[*offset..], "resuming from {cursor:?}");
    }
    let first = &records[0];
    assert_eq!(
        first.data["label"],
        json!(format!("item {}", first.external_id))
    );
    assert!(first.updated_at.is_some());
}

#[tokio::test]
async fn rows_changing_during_a_run_are_neither_skipped_nor_duplicated() {
    let db = SourceDb::create(ITEMS).await;
    let connector = build(&settings(&db.connector_url(), 5));
    let all = db
        .strings(
            "SELECT id::text FROM items WHERE tenant = 'a' ORDER BY items.updated_at, items.id",
        )
        .await;
    let first = pull(&*connector, "a", "items", None, Window::default())
        .await
        .unwrap();
    let served = ids(&first.records);
    let cursor = first.next_cursor.unwrap();
    let window_end = decode(&cursor).to;
    // One row already served and one not yet served change; one row is added.
    let (seen, unseen) = (served[0].clone(), all[all.len() - 2].clone());
    db.execute(&format!(
        "UPDATE items SET updated_at = clock_timestamp(), label = 'changed' WHERE id IN ({seen}, {unseen});
         INSERT INTO items VALUES (5000, 'a', clock_timestamp(), 'new');"
    ))
    .await;
    let (rest, _) = pull_all(&*connector, "a", "items", Some(cursor), Window::default()).await;
    let mut run = served.clone();
    run.extend(ids(&rest));
    let expected: Vec<String> = all.iter().filter(|id| **id != unseen).cloned().collect();
    assert_eq!(
        run, expected,
        "the closed window: no duplicate, the moved row waits"
    );
    // The next run starts where this one's window ended and gets exactly the changes.
    let next = Window {
        from: Some(window_end),
        to: None,
    };
    let (changes, _) = pull_all(&*connector, "a", "items", None, next).await;
    let mut changed = ids(&changes);
    changed.sort();
    let mut want = vec![seen, unseen, "5000".to_owned()];
    want.sort();
    assert_eq!(changed, want);
    assert!(changes.iter().all(|r| r.updated_at.unwrap() >= window_end));
}

#[tokio::test]
async fn tenants_see_only_their_rows_and_windows_bound_them() {
    let db = SourceDb::create(ITEMS).await;
    let connector = build(&settings(&db.connector_url(), 4));
    for name in ["a", "b"] {
        let (records, _) = pull_all(&*connector, name, "items", None, Window::default()).await;
        let mut got = ids(&records);
        got.sort();
        let mut want = db
            .strings(&format!(
                "SELECT id::text FROM items WHERE tenant = '{name}'"
            ))
            .await;
        want.sort();
        assert_eq!(got, want, "tenant {name}");
        assert!(records.iter().all(|r| r.data["tenant"] == name));
    }
    let (none, _) = pull_all(&*connector, "nobody", "items", None, Window::default()).await;
    assert!(none.is_empty());
    let minute = "2024-03-01T00:01:00Z".parse().unwrap();
    let window = Window {
        from: Some(minute),
        to: Some(minute + chrono::Duration::minutes(1)),
    };
    let (records, _) = pull_all(&*connector, "a", "items", None, window).await;
    assert!(!records.is_empty());
    assert!(records.iter().all(|r| r.updated_at == Some(minute)));
}

#[tokio::test]
async fn count_and_checksum_match_the_pulled_records() {
    let db = SourceDb::create(ITEMS).await;
    let settings = settings(&db.connector_url(), 7);
    let connector = build(&settings);
    let source = typed(&settings);
    for window in [
        Window::default(),
        Window {
            from: Some("2024-03-01T00:01:00Z".parse().unwrap()),
            to: Some("2024-03-01T00:02:00Z".parse().unwrap()),
        },
    ] {
        let (records, _) = pull_all(&*connector, "a", "items", None, window).await;
        let (count, checksum) = source
            .count_and_checksum(&tenant("a"), &stream("items"), &window)
            .await
            .unwrap();
        assert_eq!(count, records.len() as u64);
        let text = records
            .iter()
            .map(|r| {
                format!(
                    "{}@{}",
                    r.external_id,
                    r.updated_at.unwrap().timestamp_micros()
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(checksum, hex::encode(sha2::Sha256::digest(text.as_bytes())));
    }
    let before = source
        .count_and_checksum(&tenant("b"), &stream("items"), &Window::default())
        .await
        .unwrap();
    db.execute("UPDATE items SET updated_at = updated_at + interval '1 second' WHERE id = 5")
        .await;
    let after = source
        .count_and_checksum(&tenant("b"), &stream("items"), &Window::default())
        .await
        .unwrap();
    assert_eq!(before.0, after.0);
    assert_ne!(before.1, after.1, "a changed row changes the checksum");
}

#[tokio::test]
async fn missing_tables_and_columns_are_config_errors_naming_them() {
    let db = SourceDb::create(ITEMS).await;
    let url = db.connector_url();
    let cases = [
        (
            json!({"table": "public.nope", "primary_key": "id", "updated_at": "updated_at"}),
            "public.nope",
        ),
        (
            json!({"table": "items", "primary_key": "ident", "updated_at": "updated_at"}),
            "ident",
        ),
        (
            json!({"table": "items", "primary_key": "id", "updated_at": "changed"}),
            "changed",
        ),
        (
            json!({"table": "items", "primary_key": "id", "updated_at": "updated_at", "columns": ["id", "colour"]}),
            "colour",
        ),
        (
            json!({"table": "items", "primary_key": "id", "updated_at": "label"}),
            "not a timestamp",
        ),
    ];
    for (stream_settings, named) in cases {
        let connector = build(&json!({"url": url, "streams": {"items": stream_settings}}));
        let error = connector.check(&tenant("a")).await.unwrap_err();
        assert_eq!(error.class(), ErrorClass::Config, "{error}");
        assert!(error.to_string().contains(named), "{error}");
        let error = pull(&*connector, "a", "items", None, Window::default())
            .await
            .unwrap_err();
        assert_eq!(error.class(), ErrorClass::Config, "{error}");
        assert!(error.to_string().contains(named), "{error}");
    }
    let connector = build(
        &json!({"url": url, "streams": {"items": {"table": "items", "primary_key": "id", "updated_at": "updated_at"}}, "tenant_column": "account"}),
    );
    let error = connector.check(&tenant("a")).await.unwrap_err();
    assert!(error.to_string().contains("account"), "{error}");
    // Bad identifiers never reach the database.
    let error = (tributary_connector_postgres::spec().build)(&json!({
        "url": url,
        "streams": {"items": {"table": "items; DROP TABLE items", "primary_key": "id", "updated_at": "u"}},
    }))
    .unwrap_err()
    .to_string();
    assert!(error.contains("$.streams.items.table"), "{error}");
    // Other database names fail as config errors too.
    let (prefix, _) = db.url.rsplit_once('/').unwrap();
    let connector = build(
        &json!({"url": format!("{prefix}/test_nosuchdatabase"), "streams": {"items": {"table": "items", "primary_key": "id", "updated_at": "updated_at"}}}),
    );
    let error = connector.check(&tenant("a")).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Config, "{error}");
}

#[tokio::test]
async fn the_password_never_appears_in_debug_output_or_errors() {
    let db = SourceDb::create(ITEMS).await;
    let url = db.connector_url();
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password.to_owned())
        .expect("the dev URL has a password");
    let good = settings(&url, 10);
    let connector = build(&good);
    assert!(!format!("{connector:?}").contains(&password));
    let parsed: PostgresSettings = serde_json::from_value(good.clone()).unwrap();
    assert!(!format!("{parsed:?}").contains(&password));
    // A wrong password: refused credentials, from check() and pull(), without the secret.
    let wrong = "wrong-pass-1234567890";
    let bad_url = url.replace(&password, wrong);
    let connector = build(&settings(&bad_url, 10));
    assert!(!format!("{connector:?}").contains(wrong));
    let error = connector.check(&tenant("a")).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Auth, "{error}");
    let error2 = pull(&*connector, "a", "items", None, Window::default())
        .await
        .unwrap_err();
    assert_eq!(error2.class(), ErrorClass::Auth, "{error2}");
    for text in [error.to_string(), format!("{error:?}"), error2.to_string()] {
        assert!(!text.contains(wrong) && !text.contains(&password), "{text}");
    }
    // An unreachable port: transient, without the secret.
    let closed = build(&settings(&url.replace(":5433/", ":1/"), 10));
    let error = closed.check(&tenant("a")).await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    assert!(!error.to_string().contains(&password), "{error}");
}

#[tokio::test]
async fn a_killed_session_and_a_statement_timeout_are_transient_and_recovered_from() {
    let db = SourceDb::create(ITEMS).await;
    let connector = build(&settings(&db.connector_url(), 10));
    pull(&*connector, "a", "items", None, Window::default())
        .await
        .unwrap();
    // The session is killed while a (slow) query runs.
    let slow = {
        let connector = connector.clone();
        tokio::spawn(async move { pull(&*connector, "a", "slow", None, Window::default()).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = tokio::task::spawn_blocking({
        let db_url = db.url.clone();
        let name = db.application_name.clone();
        move || {
            let db = SourceDb {
                url: db_url,
                application_name: name,
            };
            db.terminate_connector_blocking()
        }
    })
    .await
    .unwrap();
    assert!(killed >= 1, "the connector's session was found");
    let error = slow.await.unwrap().unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    // The next pull reconnects.
    let page = pull(&*connector, "a", "items", None, Window::default())
        .await
        .unwrap();
    assert_eq!(page.records.len(), 10);
    // A statement over the timeout is cancelled by the server: transient too.
    let mut short = settings(&db.connector_url(), 10);
    short["statement_timeout_ms"] = json!(100);
    let connector = build(&short);
    let error = pull(&*connector, "a", "slow", None, Window::default())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient, "{error}");
    assert!(error.to_string().contains("57014"), "{error}");
    let page = pull(&*connector, "a", "items", None, Window::default())
        .await
        .unwrap();
    assert_eq!(page.records.len(), 10);
    // A chosen column list shapes the data.
    let mut long = settings(&db.connector_url(), 2);
    long["statement_timeout_ms"] = json!(10_000);
    let page = pull(&*build(&long), "b", "slow", None, Window::default())
        .await
        .unwrap();
    assert_eq!(page.records[0].data.as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn foreign_cursors_and_unknown_streams_are_refused() {
    let db = SourceDb::create(ITEMS).await;
    let connector = build(&settings(&db.connector_url(), 3));
    let first = pull(&*connector, "a", "items", None, Window::default())
        .await
        .unwrap();
    let cursor = first.next_cursor.unwrap();
    let other_window = Window {
        from: None,
        to: Some("2020-01-01T00:00:00Z".parse().unwrap()),
    };
    let error = pull(&*connector, "a", "items", Some(&cursor), other_window)
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::CursorInvalid, "{error}");
    let error = pull(&*connector, "a", "nope", None, Window::default())
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Config, "{error}");
    assert!(error.to_string().contains("`items`"), "{error}");
}
