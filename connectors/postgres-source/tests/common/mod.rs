//! A fresh source database per test on the dev stack's PostgreSQL, seeded tables, and
//! blocking helpers for the (synchronous) `MockSource` methods.
#![allow(dead_code)]

use std::future::Future;
use tokio_postgres::NoTls;

/// The dev stack's database URL, or a panic saying how to get one: these tests never skip.
pub fn base_url() -> String {
    match std::env::var("TRIBUTARY_DATABASE__URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "TRIBUTARY_DATABASE__URL is not set: these tests need the dev stack's PostgreSQL; \
             run them through `ops/dev test` (or `eval \"$(ops/dev env)\"` after `ops/dev up`)"
        ),
    }
}

/// Runs `future` to completion on a runtime of its own, on another thread: callable from
/// synchronous code inside an async test.
pub fn block_on<F: Future + Send>(future: F) -> F::Output
where
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime")
                    .block_on(future)
            })
            .join()
            .expect("the helper thread does not panic")
    })
}

/// Opens a plain connection (the dev stack listens on loopback only).
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to the dev stack's PostgreSQL");
    tokio::spawn(connection);
    client
}

/// A scratch database named `test_<32 hex>` (dropped by `ops/dev test` if a test leaves it).
pub struct SourceDb {
    /// The database's URL, with the dev role's credentials.
    pub url: String,
    /// The `application_name` the connector's settings use, so faults can find its session.
    pub application_name: String,
}

impl SourceDb {
    /// Creates the database and runs `setup` in it.
    pub async fn create(setup: &str) -> Self {
        let base = base_url();
        let name = format!("test_{}", uuid::Uuid::now_v7().simple());
        connect(&base)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create a test database");
        let (prefix, _) = base.rsplit_once('/').expect("a database URL has a path");
        let url = format!("{prefix}/{name}");
        connect(&url)
            .await
            .batch_execute(setup)
            .await
            .expect("set up the test database");
        Self {
            url,
            application_name: format!("conn_{}", &name[5..21]),
        }
    }

    /// The URL the connector gets: this database, tagged with its application name.
    pub fn connector_url(&self) -> String {
        format!("{}?application_name={}", self.url, self.application_name)
    }

    /// Runs statements now.
    pub async fn execute(&self, sql: &str) {
        connect(&self.url)
            .await
            .batch_execute(sql)
            .await
            .expect("run test SQL");
    }

    /// The first column of every row of `sql`, as text.
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        connect(&self.url)
            .await
            .query(sql, &[])
            .await
            .expect("run a test query")
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect()
    }

    /// As [`SourceDb::execute`], from synchronous code.
    pub fn execute_blocking(&self, sql: &str) {
        block_on(self.execute(sql));
    }

    /// As [`SourceDb::strings`], from synchronous code.
    pub fn strings_blocking(&self, sql: &str) -> Vec<String> {
        block_on(self.strings(sql))
    }

    /// Terminates the connector's session(s), waiting until they are gone.
    pub fn terminate_connector_blocking(&self) -> usize {
        self.strings_blocking(&format!(
            "SELECT pg_terminate_backend(pid, 5000)::text FROM pg_stat_activity \
             WHERE application_name = '{}' AND datname = current_database()",
            self.application_name
        ))
        .len()
    }

    /// Makes the next row read from a table with the fault policy raise `sqlstate`, once.
    pub fn arm_fault_blocking(&self, sqlstate: &str) {
        self.execute_blocking(&format!(
            "UPDATE fault_switch SET code = '{sqlstate}', fire_at = \
             (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM fault_seq)"
        ));
    }
}

/// A one-shot fault switch: a row-level security policy (forced, so it binds the owner too)
/// whose function raises the armed SQLSTATE on the first row read after arming, then never
/// again (a sequence counts the reads, outside any transaction). `tables` get the policy.
pub fn fault_setup(tables: &[&str]) -> String {
    let mut sql = String::from(
        "CREATE SEQUENCE fault_seq;
         CREATE TABLE fault_switch (code text, fire_at bigint);
         INSERT INTO fault_switch VALUES (NULL, NULL);
         CREATE FUNCTION tributary_fault() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
         DECLARE f record;
         BEGIN
           SELECT code, fire_at INTO f FROM fault_switch;
           IF f.code IS NOT NULL THEN
             IF nextval('fault_seq') = f.fire_at THEN
               RAISE EXCEPTION 'injected fault' USING ERRCODE = f.code;
             END IF;
           END IF;
           RETURN true;
         END $$;",
    );
    for table in tables {
        sql.push_str(&format!(
            "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
             ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
             CREATE POLICY fault ON {table} USING (tributary_fault());"
        ));
    }
    sql
}
