//! What every long-running Tributary process shares (the worker today; queue-admin and the
//! scheduler next), so they read the same settings, log and count the same way, answer the
//! same health probes, and archive dead letters with one implementation.
//!
//! Code map: [`config`] (the `amqp`, `database` and `log` sections, `Secret`, the layering of
//! defaults, file and environment), [`telemetry`] (logging, the Prometheus recorder, shared
//! events), [`ops_http`] (`/livez`, `/readyz`, `/metrics`), [`archiver`] (the broker's dead
//! queue into the `dead_letters` table).
//!
//! Depends on the broker and the store crates; knows no connector implementation and no
//! process's own settings or job logic.

pub mod archiver;
pub mod config;
pub mod ops_http;
pub mod telemetry;

pub use config::{
    parse_duration, AmqpSettings, AmqpUrls, DatabaseSettings, InvalidSettings, LogFormat,
    LogSettings, Secret,
};
pub use ops_http::Health;
