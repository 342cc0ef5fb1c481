//! The state every handler and background task shares: settings, the store, the publisher for
//! replays, the topology's names, the broker's management API, and the wake-up for the replay
//! publisher.

use crate::config::Settings;
use crate::management::ManagementClient;
use std::sync::Arc;
use tokio::sync::Notify;
use tributary_broker::{Publisher, Topology};
use tributary_store::Store;

/// Cheap to clone: everything sits behind one `Arc`.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    settings: Settings,
    store: Store,
    publisher: Publisher,
    topology: Topology,
    management: Option<ManagementClient>,
    replay_wakeup: Notify,
    login_limiter: crate::auth::login::LoginLimiter,
}

impl AppState {
    /// Assembles the state. Connects nothing: the store and publisher connect lazily.
    pub fn new(
        settings: Settings,
        store: Store,
        publisher: Publisher,
        topology: Topology,
    ) -> anyhow::Result<Self> {
        let management = ManagementClient::from_settings(&settings.amqp)?;
        let login_limiter =
            crate::auth::login::LoginLimiter::new(settings.admin.login_attempts_per_minute);
        Ok(Self(Arc::new(Inner {
            settings,
            store,
            publisher,
            topology,
            management,
            replay_wakeup: Notify::new(),
            login_limiter,
        })))
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The publisher replays go out through (confirmed, mandatory).
    pub fn publisher(&self) -> &Publisher {
        &self.0.publisher
    }

    /// Exchange and queue names.
    pub fn topology(&self) -> &Topology {
        &self.0.topology
    }

    /// The broker's management API, when configured.
    pub fn management(&self) -> Option<&ManagementClient> {
        self.0.management.as_ref()
    }

    /// Wakes the replay publisher (after new replays were committed).
    pub fn replay_wakeup(&self) -> &Notify {
        &self.0.replay_wakeup
    }

    /// Failed-login limiter.
    pub fn login_limiter(&self) -> &crate::auth::login::LoginLimiter {
        &self.0.login_limiter
    }
}
