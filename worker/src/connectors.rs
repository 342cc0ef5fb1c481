//! The one explicit list of connectors this worker is built with. Adding a source means adding
//! its crate to `Cargo.toml` and one line here.

use tributary_connector::Registry;

/// Every connector kind this binary can run.
pub fn registry() -> Registry {
    Registry::new(vec![
        tributary_connector_demo::spec(),
        tributary_connector_stripe::spec(),
        tributary_connector_shopify::spec(),
        tributary_connector_woocommerce::spec(),
        tributary_connector_generic_http::spec(),
        tributary_connector_postgres::spec(),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_every_connector() {
        assert_eq!(
            super::registry().kinds(),
            [
                "demo",
                "stripe",
                "shopify",
                "woocommerce",
                "http_json",
                "postgres"
            ]
        );
    }
}
