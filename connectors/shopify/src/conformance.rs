//! The shared conformance suite (`tributary-connector-testkit`) against the mock Shopify.
//!
//! The mock serves one shop, and a Shopify source is one shop: the tenant does not select
//! data, so the suite's empty-tenant check is skipped, as is the huge-page check (Shopify
//! pages hold at most 250 records).

use crate::mock::{spawn, MockConfig, MockFault, MockShopify};
use crate::ShopifyStream;
use serde_json::json;
use tributary_connector::{StreamName, TenantId, Window};
use tributary_connector_testkit::{Conformance, Fault, MockSource, OddRecord};

/// Records per page in the suite: several pages of orders and customers, so it has cursors to
/// resume from.
const PAGE_SIZE: u32 = 50;

/// The mock, as the suite drives it.
struct SuiteMock(MockShopify);

impl MockSource for SuiteMock {
    fn settings(&self) -> serde_json::Value {
        self.0.settings(PAGE_SIZE)
    }

    fn tenant(&self) -> TenantId {
        TenantId::new("acme").expect("a valid tenant id")
    }

    fn expected_ids(&self, _tenant: &TenantId, stream: &StreamName) -> Vec<String> {
        ShopifyStream::from_name(stream.as_str())
            .map(|stream| self.0.expected_ids(stream, &Window::default()))
            .unwrap_or_default()
    }

    fn inject(&self, fault: &Fault) -> bool {
        let fault = match fault {
            Fault::RateLimited {
                retry_after: Some(delay),
            } => MockFault::Status {
                status: 429,
                retry_after: Some(format!("{}.0", delay.as_secs())),
            },
            // Shopify's own way of saying "slow down": `THROTTLED` in an HTTP 200.
            Fault::RateLimited { retry_after: None } => MockFault::graphql_error("THROTTLED"),
            Fault::ServerError { status } | Fault::Unauthorized { status } => {
                MockFault::status(*status)
            }
            Fault::MalformedBody => MockFault::Malformed,
            _ => return false,
        };
        self.0.script([fault]);
        true
    }

    /// Customer 5 has no email (every sixth customer), a non-ASCII first name, its order
    /// count as a string (`UnsignedInt64`) and a nested money object.
    fn odd_record(&self) -> Option<OddRecord> {
        Some(OddRecord {
            tenant: self.tenant(),
            stream: StreamName::new("customers").expect("a valid stream name"),
            external_id: "gid://shopify/Customer/7200000000005".to_owned(),
            expect: vec![
                ("/email".to_owned(), serde_json::Value::Null),
                (
                    "/firstName".to_owned(),
                    json!(self.first_name_of_customer_5()),
                ),
                (
                    "/numberOfOrders".to_owned(),
                    self.customer_5()["numberOfOrders"].clone(),
                ),
                (
                    "/amountSpent".to_owned(),
                    self.customer_5()["amountSpent"].clone(),
                ),
            ],
        })
    }
}

impl SuiteMock {
    fn customer_5(&self) -> serde_json::Value {
        self.0.node(ShopifyStream::Customers, 5)
    }

    fn first_name_of_customer_5(&self) -> String {
        self.customer_5()["firstName"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

#[tokio::test]
async fn conforms_to_the_connector_contract() {
    let config = MockConfig {
        // The suite makes hundreds of requests; throttling is tested on its own elsewhere.
        maximum_available: 1_000_000.0,
        ..MockConfig::default()
    };
    let mock = SuiteMock(spawn(config).await.expect("the mock starts"));
    let customer = mock.customer_5();
    assert!(
        customer["numberOfOrders"].is_string() && customer["amountSpent"].is_object(),
        "{customer}"
    );
    assert!(!mock.first_name_of_customer_5().is_ascii(), "{customer}");
    Conformance::new(crate::spec(), &mock).run().await;
}
