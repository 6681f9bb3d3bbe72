//! A session's file: the on-disk shape of a record, reading it (an expired file removed under
//! the lock, an undecodable one logged and read as absent), writing it atomically, removing it
//! with its index entry.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Inner;
#[cfg(feature = "fuzzing")]
use crate::codec::Codec;
use crate::id::SessionId;
use crate::store::{Bytes, Handle, Meta, Record, SessionUser};

pub(super) const SUFFIX: &str = ".session";

/// The on-disk shape of a record.
#[derive(Serialize, Deserialize)]
pub(super) struct OnDisk {
    v: u8,
    created_at: u64,
    pub(super) expires_at: u64,
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
pub(super) enum Found {
    Live(Record),
    Expired,
    /// No file, or one that does not decode or has an unknown version (logged).
    Absent,
}

impl Inner {
    /// The file of the session whose store key is `key`.
    pub(super) fn file_of(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}{SUFFIX}"))
    }

    /// Reads `id`'s file at `path`; an undecodable one is logged and reads as absent.
    ///
    /// Logs name the session by its tag only: the file name is the id's full hash, and a
    /// decoder's message can quote what the file holds, so neither goes into an event.
    pub(super) fn find(&self, tag: &str, path: &Path) -> io::Result<Found> {
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
    pub(super) fn read_locked(&self, tag: &str, path: &Path) -> io::Result<Option<Record>> {
        match self.find(tag, path)? {
            Found::Live(record) => Ok(Some(record)),
            Found::Expired => self.remove_locked(path).map(|_| None),
            Found::Absent => Ok(None),
        }
    }

    /// Removes a session's file, the stripe lock held by the caller, and its index entry;
    /// returns the record it held (`None` when there was no readable file).
    pub(super) fn remove_locked(&self, path: &Path) -> io::Result<Option<Record>> {
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

    /// Reads a live record without the lock; an expired file is removed under the lock, if it
    /// is still expired then (a save in another process may have refreshed it meanwhile).
    pub(super) fn read(&self, id: &SessionId, path: &Path) -> io::Result<Option<Record>> {
        match self.find(&id.log_tag(), path)? {
            Found::Live(record) => Ok(Some(record)),
            Found::Absent => Ok(None),
            Found::Expired => {
                let _lock = self.lock(id)?;
                self.read_locked(&id.log_tag(), path)
            }
        }
    }

    pub(super) fn write(&self, path: &Path, record: &Record) -> io::Result<()> {
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
}

/// The store key (hex) in a session file's path.
pub(super) fn store_key_of(path: &Path) -> &str {
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

pub(super) fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

pub(super) fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes `bytes` to a temp file (mode 0600) in `dir` and renames it to `path`.
pub(super) fn write_atomically(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
    fsync: bool,
) -> io::Result<()> {
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
