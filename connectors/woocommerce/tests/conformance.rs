//! The shared conformance suite (`tributary-connector-testkit`) against the mock store.

use tributary_connector::{StreamName, TenantId, Window};
use tributary_connector_testkit::{Conformance, Fault, MockSource};
use tributary_connector_woocommerce::mock::{self, MockConfig, MockWoo};
use tributary_connector_woocommerce::WooStream;

/// The mock store as the suite drives it. The store has one tenant: a WooCommerce source is
/// one store, so the tenant id is informational.
struct Store(MockWoo);

impl MockSource for Store {
    fn settings(&self) -> serde_json::Value {
        self.0.settings(25)
    }

    fn tenant(&self) -> TenantId {
        TenantId::new("acme").unwrap()
    }

    fn expected_ids(&self, _tenant: &TenantId, stream: &StreamName) -> Vec<String> {
        match stream.as_str().parse::<WooStream>() {
            Ok(stream) => self.0.expected_ids(stream, &Window::default()),
            Err(_) => Vec::new(),
        }
    }

    fn inject(&self, fault: &Fault) -> bool {
        let fault = match fault {
            Fault::RateLimited { retry_after } => match retry_after {
                Some(delay) => mock::Fault::rate_limited(delay.as_secs()),
                None => mock::Fault::status(429),
            },
            Fault::ServerError { status } | Fault::Unauthorized { status } => {
                mock::Fault::status(*status)
            }
            Fault::MalformedBody => mock::Fault::Truncated,
            _ => return false,
        };
        self.0.script([fault]);
        true
    }
}

#[tokio::test]
async fn the_connector_conforms() {
    let store = Store(mock::spawn(MockConfig::default()).await.unwrap());
    Conformance::new(tributary_connector_woocommerce::spec(), &store)
        .run()
        .await;
}
