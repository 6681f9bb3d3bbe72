//! A session store written by hand, between the markers: the three methods every store needs
//! (`SessionStore`: about thirty lines), then the optional capability of the user index
//! (`Sessions`): the `UserIndex` trait's three methods, and `user_index` to hand it out.
//! `touch` and `change_id` keep the trait's defaults, built from the three: the default
//! `change_id` (a login's new id) is safe against a logout or revocation that lands meanwhile;
//! a store that can move a record in one step (a rename under its lock) overrides it to also
//! keep concurrent changes to other keys. Records live in a `HashMap` behind a lock and are
//! keyed by a hash of the id, as every server-side store should. `tests/stores/custom_store.rs`
//! runs the whole conformance suite on it.
//!
//! ```text
//! cargo run --example custom_store
//! ```

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix_typed_session::store::{
    Changes, Fetch, Handle, IndexRef, Loaded, Meta, Record, SessionStore, UserIndex, UserKey,
};
use actix_typed_session::{Session, SessionError, SessionId, SessionMiddleware, StoreError};
use actix_web::{web, App, HttpServer};

// --- the store ---------------------------------------------------------------------------
/// Keeps every session in one map, as whole records: a load returns all of it (whatever keys
/// it asks for), a save applies the per-key changes to the stored record.
#[derive(Clone, Default)]
pub struct MapStore(Arc<RwLock<HashMap<String, Record>>>);

impl SessionStore for MapStore {
    async fn load(&self, id: &SessionId, _: Fetch<'_>) -> Result<Option<Loaded>, StoreError> {
        let map = self
            .0
            .read()
            .map_err(|_| StoreError::msg("lock poisoned"))?;
        Ok(map.get(&id.store_key()).cloned().map(Loaded::whole))
    }

    async fn save(&self, id: &SessionId, meta: &Meta, changes: &Changes) -> Result<(), StoreError> {
        let mut map = self
            .0
            .write()
            .map_err(|_| StoreError::msg("lock poisoned"))?;
        let key = id.store_key();
        // An update must not bring back a session that was deleted meanwhile.
        if changes.created {
            map.insert(key.clone(), Record::new(meta.clone()));
        }
        if let Some(record) = map.get_mut(&key) {
            changes.apply(&mut record.data);
            record.meta = meta.clone();
        }
        Ok(())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let mut map = self
            .0
            .write()
            .map_err(|_| StoreError::msg("lock poisoned"))?;
        map.remove(&id.store_key());
        Ok(())
    }

    // Optional: the user index (`Sessions::of_user`, `revoke`, log out everywhere), below.
    // Without it the store still works and `Sessions` answers `SessionError::Unsupported`.
    /// It keeps the user index, so `Sessions` and `max_sessions_per_user` work.
    fn user_index(&self) -> Option<IndexRef<'_>> {
        Some(IndexRef::of(self))
    }
}

// This map scans its records; a store with many sessions keeps an index by user.
impl UserIndex for MapStore {
    async fn user_sessions(&self, user: &UserKey) -> Result<Vec<Record>, StoreError> {
        let map = self
            .0
            .read()
            .map_err(|_| StoreError::msg("lock poisoned"))?;
        Ok(map.values().filter(|r| tied(r, user)).cloned().collect())
    }

    async fn revoke(&self, user: &UserKey, handle: &Handle) -> Result<bool, StoreError> {
        let mut map = self
            .0
            .write()
            .map_err(|_| StoreError::msg("lock poisoned"))?;
        let before = map.len();
        map.retain(|_, r| {
            !(tied(r, user) && r.meta.user.as_ref().is_some_and(|u| u.handle == *handle))
        });
        Ok(map.len() < before)
    }

    async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> Result<usize, StoreError> {
        let mut map = self
            .0
            .write()
            .map_err(|_| StoreError::msg("lock poisoned"))?;
        let before = map.len();
        map.retain(|_, r| !tied(r, user) || r.meta.user.as_ref().map(|u| &u.handle) == except);
        Ok(before - map.len())
    }
}

/// Whether `record` is a session of `user`.
fn tied(record: &Record, user: &UserKey) -> bool {
    record.meta.user.as_ref().is_some_and(|u| u.key == *user)
}
// --- end of the store --------------------------------------------------------------------

async fn visits(session: Session) -> Result<String, SessionError> {
    let n: u64 = session.get("visits")?.unwrap_or(0) + 1;
    session.set("visits", n)?;
    Ok(format!("visit number {n}\n"))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // The session layer reports through `tracing` (a tampered cookie, a store that fails): show
    // its events on the terminal.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let store = MapStore::default();
    println!("custom_store example listening on http://127.0.0.1:8080/");
    HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/", web::get().to(visits))
    })
    .bind(("127.0.0.1", 8080))?
    .run()
    .await
}
