//! The stores, one module per store: each runs the conformance suite
//! (`actix_typed_session::conformance_suite!`) and the tests of its own behaviour, against a real
//! server where the store has one (redis-server, a Redis Cluster, PostgreSQL, started by
//! `support`); plus the codecs on several stores and the stores' failures (`faults`: Redis
//! killed, a full and a read-only disk).
//!
//! One binary rather than one per store, so that it links once. `sqlite` installs this
//! process's global `tracing` subscriber (in `statements_per_request_by_the_query_log`: sqlx logs
//! on threads of its own), which counts only its own table's statements; so no other test here
//! may install one. A test that needs a global subscriber or allocator of its own gets a binary
//! of its own (`tests/workers.rs`, `tests/alloc_count.rs`).

mod codecs;
mod cookie_store;
mod custom_store;
mod faults;
mod file;
mod memory;
mod null;
mod postgres;
mod redis;
mod redis_cached;
mod redis_cluster;
mod sqlite;
mod write_counts;
