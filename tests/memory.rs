//! The conformance suite on the embedded memory store.

mod conformance;
mod support;

use actix_typed_session::store::MemoryStore;

conformance_suite!(MemoryStore::default());
