//! The connector conformance suite (`tributary-connector-testkit`) against the mock Stripe:
//! once as a plain single-account source, once as a Connect platform where every check,
//! including the empty source and the huge page, must run and pass.

use serde_json::{json, Value};
use std::time::Duration;
use tributary_connector::{StreamName, TenantId};
use tributary_connector_stripe::mock::{spawn, MockAccount, MockConfig, MockFault, MockStripe};
use tributary_connector_stripe::{CreatedRange, StripeStream};
use tributary_connector_testkit::{Conformance, Fault, HugePage, MockSource, OddRecord};

/// The connected account with ordinary data.
const ACCOUNT: &str = "acct_1Conformance";
/// A connected account with nothing in it.
const EMPTY_ACCOUNT: &str = "acct_1Empty";
/// A connected account whose customers carry metadata at Stripe's limits (2+ MiB a page).
const HUGE_ACCOUNT: &str = "acct_1Huge";
/// The charge planted with odd values.
const ODD_CHARGE: &str = "ch_3OddValuesConformance0001";

/// The mock Stripe as the suite drives it.
struct StripeSource {
    stripe: MockStripe,
    /// `true`: the settings say `connect` and tenants are connected accounts.
    connect: bool,
    page_size: u32,
}

impl StripeSource {
    async fn start(connect: bool, page_size: u32) -> Self {
        let config = MockConfig::with_volume(230, 45, 95)
            .with_account(MockAccount::new(ACCOUNT, 180, 60, 70))
            .with_account(MockAccount::empty(EMPTY_ACCOUNT))
            .with_account(MockAccount::new(HUGE_ACCOUNT, 0, 100, 0).with_max_metadata());
        let stripe = spawn(config).await.unwrap();
        let source = Self {
            stripe,
            connect,
            page_size,
        };
        source.plant_odd_charge();
        source
    }

    /// The account a tenant reads: the platform's unless in connect mode.
    fn account_of(&self, tenant: &TenantId) -> Option<Option<String>> {
        if !self.connect {
            return Some(None);
        }
        self.stripe
            .connected(tenant.as_str())
            .map(|_| Some(tenant.as_str().to_owned()))
    }

    fn plant_odd_charge(&self) {
        let reference = self.stripe.reference_time().timestamp();
        let charge = json!({
            "id": ODD_CHARGE,
            "object": "charge",
            "amount": 1999,
            "created": reference - 3_600,
            "currency": "eur",
            "customer": null,
            "description": "Zoë's «Bestellung» №7 — 佐藤 🚀",
            "metadata": { "order_id": "000123", "ratio": "1e3", "empty": "" },
            "billing_details": {
                "address": { "city": "Kraków", "country": "PL", "line1": "Floriańska 3", "line2": null,
                             "postal_code": "31-001", "state": null },
                "email": null, "name": "Łukasz Nowak", "phone": null
            },
            "outcome": null,
            "paid": true,
            "status": "succeeded",
        });
        let data = if self.connect {
            self.stripe.connected(ACCOUNT).unwrap()
        } else {
            self.stripe.platform()
        };
        data.insert(StripeStream::Charges, charge).unwrap();
    }
}

impl MockSource for StripeSource {
    fn settings(&self) -> Value {
        let mut settings = self.stripe.connector_settings();
        settings["page_size"] = self.page_size.into();
        settings["connect"] = self.connect.into();
        settings
    }

    fn tenant(&self) -> TenantId {
        TenantId::new(if self.connect { ACCOUNT } else { "acme" }).unwrap()
    }

    fn expected_ids(&self, tenant: &TenantId, stream: &StreamName) -> Vec<String> {
        let Ok(stream) = stream.as_str().parse::<StripeStream>() else {
            return Vec::new();
        };
        match self.account_of(tenant) {
            Some(None) => self.stripe.ids(stream, CreatedRange::ALL),
            Some(Some(account)) => self
                .stripe
                .connected(&account)
                .map(|data| data.ids(stream, CreatedRange::ALL))
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }

    fn inject(&self, fault: &Fault) -> bool {
        let fault = match fault {
            Fault::RateLimited { retry_after } => {
                MockFault::rate_limited(retry_after.map(|delay| delay.as_secs()))
            }
            Fault::ServerError { status } | Fault::Unauthorized { status } => {
                MockFault::status(*status)
            }
            Fault::MalformedBody => MockFault::Malformed,
            _ => return false,
        };
        self.stripe.script([fault]);
        true
    }

    fn empty_tenant(&self) -> Option<TenantId> {
        self.connect.then(|| TenantId::new(EMPTY_ACCOUNT).unwrap())
    }

    fn huge_page(&self) -> Option<HugePage> {
        (self.connect && self.page_size == 100).then(|| HugePage {
            tenant: TenantId::new(HUGE_ACCOUNT).unwrap(),
            stream: StreamName::new("customers").unwrap(),
        })
    }

    fn odd_record(&self) -> Option<OddRecord> {
        Some(OddRecord {
            tenant: self.tenant(),
            stream: StreamName::new("charges").unwrap(),
            external_id: ODD_CHARGE.to_owned(),
            expect: vec![
                (
                    "/description".into(),
                    json!("Zoë's «Bestellung» №7 — 佐藤 🚀"),
                ),
                ("/metadata/order_id".into(), json!("000123")),
                ("/metadata/ratio".into(), json!("1e3")),
                ("/metadata/empty".into(), json!("")),
                ("/customer".into(), Value::Null),
                ("/outcome".into(), Value::Null),
                (
                    "/billing_details/address".into(),
                    json!({ "city": "Kraków", "country": "PL", "line1": "Floriańska 3",
                            "line2": null, "postal_code": "31-001", "state": null }),
                ),
            ],
        })
    }
}

#[tokio::test]
async fn conforms_as_a_single_account_source() {
    let source = StripeSource::start(false, 40).await;
    let report = Conformance::new(tributary_connector_stripe::spec(), &source)
        .pull_timeout(Duration::from_secs(20))
        .run()
        .await;
    // Only the checks that need more than one account are skipped.
    let skipped: Vec<_> = report
        .results
        .iter()
        .filter(|result| {
            matches!(
                result.outcome,
                tributary_connector_testkit::Outcome::Skipped(_)
            )
        })
        .map(|result| result.check.name())
        .collect();
    assert_eq!(skipped, ["empty_source", "huge_page"]);
    assert_eq!(source.stripe.scripted_remaining(), 0);
}

#[tokio::test]
async fn conforms_as_a_connect_platform_with_every_check() {
    let source = StripeSource::start(true, 100).await;
    Conformance::new(tributary_connector_stripe::spec(), &source)
        .pull_timeout(Duration::from_secs(20))
        .require_every_check()
        .run()
        .await;
    assert_eq!(source.stripe.scripted_remaining(), 0);
    assert!(source
        .stripe
        .request_log()
        .iter()
        .all(|entry| entry.stripe_account.is_some()));
}
