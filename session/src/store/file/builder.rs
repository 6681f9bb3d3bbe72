//! [`FileStoreBuilder`]: the options of a [`FileStore`], and the checks `build` makes of its
//! directory (private, owned by this process's user, writable) before the first request.

use std::fs;
use std::io;
#[cfg(unix)]
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::disk::{create_private_dir, write_atomically};
use super::lock::{open_lock_file, Stripe, LOCK_PREFIX, STRIPES};
use super::users::UserFolders;
use super::{FileStore, Inner};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::codec::Codec;
use crate::error::ConfigError;
use crate::id::SessionId;

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
                users: UserFolders::new(&self.dir, self.fsync),
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
