//! The store written by hand in `examples/custom_store.rs` passes the whole conformance suite,
//! the user cases included.

use examples::custom_store;

actix_typed_session::conformance_suite!(custom_store::MapStore::default());
