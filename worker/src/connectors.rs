//! The one explicit list of connectors this worker is built with. Adding a source means adding
//! its crate to `Cargo.toml` and one line here.

use tributary_connector::Registry;

/// Every connector kind this binary can run.
pub fn registry() -> Registry {
    Registry::new(vec![tributary_connector_demo::spec()])
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_the_demo_connector() {
        assert_eq!(super::registry().kinds(), ["demo"]);
    }
}
