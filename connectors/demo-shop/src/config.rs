//! The shop's configuration: data volume, seed, rate-limit budget and fault injection knobs.
//!
//! Plain data with validation; it knows nothing about HTTP or the running server.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Orders per tenant in the demo volume.
pub const DEFAULT_ORDERS: u64 = 40_000;
/// Customers per tenant in the demo volume.
pub const DEFAULT_CUSTOMERS: u64 = 8_000;
/// Products per tenant in the demo volume.
pub const DEFAULT_PRODUCTS: u64 = 1_500;
/// Seed used when none is given; the demo and the docs assume it.
pub const DEFAULT_SEED: u64 = 42;
/// How many request-log entries are kept; older ones are dropped first. 10k entries is a few
/// MiB at most and covers any single test or benchmark phase that inspects request timing.
pub const DEFAULT_REQUEST_LOG_CAPACITY: usize = 10_000;

/// Everything that shapes one shop instance.
///
/// `Default` is the demo volume (40k orders, 8k customers, 1.5k products per tenant), seed 42,
/// no faults and an advertised but unenforced rate-limit budget.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopConfig {
    /// Seed of every generated record and of the random fault draws: the same seed and tenant
    /// always give the same data, byte for byte, and the same sequence of random faults.
    pub seed: u64,
    /// Orders per tenant.
    pub orders: u64,
    /// Customers per tenant. Must be at least 1 when there are orders (orders refer to them).
    pub customers: u64,
    /// Products per tenant. Must be at least 1 when there are orders (line items refer to them).
    pub products: u64,
    /// Random faults and latency applied to data routes.
    pub faults: Faults,
    /// The per-tenant request budget reported in `X-RateLimit-*` headers.
    pub rate_budget: RateBudget,
    /// Maximum number of entries kept in the in-memory request log.
    pub request_log_capacity: usize,
}

impl Default for ShopConfig {
    fn default() -> Self {
        Self {
            seed: DEFAULT_SEED,
            orders: DEFAULT_ORDERS,
            customers: DEFAULT_CUSTOMERS,
            products: DEFAULT_PRODUCTS,
            faults: Faults::default(),
            rate_budget: RateBudget::default(),
            request_log_capacity: DEFAULT_REQUEST_LOG_CAPACITY,
        }
    }
}

impl ShopConfig {
    /// The demo volume with a smaller or larger number of records per stream; handy in tests.
    pub fn with_volume(orders: u64, customers: u64, products: u64) -> Self {
        Self {
            orders,
            customers,
            products,
            ..Self::default()
        }
    }

    /// Checks the settings that the generator and the server rely on.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        if self.orders > 0 && (self.customers == 0 || self.products == 0) {
            return Err(InvalidConfig(
                "orders refer to customers and products: with orders > 0, customers and products must be at least 1".into(),
            ));
        }
        self.faults.validate()?;
        self.rate_budget.validate()
    }
}

/// Why a configuration or a fault setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid demo shop configuration: {0}")]
pub struct InvalidConfig(pub String);

/// Random faults applied to every data request (`/v1/...`), drawn from a seeded RNG so a run is
/// reproducible. The three probabilities are exclusive outcomes of one draw, so their sum must
/// not exceed 1.
///
/// As JSON (for `POST /_admin/faults`), every field is optional:
/// `{"latency_ms": 0, "p429": 0.0, "retry_after_secs": 1, "p5xx": 0.0, "pmalformed": 0.0}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added before every data response.
    #[serde(rename = "latency_ms", with = "duration_ms")]
    pub latency: Duration,
    /// Probability of answering 429 with `Retry-After: retry_after_secs`.
    pub p429: f64,
    /// The `Retry-After` seconds of random 429s.
    pub retry_after_secs: u64,
    /// Probability of answering 503.
    pub p5xx: f64,
    /// Probability of answering 200 with a truncated JSON body.
    pub pmalformed: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            p429: 0.0,
            retry_after_secs: 1,
            p5xx: 0.0,
            pmalformed: 0.0,
        }
    }
}

impl Faults {
    /// Checks that each probability is within `[0, 1]` and that together they are at most 1.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let probabilities = [
            ("p429", self.p429),
            ("p5xx", self.p5xx),
            ("pmalformed", self.pmalformed),
        ];
        for (name, value) in probabilities {
            if !(0.0..=1.0).contains(&value) {
                return Err(InvalidConfig(format!(
                    "{name} must be a probability between 0 and 1, got {value}"
                )));
            }
        }
        let sum = self.p429 + self.p5xx + self.pmalformed;
        if sum > 1.0 + 1e-9 {
            return Err(InvalidConfig(format!(
                "p429 + p5xx + pmalformed must be at most 1 (they are outcomes of one draw), got {sum}"
            )));
        }
        Ok(())
    }

    /// Whether any random fault can happen (latency aside).
    pub(crate) fn any_random(&self) -> bool {
        self.p429 > 0.0 || self.p5xx > 0.0 || self.pmalformed > 0.0
    }
}

/// One fault for exactly one upcoming data request. Scripted faults are served first-in,
/// first-out, before any random fault is drawn, so a test can say "the next three requests get
/// 503, 429 and a malformed body" without sleeps or probabilities.
///
/// As JSON (for `POST /_admin/script`): `{"kind": "status", "status": 503}`,
/// `{"kind": "status", "status": 429, "retry_after_secs": 2}`, `{"kind": "malformed"}`,
/// `{"kind": "hang", "ms": 1500}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScriptedFault {
    /// Answer with this HTTP status and an error body (`{"error": {"code": .., ..}}`).
    Status {
        /// The status to answer with, such as 400, 401, 429, 500 or 503.
        status: u16,
        /// Sent as `Retry-After` when present (meaningful with 429 and 503).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
    },
    /// Answer 200 with a truncated, unparseable JSON body.
    Malformed,
    /// Wait this long, then answer normally (lets a client's timeout fire first).
    Hang {
        /// How long to wait before answering.
        #[serde(rename = "ms", with = "duration_ms")]
        duration: Duration,
    },
}

impl ScriptedFault {
    /// A bare status fault, such as `ScriptedFault::status(503)`.
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            retry_after_secs: None,
        }
    }

    /// A 429 carrying `Retry-After: retry_after_secs`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::Status {
            status: 429,
            retry_after_secs: Some(retry_after_secs),
        }
    }

    /// Wait `duration`, then answer normally.
    pub fn hang(duration: Duration) -> Self {
        Self::Hang { duration }
    }
}

/// The per-tenant request budget: `limit` requests per fixed `window`, reported on every data
/// response as `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds
/// until the window refills). Only when `enforce` is set does an exhausted budget answer 429.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateBudget {
    /// Requests allowed per window and tenant.
    pub limit: u64,
    /// Length of one budget window.
    pub window: Duration,
    /// Answer 429 (with `Retry-After` = seconds to the refill) once the budget is spent.
    pub enforce: bool,
}

impl Default for RateBudget {
    /// 6,000 requests a minute, advertised but not enforced: plausible numbers for a client to
    /// parse, high enough that the benchmark never trips over them.
    fn default() -> Self {
        Self {
            limit: 6_000,
            window: Duration::from_secs(60),
            enforce: false,
        }
    }
}

impl RateBudget {
    fn validate(&self) -> Result<(), InvalidConfig> {
        if self.limit == 0 {
            return Err(InvalidConfig("rate budget limit must be at least 1".into()));
        }
        if self.window < Duration::from_millis(1) {
            return Err(InvalidConfig(
                "rate budget window must be at least 1 ms".into(),
            ));
        }
        Ok(())
    }
}

/// Serializes a `Duration` as whole milliseconds, the unit of every duration on the admin API.
pub(crate) mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_refuse_out_of_range_probabilities() {
        let faults = Faults {
            p429: 1.5,
            ..Faults::default()
        };
        assert!(faults.validate().unwrap_err().to_string().contains("p429"));
        let faults = Faults {
            p429: 0.6,
            p5xx: 0.6,
            ..Faults::default()
        };
        assert!(faults
            .validate()
            .unwrap_err()
            .to_string()
            .contains("at most 1"));
        let faults = Faults {
            pmalformed: f64::NAN,
            ..Faults::default()
        };
        assert!(faults.validate().is_err());
    }

    #[test]
    fn faults_and_scripts_read_the_admin_json() {
        let faults: Faults = serde_json::from_str(r#"{"latency_ms": 25, "p5xx": 0.1}"#).unwrap();
        assert_eq!(faults.latency, Duration::from_millis(25));
        assert_eq!(faults.p5xx, 0.1);
        assert_eq!(faults.retry_after_secs, 1);
        assert!(serde_json::from_str::<Faults>(r#"{"p_429": 0.1}"#).is_err());

        let script: Vec<ScriptedFault> = serde_json::from_str(
            r#"[{"kind":"status","status":503},{"kind":"status","status":429,"retry_after_secs":2},
                {"kind":"malformed"},{"kind":"hang","ms":1500}]"#,
        )
        .unwrap();
        assert_eq!(
            script,
            vec![
                ScriptedFault::status(503),
                ScriptedFault::rate_limited(2),
                ScriptedFault::Malformed,
                ScriptedFault::hang(Duration::from_millis(1500)),
            ]
        );
    }

    #[test]
    fn orders_need_customers_and_products() {
        assert!(ShopConfig::default().validate().is_ok());
        assert!(ShopConfig::with_volume(0, 0, 0).validate().is_ok());
        assert!(ShopConfig::with_volume(10, 0, 5).validate().is_err());
    }
}
