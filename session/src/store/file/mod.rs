//! [`FileStore`]: one file per session in a directory.
//!
//! This file: the store, its documentation, the blocking pool it does its I/O on and its
//! [`SessionStore`] impl. `builder`: the options and the checks of the directory; `lock`: the
//! striped locks (a mutex and a lock file each); `disk`: the on-disk format of a record and
//! the file operations; `sweep`: the background sweep of expired files; `revoke`: listing and
//! revoking a user's sessions; `users`: the user index on disk.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

mod builder;
mod disk;
mod lock;
mod revoke;
mod sweep;
mod users;

use self::disk::{store_key_of, SUFFIX};
use self::lock::Stripe;
use self::users::UserFolders;
use super::user::Choice;
use super::{
    Changes, Fetch, Handle, IndexRef, Loaded, Meta, Record, SessionStore, UserIndex, UserKey,
};
use crate::clock::SharedClock;
use crate::codec::Codec;
use crate::error::StoreError;
use crate::id::SessionId;

pub use self::builder::FileStoreBuilder;
#[cfg(feature = "fuzzing")]
pub(crate) use self::disk::decode;

/// Sessions as files in a directory: survives restarts, needs no server, suits one machine.
///
/// - **Names**: a session's file is `<hex sha256 of the id>.session`; no client input ever
///   reaches the file system.
/// - **Atomic writes**: each write goes to a temporary file (mode `0600`) that is renamed over the
///   old one, so a reader sees the old record or the new one, never a torn one. With
///   [`fsync`](FileStoreBuilder::fsync) (the default) the data and the directory are synced first.
///   A failed write (disk full, read-only) leaves the old file and answers `503`.
/// - **Locking**: a save, a touch and a delete of one session exclude each other, within this
///   process (a mutex) and across processes sharing the directory (an advisory lock,
///   [`File::lock`], on one of 32 lock files `.lock-00` … `.lock-1f` that the store keeps in the
///   directory, mode `0600`; a session's lock is chosen by its file name). So a save never
///   brings back a session that a concurrent logout deleted, in this process or another, and
///   the sweep does not remove a file that a save refreshed after the sweep found it expired
///   (it checks again under the lock). A load takes no lock, unless it removes an expired file.
/// - **Per-key merge**: a save re-reads the file under that lock and applies only the changed
///   keys, so concurrent requests that change different keys of one session keep both changes,
///   also when they are served by different processes sharing the directory. The advisory locks
///   need a file system that has them across its clients (a local disk does; over NFS they
///   depend on the server's lock manager).
/// - **Expiry**: an expired file is removed when read, and the whole directory is swept in the
///   background every [`sweep_interval`](FileStoreBuilder::sweep_interval).
/// - **Users** ([`Sessions`](crate::Sessions)): a session tied to a user is indexed under
///   `users/<hash of the user id>/<hash of the id>`, an empty file made in the same save as
///   the session's (under its lock, after it) and removed with the session, however it ends:
///   delete, revocation, expiry met by a read or a listing, or the sweep (which also removes an
///   entry whose file a crash left behind). Listing a user reads its folder and each listed
///   session's file; processes sharing the directory share the index.
/// - A file that does not decode is treated as absent (and logged), never served half-read.
/// - **A private directory**: (Unix) [`build`](FileStoreBuilder::build) refuses a directory that
///   its group or everyone can write, or that another user owns, since another user could plant
///   a session file under an id of their choosing there; it creates a missing one with mode
///   `0700`.
///
/// [`File::lock`]: std::fs::File::lock
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    fsync: bool,
    codec: Codec,
    clock: SharedClock,
    sweep_interval: u64,
    last_sweep: AtomicU64,
    stripes: Vec<Stripe>,
    users: UserFolders,
}

impl FileStore {
    /// The file that holds the session `id`.
    pub fn path(&self, id: &SessionId) -> PathBuf {
        self.inner.dir.join(format!("{}{SUFFIX}", id.store_key()))
    }

    /// Removes every expired session file now; returns how many were removed.
    ///
    /// # Errors
    /// The directory cannot be read.
    pub fn sweep(&self) -> io::Result<usize> {
        self.inner.sweep()
    }

    /// Runs `f` on the blocking thread pool (file I/O must not stall the async workers), and
    /// starts a background sweep when one is due. What `f` logs goes to the caller's
    /// subscriber, in the caller's span (the request's), as if it ran on the caller's thread.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> io::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.maybe_sweep();
        let inner = self.inner.clone();
        let span = tracing::Span::current();
        let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
        let task =
            move || tracing::dispatcher::with_default(&dispatch, || span.in_scope(|| f(&inner)));
        match tokio::task::spawn_blocking(task).await {
            Ok(result) => result.map_err(|e| {
                tracing::error!(dir = %self.inner.dir.display(), error = %e, "file store I/O failed");
                StoreError::new(e)
            }),
            Err(join) => Err(StoreError::msg(format!("file store task failed: {join}"))),
        }
    }
}

impl SessionStore for FileStore {
    /// A file holds the whole session: every load reads it all, whatever it asks for.
    async fn load(&self, id: &SessionId, _: Fetch<'_>) -> Result<Option<Loaded>, StoreError> {
        let (id, path) = (id.clone(), self.path(id));
        let record = self.blocking(move |inner| inner.read(&id, &path)).await?;
        Ok(record.map(Loaded::whole))
    }

    async fn save(&self, id: &SessionId, meta: &Meta, changes: &Changes) -> Result<(), StoreError> {
        let (id, meta, changes) = (id.clone(), meta.clone(), changes.clone());
        let path = self.path(&id);
        self.blocking(move |inner| {
            let _lock = inner.lock(&id)?;
            let mut stored = if changes.created {
                Record::new(Meta::default())
            } else {
                match inner.read_locked(&id.log_tag(), &path)? {
                    Some(stored) => stored,
                    // Deleted meanwhile (logout elsewhere wins) or expired.
                    None => return Ok(()),
                }
            };
            changes.apply(&mut stored.data);
            let was = stored.meta.user.as_ref().map(|u| u.key);
            stored.meta = meta;
            inner.write(&path, &stored)?;
            // The index follows the file, never the other way round: an entry always names a
            // file that was written.
            let now = stored.meta.user.as_ref().map(|u| u.key);
            if was != now {
                let key = store_key_of(&path);
                if let Some(old) = was {
                    inner.users.untie(&old, key)?;
                }
                if let Some(new) = now {
                    inner.users.tie(&new, key)?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let (id, path) = (id.clone(), self.path(id));
        self.blocking(move |inner| {
            let _lock = inner.lock(&id)?;
            inner.remove_locked(&path).map(drop)
        })
        .await
    }

    /// Under the locks of both sessions: reads the old file, writes the changed record under
    /// the new name and indexes it, then removes the old file and its index entry; nothing
    /// when the old file is gone or expired.
    async fn change_id(
        &self,
        old: &SessionId,
        new: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> Result<bool, StoreError> {
        let (old, new, meta, changes) = (old.clone(), new.clone(), meta.clone(), changes.clone());
        let (from, to) = (self.path(&old), self.path(&new));
        self.blocking(move |inner| {
            let _locks = inner.lock_both(&old, &new)?;
            let Some(mut stored) = inner.read_locked(&old.log_tag(), &from)? else {
                return Ok(false);
            };
            let was = stored.meta.user.as_ref().map(|u| (u.key, u.handle.clone()));
            changes.apply(&mut stored.data);
            stored.meta = meta;
            inner.write(&to, &stored)?;
            // The new entry before the old one goes: a listing meanwhile sees the session
            // under one id or both, never under none.
            if let Some(user) = &stored.meta.user {
                inner.users.tie(&user.key, store_key_of(&to))?;
            }
            // A revocation of the session that began before the new entry was made would miss
            // it: such a revocation has raised its marker, and then the revocation wins.
            let revoked = match &was {
                Some((user, handle)) => inner.users.revoking(user, handle)?,
                None => false,
            };
            if revoked {
                inner.remove_locked(&to)?;
                inner.remove_locked(&from)?;
                return Ok(false);
            }
            inner.remove_locked(&from)?;
            Ok(true)
        })
        .await
    }

    async fn touch(&self, id: &SessionId, meta: &Meta) -> Result<(), StoreError> {
        let (id, expires_at, last_seen) = (id.clone(), meta.expires_at, meta.last_seen);
        let path = self.path(&id);
        self.blocking(move |inner| {
            let _lock = inner.lock(&id)?;
            match inner.read_locked(&id.log_tag(), &path)? {
                Some(mut stored) => {
                    stored.meta.expires_at = expires_at;
                    stored.meta.last_seen = last_seen;
                    inner.write(&path, &stored)
                }
                None => Ok(()),
            }
        })
        .await
    }

    /// It keeps the user index ([`UserIndex`] below).
    fn user_index(&self) -> Option<IndexRef<'_>> {
        Some(IndexRef::of(self))
    }
}

impl UserIndex for FileStore {
    /// Lists the user's folder in the index and reads each session's file (one read per
    /// listed session); entries whose session ended are pruned on the way.
    async fn user_sessions(&self, user: &UserKey) -> Result<Vec<Record>, StoreError> {
        let user = *user;
        let listed = self
            .blocking(move |inner| inner.user_sessions(&user))
            .await?;
        Ok(listed.into_iter().map(|(_, record)| record).collect())
    }

    async fn revoke(&self, user: &UserKey, handle: &Handle) -> Result<bool, StoreError> {
        let (user, handle) = (*user, handle.clone());
        self.blocking(move |inner| inner.revoke_where(&user, Choice::One(handle)))
            .await
            .map(|ended| ended > 0)
    }

    async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> Result<usize, StoreError> {
        let (user, except) = (*user, except.cloned());
        self.blocking(move |inner| inner.revoke_where(&user, Choice::AllBut(except)))
            .await
    }
}
