//! [`SessionStore`]: a store that keeps sessions on the server (the client holds only the id),
//! and its object-safe twin, so that the middleware holds any store without carrying its type.

use std::future::Future;

use super::index::IndexRef;
use super::{Changes, Fetch, Loaded, Meta, StoreFuture};
use crate::error::StoreError;
use crate::id::SessionId;

/// A store that keeps sessions on the server, keyed by a hash of their id
/// ([`SessionId::store_key`]); the client holds only the id.
///
/// Implementations write `async fn` in their `impl` block. All methods receive ids that are well
/// formed. Three methods are required (`load`, `save`, `delete`); [`touch`](Self::touch) and
/// [`change_id`](Self::change_id) have defaults built from them, which a store overrides when
/// it can do better. What only some stores can do is a capability reached through an accessor:
/// [`user_index`](Self::user_index) (see the [module docs](super)).
pub trait SessionStore: Send + Sync + 'static {
    /// The session stored under `id` — its metadata and the values `fetch` asks for — or `None`
    /// when unknown or expired.
    ///
    /// A store that cannot fetch single keys answers every `fetch` with [`Loaded::whole`]; one
    /// that can answers [`Fetch::Keys`] with [`Loaded::partial`]; one that keeps sessions in
    /// this process can hand out a [`Loaded::live`] view and copy nothing.
    fn load(
        &self,
        id: &SessionId,
        fetch: Fetch<'_>,
    ) -> impl Future<Output = Result<Option<Loaded>, StoreError>> + Send;

    /// Writes `changes` under `id` and sets its metadata to `meta`.
    ///
    /// Unless [`changes.created`](Changes::created), apply them only to a session that still
    /// exists (a concurrent logout wins). A store that keeps whole records can use
    /// [`Changes::apply`].
    fn save(
        &self,
        id: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes the session `id`; removing an unknown id is not an error.
    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Moves the session stored under `old` to the new id `new` (never stored before), applies
    /// `changes` to its values and sets its metadata to `meta`, **only if `old` still holds a
    /// live session**; answers whether it moved. This is `change_id` (a login, a privilege
    /// change): the request loaded `old` a while ago, and a logout, a revocation or the expiry
    /// may have ended it since. Then nothing may be written under `new` (the middleware removes
    /// the client's cookie instead): a rotation never brings back a session that ended while it
    /// ran.
    ///
    /// The default is built from the other methods: it loads `old` whole, writes the copy
    /// under `new`, then checks that `old` is still there (if not, it deletes the copy and
    /// answers `false`) and deletes `old`. A session ended before that check ends the copy
    /// too; one ended after it finds the old id gone, and the rotation counts as done first.
    /// That is safe against a logout, and against a revocation that ends the sessions it
    /// chooses in one step over the user index (as `examples/custom_store.rs` does under its
    /// lock): such a revocation either runs before the check or finds the copy, which is
    /// indexed already. A store whose revocation lists a user's sessions and then ends them
    /// one by one must override this method (a revocation listing before the copy and ending
    /// `old` after the check would miss the copy). Concurrent changes to other keys of `old`
    /// made between the load and the copy are lost. Stores that can do it as one operation
    /// override it (the stores of this crate all do: a rename under locks, in one script, or
    /// in one transaction, with revocations that cannot miss a moved session), which also
    /// keeps those concurrent changes.
    ///
    /// A store that wraps another forwards this method, like every other: the default on the
    /// wrapper would run on the inner store's parts and lose what the inner store does better.
    fn change_id(
        &self,
        old: &SessionId,
        new: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let Some(loaded) = self.load(old, Fetch::All).await? else {
                return Ok(false);
            };
            let mut record = loaded.into_record();
            changes.apply(&mut record.data);
            self.save(new, meta, &Changes::full(record.data)).await?;
            if self.load(old, Fetch::Keys(&[])).await?.is_none() {
                // Ended since the copy was made: the copy goes too.
                self.delete(new).await?;
                return Ok(false);
            }
            self.delete(old).await?;
            Ok(true)
        }
    }

    /// Extends the life of an unchanged session to `meta.expires_at`.
    ///
    /// The default is a [`save`](Self::save) that changes no value; stores with a cheaper
    /// expiry update (Redis `EXPIREAT`) override it.
    fn touch(
        &self,
        id: &SessionId,
        meta: &Meta,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move { self.save(id, meta, &Changes::default()).await }
    }

    /// Capability: the store's user index ([`UserIndex`](super::UserIndex): a user's sessions,
    /// listed and ended), if it keeps one. Default: `None`. A store that implements
    /// [`UserIndex`](super::UserIndex) answers `Some(IndexRef::of(self))`; a store that wraps
    /// another answers for the inner store.
    ///
    /// [`max_sessions_per_user`](crate::SessionMiddlewareBuilder::max_sessions_per_user)
    /// needs the index on every login, so building the middleware with it on a store that
    /// answers `None` is a [`ConfigError`](crate::ConfigError) at start-up rather than a
    /// failed login later; [`Sessions`](crate::Sessions) answers
    /// [`SessionError::Unsupported`](crate::SessionError::Unsupported) then.
    fn user_index(&self) -> Option<IndexRef<'_>> {
        None
    }
}

/// Stores behind a shared pointer are stores too, so tests and apps can keep a handle.
impl<S: SessionStore> SessionStore for std::sync::Arc<S> {
    fn load(
        &self,
        id: &SessionId,
        fetch: Fetch<'_>,
    ) -> impl Future<Output = Result<Option<Loaded>, StoreError>> + Send {
        (**self).load(id, fetch)
    }
    fn save(
        &self,
        id: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).save(id, meta, changes)
    }
    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).delete(id)
    }
    fn change_id(
        &self,
        old: &SessionId,
        new: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).change_id(old, new, meta, changes)
    }
    fn touch(
        &self,
        id: &SessionId,
        meta: &Meta,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).touch(id, meta)
    }
    fn user_index(&self) -> Option<IndexRef<'_>> {
        (**self).user_index()
    }
}

/// Object-safe twin of [`SessionStore`].
pub(crate) trait DynStore: Send + Sync + 'static {
    fn load<'a>(&'a self, id: &'a SessionId, fetch: Fetch<'a>) -> StoreFuture<'a, Option<Loaded>>;
    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        meta: &'a Meta,
        changes: &'a Changes,
    ) -> StoreFuture<'a, ()>;
    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()>;
    fn change_id<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionId,
        meta: &'a Meta,
        changes: &'a Changes,
    ) -> StoreFuture<'a, bool>;
    fn touch<'a>(&'a self, id: &'a SessionId, meta: &'a Meta) -> StoreFuture<'a, ()>;
    fn user_index(&self) -> Option<IndexRef<'_>>;
}

impl<S: SessionStore> DynStore for S {
    fn load<'a>(&'a self, id: &'a SessionId, fetch: Fetch<'a>) -> StoreFuture<'a, Option<Loaded>> {
        Box::pin(SessionStore::load(self, id, fetch))
    }
    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        meta: &'a Meta,
        changes: &'a Changes,
    ) -> StoreFuture<'a, ()> {
        Box::pin(SessionStore::save(self, id, meta, changes))
    }
    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        Box::pin(SessionStore::delete(self, id))
    }
    fn change_id<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionId,
        meta: &'a Meta,
        changes: &'a Changes,
    ) -> StoreFuture<'a, bool> {
        Box::pin(SessionStore::change_id(self, old, new, meta, changes))
    }
    fn touch<'a>(&'a self, id: &'a SessionId, meta: &'a Meta) -> StoreFuture<'a, ()> {
        Box::pin(SessionStore::touch(self, id, meta))
    }
    fn user_index(&self) -> Option<IndexRef<'_>> {
        SessionStore::user_index(self)
    }
}
