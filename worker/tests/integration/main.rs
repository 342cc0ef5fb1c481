//! Integration tests of the worker against the real RabbitMQ and PostgreSQL started by
//! `ops/dev test`. Each test gets a fresh database and fresh queue names; the only thing mocked
//! is the external API (the demo shop, in-process).

mod bad_input;
mod bad_input_matrix;
mod checker;
mod cluster;
mod connectors_e2e;
mod faults;
mod faults_under_load;
mod helpers;
mod ingestion;
mod lifecycle;
mod limits;
mod misbehaving;
mod own_cluster;
mod own_stack;
mod pauses;
mod reconcile;
