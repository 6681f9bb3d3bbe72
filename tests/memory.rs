//! The conformance suite on the embedded memory store.

mod support;

use actix_typed_session::store::MemoryStore;

actix_typed_session::conformance_suite!(MemoryStore::default());
