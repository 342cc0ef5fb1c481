//! The registry: an explicit list of connector kinds and how to build each from its settings.

use crate::{Connector, ConnectorKind};
use std::sync::Arc;

/// Why a connector's settings were refused. Says which field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid settings for connector `{kind}`: {message}")]
pub struct ConfigError {
    /// The connector kind whose settings were refused.
    pub kind: String,
    /// What is wrong, naming the field.
    pub message: String,
}

/// Builds a connector from its JSON settings (validated by the factory).
pub type ConnectorFactory = fn(&serde_json::Value) -> Result<Arc<dyn Connector>, ConfigError>;

/// One entry of the registry.
#[derive(Debug, Clone, Copy)]
pub struct ConnectorSpec {
    /// The kind name, as used in jobs, config and queue names.
    pub kind: &'static str,
    /// One line for `--help` output and error messages.
    pub description: &'static str,
    /// Builds an instance from its settings.
    pub build: ConnectorFactory,
}

/// Why the registry could not build a connector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No connector of that kind is registered.
    #[error("unknown connector kind `{kind}`; known kinds: {}", known.join(", "))]
    UnknownKind {
        /// What was asked for.
        kind: String,
        /// What exists.
        known: Vec<String>,
    },
    /// The connector refused its settings.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The connectors a binary was built with. Built by one explicit function in the worker, so the
/// list is greppable and a missing registration is a compile-time decision, not link-order luck.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    specs: Vec<ConnectorSpec>,
}

impl Registry {
    /// A registry of exactly these connectors.
    ///
    /// # Panics
    /// If two specs share a kind or a kind is not a valid [`ConnectorKind`]: that is a
    /// programming error in the one function that lists connectors, caught by its unit test.
    pub fn new(specs: Vec<ConnectorSpec>) -> Self {
        for (index, spec) in specs.iter().enumerate() {
            assert!(
                ConnectorKind::new(spec.kind).is_ok(),
                "connector kind {:?} is not a valid kind",
                spec.kind
            );
            assert!(
                !specs[..index].iter().any(|other| other.kind == spec.kind),
                "connector kind {:?} registered twice",
                spec.kind
            );
        }
        Self { specs }
    }

    /// This registry plus one more connector (tests add misbehaving ones).
    ///
    /// # Panics
    /// As [`Registry::new`], if the kind is invalid or already registered.
    pub fn with(self, spec: ConnectorSpec) -> Self {
        let mut specs = self.specs;
        specs.push(spec);
        Self::new(specs)
    }

    /// The registered kinds, in registration order.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.specs.iter().map(|spec| spec.kind).collect()
    }

    /// The spec of one kind.
    pub fn get(&self, kind: &str) -> Result<&ConnectorSpec, RegistryError> {
        self.specs
            .iter()
            .find(|spec| spec.kind == kind)
            .ok_or_else(|| RegistryError::UnknownKind {
                kind: kind.to_owned(),
                known: self.kinds().into_iter().map(str::to_owned).collect(),
            })
    }

    /// Builds a connector of `kind` from `settings`.
    pub fn build(
        &self,
        kind: &str,
        settings: &serde_json::Value,
    ) -> Result<Arc<dyn Connector>, RegistryError> {
        let spec = self.get(kind)?;
        Ok((spec.build)(settings)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refuse(_: &serde_json::Value) -> Result<Arc<dyn Connector>, ConfigError> {
        Err(ConfigError {
            kind: "stub".into(),
            message: "field `base_url`: missing".into(),
        })
    }

    #[test]
    fn unknown_kind_lists_the_known_ones() {
        let registry = Registry::new(vec![
            ConnectorSpec {
                kind: "stub",
                description: "",
                build: refuse,
            },
            ConnectorSpec {
                kind: "other",
                description: "",
                build: refuse,
            },
        ]);
        let err = registry
            .build("shopify", &serde_json::json!({}))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown connector kind `shopify`; known kinds: stub, other"
        );
        let err = registry.build("stub", &serde_json::json!({})).unwrap_err();
        assert!(err.to_string().contains("field `base_url`"), "{err}");
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn duplicate_kinds_are_refused() {
        let spec = ConnectorSpec {
            kind: "stub",
            description: "",
            build: refuse,
        };
        Registry::new(vec![spec, spec]);
    }
}
