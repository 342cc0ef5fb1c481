//! The `postgres` connector passes the conformance suite against a real PostgreSQL database
//! (a fresh one per run, on the dev stack).
//!
//! What the mock cannot honestly produce, and is therefore skipped: rate limiting (a database
//! has no 429 and no `Retry-After`) and malformed bodies (rows arrive typed, rendered to JSON
//! by the server's own `to_jsonb`). Server errors and refused credentials are injected as the
//! SQLSTATEs a database really answers with, raised once by a forced row-level security
//! policy on the next row read (see `common::fault_setup`); the real versions (a killed
//! session, a wrong password, a statement timeout) are tested in `tests/source.rs`.

mod common;

use common::{fault_setup, SourceDb};
use serde_json::json;
use tributary_connector::{StreamName, TenantId};
use tributary_connector_testkit::{Conformance, Fault, HugePage, MockSource, OddRecord};

const PAGE_SIZE: u32 = 10;

/// 25 orders and 13 customers for `acme` (with ties on `updated_at`), nothing for
/// `empty-acme`, 8 orders of ~400 KB each for `huge-acme`, and one customer with odd values.
const SEED: &str = "
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    account text NOT NULL,
    updated_at timestamptz NOT NULL,
    total numeric(12, 2),
    status text,
    meta jsonb,
    note text
);
CREATE INDEX ON orders (account, updated_at, id);
INSERT INTO orders
SELECT i, 'acme', timestamptz '2024-01-01 00:00:00+00' + (i % 7) * interval '1 hour',
       i * 1.25, CASE WHEN i % 3 = 0 THEN NULL ELSE 'paid' END,
       jsonb_build_object('lines', i % 4, 'tags', jsonb_build_array('a', 'ü')), NULL
FROM generate_series(1, 25) AS i;
INSERT INTO orders
SELECT 1000 + i, 'huge-acme', timestamptz '2024-02-01 00:00:00+00' + i * interval '1 second',
       0, 'paid', '{}', repeat('x', 400000)
FROM generate_series(1, 8) AS i;
CREATE TABLE customers (
    id text PRIMARY KEY,
    account text NOT NULL,
    updated_at timestamp NOT NULL,
    name text NOT NULL,
    email text,
    zip text,
    balance numeric,
    address jsonb
);
INSERT INTO customers
SELECT 'c-' || lpad(i::text, 3, '0'), 'acme', timestamp '2024-01-05 12:00:00' + (i % 4) * interval '1 minute',
       'Customer ' || i, 'c' || i || '@example.com', '1000', i * 10.5, '{\"city\": \"Bern\"}'
FROM generate_series(1, 12) AS i;
INSERT INTO customers VALUES
    ('c-odd', 'acme', '2024-01-05 12:00:00.123456', 'Zoë Ørsted 北京 🚀', NULL, '8001', 12.50,
     '{\"city\": \"Zürich\", \"line2\": null, \"zip\": \"8001\"}');
";

struct PgMock {
    db: SourceDb,
}

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).expect("a valid tenant id")
}

impl MockSource for PgMock {
    fn settings(&self) -> serde_json::Value {
        json!({
            "url": self.db.connector_url(),
            "streams": {
                "orders": {"table": "public.orders", "primary_key": "id", "updated_at": "updated_at"},
                "customers": {"table": "customers", "primary_key": "id", "updated_at": "updated_at"},
            },
            "page_size": PAGE_SIZE,
            "statement_timeout_ms": 10_000,
            "tenant_column": "account",
        })
    }

    fn tenant(&self) -> TenantId {
        tenant("acme")
    }

    fn expected_ids(&self, tenant: &TenantId, stream: &StreamName) -> Vec<String> {
        self.db.strings_blocking(&format!(
            "SELECT id::text FROM {stream} WHERE account = '{tenant}'"
        ))
    }

    fn inject(&self, fault: &Fault) -> bool {
        let sqlstate = match fault {
            // What a database answers where an HTTP API would send a 5xx: the server shutting
            // the session down, a broken connection, a serialization failure, a statement
            // timeout. All transient.
            Fault::ServerError { status: 500 } => "57P01",
            Fault::ServerError { status: 502 } => "08006",
            Fault::ServerError { status: 503 } => "40001",
            Fault::ServerError { .. } => "57014",
            // Credentials refused, and the role lacking the privilege to read the table.
            Fault::Unauthorized { status: 401 } => "28P01",
            Fault::Unauthorized { .. } => "42501",
            // No 429 and no malformed body from a database.
            _ => return false,
        };
        self.db.arm_fault_blocking(sqlstate);
        true
    }

    fn empty_tenant(&self) -> Option<TenantId> {
        Some(tenant("empty-acme"))
    }

    fn huge_page(&self) -> Option<HugePage> {
        Some(HugePage {
            tenant: tenant("huge-acme"),
            stream: StreamName::new("orders").expect("a valid stream name"),
        })
    }

    fn odd_record(&self) -> Option<OddRecord> {
        Some(OddRecord {
            tenant: tenant("acme"),
            stream: StreamName::new("customers").expect("a valid stream name"),
            external_id: "c-odd".to_owned(),
            expect: vec![
                ("/name".to_owned(), json!("Zoë Ørsted 北京 🚀")),
                ("/email".to_owned(), json!(null)),
                ("/zip".to_owned(), json!("8001")),
                ("/balance".to_owned(), json!(12.5)),
                (
                    "/updated_at".to_owned(),
                    json!("2024-01-05T12:00:00.123456"),
                ),
                (
                    "/address".to_owned(),
                    json!({"city": "Zürich", "line2": null, "zip": "8001"}),
                ),
            ],
        })
    }
}

#[tokio::test]
async fn the_postgres_connector_conforms() {
    let setup = format!("{SEED}{}", fault_setup(&["orders", "customers"]));
    let mock = PgMock {
        db: SourceDb::create(&setup).await,
    };
    let report = Conformance::new(tributary_connector_postgres::spec(), &mock)
        .run()
        .await;
    let skipped: Vec<String> = report
        .results
        .iter()
        .filter(|result| {
            matches!(
                result.outcome,
                tributary_connector_testkit::Outcome::Skipped(_)
            )
        })
        .map(|result| result.check.to_string())
        .collect();
    assert_eq!(
        skipped.len(),
        3,
        "only the 429 and malformed checks skip: {skipped:?}"
    );
}
