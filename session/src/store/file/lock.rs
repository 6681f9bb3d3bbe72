//! The locks of a [`FileStore`](super::FileStore): 32 stripes, each an in-process mutex and an
//! advisory lock on a file in the directory, chosen by the first byte of a session's hash.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::Inner;
use crate::id::SessionId;

/// How many locks the sessions are spread over (by the first byte of the id's hash), each an
/// in-process mutex paired with a lock file `.lock-XX` in the directory.
pub(super) const STRIPES: usize = 32;
pub(super) const LOCK_PREFIX: &str = ".lock-";

/// One lock of the store: an in-process mutex, then an advisory lock on a file in the directory,
/// so that processes sharing the directory exclude each other as threads of one process do.
///
/// The lock file is opened for each use rather than kept open: a directory that was removed and
/// made again gets its lock files back, and no descriptor stays open for writing (which would
/// keep the file system from being remounted read-only).
pub(super) struct Stripe {
    pub(super) mutex: Mutex<()>,
    pub(super) path: PathBuf,
}

/// A held [`Stripe`]: released (file lock first, then the mutex) when dropped.
pub(super) struct StripeLock<'a> {
    file: File,
    _mutex: MutexGuard<'a, ()>,
}

impl Stripe {
    pub(super) fn lock(&self) -> io::Result<StripeLock<'_>> {
        let mutex = self.mutex.lock().unwrap_or_else(PoisonError::into_inner);
        let file = open_lock_file(&self.path)?;
        loop {
            match file.lock() {
                Ok(()) => {
                    return Ok(StripeLock {
                        file,
                        _mutex: mutex,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for StripeLock<'_> {
    fn drop(&mut self) {
        // Closing the descriptor (right after) releases the lock too; unlocking first keeps the
        // order explicit: the file lock goes before the mutex.
        let _ = self.file.unlock();
    }
}

/// Opens (creating it, mode 0600, if needed) a lock file for locking: read and write, so that
/// an exclusive lock works also where advisory locks are emulated by byte-range locks (NFS).
pub(super) fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// The stripe of a session whose hash starts with `first_byte` (the first two hex digits of its
/// file name).
pub(super) fn stripe_index(first_byte: u8) -> usize {
    first_byte as usize % STRIPES
}

impl Inner {
    /// Takes the lock of `id`'s stripe: held while its file is read and replaced or removed.
    pub(super) fn lock(&self, id: &SessionId) -> io::Result<StripeLock<'_>> {
        self.stripes[stripe_index(id.digest()[0])].lock()
    }

    /// The lock of the session whose store key (hex) is `key`.
    pub(super) fn lock_key(&self, key: &str) -> io::Result<StripeLock<'_>> {
        self.stripes[stripe_index(first_byte(key))].lock()
    }

    /// The locks of two sessions, in stripe order (one lock when they share a stripe), so that
    /// two holders of two locks never wait for each other.
    pub(super) fn lock_both(
        &self,
        a: &SessionId,
        b: &SessionId,
    ) -> io::Result<(StripeLock<'_>, Option<StripeLock<'_>>)> {
        let (i, j) = (stripe_index(a.digest()[0]), stripe_index(b.digest()[0]));
        if i == j {
            return Ok((self.stripes[i].lock()?, None));
        }
        let first = self.stripes[i.min(j)].lock()?;
        let second = self.stripes[i.max(j)].lock()?;
        Ok((first, Some(second)))
    }
}

/// The first byte of a store key (hex), which chooses its lock; 0 for a name that is not one.
pub(super) fn first_byte(key: &str) -> u8 {
    key.get(..2)
        .and_then(|h| u8::from_str_radix(h, 16).ok())
        .unwrap_or(0)
}
