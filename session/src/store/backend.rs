//! The store a middleware holds, as the kind it is: decided once, when the middleware is built,
//! so that no request asks again whether its session lives on the server or in the client's
//! value.

use super::client::DynClient;
use super::server::DynStore;
use super::{
    Changes, ClientSide, ClientStore, Fetch, Handle, Loaded, MemoryStore, Meta, Record,
    SessionStore, UserKey,
};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::telemetry::{timed, Op};

/// The middleware's store.
pub(crate) enum Backend {
    /// The session lives on the server; the client holds its id.
    Server(ServerStore),
    /// The whole session travels sealed in the client's value; nothing is kept on the server.
    Client(Box<dyn DynClient>),
}

/// A store of either kind, borrowed (for the test helpers).
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "test-helpers"), allow(dead_code))]
pub(crate) enum BackendRef<'a> {
    /// See [`Backend::Server`].
    Server(&'a dyn DynStore),
    /// See [`Backend::Client`].
    Client(&'a dyn DynClient),
}

/// A store of either kind, as [`SessionMiddleware::new`](crate::SessionMiddleware::new) and its
/// builder take it: every [`SessionStore`] (server side), the
/// [`CookieStore`](super::CookieStore), and any other [`ClientStore`] wrapped in
/// [`ClientSide`]. Implemented by this crate only.
#[allow(private_interfaces)] // what it turns into is the middleware's business
pub trait IntoBackend: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_backend(self) -> Backend
    where
        Self: Sized;
    #[doc(hidden)]
    fn as_backend(&self) -> BackendRef<'_>;
}

#[allow(private_interfaces)] // see the trait
impl<S: SessionStore> IntoBackend for S {
    fn into_backend(self) -> Backend {
        // The embedded default is called directly (no boxed future per call); any other store
        // through the object-safe layer.
        if let Some(memory) = (&self as &dyn std::any::Any).downcast_ref::<MemoryStore>() {
            return Backend::Server(ServerStore::Memory(memory.clone()));
        }
        Backend::Server(ServerStore::Dyn(Box::new(self)))
    }
    fn as_backend(&self) -> BackendRef<'_> {
        BackendRef::Server(self)
    }
}

#[allow(private_interfaces)] // see the trait
impl<C: ClientStore> IntoBackend for ClientSide<C> {
    fn into_backend(self) -> Backend {
        Backend::Client(Box::new(self.0))
    }
    fn as_backend(&self) -> BackendRef<'_> {
        BackendRef::Client(&self.0)
    }
}

impl Backend {
    /// Whether the session travels in the client's value.
    pub(crate) fn client_side(&self) -> bool {
        matches!(self, Backend::Client(_))
    }

    /// The same store, borrowed.
    #[cfg_attr(not(feature = "test-helpers"), allow(dead_code))]
    pub(crate) fn as_ref(&self) -> BackendRef<'_> {
        match self {
            Backend::Server(ServerStore::Memory(store)) => BackendRef::Server(store),
            Backend::Server(ServerStore::Dyn(store)) => BackendRef::Server(&**store),
            Backend::Client(store) => BackendRef::Client(&**store),
        }
    }

    /// The session `id` with the values `fetch` asks for (a client-side store keeps nothing to
    /// load).
    pub(crate) async fn load(
        &self,
        id: &SessionId,
        fetch: Fetch<'_>,
    ) -> Result<Option<Loaded>, StoreError> {
        match self {
            Backend::Server(store) => timed(Op::Load, store.load(id, fetch)).await,
            Backend::Client(_) => Ok(None),
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
            Backend::Server(store) => timed(Op::Save, store.save(id, meta, changes)).await,
            Backend::Client(_) => Ok(()),
        }
    }

    /// Pushes the expiry of `id` forward.
    pub(crate) async fn touch(&self, id: &SessionId, meta: &Meta) -> Result<(), StoreError> {
        match self {
            Backend::Server(store) => timed(Op::Touch, store.touch(id, meta)).await,
            Backend::Client(_) => Ok(()),
        }
    }

    /// Forgets `id`.
    pub(crate) async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        match self {
            Backend::Server(store) => timed(Op::Delete, store.delete(id)).await,
            Backend::Client(_) => Ok(()),
        }
    }

    /// Moves the live session `old` to `new` (see [`SessionStore::change_id`]); a client-side
    /// store has nothing to move.
    pub(crate) async fn change_id(
        &self,
        old: &SessionId,
        new: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> Result<bool, StoreError> {
        match self {
            Backend::Server(store) => {
                timed(Op::ChangeId, store.change_id(old, new, meta, changes)).await
            }
            Backend::Client(_) => Ok(true),
        }
    }

    /// Whether the store keeps the user index.
    pub(crate) fn lists_users(&self) -> bool {
        match self {
            Backend::Server(store) => store.user_index().is_some(),
            Backend::Client(_) => false,
        }
    }

    /// The user index: `user`'s live sessions.
    pub(crate) async fn user_sessions(&self, user: &UserKey) -> Result<Vec<Record>, StoreError> {
        match self.index("list a user's sessions")? {
            Some(index) => timed(Op::List, index.user_sessions(user)).await,
            None => Ok(Vec::new()),
        }
    }

    /// The user index: ends `user`'s session `handle`.
    pub(crate) async fn revoke(&self, user: &UserKey, handle: &Handle) -> Result<bool, StoreError> {
        match self.index("revoke a session by its handle")? {
            Some(index) => timed(Op::Revoke, index.revoke(user, handle)).await,
            None => Ok(false),
        }
    }

    /// Ends `user`'s sessions but `except`: through the user index, or the client-side store's
    /// own revocations.
    pub(crate) async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> Result<usize, StoreError> {
        match self {
            Backend::Client(store) => timed(Op::RevokeAll, store.revoke_all(user, except)).await,
            Backend::Server(_) => match self.index("revoke a user's sessions")? {
                Some(index) => timed(Op::RevokeAll, index.revoke_all(user, except)).await,
                None => Ok(0),
            },
        }
    }

    /// The server-side store's index, or an "unsupported" error naming `what`.
    fn index(&self, what: &'static str) -> Result<Option<super::IndexRef<'_>>, StoreError> {
        match self {
            Backend::Server(store) => match store.user_index() {
                Some(index) => Ok(Some(index)),
                None => Err(StoreError::unsupported(what)),
            },
            Backend::Client(_) => Err(StoreError::unsupported(what)),
        }
    }
}

/// A server-side store as the middleware holds it: the memory store itself (the embedded
/// default, called without a boxed future), or any other through the object-safe layer.
pub(crate) enum ServerStore {
    /// [`MemoryStore`], called directly.
    Memory(MemoryStore),
    /// Any other [`SessionStore`].
    Dyn(Box<dyn DynStore>),
}

impl ServerStore {
    pub(crate) async fn load(
        &self,
        id: &SessionId,
        fetch: Fetch<'_>,
    ) -> Result<Option<Loaded>, StoreError> {
        match self {
            ServerStore::Memory(store) => SessionStore::load(store, id, fetch).await,
            ServerStore::Dyn(store) => store.load(id, fetch).await,
        }
    }

    pub(crate) async fn save(
        &self,
        id: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> Result<(), StoreError> {
        match self {
            ServerStore::Memory(store) => SessionStore::save(store, id, meta, changes).await,
            ServerStore::Dyn(store) => store.save(id, meta, changes).await,
        }
    }

    pub(crate) async fn touch(&self, id: &SessionId, meta: &Meta) -> Result<(), StoreError> {
        match self {
            ServerStore::Memory(store) => SessionStore::touch(store, id, meta).await,
            ServerStore::Dyn(store) => store.touch(id, meta).await,
        }
    }

    pub(crate) async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        match self {
            ServerStore::Memory(store) => SessionStore::delete(store, id).await,
            ServerStore::Dyn(store) => store.delete(id).await,
        }
    }

    pub(crate) async fn change_id(
        &self,
        old: &SessionId,
        new: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> Result<bool, StoreError> {
        match self {
            ServerStore::Memory(store) => {
                SessionStore::change_id(store, old, new, meta, changes).await
            }
            ServerStore::Dyn(store) => store.change_id(old, new, meta, changes).await,
        }
    }

    pub(crate) fn user_index(&self) -> Option<super::IndexRef<'_>> {
        match self {
            ServerStore::Memory(store) => SessionStore::user_index(store),
            ServerStore::Dyn(store) => store.user_index(),
        }
    }
}
