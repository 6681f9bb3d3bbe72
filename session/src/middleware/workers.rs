//! The check that every worker of a server holds the same [`MemoryStore`].
//!
//! actix-web builds the app once per worker thread, by calling the `HttpServer::new` factory on
//! each. A `MemoryStore::default()` written inside that factory gives every worker a store of
//! its own: a visitor's next connection lands on another worker, whose store has never heard
//! of the session, and every session is lost without an error. When a worker sets up a
//! middleware whose memory store differs from the one another worker of the same actix
//! `System` set up under the same cookie (or header) name, this logs a warning with the fix.
//!
//! [`MemoryStore`]: crate::store::MemoryStore

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::thread::ThreadId;

use crate::ctx::Ctx;

/// What one (system, value name) pair has seen: the first store and the thread that set it up.
struct Seen {
    store: usize,
    thread: ThreadId,
    warned: bool,
}

type Registry = Mutex<HashMap<(Option<usize>, String), Seen>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

/// Called when a worker sets the middleware up (`Transform::new_transform`).
pub(crate) fn check(ctx: &Ctx) {
    let Some(store) = ctx.process_local else {
        return;
    };
    // Workers of one server are arbiters of one actix System; separate Systems (a test each)
    // may well use separate stores.
    let system = actix_rt::System::try_current().map(|s| s.id());
    let name = ctx.config.state.name();
    let thread = std::thread::current().id();
    let mut seen = registry().lock().unwrap_or_else(|p| p.into_inner());
    let entry = seen.entry((system, name.to_owned())).or_insert(Seen {
        store,
        thread,
        warned: false,
    });
    if entry.store != store && entry.thread != thread && !entry.warned {
        entry.warned = true;
        tracing::warn!(
            session_value = name,
            "each worker holds its own MemoryStore for the session value {name:?}: a visitor's \
             next connection can land on another worker, which does not know the session, so \
             sessions are lost. Build the store (or the whole SessionMiddleware) once, before \
             HttpServer::new, and clone it into the factory: \
             `let store = MemoryStore::default(); HttpServer::new(move || \
             App::new().wrap(SessionMiddleware::new(store.clone())))`"
        );
    }
}
