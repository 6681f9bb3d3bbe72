//! [`FileStore`]: one file per session in a directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Changes, Record, SessionStore};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::codec::Codec;
use crate::error::{ConfigError, StoreError};
use crate::id::SessionId;

const SUFFIX: &str = ".session";
const STRIPES: usize = 64;

/// Sessions as files in a directory: survives restarts, needs no server, suits one machine.
///
/// - **Names**: a session's file is `<hex sha256 of the id>.session`; no client input ever
///   reaches the file system.
/// - **Atomic writes**: each write goes to a temporary file (mode `0600`) that is renamed over the
///   old one, so a reader sees the old record or the new one, never a torn one. With
///   [`fsync`](FileStoreBuilder::fsync) (the default) the data and the directory are synced first.
///   A failed write (disk full, read-only) leaves the old file and answers `503`.
/// - **Per-key merge**: a save re-reads the file and applies only the changed keys, under a lock
///   per session (within this process; several processes sharing one directory get
///   last-writer-wins per session).
/// - **Expiry**: an expired file is removed when read, and the whole directory is swept in the
///   background every [`sweep_interval`](FileStoreBuilder::sweep_interval).
/// - A file that does not decode is treated as absent (and logged), never served half-read.
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
    stripes: Vec<Mutex<()>>,
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

    /// Creates the directory if needed (mode `0700`) and checks that it is writable.
    ///
    /// # Errors
    /// The directory cannot be created or written: reported now, not at the first request.
    pub fn build(self) -> Result<FileStore, ConfigError> {
        let bad = |e: io::Error| ConfigError(format!("file store {}: {e}", self.dir.display()));
        create_private_dir(&self.dir).map_err(bad)?;
        let probe = self.dir.join(format!(".probe-{}", SessionId::generate()));
        write_atomically(&self.dir, &probe, b"probe", false).map_err(bad)?;
        fs::remove_file(&probe).map_err(bad)?;
        let now = self.clock.now();
        Ok(FileStore {
            inner: Arc::new(Inner {
                dir: self.dir,
                fsync: self.fsync,
                codec: self.codec,
                clock: self.clock,
                sweep_interval: self.sweep_interval.as_secs().max(1),
                last_sweep: AtomicU64::new(now),
                stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
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
    /// starts a background sweep when one is due.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> io::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.maybe_sweep();
        let inner = self.inner.clone();
        match tokio::task::spawn_blocking(move || f(&inner)).await {
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
    data: std::collections::HashMap<String, Vec<u8>>,
}

impl Inner {
    fn stripe(&self, id: &SessionId) -> std::sync::MutexGuard<'_, ()> {
        let digest = id.digest();
        self.stripes[digest[0] as usize % STRIPES]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Reads a live record; an expired file is removed, an undecodable one ignored.
    fn read(&self, path: &Path) -> io::Result<Option<Record>> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let disk: OnDisk = match self.codec.decode(&bytes) {
            Ok(disk) => disk,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "unreadable session file ignored");
                return Ok(None);
            }
        };
        if disk.v != 1 {
            tracing::warn!(file = %path.display(), version = disk.v, "unknown session file version");
            return Ok(None);
        }
        if disk.expires_at <= self.clock.now() {
            remove_if_present(path)?;
            return Ok(None);
        }
        Ok(Some(Record {
            data: disk.data,
            created_at: disk.created_at,
            expires_at: disk.expires_at,
        }))
    }

    fn write(&self, path: &Path, record: &Record) -> io::Result<()> {
        let disk = OnDisk {
            v: 1,
            created_at: record.created_at,
            expires_at: record.expires_at,
            data: record.data.clone(),
        };
        let bytes = self
            .codec
            .encode(&disk)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        write_atomically(&self.dir, path, &bytes, self.fsync)
    }

    fn sweep(&self) -> io::Result<usize> {
        let now = self.clock.now();
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(SUFFIX) {
                let expired = match fs::read(&path) {
                    Ok(bytes) => self
                        .codec
                        .decode::<OnDisk>(&bytes)
                        .map_or(true, |d| d.expires_at <= now),
                    Err(_) => false,
                };
                if expired && remove_if_present(&path).is_ok() {
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
        Ok(removed)
    }
}

/// Decodes a session file's bytes as the default (JSON) store does (for the fuzz targets).
#[cfg(feature = "fuzzing")]
pub(crate) fn decode(bytes: &[u8]) -> Option<Record> {
    let disk: OnDisk = Codec::Json.decode(bytes).ok()?;
    Some(Record {
        data: disk.data,
        created_at: disk.created_at,
        expires_at: disk.expires_at,
    })
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
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let path = self.path(id);
        self.blocking(move |inner| inner.read(&path)).await
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        changes: &Changes,
    ) -> Result<(), StoreError> {
        let (id, record, changes) = (id.clone(), record.clone(), changes.clone());
        let path = self.path(&id);
        self.blocking(move |inner| {
            let _guard = inner.stripe(&id);
            if changes.replace_all && changes.created {
                return inner.write(&path, &record);
            }
            let Some(mut stored) = inner.read(&path)? else {
                // Deleted meanwhile (logout elsewhere wins) or expired.
                return Ok(());
            };
            if changes.replace_all {
                stored.data = record.data;
            } else {
                for key in &changes.removed {
                    stored.data.remove(key);
                }
                for key in changes.set {
                    if let Some(value) = record.data.get(&key) {
                        stored.data.insert(key, value.clone());
                    }
                }
            }
            stored.expires_at = record.expires_at;
            inner.write(&path, &stored)
        })
        .await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let path = self.path(id);
        self.blocking(move |_| remove_if_present(&path)).await
    }

    async fn touch(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        let (id, expires_at) = (id.clone(), record.expires_at);
        let path = self.path(&id);
        self.blocking(move |inner| {
            let _guard = inner.stripe(&id);
            match inner.read(&path)? {
                Some(mut stored) => {
                    stored.expires_at = expires_at;
                    inner.write(&path, &stored)
                }
                None => Ok(()),
            }
        })
        .await
    }
}
