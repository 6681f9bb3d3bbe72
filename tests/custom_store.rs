//! The store written by hand in `examples/custom_store.rs` passes the whole conformance suite,
//! the user cases included.

#[allow(dead_code)] // its `main` runs the server; the tests use its store
#[path = "../examples/custom_store.rs"]
mod custom_store;

actix_typed_session::conformance_suite!(custom_store::MapStore::default());
