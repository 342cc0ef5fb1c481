//! The Tributary worker: a stateless RabbitMQ consumer that runs pull jobs through connectors
//! and lands their records in PostgreSQL exactly once. `main.rs` is a thin CLI over this crate.
//!
//! Code map: [`config`] (settings), [`app`] (build, consume loop, shutdown), [`handler`] (one
//! delivery → one [`handler::Outcome`]), [`pull`] (the page loop), [`reconcile`] (reconcile jobs: compare, repair, report), [`acker`] (batched settling),
//! [`telemetry`] (logs + metrics), [`connectors`] (the registry), [`enqueue`] and [`demo`]
//! (publishing jobs from the CLI), [`fault`] (test-only crash points, inert unless armed). What every process shares (the `amqp`, `database` and `log`
//! settings, logging and the metrics recorder, the health endpoints, the dead-letter archiver)
//! is in `tributary_runtime`.

pub mod acker;
pub mod app;
pub mod config;
pub mod connectors;
pub mod demo;
pub mod enqueue;
pub mod fault;
pub mod handler;
pub mod limits;
pub mod pull;
pub mod reconcile;
pub mod telemetry;

pub use app::Worker;
pub use config::Settings;
pub use handler::Outcome;
