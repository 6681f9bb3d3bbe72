//! Not an example: the examples that tests drive over HTTP (`shop`, `devices`, `api`, `dbsc`
//! and `custom_store`), compiled together as the modules of one small library, `examples` (the
//! suite's, unpublished), so that the tests use their routes and their store
//! (`examples::shop::routes`, `examples::custom_store::MapStore`) as they are, without a copy.
//!
//! Each of them stays a complete program, run with `cargo run --example shop`; its `main` runs
//! only there.

#[allow(dead_code)] // `main`, and what only `main` uses, runs only as the example
pub mod api;
#[allow(dead_code)]
pub mod custom_store;
#[allow(dead_code)]
pub mod dbsc;
#[allow(dead_code)]
pub mod devices;
#[allow(dead_code)]
pub mod shop;
