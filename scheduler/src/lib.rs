//! The Tributary scheduler: turns schedules (cron or interval, in a time zone, with jitter, an
//! overlap policy and a catch-up window) into jobs, each due slot exactly once however many
//! replicas run, through an outbox so that a crash between the commit and the publish loses
//! nothing.
//!
//! Code map: [`cadence`] (cron and interval arithmetic, jitter, spans: pure), [`planner`] (the
//! store's `SlotPlanner`: the catch-up rule, the job a slot becomes, backfill windows),
//! [`config`] (the `[scheduler]` section beside the shared ones), [`app`] (build, the tick loop
//! and the relay loop, the ops endpoint), [`relay`] (one round of the outbox relay),
//! [`telemetry`] (every scheduler event logs and counts in one place), [`cli`] (the
//! `schedules` commands).
//!
//! The SQL lives in `tributary-store` (`schedules`), the AMQP in `tributary-broker`; this crate
//! knows what a slot is and when it is due, not how either is stored or sent. It knows no
//! connector implementation: a schedule names its connector kind, and the workers that run it
//! declare its queue.

pub mod app;
pub mod cadence;
pub mod cli;
pub mod config;
pub mod planner;
pub mod relay;
pub mod telemetry;

pub use app::Scheduler;
pub use planner::Planner;
