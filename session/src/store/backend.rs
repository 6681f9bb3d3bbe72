//! The store a middleware holds, as the kind it is: decided once, when the middleware is built,
//! so that no request asks again whether its session lives on the server or in the client's
//! value.

use super::{
    Changes, DynStore, Fetch, Handle, Loaded, Meta, Record, SessionStore, StoreFuture, UserKey,
};
use crate::error::StoreError;
use crate::id::SessionId;

/// The middleware's store.
pub(crate) enum Backend {
    /// The session lives on the server; the client holds its id.
    Server(Box<dyn DynStore>),
    /// The whole session travels sealed in the client's value; nothing is kept on the server.
    Client(Box<dyn DynStore>),
}

impl Backend {
    /// `store`, by its kind.
    pub(crate) fn new<S: SessionStore>(store: S) -> Self {
        if store.client_side() {
            Backend::Client(Box::new(store))
        } else {
            Backend::Server(Box::new(store))
        }
    }

    /// Whether the session travels in the client's value.
    pub(crate) fn client_side(&self) -> bool {
        matches!(self, Backend::Client(_))
    }

    /// The session `id` with the values `fetch` asks for (a client-side store keeps nothing to
    /// load).
    pub(crate) fn load<'a>(
        &'a self,
        id: &'a SessionId,
        fetch: Fetch<'a>,
    ) -> StoreFuture<'a, Option<Loaded>> {
        match self {
            Backend::Server(store) => store.load(id, fetch),
            Backend::Client(_) => Box::pin(async { Ok(None) }),
        }
    }

    /// Saves `changes` under `id` (nothing to do for a client-side store: the client's value
    /// is the session).
    pub(crate) async fn save(
        &self,
        id: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> Result<(), StoreError> {
        match self {
            Backend::Server(store) => store.save(id, meta, changes).await,
            Backend::Client(_) => Ok(()),
        }
    }

    /// Pushes the expiry of `id` forward.
    pub(crate) async fn touch(&self, id: &SessionId, meta: &Meta) -> Result<(), StoreError> {
        match self {
            Backend::Server(store) => store.touch(id, meta).await,
            Backend::Client(_) => Ok(()),
        }
    }

    /// Forgets `id`.
    pub(crate) async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        match self {
            Backend::Server(store) => store.delete(id).await,
            Backend::Client(_) => Ok(()),
        }
    }

    /// Moves the live session `old` to `new` (see `SessionStore::change_id`); a client-side
    /// store has nothing to move.
    pub(crate) async fn change_id(
        &self,
        old: &SessionId,
        new: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> Result<bool, StoreError> {
        match self {
            Backend::Server(store) => store.change_id(old, new, meta, changes).await,
            Backend::Client(_) => Ok(true),
        }
    }

    pub(crate) fn store(&self) -> &dyn DynStore {
        match self {
            Backend::Server(store) | Backend::Client(store) => &**store,
        }
    }

    /// The user index: `user`'s live sessions.
    pub(crate) async fn user_sessions(&self, user: &UserKey) -> Result<Vec<Record>, StoreError> {
        self.store().user_sessions(user).await
    }

    /// The user index: ends `user`'s session `handle`.
    pub(crate) async fn revoke(&self, user: &UserKey, handle: &Handle) -> Result<bool, StoreError> {
        self.store().revoke(user, handle).await
    }

    /// Ends `user`'s sessions but `except`.
    pub(crate) async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> Result<usize, StoreError> {
        self.store().revoke_all(user, except).await
    }
}
