//! [`FileStore`]: one file per session in a directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod users;

use self::users::UserIndex;
use super::user::Choice;
use super::{
    Bytes, Changes, Fetch, Handle, Loaded, Meta, Record, SessionStore, SessionUser, UserKey,
};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::codec::Codec;
use crate::error::{ConfigError, StoreError};
use crate::id::SessionId;

const SUFFIX: &str = ".session";
/// How many locks the sessions are spread over (by the first byte of the id's hash), each an
/// in-process mutex paired with a lock file `.lock-XX` in the directory.
const STRIPES: usize = 32;
const LOCK_PREFIX: &str = ".lock-";
/// How many times a revocation lists a user's sessions again after a listed one moved.
const REVOKE_ROUNDS: usize = 32;

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
    users: UserIndex,
}

/// One lock of the store: an in-process mutex, then an advisory lock on a file in the directory,
/// so that processes sharing the directory exclude each other as threads of one process do.
///
/// The lock file is opened for each use rather than kept open: a directory that was removed and
/// made again gets its lock files back, and no descriptor stays open for writing (which would
/// keep the file system from being remounted read-only).
struct Stripe {
    mutex: Mutex<()>,
    path: PathBuf,
}

/// A held [`Stripe`]: released (file lock first, then the mutex) when dropped.
struct StripeLock<'a> {
    file: File,
    _mutex: MutexGuard<'a, ()>,
}

impl Stripe {
    fn lock(&self) -> io::Result<StripeLock<'_>> {
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
fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// The stripe of a session whose hash starts with `first_byte` (the first two hex digits of its
/// file name).
fn stripe_index(first_byte: u8) -> usize {
    first_byte as usize % STRIPES
}

/// Configures a [`FileStore`]; from [`FileStore::builder`].
#[must_use]
pub struct FileStoreBuilder {
    dir: PathBuf,
    fsync: bool,
    codec: Codec,
    clock: SharedClock,
    sweep_interval: Duration,
}

impl FileStoreBuilder {
    /// Sync each file and the directory before a save counts as done. Default: on. Turning it off
    /// is faster and can lose the last writes on a power cut (never on a process crash).
    pub fn fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// The format of the files. Default: JSON.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// How often expired files are swept. Default: 10 minutes.
    pub fn sweep_interval(mut self, every: Duration) -> Self {
        self.sweep_interval = every;
        self
    }

    /// The clock that decides expiry. Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Creates the directory if needed (mode `0700`), checks that only this process's user
    /// can write it and that it is writable, and creates the store's lock files in it
    /// (`.lock-00` … `.lock-1f`, mode `0600`).
    ///
    /// # Errors
    /// Reported now, not at the first request:
    /// - the directory cannot be created or written;
    /// - (Unix) the directory is writable by its group or by everyone (mode `0770`, `0777`,
    ///   `1777`, …), or is owned by another user than the one this process runs as: another
    ///   user could then plant a session file under an id of their choosing, or remove one. As
    ///   OpenSSH does for its key files, the store refuses such a directory; the error names
    ///   the directory and its mode and says how to fix it (`chmod 700 <dir>`).
    pub fn build(self) -> Result<FileStore, ConfigError> {
        let bad = |e: io::Error| ConfigError(format!("file store {}: {e}", self.dir.display()));
        create_private_dir(&self.dir).map_err(bad)?;
        #[cfg(unix)]
        refuse_shared_dir(&self.dir)?;
        let probe = self.dir.join(format!(".probe-{}", SessionId::generate()));
        write_atomically(&self.dir, &probe, b"probe", false).map_err(bad)?;
        // The probe was created by this process: its owner is the user the process runs as.
        #[cfg(unix)]
        let owner = refuse_foreign_dir(&self.dir, &probe);
        fs::remove_file(&probe).map_err(bad)?;
        #[cfg(unix)]
        owner?;
        let stripes = (0..STRIPES)
            .map(|i| {
                let path = self.dir.join(format!("{LOCK_PREFIX}{i:02x}"));
                open_lock_file(&path)?;
                Ok(Stripe {
                    mutex: Mutex::new(()),
                    path,
                })
            })
            .collect::<io::Result<Vec<_>>>()
            .map_err(bad)?;
        let now = self.clock.now();
        Ok(FileStore {
            inner: Arc::new(Inner {
                users: UserIndex::new(&self.dir, self.fsync),
                dir: self.dir,
                fsync: self.fsync,
                codec: self.codec,
                clock: self.clock,
                sweep_interval: self.sweep_interval.as_secs().max(1),
                last_sweep: AtomicU64::new(now),
                stripes,
            }),
        })
    }
}

impl FileStore {
    /// A store in `dir` with the defaults (fsync on, JSON, sweep every 10 minutes).
    ///
    /// # Errors
    /// See [`FileStoreBuilder::build`].
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        Self::builder(dir).build()
    }

    /// A builder for a store in `dir`.
    pub fn builder(dir: impl Into<PathBuf>) -> FileStoreBuilder {
        FileStoreBuilder {
            dir: dir.into(),
            fsync: true,
            codec: Codec::default(),
            clock: Arc::new(SystemClock),
            sweep_interval: Duration::from_secs(600),
        }
    }

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

    fn maybe_sweep(&self) {
        let now = self.inner.clock.now();
        let last = self.inner.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) < self.inner.sweep_interval
            || self
                .inner
                .last_sweep
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || match inner.sweep() {
            Ok(n) => tracing::debug!(removed = n, "file store swept"),
            Err(e) => tracing::warn!(error = %e, "file store sweep failed"),
        });
    }
}

/// The on-disk shape of a record.
#[derive(Serialize, Deserialize)]
struct OnDisk {
    v: u8,
    created_at: u64,
    expires_at: u64,
    #[serde(default)]
    last_seen: u64,
    /// The user id the session is tied to, and the session's handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<(Vec<u8>, String)>,
    /// When the session was tied to its user, Unix milliseconds (absent: unknown).
    #[serde(default, skip_serializing_if = "is_zero")]
    signed_in_at: u64,
    data: std::collections::HashMap<String, Vec<u8>>,
}

impl OnDisk {
    fn into_record(self) -> Record {
        let signed_in_at = self.signed_in_at;
        let user = self.user.and_then(|(id, handle)| {
            Some(
                SessionUser::stored(Bytes::from(id), Handle::parse(&handle)?)
                    .signed_in(signed_in_at),
            )
        });
        Record {
            meta: Meta::new(self.created_at, self.expires_at)
                .with_last_seen(self.last_seen)
                .with_user(user),
            data: self
                .data
                .into_iter()
                .map(|(k, v)| (k, Bytes::from(v)))
                .collect(),
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a session file holds, as read (without removing anything).
// Moved once per read; boxing the record would cost an allocation each time.
#[allow(clippy::large_enum_variant)]
enum Found {
    Live(Record),
    Expired,
    /// No file, or one that does not decode or has an unknown version (logged).
    Absent,
}

impl Inner {
    /// Takes the lock of `id`'s stripe: held while its file is read and replaced or removed.
    fn lock(&self, id: &SessionId) -> io::Result<StripeLock<'_>> {
        self.stripes[stripe_index(id.digest()[0])].lock()
    }

    /// The lock of the session whose store key (hex) is `key`.
    fn lock_key(&self, key: &str) -> io::Result<StripeLock<'_>> {
        self.stripes[stripe_index(first_byte(key))].lock()
    }

    /// The file of the session whose store key is `key`.
    fn file_of(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}{SUFFIX}"))
    }

    /// Reads `id`'s file at `path`; an undecodable one is logged and reads as absent.
    ///
    /// Logs name the session by its tag only: the file name is the id's full hash, and a
    /// decoder's message can quote what the file holds, so neither goes into an event.
    fn find(&self, tag: &str, path: &Path) -> io::Result<Found> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Absent),
            Err(e) => return Err(e),
        };
        let disk: OnDisk = match self.codec.decode(&bytes) {
            Ok(disk) => disk,
            Err(e) => {
                tracing::warn!(
                    session = %tag,
                    error_kind = crate::codec::error_kind(&*e),
                    "unreadable session file ignored"
                );
                return Ok(Found::Absent);
            }
        };
        if disk.v != 1 {
            tracing::warn!(
                session = %tag,
                version = disk.v,
                "unknown session file version"
            );
            return Ok(Found::Absent);
        }
        if disk.expires_at <= self.clock.now() {
            return Ok(Found::Expired);
        }
        Ok(Found::Live(disk.into_record()))
    }

    /// Reads a live record, the stripe lock held by the caller: an expired file is removed.
    fn read_locked(&self, tag: &str, path: &Path) -> io::Result<Option<Record>> {
        match self.find(tag, path)? {
            Found::Live(record) => Ok(Some(record)),
            Found::Expired => self.remove_locked(path).map(|_| None),
            Found::Absent => Ok(None),
        }
    }

    /// Removes a session's file, the stripe lock held by the caller, and its index entry;
    /// returns the record it held (`None` when there was no readable file).
    fn remove_locked(&self, path: &Path) -> io::Result<Option<Record>> {
        let record = match fs::read(path) {
            Ok(bytes) => self
                .codec
                .decode::<OnDisk>(&bytes)
                .ok()
                .map(OnDisk::into_record),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        remove_if_present(path)?;
        if let Some(user) = record.as_ref().and_then(|r| r.meta.user.as_ref()) {
            self.users.untie(&user.key, store_key_of(path))?;
        }
        Ok(record)
    }

    /// The live sessions of `user` with their store keys. Entries whose session is gone,
    /// expired (removed now) or tied to another user since are taken out of the index.
    fn user_sessions(&self, user: &UserKey) -> io::Result<Vec<(String, Record)>> {
        let mut live = Vec::new();
        for key in self.users.sessions(user)? {
            let path = self.file_of(&key);
            let found = match self.find(&key[..8], &path)? {
                Found::Expired => {
                    let _lock = self.lock_key(&key)?;
                    self.read_locked(&key[..8], &path)?
                }
                Found::Live(record) => Some(record),
                Found::Absent => None,
            };
            match found {
                Some(record) if record.meta.user.as_ref().is_some_and(|u| u.key == *user) => {
                    live.push((key, record));
                }
                _ => self.users.untie(user, &key)?,
            }
        }
        Ok(live)
    }

    /// Ends the session `key` if, under its lock, it is still `user`'s and `ends` its handle:
    /// `Some(true)` when it ended, `Some(false)` when it is there but not chosen, `None` when
    /// it is gone (ended, expired, or moved to a new id by `change_id` since it was listed).
    fn revoke_if(
        &self,
        user: &UserKey,
        key: &str,
        ends: impl Fn(&Handle) -> bool,
    ) -> io::Result<Option<bool>> {
        let _lock = self.lock_key(key)?;
        let path = self.file_of(key);
        let Some(record) = self.read_locked(&key[..8], &path)? else {
            return Ok(None);
        };
        let ours = record
            .meta
            .user
            .as_ref()
            .is_some_and(|u| u.key == *user && ends(&u.handle));
        if ours {
            self.remove_locked(&path)?;
        }
        Ok(Some(ours))
    }

    /// Ends the sessions of `user` whose handle `ends` chooses (the first only, when `one`);
    /// answers how many ended.
    ///
    /// First a marker is raised (see `UserIndex::mark`): from then on an id change of a
    /// chosen session gives up, and one that did not meet the marker had indexed its new id
    /// before the listing began. So no session slips out of the revocation by changing its id
    /// meanwhile. A listed session found gone under its lock is listed again (it may have
    /// moved just before the marker); one that keeps moving through [`REVOKE_ROUNDS`] listings
    /// fails the revocation rather than leave it unsure.
    fn revoke_where(&self, user: &UserKey, choice: Choice) -> io::Result<usize> {
        let one = matches!(choice, Choice::One(_));
        let ends = |h: &Handle| choice.ends(h);
        // Raised before the listing, removed when this returns (see `UserIndex::mark`).
        let _marker = self.users.mark(user, &choice)?;
        let mut ended = 0;
        for _ in 0..REVOKE_ROUNDS {
            let mut moved = false;
            for (key, record) in self.user_sessions(user)? {
                if !record.meta.user.as_ref().is_some_and(|u| ends(&u.handle)) {
                    continue;
                }
                match self.revoke_if(user, &key, ends)? {
                    Some(true) if one => return Ok(1),
                    Some(true) => ended += 1,
                    Some(false) => {}
                    None => moved = true,
                }
            }
            if !moved {
                return Ok(ended);
            }
        }
        Err(io::Error::other(
            "revocation not finished: the user's sessions kept changing their ids",
        ))
    }

    /// The locks of two sessions, in stripe order (one lock when they share a stripe), so that
    /// two holders of two locks never wait for each other.
    fn lock_both(
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

    /// Reads a live record without the lock; an expired file is removed under the lock, if it
    /// is still expired then (a save in another process may have refreshed it meanwhile).
    fn read(&self, id: &SessionId, path: &Path) -> io::Result<Option<Record>> {
        match self.find(&id.log_tag(), path)? {
            Found::Live(record) => Ok(Some(record)),
            Found::Absent => Ok(None),
            Found::Expired => {
                let _lock = self.lock(id)?;
                self.read_locked(&id.log_tag(), path)
            }
        }
    }

    fn write(&self, path: &Path, record: &Record) -> io::Result<()> {
        let disk = OnDisk {
            v: 1,
            created_at: record.meta.created_at,
            expires_at: record.meta.expires_at,
            last_seen: record.meta.last_seen,
            user: record
                .meta
                .user
                .as_ref()
                .map(|u| (u.id.to_vec(), u.handle.as_str().to_owned())),
            signed_in_at: record.meta.user.as_ref().map_or(0, |u| u.signed_in_at),
            data: record
                .data
                .iter()
                .map(|(k, v)| (k.clone(), v.to_vec()))
                .collect(),
        };
        let bytes = self.codec.encode(&disk).map_err(|e| {
            // This error is logged: its kind, not the encoder's message about the values.
            let kind = crate::codec::error_kind(&*e);
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("session file cannot be encoded ({kind})"),
            )
        })?;
        write_atomically(&self.dir, path, &bytes, self.fsync)
    }

    /// Whether the file at `path` is expired or undecodable (and so to be swept).
    fn sweepable(&self, path: &Path, now: u64) -> bool {
        match fs::read(path) {
            Ok(bytes) => self
                .codec
                .decode::<OnDisk>(&bytes)
                .map_or(true, |d| d.expires_at <= now),
            Err(_) => false,
        }
    }

    fn sweep(&self) -> io::Result<usize> {
        let now = self.clock.now();
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(key) = name.strip_suffix(SUFFIX) {
                // The stripe comes from the file name, the hex hash of the id; a name that is not
                // one (left there by hand) still gets a lock, the first.
                let stripe = &self.stripes[stripe_index(first_byte(key))];
                // Checked without the lock, then again under it: a save may have refreshed the
                // file in between, and it must not be removed then.
                if !self.sweepable(&path, now) {
                    continue;
                }
                let Ok(_lock) = stripe.lock() else { continue };
                if self.sweepable(&path, now) && self.remove_locked(&path).is_ok() {
                    removed += 1;
                }
            } else if name.ends_with(".tmp") {
                // A temp file left by a crash mid-write; one that is being written now is
                // younger than a minute.
                let stale = entry_age(&path).is_some_and(|age| age > Duration::from_secs(60));
                if stale {
                    let _ = remove_if_present(&path);
                }
            }
        }
        self.sweep_index()?;
        self.users.sweep_markers()?;
        Ok(removed)
    }

    /// Takes out index entries whose session file is gone (left by a crash between removing a
    /// file and its entry); a listing prunes the rest.
    fn sweep_index(&self) -> io::Result<()> {
        for (user, keys) in self.users.all()? {
            for key in keys {
                if !self.file_of(&key).exists() {
                    self.users.untie(&user, &key)?;
                }
            }
        }
        Ok(())
    }
}

/// The first byte of a store key (hex), which chooses its lock; 0 for a name that is not one.
fn first_byte(key: &str) -> u8 {
    key.get(..2)
        .and_then(|h| u8::from_str_radix(h, 16).ok())
        .unwrap_or(0)
}

/// The store key (hex) in a session file's path.
fn store_key_of(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(SUFFIX))
        .unwrap_or_default()
}

/// Decodes a session file's bytes as the default (JSON) store does (for the fuzz targets).
#[cfg(feature = "fuzzing")]
pub(crate) fn decode(bytes: &[u8]) -> Option<Record> {
    let disk: OnDisk = Codec::Json.decode(bytes).ok()?;
    Some(disk.into_record())
}

fn entry_age(path: &Path) -> Option<Duration> {
    fs::metadata(path).ok()?.modified().ok()?.elapsed().ok()
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Refuses a directory that its group or everyone can write (checked before anything is written
/// there).
#[cfg(unix)]
fn refuse_shared_dir(dir: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        fs::metadata(dir).map_err(|e| ConfigError(format!("file store {}: {e}", dir.display())))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 == 0 {
        return Ok(());
    }
    let dir = dir.display();
    Err(ConfigError(format!(
        "file store {dir}: the directory has mode {mode:04o}, so other users can write to it \
         (and plant or remove session files); make it private with `chmod 700 {dir}` \
         (or at least `chmod go-w {dir}`)"
    )))
}

/// Refuses a directory owned by another user than the owner of `probe`, a file this process
/// just created in it.
#[cfg(unix)]
fn refuse_foreign_dir(dir: &Path, probe: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::MetadataExt;
    let failed = |e: io::Error| ConfigError(format!("file store {}: {e}", dir.display()));
    let me = fs::symlink_metadata(probe).map_err(failed)?.uid();
    let owner = fs::metadata(dir).map_err(failed)?.uid();
    if owner == me {
        return Ok(());
    }
    Err(ConfigError(format!(
        "file store {}: the directory is owned by uid {owner}, not by the user this process \
         runs as (uid {me}), so its owner can plant or remove session files there; `chown` it \
         to uid {me} or choose another directory",
        dir.display()
    )))
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes `bytes` to a temp file (mode 0600) in `dir` and renames it to `path`.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8], fsync: bool) -> io::Result<()> {
    let tmp = dir.join(format!(".{}.tmp", SessionId::generate()));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        if fsync {
            file.sync_all()?;
        }
        drop(file);
        fs::rename(&tmp, path)?;
        if fsync {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
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
        let (id, expires_at) = (id.clone(), meta.expires_at);
        let path = self.path(&id);
        self.blocking(move |inner| {
            let _lock = inner.lock(&id)?;
            match inner.read_locked(&id.log_tag(), &path)? {
                Some(mut stored) => {
                    stored.meta.expires_at = expires_at;
                    inner.write(&path, &stored)
                }
                None => Ok(()),
            }
        })
        .await
    }

    /// Lists the user's folder in the index and reads each session's file (one read per
    /// listed session); entries whose session ended are pruned on the way.
    fn lists_users(&self) -> bool {
        true
    }

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
