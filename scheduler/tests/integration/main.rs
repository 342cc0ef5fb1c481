//! Integration tests of the scheduler against the real RabbitMQ and PostgreSQL started by
//! `ops/dev test`. Each test gets a fresh database and fresh queue names; replicas run
//! in-process, and the work queue is read by a test consumer (or a stand-in worker that moves
//! jobs through the ledger).

mod catch_up;
mod crash;
mod exactly_once;
mod helpers;
mod manage;
mod overlap;
mod pause;
mod refused;
