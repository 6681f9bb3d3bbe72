//! [`UserIndex`]: the capability of a server-side store to list and end a user's sessions, and
//! [`IndexRef`], how a store hands it out.

use std::future::Future;

use super::{Handle, Record, SessionStore, StoreFuture, UserKey};
use crate::error::StoreError;

/// Capability of a [`SessionStore`]: the user index. A session saved with [`Meta::user`]
/// set is indexed under [`SessionUser::key`](super::SessionUser::key), so that a user's
/// sessions can be listed ("your devices") and ended (one, or all: "log out everywhere").
/// A store that implements it also answers [`SessionStore::user_index`] with
/// `Some(IndexRef::of(self))`.
///
/// [`Meta::user`]: super::Meta::user
///
/// An index entry must not outlive its session for long: prune entries whose session is gone,
/// expired or tied to another user when you meet them, without relying on expiry
/// notifications. A revocation must not be undone by a save or an id change racing it (see
/// [`SessionStore::change_id`]).
pub trait UserIndex: SessionStore {
    /// Every live session tied to `user`, whole.
    fn user_sessions(
        &self,
        user: &UserKey,
    ) -> impl Future<Output = Result<Vec<Record>, StoreError>> + Send;

    /// Ends the session of `user` whose handle is `handle`; `false` when no session of that
    /// user has it (another user's session is never touched).
    fn revoke(
        &self,
        user: &UserKey,
        handle: &Handle,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Ends every session of `user`, but the one with handle `except`; returns how many ended
    /// (as far as the store knows).
    fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

impl<S: UserIndex> UserIndex for std::sync::Arc<S> {
    fn user_sessions(
        &self,
        user: &UserKey,
    ) -> impl Future<Output = Result<Vec<Record>, StoreError>> + Send {
        (**self).user_sessions(user)
    }
    fn revoke(
        &self,
        user: &UserKey,
        handle: &Handle,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).revoke(user, handle)
    }
    fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        (**self).revoke_all(user, except)
    }
}

/// A store's [`UserIndex`], as [`SessionStore::user_index`] hands it out. Made only from a type
/// that implements [`UserIndex`] ([`of`](Self::of)), so a store cannot claim an index it does
/// not have.
#[derive(Clone, Copy)]
pub struct IndexRef<'a>(&'a dyn DynUserIndex);

impl<'a> IndexRef<'a> {
    /// The index of `store`.
    pub fn of<S: UserIndex>(store: &'a S) -> Self {
        IndexRef(store)
    }

    /// See [`UserIndex::user_sessions`].
    ///
    /// # Errors
    /// The store's.
    pub async fn user_sessions(&self, user: &UserKey) -> Result<Vec<Record>, StoreError> {
        self.0.user_sessions(user).await
    }

    /// See [`UserIndex::revoke`].
    ///
    /// # Errors
    /// The store's.
    pub async fn revoke(&self, user: &UserKey, handle: &Handle) -> Result<bool, StoreError> {
        self.0.revoke(user, handle).await
    }

    /// See [`UserIndex::revoke_all`].
    ///
    /// # Errors
    /// The store's.
    pub async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> Result<usize, StoreError> {
        self.0.revoke_all(user, except).await
    }
}

impl std::fmt::Debug for IndexRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IndexRef")
    }
}

/// Object-safe twin of [`UserIndex`].
pub(crate) trait DynUserIndex: Send + Sync {
    fn user_sessions<'a>(&'a self, user: &'a UserKey) -> StoreFuture<'a, Vec<Record>>;
    fn revoke<'a>(&'a self, user: &'a UserKey, handle: &'a Handle) -> StoreFuture<'a, bool>;
    fn revoke_all<'a>(
        &'a self,
        user: &'a UserKey,
        except: Option<&'a Handle>,
    ) -> StoreFuture<'a, usize>;
}

impl<S: UserIndex> DynUserIndex for S {
    fn user_sessions<'a>(&'a self, user: &'a UserKey) -> StoreFuture<'a, Vec<Record>> {
        Box::pin(UserIndex::user_sessions(self, user))
    }
    fn revoke<'a>(&'a self, user: &'a UserKey, handle: &'a Handle) -> StoreFuture<'a, bool> {
        Box::pin(UserIndex::revoke(self, user, handle))
    }
    fn revoke_all<'a>(
        &'a self,
        user: &'a UserKey,
        except: Option<&'a Handle>,
    ) -> StoreFuture<'a, usize> {
        Box::pin(UserIndex::revoke_all(self, user, except))
    }
}
