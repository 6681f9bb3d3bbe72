//! The middleware over HTTP, in what is not one store's: its core behaviour (laziness, cookies,
//! headers, states, errors), typed sessions, CSRF, flash messages, logging, the session from
//! middleware (`SessionExt`) and `Session::update`, the OWASP checklist
//! (on every store where an item applies) and the property tests of every decode path
//! (`hardening`), and the examples that tests drive (`shop`, `shop_helpers`, `devices`, `api`,
//! through the library of examples/lib.rs), and actix-session 0.11's own examples and tests,
//! ported (`ported`).
//!
//! One binary rather than one per file, so that it links once. No test here installs a global
//! `tracing` subscriber (logs are captured per thread, `support::capture_logs`) or allocator: a
//! test that needs one gets a binary of its own (`tests/workers.rs`, `tests/alloc_count.rs`).

mod api;
mod cookie_and_bearer;
mod core;
mod csrf;
mod dbsc;
mod device;
mod devices;
mod events;
mod flash;
mod hardening;
mod logging;
mod migrate;
mod owasp;
mod ported;
mod ported_ext;
mod refresh;
mod remember;
mod rotation;
mod session_ext;
mod shop;
mod shop_helpers;
mod step_up;
// `typed::generic_handler` is `pub(crate)` on purpose (the attribute keeps a handler's
// visibility); inside a module its private `Cart` is then more private than the handler.
#[allow(private_interfaces)]
mod typed;
