//! The demo connector passes the conformance suite against the demo shop, every check
//! included: the shop's `empty…` tenants are the empty source, its `huge…` tenants serve the
//! huge page, and its customers carry the odd values (accents, nulls, money as strings,
//! nested addresses).

use serde_json::json;
use tributary_connector::{StreamName, TenantId};
use tributary_connector_testkit::{Conformance, Fault, HugePage, MockSource, OddRecord};
use tributary_demo_shop::{spawn, ScriptedFault, ShopConfig, ShopHandle, Stream, UpdatedRange};

/// Records per page in the connector's settings. With the volumes below, orders span five
/// pages and customers three, so there are intermediate cursors to resume from; and a page of
/// a `huge…` tenant's ~33 KiB records is over 3 MiB.
const PAGE_SIZE: u32 = 100;

/// The demo shop, seen as a conformance mock.
struct DemoShop {
    shop: ShopHandle,
}

impl DemoShop {
    async fn start() -> Self {
        let shop = spawn(ShopConfig::with_volume(450, 230, 40))
            .await
            .expect("the demo shop starts on a loopback port");
        Self { shop }
    }
}

fn stream(name: &StreamName) -> Stream {
    name.as_str()
        .parse()
        .expect("the demo streams are the shop's streams")
}

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).expect("a valid tenant id")
}

impl MockSource for DemoShop {
    fn settings(&self) -> serde_json::Value {
        json!({ "base_url": self.shop.url(), "page_size": PAGE_SIZE, "timeout_ms": 10_000 })
    }

    fn tenant(&self) -> TenantId {
        tenant("acme")
    }

    fn expected_ids(&self, tenant: &TenantId, name: &StreamName) -> Vec<String> {
        self.shop
            .shop()
            .external_ids(tenant.as_str(), stream(name), UpdatedRange::all())
    }

    fn inject(&self, fault: &Fault) -> bool {
        let scripted = match fault {
            Fault::RateLimited { retry_after } => ScriptedFault::Status {
                status: 429,
                retry_after_secs: retry_after.map(|delay| delay.as_secs()),
            },
            Fault::ServerError { status } | Fault::Unauthorized { status } => {
                ScriptedFault::status(*status)
            }
            Fault::MalformedBody => ScriptedFault::Malformed,
            _ => return false,
        };
        self.shop.script([scripted]);
        true
    }

    fn empty_tenant(&self) -> Option<TenantId> {
        Some(tenant("empty-acme"))
    }

    fn huge_page(&self) -> Option<HugePage> {
        Some(HugePage {
            tenant: tenant("huge-acme"),
            stream: StreamName::new("customers").expect("a valid stream name"),
        })
    }

    /// The first customer with an accented first name and no second address line.
    fn odd_record(&self) -> Option<OddRecord> {
        let shop = self.shop.shop();
        shop.external_ids("acme", Stream::Customers, UpdatedRange::all())
            .into_iter()
            .find_map(|id| {
                let record = shop.record("acme", Stream::Customers, &id)?;
                let accented = !record["first_name"].as_str()?.is_ascii();
                let no_line2 = record["default_address"]["line2"].is_null();
                (accented && no_line2).then(|| OddRecord {
                    tenant: tenant("acme"),
                    stream: StreamName::new("customers").expect("a valid stream name"),
                    external_id: id,
                    expect: vec![
                        ("/first_name".to_owned(), record["first_name"].clone()),
                        ("/default_address/line2".to_owned(), serde_json::Value::Null),
                        ("/total_spent".to_owned(), record["total_spent"].clone()),
                        (
                            "/default_address".to_owned(),
                            record["default_address"].clone(),
                        ),
                    ],
                })
            })
    }
}

#[tokio::test]
async fn the_demo_connector_conforms() {
    let mock = DemoShop::start().await;
    let report = Conformance::new(tributary_connector_demo::spec(), &mock)
        .require_every_check()
        .run()
        .await;
    assert!(report.skipped().is_empty(), "{report}");
}
